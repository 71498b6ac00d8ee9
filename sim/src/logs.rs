//! The reference stack's log store, as Loki 3.3 keeps what it is sent: push
//! API streams (at least one label; `service_name` discovered when absent)
//! and OTLP logs mapped the way Loki's `/otlp/v1/logs` maps them (default
//! resource attributes become index labels, everything else structured
//! metadata, `trace_id`/`span_id` in hex, and the record's other fields
//! Loki 3.3 keeps: `observed_timestamp`, `severity_*`, `flags`,
//! `dropped_attributes_count`). See `shared/reference/api/05-loki.md`
//! §5.1–5.2.
//!
//! Uses: lang::logql (selectors and the pipeline), ids (hex), go (json,
//! strconv).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use tokio::time::Instant;

use crate::go::{json, strconv};
use crate::ids::hex;
use crate::lang::logql::LogQuery;

/// Resource attributes Loki 3.3 indexes by default (dots become `_`).
const INDEXED_RESOURCE_ATTRIBUTES: &[&str] = &[
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// Labels `service_name` is discovered from, in order.
const SERVICE_NAME_SOURCES: &[&str] = &[
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

pub type Labels = BTreeMap<String, String>;
/// A pushed entry: unix-nanosecond timestamp, line, structured metadata.
pub type Entry = (u64, String, Labels);

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub labels: Labels,
    pub ts_ns: u64,
    pub line: String,
    pub metadata: Labels,
    received: Instant,
}

/// One entry as a query returns it.
#[derive(Debug, Clone)]
pub struct LogHit {
    pub labels: Labels,
    pub metadata: Labels,
    pub parsed: Labels,
    pub ts_ns: u64,
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("error at least one label pair is required per stream")]
    NoLabels,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LogCounts {
    pub entries_received: u64,
    pub entries_stored: u64,
}

#[derive(Debug, Default)]
pub struct LogStore {
    entries: Mutex<Vec<LogEntry>>,
    received: AtomicU64,
    stored: AtomicU64,
}

impl LogStore {
    /// Stores push-API entries of one stream; `drop` says which lines a
    /// fault discards after they were accepted.
    pub fn push(&self, mut labels: Labels, entries: Vec<Entry>, drop: impl Fn(&str) -> bool) -> Result<(), PushError> {
        if labels.is_empty() {
            return Err(PushError::NoLabels);
        }
        if !labels.contains_key("service_name") {
            let service = SERVICE_NAME_SOURCES
                .iter()
                .find_map(|k| labels.get(*k).cloned())
                .unwrap_or_else(|| "unknown_service".to_owned());
            labels.insert("service_name".into(), service);
        }
        let now = Instant::now();
        let count = entries.len() as u64;
        let kept: Vec<LogEntry> = entries
            .into_iter()
            .filter(|(_, line, _)| !drop(line))
            .map(|(ts_ns, line, metadata)| LogEntry {
                labels: labels.clone(),
                ts_ns,
                line,
                metadata,
                received: now,
            })
            .collect();
        self.received.fetch_add(count, Ordering::Relaxed);
        self.stored.fetch_add(kept.len() as u64, Ordering::Relaxed);
        self.entries.lock().expect("log store lock").extend(kept);
        Ok(())
    }

    /// Stores OTLP logs as Loki 3.3's OTLP endpoint maps them
    /// (`pkg/loghttp/push/otlp.go` `otlpToLokiPushRequest`,
    /// `otlpLogToPushEntry`): index labels from the default resource
    /// attributes, `service_name` from `service.name` or else the first
    /// index label (in attribute order) named as discovery names it, else
    /// `unknown_service`. A record's structured metadata, in Loki's order
    /// (a later name wins): its attributes, then `observed_timestamp` when
    /// both timestamps are set, `severity_number` when not 0,
    /// `severity_text` when not empty, `dropped_attributes_count` and
    /// `flags` when not 0, `trace_id` and `span_id` (hex) when not all
    /// zeros; then the resource's other attributes; then the scope's
    /// attributes, `scope_name`, `scope_version` and
    /// `scope_dropped_attributes_count` when set.
    pub fn ingest_otlp(&self, request: ExportLogsServiceRequest, drop: impl Fn(&str) -> bool + Copy) {
        let now_ns = unix_nanos();
        for rl in request.resource_logs {
            let attributes = rl.resource.map(|r| r.attributes).unwrap_or_default();
            let mut labels = Labels::new();
            let mut resource_meta = Vec::new();
            let mut has_service_name = attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .is_some_and(|kv| !any_text(kv.value.as_ref()).is_empty());
            for kv in &attributes {
                let pairs = attribute_to_labels(&kv.key, kv.value.as_ref(), "");
                if !INDEXED_RESOURCE_ATTRIBUTES.contains(&kv.key.as_str()) {
                    resource_meta.extend(pairs);
                    continue;
                }
                for (name, value) in pairs {
                    labels.insert(name.clone(), value.clone());
                    if !has_service_name && SERVICE_NAME_SOURCES.contains(&name.as_str()) {
                        labels.insert("service_name".into(), value);
                        has_service_name = true;
                    }
                }
            }
            if !has_service_name {
                labels.insert("service_name".into(), "unknown_service".into());
            }
            for sl in rl.scope_logs {
                let mut scope_meta = Vec::new();
                if let Some(scope) = &sl.scope {
                    for kv in &scope.attributes {
                        scope_meta.extend(attribute_to_labels(&kv.key, kv.value.as_ref(), ""));
                    }
                    if !scope.name.is_empty() {
                        scope_meta.push(("scope_name".into(), scope.name.clone()));
                    }
                    if !scope.version.is_empty() {
                        scope_meta.push(("scope_version".into(), scope.version.clone()));
                    }
                    if scope.dropped_attributes_count != 0 {
                        let count = scope.dropped_attributes_count.to_string();
                        scope_meta.push(("scope_dropped_attributes_count".into(), count));
                    }
                }
                let entries = sl
                    .log_records
                    .into_iter()
                    .map(|record| {
                        let mut meta = Vec::new();
                        for kv in &record.attributes {
                            meta.extend(attribute_to_labels(&kv.key, kv.value.as_ref(), ""));
                        }
                        // `AsTime().UnixNano()`: the uint64 as an int64.
                        if record.time_unix_nano != 0 && record.observed_time_unix_nano != 0 {
                            let observed = (record.observed_time_unix_nano as i64).to_string();
                            meta.push(("observed_timestamp".into(), observed));
                        }
                        if record.severity_number != 0 {
                            meta.push(("severity_number".into(), record.severity_number.to_string()));
                        }
                        if !record.severity_text.is_empty() {
                            meta.push(("severity_text".into(), record.severity_text.clone()));
                        }
                        if record.dropped_attributes_count != 0 {
                            let count = record.dropped_attributes_count.to_string();
                            meta.push(("dropped_attributes_count".into(), count));
                        }
                        if record.flags != 0 {
                            meta.push(("flags".into(), record.flags.to_string()));
                        }
                        // pdata's `TraceID.IsEmpty`/`SpanID.IsEmpty`: all zeros.
                        if record.trace_id.iter().any(|b| *b != 0) {
                            meta.push(("trace_id".into(), hex(&record.trace_id)));
                        }
                        if record.span_id.iter().any(|b| *b != 0) {
                            meta.push(("span_id".into(), hex(&record.span_id)));
                        }
                        meta.extend(resource_meta.iter().cloned());
                        meta.extend(scope_meta.iter().cloned());
                        let ts = [record.time_unix_nano, record.observed_time_unix_nano]
                            .into_iter()
                            .find(|&t| t != 0)
                            .unwrap_or(now_ns);
                        (ts, any_text(record.body.as_ref()), meta.into_iter().collect())
                    })
                    .collect();
                // Labels are never empty here: service_name is always set.
                let _ = self.push(labels.clone(), entries, drop);
            }
        }
    }

    /// Entries the query selects in `[start, end)`, visible after `delay`,
    /// newest first when `backward`, as the pipeline leaves them (its
    /// `drop`/`keep` and `decolorize` included).
    pub fn query(
        &self,
        query: &LogQuery,
        (start_ns, end_ns): (u64, u64),
        limit: usize,
        backward: bool,
        delay: Duration,
    ) -> Vec<LogHit> {
        let now = Instant::now();
        let entries = self.entries.lock().expect("log store lock");
        let mut hits: Vec<LogHit> = entries
            .iter()
            .filter(|e| now >= e.received + delay)
            .filter(|e| e.ts_ns >= start_ns && e.ts_ns < end_ns)
            .filter(|e| query.selects(&e.labels))
            .filter_map(|e| {
                query.pipeline(&e.labels, &e.metadata, &e.line).map(|p| LogHit {
                    labels: p.stream,
                    metadata: p.metadata,
                    parsed: p.parsed,
                    ts_ns: e.ts_ns,
                    line: p.line,
                })
            })
            .collect();
        hits.sort_by_key(|h| h.ts_ns);
        if backward {
            hits.reverse();
        }
        hits.truncate(limit);
        hits
    }

    /// Whether any stored stream in `[start, end)` matches the selector:
    /// Loki builds a query's pipeline (and meets its stage errors) only
    /// for chunks it reads.
    pub fn any_selected(&self, query: &LogQuery, (start_ns, end_ns): (u64, u64)) -> bool {
        let entries = self.entries.lock().expect("log store lock");
        entries
            .iter()
            .any(|e| e.ts_ns >= start_ns && e.ts_ns < end_ns && query.selects(&e.labels))
    }

    /// Every index label name.
    /// Index label names, of the streams `selector` selects when given.
    pub fn label_names(&self, selector: Option<&LogQuery>) -> Vec<String> {
        let entries = self.entries.lock().expect("log store lock");
        let mut names: Vec<String> = entries
            .iter()
            .filter(|e| selector.is_none_or(|q| q.selects(&e.labels)))
            .flat_map(|e| e.labels.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The values of index label `name`, of the streams `selector`
    /// selects when given.
    pub fn label_values(&self, name: &str, selector: Option<&LogQuery>) -> Vec<String> {
        let entries = self.entries.lock().expect("log store lock");
        let mut values: Vec<String> = entries
            .iter()
            .filter(|e| selector.is_none_or(|q| q.selects(&e.labels)))
            .filter_map(|e| e.labels.get(name).cloned())
            .collect();
        values.sort();
        values.dedup();
        values
    }

    /// The index label sets of the streams any of `groups` selects (all
    /// of them when there is no group) whose entries overlap
    /// `[start, end)`: the ingester's `shouldConsiderStream` takes a
    /// stream whose first entry is before `end` and whose last is not
    /// before `start` (`pkg/ingester/instance.go`).
    pub fn series(&self, groups: &[LogQuery], (start, end): (i128, i128)) -> Vec<Labels> {
        let entries = self.entries.lock().expect("log store lock");
        let mut bounds: BTreeMap<&Labels, (u64, u64)> = BTreeMap::new();
        for e in entries.iter() {
            let b = bounds.entry(&e.labels).or_insert((e.ts_ns, e.ts_ns));
            *b = (b.0.min(e.ts_ns), b.1.max(e.ts_ns));
        }
        bounds
            .into_iter()
            .filter(|(labels, _)| groups.is_empty() || groups.iter().any(|q| q.selects(labels)))
            .filter(|(_, (first, last))| end > i128::from(*first) && start <= i128::from(*last))
            .map(|(labels, _)| labels.clone())
            .collect()
    }

    pub fn counts(&self) -> LogCounts {
        LogCounts {
            entries_received: self.received.load(Ordering::Relaxed),
            entries_stored: self.stored.load(Ordering::Relaxed),
        }
    }
}

/// Prometheus' `otlptranslator/prometheus.NormalizeLabel`, as Loki 3.3
/// vendors it: every rune that is not a letter or digit becomes `_`, then
/// a name starting with a digit gets `key_` and one starting with a
/// single `_` gets `key`. (Letters and digits beyond ASCII are Rust's
/// alphabetic and numeric, close to Go's `unicode.IsLetter`/`IsDigit`.)
fn normalize_label(name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    let label: String = name
        .chars()
        .map(|c| if c.is_alphabetic() || c.is_numeric() { c } else { '_' })
        .collect();
    if label.as_bytes()[0].is_ascii_digit() {
        format!("key_{label}")
    } else if label.starts_with('_') && !label.starts_with("__") {
        format!("key{label}")
    } else {
        label
    }
}

/// `attributeToLabels`: a map value flattens into one label per entry,
/// its keys joined to the prefix with `_`; anything else is one label
/// holding `AsString()`.
fn attribute_to_labels(key: &str, value: Option<&AnyValue>, prefix: &str) -> Vec<(String, String)> {
    let name = if prefix.is_empty() {
        normalize_label(key)
    } else {
        normalize_label(&format!("{prefix}_{key}"))
    };
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::KvlistValue(list)) => list
            .values
            .iter()
            .flat_map(|kv| attribute_to_labels(&kv.key, kv.value.as_ref(), &name))
            .collect(),
        _ => vec![(name, any_text(value))],
    }
}

/// An OTLP value as text, the way `pcommon.Value.AsString` (pdata v1.12)
/// renders it: a double as `encoding/json` would (`1e+21`, `2.5e-7`;
/// `json: unsupported value: NaN` when not finite), bytes as standard
/// base64, a map or a slice as the `encoding/json` of its raw value (map
/// keys sorted; empty when it holds a non-finite double).
pub fn any_text(value: Option<&AnyValue>) -> String {
    use base64::Engine as _;
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) if d.is_finite() => json::float(*d),
        Some(any_value::Value::DoubleValue(d)) => {
            format!("json: unsupported value: {}", strconv::format_float_g(*d))
        }
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::BytesValue(b)) => base64::engine::general_purpose::STANDARD.encode(b),
        Some(v @ (any_value::Value::KvlistValue(_) | any_value::Value::ArrayValue(_))) => {
            raw_json(Some(v)).unwrap_or_default()
        }
        // Profiles' string-table index is not in pdata v1.12: empty.
        Some(any_value::Value::StringValueStrindex(_)) | None => String::new(),
    }
}

