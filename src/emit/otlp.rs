//! Sending OTLP to the collector: over HTTP (`application/x-protobuf`),
//! here, or over gRPC (`otlp_grpc`), behind one [`OtlpEmitter`].
//!
//! A send counts as delivered only when the collector answered 2xx **and**
//! reported no partial success with rejected items; a 2xx that rejected part
//! of the batch is an error (the OTLP/HTTP spec, "Partial Success"). All three
//! export responses (`ExportTrace/Metrics/LogsServiceResponse`) carry the
//! partial success at field 1 with the rejected count at its field 1, so one
//! decoder serves every signal.
//!
//! Uses: target, http (the shared client and error), emit::otlp_grpc.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use tokio::time::Instant;
use url::Url;

use crate::emit::otlp_grpc::{GrpcError, OtlpGrpcEmitter};
use crate::http::{HttpError, error_chain, read_body};
use crate::target::{OtlpHeader, Signal, Target, Transport};

/// Why a batch was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Grpc(#[from] GrpcError),
    #[error("the collector at {url} accepted the request but rejected {rejected} item(s): {message}")]
    Rejected { url: Url, rejected: i64, message: String },
}

impl EmitError {
    pub fn is_unreachable(&self) -> bool {
        match self {
            EmitError::Http(e) => e.is_unreachable(),
            EmitError::Grpc(e) => e.is_unreachable(),
            EmitError::Rejected { .. } => false,
        }
    }
}

/// One signal's exporter over the transport a run chose.
#[derive(Debug, Clone)]
pub enum OtlpEmitter {
    Http(OtlpHttpEmitter),
    /// Boxed: a tonic client is twice an HTTP emitter's size.
    Grpc(Box<OtlpGrpcEmitter>),
}

impl From<OtlpHttpEmitter> for OtlpEmitter {
    fn from(e: OtlpHttpEmitter) -> Self {
        OtlpEmitter::Http(e)
    }
}

impl From<OtlpGrpcEmitter> for OtlpEmitter {
    fn from(e: OtlpGrpcEmitter) -> Self {
        OtlpEmitter::Grpc(Box::new(e))
    }
}

impl OtlpEmitter {
    /// The exporter of `signal` over `transport`, or `None` when the
    /// target names no endpoint for it. A gRPC channel connects on first
    /// use.
    pub fn for_target(
        target: &Target,
        http: &reqwest::Client,
        signal: Signal,
        transport: Transport,
    ) -> Option<OtlpEmitter> {
        let url = target.otlp_over(signal, transport)?.clone();
        let timeout = target.limits.request_timeout;
        Some(match transport {
            Transport::Http => OtlpEmitter::Http(
                OtlpHttpEmitter::new(http.clone(), url, timeout).with_headers(target.otlp_headers.of(signal)),
            ),
            Transport::Grpc => {
                let channel = crate::emit::otlp_grpc::channel(&url, timeout).ok()?;
                OtlpGrpcEmitter::new(
                    channel,
                    url,
                    signal,
                    target.otlp_headers.of(signal),
                    target.otlp_compression,
                    timeout,
                )
                .into()
            }
        })
    }

    pub fn transport(&self) -> Transport {
        match self {
            OtlpEmitter::Http(_) => Transport::Http,
            OtlpEmitter::Grpc(_) => Transport::Grpc,
        }
    }

    pub fn endpoint(&self) -> &Url {
        match self {
            OtlpEmitter::Http(e) => e.endpoint(),
            OtlpEmitter::Grpc(e) => e.endpoint(),
        }
    }

    /// Encodes and sends one export request of any signal.
    pub async fn send<M: Message>(&self, request: &M) -> Result<Ack, EmitError> {
        self.send_encoded(Bytes::from(request.encode_to_vec())).await
    }

    /// Sends an already encoded export request.
    pub async fn send_encoded(&self, body: Bytes) -> Result<Ack, EmitError> {
        match self {
            OtlpEmitter::Http(e) => e.send_encoded(body).await,
            OtlpEmitter::Grpc(e) => e.send_encoded(body).await,
        }
    }
}

/// A delivered batch: when the collector acknowledged it, and with which
/// status.
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    pub at: Instant,
    pub status: u16,
}

/// Posts encoded OTLP export requests to one signal's endpoint.
#[derive(Debug, Clone)]
pub struct OtlpHttpEmitter {
    http: reqwest::Client,
    endpoint: Url,
    timeout: Duration,
    headers: reqwest::header::HeaderMap,
}

