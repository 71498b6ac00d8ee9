//! Contract tests: the reference stack accepts request bodies in the shapes
//! the real SDKs send — not only the shapes the pillars harness sends — and
//! stores them as the real components would, read back through each
//! store's own query API over HTTP.
//!
//! One file per SDK: `python_otlp` (OpenTelemetry Python 1.40, OTLP/HTTP
//! protobuf, plain/gzip/deflate), `otel_js` (OTLP/JSON as OpenTelemetry JS
//! writes it), `faro_web` (Faro Web SDK 2.x to Alloy's `faro.receiver`),
//! `pyroscope_rs` (pyroscope-rs ≥ 1.0 Connect push). The SDK facts are in
//! `/tmp/research/exporter-grafana-sdks.md` §3 and
//! `shared/reference/api/01-faro-receiver.md`, `05-loki.md`, `06-pyroscope.md`.
//!
//! Uses: `pillars_sim` only (never the `pillars` crate).

mod app_alerts;
mod faro_web;
mod grafana_api;
mod grafana_http;
mod loki_metrics;
mod metrics_generator;
mod mimir_http;
mod mimir_rules;
mod otel_js;
mod pyroscope_rs;
mod python_otlp;
mod support;
mod tempo_api;
