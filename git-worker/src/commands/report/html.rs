//! The HTML page of `git worker report`: one self-contained file, a
//! timeline (a Gantt chart of the workers) drawn as inline SVG, no
//! scripts, fonts or anything else from the network. Everything a worker
//! wrote (ids, reasons, command output) is escaped before it reaches it:
//! the page must stay inert whatever a worker's verification printed.

use std::collections::BTreeMap;

use orch::ui::{keep_end, printable, timestamp};

use super::{Failure, Task, duration, render_text};

/// The red of failures: their markers carry it as an attribute too, so
/// it holds without the style sheet.
const FAILURE_RED: &str = "#c0392b";
/// How much of a failed command's output a tooltip shows: its last lines,
/// at most this many characters.
const TOOLTIP_LINES: usize = 20;
const TOOLTIP_CHARS: usize = 1500;

/// `text` safe in HTML text and in a quoted attribute, control characters
/// (terminal escape sequences in command output) shown, not sent.
fn escape(text: &str) -> String {
    printable(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The chart's time axis: the active period, from the first to the last
/// event of the workers shown, with a margin, whenever the repository
/// began and whenever the report is written (an open worker's bar runs to
/// the axis's end, not to now).
struct Scale {
    first: i64,
    last: i64,
    start: i64,
    end: i64,
}

const LABEL_W: f64 = 160.0;
const CHART_W: f64 = 840.0;
const ROW_H: f64 = 28.0;
const TOP: f64 = 40.0;

impl Scale {
    fn of(tasks: &[Task]) -> Scale {
        let first = tasks.iter().map(|t| t.start).min().unwrap_or(0);
        let last = tasks.iter().map(|t| t.last_event).max().unwrap_or(first);
        let last = last.max(first);
        // A twentieth of the period on each side, at least a second, so
        // the first and last events are not on the chart's edges.
        let margin = ((last - first) / 20).max(1);
        Scale {
            first,
            last,
            start: first - margin,
            end: last + margin,
        }
    }

    /// Where time `t` is drawn; outside the axis, at its nearer end.
    fn x(&self, t: i64) -> f64 {
        let t = t.clamp(self.start, self.end);
        LABEL_W + (t - self.start) as f64 / (self.end - self.start) as f64 * CHART_W
    }

    /// The top of row `row`.
    fn y(row: usize) -> f64 {
        TOP + ROW_H * row as f64
    }
}

/// The element class of a failure's kind.
fn failure_class(failure: &Failure) -> &'static str {
    match failure.kind {
        "conflict" => "conflict",
        "review" => "review",
        "rejected by hand" => "rejection",
        _ => "verification",
    }
}

/// A failure's tooltip, unescaped: what failed and when; for a failed
/// verification each failing command, how it ended and the end of its
/// output.
fn failure_title(failure: &Failure) -> String {
    let when = timestamp(failure.time);
    if failure.commands.is_empty() {
        return format!("{} at {when}: {}", failure.kind, failure.detail);
    }
    let mut out = format!("{} failed at {when}", failure.kind);
    for command in &failure.commands {
        let ended = match (command.status, command.timed_out) {
            (_, true) => "timed out".to_string(),
            (Some(status), false) => format!("exit status {status}"),
            (None, false) => "killed by a signal".to_string(),
        };
        out.push_str(&format!("\n$ {}\n{ended}", command.command));
        let lines: Vec<&str> = command.tail.trim_end().lines().collect();
        let last = lines[lines.len().saturating_sub(TOOLTIP_LINES)..].join("\n");
        if !last.is_empty() {
            out.push('\n');
            out.push_str(&keep_end(&last, TOOLTIP_CHARS));
        }
    }
    out
}

/// A red diamond on row `row` at the failure's time, its tooltip the
/// command and the end of its output.
fn failure_marker(scale: &Scale, row: usize, failure: &Failure) -> String {
    let (cx, cy) = (scale.x(failure.time), Scale::y(row) + ROW_H / 2.0);
    format!(
        "<path class=\"failure {}\" fill=\"{FAILURE_RED}\" data-time=\"{}\" d=\"M{cx:.1} {:.1}l6 6l-6 6l-6-6z\"><title>{}</title></path>\n",
        failure_class(failure),
        failure.time,
        cy - 6.0,
        escape(&failure_title(failure))
    )
}

/// Where a worker's bar starts and ends: an open worker's runs on to the
/// end of the axis.
fn bar(scale: &Scale, task: &Task) -> (f64, f64) {
    let x0 = scale.x(task.start);
    let end = if task.is_open() { scale.end } else { task.end };
    (x0, scale.x(end).max(x0 + 2.0))
}

/// An arrow from each dependency's bar (its end: landing) to the bar of
/// the task that waited for it (its start), for the tasks of a plan
/// (`git worker plan --depends-on`) that are both shown.
fn edges(scale: &Scale, tasks: &[Task]) -> String {
    let rows: BTreeMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(row, task)| (task.id.as_str(), row))
        .collect();
    let mut svg = String::new();
    for (row, task) in tasks.iter().enumerate() {
        for dependency in &task.depends_on {
            let Some(&from) = rows.get(dependency.as_str()) else {
                continue;
            };
            let (fx, fy) = (bar(scale, &tasks[from]).1, Scale::y(from) + ROW_H / 2.0);
            let (tx, ty) = (bar(scale, task).0, Scale::y(row) + ROW_H / 2.0);
            // Leaves to the right and arrives from the left, whichever
            // rows the two are on.
            let bend = ((tx - fx).abs() / 2.0).max(24.0);
            svg.push_str(&format!(
                "<path class=\"edge\" data-from=\"{}\" data-to=\"{}\" d=\"M{fx:.1} {fy:.1}C{:.1} {fy:.1} {:.1} {ty:.1} {tx:.1} {ty:.1}\" marker-end=\"url(#arrow)\"><title>{} waited for {}</title></path>\n",
                escape(dependency),
                escape(&task.id),
                fx + bend,
                tx - bend,
                escape(&task.id),
                escape(dependency),
            ));
        }
    }
    if svg.is_empty() {
        return svg;
    }
    format!(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path class=\"arrowhead\" d=\"M0 0L10 5L0 10z\"/></marker></defs>\n<g class=\"edges\">\n{svg}</g>\n"
    )
}

