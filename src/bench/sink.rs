//! A loopback sink for benchmarks: OTLP/HTTP traces and logs (each body
//! read whole, bytes and requests counted, an empty protobuf export response
//! answered) and `GET /api/bench`, standing in for the app; and the same
//! over gRPC (`GrpcSink`: any method, the request read whole and counted,
//! the same empty export response).
//!
//! Uses: emit::otlp (response encoding).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::emit::otlp::encode_partial_success;

#[derive(Debug, Default)]
pub struct SinkCounts {
    pub requests: AtomicU64,
    pub bytes: AtomicU64,
    /// `GET /api/bench` requests.
    pub gets: AtomicU64,
}

pub struct Sink {
    pub addr: SocketAddr,
    pub counts: Arc<SinkCounts>,
    stop: Option<oneshot::Sender<()>>,
}

impl Sink {
    pub async fn start() -> std::io::Result<Sink> {
        let counts = Arc::new(SinkCounts::default());
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/v1/traces", post(receive))
            .route("/v1/logs", post(receive))
            .route("/api/bench", get(answer))
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(counts.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Sink {
            addr,
            counts,
            stop: Some(stop),
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn receive(State(counts): State<Arc<SinkCounts>>, body: Bytes) -> impl IntoResponse {
    counts.requests.fetch_add(1, Ordering::Relaxed);
    counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        encode_partial_success(0, ""),
    )
}

async fn answer(State(counts): State<Arc<SinkCounts>>) -> &'static str {
    counts.gets.fetch_add(1, Ordering::Relaxed);
    "ok"
}

/// The gRPC sink: every unary call on any path is an export, counted.
pub struct GrpcSink {
    pub addr: SocketAddr,
    pub counts: Arc<SinkCounts>,
    stop: Option<oneshot::Sender<()>>,
}

impl GrpcSink {
    pub async fn start() -> std::io::Result<GrpcSink> {
        GrpcSink::answering(Bytes::from_static(&[0x0a, 0x00])).await
    }

    /// A sink that answers every export with `response` (an encoded export
    /// response: a partial success, for tests).
    pub async fn answering(response: Bytes) -> std::io::Result<GrpcSink> {
        let counts = Arc::new(SinkCounts::default());
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let service = grpc::Exports {
            counts: counts.clone(),
            response,
        };
        tokio::spawn(async move {
            // No Nagle (its wait on small answers would be the figure), and
            // windows that grow as grpc-go's do.
            let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            let _ = tonic::transport::Server::builder()
                .http2_adaptive_window(Some(true))
                .serve_with_incoming_shutdown(service, incoming, async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(GrpcSink {
            addr,
            counts,
            stop: Some(stop),
        })
    }
}

impl Drop for GrpcSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

mod grpc {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::task::{Context, Poll};

    use bytes::{Buf, BufMut, Bytes};
    use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
    use tonic::codegen::{Service, http};

    use super::SinkCounts;

    type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

    #[derive(Clone)]
    pub(super) struct Exports {
        pub counts: Arc<SinkCounts>,
        pub response: Bytes,
    }

    impl Service<http::Request<tonic::body::Body>> for Exports {
        type Response = http::Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
            let (counts, response) = (self.counts.clone(), self.response.clone());
            Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(Raw)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .max_decoding_message_size(64 * 1024 * 1024);
                Ok(grpc.unary(Count { counts, response }, req).await)
            })
        }
    }

    struct Count {
        counts: Arc<SinkCounts>,
        response: Bytes,
    }

    impl tonic::server::UnaryService<Bytes> for Count {
        type Response = Bytes;
        type Future = std::future::Ready<Result<tonic::Response<Bytes>, tonic::Status>>;

        fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
            self.counts.requests.fetch_add(1, Ordering::Relaxed);
            self.counts
                .bytes
                .fetch_add(request.get_ref().len() as u64, Ordering::Relaxed);
            std::future::ready(Ok(tonic::Response::new(self.response.clone())))
        }
    }

    /// Bytes in, bytes out.
    #[derive(Clone, Copy)]
    struct Raw;

    impl Codec for Raw {
        type Encode = Bytes;
        type Decode = Bytes;
        type Encoder = Raw;
        type Decoder = Raw;

        fn encoder(&mut self) -> Raw {
            Raw
        }

        fn decoder(&mut self) -> Raw {
            Raw
        }
    }

    impl Encoder for Raw {
        type Item = Bytes;
        type Error = tonic::Status;

        fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            dst.put(item);
            Ok(())
        }
    }

    impl Decoder for Raw {
        type Item = Bytes;
        type Error = tonic::Status;

        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
            Ok(Some(src.copy_to_bytes(src.remaining())))
        }
    }
}
