//! `dashboards.have_data`: every panel of every dashboard Grafana serves
//! shows data once the run has sent traffic — its queries run as the panel
//! runs them, through Grafana's own query API (`/api/ds/query`) with its
//! datasource and the dashboard's variables at the values it opens with.
//!
//! A panel that stays empty fails; when its PromQL names a metric the
//! datasource does not have (a `_total` or unit suffix written for another
//! pipeline), the outcome names it and the names that do exist. A query
//! the datasource rejects is the dashboard's bug and fails too. Panels the
//! target lists in `dashboards.expected_empty` are listed, not judged.
//!
//! Uses: check, dashboard, correlation::session (traffic), query::{grafana,
//! mimir, lang::configured}, measure, target.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::check::reason::{Shared, reasons};
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Verdict};
use crate::clock::unix_now;
use crate::correlation::session;
use crate::dashboard::{Dashboard, Panel};
use crate::http::HttpError;
use crate::measure::ingest_clock::{PollPlan, Reads, watch};
use crate::query::grafana::{Datasource, GrafanaClient};
use crate::query::lang::configured::Configured;
use crate::query::mimir::MimirClient;
use crate::target::PanelRef;

pub(crate) const ID: &str = "dashboards.have_data";

reasons! {
    /// Why the check did not pass, beside the shared reasons; reads that
    /// failed are `read_failed` or `unreachable`.
    pub enum Reason {
        NoDashboards,
        NoData,
        UnknownMetric,
        QueryRejected,
        NoDatasource,
    }
}

/// Sessions for traffic, the dashboard list, datasources and models, a
/// poll through `max_wait`, then the metric names per datasource.
pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    session::drive_budget(settings)
        .then(Budget::requests(3 + 8))
        .then(Budget {
            max_waits: 1,
            ..Budget::requests(4)
        })
}

/// What a panel showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Shown {
    Data,
    Empty,
    ExpectedEmpty,
    /// A query refers to a variable with no value to open with (one
    /// Grafana fills in by running its own query): not judged.
    Unresolved,
    Rejected,
    NoDatasource,
    Undecided,
}

#[derive(Debug, Clone, Serialize)]
struct PanelEvidence {
    dashboard: String,
    dashboard_uid: String,
    panel: String,
    panel_id: Option<u64>,
    shown: Shown,
    /// `uid (type)` per query.
    datasources: Vec<String>,
    queries: Vec<String>,
    rows: usize,
    error: Option<String>,
    /// Metrics its PromQL names that the datasource does not have.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    missing_metrics: Vec<String>,
    /// Names the datasource has that look like them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    names_that_exist: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
struct Evidence {
    grafana: String,
    dashboards: usize,
    traffic: String,
    panels: Vec<PanelEvidence>,
    last_error: Option<String>,
}

/// A panel to judge and where its queries run.
struct Watch {
    evidence: PanelEvidence,
    queries: Vec<serde_json::Value>,
    promql: Vec<(String, String)>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let Some(grafana) = ctx.target.grafana.as_ref() else {
        return Outcome::not_configured(
            "the target names no Grafana (`read.grafana`): the panels' queries run through its query API",
        );
    };
    let client = GrafanaClient::new(ctx.http.clone(), grafana, ctx.target.limits.request_timeout);
    let mut evidence = Evidence {
        grafana: client.url().to_string(),
        ..Evidence::default()
    };
    // Traffic first, so the panels have this run's requests to show.
    evidence.traffic = match session::drive(ctx, ID).await {
        Ok((_, driven)) => format!("{} frontend sessions and backend calls", driven.len()),
        Err(outcome) if ctx.target.app.is_none() => {
            format!("none: {}", outcome.summary)
        }
        Err(outcome) => return outcome,
    };
    let read_error = |e: HttpError, what: &str, evidence: Evidence| {
        Outcome::new(
            Verdict::error(Shared::of(&e)),
            format!("could not read {what} from Grafana: {e}"),
        )
        .with_evidence(evidence)
    };
    let hits = match client.dashboards().await {
        Ok(hits) => hits,
        Err(e) => return read_error(e, "the dashboard list", evidence),
    };
    let datasources = match client.datasources().await {
        Ok(d) => d,
        Err(e) => return read_error(e, "the datasources", evidence),
    };
    evidence.dashboards = hits.len();
    if hits.is_empty() {
        let summary = format!("Grafana at {} serves no dashboards", client.url());
        return Outcome::new(Verdict::fail(Reason::NoDashboards), summary).with_evidence(evidence);
    }
    let mut dashboards = Vec::new();
    for hit in &hits {
        match client.dashboard(&hit.uid).await {
            Ok(model) => dashboards.push(Dashboard::from_model(&model, &datasources)),
            Err(e) => return read_error(e, &format!("dashboard {:?} ({})", hit.title, hit.uid), evidence),
        }
    }
    let expected_empty = &ctx.target.dashboards.expected_empty;
    let watches: Vec<Watch> = dashboards
        .iter()
        .flat_map(|d| d.panels.iter().map(move |p| (d, p)))
        .filter_map(|(d, p)| watch_of(d, p, &datasources, expected_empty))
        .collect();

