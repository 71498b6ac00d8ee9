//! The reference stack's Loki API (Loki 3.3.2 shapes,
//! `shared/reference/api/05-loki.md`): `POST /loki/api/v1/push` (JSON, or
//! snappy-compressed protobuf), `POST /otlp/v1/logs`, `GET /ready`, and
//! the reads `/loki/api/v1/query_range`, `/query`, `/labels` (and
//! `/label`), `/label/{name}/values` and `/series`, by GET or POST.
//!
//! With `X-Loki-Response-Encoding-Flags: categorize-labels` a result's
//! `stream` holds only index labels and each value carries its structured
//! metadata and parsed labels; without it they are merged into `stream`,
//! which splits one stream into one result per distinct label set.
//!
//! Queries are read as Loki 3.3.2's query frontend reads them
//! (`pkg/querier/queryrange/codec.go`, `pkg/loghttp/{query,params}.go`,
//! `pkg/util/server/error.go`): the form as Go's `Request.ParseForm`
//! (a POST's form body, then the URL), then `loghttp.ParseRangeQuery`'s
//! parameter checks, then LogQL, then the entries limit and the query
//! length. Every rejection is Loki's `server.WriteError`: 400,
//! `text/plain; charset=utf-8`, `nosniff`, the message without a newline;
//! every answer `application/json; charset=UTF-8`, `status` first. The
//! metric queries `loki_metric` serves are
//! answered as `matrix` and `vector`; other valid LogQL the reference
//! stack does not evaluate (other metric queries, some stages) is a 501
//! that says so.
//!
//! Uses: logs, lang::logql, go (strconv, time, model, url), state, faults,
//! otlp_body, loki_metric.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use serde_json::{Value, json};

use crate::faults::{Role, drops};
use crate::go::{model, strconv, time, url};
use crate::lang::logql::{self, LogQuery, MAX_ENTRIES_LIMIT, ParseError, QueryKind};
use crate::logs::{Entry, LogHit, unix_nanos};
use crate::state::SimState;
use crate::{loki_metric, otlp_body};

pub const CATEGORIZE_LABELS: &str = "categorize-labels";
const ENCODING_FLAGS: &str = "x-loki-response-encoding-flags";
const MAX_BODY: usize = 16 * 1024 * 1024;

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/loki/api/v1/push", post(push))
        .route("/otlp/v1/logs", post(otlp_logs))
        // Reads take GET and POST (`pkg/loki/modules.go`), not HEAD.
        .route("/loki/api/v1/query_range", read(get(query_range).post(query_range)))
        .route("/loki/api/v1/query", read(get(query_instant).post(query_instant)))
        .route("/loki/api/v1/labels", read(get(labels).post(labels)))
        .route("/loki/api/v1/label", read(get(labels).post(labels)))
        .route(
            "/loki/api/v1/label/{name}/values",
            read(get(label_values).post(label_values)),
        )
        .route("/loki/api/v1/series", read(get(series).post(series)))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn ready(State(state): State<Arc<SimState>>) -> Response {
    state.readiness(Role::Loki, "Ingester not ready: waiting for 15s after being ready")
}

/// A read route: gorilla mux answers a method it was not given (HEAD
/// too, which axum's `get` would serve) with a bare 405.
fn read(route: MethodRouter<Arc<SimState>>) -> MethodRouter<Arc<SimState>> {
    route.head(method_not_allowed).fallback(method_not_allowed)
}

async fn method_not_allowed() -> StatusCode {
    StatusCode::METHOD_NOT_ALLOWED
}

/// Gorilla mux's default for an unrouted path, Go's `http.NotFound`.
async fn not_found() -> Response {
    loki_error(StatusCode::NOT_FOUND, "404 page not found\n")
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
            let labels = logql::parse_labels(&s.labels).map_err(|e| e.to_string())?;
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

/// Loki's `server.WriteError`: the status, `text/plain`, `nosniff`, and
/// the message with no trailing newline.
fn loki_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        msg.into(),
    )
        .into_response()
}

/// A read's answer as the query frontend encodes it
/// (`pkg/querier/queryrange/codec.go` `encodeResponseJSON`): `status`
/// first, a trailing newline, and JSON with `charset=UTF-8`.
fn success(data: Option<&Value>) -> Response {
    let body = match data {
        Some(data) => format!("{{\"status\":\"success\",\"data\":{data}}}\n"),
        None => "{\"status\":\"success\"}\n".to_owned(),
    };
    json_response(body)
}

/// A metric query's body, `status` first and no trailing newline, as
/// `LokiPromResponse.encodeTo` writes it (`pkg/querier/queryrange/prometheus.go`).
fn prom_response(body: &Value) -> Response {
    json_response(format!("{{\"status\":{},\"data\":{}}}", body["status"], body["data"]))
}

fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json; charset=UTF-8")], body).into_response()
}

fn rejected(msg: impl Into<String>) -> Response {
    loki_error(StatusCode::BAD_REQUEST, msg)
}

fn unserved(e: &ParseError) -> Response {
    loki_error(StatusCode::NOT_IMPLEMENTED, e.to_string())
}

/// `max_query_length`'s default, 721h.
const MAX_QUERY_LENGTH_NS: i128 = 721 * 3_600_000_000_000;
/// `query_ingesters_within`'s default, 3h: queries reaching into it build
/// their pipeline in the ingester even when no stream matches.
const QUERY_INGESTERS_WITHIN_NS: i128 = 3 * 3_600_000_000_000;
const NS_PER_SEC: i128 = 1_000_000_000;

/// Form values as Go's `url.ParseQuery` reads them; `get` is
/// `Values.Get`, the first value or "".
struct Form(Vec<(String, String)>);

