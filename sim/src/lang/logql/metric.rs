//! LogQL metric queries as Loki 3.3 evaluates them (`pkg/logql`'s range
//! and vector aggregation evaluators), for the subset the reference stack
//! serves: `count_over_time`, `rate`, `bytes_over_time`, `bytes_rate` over
//! a log pipeline; `sum_`, `avg_`, `min_`, `max_` and
//! `quantile_over_time` over `| unwrap`; wrapped in `sum`, `avg`, `min`,
//! `max` or `count`, `by` or `without`. Anything else stays unserved.
//!
//! A sample whose unwrap fails carries `__error__="SampleExtractionErr"`
//! (with `__error_details__` when the conversion said why); unless a label
//! filter drops it, the whole query fails with Loki's pipeline error.
//!
//! Uses: the parent parser's stages and filters, `go` (conversions).

use std::collections::BTreeMap;

use super::{ERROR_DETAILS_LABEL, ERROR_LABEL, Filter, Kind, LogAst, LogQuery, Matcher, Processed, Stage};
use crate::go::{humanize, strconv, time};

type Labels = BTreeMap<String, String>;

/// How `| unwrap` reads the label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    Float,
    Bytes,
    /// `duration()` and `duration_seconds()`: seconds.
    Duration,
}

/// `| unwrap [conv(]label[)]` and the label filters after it.
#[derive(Debug, Clone)]
pub struct Unwrap {
    pub(super) label: String,
    pub(super) conv: Conv,
    pub(super) filters: Vec<Filter>,
}

/// What follows a selector in a range aggregation.
#[derive(Debug, Clone)]
pub struct Tail {
    pub(super) stages: Vec<Stage>,
    pub(super) unwrap: Option<Unwrap>,
    pub(super) range_ns: i64,
    pub(super) offset_ns: i64,
}

/// `by (…)` or `without (…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

