//! The reference stack's log store, as Loki 3.3 keeps what it is sent: push
//! API streams (at least one label; `service_name` discovered when absent)
//! and OTLP logs mapped the way Loki's `/otlp/v1/logs` maps them (default
//! resource attributes become index labels, everything else structured
//! metadata, `trace_id`/`span_id` in hex). See
//! `shared/reference/api/05-loki.md` §5.1–5.2.
//!
//! Uses: lang::logql (selectors and the pipeline), ids (hex).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use tokio::time::Instant;

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

    /// Stores OTLP logs as Loki's OTLP endpoint maps them.
    pub fn ingest_otlp(&self, request: ExportLogsServiceRequest, drop: impl Fn(&str) -> bool + Copy) {
        let now_ns = unix_nanos();
        for rl in request.resource_logs {
            let mut labels = Labels::new();
            let mut resource_meta = Labels::new();
            for kv in rl.resource.map(|r| r.attributes).unwrap_or_default() {
                let value = any_text(kv.value.as_ref());
                if INDEXED_RESOURCE_ATTRIBUTES.contains(&kv.key.as_str()) {
                    labels.insert(sanitize(&kv.key), value);
                } else {
                    resource_meta.insert(sanitize(&kv.key), value);
                }
            }
            labels
                .entry("service_name".into())
                .or_insert_with(|| "unknown_service".into());
            for sl in rl.scope_logs {
                let mut scope_meta = resource_meta.clone();
                if let Some(scope) = &sl.scope {
                    if !scope.name.is_empty() {
                        scope_meta.insert("scope_name".into(), scope.name.clone());
                    }
                    if !scope.version.is_empty() {
                        scope_meta.insert("scope_version".into(), scope.version.clone());
                    }
                }
                let entries = sl
                    .log_records
                    .into_iter()
                    .map(|record| {
                        let mut metadata = scope_meta.clone();
                        flatten_attributes("", &record.attributes, &mut metadata);
                        if !record.trace_id.is_empty() {
                            metadata.insert("trace_id".into(), hex(&record.trace_id));
                        }
                        if !record.span_id.is_empty() {
                            metadata.insert("span_id".into(), hex(&record.span_id));
                        }
                        if !record.severity_text.is_empty() {
                            metadata.insert("severity_text".into(), record.severity_text.clone());
                        }
                        if record.severity_number != 0 {
                            metadata.insert("severity_number".into(), record.severity_number.to_string());
                        }
                        let ts = [record.time_unix_nano, record.observed_time_unix_nano]
                            .into_iter()
                            .find(|&t| t != 0)
                            .unwrap_or(now_ns);
                        (ts, any_text(record.body.as_ref()), metadata)
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
    pub fn label_names(&self) -> Vec<String> {
        let entries = self.entries.lock().expect("log store lock");
        let mut names: Vec<String> = entries.iter().flat_map(|e| e.labels.keys().cloned()).collect();
        names.sort();
        names.dedup();
        names
    }

    pub fn counts(&self) -> LogCounts {
        LogCounts {
            entries_received: self.received.load(Ordering::Relaxed),
            entries_stored: self.stored.load(Ordering::Relaxed),
        }
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect()
}

fn flatten_attributes(prefix: &str, attrs: &[KeyValue], out: &mut Labels) {
    for kv in attrs {
        let key = if prefix.is_empty() {
            sanitize(&kv.key)
        } else {
            format!("{prefix}_{}", sanitize(&kv.key))
        };
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::KvlistValue(list)) => flatten_attributes(&key, &list.values, out),
            _ => {
                out.insert(key, any_text(kv.value.as_ref()));
            }
        }
    }
}

/// An OTLP value as text, the way `pcommon.Value.AsString` renders it.
pub fn any_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex(b),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
