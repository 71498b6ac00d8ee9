//! Alloy's `otelcol.exporter.loki` (v1.13, the collector-contrib Loki
//! translator v0.142): how the deployment turns OTLP log records into Loki
//! push entries (`shared/reference/api/05-loki.md` §5.2, §5.5).
//!
//! Labels: `exporter="OTLP"`, `job` = `<service.namespace>/<service.name>`
//! (or the name alone), `instance` = `service.instance.id`, `level` from
//! the severity number (`9` → `INFO`), plus the attributes the
//! `loki.attribute.labels` / `loki.resource.labels` hints name, with label
//! names normalized as Prometheus does. The line is Go's `json.Marshal` of
//! `{body, traceid, spanid, severity, flags, attributes, resources,
//! instrumentation_scope}` in that order, empty fields left out, map keys
//! sorted, `<`, `>` and `&` escaped. Promoted attributes and the hints
//! leave the line. The entry time is the record's, else its observed time,
//! else now. Loki then finds `service_name` from `job`.
//!
//! `loki.format=raw` writes the body as it is; `logfmt` is not reproduced
//! and such records are dropped (counted as received, never stored).
//!
//! Uses: logs (push entries), ids (hex), go::json.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

use crate::go::json;
use crate::ids::hex;
use crate::logs::{Entry, Labels};

const ATTRIBUTE_HINT: &str = "loki.attribute.labels";
const RESOURCE_HINT: &str = "loki.resource.labels";
const FORMAT_HINT: &str = "loki.format";
const TENANT_HINT: &str = "loki.tenant";

/// The push streams one export request becomes, grouped by label set.
pub fn streams(request: &ExportLogsServiceRequest, now_ns: u64) -> Vec<(Labels, Vec<Entry>)> {
    let mut out: Vec<(Labels, Vec<Entry>)> = Vec::new();
    for rl in &request.resource_logs {
        let resource = rl
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        for sl in &rl.scope_logs {
            let scope = sl.scope.as_ref();
            for record in &sl.log_records {
                let mut attributes = record.attributes.clone();
                let mut resource = resource.to_vec();
                let mut labels = default_labels(&resource);
                let mut promoted: Vec<String> = Vec::new();
                // `level` joins the attribute hint, from the number unless
                // the record carries a `level` attribute already.
                if record.severity_number != 0 {
                    let level = match find(&attributes, "level") {
                        Some(v) => as_string(v),
                        None => severity_level(record.severity_number).to_owned(),
                    };
                    labels.insert("level".into(), level);
                    promoted.push("level".into());
                }
                let format = find(&resource, FORMAT_HINT)
                    .or_else(|| find(&attributes, FORMAT_HINT))
                    .map(as_string)
                    .unwrap_or_else(|| "json".into());
                for name in hint(&resource, RESOURCE_HINT)
                    .into_iter()
                    .chain(hint(&attributes, RESOURCE_HINT))
                {
                    if let Some(v) = find(&resource, &name) {
                        labels.insert(normalize_label(&name), as_string(v));
                        promoted.push(name);
                    }
                }
                for name in hint(&attributes, ATTRIBUTE_HINT) {
                    if let Some(v) = find(&attributes, &name) {
                        labels.insert(normalize_label(&name), as_string(v));
                        promoted.push(name);
                    }
                }
                let removed = |kv: &KeyValue| {
                    [ATTRIBUTE_HINT, RESOURCE_HINT, FORMAT_HINT, TENANT_HINT].contains(&kv.key.as_str())
                        || promoted.contains(&kv.key)
                        || labels.contains_key(&kv.key)
                };
                attributes.retain(|kv| !removed(kv));
                resource.retain(|kv| !removed(kv));
                let line = match format.as_str() {
                    "json" => json_line(record, &attributes, &resource, scope),
                    "raw" => record.body.as_ref().map(as_string).unwrap_or_default(),
                    // Not reproduced: dropped, as an unknown format is.
                    _ => continue,
                };
                let ts = [record.time_unix_nano, record.observed_time_unix_nano]
                    .into_iter()
                    .find(|&t| t != 0)
                    .unwrap_or(now_ns);
                let entry = (ts, line, Labels::new());
                match out.iter_mut().find(|(l, _)| *l == labels) {
                    Some((_, entries)) => entries.push(entry),
                    None => out.push((labels, vec![entry])),
                }
            }
        }
    }
    out
}

