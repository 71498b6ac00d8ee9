//! Backend requests through the app's `/api/*` paths, as goose users: one
//! attack per rate step, goose's throttle holding the step's rate, each
//! request carrying a fresh `traceparent`. A non-2xx answer is a goose
//! failure and is counted by reason; nothing is retried.
//!
//! The traced transaction is as lean as a plain goose one: its request
//! builder is made before the future (no URL or recorder cloned per
//! request), the `traceparent` is written from the ids into a fixed buffer
//! (the header value is the one allocation), and each user keeps its own
//! `SampleBuffer` in goose's session data, so recording takes no lock and
//! wakes the collector once per buffer, not per request.
//!
//! goose runs embedded: no telnet or WebSocket controller, no metrics table
//! on stdout, and its logger replaced by a silent one (pillars' own
//! progress and reports say what happened). Ctrl-C reaches it through the
//! killswitch `interrupt` pulls.
//!
//! Uses: load::{rate, tally}, ids, interrupt.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use goose::config::GooseConfiguration;
use goose::goose::GooseResponse;
use goose::prelude::*;
use reqwest::header::{HeaderName, HeaderValue};
use tokio::time::Instant;
use url::Url;

use crate::ids::{Seed, SpanId, TraceId};
use crate::load::rate::RatePlan;
use crate::load::tally::{Recorder, Refusal, Sample, SampleBuffer, status_reason};

/// The route template requests are named by in goose's metrics.
const ROUTE: &str = "GET /api/%";
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// What one transaction does.
#[derive(Debug, Clone)]
pub enum Flavor {
    /// pillars' load path: request `n` carries the `traceparent` of slot
    /// `n` of `trace_seed` (`next` counts across attacks), and every
    /// outcome is recorded.
    Traced {
        trace_seed: Seed,
        next: Arc<AtomicU64>,
        rec: Recorder,
    },
    /// A bare `GET`, as a plain goose load test writes it: the baseline
    /// `pillars bench load` compares against.
    Plain,
}

/// One attack's shape.
#[derive(Debug, Clone)]
pub struct Attack {
    /// The full URL each request fetches.
    pub url: Url,
    /// Requests per second; `None` runs unthrottled. From one a second up,
    /// goose's throttle holds it (to the whole request); below that, one
    /// user waits `1 / rate` between requests, so an app's per-IP limit of
    /// e.g. 30 a minute is kept.
    pub rate: Option<f64>,
    pub users: usize,
    pub run_time: Duration,
    pub timeout: Duration,
}

impl Attack {
    /// Enough users that each sends at most two requests a second, so an
    /// app answering within half a second still gets the full rate.
    pub fn users_for(rate: f64) -> usize {
        ((rate / 2.0).ceil() as usize).clamp(1, 2_000)
    }
}

/// Sends `GET url` along `plan` (requests per second), one attack per step,
/// until the plan ends or Ctrl-C.
pub async fn run(
    url: Url,
    plan: &RatePlan,
    timeout: Duration,
    trace_seed: Seed,
    rec: Recorder,
) -> Result<(), GooseError> {
    let interrupted = crate::interrupt::watcher();
    let next = Arc::new(AtomicU64::new(0));
    for step in &plan.steps {
        if *interrupted.borrow() {
            break;
        }
        if step.rate <= 0.0 {
            tokio::time::sleep(step.duration).await;
            continue;
        }
        let attack = Attack {
            url: url.clone(),
            rate: Some(step.rate),
            users: Attack::users_for(step.rate),
            run_time: step.duration,
            timeout,
        };
        let flavor = Flavor::Traced {
            trace_seed,
            next: next.clone(),
            rec: rec.clone(),
        };
        execute(&attack, flavor).await?;
    }
    Ok(())
}

/// The `traceparent` of request `n` of `trace_seed`, as
/// `ids::Traceparent` spells it: `00-<trace id>-<span id>-01`.
fn traceparent(trace_seed: Seed, n: u64) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = *b"00-00000000000000000000000000000000-0000000000000000-01";
    let trace = TraceId::from_seed(trace_seed, n).0;
    let span = SpanId::from_seed(trace_seed, n, 0).0;
    let (trace_part, span_part) = text.split_at_mut(36);
    let digits = trace_part[3..35]
        .chunks_exact_mut(2)
        .chain(span_part[..16].chunks_exact_mut(2));
    for (pair, byte) in digits.zip(trace.iter().chain(span.iter())) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
    HeaderValue::from_bytes(&text).expect("hex digits and dashes are a valid header value")
}