const WHAT: &str = "the OTLP/HTTP collector";

impl OtlpHttpEmitter {
    pub fn new(http: reqwest::Client, endpoint: Url, timeout: Duration) -> Self {
        OtlpHttpEmitter {
            http,
            endpoint,
            timeout,
            headers: reqwest::header::HeaderMap::new(),
        }
    }

    /// Sends these headers with every export (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub fn with_headers(mut self, headers: &[OtlpHeader]) -> Self {
        for header in headers {
            if let (Ok(name), Ok(mut value)) = (
                reqwest::header::HeaderName::from_bytes(header.name.as_bytes()),
                reqwest::header::HeaderValue::from_str(header.value.expose()),
            ) {
                value.set_sensitive(true);
                self.headers.insert(name, value);
            }
        }
        self
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Encodes and posts one export request of any signal.
    pub async fn send<M: Message>(&self, request: &M) -> Result<Ack, EmitError> {
        self.send_encoded(Bytes::from(request.encode_to_vec())).await
    }

    /// Posts an already encoded export request.
    pub async fn send_encoded(&self, body: Bytes) -> Result<Ack, EmitError> {
        let url = &self.endpoint;
        let resp = self
            .http
            .post(url.clone())
            .header("content-type", "application/x-protobuf")
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| HttpError::from_reqwest(WHAT, url, self.timeout, e))?;
        let answer = read_body(resp, WHAT, url, self.timeout).await?;
        let at = Instant::now();
        if !(200..300).contains(&answer.status) {
            return Err(answer.unexpected(WHAT).into());
        }
        match partial_success(&answer.body, answer.content_type.contains("json")) {
            Ok(None) => Ok(Ack {
                at,
                status: answer.status,
            }),
            Ok(Some((rejected, message))) => Err(EmitError::Rejected {
                url: url.clone(),
                rejected,
                message,
            }),
            Err(detail) => Err(HttpError::decode(WHAT, url, detail).into()),
        }
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct ExportResponse {
    #[prost(message, optional, tag = "1")]
    partial_success: Option<PartialSuccess>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PartialSuccess {
    #[prost(int64, tag = "1")]
    rejected: i64,
    #[prost(string, tag = "2")]
    error_message: String,
}

/// The rejected count and message of an export response, if any were rejected.
pub(crate) fn partial_success(body: &[u8], is_json: bool) -> Result<Option<(i64, String)>, String> {
    if body.is_empty() {
        return Ok(None);
    }
    let partial = if is_json {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| error_chain(&e))?;
        let Some(partial) = value.get("partialSuccess").and_then(|p| p.as_object()) else {
            return Ok(None);
        };
        let rejected = partial
            .iter()
            .find(|(k, _)| k.starts_with("rejected"))
            .and_then(|(_, v)| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
            .unwrap_or(0);
        let message = partial
            .get("errorMessage")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned();
        PartialSuccess {
            rejected,
            error_message: message,
        }
    } else {
        match ExportResponse::decode(body).map_err(|e| e.to_string())?.partial_success {
            Some(p) => p,
            None => return Ok(None),
        }
    };
    Ok((partial.rejected > 0).then_some((partial.rejected, partial.error_message)))
}

/// Encodes the partial-success response a collector sends, for the embedded
/// reference stack and tests.
pub fn encode_partial_success(rejected: i64, message: &str) -> Vec<u8> {
    ExportResponse {
        partial_success: (rejected > 0).then(|| PartialSuccess {
            rejected,
            error_message: message.to_owned(),
        }),
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};

    #[test]
    fn generic_decoder_reads_the_trace_response() {
        let body = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(partial_success(&body, false).unwrap(), Some((3, "too old".into())));
        assert_eq!(partial_success(&encode_partial_success(0, ""), false).unwrap(), None);
        assert_eq!(partial_success(b"", false).unwrap(), None);
    }

    #[test]
    fn json_partial_success_is_read_for_any_signal() {
        let body = br#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"rate"}}"#;
        assert_eq!(partial_success(body, true).unwrap(), Some((2, "rate".into())));
        assert_eq!(partial_success(br#"{"partialSuccess":{}}"#, true).unwrap(), None);
        assert_eq!(partial_success(b"{}", true).unwrap(), None);
        assert!(partial_success(b"nope", true).is_err());
    }
}
