//! Grafana: health, datasources and their health checks, the datasource
//! model as the HTTP API and provisioning files both spell it, and links
//! into Explore (`shared/reference/api/02-grafana-http-api.md`).
//!
//! Grafana is always called at its sub-path (`…/grafana/api/…`) and
//! redirects are never followed (§2.5).
//!
//! Uses: target, http.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::env::Env;
use crate::http::{HttpError, ReadClient};
use crate::target::{Grafana, ReadEndpoint, ReadPath, Store, join_path};

const WHAT: &str = "Grafana";

/// A datasource as `GET /api/datasources` lists it and a provisioning file
/// declares it. `jsonData` holds the correlation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Datasource {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub uid: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub access: String,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub json_data: serde_json::Value,
}

impl Datasource {
    /// The store this datasource reads, by its plugin type.
    pub fn store(&self) -> Option<Store> {
        match self.kind.as_str() {
            "prometheus" => Some(Store::Mimir),
            "loki" => Some(Store::Loki),
            "tempo" => Some(Store::Tempo),
            "grafana-pyroscope-datasource" => Some(Store::Pyroscope),
            _ => None,
        }
    }
}

/// A provisioning file: `apiVersion: 1`, `datasources: [...]`.
#[derive(Debug, Deserialize)]
struct Provisioning {
    #[serde(default)]
    datasources: Vec<Datasource>,
}

/// Reads the datasources of a Grafana provisioning file, in the format
/// Grafana reads from `provisioning/datasources/*.yaml`.
///
/// Grafana expands environment variables in every string of the file:
/// `$$` stands for a literal `$`, `$NAME` and `${NAME}` for the variable.
/// A variable `env` does not hold expands to nothing, as in Grafana.
pub fn parse_provisioning(yaml: &str, env: &Env) -> Result<Vec<Datasource>, String> {
    let mut file: Provisioning = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    for ds in &mut file.datasources {
        if ds.uid.is_empty() {
            return Err(format!("datasource {:?} has no uid", ds.name));
        }
        ds.url = interpolate_env(&ds.url, env);
        interpolate_json(&mut ds.json_data, env);
    }
    Ok(file.datasources)
}

fn interpolate_json(value: &mut serde_json::Value, env: &Env) {
    match value {
        serde_json::Value::String(text) => *text = interpolate_env(text, env),
        serde_json::Value::Array(items) => {
            for item in items {
                interpolate_json(item, env);
            }
        }
        serde_json::Value::Object(fields) => {
            for field in fields.values_mut() {
                interpolate_json(field, env);
            }
        }
        _ => {}
    }
}

fn interpolate_env(text: &str, env: &Env) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut name = String::new();
        match chars.peek() {
            Some('$') => {
                chars.next();
                out.push('$');
                continue;
            }
            Some('{') => {
                chars.next();
                for n in chars.by_ref() {
                    if n == '}' {
                        break;
                    }
                    name.push(n);
                }
            }
            _ => {
                while let Some(n) = chars.next_if(|n| n.is_ascii_alphanumeric() || *n == '_') {
                    name.push(n);
                }
                if name.is_empty() {
                    out.push('$');
                    continue;
                }
            }
        }
        out.push_str(env.get(&name).unwrap_or_default());
    }
    out
}

/// The answer of a datasource health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    #[serde(default)]
    pub message: String,
}

/// What a health check call came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum HealthCheck {
    /// 200 with `status: OK`.
    Ok(Health),
    /// 400 with `status: ERROR`, or another answer.
    Failed { status: u16, health: Option<Health> },
    /// The plugin has no backend health check (Tempo in Grafana 11.4).
    NotImplemented,
}

#[derive(Debug, Clone)]
pub struct GrafanaClient {
    api: ReadClient,
    grafana: Grafana,
    http: reqwest::Client,
    timeout: Duration,
}

impl GrafanaClient {
    pub fn new(http: reqwest::Client, grafana: &Grafana, timeout: Duration) -> Self {
        let endpoint = ReadEndpoint {
            base: grafana.url.clone(),
            path: ReadPath::Direct,
            credential: grafana.credential.clone(),
        };
        GrafanaClient {
            api: ReadClient::new(http.clone(), &endpoint, timeout, WHAT),
            grafana: grafana.clone(),
            http,
            timeout,
        }
    }

    pub fn url(&self) -> &Url {
        self.api.base()
    }

    /// `GET /api/health`: `database` must be `ok`.
    pub async fn health(&self) -> Result<serde_json::Value, HttpError> {
        let answer = self.api.get("api/health", &[], &[]).await?;
        answer.json(WHAT)
    }

    /// `GET /api/datasources`.
    pub async fn datasources(&self) -> Result<Vec<Datasource>, HttpError> {
        self.api.get("api/datasources", &[], &[]).await?.json(WHAT)
    }

