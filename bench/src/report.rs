//! The report: a table of medians and ratios, the exact commands, or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::benches::{Outcome, thousands};
use crate::measure::Stats;

/// The benchmarks at one size, for the growth table.
pub struct Point {
    /// What grows, e.g. "files in the repository".
    pub dimension: &'static str,
    pub size: usize,
    /// The unit of `size` in the table, e.g. "files".
    pub unit: &'static str,
    pub outcome: Outcome,
}

/// The rows the growth table shows, and their names there (without the
/// size, which has a column of its own). The JSON has every row of every point.
const GROWTH_ROWS: &[(&str, &str)] = &[
    ("spawn", "spawn"),
    ("hook-1", "hook, 1-file commit"),
    ("hook-many", "hook, commit of 1,000 files (or all)"),
    ("report", "handoff report, 1,000 (or all) + 5 files"),
    ("apply", "handoff apply (no verify), same change"),
    ("review-gate", "review-gate run, 1-file change"),
    (
        "sandbox-spawn",
        "spawn --sandbox vs --no-sandbox (--exec true)",
    ),
    (
        "sandbox-commit",
        "1-file commit, sandboxed clone vs worktree",
    ),
    (
        "sandbox-commit-exec",
        "1-file commit in the sandbox vs not, same clone (info)",
    ),
    (
        "sandbox-verify",
        "review-gate run, sandboxed vs unsandboxed scratch",
    ),
    ("list", "list"),
    ("list-json", "list --json"),
    ("list-no-status", "list --no-status"),
    (
        "list-status-git",
        "list vs for-each-ref + git status in each checkout (info)",
    ),
    ("sync-noop", "sync, nothing new"),
    ("sync-events", "sync, 1 new event per worker"),
    (
        "sync-noop-hub",
        "sync, nothing new, vs git to a checked hub (info)",
    ),
    (
        "sync-events-hub",
        "sync, 1 new event per worker, vs git to a checked hub (info)",
    ),
    // Peer rows.
    ("spawn-wt", "spawn"),
];

/// A row with its figures filled in.
struct Figures {
    key: String,
    benchmark: String,
    ours: String,
    git: String,
    ours_ms: f64,
    git_ms: f64,
    ratio: f64,
    target: Option<f64>,
    target_added_ms: Option<f64>,
    met: Option<bool>,
}

fn figures(outcome: &Outcome) -> Vec<Figures> {
    let by_key: BTreeMap<&str, &Stats> =
        outcome.stats.iter().map(|s| (s.key.as_str(), s)).collect();
    let median = |key: &str| by_key.get(key).map_or(f64::NAN, |s| s.median());
    outcome
        .rows
        .iter()
        .map(|row| {
            let ours_ms = median(&row.ours);
            let git_ms = median(&row.git);
            let ratio = ours_ms / git_ms;
            Figures {
                key: row.key.clone(),
                benchmark: row.benchmark.clone(),
                ours: row.ours.clone(),
                git: row.git.clone(),
                ours_ms,
                git_ms,
                ratio,
                target: row.target,
                target_added_ms: row.target_added_ms,
                met: row
                    .target
                    .map(|t| ratio <= t)
                    .or(row.target_added_ms.map(|t| ours_ms - git_ms <= t)),
            }
        })
        .collect()
}

/// A peer row with its figures filled in.
struct PeerFigures {
    key: String,
    benchmark: String,
    peer_name: String,
    ours_ms: f64,
    peer_ms: f64,
    git_ms: f64,
}

fn peer_figures(outcome: &Outcome) -> Vec<PeerFigures> {
    outcome
        .peer_rows
        .iter()
        .map(|row| PeerFigures {
            key: row.key.clone(),
            benchmark: row.benchmark.clone(),
            peer_name: row.peer_name.clone(),
            ours_ms: outcome.median(&row.ours),
            peer_ms: outcome.median(&row.peer),
            git_ms: outcome.median(&row.git),
        })
        .collect()
}

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} ms")
    } else {
        format!("{value:.1} ms")
    }
}

