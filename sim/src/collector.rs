//! The reference stack's collector role: OTLP/HTTP `/v1/traces`,
//! `/v1/logs` and `/v1/metrics` in protobuf or JSON (plain, `gzip`,
//! `deflate` or `zlib`, as Alloy's confighttp decodes them; see
//! otlp_body), routed to the stores, answering as an OTLP receiver does
//! (`receiver/otlpreceiver/otlphttp.go`, collector v0.142): an export
//! response whose partial success is present and empty (`0a 00`,
//! `{"partialSuccess":{}}`), and every error a `google.rpc.Status` in the
//! request's encoding with the receiver's status codes.
//!
//! The same role's OTLP/gRPC receiver is `collector_grpc`, feeding the
//! same stores.
//!
//! Logs leave it as the `log_export` variant says: to Loki's OTLP
//! endpoint, or through `otelcol.exporter.loki` to the push API.
//!
//! Uses: state, loki_exporter, mimir, otlp_body, variants.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

use crate::faults::drops;
use crate::otlp_body::{self, COLLECTOR_MAX_BODY, CollectorRefusal, Format};
use crate::state::SimState;
use crate::variants::LogExport;
use crate::{loki_exporter, mimir};

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v1/traces", any(traces))
        .route("/v1/logs", any(logs))
        .route("/v1/metrics", any(metrics))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// `google.rpc.Status`, as the receiver writes every error.
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC codes the receiver's errors carry.
const UNKNOWN: i32 = 2;
const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;

/// `writeStatusResponse`: the status as protobuf (`proto.Marshal`) or
/// JSON (`protojson.Marshal`, which may put a space after a comma; this
/// writes none), in the content type of that encoding.
fn status_response(format: Format, http: StatusCode, code: i32, message: &str) -> Response {
    match format {
        Format::Protobuf => {
            let status = Status {
                code,
                message: message.to_owned(),
            };
            (
                http,
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                status.encode_to_vec(),
            )
                .into_response()
        }
        Format::Json => {
            let message = serde_json::to_string(message).unwrap_or_default();
            let body = if code == 0 {
                format!("{{\"message\":{message}}}")
            } else {
                format!("{{\"code\":{code},\"message\":{message}}}")
            };
            (http, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
    }
}

/// `statusutil.NewStatusFromMsgAndHTTPCode`'s code for an HTTP status;
/// the gRPC receiver answers a refusing pipeline with it too.
pub(crate) fn grpc_code_for(status: StatusCode) -> i32 {
    match status {
        StatusCode::BAD_REQUEST => INVALID_ARGUMENT,
        StatusCode::TOO_MANY_REQUESTS => RESOURCE_EXHAUSTED,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => UNAVAILABLE,
        _ => UNKNOWN,
    }
}

/// A refusal as `otlphttp.go` writes it: the decompressor's through
/// `errorHandler` (in the request's `Content-Type`, JSON when there is
/// none, and `fallbackMsg` as a 500 when it is neither encoding), the
/// handler's in the request's encoding (`writeError`), an unknown media
/// type as `handleUnmatchedContentType`'s text.
fn refused(headers: &HeaderMap, refusal: CollectorRefusal) -> Response {
    match refusal {
        CollectorRefusal::Decompressor(status, message) => {
            let given = headers.get(header::CONTENT_TYPE).is_some_and(|v| !v.is_empty());
            match (otlp_body::media_type(headers), given) {
                (Some(format), _) => status_response(format, status, grpc_code_for(status), &message),
                (None, false) => status_response(Format::Json, status, grpc_code_for(status), &message),
                (None, true) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"code": 13, "message": "failed to marshal error message"}"#,
                )
                    .into_response(),
            }
        }
        CollectorRefusal::UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(header::CONTENT_TYPE, "text/plain")],
            "415 unsupported media type, supported: [application/json, application/x-protobuf]",
        )
            .into_response(),
        CollectorRefusal::BadRequest(message) => {
            let format = otlp_body::media_type(headers).unwrap_or(Format::Json);
            status_response(format, StatusCode::BAD_REQUEST, INVALID_ARGUMENT, &message)
        }
    }
}

/// One export request through the receiver: the decompressor, the
/// handler's method and media-type checks, reading and unmarshalling the
/// body, then the pipeline (`consume`), whose refusal under the
/// `reject_ratio` fault comes back as the status of a consumer error
/// (`errors.GetStatusFromError`).
async fn receive<T>(
    state: &SimState,
    method: Method,
    headers: &HeaderMap,
    body: Body,
    consume: impl FnOnce(T),
) -> Response
where
    T: prost::Message + Default + serde::de::DeserializeOwned,
{
    // Read whole before anything is checked, so a body over the limit is
    // refused as too large even where Go would first have refused its
    // encoding.
    let body: Bytes = match axum::body::to_bytes(body, COLLECTOR_MAX_BODY).await {
        Ok(body) => body,
        Err(_) => {
            let format = otlp_body::media_type(headers).unwrap_or(Format::Json);
            return status_response(
                format,
                StatusCode::BAD_REQUEST,
                INVALID_ARGUMENT,
                "http: request body too large",
            );
        }
    };
    if method != Method::POST {
        // `handleUnmatchedMethod`, after the decompressor has looked at
        // the encoding.
        if let Err(refusal @ CollectorRefusal::Decompressor(..)) = otlp_body::decode_collector::<T>(headers, &body) {
            return refused(headers, refusal);
        }
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::CONTENT_TYPE, "text/plain")],
            "405 method not allowed, supported: [POST]",
        )
            .into_response();
    }
    let request = match otlp_body::decode_collector::<T>(headers, &body) {
        Ok(request) => request,
        Err(refusal) => return refused(headers, refusal),
    };
    let format = otlp_body::media_type(headers).unwrap_or(Format::Protobuf);
    if let Some((status, message)) = state.ingest_refusal() {
        return status_response(format, status, grpc_code_for(status), message);
    }
    consume(request);
    accepted(format)
}

