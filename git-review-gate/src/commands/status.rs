//! `git review-gate status` and `wait`: the gate of a change.

use std::io::Write as _;

use anyhow::Result;
use serde_json::json;

use orch::config::Settings;
use orch::exit::Outcome;
use orch::gate::{self};
use orch::git::Repo;
use orch::interrupt::Interrupted;
use orch::registry::{self, Ruling, Verdict};
use orch::ui::{JSON_VERSION, print_json, short, timestamp};

use orch::ops::review::{Gate, evaluate};

use crate::cli::{StatusArgs, WaitArgs};

fn gate_json(gate: &Gate) -> serde_json::Value {
    let s = &gate.target.subject;
    json!({
        "version": JSON_VERSION,
        "target": s.name,
        "worker": s.worker,
        "change": {
            "commit": s.target.to_string(),
            "base": s.base.map(|b| b.to_string()),
            "tree": s.tree.to_string(),
            "fingerprint": s.fingerprint,
        },
        "policy": gate.decision.require.as_str(),
        "open": gate.decision.open,
        "decided": gate.decision.decided,
        "missing": gate.decision.missing.iter().map(|m| m.explain(&s.name).0).collect::<Vec<_>>(),
        "against": gate.decision.against,
        "attention": gate.attention,
        "verdicts": gate.verdicts.current,
        "stale": gate.verdicts.stale,
        "self_judged": gate.verdicts.self_judged,
    })
}

fn verdict_line(verdict: &Verdict) -> String {
    let detail = match verdict.ruling {
        Ruling::Pass | Ruling::Fail => verdict
            .commands
            .iter()
            .map(|c| {
                let mark = if c.passed() { "ok" } else { "FAILED" };
                format!("{} [{mark}]", c.command)
            })
            .collect::<Vec<_>>()
            .join(", "),
        Ruling::Approve => verdict.message.lines().next().unwrap_or("").to_string(),
        Ruling::Reject => verdict.findings.join("; "),
    };
    format!(
        "  {:<8} {}  {}  {}",
        verdict.ruling,
        timestamp(verdict.time),
        verdict.by,
        detail
    )
    .trim_end()
    .to_string()
}

fn print_gate(gate: &Gate) -> Result<()> {
    let s = &gate.target.subject;
    let d = &gate.decision;
    let mut out = format!(
        "gate of {}: {} (policy: {})\nchange:  fingerprint {}, tree {}{}\n",
        s.label(),
        if d.open { "open" } else { "CLOSED" },
        d.require,
        short(&s.fingerprint),
        short(&s.tree.to_string()),
        s.base
            .map(|b| format!(" on {}", short(&b.to_string())))
            .unwrap_or_default(),
    );
    if gate.verdicts.current.is_empty() {
        out.push_str("verdicts: none on this change\n");
    } else {
        out.push_str("verdicts:\n");
        for verdict in &gate.verdicts.current {
            out.push_str(&verdict_line(verdict));
            out.push('\n');
        }
    }
    if !gate.verdicts.stale.is_empty() {
        out.push_str(&format!(
            "stale (on earlier changes; they do not count): {}\n",
            gate.verdicts.stale.len()
        ));
        for verdict in &gate.verdicts.stale {
            out.push_str(&verdict_line(verdict));
            out.push_str(&format!(
                "  (fingerprint {})\n",
                short(&verdict.fingerprint)
            ));
        }
    }
    if !gate.verdicts.self_judged.is_empty() {
        out.push_str(&format!(
            "ignored (by the worker whose change it is; they never count): {}\n",
            gate.verdicts.self_judged.len()
        ));
        for verdict in &gate.verdicts.self_judged {
            out.push_str(&verdict_line(verdict));
            out.push('\n');
        }
    }
    if let Some(attention) = &gate.attention {
        out.push_str(&format!("attention: {attention}\n"));
    }
    let (reasons, hints) = gate::explain(d, s);
    for reason in reasons {
        out.push_str(&format!("closed: {reason}\n"));
    }
    for hint in hints {
        out.push_str(&format!("hint: {hint}\n"));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(orch::ui::printable(&out).as_bytes())?;
    stdout.flush()?;
    Ok(())
}

pub(super) fn status(repo: &Repo, args: &StatusArgs) -> Result<Outcome> {
    let settings = Settings::load(repo)?;
    let gate = evaluate(repo, &args.target, &settings)?;
    if args.json {
        print_json(&gate_json(&gate))?;
    } else {
        print_gate(&gate)?;
    }
    Ok(if gate.decision.open {
        Outcome::Success
    } else {
        Outcome::CheckFailed
    })
}

pub(super) fn wait(repo: &Repo, args: &WaitArgs) -> Result<Outcome> {
    let settings = Settings::load(repo)?;
    // Fail early on a bad target.
    evaluate(repo, &args.target, &settings)?;
    let _signals = orch::interrupt::guard()?;
    let watch = orch::ops::collect::watch(repo, &[registry::NOTES, registry::HANDOFFS])?;
    let settled = orch::watch::until(&watch, args.timeout, || {
        orch::ops::collect::collect_all(repo)?;
        let gate = evaluate(repo, &args.target, &settings)?;
        Ok(gate.decision.decided.then_some(gate))
    })?;
    if let Some(signal) = orch::interrupt::pending() {
        return Err(Interrupted {
            signal,
            what: "stopped waiting".into(),
        }
        .into());
    }
    let (gate, timed_out) = match settled {
        Some(gate) => (gate, false),
        None => (evaluate(repo, &args.target, &settings)?, true),
    };
    if args.json {
        let mut value = gate_json(&gate);
        value["timed_out"] = timed_out.into();
        print_json(&value)?;
    } else {
        print_gate(&gate)?;
    }
    if timed_out {
        eprintln!(
            "timed out after {} s waiting for a verdict on {}",
            args.timeout.map_or(0.0, |t| t.as_secs_f64()),
            gate.target.subject.label()
        );
        return Ok(Outcome::CheckFailed);
    }
    Ok(if gate.decision.open {
        Outcome::Success
    } else {
        Outcome::CheckFailed
    })
}
