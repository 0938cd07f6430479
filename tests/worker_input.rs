//! Bad input to `git worker`: every case must exit 2 with an `error:` line
//! naming what was wrong, and must not change the repository at all (refs,
//! worktrees, config and files are compared before and after).
//!
//! A rejected command leaves nothing behind, so cases of one kind share a
//! repository: a case that did change it fails the snapshot comparison.

#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;

use crate::support::{Output, TestRepo, write_file};

/// Run `git worker <args>` and check that it exits 2, prints nothing on
/// stdout, prints an `error:` line containing every one of `words`, and
/// leaves `repo` exactly as it was.
#[track_caller]
fn assert_rejected<S: AsRef<OsStr>>(repo: &TestRepo, args: &[S], words: &[&str]) -> Output {
    let before = repo.snapshot();
    let out = repo.worker(args).output();
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_owned()).collect();
    assert_eq!(out.code, 2, "{shown:?}: expected exit status 2:\n{out}");
    assert!(
        out.stdout.is_empty(),
        "{shown:?}: printed on stdout:\n{out}"
    );
    let error = out
        .stderr
        .lines()
        .find(|line| line.starts_with("error: "))
        .unwrap_or_else(|| panic!("{shown:?}: no `error:` line:\n{out}"));
    for word in words {
        assert!(
            error.contains(word),
            "{shown:?}: the error line does not mention {word:?}:\n{out}"
        );
    }
    assert_eq!(
        repo.snapshot(),
        before,
        "{shown:?}: the repository changed:\n{out}"
    );
    out
}

/// Each id is rejected before anything is written. The ids become ref
/// components, branch names, directory names and worktree names, so each
/// case guards a different way out of that subset.
#[test]
fn spawn_rejects_bad_ids_with_exit_2_and_changes_nothing() {
    let repo = TestRepo::with_commit();
    let long = "a".repeat(300);
    let cases: &[(&str, &[&str])] = &[
        // A path component that climbs out of refs/orch/workers/ and the worktree dir.
        ("..", &["invalid worker id '..'", "'.'"]),
        // A slash would nest refs (refs/orch/workers/a/b) and directories.
        ("a/b", &["invalid worker id 'a/b'", "'/'"]),
        // Whitespace is not allowed in ref names and breaks shell use of paths.
        ("a b", &["invalid worker id 'a b'", "whitespace"]),
        // A newline would forge lines in the error output and in `list`.
        ("a\nb", &["invalid worker id 'a\\nb'", "control characters"]),
        // An escape byte could drive the user's terminal.
        (
            "a\x1bb",
            &["invalid worker id 'a\\u{1b}b'", "control characters"],
        ),
        // Unbounded ids hit path and ref length limits deep inside git.
        (&long, &["invalid worker id", "longer than 64 characters"]),
        // An empty id would make the worker ref refs/orch/workers/ itself.
        ("", &["invalid worker id ''", "empty"]),
        // git refuses ref components ending in .lock (they are lock files).
        ("x.lock", &["invalid worker id 'x.lock'", "'.lock'"]),
        // Non-ASCII ids are not portable as directory names.
        ("é", &["invalid worker id 'é'", "characters other than"]),
    ];
    for (id, words) in cases {
        let out = assert_rejected(&repo, &["spawn", id], words);
        // The hint says what an id may be.
        assert!(out.stderr.contains("hint: ids are 1-64"), "{id:?}:\n{out}");
        // Control characters are escaped, never echoed raw.
        assert!(
            !out.stderr.contains(['\x1b', '\0']) && out.stderr.lines().count() == 2,
            "{id:?}: raw control characters in the message:\n{out}"
        );
    }
}

/// An id starting with '-' is an option to clap, and after `--` it is
/// rejected by the id check: either way it never reaches git as an option
/// (`git branch -x`, `git worktree add -x`).
#[test]
fn spawn_rejects_ids_starting_with_a_dash_even_after_double_dash() {
    let repo = TestRepo::with_commit();
    // Without `--`: clap's usage error.
    assert_rejected(&repo, &["spawn", "-x"], &["unexpected argument '-x' found"]);
    // After `--`: the id check.
    assert_rejected(
        &repo,
        &["spawn", "--", "-x"],
        &["invalid worker id '-x'", "starts with '-'"],
    );
    assert_rejected(
        &repo,
        &["spawn", "--", "--force"],
        &["invalid worker id '--force'", "starts with '-'"],
    );
}

