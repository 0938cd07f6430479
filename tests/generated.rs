//! Drift tests for the generated files: the man pages in `man/` and the
//! shell completions in `share/` are rendered from the clap definitions,
//! compared with the committed files, and rewritten with
//! `UPDATE_GENERATED=1 cargo test -p e2e generated`.
//!
//! `git worker --help` runs `man git-worker`, so the man page is the long
//! help of a git subcommand; it must never lag behind `cli.rs`.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::support::workspace_root;

/// Every binary whose man pages and completions are generated. A new binary
/// (`git_handoff::cli::Cli`, ...) needs one more entry here and nothing else.
fn commands() -> Vec<clap::Command> {
    vec![
        git_worker::cli::Cli::command(),
        git_handoff::cli::Cli::command(),
        git_review_gate::cli::Cli::command(),
    ]
}

const UPDATE_HINT: &str = "run `UPDATE_GENERATED=1 cargo test -p e2e generated`";

/// The comment at the top of every generated file.
const GENERATED: &str = "Generated from the clap definitions by tests/generated.rs; do not edit.";

/// Generated files (relative to the workspace root) and their contents.
type Files = BTreeMap<PathBuf, Vec<u8>>;

/// One page per binary (`git worker --help` runs `man git-worker`) plus one
/// per subcommand (`git-worker-spawn.1`), named and selected the way
/// `clap_mangen::generate_to` does it: hidden subcommands and the implicit
/// `help` subcommand get no page.
fn man_pages() -> Files {
    fn add(cmd: clap::Command, source: &str, files: &mut Files) {
        for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
            add(sub.clone(), source, files);
        }
        // Every page says which package it documents (subcommands have no
        // version of their own) and carries no date, so pages only change
        // when the CLI or the crate version does.
        let man = clap_mangen::Man::new(cmd).source(source).date("");
        let mut page = format!(".\\\" {GENERATED}\n").into_bytes();
        man.render(&mut page).unwrap();
        files.insert(Path::new("man").join(man.get_filename()), page);
    }

    let mut files = Files::new();
    for cmd in commands() {
        let source = format!(
            "{} {}",
            cmd.get_name(),
            cmd.get_version().unwrap_or_default()
        );
        let mut cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        add(cmd, source.trim_end(), &mut files);
    }
    files
}

/// `cmd` without its hidden subcommands (`agent-run`, `sandbox-exec`), at
/// every level: clap_complete offers hidden subcommands, and a completion
/// must offer only what a user types.
fn without_hidden(cmd: &clap::Command) -> clap::Command {
    let visible = cmd
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .map(without_hidden);
    if cmd.get_subcommands().all(|sub| !sub.is_hide_set()) {
        // Nothing to drop here: keep every setting, only recurse.
        let mut out = cmd.clone();
        for sub in visible {
            let name = sub.get_name().to_string();
            out = out.mut_subcommand(name, |_| sub);
        }
        return out;
    }
    // clap cannot remove a subcommand: build the level again from what a
    // completion reads (name, version, about, arguments, subcommands).
    // clap's builder takes `&'static str` (no "string" feature): leaked, in a test.
    let leak = |text: &str| -> &'static str { Box::leak(text.to_string().into_boxed_str()) };
    let mut out = clap::Command::new(leak(cmd.get_name()))
        .args(cmd.get_arguments().cloned())
        .subcommands(visible);
    if let Some(version) = cmd.get_version() {
        out = out.version(leak(version));
    }
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    out
}

