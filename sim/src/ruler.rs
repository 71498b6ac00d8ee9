//! The reference stack's Mimir ruler: Prometheus-format rule groups
//! (`rulefmt`), each evaluated on its own timer with the PromQL evaluator
//! on the stored samples. Recording rules write their result back as
//! series; alerting rules keep their alerts' state as Prometheus 2.54's
//! `AlertingRule.Eval` does: a new result is `pending`, `firing` once it
//! has lasted the rule's `for`, and gone (`inactive`) once the expression
//! returns nothing for it. `ALERTS` and `ALERTS_FOR_STATE` are written as
//! the ruler writes them.
//!
//! Rules are loaded as Mimir's local rule store loads
//! `<directory>/<tenant>/<file>`: the namespace is the file's name
//! (`durable-code.yaml`). The faults `rule_group_missing` (a group is not
//! loaded) and `rule_metric_missing` (a group's expressions name
//! `http_request_total` for `http_requests_total`) are read at every
//! evaluation and listing, so a running stack can be broken.
//!
//! Upstream: Prometheus v2.54 `rules/{alerting,recording,group}.go`,
//! `model/rulefmt` (Apache-2.0).
//!
//! Uses: lang::promql, lang::promql_eval, metrics (through mimir's view),
//! state, faults.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::lang::promql::{self, Expr};
use crate::lang::promql_eval::{self, Labels, Value};
use crate::logs::unix_nanos;
use crate::state::SimState;

/// The rule file the deployment ships, as Mimir's ruler reads it from
/// `/etc/mimir/rules/anonymous/durable-code.yaml`.
pub const DEFAULT_RULES: &str = include_str!("../../compose/mimir/rules/anonymous/durable-code.yaml");

/// The namespace of [`DEFAULT_RULES`]: the local store names a namespace
/// after its file.
pub const DEFAULT_NAMESPACE: &str = "durable-code.yaml";

/// Where the deployment's Mimir reads rule files from, for its error texts.
pub const RULES_DIRECTORY: &str = "/etc/mimir/rules";

/// The tenant of a Mimir without multitenancy.
pub const TENANT: &str = "anonymous";

/// Mimir's `-ruler.evaluation-interval` default, for groups without one.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// How long a resolved alert is kept (not listed) before it is forgotten.
const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The group `rule_metric_missing` breaks when no group is named.
pub const TYPO_GROUP: &str = "durable-code-slo-recording";
/// The metric name `rule_metric_missing` misspells, and how.
const TYPO: (&str, &str) = ("http_requests_total", "http_request_total");

/// One rule file: its namespace and YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFile {
    pub namespace: String,
    pub yaml: String,
}

impl RuleFile {
    pub fn deployment() -> RuleFile {
        RuleFile {
            namespace: DEFAULT_NAMESPACE.into(),
            yaml: DEFAULT_RULES.into(),
        }
    }
}

/// How fast the ruler runs: the deployment's intervals and `for`s unless
/// a test asks for shorter ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleTiming {
    /// Replaces every group's evaluation interval.
    pub interval: Option<Duration>,
    /// Replaces every alerting rule's `for`.
    pub hold: Option<Duration>,
}

// ---------------------------------------------------------------------------
// rulefmt

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileYaml {
    groups: Vec<GroupYaml>,
}

/// `rulefmt.RuleGroup`, in its field order.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupYaml {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<u64>,
    rules: Vec<RuleYaml>,
}

impl GroupYaml {
    /// Replaces the rules' expressions, in rule order.
    pub(crate) fn set_exprs(&mut self, exprs: impl Iterator<Item = String>) {
        for (rule, expr) in self.rules.iter_mut().zip(exprs) {
            rule.expr = expr;
        }
    }
}

/// `rulefmt.RuleNode`, in its field order.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RuleYaml {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alert: Option<String>,
    expr: String,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    hold: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keep_firing_for: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: Labels,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: Labels,
}

