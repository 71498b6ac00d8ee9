//! The reference stack's Tempo query API, in the shapes of Tempo 2.6.1
//! (`shared/reference/api/03-tempo.md`): `/ready`, `/api/echo`,
//! `/api/status/buildinfo`, `/api/traces/<id>` (v1: `batches`, base64 ids,
//! 404 with an empty body), `/api/v2/traces/<id>` (`{"trace":{}}` when
//! unknown) and `/api/search` with hex ids whose leading zeros are trimmed;
//! the tag and metrics endpoints are answered 501.
//!
//! Requests are checked as Tempo's frontend checks them (`pkg/api/http.go`
//! `ParseSearchRequest`, `ValidateAndSanitizeRequest`, the search
//! sharder): same order, same messages, `400 text/plain; charset=utf-8`
//! with no trailing newline. `q` is parsed by `lang::traceql` unless it is
//! exactly `{}`, as Tempo does; what Tempo accepts but the reference stack
//! does not evaluate is answered `501 Not Implemented`, never a guess.
//!
//! Trace bodies are what gogo's jsonpb writes (`go::jsonpb`): enum names,
//! quoted 64-bit integers, base64 bytes, every `AnyValue` kind, events,
//! links, status and dropped counts, defaults left out; or, for exactly
//! `Accept: application/protobuf`, the proto bytes. Search hits are jsonpb
//! too. The frontend's routes take any method and gzip large bodies
//! (gzhttp); a path no route matches is Go's `404 page not found`.
//!
//! Uses: ids, traces, state, faults, lang::traceql, go (json, jsonpb, logfmt,
//! strconv, time, url), flate2.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{any, get};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData, span};
use prost::Message as _;
use serde_json::{Value, json};

use crate::faults::Role;
use crate::go::{json, jsonpb, logfmt, strconv, time, url};
use crate::ids::TraceId;
use crate::lang::traceql::{self, QueryError, Reported, Search, SpanView};
use crate::state::SimState;
use crate::traces::StoredTrace;

pub fn router(state: Arc<SimState>) -> Router {
    // The frontend's routes have no method restriction and sit behind
    // gzhttp (`cmd/tempo/app/modules.go` at v2.6.1): a POST is a GET.
    let frontend_routes = Router::new()
        .route("/api/traces/{id}", any(trace_v1))
        .route("/api/v2/traces/{id}", any(trace_v2))
        .route("/api/search", any(search))
        .route("/api/search/tags", any(unserved))
        .route("/api/v2/search/tags", any(unserved))
        .route("/api/search/tag/{tag}/values", any(unserved))
        .route("/api/v2/search/tag/{tag}/values", any(unserved))
        .route("/api/metrics/query_range", any(unserved))
        .route("/api/metrics/query", any(unserved))
        .route_layer(axum::middleware::from_fn(gzhttp));
    Router::new()
        // Neither route names a method (`cmd/tempo/app/app.go`,
        // `modules.go` at v2.6.1).
        .route("/ready", any(ready))
        .route("/api/echo", any(|| async { http_error(StatusCode::OK, "echo") }))
        .route("/api/status/buildinfo", get(buildinfo))
        .merge(frontend_routes)
        .fallback(not_found)
        .with_state(state)
}

/// A route Tempo 2.6.1 serves (`pkg/api/http.go`) that the reference
/// stack does not evaluate.
async fn unserved(uri: Uri) -> Response {
    Refusal::NotImplemented(format!("the reference stack does not serve {}", uri.path())).into_response()
}

/// gorilla/mux's default for a path no route matches: Go's
/// `http.NotFound`.
async fn not_found() -> Response {
    http_error(StatusCode::NOT_FOUND, "404 page not found")
}

/// Go's `http.Error`: the text and a newline, typed and `nosniff`.
fn http_error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{msg}\n"),
    )
        .into_response()
}

async fn ready(State(state): State<Arc<SimState>>) -> Response {
    if state.faults().not_ready.contains(&Role::Tempo) {
        // What Tempo answers while its ring warms up.
        http_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Ingester not ready: waiting for 15s after being ready",
        )
    } else {
        http_error(StatusCode::OK, "ready")
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

/// A response from behind Tempo's `gzhttp` wrapper, which adds `Vary`.
fn frontend(answer: impl IntoResponse) -> Response {
    let mut response = answer.into_response();
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

/// klauspost/compress `gzhttp` (v1.17.11, `compress.go`), which wraps every
/// frontend endpoint (`cmd/tempo/app/http.go` at v2.6.1): a body of at
/// least `DefaultMinSize` bytes is gzipped, without `Content-Length`, when
/// `Accept-Encoding` gives gzip a q-value above zero; never for HEAD.
async fn gzhttp(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let head = request.method() == axum::http::Method::HEAD;
    let accepts = !head && accepts_gzip(request.headers().get(header::ACCEPT_ENCODING));
    let response = next.run(request).await;
    if accepts { gzipped(response).await } else { response }
}

/// `DefaultMinSize`.
const GZIP_MIN_SIZE: usize = 1024;

/// `parseEncodingGzip(...) > 0`: the first `gzip` coding's q-value.
fn accepts_gzip(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    for coding in value.trim().split(',') {
        let mut parts = coding.split(';');
        if !parts.next().unwrap_or_default().trim().eq_ignore_ascii_case("gzip") {
            continue;
        }
        // Each parameter resets the q-value to 1 before reading `q=`, so
        // the last one decides; one Go cannot parse is 0.
        let mut q = 1.0;
        for part in parts {
            q = match part.trim().strip_prefix("q=") {
                Some(v) => strconv::parse_float(v).unwrap_or(0.0).clamp(0.0, 1.0),
                None => 1.0,
            };
        }
        return q > 0.0;
    }
    false
}

async fn gzipped(response: Response) -> Response {
    use std::io::Write as _;
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    if bytes.len() < GZIP_MIN_SIZE || parts.headers.contains_key(header::CONTENT_ENCODING) {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let zipped = encoder.write_all(&bytes).and_then(|()| encoder.finish());
    match zipped {
        Ok(zipped) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(zipped))
        }
        Err(_) => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
}

/// A request the frontend does not run.
#[derive(Debug)]
enum Refusal {
    /// Tempo's 400: the error text as the body, sniffed as `text/plain`.
    BadRequest(String),
    /// What Tempo would run but the reference stack does not serve.
    NotImplemented(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::BadRequest(msg) => frontend((StatusCode::BAD_REQUEST, msg)),
            Refusal::NotImplemented(msg) => frontend((StatusCode::NOT_IMPLEMENTED, format!("pillars-sim: {msg}"))),
        }
    }
}

fn bad_request(msg: String) -> Refusal {
    Refusal::BadRequest(msg)
}

/// Go's `url.ParseQuery` then `Values.Get`: the first value of a key;
/// pairs with `;` or a bad `%` escape are dropped, as Go drops them.
struct GoQuery(Vec<Param>);

struct Param {
    key: String,
    value: String,
    /// The value held bytes that are not UTF-8 (now U+FFFD).
    invalid_utf8: bool,
    /// The value's bytes as sent.
    raw: Vec<u8>,
}

impl GoQuery {
    fn parse(raw: Option<&str>) -> GoQuery {
        let (pairs, _) = url::parse_query(raw.unwrap_or_default());
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let params = pairs
            .into_iter()
            .map(|(key, value)| Param {
                key: text(&key),
                invalid_utf8: std::str::from_utf8(&value).is_err(),
                value: text(&value),
                raw: value,
            })
            .collect();
        GoQuery(params)
    }

    fn first(&self, key: &str) -> Option<&Param> {
        self.0.iter().find(|p| p.key == key)
    }

    /// `extractQueryParam`: the first value; empty counts as absent.
    fn get(&self, key: &str) -> Option<&str> {
        self.first(key).map(|p| p.value.as_str()).filter(|v| !v.is_empty())
    }
}

/// Tempo's trace-id check, then `ValidateAndSanitizeRequest`.
fn check_trace_request(id: &str, raw: Option<&str>) -> Result<TraceId, Refusal> {
    let id = TraceId::parse_tempo(id).map_err(bad_request)?;
    let q = GoQuery::parse(raw);
    let mode = q.get("mode").unwrap_or("all");
    match mode {
        "ingesters" => return Ok(id),
        "all" | "blocks" => {}
        other => return Err(bad_request(format!("invalid value for mode {other}"))),
    }
    for (key, name) in [("blockStart", "blockstart"), ("blockEnd", "blockEnd")] {
        if let Some(v) = q.get(key) {
            parse_uuid(v).map_err(|e| bad_request(format!("invalid value for {name}: {e}")))?;
        }
    }
    let start = match q.get("start") {
        Some(s) => strconv::parse_int(s, 10, 64).map_err(|e| bad_request(format!("invalid start: {e}")))?,
        None => 0,
    };
    let end = match q.get("end") {
        Some(s) => strconv::parse_int(s, 10, 64).map_err(|e| bad_request(format!("invalid end: {e}")))?,
        None => 0,
    };
    if start != 0 && end != 0 && end <= start {
        return Err(bad_request(format!(
            "http parameter start must be before end. received start={start} end={end}"
        )));
    }
    if mode == "blocks" {
        // The user's `mode` comes first in every shard's query, so no shard
        // asks the ingesters (`modules/frontend/traceid_sharder.go` at
        // v2.6.1): only flushed blocks answer, which are not modelled here.
        return Err(Refusal::NotImplemented(
            "the reference stack keeps no backend blocks to answer mode=blocks".into(),
        ));
    }
    Ok(id)
}

/// `github.com/google/uuid.Parse`, for its error texts.
fn parse_uuid(s: &str) -> Result<(), String> {
    const FORMAT: &str = "invalid UUID format";
    let b = s.as_bytes();
    let hex_pair = |x: u8, y: u8| x.is_ascii_hexdigit() && y.is_ascii_hexdigit();
    let b = match b.len() {
        36 => b,
        45 => {
            if !b[..9].eq_ignore_ascii_case(b"urn:uuid:") {
                return Err(format!(
                    "invalid urn prefix: {}",
                    strconv::quote(&String::from_utf8_lossy(&b[..9]))
                ));
            }
            &b[9..]
        }
        38 => &b[1..],
        32 => {
            return if b.chunks(2).all(|p| hex_pair(p[0], p[1])) {
                Ok(())
            } else {
                Err(FORMAT.into())
            };
        }
        n => return Err(format!("invalid UUID length: {n}")),
    };
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return Err(FORMAT.into());
    }
    let pairs = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    if pairs.iter().all(|&x| hex_pair(b[x], b[x + 1])) {
        Ok(())
    } else {
        Err(FORMAT.into())
    }
}

