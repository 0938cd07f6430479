//! The HTML page of `git worker report`: one self-contained file, a
//! timeline (a Gantt chart of the workers) drawn as inline SVG, no
//! scripts, fonts or anything else from the network. Everything a worker
//! wrote (ids, reasons, command output) is escaped before it reaches it.

use orch::ui::timestamp;

use super::{Task, duration, render_text};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained page: no scripts, fonts or anything from the network.
pub(super) fn render(tasks: &[Task], totals: &serde_json::Value) -> String {
    let start = totals["start"].as_i64().unwrap_or(0);
    let end = totals["end"].as_i64().unwrap_or(start).max(start + 1);
    let (label_w, chart_w, row_h, top) = (160.0, 840.0, 28.0, 40.0);
    let x = |t: i64| label_w + (t - start) as f64 / (end - start) as f64 * chart_w;
    let height = top + row_h * tasks.len() as f64 + 30.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"timeline of the workers\">\n",
        label_w + chart_w + 20.0
    );
    // Time axis: five ticks; the first and last labels stay inside.
    for i in 0..=4 {
        let t = start + (end - start) * i / 4;
        let tx = x(t);
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        svg.push_str(&format!(
            "<line x1=\"{tx:.1}\" y1=\"{}\" x2=\"{tx:.1}\" y2=\"{:.1}\" class=\"grid\"/><text x=\"{tx:.1}\" y=\"20\" class=\"tick\" text-anchor=\"{anchor}\">{}</text>\n",
            top - 8.0,
            height - 20.0,
            // The time of day; the dates are in the caption.
            escape(timestamp(t).split_once(' ').map_or("", |(_, time)| time))
        ));
    }
    for (row, task) in tasks.iter().enumerate() {
        let y = top + row_h * row as f64;
        let (x0, x1) = (x(task.start), x(task.end).max(x(task.start) + 2.0));
        svg.push_str(&format!(
            "<g class=\"task {}\"><text x=\"{:.1}\" y=\"{:.1}\" class=\"label\">{}</text><rect class=\"bar\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {} ({})</title></rect>\n",
            escape(&task.outcome),
            label_w - 8.0,
            y + 17.0,
            escape(&task.id),
            y + 5.0,
            x1 - x0,
            row_h - 10.0,
            escape(&task.id),
            escape(&task.outcome),
            escape(&duration(task.end - task.start)),
        ));
        for blocked in &task.blocked {
            let bx0 = x(blocked.start);
            let bx1 = x(blocked.end.unwrap_or(task.end)).max(bx0 + 2.0);
            svg.push_str(&format!(
                "<rect class=\"blocked\" x=\"{bx0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>blocked: {}</title></rect>\n",
                y + 5.0,
                bx1 - bx0,
                row_h - 10.0,
                escape(&blocked.reason)
            ));
        }
        for mark in &task.marks {
            svg.push_str(&format!(
                "<circle class=\"mark {}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"><title>{} {}</title></circle>\n",
                escape(&mark.kind),
                x(mark.time),
                y + row_h / 2.0,
                escape(&mark.kind),
                escape(&timestamp(mark.time))
            ));
        }
        svg.push_str("</g>\n");
    }
    svg.push_str("</svg>");
    let table = render_text(tasks, totals);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>git-orch after-action report</title>\n<style>\n\
body{{font-family:system-ui,sans-serif;margin:24px;color:#222}}\n\
.grid{{stroke:#ddd}} .tick{{font-size:11px;fill:#666}} .label{{font-size:13px;text-anchor:end}}\n\
.bar{{fill:#9db8d9}} .landed .bar{{fill:#7cc47c}} .abandoned .bar{{fill:#d98c8c}} .blocked{{fill:#f0c040;opacity:.8}}\n\
.mark{{fill:#333}} .mark.applied{{fill:#1a7f1a}} .mark.rejected,.mark.conflicted{{fill:#c0392b}} .mark.reported{{fill:#2060c0}} .mark.stalled{{fill:#e67e22}}\n\
.legend span{{display:inline-block;margin-right:14px}} pre{{background:#f6f6f6;padding:12px;overflow:auto}}\n\
</style></head><body>\n<h1>After-action report</h1>\n\
<p>{} to {}</p>\n<p class=\"legend\"><span>bar: a worker from its first event to landing (green), removal (red) or now (blue)</span><span>yellow: blocked</span><span>dots: reported (blue), applied (green), rejected or conflict (red), stalled (orange), other events (dark)</span></p>\n\
{svg}\n<h2>Per task</h2>\n<pre>{}</pre>\n</body></html>\n",
        escape(&timestamp(start)),
        escape(&timestamp(end)),
        escape(&table)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
