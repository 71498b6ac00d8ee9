//! The trace view of `report.html`: a correlation check's followed request
//! as a waterfall of its spans (bars positioned in time, children indented
//! under their parents, one colour per service) with what the check found
//! in the other pillars beside the span it belongs to, each linked to
//! Explore. Plain HTML and CSS: it reads the same without scripts.
//!
//! Uses: correlation::waterfall (the evidence), report::junit (escaping).

use std::fmt::Write as _;

use crate::correlation::waterfall::Waterfall;
use crate::report::junit::escape;

const COLORS: [&str; 6] = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#9c755f"];

pub const STYLE: &str = "table.waterfall{width:100%;font-size:13px}table.waterfall td{padding:.2em .4em}\
.waterfall .track{width:45%}.waterfall .lane{position:relative;height:1.3em}.waterfall .bar{position:absolute;top:.2em;height:.9em;min-width:2px;border-radius:2px}\
.waterfall .dur{position:absolute;top:0;font-size:11px;color:#555;padding:0 .3em;white-space:nowrap}.waterfall .svc{font-size:11px;color:#666}.waterfall .kind{font-size:10px;color:#888;margin-right:.3em}\
.waterfall ul.found{margin:0;padding-left:1em}";

/// The waterfall of `w`, or `None` when it has no spans to draw.
pub fn render(w: &Waterfall) -> Option<String> {
    if w.spans.is_empty() {
        return None;
    }
    let total = w.total_ms().max(0.001);
    let mut services: Vec<&str> = Vec::new();
    let mut out = String::new();
    let _ = write!(
        out,
        "<div class=\"trace\"><p>Trace <code>{}</code> · {} span(s) · {:.1} ms",
        escape(&w.trace_id),
        w.spans.len() + w.more,
        total
    );
    if let Some(link) = w.explore.as_deref().filter(|l| is_http(l)) {
        let _ = write!(
            out,
            " · <a class=\"explore\" href=\"{}\" rel=\"noreferrer\">Open the trace in Grafana Explore</a>",
            escape(link)
        );
    }
    let _ = write!(
        out,
        "</p>\n<table class=\"waterfall\"><tr><th>span</th><th>0 – {total:.1} ms</th><th>found for it</th></tr>\n"
    );
    for bar in &w.spans {
        let service = bar.service.as_deref().unwrap_or("?");
        let color = match services.iter().position(|s| *s == service) {
            Some(i) => i,
            None => {
                services.push(service);
                services.len() - 1
            }
        };
        let left = bar.start_ms / total * 100.0;
        let width = (bar.duration_ms / total * 100.0).min(100.0 - left);
        let _ = write!(
            out,
            "<tr id=\"span-{id}\"><td style=\"padding-left:{indent:.1}em\"><span class=\"kind\">{kind}</span>{name}<br><span class=\"svc\">{service} · {id}</span></td>\
             <td class=\"track\"><div class=\"lane\"><span class=\"bar\" style=\"left:{left:.2}%;width:{width:.2}%;background:{c}\" title=\"{name}: starts at {start:.1} ms, {dur:.1} ms\"></span><span class=\"dur\" style=\"{label}\">{dur:.1} ms</span></div></td><td>",
            id = escape(&bar.span_id),
            indent = 0.4 + 1.2 * bar.depth as f64,
            kind = escape(&bar.kind),
            name = escape(&bar.name),
            service = escape(service),
            c = COLORS[color % COLORS.len()],
            start = bar.start_ms,
            dur = bar.duration_ms,
            // The duration right of its bar, or left of it near the end.
            label = if left + width > 70.0 {
                format!("right:{:.2}%", 100.0 - left)
            } else {
                format!("left:{:.2}%", left + width)
            },
        );
        found_list(w, |f| f.span_id == bar.span_id, &mut out);
        out.push_str("</td></tr>\n");
    }
    if w.more > 0 {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"3\" class=\"none\">… {} more span(s) not drawn</td></tr>",
            w.more
        );
    }
    // Finds whose span is not drawn still show, on a row of their own.
    if w.found.iter().any(|f| !w.spans.iter().any(|b| b.span_id == f.span_id)) {
        out.push_str("<tr><td class=\"none\">not on a span drawn</td><td></td><td>");
        found_list(w, |f| !w.spans.iter().any(|b| b.span_id == f.span_id), &mut out);
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table></div>\n");
    Some(out)
}

fn found_list(w: &Waterfall, keep: impl Fn(&crate::correlation::waterfall::Found) -> bool, out: &mut String) {
    let found: Vec<_> = w.found.iter().filter(|f| keep(f)).collect();
    if found.is_empty() {
        return;
    }
    out.push_str("<ul class=\"found\">");
    for f in found {
        let _ = write!(out, "<li><b>{}</b> {}", f.pillar.as_str(), escape(&f.what));
        if let Some(link) = f.explore.as_deref().filter(|l| is_http(l)) {
            let _ = write!(
                out,
                " <a class=\"explore\" href=\"{}\" rel=\"noreferrer\">Explore</a>",
                escape(link)
            );
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

fn is_http(link: &str) -> bool {
    link.starts_with("http://") || link.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Pillar;
    use crate::correlation::waterfall::{Bar, Found};

    fn bar(id: &str, parent: Option<&str>, start_ms: f64, duration_ms: f64, depth: usize) -> Bar {
        Bar {
            span_id: id.into(),
            parent_span_id: parent.map(Into::into),
            name: format!("GET <{id}>"),
            service: Some(if depth == 0 { "frontend" } else { "backend" }.into()),
            kind: "server".into(),
            start_ms,
            duration_ms,
            depth,
        }
    }

    #[test]
    fn spans_are_bars_in_time_with_their_finds_beside_them() {
        let w = Waterfall {
            trace_id: "7a".into(),
            explore: Some("http://grafana/explore?x=1&y=2".into()),
            spans: vec![bar("a", None, 0.0, 100.0, 0), bar("b", Some("a"), 25.0, 50.0, 1)],
            more: 0,
            found: vec![
                Found {
                    span_id: "b".into(),
                    pillar: Pillar::Logs,
                    what: "3 log line(s)".into(),
                    explore: Some("http://grafana/explore?logs".into()),
                },
                Found {
                    span_id: "zz".into(),
                    pillar: Pillar::Metrics,
                    what: "1 exemplar".into(),
                    explore: None,
                },
            ],
        };
        let html = render(&w).unwrap();
        assert!(html.contains("href=\"http://grafana/explore?x=1&amp;y=2\""), "{html}");
        assert!(html.contains("GET &lt;b&gt;"), "{html}");
        // b starts a quarter in and lasts half the trace.
        let row_b = html.split("<tr id=\"span-b\">").nth(1).unwrap();
        assert!(row_b.contains("left:25.00%;width:50.00%;background:#f28e2b"), "{row_b}");
        assert!(
            row_b.contains("style=\"right:75.00%\">50.0 ms"),
            "a label near the end goes left: {row_b}"
        );
        assert!(row_b.contains("padding-left:1.6em"), "{row_b}");
        assert!(
            row_b
                .split("</tr>")
                .next()
                .unwrap()
                .contains("<b>logs</b> 3 log line(s)"),
            "{row_b}"
        );
        assert!(html.contains("not on a span drawn"), "{html}");
        let empty = Waterfall { spans: Vec::new(), ..w };
        assert!(render(&empty).is_none());
    }
}