/// One worker's row: its label, its bar, blocked episodes, events and
/// failures.
fn task_row(scale: &Scale, row: usize, task: &Task) -> String {
    let y = Scale::y(row);
    let (x0, x1) = bar(scale, task);
    let mut svg = format!(
        "<g class=\"task {}\" data-id=\"{}\"><text x=\"{:.1}\" y=\"{:.1}\" class=\"label\">{}</text><rect class=\"bar\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {} ({})</title></rect>\n",
        escape(&task.outcome),
        escape(&task.id),
        LABEL_W - 8.0,
        y + 17.0,
        escape(&task.id),
        y + 5.0,
        x1 - x0,
        ROW_H - 10.0,
        escape(&task.id),
        escape(&task.outcome),
        escape(&duration(task.end - task.start)),
    );
    for blocked in &task.blocked {
        let bx0 = scale.x(blocked.start);
        let bx1 = scale.x(blocked.end.unwrap_or(task.end)).max(bx0 + 2.0);
        svg.push_str(&format!(
            "<rect class=\"blocked\" x=\"{bx0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>blocked: {}</title></rect>\n",
            y + 5.0,
            bx1 - bx0,
            ROW_H - 10.0,
            escape(&blocked.reason)
        ));
    }
    // Failures are drawn on their own, in red, over the other events.
    for mark in task.marks.iter().filter(|m| !m.failed) {
        svg.push_str(&format!(
            "<circle class=\"mark {}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"><title>{} {}</title></circle>\n",
            escape(&mark.kind),
            scale.x(mark.time),
            y + ROW_H / 2.0,
            escape(&mark.kind),
            escape(&timestamp(mark.time))
        ));
    }
    for failure in &task.failures {
        svg.push_str(&failure_marker(scale, row, failure));
    }
    svg.push_str("</g>\n");
    svg
}