/// All ids are checked before the first spawn: one bad id among good ones
/// spawns none of them (no half-done batch to clean up).
#[test]
fn spawn_with_one_bad_id_among_good_ones_spawns_none() {
    let repo = TestRepo::with_commit();
    assert_rejected(
        &repo,
        &["spawn", "good1", "bad/id", "good2"],
        &["invalid worker id 'bad/id'"],
    );
    // A repeated id would race with itself.
    assert_rejected(&repo, &["spawn", "a", "b", "a"], &["'a'", "given twice"]);
    // No id at all is an error, not a silent no-op.
    let out = assert_rejected(&repo, &["spawn"] as &[&str], &["no worker id given"]);
    assert!(
        out.stderr.contains("hint: usage: git worker spawn"),
        "{out}"
    );
}

/// Path globs of the contract are relative to the repository root and must
/// not reach outside it: a contract that allows `/etc/**` or `../x` would
/// let a worker's change be accepted outside the repository it works on.
#[test]
fn spawn_rejects_bad_globs_with_exit_2_and_changes_nothing() {
    let repo = TestRepo::with_commit();
    let cases: &[(&[&str], &[&str])] = &[
        // Absolute paths are outside the repository.
        (
            &["--allow", "/etc/**"],
            &["invalid path glob '/etc/**'", "absolute"],
        ),
        // A leading '..' climbs out of the repository root.
        (
            &["--allow", "../x"],
            &["invalid path glob '../x'", "leaves the repository"],
        ),
        // '..' in the middle climbs out too, and in --deny as in --allow.
        (
            &["--deny", "src/../../x"],
            &["invalid path glob 'src/../../x'", "leaves the repository"],
        ),
        // An empty glob matches nothing: almost certainly a quoting mistake.
        (&["--allow", ""], &["invalid path glob ''", "empty"]),
        // Invalid glob syntax must fail at spawn, not later at review time.
        (
            &["--allow", "a["],
            &["invalid path glob 'a['", "unclosed character class"],
        ),
        // A home-relative path is not relative to the repository.
        (
            &["--allow", "~/x"],
            &["invalid path glob '~/x'", "absolute"],
        ),
    ];
    for (flags, words) in cases {
        let mut args = vec!["spawn", "w"];
        args.extend_from_slice(flags);
        let out = assert_rejected(&repo, &args, words);
        assert!(out.stderr.contains("hint: globs are relative"), "{out}");
    }
}

/// Globs from git config are checked like globs from flags, and the error
/// says where they came from.
#[test]
fn spawn_rejects_a_bad_glob_from_git_config() {
    let repo = TestRepo::with_commit();
    repo.git(["config", "orch.allow", "../outside/**"])
        .success();
    assert_rejected(
        &repo,
        &["spawn", "w"],
        &["orch.allow", "invalid path glob '../outside/**'"],
    );
}

/// Task files are strict: an unknown key (a typo such as `alow`) or a wrong
/// type would otherwise silently drop part of the contract.
#[test]
fn spawn_rejects_bad_task_files_with_exit_2_and_changes_nothing() {
    let repo = TestRepo::with_commit();
    let task = |name: &str, text: &str| {
        let path = repo.root().join(name);
        write_file(&path, text);
        path.display().to_string()
    };
    let unknown = task("unknown.toml", "allow = ['src/**']\nfrobnicate = 1\n");
    let wrong_type = task("wrong-type.toml", "verify = \"make\"\n");
    let syntax = task("syntax.toml", "verify = [\n");
    let bad_id = task("bad-id.toml", "id = 'a/b'\n");
    let bad_glob = task("bad-glob.toml", "id = 'w'\nallow = ['../x']\n");
    let missing = repo.root().join("missing.toml").display().to_string();
    let cases: Vec<(&str, &[&str])> = vec![
        // A typo'd key must not be ignored.
        (
            &unknown,
            &[
                "invalid task file '$ROOT/unknown.toml'",
                "unknown field `frobnicate`",
            ],
        ),
        // `verify = "make"` is a string, not the list of commands it must be.
        (
            &wrong_type,
            &[
                "invalid task file '$ROOT/wrong-type.toml'",
                "invalid type",
                "sequence",
            ],
        ),
        // Broken TOML: the message names the file and where it broke.
        (
            &syntax,
            &["invalid task file '$ROOT/syntax.toml'", "at byte"],
        ),
        // Ids from a task file are checked like ids from the command line.
        (&bad_id, &["in the task file", "invalid worker id 'a/b'"]),
        // Globs from a task file are checked like globs from flags.
        (&bad_glob, &["invalid path glob '../x'"]),
        // A missing file is an error, not an empty contract.
        (
            &missing,
            &["cannot read task file '$ROOT/missing.toml'", "No such file"],
        ),
    ];
    for (path, words) in cases {
        assert_rejected(&repo, &["spawn", "--task", path], words);
    }
    // With the id on the command line as well.
    assert_rejected(
        &repo,
        &["spawn", "w", "--task", &wrong_type],
        &["invalid task file", "invalid type"],
    );
}

