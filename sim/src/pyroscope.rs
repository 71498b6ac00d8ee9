//! The reference stack's Pyroscope API (1.10 shapes,
//! `shared/reference/api/06-pyroscope.md`): Connect push
//! `POST /push.v1.PusherService/Push` (JSON or protobuf), legacy
//! `POST /ingest?name=app{k=v}` (pprof, or folded by default), the querier's
//! `ProfileTypes`, `LabelValues`, `LabelNames`, `Series`,
//! `SelectMergeStacktraces` and `SelectMergeSpanProfile` (JSON requests,
//! epoch-millisecond times, checked in the query frontend's order), `/ready`.
//! Connect errors answer `{"code","message"}`, JSON-escaped as Go escapes
//! it (`<` as `\u003c`…). Calls are negotiated as connect-go does: a codec
//! from `Content-Type` (else 415), gzip both ways; the push answers in the
//! request's codec: `application/proto` gets the empty protobuf
//! `PushResponse` (no bytes), JSON gets `{}`. Unknown paths are gorilla
//! mux's plain 404.
//!
//! Not served: `/ingest` formats other than pprof and folded (trie,
//! tree, lines, jfr, speedscope, multipart), protobuf querier
//! requests, `SelectMergeProfile`, `SelectSeries`, `Diff`, `/pyroscope/render`,
//! the flame graph's `maxNodes` cut and the `tree` format.
//!
//! `labelSelector` is parsed as Pyroscope parses it, with Prometheus'
//! `parser.ParseMetricSelector` (`lang::promql::parse_selector`): a bad
//! escape is `invalid_argument` with Prometheus' own message
//! (`1:15: parse error: unknown escape sequence U+002D '-'`). That parser
//! skips the type checks, so `{}` selects every profile as on Pyroscope;
//! an empty or missing selector is its `unexpected end of input`.
//!
//! A pushed profile is split into series by its samples' string labels
//! (all but `span_id`), as the distributor's `pprof_split` does, so
//! `{thread_name="main"}` selects the samples of that thread; every
//! series' labels are then checked and renamed as `ValidateLabels` does
//! before anything is stored: dots in names become `_`
//! (`otel.scope.name`, which pyroscope-rs sends, is kept as
//! `otel_scope_name`); other characters are `invalid_argument`.
//!
//! Uses: pprof, profiles, lang::promql, lang::matcher, state, faults,
//! mimir (Go's JSON escaping), go::{strconv, time, model}.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, get, post};
use base64::Engine as _;
use prost::Message;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::{Role, drops};
use crate::go;
use crate::lang::matcher::Matcher;
use crate::lang::promql;
use crate::logs::unix_nanos;
use crate::pprof;
use crate::profiles::{self, Labels, Selection};
use crate::state::SimState;

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .merge(gorilla_routes())
        .route("/push.v1.PusherService/Push", post(push))
        .route("/querier.v1.QuerierService/ProfileTypes", post(profile_types))
        .route("/querier.v1.QuerierService/LabelValues", post(label_values))
        .route("/querier.v1.QuerierService/LabelNames", post(label_names))
        .route("/querier.v1.QuerierService/Series", post(series))
        .route(
            "/querier.v1.QuerierService/SelectMergeStacktraces",
            post(select_merge_stacktraces),
        )
        .route(
            "/querier.v1.QuerierService/SelectMergeSpanProfile",
            post(select_merge_span_profile),
        )
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(state)
}

/// A route Pyroscope registers on its gorilla mux with one method
/// (`pkg/api/api.go` `RegisterRoute`): any other, HEAD too, is a bare
/// 405. Each is routed to it, since axum names the allowed methods on its
/// own 405s and gorilla does not. The Connect routes are connect-go's,
/// whose 405 names `Allow: POST`, as axum's does.
fn gorilla(method: Method, route: MethodRouter<Arc<SimState>>) -> MethodRouter<Arc<SimState>> {
    [
        Method::DELETE,
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
        Method::POST,
        Method::PUT,
        Method::TRACE,
    ]
    .into_iter()
    .filter(|other| *other != method)
    .filter_map(|other| MethodFilter::try_from(other).ok())
    .fold(route, |route, filter| route.on(filter, method_not_allowed))
    .fallback(method_not_allowed)
}

fn gorilla_routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/ready", gorilla(Method::GET, get(ready)))
        .route("/ingest", gorilla(Method::POST, post(ingest)))
}

async fn method_not_allowed() -> StatusCode {
    StatusCode::METHOD_NOT_ALLOWED
}

/// Gorilla mux's answer to an unrouted path, Go's `http.NotFound`.
async fn not_found() -> Response {
    go_http_error(StatusCode::NOT_FOUND, "404 page not found")
}

/// Go's `http.Error`: plain text, `nosniff`, the message and a newline.
fn go_http_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{message}\n"),
    )
        .into_response()
}

/// `readyHandler` (`pkg/phlare/phlare.go`): `ready` as `text/plain`
/// (`util.WriteTextResponse`), or an `http.Error` 503.
async fn ready(State(state): State<Arc<SimState>>) -> Response {
    let answer = state.readiness(Role::Pyroscope, "Ingester not ready");
    if answer.status() != StatusCode::OK {
        return go_http_error(StatusCode::SERVICE_UNAVAILABLE, "Ingester not ready");
    }
    ([(header::CONTENT_TYPE, "text/plain")], "ready").into_response()
}

