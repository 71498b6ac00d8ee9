//! The reference stack's collector role over OTLP/gRPC: the three export
//! services of `opentelemetry/proto/collector/{trace,metrics,logs}/v1/
//! *_service.proto` (`TraceService`, `MetricsService`, `LogsService`, one
//! unary `Export` each), served by tonic with a codec of its own and
//! routed by path here, no generated service code, feeding the same stores
//! as OTLP/HTTP (`collector`).
//!
//! It answers as the collector's gRPC receiver (grpc-go underneath) does:
//! gzip or no compression; a request over `max_recv_msg_size_mib` (4 MiB
//! unless the `grpc_max_recv_msg_bytes` fault lowers it) is
//! `RESOURCE_EXHAUSTED` with grpc-go's message; one that does not
//! unmarshal is `INTERNAL`; an unknown method `UNIMPLEMENTED`; a refusing
//! pipeline (`reject_ratio`) the code of its HTTP status
//! (`errors.GetStatusFromError`); success an export response whose partial
//! success is present and empty (`0a 00`). `grpc_unavailable` answers
//! every export `UNAVAILABLE`, as a receiver that is not serving does.
//!
//! Uses: state, collector (export routing, status codes), faults.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{Service, http};
use tonic::server::{Grpc, UnaryService};
use tonic::{Request, Response, Status};

use crate::collector::{export_logs, grpc_code_for};
use crate::mimir;
use crate::state::SimState;

/// The collector's default `max_recv_msg_size_mib`: grpc-go's 4 MiB.
pub const DEFAULT_MAX_RECV_MSG_BYTES: usize = 4 * 1024 * 1024;

const TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const METRICS: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
const LOGS: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// pdata's export response: a non-nullable, empty `partial_success`.
const ACCEPTED: &[u8] = &[0x0a, 0x00];

/// Serves the receiver on `listener` until `stopped` turns true.
pub async fn serve(state: Arc<SimState>, listener: TcpListener, mut stopped: watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stopped.wait_for(|&stop| stop).await;
    };
    // A server error after binding only ends this role; exports to it then
    // fail and the checks say so.
    // grpc-go sets TCP_NODELAY and grows its flow-control windows (BDP
    // estimation); without them small answers wait on Nagle.
    let _ = tonic::transport::Server::builder()
        .http2_adaptive_window(Some(true))
        .serve_with_incoming_shutdown(
            Receiver { state },
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await;
}

/// Routes a request to its signal's export, by path.
#[derive(Clone)]
struct Receiver {
    state: Arc<SimState>,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl Service<http::Request<tonic::body::Body>> for Receiver {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            let response = match req.uri().path() {
                TRACES => {
                    export(state, req, |state: &SimState, r: ExportTraceServiceRequest| {
                        state.ingest_spans(r, &state.faults());
                    })
                    .await
                }
                METRICS => {
                    export(state, req, |state: &SimState, r: ExportMetricsServiceRequest| {
                        mimir::ingest(state, r)
                    })
                    .await
                }
                LOGS => {
                    export(state, req, |state: &SimState, r: ExportLogsServiceRequest| {
                        export_logs(state, r, state.faults().drop_logs)
                    })
                    .await
                }
                path => Status::unimplemented(format!("unknown method {} for service", method_of(path))).into_http(),
            };
            Ok(response)
        })
    }
}

/// `Export` of `/pkg.Service/Export`, as grpc-go's unknown-method error
/// names it.
fn method_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// One export call: decoded under the size limit, then the service.
async fn export<T>(
    state: Arc<SimState>,
    req: http::Request<tonic::body::Body>,
    consume: fn(&SimState, T),
) -> http::Response<tonic::body::Body>
where
    T: prost::Message + Default + Send + 'static,
{
    let faults = state.faults();
    let compressed = req
        .headers()
        .get("grpc-encoding")
        .is_some_and(|v| v.as_bytes() != b"identity");
    let codec = ExportCodec::<T> {
        limit: faults.grpc_max_recv_msg_bytes.unwrap_or(DEFAULT_MAX_RECV_MSG_BYTES),
        compressed,
        message: PhantomData,
    };
    let mut grpc = Grpc::new(codec)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        // The codec applies the collector's limit, with grpc-go's status.
        .max_decoding_message_size(usize::MAX);
    grpc.unary(Export { state, consume }, req).await
}

/// The pipeline behind one signal's service.
struct Export<T> {
    state: Arc<SimState>,
    consume: fn(&SimState, T),
}

impl<T: Send + 'static> UnaryService<T> for Export<T> {
    type Response = Bytes;
    type Future = BoxFuture<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<T>) -> Self::Future {
        let (state, consume) = (self.state.clone(), self.consume);
        Box::pin(async move {
            if state.faults().grpc_unavailable {
                return Err(Status::unavailable("connection refused: the receiver is not serving"));
            }
            if let Some((status, message)) = state.ingest_refusal() {
                return Err(Status::new(tonic::Code::from_i32(grpc_code_for(status)), message));
            }
            consume(&state, request.into_inner());
            state.grpc_exports.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Response::new(Bytes::from_static(ACCEPTED)))
        })
    }
}

/// Export requests in (under the size limit), export responses out.
struct ExportCodec<T> {
    limit: usize,
    /// Whether the request came compressed: grpc-go words its limit
    /// error differently then.
    compressed: bool,
    message: PhantomData<T>,
}

impl<T: prost::Message + Default + Send + 'static> Codec for ExportCodec<T> {
    type Encode = Bytes;
    type Decode = T;
    type Encoder = ResponseEncoder;
    type Decoder = RequestDecoder<T>;

    fn encoder(&mut self) -> ResponseEncoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> RequestDecoder<T> {
        RequestDecoder {
            limit: self.limit,
            compressed: self.compressed,
            message: PhantomData,
        }
    }
}

struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

struct RequestDecoder<T> {
    limit: usize,
    compressed: bool,
    message: PhantomData<T>,
}

impl<T: prost::Message + Default> Decoder for RequestDecoder<T> {
    type Item = T;
    type Error = Status;

    /// grpc-go's `recvAndDecompress`: the size check (on the wire length,
    /// or after decompression), then the unmarshal.
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<T>, Status> {
        let (size, limit) = (src.remaining(), self.limit);
        if size > limit {
            return Err(Status::resource_exhausted(if self.compressed {
                format!("grpc: received message after decompression larger than max {limit}")
            } else {
                format!("grpc: received message larger than max ({size} vs. {limit})")
            }));
        }
        T::decode(src.copy_to_bytes(size))
            .map(Some)
            .map_err(|e| Status::internal(format!("grpc: error unmarshalling request: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paths_are_the_services_of_the_protos() {
        for (path, package, service) in [
            (TRACES, "trace", "TraceService"),
            (METRICS, "metrics", "MetricsService"),
            (LOGS, "logs", "LogsService"),
        ] {
            assert_eq!(
                path,
                format!("/opentelemetry.proto.collector.{package}.v1.{service}/Export")
            );
        }
        assert_eq!(method_of("/x.Y/Push"), "Push");
    }
}