/// The trace id segment as Go's server decodes the path: `%XX` escapes
/// to bytes, which need not be UTF-8 (the id check then names U+FFFD).
struct TracePath(String);

impl<S: Send + Sync> FromRequestParts<S> for TracePath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        trace_path(parts.uri.path()).map(TracePath).ok_or_else(bad_request_line)
    }
}

/// The last segment of `path`, unescaped; `None` for a bad escape.
fn trace_path(path: &str) -> Option<String> {
    let segment = path.rsplit('/').next().unwrap_or_default();
    let bytes = url::path_unescape(segment).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// What Go's `net/http` answers, before any handler, to a request line
/// whose path it cannot unescape.
fn bad_request_line() -> Response {
    (
        StatusCode::BAD_REQUEST,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CONNECTION, "close"),
        ],
        "400 Bad Request",
    )
        .into_response()
}

/// The frontend's body format: protobuf only for exactly this `Accept`
/// (`modules/frontend/traceid_handlers.go` at v2.6.1), JSON otherwise.
fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .is_some_and(|v| v.as_bytes() == PROTOBUF.as_bytes())
}

const PROTOBUF: &str = "application/protobuf";

async fn trace_v1(
    State(state): State<Arc<SimState>>,
    TracePath(id): TracePath,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let id = match check_trace_request(&id, raw.as_deref()) {
        Ok(id) => id,
        Err(refusal) => return refusal.into_response(),
    };
    match state.traces.by_id(id, &state.faults()) {
        // Tempo's combiner: all jobs 404 -> 404 with no body, no type.
        None => frontend(StatusCode::NOT_FOUND),
        Some(trace) if wants_protobuf(&headers) => frontend(proto_body(trace_proto(&trace.combined()).encode_to_vec())),
        // `MarshalToJSONV1`: the `Trace` message with `resourceSpans`
        // renamed `batches`.
        Some(trace) => frontend(json_body(trace_json("batches", &trace.combined()))),
    }
}

async fn trace_v2(
    State(state): State<Arc<SimState>>,
    TracePath(id): TracePath,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let id = match check_trace_request(&id, raw.as_deref()) {
        Ok(id) => id,
        Err(refusal) => return refusal.into_response(),
    };
    let found = state.traces.by_id(id, &state.faults());
    if wants_protobuf(&headers) {
        // `TraceByIDResponse{trace: 1}`: the trace is never nil, so even an
        // unknown one is written, as an empty message.
        let trace = found.map(|t| trace_proto(&t.combined())).unwrap_or_default();
        let mut body = Vec::new();
        prost::encoding::message::encode(1, &trace, &mut body);
        return frontend(proto_body(body));
    }
    // 2.6.1's v2 combiner never sets `metrics`; jsonpb leaves it out, and
    // an unknown trace is the empty `Trace`.
    let trace = match found {
        None => "{}".to_owned(),
        Some(trace) => trace_json("resourceSpans", &trace.combined()),
    };
    let mut response = jsonpb::Message::new();
    response.raw("trace", &trace);
    frontend(json_body(response.finish()))
}

fn proto_body(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
}

/// A `tempopb.Trace` (field 1, `resource_spans`, as OTLP's `TracesData`)
/// holding what `trace_json` writes: the messages pdata always writes are
/// present even when empty, and fields neither pdata 1.12 nor 2.6.1's
/// proto know are dropped.
fn trace_proto(batches: &[ResourceSpans]) -> TracesData {
    let mut batches = batches.to_vec();
    for rs in &mut batches {
        let resource = rs.resource.get_or_insert_with(Default::default);
        resource.entity_refs.clear();
        resource.attributes.iter_mut().for_each(proto_key_value);
        for ss in &mut rs.scope_spans {
            let scope = ss.scope.get_or_insert_with(Default::default);
            scope.attributes.iter_mut().for_each(proto_key_value);
            for span in &mut ss.spans {
                span.status.get_or_insert_with(Default::default);
                span.attributes.iter_mut().for_each(proto_key_value);
                for event in &mut span.events {
                    event.attributes.iter_mut().for_each(proto_key_value);
                }
                for link in &mut span.links {
                    // Lost on the way to the block, as in `link_json`.
                    link.flags = 0;
                    link.attributes.iter_mut().for_each(proto_key_value);
                }
            }
        }
    }
    TracesData {
        resource_spans: batches,
    }
}

fn proto_key_value(kv: &mut KeyValue) {
    proto_any_value(kv.value.get_or_insert_with(Default::default));
}

fn proto_any_value(value: &mut AnyValue) {
    match &mut value.value {
        Some(any_value::Value::ArrayValue(array)) => array.values.iter_mut().for_each(proto_any_value),
        Some(any_value::Value::KvlistValue(list)) => list.values.iter_mut().for_each(proto_key_value),
        Some(any_value::Value::StringValueStrindex(_)) => value.value = None,
        _ => {}
    }
}

