//! The reference stack's collector role: OTLP/HTTP `/v1/traces`,
//! `/v1/logs` and `/v1/metrics` in protobuf or JSON (plain, `gzip`,
//! `deflate` or `zlib`, as Alloy's confighttp decodes them; see
//! otlp_body), routed to the stores, answering as an OTLP receiver does
//! (an empty export response in the request's encoding).
//!
//! Logs leave it as the `log_export` variant says: to Loki's OTLP
//! endpoint, or through `otelcol.exporter.loki` to the push API.
//!
//! Uses: state, loki, loki_exporter, mimir, otlp_body, variants.

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

use crate::faults::drops;
use crate::otlp_body::Encodings;
use crate::state::SimState;
use crate::variants::LogExport;
use crate::{loki_exporter, mimir, otlp_body};

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
    match otlp_body::decode_with::<ExportTraceServiceRequest>(Encodings::Collector, &headers, &body) {
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
    match otlp_body::decode_with::<ExportLogsServiceRequest>(Encodings::Collector, &headers, &body) {
        Ok(request) => {
            export_logs(&state, request, state.faults().drop_logs);
            accepted(&headers)
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// Exports OTLP logs as the simulated Alloy is configured to; `drop_ratio`
/// of the lines are acknowledged and never stored.
pub fn export_logs(state: &SimState, request: ExportLogsServiceRequest, drop_ratio: f64) {
    match state.variants().log_export {
        LogExport::Otlp => state
            .logs
            .ingest_otlp(request, |line| drops(drop_ratio, line.as_bytes())),
        LogExport::LokiExporter => {
            for (labels, entries) in loki_exporter::streams(&request, crate::logs::unix_nanos()) {
                // The exporter's labels are never empty (`exporter` is always set).
                let _ = state
                    .logs
                    .push(labels, entries, |line| drops(drop_ratio, line.as_bytes()));
            }
        }
    }
}

/// OTLP metrics go to the metric store as Mimir's OTLP endpoint keeps them.
async fn metrics(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = state.reject_ingest() {
        return refusal;
    }
    match otlp_body::decode_with::<ExportMetricsServiceRequest>(Encodings::Collector, &headers, &body) {
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
