# Generated from the clap definitions by tests/generated.rs; do not edit.
# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_git_handoff_global_optspecs
    string join \n h/help V/version
end

function __fish_git_handoff_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_git_handoff_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_git_handoff_using_subcommand
    set -l cmd (__fish_git_handoff_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c git-handoff -n "__fish_git_handoff_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-handoff -n "__fish_git_handoff_needs_command" -s V -l version -d 'Print version'
complete -c git-handoff -n "__fish_git_handoff_needs_command" -f -a "report" -d 'In a worker\'s checkout: record its result for the coordinator'
complete -c git-handoff -n "__fish_git_handoff_needs_command" -f -a "show" -d 'Show a worker\'s handoff: summary, notes, stat, fingerprint'
complete -c git-handoff -n "__fish_git_handoff_needs_command" -f -a "list" -d 'List workers and their handoffs: state, when, files, fingerprint, summary'
complete -c git-handoff -n "__fish_git_handoff_needs_command" -f -a "apply" -d 'In the coordinator\'s checkout: apply a handoff, verify it, keep it or roll it back'
complete -c git-handoff -n "__fish_git_handoff_needs_command" -f -a "land" -d 'Land several handoffs, one at a time, independent ones first'
complete -c git-handoff -n "__fish_git_handoff_needs_command" -f -a "reject" -d 'Record that a handoff is rejected, with the reason the worker will read'
complete -c git-handoff -n "__fish_git_handoff_needs_command" -f -a "export" -d 'Write a worker\'s handoff to a portable file (a git bundle)'
complete -c git-handoff -n "__fish_git_handoff_needs_command" -f -a "import" -d 'Read a handoff bundle made by `git handoff export` into this clone'
complete -c git-handoff -n "__fish_git_handoff_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand report" -l summary -d 'The summary: what was done, what was found, what is left' -r
complete -c git-handoff -n "__fish_git_handoff_using_subcommand report" -l summary-file -d 'Read the summary from a file ("-": standard input)' -r -F
complete -c git-handoff -n "__fish_git_handoff_using_subcommand report" -l note -d 'A note to relay with the handoff, inlined (repeatable)' -r -F
complete -c git-handoff -n "__fish_git_handoff_using_subcommand report" -l no-verify -d 'Do not run the repository\'s own pre-commit hook on uncommitted work'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand report" -l json -d 'Print the result as JSON'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand report" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand show" -l max-chars -d 'Cut each text longer than N characters, keeping its end' -r
complete -c git-handoff -n "__fish_git_handoff_using_subcommand show" -l patch -d 'Print the patch (binary-safe, as `git apply` takes it) instead'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand show" -l json -d 'Print JSON'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand list" -l json -d 'Print JSON'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand apply" -l timeout -d 'Seconds each verification command may take (default: the contract\'s verify-timeout, else 600)' -r
complete -c git-handoff -n "__fish_git_handoff_using_subcommand apply" -s n -l dry-run -d 'Only check: contract, and whether the patch applies (exit 1 if not)'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand apply" -l no-commit -d 'Apply and verify, but leave the change uncommitted'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand apply" -l accept-merged -d 'Land a change merged 3-way even when it differs from the one approved (a merge driver such as `merge=union`, or edits joined); without it, a policy requiring approval holds such a change back'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand apply" -l keep-commits -d 'Land the worker\'s own commits (authors, dates, messages, and a `Worker:` trailer) replayed onto HEAD, then one commit with what it did not commit, instead of one squashed commit (orch.apply.keepCommits)'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand apply" -l no-keep-commits -d 'Land one squashed commit (the default)'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand land" -l timeout -d 'Seconds each verification command may take (default: the contract\'s verify-timeout, else 600)' -r
complete -c git-handoff -n "__fish_git_handoff_using_subcommand land" -l all -d 'Every worker whose handoff is reported and not yet applied (the rejected and those not reported are named, and left out)'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand land" -s n -l dry-run -d 'Print the order and the reasons, and which handoffs their review gate would hold back (exit 1 if any); change nothing'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand land" -l keep-going -d 'Skip a handoff that fails (rolled back) and land the rest'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand land" -l keep-commits -d 'Land the worker\'s own commits (authors, dates, messages, and a `Worker:` trailer) replayed onto HEAD, then one commit with what it did not commit, instead of one squashed commit (orch.apply.keepCommits)'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand land" -l no-keep-commits -d 'Land one squashed commit (the default)'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand land" -l json -d 'Print the plan or the summary as JSON'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand land" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand reject" -l reason -d 'Why: what the worker must change' -r
complete -c git-handoff -n "__fish_git_handoff_using_subcommand reject" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand export" -s o -l output -d 'The file to write' -r -F
complete -c git-handoff -n "__fish_git_handoff_using_subcommand export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand import" -l trust-contract -d 'Adopt the contract in the bundle (allowed paths, verification commands) when this clone has no entry for the worker'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand help; and not __fish_seen_subcommand_from report show list apply land reject export import help" -f -a "report" -d 'In a worker\'s checkout: record its result for the coordinator'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand help; and not __fish_seen_subcommand_from report show list apply land reject export import help" -f -a "show" -d 'Show a worker\'s handoff: summary, notes, stat, fingerprint'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand help; and not __fish_seen_subcommand_from report show list apply land reject export import help" -f -a "list" -d 'List workers and their handoffs: state, when, files, fingerprint, summary'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand help; and not __fish_seen_subcommand_from report show list apply land reject export import help" -f -a "apply" -d 'In the coordinator\'s checkout: apply a handoff, verify it, keep it or roll it back'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand help; and not __fish_seen_subcommand_from report show list apply land reject export import help" -f -a "land" -d 'Land several handoffs, one at a time, independent ones first'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand help; and not __fish_seen_subcommand_from report show list apply land reject export import help" -f -a "reject" -d 'Record that a handoff is rejected, with the reason the worker will read'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand help; and not __fish_seen_subcommand_from report show list apply land reject export import help" -f -a "export" -d 'Write a worker\'s handoff to a portable file (a git bundle)'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand help; and not __fish_seen_subcommand_from report show list apply land reject export import help" -f -a "import" -d 'Read a handoff bundle made by `git handoff export` into this clone'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand help; and not __fish_seen_subcommand_from report show list apply land reject export import help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
# Worker ids for ID arguments.
function __git_handoff_worker_ids
    git for-each-ref --format='%(refname:strip=3)' refs/orch/workers/ 2>/dev/null
end
complete -c git-handoff -n "__fish_git_handoff_using_subcommand show" -f -a "(__git_handoff_worker_ids)" -d 'Worker id'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand apply" -f -a "(__git_handoff_worker_ids)" -d 'Worker id'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand land" -f -a "(__git_handoff_worker_ids)" -d 'Worker id'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand reject" -f -a "(__git_handoff_worker_ids)" -d 'Worker id'
complete -c git-handoff -n "__fish_git_handoff_using_subcommand export" -f -a "(__git_handoff_worker_ids)" -d 'Worker id'