/// A Connect error: the status and the `{"code","message"}` body, as
/// connect-go writes it with `encoding/json`.
type ConnectError = (StatusCode, [(header::HeaderName, &'static str); 1], String);

fn connect_error(status: StatusCode, code: &str, message: impl Into<String>) -> ConnectError {
    let body = json!({ "code": code, "message": message.into() });
    let text = crate::mimir::go_json_escape(&body.to_string());
    (status, [(header::CONTENT_TYPE, "application/json")], text)
}

fn invalid(message: impl Into<String>) -> ConnectError {
    connect_error(StatusCode::BAD_REQUEST, "invalid_argument", message)
}

// push.v1.PushRequest as protobuf.
#[derive(Clone, PartialEq, prost::Message)]
struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    series: Vec<RawProfileSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RawProfileSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<LabelPair>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<RawSample>,
}

#[derive(Clone, PartialEq, prost::Message, serde::Deserialize)]
struct LabelPair {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RawSample {
    #[prost(bytes = "vec", tag = "1")]
    raw_profile: Vec<u8>,
    #[prost(string, tag = "2")]
    id: String,
}

#[derive(Deserialize)]
struct JsonPush {
    #[serde(default)]
    series: Vec<JsonSeries>,
}

#[derive(Deserialize)]
struct JsonSeries {
    #[serde(default)]
    labels: Vec<LabelPair>,
    #[serde(default)]
    samples: Vec<JsonSample>,
}

#[derive(Deserialize)]
struct JsonSample {
    // protojson takes the proto name too; absent is empty bytes.
    #[serde(default, rename = "rawProfile", alias = "raw_profile")]
    raw_profile: String,
}

/// `LabelPairsString`: `{name="value", …}`, values `strconv.Quote`d.
fn label_pairs_string(labels: &[(String, String)]) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", go::strconv::quote(v)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// `validation.MaxLabelNamesPerSeries`, `MaxLabelNameLength`,
/// `MaxLabelValueLength` defaults (`pkg/validation/limits.go`).
const MAX_LABEL_NAMES: usize = 30;
const MAX_LABEL_NAME_LENGTH: usize = 1024;
const MAX_LABEL_VALUE_LENGTH: usize = 2048;

/// The value of the first label named `name`, as `Labels.Get` reads it.
fn label<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// Prometheus' legacy `IsValidMetricName` (prometheus/common v0.55).
fn is_valid_metric_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .char_indices()
            .all(|(at, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (at > 0 && c.is_ascii_digit()))
}

/// A series' labels as Pyroscope 1.10's distributor checks and stores
/// them (`pkg/validation/validate.go` `ValidateLabels`,
/// `SanitizeLabelName`), in its order: at least one label; sorted by
/// name; at most 30 names; a valid `__name__` and a `service_name`; then
/// name by name, the lengths, and a name of letters, digits (not first),
/// `_` and `.` has its dots turned into `_` (so pyroscope-rs's
/// `otel.scope.name` is kept as `otel_scope_name`); any other character
/// is `invalid_labels`, and a name equal to the one before it once
/// sanitized is a duplicate.
fn validate_labels(mut pairs: Vec<(String, String)>) -> Result<Labels, String> {
    if pairs.is_empty() {
        return Err("error at least one label pair is required per profile".into());
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    if pairs.len() > MAX_LABEL_NAMES {
        return Err(format!(
            "profile series '{}' has {} label names; limit {MAX_LABEL_NAMES}",
            label_pairs_string(&pairs),
            pairs.len()
        ));
    }
    let invalid_labels = |pairs: &[(String, String)], why: &str| {
        format!("invalid labels '{}' with error: {why}", label_pairs_string(pairs))
    };
    if !is_valid_metric_name(label(&pairs, "__name__")) {
        return Err(invalid_labels(&pairs, "invalid metric name"));
    }
    if label(&pairs, "service_name").is_empty() {
        return Err(invalid_labels(&pairs, "service name is not provided"));
    }
    let mut last = String::new();
    for i in 0..pairs.len() {
        let (name, value) = (&pairs[i].0, &pairs[i].1);
        if name.len() > MAX_LABEL_NAME_LENGTH {
            return Err(format!(
                "profile with labels '{}' has label name too long: '{name}'",
                label_pairs_string(&pairs)
            ));
        }
        if value.len() > MAX_LABEL_VALUE_LENGTH {
            return Err(format!(
                "profile with labels '{}' has label value too long: '{value}'",
                label_pairs_string(&pairs)
            ));
        }
        let valid = !name.is_empty()
            && name
                .char_indices()
                .all(|(at, c)| c.is_ascii_alphabetic() || c == '_' || c == '.' || (at > 0 && c.is_ascii_digit()));
        if !valid {
            return Err(invalid_labels(&pairs, &format!("invalid label name '{name}'")));
        }
        let original = name.clone();
        pairs[i].0 = name.replace('.', "_");
        if pairs[i].0 == last {
            return Err(format!(
                "profile with labels '{}' has duplicate label name: '{original}'",
                label_pairs_string(&pairs)
            ));
        }
        last = pairs[i].0.clone();
    }
    Ok(pairs.into_iter().collect())
}

/// `validation.max-profile-size-bytes`, `max-profile-stacktrace-samples`
/// and `max-profile-stacktrace-sample-labels` defaults
/// (`pkg/validation/limits.go`).
const MAX_PROFILE_SIZE: usize = 4 * 1024 * 1024;
const MAX_PROFILE_SAMPLES: usize = 16_000;
const MAX_SAMPLE_LABELS: usize = 100;
/// `validation.reject-older-than` and `reject-newer-than` defaults.
const REJECT_OLDER_THAN_MS: i64 = 3_600_000;
const REJECT_NEWER_THAN_MS: i64 = 600_000;

/// `util.FormatTimeMillis`: Go's `Time.String` of the UTC time.
fn format_time_millis(ms: i64) -> String {
    let nanos = (ms.rem_euclid(1000) * 1_000_000) as u32;
    let rfc3339 = go::time::format_rfc3339_nano(ms.div_euclid(1000), nanos);
    format!("{} +0000 UTC", rfc3339.replacen('T', " ", 1).trim_end_matches('Z'))
}

/// `ValidateProfile` with the default limits (`pkg/validation/validate.go`),
/// in its order, against the series' labels as the distributor holds them
/// (with `service_name`, sorted): a time, when there is one, strictly
/// inside [now-1h, now+10m] (none is now); the decompressed size; the
/// sample count; each sample's label count; no location or function id
/// 0; no sample type with `-`; every string UTF-8. The profile's time in
/// milliseconds when it passes.
fn validate_profile(labels: &[(String, String)], profile: &pprof::Decoded) -> Result<i64, String> {
    let now = (unix_nanos() / 1_000_000) as i64;
    let shown = || label_pairs_string(labels);
    let time_ms = if profile.time_nanos > 0 {
        profile.time_nanos / 1_000_000
    } else {
        now
    };
    let (from, to) = (now - REJECT_OLDER_THAN_MS, now + REJECT_NEWER_THAN_MS);
    if profile.time_nanos > 0 && !(time_ms > from && time_ms < to) {
        return Err(format!(
            "profile with labels '{}' is outside of ingestion window (profile timestamp: {}, the ingestion window starts at {} and ends at {})",
            shown(),
            format_time_millis(time_ms),
            format_time_millis(from),
            format_time_millis(to)
        ));
    }
    let facts = &profile.facts;
    if facts.size > MAX_PROFILE_SIZE {
        return Err(format!(
            "the profile with labels '{}' exceeds the size limit (max_profile_size_byte, actual: {}, limit: {MAX_PROFILE_SIZE})",
            shown(),
            facts.size
        ));
    }
    if facts.samples > MAX_PROFILE_SAMPLES {
        return Err(format!(
            "the profile with labels '{}' exceeds the samples count limit (max_profile_stacktrace_samples, actual: {}, limit: {MAX_PROFILE_SAMPLES})",
            shown(),
            facts.samples
        ));
    }
    if let Some(n) = facts.sample_labels.iter().find(|n| **n > MAX_SAMPLE_LABELS) {
        return Err(format!(
            "the profile with labels '{}' exceeds the sample labels limit (max_profile_stacktrace_sample_labels, actual: {n}, limit: {MAX_SAMPLE_LABELS})",
            shown()
        ));
    }
    if facts.zero_location_id {
        return Err("location id is 0".into());
    }
    if facts.zero_function_id {
        return Err("function id is 0".into());
    }
    if facts.sample_types.iter().any(|t| t.contains('-')) {
        return Err("sample type contains -".into());
    }
    if let Some(bad) = &facts.bad_utf8 {
        let hex: String = bad.iter().map(|b| format!("{b:02x}")).collect();
        return Err(format!("invalid utf8 string hex: {hex}"));
    }
    Ok(time_ms)
}

/// One pushed series: its labels as sent, and its raw profiles.
type RawSeries = (Vec<(String, String)>, Vec<Vec<u8>>);

/// The distributor's `Push` then `PushParsed`, all or nothing: every raw
/// profile decoded (`RawFromBytes`), `service_name="unspecified"` added
/// to a series without one, every profile's time checked
/// (`ValidateProfile`), `no profiles received` when there were none;
/// then each profile, normalized, is split by its sample labels
/// (`profiles::split`) and every resulting series is validated before
/// anything is stored.
fn distribute(state: &SimState, series: Vec<RawSeries>) -> Result<(), String> {
    let mut decoded = Vec::new();
    for (labels, raws) in series {
        let profiles = raws
            .iter()
            .map(|raw| pprof::decode(raw))
            .collect::<Result<Vec<_>, _>>()?;
        decoded.push((labels, profiles));
    }
    distribute_decoded(state, decoded)
}

/// A series' labels and its decoded profiles.
type DecodedSeries = (Vec<(String, String)>, Vec<pprof::Decoded>);

/// `distribute` from the profiles' decoding on (`PushParsed`).
fn distribute_decoded(state: &SimState, series: Vec<DecodedSeries>) -> Result<(), String> {
    let mut decoded = Vec::new();
    for (mut labels, profiles) in series {
        if label(&labels, "service_name").is_empty() {
            labels.push(("service_name".into(), "unspecified".into()));
        }
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        decoded.push((labels, profiles));
    }
    let mut checked = Vec::new();
    for (labels, profiles) in &decoded {
        for profile in profiles {
            checked.push((labels, profile, validate_profile(labels, profile)?));
        }
    }
    if checked.is_empty() {
        return Err("no profiles received".into());
    }
    let mut ready = Vec::new();
    for (labels, profile, time_ms) in checked {
        let split = |stacks: &[pprof::Stack]| {
            profiles::split(labels, stacks)
                .into_iter()
                .map(|(labels, stacks)| Ok((validate_labels(labels)?, stacks)))
                .collect::<Result<Vec<_>, String>>()
        };
        let mut series = vec![(profile.type_suffix.clone(), split(&profile.stacks)?)];
        for (suffix, stacks) in &profile.other_types {
            series.push((suffix.clone(), split(stacks)?));
        }
        let key: String = labels.iter().map(|(k, v)| format!("{k}={v},")).collect();
        let dropped = drops(
            state.faults().drop_profiles,
            format!("{key}{}", profile.time_nanos).as_bytes(),
        );
        ready.push((series, time_ms, dropped));
    }
    for (series, time_ms, dropped) in ready {
        state.profiles.push_types(series, time_ms, dropped);
    }
    Ok(())
}

/// A Connect unary codec, from the request's `Content-Type` as connect-go
/// v1.16 matches it (`canonicalizeContentType`, the codec names `proto`,
/// `json` and `json; charset=utf-8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Proto,
    Json,
}

/// `canonicalizeContentType`: as sent when it is only lower-case letters
/// and `/.+-`; otherwise `mime.ParseMediaType` then `FormatMediaType`
/// (type and parameter names lower-cased, values kept).
fn canonical_content_type(value: &str) -> String {
    if value.bytes().all(|b| b.is_ascii_lowercase() || b"/.+-".contains(&b)) {
        return value.to_owned();
    }
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let params: Vec<String> = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| format!("{}={}", k.trim().to_ascii_lowercase(), v.trim().trim_matches('"')))
        .collect();
    std::iter::once(media).chain(params).collect::<Vec<_>>().join("; ")
}

fn codec(content_type: &str) -> Option<Codec> {
    match canonical_content_type(content_type).as_str() {
        "application/proto" => Some(Codec::Proto),
        "application/json" | "application/json; charset=utf-8" => Some(Codec::Json),
        _ => None,
    }
}

/// What connect-go's handler answers a content type no protocol takes
/// (`handler.go`): 415, no body, `Accept-Post` listing, sorted, every type
/// its gRPC, gRPC-Web and Connect handlers take with the proto and JSON
/// codecs.
fn unsupported_media_type() -> Response {
    const ACCEPT_POST: &str = concat!(
        "application/grpc, application/grpc+json, application/grpc+json; charset=utf-8, ",
        "application/grpc+proto, application/grpc-web, application/grpc-web+json, ",
        "application/grpc-web+json; charset=utf-8, application/grpc-web+proto, application/json, ",
        "application/json; charset=utf-8, application/proto"
    );
    (StatusCode::UNSUPPORTED_MEDIA_TYPE, [("accept-post", ACCEPT_POST)]).into_response()
}

/// protojson's `bytes`: standard base64, or URL-safe when it holds `-` or
/// `_`, padded or not.
fn protojson_bytes(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let url = text.contains(['-', '_']);
    match (url, text.len().is_multiple_of(4)) {
        (false, true) => STANDARD.decode(text),
        (false, false) => STANDARD_NO_PAD.decode(text),
        (true, true) => URL_SAFE.decode(text),
        (true, false) => URL_SAFE_NO_PAD.decode(text),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = gz.write_all(bytes);
    gz.finish().unwrap_or_default()
}

/// connect-go's JSON codec (`codec.go`, `protocol_connect.go`): no bytes
/// is `zero-length payload is not a valid JSON object`; a body protojson
/// refuses is `unmarshal into <Go type>: <why>` (protojson's own words
/// are not reproduced here), both under `unmarshal message: `.
fn json_message<T: serde::de::DeserializeOwned>(body: &[u8], go_type: &str) -> Result<T, String> {
    if body.is_empty() {
        return Err("unmarshal message: zero-length payload is not a valid JSON object".into());
    }
    serde_json::from_slice(body).map_err(|e| format!("unmarshal message: unmarshal into {go_type}: proto: {e}"))
}

/// The request's series, or the Connect error for a body that does not
/// unmarshal.
fn series_of(codec: Codec, body: &[u8]) -> Result<Vec<RawSeries>, String> {
    let pairs = |labels: Vec<LabelPair>| labels.into_iter().map(|l| (l.name, l.value)).collect();
    match codec {
        Codec::Json => {
            let push: JsonPush = json_message(body, "*pushv1.PushRequest")?;
            push.series
                .into_iter()
                .map(|s| {
                    let raws = s
                        .samples
                        .iter()
                        .map(|sample| protojson_bytes(&sample.raw_profile))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| {
                            format!("unmarshal message: unmarshal into *pushv1.PushRequest: proto: rawProfile: {e}")
                        })?;
                    Ok((pairs(s.labels), raws))
                })
                .collect()
        }
        Codec::Proto => {
            let push = PushRequest::decode(body)
                .map_err(|e| format!("unmarshal message: unmarshal into *pushv1.PushRequest: proto: {e}"))?;
            Ok(push
                .series
                .into_iter()
                .map(|s| (pairs(s.labels), s.samples.into_iter().map(|r| r.raw_profile).collect()))
                .collect())
        }
    }
}

/// A Connect unary call as connect-go v1.16.2 reads it for Pyroscope
/// (`handler.go`, `protocol_connect.go`, `protocol.go`
/// `negotiateCompression`; Pyroscope's handlers register gzip,
/// `pkg/api/connect`): its codec, content type, body (inflated) and
/// whether the answer is gzipped (the request was, or its
/// `Accept-Encoding` names gzip).
struct Call {
    codec: Codec,
    content_type: String,
    body: Bytes,
    respond_gzipped: bool,
}

/// connect-go names the encodings it takes on every answer.
fn with_accept(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
    response
}

/// The call, or connect-go's refusal: a content type no codec takes is a
/// 415 with `Accept-Post`; a `Content-Encoding` other than none,
/// `identity` or `gzip` is `unimplemented`; a gzip body that does not
/// inflate is `invalid_argument`.
/// A refusal, boxed: a `Response` is large.
type Refusal = Box<Response>;

fn connect_call(headers: &HeaderMap, body: Bytes) -> Result<Call, Refusal> {
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let content_type = header_text(header::CONTENT_TYPE);
    let Some(codec) = codec(&content_type) else {
        return Err(Box::new(unsupported_media_type()));
    };
    let gzipped = match header_text(header::CONTENT_ENCODING).as_str() {
        "" | "identity" => false,
        "gzip" => true,
        other => {
            let message = format!(
                "unknown compression {}: supported encodings are gzip",
                go::strconv::quote(other)
            );
            return Err(Box::new(with_accept(
                connect_error(StatusCode::NOT_IMPLEMENTED, "unimplemented", message).into_response(),
            )));
        }
    };
    let respond_gzipped = gzipped
        || header_text(header::ACCEPT_ENCODING)
            .split([',', ' '])
            .any(|name| name == "gzip");
    let body = if gzipped && !body.is_empty() {
        if !body.starts_with(&[0x1f, 0x8b]) {
            return Err(Box::new(with_accept(invalid_response(
                "get decompressor: gzip: invalid header",
            ))));
        }
        let mut out = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out) {
            return Err(Box::new(with_accept(invalid_response(format!("decompress: {e}")))));
        }
        Bytes::from(out)
    } else {
        body
    };
    Ok(Call {
        codec,
        content_type,
        body,
        respond_gzipped,
    })
}

/// The answer to a call: the message in the request's content type,
/// gzipped as negotiated.
fn reply(call: &Call, message: Vec<u8>) -> Response {
    let mut response = if call.respond_gzipped {
        ([(header::CONTENT_ENCODING, "gzip")], gzip(&message)).into_response()
    } else {
        message.into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&call.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    with_accept(response)
}

/// A refusal under `reject_ratio`, as a Connect error: the distributor's
/// rate limit is `resource_exhausted` (429), unavailable ingesters
/// `unavailable` (503). The messages are the reference stack's.
fn push_refusal(state: &SimState) -> Option<Response> {
    let (status, message) = state.ingest_refusal()?;
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS => "resource_exhausted",
        _ => "unavailable",
    };
    Some(with_accept(connect_error(status, code, message).into_response()))
}

/// `PusherService/Push`: the call as `connect_call` reads it; the answer
/// is the empty `PushResponse` (no bytes in proto, `{}` in JSON); errors
/// are always JSON.
async fn push(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = push_refusal(&state) {
        return refusal;
    }
    let call = match connect_call(&headers, body) {
        Ok(call) => call,
        Err(refusal) => return *refusal,
    };
    let outcome = series_of(call.codec, &call.body).and_then(|series| distribute(&state, series));
    if let Err(message) = outcome {
        return with_accept(invalid_response(message));
    }
    // `PushResponse{}`: no fields, so no bytes in proto and `{}` in JSON.
    let message = match call.codec {
        Codec::Proto => Vec::new(),
        Codec::Json => b"{}".to_vec(),
    };
    reply(&call, message)
}

/// `flameql.ValidateAppName` (`pkg/og/flameql/flameql.go`): letters,
/// digits, `_`, `.` and `-`.
fn validate_app_name(app: &str) -> Result<(), String> {
    if app.is_empty() {
        return Err("application name is required".into());
    }
    match app.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c))) {
        Some(c) => Err(format!(
            "invalid application name: {app}: character is not allowed: {}",
            go::strconv::quote_rune(Some(c))
        )),
        None => Ok(()),
    }
}

