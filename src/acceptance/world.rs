//! The cucumber `World`: one per scenario, with its own run seed and
//! service names, and, on the embedded reference stack, its own stack, so
//! scenarios that turn fault knobs never disturb each other.
//!
//! Fields are private; steps call methods that return `AcceptanceError`.
//!
//! Uses: checks, load, report (load and capacity records), stack::sim,
//! target (and its choice), env.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::checks::{self, CheckCtx, CheckSettings, Outcome, Status, TransportChoice};
use crate::env::Env;
use crate::ids::Seed;
use crate::load::scenario::TrafficKind;
use crate::target::{Opened, TargetChoice};

/// The target scenarios run against, and the environment they open it
/// with; set by the feature runner.
static TARGET: RwLock<Option<(TargetChoice, Env)>> = RwLock::new(None);
/// Distinguishes the seeds of scenarios started in the same nanosecond.
static SCENARIO: AtomicU64 = AtomicU64::new(0);

pub(crate) fn set_target(choice: TargetChoice, env: Env) {
    *TARGET.write().expect("target lock") = Some((choice, env));
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptanceError {
    #[error("could not open the target: {0}")]
    Setup(String),
    #[error("sim faults need the embedded reference stack; this scenario should be tagged @sim")]
    NotSim,
    #[error("{0}")]
    Fault(#[from] crate::stack::sim::FaultError),
    #[error("{0}")]
    Variant(#[from] crate::stack::sim::VariantError),
    #[error("no check `{0}` in the catalog")]
    UnknownCheck(String),
    #[error("no check has run yet in this scenario")]
    NoOutcome,
    /// A verdict other than the expected one, with the summary and evidence.
    #[error("{0}")]
    Verdict(String),
    #[error("evidence of `{check}`: {problem}\nevidence: {evidence}")]
    Evidence {
        check: String,
        problem: String,
        evidence: String,
    },
}

#[derive(Debug, cucumber::World)]
#[world(init = Self::new)]
pub struct PillarsWorld {
    choice: TargetChoice,
    env: Env,
    opened: Option<Opened>,
    seed: Seed,
    run_id: String,
    settings: CheckSettings,
    last: Option<(&'static str, Outcome)>,
    capacity: Option<crate::report::CapacityReport>,
    gates: crate::load::scenario::Gates,
    load: Option<crate::report::LoadReport>,
    /// The last `pillars lint` of the scenario.
    lint: Option<Result<crate::lint::LintReport, crate::lint::LintError>>,
    /// The last canary run of the scenario.
    canary: Option<crate::canary::run::Summary>,
}

impl PillarsWorld {
    fn new() -> Self {
        let (choice, env) = TARGET
            .read()
            .expect("target lock")
            .clone()
            .unwrap_or_else(|| (TargetChoice::Sim(Box::default()), Env::default()));
        let n = SCENARIO.fetch_add(1, Ordering::Relaxed);
        let seed = Seed(Seed::from_time().word(n, 0));
        PillarsWorld {
            choice,
            env,
            opened: None,
            seed,
            run_id: format!("scenario-{n}-{:08x}", seed.0 as u32),
            settings: CheckSettings::default(),
            last: None,
            capacity: None,
            gates: Default::default(),
            load: None,
            lint: None,
            canary: None,
        }
    }

    /// Turns on a fault of the reference stack, running or not yet started.
    pub fn add_fault(&mut self, spec: &str) -> Result<(), AcceptanceError> {
        let TargetChoice::Sim(options) = &mut self.choice else {
            return Err(AcceptanceError::NotSim);
        };
        options.faults.apply(spec)?;
        if let Some(Opened { sim: Some(sim), .. }) = &self.opened {
            sim.set_faults(options.faults.clone());
        }
        Ok(())
    }

    /// Reproduces a deployment choice in the reference stack, running or
    /// not yet started.
    pub fn add_variant(&mut self, spec: &str) -> Result<(), AcceptanceError> {
        let TargetChoice::Sim(options) = &mut self.choice else {
            return Err(AcceptanceError::NotSim);
        };
        options.variants.apply(spec)?;
        if let Some(Opened { sim: Some(sim), .. }) = &self.opened {
            sim.set_variants(options.variants);
        }
        Ok(())
    }

    /// Provisions the reference stack's Grafana from a provisioning file,
    /// before the stack starts.
    pub fn provision_datasources(&mut self, path: &str) -> Result<(), AcceptanceError> {
        let TargetChoice::Sim(options) = &mut self.choice else {
            return Err(AcceptanceError::NotSim);
        };
        // A stack already started (by a background step) starts again with
        // these datasources; its faults and variants stay.
        self.opened = None;
        let yaml = crate::textfile::read(std::path::Path::new(path))
            .map_err(|e| AcceptanceError::Setup(format!("cannot read `{path}`: {e}")))?;
        options.grafana_datasources = Some(yaml);
        Ok(())
    }

    /// The last outcome of `id` says `text` in its summary.
    pub fn expect_summary_says(&self, id: &str, text: &str) -> Result<(), AcceptanceError> {
        let outcome = self.last(id)?;
        if outcome.summary.contains(text) {
            Ok(())
        } else {
            Err(AcceptanceError::Verdict(format!(
                "the summary of `{id}` does not say {text:?}: {}",
                outcome.summary
            )))
        }
    }

    /// Which transports the OTLP round trips send over: `http`, `grpc`,
    /// `both` or `target`.
    pub fn send_over(&mut self, transport: &str) -> Result<(), AcceptanceError> {
        self.settings.transport = match transport {
            "http" => TransportChoice::Http,
            "grpc" => TransportChoice::Grpc,
            "both" => TransportChoice::Both,
            "target" => TransportChoice::Target,
            other => {
                return Err(AcceptanceError::Setup(format!(
                    "no transport {other:?}: use http, grpc, both or target"
                )));
            }
        };
        Ok(())
    }

    pub fn settings_mut(&mut self) -> &mut CheckSettings {
        &mut self.settings
    }

    fn run_of(&self) -> crate::report::RunOf {
        crate::report::RunOf {
            seed: self.seed,
            run_id: self.run_id.clone(),
            shard: None,
        }
    }

    async fn ctx(&mut self) -> Result<CheckCtx, AcceptanceError> {
        if self.opened.is_none() {
            let opened = self
                .choice
                .open(&self.env)
                .await
                .map_err(|e| AcceptanceError::Setup(e.to_string()))?;
            self.opened = Some(opened);
        }
        let opened = self.opened.as_ref().expect("opened above");
        Ok(CheckCtx::new(
            opened.target.clone(),
            self.run_id.clone(),
            self.seed,
            self.settings.clone(),
        ))
    }

    /// Runs a catalog check, keeping its outcome for the `Then` steps.
    pub async fn run_check(&mut self, id: &str) -> Result<&Outcome, AcceptanceError> {
        let spec = checks::find(id).ok_or_else(|| AcceptanceError::UnknownCheck(id.to_owned()))?;
        let ctx = self.ctx().await?;
        let outcome = spec.run(&ctx).await;
        let (_, outcome) = self.last.insert((spec.id, outcome));
        Ok(outcome)
    }

    fn last(&self, id: &str) -> Result<&Outcome, AcceptanceError> {
        match &self.last {
            Some((ran, outcome)) if *ran == id => Ok(outcome),
            Some(_) | None => Err(AcceptanceError::NoOutcome),
        }
    }

    /// Asserts the last run of `id` ended with `status` (and `reason`).
    pub fn expect(&self, id: &str, status: Status, reason: Option<&str>) -> Result<(), AcceptanceError> {
        let outcome = self.last(id)?;
        let got_reason = outcome.verdict.reason();
        if outcome.status() == status && (reason.is_none() || reason == got_reason) {
            return Ok(());
        }
        let expected = match reason {
            Some(r) => format!("{} with reason `{r}`", status.as_str()),
            None => status.as_str().to_owned(),
        };
        Err(AcceptanceError::Verdict(format!(
            "expected `{id}` to {expected}, but it came back {}{}: {}\nevidence: {}",
            outcome.status().as_str(),
            got_reason.map(|r| format!(" [{r}]")).unwrap_or_default(),
            outcome.summary,
            outcome.evidence
        )))
    }

    /// Runs a capacity search of `rate` spans/s stepped by `factor`.
    pub async fn run_capacity(&mut self, rate: u64, factor: f64) -> Result<(), AcceptanceError> {
        let scenario = crate::load::scenario::Scenario::from_toml(
            &format!(
                "name = \"acceptance\"\n[traffic.otlp_traces]\nrate = {rate}\n[search]\nfactor = {factor}\nmax_steps = 8\nbisect_steps = 3\nstep_duration = \"2s\"\n"
            ),
            "capacity.feature",
        )
        .map_err(|e| AcceptanceError::Setup(e.to_string()))?;
        let ctx = self.ctx().await?;
        let search = crate::load::capacity::search(
            &scenario,
            ctx.target.clone(),
            self.seed,
            self.run_id.clone(),
            &crate::load::progress::Progress::new(false),
            |_| {},
        )
        .await
        .map_err(AcceptanceError::Setup)?;
        let report = crate::report::CapacityReport::of(&scenario, &ctx.target, self.run_of(), search);
        self.capacity = Some(report);
        Ok(())
    }

    /// Load runs are judged against this p99 ingest latency.
    pub fn set_latency_gate(&mut self, gate: std::time::Duration) {
        self.gates.p99_ingest_latency = gate;
    }

    /// Sends `kind` at `rate` a second for `seconds`, watched and judged by
    /// the scenario's gates.
    pub async fn run_load(&mut self, kind: TrafficKind, rate: f64, seconds: u64) -> Result<(), AcceptanceError> {
        let mut scenario = crate::load::scenario::Scenario::from_toml(
            &format!(
                "name = \"acceptance\"\nduration = \"{seconds}s\"\n[traffic.{}]\nrate = {rate}\n",
                kind.as_str()
            ),
            "load.feature",
        )
        .map_err(|e| AcceptanceError::Setup(e.to_string()))?;
        scenario.gates = self.gates.clone();
        scenario.declared_gates = Some(self.gates.clone());
        let ctx = self.ctx().await?;
        let progress = crate::load::progress::Progress::new(false);
        let outcome =
            crate::load::run::run(&scenario, ctx.target.clone(), self.seed, self.run_id.clone(), &progress).await;
        let report = crate::report::LoadReport::of(&scenario, &ctx.target, self.run_of(), outcome);
        self.load = Some(report);
        Ok(())
    }

    /// The last load broke `gate`, or held every gate when `None`.
    pub fn expect_gate(&self, gate: Option<&str>) -> Result<(), AcceptanceError> {
        let report = self.load.as_ref().ok_or(AcceptanceError::NoOutcome)?;
        let broken = report.broken.as_ref();
        if broken.map(|b| b.name()) == gate {
            return Ok(());
        }
        Err(AcceptanceError::Verdict(format!(
            "expected {}, but {}\n{}",
            gate.map_or("every gate to hold".to_owned(), |g| format!("the {g} gate to break")),
            broken.map_or("every gate held".to_owned(), |b| format!("the load broke: {b}")),
            crate::report::terminal::load(report)
        )))
    }

    /// Every pillar's markers of the last load were read back.
    pub fn expect_markers_read_back(&self) -> Result<(), AcceptanceError> {
        let report = self.load.as_ref().ok_or(AcceptanceError::NoOutcome)?;
        let short: Vec<String> = report
            .ingest
            .iter()
            .filter(|(_, i)| i.sent == 0 || i.found < i.sent)
            .map(|(p, i)| format!("{}: {} of {}", p.as_str(), i.found, i.sent))
            .collect();
        // Pillars the target has no round trip for send no markers.
        if !report.ingest.is_empty() && short.is_empty() {
            Ok(())
        } else {
            Err(AcceptanceError::Verdict(format!(
                "markers not all read back ({}): {}",
                short.join(", "),
                crate::report::terminal::load(report)
            )))
        }
    }

    /// Every refusal of `kind` in the last load was `reason`, and the app
    /// received each request once: none was retried.
    pub fn expect_refused_once(&self, kind: TrafficKind, reason: &str) -> Result<(), AcceptanceError> {
        let report = self.load.as_ref().ok_or(AcceptanceError::NoOutcome)?;
        let k = report
            .kinds
            .get(&kind)
            .ok_or_else(|| AcceptanceError::Verdict(format!("{} was not driven", kind.as_str())))?;
        let received = match &self.opened {
            Some(Opened { sim: Some(sim), .. }) => sim.app_requests(),
            _ => return Err(AcceptanceError::NotSim),
        };
        if k.refused_units > 0 && k.refused.get(reason) == Some(&k.refused_units) && received == k.offered_units {
            Ok(())
        } else {
            Err(AcceptanceError::Verdict(format!(
                "{}: offered {}, refused {:?}; the app received {received}",
                kind.as_str(),
                k.offered_units,
                k.refused
            )))
        }
    }

    /// The last capacity search brackets `expected` units/s within `share`.
    pub fn expect_bracket(&self, expected: f64, share: f64) -> Result<(), AcceptanceError> {
        let report = self.capacity.as_ref().ok_or(AcceptanceError::NoOutcome)?;
        let good = report.last_good_rate.unwrap_or(0.0);
        let bad = report.first_bad.as_ref().map_or(f64::INFINITY, |b| b.rate);
        let close = |r: f64| (r - expected).abs() / expected <= share;
        if close(good) && close(bad) && good < bad {
            Ok(())
        } else {
            Err(AcceptanceError::Verdict(format!(
                "the search bracketed [{good:.0}, {bad:.0}] units/s, not within {:.0} % of {expected:.0}: {}",
                share * 100.0,
                report.recommendation
            )))
        }
    }

    /// A number in the last outcome's evidence, by JSON pointer.
    pub fn evidence_number(&self, id: &str, pointer: &str) -> Result<u64, AcceptanceError> {
        let outcome = self.last(id)?;
        outcome
            .evidence
            .pointer(pointer)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| self.evidence_error(id, format!("no number at {pointer}")))
    }

    /// The length of an array in the last outcome's evidence.
    pub fn evidence_len(&self, id: &str, pointer: &str) -> Result<usize, AcceptanceError> {
        let outcome = self.last(id)?;
        outcome
            .evidence
            .pointer(pointer)
            .and_then(serde_json::Value::as_array)
            .map(Vec::len)
            .ok_or_else(|| self.evidence_error(id, format!("no list at {pointer}")))
    }

    pub fn evidence_error(&self, id: &str, problem: String) -> AcceptanceError {
        AcceptanceError::Evidence {
            check: id.to_owned(),
            problem,
            evidence: self
                .last
                .as_ref()
                .map(|(_, o)| o.evidence.to_string())
                .unwrap_or_default(),
        }
    }
}

/// `pillars lint` from the steps: the report (or the input error) of the
/// last lint, and assertions on it.
impl PillarsWorld {
    pub fn lint(&mut self, paths: &[&str], scenarios: Option<&str>) {
        let paths: Vec<std::path::PathBuf> = paths.iter().map(Into::into).collect();
        let scenarios = scenarios.map(std::path::Path::new);
        self.lint = Some(crate::lint::LintReport::of(
            &paths,
            scenarios,
            &crate::lint::Options::default(),
        ));
    }

    fn lint_report(&self) -> Result<&crate::lint::LintReport, AcceptanceError> {
        match &self.lint {
            None => Err(AcceptanceError::Verdict("no lint has run yet in this scenario".into())),
            Some(Err(e)) => Err(AcceptanceError::Verdict(format!("lint could not read its input: {e}"))),
            Some(Ok(report)) => Ok(report),
        }
    }

    pub fn expect_lint_clean(&self) -> Result<(), AcceptanceError> {
        let report = self.lint_report()?;
        if report.is_clean() {
            return Ok(());
        }
        Err(AcceptanceError::Verdict(crate::lint::render::terminal(report)))
    }

    pub fn expect_lint_finding(&self, rule: &str, file: &str, line: u32) -> Result<(), AcceptanceError> {
        let report = self.lint_report()?;
        let found = report
            .findings
            .iter()
            .any(|f| f.rule.id() == rule && f.at.file().ends_with(file) && f.at.line == line);
        if found {
            return Ok(());
        }
        Err(AcceptanceError::Verdict(format!(
            "no {rule} finding at {file}:{line}; lint reported:\n{}",
            crate::lint::render::terminal(report)
        )))
    }

    pub fn expect_lint_only(&self, rule: &str) -> Result<(), AcceptanceError> {
        let report = self.lint_report()?;
        match report.findings.iter().find(|f| f.rule.id() != rule) {
            None => Ok(()),
            Some(f) => Err(AcceptanceError::Verdict(format!(
                "expected only {rule} findings, also got {} at {}:{}: {}",
                f.rule.id(),
                f.at.file(),
                f.at.line,
                f.message
            ))),
        }
    }

    pub fn expect_lint_unreadable(&self, text: &str) -> Result<(), AcceptanceError> {
        match &self.lint {
            Some(Err(e)) if e.to_string().contains(text) => Ok(()),
            Some(Err(e)) => Err(AcceptanceError::Verdict(format!(
                "lint's error does not say {text:?}: {e}"
            ))),
            Some(Ok(report)) => Err(AcceptanceError::Verdict(format!(
                "lint read its input ({} files) instead of stopping",
                report.files.len()
            ))),
            None => Err(AcceptanceError::Verdict("no lint has run yet in this scenario".into())),
        }
    }
}

/// `pillars canary` for a few rounds against the scenario's target, and
/// assertions on what its probes came to.
impl PillarsWorld {
    pub async fn run_canary(&mut self, rounds: u32) -> Result<(), AcceptanceError> {
        use crate::canary::{metrics::CanaryMetrics, run};
        let ctx = self.ctx().await?;
        let settings = run::Settings {
            interval: std::time::Duration::from_millis(500),
            give_up: ctx.target.limits.max_wait,
            duration: None,
            rounds: Some(u64::from(rounds)),
        };
        let metrics = std::sync::Arc::new(CanaryMetrics::new(&ctx.target.name, &ctx.run_id, ctx.seed.0));
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let summary = run::run(&ctx, &settings, metrics, stopped, |_| {}).await;
        if summary.rounds != u64::from(rounds) {
            return Err(AcceptanceError::Verdict(format!(
                "the canary ran {} rounds, not {rounds}",
                summary.rounds
            )));
        }
        self.canary = Some(summary);
        Ok(())
    }

    fn canary_tally(&self, pillar: &str) -> Result<&crate::canary::run::PillarTally, AcceptanceError> {
        let summary = self
            .canary
            .as_ref()
            .ok_or_else(|| AcceptanceError::Verdict("the canary has not run in this scenario".into()))?;
        summary
            .pillars
            .iter()
            .find(|(p, _)| p.as_str() == pillar)
            .map(|(_, t)| t)
            .ok_or_else(|| AcceptanceError::Verdict(format!("the canary sent no {pillar} probe: {summary:?}")))
    }

    /// Every probe of `pillar` ended `found` (or, with `found` false,
    /// missing).
    pub fn expect_canary(&self, pillar: &str, found: bool) -> Result<(), AcceptanceError> {
        let rounds = self.canary.as_ref().map_or(0, |s| s.rounds);
        let tally = self.canary_tally(pillar)?;
        let (want, got) = if found {
            ("found", tally.found)
        } else {
            ("missing", tally.missing)
        };
        if got == rounds {
            Ok(())
        } else {
            Err(AcceptanceError::Verdict(format!(
                "{got} of {rounds} {pillar} probes were {want}: {tally:?}"
            )))
        }
    }

    pub fn expect_canary_all_found(&self) -> Result<(), AcceptanceError> {
        for pillar in ["traces", "logs", "metrics", "profiles"] {
            self.expect_canary(pillar, true)?;
        }
        Ok(())
    }
}