/// The subcommand paths (`["show"]`) whose positional argument is an
/// existing worker's id, as the doc comment says ("Worker id..."): their
/// completions offer the ids of the registry. spawn's ids are new ones.
fn worker_id_commands(cmd: &clap::Command) -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        let takes_id = cmd.get_positionals().any(|arg| {
            arg.get_help()
                .is_some_and(|help| help.to_string().starts_with("Worker id"))
        });
        if takes_id && cmd.get_name() != "spawn" {
            out.push(path.clone());
        }
        for sub in cmd.get_subcommands() {
            path.push(sub.get_name().to_string());
            walk(sub, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(cmd, &mut Vec::new(), &mut out);
    out
}

/// The ids of live workers: one ref each under refs/orch/workers/, so one
/// git process, no git-worker process, and nothing outside a repository.
const WORKER_IDS: &str =
    "git for-each-ref --format='%(refname:strip=3)' refs/orch/workers/ 2>/dev/null";

/// bash, zsh and fish completions, at the paths they get under `$PREFIX/share`.
fn completions() -> Files {
    let mut files = Files::new();
    for cmd in commands() {
        let mut cmd = without_hidden(&cmd);
        let name = cmd.get_name().to_string();
        let ids = worker_id_commands(&cmd);
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, &name, &mut script);
            let script = String::from_utf8(script).unwrap();
            let (path, script) = match shell {
                Shell::Bash => (
                    format!("share/bash-completion/completions/{name}"),
                    format!(
                        "# {GENERATED}\n{}",
                        bash_ids(&fix_bash(&script, &name), &name, &ids)
                    ),
                ),
                // compinit reads the `#compdef` line only if it is the first one.
                Shell::Zsh => (
                    format!("share/zsh/site-functions/_{name}"),
                    zsh_ids(&script, &ids).replacen('\n', &format!("\n# {GENERATED}\n"), 1),
                ),
                Shell::Fish => (
                    format!("share/fish/vendor_completions.d/{name}.fish"),
                    format!("# {GENERATED}\n{}", fish_ids(&script, &name, &ids)),
                ),
                _ => unreachable!(),
            };
            files.insert(PathBuf::from(path), script.into_bytes());
        }
    }
    files
}

/// bash: the case arm of each subcommand taking a worker id offers the ids
/// with its options (`compgen -W` filters both by what is typed).
fn bash_ids(script: &str, name: &str, ids: &[Vec<String>]) -> String {
    let function = name.replace('-', "__");
    let mut script = script.to_string();
    for path in ids {
        let arm = std::iter::once(function.clone())
            .chain(path.iter().map(|sub| sub.replace('-', "__")))
            .collect::<Vec<_>>()
            .join("__subcmd__");
        let start = format!("        {arm})\n            opts=\"");
        let at = script
            .find(&start)
            .unwrap_or_else(|| panic!("no bash case arm {arm}: clap_complete changed"));
        let end = at + start.len() + script[at + start.len()..].find('"').unwrap();
        script.insert_str(end, " $(_git_orch_worker_ids)");
    }
    script.push_str(&format!(
        "
# Worker ids for ID arguments.
_git_orch_worker_ids() {{
    {WORKER_IDS}
}}
"
    ));
    script
}

