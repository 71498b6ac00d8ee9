//! SVG line charts for the load and capacity pages: series over time with
//! optional dashed limit lines, drawn without scripts or external assets.
//!
//! Uses: report::junit (escaping).

use std::fmt::Write as _;

use crate::report::junit::escape;

/// A named line of `(x, y)` points; a `None` y leaves a gap (and a cross
/// on the axis) where nothing was measured. Series with the same `color`
/// belong together (a kind's offered and achieved rate); `dashed` tells
/// them apart.
pub struct Series {
    pub name: String,
    pub color: usize,
    pub dashed: bool,
    pub points: Vec<(f64, Option<f64>)>,
}

/// A horizontal line drawn dashed, such as a memory limit or an SLO.
pub struct Limit {
    pub name: String,
    pub color: usize,
    pub y: f64,
}

const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
];
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 32.0;

/// How large a line chart is drawn: one across the page, or one of a row
/// of small multiples (a chart per traffic kind or container, each on its
/// own scale, so a 0.5/s kind is not flattened by a 5000/s one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Wide,
    Small,
}

impl Size {
    const fn dimensions(self) -> (f64, f64) {
        match self {
            Size::Wide => (720.0, 240.0),
            Size::Small => (352.0, 170.0),
        }
    }
}

/// A vertical line at a moment, such as the start of a capacity step;
/// `broken` marks the step where a gate broke.
pub struct Mark {
    pub x: f64,
    pub label: String,
    pub broken: bool,
}

/// A chart titled `title`, its y axis in `unit`, x in seconds.
pub fn line_chart(size: Size, title: &str, unit: &str, series: &[Series], limits: &[Limit], marks: &[Mark]) -> String {
    let (w, h) = size.dimensions();
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1))
        .chain(limits.iter().map(|l| l.y));
    let (x0, x1) = bounds(xs);
    let (_, y1) = bounds(ys);
    // The top is the tick above the largest value, so every gridline is a
    // round number.
    let y_step = nice_step(if y1 > 0.0 { y1 } else { 1.0 } / 4.0);
    let y1 = (y1 / y_step).ceil().max(1.0) * y_step;
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let x_step = nice_step((x1 - x0) / 6.0);
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * (w - LEFT - RIGHT);
    let sy = |y: f64| h - BOTTOM - y / y1 * (h - TOP - BOTTOM);

    let mut svg = format!(
        "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        escape(title)
    );
    // Gridlines with their values: round steps on both axes.
    let mut y = 0.0;
    while y <= y1 + y_step / 2.0 {
        let gy = sy(y);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{gy:.1}\" x2=\"{}\" y2=\"{gy:.1}\" stroke=\"#e4e4e4\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            w - RIGHT,
            LEFT - 4.0,
            gy + 3.0,
            short(y)
        );
        y += y_step;
    }
    let mut x = (x0 / x_step).ceil() * x_step;
    while x <= x1 + x_step / 100.0 {
        let gx = sx(x);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{gx:.1}\" y1=\"{TOP}\" x2=\"{gx:.1}\" y2=\"{}\" stroke=\"#f0f0f0\"/>\
             <text x=\"{gx:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{} s</text>",
            h - BOTTOM,
            h - BOTTOM + 12.0,
            short(x)
        );
        x += x_step;
    }
    // Axes, and the unit.
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#555\"/>\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{b}\" stroke=\"#555\"/>\
         <text x=\"{tx}\" y=\"{ty}\" font-size=\"11\">{}</text>",
        escape(unit),
        b = h - BOTTOM,
        r = w - RIGHT,
        tx = LEFT + 4.0,
        ty = TOP - 4.0,
    );
    if series.iter().all(|s| s.points.is_empty()) {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\">nothing measured</text>",
            w / 2.0 - 50.0,
            h / 2.0
        );
    }
    // Labels that would overlap the one before are left to the line's
    // tooltip; the broken step's label always shows.
    let mut last_label = f64::NEG_INFINITY;
    for mark in marks {
        let x = sx(mark.x);
        let (stroke, dash, fill) = if mark.broken {
            ("#cf222e", "4 2", "#cf222e")
        } else {
            ("#bbb", "1 3", "#777")
        };
        let _ = write!(
            svg,
            "<line class=\"mark\" x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"{stroke}\" stroke-dasharray=\"{dash}\"><title>{}</title></line>",
            h - BOTTOM,
            escape(&mark.label)
        );
        if mark.broken || x - last_label >= 7.0 * mark.label.chars().count() as f64 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"9\" fill=\"{fill}\">{}</text>",
                x + 2.0,
                TOP + if mark.broken { 10.0 } else { 20.0 },
                escape(&mark.label)
            );
            last_label = x;
        }
    }
    for limit in limits {
        let y = sy(limit.y);
        let color = PALETTE[limit.color % PALETTE.len()];
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-dasharray=\"6 4\"><title>{}</title></line>",
            w - RIGHT,
            escape(&limit.name)
        );
    }
    for s in series {
        let color = PALETTE[s.color % PALETTE.len()];
        let mut path = String::new();
        let mut pen_down = false;
        for (x, y) in &s.points {
            match y {
                Some(y) => {
                    let _ = write!(path, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, sx(*x), sy(*y));
                    pen_down = true;
                }
                None => {
                    pen_down = false;
                    let _ = write!(
                        svg,
                        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{color}\" text-anchor=\"middle\">×</text>",
                        sx(*x),
                        h - BOTTOM - 2.0
                    );
                }
            }
        }
        if !path.is_empty() {
            let _ = write!(
                svg,
                "<path d=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"{}><title>{}</title></path>",
                path.trim_end(),
                if s.dashed { " stroke-dasharray=\"2 3\"" } else { "" },
                escape(&s.name)
            );
        }
    }
    // The legend wraps as the page does: one entry per item, never split.
    svg.push_str("</svg><figcaption>");
    svg.push_str(&escape(title));
    svg.push_str("<ul class=\"legend\">");
    for s in series {
        let _ = write!(
            svg,
            "<li style=\"color:{}\">{} {}</li>",
            PALETTE[s.color % PALETTE.len()],
            if s.dashed { "┄" } else { "■" },
            escape(&s.name)
        );
    }
    for l in limits {
        let _ = write!(
            svg,
            "<li style=\"color:{}\">┄ {}</li>",
            PALETTE[l.color % PALETTE.len()],
            escape(&l.name)
        );
    }
    svg.push_str("</ul>");
    svg.push_str("</figcaption></figure>\n");
    svg
}