impl Grouping {
    fn apply(&self, labels: &Labels) -> Labels {
        labels
            .iter()
            .filter(|(k, _)| self.labels.contains(k) != self.without)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RangeOp {
    Count,
    Rate,
    Bytes,
    BytesRate,
    Sum,
    Avg,
    Min,
    Max,
    Quantile(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
}

/// A served metric expression.
#[derive(Debug, Clone)]
pub enum Plan {
    Range {
        op: RangeOp,
        log: LogQuery,
        unwrap: Option<Unwrap>,
        range_ns: i64,
        offset_ns: i64,
        grouping: Option<Grouping>,
    },
    Vector {
        op: VectorOp,
        grouping: Option<Grouping>,
        inner: Box<Plan>,
    },
}

impl Plan {
    /// The range aggregation, when it is one the stack evaluates.
    pub(super) fn range(
        kind: Kind,
        param: Option<&str>,
        selector: Vec<Matcher>,
        tail: Tail,
        grouping: Option<Grouping>,
    ) -> Option<Plan> {
        let unwrapped = tail.unwrap.is_some();
        let op = match (kind, param) {
            (Kind::CountOverTime, None) if !unwrapped => RangeOp::Count,
            (Kind::Rate, None) if !unwrapped => RangeOp::Rate,
            (Kind::BytesOverTime, None) if !unwrapped => RangeOp::Bytes,
            (Kind::BytesRate, None) if !unwrapped => RangeOp::BytesRate,
            (Kind::SumOverTime, None) if unwrapped => RangeOp::Sum,
            (Kind::AvgOverTime, None) if unwrapped => RangeOp::Avg,
            (Kind::MinOverTime, None) if unwrapped => RangeOp::Min,
            (Kind::MaxOverTime, None) if unwrapped => RangeOp::Max,
            (Kind::QuantileOverTime, Some(p)) if unwrapped => RangeOp::Quantile(strconv::parse_float(p).ok()?),
            _ => return None,
        };
        // Loki groups only unwrapped range aggregations.
        if grouping.is_some() && !unwrapped {
            return None;
        }
        if tail.range_ns <= 0 {
            return None;
        }
        let log = LogQuery::build(LogAst {
            piped: !tail.stages.is_empty(),
            selector: Some(selector),
            stages: tail.stages,
        });
        Some(Plan::Range {
            op,
            log,
            unwrap: tail.unwrap,
            range_ns: tail.range_ns,
            offset_ns: tail.offset_ns,
            grouping,
        })
    }

    /// The vector aggregation over a served expression, when it is one
    /// the stack evaluates.
    pub(super) fn vector(kind: Kind, grouping: Option<Grouping>, inner: Plan) -> Option<Plan> {
        let op = match kind {
            Kind::Sum => VectorOp::Sum,
            Kind::Avg => VectorOp::Avg,
            Kind::Min => VectorOp::Min,
            Kind::Max => VectorOp::Max,
            Kind::Count => VectorOp::Count,
            _ => return None,
        };
        Some(Plan::Vector {
            op,
            grouping,
            inner: Box::new(inner),
        })
    }

    fn log(&self) -> &LogQuery {
        match self {
            Plan::Range { log, .. } => log,
            Plan::Vector { inner, .. } => inner.log(),
        }
    }

    fn lookback_ns(&self) -> i64 {
        match self {
            Plan::Range {
                range_ns, offset_ns, ..
            } => range_ns.saturating_add(*offset_ns),
            Plan::Vector { inner, .. } => inner.lookback_ns(),
        }
    }
}

/// A served metric query.
#[derive(Debug, Clone)]
pub struct MetricQuery {
    plan: Plan,
}

/// An entry as the log pipeline left it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub ts_ns: i128,
    pub processed: Processed,
}

/// One series of a result: its labels and points (ns, value).
pub type Series = (Labels, Vec<(i128, f64)>);

/// Why a served query fails while it is evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineError {
    pub error_type: String,
    pub series: Labels,
}

impl std::fmt::Display for PipelineError {
    /// `logqlmodel.PipelineError`'s text, its trailing newline included.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let series: Vec<String> = self
            .series
            .iter()
            .map(|(k, v)| format!("{k}={}", strconv::quote(v)))
            .collect();
        let kind = &self.error_type;
        write!(
            f,
            "pipeline error: '{kind}' for series: '{{{}}}'.\n\
             Use a label filter to intentionally skip this error. (e.g | __error__!=\"{kind}\").\n\
             To skip all potential errors you can match empty errors.(e.g __error__=\"\")\n\
             The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n",
            series.join(", ")
        )
    }
}

/// Steps evaluated at most, beyond Loki's own 11 000-point limit.
const MAX_STEPS: i128 = 11_001;

impl MetricQuery {
    pub(super) fn new(plan: Plan) -> MetricQuery {
        MetricQuery { plan }
    }

    /// The log query whose entries the aggregation reads.
    pub fn log(&self) -> &LogQuery {
        self.plan.log()
    }

    /// How far before the first step entries are read.
    pub fn lookback_ns(&self) -> i64 {
        self.plan.lookback_ns()
    }

    /// The series at `start`, `start + step`, … up to `end`; `entries` are
    /// those of `log()` from `start - lookback_ns()` to `end`.
    pub fn eval(&self, entries: &[Entry], start: i128, end: i128, step: i128) -> Result<Vec<Series>, PipelineError> {
        let step = step.max(1);
        let mut out: BTreeMap<Labels, Vec<(i128, f64)>> = BTreeMap::new();
        let mut t = start;
        let mut n = 0;
        while t <= end && n < MAX_STEPS {
            for (labels, v) in eval_at(&self.plan, entries, t)? {
                out.entry(labels).or_default().push((t, v));
            }
            t += step;
            n += 1;
        }
        Ok(out.into_iter().collect())
    }
}

