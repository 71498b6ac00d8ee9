//! What the reference stack's servers share: its stores, faults and timings.
//!
//! Uses: faults, traces, metrics, generator.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::faults::{Faults, Role};
use crate::generator::MetricsGenerator;
use crate::logs::LogStore;
use crate::metrics::MetricStore;
use crate::profiles::ProfileStore;
use crate::ruler::Ruler;
use crate::traces::TraceStore;
use crate::variants::Variants;

#[derive(Debug, Default)]
pub struct SimState {
    /// Changeable while serving, so a scenario can break a running stack.
    faults: RwLock<Faults>,
    /// The deployment choices the stack reproduces.
    variants: RwLock<Variants>,
    /// How long a trace must be idle before search finds it (Tempo's
    /// `trace_idle_period` plus a flush tick).
    pub search_idle: Duration,
    pub traces: TraceStore,
    pub logs: LogStore,
    pub metrics: MetricStore,
    pub profiles: ProfileStore,
    /// Tempo's metrics generator, writing span metrics into `metrics`.
    pub generator: MetricsGenerator,
    /// Ingest requests seen, for `reject_ratio`.
    ingest_requests: AtomicU64,
    /// Requests the app's `/api/*` routes received, answered or refused.
    pub app_requests: AtomicU64,
    /// Mimir's ruler: the loaded rule groups and their state.
    pub ruler: Ruler,
    /// Export calls the OTLP/gRPC receiver answered OK.
    pub grpc_exports: AtomicU64,
}

impl SimState {
    pub fn new(faults: Faults, variants: Variants, search_idle: Duration) -> Self {
        SimState {
            faults: RwLock::new(faults),
            variants: RwLock::new(variants),
            search_idle,
            traces: TraceStore::default(),
            logs: LogStore::default(),
            metrics: MetricStore::default(),
            profiles: ProfileStore::default(),
            generator: MetricsGenerator::default(),
            ingest_requests: AtomicU64::new(0),
            app_requests: AtomicU64::new(0),
            ruler: Ruler::default(),
            grpc_exports: AtomicU64::new(0),
        }
    }

    /// Where accepted spans enter Tempo: its distributor hands them to the
    /// metrics generator and to the trace store. Returns how many spans
    /// the store received.
    pub fn ingest_spans(
        &self,
        request: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
        faults: &Faults,
    ) -> u64 {
        let ts_ms = (crate::logs::unix_nanos() / 1_000_000) as i64;
        self.generator.write(&request, ts_ms, &self.metrics);
        self.traces.ingest(request, faults)
    }

    /// The state with `ruler`'s rule groups loaded.
    pub fn with_ruler(mut self, ruler: Ruler) -> Self {
        self.ruler = ruler;
        self
    }

    /// What a role's readiness endpoint answers: 200 `ready`, or 503 with
    /// the component's own message under the `not_ready` fault.
    pub fn readiness(&self, role: Role, not_ready_message: &'static str) -> Response {
        if self.faults().not_ready.contains(&role) {
            (StatusCode::SERVICE_UNAVAILABLE, not_ready_message).into_response()
        } else {
            "ready".into_response()
        }
    }

    /// Ingest requests that reached the stack, refused or not (counted
    /// under `reject_ratio`, where refusals are decided).
    pub fn ingest_requests(&self) -> u64 {
        self.ingest_requests.load(Ordering::Relaxed)
    }

    /// Under `reject_ratio`, the refusal this ingest request gets: spread
    /// evenly over requests, alternating 429 and 503.
    pub fn reject_ingest(&self) -> Option<Response> {
        self.ingest_refusal().map(|refusal| refusal.into_response())
    }

    /// `reject_ingest`'s status and message, for a role that writes them
    /// in its own body format.
    pub fn ingest_refusal(&self) -> Option<(StatusCode, &'static str)> {
        let ratio = self.faults().reject_ratio;
        if ratio <= 0.0 {
            return None;
        }
        let n = self.ingest_requests.fetch_add(1, Ordering::Relaxed);
        let crossed = ((n + 1) as f64 * ratio).floor() > (n as f64 * ratio).floor();
        crossed.then(|| {
            let rejected = ((n + 1) as f64 * ratio).floor() as u64;
            if rejected % 2 == 1 {
                (StatusCode::TOO_MANY_REQUESTS, "ingestion rate limit exceeded")
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, "ingester unavailable")
            }
        })
    }

    /// The faults in force now.
    pub fn faults(&self) -> Faults {
        self.faults.read().expect("faults lock").clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.write().expect("faults lock") = faults;
    }

    pub fn variants(&self) -> Variants {
        *self.variants.read().expect("variants lock")
    }

    pub fn set_variants(&self, variants: Variants) {
        *self.variants.write().expect("variants lock") = variants;
    }
}
