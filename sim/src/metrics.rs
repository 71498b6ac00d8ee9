//! The reference stack's metric store, as Mimir 2.14 keeps OTLP metrics
//! with its defaults (`shared/reference/api/04-mimir.md` §4.3): names with
//! `.`/`-` turned into `_` and no unit or `_total` suffixes, `job` from
//! `service.namespace/service.name`, `instance` from `service.instance.id`,
//! histograms as `_bucket{le}`/`_sum`/`_count` with exemplars on the bucket
//! they fall in, labelled `trace_id`/`span_id`.
//!
//! Uses: lang::matcher (label matchers), logs (value text), ids (hex).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{Exemplar, exemplar, metric, number_data_point};
use tokio::time::Instant;

use crate::ids::hex;
use crate::lang::matcher::{Matcher, selects};
use crate::logs::any_text;

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq)]
pub struct StoredExemplar {
    pub labels: Labels,
    pub value: f64,
    pub ts_ms: i64,
}

#[derive(Debug, Clone)]
struct Series {
    samples: Vec<(i64, f64, Instant)>,
    exemplars: Vec<(StoredExemplar, Instant)>,
}

/// A sample as a query returns it.
#[derive(Debug, Clone)]
pub struct SampleHit {
    pub labels: Labels,
    pub ts_ms: i64,
    pub value: f64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MetricCounts {
    pub samples_received: u64,
    pub samples_stored: u64,
}

#[derive(Debug, Default)]
pub struct MetricStore {
    series: Mutex<BTreeMap<Labels, Series>>,
    counts: Mutex<MetricCounts>,
}

/// Prometheus' lookback for instant queries.
const LOOKBACK_MS: i64 = 5 * 60 * 1000;

fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn label_name(name: &str) -> String {
    sanitize(name).replace(':', "_")
}

/// Formats a bucket bound the way Prometheus writes `le`.
pub fn format_le(bound: f64) -> String {
    if bound.is_infinite() {
        "+Inf".into()
    } else {
        let text = format!("{bound}");
        text
    }
}

impl MetricStore {
    /// Stores an OTLP export; `drop` says which series a fault discards
    /// after accepting them.
    pub fn ingest_otlp(
        &self,
        request: ExportMetricsServiceRequest,
        drop: impl Fn(&Labels) -> bool,
        keep_exemplars: bool,
    ) {
        let now = Instant::now();
        let mut received = 0;
        let mut stored = 0;
        let mut series = self.series.lock().expect("metric store lock");
        let mut put = |labels: Labels, ts_ms: i64, value: f64, exemplars: Vec<StoredExemplar>| {
            received += 1;
            if drop(&labels) {
                return;
            }
            stored += 1;
            let s = series.entry(labels).or_insert_with(|| Series {
                samples: Vec::new(),
                exemplars: Vec::new(),
            });
            s.samples.push((ts_ms, value, now));
            if keep_exemplars {
                s.exemplars.extend(exemplars.into_iter().map(|e| (e, now)));
            }
        };
        for rm in request.resource_metrics {
            let resource = rm.resource.map(|r| r.attributes).unwrap_or_default();
            let attr = |key: &str| {
                resource
                    .iter()
                    .find(|kv| kv.key == key)
                    .map(|kv| any_text(kv.value.as_ref()))
            };
            let mut base = Labels::new();
            match (attr("service.namespace"), attr("service.name")) {
                (Some(ns), Some(name)) => base.insert("job".into(), format!("{ns}/{name}")),
                (None, Some(name)) => base.insert("job".into(), name),
                _ => None,
            };
            if let Some(instance) = attr("service.instance.id") {
                base.insert("instance".into(), instance);
            }
            for sm in rm.scope_metrics {
                for m in sm.metrics {
                    let name = sanitize(&m.name);
                    let with = |attrs: &[KeyValue], name: &str| {
                        let mut labels = base.clone();
                        for kv in attrs {
                            labels.insert(label_name(&kv.key), any_text(kv.value.as_ref()));
                        }
                        labels.insert("__name__".into(), name.to_owned());
                        labels
                    };
                    // Gauges and sums store the same way: one sample per point.
                    let numbers = match &m.data {
                        Some(metric::Data::Gauge(g)) => g.data_points.as_slice(),
                        Some(metric::Data::Sum(sum)) => sum.data_points.as_slice(),
                        _ => &[],
                    };
                    for p in numbers {
                        put(
                            with(&p.attributes, &name),
                            ms(p.time_unix_nano),
                            number(&p.value),
                            exemplars(&p.exemplars),
                        );
                    }
                    if let Some(metric::Data::Histogram(h)) = m.data {
                        for p in h.data_points {
                            let ts = ms(p.time_unix_nano);
                            let bucket_name = format!("{name}_bucket");
                            let mut cumulative = 0u64;
                            let mut exemplars = exemplars(&p.exemplars);
                            let bounds = p.explicit_bounds.iter().copied().chain([f64::INFINITY]);
                            for (bound, count) in bounds.zip(p.bucket_counts.iter().copied()) {
                                cumulative += count;
                                let mut labels = with(&p.attributes, &bucket_name);
                                labels.insert("le".into(), format_le(bound));
                                let (here, rest): (Vec<_>, Vec<_>) =
                                    exemplars.into_iter().partition(|e| e.value <= bound);
                                exemplars = rest;
                                put(labels, ts, cumulative as f64, here);
                            }
                            put(
                                with(&p.attributes, &format!("{name}_sum")),
                                ts,
                                p.sum.unwrap_or(0.0),
                                Vec::new(),
                            );
                            put(
                                with(&p.attributes, &format!("{name}_count")),
                                ts,
                                p.count as f64,
                                Vec::new(),
                            );
                        }
                    }
                }
            }
        }
        let mut counts = self.counts.lock().expect("counts lock");
        counts.samples_received += received;
        counts.samples_stored += stored;
    }

