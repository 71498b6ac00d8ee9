//! Which way each signal goes through the collector, read from the Alloy
//! components and their `output` references: the line formats the
//! pipeline writes to Loki (and so where a trace id sits in a log line),
//! whether OTLP metrics reach Mimir (exemplars labelled `trace_id`), and
//! the Faro receiver (`shared/reference/api/01-faro-receiver.md`, `05-loki.md`
//! §5.2, `04-mimir.md` §4.3).
//!
//! Uses: lint::{model, alloy, source}.

use std::collections::BTreeSet;

use crate::lint::alloy::{Block, Value};
use crate::lint::model::Deployment;
use crate::lint::source::At;

/// How a log line reaches Loki, which decides where its trace id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogFormat {
    /// OTLP into Loki's `/otlp`: the trace id is structured metadata `trace_id`.
    OtlpIngest,
    /// `otelcol.exporter.loki`: a JSON line with `"traceid":"…"`.
    ExporterLoki,
    /// The Faro receiver's logfmt lines: `traceID=…`.
    FaroLogfmt,
    /// The Faro receiver with `log_format = "json"`: `"traceID":"…"`.
    FaroJson,
}

impl LogFormat {
    pub fn describe(self) -> &'static str {
        match self {
            LogFormat::OtlpIngest => {
                "OTLP logs into Loki's /otlp endpoint (trace id as structured metadata `trace_id`)"
            }
            LogFormat::ExporterLoki => "otelcol.exporter.loki JSON lines (trace id under the key `traceid`)",
            LogFormat::FaroLogfmt => "Faro receiver logfmt lines (trace id as `traceID=`)",
            LogFormat::FaroJson => "Faro receiver JSON lines (trace id under the key `traceID`)",
        }
    }

    /// True for the backend's logs (the OTLP path), false for Faro's.
    pub fn is_backend(self) -> bool {
        matches!(self, LogFormat::OtlpIngest | LogFormat::ExporterLoki)
    }
}

#[derive(Debug, Default)]
pub struct Pipeline<'a> {
    /// Each format that reaches Loki, with the component that writes it.
    pub log_formats: Vec<(LogFormat, At)>,
    /// The exporter that takes OTLP metrics to Mimir, if any does.
    pub otlp_metrics: Option<At>,
    /// The Faro receiver, with its file's place.
    pub faro: Option<(At, &'a Block)>,
}

impl<'a> Pipeline<'a> {
    pub fn of(model: &'a Deployment) -> Pipeline<'a> {
        let mut pipeline = Pipeline::default();
        let components: Vec<(At, &Block)> = model
            .components()
            .map(|(file, block)| (At::line(&file.at.source, block.line), block))
            .collect();
        let find = |reference: &str| {
            components
                .iter()
                .find(|(_, b)| reference.starts_with(&format!("{}.", b.id())))
                .cloned()
        };
        for (at, block) in &components {
            if block.name == "otelcol.receiver.otlp" {
                for (at, exporter) in reached(block, "logs", &find) {
                    if let Some(format) = log_format_of(exporter) {
                        pipeline.log_formats.push((format, at));
                    }
                }
                for (at, exporter) in reached(block, "metrics", &find) {
                    let name = exporter.name.as_str();
                    if matches!(
                        name,
                        "otelcol.exporter.otlphttp" | "otelcol.exporter.otlp" | "otelcol.exporter.prometheus"
                    ) && pipeline.otlp_metrics.is_none()
                    {
                        pipeline.otlp_metrics = Some(at);
                    }
                }
            }
            if block.name == "faro.receiver" {
                let writes_logs = block
                    .block("output")
                    .and_then(|o| o.value("logs"))
                    .is_some_and(|v| !v.references().is_empty());
                if writes_logs {
                    let json = block.value("log_format").and_then(Value::as_str) == Some("json");
                    let format = if json {
                        LogFormat::FaroJson
                    } else {
                        LogFormat::FaroLogfmt
                    };
                    pipeline.log_formats.push((format, at.clone()));
                }
                pipeline.faro.get_or_insert((at.clone(), block));
            }
        }
        pipeline.log_formats.sort_by_key(|(f, _)| *f);
        pipeline.log_formats.dedup_by_key(|(f, _)| *f);
        pipeline
    }
}

/// The exporters a component's `output.<signal>` leads to, through
/// processors, each once.
fn reached<'a, F>(start: &'a Block, signal: &str, find: &F) -> Vec<(At, &'a Block)>
where
    F: Fn(&str) -> Option<(At, &'a Block)>,
{
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue: Vec<String> = outputs(start, signal);
    while let Some(reference) = queue.pop() {
        let Some((at, block)) = find(&reference) else { continue };
        if !seen.insert(block.id()) {
            continue;
        }
        if block.name.starts_with("otelcol.processor.") || block.name.starts_with("otelcol.connector.") {
            queue.extend(outputs(block, signal));
        } else {
            out.push((at, block));
        }
    }
    out
}

fn outputs(block: &Block, signal: &str) -> Vec<String> {
    block
        .block("output")
        .and_then(|o| o.value(signal))
        .map(|v| v.references().into_iter().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn log_format_of(exporter: &Block) -> Option<LogFormat> {
    match exporter.name.as_str() {
        "otelcol.exporter.loki" => Some(LogFormat::ExporterLoki),
        "otelcol.exporter.otlphttp" => {
            let endpoint = exporter
                .block("client")
                .and_then(|c| c.value("endpoint"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            (endpoint.contains("loki") || endpoint.contains(":3100")).then_some(LogFormat::OtlpIngest)
        }
        _ => None,
    }
}