/// zsh: the ID arguments complete with the ids instead of `_default`.
fn zsh_ids(script: &str, ids: &[Vec<String>]) -> String {
    let mut replaced = 0;
    let mut out: String = script
        .lines()
        .map(|line| {
            let is_id = line.starts_with('\'') && line.contains(" -- Worker id");
            if is_id && !line.contains("1-64") && line.ends_with(":_default' \\") {
                replaced += 1;
                format!(
                    "{}:_git_orch_worker_ids' \\",
                    &line[..line.len() - ":_default' \\".len()]
                )
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    assert_eq!(
        replaced,
        ids.len(),
        "zsh: clap_complete changed how it writes arguments"
    );
    out.push_str(&format!(
        "
(( $+functions[_git_orch_worker_ids] )) ||
_git_orch_worker_ids() {{
    local -a ids
    ids=(${{(f)\"$({WORKER_IDS})\"}})
    _describe -t worker-ids 'worker id' ids
}}
"
    ));
    // The file's last lines call the completion function: the helper goes before them.
    let call = out
        .find("\nif [ \"$funcstack[1]\"")
        .expect("zsh: no call of the completion function");
    let helper_at = out
        .rfind("\n(( $+functions[_git_orch_worker_ids] ))")
        .unwrap();
    let helper = out[helper_at..].to_string();
    out.truncate(helper_at);
    out.insert_str(call, &helper);
    out
}

/// fish: one more completion per subcommand taking a worker id.
fn fish_ids(script: &str, name: &str, ids: &[Vec<String>]) -> String {
    let prefix = name.replace('-', "_");
    let mut out = script.to_string();
    out.push_str(&format!(
        "# Worker ids for ID arguments.\nfunction __{prefix}_worker_ids\n    {WORKER_IDS}\nend\n"
    ));
    for path in ids {
        assert_eq!(
            path.len(),
            1,
            "fish: only top-level subcommands take worker ids here"
        );
        out.push_str(&format!(
            "complete -c {name} -n \"__fish_{prefix}_using_subcommand {}\" -f -a \"(__{prefix}_worker_ids)\" -d 'Worker id'\n",
            path[0]
        ));
    }
    out
}

/// Makes clap_complete's bash script work for `git-worker <TAB>` and for
/// `git worker <TAB>`.
fn fix_bash(script: &str, name: &str) -> String {
    // clap_complete names the case arms of subcommands `git__subcmd__worker__subcmd__spawn`
    // while its loop sets `cmd` to `git__worker__subcmd__spawn`: no subcommand of a
    // hyphenated binary ever gets its options completed.
    // See: https://github.com/clap-rs/clap/issues/6421
    let broken = name.replace('-', "__subcmd__");
    let function = name.replace('-', "__"); // `_git__worker`, what clap_complete calls it
    let mut script = script.replace(&broken, &function);
    assert!(
        script.contains(&format!("complete -F _{function} ")),
        "clap_complete no longer names its bash function _{function}: adapt the bridge below"
    );

    // git's completion (git-completion.bash, `__git_complete_command`) completes
    // `git worker ...` by calling `_git_worker` with no arguments, and git
    // registers itself with `-o nospace`, so the bridge turns the trailing
    // space back on (clap's script turns it off again where it wants to).
    if let Some(sub) = name.strip_prefix("git-") {
        let bridge = format!("_git_{}", sub.replace('-', "_"));
        script.push_str(&format!(
            "
# `git {sub} <TAB>`: git's own completion calls {bridge}.
{bridge}() {{
    compopt +o nospace 2>/dev/null
    _{function} git \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"
}}
"
        ));
    }
    script
}

#[test]
fn man_pages_are_up_to_date() {
    check(&man_pages(), &["man"]);
}

#[test]
fn completions_are_up_to_date() {
    check(
        &completions(),
        &[
            "share/bash-completion/completions",
            "share/zsh/site-functions",
            "share/fish/vendor_completions.d",
        ],
    );
}

/// Compares `files` with the committed ones and fails on committed files in
/// `dirs` that are no longer generated. With `UPDATE_GENERATED` set it
/// writes and deletes them instead.
fn check(files: &Files, dirs: &[&str]) {
    let root = workspace_root();
    let update = std::env::var_os("UPDATE_GENERATED").is_some();
    let mut problems = Vec::new();

    for (rel, expected) in files {
        let path = root.join(rel);
        let actual = std::fs::read(&path).ok();
        if actual.as_ref() == Some(expected) {
            continue;
        }
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, expected).unwrap();
        } else if actual.is_none() {
            problems.push(format!("{} is missing", rel.display()));
        } else {
            problems.push(format!("{} is stale", rel.display()));
        }
    }

    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let rel = Path::new(dir).join(entry.unwrap().file_name());
            if files.contains_key(&rel) {
                continue;
            }
            if update {
                std::fs::remove_file(root.join(&rel)).unwrap();
            } else {
                problems.push(format!("{} is no longer generated", rel.display()));
            }
        }
    }

    assert!(
        problems.is_empty(),
        "{}\n{UPDATE_HINT}",
        problems.join("\n")
    );
}

/// Where git's bash completion script is installed: Debian, Fedora and Arch
/// ship it in bash-completion's directory, others as git-completion.bash.
fn git_completion_script() -> Option<PathBuf> {
    [
        "/usr/share/bash-completion/completions/git",
        "/usr/local/share/bash-completion/completions/git",
        "/etc/bash_completion.d/git",
        "/usr/share/git-core/contrib/completion/git-completion.bash",
        "/usr/local/share/git-core/contrib/completion/git-completion.bash",
        "/opt/homebrew/etc/bash_completion.d/git-completion.bash",
        "/Library/Developer/CommandLineTools/usr/share/git-core/git-completion.bash",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|path| path.is_file())
}

/// Completes each line with git's own completion script and ours loaded, the
/// way bash does on TAB at the end of the line, and returns the candidates.
/// The candidates of each line come back sorted. `None` when bash or git's
/// completion script is not installed.
fn complete_with_git(
    completion: &Path,
    dir: &Path,
    lines: &[String],
) -> Option<Vec<BTreeSet<String>>> {
    let Some(git_script) = git_completion_script() else {
        eprintln!("note: skipped: git's bash completion script is not installed");
        return None;
    };
    // COMP_WORDS is split on blanks only: none of the lines has quotes or '=' or ':'.
    let driver = r#"
        source "$1" || exit 3
        source "$2" || exit 3
        shift 2
        for COMP_LINE; do
            COMP_POINT=${#COMP_LINE}
            read -ra COMP_WORDS <<< "$COMP_LINE"
            [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            COMPREPLY=()
            case $COMP_LINE in
                git-*) "$(complete -p "${COMP_WORDS[0]}" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')" \
                           "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" ;;
                *) __git_wrap__git_main ;;
            esac
            printf '%s\n' "${COMPREPLY[@]}" '--- end'
        done
    "#;
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", driver, "driver"])
        .arg(git_script)
        .arg(completion)
        .args(lines)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("LC_ALL", "C")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            eprintln!("note: skipped: cannot run bash: {err}");
            return None;
        }
    };
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "bash failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let mut results = vec![BTreeSet::new()];
    for word in stdout.lines() {
        if word == "--- end" {
            results.push(BTreeSet::new());
        } else {
            results
                .last_mut()
                .unwrap()
                .insert(word.trim_end().to_string());
        }
    }
    results.pop();
    assert_eq!(results.len(), lines.len(), "{stdout}");
    Some(results)
}

