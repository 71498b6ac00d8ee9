//! Backend requests through the app's `/api/*` paths, as goose users: one
//! attack per rate step, goose's throttle holding the step's rate, each
//! request carrying a fresh `traceparent`. A non-2xx answer is a goose
//! failure and is counted by reason; nothing is retried.
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
use goose::prelude::*;
use url::Url;

use crate::ids::{Seed, SpanId, TraceId, Traceparent};
use crate::load::rate::RatePlan;
use crate::load::tally::{Recorder, status_reason};

/// The route template requests are named by in goose's metrics.
const ROUTE: &str = "GET /api/%";

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
            let (url, rec) = (url.clone(), rec.clone());
            let n = next.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move {
                let traceparent = Traceparent {
                    trace_id: TraceId::from_seed(trace_seed, n),
                    parent_id: SpanId::from_seed(trace_seed, n, 0),
                    sampled: true,
                };
                let builder = user
                    .get_request_builder(&GooseMethod::Get, &url)?
                    .header("traceparent", traceparent.to_string());
                let request = GooseRequest::builder().set_request_builder(builder).name(ROUTE).build();
                rec.offered(1);
                let sent = user.request(request).await?;
                let micros = sent.request.response_time * 1_000 + u64::from(sent.request.response_time_fraction_us);
                let refused = match &sent.response {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(status_reason(r.status().as_u16())),
                    Err(_) => Some("unreachable"),
                };
                rec.record(Duration::from_micros(micros), 1, refused);
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
    fn users_cover_the_rate_at_half_a_second_per_request() {
        assert_eq!(Attack::users_for(0.4), 1);
        assert_eq!(Attack::users_for(100.0), 50);
        assert_eq!(Attack::users_for(1e6), 2_000);
    }
}