impl Form {
    fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// `url.ParseQuery`'s pairs, or its error.
fn parse_form(raw: &str) -> Result<Form, String> {
    match url::parse_query_text(raw) {
        (_, Some(e)) => Err(e),
        (pairs, None) => Ok(Form(pairs)),
    }
}

/// `Request.ParseForm`: a POST, PUT or PATCH form body's pairs, then the
/// URL's; the first error, the body's first.
fn read_form(method: &Method, headers: &HeaderMap, raw: Option<&str>, body: &[u8]) -> Result<Form, String> {
    let mut form = Form(Vec::new());
    if [Method::POST, Method::PUT, Method::PATCH].contains(method) && is_form(headers) {
        form = parse_form(&String::from_utf8_lossy(body))?;
    }
    form.0.extend(parse_form(raw.unwrap_or(""))?.0);
    Ok(form)
}

/// Whether the body is `application/x-www-form-urlencoded`, the only body
/// `ParseForm` reads.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// `loghttp.parseTimestamp`, in unix nanoseconds: float seconds when it
/// has a `.`, else an integer (seconds up to ten digits, nanoseconds
/// beyond), else RFC 3339; the integer's error when nothing fits.
fn parse_timestamp(value: &str, default: i128) -> Result<i128, String> {
    if value.is_empty() {
        return Ok(default);
    }
    if value.contains('.')
        && let Ok(t) = strconv::parse_float(value)
    {
        let secs = t.trunc();
        let frac = ((t - secs) * 1000.0).round() / 1000.0;
        return Ok(secs as i64 as i128 * NS_PER_SEC + (frac * 1e9) as i64 as i128);
    }
    match strconv::parse_int(value, 10, 64) {
        Ok(n) if value.len() <= 10 => Ok(i128::from(n) * NS_PER_SEC),
        Ok(n) => Ok(i128::from(n)),
        Err(e) => time::parse_rfc3339_nano(value)
            .map(|(secs, nanos)| i128::from(secs) * NS_PER_SEC + i128::from(nanos))
            .ok_or_else(|| e.to_string()),
    }
}

/// `limit`: `strconv.Atoi`, positive, kept as a `uint32` (so it wraps).
fn parse_limit(value: &str) -> Result<u32, String> {
    if value.is_empty() {
        return Ok(100);
    }
    let n = strconv::atoi(value).map_err(|e| e.to_string())?;
    if n <= 0 {
        return Err("limit must be a positive value".into());
    }
    Ok(n as u32)
}

/// `direction`: forward or backward, any case; backward by default.
fn parse_backward(value: &str) -> Result<bool, String> {
    match value.to_uppercase().as_str() {
        "" | "BACKWARD" => Ok(true),
        "FORWARD" => Ok(false),
        _ => Err(format!("invalid direction '{value}'")),
    }
}

/// `parseSecondsOrDuration`, in nanoseconds.
fn parse_seconds_or_duration(value: &str) -> Result<i128, String> {
    if let Ok(d) = strconv::parse_float(value) {
        let ns = d * 1e9;
        if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {} to a valid duration. It overflows int64",
                strconv::quote(value)
            ));
        }
        return Ok(i128::from(ns as i64));
    }
    if let Ok(d) = model::parse_duration(value) {
        return Ok(i128::from(d));
    }
    Err(format!("cannot parse {} to a valid duration", strconv::quote(value)))
}

/// Go's `Time.Sub`, which saturates.
fn go_sub(a: i128, b: i128) -> i128 {
    (a - b).clamp(i128::from(i64::MIN), i128::from(i64::MAX))
}

/// A range query's parameters, checked in `loghttp.ParseRangeQuery`'s order.
struct RangeRequest {
    query: String,
    start: i128,
    end: i128,
    step: i128,
    interval: i128,
    limit: u32,
    backward: bool,
}

/// `loghttp.determineBounds`: `start` and `end`, by default the hour
/// (`since`) before `end` or now, whichever is earlier.
fn parse_bounds(form: &Form, now: i128) -> Result<(i128, i128), String> {
    let since = match form.get("since") {
        "" => 3600 * NS_PER_SEC,
        s => i128::from(model::parse_duration(s).map_err(|e| format!("could not parse 'since' parameter: {e}"))?),
    };
    let end = parse_timestamp(form.get("end"), now).map_err(|e| format!("could not parse 'end' parameter: {e}"))?;
    let end_or_now = end.min(now);
    let start = parse_timestamp(form.get("start"), end_or_now - since)
        .map_err(|e| format!("could not parse 'start' parameter: {e}"))?;
    Ok((start, end))
}

fn parse_range_request(form: &Form, now: i128) -> Result<RangeRequest, String> {
    let (start, end) = parse_bounds(form, now)?;
    if end < start {
        return Err("end timestamp must not be before or equal to start time".into());
    }
    let limit = parse_limit(form.get("limit"))?;
    let backward = parse_backward(form.get("direction"))?;
    let step = match form.get("step") {
        "" => (go_sub(end, start) / NS_PER_SEC / 250).max(1) * NS_PER_SEC,
        s => parse_seconds_or_duration(s)?,
    };
    if step <= 0 {
        return Err("zero or negative query resolution step widths are not accepted. Try a positive integer".into());
    }
    if go_sub(end, start) / step > 11_000 {
        return Err(
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter"
                .into(),
        );
    }
    let interval = match form.get("interval") {
        "" => 0,
        s => parse_seconds_or_duration(s)?,
    };
    if interval < 0 {
        return Err("interval must be >= 0".into());
    }
    Ok(RangeRequest {
        query: form.get("query").to_owned(),
        start,
        end,
        step,
        interval,
        limit,
        backward,
    })
}

/// The querier's `validateQueryTimeRangeLimits` for label and series
/// requests: the length, then an end before the start, which it words as
/// `max_query_lookback`'s (0s by default) error (`pkg/querier/querier.go`).
fn check_metadata_range(start: i128, end: i128) -> Result<(), String> {
    check_query_length(start, end)?;
    if end < start {
        return Err("this data is no longer available, it is past now - max_query_lookback (0s)".into());
    }
    Ok(())
}

