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
    assert!(html.contains("class=\"mark applied\""));
    // b's failed verification and c's conflict are red, not plain marks.
    assert!(
        !html.contains("class=\"mark conflicted\"") && !html.contains("class=\"mark rejected\"")
    );
    let conflict = elements(&html, "path", "failure conflict");
    assert_eq!(conflict.len(), 1, "{html}");
    assert!(
        title(conflict[0]).ends_with(": src/lib.rs"),
        "{}",
        conflict[0]
    );
    let failed = elements(&html, "path", "failure verification");
    assert_eq!(failed.len(), 1, "{html}");
    assert!(
        title(failed[0]).ends_with("\n$ test -f src/ok\nexit status 1"),
        "{}",
        failed[0]
    );
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

/// The elements `<TAG class="CLASS..."` ... `</TAG>` of `html`, whole.
fn elements<'a>(html: &'a str, tag: &str, class: &str) -> Vec<&'a str> {
    let open = format!("<{tag} class=\"{class}");
    let close = format!("</{tag}>");
    html.match_indices(&open)
        .map(|(at, _)| {
            let len = html[at..].find(&close).unwrap() + close.len();
            &html[at..at + len]
        })
        .collect()
}

/// The text of an element's `<title>`, as written (escaped).
fn title(element: &str) -> &str {
    let start = element.find("<title>").unwrap() + "<title>".len();
    &element[start..start + element[start..].find("</title>").unwrap()]
}

/// What a hostile verification prints: markup that would run if it were
/// not escaped, in a tooltip and in an attribute.
const HOSTILE: &str = "</title><script>alert(1)</script>\n\"><img src=x onerror=alert(2)>";

/// Worker w's verification (its own script) fails, printing `HOSTILE`, in
/// `git review-gate run` and in `git handoff apply`; then it passes both
/// and lands.
fn failing_then_passing() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "one\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo.worker([
        "spawn",
        "w",
        "--allow",
        "src/**",
        "--verify",
        "sh src/check.sh",
    ])
    .success();
    let wt = repo.worktree("w");
    let script = format!("cat <<'EOF'\nstarting\n{HOSTILE}\nEOF\nexit 3\n");
    write_file(&wt.join("src/check.sh"), &script);
    repo.git_in(&wt, ["handoff", "report", "--summary", "w"])
        .success();
    repo.git(["review-gate", "run", "w"]).code(1);
    repo.git(["handoff", "apply", "w"]).code(1);
    write_file(&wt.join("src/check.sh"), "echo fine\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "w, fixed"])
        .success();
    repo.git(["review-gate", "run", "w"]).success();
    repo.git(["handoff", "apply", "w"]).success();
    repo
}

#[test]
fn the_html_report_draws_failed_verifications_in_red_with_the_command_and_output_in_a_tooltip() {
    let repo = failing_then_passing();
    let page = repo.root().join("report.html");
    repo.worker(["report", "--html"]).arg(&page).success();
    let html = std::fs::read_to_string(&page).unwrap();
    let failures = elements(&html, "path", "failure");
    assert_eq!(failures.len(), 2, "{html}");
    let escaped = "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;\n&quot;&gt;&lt;img src=x onerror=alert(2)&gt;";
    for (failure, by) in failures.iter().zip(["review gate", "apply"]) {
        assert!(
            failure.starts_with("<path class=\"failure verification\" fill=\"#c0392b\""),
            "{failure}"
        );
        let title = title(failure);
        assert!(
            title.starts_with(&format!("verification ({by}) failed at ")),
            "{title}"
        );
        assert!(
            title.ends_with(&format!(
                "\n$ sh src/check.sh\nexit status 3\nstarting\n{escaped}"
            )),
            "{title}"
        );
    }
    // The passes are drawn as passes: green dots, not failures.
    let passes = elements(&html, "circle", "mark verified");
    assert_eq!(passes.len(), 1, "{html}");
    assert!(html.contains(".mark.applied,.mark.verified,.mark.approved{fill:#1a7f1a}"));
    // The worker's markup is text: nothing in it became an element.
    let lower = html.to_lowercase();
    for needle in ["<script", "<img", "onerror=alert(2)>"] {
        assert!(!lower.contains(needle), "{needle} in the page");
    }
    assert_eq!(
        html.matches("</title>").count(),
        html.matches("<title>").count()
    );
    // The JSON has the same: each failed command with its status and tail.
    let json = repo.worker(["report", "--json"]).success().json();
    let w = task(&json, "w");
    assert_eq!(w["failures"].as_array().unwrap().len(), 2, "{w}");
    for failure in w["failures"].as_array().unwrap() {
        let command = &failure["commands"][0];
        assert_eq!(command["command"], "sh src/check.sh");
        assert_eq!(command["status"], 3);
        assert_eq!(command["tail"], format!("starting\n{HOSTILE}\n"));
    }
}

/// `x` and the right end (`x + width`) of worker `id`'s bar.
fn bar(html: &str, id: &str) -> (f64, f64) {
    let row = &html[html.find(&format!("data-id=\"{id}\"")).unwrap()..];
    let rect = &row[row.find("<rect class=\"bar\"").unwrap()..];
    let number = |name: &str| -> f64 {
        let at = rect.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        rect[at..at + rect[at..].find('"').unwrap()]
            .parse()
            .unwrap()
    };
    (number("x"), number("x") + number("width"))
}

