# Generated from the clap definitions by tests/generated.rs; do not edit.
# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_git_review_gate_global_optspecs
    string join \n h/help V/version
end

function __fish_git_review_gate_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_git_review_gate_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_git_review_gate_using_subcommand
    set -l cmd (__fish_git_review_gate_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c git-review-gate -n "__fish_git_review_gate_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-review-gate -n "__fish_git_review_gate_needs_command" -s V -l version -d 'Print version'
complete -c git-review-gate -n "__fish_git_review_gate_needs_command" -f -a "run" -d 'Run the verification commands in a clean temporary checkout; record pass or fail'
complete -c git-review-gate -n "__fish_git_review_gate_needs_command" -f -a "approve" -d 'Approve the current change, as a reviewer (a person or a reviewing agent)'
complete -c git-review-gate -n "__fish_git_review_gate_needs_command" -f -a "reject" -d 'Reject the current change, with at least one concrete finding'
complete -c git-review-gate -n "__fish_git_review_gate_needs_command" -f -a "status" -d 'Say whether the current change meets the policy. Exit 0 if open, 1 if closed'
complete -c git-review-gate -n "__fish_git_review_gate_needs_command" -f -a "wait" -d 'Block until the current change has a verdict; exit as `status`'
complete -c git-review-gate -n "__fish_git_review_gate_needs_command" -f -a "hook" -d 'Run as a git hook (called by the shims in hooks/)'
complete -c git-review-gate -n "__fish_git_review_gate_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand run" -s j -l jobs -d 'Run up to N verification commands at once (output is then shown per command)' -r
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand run" -l timeout -d 'Seconds each command may take (default: the contract\'s verify-timeout, else 600)' -r
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand run" -l verify -d 'For a revision: a verification command (repeatable; default orch.verify)' -r
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand run" -l force -d 'Verify a worker that needs attention (too many failed verdicts in a row)'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand run" -l json -d 'Print the verdict as JSON on standard output'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand approve" -s m -l message -d 'What you checked (repeatable; paragraphs)' -r
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand approve" -l reviewer -d 'Record this reviewer instead of git\'s identity (user.name <user.email>)' -r
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand approve" -l json -d 'Print the verdict as JSON on standard output'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand approve" -s h -l help -d 'Print help'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand reject" -s m -l message -d 'A finding: what is wrong and where (repeatable; at least one)' -r
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand reject" -l reviewer -d 'Record this reviewer instead of git\'s identity (user.name <user.email>)' -r
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand reject" -l json -d 'Print the verdict as JSON on standard output'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand reject" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand status" -l json -d 'Print the status as JSON on standard output'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand wait" -l timeout -d 'Give up after this many seconds (fractions allowed; default: never)' -r
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand wait" -l json -d 'Print the status as JSON on standard output'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand wait" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand hook" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand help; and not __fish_seen_subcommand_from run approve reject status wait hook help" -f -a "run" -d 'Run the verification commands in a clean temporary checkout; record pass or fail'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand help; and not __fish_seen_subcommand_from run approve reject status wait hook help" -f -a "approve" -d 'Approve the current change, as a reviewer (a person or a reviewing agent)'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand help; and not __fish_seen_subcommand_from run approve reject status wait hook help" -f -a "reject" -d 'Reject the current change, with at least one concrete finding'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand help; and not __fish_seen_subcommand_from run approve reject status wait hook help" -f -a "status" -d 'Say whether the current change meets the policy. Exit 0 if open, 1 if closed'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand help; and not __fish_seen_subcommand_from run approve reject status wait hook help" -f -a "wait" -d 'Block until the current change has a verdict; exit as `status`'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand help; and not __fish_seen_subcommand_from run approve reject status wait hook help" -f -a "hook" -d 'Run as a git hook (called by the shims in hooks/)'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand help; and not __fish_seen_subcommand_from run approve reject status wait hook help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
# Worker ids for ID arguments.
function __git_review_gate_worker_ids
    git for-each-ref --format='%(refname:strip=3)' refs/orch/workers/ 2>/dev/null
end
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand run" -f -a "(__git_review_gate_worker_ids)" -d 'Worker id'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand approve" -f -a "(__git_review_gate_worker_ids)" -d 'Worker id'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand reject" -f -a "(__git_review_gate_worker_ids)" -d 'Worker id'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand status" -f -a "(__git_review_gate_worker_ids)" -d 'Worker id'
complete -c git-review-gate -n "__fish_git_review_gate_using_subcommand wait" -f -a "(__git_review_gate_worker_ids)" -d 'Worker id'