fn duration(text: &Option<String>, what: &str) -> Result<Option<Duration>, String> {
    text.as_deref()
        .map(|t| {
            crate::go::model::parse_duration(t)
                .map(Duration::from_nanos)
                .map_err(|e| format!("{what}: {e}"))
        })
        .transpose()
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c == ':' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c == ':' || c.is_ascii_alphanumeric())
}

// ---------------------------------------------------------------------------
// Loaded rules and their state

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub state: AlertState,
    pub active_at_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    /// When the expression stopped returning a firing alert that
    /// `keep_firing_for` keeps.
    pub keep_firing_since_ms: Option<i64>,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Kind {
    Recording {
        record: String,
    },
    Alerting {
        alert: String,
        hold: Duration,
        keep_firing_for: Duration,
        annotations: Labels,
        /// Alerts by their label set, resolved ones kept a while.
        active: BTreeMap<Labels, Alert>,
    },
}

/// An expression as written and as parsed.
#[derive(Debug, Clone)]
pub struct Query {
    pub text: String,
    expr: Expr,
}

impl Query {
    fn parse(text: &str) -> Result<Query, String> {
        promql::parse(text)
            .map(|expr| Query {
                text: text.to_owned(),
                expr,
            })
            .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub query: Query,
    /// The expression with [`TYPO`], when it names the metric.
    typo: Option<Query>,
    pub labels: Labels,
    pub kind: Kind,
    pub health: Health,
    pub last_error: String,
    pub last_evaluation_ms: Option<i64>,
    pub evaluation_time: Duration,
}

impl Rule {
    pub fn name(&self) -> &str {
        match &self.kind {
            Kind::Recording { record } => record,
            Kind::Alerting { alert, .. } => alert,
        }
    }

    /// The query in force: misspelled under `rule_metric_missing`.
    pub fn query(&self, typo: bool) -> &Query {
        match (&self.typo, typo) {
            (Some(q), true) => q,
            _ => &self.query,
        }
    }

    /// The alerts the API lists: those not resolved.
    pub fn listed_alerts(&self) -> Vec<&Alert> {
        match &self.kind {
            Kind::Alerting { active, .. } => active.values().filter(|a| a.state != AlertState::Inactive).collect(),
            Kind::Recording { .. } => Vec::new(),
        }
    }

    /// An alerting rule's state: its most severe alert's.
    pub fn state(&self) -> AlertState {
        self.listed_alerts()
            .iter()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    pub namespace: String,
    pub name: String,
    pub interval: Duration,
    /// As the file wrote it, for the config API.
    pub source: GroupYaml,
    pub rules: Vec<Rule>,
    pub last_evaluation_ms: Option<i64>,
    pub evaluation_time: Duration,
}

/// Every loaded group, each behind its own lock so one group's
/// evaluation never waits for another's.
#[derive(Debug, Default)]
pub struct Ruler {
    groups: Vec<Arc<Mutex<Group>>>,
}

/// The faults that change what the ruler has loaded, read once per
/// evaluation or listing.
#[derive(Debug, Clone, Default)]
pub struct Breakage {
    pub missing_groups: Vec<String>,
    pub typo_group: Option<String>,
}

impl Breakage {
    pub fn of(state: &SimState) -> Breakage {
        let faults = state.faults();
        Breakage {
            missing_groups: faults.rule_group_missing,
            typo_group: faults.rule_metric_missing,
        }
    }

    fn hides(&self, group: &Group) -> bool {
        self.missing_groups.contains(&group.name)
    }

