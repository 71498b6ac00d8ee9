//! Faro payloads decoded as Alloy's `faro.receiver` decodes them and
//! turned into Loki lines exactly as it writes them (v1.13,
//! `internal/component/faro/receiver/internal/payload/{payload.go,utils.go}`,
//! `exporters.go`; `shared/reference/api/01-faro-receiver.md` §1.2–1.3).
//!
//! Decoding is `json.NewDecoder(body).Decode(&p)` into `payload.Payload`
//! with Go's `encoding/json` (`go::json`): Go's error texts (`json: cannot
//! unmarshal string into Go struct field Browser.meta.browser.mobile of
//! type bool`), `null` accepted for any field, keys matched
//! case-insensitively, timestamps read by `time.Time.UnmarshalJSON`
//! (RFC 3339; anything else is `parsing time …`). `traces` is OTLP/JSON,
//! which Alloy hands to pdata's `ptrace.JSONUnmarshaler`; pdata v1.49
//! knows only `scopeSpans` (and `scope_spans`): the legacy
//! `instrumentationLibrarySpans` key is skipped like any unknown key, so
//! its spans are dropped without an error, as they are here.
//!
//! Lines: one logfmt line per log, exception, measurement and event, keys
//! in Alloy's fixed order in an ordered map (setting a key again keeps its
//! place and takes the new value), the payload timestamp as Go's
//! `time.Time.String()`, `traceID`/`spanID`, then the meta keys; empty
//! values left out except `browser_mobile`; written by go-logfmt, which
//! fails a line whose key is left empty once filtered (Alloy then drops
//! that line).
//!
//! Uses: go (json, time, fmt, strconv, logfmt).

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::go::json::{self, Fatal, Kind as JsonKind, Unmarshal, Value};
use crate::go::{fmt, logfmt, strconv, time};

/// A Faro payload as Alloy decodes it.
#[derive(Debug, Clone, Default)]
pub struct Payload {
    pub exceptions: Vec<Exception>,
    pub logs: Vec<Log>,
    pub measurements: Vec<Measurement>,
    pub events: Vec<Event>,
    pub meta: Meta,
    pub traces: Option<ExportTraceServiceRequest>,
}

#[derive(Debug, Clone, Default)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct Log {
    pub message: String,
    pub level: String,
    pub context: BTreeMap<String, String>,
    pub timestamp: time::Time,
    pub trace: TraceContext,
}

