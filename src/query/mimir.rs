//! Reading metrics back from Mimir's Prometheus API, directly (the target's
//! `read.mimir` is the API base, e.g. `http://mimir:9009/prometheus`, as
//! Grafana's datasource URL is) or through Grafana's datasource proxy:
//! instant queries and exemplars (`shared/reference/api/04-mimir.md` §4.2).
//!
//! Uses: target, http.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::http::{HttpError, ReadClient};
use crate::query::lang::promql::{Expr, Selector};
use crate::target::ReadEndpoint;

const WHAT: &str = "Mimir";

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VectorSample {
    pub labels: BTreeMap<String, String>,
    pub ts_secs: f64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExemplarSeries {
    pub series_labels: BTreeMap<String, String>,
    pub exemplars: Vec<ReadExemplar>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReadExemplar {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub ts_secs: f64,
}

#[derive(Debug, Clone)]
pub struct MimirClient {
    read: ReadClient,
}

impl MimirClient {
    pub fn new(http: reqwest::Client, endpoint: &ReadEndpoint, timeout: Duration) -> Self {
        MimirClient {
            read: ReadClient::new(http, endpoint, timeout, WHAT),
        }
    }

    /// A client over a read path already built (a datasource's proxy).
    pub fn over(read: ReadClient) -> Self {
        MimirClient { read }
    }

    pub fn base(&self) -> &Url {
        self.read.base()
    }

    /// `GET /api/v1/query?query=…&time=…` (instant).
    pub async fn query(&self, promql: &Expr, time_secs: f64) -> Result<Vec<VectorSample>, HttpError> {
        let answer = self
            .read
            .get(
                "api/v1/query",
                &[("query", promql.to_string()), ("time", format!("{time_secs:.3}"))],
                &[],
            )
            .await?;
        let parsed: Envelope<VectorData> = answer.json(WHAT)?;
        if parsed.data.result_type != "vector" {
            return Err(HttpError::decode(
                WHAT,
                &answer.url,
                format!("expected a vector, got {:?}", parsed.data.result_type),
            ));
        }
        parsed
            .data
            .result
            .into_iter()
            .map(|r| {
                let (ts, value) = pair(&r.value).map_err(|e| HttpError::decode(WHAT, &answer.url, e))?;
                Ok(VectorSample {
                    labels: r.metric,
                    ts_secs: ts,
                    value,
                })
            })
            .collect()
    }

    /// `GET /api/v1/query_exemplars?query=…&start=…&end=…`.
    pub async fn query_exemplars(
        &self,
        selector: &Selector,
        (start, end): (f64, f64),
    ) -> Result<Vec<ExemplarSeries>, HttpError> {
        let answer = self
            .read
            .get(
                "api/v1/query_exemplars",
                &[
                    ("query", selector.to_string()),
                    ("start", format!("{start:.3}")),
                    ("end", format!("{end:.3}")),
                ],
                &[],
            )
            .await?;
        let parsed: Envelope<Vec<WireExemplarSeries>> = answer.json(WHAT)?;
        parsed
            .data
            .into_iter()
            .map(|s| {
                let exemplars = s
                    .exemplars
                    .into_iter()
                    .map(|e| {
                        Ok(ReadExemplar {
                            labels: e.labels,
                            value: number(&e.value)?,
                            ts_secs: number(&e.timestamp)?,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()
                    .map_err(|e| HttpError::decode(WHAT, &answer.url, e))?;
                Ok(ExemplarSeries {
                    series_labels: s.series_labels,
                    exemplars,
                })
            })
            .collect()
    }
}

/// A rule group as the ruler's Prometheus API lists it.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct RuleGroup {
    pub name: String,
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One alerting or recording rule and its last evaluation.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub name: String,
    pub query: String,
    /// `alerting` or `recording`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `ok`, `err` or `unknown`.
    #[serde(default)]
    pub health: String,
    #[serde(default)]
    pub last_error: Option<String>,
    /// Alerting rules: `inactive`, `pending` or `firing`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub alerts: Vec<ActiveAlert>,
}

/// A pending or firing alert.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveAlert {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub state: String,
    #[serde(default)]
    pub active_at: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Groups {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
struct Alerts {
    alerts: Vec<ActiveAlert>,
}

impl MimirClient {
    /// `GET /api/v1/rules`: every rule group the ruler evaluates.
    pub async fn rules(&self) -> Result<Vec<RuleGroup>, HttpError> {
        let answer = self.read.get("api/v1/rules", &[], &[]).await?;
        Ok(answer.json::<Envelope<Groups>>(WHAT)?.data.groups)
    }

    /// `GET /api/v1/alerts`: the alerts pending or firing now.
    pub async fn alerts(&self) -> Result<Vec<ActiveAlert>, HttpError> {
        let answer = self.read.get("api/v1/alerts", &[], &[]).await?;
        Ok(answer.json::<Envelope<Alerts>>(WHAT)?.data.alerts)
    }

    /// `GET /api/v1/label/__name__/values`: every metric name stored.
    pub async fn metric_names(&self) -> Result<std::collections::BTreeSet<String>, HttpError> {
        let answer = self.read.get("api/v1/label/__name__/values", &[], &[]).await?;
        Ok(answer.json::<Envelope<Vec<String>>>(WHAT)?.data.into_iter().collect())
    }
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VectorData {
    result_type: String,
    #[serde(default)]
    result: Vec<VectorResult>,
}

#[derive(Debug, Deserialize)]
struct VectorResult {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireExemplarSeries {
    #[serde(default)]
    series_labels: BTreeMap<String, String>,
    #[serde(default)]
    exemplars: Vec<WireExemplar>,
}

#[derive(Debug, Deserialize)]
struct WireExemplar {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    value: serde_json::Value,
    timestamp: serde_json::Value,
}

/// A Prometheus number: JSON numbers for times, strings for values.
fn number(v: &serde_json::Value) -> Result<f64, String> {
    match v {
        serde_json::Value::Number(n) => n.as_f64().ok_or_else(|| format!("bad number {n}")),
        serde_json::Value::String(s) => s.parse().map_err(|_| format!("bad number {s:?}")),
        other => Err(format!("expected a number, got {other}")),
    }
}

fn pair(v: &[serde_json::Value]) -> Result<(f64, f64), String> {
    match v {
        [ts, value] => Ok((number(ts)?, number(value)?)),
        other => Err(format!("expected [time, value], got {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_alerts_parse() {
        // Prometheus' rules API (web/api/v1/api.go), as Mimir's ruler serves it.
        let rules = r#"{"status":"success","data":{"groups":[{"name":"slo","file":"durable-code","interval":30,
          "rules":[{"state":"firing","name":"BackendAvailabilityFastBurn","query":"x > 0.072","duration":120,
            "labels":{"severity":"page"},"annotations":{"dashboard_uid":"durable-golden-signals"},
            "alerts":[{"labels":{"alertname":"BackendAvailabilityFastBurn"},"annotations":{},"state":"firing","activeAt":"2026-12-01T15:00:00Z","value":"1e+00"}],
            "health":"ok","lastError":"","type":"alerting","lastEvaluation":"2026-12-01T15:00:30Z","evaluationTime":0.001},
           {"name":"job:x:ratio_rate5m","query":"sum(rate(x[5m]))","labels":{},"health":"err","lastError":"bad","type":"recording"}]}]}}"#;
        let groups = serde_json::from_str::<Envelope<Groups>>(rules).unwrap().data.groups;
        assert_eq!(groups[0].rules[0].state.as_deref(), Some("firing"));
        assert_eq!(groups[0].rules[0].alerts[0].state, "firing");
        assert_eq!(groups[0].rules[1].kind, "recording");
        assert_eq!(groups[0].rules[1].last_error.as_deref(), Some("bad"));
        let alerts = r#"{"status":"success","data":{"alerts":[{"labels":{"alertname":"A"},"annotations":{},"state":"pending","activeAt":"2026-12-01T15:00:00Z","value":"0.5"}]}}"#;
        assert_eq!(
            serde_json::from_str::<Envelope<Alerts>>(alerts).unwrap().data.alerts[0].state,
            "pending"
        );
    }

    #[test]
    fn reference_shapes_parse() {
        // shared/reference/api/04-mimir.md §4.2.
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"cadvisor"},"value":[1735689600.123,"1"]}]}}"#;
        let parsed: Envelope<VectorData> = serde_json::from_str(vector).unwrap();
        assert_eq!(pair(&parsed.data.result[0].value).unwrap(), (1735689600.123, 1.0));
        let exemplars = r#"{"status":"success","data":[{"seriesLabels":{"__name__":"http_request_duration_seconds_bucket","le":"0.25"},
          "exemplars":[{"labels":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"},"value":"0.187","timestamp":1735689601.234}]}]}"#;
        let parsed: Envelope<Vec<WireExemplarSeries>> = serde_json::from_str(exemplars).unwrap();
        let e = &parsed.data[0].exemplars[0];
        assert_eq!(number(&e.value).unwrap(), 0.187);
        assert_eq!(e.labels["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