    fn misspells(&self, group: &Group) -> bool {
        self.typo_group.as_deref() == Some(group.name.as_str())
    }
}

/// A snapshot of a group as the API shows it under the faults in force.
#[derive(Debug, Clone)]
pub struct Shown {
    pub group: Group,
    pub typo: bool,
}

impl Ruler {
    /// Loads rule files as Prometheus' `rulefmt` validates them: groups
    /// named and unique per file, each rule exactly one of `record` or
    /// `alert`, a valid expression, `for` only on alerts.
    pub fn load(files: &[RuleFile], timing: RuleTiming) -> Result<Ruler, String> {
        let mut groups = Vec::new();
        for file in files {
            let parsed: FileYaml = serde_yaml::from_str(&file.yaml).map_err(|e| format!("{}: {e}", file.namespace))?;
            let mut seen = Vec::new();
            for g in parsed.groups {
                let at = |e: String| format!("{}: group {:?}: {e}", file.namespace, g.name);
                if g.name.is_empty() {
                    return Err(format!("{}: Groupname must not be empty", file.namespace));
                }
                if seen.contains(&g.name) {
                    return Err(format!("{}: {}: repeated in the same file", file.namespace, g.name));
                }
                seen.push(g.name.clone());
                let interval = timing
                    .interval
                    .or(duration(&g.interval, "interval").map_err(at)?)
                    .unwrap_or(DEFAULT_INTERVAL);
                if interval.is_zero() {
                    return Err(at("interval must be more than zero".into()));
                }
                let mut rules = Vec::with_capacity(g.rules.len());
                for (i, r) in g.rules.iter().enumerate() {
                    rules.push(load_rule(r, timing).map_err(|e| at(format!("rule {}: {e}", i + 1)))?);
                }
                groups.push(Arc::new(Mutex::new(Group {
                    namespace: file.namespace.clone(),
                    name: g.name.clone(),
                    interval,
                    source: g,
                    rules,
                    last_evaluation_ms: None,
                    evaluation_time: Duration::ZERO,
                })));
            }
        }
        Ok(Ruler { groups })
    }

    /// The groups the API lists, in namespace order (stable within one).
    pub fn shown(&self, breakage: &Breakage) -> Vec<Shown> {
        let mut out: Vec<Shown> = self
            .groups
            .iter()
            .filter_map(|g| {
                let g = g.lock().expect("rule group lock");
                (!breakage.hides(&g)).then(|| Shown {
                    typo: breakage.misspells(&g),
                    group: g.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.group.namespace.cmp(&b.group.namespace));
        out
    }

    /// Runs every group on its interval until `stopped` turns true.
    pub fn spawn(state: Arc<SimState>, stopped: &watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        state
            .ruler
            .groups
            .iter()
            .map(|group| {
                let group = group.clone();
                let state = state.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let interval = group.lock().expect("rule group lock").interval;
                    let mut ticks = tokio::time::interval(interval);
                    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tokio::select! {
                            _ = ticks.tick() => {}
                            _ = stopped.wait_for(|&stop| stop) => break,
                        }
                        let breakage = Breakage::of(&state);
                        let now = now_ms();
                        let mut g = group.lock().expect("rule group lock");
                        if !breakage.hides(&g) {
                            let typo = breakage.misspells(&g);
                            evaluate_group(&state, &mut g, now, typo);
                        }
                    }
                })
            })
            .collect()
    }

