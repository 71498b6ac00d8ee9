//! One place that turns a scenario's traffic kind into a running sender:
//! OTLP straight to the collector, profiles to Pyroscope, backend requests
//! through the app's `/api/*` paths as goose users with `traceparent`, and
//! frontend sessions (an app call with `traceparent`, then the Faro payload
//! to `/collect`). A kind the target has no endpoint for is not driven.
//!
//! Uses: load::{api, ingest, rate, scenario, tally}, emit::{otlp,
//! profile_push, app, faro}, checks (context).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::checks::CheckCtx;
use crate::emit::app::AppClient;
use crate::emit::faro::{FaroSender, FrontendSpec};
use crate::emit::otlp::OtlpHttpEmitter;
use crate::emit::profile_push::{ProfileSpec, PyroscopePusher};
use crate::ids::Seed;
use crate::load::ingest::{OtlpLoad, drive, run_otlp};
use crate::load::rate::RatePlan;
use crate::load::scenario::{Traffic, TrafficKind};
use crate::load::tally::{self, KindStats, Live};
use crate::target::{Signal, join_path};

/// A running sender: its kind, its live counters, and its stats once it has
/// stopped.
pub struct Running {
    pub kind: TrafficKind,
    pub live: Arc<Live>,
    pub done: JoinHandle<KindStats>,
}

const DEFAULT_PATH: &str = "/api/delay/fast";

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
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
            let emitter = OtlpHttpEmitter::new(http, target.otlp(signal)?.clone(), timeout);
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
        TrafficKind::Profiles => {
            let pusher = Arc::new(PyroscopePusher::new(http, target.pyroscope_ingest.as_ref()?, timeout));
            let spec = Arc::new(ProfileSpec {
                seed,
                run_id,
                service_name: "pillars-load-profiles".into(),
            });
            tokio::spawn(async move {
                drive(&plan, 1, stopped, rec, move |n| {
                    let (pusher, series) = (pusher.clone(), spec.series(n..n + 1, now_nanos()));
                    async move { pusher.push(&[series]).await.map(drop) }
                })
                .await;
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
            let base = target.app.clone()?;
            let app = Arc::new(AppClient::new(http.clone(), base.clone(), timeout));
            let collect = target.faro.clone().unwrap_or_else(|| join_path(&base, "collect"));
            let faro = Arc::new(FaroSender::new(http, collect, timeout));
            let spec = Arc::new(FrontendSpec {
                seed,
                run_id: run_id.clone(),
                app_name: target.frontend_service.clone(),
                page_url: base.to_string(),
            });
            let sessions = Arc::new(AtomicU64::new(0));
            tokio::spawn(async move {
                drive(&plan, 1, stopped, rec, move |_| {
                    let n = sessions.fetch_add(1, Ordering::Relaxed);
                    let (app, faro, spec, path) = (app.clone(), faro.clone(), spec.clone(), path.clone());
                    async move {
                        let session = spec.session(n);
                        app.get(&path, &spec.traceparent(&session)).await?;
                        let key = format!("{}-{n}", spec.run_id);
                        faro.send(&session.session_id, &key, &spec.payload(&session, &path))
                            .await
                            .map(drop)
                    }
                })
                .await;
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
