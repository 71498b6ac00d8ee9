//! The rules on Grafana's correlation settings: exemplar destinations,
//! derived fields, the Tempo datasource's traces-to-logs / metrics /
//! profiles tags, and span profiles — each against what this pipeline
//! writes (`shared/reference/api/02-grafana-http-api.md` §2.6).
//!
//! Uses: lint::{model, pipeline, finding}, correlation::links (how Grafana
//! reads these settings), query::loki (log lines).

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::correlation::links::{self, DerivedField};
use crate::lint::finding::{Finding, Rule};
use crate::lint::model::Deployment;
use crate::lint::pipeline::{LogFormat, Pipeline};
use crate::query::loki::LogLine;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

pub fn exemplar_label(model: &Deployment, pipeline: &Pipeline, out: &mut Vec<Finding>) {
    // Each label an exemplar path writes, with what shows the path.
    let mut written: Vec<(&str, String)> = Vec::new();
    if let Some(at) = &pipeline.otlp_metrics {
        written.push((
            "trace_id",
            format!(
                "{}:{}: OTLP metrics reach Mimir here; their exemplars carry `trace_id`",
                at.file(),
                at.line
            ),
        ));
    }
    if let Some(g) = model.metrics_generators.iter().find(|g| g.send_exemplars) {
        written.push((
            "traceID",
            format!(
                "{}:{}: Tempo's metrics generator remote-writes exemplars; they carry `traceID`",
                g.at.file(),
                g.at.line
            ),
        ));
    }
    if written.is_empty() {
        return;
    }
    let tempo_uid = model.datasources_of("tempo").next().map_or("tempo", |d| d.uid.as_str());
    for ds in model.datasources_of("prometheus") {
        let destinations = links::exemplar_destinations(&ds.json_data);
        // A Prometheus datasource that is not Mimir's and links no exemplars
        // is someone else's business.
        let is_mimir = [&ds.uid, &ds.name].iter().any(|s| s.to_lowercase().contains("mimir"));
        if destinations.is_empty() && !is_mimir {
            continue;
        }
        let names: Vec<&str> = destinations.iter().map(|d| d.name.as_str()).collect();
        let at = ds.key_at("exemplarTraceIdDestinations");
        for d in destinations
            .iter()
            .filter(|d| d.datasource_uid.is_empty() && !d.name.is_empty())
        {
            let raw = &ds.json_data["exemplarTraceIdDestinations"];
            let has_url = raw
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["name"] == d.name.as_str() && e["url"].is_string());
            if !has_url {
                out.push(
                    Finding::new(
                        Rule::ExemplarLabel,
                        at.find_within(&[&format!("name: {}", d.name), &format!("\"{}\"", d.name)], ds.end_line),
                        format!("exemplar destination `{}` names neither a datasourceUid nor a url: its exemplars link nowhere", d.name),
                    )
                    .fix(format!("add `datasourceUid: {tempo_uid}`")),
                );
            }
        }
        for (label, why) in &written {
            if !names.contains(label) {
                out.push(
                    Finding::new(
                        Rule::ExemplarLabel,
                        at.clone(),
                        format!("datasource `{}` has no exemplar destination for the label `{label}`, so those exemplars link to no trace", ds.uid),
                    )
                    .evidence(why.clone())
                    .evidence(format!("exemplarTraceIdDestinations names: {names:?}"))
                    .fix(format!("add `- name: {label}` with `datasourceUid: {tempo_uid}` to exemplarTraceIdDestinations")),
                );
            }
        }
        for name in &names {
            if !written.iter().any(|(label, _)| label == name) {
                let labels: Vec<&str> = written.iter().map(|(l, _)| *l).collect();
                out.push(
                    Finding::new(
                        Rule::ExemplarLabel,
                        at.find_within(&[&format!("name: {name}"), &format!("\"{name}\"")], ds.end_line),
                        format!("exemplar destination `{name}` names a label no metrics path of this pipeline writes"),
                    )
                    .evidence(format!("the metrics paths write exemplar labels {labels:?}"))
                    .fix(format!("rename it to {}", labels.join(" or "))),
                );
            }
        }
    }
}

