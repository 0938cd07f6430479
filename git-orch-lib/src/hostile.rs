//! Hostile input, generated: every parser and decoder that reads what a
//! user, a worker or another machine wrote answers with a value or an
//! error, never a panic. (docs/hostile-input.md lists every class of bad
//! input tried, here and in the end-to-end suite, with the behaviour.)

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::contract::{Contract, TaskFile, validate_glob, validate_id};
use crate::git::{Repo, TreeEntry};
use crate::policy::{ChangeKind, PathChange, Policy};
use crate::registry;

/// Text with the characters that matter to globs, TOML, paths and JSON.
fn nasty() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just('*'),
            Just('?'),
            Just('['),
            Just(']'),
            Just('{'),
            Just('}'),
            Just('!'),
            Just('/'),
            Just('\\'),
            Just('.'),
            Just('"'),
            Just('\''),
            Just('='),
            Just('\n'),
            Just(' '),
            Just('#'),
            Just(':'),
            Just(','),
            Just('\u{0}'),
            Just('é'),
            Just('+'),
            prop::char::any(),
            prop::char::range('a', 'z'),
        ],
        0..40,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn globs_and_paths_never_panic(glob in nasty(), deny in nasty(), paths in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..30), 0..8)) {
        let _ = validate_glob(&glob);
        let contract = Contract {
            id: "w".into(),
            allow: vec![glob],
            deny: vec![deny],
            ..Contract::default()
        };
        if let Ok(policy) = Policy::of(&contract, false) {
            let changes: Vec<PathChange> = paths
                .into_iter()
                .map(|path| PathChange {
                    symlink_target: Some(path.clone()),
                    path,
                    kind: ChangeKind::Modified,
                    submodule: false,
                })
                .collect();
            let _ = policy.check(&changes, &crate::policy::NoLinks);
        }
    }

    #[test]
    fn an_accepted_id_makes_a_ref_and_a_directory_name(id in nasty()) {
        if validate_id(&id).is_ok() {
            prop_assert!(crate::git::valid_refname(&registry::live_ref(&id)));
            prop_assert!(!id.contains('/') && id != "." && id != "..");
        }
    }

    #[test]
    fn contracts_and_task_files_never_panic(text in nasty(), body in nasty()) {
        if let Ok(contract) = toml::from_str::<Contract>(&text) {
            let _ = contract.validate();
        }
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in [
            ("t.toml", text.clone()),
            ("t.md", format!("+++\n{text}\n+++\n{body}")),
            ("u.md", text.clone()),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &content).unwrap();
            let _ = TaskFile::load(&path);
        }
    }

    #[test]
    fn events_and_verdicts_never_panic(text in nasty(), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = registry::parse_event(&text);
        let _ = registry::parse_event(&format!("subject\n\n{text}"));
        let _ = registry::parse_verdicts(&bytes);
        let _ = registry::parse_verdicts(text.as_bytes());
    }
}

/// A repository to write hand-made registry objects into (the unit tests
/// of other modules use it too).
pub(crate) fn scratch_repo() -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("git")
        .args(["init", "--quiet"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let repo = Repo::open(dir.path()).unwrap();
    (dir, repo)
}

proptest! {
    // Each case writes objects: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn corrupted_registry_entries_and_handoffs_are_errors_not_panics(
        format in nasty(), contract in nasty(), state in nasty(), meta in nasty(), message in nasty(),
    ) {
        let (_dir, repo) = scratch_repo();
        let mut tree = BTreeMap::new();
        tree.insert("format".to_string(), TreeEntry::Blob(format.clone().into_bytes()));
        tree.insert("contract.toml".to_string(), TreeEntry::Blob(contract.into_bytes()));
        tree.insert("state.toml".to_string(), TreeEntry::Blob(state.into_bytes()));
        tree.insert("handoff.toml".to_string(), TreeEntry::Blob(meta.into_bytes()));
        tree.insert("summary.md".to_string(), TreeEntry::Blob(b"s".to_vec()));
        tree.insert("stat".to_string(), TreeEntry::Blob(b"".to_vec()));
        let tree = repo.write_tree(&tree).unwrap();
        // A commit message cannot hold NUL.
        let message = message.replace('\0', "");
        let commit = repo.create_commit(tree, &[], &message).unwrap();
        let _ = registry::decode(&repo, "refs/orch/workers/w", commit);
        let _ = registry::history(&repo, commit);
        let _ = registry::decode_handoff(&repo, "w", commit);
        // The same files as directories, and nothing at all.
        let empty = repo.write_tree(&BTreeMap::new()).unwrap();
        let mut dirs = BTreeMap::new();
        for name in ["format", "contract.toml", "state.toml", "handoff.toml"] {
            dirs.insert(name.to_string(), TreeEntry::Tree(empty));
        }
        let dirs = repo.write_tree(&dirs).unwrap();
        for tree in [dirs, empty] {
            let commit = repo.create_commit(tree, &[commit], &message).unwrap();
            prop_assert!(registry::decode(&repo, "refs/orch/workers/w", commit).is_err());
            prop_assert!(registry::decode_handoff(&repo, "w", commit).is_err());
        }
    }
}

