//! `stack.ready`: every component the target names answers its readiness
//! endpoint.
//!
//! Stores read directly answer `GET /ready` with 200 (Tempo, Loki, Mimir,
//! Pyroscope). Through Grafana's datasource proxy, Tempo's `/api/echo` stands
//! in, as Grafana 11.4 has no Tempo health check
//! (`shared/reference/api/02-grafana-http-api.md`). The OTLP/HTTP receiver
//! has no readiness endpoint: any HTTP answer proves it listens. Nor has
//! the OTLP/gRPC one: an empty export request answered OK proves it
//! serves, probed once per gRPC endpoint the target names, beside HTTP's,
//! so a receiver down on 4317 is named even while 4318 works. A component
//! still warming up (503) is polled until the target's `wait`; one that
//! cannot be reached is reported at once.
//!
//! Ready means a 200 with the component's own answer (`ready`, `echo`, or
//! the JSON it serves), never just a 200: a proxy's HTML page, a redirect
//! or a 429 says nothing about the component, so it is `error`
//! (`read_failed`); a 5xx is the component (or what fronts it) not
//! serving, so it is `not_ready`.
//!
//! Uses: check, query, wait, target, emit::otlp (the gRPC probe).

use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::time::Instant;
use url::Url;

use crate::check::reason::{Shared, reasons};
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Verdict};
use crate::emit::otlp::{EmitError, OtlpEmitter};
use crate::http::{HttpError, authorize, excerpt, read_body};
use crate::target::{ReadPath, Signal, Store, Transport, join_path};
use crate::wait::{Probe, wait_for};

reasons! {
    /// Why `stack.ready` did not pass, beside the shared `unreachable` and
    /// `read_failed`.
    pub enum Reason {
        NotReady,
        NothingToCheck,
        /// No component answered at all: the target is down or wrong, and
        /// `verify` runs nothing else.
        NothingReachable,
    }
}

/// Every component polled side by side until `wait`.
pub(crate) fn budget(_: &CheckSettings) -> Budget {
    Budget {
        waits: 1,
        ..Budget::default()
    }
}

#[derive(Debug, Serialize)]
struct Component {
    name: String,
    url: String,
    ready: bool,
    /// How the last answer read, when it did not say ready.
    answer: Option<Answered>,
    /// Status code of the last answer, if any.
    status: Option<u16>,
    latency_ms: u64,
    detail: String,
}

impl Component {
    /// What a probe of `p` that began at `started` came to: ready, or the
    /// last answer that was not.
    fn of(
        p: &Probed,
        result: Result<String, impl std::fmt::Display>,
        last_answer: Option<Answered>,
        status: Option<u16>,
        started: Instant,
    ) -> Component {
        let (ready, detail) = match result {
            Ok(detail) => (true, detail),
            Err(e) => (false, e.to_string()),
        };
        Component {
            name: p.name.clone(),
            url: p.url.to_string(),
            ready,
            answer: if ready { None } else { last_answer },
            status,
            latency_ms: started.elapsed().as_millis() as u64,
            detail,
        }
    }
}

#[derive(Debug, Serialize)]
struct Evidence {
    seed: u64,
    components: Vec<Component>,
}

/// What counts as ready for one component.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// 200 with this text (surrounding whitespace aside), as the stores'
    /// readiness endpoints answer.
    Text(&'static str),
    /// 200 with a JSON object that has this key (Grafana's health, the
    /// Prometheus build info).
    JsonKey(&'static str),
    /// Any HTTP answer: the port is served.
    Listening,
    /// An OK to an empty export request of this signal over gRPC: the
    /// receiver serves the service (OTLP/gRPC has no readiness call).
    GrpcExport(Signal),
}

/// How an answer that was not "ready" reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Answered {
    /// A 5xx: the component is not serving.
    NotReady,
    /// An answer that is not the component's: a 4xx, a redirect, a page.
    Unreadable,
}

