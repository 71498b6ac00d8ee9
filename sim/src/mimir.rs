//! The reference stack's Mimir API (Mimir 2.14 shapes,
//! `shared/reference/api/04-mimir.md`): `POST /otlp/v1/metrics`, the
//! Prometheus API under `/prometheus` (`query`, `query_range`,
//! `query_exemplars`, `series`, `labels`, `label/<name>/values`, GET or
//! POST form), `/ready`. Queries are evaluated by `lang::promql_eval` on
//! the stored samples.
//!
//! Queries are parsed as Mimir parses them (`lang::promql`) and rejected
//! with its status, `Content-Type: application/json` and body, escaped as
//! Go's `encoding/json` escapes (`<`, `>`, `&` as `\u003c`…):
//!
//! - `/api/v1/query` is decoded by Mimir's query-frontend
//!   (`pkg/frontend/querymiddleware/codec.go`): form errors, then `time`
//!   (`invalid parameter "time": …`, decorated twice as that code does),
//!   then `invalid parameter "query": 1:8: parse error: …`.
//! - `/api/v1/query_range` likewise (`DecodeRangeQueryTimeParams`):
//!   `start`, `end`, end before start, `step`, a step of zero or less, the
//!   11,000-point limit, then the query; the querier's engine then takes
//!   only scalar and instant vector expressions (`invalid expression type
//!   "range vector" for range query…`, 400, even for what is not served).
//!   The frontend forwards only `query` and the times, so Prometheus'
//!   `timeout`, `stats` and `lookback_delta` are never read.
//! - `/api/v1/query_exemplars` reaches the querier's Prometheus API
//!   (`web/api/v1/api.go`): `invalid parameter "start": Invalid time value
//!   for 'start': …`, `end timestamp must not be before start timestamp`,
//!   the parse error bare; no selector answers 204.
//! - `/api/v1/series`, `labels`, `label/<name>/values` reach the querier's
//!   Prometheus API too (2.54's `parseLimitParam`): `limit` (0 is none, a
//!   cut answer carries `results truncated due to limit` in `warnings`),
//!   then `start`, `end`, `match[]`.
//! - The query-frontend parses every request's form first
//!   (`pkg/frontend/transport/handler.go`): a bad `%` escape or a `;` is a
//!   400 with Go's error bare, whatever the endpoint.
//! - Routes take the methods Mimir's router names (`pkg/api/api.go`): HEAD
//!   is a 405, `label/<name>/values` is GET only, DELETE on `series` is the
//!   querier's 500 `not implemented`.
//!
//! Valid PromQL the reference stack does not evaluate answers 501 with an
//! `execution` error saying so, never a 400 and never a guessed result;
//! the engine's own runtime errors are 422 `execution`, as Mimir's.
//!
//! Uses: lang::promql, go (json, strconv, time, url), metrics, state,
//! faults, otlp_body, logs (clock).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{MethodRouter, get, post};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use promql_parser::parser::value::ValueType;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::faults::{Role, drops};
use crate::go::{json, strconv, time, url};
use crate::lang::matcher::Matcher;
use crate::lang::promql;
use crate::lang::promql_eval::{self, EvalError, Samples, Value as Evaluated};
use crate::logs::unix_nanos;
use crate::metrics::Labels;
use crate::otlp_body;
use crate::state::SimState;

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/otlp/v1/metrics", post(otlp_metrics))
        .route("/prometheus/api/v1/query", form_endpoint(instant_query))
        .route("/prometheus/api/v1/query_range", form_endpoint(range_query))
        .route("/prometheus/api/v1/series", form_endpoint(series).delete(drop_series))
        .route("/prometheus/api/v1/labels", form_endpoint(label_names))
        .route("/prometheus/api/v1/label/{name}/values", no_head(get(label_values)))
        .route("/prometheus/api/v1/query_exemplars", form_endpoint(query_exemplars))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/prometheus/api/v1/status/buildinfo", get(buildinfo))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(state.clone())
        .merge(crate::ruler_api::router(state))
}

async fn buildinfo() -> Json<Value> {
    Json(json!({ "status": "success", "data": { "version": concat!("pillars-sim-", env!("CARGO_PKG_VERSION")) } }))
}

async fn ready(State(state): State<Arc<SimState>>) -> Response {
    state.readiness(Role::Mimir, "Some services are not Running")
}

/// Stores an OTLP metrics export, as Mimir's OTLP endpoint or a collector
/// forwarding to it does.
pub fn ingest(state: &SimState, request: ExportMetricsServiceRequest) {
    let faults = state.faults();
    let ratio = faults.drop_metrics;
    state.metrics.ingest_otlp(
        request,
        |labels: &Labels| {
            let key: String = labels.iter().map(|(k, v)| format!("{k}={v},")).collect();
            drops(ratio, key.as_bytes())
        },
        !faults.drop_exemplars,
    );
}

async fn otlp_metrics(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = state.reject_ingest() {
        return refusal;
    }
    match otlp_body::decode::<ExportMetricsServiceRequest>(&headers, &body) {
        Ok(request) => {
            ingest(&state, request);
            if otlp_body::is_json(&headers) {
                ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
            } else {
                ([(header::CONTENT_TYPE, "application/x-protobuf")], Vec::<u8>::new()).into_response()
            }
        }
        Err(refusal) => refusal.into_response(),
    }
}