    /// `GET /api/datasources/uid/<uid>/health`.
    pub async fn datasource_health(&self, uid: &str) -> Result<HealthCheck, HttpError> {
        let answer = self
            .api
            .get(&format!("api/datasources/uid/{uid}/health"), &[], &[])
            .await?;
        let health: Option<Health> = serde_json::from_slice(&answer.body).ok();
        let message = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_lowercase))
            .unwrap_or_default();
        Ok(match (answer.status, health) {
            (200, Some(h)) if h.status == "OK" => HealthCheck::Ok(h),
            // An unknown uid is an error: 404 "data source not found" before
            // Grafana 11, 500 "Unable to load datasource metadata" in 11.4
            // (the last arm). A plugin without a backend health check
            // answers 404 "Not found" before 11, 501 `plugin.notImplemented`
            // in 11.4.
            (404, _) if message.contains("data source not found") => HealthCheck::Failed {
                status: 404,
                health: None,
            },
            (404 | 501, _) => HealthCheck::NotImplemented,
            (status, health) => HealthCheck::Failed { status, health },
        })
    }

    /// A client for the datasource proxy of `uid`.
    pub fn proxy(&self, uid: &str) -> ReadClient {
        let endpoint = ReadEndpoint {
            base: join_path(&self.grafana.url, &format!("api/datasources/proxy/uid/{uid}")),
            path: ReadPath::GrafanaProxy { uid: uid.to_owned() },
            credential: self.grafana.credential.clone(),
        };
        ReadClient::new(self.http.clone(), &endpoint, self.timeout, WHAT)
    }
}

/// A dashboard as `GET /api/search?type=dash-db` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardHit {
    pub uid: String,
    pub title: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub folder_title: Option<String>,
}

/// What `POST /api/ds/query` answered for one query (`results.<refId>`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct DsResult {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub frames: Vec<Frame>,
}