    let now_ms = unix_now().as_millis() as u64;
    let range = (now_ms.saturating_sub(3_600_000), now_ms + 60_000);
    let watches = Mutex::new(watches);
    let pending: Vec<(usize, Instant)> = {
        let w = watches.lock().expect("not poisoned");
        let now = Instant::now();
        (0..w.len())
            .filter(|i| w[*i].evidence.shown == Shown::Undecided)
            .map(|i| (i, now))
            .collect()
    };
    let limits = &ctx.target.limits;
    let plan = PollPlan::new(Duration::ZERO, limits.wait, limits.max_wait);
    let (client_ref, watches_ref) = (&client, &watches);
    let watched = watch(&plan, pending, move |_, asked: Vec<usize>| async move {
        let mut results = Vec::with_capacity(asked.len());
        for i in asked {
            let queries = watches_ref.lock().expect("not poisoned")[i].queries.clone();
            let answer = client_ref.ds_query(queries, range).await;
            let mut all = watches_ref.lock().expect("not poisoned");
            let panel = &mut all[i].evidence;
            match answer {
                Err(e) => results.push((i, Err(e))),
                Ok(by_ref) => {
                    // The datasource refused the query (400, 422): the
                    // panel's bug. Any other failure says nothing of it.
                    let refused = |r: &&crate::query::grafana::DsResult| matches!(r.status, Some(400 | 422));
                    let rejected: Vec<String> = by_ref
                        .iter()
                        .filter(|(_, r)| refused(r))
                        .filter_map(|(ref_id, r)| Some(format!("{ref_id}: {}", r.error.as_ref()?)))
                        .collect();
                    if let Some((ref_id, failed)) = by_ref.iter().find(|(_, r)| r.error.is_some() && !refused(r)) {
                        let detail = format!("{ref_id}: {}", failed.error.as_deref().unwrap_or_default());
                        let status = failed.status.unwrap_or(500);
                        results.push((
                            i,
                            Err(HttpError::status(
                                "Grafana",
                                client_ref.url(),
                                status,
                                detail.as_bytes(),
                            )),
                        ));
                        continue;
                    }
                    panel.rows = by_ref
                        .values()
                        .flat_map(|r| &r.frames)
                        .filter(|f| !f.is_exemplar())
                        .map(|f| f.rows())
                        .sum();
                    // A rejected query will not be accepted later: decided.
                    if !rejected.is_empty() {
                        panel.shown = Shown::Rejected;
                        panel.error = Some(rejected.join("; "));
                        results.push((i, Ok(true)));
                    } else if panel.rows > 0 {
                        panel.shown = Shown::Data;
                        results.push((i, Ok(true)));
                    } else {
                        panel.shown = Shown::Empty;
                        results.push((i, Ok(false)));
                    }
                }
            }
        }
        Reads::of(results)
    })
    .await;
    let mut watches = watches.into_inner().unwrap_or_default();
    for i in &watched.undecided {
        watches[*i].evidence.shown = Shown::Undecided;
    }
    evidence.last_error = watched.last_error.as_ref().map(|e| e.to_string());