/// `-h --help ...`: what completing `-` offers for `cmd`.
fn flags(cmd: &clap::Command) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for arg in cmd.get_arguments().filter(|arg| !arg.is_hide_set()) {
        flags.extend(
            arg.get_short_and_visible_aliases()
                .into_iter()
                .flatten()
                .map(|s| format!("-{s}")),
        );
        flags.extend(
            arg.get_long_and_visible_aliases()
                .into_iter()
                .flatten()
                .map(|l| format!("--{l}")),
        );
    }
    flags
}

/// `git worker <TAB>` and `git worker spawn --<TAB>` through git's own bash
/// completion, which must call our `_git_worker` bridge; `git-worker ...` through
/// the function our script registers. Candidates are derived from the clap
/// definitions, so the test states the contract and not today's CLI.
#[test]
fn bash_completes_subcommands_and_options_through_git() {
    let files = completions();
    let scratch = tempfile::tempdir().unwrap();
    for mut cmd in commands() {
        cmd.build();
        let name = cmd.get_name().to_string();
        let git_form = name.replacen('-', " ", 1); // `git worker`
        let script = scratch.path().join(&name);
        let rel = PathBuf::from(format!("share/bash-completion/completions/{name}"));
        std::fs::write(&script, &files[&rel]).unwrap();

        // Hidden subcommands (agent-run, sandbox-exec) are never offered.
        let subs: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|sub| !sub.is_hide_set())
            .collect();
        let mut lines = Vec::new();
        let mut expected = Vec::new();

        let mut top: BTreeSet<String> = flags(&cmd);
        top.extend(subs.iter().map(|sub| sub.get_name().to_string()));
        for form in [&git_form, &name] {
            lines.push(format!("{form} "));
            expected.push(top.clone());
        }
        for sub in &subs {
            let longs: BTreeSet<String> = flags(sub)
                .into_iter()
                .filter(|f| f.starts_with("--"))
                .collect();
            for form in [&git_form, &name] {
                lines.push(format!("{form} {} --", sub.get_name()));
                expected.push(longs.clone());
            }
            // A unique prefix of the subcommand completes to it.
            let prefix = sub.get_name().get(..2).unwrap_or(sub.get_name());
            if subs
                .iter()
                .filter(|s| s.get_name().starts_with(prefix))
                .count()
                == 1
            {
                lines.push(format!("{git_form} {prefix}"));
                expected.push(BTreeSet::from([sub.get_name().to_string()]));
            }
        }

        let Some(actual) = complete_with_git(&script, scratch.path(), &lines) else {
            return;
        };
        for ((line, expected), actual) in lines.iter().zip(&expected).zip(&actual) {
            assert_eq!(actual, expected, "completing {line:?}");
        }
    }
}