/// `flameql.ValidateTagKey`: letters, digits, `_` and `.`.
fn validate_tag_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("tag key is required".into());
    }
    match key.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.".contains(*c))) {
        Some(c) => Err(format!(
            "invalid tag key: {key}: character is not allowed: {}",
            go::strconv::quote_rune(Some(c))
        )),
        None => Ok(()),
    }
}

/// `segment.ParseKey` (`pkg/og/storage/segment/key.go`): `app{k=v,…}`
/// read character by character, the application name (trimmed) as
/// `__name__`. Keys and values are trimmed, values keep their quotes; a
/// key without `=` is dropped; the key `__name__` is not validated;
/// anything after the first `}` of the name's braces is ignored.
fn parse_key(name: &str) -> Result<Labels, String> {
    enum State {
        Name,
        Key,
        Value,
        Done,
    }
    let mut state = State::Name;
    let (mut key, mut value) = (String::new(), String::new());
    let mut labels = Labels::new();
    for c in name.chars().chain(['{']) {
        match (&state, c) {
            (State::Name, '{') => {
                let app = value.trim();
                validate_app_name(app)?;
                labels.insert("__name__".into(), app.to_owned());
                state = State::Key;
            }
            (State::Key, '}') => state = State::Done,
            (State::Key, '=') => {
                state = State::Value;
                value.clear();
            }
            (State::Key, c) => key.push(c),
            (State::Value, ',' | '}') => {
                let k = key.trim();
                if k != "__name__" {
                    validate_tag_key(k)?;
                }
                labels.insert(k.to_owned(), value.trim().to_owned());
                key.clear();
                state = State::Key;
            }
            (State::Name | State::Value, c) => value.push(c),
            (State::Done, _) => {}
        }
    }
    Ok(labels)
}

/// `httputil.ErrorWithStatus` (`pkg/util/http/error.go`): the status,
/// `{"code","message"}` with the code connectgrpc's `HTTPToCode` gives it
/// (422 is `unknown`), through `json.Encoder` (HTML escaped, a newline).
fn ingest_error(status: StatusCode, message: &str) -> Response {
    let code = match status {
        StatusCode::BAD_REQUEST => "invalid_argument",
        _ => "unknown",
    };
    let body = crate::mimir::go_json_escape(&json!({ "code": code, "message": message }).to_string());
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{body}\n"),
    )
        .into_response()
}

/// `metricName` of the legacy pprof ingest (`pkg/og/convert/pprof/profile.go`):
/// `wall` if any sample type is; else by the first sample type, through
/// `DefaultSampleTypeMapping`'s display names, that names a kind.
fn ingest_metric_name(sample_types: &[String]) -> String {
    if sample_types.iter().any(|t| t == "wall") {
        return "wall".into();
    }
    let mut last = String::new();
    for st in sample_types {
        let st = match st.as_str() {
            "samples" => "cpu",
            "goroutine" => "goroutines",
            "contentions" => "mutex_count",
            "delay" => "mutex_duration",
            other => other,
        };
        let metric = if st.contains("cpu") {
            "process_cpu"
        } else if st.contains("alloc_") || st.contains("inuse_") || st == "space" || st == "objects" {
            "memory"
        } else if st.contains("mutex_") {
            "mutex"
        } else if st.contains("block_") {
            "block"
        } else if st.contains("goroutines") {
            "goroutines"
        } else {
            last = st.to_owned();
            continue;
        };
        return metric.into();
    }
    last
}

/// `attime.Parse` for what clients send: unix seconds; anything else is
/// read as now here.
fn ingest_time_nanos(param: Option<&String>) -> i64 {
    let now = unix_nanos() as i64;
    param
        .and_then(|v| v.parse::<i64>().ok())
        .map_or(now, |secs| secs.saturating_mul(1_000_000_000))
}

