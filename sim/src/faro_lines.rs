//! Faro payloads turned into Loki lines exactly as Alloy's `faro.receiver`
//! writes them (v1.13, `shared/reference/api/01-faro-receiver.md` §1.3):
//! one logfmt line per log, exception, measurement and event, keys in
//! Alloy's fixed order, the payload timestamp as Go's `time.Time.String()`,
//! `traceID`/`spanID`, then the meta keys; empty values left out except
//! `browser_mobile`.
//!
//! Uses: nothing else in the crate.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A Faro payload as Alloy decodes it: unknown fields ignored, string-only
/// context maps, RFC 3339 timestamps (a type mismatch is a 400).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Payload {
    pub exceptions: Vec<Exception>,
    pub logs: Vec<Log>,
    pub measurements: Vec<Measurement>,
    pub events: Vec<Event>,
    pub meta: Meta,
    pub traces: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Log {
    pub message: String,
    pub level: String,
    pub context: BTreeMap<String, String>,
    pub timestamp: Option<String>,
    pub trace: TraceContext,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Frame {
    pub function: String,
    pub module: String,
    pub filename: String,
    pub lineno: i64,
    pub colno: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Stacktrace {
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Exception {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    pub stacktrace: Option<Stacktrace>,
    pub timestamp: Option<String>,
    pub trace: TraceContext,
    pub context: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Measurement {
    #[serde(rename = "type")]
    pub kind: String,
    pub values: BTreeMap<String, f64>,
    pub timestamp: Option<String>,
    pub trace: TraceContext,
    pub context: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    pub name: String,
    pub domain: String,
    pub attributes: BTreeMap<String, String>,
    pub timestamp: Option<String>,
    pub trace: TraceContext,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Integration {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Sdk {
    pub name: String,
    pub version: String,
    pub integrations: Vec<Integration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct App {
    pub name: String,
    pub namespace: String,
    pub release: String,
    pub version: String,
    pub environment: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct User {
    pub email: String,
    pub id: String,
    pub username: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Session {
    pub id: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Page {
    pub id: String,
    pub url: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct View {
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Meta {
    pub sdk: Sdk,
    pub app: App,
    pub user: User,
    pub session: Session,
    pub page: Page,
    pub browser: Browser,
    pub view: View,
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

/// Ordered key/values, empty values left out.
#[derive(Default)]
struct KeyVals(Vec<(String, String)>);

impl KeyVals {
    fn add(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() {
            self.0.push((key.into(), value));
        }
    }

    fn add_map(&mut self, prefix: &str, map: &BTreeMap<String, String>) {
        for (k, v) in map {
            self.add(format!("{prefix}{k}"), v.clone());
        }
    }

    fn add_trace(&mut self, trace: &TraceContext) {
        self.add("traceID", trace.trace_id.clone());
        self.add("spanID", trace.span_id.clone());
    }

    fn logfmt(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.0 {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(k);
            out.push('=');
            push_value(&mut out, v);
        }
        out
    }
}

/// A logfmt value as go-logfmt writes it: quoted when it holds a space,
/// `=`, `"` or a control character.
fn push_value(out: &mut String, v: &str) {
    if !v.chars().any(|c| c <= ' ' || c == '=' || c == '"' || c == '\u{fffd}') {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `time.Time.String()` of an RFC 3339 timestamp; the zero time when
/// absent, as Go decodes a missing field.
pub fn go_time(timestamp: Option<&str>) -> String {
    const ZERO: &str = "0001-01-01 00:00:00 +0000 UTC";
    let Some(ts) = timestamp else { return ZERO.into() };
    let Some((date, rest)) = ts.split_once('T') else {
        return ZERO.into();
    };
    let (clock, zone) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "Z"),
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((hms, frac)) => (hms, frac.trim_end_matches('0')),
        None => (clock, ""),
    };
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    let zone = match zone {
        "Z" | "z" => "+0000 UTC".to_owned(),
        offset => {
            let compact = offset.replace(':', "");
            format!("{compact} {compact}")
        }
    };
    format!("{date} {hms}{frac} {zone}")
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): shortest
/// digits, exponent form when the shortest decimal's exponent is below -4
/// or from 6 up, e.g. `2.5e+06`. The exponent is the shortest decimal's,
/// not `log10`'s: 999999.9999999999 stays plain, 9.999999999999999e-05
/// does not.
pub fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    // `{:e}` is the shortest round-trip decimal, as strconv's digits are.
    let text = format!("{f:e}");
    let (mantissa, e) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
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
/// measurements, events.
pub fn lines(p: &Payload) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    let mut finish = |kind: Kind, mut kv: KeyVals| {
        meta_keyvals(&p.meta, &mut kv);
        out.push((kind, kv.logfmt()));
    };
    for l in &p.logs {
        let mut kv = KeyVals::default();
        kv.add("timestamp", go_time(l.timestamp.as_deref()));
        kv.add("kind", "log");
        kv.add("message", l.message.clone());
        kv.add("level", l.level.clone());
        kv.add_map("context_", &l.context);
        kv.add_trace(&l.trace);
        finish(Kind::Log, kv);
    }
    for e in &p.exceptions {
        let mut kv = KeyVals::default();
        kv.add("timestamp", go_time(e.timestamp.as_deref()));
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
        kv.add("timestamp", go_time(m.timestamp.as_deref()));
        kv.add("kind", "measurement");
        kv.add("type", m.kind.clone());
        for (k, v) in &m.values {
            kv.add(k.clone(), format!("{v:.6}"));
        }
        kv.add_trace(&m.trace);
        kv.add_map("context_", &m.context);
        for (k, v) in &m.values {
            kv.add(format!("value_{k}"), go_float(*v));
        }
        finish(Kind::Measurement, kv);
    }
    for e in &p.events {
        let mut kv = KeyVals::default();
        kv.add("timestamp", go_time(e.timestamp.as_deref()));
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

    #[test]
    fn reference_payload_gives_alloys_lines_byte_for_byte() {
        let payload: Payload =
            serde_json::from_str(include_str!("../../tests/fixtures/reference/faro-payload.json")).unwrap();
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

    #[test]
    fn go_formats() {
        assert_eq!(
            go_time(Some("2021-09-30T10:46:17.680Z")),
            "2021-09-30 10:46:17.68 +0000 UTC"
        );
        assert_eq!(go_time(Some("2025-01-01T00:00:00Z")), "2025-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            go_time(Some("2025-01-01T02:00:00+02:00")),
            "2025-01-01 02:00:00 +0200 +0200"
        );
        assert_eq!(go_time(None), "0001-01-01 00:00:00 +0000 UTC");
        assert_eq!(go_float(2500.0), "2500");
        assert_eq!(go_float(22.12), "22.12");
        assert_eq!(go_float(0.0), "0");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(2.5e6), "2.5e+06");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(0.00001), "1e-05");
        // Where log10 and the shortest decimal disagree on the exponent.
        assert_eq!(go_float(999999.9999999999), "999999.9999999999");
        assert_eq!(go_float(0.00009999999999999999), "9.999999999999999e-05");
        assert_eq!(go_float(-2.5e-7), "-2.5e-07");
    }
}