/// A line as `format` writes it to Loki, for the sample trace.
fn sample(format: LogFormat) -> LogLine {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let (stream, metadata, line) = match format {
        LogFormat::OtlpIngest => (
            map(&[("service_name", "durable-code-backend")]),
            map(&[("trace_id", TRACE_ID), ("span_id", SPAN_ID)]),
            "request handled".to_owned(),
        ),
        LogFormat::ExporterLoki => (
            map(&[
                ("exporter", "OTLP"),
                ("job", "durable-code/durable-code-backend"),
                ("level", "INFO"),
            ]),
            BTreeMap::new(),
            format!(
                r#"{{"body":"request handled","traceid":"{TRACE_ID}","spanid":"{SPAN_ID}","severity":"INFO","resources":{{"service.name":"durable-code-backend"}}}}"#
            ),
        ),
        LogFormat::FaroLogfmt => (
            map(&[("app", "durable-code-frontend"), ("kind", "log")]),
            BTreeMap::new(),
            format!(
                r#"timestamp="2025-01-01 00:00:00 +0000 UTC" kind=log message="page loaded" level=info traceID={TRACE_ID} spanID={SPAN_ID} app_name=durable-code-frontend"#
            ),
        ),
        LogFormat::FaroJson => (
            map(&[("app", "durable-code-frontend"), ("kind", "log")]),
            BTreeMap::new(),
            format!(
                r#"{{"app_name":"durable-code-frontend","kind":"log","level":"info","message":"page loaded","spanID":"{SPAN_ID}","traceID":"{TRACE_ID}"}}"#
            ),
        ),
    };
    LogLine {
        stream,
        structured_metadata: metadata,
        parsed: BTreeMap::new(),
        ts_ns: 0,
        line,
    }
}

/// A derived field that extracts the trace id from `format`'s lines.
fn working_field(format: LogFormat) -> &'static str {
    match format {
        LogFormat::OtlpIngest => "matcherType: label, matcherRegex: trace_id",
        LogFormat::ExporterLoki => r#"matcherType: regex, matcherRegex: '"traceid":"(\w+)"'"#,
        LogFormat::FaroLogfmt => r"matcherType: regex, matcherRegex: 'traceID=(\w+)'",
        LogFormat::FaroJson => r#"matcherType: regex, matcherRegex: '"traceID":"(\w+)"'"#,
    }
}

pub fn derived_field(model: &Deployment, pipeline: &Pipeline, out: &mut Vec<Finding>) {
    for ds in model.datasources_of("loki") {
        let fields: Vec<DerivedField> = links::derived_fields(&ds.json_data);
        let at = ds.key_at("derivedFields");
        for field in &fields {
            if let Err(problem) = field.extract(&sample(LogFormat::OtlpIngest)) {
                out.push(
                    Finding::new(Rule::DerivedField, at.find(&field.matcher_regex), problem)
                        .fix("write the regex in Go RE2 syntax, with one capture group for the trace id"),
                );
            }
        }
        for (format, written_by) in &pipeline.log_formats {
            let line = sample(*format);
            let extracted: Vec<String> = fields
                .iter()
                .map(|f| {
                    let got = f.extract(&line).ok().flatten();
                    format!(
                        "derived field `{}` ({} `{}`) extracts {}",
                        f.name,
                        f.matcher_type.as_deref().unwrap_or("regex"),
                        f.matcher_regex,
                        got.map_or("nothing".to_owned(), |v| format!("`{v}`"))
                    )
                })
                .collect();
            let works = fields
                .iter()
                .any(|f| f.extract(&line).ok().flatten().as_deref() == Some(TRACE_ID));
            if works {
                continue;
            }
            let shown = if *format == LogFormat::OtlpIngest {
                format!("structured metadata trace_id={TRACE_ID}")
            } else {
                line.line.clone()
            };
            let mut finding = Finding::new(
                Rule::DerivedField,
                at.clone(),
                format!(
                    "no derived field of datasource `{}` extracts the trace id from {}",
                    ds.uid,
                    format.describe()
                ),
            )
            .evidence(format!(
                "{}:{}: writes these lines to Loki",
                written_by.file(),
                written_by.line
            ))
            .evidence(format!("sample: {shown}"));
            if extracted.is_empty() {
                finding = finding.evidence("the datasource has no derivedFields");
            }
            for e in extracted {
                finding = finding.evidence(e);
            }
            out.push(finding.fix(format!(
                "add a derived field with {} and datasourceUid of the Tempo datasource",
                working_field(*format)
            )));
        }
    }
}