impl Expect {
    /// Whether a 200 body is the component's own ready answer.
    fn holds(self, body: &[u8]) -> bool {
        match self {
            Expect::Text(text) => String::from_utf8_lossy(body).trim() == text,
            Expect::JsonKey(key) => {
                serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.get(key).is_some())
            }
            Expect::Listening | Expect::GrpcExport(_) => true,
        }
    }
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
    // One probe per gRPC endpoint, whichever signals share it.
    let mut grpc: Vec<&Url> = Vec::new();
    for signal in Signal::ALL {
        let Some(url) = target.otlp_over(signal, Transport::Grpc) else {
            continue;
        };
        if grpc.contains(&url) {
            continue;
        }
        grpc.push(url);
        let port = url.port_or_known_default().unwrap_or(80);
        out.push(Probed {
            name: format!("collector (OTLP/gRPC, port {port})"),
            url: url.clone(),
            credential: None,
            expect: Expect::GrpcExport(signal),
        });
    }
    if let Some(grafana) = &target.grafana {
        out.push(Probed {
            name: "grafana".into(),
            url: join_path(&grafana.url, "api/health"),
            credential: None,
            expect: Expect::JsonKey("database"),
        });
    }
    for store in Store::ALL {
        let Some(read) = target.read(store) else { continue };
        // Through the proxy only the datasource URL's own API is reachable;
        // Mimir's is its Prometheus API under /prometheus.
        let (url, via, expect) = match (&read.path, store) {
            (ReadPath::GrafanaProxy { .. }, Store::Tempo) => {
                (join_path(&read.base, "api/echo"), " via Grafana", Expect::Text("echo"))
            }
            (ReadPath::GrafanaProxy { .. }, Store::Mimir) => (
                join_path(&read.base, "api/v1/status/buildinfo"),
                " via Grafana",
                Expect::JsonKey("status"),
            ),
            (ReadPath::GrafanaProxy { .. }, _) => {
                (join_path(&read.base, "ready"), " via Grafana", Expect::Text("ready"))
            }
            (ReadPath::Direct, Store::Mimir) => {
                let mut root = read.base.clone();
                let path = root
                    .path()
                    .trim_end_matches('/')
                    .trim_end_matches("/prometheus")
                    .to_owned();
                root.set_path(&path);
                (join_path(&root, "ready"), "", Expect::Text("ready"))
            }
            (ReadPath::Direct, _) => (join_path(&read.base, "ready"), "", Expect::Text("ready")),
        };
        out.push(Probed {
            name: format!("{}{via}", store.as_str()),
            url,
            credential: read.credential.clone(),
            expect,
        });
    }
    out
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let probed = components(ctx);
    if probed.is_empty() {
        return Outcome::new(
            Verdict::skip(Reason::NothingToCheck),
            "the target names no component with a readiness endpoint",
        );
    }
    let timeout = ctx.target.limits.request_timeout;
    let wait = ctx.target.limits.wait;
    let checks = probed.iter().map(|p| check_one(ctx, p, wait, timeout));
    let components: Vec<Component> = futures::future::join_all(checks).await;

    let named = |answer: Option<Answered>| -> Vec<&str> {
        components
            .iter()
            .filter(|c| !c.ready && c.answer == answer)
            .map(|c| c.name.as_str())
            .collect()
    };
    let (not_ready, unreadable, unreachable) = (
        named(Some(Answered::NotReady)),
        named(Some(Answered::Unreadable)),
        named(None),
    );
    let (verdict, summary) = if !not_ready.is_empty() {
        (
            Verdict::fail(Reason::NotReady),
            format!("not ready: {}", not_ready.join(", ")),
        )
    } else if !unreadable.is_empty() {
        let details: Vec<String> = components
            .iter()
            .filter(|c| c.answer == Some(Answered::Unreadable))
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        (
            Verdict::error(Shared::ReadFailed),
            format!("answered with something other than ready: {}", details.join("; ")),
        )
    } else if unreachable.len() == components.len() {
        (
            Verdict::error(Reason::NothingReachable),
            format!("reached none of: {}", unreachable.join(", ")),
        )
    } else if !unreachable.is_empty() {
        (
            Verdict::error(Shared::Unreachable),
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
    if let Expect::GrpcExport(signal) = p.expect {
        return check_grpc(ctx, p, signal, wait).await;
    }
    let started = Instant::now();
    // 0 until the component answers at all.
    let last_status = AtomicU16::new(0);
    let last_answer = std::sync::Mutex::new(None);
    let result = wait_for(wait, &format!("{} ready", p.name), || {
        let req = authorize(ctx.http.get(p.url.clone()), p.credential.as_ref());
        let url = &p.url;
        let expect = p.expect;
        let name = &p.name;
        let status_slot = &last_status;
        let answer_slot = &last_answer;
        async move {
            let resp = match req.send().await {
                Err(e) => return Probe::GiveUp(HttpError::from_reqwest(name, url, timeout, e).to_string()),
                Ok(resp) => resp,
            };
            let answer = match read_body(resp, name, url, timeout).await {
                Ok(answer) => answer,
                Err(e) if e.is_unreachable() => return Probe::GiveUp(e.to_string()),
                Err(e) => {
                    *answer_slot.lock().expect("not poisoned") = Some(Answered::Unreadable);
                    return Probe::NotYet(e.to_string());
                }
            };
            let status = answer.status;
            status_slot.store(status, Ordering::Relaxed);
            if matches!(expect, Expect::Listening) {
                return Probe::Ready(format!("listening ({status})"));
            }
            if status == 200 && expect.holds(&answer.body) {
                return Probe::Ready(excerpt(&answer.body));
            }
            let (answered, detail) = match status {
                500.. => (Answered::NotReady, answer.unexpected(name).to_string()),
                200 => (
                    Answered::Unreadable,
                    format!(
                        "{name} at {url} answered 200 with something other than its readiness answer: {}",
                        excerpt(&answer.body)
                    ),
                ),
                _ => (Answered::Unreadable, answer.unexpected(name).to_string()),
            };
            *answer_slot.lock().expect("not poisoned") = Some(answered);
            Probe::NotYet(detail)
        }
    })
    .await;
    let status = Some(last_status.load(Ordering::Relaxed)).filter(|&s| s != 0);
    Component::of(p, result, last_answer.into_inner().unwrap_or_default(), status, started)
}

/// An empty export request over gRPC until it is answered OK, `wait` at
/// most: `UNAVAILABLE`, `RESOURCE_EXHAUSTED` and `UNIMPLEMENTED` (no such
/// service on the port) are the receiver not serving; another status is
/// an answer that is not the receiver's; no answer is unreachable.
async fn check_grpc(ctx: &CheckCtx, p: &Probed, signal: Signal, wait: Duration) -> Component {
    let started = Instant::now();
    let last_answer = std::sync::Mutex::new(None);
    let answered = std::sync::atomic::AtomicBool::new(false);
    let emitter = OtlpEmitter::for_target(&ctx.target, &ctx.http, signal, Transport::Grpc);
    let result = wait_for(wait, &format!("{} ready", p.name), || {
        let (emitter, answer_slot, answered) = (&emitter, &last_answer, &answered);
        async move {
            let Some(emitter) = emitter else {
                return Probe::GiveUp(format!("{} is not a gRPC endpoint pillars can dial", p.url));
            };
            match emitter.send_encoded(Bytes::new()).await {
                Ok(_) | Err(EmitError::Rejected { .. }) => {
                    answered.store(true, Ordering::Relaxed);
                    Probe::Ready("an empty export request was answered OK".into())
                }
                Err(EmitError::Grpc(e)) if e.is_unreachable() => Probe::GiveUp(e.to_string()),
                Err(EmitError::Grpc(e)) => {
                    answered.store(true, Ordering::Relaxed);
                    let not_serving = matches!(
                        e.code(),
                        Some(tonic::Code::Unavailable | tonic::Code::ResourceExhausted | tonic::Code::Unimplemented)
                    );
                    let how = if not_serving {
                        Answered::NotReady
                    } else {
                        Answered::Unreadable
                    };
                    *answer_slot.lock().expect("not poisoned") = Some(how);
                    Probe::NotYet(e.to_string())
                }
                Err(e) => Probe::GiveUp(e.to_string()),
            }
        }
    })
    .await;
    // A gRPC answer rides on an HTTP/2 200.
    let status = answered.load(Ordering::Relaxed).then_some(200);
    Component::of(p, result, last_answer.into_inner().unwrap_or_default(), status, started)
}
