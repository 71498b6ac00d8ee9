//! The reference stack's collector role: OTLP/HTTP `/v1/traces` in protobuf
//! or JSON, routed to the trace store, answering as an OTLP receiver does
//! (an empty export response in the request's encoding).
//!
//! Uses: emit::otlp (response encoding), stack::sim::state.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::emit::otlp::encode_partial_success;
use crate::stack::sim::state::SimState;

/// Largest export request accepted, as collectors cap request size.
const MAX_BODY: usize = 16 * 1024 * 1024;

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn traces(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if headers.contains_key(header::CONTENT_ENCODING) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the reference collector accepts uncompressed OTLP only",
        )
            .into_response();
    }
    let json = content_type.starts_with("application/json");
    let request = if json {
        serde_json::from_slice::<ExportTraceServiceRequest>(&body).map_err(|e| e.to_string())
    } else if content_type.starts_with("application/x-protobuf") {
        ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())
    } else {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content type {content_type:?}: use application/x-protobuf or application/json"),
        )
            .into_response();
    };
    let request = match request {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid OTLP traces request: {e}")).into_response(),
    };
    state.traces.ingest(request, &state.faults());
    if json {
        ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            encode_partial_success(0, ""),
        )
            .into_response()
    }
}
