//! The reference stack's Tempo query API, in the shapes of Tempo 2.6.1
//! (`shared/reference/api/03-tempo.md`): `/ready`, `/api/echo`,
//! `/api/status/buildinfo`, `/api/traces/<id>` (v1: `batches`, base64 ids,
//! 404 with an empty body), `/api/v2/traces/<id>` (empty `trace` when
//! unknown) and `/api/search` with a TraceQL subset: one spanset of
//! `&&`-joined equality conditions on `resource.*`, `span.*`, `.*` and
//! `name`, hex ids with leading zeros trimmed.
//!
//! Uses: ids, traces, state.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use serde_json::{Value, json};

use crate::faults::Role;
use crate::ids::TraceId;
use crate::state::SimState;
use crate::traces::{StoredTrace, attribute_text};

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/api/echo", get(|| async { "echo" }))
        .route("/api/status/buildinfo", get(buildinfo))
        .route("/api/traces/{id}", get(trace_v1))
        .route("/api/v2/traces/{id}", get(trace_v2))
        .route("/api/search", get(search))
        .with_state(state)
}

async fn ready(State(state): State<Arc<SimState>>) -> Response {
    if state.faults().not_ready.contains(&Role::Tempo) {
        // What Tempo answers while its ring warms up.
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Ingester not ready: waiting for 15s after being ready",
        )
            .into_response()
    } else {
        "ready".into_response()
    }
}

async fn buildinfo() -> Json<Value> {
    Json(json!({
        "version": concat!("pillars-sim-", env!("CARGO_PKG_VERSION")),
        "revision": "",
        "branch": "",
        "buildDate": "",
        "buildUser": "",
        "goVersion": "",
    }))
}

fn parse_id(text: &str) -> Result<TraceId, (StatusCode, String)> {
    TraceId::parse_tempo(text).map_err(|e| (StatusCode::BAD_REQUEST, e))
}

async fn trace_v1(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(bad) => return bad.into_response(),
    };
    match state.traces.by_id(id, &state.faults()) {
        // Tempo's combiner: all jobs 404 -> 404 with no body.
        None => StatusCode::NOT_FOUND.into_response(),
        Some(trace) => Json(json!({ "batches": batches_json(&trace.batches) })).into_response(),
    }
}

async fn trace_v2(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(bad) => return bad.into_response(),
    };
    let trace = match state.traces.by_id(id, &state.faults()) {
        None => json!({}),
        Some(trace) => json!({ "resourceSpans": batches_json(&trace.batches) }),
    };
    Json(json!({ "trace": trace, "metrics": {} })).into_response()
}

