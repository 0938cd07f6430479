//! `git worker report`: the after-action report from the event logs.

use crate::support::{TestRepo, write_file};

/// a: blocked once, then lands. b: fails verification, reports again,
/// lands. c: conflicts with a, is removed (abandoned).
fn session() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "one\ntwo\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo.worker(["spawn", "a", "c", "--allow", "src/**"])
        .success();
    repo.worker([
        "spawn",
        "b",
        "--allow",
        "src/**",
        "--verify",
        "test -f src/ok",
    ])
    .success();
    let in_ = |id: &str, args: &[&str]| {
        repo.git_in(&repo.worktree(id), args).success();
    };
    in_(
        "a",
        &[
            "worker",
            "notify",
            "--level",
            "blocking",
            "need the API spec",
        ],
    );
    repo.worker(["message", "a", "spec is in docs/api.md"])
        .success();
    write_file(&repo.worktree("a").join("src/lib.rs"), "ONE\ntwo\n");
    in_("a", &["handoff", "report", "--summary", "a"]);
    repo.git(["handoff", "apply", "a"]).success();

    write_file(&repo.worktree("b").join("src/b.rs"), "b\n");
    in_("b", &["handoff", "report", "--summary", "b, first try"]);
    repo.git(["handoff", "apply", "b"]).code(1);
    write_file(&repo.worktree("b").join("src/ok"), "ok\n");
    in_("b", &["handoff", "report", "--summary", "b, second try"]);
    repo.git(["handoff", "apply", "b"]).success();

    write_file(&repo.worktree("c").join("src/lib.rs"), "uno\ntwo\n");
    in_("c", &["handoff", "report", "--summary", "c"]);
    repo.git(["handoff", "apply", "c"]).code(1);
    repo.worker(["rm", "c", "--force"]).success();
    repo
}

fn task<'a>(json: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap()
}

#[test]
fn the_report_counts_retries_blocks_failures_and_conflicts_per_task() {
    let repo = session();
    let json = repo.worker(["report", "--json"]).success().json();
    let (a, b, c) = (task(&json, "a"), task(&json, "b"), task(&json, "c"));
    assert_eq!(a["outcome"], "landed");
    assert_eq!(a["blocked"][0]["reason"], "need the API spec");
    assert!(a["blocked"][0]["end"].is_i64(), "{a}");
    assert!(a["to_land"].is_i64() && a["to_report"].is_i64(), "{a}");
    assert_eq!(b["outcome"], "landed");
    assert_eq!(
        (b["reports"].as_u64(), b["retries"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(b["failures"][0]["kind"], "verification (apply)");
    assert_eq!(b["failures"][0]["detail"], "test -f src/ok");
    assert_eq!(c["outcome"], "abandoned");
    assert_eq!(c["conflicts"], 1);
    assert_eq!(c["failures"][0]["detail"], "src/lib.rs");
    let totals = &json["totals"];
    assert_eq!(
        (
            totals["tasks"].as_u64(),
            totals["landed"].as_u64(),
            totals["abandoned"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(totals["retries"], 1);
    assert_eq!(totals["conflicts"], 1);

    let text = repo.worker(["report"]).read();
    assert!(
        text.starts_with("after-action report: 3 tasks: 2 landed, 1 abandoned, 0 open"),
        "{text}"
    );
    assert!(text.contains("need the API spec"), "{text}");
    assert!(
        text.contains("c  ") && text.contains("conflict: src/lib.rs"),
        "{text}"
    );
    let none = repo
        .worker(["report", "--since", "2100-01-01", "--json"])
        .success()
        .json();
    assert_eq!(none["totals"]["tasks"], 0);
}

#[test]
fn the_html_report_draws_a_timeline_without_the_network() {
    let repo = session();
    let page = repo.root().join("report.html");
    repo.worker(["report", "--html"]).arg(&page).success();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<rect class=\"bar\"").count(), 3, "{html}");
    assert_eq!(html.matches("<rect class=\"blocked\"").count(), 1);
    assert!(html.contains("class=\"task landed\"") && html.contains("class=\"task abandoned\""));
    assert!(html.contains("class=\"mark applied\"") && html.contains("class=\"mark conflicted\""));
    // Nothing is fetched: no scripts, links or remote resources.
    for needle in ["<script", "<link", "http://", "https://", "src="] {
        assert!(
            !html
                .replace("http://www.w3.org/2000/svg", "")
                .contains(needle),
            "{needle} in the page"
        );
    }
}

/// Rendered by a real browser when one is installed (`chromium`; CI does
/// not install it, the structure test above always runs): the page loads
/// offline and the timeline is drawn.
#[test]
fn the_html_report_renders_in_headless_chromium_when_it_is_installed() {
    let Ok(chromium) = which::which("chromium") else {
        eprintln!("chromium is not installed: rendering not checked");
        return;
    };
    let repo = session();
    let page = repo.root().join("report.html");
    repo.worker(["report", "--html"]).arg(&page).success();
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let profile = format!("--user-data-dir={}", repo.root().join("chrome").display());
    let url = format!("file://{}", page.display());
    let dom = std::process::Command::new(&chromium)
        .args(common)
        .arg(&profile)
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("class=\"bar\"").count(), 3, "{dom}");
    let shot = repo.root().join("report.png");
    let out = std::process::Command::new(&chromium)
        .args(common)
        .arg(&profile)
        .args(["--window-size=1100,600"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