// ---------------------------------------------------------------------------
// Responses

// `go::json` is the one copy; pyroscope.rs calls it by this name.
pub(crate) use json::escape_html as go_json_escape;

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json::escape_html(&text),
    )
        .into_response()
}

/// Prometheus' error envelope, fields in its order.
#[derive(Serialize)]
struct ErrorBody<'a> {
    status: &'static str,
    #[serde(rename = "errorType")]
    error_type: &'static str,
    error: &'a str,
}

fn api_error(status: StatusCode, error_type: &'static str, message: &str) -> Response {
    json_response(
        status,
        &ErrorBody {
            status: "error",
            error_type,
            error: message,
        },
    )
}

fn bad_data(message: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, "bad_data", message)
}

/// An evaluation's failure as Mimir answers it: 422 for the engine's own
/// errors, 501 for what the reference stack does not evaluate.
fn eval_error(e: &EvalError) -> Response {
    match e {
        EvalError::Unserved(m) => api_error(StatusCode::NOT_IMPLEMENTED, "execution", m),
        EvalError::Execution(m) => api_error(StatusCode::UNPROCESSABLE_ENTITY, "execution", m),
        EvalError::BadData(m) => bad_data(m),
    }
}

/// The store as the evaluator reads it: what the `delay_ms` fault has made
/// visible.
pub(crate) struct Visible<'a> {
    pub state: &'a SimState,
}

impl Samples for Visible<'_> {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
        self.state
            .metrics
            .select(matchers, (start_ms, end_ms), self.state.faults().delay)
    }
}

/// Prometheus' `Response`: `warnings` only when there are any.
#[derive(Serialize)]
struct Success<T: Serialize> {
    status: &'static str,
    data: T,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<&'static str>,
}

fn success(data: impl Serialize) -> Response {
    success_warned(data, Vec::new())
}

fn success_warned(data: impl Serialize, warnings: Vec<&'static str>) -> Response {
    json_response(
        StatusCode::OK,
        &Success {
            status: "success",
            data,
            warnings,
        },
    )
}

/// A millisecond timestamp as Prometheus writes it: seconds, with the
/// milliseconds only when there are any (`marshalTimestamp`).
fn timestamp(ms: i64) -> Box<RawValue> {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    let text = match abs % 1000 {
        0 => format!("{sign}{}", abs / 1000),
        frac => format!("{sign}{}.{frac:03}", abs / 1000),
    };
    RawValue::from_string(text).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

// ---------------------------------------------------------------------------
// Parameters

/// Form values as Go's `url.ParseQuery` reads them, appended to `into`:
/// a bad `%` escape or a `;` drops the pair and is the error `ParseForm`
/// returns.
fn parse_form(raw: &str, into: &mut Vec<(String, String)>) -> Option<String> {
    let (pairs, error) = url::parse_query_text(raw);
    into.extend(pairs);
    error
}

/// The request's form: URL query, then (for a form POST) the body, whose
/// values come first as in Go's `r.Form`. The second value is the first
/// parse error.
struct Form {
    values: Vec<(String, String)>,
    error: Option<String>,
}

impl Form {
    fn read(query: Option<&str>, headers: Option<&HeaderMap>, body: Option<&[u8]>) -> Form {
        let mut values = Vec::new();
        let mut error = None;
        let is_form = headers
            .and_then(|h| h.get(header::CONTENT_TYPE))
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if let (true, Some(body)) = (is_form, body) {
            error = parse_form(&String::from_utf8_lossy(body), &mut values);
        }
        if let Some(q) = query {
            let url_error = parse_form(q, &mut values);
            // Go parses the URL query first.
            error = url_error.or(error);
        }
        Form { values, error }
    }

    /// `FormValue`: the first value, or empty.
    fn get(&self, key: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// Prometheus' and Mimir's `ParseTime`: float seconds (rounded to the
/// millisecond) or RFC 3339; milliseconds.
fn parse_time(s: &str) -> Result<i64, String> {
    let invalid = || format!("cannot parse {} to a valid timestamp", strconv::quote(s));
    if let Ok(secs) = strconv::parse_float(s) {
        let whole = secs.trunc();
        let frac = ((secs - whole) * 1000.0).round();
        return Ok((whole * 1000.0 + frac) as i64);
    }
    rfc3339_ms(s).ok_or_else(invalid)
}

/// `time.Parse(time.RFC3339Nano, s)`, in milliseconds.
fn rfc3339_ms(s: &str) -> Option<i64> {
    time::parse_rfc3339_nano(s).map(|(secs, nanos)| secs * 1000 + nanos / 1_000_000)
}

/// A GET route without axum's implicit HEAD: Mimir's routes name their
/// methods (gorilla/mux `Methods`), so HEAD is a 405 there.
pub(crate) fn no_head<S: Clone + Send + Sync + 'static>(route: MethodRouter<S>) -> MethodRouter<S> {
    route.head(|| async { StatusCode::METHOD_NOT_ALLOWED })
}

/// A Prometheus API endpoint read as its handler reads it, by GET (the
/// URL's query) or POST (a form body as well), as the Prometheus API allows.
fn form_endpoint(handler: fn(&SimState, &Form) -> Response) -> MethodRouter<Arc<SimState>> {
    no_head(get(
        move |State(state): State<Arc<SimState>>, RawQuery(raw): RawQuery| async move {
            handler(&state, &Form::read(raw.as_deref(), None, None))
        },
    )
    .post(
        move |State(state): State<Arc<SimState>>, RawQuery(raw): RawQuery, headers: HeaderMap, body: Bytes| async move {
            handler(&state, &Form::read(raw.as_deref(), Some(&headers), Some(&body)))
        },
    ))
}

/// `DELETE /api/v1/series` reaches the querier's Prometheus API, whose
/// `dropSeries` is not implemented there (web/api/v1/api.go).
async fn drop_series(RawQuery(raw): RawQuery) -> Response {
    match Form::read(raw.as_deref(), None, None).error {
        Some(e) => bad_data(&e),
        None => api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "not implemented"),
    }
}

fn now_ms() -> i64 {
    (unix_nanos() / 1_000_000) as i64
}

// ---------------------------------------------------------------------------
// /api/v1/query

fn instant_query(state: &SimState, form: &Form) -> Response {
    if let Some(e) = &form.error {
        return bad_data(e);
    }
    let time_ms = match form.get("time") {
        "" => now_ms(),
        // The codec decorates the decoder's already-decorated error again.
        t => match parse_time(t) {
            Ok(ms) => ms,
            Err(e) => return bad_data(&format!("invalid parameter \"time\": invalid parameter \"time\": {e}")),
        },
    };
    let expr = match promql::parse(form.get("query")) {
        Ok(expr) => expr,
        Err(e) => return bad_data(&format!("invalid parameter \"query\": {e}")),
    };
    match promql_eval::instant(&expr, &Visible { state }, time_ms) {
        Ok(value) => success(instant_data(&value, time_ms)),
        Err(e) => eval_error(&e),
    }
}

#[derive(Serialize)]
struct QueryData<T: Serialize> {
    #[serde(rename = "resultType")]
    result_type: &'static str,
    result: T,
}

#[derive(Serialize)]
struct VectorSample<'a> {
    metric: &'a Labels,
    value: (Box<RawValue>, String),
}

