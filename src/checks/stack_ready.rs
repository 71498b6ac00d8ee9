//! `stack.ready`: every component the target names answers its readiness
//! endpoint.
//!
//! Stores read directly answer `GET /ready` with 200 (Tempo, Loki, Mimir,
//! Pyroscope). Through Grafana's datasource proxy, Tempo's `/api/echo` stands
//! in, as Grafana 11.4 has no Tempo health check
//! (`shared/reference/api/02-grafana-http-api.md`). The OTLP/HTTP receiver
//! has no readiness endpoint: any HTTP answer proves it listens. A component
//! still warming up (503) is polled until the target's `wait`; one that
//! cannot be reached is reported at once.
//!
//! Uses: checks, query, measure::wait, target.

use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;
use url::Url;

use crate::checks::{CheckCtx, Outcome, Verdict};
use crate::measure::wait::{Probe, wait_for};
use crate::query::http::{HttpError, authorize};
use crate::target::{ReadPath, Signal, Store, join_path};

/// Why `stack.ready` did not pass.
#[derive(Debug, Clone, Copy)]
enum Reason {
    NotReady,
    Unreachable,
    NothingToCheck,
}

impl Reason {
    const fn as_str(self) -> &'static str {
        match self {
            Reason::NotReady => "not_ready",
            Reason::Unreachable => "unreachable",
            Reason::NothingToCheck => "nothing_to_check",
        }
    }
}

#[derive(Debug, Serialize)]
struct Component {
    name: String,
    url: String,
    ready: bool,
    /// Status code of the last answer, if any.
    status: Option<u16>,
    latency_ms: u64,
    detail: String,
}

#[derive(Debug, Serialize)]
struct Evidence {
    seed: u64,
    components: Vec<Component>,
}

/// What counts as ready for one component.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// 200 from a readiness endpoint.
    Ok,
    /// Any HTTP answer: the port is served.
    Listening,
}

struct Probed {
    name: String,
    url: Url,
    credential: Option<crate::target::Credential>,
    expect: Expect,
}

fn components(ctx: &CheckCtx) -> Vec<Probed> {
    let target = &ctx.target;
    let mut out = Vec::new();
    if let Some(url) = target.otlp(Signal::Traces) {
        out.push(Probed {
            name: "collector (OTLP/HTTP traces)".into(),
            url: url.clone(),
            credential: None,
            expect: Expect::Listening,
        });
    }
    if let Some(grafana) = &target.grafana {
        out.push(Probed {
            name: "grafana".into(),
            url: join_path(&grafana.url, "api/health"),
            credential: None,
            expect: Expect::Ok,
        });
    }
    for store in Store::ALL {
        let Some(read) = target.read(store) else { continue };
        // Through the proxy only the datasource URL's own API is reachable;
        // Mimir's is its Prometheus API under /prometheus.
        let (url, via) = match (&read.path, store) {
            (ReadPath::GrafanaProxy { .. }, Store::Tempo) => (join_path(&read.base, "api/echo"), " via Grafana"),
            (ReadPath::GrafanaProxy { .. }, Store::Mimir) => {
                (join_path(&read.base, "api/v1/status/buildinfo"), " via Grafana")
            }
            (ReadPath::GrafanaProxy { .. }, _) => (join_path(&read.base, "ready"), " via Grafana"),
            (ReadPath::Direct, Store::Mimir) => {
                let mut root = read.base.clone();
                let path = root
                    .path()
                    .trim_end_matches('/')
                    .trim_end_matches("/prometheus")
                    .to_owned();
                root.set_path(&path);
                (join_path(&root, "ready"), "")
            }
            (ReadPath::Direct, _) => (join_path(&read.base, "ready"), ""),
        };
        out.push(Probed {
            name: format!("{}{via}", store.as_str()),
            url,
            credential: read.credential.clone(),
            expect: Expect::Ok,
        });
    }
    out
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let probed = components(ctx);
    if probed.is_empty() {
        return Outcome::new(
            Verdict::Skip(Reason::NothingToCheck.as_str()),
            "the target names no component with a readiness endpoint",
        );
    }
    let timeout = ctx.target.limits.request_timeout;
    let wait = ctx.target.limits.wait;
    let checks = probed.iter().map(|p| check_one(ctx, p, wait, timeout));
    let components: Vec<Component> = futures::future::join_all(checks).await;

    let unreachable: Vec<&str> = components
        .iter()
        .filter(|c| !c.ready && c.status.is_none())
        .map(|c| c.name.as_str())
        .collect();
    let not_ready: Vec<&str> = components
        .iter()
        .filter(|c| !c.ready && c.status.is_some())
        .map(|c| c.name.as_str())
        .collect();
    let (verdict, summary) = if !not_ready.is_empty() {
        (
            Verdict::Fail(Reason::NotReady.as_str()),
            format!("not ready: {}", not_ready.join(", ")),
        )
    } else if !unreachable.is_empty() {
        (
            Verdict::Error(Reason::Unreachable.as_str()),
            format!("could not reach: {}", unreachable.join(", ")),
        )
    } else {
        (Verdict::Pass, format!("{} component(s) ready", components.len()))
    };
    Outcome::new(verdict, summary).with_evidence(Evidence {
        seed: ctx.seed.0,
        components,
    })
}

async fn check_one(ctx: &CheckCtx, p: &Probed, wait: Duration, timeout: Duration) -> Component {
    let started = Instant::now();
    // 0 until the component answers at all.
    let last_status = AtomicU16::new(0);
    let result = wait_for(wait, &format!("{} ready", p.name), || {
        let req = authorize(ctx.http.get(p.url.clone()), p.credential.as_ref());
        let url = &p.url;
        let expect = p.expect;
        let name = &p.name;
        let status_slot = &last_status;
        async move {
            match req.send().await {
                Err(e) => Probe::GiveUp(HttpError::from_reqwest(name, url, timeout, e).to_string()),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    status_slot.store(status, Ordering::Relaxed);
                    let body = resp.bytes().await.unwrap_or_default();
                    match expect {
                        Expect::Listening => Probe::Ready(format!("listening ({status})")),
                        Expect::Ok if status == 200 => Probe::Ready(crate::query::http::excerpt(&body)),
                        Expect::Ok => Probe::NotYet(HttpError::status(name, url, status, &body).to_string()),
                    }
                }
            }
        }
    })
    .await;
    let (ready, detail) = match result {
        Ok(detail) => (true, detail),
        Err(e) => (false, e.to_string()),
    };
    Component {
        name: p.name.clone(),
        url: p.url.to_string(),
        ready,
        status: Some(last_status.load(Ordering::Relaxed)).filter(|&s| s != 0),
        latency_ms: started.elapsed().as_millis() as u64,
        detail,
    }
}