/// A body gogo's jsonpb wrote, as Tempo sends it.
fn json_body(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A `tempopb.Trace` as gogo's jsonpb writes it, its resource spans under
/// `field`. What Tempo stores went through the distributor's pdata, whose
/// proto marshaller always writes the non-nullable `resource`, `scope`,
/// `status` and key-value `value`, so those are objects even when empty.
fn trace_json(field: &str, batches: &[ResourceSpans]) -> String {
    let mut trace = jsonpb::Message::new();
    trace.repeated(field, batches.iter().map(resource_spans_json).collect());
    trace.finish()
}

fn resource_spans_json(rs: &ResourceSpans) -> String {
    let mut m = jsonpb::Message::new();
    let (attributes, dropped) = rs
        .resource
        .as_ref()
        .map(|r| (r.attributes.as_slice(), r.dropped_attributes_count))
        .unwrap_or_default();
    let mut resource = jsonpb::Message::new();
    resource.repeated("attributes", attributes.iter().map(key_value_json).collect());
    resource.uint32("droppedAttributesCount", dropped);
    m.raw("resource", &resource.finish());
    m.repeated("scopeSpans", rs.scope_spans.iter().map(scope_spans_json).collect());
    m.string("schemaUrl", &rs.schema_url);
    m.finish()
}

fn scope_spans_json(ss: &ScopeSpans) -> String {
    let mut m = jsonpb::Message::new();
    let mut scope = jsonpb::Message::new();
    if let Some(s) = &ss.scope {
        scope.string("name", &s.name);
        scope.string("version", &s.version);
        scope.repeated("attributes", s.attributes.iter().map(key_value_json).collect());
        scope.uint32("droppedAttributesCount", s.dropped_attributes_count);
    }
    m.raw("scope", &scope.finish());
    m.repeated("spans", ss.spans.iter().map(span_json).collect());
    m.string("schemaUrl", &ss.schema_url);
    m.finish()
}

/// `SpanKind` names, by value.
const SPAN_KINDS: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

/// `Status.StatusCode` names, by value.
const STATUS_CODES: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// A span in Tempo 2.6.1's `tempopb.trace.v1.Span` field order (`flags`,
/// field 16, sits after `parentSpanId`); links' `flags` are not written:
/// vParquet4's `Link` does not keep them (`tempodb/encoding/vparquet4/
/// schema.go` at v2.6.1), so a trace read back from a block has none.
fn span_json(span: &Span) -> String {
    let mut m = jsonpb::Message::new();
    m.bytes("traceId", &span.trace_id);
    m.bytes("spanId", &span.span_id);
    m.string("traceState", &span.trace_state);
    m.bytes("parentSpanId", &span.parent_span_id);
    m.uint32("flags", span.flags);
    m.string("name", &span.name);
    m.enumeration("kind", span.kind, SPAN_KINDS);
    m.uint64("startTimeUnixNano", span.start_time_unix_nano);
    m.uint64("endTimeUnixNano", span.end_time_unix_nano);
    m.repeated("attributes", span.attributes.iter().map(key_value_json).collect());
    m.uint32("droppedAttributesCount", span.dropped_attributes_count);
    m.repeated("events", span.events.iter().map(event_json).collect());
    m.uint32("droppedEventsCount", span.dropped_events_count);
    m.repeated("links", span.links.iter().map(link_json).collect());
    m.uint32("droppedLinksCount", span.dropped_links_count);
    let mut status = jsonpb::Message::new();
    if let Some(s) = &span.status {
        status.string("message", &s.message);
        status.enumeration("code", s.code, STATUS_CODES);
    }
    m.raw("status", &status.finish());
    m.finish()
}

fn event_json(event: &span::Event) -> String {
    let mut m = jsonpb::Message::new();
    m.uint64("timeUnixNano", event.time_unix_nano);
    m.string("name", &event.name);
    m.repeated("attributes", event.attributes.iter().map(key_value_json).collect());
    m.uint32("droppedAttributesCount", event.dropped_attributes_count);
    m.finish()
}

fn link_json(link: &span::Link) -> String {
    let mut m = jsonpb::Message::new();
    m.bytes("traceId", &link.trace_id);
    m.bytes("spanId", &link.span_id);
    m.string("traceState", &link.trace_state);
    m.repeated("attributes", link.attributes.iter().map(key_value_json).collect());
    m.uint32("droppedAttributesCount", link.dropped_attributes_count);
    m.finish()
}

fn key_value_json(kv: &KeyValue) -> String {
    let mut m = jsonpb::Message::new();
    m.string("key", &kv.key);
    m.raw("value", &any_value_json(kv.value.as_ref()));
    m.finish()
}

/// An `AnyValue`: its oneof member is written even when it holds the
/// zero value (`{"intValue":"0"}`, `{"bytesValue":""}`).
fn any_value_json(value: Option<&AnyValue>) -> String {
    let mut m = jsonpb::Message::new();
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => m.raw("stringValue", &json::string(s)),
        Some(any_value::Value::BoolValue(b)) => m.raw("boolValue", &b.to_string()),
        Some(any_value::Value::IntValue(i)) => m.raw("intValue", &jsonpb::int64(*i)),
        Some(any_value::Value::DoubleValue(d)) => m.raw("doubleValue", &jsonpb::double(*d)),
        Some(any_value::Value::ArrayValue(array)) => {
            let mut a = jsonpb::Message::new();
            a.repeated("values", array.values.iter().map(|v| any_value_json(Some(v))).collect());
            m.raw("arrayValue", &a.finish());
        }
        Some(any_value::Value::KvlistValue(list)) => {
            let mut l = jsonpb::Message::new();
            l.repeated("values", list.values.iter().map(key_value_json).collect());
            m.raw("kvlistValue", &l.finish());
        }
        Some(any_value::Value::BytesValue(b)) => m.raw("bytesValue", &jsonpb::bytes(b)),
        // Profiles' string-table index is not in Tempo 2.6.1's proto: the
        // field is dropped as unknown, leaving an empty value.
        Some(any_value::Value::StringValueStrindex(_)) | None => {}
    }
    m.finish()
}

/// Parameters Tempo's search names; anything else is a legacy tag.
const SEARCH_PARAMS: &[&str] = &[
    "q",
    "tags",
    "minDuration",
    "maxDuration",
    "limit",
    "spss",
    "start",
    "end",
];
/// `modules/frontend/config.go`: default `limit` and `max_duration`.
const DEFAULT_LIMIT: u32 = 20;
const MAX_RANGE_SECONDS: u64 = 168 * 3600;
/// `pkg/api/http.go` `defaultSpansPerSpanSet`.
const DEFAULT_SPSS: u32 = 3;

/// A search request that passed Tempo's checks.
struct SearchRequest {
    /// Unix seconds, as Tempo keeps them (`uint32`; 0 is "not given").
    start: u32,
    end: u32,
    /// `None`: no `q`, Tempo's tag search with no tags (every trace).
    search: Option<Search>,
    min_duration_ms: u32,
    max_duration_ms: u32,
    limit: u32,
    spss: u32,
}

/// What the reference stack evaluates of a `q` Tempo's frontend accepts,
/// or the refusal.
fn traceql_query(q: &Param) -> Result<Search, Refusal> {
    let invalid = |e: &dyn std::fmt::Display| bad_request(format!("invalid TraceQL query: {e}"));
    let parsed = traceql::parse(&q.value);
    if q.invalid_utf8 {
        // Go's scanner reads every byte and reports the first one that is
        // not UTF-8, unless an earlier error stops it: always a 400. The
        // position is the byte's own (Go's is its token's start).
        return Err(match parsed {
            Err(QueryError::Invalid(e)) => invalid(&e),
            _ => {
                let before = q.value.split('\u{fffd}').next().unwrap_or_default();
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
                bad_request(format!(
                    "invalid TraceQL query: parse error at line {line}, col {col}: invalid UTF-8 encoding"
                ))
            }
        });
    }
    // Tempo does not validate exactly `{}` ("hacky fix"); it parses anyway.
    match parsed {
        Ok(query) => query.search().map_err(|e| Refusal::NotImplemented(e.to_string())),
        Err(QueryError::Unserved(e)) => Err(Refusal::NotImplemented(e.to_string())),
        Err(QueryError::Invalid(e)) => Err(invalid(&e)),
    }
}

/// `tags` as `ParseSearchRequest` decodes it (`pkg/api/http.go` at
/// v2.6.1): logfmt, each key at most once.
fn check_tags(raw: &[u8]) -> Result<(), Refusal> {
    let (keys, err) = logfmt::decode_keys(raw);
    for (i, key) in keys.iter().enumerate() {
        if keys[..i].contains(key) {
            let key = String::from_utf8_lossy(key);
            return Err(bad_request(format!("invalid tags: tag {key} has been set twice")));
        }
    }
    match err {
        None => Ok(()),
        Some(logfmt::DecodeError::Syntax { msg, pos }) => Err(bad_request(format!("invalid tags: {msg} at pos {pos}"))),
        Some(logfmt::DecodeError::TooLong) => Err(bad_request("invalid tags: bufio.Scanner: token too long".into())),
    }
}

