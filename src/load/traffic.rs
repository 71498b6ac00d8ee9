//! One place that turns a scenario's traffic kind into a running sender:
//! OTLP straight to the collector (over the kind's `transport`, else the
//! signal's protocol in the target), profiles to Pyroscope, backend requests
//! through the app's `/api/*` paths as goose users with `traceparent`,
//! frontend sessions (an app call with `traceparent`, then the Faro payload
//! to `/collect`), and spans through the OpenTelemetry SDK over gRPC
//! (`load::sdk`). Every kind but goose's runs as a fixed set of workers
//! built here, before the loop (`ingest::drive`); each kind has one sample
//! collector (`tally::recorder`). A kind the target has no endpoint for is
//! not driven.
//!
//! Uses: load::{api, ingest, rate, scenario, tally}, emit::{otlp,
//! profile_push, visit}, checks (context).

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::checks::CheckCtx;
use crate::clock::unix_nanos;
use crate::emit::otlp::OtlpEmitter;
use crate::emit::profile_push::{ProfileSpec, PyroscopePusher};
use crate::emit::visit::{VisitError, Visits};
use crate::ids::Seed;
use crate::load::ingest::{BatchSender, OtlpLoad, Sent, WORKERS, drive, run_otlp};
use crate::load::rate::RatePlan;
use crate::load::scenario::{Traffic, TrafficKind};
use crate::load::tally::{self, KindStats, Live};
use crate::target::{Signal, Transport, join_path};

/// A running sender: its kind, its live counters, and its stats once it has
/// stopped.
pub struct Running {
    pub kind: TrafficKind,
    pub live: Arc<Live>,
    pub done: JoinHandle<KindStats>,
}

const DEFAULT_PATH: &str = "/api/delay/fast";

/// Pushes profile `n` to Pyroscope.
struct ProfilePush {
    pusher: Arc<PyroscopePusher>,
    spec: Arc<ProfileSpec>,
}

impl BatchSender for ProfilePush {
    async fn send_batch(&mut self, n: u64) -> Option<Sent> {
        let series = self.spec.series(n..n + 1, unix_nanos());
        let answer = self.pusher.push(&[series]).await.map(|ack| ack.status);
        Some(Sent { bytes: 0, answer })
    }
}

/// Runs frontend session `n`: the app call with its `traceparent`, then its
/// Faro payload.
struct FrontendVisit {
    visits: Arc<Visits>,
}

impl BatchSender for FrontendVisit {
    async fn send_batch(&mut self, n: u64) -> Option<Sent> {
        let answer = self
            .visits
            .visit(n)
            .await
            .map(|visit| visit.faro_status)
            .map_err(VisitError::into_error);
        Some(Sent { bytes: 0, answer })
    }
}

/// Starts sending `kind` along `plan`, or `None` when the target has no
/// endpoint for it.
pub fn spawn(
    kind: TrafficKind,
    traffic: &Traffic,
    plan: RatePlan,
    ctx: &CheckCtx,
    stopped: watch::Receiver<bool>,
) -> Option<Running> {
    let target = &ctx.target;
    let timeout = target.limits.request_timeout;
    let (seed, run_id) = (ctx.seed, ctx.run_id.clone());
    let path = traffic.path.clone().unwrap_or_else(|| DEFAULT_PATH.to_owned());
    let http = ctx.http.clone();
    let cardinality = traffic.cardinality;
    let (rec, live, collector) = tally::recorder();
    let sending = match kind {
        TrafficKind::OtlpTraces | TrafficKind::OtlpLogs | TrafficKind::OtlpMetrics => {
            let signal = match kind {
                TrafficKind::OtlpTraces => Signal::Traces,
                TrafficKind::OtlpLogs => Signal::Logs,
                _ => Signal::Metrics,
            };
            let transport = traffic.transport.unwrap_or(*target.otlp_protocol.of(signal));
            let emitter = OtlpEmitter::for_target(target, &http, signal, transport)?;
            let load = OtlpLoad {
                kind,
                cardinality,
                seed,
                run_id,
            };
            tokio::spawn(async move {
                run_otlp(&load, &plan, emitter, stopped, rec).await;
                None
            })
        }
        TrafficKind::SdkTraces => {
            let settings = crate::load::sdk::Settings {
                endpoint: target.otlp_over(Signal::Traces, Transport::Grpc)?.clone(),
                headers: target.otlp_headers.of(Signal::Traces).clone(),
                compression: target.otlp_compression,
                timeout,
                seed,
                run_id,
                cardinality,
            };
            tokio::spawn(async move { crate::load::sdk::run(settings, &plan, stopped, rec).await.err() })
        }
        TrafficKind::Profiles => {
            let pusher = Arc::new(PyroscopePusher::new(http, target.pyroscope_ingest.as_ref()?, timeout));
            let spec = Arc::new(ProfileSpec {
                seed,
                run_id,
                service_name: "pillars-load-profiles".into(),
            });
            let workers = (0..WORKERS)
                .map(|_| ProfilePush {
                    pusher: pusher.clone(),
                    spec: spec.clone(),
                })
                .collect();
            tokio::spawn(async move {
                drive(&plan, 1, workers, stopped, rec).await;
                None
            })
        }
        TrafficKind::BackendRequests => {
            let url = join_path(target.app.as_ref()?, &path);
            let trace_seed = Seed(seed.word(0, 0xBAC));
            tokio::spawn(async move {
                crate::load::api::run(url, &plan, timeout, trace_seed, rec)
                    .await
                    .err()
                    .map(|e| format!("goose could not run the backend requests: {e}"))
            })
        }
        TrafficKind::FrontendSessions => {
            let visits = Arc::new(Visits::new(http, target, seed, &run_id, &path)?);
            let workers = (0..WORKERS).map(|_| FrontendVisit { visits: visits.clone() }).collect();
            tokio::spawn(async move {
                drive(&plan, 1, workers, stopped, rec).await;
                None
            })
        }
    };
    let done = tokio::spawn(async move {
        let failed = sending
            .await
            .unwrap_or_else(|e| Some(format!("the sender stopped: {e}")));
        let mut stats = collector.await.unwrap_or_default();
        stats.failed = failed;
        stats
    });
    Some(Running { kind, live, done })
}
