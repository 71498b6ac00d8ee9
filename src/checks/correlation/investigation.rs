//! `correlation.investigation`: the path a person walks from an alert to
//! the cause, hop by hop with Grafana's own settings — the latency alert
//! rule, the dashboard panel its annotations point at, that panel's
//! exemplars (read through Grafana's query API, under the label the Mimir
//! datasource's `exemplarTraceIdDestinations` names), the trace in Tempo,
//! its logs (`tracesToLogsV2`) and its span profile (`tracesToProfiles`).
//! The evidence is the list of hops, each with its query and result, and
//! the trace drawn with what each hop found beside its span.
//!
//! Uses: check, correlation::{session, settings, links, waterfall},
//! dashboard, query::{grafana, mimir, tempo, loki, pyroscope}, wait.

use serde::Serialize;

use crate::check::reason::{Shared, reasons};
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Pillar, Verdict};
use crate::clock::unix_now;
use crate::correlation::links::{exemplar_destinations, loki_query, profile_query, traces_to_logs, traces_to_profiles};
use crate::correlation::session::{self, drive};
use crate::correlation::settings;
use crate::correlation::waterfall::Waterfall;
use crate::dashboard::Dashboard;
use crate::emit::pprof::PROFILE_TYPE;
use crate::http::HttpError;
use crate::ids::TraceId;
use crate::query::grafana::GrafanaClient;
use crate::query::tempo::ReadSpan;
use crate::roundtrip::lookup::undecided_read;
use crate::target::Store;
use crate::wait::{Looked, read_until};

pub(crate) const ID: &str = "correlation.investigation";

reasons! {
    /// The hop the walk stopped at, beside the shared reasons; reads that
    /// failed are `read_failed` or `unreachable`.
    pub enum Reason {
        NoAlert,
        NoPanel,
        NoDestination,
        NoExemplar,
        TraceMissing,
        NoLogs,
        NoProfile,
    }
}

/// Rules, settings, the dashboard and sessions; the exemplars polled
/// through `max_wait`; then a `wait` each for the trace, its logs and its
/// profile.
pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    Budget::requests(4).then(session::drive_budget(settings)).then(Budget {
        max_waits: 1,
        waits: 3,
        ..Budget::default()
    })
}

/// One step of the walk.
#[derive(Debug, Serialize)]
struct Hop {
    hop: &'static str,
    /// What was asked, as sent.
    query: String,
    result: String,
    ok: bool,
}

#[derive(Debug, Default, Serialize)]
struct Evidence {
    settings_from: String,
    hops: Vec<Hop>,
    waterfall: Option<Waterfall>,
}

impl Evidence {
    fn hop(&mut self, hop: &'static str, query: impl Into<String>, result: impl Into<String>, ok: bool) {
        self.hops.push(Hop {
            hop,
            query: query.into(),
            result: result.into(),
            ok,
        });
    }
}

fn stop(evidence: Evidence, reason: Reason, summary: String) -> Outcome {
    Outcome::new(Verdict::fail(reason), summary).with_evidence(evidence)
}

