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
const W: f64 = 720.0;
const H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 32.0;

/// A vertical line at a moment, such as the start of a capacity step.
pub struct Mark {
    pub x: f64,
    pub label: String,
}

/// A chart titled `title`, its y axis in `unit`, x in seconds.
pub fn line_chart(title: &str, unit: &str, series: &[Series], limits: &[Limit], marks: &[Mark]) -> String {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1))
        .chain(limits.iter().map(|l| l.y));
    let (x0, x1) = bounds(xs);
    let (_, y1) = bounds(ys);
    let y1 = if y1 > 0.0 { y1 * 1.05 } else { 1.0 };
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let sy = |y: f64| H - BOTTOM - y / y1 * (H - TOP - BOTTOM);

    let mut svg = format!(
        "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{}\">",
        escape(title)
    );
    // Axes, with the top value and the time span.
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#555\"/>\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{b}\" stroke=\"#555\"/>\
         <text x=\"{tx}\" y=\"{ty}\" font-size=\"11\">{} {}</text>\
         <text x=\"{lx}\" y=\"{b}\" font-size=\"11\" text-anchor=\"end\">0</text>\
         <text x=\"{LEFT}\" y=\"{tb}\" font-size=\"11\">{x0:.0} s</text>\
         <text x=\"{r}\" y=\"{tb}\" font-size=\"11\" text-anchor=\"end\">{x1:.0} s</text>",
        short(y1),
        escape(unit),
        b = H - BOTTOM,
        r = W - RIGHT,
        lx = LEFT - 4.0,
        tx = LEFT + 4.0,
        ty = TOP + 8.0,
        tb = H - 10.0,
    );
    if series.iter().all(|s| s.points.is_empty()) {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\">nothing measured</text>",
            W / 2.0 - 50.0,
            H / 2.0
        );
    }
    for mark in marks {
        let x = sx(mark.x);
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"1 3\"/>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"9\" fill=\"#777\">{}</text>",
            H - BOTTOM,
            x + 2.0,
            TOP + 20.0,
            escape(&mark.label)
        );
    }
    for limit in limits {
        let y = sy(limit.y);
        let color = PALETTE[limit.color % PALETTE.len()];
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-dasharray=\"6 4\"><title>{}</title></line>",
            W - RIGHT,
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
                        H - BOTTOM - 2.0
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
    svg.push_str("</svg><figcaption>");
    svg.push_str(&escape(title));
    for s in series {
        let _ = write!(
            svg,
            " <span style=\"color:{}\">{} {}</span>",
            PALETTE[s.color % PALETTE.len()],
            if s.dashed { "┄" } else { "■" },
            escape(&s.name)
        );
    }
    for l in limits {
        let _ = write!(
            svg,
            " <span style=\"color:{}\">┄ {}</span>",
            PALETTE[l.color % PALETTE.len()],
            escape(&l.name)
        );
    }
    svg.push_str("</figcaption></figure>\n");
    svg
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

/// 1234567 as "1.2M", 1500 as "1.5k", 15 as "15".
fn short(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.1}G", v / 1e9),
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_draws_each_series_limit_and_gap() {
        let svg = line_chart(
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
            &[Mark {
                x: 1.0,
                label: "x1.50".into(),
            }],
        );
        assert_eq!(svg.matches("<path").count(), 2, "{svg}");
        let loki = svg.split("<path d=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(loki.matches('M').count(), 2, "loki's gap splits its line: {loki}");
        assert_eq!(
            svg.matches("stroke-dasharray").count(),
            3,
            "the mark, the limit and tempo's line"
        );
        assert!(svg.contains(">x1.50</text>"));
        assert!(svg.contains("memory &lt;per container&gt;"));
        assert!(svg.contains("×"));
        let empty = line_chart("nothing", "ms", &[], &[], &[]);
        assert!(empty.contains("nothing measured"));
    }
}
