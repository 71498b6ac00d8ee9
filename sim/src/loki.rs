//! The reference stack's Loki API (Loki 3.3.2 shapes,
//! `shared/reference/api/05-loki.md`): `POST /loki/api/v1/push` (JSON, or
//! snappy-compressed protobuf), `POST /otlp/v1/logs`, `GET
//! /loki/api/v1/query_range`, `/query`, `/labels`, `/ready`.
//!
//! With `X-Loki-Response-Encoding-Flags: categorize-labels` a result's
//! `stream` holds only index labels and each value carries its structured
//! metadata and parsed labels; without it they are merged into `stream`,
//! which splits one stream into one result per distinct label set.
//!
//! Uses: logs, logql, state, faults, otlp_body.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use serde_json::{Value, json};

use crate::faults::{Role, drops};
use crate::logql;
use crate::logs::{Entry, LogHit, unix_nanos};
use crate::otlp_body;
use crate::state::SimState;

pub const CATEGORIZE_LABELS: &str = "categorize-labels";
const ENCODING_FLAGS: &str = "x-loki-response-encoding-flags";
const MAX_BODY: usize = 16 * 1024 * 1024;

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/loki/api/v1/push", post(push))
        .route("/otlp/v1/logs", post(otlp_logs))
        .route("/loki/api/v1/query_range", get(query_range))
        .route("/loki/api/v1/query", get(query_instant))
        .route("/loki/api/v1/labels", get(labels))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn ready(State(state): State<Arc<SimState>>) -> Response {
    state.readiness(Role::Loki, "Ingester not ready: waiting for 15s after being ready")
}

fn bad(msg: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, msg.into()).into_response()
}

// logproto.PushRequest, as prost structs (pkg/push/push.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<prost_types_timestamp::Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
pub mod prost_types_timestamp {
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

/// Parses `{a="b", c="d"}`, the label string of a protobuf push.
fn parse_label_string(text: &str) -> Result<BTreeMap<String, String>, String> {
    let query = logql::parse(text)?;
    query
        .selector
        .into_iter()
        .map(|m| match m.op {
            logql::MatchOp::Eq(v) => Ok((m.name, v)),
            _ => Err(format!("labels {text:?} must use `=` only")),
        })
        .collect()
}

type Entries = Vec<Entry>;
/// A stream's labels and entries.
type Stream = (BTreeMap<String, String>, Entries);

fn decode_json_push(body: &[u8]) -> Result<Vec<Stream>, String> {
    #[derive(serde::Deserialize)]
    struct Push {
        streams: Vec<JsonStream>,
    }
    #[derive(serde::Deserialize)]
    struct JsonStream {
        stream: BTreeMap<String, String>,
        values: Vec<Vec<Value>>,
    }
    let push: Push = serde_json::from_slice(body).map_err(|e| format!("loghttp.PushRequest: {e}"))?;
    push.streams
        .into_iter()
        .map(|s| {
            let entries = s
                .values
                .into_iter()
                .map(|v| {
                    let ts = v
                        .first()
                        .and_then(Value::as_str)
                        .ok_or("timestamps must be strings of unix nanoseconds")?
                        .parse::<u64>()
                        .map_err(|e| format!("bad timestamp: {e}"))?;
                    let line = v.get(1).and_then(Value::as_str).ok_or("missing log line")?.to_owned();
                    let metadata = match v.get(2) {
                        None => BTreeMap::new(),
                        Some(m) => {
                            serde_json::from_value(m.clone()).map_err(|e| format!("structured metadata: {e}"))?
                        }
                    };
                    Ok::<_, String>((ts, line, metadata))
                })
                .collect::<Result<Entries, String>>()?;
            Ok((s.stream, entries))
        })
        .collect()
}

fn decode_proto_push(body: &[u8]) -> Result<Vec<Stream>, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    let push = PushRequest::decode(raw.as_slice()).map_err(|e| format!("logproto.PushRequest: {e}"))?;
    push.streams
        .into_iter()
        .map(|s| {
            let labels = parse_label_string(&s.labels)?;
            let entries = s
                .entries
                .into_iter()
                .map(|e| {
                    let ts = e
                        .timestamp
                        .map(|t| t.seconds.max(0) as u64 * 1_000_000_000 + t.nanos.max(0) as u64)
                        .unwrap_or(0);
                    let metadata = e.structured_metadata.into_iter().map(|p| (p.name, p.value)).collect();
                    (ts, e.line, metadata)
                })
                .collect();
            Ok((labels, entries))
        })
        .collect()
}

