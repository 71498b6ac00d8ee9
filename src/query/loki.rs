//! Reading logs back from Loki, directly or through Grafana's datasource
//! proxy: readiness and `query_range`, always asking for categorized labels
//! so index labels, structured metadata and parsed labels stay apart
//! (`shared/reference/api/05-loki.md` §5.3).
//!
//! Uses: target, http.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::http::{HttpError, ReadClient};
use crate::query::lang::logql::LogQuery;
use crate::target::ReadEndpoint;

const WHAT: &str = "Loki";

/// One log line as read back.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogLine {
    /// Index labels of the stream.
    pub stream: BTreeMap<String, String>,
    pub structured_metadata: BTreeMap<String, String>,
    pub parsed: BTreeMap<String, String>,
    pub ts_ns: u64,
    pub line: String,
}

#[derive(Debug, Clone)]
pub struct LokiClient {
    read: ReadClient,
}

impl LokiClient {
    pub fn new(http: reqwest::Client, endpoint: &ReadEndpoint, timeout: Duration) -> Self {
        LokiClient {
            read: ReadClient::new(http, endpoint, timeout, WHAT),
        }
    }

    pub fn base(&self) -> &Url {
        self.read.base()
    }

    pub async fn ready(&self) -> Result<(), HttpError> {
        self.read.expect_ok("ready").await
    }

    /// `GET /loki/api/v1/query_range`, newest first.
    pub async fn query_range(
        &self,
        logql: &LogQuery,
        (start_ns, end_ns): (u64, u64),
        limit: u32,
    ) -> Result<Vec<LogLine>, HttpError> {
        let query = [
            ("query", logql.to_string()),
            ("start", start_ns.to_string()),
            ("end", end_ns.to_string()),
            ("limit", limit.to_string()),
            ("direction", "backward".to_owned()),
        ];
        let answer = self
            .read
            .get(
                "loki/api/v1/query_range",
                &query,
                &[("X-Loki-Response-Encoding-Flags", "categorize-labels")],
            )
            .await?;
        let parsed: QueryResponse = answer.json(WHAT)?;
        if parsed.data.result_type != "streams" {
            return Err(HttpError::decode(
                WHAT,
                &answer.url,
                format!("expected a streams result, got {:?}", parsed.data.result_type),
            ));
        }
        parsed
            .data
            .result
            .into_iter()
            .flat_map(|stream| {
                let labels = stream.stream;
                stream.values.into_iter().map(move |v| to_line(&labels, v))
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| HttpError::decode(WHAT, &answer.url, e))
    }
}

#[derive(Debug, Deserialize)]
struct QueryResponse {
    data: QueryData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryData {
    result_type: String,
    #[serde(default)]
    result: Vec<StreamResult>,
}

#[derive(Debug, Deserialize)]
struct StreamResult {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<Vec<serde_json::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Categories {
    #[serde(default)]
    structured_metadata: BTreeMap<String, String>,
    #[serde(default)]
    parsed: BTreeMap<String, String>,
}

fn to_line(stream: &BTreeMap<String, String>, value: Vec<serde_json::Value>) -> Result<LogLine, String> {
    let ts_ns = value
        .first()
        .and_then(|t| t.as_str())
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("bad timestamp in {value:?}"))?;
    let line = value
        .get(1)
        .and_then(|l| l.as_str())
        .ok_or_else(|| format!("no line in {value:?}"))?
        .to_owned();
    let categories: Categories = match value.get(2) {
        Some(c) => serde_json::from_value(c.clone()).map_err(|e| format!("bad label categories: {e}"))?,
        None => Categories::default(),
    };
    Ok(LogLine {
        stream: stream.clone(),
        structured_metadata: categories.structured_metadata,
        parsed: categories.parsed,
        ts_ns,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_response_shapes_parse() {
        // shared/reference/api/05-loki.md §5.3, merged and categorized.
        let merged = r#"{"status":"success","data":{"resultType":"streams","result":[
          {"stream":{"service_name":"harness","run":"r42","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"},
           "values":[["1735689600000000001","harness line 2"]]}],"stats":{}}}"#;
        let parsed: QueryResponse = serde_json::from_str(merged).unwrap();
        let stream = &parsed.data.result[0];
        let line = to_line(&stream.stream, stream.values[0].clone()).unwrap();
        assert_eq!(line.ts_ns, 1_735_689_600_000_000_001);
        assert_eq!(line.stream["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");

        let categorized = r#"{"status":"success","data":{"resultType":"streams","encodingFlags":["categorize-labels"],"result":[
          {"stream":{"service_name":"harness"},
           "values":[["1735689600000000001","harness line 2",{"structuredMetadata":{"trace_id":"4bf9"},"parsed":{"level":"info"}}]]}]}}"#;
        let parsed: QueryResponse = serde_json::from_str(categorized).unwrap();
        let stream = &parsed.data.result[0];
        let line = to_line(&stream.stream, stream.values[0].clone()).unwrap();
        assert_eq!(line.structured_metadata["trace_id"], "4bf9");
        assert_eq!(line.parsed["level"], "info");
        assert!(!line.stream.contains_key("trace_id"));
    }
}
