//! The reference stack's Pyroscope API (1.10 shapes,
//! `shared/reference/api/06-pyroscope.md`): Connect push
//! `POST /push.v1.PusherService/Push` (JSON or protobuf), legacy
//! `POST /ingest?format=pprof&name=app{k=v}`, the querier's
//! `ProfileTypes`, `LabelValues`, `SelectMergeStacktraces` and
//! `SelectMergeSpanProfile` (JSON, epoch-millisecond times), `/ready`.
//! Connect errors answer `{"code","message"}`, JSON-escaped as Go escapes
//! it (`<` as `\u003c`…).
//!
//! `labelSelector` is parsed as Pyroscope parses it, with Prometheus'
//! `parser.ParseMetricSelector` (`lang::promql::parse_selector`): a bad
//! escape is `invalid_argument` with Prometheus' own message
//! (`1:15: parse error: unknown escape sequence U+002D '-'`). That parser
//! skips the type checks, so `{}` selects every profile as on Pyroscope;
//! an empty or missing selector is its `unexpected end of input`.
//!
//! Pushed series labels are checked and renamed as the distributor's
//! `ValidateLabels` does before anything is stored: dots in names become
//! `_` (`otel.scope.name`, which pyroscope-rs sends, is kept as
//! `otel_scope_name`); other characters are `invalid_argument`.
//!
//! Uses: pprof, profiles, lang::promql, state, faults, otlp_body, mimir
//! (Go's JSON escaping), go::strconv.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use prost::Message;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::{Role, drops};
use crate::go;
use crate::lang::promql::{self, Matcher};
use crate::logs::unix_nanos;
use crate::otlp_body;
use crate::pprof;
use crate::profiles::{Labels, Selection};
use crate::state::SimState;

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/push.v1.PusherService/Push", post(push))
        .route("/ingest", post(ingest))
        .route("/querier.v1.QuerierService/ProfileTypes", post(profile_types))
        .route("/querier.v1.QuerierService/LabelValues", post(label_values))
        .route(
            "/querier.v1.QuerierService/SelectMergeStacktraces",
            post(select_merge_stacktraces),
        )
        .route(
            "/querier.v1.QuerierService/SelectMergeSpanProfile",
            post(select_merge_span_profile),
        )
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(state)
}