/// The limits middleware's `max_query_length` check, on the range cut
/// to milliseconds (`pkg/querier/queryrange/limits.go`).
fn check_query_length(start: i128, end: i128) -> Result<(), String> {
    let length = go_sub(
        end.div_euclid(1_000_000) * 1_000_000,
        start.div_euclid(1_000_000) * 1_000_000,
    );
    if length > MAX_QUERY_LENGTH_NS {
        return Err(format!(
            "the query time range exceeds the limit (query length: {}, limit: {})",
            time::duration_string(length as i64),
            model::duration_string(MAX_QUERY_LENGTH_NS as u64)
        ));
    }
    Ok(())
}

fn now_nanos() -> i128 {
    i128::from(unix_nanos())
}

/// The store's `[start, end)` window in unsigned nanoseconds.
fn window(start: i128, end: i128) -> (u64, u64) {
    let clamp = |t: i128| t.clamp(0, i128::from(u64::MAX)) as u64;
    (clamp(start), clamp(end))
}

async fn query_range(
    State(state): State<Arc<SimState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let form = match read_form(&method, &headers, raw.as_deref(), &body) {
        Ok(f) => f,
        Err(e) => return rejected(e),
    };
    let now = now_nanos();
    let req = match parse_range_request(&form, now) {
        Ok(r) => r,
        Err(e) => return rejected(e),
    };
    let parsed = logql::parse(&req.query);
    let log_query = match &parsed {
        Err(ParseError::Invalid { .. }) => return rejected(parsed.err().map(|e| e.to_string()).unwrap_or_default()),
        Err(ParseError::Unserved { kind, .. }) => *kind == QueryKind::Log,
        Ok(_) => true,
    };
    if log_query && req.limit > MAX_ENTRIES_LIMIT {
        return rejected(format!(
            "max entries limit per query exceeded, limit > max_entries_limit ({} > {MAX_ENTRIES_LIMIT})",
            req.limit
        ));
    }
    if let Err(e) = check_query_length(req.start, req.end) {
        return rejected(e);
    }
    let query = match parsed {
        Ok(q) => q,
        Err(e) => return metric(&state, &req.query, (req.start, req.end, req.step), &e, now, false),
    };
    let range = window(req.start, req.end);
    if let Some(e) = query.stage_error()
        && (req.end > now - QUERY_INGESTERS_WITHIN_NS || state.logs.any_selected(&query, range))
    {
        return rejected(e.to_string());
    }
    streams(&state, &headers, &query, range, &req)
}

/// `/query`: an instant query is a metric query; Loki refuses log queries
/// there.
async fn query_instant(
    State(state): State<Arc<SimState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let form = match read_form(&method, &headers, raw.as_deref(), &body) {
        Ok(f) => f,
        Err(e) => return rejected(e),
    };
    let now = now_nanos();
    let checks = parse_limit(form.get("limit"))
        .and_then(|_| parse_timestamp(form.get("time"), now))
        .and_then(|t| parse_backward(form.get("direction")).map(|_| t));
    let time = match checks {
        Ok(t) => t,
        Err(e) => return rejected(e),
    };
    match logql::parse(form.get("query")) {
        Err(e @ ParseError::Invalid { .. }) => rejected(e.to_string()),
        Err(
            e @ ParseError::Unserved {
                kind: QueryKind::Metric,
                ..
            },
        ) => metric(&state, form.get("query"), (time, time, 1), &e, now, true),
        Ok(_) | Err(ParseError::Unserved { .. }) => rejected(
            "log queries are not supported as an instant query type, please change your query to a range query type",
        ),
    }
}

/// A metric query: evaluated when the stack serves it, else `unserved`'s
/// 501; a pipeline error is Loki's 400.
fn metric(
    state: &SimState,
    text: &str,
    (start, end, step): (i128, i128, i128),
    unserved_error: &ParseError,
    now: i128,
    instant: bool,
) -> Response {
    let query = match logql::parse_metric(text) {
        Ok(q) => q,
        Err(_) => return unserved(unserved_error),
    };
    if let Some(e) = query.log().stage_error()
        && (end > now - QUERY_INGESTERS_WITHIN_NS || state.logs.any_selected(query.log(), window(start, end)))
    {
        return rejected(e.to_string());
    }
    match loki_metric::evaluate(state, &query, (start, end, step)) {
        Err(e) => rejected(e.to_string()),
        Ok(series) if instant => prom_response(&loki_metric::vector(&series)),
        Ok(series) => prom_response(&loki_metric::matrix(&series)),
    }
}

fn streams(state: &SimState, headers: &HeaderMap, query: &LogQuery, range: (u64, u64), req: &RangeRequest) -> Response {
    // The frontend keeps the interval in milliseconds (`pkg/querier/queryrange/codec.go`).
    let interval = req.interval / 1_000_000 * 1_000_000;
    let limit = if interval > 0 { usize::MAX } else { req.limit as usize };
    let hits = state
        .logs
        .query(query, range, limit, req.backward, state.faults().delay);
    let hits = sample_by_interval(hits, interval, req.backward, req.limit as usize);
    let categorize = headers
        .get(ENCODING_FLAGS)
        .and_then(|v| v.to_str().ok())
        // Split on commas, untrimmed (`pkg/util/httpreq/encoding_flags.go`).
        .is_some_and(|v| v.split(',').any(|f| f == CATEGORIZE_LABELS));
    let result = if categorize { categorized(&hits) } else { merged(&hits) };
    let mut data = json!({ "resultType": "streams", "result": result, "stats": {} });
    if categorize {
        data["encodingFlags"] = json!([CATEGORIZE_LABELS]);
    }
    // The flags go back in the body only: the frontend's answer has no
    // header but its content type (`pkg/querier/queryrange/codec.go`).
    success(Some(&data))
}