fn default_labels(resource: &[KeyValue]) -> Labels {
    let mut labels = Labels::from([("exporter".to_owned(), "OTLP".to_owned())]);
    if let Some(name) = find(resource, "service.name") {
        let job = match find(resource, "service.namespace") {
            Some(ns) => format!("{}/{}", as_string(ns), as_string(name)),
            None => as_string(name),
        };
        labels.insert("job".into(), job);
    }
    if let Some(instance) = find(resource, "service.instance.id") {
        labels.insert("instance".into(), as_string(instance));
    }
    labels
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key)?.value.as_ref()
}

/// The names a hint lists: a comma-separated string or a list.
fn hint(attrs: &[KeyValue], key: &str) -> Vec<String> {
    match find(attrs, key).and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.split(',').map(|n| n.trim().to_owned()).collect(),
        Some(any_value::Value::ArrayValue(list)) => list.values.iter().map(as_string).collect(),
        _ => Vec::new(),
    }
}

/// `SeverityNumber` to the translator's level names.
fn severity_level(n: i32) -> &'static str {
    const NAMES: [&str; 24] = [
        "TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3", "DEBUG4", "INFO", "INFO2", "INFO3",
        "INFO4", "WARN", "WARN2", "WARN3", "WARN4", "ERROR", "ERROR2", "ERROR3", "ERROR4", "FATAL", "FATAL2", "FATAL3",
        "FATAL4",
    ];
    usize::try_from(n - 1)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("")
}

/// Prometheus' label-name normalization: other characters become `_`, a
/// leading digit gets `key_`, a single leading `_` gets `key`.
fn normalize_label(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out = format!("key_{out}");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out = format!("key{out}");
    }
    out
}

/// `pcommon.Value.AsString`.
fn as_string(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        None => String::new(),
        _ => {
            let mut out = String::new();
            json_value(&mut out, v);
            out
        }
    }
}

fn json_line(
    record: &opentelemetry_proto::tonic::logs::v1::LogRecord,
    attributes: &[KeyValue],
    resource: &[KeyValue],
    scope: Option<&opentelemetry_proto::tonic::common::v1::InstrumentationScope>,
) -> String {
    let mut fields: Vec<(&str, String)> = Vec::new();
    if let Some(body) = record.body.as_ref().filter(|b| b.value.is_some()) {
        let mut text = String::new();
        json_value(&mut text, body);
        fields.push(("body", text));
    }
    let id = |bytes: &[u8]| (!bytes.is_empty() && bytes.iter().any(|b| *b != 0)).then(|| json::string(&hex(bytes)));
    if let Some(trace) = id(&record.trace_id) {
        fields.push(("traceid", trace));
    }
    if let Some(span) = id(&record.span_id) {
        fields.push(("spanid", span));
    }
    if !record.severity_text.is_empty() {
        fields.push(("severity", json::string(&record.severity_text)));
    }
    if record.flags != 0 {
        fields.push(("flags", record.flags.to_string()));
    }
    if !attributes.is_empty() {
        fields.push(("attributes", json_map(attributes)));
    }
    if !resource.is_empty() {
        fields.push(("resources", json_map(resource)));
    }
    if let Some(scope) = scope.filter(|s| !s.name.is_empty()) {
        let mut text = format!("{{\"name\":{}", json::string(&scope.name));
        if !scope.version.is_empty() {
            let _ = write!(text, ",\"version\":{}", json::string(&scope.version));
        }
        text.push('}');
        fields.push(("instrumentation_scope", text));
    }
    let inner: Vec<String> = fields.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", inner.join(","))
}

/// An attribute list as Go marshals a `map[string]interface{}`: keys
/// sorted, a repeated key keeping its last value.
fn json_map(attrs: &[KeyValue]) -> String {
    let sorted: BTreeMap<&str, Option<&AnyValue>> =
        attrs.iter().map(|kv| (kv.key.as_str(), kv.value.as_ref())).collect();
    let mut out = String::from("{");
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json::string(k));
        out.push(':');
        match v {
            Some(v) => json_value(&mut out, v),
            None => out.push_str("null"),
        }
    }
    out.push('}');
    out
}