    /// Evaluates every shown group once at `time_ms` (tests).
    pub fn evaluate_all(&self, state: &SimState, time_ms: i64) {
        let breakage = Breakage::of(state);
        for group in &self.groups {
            let mut g = group.lock().expect("rule group lock");
            if !breakage.hides(&g) {
                let typo = breakage.misspells(&g);
                evaluate_group(state, &mut g, time_ms, typo);
            }
        }
    }
}

fn load_rule(r: &RuleYaml, timing: RuleTiming) -> Result<Rule, String> {
    let query = Query::parse(&r.expr).map_err(|e| format!("could not parse expression: {e}"))?;
    let typo = r
        .expr
        .contains(TYPO.0)
        .then(|| Query::parse(&r.expr.replace(TYPO.0, TYPO.1)))
        .transpose()?;
    let kind = match (&r.record, &r.alert) {
        (Some(record), None) => {
            if r.hold.is_some() {
                return Err("invalid field 'for' in recording rule".into());
            }
            if !r.annotations.is_empty() {
                return Err("invalid field 'annotations' in recording rule".into());
            }
            if !valid_metric_name(record) {
                return Err(format!("invalid recording rule name: {record}"));
            }
            Kind::Recording { record: record.clone() }
        }
        (None, Some(alert)) => Kind::Alerting {
            alert: alert.clone(),
            hold: timing.hold.or(duration(&r.hold, "for")?).unwrap_or(Duration::ZERO),
            keep_firing_for: duration(&r.keep_firing_for, "keep_firing_for")?.unwrap_or(Duration::ZERO),
            annotations: r.annotations.clone(),
            active: BTreeMap::new(),
        },
        (Some(_), Some(_)) => return Err("only one of 'record' and 'alert' must be set".into()),
        (None, None) => return Err("one of 'record' or 'alert' must be set".into()),
    };
    Ok(Rule {
        query,
        typo,
        labels: r.labels.clone(),
        kind,
        health: Health::Unknown,
        last_error: String::new(),
        last_evaluation_ms: None,
        evaluation_time: Duration::ZERO,
    })
}

pub fn now_ms() -> i64 {
    (unix_nanos() / 1_000_000) as i64
}

/// One evaluation of a group at `t`: its rules in order, so a recording
/// rule's output is there for the rules after it.
pub fn evaluate_group(state: &SimState, group: &mut Group, t: i64, typo: bool) {
    let started = std::time::Instant::now();
    for rule in &mut group.rules {
        let rule_started = std::time::Instant::now();
        let result = evaluate_rule(state, rule, t, typo);
        rule.evaluation_time = rule_started.elapsed();
        rule.last_evaluation_ms = Some(t);
        match result {
            Ok(()) => {
                rule.health = Health::Ok;
                rule.last_error.clear();
            }
            Err(e) => {
                rule.health = Health::Err;
                rule.last_error = e;
            }
        }
    }
    group.evaluation_time = started.elapsed();
    group.last_evaluation_ms = Some(t);
}

/// The query's result as a vector: a scalar is one element without
/// labels, as the ruler's `EngineQueryFunc` makes it.
fn query_vector(state: &SimState, query: &Query, t: i64) -> Result<Vec<promql_eval::Element>, String> {
    match promql_eval::instant(&query.expr, &crate::mimir::Visible { state }, t) {
        Ok(Value::Vector(v)) => Ok(v),
        Ok(Value::Scalar(value)) => Ok(vec![promql_eval::Element {
            labels: Labels::new(),
            value,
        }]),
        Ok(Value::String(_)) => Err("rule result is not a vector or scalar".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn evaluate_rule(state: &SimState, rule: &mut Rule, t: i64, typo: bool) -> Result<(), String> {
    let query = rule.query(typo).clone();
    let result = query_vector(state, &query, t);
    match &mut rule.kind {
        Kind::Recording { record } => {
            let mut out = Vec::new();
            for e in result? {
                let mut labels = e.labels;
                labels.insert("__name__".into(), record.clone());
                labels.extend(rule.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                out.push((labels, e.value));
            }
            let mut distinct: Vec<&Labels> = out.iter().map(|(l, _)| l).collect();
            distinct.sort();
            distinct.dedup();
            if distinct.len() != out.len() {
                return Err("vector contains metrics with the same labelset after applying rule labels".into());
            }
            for (labels, value) in out {
                state.metrics.put_own(labels, t, value);
            }
            Ok(())
        }
        Kind::Alerting {
            alert,
            hold,
            keep_firing_for,
            annotations,
            active,
        } => {
            // An evaluation error keeps the alerts as they were.
            let result = result?;
            let mut current: BTreeMap<Labels, (Labels, f64)> = BTreeMap::new();
            for e in result {
                let mut labels = e.labels;
                labels.remove("__name__");
                for (k, v) in &rule.labels {
                    labels.insert(k.clone(), expand(v, &labels, e.value));
                }
                labels.insert("alertname".into(), alert.clone());
                let expanded: Labels = annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), expand(v, &labels, e.value)))
                    .collect();
                if current.insert(labels, (expanded, e.value)).is_some() {
                    return Err("vector contains metrics with the same labelset after applying alert labels".into());
                }
            }
            let hold_ms = i64::try_from(hold.as_millis()).unwrap_or(i64::MAX);
            let keep_ms = i64::try_from(keep_firing_for.as_millis()).unwrap_or(i64::MAX);
            for (labels, (annotations, value)) in &current {
                match active.get_mut(labels) {
                    Some(a) if a.state != AlertState::Inactive => {
                        a.value = *value;
                        a.annotations = annotations.clone();
                    }
                    _ => {
                        active.insert(
                            labels.clone(),
                            Alert {
                                labels: labels.clone(),
                                annotations: annotations.clone(),
                                state: AlertState::Pending,
                                active_at_ms: t,
                                fired_at_ms: None,
                                resolved_at_ms: None,
                                keep_firing_since_ms: None,
                                value: *value,
                            },
                        );
                    }
                }
            }
            active.retain(|labels, a| {
                if current.contains_key(labels) {
                    a.keep_firing_since_ms = None;
                    if a.state == AlertState::Pending && t - a.active_at_ms >= hold_ms {
                        a.state = AlertState::Firing;
                        a.fired_at_ms = Some(t);
                    }
                    return true;
                }
                // keep_firing_for holds a firing alert after its series goes.
                if a.state == AlertState::Firing && keep_ms > 0 {
                    let since = *a.keep_firing_since_ms.get_or_insert(t);
                    if t - since < keep_ms {
                        return true;
                    }
                }
                if a.state == AlertState::Pending || a.resolved_at_ms.is_some_and(|r| t - r > RESOLVED_RETENTION_MS) {
                    return false;
                }
                if a.state != AlertState::Inactive {
                    a.state = AlertState::Inactive;
                    a.resolved_at_ms = Some(t);
                }
                true
            });
            for a in active.values().filter(|a| a.state != AlertState::Inactive) {
                let mut series = a.labels.clone();
                series.insert("__name__".into(), "ALERTS".into());
                series.insert("alertstate".into(), a.state.as_str().into());
                state.metrics.put_own(series, t, 1.0);
                let mut for_state = a.labels.clone();
                for_state.insert("__name__".into(), "ALERTS_FOR_STATE".into());
                state.metrics.put_own(for_state, t, a.active_at_ms as f64 / 1000.0);
            }
            Ok(())
        }
    }
}

/// The two template actions rule files use most, `{{ $value }}` and
/// `{{ $labels.<name> }}`; other text is kept as written.
fn expand(text: &str, labels: &Labels, value: f64) -> String {
    if !text.contains("{{") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else { break };
        out.push_str(&rest[..open]);
        let action = rest[open + 2..open + close].trim();
        match action {
            "$value" | ".Value" => out.push_str(&promql::format_value(value)),
            a if a.starts_with("$labels.") => {
                out.push_str(labels.get(&a["$labels.".len()..]).map(String::as_str).unwrap_or(""));
            }
            _ => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployment_rules_load() {
        let ruler = Ruler::load(&[RuleFile::deployment()], RuleTiming::default()).unwrap();
        let shown = ruler.shown(&Breakage::default());
        let names: Vec<&str> = shown.iter().map(|s| s.group.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "durable-code-slo-recording",
                "durable-code-slo-alerts",
                "durable-code-symptoms"
            ]
        );
        assert!(shown.iter().all(|s| s.group.interval == Duration::from_secs(30)));
        let recording = &shown[0].group.rules;
        assert_eq!(recording.len(), 8);
        assert!(
            recording
                .iter()
                .all(|r| r.typo.is_some() == r.query.text.contains("http_requests_total"))
        );
        assert!(recording[0].query(true).text.contains("http_request_total{"));
        let fast = Ruler::load(
            &[RuleFile::deployment()],
            RuleTiming {
                interval: Some(Duration::from_secs(1)),
                hold: Some(Duration::from_secs(2)),
            },
        )
        .unwrap();
        let shown = fast.shown(&Breakage::default());
        assert!(shown.iter().all(|s| s.group.interval == Duration::from_secs(1)));
        assert!(matches!(shown[1].group.rules[0].kind, Kind::Alerting { hold, .. } if hold == Duration::from_secs(2)));
    }

    #[test]
    fn bad_rule_files_are_refused() {
        let load = |yaml: &str| {
            Ruler::load(
                &[RuleFile {
                    namespace: "x.yaml".into(),
                    yaml: yaml.into(),
                }],
                RuleTiming::default(),
            )
            .map(|_| ())
        };
        assert!(load("groups: [{name: a, rules: [{record: 'a:b', expr: 'up'}]}]").is_ok());
        assert!(load("groups: [{name: a, rules: [{record: 'a b', expr: 'up'}]}]").is_err());
        assert!(load("groups: [{name: a, rules: [{record: x, alert: y, expr: 'up'}]}]").is_err());
        assert!(load("groups: [{name: a, rules: [{alert: y, expr: 'up{'}]}]").is_err());
        assert!(load("groups: [{name: a, rules: []}, {name: a, rules: []}]").is_err());
        assert!(load("groups: [{name: a, interval: 5x, rules: []}]").is_err());
        assert!(load("groups: [{name: a, rules: [{record: x, expr: up, for: 1m}]}]").is_err());
    }

    fn counters(state: &SimState, job: &str, metric: &str, code_label: &str, t0: i64) {
        for (code, per_step) in [("200", 10.0), ("500", 5.0)] {
            for i in 0..=4 {
                let labels = Labels::from([
                    ("__name__".to_owned(), metric.to_owned()),
                    ("job".to_owned(), job.to_owned()),
                    (code_label.to_owned(), code.to_owned()),
                ]);
                state
                    .metrics
                    .put_own(labels, t0 - 60_000 + i * 15_000, per_step * i as f64);
            }
        }
    }

    fn latest(state: &SimState, name: &str, t: i64) -> Vec<(Labels, f64)> {
        let m = [crate::lang::matcher::Matcher::equal("__name__", name)];
        state
            .metrics
            .select(&m, (t - 300_000, t), Duration::ZERO)
            .into_iter()
            .filter_map(|(l, p)| p.last().map(|(_, v)| (l, *v)))
            .collect()
    }

    const RULES: &str = r#"
groups:
  - name: g
    interval: 1s
    rules:
      - record: job:err:ratio
        expr: sum by (job) (rate(req_total{code="500"}[1m])) / sum by (job) (rate(req_total[1m]))
      - alert: HighErrors
        expr: job:err:ratio > 0.1
        for: 10s
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }} at {{ $value }}"}
"#;