async fn push(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = state.reject_ingest() {
        return refusal;
    }
    let streams = if otlp_body::is_json(&headers) {
        decode_json_push(&body)
    } else {
        decode_proto_push(&body)
    };
    let streams = match streams {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let ratio = state.faults().drop_logs;
    for (labels, entries) in streams {
        if let Err(e) = state.logs.push(labels, entries, |line| drops(ratio, line.as_bytes())) {
            return bad(e.to_string());
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Stores OTLP logs as Loki's OTLP endpoint keeps them, whether they came
/// here or through the collector.
pub fn ingest(state: &SimState, request: ExportLogsServiceRequest) {
    let ratio = state.faults().drop_logs;
    state.logs.ingest_otlp(request, |line| drops(ratio, line.as_bytes()));
}

async fn otlp_logs(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = state.reject_ingest() {
        return refusal;
    }
    match otlp_body::decode::<ExportLogsServiceRequest>(&headers, &body) {
        Ok(request) => {
            ingest(&state, request);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// Loki accepts unix nanoseconds, float seconds or RFC 3339.
fn parse_time(text: &str) -> Result<u64, String> {
    if text.contains('T') {
        let t = humantime::parse_rfc3339_weak(text).map_err(|e| format!("bad time {text:?}: {e}"))?;
        return Ok(t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0));
    }
    if text.contains('.') {
        let secs: f64 = text.parse().map_err(|_| format!("bad time {text:?}"))?;
        return Ok((secs * 1e9) as u64);
    }
    let n: u64 = text.parse().map_err(|_| format!("bad time {text:?}"))?;
    // Ten digits or fewer are seconds.
    Ok(if n < 10_000_000_000 { n * 1_000_000_000 } else { n })
}

async fn query_range(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let now = unix_nanos();
    let start = params
        .get("start")
        .map(|s| parse_time(s))
        .unwrap_or(Ok(now - 3_600_000_000_000));
    let end = params.get("end").map(|s| parse_time(s)).unwrap_or(Ok(now));
    match (start, end) {
        (Ok(start), Ok(end)) => run_query(&state, &headers, &params, (start, end)),
        (Err(e), _) | (_, Err(e)) => bad(e),
    }
}

async fn query_instant(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let time = match params.get("time").map(|s| parse_time(s)).unwrap_or(Ok(unix_nanos())) {
        Ok(t) => t,
        Err(e) => return bad(e),
    };
    run_query(
        &state,
        &headers,
        &params,
        (time.saturating_sub(3_600_000_000_000), time + 1),
    )
}

fn run_query(state: &SimState, headers: &HeaderMap, params: &HashMap<String, String>, range: (u64, u64)) -> Response {
    let Some(text) = params.get("query") else {
        return bad("query parameter is required");
    };
    let query = match logql::parse(text) {
        Ok(q) => q,
        Err(e) => return bad(format!("parse error: {e}")),
    };
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(l)) if l <= 5000 => l,
        _ => return bad("limit must be a number up to max_entries_limit_per_query (5000)"),
    };
    let backward = params.get("direction").map(String::as_str) != Some("forward");
    let hits = state.logs.query(&query, range, limit, backward, state.faults().delay);
    let categorize = headers
        .get(ENCODING_FLAGS)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|f| f.trim() == CATEGORIZE_LABELS));
    let result = if categorize { categorized(&hits) } else { merged(&hits) };
    let mut data = json!({ "resultType": "streams", "result": result, "stats": {} });
    if categorize {
        data["encodingFlags"] = json!([CATEGORIZE_LABELS]);
    }
    let mut response = Json(json!({ "status": "success", "data": data })).into_response();
    if categorize {
        response
            .headers_mut()
            .insert(ENCODING_FLAGS, HeaderValue::from_static(CATEGORIZE_LABELS));
    }
    response
}

fn categorized(hits: &[LogHit]) -> Vec<Value> {
    let mut streams: Vec<(BTreeMap<String, String>, Vec<Value>)> = Vec::new();
    for hit in hits {
        let mut categories = serde_json::Map::new();
        if !hit.metadata.is_empty() {
            categories.insert("structuredMetadata".into(), json!(hit.metadata));
        }
        if !hit.parsed.is_empty() {
            categories.insert("parsed".into(), json!(hit.parsed));
        }
        let value = if categories.is_empty() {
            json!([hit.ts_ns.to_string(), hit.line])
        } else {
            json!([hit.ts_ns.to_string(), hit.line, categories])
        };
        match streams.iter_mut().find(|(labels, _)| *labels == hit.labels) {
            Some((_, values)) => values.push(value),
            None => streams.push((hit.labels.clone(), vec![value])),
        }
    }
    streams
        .into_iter()
        .map(|(stream, values)| json!({ "stream": stream, "values": values }))
        .collect()
}

fn merged(hits: &[LogHit]) -> Vec<Value> {
    let mut streams: Vec<(BTreeMap<String, String>, Vec<Value>)> = Vec::new();
    for hit in hits {
        let mut labels = hit.labels.clone();
        labels.extend(hit.metadata.clone());
        labels.extend(hit.parsed.clone());
        let value = json!([hit.ts_ns.to_string(), hit.line]);
        match streams.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, values)) => values.push(value),
            None => streams.push((labels, vec![value])),
        }
    }
    streams
        .into_iter()
        .map(|(stream, values)| json!({ "stream": stream, "values": values }))
        .collect()
}