fn unread(evidence: Evidence, e: &HttpError, what: &str) -> Outcome {
    Outcome::new(Verdict::error(Shared::of(e)), format!("could not read {what}: {e}")).with_evidence(evidence)
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let clients = ctx
        .mimir()
        .zip(ctx.tempo())
        .zip(ctx.loki().zip(ctx.pyroscope()))
        .zip(ctx.target.grafana.as_ref());
    let ((((mimir, tempo), (loki, pyroscope)), grafana), correlations) = match settings::start(
        ctx,
        clients,
        "the walk needs Grafana (its dashboards and query API) and Mimir, Tempo, Loki and Pyroscope read endpoints",
    )
    .await
    {
        Ok(started) => started,
        Err(outcome) => return outcome,
    };
    let grafana_client = GrafanaClient::new(ctx.http.clone(), grafana, ctx.target.limits.request_timeout);
    let mut evidence = Evidence {
        settings_from: correlations.source.clone(),
        ..Evidence::default()
    };

    // 1. The latency alert and the panel its annotations name.
    let alert = &ctx.target.alerts.latency_alert;
    let groups = match mimir.rules().await {
        Ok(groups) => groups,
        Err(e) => return unread(evidence, &e, "the ruler's rules"),
    };
    let Some(rule) = groups.iter().flat_map(|g| &g.rules).find(|r| r.name == *alert) else {
        evidence.hop("alert", alert.as_str(), "the ruler has no such rule", false);
        return stop(
            evidence,
            Reason::NoAlert,
            format!("the ruler has no latency alert {alert} to start from"),
        );
    };
    let Some((uid, panel_id)) = panel_of(&rule.annotations) else {
        evidence.hop(
            "alert",
            &rule.query,
            "no dashboard_uid/panel_id or runbook_url with viewPanel",
            false,
        );
        let summary = format!(
            "alert {alert} points at no dashboard panel (annotations dashboard_uid and panel_id, or a runbook_url with viewPanel)"
        );
        return stop(evidence, Reason::NoAlert, summary);
    };
    evidence.hop(
        "alert",
        &rule.query,
        format!(
            "{alert} ({}) → dashboard {uid}, panel {panel_id}",
            rule.state.as_deref().unwrap_or("?")
        ),
        true,
    );
    let model = match grafana_client.dashboard(&uid).await {
        Ok(model) => model,
        Err(e) if e.status_code() == Some(404) => {
            evidence.hop("dashboard", format!("/api/dashboards/uid/{uid}"), "not found", false);
            return stop(
                evidence,
                Reason::NoPanel,
                format!("alert {alert} points at dashboard {uid}, which Grafana does not have"),
            );
        }
        Err(e) => return unread(evidence, &e, &format!("dashboard {uid}")),
    };
    let dashboard = Dashboard::from_model(&model, &correlations.datasources);
    let found = dashboard.panels.iter().find(|p| p.id == Some(panel_id)).and_then(|p| {
        p.queries.iter().find_map(|q| {
            let ds = q
                .resolve(&correlations.datasources)
                .filter(|d| d.kind == "prometheus")?;
            Some((p, q, ds.clone()))
        })
    });
    let Some((panel, query, mimir_ds)) = found else {
        evidence.hop(
            "dashboard",
            format!("/api/dashboards/uid/{uid}"),
            format!("no panel {panel_id} with a Prometheus query"),
            false,
        );
        let summary = format!(
            "dashboard {:?} has no panel {panel_id} with a Prometheus query for alert {alert}",
            dashboard.title
        );
        return stop(evidence, Reason::NoPanel, summary);
    };
    let panel_text = query.text().unwrap_or_default().to_owned();
    evidence.hop(
        "dashboard",
        &panel_text,
        format!("{} / {} on {}", dashboard.title, panel.title, mimir_ds.uid),
        true,
    );

    // 2. The panel's exemplars, for this run's requests.
    let tempo_uid = correlations
        .of(ctx, Store::Tempo)
        .map(|d| d.uid.clone())
        .unwrap_or_default();
    // Every destination pointing at Tempo links the exemplars carrying its label.
    let labels: Vec<String> = exemplar_destinations(&mimir_ds.json_data)
        .into_iter()
        .filter(|d| d.datasource_uid == tempo_uid)
        .map(|d| d.name)
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(&name) {
                names.push(name);
            }
            names
        });
    if labels.is_empty() {
        evidence.hop(
            "exemplar",
            &panel_text,
            format!(
                "datasource {} has no exemplarTraceIdDestinations entry for {tempo_uid}",
                mimir_ds.uid
            ),
            false,
        );
        let summary = format!("the panel's datasource {} links exemplars to no Tempo", mimir_ds.uid);
        return stop(evidence, Reason::NoDestination, summary);
    }
    let label = labels.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(" or ");
    let (_, driven) = match drive(ctx, ID).await {
        Ok(d) => d,
        Err(outcome) => return outcome,
    };
    let ours: Vec<String> = driven.iter().map(|d| d.session.trace_id.to_string()).collect();
    let mut exemplar_query = query.model.clone();
    exemplar_query["datasource"] = serde_json::json!({ "type": mimir_ds.kind, "uid": mimir_ds.uid });
    exemplar_query["exemplar"] = true.into();
    exemplar_query["range"] = true.into();
    exemplar_query["instant"] = false.into();
    let (queries, labels_ref) = (vec![exemplar_query], &labels);
    // This run's exemplar first; Grafana shows a sample of them (one a
    // step), so after `wait` any exemplar the panel shows is the one a
    // person clicks.
    let polling = tokio::time::Instant::now();
    let patience = ctx.target.limits.wait.min(ctx.target.limits.max_wait / 2);
    let looked = read_until(ctx.target.limits.max_wait, || {
        let queries = queries.clone();
        let (client, ours) = (&grafana_client, &ours);
        async move {
            let now = unix_now().as_millis() as u64;
            let results = client
                .ds_query(queries, (now.saturating_sub(900_000), now + 60_000))
                .await?;
            let ids: Vec<String> = results
                .values()
                .flat_map(|r| &r.frames)
                .filter(|f| f.is_exemplar())
                .flat_map(|f| labels_ref.iter().flat_map(|l| f.column(l)))
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect();
            let pick = ids
                .iter()
                .find(|id| ours.contains(id))
                .map(|id| (id.clone(), true))
                .or_else(|| (polling.elapsed() >= patience).then(|| ids.last().map(|id| (id.clone(), false)))?);
            Ok(pick.map(|(id, mine)| (id, mine, ids.len())))
        }
    })
    .await;
    if let Some((verdict, summary)) = undecided_read(&looked, "the panel's exemplars through Grafana") {
        return Outcome::new(verdict, summary).with_evidence(evidence);
    }
    let Looked::Found((trace_id, mine, seen)) = looked else {
        evidence.hop(
            "exemplar",
            &panel_text,
            format!("no exemplar under {label} of this run's {} requests", ours.len()),
            false,
        );
        let summary = format!(
            "panel {} / {} shows no exemplar under {label} for this run's requests within {}",
            dashboard.title,
            panel.title,
            humantime::format_duration(ctx.target.limits.max_wait)
        );
        return stop(evidence, Reason::NoExemplar, summary);
    };
    evidence.hop(
        "exemplar",
        &panel_text,
        format!(
            "{seen} exemplar(s); {label} = {trace_id}, {}",
            if mine {
                "one of this run's"
            } else {
                "the latest the panel shows"
            }
        ),
        true,
    );

    // 3. The trace, and the backend span a person clicks through from.
    let Ok(id) = trace_id.parse::<TraceId>() else {
        return stop(
            evidence,
            Reason::TraceMissing,
            format!("the exemplar's `{label}` {trace_id:?} is no trace id"),
        );
    };
    let trace = read_until(ctx.target.limits.wait, || async { tempo.trace_v1(id, None).await }).await;
    if let Some((verdict, summary)) = undecided_read(&trace, &format!("trace {trace_id} from Tempo")) {
        return Outcome::new(verdict, summary).with_evidence(evidence);
    }
    let Looked::Found(trace) = trace else {
        evidence.hop("trace", &trace_id, "Tempo does not have it", false);
        return stop(
            evidence,
            Reason::TraceMissing,
            format!("the exemplar's trace {trace_id} is not in Tempo"),
        );
    };
    // Spans of an earlier run with the same seed share this run's ids: a
    // trace of ours keeps only spans that started after its first call.
    let since = if mine {
        driven.iter().map(|d| d.started_unix_nanos).min().unwrap_or(0)
    } else {
        0
    };
    let spans: Vec<ReadSpan> = trace
        .spans
        .into_iter()
        .filter(|s| s.start_unix_nanos + session::CLOCK_SKEW_NANOS >= since)
        .collect();
    let backend = ctx.target.backend_service.as_str();
    let Some(span) = spans
        .iter()
        .find(|s| s.service_name.as_deref() == Some(backend) && s.kind == "SPAN_KIND_SERVER")
        .cloned()
    else {
        evidence.hop(
            "trace",
            &trace_id,
            format!("{} span(s), none a server span of {backend}", spans.len()),
            false,
        );
        return stop(
            evidence,
            Reason::TraceMissing,
            format!("trace {trace_id} has no server span of {backend}"),
        );
    };
    evidence.hop(
        "trace",
        &trace_id,
        format!("{} span(s); server span {} of {backend}", spans.len(), span.span_id),
        true,
    );
    let mut waterfall = Waterfall::of(id, &spans, Some(grafana)).found(
        span.span_id,
        Pillar::Metrics,
        format!("exemplar on {} / {}", dashboard.title, panel.title),
        Some((grafana, Store::Mimir, panel_text.as_str())),
    );

    // 4. Its logs, as the Tempo datasource links them.
    let tempo_json = correlations
        .of(ctx, Store::Tempo)
        .map(|d| d.json_data.clone())
        .unwrap_or_default();
    let Some(link) = traces_to_logs(&tempo_json).and_then(|cfg| loki_query(&span, &cfg).ok()) else {
        evidence.hop("logs", "", "the Tempo datasource has no working tracesToLogsV2", false);
        evidence.waterfall = Some(waterfall);
        return stop(
            evidence,
            Reason::NoLogs,
            "the Tempo datasource links the trace to no logs (tracesToLogsV2)".into(),
        );
    };
    let logql = link.logql.to_string();
    let lines = read_until(ctx.target.limits.wait, || async {
        let lines = loki.query_range(&link.logql, link.range_ns, 100).await?;
        Ok((!lines.is_empty()).then_some(lines))
    })
    .await;
    if let Some((verdict, summary)) = undecided_read(&lines, "the trace's logs from Loki") {
        evidence.waterfall = Some(waterfall);
        return Outcome::new(verdict, summary).with_evidence(evidence);
    }
    let Looked::Found(lines) = lines else {
        evidence.hop("logs", &logql, "no lines", false);
        evidence.waterfall = Some(waterfall);
        return stop(
            evidence,
            Reason::NoLogs,
            format!("the trace's logs link finds no lines: {logql}"),
        );
    };
    evidence.hop("logs", &logql, format!("{} line(s)", lines.len()), true);
    waterfall = waterfall.found(
        span.span_id,
        Pillar::Logs,
        format!("{} log line(s), first: {}", lines.len(), lines[0].line),
        Some((grafana, Store::Loki, logql.as_str())),
    );

    // 5. Its span profile, as the Tempo datasource links it.
    let Some((selector, profile_type, span_ids)) =
        traces_to_profiles(&tempo_json).and_then(|cfg| profile_query(&span, &cfg, PROFILE_TYPE).ok())
    else {
        evidence.hop(
            "profile",
            "",
            "the Tempo datasource has no working tracesToProfiles",
            false,
        );
        evidence.waterfall = Some(waterfall);
        return stop(
            evidence,
            Reason::NoProfile,
            "the Tempo datasource links the trace to no profile (tracesToProfiles)".into(),
        );
    };
    let start_ms = (span.start_unix_nanos / 1_000_000) as i64 - 60_000;
    let end_ms = (unix_now().as_millis() as i64).max((span.end_unix_nanos / 1_000_000) as i64) + 60_000;
    let profile_text = format!("{profile_type} {selector} span {}", span_ids.join(","));
    let graph = read_until(ctx.target.limits.wait, || async {
        let graph = pyroscope
            .span_flamegraph(&profile_type, &selector, &span_ids, (start_ms, end_ms))
            .await?;
        Ok((graph.total > 0).then_some(graph))
    })
    .await;
    if let Some((verdict, summary)) = undecided_read(&graph, "the span's profile from Pyroscope") {
        evidence.waterfall = Some(waterfall);
        return Outcome::new(verdict, summary).with_evidence(evidence);
    }
    let Looked::Found(graph) = graph else {
        evidence.hop("profile", &profile_text, "an empty flame graph", false);
        evidence.waterfall = Some(waterfall);
        return stop(
            evidence,
            Reason::NoProfile,
            format!("the trace's profile link shows an empty flame graph ({profile_text})"),
        );
    };
    evidence.hop("profile", &profile_text, format!("{} ns of samples", graph.total), true);
    evidence.waterfall = Some(waterfall.found(
        span.span_id,
        Pillar::Profiles,
        format!("{profile_type}: {:.1} ms of samples", graph.total as f64 / 1e6),
        Some((grafana, Store::Pyroscope, selector.to_string().as_str())),
    ));
    let summary = format!(
        "alert {alert} → {} / {} → exemplar → trace {trace_id} → {} log line(s) → a profile of {:.1} ms: every hop works",
        dashboard.title,
        panel.title,
        lines.len(),
        graph.total as f64 / 1e6
    );
    Outcome::new(Verdict::Pass, summary).with_evidence(evidence)
}