#[derive(Serialize)]
struct MatrixSeries<'a> {
    metric: &'a Labels,
    values: Vec<(Box<RawValue>, String)>,
}

fn raw(data: &impl Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(data).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// An instant result in Prometheus' shape, samples stamped with the
/// evaluation time.
fn instant_data(value: &Evaluated, time_ms: i64) -> Box<RawValue> {
    match value {
        Evaluated::Scalar(v) => raw(&QueryData {
            result_type: "scalar",
            result: (timestamp(time_ms), promql::format_value(*v)),
        }),
        Evaluated::String(s) => raw(&QueryData {
            result_type: "string",
            result: (timestamp(time_ms), s),
        }),
        Evaluated::Vector(v) => raw(&QueryData {
            result_type: "vector",
            result: v
                .iter()
                .map(|e| VectorSample {
                    metric: &e.labels,
                    value: (timestamp(time_ms), promql::format_value(e.value)),
                })
                .collect::<Vec<_>>(),
        }),
    }
}

// ---------------------------------------------------------------------------
// /api/v1/query_range

/// Mimir's `parseDurationMs` (pkg/frontend/querymiddleware/codec.go):
/// float seconds cut to whole milliseconds, or a Prometheus duration.
fn parse_step(s: &str) -> Result<i64, String> {
    if let Ok(secs) = strconv::parse_float(s) {
        let ms = secs * 1000.0;
        // Go's comparisons: NaN passes them and converts to a step <= 0.
        if ms > i64::MAX as f64 || ms < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {} to a valid duration. It overflows int64",
                strconv::quote(s)
            ));
        }
        return Ok(if ms.is_nan() { 0 } else { ms as i64 });
    }
    crate::go::model::parse_duration(s)
        .map(|nanos| (nanos / 1_000_000) as i64)
        .map_err(|_| format!("cannot parse {} to a valid duration", strconv::quote(s)))
}

/// A range query's parameters, checked in the order Mimir's query-frontend
/// codec checks them (`DecodeRangeQueryTimeParams`).
struct RangeParams {
    start: i64,
    end: i64,
    step: i64,
}