async fn ready(State(state): State<Arc<SimState>>) -> Response {
    state.readiness(Role::Pyroscope, "Ingester not ready")
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
    #[serde(rename = "rawProfile")]
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

/// Series label names as Pyroscope 1.10's distributor stores them
/// (`pkg/validation/validate.go` `ValidateLabels`, `SanitizeLabelName`):
/// in name order, a name of letters, digits (not first), `_` and `.` has
/// its dots turned into `_` (so pyroscope-rs's `otel.scope.name` is kept
/// as `otel_scope_name`); any other character is `invalid_labels`, and a
/// name equal to the one before it once sanitized is a duplicate.
fn sanitize_labels(labels: Labels) -> Result<Labels, String> {
    let mut pairs: Vec<(String, String)> = labels.into_iter().collect();
    let mut last = String::new();
    for i in 0..pairs.len() {
        let name = &pairs[i].0;
        let valid = !name.is_empty()
            && name
                .char_indices()
                .all(|(at, c)| c.is_ascii_alphabetic() || c == '_' || c == '.' || (at > 0 && c.is_ascii_digit()));
        if !valid {
            return Err(format!(
                "invalid labels '{}' with error: invalid label name '{name}'",
                label_pairs_string(&pairs)
            ));
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

fn store(state: &SimState, labels: Labels, raw: &[u8]) -> Result<(), ConnectError> {
    let profile = pprof::decode(raw).map_err(invalid)?;
    let labels = sanitize_labels(labels).map_err(invalid)?;
    let key: String = labels.iter().map(|(k, v)| format!("{k}={v},")).collect();
    let dropped = drops(
        state.faults().drop_profiles,
        format!("{key}{}", profile.time_nanos).as_bytes(),
    );
    state.profiles.push(labels, &profile, dropped).map_err(invalid)
}

async fn push(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = state.reject_ingest() {
        return refusal;
    }
    let is_json = otlp_body::is_json(&headers);
    // Connect clients (pyroscope-rs among them) may gzip the whole request.
    let gzipped = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let body = if gzipped {
        let mut out = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out) {
            return invalid_response(format!("invalid gzip body: {e}"));
        }
        Bytes::from(out)
    } else {
        body
    };
    let series: Vec<(Labels, Vec<Vec<u8>>)> = if is_json {
        let push: JsonPush = match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(e) => return invalid_response(format!("invalid push request: {e}")),
        };
        let mut out = Vec::new();
        for s in push.series {
            let mut raws = Vec::new();
            for sample in s.samples {
                match base64::engine::general_purpose::STANDARD.decode(sample.raw_profile.as_bytes()) {
                    Ok(raw) => raws.push(raw),
                    Err(e) => return invalid_response(format!("rawProfile is not base64: {e}")),
                }
            }
            out.push((s.labels.into_iter().map(|l| (l.name, l.value)).collect(), raws));
        }
        out
    } else {
        match PushRequest::decode(body) {
            Ok(p) => p
                .series
                .into_iter()
                .map(|s| {
                    (
                        s.labels.into_iter().map(|l| (l.name, l.value)).collect(),
                        s.samples.into_iter().map(|r| r.raw_profile).collect(),
                    )
                })
                .collect(),
            Err(e) => return invalid_response(format!("invalid push request: {e}")),
        }
    };
    for (labels, raws) in series {
        for raw in raws {
            if let Err(refusal) = store(&state, labels.clone(), &raw) {
                return refusal.into_response();
            }
        }
    }
    Json(json!({})).into_response()
}

/// `name=app{k=v}`: the application name becomes `service_name`.
fn ingest_labels(name: &str) -> Result<Labels, String> {
    let (app, rest) = match name.find('{') {
        Some(i) => (&name[..i], &name[i..]),
        None => (name, ""),
    };
    let mut labels = Labels::new();
    if !rest.is_empty() {
        let inner = rest.trim_start_matches('{').trim_end_matches('}');
        for pair in inner.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("bad label {pair:?} in name"))?;
            labels.insert(k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
        }
    }
    labels.insert("service_name".into(), app.to_owned());
    Ok(labels)
}

async fn ingest(
    State(state): State<Arc<SimState>>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(refusal) = state.reject_ingest() {
        return refusal;
    }
    let Some(name) = params.get("name") else {
        return (StatusCode::BAD_REQUEST, "name is required").into_response();
    };
    if params.get("format").map(String::as_str) != Some("pprof") {
        return (StatusCode::BAD_REQUEST, "the reference stack ingests format=pprof only").into_response();
    }
    let mut labels = match ingest_labels(name) {
        Ok(l) => l,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let profile = match pprof::decode(&body) {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let metric = if profile.type_suffix.contains("cpu") {
        "process_cpu"
    } else {
        "wall"
    };
    labels.insert("__name__".into(), metric.into());
    match store(&state, labels, &body) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => (StatusCode::UNPROCESSABLE_ENTITY, "profile rejected").into_response(),
    }
}

fn invalid_response(message: impl Into<String>) -> Response {
    invalid(message).into_response()
}

/// Request times are epoch milliseconds, as numbers or strings.
fn millis(v: Option<&Value>, default: i64) -> Result<i64, ConnectError> {
    match v {
        None => Ok(default),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| invalid("times are epoch milliseconds")),
        Some(Value::String(s)) => s.parse().map_err(|_| invalid("times are epoch milliseconds")),
        Some(_) => Err(invalid("times are epoch milliseconds")),
    }
}

fn range(body: &Value) -> Result<(i64, i64), ConnectError> {
    let now = (unix_nanos() / 1_000_000) as i64;
    Ok((
        millis(body.get("start"), now - 3_600_000)?,
        millis(body.get("end"), now)?,
    ))
}

fn request(body: &[u8]) -> Result<Value, ConnectError> {
    serde_json::from_slice(body).map_err(|e| invalid(format!("invalid request: {e}")))
}

async fn profile_types(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let result = request(&body).and_then(|b| range(&b));
    let range = match result {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let types: Vec<Value> = state
        .profiles
        .types(range)
        .into_iter()
        .map(|id| {
            let parts: Vec<&str> = id.split(':').collect();
            json!({
                "ID": id,
                "name": parts.first(),
                "sampleType": parts.get(1),
                "sampleUnit": parts.get(2),
                "periodType": parts.get(3),
                "periodUnit": parts.get(4),
            })
        })
        .collect();
    Json(json!({ "profileTypes": types })).into_response()
}

async fn label_values(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let body = match request(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let Some(name) = body.get("name").and_then(Value::as_str) else {
        return invalid_response("name is required");
    };
    Json(json!({ "names": state.profiles.label_values(name) })).into_response()
}

/// `labelSelector`, absent being protojson's empty string.
fn selector(body: &Value) -> Result<Vec<Matcher>, ConnectError> {
    let text = body.get("labelSelector").and_then(Value::as_str).unwrap_or("");
    promql::parse_selector(text).map_err(|e| invalid(e.to_string()))
}

fn select(state: &SimState, body: &[u8], with_spans: bool) -> Response {
    let body = match request(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let Some(type_id) = body.get("profileTypeID").and_then(Value::as_str) else {
        return invalid_response("profileTypeID is required");
    };
    let (matchers, range) = match (selector(&body), range(&body)) {
        (Ok(m), Ok(r)) => (m, r),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    let spans: Option<Vec<String>> = with_spans.then(|| {
        body.get("spanSelector")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    });
    let graph = state.profiles.flamegraph(&Selection {
        type_id,
        matchers: &matchers,
        range_ms: range,
        spans: spans.as_deref(),
        delay: state.faults().delay,
    });
    Json(json!({ "flamegraph": graph })).into_response()
}

async fn select_merge_stacktraces(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    select(&state, &body, false)
}

async fn select_merge_span_profile(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    select(&state, &body, true)
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

    #[tokio::test]
    async fn a_bad_escape_in_the_label_selector_is_invalid_argument() {
        let state = SimState::default();
        let body = br#"{"profileTypeID":"process_cpu:cpu:nanoseconds:cpu:nanoseconds","labelSelector":"{service_name=\"a\\-b\"}"}"#;
        let (status, text) = answer(select(&state, body, false)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            text,
            r#"{"code":"invalid_argument","message":"1:15: parse error: unknown escape sequence U+002D '-'"}"#
        );
    }

    #[tokio::test]
    async fn a_selector_of_service_and_run_is_accepted() {
        let state = SimState::default();
        let body = br#"{"profileTypeID":"process_cpu:cpu:nanoseconds:cpu:nanoseconds","labelSelector":"{service_name=\"svc\", pillars_run=\"r1\"}"}"#;
        let (status, text) = answer(select(&state, body, false)).await;
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

    #[test]
    fn label_names_are_sanitized_as_pyroscope_does() {
        let labels = Labels::from([
            ("__name__".to_owned(), "process_cpu".to_owned()),
            ("otel.scope.name".to_owned(), "com.grafana.pyroscope/rust".to_owned()),
            ("service_name".to_owned(), "svc".to_owned()),
        ]);
        let sanitized = sanitize_labels(labels).unwrap();
        assert_eq!(
            sanitized.keys().collect::<Vec<_>>(),
            ["__name__", "otel_scope_name", "service_name"]
        );
        let bad = Labels::from([
            ("service_name".to_owned(), "svc".to_owned()),
            ("thread-id".to_owned(), "7".to_owned()),
        ]);
        assert_eq!(
            sanitize_labels(bad).unwrap_err(),
            r#"invalid labels '{service_name="svc", thread-id="7"}' with error: invalid label name 'thread-id'"#
        );
        let twice = Labels::from([("a.b".to_owned(), "1".to_owned()), ("a_b".to_owned(), "2".to_owned())]);
        assert_eq!(
            sanitize_labels(twice).unwrap_err(),
            r#"profile with labels '{a_b="1", a_b="2"}' has duplicate label name: 'a_b'"#
        );
        assert!(sanitize_labels(Labels::from([("1a".to_owned(), "x".to_owned())])).is_err());
    }

    #[test]
    fn ingest_name_carries_labels() {
        let labels = ingest_labels("harness-backend{run=r42,env=\"test\"}").unwrap();
        assert_eq!(labels["service_name"], "harness-backend");
        assert_eq!(labels["run"], "r42");
        assert_eq!(labels["env"], "test");
        assert_eq!(ingest_labels("app").unwrap().len(), 1);
    }
}
