//! The reference stack's Mimir API (Mimir 2.14 shapes,
//! `shared/reference/api/04-mimir.md`): `POST /otlp/v1/metrics`, the
//! Prometheus API under `/prometheus` (`query` with instant vector
//! selectors, `query_exemplars`), `/ready`. Errors use Prometheus'
//! `{"status":"error","errorType":"bad_data"}` shape.
//!
//! Uses: metrics, logql, state, faults, otlp_body.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use serde_json::{Value, json};

use crate::faults::{Role, drops};
use crate::logql::parse_series_selector;
use crate::logs::unix_nanos;
use crate::metrics::Labels;
use crate::otlp_body;
use crate::state::SimState;

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/otlp/v1/metrics", post(otlp_metrics))
        .route("/prometheus/api/v1/query", get(query).post(query_form))
        .route(
            "/prometheus/api/v1/query_exemplars",
            get(query_exemplars).post(query_exemplars_form),
        )
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/prometheus/api/v1/status/buildinfo", get(buildinfo))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(state)
}

async fn buildinfo() -> Json<Value> {
    Json(json!({ "status": "success", "data": { "version": concat!("pillars-sim-", env!("CARGO_PKG_VERSION")) } }))
}

async fn ready(State(state): State<Arc<SimState>>) -> Response {
    state.readiness(Role::Mimir, "Some services are not Running")
}

/// Stores an OTLP metrics export, as Mimir's OTLP endpoint or a collector
/// forwarding to it does.
pub fn ingest(state: &SimState, request: ExportMetricsServiceRequest) {
    let faults = state.faults();
    let ratio = faults.drop_metrics;
    state.metrics.ingest_otlp(
        request,
        |labels: &Labels| {
            let key: String = labels.iter().map(|(k, v)| format!("{k}={v},")).collect();
            drops(ratio, key.as_bytes())
        },
        !faults.drop_exemplars,
    );
}

async fn otlp_metrics(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = state.reject_ingest() {
        return refusal;
    }
    match otlp_body::decode::<ExportMetricsServiceRequest>(&headers, &body) {
        Ok(request) => {
            ingest(&state, request);
            if otlp_body::is_json(&headers) {
                ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
            } else {
                ([(header::CONTENT_TYPE, "application/x-protobuf")], Vec::<u8>::new()).into_response()
            }
        }
        Err(refusal) => refusal.into_response(),
    }
}

fn bad_data(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "status": "error", "errorType": "bad_data", "error": message })),
    )
        .into_response()
}

/// Prometheus times: float unix seconds or RFC 3339.
fn parse_seconds(text: &str) -> Result<f64, String> {
    if let Ok(secs) = text.parse::<f64>() {
        return Ok(secs);
    }
    humantime::parse_rfc3339_weak(text)
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        })
        .map_err(|_| format!("cannot parse {text:?} to a valid timestamp"))
}

fn now_secs() -> f64 {
    unix_nanos() as f64 / 1e9
}

async fn query_form(state: State<Arc<SimState>>, body: Bytes) -> Response {
    let params: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    query(state, Query(params)).await
}

async fn query(State(state): State<Arc<SimState>>, Query(params): Query<HashMap<String, String>>) -> Response {
    let Some(text) = params.get("query") else {
        return bad_data("parameter \"query\" is required".into());
    };
    let time = match params.get("time").map(|t| parse_seconds(t)).unwrap_or(Ok(now_secs())) {
        Ok(t) => t,
        Err(e) => return bad_data(e),
    };
    // A number is a scalar query, as Grafana's health check sends `1+1`.
    if let Ok(n) = text
        .replace(' ', "")
        .split('+')
        .map(|p| p.parse::<f64>())
        .sum::<Result<f64, _>>()
    {
        return Json(json!({"status":"success","data":{"resultType":"scalar","result":[time, n.to_string()]}}))
            .into_response();
    }
    let matchers = match parse_series_selector(text) {
        Ok(m) => m,
        Err(e) => return bad_data(format!("invalid parameter \"query\": {e}")),
    };
    let hits = state
        .metrics
        .instant(&matchers, (time * 1000.0) as i64, state.faults().delay);
    let result: Vec<Value> = hits
        .into_iter()
        .map(|h| json!({ "metric": h.labels, "value": [h.ts_ms as f64 / 1000.0, h.value.to_string()] }))
        .collect();
    Json(json!({ "status": "success", "data": { "resultType": "vector", "result": result } })).into_response()
}

async fn query_exemplars_form(state: State<Arc<SimState>>, body: Bytes) -> Response {
    let params: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    query_exemplars(state, Query(params)).await
}

async fn query_exemplars(
    State(state): State<Arc<SimState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(text) = params.get("query") else {
        return bad_data("parameter \"query\" is required".into());
    };
    let now = now_secs();
    let start = params
        .get("start")
        .map(|t| parse_seconds(t))
        .unwrap_or(Ok(now - 3600.0));
    let end = params.get("end").map(|t| parse_seconds(t)).unwrap_or(Ok(now));
    let (start, end) = match (start, end) {
        (Ok(s), Ok(e)) if s <= e => (s, e),
        (Err(e), _) | (_, Err(e)) => return bad_data(e),
        _ => return bad_data("end timestamp must not be before start time".into()),
    };
    let matchers = match parse_series_selector(text) {
        Ok(m) => m,
        Err(e) => return bad_data(format!("invalid parameter \"query\": {e}")),
    };
    let series = state.metrics.exemplars(
        &matchers,
        ((start * 1000.0) as i64, (end * 1000.0) as i64),
        state.faults().delay,
    );
    let data: Vec<Value> = series
        .into_iter()
        .map(|(labels, exemplars)| {
            json!({
                "seriesLabels": labels,
                "exemplars": exemplars.into_iter().map(|e| json!({
                    "labels": e.labels,
                    "value": e.value.to_string(),
                    "timestamp": e.ts_ms as f64 / 1000.0,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "status": "success", "data": data })).into_response()
}
