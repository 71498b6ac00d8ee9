//! `alerts.fire`: the alert rules a person relies on are there and would
//! fire. The ruler lists the expected groups; every rule is healthy, its
//! expression evaluates through the read path and names only metrics that
//! exist; then a burst of what a rule is about — 5xx answers from the
//! app's error path, slow answers from its slow path — drives that rule's
//! fast-burn expression over its threshold. Where the target allows the
//! wait (`limits.alert_wait`), the alert must also reach `firing` in the
//! ruler's alerts API. Its resolving is not awaited: a fast-burn alert
//! holds until the burst leaves its 5 m window, longer than a run waits.
//!
//! Uses: check, emit::app, query::{mimir, lang::configured}, target.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt as _;
use serde::Serialize;
use tokio::time::Instant;

use crate::check::reason::{Shared, reasons};
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Verdict};
use crate::clock::unix_now;
use crate::emit::app::AppClient;
use crate::http::HttpError;
use crate::query::lang::configured::Configured;
use crate::query::lang::promql::Expr;
use crate::query::mimir::{Rule, RuleGroup};
use crate::roundtrip::lookup::undecided_read;
use crate::wait::{Looked, read_until};

reasons! {
    /// Why the check did not pass, beside the shared reasons; reads that
    /// failed are `read_failed` or `unreachable`.
    pub enum Reason {
        GroupMissing,
        AlertMissing,
        RuleUnhealthy,
        ExpressionError,
        UnknownMetric,
        NotCrossed,
        NotFiring,
        /// The burst did not inject what its rule is about (the error path
        /// answered no 5xx, the slow path no 2xx): pillars' doing, an error.
        BurstIneffective,
    }
}

/// Requests in flight during a burst.
const BURST_CONCURRENCY: usize = 8;

/// The rules and names, one query per rule (a few dozen), two bursts
/// (their requests `BURST_CONCURRENCY` at a time) each polled through
/// `max_wait`, then an `alert_wait` per burst.
pub(crate) fn budget(_: &CheckSettings) -> Budget {
    Budget {
        max_waits: 2,
        alert_waits: 2,
        ..Budget::requests(2 + 24 + 2 * 500_u32.div_ceil(BURST_CONCURRENCY as u32))
    }
}

#[derive(Debug, Serialize)]
struct RuleEvidence {
    group: String,
    name: String,
    kind: String,
    expression: String,
    health: String,
    last_error: Option<String>,
    /// Series the expression returned now.
    series: Option<usize>,
    error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    missing_metrics: Vec<String>,
}

#[derive(Debug, Serialize)]
struct BurstEvidence {
    alert: String,
    path: String,
    requests: u32,
    /// Answers by HTTP status.
    answered: BTreeMap<u16, u32>,
    /// Calls that got no answer.
    unanswered: u32,
    crossed: bool,
    crossed_after_ms: Option<u64>,
    /// The expression's value once crossed.
    value: Option<f64>,
    firing: Option<bool>,
    fired_after_ms: Option<u64>,
}

#[derive(Debug, Default, Serialize)]
struct Evidence {
    ruler: String,
    groups_expected: Vec<String>,
    groups_loaded: Vec<String>,
    rules: Vec<RuleEvidence>,
    bursts: Vec<BurstEvidence>,
    alert_wait: Option<String>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let Some(mimir) = ctx.mimir() else {
        return Outcome::not_configured(
            "the target names no Mimir read endpoint (`read.mimir` or `read.grafana`) to read the ruler from",
        );
    };
    let alerts = &ctx.target.alerts;
    let mut evidence = Evidence {
        ruler: mimir.base().to_string(),
        groups_expected: alerts.groups.clone(),
        alert_wait: ctx
            .target
            .limits
            .alert_wait
            .map(|w| humantime::format_duration(w).to_string()),
        ..Evidence::default()
    };
    let read_error = |e: &HttpError, what: &str| {
        (
            Verdict::error(Shared::of(e)),
            format!("could not read {what} from {}: {e}", mimir.base()),
        )
    };
    let groups = match mimir.rules().await {
        Ok(groups) => groups,
        Err(e) => return outcome(read_error(&e, "the ruler's rules"), evidence),
    };
    evidence.groups_loaded = groups.iter().map(|g| g.name.clone()).collect();
    let missing: Vec<&String> = alerts
        .groups
        .iter()
        .filter(|want| !groups.iter().any(|g| g.name == **want))
        .collect();
    if !missing.is_empty() {
        let summary = format!(
            "the ruler has not loaded rule group(s) {} (it has {})",
            quoted(missing.iter().map(|s| s.as_str())),
            if groups.is_empty() {
                "none".to_owned()
            } else {
                quoted(evidence.groups_loaded.iter().map(String::as_str))
            }
        );
        return outcome((Verdict::fail(Reason::GroupMissing), summary), evidence);
    }
    let expected: Vec<(&RuleGroup, &Rule)> = groups
        .iter()
        .filter(|g| alerts.groups.contains(&g.name))
        .flat_map(|g| g.rules.iter().map(move |r| (g, r)))
        .collect();