/// `AsRaw()` marshalled by Go's `encoding/json`.
fn json_value(out: &mut String, v: &AnyValue) {
    match &v.value {
        None => out.push_str("null"),
        Some(any_value::Value::StringValue(s)) => out.push_str(&json::string(s)),
        Some(any_value::Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(any_value::Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(any_value::Value::DoubleValue(d)) => out.push_str(&json::float(*d)),
        Some(any_value::Value::BytesValue(b)) => {
            out.push_str(&json::string(&base64::engine::general_purpose::STANDARD.encode(b)))
        }
        Some(any_value::Value::ArrayValue(list)) => {
            out.push('[');
            for (i, item) in list.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_value(out, item);
            }
            out.push(']');
        }
        Some(any_value::Value::KvlistValue(list)) => out.push_str(&json_map(&list.values)),
        // A reference into a profile's string table: no text of its own here.
        Some(any_value::Value::StringValueStrindex(_)) => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn request(record: LogRecord, resource: Vec<KeyValue>, scope: &str) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: scope.into(),
                        ..Default::default()
                    }),
                    log_records: vec![record],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn the_deployments_backend_line_byte_for_byte() {
        // shared/reference/api/05-loki.md §5.5, with the backend's names.
        let record = LogRecord {
            time_unix_nano: 1_735_689_600_000_000_001,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(
                    "GET /api/delay/fast completed in 52 ms".into(),
                )),
            }),
            attributes: vec![kv("logger", "app.routes.delay"), kv("function", "delay")],
            trace_id: vec![
                0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
            ],
            span_id: vec![0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
            ..Default::default()
        };
        let resource = vec![
            kv("service.name", "durable-code-backend"),
            kv("service.namespace", "durable-code"),
            kv("deployment.environment", "prod"),
        ];
        let streams = streams(&request(record, resource, "app"), 0);
        assert_eq!(streams.len(), 1);
        let (labels, entries) = &streams[0];
        assert_eq!(
            labels,
            &Labels::from([
                ("exporter".into(), "OTLP".into()),
                ("job".into(), "durable-code/durable-code-backend".into()),
                ("level".into(), "INFO".into()),
            ])
        );
        assert_eq!(entries[0].0, 1_735_689_600_000_000_001);
        assert_eq!(
            entries[0].1,
            r#"{"body":"GET /api/delay/fast completed in 52 ms","traceid":"4bf92f3577b34da6a3ce929d0e0e4736","spanid":"00f067aa0ba902b7","severity":"INFO","attributes":{"function":"delay","logger":"app.routes.delay"},"resources":{"deployment.environment":"prod","service.name":"durable-code-backend","service.namespace":"durable-code"},"instrumentation_scope":{"name":"app"}}"#
        );
    }

    #[test]
    fn alloys_label_hint_test() {
        // Alloy's convert_test.go "LabelHint".
        let record = LogRecord {
            time_unix_nano: 1_581_452_773_000_000_111,
            severity_number: 9,
            severity_text: "Info".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue("AUTH log message".into())),
            }),
            attributes: vec![
                kv("attr.1", "12345"),
                kv("attr.2", "fake_token"),
                kv("loki.attribute.labels", "attr.1"),
            ],
            ..Default::default()
        };
        let streams = streams(&request(record, Vec::new(), ""), 0);
        let (labels, entries) = &streams[0];
        assert_eq!(
            labels,
            &Labels::from([
                ("exporter".into(), "OTLP".into()),
                ("attr_1".into(), "12345".into()),
                ("level".into(), "INFO".into()),
            ])
        );
        assert_eq!(
            entries[0].1,
            r#"{"body":"AUTH log message","severity":"Info","attributes":{"attr.2":"fake_token"}}"#
        );
    }

    #[test]
    fn label_names_and_levels() {
        assert_eq!(normalize_label("2 cents"), "key_2_cents");
        assert_eq!(normalize_label("_name"), "key_name");
        assert_eq!(normalize_label("host.name"), "host_name");
        assert_eq!(severity_level(17), "ERROR");
    }
}
