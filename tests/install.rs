//! install.sh and the demo it runs, the way a newcomer runs them: an
//! install into a PREFIX (from the binaries the suite built, so no release
//! build), an uninstall that leaves the PREFIX as it was, and a demo that
//! leaves nothing behind.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::{TestRepo, bin_dir, path_without, workspace_root, write_file};

/// Every path under `dir`, relative to it.
fn tree(dir: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, top: &Path, out: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            out.insert(path.strip_prefix(top).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                walk(&path, top, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// `sh install.sh <args>` into `prefix`, installing the suite's binaries.
fn install_sh(repo: &TestRepo, prefix: &Path, args: &[&str]) -> crate::support::Run {
    repo.cmd_in(repo.root(), "sh", [workspace_root().join("install.sh")])
        .args(args)
        .env("PREFIX", prefix)
        .env("GIT_ORCH_BIN_DIR", bin_dir())
        .env("NO_DEMO", "1")
}

#[test]
fn install_then_uninstall_leaves_the_prefix_as_it_was() {
    let repo = TestRepo::new();
    let prefix = repo.root().join("prefix");
    // What was there before: the user's own files, in directories install uses.
    write_file(&prefix.join("bin/mine"), "#!/bin/sh\n");
    write_file(&prefix.join("share/man/man1/mine.1"), ".TH mine 1\n");
    let before = tree(&prefix);

    let out = install_sh(&repo, &prefix, &[]).success();
    // One line per step, so a long build never looks hung.
    assert!(
        out.stderr.contains("==> installing git-worker from")
            && out.stderr.contains(
                "==> installing man pages, completions and hooks under $ROOT/prefix/share"
            ),
        "{out}"
    );
    for installed in [
        "bin/git-worker",
        "bin/git-handoff",
        "bin/git-review-gate",
        "share/man/man1/git-worker.1",
        "share/man/man1/git-worker-spawn.1",
        "share/bash-completion/completions/git-worker",
        "share/zsh/site-functions/_git-worker",
        "share/fish/vendor_completions.d/git-worker.fish",
        "share/git-worker/hooks/pre-commit",
        "share/git-worker/demo.sh",
        "share/git-orch/installed-files",
    ] {
        assert!(
            prefix.join(installed).is_file(),
            "{installed} missing:\n{out}"
        );
    }
    let version = repo
        .cmd_in(
            repo.root(),
            &prefix.join("bin/git-worker").display().to_string(),
            ["--version"],
        )
        .read();
    assert!(version.starts_with("git-worker "), "{version}");

    // Installing again (an upgrade) keeps the record of what the first made.
    install_sh(&repo, &prefix, &[]).success();

    let out = install_sh(&repo, &prefix, &["--uninstall"]).success();
    assert!(
        out.stderr
            .contains("uninstalled git-orch from $ROOT/prefix"),
        "{out}"
    );
    assert_eq!(tree(&prefix), before, "{out}");
}

#[test]
fn uninstall_keeps_a_directory_holding_files_it_did_not_install() {
    let repo = TestRepo::new();
    let prefix = repo.root().join("prefix");
    install_sh(&repo, &prefix, &[]).success();
    // Something else installs next to git-orch after it.
    write_file(
        &prefix.join("share/zsh/site-functions/_other"),
        "#compdef other\n",
    );

    let out = install_sh(&repo, &prefix, &["--uninstall"]).success();
    assert!(
        out.stderr.contains(
            "note: kept $ROOT/prefix/share/zsh/site-functions: it holds files git-orch did not install"
        ),
        "{out}"
    );
    assert_eq!(
        tree(&prefix),
        BTreeSet::from([
            "share".to_string(),
            "share/zsh".to_string(),
            "share/zsh/site-functions".to_string(),
            "share/zsh/site-functions/_other".to_string(),
        ]),
        "{out}"
    );
}

#[test]
fn install_from_a_directory_without_the_binaries_is_an_error_exit_2() {
    let repo = TestRepo::new();
    let prefix = repo.root().join("prefix");
    let empty = repo.root().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = install_sh(&repo, &prefix, &[])
        .env("GIT_ORCH_BIN_DIR", &empty)
        .code(2);
    assert!(
        out.stderr
            .contains("error: '$ROOT/empty/git-worker' is not an executable\nhint: build it with `cargo build --release`"),
        "{out}"
    );
}

#[test]
fn the_demo_removes_its_temporary_directory_whether_it_succeeds_or_fails() {
    let repo = TestRepo::new();
    let tmp = repo.root().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let demo = workspace_root().join("share/git-worker/demo.sh");

    let out = repo
        .cmd_in(repo.root(), "sh", [&demo])
        .env("TMPDIR", &tmp)
        .success();
    assert!(
        out.stderr.contains("applied the handoff of 'billing'"),
        "{out}"
    );
    assert!(
        out.stdout.contains("the demo repository is removed"),
        "{out}"
    );
    assert_eq!(tree(&tmp), BTreeSet::new(), "{out}");

    // A step fails (git-handoff is not installed): still nothing left.
    let out = repo
        .cmd_in(repo.root(), "sh", [&demo])
        .env("TMPDIR", &tmp)
        .env("PATH", path_without(repo.root(), &["git-handoff"]))
        .output();
    assert_ne!(out.code, 0, "{out}");
    assert_eq!(tree(&tmp), BTreeSet::new(), "{out}");
}

/// The hints of the hooks, spawn and doctor say `README, "Install"`: the
/// section exists, and names what is needed before the command that needs it.
#[test]
fn the_readme_install_section_the_hints_point_to_lists_prerequisites_first() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let section = readme
        .split_once("\n## Install\n")
        .map(|(_, rest)| rest.split("\n## ").next().unwrap())
        .expect("README has no \"## Install\" section");
    // Markdown wraps anywhere: compare with single spaces.
    let section = section.split_whitespace().collect::<Vec<_>>().join(" ");
    let command = section.find("./install.sh").expect("no install command");
    for needed in [
        "Rust 1.89",
        "C compiler",
        "git 2.38",
        "tmux",
        "rustfmt and clippy",
        "bubblewrap",
    ] {
        let at = section
            .find(needed)
            .unwrap_or_else(|| panic!("{needed:?} missing"));
        assert!(at < command, "{needed:?} comes after the install command");
    }
    for shell in ["**bash**", "**zsh**", "**fish**"] {
        assert!(
            section.contains(shell),
            "how to turn on {shell} completions"
        );
    }
}