/// `POST /ingest` (`pkg/ingester/pyroscope/ingest_handler.go`,
/// `ingest_adapter.go`, `pkg/og/convert/pprof/profile.go`): `name` is
/// parsed first (a fault is a 400 `name: …`); `format=pprof` takes the
/// body as a raw profile: none is accepted and stores nothing, one that
/// does not open or whose push fails is a 422 naming the step. The
/// series is `__name__` by sample type, `__delta__="false"`,
/// `service_name` the application, `pyroscope_spy` (`unknown` by
/// default) and the name's labels but private (`__`) ones; a profile
/// time of 0 or in 1970 becomes `from`. No `format` is folded
/// (`ingest_folded`); trie, tree, lines, jfr, speedscope and multipart
/// pprof are not served by the reference stack.
async fn ingest(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(refusal) = state.reject_ingest() {
        return refusal;
    }
    let key = match parse_key(params.get("name").map_or("", String::as_str)) {
        Ok(key) => key,
        Err(e) => return ingest_error(StatusCode::BAD_REQUEST, &format!("name: {e}")),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // `ingestInputFromRequest`'s switch, in its order.
    let format = params.get("format").map_or("", String::as_str);
    let unserved = matches!(format, "trie" | "tree" | "lines" | "jfr")
        || content_type == "binary/octet-stream+trie"
        || content_type == "binary/octet-stream+tree"
        || (format != "pprof" && (format == "speedscope" || content_type.contains("multipart/form-data")));
    if unserved {
        return ingest_error(
            StatusCode::BAD_REQUEST,
            "the reference stack ingests pprof and folded profiles only",
        );
    }
    if format != "pprof" {
        return ingest_folded(&state, key, &params, &body);
    }
    if body.is_empty() {
        return StatusCode::OK.into_response();
    }
    let failed = |step: &str, e: String| {
        ingest_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("{step} IngestInput-pprof failed invalid_argument: {e}"),
        )
    };
    let profile = match pprof::decode(&body) {
        Ok(p) => p,
        Err(e) => return failed("parsing", e),
    };
    let spy = params
        .get("spyName")
        .filter(|s| !s.is_empty())
        .map_or("unknown", String::as_str);
    let mut labels = vec![
        ("__name__".to_owned(), ingest_metric_name(&profile.facts.sample_types)),
        ("__delta__".to_owned(), "false".to_owned()),
        ("service_name".to_owned(), key["__name__"].clone()),
        ("pyroscope_spy".to_owned(), spy.to_owned()),
    ];
    labels.extend(
        key.into_iter()
            .filter(|(k, _)| !k.starts_with("__") || k == "__session_id__"),
    );
    // `fixTime`: old agents send 0 or microseconds.
    let mut raw = body.to_vec();
    if profile.time_nanos < 31_536_000 * 1_000_000_000 {
        raw = with_time_nanos(&raw, ingest_time_nanos(params.get("from")));
    }
    match distribute(&state, vec![(labels, vec![raw])]) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => failed("pushing", e),
    }
}

/// `convertMetadata` (`pkg/ingester/pyroscope/ingest_adapter.go`): the
/// application name's last `.` part names the profile (none is `cpu`):
/// the metric, sample type and unit, and the name without it.
fn convert_metadata(app: &str) -> Result<(&'static str, String, &'static str, String), String> {
    let (name, kind) = match app.rsplit_once('.') {
        Some((name, kind)) => (name, kind),
        None => (app, "cpu"),
    };
    let (metric, sample_type, unit) = match kind {
        "cpu" | "itimer" => ("process_cpu", "samples", "count"),
        "wall" => ("wall", "samples", "count"),
        "inuse_objects" | "alloc_objects" => ("memory", kind, "count"),
        "inuse_space" | "alloc_space" => ("memory", kind, "bytes"),
        "goroutines" => ("goroutine", kind, "count"),
        "mutex_count" => ("mutex", "contentions", "count"),
        "mutex_duration" => ("mutex", "delay", "nanoseconds"),
        "block_count" | "lock_count" => ("block", "contentions", "count"),
        "block_duration" | "lock_duration" => ("block", "delay", "nanoseconds"),
        "alloc_in_new_tlab_objects" | "alloc_outside_tlab_objects" | "live" => ("memory", kind, "count"),
        "alloc_in_new_tlab_bytes" | "alloc_outside_tlab_bytes" => ("memory", kind, "bytes"),
        "exceptions" => ("exceptions", "samples", "count"),
        other => return Err(format!("unknown profile type: {other}")),
    };
    Ok((metric, sample_type.to_owned(), unit, name.to_owned()))
}

/// The folded format (`stack;frames value` lines), `/ingest`'s default:
/// parsed as `convert.ParseGroups` does (a line without a space is
/// skipped, a count that is not an int is a 422), then put as the
/// adapter's `Put` does: a name with `profile_id` is dropped; CPU and wall
/// profiles with a sample rate (100 unless a valid `sampleRate` says
/// otherwise) count `cpu`/`wall` nanoseconds of 1e9/rate each, with a
/// `cpu` nanoseconds period; the series is `__name__`, `__delta__`,
/// `pyroscope_spy`, the name's labels but private ones, and
/// `service_name` the application (or `app_name` when the name holds a
/// `service_name`). A refusal from then on is the push's Connect error.
fn ingest_folded(state: &SimState, key: Labels, params: &HashMap<String, String>, body: &[u8]) -> Response {
    let mut lines = Vec::new();
    for line in body.split(|b| *b == b'\n') {
        let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned();
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        match go::strconv::atoi(count) {
            Ok(n) => lines.push((stack.to_owned(), n)),
            Err(e) => return ingest_error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
        }
    }
    if key.contains_key("profile_id") {
        return StatusCode::OK.into_response();
    }
    let app = key.get("__name__").cloned().unwrap_or_default();
    let (metric, mut sample_type, mut unit, app) = match convert_metadata(&app) {
        Ok(m) => m,
        Err(e) => {
            let message = format!("pyroscopeIngesterAdapter failed to convert metadata: {e}");
            return invalid_response(message);
        }
    };
    let rate = params
        .get("sampleRate")
        .and_then(|r| go::strconv::atoi(r).ok())
        .map_or(100, |r| r as u32);
    let (mut scale, mut period) = (1, ":".to_owned());
    if rate != 0 && (metric == "wall" || metric == "process_cpu") {
        scale = 1_000_000_000 / i64::from(rate);
        period = "cpu:nanoseconds".into();
        sample_type = if metric == "wall" { "wall" } else { "cpu" }.to_owned();
        unit = "nanoseconds";
    }
    let stacks: Vec<pprof::Stack> = lines
        .into_iter()
        .map(|(stack, count)| pprof::Stack {
            frames: stack.split(';').map(str::to_owned).collect(),
            value: count.saturating_mul(scale),
            labels: Vec::new(),
        })
        .collect();
    let profile = pprof::Decoded {
        type_suffix: format!("{sample_type}:{unit}:{period}"),
        facts: pprof::Facts {
            samples: stacks.len(),
            sample_labels: vec![0; stacks.len()],
            sample_types: vec![sample_type.clone()],
            ..Default::default()
        },
        stacks,
        time_nanos: ingest_time_nanos(params.get("from")),
        other_types: Vec::new(),
    };
    let spy = params
        .get("spyName")
        .filter(|s| !s.is_empty())
        .map_or("unknown", String::as_str);
    let mut labels = vec![
        ("__name__".to_owned(), metric.to_owned()),
        ("__delta__".to_owned(), "false".to_owned()),
        ("pyroscope_spy".to_owned(), spy.to_owned()),
    ];
    let app_label = if key.contains_key("service_name") {
        "app_name"
    } else {
        "service_name"
    };
    labels.extend(
        key.into_iter()
            .filter(|(k, _)| !k.starts_with("__") || k == "__session_id__"),
    );
    labels.push((app_label.to_owned(), app));
    match distribute_decoded(state, vec![(labels, vec![profile])]) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => invalid_response(e),
    }
}

/// The raw profile with its `time_nanos` (field 9) replaced: a later
/// varint field wins in protobuf, so it is appended to the plain bytes.
fn with_time_nanos(raw: &[u8], nanos: i64) -> Vec<u8> {
    let mut plain = match pprof::plain(raw) {
        Ok(p) => p,
        Err(_) => return raw.to_vec(),
    };
    plain.push(9 << 3);
    let mut v = nanos as u64;
    while v >= 0x80 {
        plain.push((v as u8) | 0x80);
        v >>= 7;
    }
    plain.push(v as u8);
    plain
}

fn invalid_response(message: impl Into<String>) -> Response {
    invalid(message).into_response()
}

/// A request field by its JSON name or, as protojson also takes, its
/// proto name.
fn field<'a>(body: &'a Value, json_name: &str, proto_name: &str) -> Option<&'a Value> {
    body.get(json_name).or_else(|| body.get(proto_name))
}

/// Request times are epoch milliseconds, as numbers or strings; absent is
/// protojson's zero.
fn millis(v: Option<&Value>) -> Result<i64, ConnectError> {
    match v {
        None => Ok(0),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| invalid("times are epoch milliseconds")),
        Some(Value::String(s)) => s.parse().map_err(|_| invalid("times are epoch milliseconds")),
        Some(_) => Err(invalid("times are epoch milliseconds")),
    }
}

/// `querier.max-query-length` and `querier.max-query-lookback` defaults
/// (`pkg/validation/limits.go`).
const MAX_QUERY_LENGTH_MS: i64 = 24 * 3_600_000;
const MAX_QUERY_LOOKBACK_MS: i64 = 7 * 24 * 3_600_000;

/// The request's `start` and `end` as sent, 0 when absent.
fn times(body: &Value) -> Result<(i64, i64), ConnectError> {
    Ok((millis(body.get("start"))?, millis(body.get("end"))?))
}