/// A latency histogram on a log scale of milliseconds: one bar per
/// bucket between its bounds, decade ticks with gridlines (1, 2, 5, 10, …),
/// the count on the y axis, dashed p50/p90/p99 markers and, when given, the
/// SLO as a red line (or an arrow at the edge when it is far to the right).
pub fn histogram(series: &str, s: &crate::measure::latency::LatencySummary, slo_ms: Option<u64>) -> String {
    const W: f64 = 520.0;
    const H: f64 = 190.0;
    const LEFT: f64 = 44.0;
    const RIGHT: f64 = 28.0;
    const TOP: f64 = 22.0;
    const BOTTOM: f64 = 34.0;
    let caption = format!(
        "{} — n={} p50={} ms p90={} ms p99={} ms max={} ms{}",
        escape(series),
        s.count,
        s.p50,
        s.p90,
        s.p99,
        s.max,
        slo_ms.map(|m| format!(" · SLO {m} ms")).unwrap_or_default()
    );
    let mut svg = format!(
        "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{caption}\">"
    );
    let peak = s.buckets.iter().map(|b| b.count).max().unwrap_or(0);
    if peak == 0 {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">no samples</text>",
            W / 2.0,
            H / 2.0
        );
    } else {
        // At least a decade wide, so that a run whose samples all fall in
        // one bucket still shows where that bucket sits.
        let top = s.buckets.last().map_or(s.max, |b| b.le_ms).max(s.max).max(1) as f64;
        let mut lo = (s.min.max(1) as f64 / 2.0).max(0.5).log10().floor();
        let mut hi = top.log10().ceil();
        if let Some(slo) = slo_ms.filter(|m| *m as f64 <= top * 10.0) {
            hi = hi.max((slo.max(1) as f64).log10().ceil());
        }
        // Two decades at least: a bucket's bar (from half its bound) then
        // sits inside the axis, not on its edge.
        if hi - lo < 2.0 {
            hi = lo + 2.0;
        }
        lo = lo.min(hi - 2.0);
        let (plot_w, plot_h) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
        let x = |ms: f64| LEFT + plot_w * ((ms.max(10f64.powf(lo)).log10() - lo) / (hi - lo)).clamp(0.0, 1.0);
        let y = |count: f64| TOP + plot_h * (1.0 - count / peak as f64);
        // Gridlines and ticks: 1, 2 and 5 of each decade.
        for decade in lo as i32..=hi as i32 {
            for step in [1.0, 2.0, 5.0] {
                let ms = step * 10f64.powi(decade);
                if ms < 10f64.powf(lo) || ms > 10f64.powf(hi) {
                    continue;
                }
                let gx = x(ms);
                let _ = write!(
                    svg,
                    "<line x1=\"{gx:.1}\" y1=\"{TOP}\" x2=\"{gx:.1}\" y2=\"{:.1}\" stroke=\"#e4e4e4\"/>\
                     <text x=\"{gx:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                    TOP + plot_h,
                    TOP + plot_h + 13.0,
                    duration_label(ms)
                );
            }
        }
        // Whole counts only: the top, and half of it when that is whole.
        let half = (peak >= 2).then_some((peak / 2) as f64);
        for count in half.into_iter().chain([peak as f64]) {
            let gy = y(count);
            let _ = write!(
                svg,
                "<line x1=\"{LEFT}\" y1=\"{gy:.1}\" x2=\"{:.1}\" y2=\"{gy:.1}\" stroke=\"#e4e4e4\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
                W - RIGHT,
                LEFT - 4.0,
                gy + 3.0,
                short(count)
            );
        }
        let mut previous = None;
        for b in &s.buckets {
            let upper = b.le_ms.max(1) as f64;
            let lower = previous.unwrap_or(upper / 2.0).min(upper - f64::EPSILON);
            previous = Some(upper);
            if b.count == 0 {
                continue;
            }
            let (x0, x1) = (x(lower), x(upper));
            let _ = write!(
                svg,
                "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#4e79a7\"><title>≤ {} ms: {}</title></rect>",
                y(b.count as f64),
                (x1 - x0 - 0.5).max(1.0),
                TOP + plot_h - y(b.count as f64),
                b.le_ms,
                b.count
            );
        }
        // Percentiles that land on the same spot share one label.
        let mut markers: Vec<(f64, String)> = Vec::new();
        for (name, ms) in [("p50", s.p50), ("p90", s.p90), ("p99", s.p99)] {
            let mx = x(ms.max(1) as f64);
            match markers.last_mut() {
                Some((at, label)) if (mx - *at).abs() < 14.0 => {
                    label.push('/');
                    label.push_str(name);
                }
                _ => markers.push((mx, name.to_owned())),
            }
        }
        for (mx, name) in markers {
            let _ = write!(
                svg,
                "<line class=\"percentile\" x1=\"{mx:.1}\" y1=\"{TOP}\" x2=\"{mx:.1}\" y2=\"{:.1}\" stroke=\"#333\" stroke-dasharray=\"2 2\"/>\
                 <text x=\"{mx:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{name}</text>",
                TOP + plot_h,
                TOP - 6.0
            );
        }
        if let Some(slo) = slo_ms {
            let ms = slo.max(1) as f64;
            if ms <= 10f64.powf(hi) {
                let sx = x(ms);
                let _ = write!(
                    svg,
                    "<line class=\"slo\" x1=\"{sx:.1}\" y1=\"{TOP}\" x2=\"{sx:.1}\" y2=\"{:.1}\" stroke=\"#cf222e\" stroke-width=\"2\"/>\
                     <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#cf222e\" text-anchor=\"end\">SLO {}</text>",
                    TOP + plot_h,
                    sx - 3.0,
                    TOP + 10.0,
                    duration_label(ms)
                );
            } else {
                let _ = write!(
                    svg,
                    "<text class=\"slo\" x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#cf222e\" text-anchor=\"end\">SLO {} →</text>",
                    W - RIGHT,
                    TOP + 10.0,
                    duration_label(ms)
                );
            }
        }
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#555\"/>\
             <text x=\"{2:.1}\" y=\"{3:.1}\" font-size=\"10\" text-anchor=\"middle\">latency (log scale)</text>\
             <text x=\"12\" y=\"{4:.1}\" font-size=\"10\" transform=\"rotate(-90 12 {4:.1})\" text-anchor=\"middle\">count</text>",
            TOP + plot_h,
            W - RIGHT,
            LEFT + plot_w / 2.0,
            H - 4.0,
            TOP + plot_h / 2.0
        );
    }
    let _ = writeln!(svg, "</svg><figcaption>{caption}</figcaption></figure>");
    svg
}

