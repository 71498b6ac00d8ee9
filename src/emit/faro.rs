//! Synthetic Faro sessions, built as the Faro web SDK 2.x sends them
//! (`shared/reference/api/01-faro-receiver.md` §1.2): `meta` (sdk, app,
//! session, page, browser with string viewport sizes, view), a log, an
//! exception whose frames name no `http…` file (so Alloy fetches no source
//! map), one `web-vitals` measurement per vital, a `session_start` event and
//! the session's OTLP/JSON trace — string-only context maps, RFC 3339
//! timestamps — and posting them to `/collect` with `x-faro-session-id`.
//!
//! Uses: ids, http (errors), emit::otlp (acks).

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

use crate::emit::otlp::{Ack, EmitError};
use crate::http::{HttpError, read_body};
use crate::ids::{Seed, SpanId, TraceId};

const FRONTEND_DOMAIN: u64 = 0xFA20;
/// The web vitals the SDK reports, with plausible good values.
pub const WEB_VITALS: [(&str, f64); 5] = [
    ("lcp", 1250.0),
    ("cls", 0.02),
    ("inp", 80.0),
    ("fcp", 900.0),
    ("ttfb", 120.0),
];

/// The sessions of one run.
#[derive(Debug, Clone)]
pub struct FrontendSpec {
    pub seed: Seed,
    pub run_id: String,
    /// `meta.app.name` and the trace's `service.name`.
    pub app_name: String,
    /// Where the page lives, for `meta.page.url`.
    pub page_url: String,
}

/// One synthetic browser session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FrontendSession {
    pub slot: u64,
    pub session_id: String,
    pub trace_id: TraceId,
    /// The client `fetch` span that calls the backend.
    pub fetch_span: SpanId,
}

impl FrontendSpec {
    fn seed(&self) -> Seed {
        Seed(self.seed.word(0, FRONTEND_DOMAIN))
    }

    pub fn session(&self, slot: u64) -> FrontendSession {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut word = self.seed().word(slot, 1);
        let session_id = (0..10)
            .map(|_| {
                let c = ALPHABET[(word % 62) as usize] as char;
                word /= 62;
                c
            })
            .collect();
        FrontendSession {
            slot,
            session_id,
            trace_id: TraceId::from_seed(self.seed(), slot),
            fetch_span: SpanId::from_seed(self.seed(), slot, 0),
        }
    }

    /// The `traceparent` the fetch instrumentation puts on the backend call.
    pub fn traceparent(&self, session: &FrontendSession) -> String {
        crate::ids::Traceparent {
            trace_id: session.trace_id,
            parent_id: session.fetch_span,
            sampled: true,
        }
        .to_string()
    }

    /// The text every line of this run's sessions carries.
    pub fn run_marker(&self) -> String {
        format!("session_attr_pillars_run={}", self.run_id)
    }