    // Every rule: healthy, and its expression evaluates.
    let recorded: BTreeSet<&str> = expected
        .iter()
        .filter(|(_, r)| r.kind == "recording")
        .map(|(_, r)| r.name.as_str())
        .collect();
    let now = unix_now().as_secs_f64();
    let mut problem: Option<(Reason, String)> = None;
    for (group, rule) in &expected {
        let mut r = RuleEvidence {
            group: group.name.clone(),
            name: rule.name.clone(),
            kind: rule.kind.clone(),
            expression: rule.query.clone(),
            health: rule.health.clone(),
            last_error: rule.last_error.clone().filter(|e| !e.is_empty()),
            series: None,
            error: None,
            missing_metrics: Vec::new(),
        };
        let mut found = |reason: Reason, why: String| {
            problem.get_or_insert((reason, format!("rule {} ({}): {why}", rule.name, group.name)));
        };
        if rule.health == "err" {
            found(
                Reason::RuleUnhealthy,
                format!(
                    "the ruler reports it unhealthy: {}",
                    r.last_error.as_deref().unwrap_or("no error given")
                ),
            );
        }
        match Configured::parse(&rule.query) {
            Err(e) => {
                r.error = Some(e.clone());
                found(Reason::ExpressionError, format!("the expression does not parse: {e}"));
            }
            Ok(expr) => match mimir.query(&Expr::Configured(expr), now).await {
                Ok(samples) => r.series = Some(samples.len()),
                Err(e) if matches!(e.status_code(), Some(400 | 422)) => {
                    r.error = Some(e.to_string());
                    found(
                        Reason::ExpressionError,
                        format!("the expression does not evaluate: {e}"),
                    );
                }
                Err(e) => {
                    evidence.rules.push(r);
                    return outcome(read_error(&e, &format!("the value of rule {}", rule.name)), evidence);
                }
            },
        }
        evidence.rules.push(r);
    }
    if let Some((reason, summary)) = problem {
        return outcome((Verdict::fail(reason), summary), evidence);
    }

    // Bursts: each drives its rule's expression over the threshold. What
    // they find wrong is judged after the metric names: a rule on a metric
    // that does not exist cannot cross, and that is the finding.
    let mut burst_problem: Option<(Reason, String)> = None;
    if let Some(base) = ctx.target.app.clone() {
        let app = AppClient::new(ctx.http.clone(), base, ctx.target.limits.request_timeout);
        match bursts(ctx, &mimir, &app, &expected, &mut evidence).await {
            Ok(problem) => burst_problem = problem,
            Err(undecided) => return outcome(undecided, evidence),
        }
    }

    // Every metric a rule names exists, now that the bursts wrote theirs
    // (a counter of errors exists only once an error happened).
    let names = match mimir.metric_names().await {
        Ok(names) => names,
        Err(e) => return outcome(read_error(&e, "the metric names"), evidence),
    };
    let mut unknown: Option<String> = None;
    for (r, (_, rule)) in evidence.rules.iter_mut().zip(&expected) {
        let Ok(expr) = Configured::parse(&rule.query) else {
            continue;
        };
        r.missing_metrics = expr
            .metrics()
            .iter()
            .filter(|m| !names.contains(*m) && !recorded.contains(m.as_str()))
            .cloned()
            .collect();
        if !r.missing_metrics.is_empty() && unknown.is_none() {
            unknown = Some(format!(
                "rule {} ({}): it names {}, which the stack does not write",
                r.name,
                r.group,
                quoted(r.missing_metrics.iter().map(String::as_str))
            ));
        }
    }
    if let Some(summary) = unknown {
        return outcome((Verdict::fail(Reason::UnknownMetric), summary), evidence);
    }
    if let Some((reason, summary)) = burst_problem {
        return outcome((Verdict::fail(reason), summary), evidence);
    }
    if ctx.target.app.is_none() {
        let summary = format!(
            "{} rules loaded, healthy and on existing metrics; no app base URL (`app.base_url`) to send the bursts through",
            evidence.rules.len()
        );
        return outcome((Verdict::Pass, summary), evidence);
    }
    let fired = if ctx.target.limits.alert_wait.is_some() {
        "and fire"
    } else {
        "(the target sets no `limits.alert_wait` to wait for them to fire)"
    };
    let summary = format!(
        "{} rules in {} groups loaded and healthy; bursts of errors and slow requests drive {} and {} over their thresholds {fired}",
        evidence.rules.len(),
        alerts.groups.len(),
        alerts.error_alert,
        alerts.latency_alert
    );
    outcome((Verdict::Pass, summary), evidence)
}