    #[test]
    fn alerts_go_pending_then_firing_then_away() {
        let files = [RuleFile {
            namespace: "test.yaml".into(),
            yaml: RULES.into(),
        }];
        let state = SimState::default().with_ruler(Ruler::load(&files, RuleTiming::default()).unwrap());
        let t0 = 1_000_000_000;
        counters(&state, "a", "req_total", "code", t0);
        let alert = |state: &SimState| {
            let shown = state.ruler.shown(&Breakage::default());
            let rule = shown[0].group.rules[1].clone();
            (
                rule.state(),
                rule.listed_alerts().into_iter().cloned().collect::<Vec<_>>(),
                rule.health,
            )
        };
        state.ruler.evaluate_all(&state, t0);
        let recorded = latest(&state, "job:err:ratio", t0);
        assert_eq!(recorded.len(), 1);
        assert!((recorded[0].1 - 1.0 / 3.0).abs() < 1e-12, "{recorded:?}");
        let (rule_state, alerts, health) = alert(&state);
        assert_eq!((rule_state, health), (AlertState::Pending, Health::Ok));
        assert_eq!(alerts[0].active_at_ms, t0);
        assert_eq!(alerts[0].labels["alertname"], "HighErrors");
        assert_eq!(alerts[0].labels["severity"], "page");
        assert!(!alerts[0].labels.contains_key("__name__"));
        assert_eq!(alerts[0].annotations["summary"], "a at 0.3333333333333333");
        state.ruler.evaluate_all(&state, t0 + 5_000);
        assert_eq!(alert(&state).0, AlertState::Pending);
        state.ruler.evaluate_all(&state, t0 + 10_000);
        let (rule_state, alerts, _) = alert(&state);
        assert_eq!(rule_state, AlertState::Firing);
        assert_eq!(alerts[0].active_at_ms, t0);
        let series = latest(&state, "ALERTS", t0 + 10_000);
        assert!(
            series.iter().any(|(l, v)| l["alertstate"] == "firing" && *v == 1.0),
            "{series:?}"
        );
        // Six minutes on, no sample is in any window: the alert resolves.
        state.ruler.evaluate_all(&state, t0 + 360_000);
        let (rule_state, alerts, health) = alert(&state);
        assert_eq!(
            (rule_state, alerts.len(), health),
            (AlertState::Inactive, 0, Health::Ok)
        );
    }

