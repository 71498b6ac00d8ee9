//! Sending OTLP over gRPC: the export services of
//! `opentelemetry/proto/collector/{trace,metrics,logs}/v1/*_service.proto`
//! (one unary `Export` each) on a tonic channel, carrying the same
//! pre-encoded export requests the HTTP emitter posts.
//!
//! The request bytes go out as they are (`EncodedCodec`: no message is
//! built or encoded per call), gzip-compressed unless told otherwise, with
//! the target's `OTEL_EXPORTER_OTLP_HEADERS` as metadata and a deadline per
//! call (sent as `grpc-timeout` and enforced here). The answer maps to the
//! same verdicts as HTTP's (the OTLP/gRPC spec, "Failures" and "Partial
//! Success"): a status from the collector is a refusal (`UNAVAILABLE`,
//! `RESOURCE_EXHAUSTED` — also what a message over the receiver's
//! `max_recv_msg_size_mib` gets — and `INVALID_ARGUMENT` among them), an
//! OK with rejected items is `EmitError::Rejected`, and no answer at all
//! (refused connection, no HTTP/2, deadline) is unreachable.
//!
//! Uses: target (signals, headers), emit::otlp (errors, partial success).

use std::fmt;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use tokio::time::Instant;
use tonic::client::Grpc;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use url::Url;

use crate::emit::otlp::{Ack, EmitError, partial_success};
use crate::target::{Compression, OtlpHeader, Signal};

/// The export method of each signal's service, as its `.proto` names it.
pub const fn export_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    }
}

/// Why a gRPC export got no OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcFailure {
    /// No gRPC answer: the connection was refused or reset, or the port
    /// does not speak HTTP/2.
    Transport(String),
    /// No answer within the deadline.
    Deadline(Duration),
    /// The collector answered with this status.
    Status { code: tonic::Code, message: String },
}

/// A gRPC export that failed, naming the endpoint, port and signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct GrpcError {
    pub endpoint: Url,
    pub signal: Signal,
    pub failure: GrpcFailure,
}

impl GrpcError {
    pub fn is_unreachable(&self) -> bool {
        !matches!(self.failure, GrpcFailure::Status { .. })
    }

    /// The status code the collector answered with, if it answered.
    pub fn code(&self) -> Option<tonic::Code> {
        match &self.failure {
            GrpcFailure::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A bounded label for load tallies.
    pub fn reason(&self) -> &'static str {
        match self.code() {
            None => "unreachable",
            Some(tonic::Code::Unavailable) => "unavailable",
            Some(tonic::Code::ResourceExhausted) => "resource_exhausted",
            Some(tonic::Code::InvalidArgument) => "invalid_argument",
            Some(_) => "grpc_error",
        }
    }
}

impl fmt::Display for GrpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (endpoint, signal) = (&self.endpoint, self.signal.as_str());
        let port = endpoint.port_or_known_default().unwrap_or(80);
        match &self.failure {
            GrpcFailure::Transport(detail) => write!(
                f,
                "could not export {signal} over OTLP/gRPC to {endpoint} (port {port}): {detail}; is the collector's gRPC receiver listening on port {port}, and does the network (security group, firewall) let port {port} through?"
            ),
            GrpcFailure::Deadline(after) => write!(
                f,
                "the OTLP/gRPC collector at {endpoint} (port {port}) did not answer the {signal} export within {}",
                humantime::format_duration(*after)
            ),
            GrpcFailure::Status { code, message } => write!(
                f,
                "the OTLP/gRPC collector at {endpoint} (port {port}) refused the {signal} export: {} ({message})",
                code_name(*code)
            ),
        }
    }
}

/// A status code as the gRPC spec spells it (`UNAVAILABLE`).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Pre-encoded export requests out; the export response's partial
/// success (rejected count and message, when any were rejected) in.
#[derive(Debug, Clone, Copy, Default)]
pub struct EncodedCodec;

#[derive(Debug, Clone, Copy, Default)]
pub struct EncodedEncoder;

#[derive(Debug, Clone, Copy, Default)]
pub struct PartialSuccessDecoder;

impl Codec for EncodedCodec {
    type Encode = Bytes;
    type Decode = Option<(i64, String)>;
    type Encoder = EncodedEncoder;
    type Decoder = PartialSuccessDecoder;

    fn encoder(&mut self) -> EncodedEncoder {
        EncodedEncoder
    }

    fn decoder(&mut self) -> PartialSuccessDecoder {
        PartialSuccessDecoder
    }
}

impl Encoder for EncodedEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PartialSuccessDecoder {
    type Item = Option<(i64, String)>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, tonic::Status> {
        let body = src.copy_to_bytes(src.remaining());
        partial_success(&body, false)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("the export response does not decode: {e}")))
    }
}