    // Empty panels on PromQL: which of their metrics exist.
    let mut names_of: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
    for w in watches.iter_mut().filter(|w| w.evidence.shown == Shown::Empty) {
        for (uid, expr) in &w.promql {
            if !names_of.contains_key(uid) {
                let names = MimirClient::over(client.proxy(uid)).metric_names().await.ok();
                names_of.insert(uid.clone(), names);
            }
            let Some(Some(names)) = names_of.get(uid) else { continue };
            let Ok(parsed) = Configured::parse(&for_parsing(expr)) else {
                continue;
            };
            for metric in parsed.metrics().iter().filter(|m| !names.contains(*m)) {
                w.evidence.missing_metrics.push(metric.clone());
                w.evidence.names_that_exist.extend(similar(metric, names));
            }
        }
        w.evidence.names_that_exist.sort();
        w.evidence.names_that_exist.dedup();
    }
    evidence.panels = watches.into_iter().map(|w| w.evidence).collect();
    judge(evidence, &watched)
}

/// The panel's watch: its queries as `/api/ds/query` takes them, or its
/// state already decided (expected empty, no datasource).
fn watch_of(d: &Dashboard, p: &Panel, datasources: &[Datasource], expected_empty: &[PanelRef]) -> Option<Watch> {
    let mut evidence = PanelEvidence {
        dashboard: d.title.clone(),
        dashboard_uid: d.uid.clone(),
        panel: p.title.clone(),
        panel_id: p.id,
        shown: Shown::Undecided,
        datasources: Vec::new(),
        queries: Vec::new(),
        rows: 0,
        error: None,
        missing_metrics: Vec::new(),
        names_that_exist: Vec::new(),
    };
    let mut queries = Vec::new();
    let mut promql = Vec::new();
    let mut unknown = Vec::new();
    let mut unresolved = None;
    for q in &p.queries {
        if q.datasource == crate::dashboard::DsRef::BuiltIn {
            continue;
        }
        let Some(ds) = q.resolve(datasources) else {
            unknown.push(format!("{:?}", q.datasource));
            continue;
        };
        let mut model = q.model.clone();
        model["datasource"] = serde_json::json!({ "type": ds.kind, "uid": ds.uid });
        if model.get("intervalMs").is_none() {
            model["intervalMs"] = 15_000.into();
        }
        if model.get("maxDataPoints").is_none() {
            model["maxDataPoints"] = 500.into();
        }
        let text = q.text().unwrap_or_default().to_owned();
        unresolved = unresolved.or_else(|| d.variables.unresolved_in(&text).map(str::to_owned));
        if ds.kind == "prometheus" && !text.is_empty() {
            promql.push((ds.uid.clone(), text.clone()));
        }
        evidence.datasources.push(format!("{} ({})", ds.uid, ds.kind));
        evidence.queries.push(text);
        queries.push(model);
    }
    let listed = expected_empty
        .iter()
        .any(|r| r.dashboard == d.title && r.panel == p.title);
    if listed {
        evidence.shown = Shown::ExpectedEmpty;
    } else if let Some(name) = unresolved {
        evidence.shown = Shown::Unresolved;
        evidence.error = Some(format!(
            "the query uses ${name}, a variable with no saved value or option; save a default in the dashboard to have it judged"
        ));
    } else if !unknown.is_empty() {
        evidence.shown = Shown::NoDatasource;
        evidence.error = Some(format!("no datasource {} in Grafana", unknown.join(", ")));
    } else if queries.is_empty() {
        // Only Grafana's own queries (annotations): nothing of the stack's.
        return None;
    }
    Some(Watch {
        evidence,
        queries,
        promql,
    })
}

fn judge(evidence: Evidence, watched: &crate::measure::ingest_clock::Watched<usize>) -> Outcome {
    let failing: Vec<&PanelEvidence> = evidence
        .panels
        .iter()
        .filter(|p| matches!(p.shown, Shown::Empty | Shown::Rejected | Shown::NoDatasource))
        .collect();
    let name = |p: &PanelEvidence| format!("{} / {}", p.dashboard, p.panel);
    if !failing.is_empty() {
        let reason = if failing.iter().any(|p| !p.missing_metrics.is_empty()) {
            Reason::UnknownMetric
        } else if failing.iter().any(|p| p.shown == Shown::NoDatasource) {
            Reason::NoDatasource
        } else if failing.iter().any(|p| p.shown == Shown::Rejected) {
            Reason::QueryRejected
        } else {
            Reason::NoData
        };
        let mut details: Vec<String> = failing
            .iter()
            .take(3)
            .map(|p| match p.shown {
                Shown::Rejected => format!("{} (query rejected: {})", name(p), p.error.as_deref().unwrap_or("?")),
                Shown::NoDatasource => format!("{} ({})", name(p), p.error.as_deref().unwrap_or("?")),
                _ if !p.missing_metrics.is_empty() => format!(
                    "{} names {}, which the datasource does not have{}",
                    name(p),
                    quoted(&p.missing_metrics),
                    if p.names_that_exist.is_empty() {
                        String::new()
                    } else {
                        format!(" (it has {})", quoted(&p.names_that_exist))
                    }
                ),
                _ => name(p),
            })
            .collect();
        if failing.len() > 3 {
            details.push(format!("{} more", failing.len() - 3));
        }
        let summary = format!(
            "{} of {} panels show no data: {}",
            failing.len(),
            evidence.panels.len(),
            details.join("; ")
        );
        return Outcome::new(Verdict::fail(reason), summary).with_evidence(evidence);
    }
    if let Some(p) = evidence.panels.iter().find(|p| p.shown == Shown::Undecided) {
        let why = watched
            .last_error
            .as_ref()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "no query finished before the deadline".into());
        let reason = watched
            .last_error
            .as_ref()
            .map(Shared::of)
            .unwrap_or(Shared::ReadFailed);
        let undecided = evidence.panels.iter().filter(|p| p.shown == Shown::Undecided).count();
        let summary = format!(
            "could not run the queries of {undecided} panel(s) (first {}), so whether they show data is undecided: {why}",
            name(p)
        );
        return Outcome::new(Verdict::error(reason), summary).with_evidence(evidence);
    }
    let count = |shown: Shown| evidence.panels.iter().filter(|p| p.shown == shown).count();
    let (shown, expected, unresolved) = (
        count(Shown::Data),
        count(Shown::ExpectedEmpty),
        count(Shown::Unresolved),
    );
    let mut aside = Vec::new();
    if expected > 0 {
        aside.push(format!("{expected} expected empty, listed"));
    }
    if unresolved > 0 {
        aside.push(format!("{unresolved} not judged: a variable without a default"));
    }
    let summary = format!(
        "{shown} panels on {} dashboards show data{}",
        evidence.dashboards,
        if aside.is_empty() {
            String::new()
        } else {
            format!(" ({})", aside.join("; "))
        }
    );
    Outcome::new(Verdict::Pass, summary).with_evidence(evidence)
}