#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub function: String,
    pub module: String,
    pub filename: String,
    pub lineno: i64,
    pub colno: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Stacktrace {
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone, Default)]
pub struct Exception {
    pub kind: String,
    pub value: String,
    pub stacktrace: Option<Stacktrace>,
    pub timestamp: time::Time,
    pub trace: TraceContext,
    pub context: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Measurement {
    pub kind: String,
    pub values: BTreeMap<String, f64>,
    pub timestamp: time::Time,
    pub trace: TraceContext,
    pub context: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Event {
    pub name: String,
    pub domain: String,
    pub attributes: BTreeMap<String, String>,
    pub timestamp: time::Time,
    pub trace: TraceContext,
}

#[derive(Debug, Clone, Default)]
pub struct Integration {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Default)]
pub struct Sdk {
    pub name: String,
    pub version: String,
    pub integrations: Vec<Integration>,
}

#[derive(Debug, Clone, Default)]
pub struct App {
    pub name: String,
    pub namespace: String,
    pub release: String,
    pub version: String,
    pub environment: String,
}

#[derive(Debug, Clone, Default)]
pub struct User {
    pub email: String,
    pub id: String,
    pub username: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Session {
    pub id: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub id: String,
    pub url: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Browser {
    pub name: String,
    pub version: String,
    pub os: String,
    pub mobile: bool,
    pub user_agent: String,
    pub language: String,
    pub viewport_width: String,
    pub viewport_height: String,
}

#[derive(Debug, Clone, Default)]
pub struct View {
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub sdk: Sdk,
    pub app: App,
    pub user: User,
    pub session: Session,
    pub page: Page,
    pub browser: Browser,
    pub view: View,
}

// ---------------------------------------------------------------------------
// Decoding, field by field as `payload.go` declares them (JSON names, Go
// type names for the error texts).

fn string_map(u: &mut Unmarshal, v: &Value, out: &mut BTreeMap<String, String>, go_type: &str) -> Fatal {
    u.map(v, out, go_type, |u, v, s| u.string(v, s, "string"))
}

fn timestamp(v: &Value, body: &[u8], out: &mut time::Time) -> Fatal {
    out.unmarshal_json(&body[v.raw.clone()])
}

impl TraceContext {
    fn store(&mut self, u: &mut Unmarshal, v: &Value) -> Fatal {
        u.object(
            v,
            "TraceContext",
            "payload.TraceContext",
            &["trace_id", "span_id"],
            |u, i, v| match i {
                0 => u.string(v, &mut self.trace_id, "string"),
                _ => u.string(v, &mut self.span_id, "string"),
            },
        )
    }
}

impl Log {
    fn store(&mut self, u: &mut Unmarshal, v: &Value, body: &[u8]) -> Fatal {
        let fields = ["message", "level", "context", "timestamp", "trace"];
        u.object(v, "Log", "payload.Log", &fields, |u, i, v| match i {
            0 => u.string(v, &mut self.message, "string"),
            1 => u.string(v, &mut self.level, "payload.LogLevel"),
            2 => string_map(u, v, &mut self.context, "payload.LogContext"),
            3 => timestamp(v, body, &mut self.timestamp),
            _ => self.trace.store(u, v),
        })
    }
}

impl Frame {
    fn store(&mut self, u: &mut Unmarshal, v: &Value) -> Fatal {
        let fields = ["function", "module", "filename", "lineno", "colno"];
        u.object(v, "Frame", "payload.Frame", &fields, |u, i, v| match i {
            0 => u.string(v, &mut self.function, "string"),
            1 => u.string(v, &mut self.module, "string"),
            2 => u.string(v, &mut self.filename, "string"),
            3 => u.int(v, &mut self.lineno),
            _ => u.int(v, &mut self.colno),
        })
    }
}

impl Exception {
    fn store(&mut self, u: &mut Unmarshal, v: &Value, body: &[u8]) -> Fatal {
        let fields = ["type", "value", "stacktrace", "timestamp", "trace", "context"];
        u.object(v, "Exception", "payload.Exception", &fields, |u, i, v| match i {
            0 => u.string(v, &mut self.kind, "string"),
            1 => u.string(v, &mut self.value, "string"),
            2 => {
                // `*Stacktrace`: `null` is nil, anything else fills it.
                if v.kind == JsonKind::Null {
                    self.stacktrace = None;
                    return Ok(());
                }
                let stacktrace = self.stacktrace.get_or_insert_default();
                u.object(v, "Stacktrace", "payload.Stacktrace", &["frames"], |u, _, v| {
                    u.slice(v, &mut stacktrace.frames, "[]payload.Frame", |u, v, f| f.store(u, v))
                })
            }
            3 => timestamp(v, body, &mut self.timestamp),
            4 => self.trace.store(u, v),
            _ => string_map(u, v, &mut self.context, "payload.ExceptionContext"),
        })
    }
}

impl Measurement {
    fn store(&mut self, u: &mut Unmarshal, v: &Value, body: &[u8]) -> Fatal {
        let fields = ["type", "values", "timestamp", "trace", "context"];
        u.object(v, "Measurement", "payload.Measurement", &fields, |u, i, v| match i {
            0 => u.string(v, &mut self.kind, "string"),
            1 => u.map(v, &mut self.values, "map[string]float64", |u, v, f| u.float64(v, f)),
            2 => timestamp(v, body, &mut self.timestamp),
            3 => self.trace.store(u, v),
            _ => string_map(u, v, &mut self.context, "payload.MeasurementContext"),
        })
    }
}

impl Event {
    fn store(&mut self, u: &mut Unmarshal, v: &Value, body: &[u8]) -> Fatal {
        let fields = ["name", "domain", "attributes", "timestamp", "trace"];
        u.object(v, "Event", "payload.Event", &fields, |u, i, v| match i {
            0 => u.string(v, &mut self.name, "string"),
            1 => u.string(v, &mut self.domain, "string"),
            2 => string_map(u, v, &mut self.attributes, "map[string]string"),
            3 => timestamp(v, body, &mut self.timestamp),
            _ => self.trace.store(u, v),
        })
    }
}

impl Meta {
    fn store(&mut self, u: &mut Unmarshal, v: &Value) -> Fatal {
        let fields = ["sdk", "app", "user", "session", "page", "browser", "view"];
        u.object(v, "Meta", "payload.Meta", &fields, |u, i, v| match i {
            0 => {
                let sdk = &mut self.sdk;
                u.object(
                    v,
                    "SDK",
                    "payload.SDK",
                    &["name", "version", "integrations"],
                    |u, i, v| match i {
                        0 => u.string(v, &mut sdk.name, "string"),
                        1 => u.string(v, &mut sdk.version, "string"),
                        _ => u.slice(
                            v,
                            &mut sdk.integrations,
                            "[]payload.SDKIntegration",
                            |u, v, integration| {
                                let fields = ["name", "version"];
                                u.object(
                                    v,
                                    "SDKIntegration",
                                    "payload.SDKIntegration",
                                    &fields,
                                    |u, i, v| match i {
                                        0 => u.string(v, &mut integration.name, "string"),
                                        _ => u.string(v, &mut integration.version, "string"),
                                    },
                                )
                            },
                        ),
                    },
                )
            }
            1 => {
                let app = &mut self.app;
                let fields = ["name", "namespace", "release", "version", "environment"];
                u.object(v, "App", "payload.App", &fields, |u, i, v| {
                    let out = match i {
                        0 => &mut app.name,
                        1 => &mut app.namespace,
                        2 => &mut app.release,
                        3 => &mut app.version,
                        _ => &mut app.environment,
                    };
                    u.string(v, out, "string")
                })
            }
            2 => {
                let user = &mut self.user;
                let fields = ["email", "id", "username", "attributes"];
                u.object(v, "User", "payload.User", &fields, |u, i, v| match i {
                    0 => u.string(v, &mut user.email, "string"),
                    1 => u.string(v, &mut user.id, "string"),
                    2 => u.string(v, &mut user.username, "string"),
                    _ => string_map(u, v, &mut user.attributes, "map[string]string"),
                })
            }
            3 => {
                let session = &mut self.session;
                u.object(
                    v,
                    "Session",
                    "payload.Session",
                    &["id", "attributes"],
                    |u, i, v| match i {
                        0 => u.string(v, &mut session.id, "string"),
                        _ => string_map(u, v, &mut session.attributes, "map[string]string"),
                    },
                )
            }
            4 => {
                let page = &mut self.page;
                u.object(
                    v,
                    "Page",
                    "payload.Page",
                    &["id", "url", "attributes"],
                    |u, i, v| match i {
                        0 => u.string(v, &mut page.id, "string"),
                        1 => u.string(v, &mut page.url, "string"),
                        _ => string_map(u, v, &mut page.attributes, "map[string]string"),
                    },
                )
            }
            5 => {
                let b = &mut self.browser;
                let fields = [
                    "name",
                    "version",
                    "os",
                    "mobile",
                    "userAgent",
                    "language",
                    "viewportWidth",
                    "viewportHeight",
                ];
                u.object(v, "Browser", "payload.Browser", &fields, |u, i, v| match i {
                    0 => u.string(v, &mut b.name, "string"),
                    1 => u.string(v, &mut b.version, "string"),
                    2 => u.string(v, &mut b.os, "string"),
                    3 => u.bool(v, &mut b.mobile),
                    4 => u.string(v, &mut b.user_agent, "string"),
                    5 => u.string(v, &mut b.language, "string"),
                    6 => u.string(v, &mut b.viewport_width, "string"),
                    _ => u.string(v, &mut b.viewport_height, "string"),
                })
            }
            _ => {
                let view = &mut self.view;
                u.object(v, "View", "payload.View", &["name"], |u, _, v| {
                    u.string(v, &mut view.name, "string")
                })
            }
        })
    }
}

impl Payload {
    /// `json.NewDecoder(body).Decode(&p)`: the payload, or the text Alloy
    /// answers its 400 with.
    pub fn decode(body: &[u8]) -> Result<Payload, String> {
        let value = json::decode(body)?;
        let mut payload = Payload::default();
        let mut u = Unmarshal::new();
        payload.store(&mut u, &value, body)?;
        u.finish()?;
        Ok(payload)
    }

    fn store(&mut self, u: &mut Unmarshal, v: &Value, body: &[u8]) -> Fatal {
        let fields = ["exceptions", "logs", "measurements", "events", "meta", "traces"];
        u.object(v, "Payload", "payload.Payload", &fields, |u, i, v| match i {
            0 => u.slice(v, &mut self.exceptions, "[]payload.Exception", |u, v, e| {
                e.store(u, v, body)
            }),
            1 => u.slice(v, &mut self.logs, "[]payload.Log", |u, v, l| l.store(u, v, body)),
            2 => u.slice(v, &mut self.measurements, "[]payload.Measurement", |u, v, m| {
                m.store(u, v, body)
            }),
            3 => u.slice(v, &mut self.events, "[]payload.Event", |u, v, e| e.store(u, v, body)),
            4 => self.meta.store(u, v),
            _ => {
                // `*Traces`: nil for `null`; otherwise its UnmarshalJSON
                // (pdata's) gets the raw value, and its error stops
                // decoding. The texts are the reference stack's, not pdata's.
                if v.kind == JsonKind::Null {
                    self.traces = None;
                    return Ok(());
                }
                let request =
                    serde_json::from_slice(&body[v.raw.clone()]).map_err(|e| format!("invalid traces: {e}"))?;
                self.traces = Some(request);
                Ok(())
            }
        })
    }
}

/// What code built on the reference stack reads payloads with: the same
/// decoder, through a JSON value.
impl<'de> serde::Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let body = serde_json::to_vec(&value).map_err(serde::de::Error::custom)?;
        Payload::decode(&body).map_err(serde::de::Error::custom)
    }
}

/// The kind of a Faro line, as Alloy's `kind` key and label spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Log,
    Exception,
    Measurement,
    Event,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Log, Kind::Exception, Kind::Measurement, Kind::Event];

    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Log => "log",
            Kind::Exception => "exception",
            Kind::Measurement => "measurement",
            Kind::Event => "event",
        }
    }
}