#[test]
fn completions_never_mention_hidden_commands() {
    let files = completions();
    for cmd in commands() {
        let mut cmd = cmd;
        cmd.build();
        for hidden in cmd.get_subcommands().filter(|sub| sub.is_hide_set()) {
            for (path, script) in &files {
                let script = String::from_utf8_lossy(script);
                assert!(
                    !script.contains(hidden.get_name()),
                    "{} mentions the hidden '{}'",
                    path.display(),
                    hidden.get_name()
                );
            }
        }
    }
}

/// `git worker show <TAB>` in a repository with workers offers their ids,
/// and so does every other command taking an existing worker's id, through
/// git's completion and directly; spawn (new ids) offers none.
#[test]
fn bash_completes_worker_ids_in_a_repository_with_workers() {
    let repo = crate::support::TestRepo::with_commit();
    repo.worker(["spawn", "auth", "docs.v2"]).success();
    let files = completions();
    let ids = BTreeSet::from(["auth".to_string(), "docs.v2".to_string()]);
    let none = BTreeSet::new();
    let docs = BTreeSet::from(["docs.v2".to_string()]);
    // With nothing typed the options come too: only the ids offered are compared.
    let cases: &[(&str, &str, &BTreeSet<String>)] = &[
        ("git-worker", "git worker show ", &ids),
        ("git-worker", "git-worker show ", &ids),
        ("git-worker", "git worker rm d", &docs),
        ("git-worker", "git worker log --json ", &ids),
        ("git-worker", "git worker show --", &none),
        ("git-worker", "git worker spawn ", &none),
        ("git-handoff", "git handoff apply ", &ids),
        ("git-review-gate", "git review-gate approve ", &ids),
    ];
    for (name, line, expected) in cases {
        let script = repo.root().join(name);
        let rel = PathBuf::from(format!("share/bash-completion/completions/{name}"));
        std::fs::write(&script, &files[&rel]).unwrap();
        let Some(actual) = complete_with_git(&script, repo.path(), &[line.to_string()]) else {
            return;
        };
        let offered: BTreeSet<String> = actual[0].intersection(&ids).cloned().collect();
        assert_eq!(&offered, *expected, "completing {line:?}: {:?}", actual[0]);
        if line.ends_with(" d") {
            assert_eq!(actual[0], docs, "completing {line:?}");
        }
    }

    // Outside a repository: no ids, no error.
    let script = repo.root().join("git-worker");
    let Some(actual) = complete_with_git(&script, repo.root(), &["git worker show ".to_string()])
    else {
        return;
    };
    assert!(
        actual[0].iter().all(|word| word.starts_with('-')),
        "{:?}",
        actual[0]
    );
}