/// A lazily connected channel to a collector's gRPC receiver; connecting
/// and each call are bounded by `timeout`.
pub fn channel(endpoint: &Url, timeout: Duration) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(endpoint.as_str().trim_end_matches('/').to_owned())
        .map_err(|e| e.to_string())?
        .connect_timeout(timeout)
        .tcp_nodelay(true)
        .http2_adaptive_window(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(timeout);
    Ok(endpoint.connect_lazy())
}

/// The target's OTLP headers as gRPC metadata.
pub fn add_headers(metadata: &mut MetadataMap, headers: &[OtlpHeader]) {
    for header in headers {
        // Validated when the target was read; one that still does not fit
        // is left out rather than sent broken.
        if let (Ok(key), Ok(value)) = (
            header.name.parse::<tonic::metadata::MetadataKey<_>>(),
            MetadataValue::try_from(header.value.expose()),
        ) {
            metadata.insert(key, value);
        }
    }
}

/// Exports one signal's encoded requests to a gRPC endpoint.
#[derive(Debug, Clone)]
pub struct OtlpGrpcEmitter {
    grpc: Grpc<Channel>,
    endpoint: Url,
    signal: Signal,
    path: PathAndQuery,
    metadata: MetadataMap,
    timeout: Duration,
}

impl OtlpGrpcEmitter {
    /// An emitter of `signal` on `channel`; clones share its connection.
    pub fn new(
        channel: Channel,
        endpoint: Url,
        signal: Signal,
        headers: &[OtlpHeader],
        compression: Compression,
        timeout: Duration,
    ) -> Self {
        let mut grpc = Grpc::new(channel)
            .max_decoding_message_size(4 * 1024 * 1024)
            .accept_compressed(CompressionEncoding::Gzip);
        if compression == Compression::Gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        let mut metadata = MetadataMap::new();
        // The deadline, as `grpc-timeout` (milliseconds, at most 8 digits):
        // written once, not per call.
        let millis = timeout.as_millis().clamp(1, 99_999_999);
        if let Ok(value) = MetadataValue::try_from(format!("{millis}m")) {
            metadata.insert("grpc-timeout", value);
        }
        add_headers(&mut metadata, headers);
        OtlpGrpcEmitter {
            grpc,
            endpoint,
            signal,
            path: PathAndQuery::from_static(export_path(signal)),
            metadata,
            timeout,
        }
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Exports one encoded request, within the deadline.
    pub async fn send_encoded(&self, body: Bytes) -> Result<Ack, EmitError> {
        let fail = |failure| {
            EmitError::Grpc(GrpcError {
                endpoint: self.endpoint.clone(),
                signal: self.signal,
                failure,
            })
        };
        let mut grpc = self.grpc.clone();
        let call = async {
            grpc.ready().await.map_err(|e| tonic::Status::from_error(Box::new(e)))?;
            let mut request = tonic::Request::new(body);
            *request.metadata_mut() = self.metadata.clone();
            grpc.unary(request, self.path.clone(), EncodedCodec).await
        };
        let answer = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => return Err(fail(GrpcFailure::Deadline(self.timeout))),
            Ok(answer) => answer,
        };
        let at = Instant::now();
        match answer {
            Ok(response) => match response.into_inner() {
                None => Ok(Ack { at, status: 200 }),
                Some((rejected, message)) => Err(EmitError::Rejected {
                    url: self.endpoint.clone(),
                    rejected,
                    message,
                }),
            },
            Err(status) => Err(fail(failure_of(&status, self.timeout))),
        }
    }
}

/// A status the client made (it carries the transport's error as its
/// source) is no answer; one without a source came from the collector.
fn failure_of(status: &tonic::Status, timeout: Duration) -> GrpcFailure {
    match std::error::Error::source(status) {
        Some(_) if matches!(status.code(), tonic::Code::Cancelled | tonic::Code::DeadlineExceeded) => {
            GrpcFailure::Deadline(timeout)
        }
        Some(source) => GrpcFailure::Transport(crate::http::error_chain(source)),
        None => GrpcFailure::Status {
            code: status.code(),
            message: status.message().to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_endpoint_port_and_transport() {
        let err = GrpcError {
            endpoint: Url::parse("http://10.0.0.5:4317").unwrap(),
            signal: Signal::Traces,
            failure: GrpcFailure::Transport("tcp connect error: Connection refused".into()),
        };
        let text = err.to_string();
        assert!(
            text.contains("OTLP/gRPC") && text.contains("port 4317") && text.contains("10.0.0.5"),
            "{text}"
        );
        assert!(err.is_unreachable());
        assert_eq!(err.reason(), "unreachable");
        let refused = GrpcError {
            failure: GrpcFailure::Status {
                code: tonic::Code::ResourceExhausted,
                message: "grpc: received message larger than max (5 vs. 4)".into(),
            },
            ..err
        };
        assert!(!refused.is_unreachable());
        assert_eq!(refused.reason(), "resource_exhausted");
        assert!(refused.to_string().contains("RESOURCE_EXHAUSTED"), "{refused}");
    }
}