/// A data frame: typed columns of equal length.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Frame {
    #[serde(default)]
    pub schema: FrameSchema,
    #[serde(default)]
    pub data: FrameData,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FrameSchema {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub fields: Vec<FrameField>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FrameField {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FrameData {
    #[serde(default)]
    pub values: Vec<Vec<serde_json::Value>>,
}

impl Frame {
    /// Rows with a value that is not null beside the first column (the
    /// time), or in it when it is the only one.
    pub fn rows(&self) -> usize {
        let values = &self.data.values;
        // A flame graph (`level`, `value`, `self`, `label`) of an empty
        // profile still has its root: only nodes with samples count.
        let field = |name: &str| self.schema.fields.iter().position(|f| f.name == name);
        if let (Some(_), Some(value)) = (field("level"), field("value")) {
            return values
                .get(value)
                .map_or(0, |c| c.iter().filter(|v| v.as_f64().is_some_and(|v| v > 0.0)).count());
        }
        let data = if values.len() > 1 { &values[1..] } else { &values[..] };
        let len = data.iter().map(Vec::len).max().unwrap_or(0);
        (0..len)
            .filter(|i| data.iter().any(|column| column.get(*i).is_some_and(|v| !v.is_null())))
            .count()
    }

    /// Exemplars Grafana's Prometheus backend returns beside the series.
    pub fn is_exemplar(&self) -> bool {
        self.schema.name.as_deref() == Some("exemplar")
    }

    /// The string column `name` (an exemplar's `trace_id`), row by row.
    pub fn column(&self, name: &str) -> Vec<&str> {
        self.schema
            .fields
            .iter()
            .position(|f| f.name == name)
            .and_then(|i| self.data.values.get(i))
            .map(|c| c.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
struct DsResponse {
    #[serde(default)]
    results: std::collections::BTreeMap<String, DsResult>,
}

impl GrafanaClient {
    /// `GET /api/search?type=dash-db`: every dashboard the user may see.
    pub async fn dashboards(&self) -> Result<Vec<DashboardHit>, HttpError> {
        let query = [("type", "dash-db".to_owned()), ("limit", "5000".to_owned())];
        self.api.get("api/search", &query, &[]).await?.json(WHAT)
    }

    /// `GET /api/dashboards/uid/<uid>`: the dashboard's JSON model.
    pub async fn dashboard(&self, uid: &str) -> Result<serde_json::Value, HttpError> {
        let answer = self.api.get(&format!("api/dashboards/uid/{uid}"), &[], &[]).await?;
        let mut body: serde_json::Value = answer.json(WHAT)?;
        match body.get_mut("dashboard").map(serde_json::Value::take) {
            Some(dashboard) if dashboard.is_object() => Ok(dashboard),
            _ => Err(HttpError::decode(
                WHAT,
                &answer.url,
                "no `dashboard` object in the answer",
            )),
        }
    }

    /// `POST /api/ds/query` with `queries` over `[from_ms, to_ms]`: the
    /// result per refId. A query the datasource rejected is its result's
    /// `error` (Grafana answers 400 or 207 then); any other failure is an
    /// error of the call.
    pub async fn ds_query(
        &self,
        queries: Vec<serde_json::Value>,
        (from_ms, to_ms): (u64, u64),
    ) -> Result<std::collections::BTreeMap<String, DsResult>, HttpError> {
        let body = serde_json::json!({
            "queries": queries,
            "from": from_ms.to_string(),
            "to": to_ms.to_string(),
        });
        let answer = self.api.post_json("api/ds/query", &body).await?;
        let parsed = match answer.status {
            200 | 207 => answer.json::<DsResponse>(WHAT)?,
            400 => serde_json::from_slice::<DsResponse>(&answer.body)
                .ok()
                .filter(|r| !r.results.is_empty())
                .ok_or_else(|| answer.unexpected(WHAT))?,
            _ => return Err(answer.unexpected(WHAT)),
        };
        Ok(parsed.results)
    }
}

/// A link that opens `query` against the datasource of `store` in Explore.
pub fn explore_link(grafana: &Grafana, store: Store, query: &str) -> Url {
    let uid = &grafana.datasources[&store];
    let (plugin, key) = match store {
        Store::Mimir => ("prometheus", "expr"),
        Store::Loki => ("loki", "expr"),
        Store::Tempo => ("tempo", "query"),
        Store::Pyroscope => ("grafana-pyroscope-datasource", "labelSelector"),
    };
    let mut query_obj = serde_json::json!({
        "refId": "A",
        "datasource": { "type": plugin, "uid": uid },
    });
    query_obj[key] = query.into();
    if store == Store::Tempo {
        query_obj["queryType"] = "traceql".into();
    }
    let panes = serde_json::json!({
        "pillars": {
            "datasource": uid,
            "queries": [query_obj],
            "range": { "from": "now-1h", "to": "now" },
        }
    });
    let mut url = join_path(&grafana.url, "explore");
    url.query_pairs_mut()
        .append_pair("schemaVersion", "1")
        .append_pair("orgId", "1")
        .append_pair("panes", &panes.to_string());
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_count_rows_with_values() {
        // /api/ds/query as Grafana 11.4's Prometheus backend answers it.
        let answer = r#"{"results":{"A":{"status":200,"frames":[
          {"schema":{"refId":"A","fields":[{"name":"Time","type":"time"},{"name":"Value","type":"number","labels":{"path":"/a"}}]},
           "data":{"values":[[1,2,3],[0.5,null,0.7]]}},
          {"schema":{"name":"exemplar","refId":"A","fields":[{"name":"Time","type":"time"},{"name":"Value","type":"number"},{"name":"trace_id","type":"string"}]},
           "data":{"values":[[1],[0.2],["4bf92f3577b34da6a3ce929d0e0e4736"]]}}]},
          "B":{"status":400,"error":"parse error","frames":[{"schema":{"refId":"B","fields":[]},"data":{"values":[]}}]}}}"#;
        let results = serde_json::from_str::<DsResponse>(answer).unwrap().results;
        let a = &results["A"];
        assert_eq!(a.frames[0].rows(), 2, "a null value is no row");
        assert!(a.frames[1].is_exemplar());
        assert_eq!(a.frames[1].column("trace_id"), ["4bf92f3577b34da6a3ce929d0e0e4736"]);
        assert_eq!(results["B"].status, Some(400));
        assert_eq!(results["B"].frames[0].rows(), 0);
        // A flame graph counts its nodes with samples, not its root.
        let flame: Frame = serde_json::from_str(
            r#"{"schema":{"fields":[{"name":"level"},{"name":"value"},{"name":"self"},{"name":"label"}]},
                "data":{"values":[[0],[0],[0],["total"]]}}"#,
        )
        .unwrap();
        assert_eq!(flame.rows(), 0);
    }

    #[test]
    fn provisioning_files_parse() {
        let yaml = r#"
apiVersion: 1
datasources:
  - name: Mimir
    type: prometheus
    uid: mimir
    access: proxy
    url: http://mimir:9009/prometheus
    isDefault: true
    jsonData:
      exemplarTraceIdDestinations:
        - name: trace_id
          datasourceUid: tempo
  - name: Tempo
    type: tempo
    uid: tempo
    url: http://tempo:3200
    editable: false
"#;
        let ds = parse_provisioning(yaml, &Env::default()).unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds[0].store(), Some(Store::Mimir));
        assert!(ds[0].is_default);
        assert_eq!(ds[0].json_data["exemplarTraceIdDestinations"][0]["name"], "trace_id");
        assert!(
            parse_provisioning(
                "datasources:\n  - name: x\n    type: loki\n    uid: ''\n",
                &Env::default()
            )
            .is_err()
        );
        assert!(parse_provisioning("datasources: [", &Env::default()).is_err());
        let ds = parse_provisioning(
            "datasources:\n  - name: l\n    type: loki\n    uid: loki\n    url: http://$HOST:${PORT}$MISSING\n    jsonData:\n      derivedFields:\n        - url: \"$${__value.raw}\"\n",
            &Env::from_pairs([("HOST", "loki"), ("PORT", "3100")]),
        )
        .unwrap();
        assert_eq!(ds[0].url, "http://loki:3100");
        assert_eq!(ds[0].json_data["derivedFields"][0]["url"], "${__value.raw}");
    }
}