    /// Lines of each kind one session writes to Loki.
    pub fn expected_lines() -> [(&'static str, usize); 4] {
        [
            ("log", 1),
            ("exception", 1),
            ("measurement", WEB_VITALS.len()),
            ("event", 1),
        ]
    }

    /// The Faro payload of a session; `api_path` is what the fetch span
    /// called.
    pub fn payload(&self, session: &FrontendSession, api_path: &str) -> Value {
        let now = SystemTime::now();
        let ts = humantime::format_rfc3339_millis(now).to_string();
        let start = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(Duration::from_millis(120));
        let start_ns = start.as_nanos() as u64;
        let trace = json!({ "trace_id": session.trace_id.to_string(), "span_id": session.fetch_span.to_string() });
        let context = json!({ "pillars_run": self.run_id, "pillars_seq": session.slot.to_string() });
        let url = format!("{}{}", self.page_url.trim_end_matches('/'), api_path);
        json!({
            "meta": {
                "sdk": {
                    "name": "@grafana/faro-web-sdk",
                    "version": "2.0.0",
                    "integrations": [
                        { "name": "@grafana/faro-web-sdk:instrumentation-web-vitals", "version": "2.0.0" },
                        { "name": "@grafana/faro-web-tracing", "version": "2.0.0" }
                    ]
                },
                "app": { "name": self.app_name, "version": "pillars", "environment": "pillars" },
                "session": { "id": session.session_id, "attributes": { "pillars_run": self.run_id } },
                "page": { "url": self.page_url },
                "browser": {
                    "name": "HeadlessChrome", "version": "124.0", "os": "Linux", "mobile": false,
                    "userAgent": "pillars/1.0", "language": "en-US",
                    "viewportWidth": "1280", "viewportHeight": "720"
                },
                "view": { "name": "default" }
            },
            "logs": [{
                "message": format!("pillars frontend log run={} seq={}", self.run_id, session.slot),
                "level": "info",
                "context": context,
                "timestamp": ts,
                "trace": trace
            }],
            "exceptions": [{
                "type": "Error",
                "value": format!("pillars synthetic error run={}", self.run_id),
                "timestamp": ts,
                "stacktrace": { "frames": [{ "function": "pillarsSynthetic", "filename": "pillars.js", "lineno": 1, "colno": 1 }] },
                "context": context,
                "trace": trace
            }],
            "measurements": WEB_VITALS.iter().map(|(name, value)| json!({
                "type": "web-vitals",
                "values": { *name: value, "delta": value },
                "timestamp": ts,
                "context": { "id": format!("v4-{}-{name}", session.slot), "rating": "good", "navigation_type": "navigate" },
                "trace": trace
            })).collect::<Vec<_>>(),
            "events": [{
                "name": "session_start",
                "domain": "browser",
                "attributes": { "pillars_run": self.run_id },
                "timestamp": ts
            }],
            "traces": {
                "resourceSpans": [{
                    "resource": { "attributes": [
                        { "key": "service.name", "value": { "stringValue": self.app_name } },
                        { "key": "pillars.run", "value": { "stringValue": self.run_id } }
                    ] },
                    "scopeSpans": [{
                        "scope": { "name": "@grafana/faro-web-tracing", "version": "2.0.0" },
                        "spans": [{
                            "traceId": session.trace_id.to_string(),
                            "spanId": session.fetch_span.to_string(),
                            "name": "HTTP GET",
                            "kind": 3,
                            "startTimeUnixNano": start_ns.to_string(),
                            "endTimeUnixNano": (start_ns + 100_000_000).to_string(),
                            "attributes": [
                                { "key": "http.method", "value": { "stringValue": "GET" } },
                                { "key": "http.url", "value": { "stringValue": url } },
                                { "key": "session.id", "value": { "stringValue": session.session_id } }
                            ],
                            "status": {}
                        }]
                    }]
                }]
            }
        })
    }
}

/// What the receiver answered, when it was not a plain 202.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    RateLimited,
    Other,
}

/// Posts Faro payloads to a `/collect` URL.
#[derive(Debug, Clone)]
pub struct FaroSender {
    http: reqwest::Client,
    url: Url,
    timeout: Duration,
}

const WHAT: &str = "the Faro receiver";

impl FaroSender {
    pub fn new(http: reqwest::Client, url: Url, timeout: Duration) -> Self {
        FaroSender { http, url, timeout }
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Posts one payload; only 202 counts as accepted.
    pub async fn send(&self, session_id: &str, idempotency_key: &str, payload: &Value) -> Result<Ack, EmitError> {
        let resp = self
            .http
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("x-faro-session-id", session_id)
            .header("Idempotency-Key", idempotency_key)
            .json(payload)
            .send()
            .await
            .map_err(|e| HttpError::from_reqwest(WHAT, &self.url, self.timeout, e))?;
        let answer = read_body(resp, WHAT, &self.url, self.timeout).await?;
        if answer.status == 202 {
            Ok(Ack {
                at: Instant::now(),
                status: answer.status,
            })
        } else {
            Err(answer.unexpected(WHAT).into())
        }
    }
}

/// Whether a failed send was the receiver's rate limit.
pub fn refusal(err: &EmitError) -> Refusal {
    match err {
        EmitError::Http(HttpError::Status { status: 429, .. }) => Refusal::RateLimited,
        _ => Refusal::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_keeps_the_sdks_type_rules() {
        let spec = FrontendSpec {
            seed: Seed(1),
            run_id: "r1".into(),
            app_name: "durable-code-frontend".into(),
            page_url: "http://app.example/".into(),
        };
        let session = spec.session(0);
        assert_eq!(session.session_id.len(), 10);
        let p = spec.payload(&session, "/api/delay/fast");
        assert!(p["meta"]["browser"]["viewportWidth"].is_string());
        for m in p["measurements"].as_array().unwrap() {
            assert!(m["context"].as_object().unwrap().values().all(Value::is_string));
        }
        assert!(
            !p["exceptions"][0]["stacktrace"]["frames"][0]["filename"]
                .as_str()
                .unwrap()
                .starts_with("http")
        );
        let tp = spec.traceparent(&session);
        assert!(tp.starts_with(&format!("00-{}-{}", session.trace_id, session.fetch_span)));
        // The reference receiver decodes it and writes every kind.
        let decoded: pillars_sim::faro_lines::Payload = serde_json::from_value(p).unwrap();
        let lines = pillars_sim::faro_lines::lines(&decoded);
        assert_eq!(lines.len(), 8);
        assert!(lines.iter().all(|(_, l)| l.contains(&spec.run_marker())));
    }
}