/// `tags` of a trace-to-X setting: (span attribute, label) pairs, a
/// label left empty meaning the attribute with `.` made `_`.
fn tags(settings: &Json) -> Vec<(String, String)> {
    settings["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let key = t["key"].as_str()?.to_owned();
            let value = t["value"].as_str().filter(|v| !v.is_empty()).map(str::to_owned);
            Some((key.clone(), value.unwrap_or_else(|| key.replace('.', "_"))))
        })
        .collect()
}

/// Whether the backend's resource sets `service.namespace`. Unknown
/// (no backend container among the files) counts as set, as the
/// deployment does.
fn backend_sets_namespace(model: &Deployment) -> bool {
    let backends: Vec<_> = model
        .containers
        .iter()
        .filter(|c| c.env("OTEL_SERVICE_NAME").is_some())
        .collect();
    backends.is_empty()
        || backends.iter().any(|c| {
            c.env("OTEL_RESOURCE_ATTRIBUTES")
                .is_some_and(|e| e.value.contains("service.namespace="))
                || c.env("OTEL_SERVICE_NAMESPACE").is_some()
        })
}

/// Index labels of Loki streams for the backend's logs, per path.
fn stream_labels(format: LogFormat) -> &'static [&'static str] {
    match format {
        LogFormat::OtlpIngest => &[
            "service_name",
            "service_namespace",
            "service_instance_id",
            "deployment_environment",
            "cloud_region",
            "cloud_availability_zone",
            "k8s_cluster_name",
            "k8s_namespace_name",
            "k8s_pod_name",
            "k8s_container_name",
            "container_name",
        ],
        LogFormat::ExporterLoki => &["exporter", "job", "instance", "level", "service_name"],
        LogFormat::FaroLogfmt | LogFormat::FaroJson => &["app", "kind", "service_name"],
    }
}

pub fn traces_to_logs_tags(model: &Deployment, pipeline: &Pipeline, out: &mut Vec<Finding>) {
    for ds in model.datasources_of("tempo") {
        let settings = &ds.json_data["tracesToLogsV2"];
        if !settings.is_object() || settings["customQuery"].as_bool() == Some(true) {
            continue;
        }
        for (key, label) in tags(settings) {
            let at = ds.tag_at("tracesToLogsV2", &key);
            for (format, written_by) in pipeline.log_formats.iter().filter(|(f, _)| f.is_backend()) {
                let labels = stream_labels(*format);
                let written = format!(
                    "{}:{}: the backend's logs reach Loki as {}",
                    written_by.file(),
                    written_by.line,
                    format.describe()
                );
                if !labels.contains(&label.as_str()) {
                    out.push(
                        Finding::new(
                            Rule::TracesToLogsTags,
                            at.clone(),
                            format!("traces-to-logs maps `{key}` to the label `{label}`, which the backend's log streams do not carry"),
                        )
                        .evidence(written)
                        .evidence(format!("their labels: {labels:?}"))
                        .fix(format!("map `{key}` to one of {labels:?}, or drop the tag")),
                    );
                } else if *format == LogFormat::ExporterLoki
                    && key == "service.name"
                    && label == "service_name"
                    && backend_sets_namespace(model)
                {
                    out.push(
                        Finding::new(
                            Rule::TracesToLogsTags,
                            at.clone(),
                            "traces-to-logs selects `service_name` by the span's `service.name`, but on this path Loki's `service_name` is `<service.namespace>/<service.name>`: the query matches no stream",
                        )
                        .evidence(written)
                        .evidence("otelcol.exporter.loki sets job=\"<namespace>/<name>\" and Loki derives service_name from job, e.g. service_name=\"durable-code/durable-code-backend\" for a span with service.name=\"durable-code-backend\"")
                        .fix("send the logs to Loki's OTLP endpoint (otelcol.exporter.otlphttp to http://loki:3100/otlp), where service_name is service.name, or use a custom query"),
                    );
                }
            }
        }
    }
}