/// Labels must be `key=value`: `--label novalue` is most likely a mistake
/// that would otherwise store a label nobody can filter on.
#[test]
fn bad_labels_are_rejected_with_exit_2() {
    let repo = TestRepo::with_commit();
    let out = assert_rejected(
        &repo,
        &["spawn", "w", "--label", "novalue"],
        &["invalid label 'novalue'", "key=value"],
    );
    assert!(
        out.stderr.contains("hint: for example: --label team=auth"),
        "{out}"
    );
    // An empty key.
    assert_rejected(
        &repo,
        &["spawn", "w", "--label", "=x"],
        &["invalid label key ''"],
    );
    // A control character in the value (it is printed by `list` and `show`).
    assert_rejected(
        &repo,
        &["spawn", "w", "--label", "team=a\x1bb"],
        &["invalid label value", "control characters"],
    );
    // `list --label` parses labels the same way.
    assert_rejected(
        &repo,
        &["list", "--label", "novalue"],
        &["invalid label 'novalue'"],
    );
}

/// Outside a repository, repository commands say so instead of failing
/// somewhere inside git2, and create nothing (no `.git/orch` anywhere).
#[test]
fn commands_outside_a_repository_fail_with_not_a_git_repository() {
    let repo = TestRepo::with_commit();
    let plain = repo.root().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let before = repo.snapshot();
    for args in [
        &["worker", "list"][..],
        &["worker", "spawn", "x"],
        &["worker", "show", "x"],
        &["worker", "rm", "x"],
        &["worker", "prune"],
        &["worker", "current"],
    ] {
        let out = repo.git_in(&plain, args).output();
        assert_eq!(out.code, 2, "{args:?}:\n{out}");
        assert!(
            out.stderr
                .starts_with("error: not a git repository (or any of the parent directories)\n"),
            "{args:?}:\n{out}"
        );
        assert!(out.stderr.contains("hint: "), "{args:?}:\n{out}");
    }
    assert_eq!(
        std::fs::read_dir(&plain).unwrap().count(),
        0,
        "plain dir written to"
    );
    assert_eq!(repo.snapshot(), before);
}

/// doctor checks the installation too, so it works outside a repository:
/// it skips the registry checks and says so (its exit status depends on
/// what is installed, but it is never the "could not run" status 2).
#[test]
fn doctor_outside_a_repository_works_and_skips_registry_checks() {
    let repo = TestRepo::with_commit();
    let plain = repo.root().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let out = repo.git_in(&plain, ["worker", "doctor"]).output();
    assert!(matches!(out.code, 0 | 1), "{out}");
    assert!(
        out.stdout
            .contains("ok       not in a git repository: registry checks skipped"),
        "{out}"
    );
    assert!(!out.stderr.contains("error:"), "{out}");
    assert_eq!(
        std::fs::read_dir(&plain).unwrap().count(),
        0,
        "plain dir written to"
    );
}

