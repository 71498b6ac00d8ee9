//! A loopback sink for benchmarks: OTLP/HTTP traces and logs (each body
//! read whole, bytes and requests counted, an empty protobuf export response
//! answered) and `GET /api/bench`, standing in for the app.
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