/// The query frontend's `ValidateRangeRequest` with the default limits
/// (`pkg/validation/validate.go`): a zero `start` or `end` is
/// `missing time range in the query`; a range ending before the 7-day
/// lookback selects nothing (`None`) and a start before it is moved up to
/// it; a range longer than 24 h is refused.
fn validate_range((start, end): (i64, i64)) -> Result<Option<(i64, i64)>, ConnectError> {
    if start == 0 || end == 0 {
        return Err(invalid("missing time range in the query"));
    }
    let now = (unix_nanos() / 1_000_000) as i64;
    let min_start = now - MAX_QUERY_LOOKBACK_MS;
    if end < min_start {
        return Ok(None);
    }
    let start = start.max(min_start);
    if end - start > MAX_QUERY_LENGTH_MS {
        return Err(invalid(format!(
            "the query time range exceeds the limit (max_query_length, actual: {}, limit: {})",
            go::time::duration_string((end - start).saturating_mul(1_000_000)),
            go::model::duration_string(MAX_QUERY_LENGTH_MS as u64 * 1_000_000)
        )));
    }
    Ok(Some((start, end)))
}

/// The range of a metadata call (`ProfileTypes`, `LabelValues`): without
/// both times the frontend checks nothing and the ingesters answer for
/// all they hold (`phlaremodel.GetTimeRange`, `pkg/frontend`); with them,
/// as `validate_range`.
fn metadata_range(body: &Value) -> Result<Option<(i64, i64)>, ConnectError> {
    match times(body)? {
        (0, _) | (_, 0) => Ok(Some((i64::MIN, i64::MAX))),
        given => validate_range(given),
    }
}

/// A querier call's JSON request, or connect-go's refusal. The
/// reference stack's querier reads JSON only: a protobuf request is
/// `unimplemented` here, where Pyroscope would serve it.
fn querier_request(headers: &HeaderMap, body: Bytes, go_type: &str) -> Result<(Call, Value), Refusal> {
    let call = connect_call(headers, body)?;
    if call.codec == Codec::Proto {
        let message = "the reference stack's querier reads JSON requests only";
        return Err(Box::new(with_accept(
            connect_error(StatusCode::NOT_IMPLEMENTED, "unimplemented", message).into_response(),
        )));
    }
    match json_message::<Value>(&call.body, go_type) {
        Ok(value) if value.is_object() => Ok((call, value)),
        Ok(_) => Err(Box::new(with_accept(invalid_response(format!(
            "unmarshal message: unmarshal into {go_type}: proto: not a JSON object"
        ))))),
        Err(message) => Err(Box::new(with_accept(invalid_response(message)))),
    }
}

/// A querier answer in the call's content type, or its error.
fn querier_reply(call: &Call, answer: Result<Value, ConnectError>) -> Response {
    match answer {
        Ok(value) => reply(call, value.to_string().into_bytes()),
        Err(e) => with_accept(e.into_response()),
    }
}

/// protojson leaves out an empty repeated field: `{}` rather than
/// `{"names":[]}`.
fn list_message(field: &str, items: Vec<Value>) -> Value {
    if items.is_empty() {
        return json!({});
    }
    json!({ field: items })
}

fn profile_types_of(state: &SimState, body: &Value) -> Result<Value, ConnectError> {
    let Some(range) = metadata_range(body)? else {
        return Ok(json!({}));
    };
    let types: Vec<Value> = state
        .profiles
        .types(range)
        .into_iter()
        .map(|id| {
            let parts: Vec<&str> = id.split(':').collect();
            let fields = ["name", "sampleType", "sampleUnit", "periodType", "periodUnit"];
            let mut t = json!({ "ID": id });
            // protojson leaves empty strings out (a profile without a period type).
            for (field, part) in fields.iter().zip(&parts).filter(|(_, p)| !p.is_empty()) {
                t[*field] = json!(part);
            }
            t
        })
        .collect();
    Ok(list_message("profileTypes", types))
}

async fn profile_types(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    match querier_request(&headers, body, "*querierv1.ProfileTypesRequest") {
        Ok((call, body)) => querier_reply(&call, profile_types_of(&state, &body)),
        Err(refusal) => *refusal,
    }
}

/// The request's `matchers`, each a selector, as the head's
/// `parseSelectors` reads them (`pkg/phlaredb/head.go`). Its refusal is a
/// gRPC status error, not a Connect one, so it crosses the ingester and
/// the querier as `unknown`, a 500.
fn matchers(body: &Value) -> Result<Vec<Vec<Matcher>>, ConnectError> {
    let texts = body
        .get("matchers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    texts
        .iter()
        .map(|t| {
            promql::parse_selector(t.as_str().unwrap_or("")).map_err(|e| {
                connect_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "unknown",
                    format!("rpc error: code = InvalidArgument desc = failed to parse label selector: {e}"),
                )
            })
        })
        .collect()
}

/// `LabelValues`: the values over the series the matchers pick; an
/// empty `name` is no error, it names no label.
fn label_values_of(state: &SimState, body: &Value) -> Result<Value, ConnectError> {
    let Some(range) = metadata_range(body)? else {
        return Ok(json!({}));
    };
    let selectors = matchers(body)?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or("");
    let values = state.profiles.label_values_of(name, range, &selectors);
    Ok(list_message("names", values.into_iter().map(Value::from).collect()))
}

async fn label_values(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    match querier_request(&headers, body, "*typesv1.LabelValuesRequest") {
        Ok((call, body)) => querier_reply(&call, label_values_of(&state, &body)),
        Err(refusal) => *refusal,
    }
}

/// `LabelNames`: the sorted names of the series the matchers pick, the
/// head's private ones (`__profile_type__`, …) included.
fn label_names_of(state: &SimState, body: &Value) -> Result<Value, ConnectError> {
    let Some(range) = metadata_range(body)? else {
        return Ok(json!({}));
    };
    let selectors = matchers(body)?;
    let mut names: Vec<String> = state
        .profiles
        .series(range, &selectors)
        .into_iter()
        .flat_map(|l| l.into_keys())
        .collect();
    names.sort();
    names.dedup();
    Ok(list_message("names", names.into_iter().map(Value::from).collect()))
}

async fn label_names(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    match querier_request(&headers, body, "*typesv1.LabelNamesRequest") {
        Ok((call, body)) => querier_reply(&call, label_names_of(&state, &body)),
        Err(refusal) => *refusal,
    }
}

/// `Series` (`Head.Series`): the distinct label sets the matchers pick,
/// cut to `labelNames` when it names any, sorted.
fn series_of_request(state: &SimState, body: &Value) -> Result<Value, ConnectError> {
    let Some(range) = metadata_range(body)? else {
        return Ok(json!({}));
    };
    let selectors = matchers(body)?;
    let wanted: Vec<String> = field(body, "labelNames", "label_names")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let mut sets: Vec<Labels> = state
        .profiles
        .series(range, &selectors)
        .into_iter()
        .map(|l| {
            if wanted.is_empty() {
                return l;
            }
            l.into_iter().filter(|(k, _)| wanted.contains(k)).collect()
        })
        .collect();
    sets.sort();
    sets.dedup();
    let sets: Vec<Value> = sets
        .into_iter()
        .map(|l| {
            let pairs: Vec<Value> = l
                .into_iter()
                .map(|(name, value)| json!({ "name": name, "value": value }))
                .collect();
            list_message("labels", pairs)
        })
        .collect();
    Ok(list_message("labelsSet", sets))
}

async fn series(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    match querier_request(&headers, body, "*querierv1.SeriesRequest") {
        Ok((call, body)) => querier_reply(&call, series_of_request(&state, &body)),
        Err(refusal) => *refusal,
    }
}

/// `labelSelector`, absent being protojson's empty string.
fn selector(body: &Value) -> Result<Vec<Matcher>, ConnectError> {
    let text = field(body, "labelSelector", "label_selector")
        .and_then(Value::as_str)
        .unwrap_or("");
    promql::parse_selector(text).map_err(|e| invalid(e.to_string()))
}

/// `phlaremodel.ParseProfileTypeSelector` (`pkg/model/profile.go`): five
/// or six `:`-separated parts, else a gRPC status error that the querier
/// wraps whole as `invalid_argument`.
fn parse_profile_type(id: &str) -> Result<(), ConnectError> {
    let parts = id.split(':').count();
    if parts == 5 || parts == 6 {
        return Ok(());
    }
    Err(invalid(format!(
        "rpc error: code = InvalidArgument desc = profile-type selection must be of the form \
         <name>:<sample-type>:<sample-unit>:<period-type>:<period-unit>(:delta), got({parts}): {}",
        go::strconv::quote(id)
    )))
}

/// `phlaremodel.NewSpanSelector` (`pkg/model/profile.go`), run by the
/// ingester's `MergeSpanProfile` (`pkg/phlaredb/block_querier.go`): each
/// span id is 16 hex digits. Its refusal is a plain error, which reaches
/// the client as `unknown`, a 500.
fn check_spans(spans: &[String]) -> Result<(), ConnectError> {
    let unknown = |message: String| connect_error(StatusCode::INTERNAL_SERVER_ERROR, "unknown", message);
    for span in spans {
        if span.len() != 16 {
            return Err(unknown(format!("invalid span id length: {}", go::strconv::quote(span))));
        }
        if let Some(&b) = span.as_bytes().iter().find(|b| !b.is_ascii_hexdigit()) {
            // `hex.InvalidByteError`: `%#U` of the byte.
            let c = char::from(b);
            let shown = if go::strconv::is_print(c) {
                format!("U+{:04X} '{c}'", b)
            } else {
                format!("U+{:04X}", b)
            };
            return Err(unknown(format!("encoding/hex: invalid byte: {shown}")));
        }
    }
    Ok(())
}

/// The stored profile type a five- or six-part id selects: the `:delta`
/// tail is not part of it (`SelectorFromProfileType`).
fn stored_type(id: &str) -> String {
    id.split(':').take(5).collect::<Vec<_>>().join(":")
}