/// Labels the series Grafana's traces-to-metrics queries can select by:
/// OTLP series (`job`, `instance` and the backend's own attributes) and
/// Tempo's span metrics.
const METRIC_LABELS: [&str; 10] = [
    "job",
    "instance",
    "method",
    "path",
    "status_code",
    "service",
    "span_name",
    "span_kind",
    "status_message",
    "source",
];

pub fn traces_to_metrics_tags(model: &Deployment, out: &mut Vec<Finding>) {
    for ds in model.datasources_of("tempo") {
        let settings = &ds.json_data["tracesToMetrics"];
        for (key, label) in tags(settings) {
            if METRIC_LABELS.contains(&label.as_str()) {
                continue;
            }
            out.push(
                Finding::new(
                    Rule::TracesToMetricsTags,
                    ds.tag_at("tracesToMetrics", &key),
                    format!("traces-to-metrics maps `{key}` to the label `{label}`, which no series of this pipeline carries"),
                )
                .evidence("OTLP series in Mimir carry resource attributes only as job=\"<namespace>/<name>\" and instance (the rest is in target_info); span metrics carry service, span_name, span_kind, status_code")
                .evidence(format!("labels known on the series: {METRIC_LABELS:?}"))
                .fix(if key == "service.name" {
                    "map `service.name` to `service` (span metrics), or select by `job`".to_owned()
                } else {
                    format!("map `{key}` to a label the series carry, or drop the tag")
                }),
            );
        }
    }
}

pub fn traces_to_profiles_tags(model: &Deployment, out: &mut Vec<Finding>) {
    for ds in model.datasources_of("tempo") {
        let settings = &ds.json_data["tracesToProfiles"];
        if settings["customQuery"].as_bool() == Some(true) {
            continue;
        }
        for (key, label) in tags(settings) {
            if label == "service_name" {
                continue;
            }
            out.push(
                Finding::new(
                    Rule::TracesToProfilesTags,
                    ds.tag_at("tracesToProfiles", &key),
                    format!(
                        "traces-to-profiles selects profiles by `{label}`, a label the Pyroscope SDK does not set here"
                    ),
                )
                .evidence("the Pyroscope SDK labels profiles with service_name (its application_name) only")
                .fix("map `service.name` to `service_name` alone"),
            );
        }
    }
}

/// Packages that add `pyroscope.profile.id` to spans.
const SPAN_PROFILERS: [&str; 3] = ["pyroscope-otel", "@pyroscope/otel", "otel-profiling-go"];

pub fn span_profiles(model: &Deployment, out: &mut Vec<Finding>) {
    let linked = model
        .dependencies
        .iter()
        .any(|d| SPAN_PROFILERS.contains(&d.name.as_str()));
    if linked {
        return;
    }
    for ds in model.datasources_of("tempo") {
        let settings = &ds.json_data["tracesToProfiles"];
        if !settings["datasourceUid"].is_string() {
            continue;
        }
        let manifests: Vec<String> = {
            let mut files: Vec<String> = model.dependencies.iter().map(|d| d.at.file()).collect();
            files.dedup();
            files
        };
        out.push(
            Finding::new(
                Rule::SpanProfiles,
                ds.key_at("tracesToProfiles"),
                "traces-to-profiles is configured, but nothing adds `pyroscope.profile.id` to spans, so no span has a profile to link to",
            )
            .evidence(if manifests.is_empty() {
                "no dependency manifest (requirements.txt, package.json) among the files names a span profiler".to_owned()
            } else {
                format!("none of {manifests:?} names {SPAN_PROFILERS:?}")
            })
            .fix("add pyroscope-otel to the backend and register its PyroscopeSpanProcessor on the tracer provider, or drop tracesToProfiles"),
        );
    }
}
