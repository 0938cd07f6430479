//! The report: a table of medians and ratios, the exact commands, or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::benches::Outcome;
use crate::measure::Stats;

/// A row with its figures filled in.
struct Figures {
    benchmark: String,
    ours: String,
    git: String,
    ours_ms: f64,
    git_ms: f64,
    ratio: f64,
    target: Option<f64>,
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
                benchmark: row.benchmark.clone(),
                ours: row.ours.clone(),
                git: row.git.clone(),
                ours_ms,
                git_ms,
                ratio,
                target: row.target,
                met: row.target.map(|t| ratio <= t),
            }
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
pub fn text(context: &[(String, String)], scratch: &Path, outcome: &Outcome) -> String {
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
            format!("{:.2}", f.ratio),
            f.target.map_or("-".to_string(), |t| format!("<= {t:.2}")),
            match f.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "info",
            }
            .to_string(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push_str("(medians; ratio = ours / git)\n\n");

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

pub fn json(
    context: &[(String, String)],
    env: &[(String, String)],
    outcome: &Outcome,
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
    let rows: Vec<_> = figures(outcome)
        .into_iter()
        .map(|f| {
            json!({
                "benchmark": f.benchmark,
                "ours": f.ours,
                "git": f.git,
                "ours_median_ms": f.ours_ms,
                "git_median_ms": f.git_ms,
                "ratio": f.ratio,
                "target": f.target,
                "met": f.met,
            })
        })
        .collect();
    json!({
        "version": 1,
        "context": context,
        "env": env,
        "rows": rows,
        "variants": variants,
    })
}
