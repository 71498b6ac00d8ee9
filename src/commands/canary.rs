//! `pillars canary`: a probe per pillar every interval against a target,
//! `/metrics` for a scraper, a line per probe on standard error, and a
//! summary and `canary.json` at the end. Exits 1 when a probe went missing, 3 when none
//! could be decided, 130/143 when a signal stopped it.
//!
//! Uses: canary, target, checks (context), console, env, exit.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::canary::metrics::{CanaryMetrics, ProbeEnd};
use crate::canary::run::{self, ProbeResult, Settings, Summary};
use crate::canary::serve;
use crate::checks::CheckCtx;
use crate::commands::prepared::{RunIdentity, origin, test_double, write_report};
use crate::console::{Console, printable};
use crate::env::Env;
use crate::error::RunError;
use crate::exit;
use crate::report::canary::CanaryReport;
use crate::report::{Report, ReportDir};
use crate::target::TargetChoice;

/// A canary run: against which target, how often, for how long, served where.
#[derive(Debug)]
pub struct CanaryPlan {
    pub target: TargetChoice,
    pub run: RunIdentity,
    pub interval: Duration,
    pub duration: Option<Duration>,
    /// How many rounds, at most.
    pub rounds: Option<u64>,
    /// How long a probe may take to be read back; the target's `max_wait`
    /// when unset.
    pub max_wait: Option<Duration>,
    pub listen: SocketAddr,
}

pub(super) async fn run(plan: CanaryPlan, env: &Env, console: &mut Console) -> Result<u8, RunError> {
    // A bad report path fails now, not when the run ends.
    let dir = ReportDir::create(&plan.run.report_dir)?;
    let opened = plan.target.open(env).await?;
    let target = opened.target.clone();
    let (seed, run_id) = (plan.run.seed, plan.run.run_id.clone());
    let metrics = Arc::new(CanaryMetrics::new(&target.name, &run_id, seed.0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (addr, server) = match serve::serve(plan.listen, metrics.clone(), stopped.clone()).await {
        Ok(served) => served,
        Err(e) => {
            opened.close().await;
            return Err(RunError::Usage(e.to_string()));
        }
    };
    let settings = Settings {
        interval: plan.interval,
        give_up: plan.max_wait.unwrap_or(target.limits.max_wait),
        duration: plan.duration,
        rounds: plan.rounds,
    };
    let _ = writeln!(
        console.err,
        "pillars canary: probing `{}`{}{} every {} (a probe is missing after {}){}; seed {} (run {run_id})\nmetrics at http://{addr}/metrics; Ctrl-C stops",
        printable(&target.name),
        origin(&target),
        test_double(&target),
        humantime::format_duration(settings.interval),
        humantime::format_duration(settings.give_up),
        match (plan.duration, plan.rounds) {
            (Some(d), Some(r)) => format!(" for {} or {r} rounds", humantime::format_duration(d)),
            (Some(d), None) => format!(" for {}", humantime::format_duration(d)),
            (None, Some(r)) => format!(" for {r} rounds"),
            (None, None) => String::new(),
        },
        seed.0,
    );
    let signal = tokio::spawn({
        let stop = stop.clone();
        async move {
            crate::interrupt::pressed().await;
            let _ = stop.send(true);
        }
    });
    let ctx = CheckCtx::new(target.clone(), run_id, seed, Default::default());
    let err = &mut console.err;
    // A failure that repeats is spelled out once per pillar, then named.
    let mut said: std::collections::BTreeMap<crate::checks::Pillar, String> = Default::default();
    let summary = run::run(&ctx, &settings, metrics, stopped, |result| {
        let repeated = result.detail.is_some() && said.get(&result.pillar) == result.detail.as_ref();
        if let Some(detail) = &result.detail {
            said.insert(result.pillar, detail.clone());
        }
        let _ = writeln!(err, "{}", line(result, repeated));
    })
    .await;
    signal.abort();
    let _ = stop.send(true);
    let _ = server.await;
    opened.close().await;
    let _ = write!(console.out, "{}", table(&summary, &printable(&target.name)));
    let record = CanaryReport::of(&summary, &target, &plan.run.of(), &settings);
    write_report(&dir, Report::Canary(&record), console)?;
    Ok(exit_code(&summary))
}

/// One probe as it ended: `18:02:31 logs     #12    found in 1.4 s`;
/// a detail the pillar's last probe gave too is not repeated.
fn line(result: &ProbeResult, repeated: bool) -> String {
    let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let clock = now.get(11..19).unwrap_or(&now);
    let what = match result.end {
        ProbeEnd::Found(seconds) if seconds < 1.0 => format!("found in {:.0} ms", seconds * 1000.0),
        ProbeEnd::Found(seconds) => format!("found in {seconds:.1} s"),
        ProbeEnd::Missing => "MISSING: the store answered without it".to_owned(),
        ProbeEnd::Error(reason) => format!("undecided ({reason}): nothing is known of the data"),
    };
    let detail = match result.detail.as_deref() {
        Some(_) if repeated => " — as before".to_owned(),
        Some(d) => format!(" — {}", printable(d)),
        None => String::new(),
    };
    format!("{clock} {:<8} #{:<5} {what}{detail}", result.pillar.as_str(), result.n)
}

fn table(summary: &Summary, target: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "canary against {target}: {} round(s){}",
        summary.rounds,
        if summary.interrupted {
            " (stopped by a signal; probes in flight left out)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "  {:<9} {:>8} {:>7} {:>8} {:>7} {:>7} {:>7}",
        "PILLAR", "CHECKED", "FOUND", "MISSING", "ERRORS", "p50 ms", "p99 ms"
    );
    for (pillar, t) in &summary.pillars {
        let p = |q: f64| {
            if t.latency.count() == 0 {
                "-".to_owned()
            } else {
                t.latency.percentile_ms(q).to_string()
            }
        };
        let _ = writeln!(
            out,
            "  {:<9} {:>8} {:>7} {:>8} {:>7} {:>7} {:>7}",
            pillar.as_str(),
            t.found + t.missing,
            t.found,
            t.missing,
            t.errors,
            p(50.0),
            p(99.0)
        );
    }
    for (pillar, why) in &summary.left_out {
        let _ = writeln!(out, "  {} not probed: {}", pillar.as_str(), printable(why));
    }
    out
}

fn exit_code(summary: &Summary) -> u8 {
    if summary.interrupted {
        crate::interrupt::exit_code()
    } else if summary.missing() > 0 {
        exit::CHECK_FAILED
    } else if summary.checked() == 0 {
        exit::UNREACHABLE
    } else {
        exit::OK
    }
}