/// `payload.KeyVal`: an ordered map (wk8/go-ordered-map) where setting a
/// key again keeps its place.
#[derive(Default)]
struct KeyVals(Vec<(String, String)>);

impl KeyVals {
    /// `kv.Set`.
    fn set(&mut self, key: String, value: String) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(pair) => pair.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// `KeyValAdd`: empty values are not set.
    fn add(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() {
            self.set(key.into(), value);
        }
    }

    /// `MergeKeyValWithPrefix(kv, KeyValFromMap(map), prefix)`.
    fn add_map(&mut self, prefix: &str, map: &BTreeMap<String, String>) {
        for (k, v) in map {
            self.add(format!("{prefix}{k}"), v.clone());
        }
    }

    /// `MergeKeyVal(kv, trace.KeyVal())`.
    fn add_trace(&mut self, trace: &TraceContext) {
        self.add("traceID", trace.trace_id.clone());
        self.add("spanID", trace.span_id.clone());
    }
}

fn exception_hash(value: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(value.as_bytes())
}

fn stacktrace(e: &Exception) -> String {
    let mut out = format!("{}: {}", e.kind, e.value);
    for f in e.stacktrace.iter().flat_map(|s| &s.frames) {
        let module = if f.module.is_empty() {
            String::new()
        } else {
            format!("{}|", f.module)
        };
        out.push_str(&format!(
            "\n  at {} ({module}{}:{}:{})",
            f.function, f.filename, f.lineno, f.colno
        ));
    }
    out
}