/// The dashboard uid and panel id an alert's annotations point at:
/// `dashboard_uid` and `panel_id`, else its `runbook_url`'s
/// `/d/<uid>/…?viewPanel=<id>`.
fn panel_of(annotations: &std::collections::BTreeMap<String, String>) -> Option<(String, u64)> {
    if let (Some(uid), Some(id)) = (annotations.get("dashboard_uid"), annotations.get("panel_id")) {
        return Some((uid.clone(), id.trim().parse().ok()?));
    }
    let url = annotations.get("runbook_url")?;
    let (path, query) = url.split_once('?')?;
    let uid = path.split("/d/").nth(1)?.split('/').next()?.to_owned();
    let id = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("viewPanel="))?
        .trim_start_matches("panel-")
        .parse()
        .ok()?;
    Some((uid, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panel_comes_from_annotations_or_the_runbook_url() {
        let of =
            |pairs: &[(&str, &str)]| panel_of(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        assert_eq!(
            of(&[("dashboard_uid", "red"), ("panel_id", "3")]),
            Some(("red".into(), 3))
        );
        assert_eq!(
            of(&[("runbook_url", "/grafana/d/durable-red/red?orgId=1&viewPanel=panel-3")]),
            Some(("durable-red".into(), 3))
        );
        assert_eq!(of(&[("runbook_url", "https://wiki/slo")]), None);
    }
}
