//! `datasources.healthy`: Grafana is healthy, every datasource it serves for
//! a store passes its health check, **and** answers one real query through
//! the datasource proxy. A datasource that is healthy but cannot be queried
//! fails, and the outcome names it.
//!
//! Tempo has no backend health check in Grafana 11.4; its proxied
//! `/api/echo` stands in (`shared/reference/api/02-grafana-http-api.md` §2.3).
//!
//! This check judges the serving status of those endpoints itself, so a
//! 5xx from a health check or a proxied query is the stack's failure
//! (`unhealthy`, `unqueryable`). Anything else that keeps pillars from
//! reading an answer — a 4xx (a query the store rejects is pillars' own
//! bug), a 429, a redirect, an HTML page, a body that does not decode — is
//! `error` (`read_failed`), never a verdict on the stack.
//!
//! Uses: check, query::{grafana, http, lang}, target.

use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use crate::check::reason::{Shared, reasons};
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Verdict};
use crate::http::{HttpError, ReadClient};
use crate::query::grafana::{Datasource, GrafanaClient, HealthCheck};
use crate::query::lang::logql::{LogQuery, Selector};
use crate::query::lang::promql::Expr;
use crate::query::lang::traceql::SpansetFilter;
use crate::query::lang::{MatchOp, Matcher};
use crate::target::{ReadPath, Store};

reasons! {
    /// Why `datasources.healthy` did not pass, beside the shared
    /// `unreachable` and `read_failed`.
    pub enum Reason {
        GrafanaUnhealthy,
        Unauthorized,
        MissingDatasource,
        Unhealthy,
        Unqueryable,
    }
}

/// Grafana's health and its datasource list, then each datasource side by
/// side: its health check, Tempo's `/api/echo` in its stead, one query.
pub(crate) fn budget(_: &CheckSettings) -> Budget {
    Budget::requests(2 + 3)
}

#[derive(Debug, Serialize)]
struct Probe {
    ok: bool,
    /// When not ok: whether the store's side failed (5xx, an unhealthy
    /// answer), as opposed to pillars not being able to read the answer.
    stack_failed: bool,
    detail: String,
    latency_ms: u64,
}

#[derive(Debug, Serialize)]
struct DatasourceEvidence {
    uid: String,
    #[serde(rename = "type")]
    kind: String,
    health: Probe,
    /// What was queried through the proxy.
    query: String,
    query_result: Probe,
}

#[derive(Debug, Serialize, Default)]
struct Evidence {
    grafana: String,
    grafana_health: Option<serde_json::Value>,
    datasources: Vec<DatasourceEvidence>,
    missing: Vec<String>,
    error: Option<String>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let Some(grafana) = &ctx.target.grafana else {
        return Outcome::not_configured("the target names no Grafana");
    };
    let client = GrafanaClient::new(ctx.http.clone(), grafana, ctx.target.limits.request_timeout);
    let mut evidence = Evidence {
        grafana: client.url().to_string(),
        ..Evidence::default()
    };
    let fail =
        |evidence: Evidence, verdict: Verdict, summary: String| Outcome::new(verdict, summary).with_evidence(evidence);

    match client.health().await {
        Err(e) => {
            let verdict = grafana_verdict(&e);
            let summary = e.to_string();
            evidence.error = Some(summary.clone());
            return fail(evidence, verdict, summary);
        }
        Ok(health) => {
            let ok = health.get("database").and_then(|d| d.as_str()) == Some("ok");
            evidence.grafana_health = Some(health);
            if !ok {
                return fail(
                    evidence,
                    Verdict::fail(Reason::GrafanaUnhealthy),
                    "Grafana's /api/health does not report its database ok".into(),
                );
            }
        }
    }

    let listed = match client.datasources().await {
        Ok(list) => list,
        Err(e) => {
            let summary = format!("cannot list datasources: {e}");
            evidence.error = Some(e.to_string());
            return fail(evidence, grafana_verdict(&e), summary);
        }
    };

    // The datasources the target reads through must be there.
    evidence.missing = grafana
        .datasources
        .iter()
        .filter(|(store, uid)| {
            let proxied = matches!(
                ctx.target.read(**store).map(|r| &r.path),
                Some(ReadPath::GrafanaProxy { .. })
            );
            proxied && !listed.iter().any(|d| &d.uid == *uid)
        })
        .map(|(_, uid)| uid.clone())
        .collect();

    let checks = listed
        .iter()
        .filter_map(|ds| ds.store().map(|store| check_one(&client, ds, store)));
    evidence.datasources = futures::future::join_all(checks).await;

    let unhealthy: Vec<&str> = evidence
        .datasources
        .iter()
        .filter(|d| !d.health.ok && d.health.stack_failed)
        .map(|d| d.uid.as_str())
        .collect();
    let unqueryable: Vec<&str> = evidence
        .datasources
        .iter()
        .filter(|d| d.health.ok && !d.query_result.ok && d.query_result.stack_failed)
        .map(|d| d.uid.as_str())
        .collect();
    let unreadable: Vec<String> = evidence
        .datasources
        .iter()
        .flat_map(|d| [(&d.health, "health"), (&d.query_result, "query")].map(|(p, what)| (d, p, what)))
        .filter(|(_, p, _)| !p.ok && !p.stack_failed)
        .map(|(d, p, what)| format!("{} {what}: {}", d.uid, p.detail))
        .collect();
    let (verdict, summary) = if !evidence.missing.is_empty() {
        (
            Verdict::fail(Reason::MissingDatasource),
            format!("Grafana has no datasource with uid {}", evidence.missing.join(", ")),
        )
    } else if !unhealthy.is_empty() {
        (
            Verdict::fail(Reason::Unhealthy),
            format!("health check failed: {}", unhealthy.join(", ")),
        )
    } else if !unqueryable.is_empty() {
        (
            Verdict::fail(Reason::Unqueryable),
            format!("healthy but unqueryable: {}", unqueryable.join(", ")),
        )
    } else if !unreadable.is_empty() {
        (
            Verdict::error(Shared::ReadFailed),
            format!("could not read what Grafana answered: {}", unreadable.join("; ")),
        )
    } else {
        (
            Verdict::Pass,
            format!(
                "Grafana ok; {} datasource(s) healthy and queryable",
                evidence.datasources.len()
            ),
        )
    };
    Outcome::new(verdict, summary).with_evidence(evidence)
}