fn meta_keyvals(m: &Meta, kv: &mut KeyVals) {
    kv.add("sdk_name", m.sdk.name.clone());
    kv.add("sdk_version", m.sdk.version.clone());
    let integrations: Vec<String> = m
        .sdk
        .integrations
        .iter()
        .map(|i| format!("{}:{}", i.name, i.version))
        .collect();
    kv.add("sdk_integrations", integrations.join(","));
    kv.add("app_name", m.app.name.clone());
    kv.add("app_namespace", m.app.namespace.clone());
    kv.add("app_release", m.app.release.clone());
    kv.add("app_version", m.app.version.clone());
    kv.add("app_environment", m.app.environment.clone());
    kv.add("user_email", m.user.email.clone());
    kv.add("user_id", m.user.id.clone());
    kv.add("user_username", m.user.username.clone());
    kv.add_map("user_attr_", &m.user.attributes);
    kv.add("session_id", m.session.id.clone());
    kv.add_map("session_attr_", &m.session.attributes);
    kv.add("page_id", m.page.id.clone());
    kv.add("page_url", m.page.url.clone());
    kv.add_map("page_attr_", &m.page.attributes);
    kv.add("browser_name", m.browser.name.clone());
    kv.add("browser_version", m.browser.version.clone());
    kv.add("browser_os", m.browser.os.clone());
    kv.add("browser_mobile", m.browser.mobile.to_string());
    kv.add("browser_userAgent", m.browser.user_agent.clone());
    kv.add("browser_language", m.browser.language.clone());
    kv.add("browser_viewportWidth", m.browser.viewport_width.clone());
    kv.add("browser_viewportHeight", m.browser.viewport_height.clone());
    kv.add("view_name", m.view.name.clone());
}