/// `ParseSearchRequest`, then the sharder's limit and range checks.
fn check_search_request(params: &GoQuery) -> Result<SearchRequest, Refusal> {
    let seconds = |key: &str| -> Result<u32, Refusal> {
        match params.get(key) {
            // ParseInt(s, 10, 32), kept as uint32: -1 becomes 4294967295.
            Some(s) => strconv::parse_int(s, 10, 32)
                .map(|v| v as i32 as u32)
                .map_err(|e| bad_request(format!("invalid {key}: {e}"))),
            None => Ok(0),
        }
    };
    let start = seconds("start")?;
    let end = seconds("end")?;
    let q = params.first("q").filter(|p| !p.value.is_empty());
    let mut unserved: Option<String> = None;
    let search = match q.map(traceql_query) {
        None => None,
        Some(Ok(search)) => Some(search),
        // Tempo would run it: its other parameters are still checked.
        Some(Err(Refusal::NotImplemented(why))) => {
            unserved = Some(why);
            None
        }
        Some(Err(bad)) => return Err(bad),
    };
    if let Some(tags) = params.first("tags").filter(|p| !p.value.is_empty()) {
        if q.is_some() {
            return Err(bad_request(
                "invalid request: can't specify tags and q in the same query".into(),
            ));
        }
        check_tags(&tags.raw)?;
        unserved.get_or_insert_with(|| {
            "the reference stack does not serve tag search (`tags=`); send a TraceQL `q`".into()
        });
    }
    if q.is_none() && params.get("tags").is_none() && start == 0 && end == 0 {
        // Tempo then reads any other parameter as a tag to match.
        let tag = params.0.iter().enumerate().find(|(i, p)| {
            // `range vals` with `v[0]`: each key's first value.
            !SEARCH_PARAMS.contains(&p.key.as_str())
                && params.0[..*i].iter().all(|o| o.key != p.key)
                && !p.value.is_empty()
        });
        if let Some((_, k)) = tag {
            unserved.get_or_insert_with(|| {
                format!(
                    "the reference stack does not serve tag search through query parameters (`{}=`)",
                    k.key
                )
            });
        }
    }
    let millis = |key: &str| -> Result<u32, Refusal> {
        match params.get(key) {
            // uint32(dur.Milliseconds()).
            Some(s) => time::parse_duration(s)
                .map(|ns| (ns / 1_000_000) as u32)
                .map_err(|e| bad_request(format!("invalid {key}: {e}"))),
            None => Ok(0),
        }
    };
    let min_duration_ms = millis("minDuration")?;
    let max_duration_ms = millis("maxDuration")?;
    if params.get("maxDuration").is_some() && min_duration_ms != 0 && min_duration_ms > max_duration_ms {
        return Err(bad_request(
            "invalid maxDuration: must be greater than minDuration".into(),
        ));
    }
    let positive = |key: &str, default: u32| -> Result<u32, Refusal> {
        match params.get(key) {
            Some(s) => match strconv::atoi(s) {
                Err(e) => Err(bad_request(format!("invalid {key}: {e}"))),
                Ok(v) if v <= 0 => Err(bad_request(format!("invalid {key}: must be a positive number"))),
                Ok(v) => Ok(v as u32),
            },
            None => Ok(default),
        }
    };
    // adjustLimit: 0 (also a wrapped uint32) means the default.
    let limit = match positive("limit", DEFAULT_LIMIT)? {
        0 => DEFAULT_LIMIT,
        l => l,
    };
    let spss = positive("spss", DEFAULT_SPSS)?;
    if (start != 0 || end != 0) && end <= start {
        return Err(bad_request(format!(
            "http parameter start must be before end. received start={start} end={end}"
        )));
    }
    if u64::from(end - start) > MAX_RANGE_SECONDS {
        return Err(bad_request(format!(
            "range specified by start and end exceeds 168h0m0s. received start={start} end={end}"
        )));
    }
    if let Some(why) = unserved {
        return Err(Refusal::NotImplemented(why));
    }
    Ok(SearchRequest {
        start,
        end,
        search,
        min_duration_ms,
        max_duration_ms,
        limit,
        spss,
    })
}

async fn search(State(state): State<Arc<SimState>>, RawQuery(raw): RawQuery) -> Response {
    let params = GoQuery::parse(raw.as_deref());
    let req = match check_search_request(&params) {
        Err(refusal) => return refusal.into_response(),
        Ok(req) => req,
    };

    let mut hits: Vec<(TraceId, StoredTrace, Vec<MatchedSpan>)> = Vec::new();
    let searchable = state.traces.searchable(state.search_idle, &state.faults());
    for (id, trace) in &searchable {
        // Tempo keeps traces overlapping the window when both are given.
        if req.start > 0 && req.end > 0 {
            let (from, to) = (u64::from(req.start) * 1_000_000_000, u64::from(req.end) * 1_000_000_000);
            if trace.start_unix_nanos() > to || trace.end_unix_nanos() < from {
                continue;
            }
        }
        let spans: Vec<SpanView<'_>> = trace
            .spans()
            .map(|(rs, span)| SpanView {
                resource: rs
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.as_slice())
                    .unwrap_or_default(),
                span,
            })
            .collect();
        let matched: Vec<usize> = match &req.search {
            Some(search) => match search.matches(&spans) {
                Ok(matched) => matched,
                Err(why) => return Refusal::NotImplemented(why.to_string()).into_response(),
            },
            None => {
                // Tag search applies minDuration/maxDuration; TraceQL
                // search ignores them (Tempo's engine has a TODO).
                let ms = trace.end_unix_nanos().saturating_sub(trace.start_unix_nanos()) / 1_000_000;
                let min = u64::from(req.min_duration_ms);
                let max = if req.max_duration_ms == 0 {
                    u64::MAX
                } else {
                    u64::from(req.max_duration_ms)
                };
                if ms < min || ms > max {
                    continue;
                }
                (0..spans.len()).collect()
            }
        };
        if !matched.is_empty() {
            let reported = |i: usize| req.search.as_ref().map(|s| s.reported(&spans[i])).unwrap_or_default();
            let matched = matched.iter().map(|&i| (spans[i].span.clone(), reported(i))).collect();
            hits.push((*id, trace.clone(), matched));
        }
    }
    hits.sort_by_key(|(_, t, _)| std::cmp::Reverse(t.start_unix_nanos()));
    let traces: Vec<String> = hits
        .iter()
        .take(req.limit as usize)
        .map(|(id, trace, matched)| search_hit(*id, trace, matched, req.spss as usize))
        .collect();
    // `SearchResponse` through gogo's jsonpb (`combiner/common.go`
    // `HTTPFinal`): an empty `traces` and zero metrics are left out. One
    // ingester job, as the sharder sends when no blocks are searched.
    let mut metrics = jsonpb::Message::new();
    // TraceQL's engine counts only bytes (`pkg/traceql/engine.go` at
    // v2.6.1); the tag search counts traces too. The bytes here are the
    // searched traces' proto size, standing in for the blocks' columns.
    if req.search.is_none() {
        metrics.uint32("inspectedTraces", searchable.len() as u32);
    }
    let bytes: usize = searchable
        .iter()
        .map(|(_, t)| trace_proto(&t.batches).encoded_len())
        .sum();
    metrics.uint64("inspectedBytes", bytes as u64);
    metrics.uint32("completedJobs", 1);
    metrics.uint32("totalJobs", 1);
    let mut response = jsonpb::Message::new();
    response.repeated("traces", traces);
    response.raw("metrics", &metrics.finish());
    frontend(json_body(response.finish()))
}

/// What the combiner writes for a trace whose root span has not arrived
/// (`pkg/search/util.go` `RootSpanNotYetReceivedText` at v2.6.1).
const ROOT_NOT_YET: &str = "<root span not yet received>";

/// A `TraceSearchMetadata` in proto field order (`pkg/traceql/engine.go`
/// `asTraceSearchMetadata`): the spanset both as the deprecated `spanSet`
/// and as `spanSets[0]`.
fn search_hit(id: TraceId, trace: &StoredTrace, matched: &[MatchedSpan], spss: usize) -> String {
    let start = trace.start_unix_nanos();
    let (root_service, root_name) = root_names(trace);
    let mut m = jsonpb::Message::new();
    // Tempo trims leading zeros (pkg/util/traceid.go).
    m.string("traceID", &id.trimmed_hex());
    m.string("rootServiceName", root_service.unwrap_or(ROOT_NOT_YET));
    m.string("rootTraceName", root_name);
    m.uint64("startTimeUnixNano", start);
    m.uint32(
        "durationMs",
        (trace.end_unix_nanos().saturating_sub(start) / 1_000_000) as u32,
    );
    let set = span_set_json(matched, spss);
    m.raw("spanSet", &set);
    m.repeated("spanSets", vec![set]);
    let stats = service_stats(trace);
    if !stats.is_empty() {
        let entries: Vec<String> = stats
            .iter()
            .map(|(service, (spans, errors))| {
                let mut s = jsonpb::Message::new();
                s.uint32("spanCount", *spans);
                s.uint32("errorCount", *errors);
                format!("{}:{}", json::string(service), s.finish())
            })
            .collect();
        m.raw("serviceStats", &format!("{{{}}}", entries.join(",")));
    }
    m.finish()
}

