//! The canary's `/metrics`, in OpenMetrics text, for Prometheus (or
//! Alloy's `prometheus.scrape`) to scrape while it runs.
//!
//! Uses: canary::metrics.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::canary::metrics::CanaryMetrics;

/// OpenMetrics 1.0's content type.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why `/metrics` could not be served.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not listen on {addr} for /metrics: {source}; choose another address with --listen (e.g. 127.0.0.1:0 for any free port)"
)]
pub struct ListenError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// `/metrics` on `addr`, until `stop` turns true; the address it got (its
/// port, when `addr` asked for port 0).
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<CanaryMetrics>,
    mut stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), ListenError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, source })?;
    let bound = listener.local_addr().map_err(|source| ListenError { addr, source })?;
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { ([(header::CONTENT_TYPE, OPENMETRICS)], metrics.encode()) }
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "pillars canary serves GET /metrics\n").into_response() });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    });
    Ok((bound, task))
}