async fn traces(State(state): State<Arc<SimState>>, method: Method, headers: HeaderMap, body: Body) -> Response {
    receive(&state, method, &headers, body, |request: ExportTraceServiceRequest| {
        state.ingest_spans(request, &state.faults());
    })
    .await
}

/// OTLP logs go to the log store as Loki's OTLP endpoint keeps them, as an
/// Alloy `otelcol.exporter.otlphttp` pointed at Loki would send them.
async fn logs(State(state): State<Arc<SimState>>, method: Method, headers: HeaderMap, body: Body) -> Response {
    receive(&state, method, &headers, body, |request: ExportLogsServiceRequest| {
        export_logs(&state, request, state.faults().drop_logs);
    })
    .await
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
async fn metrics(State(state): State<Arc<SimState>>, method: Method, headers: HeaderMap, body: Body) -> Response {
    receive(
        &state,
        method,
        &headers,
        body,
        |request: ExportMetricsServiceRequest| {
            mimir::ingest(&state, request);
        },
    )
    .await
}

/// The export response the receiver writes on success: pdata's
/// `ExportResponse` always holds its non-nullable `partial_success`, so
/// the protobuf is field 1 with nothing in it (`0a 00`) and the JSON is
/// `{"partialSuccess":{}}` (`generated_proto_export*serviceresponse.go`).
fn accepted(format: Format) -> Response {
    match format {
        Format::Json => ([(header::CONTENT_TYPE, "application/json")], r#"{"partialSuccess":{}}"#).into_response(),
        Format::Protobuf => ([(header::CONTENT_TYPE, "application/x-protobuf")], vec![0x0a, 0x00]).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;

    async fn parts(response: Response) -> (u16, String, Vec<u8>) {
        let status = response.status().as_u16();
        let ctype = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, ctype, body.to_vec())
    }

    /// `shared/reference/api/samples/tempo/01-otlp-http-json-push.response.txt`
    /// (`{"partialSuccess":{}}`) and `06-otlp-http-protobuf-push` (2
    /// bytes): what the collector's receiver answers on success.
    #[tokio::test]
    async fn success_is_an_empty_partial_success() {
        let (status, ctype, body) = parts(accepted(Format::Protobuf)).await;
        assert_eq!(
            (status, ctype.as_str(), body.as_slice()),
            (200, "application/x-protobuf", &[0x0a, 0x00][..])
        );
        let decoded = ExportTraceServiceResponse::decode(body.as_slice()).unwrap();
        assert_eq!(decoded.partial_success, Some(Default::default()));
        assert_eq!(
            ExportLogsServiceResponse::decode(body.as_slice())
                .unwrap()
                .partial_success,
            Some(Default::default())
        );
        let (status, ctype, body) = parts(accepted(Format::Json)).await;
        assert_eq!(
            (status, ctype.as_str(), body.as_slice()),
            (200, "application/json", &br#"{"partialSuccess":{}}"#[..])
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, axum::http::HeaderValue::from_static(v));
        }
        h
    }

    /// `writeError`/`errorHandler`: a `google.rpc.Status` in the request's
    /// encoding, `InvalidArgument` for a 400.
    #[tokio::test]
    async fn errors_are_statuses_in_the_request_encoding() {
        let bad = CollectorRefusal::BadRequest("proto: bad".into());
        let (status, ctype, body) = parts(refused(&headers(&[("content-type", "application/x-protobuf")]), bad)).await;
        assert_eq!((status, ctype.as_str()), (400, "application/x-protobuf"));
        assert_eq!(
            Status::decode(body.as_slice()).unwrap(),
            Status {
                code: 3,
                message: "proto: bad".into()
            }
        );
        let bad = CollectorRefusal::Decompressor(StatusCode::BAD_REQUEST, "unsupported Content-Encoding: br".into());
        let (status, ctype, body) =
            parts(refused(&headers(&[("content-type", "application/json")]), bad.clone())).await;
        assert_eq!(
            (status, ctype.as_str(), String::from_utf8(body).unwrap().as_str()),
            (
                400,
                "application/json",
                r#"{"code":3,"message":"unsupported Content-Encoding: br"}"#
            )
        );
        // No Content-Type: JSON; another one: the fallback 500.
        let (status, ctype, _) = parts(refused(&HeaderMap::new(), bad.clone())).await;
        assert_eq!((status, ctype.as_str()), (400, "application/json"));
        let (status, _, body) = parts(refused(&headers(&[("content-type", "text/plain")]), bad)).await;
        assert_eq!(
            (status, String::from_utf8(body).unwrap().as_str()),
            (500, r#"{"code": 13, "message": "failed to marshal error message"}"#)
        );
        let (status, ctype, body) = parts(refused(&HeaderMap::new(), CollectorRefusal::UnsupportedMediaType)).await;
        assert_eq!(
            (status, ctype.as_str(), String::from_utf8(body).unwrap().as_str()),
            (
                415,
                "text/plain",
                "415 unsupported media type, supported: [application/json, application/x-protobuf]"
            )
        );
        assert_eq!(grpc_code_for(StatusCode::TOO_MANY_REQUESTS), 8);
        assert_eq!(grpc_code_for(StatusCode::SERVICE_UNAVAILABLE), 14);
    }
}
