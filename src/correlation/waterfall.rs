//! The trace a correlation check followed, as a person would look at it: its
//! spans as Tempo gave them back (the frontend's fetch span, the backend's
//! server span and its children) laid out in time, and what the check found
//! for that request in the other pillars — log lines, an exemplar, a
//! profile — beside the span it belongs to. It travels in the check's
//! evidence under `waterfall`, and `report.html` draws it.
//!
//! Uses: check (pillars), query::{tempo, grafana}, target.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check::Pillar;
use crate::query::grafana::explore_link;
use crate::query::tempo::ReadSpan;
use crate::target::{Grafana, Store};

/// Spans drawn; a trace with more says how many it left out.
const MAX_SPANS: usize = 60;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waterfall {
    pub trace_id: String,
    /// The trace in Grafana Explore, when the target names Grafana.
    pub explore: Option<String>,
    /// Depth first from the roots, each span after its parent, siblings
    /// by start time.
    pub spans: Vec<Bar>,
    /// Spans of the trace beyond the ones drawn.
    pub more: usize,
    pub found: Vec<Found>,
}

/// One span's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub service: Option<String>,
    pub kind: String,
    /// Since the earliest span of the trace started.
    pub start_ms: f64,
    pub duration_ms: f64,
    /// 0 for a root, 1 for its children, …
    pub depth: usize,
}

/// What a check found for the request in another pillar, beside the span
/// it hangs off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    pub span_id: String,
    pub pillar: Pillar,
    pub what: String,
    pub explore: Option<String>,
}

impl Waterfall {
    /// The waterfall of `spans`, one trace's spans in any order.
    pub fn of(trace_id: impl ToString, spans: &[ReadSpan], grafana: Option<&Grafana>) -> Self {
        let trace_id = trace_id.to_string();
        let t0 = spans.iter().map(|s| s.start_unix_nanos).min().unwrap_or(0);
        let ids: Vec<_> = spans.iter().map(|s| s.span_id).collect();
        // Children by parent; a span whose parent is not in the trace (not
        // read back, or the caller's) is a root.
        let mut children: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
        for (i, s) in spans.iter().enumerate() {
            let parent = s.parent_span_id.and_then(|p| ids.iter().position(|id| *id == p));
            children.entry(parent.filter(|p| *p != i)).or_default().push(i);
        }
        for list in children.values_mut() {
            list.sort_by_key(|i| (spans[*i].start_unix_nanos, spans[*i].span_id.to_string()));
        }
        let mut order = Vec::with_capacity(spans.len());
        let mut stack: Vec<(usize, usize)> = children
            .get(&None)
            .into_iter()
            .flatten()
            .rev()
            .map(|i| (*i, 0))
            .collect();
        let mut visited = vec![false; spans.len()];
        while let Some((i, depth)) = stack.pop() {
            // A cycle of parents (a broken trace) is drawn once.
            if std::mem::replace(&mut visited[i], true) {
                continue;
            }
            order.push((i, depth));
            if let Some(kids) = children.get(&Some(i)) {
                stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
            }
        }
        // Spans only reachable through a cycle have no root: drawn flat.
        order.extend((0..spans.len()).filter(|i| !visited[*i]).map(|i| (i, 0)));
        let more = order.len().saturating_sub(MAX_SPANS);
        let ms = |nanos: u64| nanos as f64 / 1e6;
        let bars = order
            .into_iter()
            .take(MAX_SPANS)
            .map(|(i, depth)| {
                let s = &spans[i];
                Bar {
                    span_id: s.span_id.to_string(),
                    parent_span_id: s.parent_span_id.map(|p| p.to_string()),
                    name: s.name.clone(),
                    service: s.service_name.clone(),
                    kind: s.kind.trim_start_matches("SPAN_KIND_").to_ascii_lowercase(),
                    start_ms: ms(s.start_unix_nanos.saturating_sub(t0)),
                    duration_ms: ms(s.end_unix_nanos.saturating_sub(s.start_unix_nanos)),
                    depth,
                }
            })
            .collect();
        Waterfall {
            explore: grafana
                .filter(|g| g.datasources.contains_key(&Store::Tempo))
                .map(|g| explore_link(g, Store::Tempo, &trace_id).to_string()),
            trace_id,
            spans: bars,
            more,
            found: Vec::new(),
        }
    }

    /// `what` the check found in `pillar` for the span `span_id`, opened in
    /// Explore with `query` against `store` where the target names Grafana.
    pub fn found(
        mut self,
        span_id: impl ToString,
        pillar: Pillar,
        what: String,
        link: Option<(&Grafana, Store, &str)>,
    ) -> Self {
        self.found.push(Found {
            span_id: span_id.to_string(),
            pillar,
            what,
            explore: link
                .filter(|(g, store, _)| g.datasources.contains_key(store))
                .map(|(g, store, query)| explore_link(g, store, query).to_string()),
        });
        self
    }

    /// The trace's total time, from the first start to the last end.
    pub fn total_ms(&self) -> f64 {
        self.spans
            .iter()
            .map(|b| b.start_ms + b.duration_ms)
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SpanId, TraceId};

    fn span(id: u64, parent: Option<u64>, start_ms: u64, end_ms: u64) -> ReadSpan {
        let span_id = |n: u64| format!("{n:016x}").parse::<SpanId>().unwrap();
        ReadSpan {
            trace_id: "0000000000000000000000000000007a".parse::<TraceId>().unwrap(),
            span_id: span_id(id),
            parent_span_id: parent.map(span_id),
            name: format!("span {id}"),
            kind: "SPAN_KIND_SERVER".into(),
            service_name: Some("svc".into()),
            resource: BTreeMap::new(),
            attributes: BTreeMap::new(),
            start_unix_nanos: 1_000_000_000 + start_ms * 1_000_000,
            end_unix_nanos: 1_000_000_000 + end_ms * 1_000_000,
        }
    }

    #[test]
    fn spans_follow_their_parents_in_time_order() {
        // Read back out of order: a grandchild first, the root last; span 9's
        // parent was never read back, so it is a root of its own.
        let spans = [
            span(4, Some(2), 30, 40),
            span(3, Some(1), 50, 90),
            span(2, Some(1), 10, 45),
            span(9, Some(77), 5, 6),
            span(1, None, 0, 100),
        ];
        let w = Waterfall::of("7a", &spans, None);
        let order: Vec<(&str, usize)> = w.spans.iter().map(|b| (b.name.as_str(), b.depth)).collect();
        assert_eq!(
            order,
            [
                ("span 1", 0),
                ("span 2", 1),
                ("span 4", 2),
                ("span 3", 1),
                ("span 9", 0)
            ]
        );
        assert_eq!(w.spans[2].start_ms, 30.0);
        assert_eq!(w.spans[2].duration_ms, 10.0);
        assert_eq!(w.spans[0].kind, "server");
        assert_eq!(w.total_ms(), 100.0);
        assert_eq!(w.more, 0);
    }

    #[test]
    fn a_cycle_of_parents_is_drawn_once() {
        let spans = [span(1, Some(2), 0, 10), span(2, Some(1), 1, 5)];
        let w = Waterfall::of("7a", &spans, None);
        assert_eq!(w.spans.len(), 2);
    }
}
