//! Two records of the same kind side by side — yesterday's nightly run and
//! today's — with the change of every figure and the regressions flagged:
//! a check that stopped passing, a latency percentile up by more than the
//! threshold, completeness down, a rate or a capacity down, more refused.
//!
//! Uses: report (the record types, `record`), measure::latency.

use std::collections::BTreeSet;

use crate::checks::Status;
use crate::measure::latency::LatencySummary;
use crate::report::capacity::CapacityReport;
use crate::report::load::LoadReport;
use crate::report::record::Record;
use crate::report::run::RunReport;

/// A latency change under this many milliseconds is noise, whatever its
/// share.
const LATENCY_FLOOR_MS: u64 = 10;
/// Completeness may drop this much (one item in a thousand) before it is a
/// regression.
const COMPLETENESS_SLACK: f64 = 0.001;
/// The refused share may rise this much (one point) before it is a
/// regression.
const REFUSED_SLACK: f64 = 0.01;

/// One figure, before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub what: String,
    pub old: String,
    pub new: String,
    /// The relative change, when both are numbers.
    pub change: Option<f64>,
    pub regressed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    /// What was compared: `run.json` and the two run ids.
    pub title: String,
    pub rows: Vec<Row>,
}

impl Diff {
    pub fn regressions(&self) -> usize {
        self.rows.iter().filter(|r| r.regressed).count()
    }
}

/// `old` and `new` compared; `threshold` is the share a latency, rate or
/// capacity may worsen by before it counts as a regression.
pub fn diff(old: &Record, new: &Record, threshold: f64) -> Result<Diff, String> {
    let mut rows = Vec::new();
    let (kind, old_id, new_id) = match (old, new) {
        (Record::Run(a), Record::Run(b)) => {
            runs(a, b, threshold, &mut rows);
            ("verify runs", &a.run_id, &b.run_id)
        }
        (Record::Load(a), Record::Load(b)) => {
            loads(a, b, threshold, &mut rows);
            ("load runs", &a.run_id, &b.run_id)
        }
        (Record::Capacity(a), Record::Capacity(b)) => {
            capacities(a, b, threshold, &mut rows);
            ("capacity searches", &a.run_id, &b.run_id)
        }
        (a, b) => {
            return Err(format!(
                "cannot compare a {} with a {}: pass two records of one kind",
                a.file_name(),
                b.file_name()
            ));
        }
    };
    Ok(Diff {
        title: format!("{kind} {old_id} → {new_id}"),
        rows,
    })
}

fn runs(a: &RunReport, b: &RunReport, threshold: f64, rows: &mut Vec<Row>) {
    let bad = |s: Status| matches!(s, Status::Fail | Status::Error);
    // The old run's order (the catalog's), then what only the new one ran.
    let mut seen = BTreeSet::new();
    for id in a.checks.iter().chain(&b.checks).map(|c| c.id.as_str()) {
        if !seen.insert(id) {
            continue;
        }
        let (old, new) = (
            a.checks.iter().find(|c| c.id == id),
            b.checks.iter().find(|c| c.id == id),
        );
        let status = |c: Option<&crate::report::run::CheckReport>| {
            c.map_or("not run".to_owned(), |c| match &c.reason {
                Some(r) => format!("{} [{r}]", c.status.as_str()),
                None => c.status.as_str().to_owned(),
            })
        };
        rows.push(Row {
            what: id.to_owned(),
            old: status(old),
            new: status(new),
            change: None,
            regressed: new.is_some_and(|n| bad(n.status)) && !old.is_some_and(|o| bad(o.status)),
        });
        if let (Some(old), Some(new)) = (old, new) {
            for (series, o) in &old.latency_ms {
                if let Some(n) = new.latency_ms.get(series) {
                    latency(&format!("{id} {series}"), o, n, threshold, rows);
                }
            }
        }
    }
}

fn loads(a: &LoadReport, b: &LoadReport, threshold: f64, rows: &mut Vec<Row>) {
    for (kind, o) in &a.kinds {
        let Some(n) = b.kinds.get(kind) else { continue };
        let name = kind.as_str();
        rows.push(number(
            &format!("{name} achieved /s"),
            o.achieved_rate,
            n.achieved_rate,
            |o, n| n < o * (1.0 - threshold),
            |x| format!("{x:.1}"),
        ));
        rows.push(number(
            &format!("{name} refused"),
            o.error_ratio,
            n.error_ratio,
            |o, n| n > o + REFUSED_SLACK,
            share,
        ));
        latency(&format!("{name} send"), &o.latency_ms, &n.latency_ms, threshold, rows);
    }
    for (pillar, o) in &a.ingest {
        let Some(n) = b.ingest.get(pillar) else { continue };
        let name = pillar.as_str();
        latency(&format!("{name} ingest"), &o.latency_ms, &n.latency_ms, threshold, rows);
        if let (Some(oc), Some(nc)) = (o.completeness, n.completeness) {
            rows.push(number(
                &format!("{name} completeness"),
                oc,
                nc,
                |o, n| n < o - COMPLETENESS_SLACK,
                share,
            ));
        }
    }
    if let (Some(o), Some(n)) = (&a.min_headroom, &b.min_headroom) {
        rows.push(number(
            "least memory headroom",
            o.headroom,
            n.headroom,
            |o, n| n < o * (1.0 - threshold),
            share,
        ));
    }
}