#[test]
fn the_html_report_draws_an_arrow_from_a_dependency_to_the_task_that_waited_for_it() {
    let repo = TestRepo::new();
    repo.write("README.md", "tasks\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    for (id, deps) in [("a", ""), ("b", ""), ("c", "a")] {
        let mut plan = repo.worker(["plan", id, "--allow"]).arg(format!("{id}/**"));
        if !deps.is_empty() {
            plan = plan.args(["--depends-on", deps]);
        }
        plan.success();
    }
    let land = |id: &str| {
        write_file(&repo.worktree(id).join(format!("{id}/done.txt")), "done\n");
        repo.git_in(
            &repo.worktree(id),
            ["handoff", "report", "--summary", "done"],
        )
        .success();
        repo.git(["handoff", "apply", id]).success();
    };
    repo.worker(["spawn", "--ready"]).success();
    land("a");
    repo.worker(["spawn", "--ready"]).success();
    land("c");
    let page = repo.root().join("report.html");
    repo.worker(["report", "--html"]).arg(&page).success();
    let html = std::fs::read_to_string(&page).unwrap();
    let edges = elements(&html, "path", "edge");
    assert_eq!(edges.len(), 1, "{html}");
    let edge = edges[0];
    assert!(
        edge.starts_with("<path class=\"edge\" data-from=\"a\" data-to=\"c\" d=\"M"),
        "{edge}"
    );
    assert!(edge.contains("marker-end=\"url(#arrow)\""), "{edge}");
    assert!(html.contains("<marker id=\"arrow\""), "{html}");
    assert_eq!(title(edge), "c waited for a");
    // From the end of a's bar (its landing) to the start of c's.
    let d = edge.split(" d=\"M").nth(1).unwrap();
    let d = &d[..d.find('"').unwrap()];
    let points: Vec<f64> = d.split([' ', 'C']).map(|n| n.parse().unwrap()).collect();
    let ((_, a_end), (c_start, _)) = (bar(&html, "a"), bar(&html, "c"));
    assert!(
        (points[0] - a_end).abs() < 0.11,
        "{d} vs a ending at {a_end}"
    );
    assert!(
        (points[points.len() - 2] - c_start).abs() < 0.11,
        "{d} vs c starting at {c_start}"
    );
    let json = repo.worker(["report", "--json"]).success().json();
    assert_eq!(task(&json, "c")["depends_on"], serde_json::json!(["a"]));
    assert_eq!(task(&json, "b")["depends_on"], serde_json::json!([]));
}

/// The number in attribute `name` of the chart's `<svg>`.
fn svg_number(html: &str, name: &str) -> f64 {
    let svg = &html[html.find("<svg ").unwrap()..];
    let svg = &svg[..svg.find('>').unwrap()];
    let at = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
    svg[at..at + svg[at..].find('"').unwrap()].parse().unwrap()
}

#[test]
fn the_html_report_zooms_to_the_active_period_not_to_the_first_commit() {
    let repo = TestRepo::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let day_ago = format!("{} +0000", now - 86_400);
    repo.write("src/lib.rs", "one\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"])
        .env("GIT_AUTHOR_DATE", &day_ago)
        .env("GIT_COMMITTER_DATE", &day_ago)
        .success();
    repo.worker(["spawn", "a", "--allow", "a/**"]).success();
    repo.worker(["spawn", "b", "--allow", "b/**"]).success();
    // A few seconds of work, a day after the first commit; b stays open.
    std::thread::sleep(std::time::Duration::from_secs(2));
    write_file(&repo.worktree("a").join("a/done.txt"), "done\n");
    repo.git_in(&repo.worktree("a"), ["handoff", "report", "--summary", "a"])
        .success();
    repo.git(["handoff", "apply", "a"]).success();
    let page = repo.root().join("report.html");
    repo.worker(["report", "--html"]).arg(&page).success();
    let html = std::fs::read_to_string(&page).unwrap();
    let json = repo.worker(["report", "--json"]).success().json();
    let (a, b) = (task(&json, "a"), task(&json, "b"));
    let first = a["start"].as_i64().unwrap();
    let last = a["last_event"]
        .as_i64()
        .unwrap()
        .max(b["last_event"].as_i64().unwrap());
    assert!(last - first >= 2 && last - first < 300, "{json}");
    assert_eq!(svg_number(&html, "data-first-event"), first as f64);
    assert_eq!(svg_number(&html, "data-last-event"), last as f64);
    // The axis: the active period and a margin (a twentieth, at least 1 s).
    let margin = ((last - first) / 20).max(1);
    let (start, end) = (
        svg_number(&html, "data-start"),
        svg_number(&html, "data-end"),
    );
    assert_eq!(
        (start, end),
        ((first - margin) as f64, (last + margin) as f64)
    );
    assert!(
        start > (now - 86_400 + 3600) as f64,
        "the axis reaches back to the first commit"
    );
    // The bars are where their times are on that axis, and fill it.
    let (chart_x, chart_w) = (
        svg_number(&html, "data-chart-x"),
        svg_number(&html, "data-chart-width"),
    );
    let x = |t: i64| chart_x + (t as f64 - start) / (end - start) * chart_w;
    let (a0, a1) = bar(&html, "a");
    assert!(
        (a0 - x(first)).abs() < 0.11 && (a1 - x(a["landed"].as_i64().unwrap())).abs() < 0.11,
        "{html}"
    );
    assert!((x(last) - x(first)) / chart_w >= 0.5, "a sliver: {html}");
    // b is open: its bar runs to the end of the axis, not beyond.
    assert!(
        (bar(&html, "b").1 - (chart_x + chart_w)).abs() < 0.11,
        "{html}"
    );
    assert!(html.contains("class=\"task active\""), "{html}");
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