/// `SelectMergeStacktraces` and `SelectMergeSpanProfile` in the order
/// the frontend then the querier check them: the range
/// (`pkg/frontend/frontend_select_merge_*.go`), the profile type, the
/// selector (`pkg/querier/ingester_querier.go`).
fn select(state: &SimState, body: &Value, with_spans: bool) -> Result<Value, ConnectError> {
    let Some(range) = validate_range(times(body)?)? else {
        // A span profile outside the lookback is an empty `FlameGraph{}`;
        // stack traces are the flame graph of an empty tree.
        let graph = if with_spans {
            json!({})
        } else {
            profiles::empty_flamegraph()
        };
        return Ok(json!({ "flamegraph": graph }));
    };
    let type_id = field(body, "profileTypeID", "profile_typeID")
        .and_then(Value::as_str)
        .unwrap_or("");
    parse_profile_type(type_id)?;
    let matchers = selector(body)?;
    let spans: Option<Vec<String>> = with_spans.then(|| {
        field(body, "spanSelector", "span_selector")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    });
    if let Some(spans) = &spans {
        check_spans(spans)?;
    }
    let graph = state.profiles.flamegraph(&Selection {
        type_id: &stored_type(type_id),
        matchers: &matchers,
        range_ms: range,
        spans: spans.as_deref(),
        delay: state.faults().delay,
    });
    Ok(json!({ "flamegraph": graph }))
}

async fn select_merge_stacktraces(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    match querier_request(&headers, body, "*querierv1.SelectMergeStacktracesRequest") {
        Ok((call, body)) => querier_reply(&call, select(&state, &body, false)),
        Err(refusal) => *refusal,
    }
}