/// The Loki lines of a payload, in Alloy's order: logs, exceptions,
/// measurements, events. A line go-logfmt refuses (a key with nothing
/// left once filtered) is logged and dropped by Alloy, so it is left out.
pub fn lines(p: &Payload) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    let mut finish = |kind: Kind, mut kv: KeyVals| {
        meta_keyvals(&p.meta, &mut kv);
        if let Ok(line) = logfmt::marshal_keyvals(&kv.0) {
            out.push((kind, line));
        }
    };
    for l in &p.logs {
        let mut kv = KeyVals::default();
        kv.add("timestamp", l.timestamp.string());
        kv.add("kind", "log");
        kv.add("message", l.message.clone());
        kv.add("level", l.level.clone());
        kv.add_map("context_", &l.context);
        kv.add_trace(&l.trace);
        finish(Kind::Log, kv);
    }
    for e in &p.exceptions {
        let mut kv = KeyVals::default();
        kv.add("timestamp", e.timestamp.string());
        kv.add("kind", "exception");
        kv.add("type", e.kind.clone());
        kv.add("value", e.value.clone());
        kv.add("stacktrace", stacktrace(e));
        kv.add("hash", exception_hash(&e.value).to_string());
        kv.add_map("context_", &e.context);
        kv.add_trace(&e.trace);
        finish(Kind::Exception, kv);
    }
    for m in &p.measurements {
        let mut kv = KeyVals::default();
        kv.add("timestamp", m.timestamp.string());
        kv.add("kind", "measurement");
        kv.add("type", m.kind.clone());
        for (k, v) in &m.values {
            kv.add(k.clone(), fmt::percent_f(*v));
        }
        kv.add_trace(&m.trace);
        kv.add_map("context_", &m.context);
        // `KeyValFromFloatMap`: float64 values, which logfmt prints `%v`.
        for (k, v) in &m.values {
            kv.set(format!("value_{k}"), strconv::format_float_g(*v));
        }
        finish(Kind::Measurement, kv);
    }
    for e in &p.events {
        let mut kv = KeyVals::default();
        kv.add("timestamp", e.timestamp.string());
        kv.add("kind", "event");
        kv.add("event_name", e.name.clone());
        kv.add("event_domain", e.domain.clone());
        kv.add_map("event_data_", &e.attributes);
        kv.add_trace(&e.trace);
        finish(Kind::Event, kv);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines `shared/reference/api/01-faro-receiver.md` §1.3 lists for
    /// `examples/faro-payload.json`; the meta suffix is written out once.
    const META: &str = "sdk_name=@grafana/faro-web-sdk sdk_version=1.12.2 app_name=harness-frontend app_version=1.0.0 app_environment=test user_id=u-1 session_id=sess-0001 session_attr_run=r42 page_url=http://localhost:5173/dashboard browser_name=Chrome browser_version=124.0 browser_os=Linux browser_mobile=false browser_userAgent=harness/1.0 browser_language=en-US browser_viewportWidth=1280 browser_viewportHeight=720 view_name=default";

    /// `tests/fixtures/go/faro-payload-decode.json`: bodies decoded by
    /// `json.NewDecoder(body).Decode(&p)` into a copy of Alloy v1.13's
    /// `payload.Payload` types (its `Traces` stubbed), with Go's v1
    /// `encoding/json` (`GOEXPERIMENT=nojsonv2`) and `time`, local zone
    /// UTC: the error text, or the payload's timestamps as `String()`.
    #[test]
    fn bodies_decode_as_go_decodes_them_into_alloys_payload() {
        #[derive(serde::Deserialize)]
        struct Row {
            #[serde(rename = "in")]
            body: String,
            err: Option<String>,
            times: Vec<String>,
        }
        let rows: Vec<Row> =
            serde_json::from_str(include_str!("../tests/fixtures/go/faro-payload-decode.json")).unwrap();
        assert!(rows.len() > 100);
        for row in rows {
            let got = Payload::decode(row.body.as_bytes()).map(|p| {
                let times = p.logs.iter().map(|l| l.timestamp);
                let times = times.chain(p.exceptions.iter().map(|e| e.timestamp));
                let times = times.chain(p.measurements.iter().map(|m| m.timestamp));
                let times = times.chain(p.events.iter().map(|e| e.timestamp));
                times.map(|t| t.string()).collect::<Vec<_>>()
            });
            let want = match row.err {
                Some(err) => Err(err),
                None => Ok(row.times),
            };
            assert_eq!(got, want, "{}", row.body);
        }
    }

    #[test]
    fn decoded_values_are_gos() {
        let p = Payload::decode(br#"{"logs":[{"message":"a\ud83d\ude00b\udc00c\ud800\u0041","context":{"a":"1"},"context":{"b":"2"}}],"LOGS":null}"#).unwrap();
        assert!(p.logs.is_empty(), "a later null empties the slice");
        let p = Payload::decode(
            br#"{"logs":[{"message":"a\ud83d\ude00b\udc00c\ud800\u0041","context":{"a":"1"},"Context":{"b":null}}]}"#,
        )
        .unwrap();
        assert_eq!(p.logs[0].message, "a\u{1f600}b\u{fffd}c\u{fffd}A");
        let context: Vec<(&str, &str)> = p.logs[0]
            .context
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(context, [("a", "1"), ("b", "")], "a repeated map adds to the first");
        let p = Payload::decode(b"{\"logs\":[{\"message\":\"\xff\xe2\x82x\"}]}").unwrap();
        assert_eq!(
            p.logs[0].message, "\u{fffd}\u{fffd}\u{fffd}x",
            "one U+FFFD per bad byte"
        );
    }

    #[test]
    fn reference_payload_gives_alloys_lines_byte_for_byte() {
        let payload = Payload::decode(include_bytes!("../../tests/fixtures/reference/faro-payload.json")).unwrap();
        let got = lines(&payload);
        let expected = [
            (
                Kind::Log,
                format!(
                    "timestamp=\"2025-01-01 00:00:00 +0000 UTC\" kind=log message=\"harness log r42\" level=info context_run=r42 traceID=4bf92f3577b34da6a3ce929d0e0e4736 spanID=00f067aa0ba902b7 {META}"
                ),
            ),
            (
                Kind::Exception,
                format!(
                    "timestamp=\"2025-01-01 00:00:00 +0000 UTC\" kind=exception type=Error value=\"Cannot read property 'find' of undefined\" stacktrace=\"Error: Cannot read property 'find' of undefined\\n  at dispatchAction (app.js:10:5)\" hash=2735541995122471342 context_run=r42 {META}"
                ),
            ),
            (
                Kind::Measurement,
                format!(
                    "timestamp=\"2025-01-01 00:00:00 +0000 UTC\" kind=measurement type=web-vitals delta=2500.000000 lcp=2500.000000 context_id=v4-1 context_navigation_type=navigate context_rating=good value_delta=2500 value_lcp=2500 {META}"
                ),
            ),
            (
                Kind::Event,
                format!(
                    "timestamp=\"2025-01-01 00:00:00 +0000 UTC\" kind=event event_name=harness_click event_domain=harness event_data_run=r42 {META}"
                ),
            ),
        ];
        assert_eq!(got.len(), expected.len());
        for ((gk, gl), (ek, el)) in got.iter().zip(expected.iter()) {
            assert_eq!(gk, ek);
            assert_eq!(gl, el);
        }
    }
}