fn range_params(form: &Form) -> Result<RangeParams, String> {
    let start = parse_time(form.get("start")).map_err(|e| format!("invalid parameter \"start\": {e}"))?;
    let end = parse_time(form.get("end")).map_err(|e| format!("invalid parameter \"end\": {e}"))?;
    if end < start {
        return Err("invalid parameter \"end\": end timestamp must not be before start time".into());
    }
    let step = parse_step(form.get("step")).map_err(|e| format!("invalid parameter \"step\": {e}"))?;
    if step <= 0 {
        return Err("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into());
    }
    if end.saturating_sub(start) / step > promql_eval::MAX_POINTS {
        return Err("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into());
    }
    Ok(RangeParams { start, end, step })
}

fn range_query(state: &SimState, form: &Form) -> Response {
    if let Some(e) = &form.error {
        return bad_data(e);
    }
    let params = match range_params(form) {
        Ok(p) => p,
        Err(e) => return bad_data(&e),
    };
    let expr = match promql::parse(form.get("query")) {
        Ok(expr) => expr,
        Err(e) => return bad_data(&format!("invalid parameter \"query\": {e}")),
    };
    if let Some(kind) = refused_range_type(&expr) {
        return bad_data(&format!(
            "invalid parameter \"query\": invalid expression type {} for range query, must be Scalar or instant Vector",
            strconv::quote(kind)
        ));
    }
    match promql_eval::range(&expr, &Visible { state }, params.start, params.end, params.step) {
        Ok(series) => success(matrix_data(&series)),
        Err(e) => eval_error(&e),
    }
}

/// The querier engine's `NewRangeQuery` takes only scalar and instant
/// vector expressions, refused before anything is evaluated
/// (promql/engine.go); the name is `parser.DocumentedType`'s.
fn refused_range_type(expr: &promql::Expr) -> Option<&'static str> {
    match expr.value_type() {
        ValueType::Vector | ValueType::Scalar => None,
        ValueType::Matrix => Some("range vector"),
        ValueType::String => Some("string"),
    }
}

fn matrix_data(series: &[promql_eval::Series]) -> Box<RawValue> {
    raw(&QueryData {
        result_type: "matrix",
        result: series
            .iter()
            .map(|s| MatrixSeries {
                metric: &s.labels,
                values: s
                    .points
                    .iter()
                    .map(|(t, v)| (timestamp(*t), promql::format_value(*v)))
                    .collect(),
            })
            .collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------------------
// /api/v1/series, /api/v1/labels, /api/v1/label/<name>/values

/// Every `match[]` as `parser.ParseMetricSelectors` reads them, each with a
/// matcher that does not match the empty string, as the API insists. The
/// labels endpoints answer its error bare, `series` names the parameter
/// (web/api/v1/api.go).
fn match_params(form: &Form) -> Result<Vec<Vec<Matcher>>, String> {
    let mut sets = Vec::new();
    for (_, text) in form.values.iter().filter(|(k, _)| k == "match[]") {
        let set = promql::parse_selector(text).map_err(|e| e.to_string())?;
        if set.iter().all(|m| m.op.matches("")) {
            return Err("match[] must contain at least one non-empty matcher".into());
        }
        sets.push(set);
    }
    Ok(sets)
}

/// The series that any of `sets` selects (every series when there are
/// none) with a sample in the window.
fn matching_series(state: &SimState, sets: &[Vec<Matcher>], window: (i64, i64)) -> Vec<Labels> {
    let delay = state.faults().delay;
    if sets.is_empty() {
        return state.metrics.series_labels(&[], window, delay);
    }
    let mut all: Vec<Labels> = sets
        .iter()
        .flat_map(|set| state.metrics.series_labels(set, window, delay))
        .collect();
    all.sort();
    all.dedup();
    all
}

/// `parseLimitParam`: empty or 0 is no limit, as Prometheus 2.54 reads it.
fn limit_param(form: &Form) -> Result<usize, String> {
    let invalid = |e: String| format!("invalid parameter \"limit\": {e}");
    match form.get("limit") {
        "" => Ok(0),
        text => match strconv::atoi(text) {
            Ok(n) if n < 0 => Err(invalid("limit must be non-negative".into())),
            Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            Err(e) => Err(invalid(e.to_string())),
        },
    }
}

/// The first `limit` items and the warning Prometheus adds when it cut any.
fn limited<T: Serialize>(mut items: Vec<T>, limit: usize) -> Response {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        return success_warned(items, vec!["results truncated due to limit"]);
    }
    success(items)
}

fn window_params(form: &Form) -> Result<(i64, i64), String> {
    Ok((time_param(form, "start", i64::MIN)?, time_param(form, "end", i64::MAX)?))
}

fn series(state: &SimState, form: &Form) -> Response {
    if let Some(e) = &form.error {
        return bad_data(e);
    }
    if !form.values.iter().any(|(k, _)| k == "match[]") {
        return bad_data("no match[] parameter provided");
    }
    let (limit, window) = match (limit_param(form), window_params(form)) {
        (Ok(l), Ok(w)) => (l, w),
        (Err(e), _) | (_, Err(e)) => return bad_data(&e),
    };
    match match_params(form) {
        Ok(sets) => limited(matching_series(state, &sets, window), limit),
        Err(e) => bad_data(&format!("invalid parameter \"match[]\": {e}")),
    }
}

/// The label endpoints' parameters, read in Prometheus' order: `limit`,
/// `start`, `end`, `match[]`.
struct LabelParams {
    limit: usize,
    window: (i64, i64),
    sets: Vec<Vec<Matcher>>,
}

fn label_params(form: &Form) -> Result<LabelParams, String> {
    Ok(LabelParams {
        limit: limit_param(form)?,
        window: window_params(form)?,
        sets: match_params(form)?,
    })
}

fn label_names(state: &SimState, form: &Form) -> Response {
    if let Some(e) = &form.error {
        return bad_data(e);
    }
    let LabelParams { limit, window, sets } = match label_params(form) {
        Ok(p) => p,
        Err(e) => return bad_data(&e),
    };
    let mut names: Vec<String> = matching_series(state, &sets, window)
        .into_iter()
        .flat_map(|l| l.into_keys())
        .collect();
    names.sort();
    names.dedup();
    limited(names, limit)
}

/// A label name as `model.LabelName.IsValid` accepts it (2.54's legacy
/// scheme).
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

async fn label_values(
    State(state): State<Arc<SimState>>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let form = Form::read(raw.as_deref(), None, None);
    if let Some(e) = &form.error {
        return bad_data(e);
    }
    if !valid_label_name(&name) {
        return bad_data(&format!("invalid label name: {}", strconv::quote(&name)));
    }
    let LabelParams { limit, window, sets } = match label_params(&form) {
        Ok(p) => p,
        Err(e) => return bad_data(&e),
    };
    let mut values: Vec<String> = matching_series(&state, &sets, window)
        .into_iter()
        .filter_map(|mut l| l.remove(&name))
        .collect();
    values.sort();
    values.dedup();
    limited(values, limit)
}

// ---------------------------------------------------------------------------
// /api/v1/query_exemplars

#[derive(Serialize)]
struct ExemplarSeries<'a> {
    #[serde(rename = "seriesLabels")]
    series_labels: &'a Labels,
    exemplars: Vec<ExemplarOut<'a>>,
}

#[derive(Serialize)]
struct ExemplarOut<'a> {
    labels: &'a Labels,
    value: String,
    timestamp: Box<RawValue>,
}

/// `MinTime` and `MaxTime` as RFC 3339, which Go's parser cannot read back
/// (its years have four digits); Prometheus' own `parseTime` takes them by
/// name (web/api/v1/api.go), Mimir's query-frontend does not.
const MIN_TIME: (&str, i64) = ("-292273086-05-16T16:47:06Z", -9_223_309_901_257_974_000);
const MAX_TIME: (&str, i64) = ("292277025-08-18T07:12:54.999999999Z", 9_223_309_901_257_974_999);

/// Prometheus' `parseTime`, for what reaches the querier's API.
fn querier_time(s: &str) -> Result<i64, String> {
    match s {
        _ if s == MIN_TIME.0 => Ok(MIN_TIME.1),
        _ if s == MAX_TIME.0 => Ok(MAX_TIME.1),
        _ => parse_time(s),
    }
}

/// `parseTimeParam`: empty is the default; an error names the parameter
/// twice, as Prometheus 2.x words it.
fn time_param(form: &Form, name: &str, default: i64) -> Result<i64, String> {
    match form.get(name) {
        "" => Ok(default),
        t => querier_time(t).map_err(|e| {
            format!(
                "invalid parameter {}: Invalid time value for '{name}': {e}",
                strconv::quote(name)
            )
        }),
    }
}

fn query_exemplars(state: &SimState, form: &Form) -> Response {
    // The query-frontend parses every request's form before routing it
    // (pkg/frontend/transport/handler.go), so a bad pair is a 400 here too.
    if let Some(e) = &form.error {
        return bad_data(e);
    }
    let (start, end) = match (time_param(form, "start", i64::MIN), time_param(form, "end", i64::MAX)) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return bad_data(&e),
    };
    if end < start {
        return bad_data("end timestamp must not be before start timestamp");
    }
    let expr = match promql::parse(form.get("query")) {
        Ok(expr) => expr,
        Err(e) => return bad_data(&e.to_string()),
    };
    let selectors = promql::selectors(&expr);
    if selectors.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let series = state.metrics.exemplars(&selectors, (start, end), state.faults().delay);
    let data: Vec<ExemplarSeries<'_>> = series
        .iter()
        .map(|(labels, exemplars)| ExemplarSeries {
            series_labels: labels,
            exemplars: exemplars
                .iter()
                .map(|e| ExemplarOut {
                    labels: &e.labels,
                    value: promql::format_value(e.value),
                    timestamp: timestamp(e.ts_ms),
                })
                .collect(),
        })
        .collect();
    success(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(query: &str) -> Form {
        Form::read(Some(query), None, None)
    }

    async fn body(response: Response) -> (StatusCode, String, String) {
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, content_type, String::from_utf8_lossy(&bytes).into_owned())
    }

    fn state() -> SimState {
        SimState::default()
    }

    #[tokio::test]
    async fn a_bad_escape_is_mimirs_400_word_for_word() {
        let (status, content_type, text) =
            body(instant_query(&state(), &form("query=up%7Bjob%3D%22a%5C-b%22%7D"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type, "application/json");
        assert_eq!(
            text,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:8: parse error: unknown escape sequence U+002D '-'"}"#
        );
    }

    #[tokio::test]
    async fn an_unterminated_string_and_a_missing_query_are_rejected() {
        let (status, _, text) = body(instant_query(&state(), &form("query=up%7Bjob%3D%22a"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            text,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:8: parse error: unterminated quoted string"}"#
        );
        let (_, _, text) = body(instant_query(&state(), &form(""))).await;
        assert_eq!(
            text,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": unknown position: parse error: no expression found in input"}"#
        );
    }

    #[tokio::test]
    async fn html_characters_are_escaped_as_go_does() {
        let (_, _, text) = body(instant_query(&state(), &form("query=1%2B%3C"))).await;
        assert!(text.contains(r"unexpected \u003cop:\u003c\u003e"), "{text}");
        assert!(!text.contains('<'), "{text}");
    }

    #[tokio::test]
    async fn grafanas_health_check_is_a_scalar() {
        let (status, _, text) = body(instant_query(&state(), &form("query=1%2B1&time=1735689600.5"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            text,
            r#"{"status":"success","data":{"resultType":"scalar","result":[1735689600.500,"2"]}}"#
        );
    }

    #[tokio::test]
    async fn functions_are_the_reference_stacks_limit_not_a_400() {
        let (status, content_type, text) = body(instant_query(
            &state(),
            &form("query=label_replace(up%2C%22a%22%2C%22b%22%2C%22c%22%2C%22d%22)"),
        ))
        .await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
        assert_eq!(content_type, "application/json");
        assert!(
            text.starts_with(r#"{"status":"error","errorType":"execution","error":"the reference stack does not evaluate function label_replace()"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn bad_times_are_rejected_with_the_parameter_named() {
        let (status, _, text) = body(instant_query(&state(), &form("query=up&time=abc"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            text,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"time\": invalid parameter \"time\": cannot parse \"abc\" to a valid timestamp"}"#
        );
        let (_, _, text) = body(instant_query(&state(), &form("query=up&time=%zz"))).await;
        assert_eq!(
            text,
            r#"{"status":"error","errorType":"bad_data","error":"invalid URL escape \"%zz\""}"#
        );
    }

    #[tokio::test]
    async fn exemplar_errors_are_prometheus_own() {
        let cases = [
            (
                "query=up&start=abc",
                r#"invalid parameter \"start\": Invalid time value for 'start': cannot parse \"abc\" to a valid timestamp"#,
            ),
            (
                "query=up&end=abc",
                r#"invalid parameter \"end\": Invalid time value for 'end': cannot parse \"abc\" to a valid timestamp"#,
            ),
            (
                "query=up&start=10&end=5",
                "end timestamp must not be before start timestamp",
            ),
            (
                "query=up%7Bjob%3D%22a%5C-b%22%7D",
                "1:8: parse error: unknown escape sequence U+002D '-'",
            ),
            ("", "unknown position: parse error: no expression found in input"),
        ];
        for (query, message) in cases {
            let (status, content_type, text) = body(query_exemplars(&state(), &form(query))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(content_type, "application/json");
            assert_eq!(
                text,
                format!(r#"{{"status":"error","errorType":"bad_data","error":"{message}"}}"#),
                "{query}"
            );
        }
        let (status, _, text) = body(query_exemplars(&state(), &form("query=up"))).await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::OK, r#"{"status":"success","data":[]}"#)
        );
        let (status, _, text) = body(query_exemplars(&state(), &form("query=1%2B1"))).await;
        assert_eq!((status, text.as_str()), (StatusCode::NO_CONTENT, ""));
    }

    #[tokio::test]
    async fn every_endpoint_refuses_a_form_go_cannot_parse() {
        let cases: [fn(&SimState, &Form) -> Response; 5] =
            [instant_query, range_query, query_exemplars, series, label_names];
        for handler in cases {
            let (status, content_type, text) = body(handler(&state(), &form("query=up&start=%zz"))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(content_type, "application/json");
            assert_eq!(
                text,
                r#"{"status":"error","errorType":"bad_data","error":"invalid URL escape \"%zz\""}"#
            );
        }
    }

    #[tokio::test]
    async fn range_parameters_are_checked_as_mimirs_codec_does() {
        let cases = [
            (
                "query=up&start=foo",
                r#"invalid parameter \"start\": cannot parse \"foo\" to a valid timestamp"#,
            ),
            (
                "query=up&start=123&end=bar",
                r#"invalid parameter \"end\": cannot parse \"bar\" to a valid timestamp"#,
            ),
            (
                "query=up&start=123&end=0&step=1",
                r#"invalid parameter \"end\": end timestamp must not be before start time"#,
            ),
            (
                "query=up&start=123&end=456&step=baz",
                r#"invalid parameter \"step\": cannot parse \"baz\" to a valid duration"#,
            ),
            (
                "query=up&start=123&end=456&step=-1",
                r#"invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"#,
            ),
            (
                "query=up&start=0&end=11001&step=1",
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ),
            (
                "query=up%7B&start=0&end=1&step=1",
                r#"invalid parameter \"query\": 1:4: parse error: unexpected end of input inside braces"#,
            ),
        ];
        for (query, message) in cases {
            let (status, content_type, text) = body(range_query(&state(), &form(query))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(content_type, "application/json");
            assert_eq!(
                text,
                format!(r#"{{"status":"error","errorType":"bad_data","error":"{message}"}}"#),
                "{query}"
            );
        }
        let (status, _, text) = body(range_query(&state(), &form("query=1%2B1&start=0&end=30&step=15s"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            text,
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[0,"2"],[15,"2"],[30,"2"]]}]}}"#
        );
        // Times at the ends of the range are answered, not overflowed.
        let (status, _, _) = body(range_query(&state(), &form("query=up&start=-1e300&end=1e300&step=1"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = body(range_query(
            &state(),
            &form("query=rate(up%5B5m%5D)&start=-1e300&end=-1e300&step=1"),
        ))
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = body(instant_query(&state(), &form("query=rate(up%5B5m%5D)&time=1e300"))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, text) = body(range_query(&state(), &form("query=up&start=0&end=30&step=15"))).await;
        assert_eq!(
            (status, text.as_str()),
            (
                StatusCode::OK,
                r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#
            )
        );
    }

    #[tokio::test]
    async fn stored_samples_evaluate_and_names_are_listed() {
        let state = state();
        let now = now_ms();
        for (i, v) in [0.0, 15.0, 30.0].into_iter().enumerate() {
            let labels = Labels::from([
                ("__name__".to_owned(), "req_total".to_owned()),
                ("job".to_owned(), "a".to_owned()),
            ]);
            state.metrics.put_own(labels, now - 30_000 + i as i64 * 15_000, v);
        }
        let q = format!("query=rate(req_total%5B1m%5D)&time={}", now as f64 / 1000.0);
        let (status, _, text) = body(instant_query(&state, &form(&q))).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["data"]["resultType"], "vector");
        assert_eq!(v["data"]["result"][0]["metric"], json!({ "job": "a" }));
        // 30 over 30 s, the window's start 30 s before the first sample but
        // the counter's zero is right there: 30 * 30/30 / 60.
        assert_eq!(v["data"]["result"][0]["value"][1], "0.5");
        let (_, _, text) = body(series(&state, &form("match%5B%5D=req_total"))).await;
        assert_eq!(
            text,
            r#"{"status":"success","data":[{"__name__":"req_total","job":"a"}]}"#
        );
        let (status, _, text) = body(series(&state, &form(""))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            text,
            r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#
        );
        let (_, _, text) = body(series(&state, &form("match%5B%5D=%7Ba%3D%22%22%7D"))).await;
        assert_eq!(
            text,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": match[] must contain at least one non-empty matcher"}"#
        );
        let (_, _, text) = body(label_names(&state, &form(""))).await;
        assert_eq!(text, r#"{"status":"success","data":["__name__","job"]}"#);
        let (status, _, text) = body(instant_query(
            &state,
            &form("query=sum(rate(req_total%5B1m%5D))%20%2F%20on(x)%20group_left%20req_total"),
        ))
        .await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{text}");
    }

    #[tokio::test]
    async fn selectors_matching_everything_are_refused_series_naming_the_parameter() {
        let state = Arc::new(state());
        let empty = "match[] must contain at least one non-empty matcher";
        for selector in ["%7B%7D", "%7B__name__%3D~%22.*%22%7D", "%7Ba%3D%22%22%7D"] {
            let q = format!("match%5B%5D={selector}");
            let (status, content_type, text) = body(series(&state, &form(&q))).await;
            assert_eq!(
                (status, content_type.as_str()),
                (StatusCode::BAD_REQUEST, "application/json")
            );
            assert_eq!(
                text,
                format!(
                    r#"{{"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": {empty}"}}"#
                ),
                "{q}"
            );
            let bare = format!(r#"{{"status":"error","errorType":"bad_data","error":"{empty}"}}"#);
            let (status, _, text) = body(label_names(&state, &form(&q))).await;
            assert_eq!((status, text.as_str()), (StatusCode::BAD_REQUEST, bare.as_str()), "{q}");
            let (status, _, text) =
                body(label_values(State(state.clone()), Path("job".into()), RawQuery(Some(q.clone()))).await).await;
            assert_eq!((status, text.as_str()), (StatusCode::BAD_REQUEST, bare.as_str()), "{q}");
        }
        let (_, _, text) = body(series(&state, &form("match%5B%5D=up%7B"))).await;
        assert!(
            text.starts_with(
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": 1:4: parse error: "#
            ),
            "{text}"
        );
    }

    #[tokio::test]
    async fn limit_is_checked_first_and_cuts_the_sorted_answer_with_a_warning() {
        let state = Arc::new(state());
        let now = now_ms();
        for job in ["b", "a", "c"] {
            let labels = Labels::from([
                ("__name__".to_owned(), "up".to_owned()),
                ("job".to_owned(), job.to_owned()),
            ]);
            state.metrics.put_own(labels, now, 1.0);
        }
        let values = |q: &str| label_values(State(state.clone()), Path("job".into()), RawQuery(Some(q.to_owned())));
        let (status, _, text) = body(values("limit=2").await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            text,
            r#"{"status":"success","data":["a","b"],"warnings":["results truncated due to limit"]}"#
        );
        let (_, _, text) = body(values("limit=3").await).await;
        assert_eq!(text, r#"{"status":"success","data":["a","b","c"]}"#);
        let (_, _, text) = body(values("limit=0").await).await;
        assert_eq!(text, r#"{"status":"success","data":["a","b","c"]}"#);
        let (_, _, text) = body(label_names(&state, &form("limit=1"))).await;
        assert_eq!(
            text,
            r#"{"status":"success","data":["__name__"],"warnings":["results truncated due to limit"]}"#
        );
        let (_, _, text) = body(series(&state, &form("match%5B%5D=up&limit=1"))).await;
        assert_eq!(
            text,
            r#"{"status":"success","data":[{"__name__":"up","job":"a"}],"warnings":["results truncated due to limit"]}"#
        );
        // Before the times and the selectors.
        let cases = [
            (
                "limit=x&start=bad",
                r#"invalid parameter \"limit\": strconv.Atoi: parsing \"x\": invalid syntax"#,
            ),
            (
                "limit=-1&match%5B%5D=%7B%7D",
                r#"invalid parameter \"limit\": limit must be non-negative"#,
            ),
            (
                "limit=1.5",
                r#"invalid parameter \"limit\": strconv.Atoi: parsing \"1.5\": invalid syntax"#,
            ),
        ];
        for (q, message) in cases {
            let expected = format!(r#"{{"status":"error","errorType":"bad_data","error":"{message}"}}"#);
            let (status, _, text) = body(label_names(&state, &form(q))).await;
            assert_eq!(
                (status, text.as_str()),
                (StatusCode::BAD_REQUEST, expected.as_str()),
                "{q}"
            );
            let (status, _, text) = body(values(q).await).await;
            assert_eq!(
                (status, text.as_str()),
                (StatusCode::BAD_REQUEST, expected.as_str()),
                "{q}"
            );
            let (status, _, text) = body(series(&state, &form(&format!("match%5B%5D=up&{q}")))).await;
            assert_eq!(
                (status, text.as_str()),
                (StatusCode::BAD_REQUEST, expected.as_str()),
                "{q}"
            );
        }
    }

    #[test]
    fn post_bodies_come_before_the_url() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let f = Form::read(Some("query=a&time=1"), Some(&headers), Some(b"query=b+c"));
        assert_eq!(f.get("query"), "b c");
        assert_eq!(f.get("time"), "1");
        assert!(f.error.is_none());
    }

    #[tokio::test]
    async fn a_range_query_of_a_range_vector_or_a_string_is_a_400_not_served_or_not() {
        let cases = [
            ("up%5B5m%5D", "range vector"),
            ("rate(up%5B5m%5D)%5B10m%3A1m%5D", "range vector"),
            // An unserved function inside is still the type check's 400.
            (
                "label_replace(up%2C%22a%22%2C%22b%22%2C%22c%22%2C%22d%22)%5B5m%3A1m%5D",
                "range vector",
            ),
            ("%22foo%22", "string"),
        ];
        for (query, kind) in cases {
            let q = format!("query={query}&start=0&end=10&step=1");
            let (status, content_type, text) = body(range_query(&state(), &form(&q))).await;
            assert_eq!(
                (status, content_type.as_str()),
                (StatusCode::BAD_REQUEST, "application/json"),
                "{q}"
            );
            assert_eq!(
                text,
                format!(
                    r#"{{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": invalid expression type \"{kind}\" for range query, must be Scalar or instant Vector"}}"#
                ),
                "{q}"
            );
        }
    }

    #[tokio::test]
    async fn label_values_of_a_name_prometheus_2_54_cannot_hold_are_a_400_before_the_rest() {
        let state = Arc::new(state());
        for name in ["service.name", "1a", "a-b", "ü"] {
            let got = label_values(
                State(state.clone()),
                Path(name.into()),
                RawQuery(Some("limit=x".into())),
            )
            .await;
            let (status, content_type, text) = body(got).await;
            assert_eq!(
                (status, content_type.as_str()),
                (StatusCode::BAD_REQUEST, "application/json")
            );
            assert_eq!(
                text,
                format!(r#"{{"status":"error","errorType":"bad_data","error":"invalid label name: \"{name}\""}}"#)
            );
        }
        let got = label_values(State(state), Path("_a1".into()), RawQuery(None)).await;
        assert_eq!(body(got).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn prometheus_options_the_frontend_drops_are_not_checked() {
        let options = "timeout=abc&stats=x&lookback_delta=zz";
        let (status, _, _) = body(instant_query(&state(), &form(&format!("query=up&{options}")))).await;
        assert_eq!(status, StatusCode::OK);
        let q = format!("query=up&start=0&end=10&step=1&{options}");
        let (status, _, _) = body(range_query(&state(), &form(&q))).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn float_steps_are_cut_to_the_millisecond_as_go_converts_them() {
        assert_eq!(parse_step("0.0019"), Ok(1));
        assert_eq!(parse_step("-0.0019"), Ok(-1));
        assert_eq!(parse_step("15s"), Ok(15_000));
        assert!(parse_step("Inf").unwrap_err().ends_with("It overflows int64"));
        for step in ["0.0005", "NaN"] {
            let q = format!("query=up&start=0&end=1&step={step}");
            let (status, _, text) = body(range_query(&state(), &form(&q))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{step}");
            assert_eq!(
                text,
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"}"#,
                "{step}"
            );
        }
    }

    #[tokio::test]
    async fn prometheus_own_bounds_are_times_for_the_querier_not_the_frontend() {
        let (min, max) = (
            "-292273086-05-16T16%3A47%3A06Z",
            "292277025-08-18T07%3A12%3A54.999999999Z",
        );
        let window = format!("start={min}&end={max}");
        let (status, _, text) = body(query_exemplars(&state(), &form(&format!("query=up&{window}")))).await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::OK, r#"{"status":"success","data":[]}"#)
        );
        let (status, _, _) = body(label_names(&state(), &form(&window))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = body(series(&state(), &form(&format!("match%5B%5D=up&{window}")))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, text) = body(range_query(&state(), &form(&format!("query=up&{window}&step=1")))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains(r#"invalid parameter \"start\": cannot parse"#), "{text}");
    }

    #[test]
    fn times_parse_as_prometheus_parses_them() {
        assert_eq!(parse_time("1735689600.1234"), Ok(1_735_689_600_123));
        assert_eq!(parse_time("2025-01-01T00:00:00Z"), Ok(1_735_689_600_000));
        assert_eq!(parse_time("2025-01-01T01:00:00.5+01:00"), Ok(1_735_689_600_500));
        assert!(parse_time("2025-01-01 00:00:00Z").is_err());
        assert!(parse_time("now").is_err());
        assert_eq!(timestamp(1_735_689_600_000).get(), "1735689600");
        assert_eq!(timestamp(1_735_689_600_050).get(), "1735689600.050");
    }
}