/// 5 as "5 ms", 2000 as "2 s", 1500 as "1.5 s".
fn duration_label(ms: f64) -> String {
    if ms >= 1000.0 {
        let s = ms / 1000.0;
        if s.fract() == 0.0 {
            format!("{s:.0} s")
        } else {
            format!("{s:.1} s")
        }
    } else if ms >= 1.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
        .map_or((0.0, 1.0), |(lo, hi)| (lo.min(0.0), hi))
}

/// A round step (1, 2 or 5 times a power of ten) near `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|m| m * power >= raw)
        .unwrap_or(10.0);
    step * power
}

/// 1234567 as "1.2M", 1500 as "1.5k", 15 as "15", 0.5 as "0.5".
pub(crate) fn short(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.1}G", v / 1e9),
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v if v.fract() == 0.0 || v >= 10.0 => format!("{v:.0}"),
        v => format!("{v:.1}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_draws_each_series_limit_and_gap() {
        let svg = line_chart(
            Size::Wide,
            "memory <per container>",
            "MiB",
            &[
                Series {
                    name: "loki".into(),
                    color: 0,
                    dashed: false,
                    points: vec![(0.0, Some(100.0)), (1.0, None), (2.0, Some(300.0))],
                },
                Series {
                    name: "tempo".into(),
                    color: 1,
                    dashed: true,
                    points: vec![(0.0, Some(50.0)), (2.0, Some(60.0))],
                },
            ],
            &[Limit {
                name: "loki limit".into(),
                color: 0,
                y: 400.0,
            }],
            &[
                Mark {
                    x: 1.0,
                    label: "x1.50".into(),
                    broken: false,
                },
                Mark {
                    x: 1.1,
                    label: "x2.00 broke".into(),
                    broken: true,
                },
            ],
        );
        assert_eq!(svg.matches("<path").count(), 2, "{svg}");
        let loki = svg.split("<path d=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(loki.matches('M').count(), 2, "loki's gap splits its line: {loki}");
        assert_eq!(
            svg.matches("stroke-dasharray").count(),
            4,
            "the marks, the limit and tempo's line"
        );
        assert!(svg.contains(">x1.50</text>"));
        // The broken step is red and labelled even where it crowds another.
        assert!(
            svg.contains("stroke=\"#cf222e\" stroke-dasharray=\"4 2\"><title>x2.00 broke"),
            "{svg}"
        );
        assert!(svg.contains(">x2.00 broke</text>"), "{svg}");
        assert!(svg.contains("<ul class=\"legend\"><li"), "{svg}");
        // Round gridlines on both axes: 0..400 MiB in steps of 100, 0..2 s.
        for label in [">0</text>", ">100</text>", ">400</text>", ">0 s</text>", ">2 s</text>"] {
            assert!(svg.contains(label), "{label}: {svg}");
        }
        assert!(svg.matches("class=\"grid\"").count() >= 8, "{svg}");
        assert!(svg.contains("memory &lt;per container&gt;"));
        assert!(svg.contains("×"));
        let empty = line_chart(Size::Small, "nothing", "ms", &[], &[], &[]);
        assert!(empty.contains("nothing measured"));
    }

    #[test]
    fn a_histogram_has_ticks_percentiles_and_the_slo_even_in_one_bucket() {
        let mut h = crate::measure::latency::LatencyHistogram::default();
        for _ in 0..20 {
            h.record(std::time::Duration::from_millis(1));
        }
        let svg = histogram("logs", &h.summary(), Some(5000));
        assert!(!svg.contains("max bar"), "{svg}");
        assert_eq!(svg.matches("class=\"percentile\"").count(), 1, "one marker: {svg}");
        assert!(svg.contains(">p50/p90/p99</text>"), "{svg}");
        assert!(
            svg.contains(">1 ms</text>") && svg.contains(">10 ms</text>"),
            "a decade at least: {svg}"
        );
        assert!(svg.contains("SLO 5 s →"), "a far SLO points off the chart: {svg}");
        let mut slow = crate::measure::latency::LatencyHistogram::default();
        for ms in [900, 1200, 2500, 4000] {
            slow.record(std::time::Duration::from_millis(ms));
        }
        let svg = histogram("traces", &slow.summary(), Some(5000));
        assert!(svg.contains("<line class=\"slo\""), "a near SLO is a line: {svg}");
        assert!(svg.matches("<rect").count() >= 3, "{svg}");
        assert!(histogram("none", &Default::default(), None).contains("no samples"));
    }
}