#[test]
fn registry_refs_pointing_at_the_wrong_kind_of_object_are_errors() {
    let (_dir, repo) = scratch_repo();
    let blob = repo.write_blob(b"not a commit").unwrap();
    let tree = repo.write_tree(&BTreeMap::new()).unwrap();
    for target in [blob, tree] {
        repo.git(["update-ref", "refs/orch/workers/w", &target.to_string()])
            .run()
            .unwrap();
        let loaded = registry::load(&repo, "w");
        assert!(loaded.is_err(), "{target}: {loaded:?}");
        repo.git(["update-ref", "refs/orch/handoffs/w", &target.to_string()])
            .run()
            .unwrap();
        assert!(registry::load_handoff(&repo, "w").is_err());
        repo.git(["update-ref", registry::VERDICTS, &target.to_string()])
            .run()
            .unwrap();
        assert!(registry::verdicts_on(&repo, blob).is_err());
    }
}

/// A key of `.orch.toml` with a value of any TOML type made of `text`.
fn team_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("base"),
        Just("prefix"),
        Just("worktree-dir"),
        Just("verify"),
        Just("allow"),
        Just("deny"),
        Just("require-change"),
        Just("max-active"),
        Just("stall-after"),
    ];
    (key, nasty(), any::<i64>(), 0..4u8).prop_map(|(key, text, number, kind)| {
        let quoted = format!("{text:?}"); // a TOML basic string, mostly
        match kind {
            0 => format!("{key} = {quoted}"),
            1 => format!("{key} = [{quoted}, {quoted}]"),
            2 => format!("{key} = {number}"),
            _ => format!("{key} = {text}"),
        }
    })
}

proptest! {
    // Each case runs git config: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// `.orch.toml` (free text, and well-formed TOML with odd values) and
    /// every `orch.*` git config key set to odd text: settings load as a
    /// value or an error, never a panic.
    #[test]
    fn the_config_parsers_never_panic(
        free in nasty(),
        lines in prop::collection::vec(team_line(), 0..6),
        review in nasty(),
        values in prop::collection::vec(nasty(), 11),
    ) {
        let (dir, repo) = scratch_repo();
        let file = dir.path().join(crate::config::FILE);
        std::fs::write(&file, &free).unwrap();
        let _ = crate::config::Settings::load(&repo);
        let team = format!(
            "{}\n[review]\nrequire = {review:?}\nmax-rejections = {}\n",
            lines.join("\n"),
            review.len()
        );
        std::fs::write(&file, team).unwrap();
        let _ = crate::config::Settings::load(&repo);
        std::fs::remove_file(&file).unwrap();
        use crate::config::*;
        let keys = [
            KEY_BASE, KEY_PREFIX, KEY_WORKTREE_DIR, KEY_VERIFY, KEY_ALLOW, KEY_DENY,
            KEY_REQUIRE_CHANGE, KEY_REVIEW_REQUIRE, KEY_MAX_REJECTIONS, KEY_MAX_ACTIVE,
            KEY_STALL_AFTER,
        ];
        // Written as git config writes them: `[orch]` / `[orch "review"]`,
        // quoted and escaped.
        let config = dir.path().join(".git/config");
        let mut text = std::fs::read_to_string(&config).unwrap();
        for (key, value) in keys.iter().zip(&values) {
            let (section, name) = key.rsplit_once('.').unwrap();
            let section = match section.split_once('.') {
                Some((section, sub)) => format!("[{section} \"{sub}\"]"),
                None => format!("[{section}]"),
            };
            let escaped = value
                .replace('\0', "")
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            text.push_str(&format!("{section}\n\t{name} = \"{escaped}\"\n"));
            std::fs::write(&config, &text).unwrap();
            let _ = crate::config::Settings::load(&repo);
        }
    }
}