/// Five ticks; the first and last labels stay inside.
fn axis(scale: &Scale, height: f64) -> String {
    let mut svg = String::new();
    for i in 0..=4 {
        let t = scale.start + (scale.end - scale.start) * i / 4;
        let tx = scale.x(t);
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        svg.push_str(&format!(
            "<line x1=\"{tx:.1}\" y1=\"{}\" x2=\"{tx:.1}\" y2=\"{:.1}\" class=\"grid\"/><text x=\"{tx:.1}\" y=\"20\" class=\"tick\" text-anchor=\"{anchor}\">{}</text>\n",
            TOP - 8.0,
            height - 20.0,
            // The time of day; the dates are in the caption.
            escape(timestamp(t).split_once(' ').map_or("", |(_, time)| time))
        ));
    }
    svg
}

/// A self-contained page: no scripts, fonts or anything from the network.
pub(super) fn render(tasks: &[Task], totals: &serde_json::Value) -> String {
    let scale = Scale::of(tasks);
    let height = TOP + ROW_H * tasks.len() as f64 + 30.0;
    let width = LABEL_W + CHART_W + 20.0;
    // The axis in data attributes: what a reader (or a test) needs to map
    // an x back to a time.
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"timeline of the workers\" data-start=\"{}\" data-end=\"{}\" data-first-event=\"{}\" data-last-event=\"{}\" data-chart-x=\"{LABEL_W}\" data-chart-width=\"{CHART_W}\">\n",
        scale.start, scale.end, scale.first, scale.last
    );
    svg.push_str(&axis(&scale, height));
    for (row, task) in tasks.iter().enumerate() {
        svg.push_str(&task_row(&scale, row, task));
    }
    svg.push_str(&edges(&scale, tasks));
    svg.push_str("</svg>");
    page(&svg, &scale, &render_text(tasks, totals))
}

