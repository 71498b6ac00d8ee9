//! The reference stack's Faro receiver, as Alloy's `faro.receiver` (v1.13)
//! serves it (`shared/reference/api/01-faro-receiver.md` §1.1): exactly
//! `POST /collect` (and its CORS preflight), `GET /-/ready`; a global token
//! bucket (429 when empty), JSON decoding (400 with Go's `encoding/json` or
//! `time` error text, `faro_lines::Payload::decode`), the payload size
//! limit by `Content-Length` (413; a chunked body has none), then 202 `ok`
//! — even when exporting failed, as Alloy does. Refusals are Go's
//! `http.Error`: the status text or error and a newline. Lines go to the
//! log store under `{app, kind}`, traces to the trace store.
//!
//! Uses: faro_lines, state, faults.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use tokio::time::Instant;

use crate::faro_lines::{self, Payload};
use crate::faults::{Role, drops};
use crate::logs::{Entry, unix_nanos};
use crate::state::SimState;

const ALLOWED_HEADERS: &str = "content-type, traceparent, x-api-key, x-faro-session-id, x-scope-orgid";

/// How the receiver is configured.
#[derive(Debug, Clone)]
pub struct FaroSettings {
    /// The static `app` label (`extra_log_labels { app = … }`).
    pub app_label: String,
    /// Requests per second the token bucket refills.
    pub rate: f64,
    pub burst: f64,
    pub max_payload_bytes: u64,
}

impl Default for FaroSettings {
    fn default() -> Self {
        FaroSettings {
            app_label: "durable-code-frontend".into(),
            rate: 50.0,
            burst: 100.0,
            max_payload_bytes: 5 * 1024 * 1024,
        }
    }
}

struct FaroState {
    sim: Arc<SimState>,
    settings: FaroSettings,
    bucket: Mutex<(f64, Instant)>,
}

/// One receiver, with one rate limit, however many ports route to it (its
/// own, and the ALB's `/collect` on the app role).
#[derive(Clone)]
pub struct FaroReceiver(Arc<FaroState>);

impl FaroReceiver {
    pub fn new(sim: Arc<SimState>, settings: FaroSettings) -> Self {
        let bucket = Mutex::new((settings.burst, Instant::now()));
        FaroReceiver(Arc::new(FaroState { sim, settings, bucket }))
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/collect", post(collect).options(preflight))
            .route("/-/ready", any(ready))
            .with_state(self.0.clone())
    }
}

async fn ready(State(state): State<Arc<FaroState>>) -> Response {
    state.sim.readiness(Role::Faro, "not ready")
}

fn cors(headers: &HeaderMap, response: &mut Response) {
    if let Some(origin) = headers.get(header::ORIGIN) {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
}

async fn preflight(headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    cors(&headers, &mut response);
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    response
}

impl FaroState {
    /// Takes one token from the bucket, refilled at `rate` up to `burst`.
    fn take_token(&self) -> bool {
        let mut bucket = self.bucket.lock().expect("bucket lock");
        let now = Instant::now();
        let (tokens, last) = *bucket;
        let refilled = (tokens + now.duration_since(last).as_secs_f64() * self.settings.rate).min(self.settings.burst);
        if refilled >= 1.0 {
            *bucket = (refilled - 1.0, now);
            true
        } else {
            *bucket = (refilled, now);
            false
        }
    }
}

/// Go's `http.Error`: the text and a newline, `text/plain; charset=utf-8`,
/// `X-Content-Type-Options: nosniff`.
fn http_error(status: StatusCode, text: &str) -> Response {
    let mut response = (status, format!("{text}\n")).into_response();
    response
        .headers_mut()
        .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

async fn collect(State(state): State<Arc<FaroState>>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = |mut response: Response| {
        cors(&headers, &mut response);
        response
    };
    if !state.take_token() {
        return answer(http_error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"));
    }
    // Alloy decodes the traces with the payload: bad ids fail the request.
    let payload = match Payload::decode(&body) {
        Ok(p) => p,
        Err(e) => return answer(http_error(StatusCode::BAD_REQUEST, &e)),
    };
    // `req.ContentLength`: -1 (no check) when the body is chunked.
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|length| length > state.settings.max_payload_bytes) {
        return answer(http_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"));
    }
    let faults = state.sim.faults();
    // Alloy answers 202 whatever its exporters do with the payload.
    if !faults.faro_export_fails && !drops(faults.drop_faro, &body) {
        export(&state, &payload);
    }
    answer((StatusCode::ACCEPTED, "ok").into_response())
}

fn export(state: &FaroState, payload: &Payload) {
    let now = unix_nanos();
    let mut by_kind: BTreeMap<&str, Vec<Entry>> = BTreeMap::new();
    for (kind, line) in faro_lines::lines(payload) {
        // Entry time is the receive time, not the payload's.
        by_kind
            .entry(kind.as_str())
            .or_default()
            .push((now, line, BTreeMap::new()));
    }
    for (kind, entries) in by_kind {
        let labels = BTreeMap::from([
            ("app".to_owned(), state.settings.app_label.clone()),
            ("kind".to_owned(), kind.to_owned()),
        ]);
        // Both labels are set, so the push cannot be refused.
        let _ = state.sim.logs.push(labels, entries, |_| false);
    }
    if let Some(request) = &payload.traces {
        state.sim.ingest_spans(request.clone(), &state.sim.faults());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_payload_traces_decode() {
        let payload = Payload::decode(include_bytes!("../../tests/fixtures/reference/faro-payload.json")).unwrap();
        let traces = payload.traces.unwrap();
        let span = &traces.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.name, "documentLoad");
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(span.start_time_unix_nano, 1_735_689_600_000_000_000);
    }

    /// Go's `http.Error`, as `handler.go` answers every refusal.
    #[tokio::test]
    async fn refusals_are_go_http_errors() {
        let response = http_error(StatusCode::BAD_REQUEST, "unexpected EOF");
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"unexpected EOF\n");
    }
}
