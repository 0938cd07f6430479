# Generated from the clap definitions by tests/generated.rs; do not edit.
# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_git_worker_global_optspecs
    string join \n h/help V/version
end

function __fish_git_worker_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_git_worker_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_git_worker_using_subcommand
    set -l cmd (__fish_git_worker_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c git-worker -n "__fish_git_worker_needs_command" -s h -l help -d 'Print help'
complete -c git-worker -n "__fish_git_worker_needs_command" -s V -l version -d 'Print version'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "spawn" -d 'Create workers: a branch, a checkout and a registry entry each'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "list" -d 'List workers: id, state, branch, base, age, commits ahead, dirty, path'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "show" -d 'Show a worker: contract, state, location and event history'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "current" -d 'In a worker\'s checkout: show its own contract and state'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "rm" -d 'Remove workers: worktree, branch and live registry entry'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "prune" -d 'Remove what crashed spawns and vanished checkouts left behind'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "doctor" -d 'Check the installation and the registry; exit 1 if anything is wrong'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "check" -d 'Check what workers changed against their contracts; exit 1 on violations'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "ci-check" -d 'In a forge\'s CI job: check a worker\'s branch against its signed contract and gate'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "hook" -d 'Run a git hook (the shims in hooks/ call this)'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "hub" -d 'Shared (hub) repositories that enforce contracts on push'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "log" -d 'Show one worker\'s history: every event, oldest first'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "timeline" -d 'Interleave the events of every worker, oldest first'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "notify" -d 'In a worker\'s checkout: tell the coordinator something'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "message" -d 'Send a message to a worker (it reads it with `git worker inbox`)'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "inbox" -d 'In a worker\'s checkout: show unread messages and mark them read'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "wait" -d 'Block until workers reach a state. Exit 0 when all did, 1 on timeout'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "dashboard" -d 'Show every worker at a glance: state, agent, activity, changes, messages, verdicts, warnings'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "output" -d 'Print what a worker\'s agent wrote (its standard output and error)'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "relaunch" -d 'Start a new agent for an existing worker, supervised as spawn --exec does'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "cleanup" -d 'Remove finished work: worktrees, branches (local, and remote with --remote), live entries'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "sync" -d 'Share the registry through a remote: fetch, merge, push what changed here'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "join" -d 'On another machine: make a clone the checkout of worker ID'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "admit" -d 'Admit the signing key of worker ID, joined on another machine'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "rebase" -d 'Move worker ID onto the current HEAD (or --onto), its commits replayed'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "key" -d 'Print the public key this checkout signs registry commits with'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "report" -d 'Write the after-action report: per task and in total, from the event logs'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "plan" -d 'Plan tasks to spawn once what they depend on has landed'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "ready" -d 'List planned tasks whose dependencies have all landed'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "graph" -d 'Print the task graph with each task\'s state'
complete -c git-worker -n "__fish_git_worker_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l base -d 'Commit or branch to start from (default: the repository\'s default branch, found locally)' -r -f
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l allow -d 'Path glob the worker may change (repeatable; relative to the repository root)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l deny -d 'Path glob the worker must not change, even inside an allowed glob (repeatable)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l verify -d 'Command that verifies the worker\'s change (repeatable; run by the coordinator)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l verify-timeout -d 'Seconds each verification command may take (default: 600)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l label -d 'Label the worker (repeatable)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l description -d 'What the worker is asked to do' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l task -d 'Read the contract from a TOML task file (flags given as well override it)' -r -F
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l worktree-dir -d 'Directory for worker checkouts (default: orch.worktreeDir, else ../<repo>.worktrees)' -r -f -a "(__fish_complete_directories)"
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l max -d 'With --ready: spawn at most N of them' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l isolation -d 'Where each worker works: a linked worktree (the default, orch.isolation), or its own clone' -r -f -a "worktree\t''
clone\t''"
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l network -d 'Whether a sandboxed agent may use the network (default on: agents call their model\'s API; orch.sandbox.network)' -r -f -a "on\t''
off\t''"
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l exec -d 'Start this agent command in each new worker\'s checkout (sh -c), detached' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l agent -d 'Start this agent CLI in each new worker\'s checkout, as --exec does, with the command line its preset builds' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l prompt-template -d 'Render this template as the agent\'s prompt (default: share/git-worker/prompt.md)' -r -F
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l max-active -d 'Refuse ids beyond this many live workers spawning, active or blocked (default: orch.maxActive)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l fetch -d 'Fetch the base\'s remote before resolving it (the only time spawn uses the network)'
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l require-change -d 'Require the worker\'s result to change something (the default)'
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l no-require-change -d 'Accept a result that changes nothing'
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l ready -d 'Spawn the planned tasks that are ready (see `git worker ready`), with their own contracts'
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l sparse -d 'A sparse checkout: only the directories its allowed paths name'
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l sandbox -d 'Sandbox each worker: its own clone, and its agent in an OS sandbox'
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l no-sandbox -d 'Do not sandbox: the worker is trusted (a linked worktree or a clone)'
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l tty -d 'Run the agent on a pseudo-terminal (its output still goes to its log)'
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -l json -d 'Print the result as JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand spawn" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand list" -l state -d 'Only workers in this state' -r -f -a "spawning\t''
active\t''
blocked\t''
reported\t''
applied\t''
rejected\t''"
complete -c git-worker -n "__fish_git_worker_using_subcommand list" -l label -d 'Only workers with this label (repeatable; all must match)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand list" -l json -d 'Print JSON ({"version": 1, "workers": [...]})'
complete -c git-worker -n "__fish_git_worker_using_subcommand list" -l no-status -d 'Skip the status of each checkout and its agent (DIRTY shows "-"): read only refs and the registry'
complete -c git-worker -n "__fish_git_worker_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand show" -l json -d 'Print JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand current" -l json -d 'Print JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand current" -s h -l help -d 'Print help'
complete -c git-worker -n "__fish_git_worker_using_subcommand rm" -l reason -d 'Why it goes (abandoned, superseded...), kept in its history' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand rm" -s f -l force -d 'Remove even with uncommitted changes or unlanded commits (they are lost)'
complete -c git-worker -n "__fish_git_worker_using_subcommand rm" -l keep-branch -d 'Keep the worker\'s branch'
complete -c git-worker -n "__fish_git_worker_using_subcommand rm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand prune" -s n -l dry-run -d 'Only print what would be removed'
complete -c git-worker -n "__fish_git_worker_using_subcommand prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand doctor" -l json -d 'Print JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand doctor" -l fix -d 'Repair what can be repaired: reinstall missing or outdated worker hooks, and remove debris as `git worker prune` does'
complete -c git-worker -n "__fish_git_worker_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand check" -l range -d 'Judge the changes between two commits instead (A..B) by ID\'s contract' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand check" -l json -d 'Print JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand ci-check" -l branch -d 'The worker\'s branch (default: the pull or merge request\'s source branch from GITHUB_HEAD_REF or CI_MERGE_REQUEST_SOURCE_BRANCH_NAME, else GITHUB_REF_NAME or CI_COMMIT_BRANCH, else the current branch)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand ci-check" -l rev -d 'The commit to check' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand ci-check" -l remote -d 'Where the registry is' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand ci-check" -l require -d 'The review policy the change must meet: none, verify, approve, both' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand ci-check" -l coordinator-key -d 'The coordinator\'s public key (an OpenSSH line, or a .pub file)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand ci-check" -l json -d 'Print JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand ci-check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand hook" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and not __fish_seen_subcommand_from init rules help" -s h -l help -d 'Print help'
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and not __fish_seen_subcommand_from init rules help" -f -a "init" -d 'Prepare a bare repository as a hub: its pre-receive hook enforces contracts'
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and not __fish_seen_subcommand_from init rules help" -f -a "rules" -d 'Print the per-user rules a git server needs to enforce each worker\'s scope'
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and not __fish_seen_subcommand_from init rules help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and __fish_seen_subcommand_from rules" -l repo -d 'The repository\'s name on the server' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and __fish_seen_subcommand_from rules" -l coordinator -d 'The server user the coordinator pushes as' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and __fish_seen_subcommand_from rules" -l user -d 'The server user worker ID pushes as (repeatable; default: its id)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and __fish_seen_subcommand_from rules" -l format -d 'What to print: a gitolite.conf fragment, a GitHub ruleset (JSON), or Gitea/Forgejo branch protections (JSON)' -r -f -a "gitolite\t''
github\t''
gitea\t''"
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and __fish_seen_subcommand_from rules" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and __fish_seen_subcommand_from help" -f -a "init" -d 'Prepare a bare repository as a hub: its pre-receive hook enforces contracts'
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and __fish_seen_subcommand_from help" -f -a "rules" -d 'Print the per-user rules a git server needs to enforce each worker\'s scope'
complete -c git-worker -n "__fish_git_worker_using_subcommand hub; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-worker -n "__fish_git_worker_using_subcommand log" -l json -d 'Print JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand log" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand timeline" -l since -d 'Only events at or after T: Unix seconds, an age such as 30m, 2h or 3d, or a UTC date such as 2026-11-21 or 2026-11-21T10:00:00Z' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand timeline" -l json -d 'Print newline-delimited JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand timeline" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand notify" -l level -d 'How urgent' -r -f -a "info\t''
warning\t''
blocking\t''"
complete -c git-worker -n "__fish_git_worker_using_subcommand notify" -l rebase -d 'Ask to be rebased onto the coordinator\'s current HEAD (blocking)'
complete -c git-worker -n "__fish_git_worker_using_subcommand notify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand message" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand inbox" -l all -d 'Show every message, read or not (marks nothing)'
complete -c git-worker -n "__fish_git_worker_using_subcommand inbox" -l json -d 'Print JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand inbox" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand wait" -l until -d 'The state to wait for' -r -f -a "reported\t''
blocked\t''
done\t''
exited\t''
any\t''"
complete -c git-worker -n "__fish_git_worker_using_subcommand wait" -l timeout -d 'Give up after this many seconds (fractions allowed; default: never)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand wait" -l json -d 'Print JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand wait" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand dashboard" -l interval -d 'Seconds between redraws with --watch' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand dashboard" -l stall-after -d 'Seconds without activity after which a running agent is stalled (default: orch.stallAfter, 900)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand dashboard" -l watch -d 'Redraw on every registry change, and at least every --interval seconds'
complete -c git-worker -n "__fish_git_worker_using_subcommand dashboard" -l json -d 'Print JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand dashboard" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand output" -s f -l follow -d 'Keep printing what it writes, as it comes, until the agent exits'
complete -c git-worker -n "__fish_git_worker_using_subcommand output" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand relaunch" -l exec -d 'Run this agent command (sh -c) instead of the one last launched' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand relaunch" -l agent -d 'Run this agent preset (see `git worker spawn --agent`)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand relaunch" -l prompt-template -d 'Render this template as the agent\'s prompt (default: share/git-worker/prompt.md)' -r -F
complete -c git-worker -n "__fish_git_worker_using_subcommand relaunch" -l resume -d 'Continue the session the worker\'s last agent printed, with its CLI\'s own resume flag'
complete -c git-worker -n "__fish_git_worker_using_subcommand relaunch" -l tty -d 'Run the agent on a pseudo-terminal (its output still goes to its log)'
complete -c git-worker -n "__fish_git_worker_using_subcommand relaunch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand cleanup" -l prefix -d 'Only workers and branches whose branch starts with this (default: orch.prefix)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand cleanup" -l remote -d 'Also delete the removed branches on this remote (git push --delete)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand cleanup" -l landed -d 'Remove landed work (the default when neither --landed nor --abandoned is given)'
complete -c git-worker -n "__fish_git_worker_using_subcommand cleanup" -l abandoned -d 'Remove rejected workers and workers that did nothing'
complete -c git-worker -n "__fish_git_worker_using_subcommand cleanup" -s n -l dry-run -d 'Print what would be removed, and why; change nothing'
complete -c git-worker -n "__fish_git_worker_using_subcommand cleanup" -l force -d 'Remove abandoned work even when it holds unlanded commits or changes (they are lost)'
complete -c git-worker -n "__fish_git_worker_using_subcommand cleanup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand sync" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand join" -l remote -d 'Remote name or URL (default: origin; required outside a repository)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand join" -l dir -d 'Where to clone when run outside a repository (default: ./<ID>)' -r -f -a "(__fish_complete_directories)"
complete -c git-worker -n "__fish_git_worker_using_subcommand join" -l coordinator-key -d 'The coordinator\'s public key (an OpenSSH line, or a .pub file), as the coordinator gave it: pinned before anything is read, and the join refused if the registry records another (default: trust the key refs/orch/keys records, on first use)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand join" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand admit" -l reviewer -d 'Admit a reviewer\'s key, not a worker\'s'
complete -c git-worker -n "__fish_git_worker_using_subcommand admit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand rebase" -l onto -d 'Where to move it (default: HEAD)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand rebase" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand key" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand report" -l since -d 'Only workers with events at or after T (as for `timeline --since`)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand report" -l html -d 'Write an HTML page with the timeline to FILE' -r -F
complete -c git-worker -n "__fish_git_worker_using_subcommand report" -l json -d 'Print JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand report" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand plan" -l depends-on -d 'Tasks or workers that must land first (comma-separated, or repeated)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand plan" -l base -d 'Commit or branch to spawn it from (resolved when it is spawned; default: the default branch then)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand plan" -l from -d 'Import task files: one file, or a directory of *.toml and *.md files' -r -F
complete -c git-worker -n "__fish_git_worker_using_subcommand plan" -l allow -d 'Path glob the worker may change (repeatable; relative to the repository root)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand plan" -l deny -d 'Path glob the worker must not change, even inside an allowed glob (repeatable)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand plan" -l verify -d 'Command that verifies the worker\'s change (repeatable; run by the coordinator)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand plan" -l verify-timeout -d 'Seconds each verification command may take (default: 600)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand plan" -l label -d 'Label the worker (repeatable)' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand plan" -l description -d 'What the worker is asked to do' -r
complete -c git-worker -n "__fish_git_worker_using_subcommand plan" -l require-change -d 'Require the worker\'s result to change something (the default)'
complete -c git-worker -n "__fish_git_worker_using_subcommand plan" -l no-require-change -d 'Accept a result that changes nothing'
complete -c git-worker -n "__fish_git_worker_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand ready" -l json -d 'Print JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand ready" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-worker -n "__fish_git_worker_using_subcommand graph" -l dot -d 'Print Graphviz (dot) instead'
complete -c git-worker -n "__fish_git_worker_using_subcommand graph" -l json -d 'Print JSON'
complete -c git-worker -n "__fish_git_worker_using_subcommand graph" -s h -l help -d 'Print help'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "spawn" -d 'Create workers: a branch, a checkout and a registry entry each'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "list" -d 'List workers: id, state, branch, base, age, commits ahead, dirty, path'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "show" -d 'Show a worker: contract, state, location and event history'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "current" -d 'In a worker\'s checkout: show its own contract and state'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "rm" -d 'Remove workers: worktree, branch and live registry entry'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "prune" -d 'Remove what crashed spawns and vanished checkouts left behind'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "doctor" -d 'Check the installation and the registry; exit 1 if anything is wrong'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "check" -d 'Check what workers changed against their contracts; exit 1 on violations'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "ci-check" -d 'In a forge\'s CI job: check a worker\'s branch against its signed contract and gate'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "hook" -d 'Run a git hook (the shims in hooks/ call this)'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "hub" -d 'Shared (hub) repositories that enforce contracts on push'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "log" -d 'Show one worker\'s history: every event, oldest first'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "timeline" -d 'Interleave the events of every worker, oldest first'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "notify" -d 'In a worker\'s checkout: tell the coordinator something'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "message" -d 'Send a message to a worker (it reads it with `git worker inbox`)'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "inbox" -d 'In a worker\'s checkout: show unread messages and mark them read'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "wait" -d 'Block until workers reach a state. Exit 0 when all did, 1 on timeout'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "dashboard" -d 'Show every worker at a glance: state, agent, activity, changes, messages, verdicts, warnings'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "output" -d 'Print what a worker\'s agent wrote (its standard output and error)'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "relaunch" -d 'Start a new agent for an existing worker, supervised as spawn --exec does'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "cleanup" -d 'Remove finished work: worktrees, branches (local, and remote with --remote), live entries'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "sync" -d 'Share the registry through a remote: fetch, merge, push what changed here'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "join" -d 'On another machine: make a clone the checkout of worker ID'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "admit" -d 'Admit the signing key of worker ID, joined on another machine'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "rebase" -d 'Move worker ID onto the current HEAD (or --onto), its commits replayed'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "key" -d 'Print the public key this checkout signs registry commits with'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "report" -d 'Write the after-action report: per task and in total, from the event logs'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "plan" -d 'Plan tasks to spawn once what they depend on has landed'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "ready" -d 'List planned tasks whose dependencies have all landed'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "graph" -d 'Print the task graph with each task\'s state'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and not __fish_seen_subcommand_from spawn list show current rm prune doctor check ci-check hook hub log timeline notify message inbox wait dashboard output relaunch cleanup sync join admit rebase key report plan ready graph help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and __fish_seen_subcommand_from hub" -f -a "init" -d 'Prepare a bare repository as a hub: its pre-receive hook enforces contracts'
complete -c git-worker -n "__fish_git_worker_using_subcommand help; and __fish_seen_subcommand_from hub" -f -a "rules" -d 'Print the per-user rules a git server needs to enforce each worker\'s scope'
# Worker ids for ID arguments.
function __git_worker_worker_ids
    git for-each-ref --format='%(refname:strip=3)' refs/orch/workers/ 2>/dev/null
end
complete -c git-worker -n "__fish_git_worker_using_subcommand show" -f -a "(__git_worker_worker_ids)" -d 'Worker id'
complete -c git-worker -n "__fish_git_worker_using_subcommand rm" -f -a "(__git_worker_worker_ids)" -d 'Worker id'
complete -c git-worker -n "__fish_git_worker_using_subcommand check" -f -a "(__git_worker_worker_ids)" -d 'Worker id'
complete -c git-worker -n "__fish_git_worker_using_subcommand log" -f -a "(__git_worker_worker_ids)" -d 'Worker id'
complete -c git-worker -n "__fish_git_worker_using_subcommand message" -f -a "(__git_worker_worker_ids)" -d 'Worker id'
complete -c git-worker -n "__fish_git_worker_using_subcommand wait" -f -a "(__git_worker_worker_ids)" -d 'Worker id'
complete -c git-worker -n "__fish_git_worker_using_subcommand output" -f -a "(__git_worker_worker_ids)" -d 'Worker id'
complete -c git-worker -n "__fish_git_worker_using_subcommand relaunch" -f -a "(__git_worker_worker_ids)" -d 'Worker id'
complete -c git-worker -n "__fish_git_worker_using_subcommand join" -f -a "(__git_worker_worker_ids)" -d 'Worker id'
complete -c git-worker -n "__fish_git_worker_using_subcommand admit" -f -a "(__git_worker_worker_ids)" -d 'Worker id'
complete -c git-worker -n "__fish_git_worker_using_subcommand rebase" -f -a "(__git_worker_worker_ids)" -d 'Worker id'