/// `interval`, as the engine's `readStreams` applies it
/// (`pkg/logql/engine.go`): across all streams, a line is kept only at
/// least `interval` after (forward) or before (backward) the last kept
/// one, the first always; the limit counts kept lines. The frontend runs
/// each hour of the range (`split_queries_by_interval`, 1h) on its own,
/// so each hour starts afresh.
fn sample_by_interval(hits: Vec<LogHit>, interval: i128, backward: bool, limit: usize) -> Vec<LogHit> {
    if interval == 0 {
        return hits.into_iter().take(limit).collect();
    }
    let hour = |ts: u64| ts / 3_600_000_000_000;
    let mut last: Option<(u64, i128)> = None;
    let mut kept = Vec::new();
    for hit in hits {
        if kept.len() == limit {
            break;
        }
        let ts = i128::from(hit.ts_ns);
        let keep = match last {
            Some((split, at)) if split == hour(hit.ts_ns) => {
                if backward {
                    ts <= at - interval
                } else {
                    ts >= at + interval
                }
            }
            _ => true,
        };
        if keep {
            last = Some((hour(hit.ts_ns), ts));
            kept.push(hit);
        }
    }
    kept
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

/// Label names or values; none leaves `data` out (`pkg/loghttp/labels.go`'s
/// `omitempty`).
fn names_response(names: Vec<String>) -> Response {
    if names.is_empty() {
        return success(None);
    }
    success(Some(&json!(names)))
}

/// `/labels`: the bounds as `loghttp.ParseLabelQuery` reads them, the
/// querier's range checks, then `query` as its `syntax.ParseMatchers`
/// reads it (`pkg/querier/querier.go` `Label`).
async fn labels(
    State(state): State<Arc<SimState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    match label_request(&method, &headers, raw.as_deref(), &body) {
        Ok(selector) => names_response(state.logs.label_names(selector.as_ref())),
        Err(e) => rejected(e),
    }
}

/// `/label/{name}/values`: checked as `/labels` is.
async fn label_values(
    State(state): State<Arc<SimState>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    match label_request(&method, &headers, raw.as_deref(), &body) {
        Ok(selector) => names_response(state.logs.label_values(&name, selector.as_ref())),
        Err(e) => rejected(e),
    }
}

/// A label request's checks; its selector, if it has one.
fn label_request(
    method: &Method,
    headers: &HeaderMap,
    raw: Option<&str>,
    body: &[u8],
) -> Result<Option<LogQuery>, String> {
    let form = read_form(method, headers, raw, body)?;
    let (start, end) = parse_bounds(&form, now_nanos())?;
    check_metadata_range(start, end)?;
    match form.get("query") {
        "" => Ok(None),
        q => label_selector(q).map(Some),
    }
}

/// `/series`: `loghttp.ParseAndValidateSeriesQuery` (the bounds, then
/// `match` and `match[]` as one sorted list, a lone `{}` meaning none,
/// each read by `logql.MatchForSeriesRequest`), then the range checks.
async fn series(
    State(state): State<Arc<SimState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let checked = read_form(&method, &headers, raw.as_deref(), &body).and_then(|form| {
        let (start, end) = parse_bounds(&form, now_nanos())?;
        let groups = series_groups(&form)?;
        check_metadata_range(start, end)?;
        Ok((groups, (start, end)))
    });
    let (groups, range) = match checked {
        Ok(c) => c,
        Err(e) => return rejected(e),
    };
    let sets: Vec<Value> = state.logs.series(&groups, range).iter().map(|s| json!(s)).collect();
    success(Some(&json!(sets)))
}

fn series_groups(form: &Form) -> Result<Vec<LogQuery>, String> {
    let mut texts: Vec<&str> = form
        .0
        .iter()
        .filter(|(k, _)| k == "match" || k == "match[]")
        .map(|(_, v)| v.as_str())
        .collect();
    texts.sort();
    texts.dedup();
    if let [only] = texts[..]
        && only.replace(' ', "") == "{}"
    {
        texts.clear();
    }
    texts.into_iter().map(series_group).collect()
}

fn series_group(text: &str) -> Result<LogQuery, String> {
    match logql::parse_matchers_unvalidated(text) {
        Err(e) => Err(e.to_string()),
        Ok(None) => Err("only label matchers are supported".into()),
        Ok(Some(q)) if q.selector.is_empty() => Err(format!("0 matchers in group: {text}")),
        Ok(Some(q)) => Ok(q),
    }
}

/// A label request's `query`: a bare selector, else
/// `logqlmodel.ErrParseMatchers`.
fn label_selector(query: &str) -> Result<LogQuery, String> {
    match logql::parse(query) {
        Err(e @ ParseError::Invalid { .. }) => Err(e.to_string()),
        Ok(q) if q.is_selector_only() => Ok(q),
        _ => Err("only label matchers are supported".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i128 = 1_735_689_600 * NS_PER_SEC;

    fn range(query: &str) -> Result<RangeRequest, String> {
        parse_range_request(&parse_form(query)?, NOW)
    }

    #[test]
    fn timestamps_in_every_format() {
        assert_eq!(parse_timestamp("1735689600", 0).unwrap(), 1_735_689_600 * NS_PER_SEC);
        assert_eq!(
            parse_timestamp("1735689600000000001", 0).unwrap(),
            1_735_689_600_000_000_001
        );
        assert_eq!(parse_timestamp("1735689600.5", 0).unwrap(), 1_735_689_600_500_000_000);
        assert_eq!(
            parse_timestamp("2025-01-01T00:00:00Z", 0).unwrap(),
            1_735_689_600 * NS_PER_SEC
        );
        assert_eq!(
            parse_timestamp("2025-01-01T01:00:00.25+01:00", 0).unwrap(),
            1_735_689_600_250_000_000
        );
        assert_eq!(parse_timestamp("", 7).unwrap(), 7);
        assert_eq!(
            parse_timestamp("soon", 0).unwrap_err(),
            r#"strconv.ParseInt: parsing "soon": invalid syntax"#
        );
        assert_eq!(
            parse_timestamp("99999999999999999999", 0).unwrap_err(),
            r#"strconv.ParseInt: parsing "99999999999999999999": value out of range"#
        );
        assert!(parse_timestamp("2025-02-30T00:00:00Z", 0).is_err());
    }

    #[test]
    fn forms_are_read_as_go_reads_them() {
        assert_eq!(parse_form("query=%zz").err().unwrap(), r#"invalid URL escape "%zz""#);
        assert_eq!(parse_form("query=%4").err().unwrap(), r#"invalid URL escape "%4""#);
        assert_eq!(
            parse_form("a=1;b=2").err().unwrap(),
            "invalid semicolon separator in query"
        );
        let form = parse_form("query=a+b&query=c&q=%7Ba%3D%22b%22%7D").unwrap();
        assert_eq!(form.get("query"), "a b");
        assert_eq!(form.get("q"), r#"{a="b"}"#);
        assert_eq!(form.get("missing"), "");
    }

    #[test]
    fn range_parameters_are_checked_in_lokis_order_with_its_messages() {
        for (query, message) in [
            (
                "query=x&end=abc&start=abc",
                r#"could not parse 'end' parameter: strconv.ParseInt: parsing "abc": invalid syntax"#,
            ),
            (
                "start=abc",
                r#"could not parse 'start' parameter: strconv.ParseInt: parsing "abc": invalid syntax"#,
            ),
            (
                "since=abc&limit=0",
                r#"could not parse 'since' parameter: not a valid duration string: "abc""#,
            ),
            (
                "start=20&end=10&limit=0",
                "end timestamp must not be before or equal to start time",
            ),
            ("limit=abc", r#"strconv.Atoi: parsing "abc": invalid syntax"#),
            (
                "limit=99999999999999999999",
                r#"strconv.Atoi: parsing "99999999999999999999": value out of range"#,
            ),
            ("limit=0&direction=up", "limit must be a positive value"),
            ("limit=-5", "limit must be a positive value"),
            ("direction=sideways", "invalid direction 'sideways'"),
            ("step=abc", r#"cannot parse "abc" to a valid duration"#),
            (
                "step=0",
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ),
            (
                "start=0&end=100000&step=1",
                "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter",
            ),
            ("interval=-1", "interval must be >= 0"),
            // Parameters are checked before the query is parsed.
            ("query=%7B&limit=0", "limit must be a positive value"),
        ] {
            assert_eq!(range(query).err().as_deref(), Some(message), "{query}");
        }
        let ok = range("query=q&start=10&end=10&direction=FORWARD&step=5m&interval=1").unwrap();
        assert_eq!(
            (ok.start, ok.end, ok.backward),
            (10 * NS_PER_SEC, 10 * NS_PER_SEC, false)
        );
        assert_eq!(range("").unwrap().limit, 100);
        // `limit` is kept as a uint32, as Loki keeps it.
        assert_eq!(range("limit=4294967297").unwrap().limit, 1);
        let default = range("").unwrap();
        assert_eq!(
            (default.end - default.start, default.query.as_str()),
            (3600 * NS_PER_SEC, "")
        );
    }

    #[tokio::test]
    async fn rejections_are_lokis_plain_text_400s() {
        let state = Arc::new(SimState::default());
        state
            .logs
            .push(
                BTreeMap::from([("service_name".to_owned(), "svc".to_owned())]),
                vec![(unix_nanos(), "run=r1 hello".into(), BTreeMap::new())],
                |_| false,
            )
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        let client = reqwest::Client::new();
        let get = |path: &'static str, params: Vec<(&'static str, String)>| {
            let request = client.get(format!("http://{addr}{path}")).query(&params);
            async move {
                let resp = request.send().await.unwrap();
                let status = resp.status().as_u16();
                let kind = resp
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned());
                let nosniff = resp.headers().get("x-content-type-options").is_some();
                (status, kind, nosniff, resp.text().await.unwrap())
            }
        };
        let range = "/loki/api/v1/query_range";
        let plain = Some("text/plain; charset=utf-8".to_owned());
        for (params, body) in [
            (
                vec![("query", r#"{service_name=~"a\-b"}"#.to_owned())],
                "parse error at line 1, col 16: invalid char escape",
            ),
            (vec![], "parse error : syntax error: unexpected $end"),
            (
                vec![("query", r#"{service_name="svc"}"#.into()), ("limit", "6000".into())],
                "max entries limit per query exceeded, limit > max_entries_limit (6000 > 5000)",
            ),
            (
                vec![
                    ("query", r#"{service_name="svc"}"#.into()),
                    ("start", "0".into()),
                    ("end", "3000000".into()),
                ],
                "the query time range exceeds the limit (query length: 833h20m0s, limit: 30d1h)",
            ),
            (
                vec![("query", r#"{service_name="svc"} |~ "(""#.into())],
                r#"parse error : stage '|~ "("' : error parsing regexp: missing closing ): `(`"#,
            ),
        ] {
            let (status, kind, nosniff, text) = get(range, params.clone()).await;
            assert_eq!(
                (status, &kind, nosniff, text.as_str()),
                (400, &plain, true, body),
                "{params:?}"
            );
        }
        let (status, kind, _, text) = get(range, vec![("query", r#"topk(1, rate({a="b"}[5m]))"#.into())]).await;
        assert_eq!((status, &kind), (501, &plain));
        assert!(
            text.contains("serves log queries and some metric queries only"),
            "{text}"
        );
        // A metric query is not held to the entries limit.
        let metric = vec![("query", r#"rate({a="b"}[5m])"#.into()), ("limit", "6000".into())];
        let (status, kind, _, text) = get(range, metric).await;
        assert_eq!(
            (status, kind.as_deref()),
            (200, Some("application/json; charset=UTF-8")),
            "{text}"
        );
        let unserved = vec![
            ("query", r#"topk(1, rate({a="b"}[5m]))"#.into()),
            ("limit", "6000".into()),
        ];
        assert_eq!(get(range, unserved).await.0, 501);
        let (status, _, _, text) = get("/loki/api/v1/query", vec![("query", r#"{service_name="svc"}"#.into())]).await;
        assert_eq!(
            (status, text.as_str()),
            (
                400,
                "log queries are not supported as an instant query type, please change your query to a range query type"
            )
        );
        let (status, _, _, text) = get(
            range,
            vec![("query", r#"{service_name=~`(.+/)?svc`} |= "run=r1 ""#.into())],
        )
        .await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("run=r1 hello"), "{text}");
    }

    async fn serve(state: Arc<SimState>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        addr
    }

    fn one_stream() -> Arc<SimState> {
        let state = Arc::new(SimState::default());
        let labels = BTreeMap::from([
            ("service_name".to_owned(), "svc".to_owned()),
            ("run".to_owned(), "r1".to_owned()),
        ]);
        let entries = vec![(unix_nanos(), "hello".into(), BTreeMap::new())];
        state.logs.push(labels, entries, |_| false).unwrap();
        let other = BTreeMap::from([("job".to_owned(), "other".to_owned())]);
        let entries = vec![(unix_nanos(), "bye".into(), BTreeMap::new())];
        state.logs.push(other, entries, |_| false).unwrap();
        state
    }

    /// Status, content type and body of a response.
    async fn answer(resp: reqwest::Response) -> (u16, String, String) {
        let status = resp.status().as_u16();
        let kind = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, kind, resp.text().await.unwrap())
    }

    #[tokio::test]
    async fn successful_reads_are_json_with_lokis_charset_and_newline() {
        let addr = serve(one_stream()).await;
        let client = reqwest::Client::new();
        for (path, query) in [
            ("/loki/api/v1/query_range", r#"{service_name="svc"}"#),
            ("/loki/api/v1/query_range", r#"rate({service_name="svc"}[5m])"#),
            ("/loki/api/v1/query", r#"count_over_time({service_name="svc"}[5m])"#),
            ("/loki/api/v1/labels", ""),
        ] {
            let resp = client
                .get(format!("http://{addr}{path}"))
                .query(&[("query", query)])
                .send()
                .await
                .unwrap();
            let (status, kind, body) = answer(resp).await;
            assert_eq!(
                (status, kind.as_str()),
                (200, "application/json; charset=UTF-8"),
                "{path} {body}"
            );
            if !query.contains('[') {
                assert!(body.ends_with("}\n"), "{path}: {body:?}");
            }
        }
    }

    #[tokio::test]
    async fn reads_take_post_forms_as_go_reads_them() {
        let addr = serve(one_stream()).await;
        let client = reqwest::Client::new();
        let post = |path: &str, url_query: &str, body: &'static str| {
            client
                .post(format!("http://{addr}{path}?{url_query}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
        };
        let range = "/loki/api/v1/query_range";
        let (status, _, body) = answer(post(range, "", "query=%7Bservice_name%3D%22svc%22%7D").await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("hello"), "{body}");
        // The body's values come before the URL's.
        let (status, kind, body) = answer(
            post(range, "limit=5", "query=%7Ba%3D%22b%22%7D&limit=abc")
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, kind.as_str(), body.as_str()),
            (
                400,
                "text/plain; charset=utf-8",
                r#"strconv.Atoi: parsing "abc": invalid syntax"#
            )
        );
        let (status, _, body) = answer(post(range, "", "query=%zz").await.unwrap()).await;
        assert_eq!((status, body.as_str()), (400, r#"invalid URL escape "%zz""#));
        // Another content type's body is not read.
        let resp = client
            .post(format!("http://{addr}{range}?query=%7Ba%3D%22b%22%7D"))
            .header("content-type", "text/plain")
            .body("limit=abc")
            .send()
            .await
            .unwrap();
        assert_eq!(answer(resp).await.0, 200);
        let (status, _, body) = answer(
            post(
                "/loki/api/v1/query",
                "",
                "query=sum(count_over_time(%7Bservice_name%3D%22svc%22%7D%5B5m%5D))",
            )
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, _, body) = answer(post("/loki/api/v1/labels", "", "start=abc").await.unwrap()).await;
        assert_eq!(
            (status, body.as_str()),
            (
                400,
                r#"could not parse 'start' parameter: strconv.ParseInt: parsing "abc": invalid syntax"#
            )
        );
    }

    #[tokio::test]
    async fn labels_check_their_parameters_and_selector() {
        let addr = serve(one_stream()).await;
        let client = reqwest::Client::new();
        let labels = |params: Vec<(&'static str, &'static str)>| {
            client
                .get(format!("http://{addr}/loki/api/v1/labels"))
                .query(&params)
                .send()
        };
        for (params, message) in [
            (
                vec![("start", "abc")],
                r#"could not parse 'start' parameter: strconv.ParseInt: parsing "abc": invalid syntax"#,
            ),
            (
                vec![("end", "soon")],
                r#"could not parse 'end' parameter: strconv.ParseInt: parsing "soon": invalid syntax"#,
            ),
            (
                vec![("since", "abc")],
                r#"could not parse 'since' parameter: not a valid duration string: "abc""#,
            ),
            (
                vec![("start", "0"), ("end", "3000000")],
                "the query time range exceeds the limit (query length: 833h20m0s, limit: 30d1h)",
            ),
            (
                vec![("query", r#"{run=~".*"}"#)],
                "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
            ),
            (
                vec![("query", r#"{run="r1"} |= "x""#)],
                "only label matchers are supported",
            ),
            (
                vec![("query", r#"count_over_time({run="r1"}[1m])"#)],
                "only label matchers are supported",
            ),
            // The querier's check of an end before the start, ahead of `query`.
            (
                vec![("start", "20"), ("end", "10"), ("query", "{")],
                "this data is no longer available, it is past now - max_query_lookback (0s)",
            ),
        ] {
            let (status, kind, body) = answer(labels(params.clone()).await.unwrap()).await;
            assert_eq!(
                (status, kind.as_str(), body.as_str()),
                (400, "text/plain; charset=utf-8", message),
                "{params:?}"
            );
        }
        let (status, _, body) = answer(labels(vec![("query", r#"{run="r1"}"#)]).await.unwrap()).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "{\"status\":\"success\",\"data\":[\"run\",\"service_name\"]}\n")
        );
        // No names: `data` is left out, as Loki's `omitempty` leaves it.
        let (status, _, body) = answer(labels(vec![("query", r#"{run="none"}"#)]).await.unwrap()).await;
        assert_eq!((status, body.as_str()), (200, "{\"status\":\"success\"}\n"));
        let (_, _, body) = answer(labels(vec![]).await.unwrap()).await;
        assert!(body.contains(r#"["job","run","service_name"]"#), "{body}");
    }

    #[tokio::test]
    async fn label_values_are_served_with_the_labels_checks() {
        let addr = serve(one_stream()).await;
        let client = reqwest::Client::new();
        let get = |path: &str, params: Vec<(&'static str, &'static str)>| {
            client.get(format!("http://{addr}{path}")).query(&params).send()
        };
        let values = "/loki/api/v1/label/service_name/values";
        let (status, kind, body) = answer(get(values, vec![]).await.unwrap()).await;
        assert_eq!(
            (status, kind.as_str(), body.as_str()),
            (
                200,
                "application/json; charset=UTF-8",
                "{\"status\":\"success\",\"data\":[\"other\",\"svc\"]}\n"
            )
        );
        let (_, _, body) = answer(get(values, vec![("query", r#"{run="r1"}"#)]).await.unwrap()).await;
        assert_eq!(body, "{\"status\":\"success\",\"data\":[\"svc\"]}\n");
        let (_, _, body) = answer(get("/loki/api/v1/label/nope/values", vec![]).await.unwrap()).await;
        assert_eq!(body, "{\"status\":\"success\"}\n");
        let (status, _, body) = answer(get(values, vec![("since", "abc")]).await.unwrap()).await;
        assert_eq!(
            (status, body.as_str()),
            (
                400,
                r#"could not parse 'since' parameter: not a valid duration string: "abc""#
            )
        );
        // `/label` is the label names, as `/labels` is.
        let (status, _, body) = answer(get("/loki/api/v1/label", vec![]).await.unwrap()).await;
        assert_eq!(
            (status, body.as_str()),
            (
                200,
                "{\"status\":\"success\",\"data\":[\"job\",\"run\",\"service_name\"]}\n"
            )
        );
    }

    #[tokio::test]
    async fn series_read_match_groups_as_loki_does() {
        let addr = serve(one_stream()).await;
        let client = reqwest::Client::new();
        let series = |params: Vec<(&'static str, &'static str)>| {
            client
                .get(format!("http://{addr}/loki/api/v1/series"))
                .query(&params)
                .send()
        };
        let run = r#"{"run":"r1","service_name":"svc"}"#;
        let job = r#"{"job":"other","service_name":"other"}"#;
        for (params, data) in [
            (vec![("match[]", r#"{run="r1"}"#)], format!("[{run}]")),
            // `match` and `match[]` are one list; `{}` alone is no matcher.
            (
                vec![("match", r#"{run="r1"}"#), ("match[]", r#"{job="other"}"#)],
                format!("[{job},{run}]"),
            ),
            (vec![("match[]", "{ }")], format!("[{job},{run}]")),
            (vec![], format!("[{job},{run}]")),
            // Series matchers are not validated.
            (vec![("match[]", r#"{run=~".*"}"#)], format!("[{job},{run}]")),
            (vec![("match[]", r#"{run="none"}"#)], "[]".to_owned()),
        ] {
            let (status, kind, body) = answer(series(params.clone()).await.unwrap()).await;
            assert_eq!(
                (status, kind.as_str(), body),
                (
                    200,
                    "application/json; charset=UTF-8",
                    format!("{{\"status\":\"success\",\"data\":{data}}}\n")
                ),
                "{params:?}"
            );
        }
        for (params, message) in [
            (
                vec![("match[]", "{}"), ("match[]", r#"{run="r1"}"#)],
                "0 matchers in group: {}",
            ),
            (
                vec![("match[]", r#"{run="r1"} |= "x""#)],
                "only label matchers are supported",
            ),
            (
                vec![("start", "x")],
                r#"could not parse 'start' parameter: strconv.ParseInt: parsing "x": invalid syntax"#,
            ),
            (
                vec![("start", "1735689600000000001"), ("end", "1735689600000000000")],
                "this data is no longer available, it is past now - max_query_lookback (0s)",
            ),
            // `match[]` is read before the range is checked.
            (
                vec![("start", "20"), ("end", "10"), ("match[]", "{")],
                "parse error at line 1, col 2: syntax error: unexpected $end, expecting IDENTIFIER or }",
            ),
            (
                vec![("start", "0"), ("end", "3000000")],
                "the query time range exceeds the limit (query length: 833h20m0s, limit: 30d1h)",
            ),
        ] {
            let (status, kind, body) = answer(series(params.clone()).await.unwrap()).await;
            assert_eq!(
                (status, kind.as_str(), body.as_str()),
                (400, "text/plain; charset=utf-8", message),
                "{params:?}"
            );
        }
    }

    #[tokio::test]
    async fn unknown_paths_are_gos_plain_404() {
        let addr = serve(Arc::new(SimState::default())).await;
        let resp = reqwest::get(format!("http://{addr}/loki/api/v1/nope")).await.unwrap();
        let nosniff = resp.headers().get("x-content-type-options").cloned();
        let (status, kind, body) = answer(resp).await;
        assert_eq!(
            (status, kind.as_str(), body.as_str()),
            (404, "text/plain; charset=utf-8", "404 page not found\n")
        );
        assert_eq!(nosniff.as_ref().map(|v| v.to_str().unwrap()), Some("nosniff"));
    }

    #[tokio::test]
    async fn encoding_flags_are_split_on_commas_without_trimming() {
        let addr = serve(one_stream()).await;
        let client = reqwest::Client::new();
        for (flags, categorized) in [
            ("categorize-labels", true),
            ("other,categorize-labels", true),
            ("other, categorize-labels", false),
            ("Categorize-Labels", false),
        ] {
            let resp = client
                .get(format!("http://{addr}/loki/api/v1/query_range"))
                .query(&[("query", r#"{service_name="svc"}"#)])
                .header("X-Loki-Response-Encoding-Flags", flags)
                .send()
                .await
                .unwrap();
            // The flags are in the body only, not echoed as a header.
            assert!(resp.headers().get("x-loki-response-encoding-flags").is_none());
            let (_, _, body) = answer(resp).await;
            assert_eq!(body.contains("encodingFlags"), categorized, "{flags}: {body}");
        }
    }

    #[tokio::test]
    async fn reads_refuse_other_methods_as_gorilla_mux_does() {
        let addr = serve(one_stream()).await;
        let client = reqwest::Client::new();
        for path in [
            "/loki/api/v1/query_range",
            "/loki/api/v1/query",
            "/loki/api/v1/labels",
            "/loki/api/v1/label",
            "/loki/api/v1/label/run/values",
            "/loki/api/v1/series",
        ] {
            for method in [reqwest::Method::HEAD, reqwest::Method::PUT, reqwest::Method::DELETE] {
                let resp = client
                    .request(method.clone(), format!("http://{addr}{path}"))
                    .send()
                    .await
                    .unwrap();
                let (status, _, body) = answer(resp).await;
                assert_eq!((status, body.as_str()), (405, ""), "{method} {path}");
            }
        }
    }

    #[tokio::test]
    async fn interval_samples_lines_as_lokis_read_streams_does() {
        const S: u64 = 1_000_000_000;
        let hour = 1_735_689_600 * S;
        let t = hour + 600 * S;
        let state = Arc::new(SimState::default());
        let labels = BTreeMap::from([("service_name".to_owned(), "svc".to_owned())]);
        let at = |ts: u64| (ts, format!("line {ts}"), BTreeMap::new());
        let entries = [
            t,
            t + S,
            t + 2 * S,
            t + 3 * S,
            t + 10 * S,
            hour + 3600 * S - S,
            hour + 3600 * S,
        ];
        state
            .logs
            .push(labels, entries.into_iter().map(at).collect(), |_| false)
            .unwrap();
        let addr = serve(state).await;
        let client = reqwest::Client::new();
        let within = |(start, end): (u64, u64), params: Vec<(&'static str, String)>| {
            let mut query = vec![
                ("query", r#"{service_name="svc"}"#.to_owned()),
                ("start", start.to_string()),
                ("end", end.to_string()),
            ];
            query.extend(params);
            let request = client
                .get(format!("http://{addr}/loki/api/v1/query_range"))
                .query(&query);
            async move {
                let body: Value = request.send().await.unwrap().json().await.unwrap();
                let mut ts: Vec<u64> = body["data"]["result"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|s| s["values"].as_array().unwrap().clone())
                    .map(|v| v[0].as_str().unwrap().parse().unwrap())
                    .collect();
                ts.sort();
                ts
            }
        };
        let lines = |params| within((t, t + 11 * S), params);
        let forward = ("direction", "forward".to_owned());
        let every = |secs: &str| ("interval", secs.to_owned());
        assert_eq!(
            lines(vec![forward.clone(), every("2")]).await,
            [t, t + 2 * S, t + 10 * S]
        );
        assert_eq!(lines(vec![every("2s")]).await, [t + S, t + 3 * S, t + 10 * S]);
        // The limit counts the lines kept.
        let limit = ("limit", "2".to_owned());
        assert_eq!(lines(vec![forward.clone(), every("2"), limit]).await, [t, t + 2 * S]);
        // The frontend keeps the interval in milliseconds.
        assert_eq!(lines(vec![every("0.0005")]).await.len(), 5);
        // Each hour the frontend splits the range into starts afresh.
        let across = within((hour + 3000 * S, hour + 4000 * S), vec![forward, every("10m")]);
        assert_eq!(across.await, [hour + 3599 * S, hour + 3600 * S]);
    }

    #[tokio::test]
    async fn series_are_the_streams_overlapping_the_range() {
        const S: u64 = 1_000_000_000;
        let t = 1_735_689_600 * S;
        let state = Arc::new(SimState::default());
        let labels = BTreeMap::from([("service_name".to_owned(), "svc".to_owned())]);
        let entries = vec![
            (t, "a".into(), BTreeMap::new()),
            (t + 10 * S, "b".into(), BTreeMap::new()),
        ];
        state.logs.push(labels, entries, |_| false).unwrap();
        let addr = serve(state).await;
        let client = reqwest::Client::new();
        for ((start, end), found) in [
            ((t - 5 * S, t + 5 * S), true),
            ((t + 10 * S, t + 20 * S), true),
            ((t + 11 * S, t + 20 * S), false),
            ((t - 5 * S, t), false),
            ((t - 5 * S, t + 1), true),
        ] {
            let resp = client
                .get(format!("http://{addr}/loki/api/v1/series"))
                .query(&[("start", start.to_string()), ("end", end.to_string())])
                .send()
                .await
                .unwrap();
            let (_, _, body) = answer(resp).await;
            assert_eq!(body.contains("svc"), found, "{start}..{end}: {body}");
        }
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