async fn select_merge_span_profile(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    match querier_request(&headers, body, "*querierv1.SelectMergeSpanProfileRequest") {
        Ok((call, body)) => querier_reply(&call, select(&state, &body, true)),
        Err(refusal) => *refusal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(response: Response) -> (StatusCode, String) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

    fn json_headers() -> HeaderMap {
        HeaderMap::from_iter([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))])
    }

    /// A select call with a JSON body, as the router hands it over.
    fn run(state: &SimState, body: &[u8], with_spans: bool) -> Response {
        match querier_request(&json_headers(), Bytes::copy_from_slice(body), "*querierv1.X") {
            Ok((call, body)) => querier_reply(&call, select(state, &body, with_spans)),
            Err(refusal) => *refusal,
        }
    }

    fn now_ms() -> i64 {
        (unix_nanos() / 1_000_000) as i64
    }

    /// A select request over the last hour, with `extra` fields.
    fn select_body(extra: Value) -> Vec<u8> {
        let mut body =
            json!({ "profileTypeID": CPU, "labelSelector": "{}", "start": now_ms() - 3_600_000, "end": now_ms() });
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        body.to_string().into_bytes()
    }

    fn empty_tree() -> Value {
        json!({ "flamegraph": { "names": ["total"], "levels": [{ "values": ["0", "0", "0", "0"] }] } })
    }

    async fn serve(state: Arc<SimState>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        addr
    }

    #[tokio::test]
    async fn unknown_paths_and_methods_answer_as_gorilla_and_connect_go_do() {
        let addr = serve(Arc::new(SimState::default())).await;
        let http = reqwest::Client::new();
        let resp = http.get(format!("http://{addr}/nope")).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert_eq!(resp.text().await.unwrap(), "404 page not found\n");
        for (method, path) in [
            (reqwest::Method::GET, "/ingest"),
            (reqwest::Method::POST, "/ready"),
            (reqwest::Method::HEAD, "/ready"),
        ] {
            let resp = http
                .request(method.clone(), format!("http://{addr}{path}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 405, "{method} {path}");
            assert!(resp.headers().get("allow").is_none(), "{method} {path}");
            assert_eq!(resp.text().await.unwrap(), "");
        }
        let resp = http
            .get(format!("http://{addr}/querier.v1.QuerierService/ProfileTypes"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.headers()["allow"], "POST");
        let resp = http.get(format!("http://{addr}/ready")).send().await.unwrap();
        assert_eq!(resp.headers()["content-type"], "text/plain");
        assert_eq!(resp.text().await.unwrap(), "ready");
    }

    #[tokio::test]
    async fn querier_calls_are_negotiated_as_connect_go_does() {
        let addr = serve(Arc::new(SimState::default())).await;
        let http = // Decompressing itself (in the workspace build reqwest has gzip on), the
        // client would hide the answer's content-encoding.
        reqwest::Client::builder().no_gzip().build().unwrap();
        let url = format!("http://{addr}/querier.v1.QuerierService/ProfileTypes");
        // No content type: 415 with the types it takes.
        let resp = http.post(&url).body("{}").send().await.unwrap();
        assert_eq!(resp.status(), 415);
        assert!(
            resp.headers()["accept-post"]
                .to_str()
                .unwrap()
                .contains("application/json")
        );
        let json = |body: &'static str| http.post(&url).header("content-type", "application/json").body(body);
        let resp = json("").send().await.unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(
            resp.text().await.unwrap(),
            r#"{"code":"invalid_argument","message":"unmarshal message: zero-length payload is not a valid JSON object"}"#
        );
        let resp = json("{x").send().await.unwrap();
        assert_eq!(resp.status(), 400);
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("unmarshal message: unmarshal into *querierv1.ProfileTypesRequest: ")
        );
        // An answer is gzipped when the client takes gzip, in its content type.
        let resp = http
            .post(&url)
            .header("content-type", "application/json; charset=utf-8")
            .header("accept-encoding", "gzip")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/json; charset=utf-8");
        assert_eq!(resp.headers()["content-encoding"], "gzip");
        let bytes = resp.bytes().await.unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text).unwrap();
        assert_eq!(text, "{}");
    }

    #[tokio::test]
    async fn a_select_without_start_or_end_is_a_missing_time_range() {
        let state = SimState::default();
        for spans in [false, true] {
            let body = json!({ "profileTypeID": CPU, "labelSelector": "{}", "end": now_ms() }).to_string();
            let (status, text) = answer(run(&state, body.as_bytes(), spans)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(
                text,
                r#"{"code":"invalid_argument","message":"missing time range in the query"}"#
            );
        }
    }

    #[tokio::test]
    async fn a_select_over_more_than_a_day_is_refused_and_an_old_one_is_empty() {
        let state = SimState::default();
        let now = now_ms();
        let long = select_body(json!({ "start": now - 25 * 3_600_000, "end": now }));
        let (status, text) = answer(run(&state, &long, false)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            text,
            r#"{"code":"invalid_argument","message":"the query time range exceeds the limit (max_query_length, actual: 25h0m0s, limit: 1d)"}"#
        );
        // Before the 7-day lookback: nothing is checked or selected.
        let week = 7 * 24 * 3_600_000;
        let old = select_body(
            json!({ "profileTypeID": "cpu", "start": now - week - 7_200_000, "end": now - week - 3_600_000 }),
        );
        let (status, text) = answer(run(&state, &old, true)).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, r#"{"flamegraph":{}}"#));
        let (_, text) = answer(run(&state, &old, false)).await;
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), empty_tree());
        // A start before the lookback is moved up to it, not refused.
        let clipped = select_body(json!({ "start": now - 30 * 24 * 3_600_000, "end": now - week + 3_600_000 }));
        assert_eq!(answer(run(&state, &clipped, false)).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_profile_type_id_needs_five_or_six_parts() {
        let state = SimState::default();
        let (status, text) = answer(run(
            &state,
            &select_body(json!({ "profileTypeID": "process_cpu" })),
            false,
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            text,
            r#"{"code":"invalid_argument","message":"rpc error: code = InvalidArgument desc = profile-type selection must be of the form \u003cname\u003e:\u003csample-type\u003e:\u003csample-unit\u003e:\u003cperiod-type\u003e:\u003cperiod-unit\u003e(:delta), got(1): \"process_cpu\""}"#
        );
        let mut missing: Value = serde_json::from_slice(&select_body(json!({}))).unwrap();
        missing.as_object_mut().unwrap().remove("profileTypeID");
        let (status, text) = answer(run(&state, missing.to_string().as_bytes(), true)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.ends_with(r#"got(1): \"\""}"#), "{text}");
        // The profile type is checked before the selector.
        let both = select_body(json!({ "profileTypeID": "a:b", "labelSelector": "{" }));
        assert!(answer(run(&state, &both, false)).await.1.contains("got(2)"));
        let delta = select_body(json!({ "profileTypeID": format!("{CPU}:delta") }));
        assert_eq!(answer(run(&state, &delta, false)).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn proto_field_names_are_read_as_protojson_reads_them() {
        let state = SimState::default();
        let now = now_ms();
        let body = json!({ "profile_typeID": "x", "label_selector": "{}", "start": now - 1000, "end": now });
        let (status, text) = answer(run(&state, body.to_string().as_bytes(), true)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("got(1)"), "{text}");
        let push = json!({ "series": [{ "labels": [], "samples": [{ "raw_profile": "" }] }] });
        let series = series_of(Codec::Json, push.to_string().as_bytes()).unwrap();
        assert_eq!(distribute(&state, series).unwrap_err(), "gzip reset: EOF");
    }

    /// A Go heap profile: four sample types, four profile types.
    #[tokio::test]
    async fn each_sample_type_is_a_profile_type_of_its_own() {
        #[derive(Clone, PartialEq, prost::Message)]
        struct ValueType {
            #[prost(int64, tag = "1")]
            r#type: i64,
            #[prost(int64, tag = "2")]
            unit: i64,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct Sample {
            #[prost(uint64, repeated, tag = "1")]
            location_id: Vec<u64>,
            #[prost(int64, repeated, tag = "2")]
            value: Vec<i64>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct Profile {
            #[prost(message, repeated, tag = "1")]
            sample_type: Vec<ValueType>,
            #[prost(message, repeated, tag = "2")]
            sample: Vec<Sample>,
            #[prost(string, repeated, tag = "6")]
            string_table: Vec<String>,
            #[prost(message, optional, tag = "11")]
            period_type: Option<ValueType>,
        }
        let strings = ["", "alloc_objects", "count", "alloc_space", "bytes", "space"];
        let vt = |r#type, unit| ValueType { r#type, unit };
        let heap = Profile {
            sample_type: vec![vt(1, 2), vt(3, 4)],
            sample: vec![
                Sample {
                    location_id: vec![],
                    value: vec![3, 4096],
                },
                Sample {
                    location_id: vec![],
                    value: vec![0, 512],
                },
            ],
            string_table: strings.iter().map(|s| (*s).to_owned()).collect(),
            period_type: Some(vt(5, 4)),
        };
        let state = SimState::default();
        let labels = pairs(&[("__name__", "memory"), ("service_name", "svc")]);
        distribute(&state, vec![(labels, vec![heap.encode_to_vec()])]).unwrap();
        assert_eq!(state.profiles.counts().profiles_received, 1);
        let now = now_ms();
        let types = profile_types_of(&state, &json!({ "start": now - 60_000, "end": now + 60_000 })).unwrap();
        let ids: Vec<&str> = types["profileTypes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["ID"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "memory:alloc_objects:count:space:bytes",
                "memory:alloc_space:bytes:space:bytes"
            ]
        );
        let total = |id: &str| {
            let body =
                json!({ "profileTypeID": id, "labelSelector": "{}", "start": now - 60_000, "end": now + 60_000 });
            select(&state, &body, false).unwrap()["flamegraph"]["total"].clone()
        };
        assert_eq!(
            types["profileTypes"][0],
            json!({ "ID": "memory:alloc_objects:count:space:bytes", "name": "memory", "sampleType": "alloc_objects",
                    "sampleUnit": "count", "periodType": "space", "periodUnit": "bytes" })
        );
        assert_eq!(total("memory:alloc_objects:count:space:bytes"), "3");
        assert_eq!(total("memory:alloc_space:bytes:space:bytes"), "4608");
    }

    #[tokio::test]
    async fn span_ids_that_are_not_16_hex_digits_are_refused_by_the_ingester() {
        let state = SimState::default();
        for (span, message) in [
            ("abc", r#"invalid span id length: \"abc\""#),
            ("00f067aa0ba902bg", "encoding/hex: invalid byte: U+0067 'g'"),
        ] {
            let body = select_body(json!({ "spanSelector": ["00f067aa0ba902b7", span] }));
            let (status, text) = answer(run(&state, &body, true)).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(text, format!(r#"{{"code":"unknown","message":"{message}"}}"#));
        }
        let upper = select_body(json!({ "spanSelector": ["00F067AA0BA902B7"] }));
        assert_eq!(answer(run(&state, &upper, true)).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn an_empty_selection_is_the_flame_graph_of_an_empty_tree() {
        let state = SimState::default();
        let (status, text) = answer(run(&state, &select_body(json!({})), false)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), empty_tree());
    }

    /// One stored CPU series of `svc` and one of `other`.
    fn two_series() -> SimState {
        let state = SimState::default();
        for service in ["svc", "other"] {
            let labels = Labels::from([
                ("__name__".to_owned(), "process_cpu".to_owned()),
                ("service_name".to_owned(), service.to_owned()),
            ]);
            state.profiles.push(
                vec![(labels, Vec::new())],
                "cpu:nanoseconds:cpu:nanoseconds",
                now_ms(),
                false,
            );
        }
        state
    }

    #[test]
    fn label_names_values_and_series_answer_from_the_head_with_its_private_labels() {
        let state = two_series();
        let names = label_names_of(&state, &json!({ "matchers": ["{service_name=\"svc\"}"] })).unwrap();
        assert_eq!(
            names,
            json!({ "names": [
                "__name__", "__period_type__", "__period_unit__", "__profile_type__",
                "__service_name__", "__type__", "__unit__", "service_name"
            ] })
        );
        let types = label_values_of(&state, &json!({ "name": "__profile_type__" })).unwrap();
        assert_eq!(types, json!({ "names": [CPU] }));
        let picked = json!({ "name": "service_name", "matchers": ["{service_name=\"other\"}"] });
        assert_eq!(label_values_of(&state, &picked).unwrap(), json!({ "names": ["other"] }));
        let series = series_of_request(&state, &json!({ "labelNames": ["service_name"] })).unwrap();
        assert_eq!(
            series,
            json!({ "labelsSet": [
                { "labels": [{ "name": "service_name", "value": "other" }] },
                { "labels": [{ "name": "service_name", "value": "svc" }] },
            ] })
        );
        let (status, _, text) = matchers(&json!({ "matchers": ["{"] })).unwrap_err();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            text.starts_with(r#"{"code":"unknown","message":"rpc error: code = InvalidArgument desc = failed to parse label selector: "#),
            "{text}"
        );
    }

    #[test]
    fn a_profile_type_without_a_period_type_leaves_its_fields_out() {
        let state = SimState::default();
        let labels = Labels::from([
            ("__name__".to_owned(), "goroutines".to_owned()),
            ("service_name".to_owned(), "svc".to_owned()),
        ]);
        state
            .profiles
            .push(vec![(labels, Vec::new())], "goroutine:count::", now_ms(), false);
        assert_eq!(
            profile_types_of(&state, &json!({})).unwrap(),
            json!({ "profileTypes": [{ "ID": "goroutines:goroutine:count::", "name": "goroutines",
                                       "sampleType": "goroutine", "sampleUnit": "count" }] })
        );
        let names = label_names_of(&state, &json!({})).unwrap();
        assert!(!names["names"].as_array().unwrap().contains(&json!("__period_type__")));
    }

    #[tokio::test]
    async fn label_values_without_a_name_is_empty_not_an_error() {
        let state = Arc::new(SimState::default());
        let (status, text) =
            answer(label_values(State(state.clone()), json_headers(), Bytes::from_static(b"{}")).await).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "{}"));
        let (status, text) = answer(profile_types(State(state), json_headers(), Bytes::from_static(b"{}")).await).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "{}"));
    }

    #[tokio::test]
    async fn a_bad_escape_in_the_label_selector_is_invalid_argument() {
        let state = SimState::default();
        let body = select_body(json!({ "labelSelector": "{service_name=\"a\\-b\"}" }));
        let (status, text) = answer(run(&state, &body, false)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            text,
            r#"{"code":"invalid_argument","message":"1:15: parse error: unknown escape sequence U+002D '-'"}"#
        );
    }

    #[tokio::test]
    async fn a_selector_of_service_and_run_is_accepted() {
        let state = SimState::default();
        let body = select_body(json!({ "labelSelector": "{service_name=\"svc\", pillars_run=\"r1\"}" }));
        let (status, text) = answer(run(&state, &body, false)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let matchers = selector(&json!({"labelSelector": "{service_name=\"svc\", pillars_run=\"r1\"}"})).unwrap();
        assert_eq!(matchers.len(), 2);
        // ParseMetricSelector has no non-empty-matcher check: `{}` is all.
        assert!(selector(&json!({"labelSelector": "{}"})).unwrap().is_empty());
        let (_, _, missing) = selector(&json!({})).unwrap_err();
        assert_eq!(
            missing,
            r#"{"code":"invalid_argument","message":"unknown position: parse error: unexpected end of input"}"#
        );
        let (_, _, html) = selector(&json!({"labelSelector": "{a=\"b\"} > 1"})).unwrap_err();
        assert!(html.contains(r"unexpected \u003cop:\u003e\u003e"), "{html}");
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn label_names_are_sanitized_as_pyroscope_does() {
        let labels = pairs(&[
            ("otel.scope.name", "com.grafana.pyroscope/rust"),
            ("service_name", "svc"),
            ("__name__", "process_cpu"),
        ]);
        let sanitized = validate_labels(labels).unwrap();
        assert_eq!(
            sanitized.keys().collect::<Vec<_>>(),
            ["__name__", "otel_scope_name", "service_name"]
        );
        let base = [("__name__", "process_cpu"), ("service_name", "svc")];
        let with = |extra: &[(&str, &str)]| {
            let mut l = pairs(&base);
            l.extend(pairs(extra));
            l
        };
        assert_eq!(
            validate_labels(with(&[("thread-id", "7")])).unwrap_err(),
            r#"invalid labels '{__name__="process_cpu", service_name="svc", thread-id="7"}' with error: invalid label name 'thread-id'"#
        );
        assert_eq!(
            validate_labels(with(&[("a.b", "1"), ("a_b", "2")])).unwrap_err(),
            r#"profile with labels '{__name__="process_cpu", a_b="1", a_b="2", service_name="svc"}' has duplicate label name: 'a_b'"#
        );
        assert!(validate_labels(with(&[("1a", "x")])).is_err());
        assert_eq!(
            validate_labels(pairs(&[("service_name", "svc")])).unwrap_err(),
            r#"invalid labels '{service_name="svc"}' with error: invalid metric name"#
        );
        assert_eq!(
            validate_labels(pairs(&[("__name__", "cpu")])).unwrap_err(),
            r#"invalid labels '{__name__="cpu"}' with error: service name is not provided"#
        );
        let many: Vec<(String, String)> = (0..29).map(|i| (format!("l{i:02}"), "v".to_owned())).collect();
        let mut over = pairs(&base);
        over.extend(many);
        assert!(
            validate_labels(over)
                .unwrap_err()
                .ends_with("has 31 label names; limit 30"),
        );
    }

    #[test]
    fn times_print_as_go_prints_them() {
        assert_eq!(format_time_millis(1_735_689_600_000), "2025-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            format_time_millis(1_735_689_600_120),
            "2025-01-01 00:00:00.12 +0000 UTC"
        );
    }

    fn profile(time_nanos: i64, facts: pprof::Facts) -> pprof::Decoded {
        pprof::Decoded {
            type_suffix: "cpu:nanoseconds:cpu:nanoseconds".into(),
            stacks: Vec::new(),
            time_nanos,
            facts,
            other_types: Vec::new(),
        }
    }

    #[test]
    fn profiles_are_validated_with_the_distributors_messages() {
        let labels = pairs(&[("__name__", "process_cpu"), ("service_name", "svc")]);
        let shown = r#"'{__name__="process_cpu", service_name="svc"}'"#;
        let now_ns = unix_nanos() as i64;
        let old = validate_profile(&labels, &profile(now_ns - 7_200_000_000_000, Default::default())).unwrap_err();
        assert!(
            old.starts_with(&format!(
                "profile with labels {shown} is outside of ingestion window (profile timestamp: "
            )),
            "{old}"
        );
        assert!(
            old.contains(", the ingestion window starts at ") && old.ends_with(" +0000 UTC)"),
            "{old}"
        );
        let ahead = validate_profile(&labels, &profile(now_ns + 900_000_000_000, Default::default()));
        assert!(ahead.unwrap_err().contains("outside of ingestion window"));
        assert!(validate_profile(&labels, &profile(0, Default::default())).is_ok());
        let facts = |f: fn(&mut pprof::Facts)| {
            let mut facts = pprof::Facts::default();
            f(&mut facts);
            validate_profile(&labels, &profile(0, facts)).unwrap_err()
        };
        assert_eq!(
            facts(|f| f.samples = 16_001),
            format!(
                "the profile with labels {shown} exceeds the samples count limit (max_profile_stacktrace_samples, actual: 16001, limit: 16000)"
            )
        );
        assert_eq!(
            facts(|f| f.sample_labels = vec![1, 101]),
            format!(
                "the profile with labels {shown} exceeds the sample labels limit (max_profile_stacktrace_sample_labels, actual: 101, limit: 100)"
            )
        );
        assert_eq!(
            facts(|f| f.size = 5 << 20),
            format!(
                "the profile with labels {shown} exceeds the size limit (max_profile_size_byte, actual: 5242880, limit: 4194304)"
            )
        );
        assert_eq!(facts(|f| f.zero_location_id = true), "location id is 0");
        assert_eq!(facts(|f| f.zero_function_id = true), "function id is 0");
        assert_eq!(
            facts(|f| f.sample_types = vec!["alloc-space".into()]),
            "sample type contains -"
        );
        assert_eq!(
            facts(|f| f.bad_utf8 = Some(vec![0x61, 0xff])),
            "invalid utf8 string hex: 61ff"
        );
    }

    #[tokio::test]
    async fn a_refused_push_is_a_connect_error() {
        let state = Arc::new(SimState::default());
        state.set_faults(crate::faults::Faults {
            reject_ratio: 1.0,
            ..Default::default()
        });
        let mut statuses = Vec::new();
        for _ in 0..2 {
            let response = push(State(state.clone()), json_headers(), Bytes::from_static(b"{}")).await;
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            let (status, text) = answer(response).await;
            let code: Value = serde_json::from_str(&text).unwrap();
            statuses.push((status, code["code"].as_str().unwrap().to_owned()));
        }
        statuses.sort();
        assert_eq!(
            statuses,
            [
                (StatusCode::TOO_MANY_REQUESTS, "resource_exhausted".to_owned()),
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable".to_owned()),
            ]
        );
    }

    #[test]
    fn push_bodies_that_do_not_unmarshal_are_named_as_connect_go_names_them() {
        let Err(empty) = series_of(Codec::Json, b"") else {
            panic!("an empty body")
        };
        assert_eq!(
            empty,
            "unmarshal message: zero-length payload is not a valid JSON object"
        );
        let Err(bad) = series_of(Codec::Json, b"[1]") else {
            panic!("an array")
        };
        assert!(
            bad.starts_with("unmarshal message: unmarshal into *pushv1.PushRequest: "),
            "{bad}"
        );
        // Protobuf: no bytes is the empty request, refused for having no profiles.
        let state = SimState::default();
        let series = series_of(Codec::Proto, b"").unwrap();
        assert_eq!(distribute(&state, series).unwrap_err(), "no profiles received");
    }

    #[test]
    fn an_empty_raw_profile_is_refused_as_gzip_reset_eof() {
        let state = SimState::default();
        let series = vec![(
            pairs(&[("__name__", "process_cpu"), ("service_name", "svc")]),
            vec![Vec::new()],
        )];
        assert_eq!(distribute(&state, series).unwrap_err(), "gzip reset: EOF");
        assert_eq!(state.profiles.counts().profiles_received, 0);
    }

    #[test]
    fn ingest_names_parse_as_segment_parse_key_does() {
        let labels = parse_key(" harness-backend {run = r42 ,env=\"test\", bare}").unwrap();
        assert_eq!(labels["__name__"], "harness-backend");
        assert_eq!(labels["run"], "r42");
        // Quotes are part of the value; a key without `=` is dropped.
        assert_eq!(labels["env"], "\"test\"");
        assert_eq!(labels.len(), 3);
        assert_eq!(parse_key("app").unwrap().len(), 1);
        assert_eq!(parse_key("app{}").unwrap().len(), 1);
        assert_eq!(parse_key("").unwrap_err(), "application name is required");
        assert_eq!(
            parse_key("my app{a=b}").unwrap_err(),
            "invalid application name: my app: character is not allowed: ' '"
        );
        assert_eq!(
            parse_key("app{a-b=c}").unwrap_err(),
            "invalid tag key: a-b: character is not allowed: '-'"
        );
        assert_eq!(parse_key("app{=c}").unwrap_err(), "tag key is required");
        assert_eq!(parse_key("app{__name__=x}").unwrap()["__name__"], "x");
    }

    #[test]
    fn pprof_ingest_labels_name_the_kind_of_profile() {
        let names = |list: &[&str]| ingest_metric_name(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(names(&["cpu"]), "process_cpu");
        assert_eq!(names(&["samples", "cpu"]), "process_cpu");
        assert_eq!(names(&["alloc_objects", "alloc_space"]), "memory");
        assert_eq!(names(&["contentions", "delay"]), "mutex");
        assert_eq!(names(&["goroutine"]), "goroutines");
        assert_eq!(names(&["cpu", "wall"]), "wall");
        assert_eq!(names(&["x", "y"]), "y");
    }

    async fn ingest_answer(query: &str, body: &'static [u8]) -> (StatusCode, String, HeaderMap) {
        let state = Arc::new(SimState::default());
        let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let response = ingest(State(state), HeaderMap::new(), Query(params), Bytes::from_static(body)).await;
        let headers = response.headers().clone();
        let (status, text) = answer(response).await;
        (status, text, headers)
    }

    #[tokio::test]
    async fn ingest_errors_are_json_with_the_handlers_codes() {
        let (status, text, headers) = ingest_answer("format=pprof", b"").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            text,
            "{\"code\":\"invalid_argument\",\"message\":\"name: application name is required\"}\n"
        );
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        // No profile at all is accepted, and nothing is stored.
        let (status, text, _) = ingest_answer("name=app&format=pprof", b"").await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, ""));
        let (status, text, _) = ingest_answer("name=app&format=pprof", b"short").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            text,
            "{\"code\":\"unknown\",\"message\":\"parsing IngestInput-pprof failed invalid_argument: gzip reset: unexpected EOF\"}\n"
        );
    }

    #[tokio::test]
    async fn a_folded_ingest_is_a_cpu_profile_of_the_sample_rate() {
        let state = Arc::new(SimState::default());
        let now = unix_nanos() / 1_000_000_000;
        let ingest_folded = |query: String, body: &'static [u8]| {
            let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            ingest(
                State(state.clone()),
                HeaderMap::new(),
                Query(params),
                Bytes::from_static(body),
            )
        };
        let query = format!("name=app%7Bservice_name%3Dsvc%7D&from={now}&sampleRate=50&spyName=pyspy");
        let (status, text) = answer(ingest_folded(query, b"main;work 3\r\nno-count\nmain 1\n").await).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, ""));
        assert_eq!(state.profiles.types((i64::MIN, i64::MAX)), [CPU]);
        assert_eq!(state.profiles.label_values("app_name"), ["app"]);
        assert_eq!(state.profiles.label_values("pyroscope_spy"), ["pyspy"]);
        let body = json!({ "profileTypeID": CPU, "labelSelector": "{service_name=\"svc\"}",
                           "start": now_ms() - 60_000, "end": now_ms() + 60_000 });
        let graph = select(&state, &body, false).unwrap();
        assert_eq!(graph["flamegraph"]["total"], (4 * 20_000_000).to_string());
        // A bad count is the parser's error; an unknown kind the adapter's.
        let (status, text) = answer(ingest_folded(format!("name=app&from={now}"), b"main x").await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            text,
            "{\"code\":\"unknown\",\"message\":\"strconv.Atoi: parsing \\\"x\\\": invalid syntax\"}\n"
        );
        let (status, text) = answer(ingest_folded("name=my.app".into(), b"main 1").await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            text,
            r#"{"code":"invalid_argument","message":"pyroscopeIngesterAdapter failed to convert metadata: unknown profile type: app"}"#
        );
    }

    #[tokio::test]
    async fn a_pprof_ingest_is_stored_with_the_legacy_labels() {
        // The fixture's time is long gone: an agent that sends none.
        let fixture = include_bytes!("../../tests/fixtures/reference/pprof-span-00f067aa0ba902b7.pb");
        let body = with_time_nanos(fixture, 0);
        let state = Arc::new(SimState::default());
        let now = unix_nanos() / 1_000_000_000;
        let query = format!("name=harness-backend%7Brun%3Dr42%7D&format=pprof&from={now}");
        let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let response = ingest(State(state.clone()), HeaderMap::new(), Query(params), Bytes::from(body)).await;
        let (status, text) = answer(response).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        for (name, value) in [
            ("__name__", "process_cpu"),
            ("__delta__", "false"),
            ("service_name", "harness-backend"),
            ("pyroscope_spy", "unknown"),
            ("run", "r42"),
        ] {
            assert_eq!(state.profiles.label_values(name), [value], "{name}");
        }
    }
}