/// A sample extracted from an entry: its series and value.
fn extract(unwrap: Option<&Unwrap>, entry: &Entry, bytes: bool) -> Option<(Labels, f64)> {
    let mut e = entry.processed.clone();
    let value = match unwrap {
        None if bytes => e.line.len() as f64,
        None => 1.0,
        Some(u) => {
            let raw = e.get(&u.label).unwrap_or("").to_owned();
            e.delete(&u.label);
            let v = if raw.is_empty() {
                e.set_error("SampleExtractionErr", String::new());
                0.0
            } else {
                match convert(u.conv, &raw) {
                    Ok(v) => v,
                    Err(details) => {
                        e.set_error("SampleExtractionErr", details);
                        0.0
                    }
                }
            };
            if !u.filters.iter().all(|f| f.eval(&mut e)) {
                return None;
            }
            v
        }
    };
    // A parsed label named like a stream or metadata label is kept
    // beside it as `<name>_extracted`, as Loki's label builder does.
    let mut labels = e.stream.clone();
    for (k, v) in e.metadata.iter().chain(&e.parsed) {
        if labels.contains_key(k) && k != ERROR_LABEL && k != ERROR_DETAILS_LABEL {
            labels.insert(format!("{k}_extracted"), v.clone());
        } else {
            labels.insert(k.clone(), v.clone());
        }
    }
    // An empty details label is no label.
    if labels.get(ERROR_DETAILS_LABEL).is_some_and(String::is_empty) {
        labels.remove(ERROR_DETAILS_LABEL);
    }
    Some((labels, value))
}

fn convert(conv: Conv, raw: &str) -> Result<f64, String> {
    match conv {
        Conv::Float => strconv::parse_float(raw).map_err(|e| e.to_string()),
        Conv::Bytes => humanize::parse_bytes(raw).map(|b| b as f64).map_err(|e| e.to_string()),
        Conv::Duration => time::parse_duration(raw)
            .map(|ns| ns as f64 / 1e9)
            .map_err(|e| e.to_string()),
    }
}

fn eval_at(plan: &Plan, entries: &[Entry], t: i128) -> Result<Vec<(Labels, f64)>, PipelineError> {
    match plan {
        Plan::Range {
            op,
            unwrap,
            range_ns,
            offset_ns,
            grouping,
            ..
        } => {
            let end = t - i128::from(*offset_ns);
            let start = end - i128::from(*range_ns);
            let bytes = matches!(op, RangeOp::Bytes | RangeOp::BytesRate);
            let mut by_series: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
            // Loki's window is left-open, right-closed.
            for e in entries.iter().filter(|e| e.ts_ns > start && e.ts_ns <= end) {
                if let Some((labels, v)) = extract(unwrap.as_ref(), e, bytes) {
                    let labels = match grouping {
                        Some(g) => keep_errors(g.apply(&labels), &labels),
                        None => labels,
                    };
                    by_series.entry(labels).or_default().push(v);
                }
            }
            // Errors are not allowed in metrics unless filtered out.
            if let Some(labels) = by_series
                .keys()
                .find(|l| l.get(ERROR_LABEL).is_some_and(|e| !e.is_empty()))
            {
                return Err(PipelineError {
                    error_type: labels[ERROR_LABEL].clone(),
                    series: labels.clone(),
                });
            }
            let seconds = *range_ns as f64 / 1e9;
            Ok(by_series
                .into_iter()
                .map(|(labels, values)| (labels, over_time(*op, &values, seconds)))
                .collect())
        }
        Plan::Vector { op, grouping, inner } => {
            let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
            for (labels, v) in eval_at(inner, entries, t)? {
                let key = match grouping {
                    Some(g) => g.apply(&labels),
                    None => Labels::new(),
                };
                groups.entry(key).or_default().push(v);
            }
            Ok(groups
                .into_iter()
                .map(|(labels, values)| (labels, combine(*op, &values)))
                .collect())
        }
    }
}

/// Grouping keeps the error labels, so the query still fails on them.
fn keep_errors(mut grouped: Labels, all: &Labels) -> Labels {
    for name in [ERROR_LABEL, ERROR_DETAILS_LABEL] {
        if let Some(v) = all.get(name) {
            grouped.insert(name.to_owned(), v.clone());
        }
    }
    grouped
}

/// One range aggregation over a window's values (never empty).
fn over_time(op: RangeOp, values: &[f64], seconds: f64) -> f64 {
    let sum: f64 = values.iter().sum();
    match op {
        RangeOp::Count => values.len() as f64,
        RangeOp::Rate => values.len() as f64 / seconds,
        RangeOp::Bytes | RangeOp::Sum => sum,
        RangeOp::BytesRate => sum / seconds,
        RangeOp::Avg => sum / values.len() as f64,
        RangeOp::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        RangeOp::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        RangeOp::Quantile(q) => quantile(q, values),
    }
}

