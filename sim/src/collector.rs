//! The reference stack's collector role: OTLP/HTTP `/v1/traces` and
//! `/v1/logs` in protobuf or JSON (optionally gzipped), routed to the stores, answering as an OTLP receiver does
//! (an empty export response in the request's encoding).
//!
//! Uses: state, loki, mimir, otlp_body.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::state::SimState;
use crate::{loki, mimir, otlp_body};

/// Largest export request accepted, as collectors cap request size.
const MAX_BODY: usize = 16 * 1024 * 1024;

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .route("/v1/metrics", post(metrics))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn traces(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = state.reject_ingest() {
        return refusal;
    }
    match otlp_body::decode::<ExportTraceServiceRequest>(&headers, &body) {
        Ok(request) => {
            state.traces.ingest(request, &state.faults());
            accepted(&headers)
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// OTLP logs go to the log store as Loki's OTLP endpoint keeps them, as an
/// Alloy `otelcol.exporter.otlphttp` pointed at Loki would send them.
async fn logs(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = state.reject_ingest() {
        return refusal;
    }
    match otlp_body::decode::<ExportLogsServiceRequest>(&headers, &body) {
        Ok(request) => {
            loki::ingest(&state, request);
            accepted(&headers)
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// OTLP metrics go to the metric store as Mimir's OTLP endpoint keeps them.
async fn metrics(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = state.reject_ingest() {
        return refusal;
    }
    match otlp_body::decode::<ExportMetricsServiceRequest>(&headers, &body) {
        Ok(request) => {
            mimir::ingest(&state, request);
            accepted(&headers)
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// The empty export response, in the request's encoding.
fn accepted(headers: &HeaderMap) -> Response {
    if otlp_body::is_json(headers) {
        ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            // An export response with no partial_success is empty.
            Vec::<u8>::new(),
        )
            .into_response()
    }
}
