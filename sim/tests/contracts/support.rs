//! What every contract test shares: a reference stack on loopback ports,
//! its URLs read from the target it prints (`SimStack::target_toml`), and
//! reads through each store's own query API over HTTP — Tempo
//! `/api/traces/<id>`, Loki `/loki/api/v1/query_range`, Mimir
//! `/prometheus/api/v1/query{,_exemplars}`, Pyroscope's querier — so a
//! test sees what a real client of the stack would see.
//!
//! Uses: `pillars_sim` (start, options), reqwest, toml.

use std::time::{SystemTime, UNIX_EPOCH};

use pillars_sim::{SimOptions, SimStack};
use serde_json::{Value, json};

/// A running stack and where its roles listen.
pub struct Stack {
    pub sim: SimStack,
    pub http: reqwest::Client,
    /// `[ingest] otlp_http`: the collector (Alloy's OTLP/HTTP receiver).
    pub otlp_http: String,
    /// `[ingest] faro`: the Faro receiver's `/collect` URL.
    pub faro: String,
    /// `[ingest] pyroscope`: where SDKs push profiles.
    pub pyroscope: String,
    pub tempo: String,
    pub loki: String,
    /// Mimir's Prometheus API prefix (`…/prometheus`).
    pub mimir: String,
    pub pyroscope_read: String,
    /// `[app] base_url`: the backend behind the ALB.
    pub app: String,
    /// `[read] grafana`, its sub-path included.
    pub grafana: String,
}

pub async fn start() -> Stack {
    start_with(SimOptions::default()).await
}

pub async fn start_with(options: SimOptions) -> Stack {
    let sim = SimStack::start(options).await.expect("the reference stack starts");
    let target: toml::Table = sim.target_toml().parse().expect("the printed target is TOML");
    let url = |section: &str, key: &str| -> String {
        target[section][key]
            .as_str()
            .unwrap_or_else(|| panic!("target has [{section}] {key}"))
            .trim_end_matches('/')
            .to_owned()
    };
    Stack {
        otlp_http: url("ingest", "otlp_http"),
        faro: url("ingest", "faro"),
        pyroscope: url("ingest", "pyroscope"),
        tempo: url("read", "tempo"),
        loki: url("read", "loki"),
        mimir: url("read", "mimir"),
        pyroscope_read: url("read", "pyroscope"),
        app: url("app", "base_url"),
        grafana: url("read", "grafana"),
        // Raw bodies and headers, as a client that does not decompress
        // sees them: in the workspace another crate turns reqwest's gzip on.
        http: reqwest::Client::builder()
            .no_gzip()
            .build()
            .expect("a plain client builds"),
        sim,
    }
}

pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos() as u64
}

pub fn now_millis() -> i64 {
    (now_nanos() / 1_000_000) as i64
}

/// A status, content type and body as they came back.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    /// `Content-Encoding`, empty when absent (the client does not inflate).
    pub content_encoding: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("a JSON body ({e}): {}", self.text()))
    }
}

pub async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the request reaches the stack");
    let status = response.status().as_u16();
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let content_encoding = header(reqwest::header::CONTENT_ENCODING);
    let body = response.bytes().await.expect("a readable body").to_vec();
    Answer {
        status,
        content_type,
        content_encoding,
        body,
    }
}

impl Stack {
    /// Tempo's `/api/traces/<id>`: the trace's `batches`, or `None` on 404.
    pub async fn tempo_trace(&self, trace_id_hex: &str) -> Option<Value> {
        let got = answer(self.http.get(format!("{}/api/traces/{trace_id_hex}", self.tempo))).await;
        match got.status {
            200 => Some(got.json()),
            404 => None,
            other => panic!("Tempo /api/traces/{trace_id_hex} answered {other}: {}", got.text()),
        }
    }