/// The page around the chart: style, caption, legend, the text report.
fn page(svg: &str, scale: &Scale, table: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>git-orch after-action report</title>\n<style>\n\
body{{font-family:system-ui,sans-serif;margin:24px;color:#222}}\n\
.grid{{stroke:#ddd}} .tick{{font-size:11px;fill:#666}} .label{{font-size:13px;text-anchor:end}}\n\
.bar{{fill:#9db8d9}} .landed .bar{{fill:#7cc47c}} .abandoned .bar{{fill:#d98c8c}} .blocked{{fill:#f0c040;opacity:.8}}\n\
.mark{{fill:#333}} .mark.applied,.mark.verified,.mark.approved{{fill:#1a7f1a}} .mark.reported{{fill:#2060c0}} .mark.stalled{{fill:#e67e22}}\n\
.failure{{fill:{FAILURE_RED};stroke:#6e1a12;stroke-width:1}} .edge{{fill:none;stroke:#555;stroke-width:1.5;opacity:.75}} .arrowhead{{fill:#555}}\n\
.legend span{{display:inline-block;margin-right:14px}} .legend .red{{color:{FAILURE_RED}}} pre{{background:#f6f6f6;padding:12px;overflow:auto}}\n\
</style></head><body>\n<h1>After-action report</h1>\n\
<p>from the first event to the last: {} to {}</p>\n<p class=\"legend\"><span>bar: a worker from its first event to landing (green), removal (red), or on to the end of the chart while open (blue)</span><span>yellow: blocked</span><span>dots: reported (blue), verified, approved or applied (green), stalled (orange), other events (dark)</span><span>arrows: a planned task waited for another to land (--depends-on)</span><span class=\"red\">&#9670; red: a failed verification, a rejection or a conflict (hover for the command, how it ended and the end of its output)</span></p>\n\
{svg}\n<h2>Per task</h2>\n<pre>{}</pre>\n</body></html>\n",
        escape(&timestamp(scale.first)),
        escape(&timestamp(scale.last)),
        escape(table)
    )
}

#[cfg(test)]
mod tests {
    use super::super::Failed;
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a & \"b\" 'c'>\x1b[31m"),
            "&lt;a &amp; &quot;b&quot; &#39;c&#39;&gt;^[[31m"
        );
    }

    fn verification(status: Option<i64>, timed_out: bool, tail: &str) -> Failure {
        Failure {
            time: 1_800_000_000,
            kind: "verification (apply)",
            detail: "make test".into(),
            commands: vec![Failed {
                command: "make test".into(),
                status,
                timed_out,
                tail: tail.into(),
            }],
        }
    }

    #[test]
    fn a_failed_verification_is_a_red_marker_titled_with_the_command_and_its_output() {
        let failure = verification(Some(2), false, "compiling\nerror: it broke\n");
        let svg = failure_marker(
            &Scale {
                first: 1_800_000_000 - 50,
                last: 1_800_000_000 + 50,
                start: 1_800_000_000 - 60,
                end: 1_800_000_000 + 60,
            },
            0,
            &failure,
        );
        assert!(
            svg.starts_with(&format!(
                "<path class=\"failure verification\" fill=\"{FAILURE_RED}\""
            )),
            "{svg}"
        );
        assert!(
            svg.contains("<title>verification (apply) failed at 2027-01-15 08:00:00Z\n$ make test\nexit status 2\ncompiling\nerror: it broke</title>"),
            "{svg}"
        );
    }

    #[test]
    fn a_tooltip_says_how_the_command_ended_and_keeps_the_end_of_a_long_output() {
        let timed_out = failure_title(&verification(None, true, ""));
        assert!(timed_out.ends_with("$ make test\ntimed out"), "{timed_out}");
        let killed = failure_title(&verification(None, false, ""));
        assert!(killed.ends_with("killed by a signal"), "{killed}");
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let title = failure_title(&verification(Some(1), false, &long));
        assert!(title.contains("\nline 80\n") && title.ends_with("\nline 99"));
        assert!(!title.contains("line 79\n"), "{title}");
    }

    /// A worker from `start` to `last_event`, landed then, or still open.
    fn task(id: &str, start: i64, last_event: i64, landed: bool, now: i64) -> Task {
        Task {
            id: id.into(),
            outcome: if landed { "landed" } else { "active" }.into(),
            planned: None,
            depends_on: Vec::new(),
            start,
            spawned: Some(start),
            first_report: None,
            landed: landed.then_some(last_event),
            end: if landed { last_event } else { now },
            last_event,
            to_spawn: Some(0),
            to_report: None,
            to_land: None,
            reports: 0,
            retries: 0,
            blocked: Vec::new(),
            failures: Vec::new(),
            conflicts: 0,
            marks: Vec::new(),
        }
    }

    #[test]
    fn the_axis_spans_the_active_period_not_the_time_to_now() {
        // Five minutes of work a day after some first commit; one worker
        // still open, the report written a day later still.
        let begin = 1_800_000_000 + 86_400;
        let now = begin + 86_400;
        let tasks = [
            task("a", begin, begin + 300, true, now),
            task("b", begin + 60, begin + 240, false, now),
        ];
        let scale = Scale::of(&tasks);
        assert_eq!(
            (scale.first, scale.last, scale.start, scale.end),
            (begin, begin + 300, begin - 15, begin + 315)
        );
        let (a0, a1) = bar(&scale, &tasks[0]);
        // The five minutes fill the chart but for the margins: 300 of 330 seconds.
        assert!(
            (a0 - (LABEL_W + CHART_W * 15.0 / 330.0)).abs() < 1e-9,
            "{a0}"
        );
        assert!(
            (a1 - (LABEL_W + CHART_W * 315.0 / 330.0)).abs() < 1e-9,
            "{a1}"
        );
        assert!((a1 - a0) / CHART_W > 0.9);
        // The open worker runs to the end of the axis, no further.
        assert_eq!(bar(&scale, &tasks[1]).1, LABEL_W + CHART_W);
        let page = render(&tasks, &serde_json::json!({}));
        assert!(
            page.contains(&format!(
                "data-start=\"{}\" data-end=\"{}\" data-first-event=\"{begin}\" data-last-event=\"{}\"",
                begin - 15,
                begin + 315,
                begin + 300
            )),
            "{page}"
        );
        // One event alone still gets an axis a few seconds wide.
        let one = Scale::of(&[task("c", begin, begin, true, now)]);
        assert_eq!((one.start, one.end), (begin - 1, begin + 1));
    }
}
