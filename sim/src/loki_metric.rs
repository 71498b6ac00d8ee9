//! Loki's answers to the metric queries the reference stack evaluates
//! (`lang::logql::metric`): the entries read from the log store as the
//! query's pipeline leaves them, aggregated per step, and written in
//! Loki's `matrix` (`query_range`) and `vector` (`query`) shapes — a
//! point's time as seconds (a JSON number), its value as Go formats it.
//!
//! Uses: state (the log store), lang::logql::metric, go::strconv.

use serde_json::{Value, json};

use crate::go::strconv;
use crate::lang::logql::Processed;
use crate::lang::logql::metric::{Entry, MetricQuery, PipelineError, Series};
use crate::state::SimState;

/// The query's series at `start`, `start + step`, … `end` (nanoseconds).
pub fn evaluate(
    state: &SimState,
    query: &MetricQuery,
    (start, end, step): (i128, i128, i128),
) -> Result<Vec<Series>, PipelineError> {
    let from = start - i128::from(query.lookback_ns());
    let clamp = |t: i128| t.clamp(0, i128::from(u64::MAX)) as u64;
    let hits = state.logs.query(
        query.log(),
        (clamp(from), clamp(end.saturating_add(1))),
        usize::MAX,
        false,
        state.faults().delay,
    );
    let entries: Vec<Entry> = hits
        .into_iter()
        .map(|h| Entry {
            ts_ns: i128::from(h.ts_ns),
            processed: Processed {
                line: h.line,
                stream: h.labels,
                metadata: h.metadata,
                parsed: h.parsed,
            },
        })
        .collect();
    query.eval(&entries, start, end, step)
}

/// A point's time as Loki writes it: seconds, with milliseconds when any.
fn seconds(ts_ns: i128) -> Value {
    let ms = ts_ns.div_euclid(1_000_000);
    if ms % 1000 == 0 {
        json!((ms / 1000) as i64)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

fn point(ts_ns: i128, v: f64) -> Value {
    json!([seconds(ts_ns), strconv::format_float(v)])
}

/// `query_range`'s body.
pub fn matrix(series: &[Series]) -> Value {
    let result: Vec<Value> = series
        .iter()
        .map(|(labels, points)| {
            json!({
                "metric": labels,
                "values": points.iter().map(|(t, v)| point(*t, *v)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "status": "success", "data": { "resultType": "matrix", "result": result, "stats": {} } })
}

/// `query`'s body: each series' one point.
pub fn vector(series: &[Series]) -> Value {
    let result: Vec<Value> = series
        .iter()
        .filter_map(|(labels, points)| {
            let (t, v) = points.first()?;
            Some(json!({ "metric": labels, "value": point(*t, *v) }))
        })
        .collect();
    json!({ "status": "success", "data": { "resultType": "vector", "result": result, "stats": {} } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn shapes_are_lokis() {
        let labels = BTreeMap::from([("type".to_owned(), "web-vitals".to_owned())]);
        let series = vec![(
            labels,
            vec![(1_700_000_000_000_000_000, 2.5), (1_700_000_000_500_000_000, 3.0)],
        )];
        assert_eq!(
            matrix(&series),
            json!({ "status": "success", "data": { "resultType": "matrix", "result": [
                { "metric": { "type": "web-vitals" }, "values": [[1_700_000_000, "2.5"], [1_700_000_000.5, "3"]] }
            ], "stats": {} } })
        );
        assert_eq!(
            vector(&series)["data"]["result"],
            json!([{ "metric": { "type": "web-vitals" }, "value": [1_700_000_000, "2.5"] }])
        );
    }
}