/// A span the query matched, with what the engine reports of it.
type MatchedSpan = (Span, Reported);

fn span_set_json(matched: &[MatchedSpan], spss: usize) -> String {
    let spans = matched
        .iter()
        .take(spss)
        .map(|(s, reported)| {
            let mut span = jsonpb::Message::new();
            span.string("spanID", &span_id_hex(&s.span_id));
            span.string("name", reported.name.as_deref().unwrap_or_default());
            span.uint64("startTimeUnixNano", s.start_time_unix_nano);
            span.uint64(
                "durationNanos",
                s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano),
            );
            span.repeated("attributes", reported.attributes.iter().map(key_value_json).collect());
            span.finish()
        })
        .collect();
    let mut set = jsonpb::Message::new();
    set.repeated("spans", spans);
    set.uint32("matched", matched.len() as u32);
    set.finish()
}

/// `SpanIDToHexString`: leading zeros trimmed, then padded to 16.
fn span_id_hex(id: &[u8]) -> String {
    let full: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!("{:0>16}", full.trim_start_matches('0'))
}

/// The root span's name and its resource's string `service.name`.
fn root_names(trace: &StoredTrace) -> (Option<&str>, &str) {
    let Some((rs, root)) = trace.root() else {
        return (None, "");
    };
    (service_name(rs).filter(|s| !s.is_empty()), &root.name)
}