    #[test]
    fn the_rule_faults_hide_a_group_and_misspell_a_metric() {
        let state =
            SimState::default().with_ruler(Ruler::load(&[RuleFile::deployment()], RuleTiming::default()).unwrap());
        let t0 = 1_000_000_000;
        counters(
            &state,
            "durable-code/durable-code-backend",
            "http_requests_total",
            "status_code",
            t0,
        );
        state.set_faults(crate::Faults::parse(["rule_metric_missing"]).unwrap());
        state.ruler.evaluate_all(&state, t0);
        // The misspelt expression is valid and empty: healthy, records nothing.
        assert!(latest(&state, "job:slo_errors_per_request:ratio_rate5m", t0).is_empty());
        let shown = state.ruler.shown(&Breakage::of(&state));
        assert!(shown[0].typo);
        assert!(shown[0].group.rules.iter().all(|r| r.health == Health::Ok));
        state.set_faults(crate::Faults::default());
        state.ruler.evaluate_all(&state, t0 + 1_000);
        let ratio = latest(&state, "job:slo_errors_per_request:ratio_rate5m", t0 + 1_000);
        assert_eq!(ratio.len(), 1, "{ratio:?}");
        assert!((ratio[0].1 - 1.0 / 3.0).abs() < 1e-9, "{ratio:?}");
        state.set_faults(crate::Faults::parse(["rule_group_missing=durable-code-slo-alerts"]).unwrap());
        let names: Vec<String> = state
            .ruler
            .shown(&Breakage::of(&state))
            .into_iter()
            .map(|s| s.group.name)
            .collect();
        assert_eq!(names, ["durable-code-slo-recording", "durable-code-symptoms"]);
    }

    #[test]
    fn templates_expand_value_and_labels() {
        let labels = Labels::from([("job".to_owned(), "api".to_owned())]);
        assert_eq!(expand("{{ $labels.job }} at {{ $value }}", &labels, 0.5), "api at 0.5");
        assert_eq!(expand("{{ humanize $value }}", &labels, 0.5), "{{ humanize $value }}");
        assert_eq!(expand("plain", &labels, 0.5), "plain");
    }
}
