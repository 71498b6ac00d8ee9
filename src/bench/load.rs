//! `pillars bench load`: the load path measured against a loopback server,
//! each figure beside its baseline from the same run.
//!
//! - HTTP: requests/s through pillars' goose users (a `traceparent` per
//!   request, every outcome recorded) beside plain goose (a bare `GET`),
//!   same users, same server; rounds alternate, and the goal is judged on
//!   the median of the rounds' own ratios (`bench::Paired`).
//!   Both are counted by the server, so they are measured alike.
//! - OTLP: spans/s through the load path's workers (permits, template,
//!   send, samples, collector) beside a raw POST of the same bytes
//!   (`bench emit`).
//! - Memory: this process's peak resident set while it sends 10k spans/s,
//!   1k lines/s and 100 requests/s, beside its resident set before.
//!   The loopback server runs in the same process and is counted too.
//!
//! Uses: bench::{emit, sink}, load::{api, traffic, rate}, measure::memory,
//! checks (context).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use crate::bench::emit::EmitBench;
use crate::bench::sink::Sink;
use crate::bench::{BenchError, Paired};
use crate::checks::CheckCtx;
use crate::console::Console;
use crate::ids::Seed;
use crate::load::api::{self, Attack, Flavor};
use crate::load::rate::RatePlan;
use crate::load::scenario::{Traffic, TrafficKind};
use crate::load::{tally, traffic};
use crate::target::{Env, Target, TargetKind};

/// Goals on a 2-core machine, release build.
pub const GOAL_HTTP_RATIO: f64 = 0.9;
pub const GOAL_PEAK_RSS_BYTES: u64 = 64 * 1024 * 1024;

/// The mixed load memory is measured under.
const MIX: [(TrafficKind, f64); 3] = [
    (TrafficKind::OtlpTraces, 10_000.0),
    (TrafficKind::OtlpLogs, 1_000.0),
    (TrafficKind::BackendRequests, 100.0),
];

#[derive(Debug, Clone)]
pub struct LoadBench {
    /// Requests/s per round: plain goose, then pillars' users.
    pub http: Paired,
    pub users: u64,
    pub rounds: u32,
    pub emit: EmitBench,
    pub idle_rss_bytes: u64,
    pub peak_rss_bytes: u64,
    /// Units per second each kind of the mix achieved.
    pub mixed_rates: Vec<(TrafficKind, f64)>,
    /// Over the mix: sends that started late, and waits for a collector.
    pub mixed_late_starts: u64,
    pub mixed_collector_stalls: u64,
    pub release_build: bool,
}

impl LoadBench {
    /// The median of the rounds' ratios.
    pub fn http_ratio(&self) -> f64 {
        self.http.ratio()
    }
}

impl fmt::Display for LoadBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        if !self.release_build {
            writeln!(f, "(debug build: rates are not representative; use --release)")?;
        }
        writeln!(
            f,
            "HTTP GET to a loopback server, {} goose users, {} round(s)",
            self.users, self.rounds
        )?;
        writeln!(
            f,
            "  plain goose                    {:>12.0} req/s (best round)",
            self.http.best_baseline()
        )?;
        writeln!(
            f,
            "  pillars (traceparent, record)  {:>12.0} req/s (best round)",
            self.http.best_harness()
        )?;
        writeln!(
            f,
            "  ratio {:.2}, median of {} paired rounds (goal >= {GOAL_HTTP_RATIO}: {})",
            self.http_ratio(),
            self.http.rounds(),
            verdict(self.http_ratio() >= GOAL_HTTP_RATIO)
        )?;
        write!(f, "{}", self.emit)?;
        let mix: Vec<String> = self
            .mixed_rates
            .iter()
            .map(|(k, r)| format!("{} {r:.0}/s", k.as_str()))
            .collect();
        writeln!(f, "Memory under mixed load ({})", mix.join(", "))?;
        writeln!(
            f,
            "  late starts {}, collector stalls {}",
            self.mixed_late_starts, self.mixed_collector_stalls
        )?;
        writeln!(
            f,
            "  resident before {:.1} MiB, peak {:.1} MiB (goal <= {:.0} MiB: {})",
            mib(self.idle_rss_bytes),
            mib(self.peak_rss_bytes),
            mib(GOAL_PEAK_RSS_BYTES),
            verdict(self.peak_rss_bytes <= GOAL_PEAK_RSS_BYTES)
        )
    }
}

