//! `report.html` for `pillars load` and `pillars capacity`: one
//! self-contained page rendered from `load.json` or `capacity.json` alone,
//! with the figures as tables and three charts over time: offered against
//! achieved rate per traffic kind, each pillar's ingest latency (its
//! markers), and each container's memory with its limit.
//!
//! Uses: report::{load, capacity, chart, html (style), junit (escaping)},
//! load::session (the timeline), measure::memory.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::load::session::Timeline;
use crate::measure::memory::Least;
use crate::report::capacity::CapacityReport;
use crate::report::chart::{Limit, Mark, Series, Size, line_chart};
use crate::report::html::{STYLE, TEST_DOUBLE_NOTE};
use crate::report::junit::escape;
use crate::report::load::LoadReport;

const MIB: f64 = 1024.0 * 1024.0;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n{body}</body></html>\n",
        t = escape(title)
    )
}

/// The charts of a timeline: offered against achieved rate and memory
/// against its limit as small multiples (one per kind, one per container,
/// each on its own scale), and ingest latency per pillar across the page.
/// `slo_ms` draws the ingest SLO, `marks` the start of each capacity step.
pub fn charts(timeline: &Timeline, slo_ms: u64, marks: &[Mark]) -> String {
    let mut out =
        String::from("<h2>Over time</h2>\n<h3>Offered vs achieved rate, per kind</h3>\n<div class=\"multiples\">");
    for (kind, points) in &timeline.rates {
        let series = [
            Series {
                name: "offered".into(),
                color: 0,
                dashed: true,
                points: points.iter().map(|p| (p.at_secs, Some(p.offered))).collect(),
            },
            Series {
                name: "achieved".into(),
                color: 0,
                dashed: false,
                points: points.iter().map(|p| (p.at_secs, Some(p.achieved))).collect(),
            },
        ];
        out.push_str(&line_chart(
            Size::Small,
            kind.as_str(),
            kind.unit(),
            &series,
            &[],
            marks,
        ));
    }
    if timeline.rates.is_empty() {
        out.push_str(&line_chart(Size::Small, "rate", "units/s", &[], &[], marks));
    }
    out.push_str("</div>\n");

    let ingest: Vec<Series> = timeline
        .ingest
        .iter()
        .enumerate()
        .map(|(color, (pillar, points))| Series {
            name: pillar.as_str().to_owned(),
            color,
            dashed: false,
            points: points.iter().map(|p| (p.at_secs, p.latency_ms)).collect(),
        })
        .collect();
    // The SLO line only when it is near the data; far above, it would
    // flatten every marker to the axis.
    let slowest = timeline
        .ingest
        .values()
        .flatten()
        .filter_map(|p| p.latency_ms)
        .fold(0.0, f64::max);
    let slo: Vec<Limit> = (slo_ms as f64 <= slowest * 4.0)
        .then(|| Limit {
            name: "p99 SLO".into(),
            color: 2,
            y: slo_ms as f64,
        })
        .into_iter()
        .collect();
    out.push_str(&line_chart(
        Size::Wide,
        &format!("Ingest latency per pillar (one marker a second; × never read back; SLO {slo_ms} ms)"),
        "ms",
        &ingest,
        &slo,
        marks,
    ));

    // Per container: its working set over time and its limit.
    type Track = (Vec<(f64, Option<f64>)>, Option<u64>);
    let mut memory: BTreeMap<&str, Track> = BTreeMap::new();
    for point in &timeline.memory {
        for c in &point.containers {
            let (points, limit) = memory.entry(&c.container).or_default();
            points.push((point.at_secs, Some(c.working_set_bytes as f64 / MIB)));
            *limit = c.limit_bytes.or(*limit);
        }
    }
    out.push_str("<h3>Memory working set against its limit, per container</h3>\n<div class=\"multiples\">");
    for (container, (points, limit)) in memory {
        let limits: Vec<Limit> = limit
            .map(|bytes| Limit {
                name: format!("limit {}", mib(bytes)),
                color: 2,
                y: bytes as f64 / MIB,
            })
            .into_iter()
            .collect();
        let series = [Series {
            name: "working set".into(),
            color: 0,
            dashed: false,
            points,
        }];
        out.push_str(&line_chart(Size::Small, container, "MiB", &series, &limits, marks));
    }
    out.push_str("</div>\n");
    out
}

/// Bytes in MiB as a person writes a container limit: `384 MiB`,
/// `1.5 GiB` from 1024 MiB up.
fn mib(bytes: u64) -> String {
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{} GiB", crate::report::chart::short(mib / 1024.0))
    } else {
        format!("{} MiB", crate::report::chart::short(mib))
    }
}