    /// Stores one sample the stack writes about itself (its cAdvisor view),
    /// not counted as ingest.
    pub fn put_own(&self, labels: Labels, ts_ms: i64, value: f64) {
        self.put_generated(labels, ts_ms, value, None);
    }

    /// Stores one sample another component of the stack remote-writes
    /// (Tempo's metrics generator, Alloy's scrapes), not counted as ingest.
    pub fn put_generated(&self, labels: Labels, ts_ms: i64, value: f64, exemplar: Option<StoredExemplar>) {
        let now = Instant::now();
        let mut series = self.series.lock().expect("metric store lock");
        let s = series.entry(labels).or_insert_with(|| Series {
            samples: Vec::new(),
            exemplars: Vec::new(),
        });
        s.samples.push((ts_ms, value, now));
        // Only the recent past matters for the dashboards' windows.
        if s.samples.len() > 4000 {
            s.samples.drain(..2000);
        }
        if let Some(e) = exemplar {
            s.exemplars.push((e, now));
            if s.exemplars.len() > 1000 {
                s.exemplars.drain(..500);
            }
        }
    }

    /// The latest sample of each selected series at `time_ms`, visible after
    /// `delay`.
    pub fn instant(&self, matchers: &[Matcher], time_ms: i64, delay: Duration) -> Vec<SampleHit> {
        let now = Instant::now();
        let series = self.series.lock().expect("metric store lock");
        series
            .iter()
            .filter(|(labels, _)| selects(matchers, labels))
            .filter_map(|(labels, s)| {
                s.samples
                    .iter()
                    .filter(|(ts, _, at)| now >= *at + delay && *ts <= time_ms && *ts > time_ms - LOOKBACK_MS)
                    .max_by_key(|(ts, _, _)| *ts)
                    .map(|(ts, v, _)| SampleHit {
                        labels: labels.clone(),
                        ts_ms: *ts,
                        value: *v,
                    })
            })
            .collect()
    }

    /// Every series the matchers select with its samples in `[start_ms,
    /// end_ms]` visible after `delay`, in time order; of two samples at
    /// one timestamp the later written wins, as an out-of-order append
    /// would be refused.
    pub fn select(
        &self,
        matchers: &[Matcher],
        (start_ms, end_ms): (i64, i64),
        delay: Duration,
    ) -> Vec<(Labels, Vec<(i64, f64)>)> {
        let now = Instant::now();
        let series = self.series.lock().expect("metric store lock");
        series
            .iter()
            .filter(|(labels, _)| selects(matchers, labels))
            .filter_map(|(labels, s)| {
                let mut points: Vec<(i64, f64)> = s
                    .samples
                    .iter()
                    .filter(|(ts, _, at)| now >= *at + delay && *ts >= start_ms && *ts <= end_ms)
                    .map(|(ts, v, _)| (*ts, *v))
                    .collect();
                points.sort_by_key(|(ts, _)| *ts);
                points.dedup_by(|later, earlier| {
                    let same = later.0 == earlier.0;
                    if same {
                        earlier.1 = later.1;
                    }
                    same
                });
                (!points.is_empty()).then(|| (labels.clone(), points))
            })
            .collect()
    }