    /// Loki's `query_range` over the last hour, forward, with structured
    /// metadata kept apart (`categorize-labels`): the `result` streams.
    pub async fn loki_streams(&self, logql: &str) -> Vec<Value> {
        let end = now_nanos() + 1_000_000_000;
        let start = end - 3_600_000_000_000;
        let got = answer(
            self.http
                .get(format!("{}/loki/api/v1/query_range", self.loki))
                .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
                .query(&[
                    ("query", logql),
                    ("start", &start.to_string()),
                    ("end", &end.to_string()),
                    ("limit", "1000"),
                    ("direction", "forward"),
                ]),
        )
        .await;
        assert_eq!(got.status, 200, "Loki query_range {logql}: {}", got.text());
        let body = got.json();
        assert_eq!(body["data"]["resultType"], "streams", "{body}");
        body["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Every line `logql` selects, in time order, with its stream labels and
    /// its structured metadata.
    pub async fn loki_lines(&self, logql: &str) -> Vec<LokiLine> {
        let mut lines = Vec::new();
        for stream in self.loki_streams(logql).await {
            for value in stream["values"].as_array().into_iter().flatten() {
                lines.push(LokiLine {
                    labels: stream["stream"].clone(),
                    ts_ns: value[0].as_str().and_then(|t| t.parse().ok()).expect("a ns timestamp"),
                    line: value[1].as_str().expect("a line").to_owned(),
                    metadata: value
                        .get(2)
                        .and_then(|c| c.get("structuredMetadata"))
                        .cloned()
                        .unwrap_or_else(|| json!({})),
                });
            }
        }
        lines.sort_by_key(|l| l.ts_ns);
        lines
    }

    /// Mimir's instant query: the `result` vector.
    pub async fn mimir_vector(&self, promql: &str) -> Vec<Value> {
        let got = answer(
            self.http
                .get(format!("{}/api/v1/query", self.mimir))
                .query(&[("query", promql)]),
        )
        .await;
        assert_eq!(got.status, 200, "Mimir query {promql}: {}", got.text());
        let body = got.json();
        assert_eq!(body["data"]["resultType"], "vector", "{body}");
        body["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The one sample an instant query selects, as Mimir writes it.
    pub async fn mimir_value(&self, promql: &str) -> String {
        let result = self.mimir_vector(promql).await;
        assert_eq!(result.len(), 1, "{promql} selects one series: {result:?}");
        result[0]["value"][1].as_str().expect("a string value").to_owned()
    }

    /// Mimir's `query_exemplars` over the last hour.
    pub async fn mimir_exemplars(&self, promql: &str) -> Vec<Value> {
        let end = now_nanos() / 1_000_000_000 + 60;
        let got = answer(self.http.get(format!("{}/api/v1/query_exemplars", self.mimir)).query(&[
            ("query", promql.to_owned()),
            ("start", (end - 3600).to_string()),
            ("end", end.to_string()),
        ]))
        .await;
        assert_eq!(got.status, 200, "Mimir query_exemplars {promql}: {}", got.text());
        got.json()["data"].as_array().cloned().unwrap_or_default()
    }

    /// A Pyroscope querier call (Connect unary, JSON).
    pub async fn pyroscope_query(&self, method: &str, request: Value) -> Value {
        let got = answer(
            self.http
                .post(format!("{}/querier.v1.QuerierService/{method}", self.pyroscope_read))
                .header("Content-Type", "application/json")
                .body(request.to_string()),
        )
        .await;
        assert_eq!(got.status, 200, "Pyroscope {method}: {}", got.text());
        got.json()
    }
}

/// One Loki entry as a query returned it.
#[derive(Debug, Clone)]
pub struct LokiLine {
    pub labels: Value,
    pub ts_ns: u64,
    pub line: String,
    pub metadata: Value,
}

/// Base64 of bytes, as Tempo's JSON writes ids.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Bytes from a hex id.
pub fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The attribute `key` of an OTLP/JSON attribute list, as Tempo wrote it.
pub fn attribute<'a>(attributes: &'a Value, key: &str) -> Option<&'a Value> {
    attributes
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

/// Every span of a Tempo `/api/traces/<id>` answer, with its batch's
/// resource attributes and scope.
pub fn spans(trace: &Value) -> Vec<(Value, Value, Value)> {
    let mut out = Vec::new();
    for batch in trace["batches"].as_array().into_iter().flatten() {
        for scope_spans in batch["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope_spans["spans"].as_array().into_iter().flatten() {
                out.push((
                    batch["resource"]["attributes"].clone(),
                    scope_spans["scope"].clone(),
                    span.clone(),
                ));
            }
        }
    }
    out
}

/// The span named `name` of a trace.
pub fn span_named(trace: &Value, name: &str) -> (Value, Value, Value) {
    spans(trace)
        .into_iter()
        .find(|(_, _, span)| span["name"] == name)
        .unwrap_or_else(|| panic!("span {name:?} in {trace}"))
}