/// Columns padded to their widest cell; the first left-aligned, the rest right.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 0 {
                let _ = write!(line, "{cell:<width$}", width = widths[i]);
            } else {
                let _ = write!(line, "  {cell:>width$}", width = widths[i]);
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// `scratch` is shown as `$SCRATCH` in the list of commands.
pub fn text(
    context: &[(String, String)],
    scratch: &Path,
    outcome: &Outcome,
    growth: &[Point],
) -> String {
    let mut out = String::new();
    for (name, value) in context.iter().chain(&outcome.facts) {
        let _ = writeln!(out, "{:<18}{value}", format!("{name}:"));
    }
    out.push('\n');

    let mut rows = vec![
        ["benchmark", "ours", "git", "ratio", "target", "met"]
            .map(String::from)
            .to_vec(),
    ];
    for f in figures(outcome) {
        rows.push(vec![
            f.benchmark,
            ms(f.ours_ms),
            ms(f.git_ms),
            // A row whose target is a time added shows the time added.
            match f.target_added_ms {
                Some(_) => format!("{:+.1} ms", f.ours_ms - f.git_ms),
                None => format!("{:.2}", f.ratio),
            },
            match (f.target, f.target_added_ms) {
                (Some(t), _) => format!("<= {t:.2}"),
                (None, Some(t)) => format!("<= +{t:.1} ms"),
                (None, None) => "-".to_string(),
            },
            match f.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "info",
            }
            .to_string(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push_str(
        "(medians; ratio = ours / git, or \"+x ms\" = ours - git where the target is a time added; \
         in the sandbox rows ours = sandboxed, git = its unsandboxed baseline)\n\n",
    );

    let peers = peer_figures(outcome);
    if !peers.is_empty() {
        out.push_str(&peer_table(&peers, None));
        out.push('\n');
    }
    if !growth.is_empty() {
        out.push_str(&growth_text(growth));
    }

    let mut rows = vec![
        ["variant", "median", "min", "max", "runs"]
            .map(String::from)
            .to_vec(),
    ];
    for s in &outcome.stats {
        rows.push(vec![
            s.key.clone(),
            ms(s.median()),
            ms(s.min()),
            ms(s.max()),
            s.samples_ms.len().to_string(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push('\n');

    let _ = writeln!(
        out,
        "variants (timed commands; prepare and cleanup are not timed; \
         $SCRATCH = {}, {{n}} = a number new for every run):",
        scratch.display()
    );
    let scratch = scratch.display().to_string();
    for v in &outcome.variants {
        let join = |cmds: &[crate::env::Cmd]| {
            cmds.iter()
                .map(|c| c.to_string().replace(&scratch, "$SCRATCH"))
                .collect::<Vec<_>>()
                .join(" && ")
        };
        let _ = writeln!(out, "  {}: {}", v.key, join(&v.timed));
        if !v.prepare.is_empty() {
            let _ = writeln!(out, "      prepare: {}", join(&v.prepare));
        }
        if !v.cleanup.is_empty() {
            let _ = writeln!(out, "      cleanup: {}", join(&v.cleanup));
        }
    }
    out
}

/// Ours, the peer and git, side by side; with a size column when `size` is given.
fn peer_table(peers: &[PeerFigures], sizes: Option<&[String]>) -> String {
    let name = peers.first().map_or("peer", |p| p.peer_name.as_str());
    let mut header = vec!["peer comparison".to_string()];
    if sizes.is_some() {
        header.push("size".to_string());
    }
    header.extend(
        [
            "ours",
            name,
            "git",
            &format!("ours/{name}"),
            &format!("{name}/git"),
        ]
        .map(String::from),
    );
    let mut rows = vec![header];
    for (i, p) in peers.iter().enumerate() {
        let repeated = sizes.is_some() && i > 0 && peers[i - 1].benchmark == p.benchmark;
        let mut row = vec![if repeated {
            String::new()
        } else {
            p.benchmark.clone()
        }];
        if let Some(sizes) = sizes {
            row.push(sizes[i].clone());
        }
        row.extend([
            ms(p.ours_ms),
            ms(p.peer_ms),
            ms(p.git_ms),
            format!("{:.2}", p.ours_ms / p.peer_ms),
            format!("{:.2}", p.peer_ms / p.git_ms),
        ]);
        rows.push(row);
    }
    let mut out = table(&rows);
    out.push_str(&format!(
        "(medians; {name} is a peer tool doing the same work)\n"
    ));
    out
}

/// Whether `point` is the first of `points` that has the row `key`.
fn first_size(point: &Point, points: &[&Point], key: &str) -> bool {
    points
        .iter()
        .find(|p| p.outcome.rows.iter().any(|r| r.key == key))
        .is_some_and(|p| std::ptr::eq(*p, point))
}

/// "x2.5": `value` as a multiple of `first`.
fn times(value: f64, first: f64) -> String {
    format!("x{:.1}", value / first)
}

/// One table per dimension: each row at each size, ours and git, the ratio,
/// and how each grew from the first size.
fn growth_text(points: &[Point]) -> String {
    let mut out = String::new();
    let mut dimensions: Vec<&str> = Vec::new();
    for p in points {
        if !dimensions.contains(&p.dimension) {
            dimensions.push(p.dimension);
        }
    }
    for dimension in dimensions {
        let here: Vec<&Point> = points.iter().filter(|p| p.dimension == dimension).collect();
        let _ = writeln!(out, "growth with the number of {dimension}:");
        let mut rows = vec![
            [
                "benchmark",
                "size",
                "ours",
                "git",
                "ratio",
                "ours grew",
                "git grew",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for (key, name) in GROWTH_ROWS {
            let mut first: Option<(f64, f64)> = None;
            for p in &here {
                let Some(f) = figures(&p.outcome).into_iter().find(|f| f.key == *key) else {
                    continue;
                };
                let (o0, g0) = *first.get_or_insert((f.ours_ms, f.git_ms));
                let label = if first_size(p, &here, key) {
                    name.to_string()
                } else {
                    String::new()
                };
                rows.push(vec![
                    label,
                    format!("{} {}", thousands(p.size), p.unit),
                    ms(f.ours_ms),
                    ms(f.git_ms),
                    format!("{:.2}", f.ratio),
                    times(f.ours_ms, o0),
                    times(f.git_ms, g0),
                ]);
            }
        }
        out.push_str(&table(&rows));
        out.push_str(
            "(medians; ratio = ours / git; \"grew\" = median / median at the first size)\n",
        );
        // Peer rows, grouped by row, then by size.
        let mut peers: Vec<(String, PeerFigures)> = Vec::new();
        for p in &here {
            for mut f in peer_figures(&p.outcome) {
                if let Some((_, name)) = GROWTH_ROWS.iter().find(|(k, _)| *k == f.key) {
                    f.benchmark = name.to_string();
                    peers.push((format!("{} {}", thousands(p.size), p.unit), f));
                }
            }
        }
        let keys: Vec<String> = peers.iter().map(|(_, f)| f.key.clone()).collect();
        peers.sort_by_key(|(_, f)| keys.iter().position(|k| *k == f.key));
        if !peers.is_empty() {
            let (sizes, peers): (Vec<String>, Vec<PeerFigures>) = peers.into_iter().unzip();
            out.push('\n');
            out.push_str(&peer_table(&peers, Some(&sizes)));
        }
        for p in &here {
            for (name, value) in &p.outcome.facts {
                if name.ends_with("setup") {
                    let _ = writeln!(
                        out,
                        "  at {} {}: {name}: {value}",
                        thousands(p.size),
                        p.unit
                    );
                }
            }
        }
        out.push('\n');
    }
    out
}

fn rows_json(outcome: &Outcome) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let rows = figures(outcome)
        .into_iter()
        .map(|f| {
            json!({
                "key": f.key,
                "benchmark": f.benchmark,
                "ours": f.ours,
                "git": f.git,
                "ours_median_ms": f.ours_ms,
                "git_median_ms": f.git_ms,
                "ratio": f.ratio,
                "target": f.target,
                "target_added_ms": f.target_added_ms,
                "added_ms": f.ours_ms - f.git_ms,
                "met": f.met,
            })
        })
        .collect();
    let peers = peer_figures(outcome)
        .into_iter()
        .map(|p| {
            json!({
                "key": p.key,
                "benchmark": p.benchmark,
                "peer": p.peer_name,
                "ours_median_ms": p.ours_ms,
                "peer_median_ms": p.peer_ms,
                "git_median_ms": p.git_ms,
                "ours_over_peer": p.ours_ms / p.peer_ms,
                "peer_over_git": p.peer_ms / p.git_ms,
            })
        })
        .collect();
    (rows, peers)
}

pub fn json(
    context: &[(String, String)],
    env: &[(String, String)],
    outcome: &Outcome,
    growth: &[Point],
) -> serde_json::Value {
    let context: serde_json::Map<String, serde_json::Value> = context
        .iter()
        .chain(&outcome.facts)
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let env: serde_json::Map<String, serde_json::Value> =
        env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let cmds = |cmds: &[crate::env::Cmd]| -> Vec<Vec<String>> {
        cmds.iter()
            .map(crate::env::Cmd::reproducible_argv)
            .collect()
    };
    let variants: Vec<_> = outcome
        .variants
        .iter()
        .zip(&outcome.stats)
        .map(|(v, s)| {
            json!({
                "key": v.key,
                "prepare": cmds(&v.prepare),
                "timed": cmds(&v.timed),
                "cleanup": cmds(&v.cleanup),
                "median_ms": s.median(),
                "min_ms": s.min(),
                "max_ms": s.max(),
                "samples_ms": s.samples_ms,
            })
        })
        .collect();
    let (rows, peer_rows) = rows_json(outcome);
    let growth: Vec<_> = growth
        .iter()
        .map(|p| {
            let (rows, peer_rows) = rows_json(&p.outcome);
            let facts: serde_json::Map<String, serde_json::Value> = p
                .outcome
                .facts
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            json!({
                "dimension": p.dimension,
                "size": p.size,
                "unit": p.unit,
                "rows": rows,
                "peer_rows": peer_rows,
                "facts": facts,
            })
        })
        .collect();
    json!({
        "version": 1,
        "context": context,
        "env": env,
        "rows": rows,
        "peer_rows": peer_rows,
        "variants": variants,
        "growth": growth,
    })
}