pub fn render_load(report: &LoadReport) -> String {
    let mut body = String::new();
    if report.reference_stack {
        body.push_str(TEST_DOUBLE_NOTE);
    }
    let _ = writeln!(
        body,
        "<p>Scenario <b>{}</b> against <b>{}</b> · seed <code>{}</code> · {:.1} s{}</p>",
        escape(&report.scenario),
        escape(&report.target),
        report.seed,
        report.duration_secs,
        if report.interrupted {
            " · <b>interrupted</b>"
        } else {
            ""
        }
    );
    let verdict = match &report.broken {
        Some(b) => format!("<p class=\"fail\">Gate broken: {}</p>", escape(&b.to_string())),
        None => "<p class=\"pass\">Every gate held.</p>".to_owned(),
    };
    body.push_str(&verdict);
    if !report.gates.is_empty() {
        body.push_str(if report.default_gates {
            "<h2>Gates</h2>\n<p>The scenario sets no <code>[gates]</code>: these are the defaults.</p>\n"
        } else {
            "<h2>Gates</h2>\n"
        });
        body.push_str("<table class=\"gates\"><tr><th></th><th>gate</th><th>on</th><th>measured and limit</th></tr>\n");
        for g in &report.gates {
            let (class, mark) = if g.held { ("pass", "✓") } else { ("fail", "✗") };
            let _ = writeln!(
                body,
                "<tr><td class=\"{class}\">{mark}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                g.figure.name(),
                escape(g.subject()),
                escape(&g.comparison())
            );
        }
        body.push_str("</table>\n");
    }
    body.push_str("<h2>Traffic</h2>\n<table><tr><th>kind</th><th>offered</th><th>accepted</th><th>refused</th><th>by reason</th><th>units/s</th><th>send p99 ms</th></tr>\n");
    for (kind, k) in &report.kinds {
        let reasons: Vec<String> = k.refused.iter().map(|(r, n)| format!("{r}: {n}")).collect();
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
            kind.as_str(),
            k.offered_units,
            k.accepted_units,
            k.refused_units,
            escape(&reasons.join(", ")),
            k.achieved_rate,
            k.latency_ms.p99
        );
    }
    body.push_str("</table>\n<h2>Ingest markers</h2>\n<table><tr><th>pillar</th><th>sent</th><th>found</th><th>undecided</th><th>errors</th><th>completeness</th><th>p50 ms</th><th>p99 ms</th></tr>\n");
    for (pillar, i) in &report.ingest {
        let completeness = match i.completeness {
            Some(c) => format!("{:.1} %", c * 100.0),
            None => "undecided".to_owned(),
        };
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{completeness}</td><td>{}</td><td>{}</td></tr>",
            pillar.as_str(),
            i.sent,
            i.found,
            i.undecided,
            i.errors,
            i.latency_ms.p50,
            i.latency_ms.p99
        );
    }
    body.push_str("</table>\n");
    for line in &report.unread {
        let _ = writeln!(body, "<p class=\"undecided\">Undecided: {}</p>", escape(line));
    }
    if let Some(least) = &report.min_headroom {
        let _ = writeln!(body, "<p>Least memory headroom: {}</p>", escape(&least.to_string()));
    }
    body.push_str(&charts(&report.timeline, report.p99_slo_ms, &[]));
    page(&format!("pillars load {}", report.run_id), &body)
}

pub fn render_capacity(report: &CapacityReport) -> String {
    let mut body = String::new();
    if report.reference_stack {
        body.push_str(TEST_DOUBLE_NOTE);
    }
    let _ = writeln!(
        body,
        "<p>Scenario <b>{}</b> against <b>{}</b> · seed <code>{}</code>{}</p>\n<p class=\"note\">{}</p>",
        escape(&report.scenario),
        escape(&report.target),
        report.seed,
        if report.interrupted {
            " · <b>interrupted</b>"
        } else {
            ""
        },
        escape(&report.recommendation)
    );
    body.push_str("<h2>Steps</h2>\n<table><tr><th>scale</th><th>from</th><th>offered units/s</th><th>achieved</th><th>refused</th><th>ingest p99 ms</th><th>completeness</th><th>least headroom</th><th>gate</th></tr>\n");
    for s in &report.steps {
        let p99: Vec<String> = s
            .ingest_p99_ms
            .iter()
            .map(|(p, ms)| format!("{} {ms}", p.as_str()))
            .collect();
        let complete: Vec<String> = s
            .completeness
            .iter()
            .map(|(p, c)| format!("{} {:.1} %", p.as_str(), c * 100.0))
            .collect();
        let headroom = s.min_headroom.as_ref().map(Least::to_string).unwrap_or_default();
        let (class, gate) = match &s.broken {
            Some(b) => ("fail", b.to_string()),
            None => ("pass", "held".to_owned()),
        };
        let _ = writeln!(
            body,
            "<tr{}><td>x{:.2}</td><td>{:.0} s</td><td>{:.0}</td><td>{:.0}</td><td>{:.2} %</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
            if s.broken.is_some() { " class=\"broken\"" } else { "" },
            s.scale,
            s.started_secs,
            s.offered_rate,
            s.achieved_rate,
            s.worst_error_ratio * 100.0,
            escape(&p99.join(", ")),
            escape(&complete.join(", ")),
            escape(&headroom),
            escape(&gate)
        );
    }
    body.push_str("</table>\n");
    let marks: Vec<Mark> = report
        .steps
        .iter()
        .map(|s| Mark {
            x: s.started_secs,
            label: match s.broken {
                Some(_) => format!("x{:.2} broke", s.scale),
                None => format!("x{:.2}", s.scale),
            },
            broken: s.broken.is_some(),
        })
        .collect();
    body.push_str(&charts(&report.timeline, report.p99_slo_ms, &marks));
    page(&format!("pillars capacity {}", report.run_id), &body)
}