async fn check_one(client: &GrafanaClient, ds: &Datasource, store: Store) -> DatasourceEvidence {
    let proxy = client.proxy(&ds.uid);
    let started = Instant::now();
    let health = match client.datasource_health(&ds.uid).await {
        Ok(HealthCheck::Ok(h)) => Ok(h.message),
        Ok(HealthCheck::NotImplemented) if store == Store::Tempo => proxy
            .expect_ok("api/echo")
            .await
            .map(|()| "no backend health check in this Grafana; the proxied /api/echo answered".to_owned())
            .map_err(|e| (stack_failed(&e), e.to_string())),
        Ok(HealthCheck::NotImplemented) => Err((true, "the plugin has no health check".to_owned())),
        // Grafana's own verdict: a 400 with `status: ERROR`, or a 5xx.
        Ok(HealthCheck::Failed { status, health }) => Err((
            health.is_some() || status >= 500,
            format!(
                "{status}: {}",
                health.map(|h| h.message).unwrap_or_else(|| "no health answer".into())
            ),
        )),
        Err(e) => Err((stack_failed(&e), e.to_string())),
    };
    let health = probe(health, started);
    let started = Instant::now();
    let (query, result) = query_one(&proxy, store).await;
    DatasourceEvidence {
        uid: ds.uid.clone(),
        kind: ds.kind.clone(),
        health,
        query,
        query_result: probe(result.map_err(|e| (stack_failed(&e), e.to_string())), started),
    }
}

/// What a failed call to Grafana's own API says: a 5xx is Grafana
/// failing (`grafana_unhealthy`); refused credentials, no answer, or an
/// answer pillars cannot read are errors.
fn grafana_verdict(e: &HttpError) -> Verdict {
    match e.status_code() {
        Some(401 | 403) => Verdict::error(Reason::Unauthorized),
        Some(500..) => Verdict::fail(Reason::GrafanaUnhealthy),
        _ if e.is_unreachable() => Verdict::error(Shared::Unreachable),
        _ => Verdict::error(Shared::ReadFailed),
    }
}

/// A 5xx is the store's (or Grafana's proxy's) failure to serve; anything
/// else is pillars not managing to read the answer.
fn stack_failed(e: &HttpError) -> bool {
    e.status_code().is_some_and(|s| s >= 500)
}

fn probe(result: Result<String, (bool, String)>, started: Instant) -> Probe {
    let latency_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(detail) => Probe {
            ok: true,
            stack_failed: false,
            detail,
            latency_ms,
        },
        Err((stack_failed, detail)) => Probe {
            ok: false,
            stack_failed,
            detail,
            latency_ms,
        },
    }
}

/// One cheap but real query per store, through the proxy.
async fn query_one(proxy: &ReadClient, store: Store) -> (String, Result<String, HttpError>) {
    let now_ms = crate::clock::unix_now().as_millis() as i64;
    let what = proxy.what();
    match store {
        Store::Mimir => {
            let q = Expr::one_plus_one();
            let r = proxy.get("api/v1/query", &[("query", q.to_string())], &[]).await;
            (
                format!("GET api/v1/query?query={q}"),
                r.and_then(|a| a.json::<serde_json::Value>(what)).map(status_of),
            )
        }
        Store::Loki => {
            let q = any_stream();
            let params = [
                ("query", q.to_string()),
                ("limit", "1".into()),
                ("start", ((now_ms - 300_000) * 1_000_000).to_string()),
                ("end", (now_ms * 1_000_000).to_string()),
            ];
            let r = proxy.get("loki/api/v1/query_range", &params, &[]).await;
            (
                format!("GET loki/api/v1/query_range?query={q}"),
                r.and_then(|a| a.json::<serde_json::Value>(what)).map(status_of),
            )
        }
        Store::Tempo => {
            let q = SpansetFilter::all();
            let r = proxy
                .get("api/search", &[("q", q.to_string()), ("limit", "1".into())], &[])
                .await;
            (
                format!("GET api/search?q={q}"),
                r.and_then(|a| a.json::<serde_json::Value>(what)).map(|_| "ok".into()),
            )
        }
        Store::Pyroscope => {
            let body = json!({ "start": now_ms - 3_600_000, "end": now_ms });
            let r = proxy.post_json("querier.v1.QuerierService/ProfileTypes", &body).await;
            (
                "POST querier.v1.QuerierService/ProfileTypes".to_owned(),
                r.and_then(|a| a.json::<serde_json::Value>(what)).map(|_| "ok".into()),
            )
        }
    }
}

/// Every stream with a `service_name`, which Loki gives every stream.
pub fn any_stream() -> LogQuery {
    let matcher = Matcher::new("service_name", MatchOp::Re, ".+").expect("a valid label name");
    LogQuery::new(Selector::new(vec![matcher]).expect("`.+` does not match the empty string"))
}

fn status_of(v: serde_json::Value) -> String {
    v.get("status").and_then(|s| s.as_str()).unwrap_or("ok").to_owned()
}