fn capacities(a: &CapacityReport, b: &CapacityReport, threshold: f64, rows: &mut Vec<Row>) {
    let rate = |r: Option<f64>| r.map_or("none".to_owned(), |r| format!("{r:.1}"));
    let (o, n) = (a.last_good_rate, b.last_good_rate);
    rows.push(Row {
        what: "last good rate /s".into(),
        old: rate(o),
        new: rate(n),
        change: o.zip(n).and_then(|(o, n)| relative(o, n)),
        regressed: match (o, n) {
            (Some(o), Some(n)) => n < o * (1.0 - threshold),
            (Some(_), None) => true,
            _ => false,
        },
    });
    if let (Some(o), Some(n)) = (a.memory_bytes_per_unit, b.memory_bytes_per_unit) {
        rows.push(number(
            "memory bytes per unit/s",
            o,
            n,
            |o, n| n > o * (1.0 + threshold),
            |x| format!("{x:.0}"),
        ));
    }
}

/// p50, p90 and p99 of one series; p99 is what regresses.
fn latency(what: &str, o: &LatencySummary, n: &LatencySummary, threshold: f64, rows: &mut Vec<Row>) {
    if o.count == 0 || n.count == 0 {
        return;
    }
    for (name, old, new) in [("p50", o.p50, n.p50), ("p90", o.p90, n.p90), ("p99", o.p99, n.p99)] {
        rows.push(Row {
            what: format!("{what} {name}"),
            old: format!("{old} ms"),
            new: format!("{new} ms"),
            change: relative(old as f64, new as f64),
            regressed: name == "p99"
                && new.saturating_sub(old) >= LATENCY_FLOOR_MS
                && new as f64 > old as f64 * (1.0 + threshold),
        });
    }
}

fn number(what: &str, old: f64, new: f64, worse: impl Fn(f64, f64) -> bool, show: fn(f64) -> String) -> Row {
    Row {
        what: what.to_owned(),
        old: show(old),
        new: show(new),
        change: relative(old, new),
        regressed: worse(old, new),
    }
}

fn share(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn relative(old: f64, new: f64) -> Option<f64> {
    (old != 0.0).then(|| (new - old) / old)
}

/// The table: every row, regressions marked `✗`, and a closing count.
pub fn render(diff: &Diff) -> String {
    let what = diff
        .rows
        .iter()
        .map(|r| r.what.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let old = diff
        .rows
        .iter()
        .map(|r| r.old.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    let new = diff
        .rows
        .iter()
        .map(|r| r.new.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    let mut out = format!(
        "{}\n     {:<what$}  {:>old$}  {:>new$}  CHANGE\n",
        diff.title, "WHAT", "OLD", "NEW"
    );
    for r in &diff.rows {
        let change = r
            .change
            .map(|c| match (c * 100.0).round() {
                0.0 => "0 %".to_owned(),
                pct => format!("{pct:+} %"),
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "  {}  {:<what$}  {:>old$}  {:>new$}  {change}\n",
            if r.regressed { "✗" } else { " " },
            crate::console::printable(&r.what),
            crate::console::printable(&r.old),
            crate::console::printable(&r.new)
        ));
    }
    match diff.regressions() {
        0 => out.push_str("no regressions\n"),
        n => out.push_str(&format!("{n} regression(s)\n")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::latency::LatencyHistogram;

    fn summary(ms: &[u64]) -> LatencySummary {
        let mut h = LatencyHistogram::default();
        for m in ms {
            h.record(std::time::Duration::from_millis(*m));
        }
        h.summary()
    }

    #[test]
    fn p99_regresses_beyond_the_threshold_and_the_floor() {
        let mut rows = Vec::new();
        latency(
            "traces ingest",
            &summary(&[100; 10]),
            &summary(&[130; 10]),
            0.2,
            &mut rows,
        );
        let p99 = rows.iter().find(|r| r.what.ends_with("p99")).unwrap();
        assert!(p99.regressed, "{p99:?}");
        rows.clear();
        latency(
            "traces ingest",
            &summary(&[100; 10]),
            &summary(&[110; 10]),
            0.2,
            &mut rows,
        );
        assert!(rows.iter().all(|r| !r.regressed), "within 20 %: {rows:?}");
        rows.clear();
        latency("traces ingest", &summary(&[2; 10]), &summary(&[8; 10]), 0.2, &mut rows);
        assert!(rows.iter().all(|r| !r.regressed), "under the floor: {rows:?}");
    }
}