/// Grafana's own variables as a duration, so the expression parses.
fn for_parsing(expr: &str) -> String {
    [
        "$__rate_interval",
        "$__interval",
        "$__range",
        "$__auto",
        "${__rate_interval}",
        "${__interval}",
        "${__range}",
    ]
    .iter()
    .fold(expr.to_owned(), |e, v| e.replace(v, "5m"))
}

/// Names that look like `metric`: it with a suffix more or less
/// (`_total`, `_seconds`, `_bucket`…), or the same stem.
fn similar(metric: &str, names: &BTreeSet<String>) -> Vec<String> {
    const SUFFIXES: [&str; 8] = [
        "_total",
        "_bucket",
        "_count",
        "_sum",
        "_seconds",
        "_bytes",
        "_milliseconds",
        "_ratio",
    ];
    let stem = |n: &str| {
        let mut n = n.to_owned();
        while let Some(s) = SUFFIXES.iter().find(|s| n.ends_with(*s)) {
            n.truncate(n.len() - s.len());
        }
        n
    };
    let want = stem(metric);
    names
        .iter()
        .filter(|n| stem(n) == want || (want.len() >= 6 && n.starts_with(&want)))
        .take(5)
        .cloned()
        .collect()
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panel_on_a_variable_without_a_value_is_not_judged() {
        let datasources: Vec<Datasource> = serde_json::from_value(serde_json::json!([
            { "name": "Mimir", "type": "prometheus", "uid": "mimir", "isDefault": true }
        ]))
        .unwrap();
        let model = serde_json::json!({
            "uid": "d", "title": "D",
            "templating": { "list": [{ "name": "path", "type": "query", "query": "label_values(path)" }] },
            "panels": [
                { "id": 1, "type": "timeseries", "title": "by path", "targets": [{ "expr": "up{path=\"$path\"}" }] },
                { "id": 2, "type": "timeseries", "title": "all", "targets": [{ "expr": "up" }] },
            ]
        });
        let d = Dashboard::from_model(&model, &datasources);
        let by_path = watch_of(&d, &d.panels[0], &datasources, &[]).unwrap();
        assert_eq!(by_path.evidence.shown, Shown::Unresolved);
        assert!(by_path.evidence.error.as_deref().unwrap().contains("$path"));
        let all = watch_of(&d, &d.panels[1], &datasources, &[]).unwrap();
        assert_eq!(all.evidence.shown, Shown::Undecided, "polled");
    }

    #[test]
    fn similar_names_share_a_stem() {
        let names: BTreeSet<String> = ["http_requests_total", "http_request_duration_seconds_bucket", "up"]
            .map(str::to_owned)
            .into();
        assert_eq!(similar("http_requests", &names), ["http_requests_total"]);
        // Without its unit suffix: the name with it is what to write.
        assert_eq!(
            similar("http_request_duration_bucket", &names),
            ["http_request_duration_seconds_bucket"]
        );
        assert_eq!(
            similar("http_request_duration_seconds", &names),
            ["http_request_duration_seconds_bucket"]
        );
        assert_eq!(for_parsing("rate(x[$__rate_interval])"), "rate(x[5m])");
    }
}
