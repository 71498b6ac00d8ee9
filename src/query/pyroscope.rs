//! Reading profiles back from Pyroscope's querier (Connect JSON over HTTP,
//! epoch-millisecond times), directly or through Grafana's datasource
//! proxy: profile types and merged flame graphs, whole or for spans
//! (`shared/reference/api/06-pyroscope.md` §6.1, §6.3).
//!
//! Uses: target, http.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::http::{HttpError, ReadClient};
use crate::query::lang::promql::Selector;
use crate::target::ReadEndpoint;

const WHAT: &str = "Pyroscope";

/// A merged flame graph: its frame names and total.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Flamegraph {
    pub names: Vec<String>,
    pub total: u64,
}

#[derive(Debug, Clone)]
pub struct PyroscopeClient {
    read: ReadClient,
}

impl PyroscopeClient {
    pub fn new(http: reqwest::Client, endpoint: &ReadEndpoint, timeout: Duration) -> Self {
        PyroscopeClient {
            read: ReadClient::new(http, endpoint, timeout, WHAT),
        }
    }

    pub fn base(&self) -> &Url {
        self.read.base()
    }

    /// `ProfileTypes`: the ids of the profile types with data in range.
    pub async fn profile_types(&self, (start_ms, end_ms): (i64, i64)) -> Result<Vec<String>, HttpError> {
        #[derive(Deserialize)]
        struct Types {
            #[serde(default, rename = "profileTypes")]
            profile_types: Vec<Type>,
        }
        #[derive(Deserialize)]
        struct Type {
            #[serde(rename = "ID")]
            id: String,
        }
        let answer = self
            .read
            .post_json(
                "querier.v1.QuerierService/ProfileTypes",
                &json!({ "start": start_ms, "end": end_ms }),
            )
            .await?;
        let types: Types = answer.json(WHAT)?;
        Ok(types.profile_types.into_iter().map(|t| t.id).collect())
    }

    /// `SelectMergeStacktraces`.
    pub async fn flamegraph(
        &self,
        profile_type: &str,
        selector: &Selector,
        range: (i64, i64),
    ) -> Result<Flamegraph, HttpError> {
        self.select("SelectMergeStacktraces", profile_type, selector, None, range)
            .await
    }

    /// `SelectMergeSpanProfile`: only samples of these spans.
    pub async fn span_flamegraph(
        &self,
        profile_type: &str,
        selector: &Selector,
        span_ids: &[String],
        range: (i64, i64),
    ) -> Result<Flamegraph, HttpError> {
        self.select("SelectMergeSpanProfile", profile_type, selector, Some(span_ids), range)
            .await
    }

    async fn select(
        &self,
        method: &str,
        profile_type: &str,
        selector: &Selector,
        spans: Option<&[String]>,
        (start_ms, end_ms): (i64, i64),
    ) -> Result<Flamegraph, HttpError> {
        let mut body = json!({
            "profileTypeID": profile_type,
            "labelSelector": selector.to_string(),
            "start": start_ms,
            "end": end_ms,
        });
        if let Some(spans) = spans {
            body["spanSelector"] = json!(spans);
        }
        let answer = self
            .read
            .post_json(&format!("querier.v1.QuerierService/{method}"), &body)
            .await?;
        let parsed: SelectResponse = answer.json(WHAT)?;
        let graph = parsed.flamegraph.unwrap_or_default();
        let total = match &graph.total {
            Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
            Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
            _ => 0,
        };
        Ok(Flamegraph {
            names: graph.names,
            total,
        })
    }
}

#[derive(Debug, Deserialize)]
struct SelectResponse {
    flamegraph: Option<WireFlamegraph>,
}

#[derive(Debug, Default, Deserialize)]
struct WireFlamegraph {
    #[serde(default)]
    names: Vec<String>,
    total: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_flamegraph_parses() {
        // shared/reference/api/06-pyroscope.md §6.3.
        let body = r#"{"flamegraph":{"names":["total","main","handler"],
          "levels":[{"values":["0","20000000","0","0"]},{"values":["0","20000000","0","1"]},{"values":["0","20000000","20000000","2"]}],
          "total":"20000000","maxSelf":"20000000"}}"#;
        let parsed: SelectResponse = serde_json::from_str(body).unwrap();
        let graph = parsed.flamegraph.unwrap();
        assert_eq!(graph.names, vec!["total", "main", "handler"]);
        assert_eq!(graph.total, Some(serde_json::json!("20000000")));
        let empty: SelectResponse = serde_json::from_str(r#"{"flamegraph":{"names":[],"levels":[]}}"#).unwrap();
        assert!(empty.flamegraph.unwrap().total.is_none());
    }
}