/// `json.Marshal(value.AsRaw())`, `None` where Go's marshaller fails.
fn raw_json(value: Option<&any_value::Value>) -> Option<String> {
    use base64::Engine as _;
    Some(match value {
        None | Some(any_value::Value::StringValueStrindex(_)) => "null".into(),
        Some(any_value::Value::StringValue(s)) => json::string(s),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) if d.is_finite() => json::float(*d),
        Some(any_value::Value::DoubleValue(_)) => return None,
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::BytesValue(b)) => {
            format!("\"{}\"", base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Option<Vec<String>> = a.values.iter().map(|v| raw_json(v.value.as_ref())).collect();
            format!("[{}]", items?.join(","))
        }
        Some(any_value::Value::KvlistValue(list)) => {
            // `AsRaw` builds a Go map: a repeated key keeps its last value.
            let mut map = BTreeMap::new();
            for kv in &list.values {
                map.insert(kv.key.as_str(), kv.value.as_ref().and_then(|v| v.value.as_ref()));
            }
            let mut members = Vec::with_capacity(map.len());
            for (k, v) in map {
                members.push(format!("{}:{}", json::string(k), raw_json(v)?));
            }
            format!("{{{}}}", members.join(","))
        }
    })
}

pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope, KeyValue, KeyValueList};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn text(key: &str, value: &str) -> KeyValue {
        kv(key, any_value::Value::StringValue(value.into()))
    }

    fn stored(resource: Vec<KeyValue>, scope: Option<InstrumentationScope>, records: Vec<LogRecord>) -> Vec<LogEntry> {
        let store = LogStore::default();
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope,
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        store.ingest_otlp(request, |_| false);
        store.entries.lock().unwrap().clone()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    /// Loki v3.3.2 `pkg/loghttp/push/otlp.go` `otlpLogToPushEntry`: which
    /// record fields become structured metadata, and when.
    #[test]
    fn record_fields_become_structured_metadata_as_loki_adds_them() {
        let record = LogRecord {
            time_unix_nano: 10,
            observed_time_unix_nano: 20,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue("hello".into())),
            }),
            attributes: vec![
                text("http.method", "GET"),
                text("1st", "x"),
                text("_p", "y"),
                kv("raw", any_value::Value::BytesValue(vec![0xfb, 0xff])),
                kv("big", any_value::Value::DoubleValue(1e21)),
                kv(
                    "list",
                    any_value::Value::ArrayValue(ArrayValue {
                        values: vec![
                            AnyValue {
                                value: Some(any_value::Value::IntValue(1)),
                            },
                            AnyValue {
                                value: Some(any_value::Value::StringValue("<a>".into())),
                            },
                        ],
                    }),
                ),
            ],
            dropped_attributes_count: 3,
            flags: 1,
            trace_id: vec![0xab; 16],
            span_id: vec![0; 8],
            ..Default::default()
        };
        let bare = LogRecord {
            observed_time_unix_nano: 30,
            trace_id: vec![0; 16],
            ..Default::default()
        };
        let cfg = kv(
            "cfg",
            any_value::Value::KvlistValue(KeyValueList {
                values: vec![
                    kv("a", any_value::Value::IntValue(1)),
                    kv("b.c", any_value::Value::BoolValue(true)),
                ],
            }),
        );
        let scope = InstrumentationScope {
            name: "lib".into(),
            attributes: vec![text("scope.attr", "x")],
            dropped_attributes_count: 2,
            ..Default::default()
        };
        let entries = stored(
            vec![
                text("service.name", "svc"),
                text("k8s.pod.name", "p"),
                text("host.name", "h"),
                cfg,
            ],
            Some(scope),
            vec![record, bare],
        );
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0].labels,
            labels(&[("service_name", "svc"), ("k8s_pod_name", "p")])
        );
        assert_eq!((entries[0].ts_ns, entries[0].line.as_str()), (10, "hello"));
        let scope_meta = [
            ("host_name", "h"),
            ("cfg_a", "1"),
            ("cfg_b_c", "true"),
            ("scope_attr", "x"),
            ("scope_name", "lib"),
            ("scope_dropped_attributes_count", "2"),
        ];
        let mut first = vec![
            ("http_method", "GET"),
            ("key_1st", "x"),
            ("key_p", "y"),
            ("raw", "+/8="),
            ("big", "1e+21"),
            ("list", r#"[1,"\u003ca\u003e"]"#),
            ("observed_timestamp", "20"),
            ("severity_number", "9"),
            ("severity_text", "INFO"),
            ("dropped_attributes_count", "3"),
            ("flags", "1"),
            ("trace_id", "abababababababababababababababab"),
        ];
        first.extend(scope_meta);
        assert_eq!(entries[0].metadata, labels(&first));
        // No observed_timestamp when it is the entry's time; zero ids,
        // severity and flags leave nothing.
        assert_eq!(entries[1].ts_ns, 30);
        assert_eq!(entries[1].metadata, labels(&scope_meta));
    }

    #[test]
    fn service_name_is_discovered_from_the_index_labels() {
        let entries = stored(
            vec![text("service.name", ""), text("k8s.container.name", "c")],
            None,
            vec![LogRecord::default()],
        );
        assert_eq!(
            entries[0].labels,
            labels(&[("service_name", "c"), ("k8s_container_name", "c")])
        );
        let entries = stored(vec![text("host.name", "h")], None, vec![LogRecord::default()]);
        assert_eq!(entries[0].labels, labels(&[("service_name", "unknown_service")]));
    }

    /// `pcommon.Value.AsString` of each kind.
    #[test]
    fn values_as_pdata_prints_them() {
        let text = |v: any_value::Value| any_text(Some(&AnyValue { value: Some(v) }));
        assert_eq!(text(any_value::Value::DoubleValue(2.5e-7)), "2.5e-7");
        assert_eq!(text(any_value::Value::DoubleValue(3.0)), "3");
        assert_eq!(
            text(any_value::Value::DoubleValue(f64::NAN)),
            "json: unsupported value: NaN"
        );
        assert_eq!(text(any_value::Value::BytesValue(vec![1, 2, 3])), "AQID");
        let map = any_value::Value::KvlistValue(KeyValueList {
            values: vec![
                kv("z", any_value::Value::StringValue("1".into())),
                kv("a", any_value::Value::DoubleValue(0.5)),
                KeyValue {
                    key: "e".into(),
                    ..Default::default()
                },
            ],
        });
        assert_eq!(text(map), r#"{"a":0.5,"e":null,"z":"1"}"#);
        let with_nan = any_value::Value::ArrayValue(ArrayValue {
            values: vec![AnyValue {
                value: Some(any_value::Value::DoubleValue(f64::NAN)),
            }],
        });
        assert_eq!(text(with_nan), "");
        assert_eq!(any_text(None), "");
    }
}