/// A resource's `service.name` when it is a string, as vParquet4 reads it.
fn service_name(rs: &ResourceSpans) -> Option<&str> {
    let kv = rs
        .resource
        .iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")?;
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// Spans and error spans per resource `service.name` (string values;
/// others count under ""), as vParquet4 keeps them
/// (`nested_set_model.go` `assignNestedSetModelBoundsAndServiceStats`);
/// jsonpb writes the map sorted by key.
fn service_stats(trace: &StoredTrace) -> std::collections::BTreeMap<String, (u32, u32)> {
    let mut stats = std::collections::BTreeMap::<String, (u32, u32)>::new();
    for (rs, span) in trace.spans() {
        let entry = stats
            .entry(service_name(rs).unwrap_or_default().to_owned())
            .or_default();
        entry.0 += 1;
        if span.status.as_ref().is_some_and(|s| s.code == 2) {
            entry.1 += 1;
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(raw: &str) -> GoQuery {
        GoQuery::parse(Some(raw))
    }

    async fn body(r: Response) -> (u16, Option<String>, String) {
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap_or_default();
        (status, ctype, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn search_error(raw: &str) -> (u16, Option<String>, String) {
        match check_search_request(&query(raw)) {
            Err(r) => body(r.into_response()).await,
            Ok(_) => (200, None, String::new()),
        }
    }

    #[tokio::test]
    async fn search_parameters_are_checked_in_tempos_order() {
        let text = Some("text/plain; charset=utf-8".to_owned());
        for (raw, msg) in [
            (
                "start=abc",
                r#"invalid start: strconv.ParseInt: parsing "abc": invalid syntax"#,
            ),
            (
                "start=1.5&end=10",
                r#"invalid start: strconv.ParseInt: parsing "1.5": invalid syntax"#,
            ),
            (
                "start=99999999999&end=10",
                r#"invalid start: strconv.ParseInt: parsing "99999999999": value out of range"#,
            ),
            (
                "start=abc&limit=x",
                r#"invalid start: strconv.ParseInt: parsing "abc": invalid syntax"#,
            ),
            ("end=x", r#"invalid end: strconv.ParseInt: parsing "x": invalid syntax"#),
            (
                "q=%7B%20span.a%20%3D%20%7D&limit=abc",
                "invalid TraceQL query: parse error at line 1, col 12: syntax error: unexpected }",
            ),
            (
                r#"q={ resource.service.name =~ "a\-b" }"#,
                "invalid TraceQL query: parse error at line 1, col 28: invalid char escape",
            ),
            (
                "limit=abc",
                r#"invalid limit: strconv.Atoi: parsing "abc": invalid syntax"#,
            ),
            ("limit=0", "invalid limit: must be a positive number"),
            ("limit=-5", "invalid limit: must be a positive number"),
            (
                "limit=99999999999999999999",
                r#"invalid limit: strconv.Atoi: parsing "99999999999999999999": value out of range"#,
            ),
            (
                "spss=abc",
                r#"invalid spss: strconv.Atoi: parsing "abc": invalid syntax"#,
            ),
            ("spss=0", "invalid spss: must be a positive number"),
            ("spss=-1", "invalid spss: must be a positive number"),
            (
                "start=-1&end=10",
                "http parameter start must be before end. received start=4294967295 end=10",
            ),
            (
                "start=20&end=10",
                "http parameter start must be before end. received start=20 end=10",
            ),
            (
                "start=10&end=10",
                "http parameter start must be before end. received start=10 end=10",
            ),
            (
                "start=10",
                "http parameter start must be before end. received start=10 end=0",
            ),
            (
                "start=1&end=604802",
                "range specified by start and end exceeds 168h0m0s. received start=1 end=604802",
            ),
            (
                "minDuration=abc",
                r#"invalid minDuration: time: invalid duration "abc""#,
            ),
            (
                "maxDuration=1",
                r#"invalid maxDuration: time: missing unit in duration "1""#,
            ),
            (
                "minDuration=2s&maxDuration=1s",
                "invalid maxDuration: must be greater than minDuration",
            ),
            (
                "q={}&tags=a%3Db",
                "invalid request: can't specify tags and q in the same query",
            ),
            (
                "tags=a%3D1%20a%3D2&minDuration=x",
                "invalid tags: tag a has been set twice",
            ),
            ("tags=a%3Db%3Dc", "invalid tags: unexpected '=' at pos 4"),
            (
                "tags=service.name%3D%22x&limit=0",
                "invalid tags: unterminated quoted value at pos 16",
            ),
            // A bad tag value is found before a bad duration.
            ("minDuration=x&tags=%3Dx", "invalid tags: unexpected '=' at pos 1"),
        ] {
            assert_eq!(search_error(raw).await, (400, text.clone(), msg.to_owned()), "{raw}");
        }
        // Accepted by Tempo: `{}` is not even parsed, and `end` alone is fine.
        for raw in ["q={}", "q=%7B%7D&limit=5&spss=1", "end=10", "start=1&end=604801", ""] {
            assert_eq!(search_error(raw).await.0, 200, "{raw}");
        }
    }

    #[tokio::test]
    async fn valid_but_unevaluated_queries_are_501() {
        for raw in [
            "q={ span.a = 1 } >> { span.b = 2 }",
            "q={ span.a = 1 } | count() > 1",
            "q={ span.a = 1 } with(most_recent=true)",
            "q={ span.a = nil }",
            "tags=service.name%3Dx",
            "service.name=x",
        ] {
            let (status, ctype, msg) = search_error(raw).await;
            assert_eq!(
                (status, ctype.as_deref()),
                (501, Some("text/plain; charset=utf-8")),
                "{raw}"
            );
            assert!(msg.starts_with("pillars-sim: "), "{msg}");
        }
        // A bad later parameter still wins over "not evaluated".
        assert_eq!(search_error("q={ span.a = 1 } | count() > 1&limit=0").await.0, 400);
    }

    #[test]
    fn query_strings_follow_go() {
        let q = query("q=a+b&q=second&x=%zz&y=1;2&limit=&spss=%33");
        assert_eq!(q.get("q"), Some("a b"));
        assert_eq!(q.get("x"), None);
        assert_eq!(q.get("y"), None);
        assert_eq!(q.get("limit"), None);
        assert_eq!(q.get("spss"), Some("3"));
    }

    #[tokio::test]
    async fn invalid_utf8_in_q_is_refused() {
        let (status, _, msg) = search_error("q=%7B%20span.a%20%3D%20%22%FF%22%20%7D").await;
        assert_eq!(status, 400);
        assert_eq!(
            msg,
            "invalid TraceQL query: parse error at line 1, col 13: invalid UTF-8 encoding"
        );
    }

    #[tokio::test]
    async fn trace_by_id_requests_are_checked() {
        let text = Some("text/plain; charset=utf-8".to_owned());
        for (id, raw, msg) in [
            (
                "xyz",
                "",
                "trace IDs can only contain hex characters: invalid character 'x' at position 1",
            ),
            (
                "0x12",
                "",
                "trace IDs can only contain hex characters: invalid character 'x' at position 2",
            ),
            (&"a".repeat(33), "", "trace IDs can't be larger than 128 bits"),
            ("1234", "mode=foo", "invalid value for mode foo"),
            (
                "1234",
                "start=abc",
                r#"invalid start: strconv.ParseInt: parsing "abc": invalid syntax"#,
            ),
            (
                "1234",
                "start=20&end=10",
                "http parameter start must be before end. received start=20 end=10",
            ),
            (
                "1234",
                "blockStart=abc",
                "invalid value for blockstart: invalid UUID length: 3",
            ),
            (
                "1234",
                "blockEnd=zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
                "invalid value for blockEnd: invalid UUID format",
            ),
        ] {
            let got = match check_trace_request(id, Some(raw)) {
                Err(r) => body(r.into_response()).await,
                Ok(_) => (200, None, String::new()),
            };
            assert_eq!(got, (400, text.clone(), msg.to_owned()), "{id}?{raw}");
        }
        // Valid, but only blocks would answer it.
        let blocks = check_trace_request("1234", Some("mode=blocks&start=1&end=2"));
        assert!(matches!(blocks, Err(Refusal::NotImplemented(_))), "{blocks:?}");
        let invalid = check_trace_request("1234", Some("mode=blocks&start=2&end=1"));
        assert!(matches!(invalid, Err(Refusal::BadRequest(_))), "{invalid:?}");
        for raw in [
            "mode=ingesters&start=abc",
            "blockStart=00000000-0000-0000-0000-000000000000&start=10&end=20",
        ] {
            assert!(check_trace_request("1234", Some(raw)).is_ok(), "{raw}");
        }
    }

    fn stored(state: &SimState, id: [u8; 16], service: &str, run: &str, start_s: u64) {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use opentelemetry_proto::tonic::trace::v1::ScopeSpans;
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        };
        let span = |n: u8, parent: bool| Span {
            trace_id: id.to_vec(),
            span_id: vec![n; 8],
            parent_span_id: if parent { vec![1; 8] } else { Vec::new() },
            name: format!("op-{n}"),
            start_time_unix_nano: start_s * 1_000_000_000,
            end_time_unix_nano: start_s * 1_000_000_000 + 5_000_000,
            attributes: vec![kv("pillars.run", run)],
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", service)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: (1..=4).map(|n| span(n, n > 1)).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        state.traces.ingest(request, &state.faults());
    }

    async fn json_of(r: Response) -> (u16, Value) {
        let (status, _, text) = body(r).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn search_answers_from_the_stored_traces() {
        let state = Arc::new(SimState::default());
        let mut a = [0u8; 16];
        a[15] = 0xab;
        stored(&state, a, "pillars-traces-1a2b3c4d", "r-1", 1_000);
        stored(&state, [0x77; 16], "pillars-traces-1a2b3c4d", "r-2", 2_000);
        let ask = |q: &str| search(State(state.clone()), RawQuery(Some(q.to_owned())));
        // `&&` percent-encoded, as a client sends it.
        let q = r#"q={ resource.service.name = "pillars-traces-1a2b3c4d" %26%26 span.pillars.run = "r-1" }&spss=2"#;
        let (status, found) = json_of(ask(q).await).await;
        assert_eq!(status, 200);
        let traces = found["traces"].as_array().cloned().unwrap_or_default();
        assert_eq!(traces.len(), 1, "{found}");
        assert_eq!(traces[0]["traceID"], "ab");
        assert_eq!(traces[0]["rootServiceName"], "pillars-traces-1a2b3c4d");
        assert_eq!(traces[0]["rootTraceName"], "op-1");
        assert_eq!(traces[0]["spanSets"][0]["matched"], 4);
        assert_eq!(traces[0]["spanSets"][0]["spans"].as_array().map(Vec::len), Some(2));
        // Newest first, `limit` applied; the window keeps overlapping traces.
        let (_, all) = json_of(ask("q={}&limit=1").await).await;
        assert_eq!(all["traces"][0]["traceID"], "7".repeat(32));
        let (_, window) = json_of(ask("q={ }&start=900&end=1001").await).await;
        assert_eq!(window["traces"].as_array().map(Vec::len), Some(1));
        // jsonpb leaves an empty `traces` out.
        let (_, none) = json_of(ask(r#"q={ span.pillars.run =~ "r-[3-9]" }"#).await).await;
        assert_eq!(none.get("traces"), None, "{none}");
        let (status, _, text) = body(ask(r#"q={ span.a = "x" } >> { }"#).await).await;
        assert_eq!(status, 501, "{text}");
    }

    /// A search hit as the frontend's jsonpb writes it: proto field order,
    /// the deprecated `spanSet` beside `spanSets`, zero values left out,
    /// strings HTML-safe,
    /// `serviceStats` per service, and the combiner's placeholder when the
    /// root span has not arrived (`modules/frontend/combiner/search.go`).
    #[tokio::test]
    async fn search_hits_have_tempos_shape() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use opentelemetry_proto::tonic::trace::v1::Status;
        let state = Arc::new(SimState::default());
        let service = KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("svc".into())),
            }),
            ..Default::default()
        };
        let span = |n: u8, parent: u8, end_ns: u64, code: i32| Span {
            trace_id: vec![0x0a; 16],
            span_id: vec![n; 8],
            parent_span_id: if parent == 0 { Vec::new() } else { vec![parent; 8] },
            name: format!("op-{n}"),
            start_time_unix_nano: 1_000_000_000_000,
            end_time_unix_nano: 1_000_000_000_000 + end_ns,
            status: Some(Status {
                code,
                ..Default::default()
            }),
            ..Default::default()
        };
        // No root yet, and shorter than a millisecond.
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![service],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span(2, 1, 500_000, 2), span(3, 1, 0, 0)],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let bytes = trace_proto(&request.resource_spans).encoded_len();
        state.traces.ingest(request, &state.faults());
        let (status, _, text) = body(search(State(state.clone()), RawQuery(Some("q={}".into()))).await).await;
        assert_eq!(status, 200);
        let set = r#"{"spans":[{"spanID":"0202020202020202","startTimeUnixNano":"1000000000000","durationNanos":"500000"},{"spanID":"0303030303030303","startTimeUnixNano":"1000000000000"}],"matched":2}"#;
        let hit = format!(
            r#"{{"traceID":"{}","rootServiceName":"\u003croot span not yet received\u003e","startTimeUnixNano":"1000000000000","spanSet":{set},"spanSets":[{set}],"serviceStats":{{"svc":{{"spanCount":2,"errorCount":1}}}}}}"#,
            &"0a".repeat(16)[1..]
        );
        assert_eq!(
            text,
            format!(r#"{{"traces":[{hit}],"metrics":{{"inspectedBytes":"{bytes}","completedJobs":1,"totalJobs":1}}}}"#)
        );
        // The tag search (no `q`) also counts the traces it inspected.
        let (_, tags) = json_of(search(State(state.clone()), RawQuery(None)).await).await;
        assert_eq!(tags["metrics"]["inspectedTraces"], 1, "{tags}");
    }

    /// The id is read from the path as Go decodes it: escapes undone
    /// (`%61` is `a`, a lone byte not UTF-8 is named U+FFFD by the id
    /// check) and a bad escape is Go's server-level 400.
    #[tokio::test]
    async fn trace_ids_are_read_from_the_path_as_go_decodes_it() {
        assert_eq!(trace_path("/api/traces/%61b+c").as_deref(), Some("ab+c"));
        let id = trace_path("/api/v2/traces/%FF12").unwrap_or_default();
        let got = match check_trace_request(&id, None) {
            Err(r) => body(r.into_response()).await,
            Ok(_) => (200, None, String::new()),
        };
        assert_eq!(
            got.2,
            "trace IDs can only contain hex characters: invalid character '\u{fffd}' at position 1"
        );
        assert_eq!(trace_path("/api/traces/ab%zz"), None);
        let (status, ctype, text) = body(bad_request_line()).await;
        assert_eq!(
            (status, ctype.as_deref(), text.as_str()),
            (400, Some("text/plain; charset=utf-8"), "400 Bad Request")
        );
    }

    /// gzhttp's choice: gzip's q-value, the first `gzip` coding only.
    #[test]
    fn gzip_is_accepted_as_gzhttp_reads_accept_encoding() {
        let accepts = |v: &str| accepts_gzip(Some(&HeaderValue::from_str(v).unwrap()));
        for yes in [
            "gzip",
            "GZIP",
            "deflate, gzip",
            " gzip;q=0.5",
            "gzip;q=2",
            "br;q=1, gzip ;q=0.1",
            "gzip;q=0;x=1",
        ] {
            assert!(accepts(yes), "{yes}");
        }
        for no in ["", "deflate", "*", "gzip;q=0", "gzip;q=x", "gzip;q=0, gzip", "x-gzip"] {
            assert!(!accepts(no), "{no}");
        }
        assert!(!accepts_gzip(None));
    }

    #[tokio::test]
    async fn large_bodies_are_gzipped_small_ones_not() {
        use std::io::Read as _;
        let big = "x".repeat(GZIP_MIN_SIZE);
        let r = gzipped(([(header::CONTENT_LENGTH, "1024")], big.clone()).into_response()).await;
        assert_eq!(
            r.headers().get(header::CONTENT_ENCODING).map(|v| v.as_bytes()),
            Some(&b"gzip"[..])
        );
        assert_eq!(r.headers().get(header::CONTENT_LENGTH), None);
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, big);
        let small = gzipped(big[1..].to_owned().into_response()).await;
        assert_eq!(small.headers().get(header::CONTENT_ENCODING), None);
    }

    /// A matched span carries what the query read of it
    /// (`asTraceSearchMetadata`): its name when the query reads `name`,
    /// the other attributes it has by name, intrinsics spelled as TraceQL
    /// prints them, and never duration or the trace-level intrinsics.
    #[tokio::test]
    async fn search_spans_carry_the_attributes_the_query_read() {
        let state = Arc::new(SimState::default());
        stored(&state, [0x77; 16], "svc", "r-1", 1_000);
        let q = r#"q={ (name = "op-2" %26%26 span.pillars.run = "r-1" %26%26 resource.service.name = "svc" %26%26 status = unset %26%26 kind != server %26%26 duration > 1ms %26%26 rootName = "op-1") || .nosuch = 1 }"#;
        let (status, _, text) = body(search(State(state.clone()), RawQuery(Some(q.into()))).await).await;
        assert_eq!(status, 200, "{text}");
        let found: Value = serde_json::from_str(&text).unwrap_or_default();
        let span = &found["traces"][0]["spanSets"][0]["spans"][0];
        assert_eq!(span["name"], "op-2", "{text}");
        let attributes: Vec<(String, Value)> = span["attributes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|kv| (kv["key"].as_str().unwrap_or_default().to_owned(), kv["value"].clone()))
            .collect();
        assert_eq!(
            attributes,
            [
                ("pillars.run".to_owned(), json!({ "stringValue": "r-1" })),
                ("service.name".to_owned(), json!({ "stringValue": "svc" })),
                ("status".to_owned(), json!({ "stringValue": "unset" })),
                ("kind".to_owned(), json!({ "stringValue": "unspecified" })),
            ]
        );
        // `{}` reads nothing.
        let (_, all) = json_of(search(State(state.clone()), RawQuery(Some("q={}".into()))).await).await;
        let span = &all["traces"][0]["spanSets"][0]["spans"][0];
        assert_eq!((span.get("name"), span.get("attributes")), (None, None), "{all}");
    }

    #[tokio::test]
    async fn traces_by_id_have_tempos_shapes() {
        let state = Arc::new(SimState::default());
        stored(&state, [0x77; 16], "svc", "r-1", 1_000);
        let v1 = |id: &str| {
            trace_v1(
                State(state.clone()),
                TracePath(id.to_owned()),
                RawQuery(None),
                HeaderMap::new(),
            )
        };
        let v2 = |id: &str| {
            trace_v2(
                State(state.clone()),
                TracePath(id.to_owned()),
                RawQuery(None),
                HeaderMap::new(),
            )
        };
        let (status, found) = json_of(v1(&"7".repeat(32)).await).await;
        assert_eq!((status, found["batches"].as_array().map(Vec::len)), (200, Some(1)));
        // The same spans pushed again are combined away.
        stored(&state, [0x77; 16], "svc", "r-1", 1_000);
        let (_, again) = json_of(v1(&"7".repeat(32)).await).await;
        assert_eq!(again, found);
        assert_eq!(body(v1("1234").await).await, (404, None, String::new()));
        let (status, found) = json_of(v2(&"7".repeat(32)).await).await;
        assert_eq!(status, 200);
        assert_eq!(found["trace"]["resourceSpans"].as_array().map(Vec::len), Some(1));
        assert_eq!(found.get("metrics"), None);
        assert_eq!(
            body(v2("1234").await).await,
            (200, Some("application/json".into()), r#"{"trace":{}}"#.into())
        );
        assert_eq!(body(v2("xyz").await).await.0, 400);
    }

    /// `Accept: application/protobuf` (exactly) is answered with the
    /// proto bytes, typed `application/protobuf`; anything else is JSON.
    #[tokio::test]
    async fn traces_by_id_answer_protobuf_when_asked() {
        use opentelemetry_proto::tonic::trace::v1::TracesData;
        use prost::Message as _;
        #[derive(Clone, PartialEq, prost::Message)]
        struct TraceByIdResponse {
            #[prost(message, optional, tag = "1")]
            trace: Option<TracesData>,
        }
        let state = Arc::new(SimState::default());
        stored(&state, [0x77; 16], "svc", "r-1", 1_000);
        let accept = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            h
        };
        let v1 = |id: &str, h: HeaderMap| trace_v1(State(state.clone()), TracePath(id.to_owned()), RawQuery(None), h);
        let v2 = |id: &str, h: HeaderMap| trace_v2(State(state.clone()), TracePath(id.to_owned()), RawQuery(None), h);
        let known = "7".repeat(32);
        let proto = || accept("application/protobuf");

        let r = v1(&known, proto()).await;
        let ctype = r.headers().get(header::CONTENT_TYPE).cloned();
        assert_eq!(
            ctype.as_ref().and_then(|v| v.to_str().ok()),
            Some("application/protobuf")
        );
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let trace = TracesData::decode(bytes).unwrap();
        assert_eq!(trace.resource_spans.len(), 1);
        let span = &trace.resource_spans[0].scope_spans[0].spans[0];
        // What jsonpb writes as `{}` is an empty message on the wire too.
        assert_eq!(span.status, Some(Default::default()));
        assert_eq!(trace.resource_spans[0].scope_spans[0].scope, Some(Default::default()));

        let r = v2(&known, proto()).await;
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let response = TraceByIdResponse::decode(bytes).unwrap();
        assert_eq!(response.trace.map(|t| t.resource_spans.len()), Some(1));
        let r = v2("1234", proto()).await;
        let ctype = r.headers().get(header::CONTENT_TYPE).cloned();
        assert_eq!(
            ctype.as_ref().and_then(|v| v.to_str().ok()),
            Some("application/protobuf")
        );
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        assert_eq!(&bytes[..], [0x0a, 0x00]);

        assert_eq!(body(v1("1234", proto()).await).await, (404, None, String::new()));
        // Tempo compares the whole header value.
        for other in ["application/protobuf, application/json", "application/json", "*/*"] {
            let (status, ctype, _) = body(v1(&known, accept(other)).await).await;
            assert_eq!((status, ctype.as_deref()), (200, Some("application/json")), "{other}");
        }
    }

    /// Every field and `AnyValue` kind, compared with what Tempo 2.6.1's
    /// `tempopb.MarshalToJSONV1` (gogo jsonpb) wrote for the same trace
    /// built in Go: enum names, quoted 64-bit integers, base64 bytes,
    /// `1e+21`/`2.5e-7`/`"NaN"`, HTML-safe strings, `{}` for an empty
    /// status, scope and value, empty keys and zero counts left out, and
    /// no `flags` on links (not kept by vParquet4).
    #[test]
    fn span_json_is_what_tempos_jsonpb_writes() {
        use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use opentelemetry_proto::tonic::trace::v1::Status;
        let v = |v: any_value::Value| Some(AnyValue { value: Some(v) });
        let kv = |k: &str, value: Option<AnyValue>| KeyValue {
            key: k.into(),
            value,
            ..Default::default()
        };
        let s = |x: &str| v(any_value::Value::StringValue(x.into()));
        let attrs = vec![
            kv("s", s("x<&>")),
            kv("i", v(any_value::Value::IntValue(-7))),
            kv("i0", v(any_value::Value::IntValue(0))),
            kv("d", v(any_value::Value::DoubleValue(1.5))),
            kv("dbig", v(any_value::Value::DoubleValue(1e21))),
            kv("dsmall", v(any_value::Value::DoubleValue(2.5e-7))),
            kv("dint", v(any_value::Value::DoubleValue(3.0))),
            kv("dnan", v(any_value::Value::DoubleValue(f64::NAN))),
            kv("dinf", v(any_value::Value::DoubleValue(f64::NEG_INFINITY))),
            kv("b", v(any_value::Value::BoolValue(false))),
            kv("bytes", v(any_value::Value::BytesValue(vec![0xfb, 0xff, 1]))),
            kv("bytes0", v(any_value::Value::BytesValue(Vec::new()))),
            kv(
                "arr",
                v(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![
                        s("a").unwrap_or_default(),
                        AnyValue {
                            value: Some(any_value::Value::IntValue(2)),
                        },
                        AnyValue::default(),
                    ],
                })),
            ),
            kv("arr0", v(any_value::Value::ArrayValue(ArrayValue::default()))),
            kv(
                "kv",
                v(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", s("v")), kv("", s(""))],
                })),
            ),
            kv("empty", Some(AnyValue::default())),
            kv("", None),
        ];
        let span = Span {
            trace_id: vec![1, 2, 3],
            span_id: vec![4],
            trace_state: "a=b".into(),
            parent_span_id: vec![5],
            flags: 257,
            name: "op".into(),
            kind: 3,
            start_time_unix_nano: 10,
            end_time_unix_nano: 20,
            attributes: attrs.clone(),
            dropped_attributes_count: 3,
            events: vec![
                span::Event {
                    time_unix_nano: 15,
                    name: "ev".into(),
                    attributes: attrs[..2].to_vec(),
                    dropped_attributes_count: 4,
                },
                span::Event::default(),
            ],
            dropped_events_count: 5,
            links: vec![
                span::Link {
                    trace_id: vec![9],
                    span_id: vec![8],
                    trace_state: "t".into(),
                    attributes: attrs[..1].to_vec(),
                    dropped_attributes_count: 6,
                    flags: 0x301,
                },
                span::Link::default(),
            ],
            dropped_links_count: 7,
            status: Some(Status {
                message: "boom".into(),
                code: 2,
            }),
        };
        let batches = vec![
            ResourceSpans {
                resource: Some(Resource {
                    attributes: attrs[..1].to_vec(),
                    dropped_attributes_count: 2,
                    ..Default::default()
                }),
                scope_spans: vec![
                    ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: "n".into(),
                            attributes: attrs[..1].to_vec(),
                            dropped_attributes_count: 1,
                            ..Default::default()
                        }),
                        spans: vec![span, Span::default()],
                        schema_url: "su".into(),
                    },
                    ScopeSpans::default(),
                ],
                schema_url: "rsu".into(),
            },
            ResourceSpans::default(),
        ];
        assert_eq!(
            trace_json("batches", &batches),
            r#"{"batches":[{"resource":{"attributes":[{"key":"s","value":{"stringValue":"x\u003c\u0026\u003e"}}],"droppedAttributesCount":2},"scopeSpans":[{"scope":{"name":"n","attributes":[{"key":"s","value":{"stringValue":"x\u003c\u0026\u003e"}}],"droppedAttributesCount":1},"spans":[{"traceId":"AQID","spanId":"BA==","traceState":"a=b","parentSpanId":"BQ==","flags":257,"name":"op","kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"10","endTimeUnixNano":"20","attributes":[{"key":"s","value":{"stringValue":"x\u003c\u0026\u003e"}},{"key":"i","value":{"intValue":"-7"}},{"key":"i0","value":{"intValue":"0"}},{"key":"d","value":{"doubleValue":1.5}},{"key":"dbig","value":{"doubleValue":1e+21}},{"key":"dsmall","value":{"doubleValue":2.5e-7}},{"key":"dint","value":{"doubleValue":3}},{"key":"dnan","value":{"doubleValue":"NaN"}},{"key":"dinf","value":{"doubleValue":"-Infinity"}},{"key":"b","value":{"boolValue":false}},{"key":"bytes","value":{"bytesValue":"+/8B"}},{"key":"bytes0","value":{"bytesValue":""}},{"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"2"},{}]}}},{"key":"arr0","value":{"arrayValue":{}}},{"key":"kv","value":{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}},{"value":{"stringValue":""}}]}}},{"key":"empty","value":{}},{"value":{}}],"droppedAttributesCount":3,"events":[{"timeUnixNano":"15","name":"ev","attributes":[{"key":"s","value":{"stringValue":"x\u003c\u0026\u003e"}},{"key":"i","value":{"intValue":"-7"}}],"droppedAttributesCount":4},{}],"droppedEventsCount":5,"links":[{"traceId":"CQ==","spanId":"CA==","traceState":"t","attributes":[{"key":"s","value":{"stringValue":"x\u003c\u0026\u003e"}}],"droppedAttributesCount":6},{}],"droppedLinksCount":7,"status":{"message":"boom","code":"STATUS_CODE_ERROR"}},{"status":{}}],"schemaUrl":"su"},{"scope":{}}],"schemaUrl":"rsu"},{"resource":{}}]}"#
        );
    }

    /// `shared/reference/api/samples/tempo/02-api-traces.response.json`
    /// (copied to `tests/fixtures/samples/`) byte for byte: the same
    /// trace, stored as the collector received it.
    #[test]
    fn the_recorded_trace_by_id_body_is_reproduced() {
        use base64::Engine as _;
        use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use opentelemetry_proto::tonic::trace::v1::Status;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        let kv = |k: &str, v: any_value::Value| KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        };
        let text = |k: &str, v: &str| kv(k, any_value::Value::StringValue(v.into()));
        let server = Span {
            trace_id: b64("nUEWLaHQ5a4V7+KFUHnaYA=="),
            span_id: b64("VVjsF6Yh/hQ="),
            name: "GET /checkout".into(),
            kind: 2,
            start_time_unix_nano: 1_795_644_184_398_668_129,
            end_time_unix_nano: 1_795_644_184_648_668_129,
            attributes: vec![
                text("http.request.method", "GET"),
                text("http.route", "/checkout"),
                kv("http.response.status_code", any_value::Value::IntValue(200)),
            ],
            status: Some(Status {
                code: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        let client = Span {
            trace_id: b64("nUEWLaHQ5a4V7+KFUHnaYA=="),
            span_id: b64("l+LKgerHzF4="),
            parent_span_id: b64("VVjsF6Yh/hQ="),
            name: "SELECT orders".into(),
            kind: 3,
            start_time_unix_nano: 1_795_644_184_448_668_129,
            end_time_unix_nano: 1_795_644_184_598_668_129,
            attributes: vec![text("db.system", "postgresql"), text("peer.service", "orders-db")],
            ..Default::default()
        };
        let batches = vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "checkout"),
                    text("service.namespace", "shop"),
                    text("deployment.environment", "dev"),
                    text("host.name", "testhost"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "smoke".into(),
                    version: "0.1".into(),
                    ..Default::default()
                }),
                spans: vec![server, client],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let sample = include_str!("../tests/fixtures/samples/tempo-api-traces.response.json");
        assert_eq!(trace_json("batches", &batches), sample.trim_end());
    }

    #[tokio::test]
    async fn not_found_shapes_are_tempos() {
        let (status, ctype, text) = body(frontend(StatusCode::NOT_FOUND)).await;
        assert_eq!((status, ctype, text.as_str()), (404, None, ""));
        let (status, ctype, text) = body(frontend(Json(json!({ "trace": {} })))).await;
        assert_eq!(
            (status, ctype.as_deref(), text.as_str()),
            (200, Some("application/json"), r#"{"trace":{}}"#)
        );
    }
}