fn batches_json(batches: &[ResourceSpans]) -> Vec<Value> {
    batches
        .iter()
        .map(|rs| {
            json!({
                "resource": { "attributes": attributes_json(rs.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default()) },
                "scopeSpans": rs.scope_spans.iter().map(|ss| json!({
                    "scope": {
                        "name": ss.scope.as_ref().map(|s| s.name.as_str()).unwrap_or_default(),
                        "version": ss.scope.as_ref().map(|s| s.version.as_str()).unwrap_or_default(),
                    },
                    "spans": ss.spans.iter().map(span_json).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// A span as gogo jsonpb writes it: base64 ids, string enums, 64-bit
/// integers as strings, empty fields left out.
fn span_json(span: &Span) -> Value {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut obj = json!({
        "traceId": b64(&span.trace_id),
        "spanId": b64(&span.span_id),
        "name": span.name,
        "kind": span_kind_name(span.kind),
        "startTimeUnixNano": span.start_time_unix_nano.to_string(),
        "endTimeUnixNano": span.end_time_unix_nano.to_string(),
        "attributes": attributes_json(&span.attributes),
        "status": {},
    });
    if !span.parent_span_id.is_empty() {
        obj["parentSpanId"] = b64(&span.parent_span_id).into();
    }
    obj
}

fn span_kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

fn attributes_json(attrs: &[KeyValue]) -> Vec<Value> {
    attrs
        .iter()
        .map(|kv| json!({ "key": kv.key, "value": any_value_json(kv.value.as_ref()) }))
        .collect()
}

fn any_value_json(value: Option<&AnyValue>) -> Value {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => json!({ "stringValue": s }),
        Some(any_value::Value::IntValue(i)) => json!({ "intValue": i.to_string() }),
        Some(any_value::Value::DoubleValue(d)) => json!({ "doubleValue": d }),
        Some(any_value::Value::BoolValue(b)) => json!({ "boolValue": b }),
        Some(other) => json!({ "stringValue": format!("{other:?}") }),
        None => json!({}),
    }
}

/// One condition of the supported TraceQL subset.
#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Resource(String, String),
    Span(String, String),
    Any(String, String),
    Name(String),
}

impl Condition {
    fn matches(&self, rs: &ResourceSpans, span: &Span) -> bool {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        let eq = |attrs: &[KeyValue], key: &str, want: &str| attribute_text(attrs, key).as_deref() == Some(want);
        match self {
            Condition::Resource(k, v) => eq(resource, k, v),
            Condition::Span(k, v) => eq(&span.attributes, k, v),
            Condition::Any(k, v) => eq(&span.attributes, k, v) || eq(resource, k, v),
            Condition::Name(v) => span.name == *v,
        }
    }
}

/// Parses `{ a = "x" && b = 3 }`; `{}` matches every trace.
fn parse_traceql(q: &str) -> Result<Vec<Condition>, String> {
    let inner = q
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| format!("expected a single spanset `{{ … }}`, got {q:?}"))?
        .trim();
    if inner.is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split("&&")
        .map(|cond| {
            let (lhs, rhs) = cond
                .split_once('=')
                .ok_or_else(|| format!("unsupported condition {:?}: only `=` is served", cond.trim()))?;
            let (lhs, rhs) = (lhs.trim(), rhs.trim());
            if lhs.ends_with(['!', '<', '>', '=', '~']) || rhs.starts_with(['=', '~']) {
                return Err(format!("unsupported operator in {:?}: only `=` is served", cond.trim()));
            }
            let value = match rhs.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(s) => s.to_owned(),
                None if rhs.parse::<f64>().is_ok() || rhs == "true" || rhs == "false" => rhs.to_owned(),
                None => return Err(format!("unsupported value {rhs:?}")),
            };
            Ok(if let Some(k) = lhs.strip_prefix("resource.") {
                Condition::Resource(k.to_owned(), value)
            } else if let Some(k) = lhs.strip_prefix("span.") {
                Condition::Span(k.to_owned(), value)
            } else if let Some(k) = lhs.strip_prefix('.') {
                Condition::Any(k.to_owned(), value)
            } else if lhs == "name" {
                Condition::Name(value)
            } else {
                return Err(format!("unsupported attribute {lhs:?}"));
            })
        })
        .collect()
}

async fn search(State(state): State<Arc<SimState>>, Query(params): Query<HashMap<String, String>>) -> Response {
    let bad = |msg: String| (StatusCode::BAD_REQUEST, msg).into_response();
    let conditions = match parse_traceql(params.get("q").map(String::as_str).unwrap_or("{}")) {
        Ok(c) => c,
        Err(e) => return bad(format!("invalid TraceQL query: {e}")),
    };
    let limit: usize = match params.get("limit").map(|l| l.parse()) {
        None => 20,
        Some(Ok(l)) => l,
        Some(Err(_)) => return bad("invalid limit".into()),
    };
    let seconds = |key: &str| params.get(key).map(|v| v.parse::<u64>());
    let range = match (seconds("start"), seconds("end")) {
        (None, None) => None,
        (Some(Ok(s)), Some(Ok(e))) if s <= e => Some((s, e)),
        _ => return bad("invalid start/end: both are unix seconds, start <= end".into()),
    };

    let mut hits: Vec<(TraceId, StoredTrace, Vec<&Span>)> = Vec::new();
    let searchable = state.traces.searchable(state.search_idle, &state.faults());
    for (id, trace) in &searchable {
        if let Some((start, end)) = range {
            let t = trace.start_unix_nanos() / 1_000_000_000;
            if t < start || t > end {
                continue;
            }
        }
        let matched: Vec<&Span> = trace
            .spans()
            .filter(|(rs, s)| conditions.iter().all(|c| c.matches(rs, s)))
            .map(|(_, s)| s)
            .collect();
        if !matched.is_empty() {
            hits.push((*id, trace.clone(), matched));
        }
    }
    hits.sort_by_key(|(_, t, _)| std::cmp::Reverse(t.start_unix_nanos()));
    let inspected = searchable.len();
    let traces: Vec<Value> = hits
        .iter()
        .take(limit)
        .map(|(id, trace, matched)| search_hit(*id, trace, matched))
        .collect();
    Json(json!({
        "traces": traces,
        "metrics": { "inspectedTraces": inspected, "inspectedBytes": "0", "totalBlocks": 0 },
    }))
    .into_response()
}

fn search_hit(id: TraceId, trace: &StoredTrace, matched: &[&Span]) -> Value {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let start = trace.start_unix_nanos();
    let mut obj = json!({
        // Tempo trims leading zeros (pkg/util/traceid.go).
        "traceID": id.trimmed_hex(),
        "startTimeUnixNano": start.to_string(),
        "durationMs": (trace.end_unix_nanos().saturating_sub(start)) / 1_000_000,
        "spanSets": [{
            "spans": matched.iter().take(3).map(|s| json!({
                "spanID": hex(&s.span_id),
                "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                "durationNanos": s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano).to_string(),
            })).collect::<Vec<_>>(),
            "matched": matched.len(),
        }],
    });
    // Root fields are absent until the root span has arrived.
    if let Some((rs, root)) = trace.root() {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        if let Some(service) = attribute_text(resource, "service.name") {
            obj["rootServiceName"] = service.into();
        }
        obj["rootTraceName"] = root.name.clone().into();
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceql_subset_parses() {
        let c =
            parse_traceql(r#"{ resource.service.name = "svc" && span.pillars.seq = 3 && name = "GET /" }"#).unwrap();
        assert_eq!(
            c,
            vec![
                Condition::Resource("service.name".into(), "svc".into()),
                Condition::Span("pillars.seq".into(), "3".into()),
                Condition::Name("GET /".into()),
            ]
        );
        assert_eq!(parse_traceql("{}").unwrap(), vec![]);
        assert!(parse_traceql(r#"{ span.a != "x" }"#).is_err());
        assert!(parse_traceql(r#"{ span.a =~ "x" }"#).is_err());
        assert!(parse_traceql("span.a = 1").is_err());
    }
}