/// How `pillars bench load` runs: what the command line asked for, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long each measured HTTP round lasts.
    pub round: Duration,
    /// Rounds; each runs the baseline and the harness back to back, and the
    /// median of the rounds' ratios is judged.
    pub rounds: u32,
    /// goose users in the HTTP rounds.
    pub users: u64,
    /// How long the mixed load runs while memory is sampled.
    pub mixed: Duration,
}

pub async fn run(args: &Settings, console: &mut Console) -> Result<LoadBench, BenchError> {
    use std::io::Write as _;
    let sink = Sink::start().await.map_err(BenchError::Sink)?;
    let url = Url::parse(&format!("http://{}/api/bench", sink.addr)).expect("loopback URL");
    let attack = Attack {
        url,
        rate: None,
        users: args.users as usize,
        run_time: args.round,
        timeout: Duration::from_secs(10),
    };
    let mut http = Paired::default();
    for r in 1..=args.rounds {
        let mut round = [0.0f64; 2];
        for traced in [false, true] {
            let (rec, _, collector) = tally::recorder();
            let flavor = if traced {
                Flavor::Traced {
                    trace_seed: Seed(0xBE4C),
                    next: Arc::new(AtomicU64::new(0)),
                    rec,
                }
            } else {
                drop(rec);
                Flavor::Plain
            };
            let before = sink.counts.gets.load(Ordering::Relaxed);
            let started = Instant::now();
            api::execute(&attack, flavor)
                .await
                .map_err(|e| BenchError::Goose(e.to_string()))?;
            let rps = (sink.counts.gets.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
            let _ = collector.await;
            round[usize::from(traced)] = rps;
            let name = if traced { "pillars" } else { "plain goose" };
            let _ = writeln!(console.err, "round {r}/{}: {name:<11} {rps:>10.0} req/s", args.rounds);
        }
        http.push(round[0], round[1]);
    }
    let emit = crate::bench::emit::run(
        &crate::bench::emit::Settings {
            round: args.round,
            rounds: args.rounds,
            batch_traces: 100,
            spans_per_trace: 5,
            concurrency: 4,
        },
        console,
    )
    .await?;
    let _ = writeln!(console.err, "mixed load for {} s …", args.mixed.as_secs());
    let mix = mixed(&sink, args.mixed).await?;
    Ok(LoadBench {
        http,
        users: args.users,
        rounds: args.rounds,
        emit,
        idle_rss_bytes: mix.idle,
        peak_rss_bytes: mix.peak,
        mixed_rates: mix.rates,
        mixed_late_starts: mix.late_starts,
        mixed_collector_stalls: mix.collector_stalls,
        release_build: !cfg!(debug_assertions),
    })
}

/// What the mixed load measured.
struct Mixed {
    /// Resident set before the mix, and its peak during.
    idle: u64,
    peak: u64,
    /// Each kind's achieved rate.
    rates: Vec<(TrafficKind, f64)>,
    late_starts: u64,
    collector_stalls: u64,
}

/// Runs the mix against `sink` for `length`.
async fn mixed(sink: &Sink, length: Duration) -> Result<Mixed, BenchError> {
    let rss = || crate::measure::memory::own_process().map_or(0, |m| m.working_set_bytes);
    let toml = format!(
        "name = \"bench sink\"\n[ingest]\notlp_http = \"http://{addr}\"\n[app]\nbase_url = \"http://{addr}\"\n",
        addr = sink.addr
    );
    let target = Target::from_toml(&toml, TargetKind::File("bench sink".into()), &Env::default())
        .map_err(|e| BenchError::Goose(format!("the bench target: {e}")))?;
    let ctx = CheckCtx::new(Arc::new(target), "bench".into(), Seed(0xBE4C), Default::default());
    let idle = rss();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let running: Vec<_> = MIX
        .iter()
        .filter_map(|(kind, rate)| {
            let traffic = Traffic {
                rate: *rate,
                cardinality: 10,
                path: Some("/api/bench".into()),
                transport: None,
            };
            traffic::spawn(
                *kind,
                &traffic,
                RatePlan::constant(*rate, length),
                &ctx,
                stopped.clone(),
            )
        })
        .collect();
    let started = Instant::now();
    let mut peak = idle;
    while started.elapsed() < length {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss());
    }
    let mut mix = Mixed {
        idle,
        peak,
        rates: Vec::new(),
        late_starts: 0,
        collector_stalls: 0,
    };
    for r in running {
        let stats = r.done.await.unwrap_or_default();
        mix.rates
            .push((r.kind, stats.units_accepted as f64 / length.as_secs_f64()));
        mix.late_starts += stats.late_starts;
        mix.collector_stalls += stats.collector_stalls;
    }
    mix.peak = mix.peak.max(rss());
    Ok(mix)
}