async fn labels(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(json!({ "status": "success", "data": state.logs.label_names() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_format() {
        assert_eq!(parse_time("1735689600").unwrap(), 1_735_689_600_000_000_000);
        assert_eq!(parse_time("1735689600000000001").unwrap(), 1_735_689_600_000_000_001);
        assert_eq!(parse_time("1735689600.5").unwrap(), 1_735_689_600_500_000_000);
        assert_eq!(parse_time("2025-01-01T00:00:00Z").unwrap(), 1_735_689_600_000_000_000);
        assert!(parse_time("soon").is_err());
    }

    #[test]
    fn the_reference_push_example_decodes() {
        let body = include_bytes!("../../tests/fixtures/reference/loki-push.json");
        let streams = decode_json_push(body).unwrap();
        assert!(!streams.is_empty());
        assert!(
            streams
                .iter()
                .all(|(labels, entries)| !labels.is_empty() && !entries.is_empty())
        );
    }

    #[test]
    fn protobuf_push_round_trips_through_snappy() {
        let push = PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{service_name="svc", run="r1"}"#.into(),
                entries: vec![EntryAdapter {
                    timestamp: Some(prost_types_timestamp::Timestamp { seconds: 2, nanos: 5 }),
                    line: "hello".into(),
                    structured_metadata: vec![LabelPairAdapter {
                        name: "trace_id".into(),
                        value: "abc".into(),
                    }],
                }],
            }],
        };
        let body = snap::raw::Encoder::new().compress_vec(&push.encode_to_vec()).unwrap();
        let streams = decode_proto_push(&body).unwrap();
        assert_eq!(streams[0].0["run"], "r1");
        assert_eq!(streams[0].1[0].0, 2_000_000_005);
        assert_eq!(streams[0].1[0].2["trace_id"], "abc");
    }
}