/// Prometheus' `quantile`: linear interpolation between closest ranks.
fn quantile(q: f64, values: &[f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    sorted[lower as usize] * (1.0 - weight) + sorted[upper as usize] * weight
}

fn combine(op: VectorOp, values: &[f64]) -> f64 {
    let sum: f64 = values.iter().sum();
    match op {
        VectorOp::Sum => sum,
        VectorOp::Avg => sum / values.len() as f64,
        VectorOp::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        VectorOp::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        VectorOp::Count => values.len() as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ParseError, parse_metric};
    use super::*;

    const S: i128 = 1_000_000_000;

    fn entries(query: &MetricQuery, lines: &[(i128, &str)]) -> Vec<Entry> {
        let stream = Labels::from([
            ("app".to_owned(), "web".to_owned()),
            ("kind".to_owned(), "m".to_owned()),
        ]);
        lines
            .iter()
            .filter_map(|(ts, line)| {
                let processed = query.log().pipeline(&stream, &Labels::new(), line)?;
                Some(Entry { ts_ns: *ts, processed })
            })
            .collect()
    }

    fn run(query: &str, lines: &[(i128, &str)], at: i128) -> Result<Vec<Series>, PipelineError> {
        let q = parse_metric(query).unwrap();
        let e = entries(&q, lines);
        q.eval(&e, at, at, 1)
    }

    const LINES: [(i128, &str); 4] = [
        (10 * S, "type=web-vitals value_lcp=100"),
        (20 * S, "type=web-vitals value_cls=0.1"),
        (30 * S, "type=web-vitals value_lcp=300"),
        (40 * S, "type=other value_lcp=900"),
    ];

    #[test]
    fn counts_and_rates_over_a_left_open_window() {
        let got = run(r#"sum(count_over_time({app="web"} [30s]))"#, &LINES, 40 * S).unwrap();
        // (10 s, 40 s]: three lines.
        assert_eq!(got, [(Labels::new(), vec![(40 * S, 3.0)])]);
        let got = run(r#"sum(rate({app="web"} |= "web-vitals" [30s]))"#, &LINES, 40 * S).unwrap();
        assert_eq!(got[0].1[0].1, 2.0 / 30.0);
        let got = run(
            r#"sum by (type) (bytes_over_time({app="web"} | logfmt [1m]))"#,
            &LINES,
            40 * S,
        )
        .unwrap();
        let types: Vec<&str> = got.iter().map(|(l, _)| l["type"].as_str()).collect();
        assert_eq!(types, ["other", "web-vitals"]);
        // Without grouping a range aggregation keeps every label.
        let got = run(
            r#"count_over_time({app="web"} | logfmt | type="other" [1m])"#,
            &LINES,
            40 * S,
        )
        .unwrap();
        assert_eq!(got[0].0["value_lcp"], "900");
        assert_eq!(got[0].0["app"], "web");
        let got = run(
            r#"count_over_time({app="web"} | logfmt [1m])"#,
            &[(S, "kind=x")],
            40 * S,
        )
        .unwrap();
        assert_eq!(
            (got[0].0["kind"].as_str(), got[0].0["kind_extracted"].as_str()),
            ("m", "x")
        );
    }

    #[test]
    fn a_failed_unwrap_fails_the_query_unless_filtered() {
        let q = r#"quantile_over_time(0.75, {app="web"} | logfmt | type="web-vitals" | unwrap value_lcp [1m])"#;
        let err = run(q, &LINES, 40 * S).unwrap_err();
        assert_eq!(err.error_type, "SampleExtractionErr");
        assert_eq!(
            err.to_string(),
            "pipeline error: 'SampleExtractionErr' for series: '{__error__=\"SampleExtractionErr\", app=\"web\", kind=\"m\", type=\"web-vitals\", value_cls=\"0.1\"}'.\n\
             Use a label filter to intentionally skip this error. (e.g | __error__!=\"SampleExtractionErr\").\n\
             To skip all potential errors you can match empty errors.(e.g __error__=\"\")\n\
             The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n"
        );
        // A filter before the unwrap, or after it, keeps it to the lines
        // that carry the value.
        for q in [
            r#"quantile_over_time(0.75, {app="web"} | logfmt | type="web-vitals" | value_lcp!="" | unwrap value_lcp [1m])"#,
            r#"quantile_over_time(0.75, {app="web"} | logfmt | type="web-vitals" | unwrap value_lcp | __error__="" [1m])"#,
        ] {
            // The unwrapped label leaves the series: 100 and 300 are one.
            let got = run(q, &LINES, 40 * S).unwrap();
            assert_eq!(got.len(), 1, "{got:?}");
            assert!(!got[0].0.contains_key("value_lcp"));
        }
        let got = run(
            r#"sum(quantile_over_time(0.75, {app="web"} | logfmt | type="web-vitals" | value_lcp!="" | unwrap value_lcp [1m]) by (type))"#,
            &LINES,
            40 * S,
        )
        .unwrap();
        // 100 and 300: the 0.75 quantile interpolates to 250.
        assert_eq!(got[0].1[0].1, 250.0);
        let bad = [(10 * S, "value_lcp=abc")];
        let err = run(
            r#"sum_over_time({app="web"} | logfmt | unwrap value_lcp [1m])"#,
            &bad,
            40 * S,
        )
        .unwrap_err();
        assert_eq!(
            err.series.get(ERROR_DETAILS_LABEL).map(String::as_str),
            Some("strconv.ParseFloat: parsing \"abc\": invalid syntax")
        );
    }

    #[test]
    fn unwrapped_aggregations_and_conversions() {
        let lines = [
            (10 * S, "n=2"),
            (20 * S, "n=4"),
            (30 * S, "n=9"),
            (20 * S, "d=1.5s"),
            (30 * S, "d=250ms"),
        ];
        let one = |q: &str| run(q, &lines[..3], 30 * S).unwrap()[0].1[0].1;
        assert_eq!(one(r#"sum(sum_over_time({app="web"} | logfmt | unwrap n [1m]))"#), 15.0);
        assert_eq!(
            one(r#"max(avg_over_time({app="web"} | logfmt | unwrap n | __error__="" [1m]))"#),
            5.0
        );
        assert_eq!(one(r#"min(min_over_time({app="web"} | logfmt | unwrap n [1m]))"#), 2.0);
        let d = r#"max(max_over_time({app="web"} | logfmt | d!="" | unwrap duration(d) [1m]))"#;
        assert_eq!(run(d, &lines[3..], 30 * S).unwrap()[0].1[0].1, 1.5);
        assert_eq!(one(r#"count(count_over_time({app="web"} [1m]))"#), 1.0);
    }

    #[test]
    fn range_queries_step_and_others_stay_unserved() {
        let q = parse_metric(r#"sum(count_over_time({app="web"} [15s]))"#).unwrap();
        let e = entries(&q, &LINES);
        let got = q.eval(&e, 10 * S, 60 * S, 10 * S).unwrap();
        let points: Vec<(i128, f64)> = got[0].1.clone();
        // No point where the window is empty.
        assert_eq!(
            points,
            [
                (10 * S, 1.0),
                (20 * S, 2.0),
                (30 * S, 2.0),
                (40 * S, 2.0),
                (50 * S, 1.0)
            ]
        );
        for q in [
            r#"topk(2, count_over_time({app="web"} [1m]))"#,
            r#"stddev_over_time({app="web"} | unwrap x [1m])"#,
            r#"count_over_time({app="web"} [1m]) / 2"#,
            r#"{app="web"}"#,
        ] {
            assert!(matches!(parse_metric(q), Err(ParseError::Unserved { .. })), "{q}");
        }
        assert!(matches!(
            parse_metric(r#"count_over_time({app="web"}"#),
            Err(ParseError::Invalid { .. })
        ));
        assert!(quantile(0.5, &[]).is_nan());
        assert_eq!(quantile(2.0, &[1.0]), f64::INFINITY);
    }
}