/// Records one traced request's outcome in the user's own buffer.
async fn record(samples: &mut SampleBuffer, sent: &GooseResponse) {
    let end = Instant::now();
    let took = Duration::from_micros(sent.request.response_time_micros());
    // goose's throttle, not a plan, set when it started: from its start.
    let start = end.checked_sub(took).unwrap_or(end);
    let (status, refused) = match &sent.response {
        Ok(r) if r.status().is_success() => (r.status().as_u16(), None),
        Ok(r) => (r.status().as_u16(), Some(status_reason(r.status().as_u16()))),
        Err(_) => (0, Some("unreachable")),
    };
    samples.offered(1);
    samples
        .push(Sample {
            intended_start: start,
            start,
            end,
            status,
            units: 1,
            bytes: 0,
            refused: refused.map(|reason| Refusal { reason, units: 1 }),
        })
        .await;
}

/// Runs one goose attack.
pub async fn execute(attack: &Attack, flavor: Flavor) -> Result<(), GooseError> {
    silence_goose_logger();
    let url = attack.url.to_string();
    let transaction: TransactionFunction = match flavor {
        Flavor::Plain => Arc::new(move |user| {
            let url = url.clone();
            Box::pin(async move {
                user.get_named(&url, ROUTE).await?;
                Ok(())
            })
        }),
        Flavor::Traced { trace_seed, next, rec } => Arc::new(move |user| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            // Built before the future, so it borrows nothing of the closure.
            let builder = user
                .get_request_builder(&GooseMethod::Get, &url)
                .map(|b| b.header(TRACEPARENT, traceparent(trace_seed, n)));
            // A user's first request gives it its buffer.
            let first = user.get_session_data::<SampleBuffer>().is_none().then(|| rec.buffer());
            Box::pin(async move {
                let request = GooseRequest::builder()
                    .set_request_builder(builder?)
                    .name(ROUTE)
                    .build();
                let sent = user.request(request).await?;
                if let Some(samples) = first {
                    user.set_session_data(samples);
                }
                if let Some(samples) = user.get_session_data_mut::<SampleBuffer>() {
                    record(samples, &sent).await;
                }
                Ok(())
            })
        }),
    };
    let mut scenario = scenario!("BackendRequests").register_transaction(Transaction::new(transaction).set_name(ROUTE));
    let mut users = attack.users.max(1);
    let mut throttle = None;
    match attack.rate {
        Some(rate) if rate >= 1.0 => throttle = Some(rate.round() as usize),
        Some(rate) if rate > 0.0 => {
            users = 1;
            let pause = Duration::from_secs_f64(1.0 / rate);
            scenario = scenario.set_wait_time(pause, pause)?;
        }
        _ => {}
    }
    let host = attack.url[..url::Position::BeforePath].to_owned();
    let mut goose = GooseAttack::initialize_with_config(GooseConfiguration::default())?
        .register_scenario(scenario)
        .set_default(GooseDefault::Host, host.as_str())?
        .set_default(GooseDefault::Users, users)?
        // Every user within 10 ms: the throttle, not the ramp, shapes the
        // rate, and the attack lasts its run time, not a second more.
        .set_default(GooseDefault::IncreaseRate, (users * 100).to_string().as_str())?
        .set_default(
            GooseDefault::RunTime,
            attack.run_time.as_secs_f64().round().max(1.0) as usize,
        )?
        .set_default(
            GooseDefault::Timeout,
            attack.timeout.as_secs().max(1).to_string().as_str(),
        )?
        .set_default(GooseDefault::NoTelnet, true)?
        .set_default(GooseDefault::NoWebSocket, true)?
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(GooseDefault::Quiet, 1)?;
    if let Some(rate) = throttle {
        goose = goose.set_default(GooseDefault::ThrottleRequests, rate)?;
    }
    goose.execute().await.map(drop)
}

/// goose logs to stdout unless a logger is already set; pillars' output is
/// its own, so a silent one goes first.
fn silence_goose_logger() {
    struct Silent;
    impl log::Log for Silent {
        fn enabled(&self, _: &log::Metadata) -> bool {
            false
        }
        fn log(&self, _: &log::Record) {}
        fn flush(&self) {}
    }
    static SILENT: Silent = Silent;
    static SET: OnceLock<()> = OnceLock::new();
    SET.get_or_init(|| {
        let _ = log::set_logger(&SILENT);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_the_traceparent_the_ids_spell() {
        for n in [0, 1, 41, u64::MAX] {
            let expected = crate::ids::Traceparent {
                trace_id: TraceId::from_seed(Seed(7), n),
                parent_id: SpanId::from_seed(Seed(7), n, 0),
                sampled: true,
            };
            assert_eq!(traceparent(Seed(7), n).to_str().unwrap(), expected.to_string());
        }
    }

    #[test]
    fn users_cover_the_rate_at_half_a_second_per_request() {
        assert_eq!(Attack::users_for(0.4), 1);
        assert_eq!(Attack::users_for(100.0), 50);
        assert_eq!(Attack::users_for(1e6), 2_000);
    }
}
