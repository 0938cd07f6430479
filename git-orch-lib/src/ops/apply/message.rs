//! The messages of the commits `git handoff apply` makes.

use super::Plan;

/// The trailers of every commit apply makes.
pub(super) fn trailers(plan: &Plan) -> String {
    format!(
        "Worker: {}\nBase: {}\nHandoff: {}\nFingerprint: {}\n",
        plan.id, plan.contract.base, plan.handoff.commit, plan.handoff.meta.fingerprint
    )
}

/// The squashed commit's message: a subject of at most 72 characters (the
/// summary's first line, cut at a word), the rest of the summary in the
/// body (all of it when the subject had to be cut), and the trailers,
/// naming the worker's commit authors (`Co-authored-by`).
pub(super) fn squash_message(plan: &Plan, authors: &[String]) -> String {
    let summary = plan.handoff.summary.trim();
    let first = summary.lines().next().unwrap_or_default().trim();
    let subject = if first.is_empty() {
        format!("Handoff of '{}'", plan.id)
    } else if first.chars().count() <= 72 {
        first.to_string()
    } else {
        let cut: String = first.chars().take(70).collect();
        let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
        format!("{}...", cut.trim_end())
    };
    // The body: the rest of the summary, or all of it when the subject
    // had to be cut.
    let body = if subject == first {
        summary[summary.find('\n').unwrap_or(summary.len())..].trim()
    } else {
        summary
    };
    let mut message = format!("{subject}\n\n");
    if !body.is_empty() {
        message.push_str(body);
        message.push_str("\n\n");
    }
    message.push_str(&trailers(plan));
    for author in authors {
        message.push_str(&format!("Co-authored-by: {author}\n"));
    }
    message
}