    /// The label sets of the series the matchers select that have a
    /// visible sample in `[start_ms, end_ms]`.
    pub fn series_labels(&self, matchers: &[Matcher], (start_ms, end_ms): (i64, i64), delay: Duration) -> Vec<Labels> {
        let now = Instant::now();
        let series = self.series.lock().expect("metric store lock");
        series
            .iter()
            .filter(|(labels, _)| selects(matchers, labels))
            .filter(|(_, s)| {
                s.samples
                    .iter()
                    .any(|(ts, _, at)| now >= *at + delay && *ts >= start_ms && *ts <= end_ms)
            })
            .map(|(labels, _)| labels.clone())
            .collect()
    }

    /// Exemplars in `[start, end]` of the series any of the selectors
    /// selects, as Prometheus' exemplar `Select` takes one matcher set per
    /// selector of the query.
    pub fn exemplars(
        &self,
        selectors: &[Vec<Matcher>],
        (start_ms, end_ms): (i64, i64),
        delay: Duration,
    ) -> Vec<(Labels, Vec<StoredExemplar>)> {
        let now = Instant::now();
        let series = self.series.lock().expect("metric store lock");
        series
            .iter()
            .filter(|(labels, _)| selectors.iter().any(|m| selects(m, labels)))
            .filter_map(|(labels, s)| {
                let found: Vec<StoredExemplar> = s
                    .exemplars
                    .iter()
                    .filter(|(e, at)| now >= *at + delay && e.ts_ms >= start_ms && e.ts_ms <= end_ms)
                    .map(|(e, _)| e.clone())
                    .collect();
                (!found.is_empty()).then(|| (labels.clone(), found))
            })
            .collect()
    }

    pub fn counts(&self) -> MetricCounts {
        *self.counts.lock().expect("counts lock")
    }
}

fn ms(unix_nanos: u64) -> i64 {
    (unix_nanos / 1_000_000) as i64
}

fn number(value: &Option<number_data_point::Value>) -> f64 {
    match value {
        Some(number_data_point::Value::AsDouble(d)) => *d,
        Some(number_data_point::Value::AsInt(i)) => *i as f64,
        None => 0.0,
    }
}

fn exemplars(list: &[Exemplar]) -> Vec<StoredExemplar> {
    list.iter()
        .map(|e| {
            let mut labels = Labels::new();
            for kv in &e.filtered_attributes {
                labels.insert(label_name(&kv.key), any_text(kv.value.as_ref()));
            }
            if !e.trace_id.is_empty() {
                labels.insert("trace_id".into(), hex(&e.trace_id));
            }
            if !e.span_id.is_empty() {
                labels.insert("span_id".into(), hex(&e.span_id));
            }
            let value = match e.value {
                Some(exemplar::Value::AsDouble(d)) => d,
                Some(exemplar::Value::AsInt(i)) => i as f64,
                None => 0.0,
            };
            StoredExemplar {
                labels,
                value,
                ts_ms: ms(e.time_unix_nano),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::promql::parse_selector;

    #[test]
    fn the_reference_histogram_lands_as_mimir_names_it() {
        // shared/reference/api/04-mimir.md §4.4, timestamps moved to now.
        let text = include_str!("../../tests/fixtures/reference/otlp-metrics-histogram-exemplar.json");
        let mut request: ExportMetricsServiceRequest = serde_json::from_str(text).unwrap();
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        for rm in &mut request.resource_metrics {
            for sm in &mut rm.scope_metrics {
                for m in &mut sm.metrics {
                    if let Some(metric::Data::Histogram(h)) = &mut m.data {
                        for p in &mut h.data_points {
                            p.time_unix_nano = now_ns;
                            for e in &mut p.exemplars {
                                e.time_unix_nano = now_ns;
                            }
                        }
                    }
                }
            }
        }
        let store = MetricStore::default();
        store.ingest_otlp(request, |_| false, true);
        let now_ms = ms(now_ns);
        let buckets = store.instant(
            &parse_selector("harness_request_duration_bucket").unwrap(),
            now_ms,
            Duration::ZERO,
        );
        assert_eq!(buckets.len(), 5, "{buckets:?}");
        assert!(buckets.iter().all(|b| b.labels["job"] == "harness/harness-backend"));
        let inf = buckets.iter().find(|b| b.labels["le"] == "+Inf").unwrap();
        assert_eq!(inf.value, 3.0);
        let exemplars = store.exemplars(
            &[parse_selector("harness_request_duration_bucket").unwrap()],
            (now_ms - 1000, now_ms + 1000),
            Duration::ZERO,
        );
        assert_eq!(exemplars.len(), 1);
        assert_eq!(exemplars[0].0["le"], "0.5");
        assert_eq!(exemplars[0].1[0].labels["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