/// The two bursts, one after another: `Ok(Some(..))` is what the stack did
/// wrong, `Err` a verdict of error (a read or the burst itself failed).
async fn bursts(
    ctx: &CheckCtx,
    mimir: &crate::query::mimir::MimirClient,
    app: &AppClient,
    expected: &[(&RuleGroup, &Rule)],
    evidence: &mut Evidence,
) -> Result<Option<(Reason, String)>, (Verdict, String)> {
    let alerts = &ctx.target.alerts;
    for (alert, path) in [
        (&alerts.error_alert, &alerts.error_path),
        (&alerts.latency_alert, &alerts.slow_path),
    ] {
        let Some((_, rule)) = expected.iter().find(|(_, r)| r.kind == "alerting" && r.name == *alert) else {
            let summary = format!(
                "no alerting rule {alert} in the expected groups ({}) to drive",
                quoted(alerts.groups.iter().map(String::as_str))
            );
            return Ok(Some((Reason::AlertMissing, summary)));
        };
        let mut burst = BurstEvidence {
            alert: alert.clone(),
            path: path.clone(),
            requests: alerts.burst_requests,
            answered: BTreeMap::new(),
            unanswered: 0,
            crossed: false,
            crossed_after_ms: None,
            value: None,
            firing: None,
            fired_after_ms: None,
        };
        let mut last_send_error = None;
        let answers: Vec<Result<u16, HttpError>> = futures::stream::iter(0..alerts.burst_requests)
            .map(|_| {
                let app = &app;
                async move { app.status_of(path).await.map(|a| a.status) }
            })
            .buffer_unordered(BURST_CONCURRENCY)
            .collect()
            .await;
        for answer in answers {
            match answer {
                Ok(status) => *burst.answered.entry(status).or_default() += 1,
                Err(e) => {
                    burst.unanswered += 1;
                    last_send_error = Some(e);
                }
            }
        }
        if burst.answered.is_empty() {
            let e = last_send_error.expect("every call failed");
            let summary = format!("the burst for {alert} reached no app at {}: {e}", app.url(path));
            evidence.bursts.push(burst);
            return Err((Verdict::error(Shared::of(&e)), summary));
        }
        // A burst that injected nothing says nothing about the rule.
        let injected = if path == &alerts.error_path {
            burst.answered.keys().any(|s| (500..600).contains(s))
        } else {
            burst.answered.keys().any(|s| (200..300).contains(s))
        };
        if !injected {
            let summary = format!(
                "the burst for {alert} injected nothing: {} answered {:?}; set `alerts.{}` to an app path that answers {}",
                app.url(path),
                burst.answered,
                if path == &alerts.error_path {
                    "error_path"
                } else {
                    "slow_path"
                },
                if path == &alerts.error_path {
                    "5xx"
                } else {
                    "2xx, slowly"
                }
            );
            evidence.bursts.push(burst);
            return Err((Verdict::error(Reason::BurstIneffective), summary));
        }
        let started = Instant::now();
        let expr = match Configured::parse(&rule.query) {
            Ok(expr) => Expr::Configured(expr),
            Err(e) => return Ok(Some((Reason::ExpressionError, e))),
        };
        let crossed = read_until(ctx.target.limits.max_wait, || async {
            let samples = mimir.query(&expr, unix_now().as_secs_f64()).await?;
            Ok(samples.first().map(|s| s.value))
        })
        .await;
        if let Some(undecided) = undecided_read(&crossed, &format!("the expression of {alert}")) {
            evidence.bursts.push(burst);
            return Err(undecided);
        }
        match crossed {
            Looked::Found(value) => {
                burst.crossed = true;
                burst.value = Some(value);
                burst.crossed_after_ms = Some(started.elapsed().as_millis() as u64);
            }
            _ => {
                let summary = format!(
                    "{alert}'s expression did not cross its threshold within {} of a burst of {} requests to {path} (answers {:?}): `{}`",
                    humantime::format_duration(ctx.target.limits.max_wait),
                    alerts.burst_requests,
                    burst.answered,
                    rule.query
                );
                evidence.bursts.push(burst);
                return Ok(Some((Reason::NotCrossed, summary)));
            }
        }
        if let Some(wait) = ctx.target.limits.alert_wait {
            let fired = read_until(wait, || async {
                let alerts = mimir.alerts().await?;
                let firing = alerts
                    .iter()
                    .any(|a| a.labels.get("alertname") == Some(alert) && a.state == "firing");
                Ok(firing.then_some(()))
            })
            .await;
            if let Some(undecided) = undecided_read(&fired, "the ruler's alerts") {
                evidence.bursts.push(burst);
                return Err(undecided);
            }
            match fired {
                Looked::Found(()) => {
                    burst.firing = Some(true);
                    burst.fired_after_ms = Some(started.elapsed().as_millis() as u64);
                }
                _ => {
                    burst.firing = Some(false);
                    let summary = format!(
                        "{alert}'s expression crossed its threshold, but the alert did not reach `firing` within {} (its `for`, the group's interval)",
                        humantime::format_duration(wait)
                    );
                    evidence.bursts.push(burst);
                    return Ok(Some((Reason::NotFiring, summary)));
                }
            }
        }
        evidence.bursts.push(burst);
    }
    Ok(None)
}

fn outcome((verdict, summary): (Verdict, String), evidence: Evidence) -> Outcome {
    Outcome::new(verdict, summary).with_evidence(evidence)
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