/// A typo in the team file must not silently drop a team default; the
/// error names the file so the user knows which one to fix.
#[test]
fn orch_toml_with_an_unknown_key_is_an_error_naming_the_file() {
    let repo = TestRepo::with_commit();
    repo.write(".orch.toml", "prefx = 'agents/'\n");
    let out = assert_rejected(
        &repo,
        &["spawn", "w"],
        &[
            "invalid .orch.toml '$ROOT/repo/.orch.toml'",
            "unknown field `prefx`",
        ],
    );
    assert!(
        out.stderr
            .contains("hint: .orch.toml accepts: base, prefix"),
        "{out}"
    );
    // A wrong type is as bad as an unknown key.
    repo.write(".orch.toml", "verify = 'make'\n");
    assert_rejected(
        &repo,
        &["spawn", "w"],
        &["invalid .orch.toml '$ROOT/repo/.orch.toml'", "invalid type"],
    );
}

/// The branch prefix must make valid branch names; a bad one must be caught
/// before the registry entry is claimed, not by `git update-ref` half-way
/// through the spawn.
#[test]
fn bad_orch_prefix_in_git_config_is_rejected_with_exit_2() {
    let repo = TestRepo::with_commit();
    for prefix in ["a b/", "/abs/", "x..y/", "x~/", ".hidden/", "a//b/"] {
        repo.git(["config", "orch.prefix", prefix]).success();
        let out = assert_rejected(
            &repo,
            &["spawn", "w"],
            &[&format!("invalid branch prefix '{prefix}'")],
        );
        assert!(
            out.stderr.contains("hint: set orch.prefix"),
            "{prefix:?}:\n{out}"
        );
    }
}

/// `show` and `rm` check the id before looking it up, and an id that is
/// valid but unknown is an error with a pointer to `list`.
#[test]
fn show_and_rm_reject_bad_and_unknown_ids_with_exit_2() {
    let repo = TestRepo::with_commit();
    // A '/' would look up refs/orch/workers/bad/id or an archive path.
    assert_rejected(
        &repo,
        &["show", "bad/id"],
        &["invalid worker id 'bad/id'", "'/'"],
    );
    assert_rejected(&repo, &["rm", "bad/id"], &["invalid worker id 'bad/id'"]);
    // '..' in rm must never reach the worktree removal.
    assert_rejected(&repo, &["rm", ".."], &["invalid worker id '..'"]);
    // Unknown: not a crash, not a silent success.
    for command in ["rm", "show"] {
        let out = assert_rejected(
            &repo,
            &[command, "nope"],
            &["worker 'nope' is not registered"],
        );
        assert!(
            out.stderr
                .contains("hint: `git worker list` shows the registered workers"),
            "{out}"
        );
    }
    // rm needs an id at all (clap).
    assert_rejected(
        &repo,
        &["rm"] as &[&str],
        &["the following required arguments were not provided"],
    );
}

/// rm checks every id before removing anything: a bad id in the list leaves
/// the good workers in place.
#[test]
fn rm_with_one_bad_id_removes_nothing() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "keep"]).success();
    assert_rejected(
        &repo,
        &["rm", "keep", "bad/id"],
        &["invalid worker id 'bad/id'"],
    );
    assert!(repo.worktree("keep").join(".git").exists());
}

/// Unknown subcommands, flags and values are clap's usage errors: exit 2,
/// with the usage line.
#[test]
fn usage_errors_exit_2_with_clap_messages() {
    let repo = TestRepo::with_commit();
    let cases: &[(&[&str], &[&str])] = &[
        (&["frobnicate"], &["unrecognized subcommand 'frobnicate'"]),
        (
            &["spawn", "--frobnicate", "w"],
            &["unexpected argument '--frobnicate'"],
        ),
        (
            &["list", "--frobnicate"],
            &["unexpected argument '--frobnicate'"],
        ),
        // A flag that needs a value, without one.
        (
            &["spawn", "w", "--base"],
            &["a value is required for '--base <REV>'"],
        ),
    ];
    for (args, words) in cases {
        let out = assert_rejected(&repo, args, words);
        assert!(
            out.stderr.contains("For more information, try '--help'."),
            "{args:?}:\n{out}"
        );
    }
    // States are an enumerated value: clap lists the valid ones.
    assert_rejected(
        &repo,
        &["list", "--state", "bogus"],
        &["invalid value 'bogus' for '--state <STATE>'"],
    );
}
