//! Grafana 11.4's `POST /api/ds/query` for the datasources the dashboards
//! use, answered as its backend plugins answer it: each query is sent to
//! the reference stack's store over HTTP, as Grafana sends it to the real
//! one, and its answer becomes data frames (`results.<refId>.frames`).
//!
//! Prometheus (`pkg/promlib`): the step from `intervalMs`,
//! `maxDataPoints` and the time range (at least the datasource's 15 s
//! scrape interval, at most 11,000 points), a range query's start and end
//! floored to the step (an instant query runs at the range's end),
//! `$__interval`/`$__rate_interval`/`$__range` interpolated; a range query
//! (the default), an instant query, and with `"exemplar": true` an
//! exemplar query. One frame per series: a `Time` field and a `Value` field
//! (named after `__name__` when the series has one) with the series'
//! labels and `config.displayNameFromDS`; the first frame's meta carries
//! `executedQueryString` and `custom.calculatedMinStep`. No series is one
//! frame without fields. Exemplars are one frame named `exemplar`: `Time`,
//! `Value`, and a string field per label name, sampled as Grafana samples
//! them: the first of each step, then only values three standard
//! deviations from the mean.
//!
//! Loki: the step is the query's `step` or `intervalMs` times its
//! `resolution`, not promlib's; log queries are one frame (`labels`,
//! `Time`, `Line`, `tsNs`, `id`); metric queries are frames as for
//! Prometheus.
//!
//! What a query leaves out is what the query service fills in: refId `A`,
//! `maxDataPoints` 100, `intervalMs` 1000.
//!
//! Errors are the store's: a 400/422 body's `error`, or `unexpected
//! response with status code N: <body>` for any other status (a 501 of the
//! reference stack's Mimir included), in `results.<refId>.error`; the
//! whole answer is then a 400, as without the multi-status feature.
//!
//! Uses: provisioning (datasources), go (strconv, model, time).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use url::Url;

use crate::go::strconv;
use crate::provisioning::{Backend, Datasource};

/// Grafana's default and maximum points per series.
const DEFAULT_POINTS: i64 = 1500;
const SAFE_POINTS: i64 = 11_000;
/// `maxDataPoints` and `intervalMs` when a query leaves them out.
const QUERY_SERVICE_POINTS: i64 = 100;
const QUERY_SERVICE_INTERVAL_MS: i64 = 1000;
/// The Prometheus datasource's default scrape interval.
const DEFAULT_SCRAPE_MS: i64 = 15_000;

/// One query's answer: its frames, and its error and status when it failed.
#[derive(Debug, Default)]
pub struct Answer {
    pub frames: Vec<Value>,
    pub error: Option<String>,
    pub status: u16,
    pub downstream: bool,
}

impl Answer {
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("status".into(), json!(self.status));
        // The SDK writes `frames` only when the response has them: a
        // failed query without any has none (`writeDataResponseJSON`).
        if self.error.is_none() || !self.frames.is_empty() {
            out.insert("frames".into(), Value::Array(self.frames.clone()));
        }
        if let Some(e) = &self.error {
            out.insert("error".into(), json!(e));
            if self.downstream {
                out.insert("errorSource".into(), json!("downstream"));
            }
        }
        Value::Object(out)
    }
}

/// A request's time range, in ms.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: i64,
    pub to: i64,
}

/// Grafana's `gtime` reading of `from`/`to`: epoch milliseconds, a bare
/// Go duration before now, `now`, `now±<n><unit>` (`s m h d w M y`), each
/// `now` form optionally rounded to a unit (`/s /m /h /d`, in UTC): down
/// for `from`, up to the unit's last millisecond for `to` (`round_up`, as
/// `ParseTo` asks datemath). Anything else reads as the epoch, as
/// `GetFromAsMsEpoch` does with a parse error.
pub fn parse_time(value: &Value, now_ms: i64, round_up: bool) -> i64 {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => return n.as_i64().unwrap_or(0),
        _ => return 0,
    };
    if let Ok(ms) = text.parse::<i64>() {
        return ms;
    }
    // `parse` in the SDK's gtime: a bare Go duration is that long ago.
    if let Ok(ns) = crate::go::time::parse_duration(&format!("-{text}")) {
        return now_ms.saturating_add(ns / 1_000_000);
    }
    let Some(rest) = text.strip_prefix("now") else { return 0 };
    let (offset, rounding) = match rest.split_once('/') {
        Some((o, r)) => (o, Some(r)),
        None => (rest, None),
    };
    let Some(at) = offset_from(now_ms, offset) else {
        return 0;
    };
    let Some(unit) = rounding else { return at };
    let unit_ms = match unit {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return 0,
    };
    let floor = at.div_euclid(unit_ms) * unit_ms;
    if round_up { floor + unit_ms - 1 } else { floor }
}

/// `now` moved by `±<n><unit>`, or left where it is for nothing.
fn offset_from(now_ms: i64, offset: &str) -> Option<i64> {
    if offset.is_empty() {
        return Some(now_ms);
    }
    let (sign, amount) = if let Some(a) = offset.strip_prefix('-') {
        (-1, a)
    } else {
        (1, offset.strip_prefix('+')?)
    };
    let digits: String = amount.chars().take_while(char::is_ascii_digit).collect();
    let n = digits.parse::<i64>().ok()?;
    let unit_ms = match &amount[digits.len()..] {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        "M" => 30 * 86_400_000,
        "y" => 365 * 86_400_000,
        _ => return None,
    };
    Some(now_ms.saturating_add(sign * n.saturating_mul(unit_ms)))
}

/// `roundInterval` of Grafana's interval calculator.
fn round_interval(ms: i64) -> i64 {
    const S: i64 = 1000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;
    const D: i64 = 24 * H;
    let table: &[(i64, i64)] = &[
        (15, 10),
        (35, 20),
        (75, 50),
        (150, 100),
        (350, 200),
        (750, 500),
        (1500, S),
        (3500, 2 * S),
        (7500, 5 * S),
        (12_500, 10 * S),
        (17_500, 15 * S),
        (25_000, 20 * S),
        (45_000, 30 * S),
        (90_000, M),
        (210_000, 2 * M),
        (450_000, 5 * M),
        (750_000, 10 * M),
        (1_050_000, 15 * M),
        (1_500_000, 20 * M),
        (2_700_000, 30 * M),
        (5_400_000, H),
        (9_000_000, 2 * H),
        (16_200_000, 3 * H),
        (32_400_000, 6 * H),
        (86_400_000, 12 * H),
        (604_800_000, D),
        (1_814_400_000, 7 * D),
        (3_628_800_000, 30 * D),
    ];
    table
        .iter()
        .find(|(below, _)| ms < *below)
        .map(|(_, r)| *r)
        .unwrap_or(365 * D)
}

/// The Prometheus step: the query's interval (or the scrape interval) at
/// least, the range over `maxDataPoints` rounded, and never more than
/// 11,000 points.
pub fn prometheus_step(range: Range, interval_ms: i64, max_points: i64, scrape_ms: i64) -> i64 {
    let span = (range.to - range.from).max(0);
    let min = if interval_ms > 0 { interval_ms } else { scrape_ms };
    let points = if max_points > 0 { max_points } else { DEFAULT_POINTS };
    let calculated = span / points;
    let calculated = if calculated < min {
        min
    } else {
        round_interval(calculated)
    };
    let safe = round_interval(span / SAFE_POINTS);
    calculated.max(safe).max(1)
}

/// The Loki plugin's `calculateStep` (`pkg/tsdb/loki/step.go`): the
/// query's `step`, else its interval (`intervalMs`, 1 s when absent), times
/// the resolution (1–5 or 10, else 1), the range over 11,000 at least.
pub fn loki_step(range: Range, query: &Value) -> i64 {
    let resolution = query["resolution"]
        .as_i64()
        .filter(|r| matches!(r, 1..=5 | 10))
        .unwrap_or(1);
    let given = query["step"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(|s| {
            // A bare number is seconds (`ParseIntervalStringToTimeDuration`).
            if s.bytes().all(|b| b.is_ascii_digit()) {
                format!("{s}s")
            } else {
                s.to_owned()
            }
        })
        .and_then(|s| crate::go::model::parse_duration(&s).ok())
        .map(|ns| (ns / 1_000_000) as i64);
    if let Some(step) = given {
        return step.saturating_mul(resolution);
    }
    let interval = query["intervalMs"].as_i64().unwrap_or(QUERY_SERVICE_INTERVAL_MS);
    let safe = (range.to - range.from).max(0) / SAFE_POINTS;
    interval.saturating_mul(resolution).max(safe)
}

/// A query's refId: `A` when it has none (`MustString("A")`).
pub fn query_ref_id(query: &Value) -> String {
    query["refId"].as_str().unwrap_or("A").to_owned()
}

fn floor_to(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step
}

/// Go's `time.Duration.String` of milliseconds.
fn go_duration(ms: i64) -> String {
    crate::go::time::duration_string(ms.saturating_mul(1_000_000))
}

/// promlib's `formatTime`: float seconds.
fn seconds(ms: i64) -> String {
    strconv::format_float(ms as f64 / 1000.0)
}

/// A Prometheus API value: `"1.5"`, `"NaN"`, `"+Inf"`.
fn number(v: &Value) -> f64 {
    match v.as_str() {
        Some("NaN") => f64::NAN,
        Some("+Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(s) => s.parse().unwrap_or(f64::NAN),
        None => v.as_f64().unwrap_or(f64::NAN),
    }
}

/// A Prometheus timestamp (float seconds) in ms.
fn stamp(v: &Value) -> i64 {
    (v.as_f64().unwrap_or(0.0) * 1000.0).round() as i64
}

/// A number column as the SDK writes it: non-finite values are `null`,
/// listed by kind in the column's `entities`.
fn number_column(values: &[f64]) -> (Value, Value) {
    let mut entities: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let column: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if v.is_nan() {
                entities.entry("NaN").or_default().push(i);
                Value::Null
            } else if v.is_infinite() {
                entities
                    .entry(if *v > 0.0 { "Inf" } else { "NegInf" })
                    .or_default()
                    .push(i);
                Value::Null
            } else {
                json!(v)
            }
        })
        .collect();
    let entities = if entities.is_empty() {
        Value::Null
    } else {
        json!(entities)
    };
    (Value::Array(column), entities)
}

fn frame_data(columns: Vec<(Value, Value)>) -> Value {
    let has_entities = columns.iter().any(|(_, e)| !e.is_null());
    let (values, entities): (Vec<Value>, Vec<Value>) = columns.into_iter().unzip();
    let mut out = Map::new();
    out.insert("values".into(), Value::Array(values));
    if has_entities {
        out.insert("entities".into(), Value::Array(entities));
    }
    Value::Object(out)
}

fn time_field(step_ms: Option<i64>) -> Value {
    let mut f = json!({ "name": "Time", "type": "time", "typeInfo": { "frame": "time.Time" } });
    if let Some(step) = step_ms {
        f["config"] = json!({ "interval": step });
    }
    f
}

/// promlib's `metricNameFromLabels`: `name{a="b", c="d"}`.
fn metric_name(labels: &Map<String, Value>) -> String {
    let name = labels.get("__name__").and_then(Value::as_str).unwrap_or("");
    let mut pairs: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={}", strconv::quote(v.as_str().unwrap_or(""))))
        .collect();
    if pairs.is_empty() {
        return if name.is_empty() { "{}".into() } else { name.into() };
    }
    pairs.sort();
    format!("{name}{{{}}}", pairs.join(", "))
}

/// promlib's `getName`: the legend, `{{label}}` filled in.
fn display_name(labels: &Map<String, Value>, legend: &str, expr: &str) -> String {
    let mut name = metric_name(labels);
    if legend == "__auto" {
        if !labels.is_empty() {
            name = String::new();
        }
    } else if !legend.is_empty() {
        let mut out = String::new();
        let mut rest = legend;
        while let Some(open) = rest.find("{{") {
            let Some(close) = rest[open..].find("}}") else { break };
            out.push_str(&rest[..open]);
            let label = rest[open + 2..open + close].trim();
            out.push_str(labels.get(label).and_then(Value::as_str).unwrap_or(""));
            rest = &rest[open + close + 2..];
        }
        out.push_str(rest);
        name = out;
    }
    if name == "{}" { expr.to_owned() } else { name }
}

/// What a Prometheus query asks for, after Grafana's reading of it.
#[derive(Debug, Clone)]
pub struct PromQuery {
    pub ref_id: String,
    pub expr: String,
    pub legend: String,
    pub range: bool,
    pub instant: bool,
    pub exemplar: bool,
    pub step_ms: i64,
    /// The range query's bounds, floored to the step.
    pub start: i64,
    pub end: i64,
    /// The instant query's time: the range's end as given.
    pub time: i64,
}

impl PromQuery {
    pub fn read(query: &Value, ref_id: &str, range: Range, scrape_ms: i64) -> PromQuery {
        let interval_ms = query["intervalMs"].as_i64().unwrap_or(0);
        // Absent, the query service's 100 (`parseMetricRequest`,
        // `pkg/services/query/query.go`); an explicit 0 is the calculator's.
        let max_points = query["maxDataPoints"].as_i64().unwrap_or(QUERY_SERVICE_POINTS);
        let step = prometheus_step(range, interval_ms, max_points, scrape_ms);
        let instant = query["instant"].as_bool().unwrap_or(false);
        // Older dashboards set neither; Grafana runs those as range queries.
        let range_query = query["range"].as_bool().unwrap_or(false) || !instant;
        let span = range.to - range.from;
        let rate_interval = (step + scrape_ms).max(4 * scrape_ms);
        let expr = query["expr"].as_str().unwrap_or("");
        let expr = interpolate(
            expr,
            &[
                ("$__rate_interval_ms", rate_interval.to_string()),
                ("$__rate_interval", format!("{}s", rate_interval / 1000)),
                ("$__interval_ms", step.to_string()),
                ("$__interval", format!("{}s", step / 1000)),
                ("$__range_ms", span.to_string()),
                ("$__range_s", (span / 1000).to_string()),
                ("$__range", format!("{}s", span / 1000)),
            ],
        );
        PromQuery {
            ref_id: ref_id.to_owned(),
            expr,
            legend: query["legendFormat"].as_str().unwrap_or("").to_owned(),
            range: range_query,
            instant,
            exemplar: query["exemplar"].as_bool().unwrap_or(false),
            step_ms: step,
            start: floor_to(range.from, step),
            end: floor_to(range.to, step),
            time: range.to,
        }
    }

    fn executed(&self) -> String {
        format!("Expr: {}\nStep: {}", self.expr, go_duration(self.step_ms))
    }
}

fn interpolate(expr: &str, vars: &[(&str, String)]) -> String {
    let mut out = expr.to_owned();
    // Longest names first, so `$__interval_ms` is not read as `$__interval`.
    for (name, value) in vars {
        out = out.replace(&format!("${{{}}}", &name[1..]), value).replace(name, value);
    }
    out
}

/// A store's answer as promlib reads it: 2xx, 400, 422 and 503 are parsed
/// (an error body's `error` is the query's error); any other status is
/// `unexpected response with status code N: <first KiB>`.
fn read_prometheus(status: u16, body: &[u8]) -> Result<Value, (String, u16, bool)> {
    let parsed = matches!(status, 200..=299 | 400 | 422 | 503);
    if !parsed {
        let text = String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned();
        return Err((
            format!("unexpected response with status code {status}: {text}"),
            500,
            true,
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| (e.to_string(), 500, true))?;
    if v["status"] == "error" {
        return Err((v["error"].as_str().unwrap_or("").to_owned(), status, status >= 400));
    }
    Ok(v["data"].clone())
}

/// The frames of a `matrix`, `vector` or `scalar` result.
fn result_frames(q: &PromQuery, data: &Value) -> Vec<Value> {
    let kind = data["resultType"].as_str().unwrap_or("");
    let meta_type = if kind == "matrix" {
        "timeseries-multi"
    } else {
        "numeric-multi"
    };
    let mut frames = Vec::new();
    let mut add = |labels: Map<String, Value>, times: Vec<i64>, values: Vec<f64>| {
        let mut value_field = json!({ "name": "Value", "type": "number", "typeInfo": { "frame": "float64" } });
        if let Some(name) = labels.get("__name__").and_then(Value::as_str) {
            value_field["name"] = json!(name);
        }
        let display = display_name(&labels, &q.legend, &q.expr);
        if !labels.is_empty() {
            value_field["labels"] = Value::Object(labels);
        }
        if !display.is_empty() {
            value_field["config"] = json!({ "displayNameFromDS": display });
        }
        frames.push(json!({
            "schema": {
                "refId": q.ref_id,
                "meta": { "type": meta_type, "typeVersion": [0, 1], "custom": { "resultType": kind } },
                "fields": [time_field(Some(q.step_ms)), value_field],
            },
            "data": data_of(times, &values),
        }));
    };
    match kind {
        "matrix" => {
            for s in data["result"].as_array().into_iter().flatten() {
                let points = s["values"].as_array().cloned().unwrap_or_default();
                let times = points.iter().map(|p| stamp(&p[0])).collect();
                let values: Vec<f64> = points.iter().map(|p| number(&p[1])).collect();
                add(s["metric"].as_object().cloned().unwrap_or_default(), times, values);
            }
        }
        "vector" => {
            for s in data["result"].as_array().into_iter().flatten() {
                add(
                    s["metric"].as_object().cloned().unwrap_or_default(),
                    vec![stamp(&s["value"][0])],
                    vec![number(&s["value"][1])],
                );
            }
        }
        "scalar" => {
            let r = &data["result"];
            add(Map::new(), vec![stamp(&r[0])], vec![number(&r[1])]);
        }
        _ => {}
    }
    frames
}

fn data_of(times: Vec<i64>, values: &[f64]) -> Value {
    frame_data(vec![(json!(times), Value::Null), number_column(values)])
}

/// Marks the first frame as promlib does, adding the field-less frame
/// when there is none.
fn with_first_meta(q: &PromQuery, mut frames: Vec<Value>) -> Vec<Value> {
    if frames.is_empty() {
        frames.push(json!({
            "schema": { "refId": q.ref_id, "meta": {}, "fields": [] },
            "data": { "values": [] },
        }));
    }
    let meta = &mut frames[0]["schema"]["meta"];
    meta["executedQueryString"] = json!(q.executed());
    if !meta["custom"].is_object() {
        meta["custom"] = json!({});
    }
    meta["custom"]["calculatedMinStep"] = json!(q.step_ms);
    frames
}

/// Grafana's exemplar sampling: per step, the first exemplar, then only
/// those at least three standard deviations from the running mean of
/// every value seen so far (Welford's online mean and variance).
#[derive(Default)]
struct Sampler {
    count: f64,
    mean: f64,
    m2: f64,
    /// Steps (in whole seconds, floored) that already have an exemplar.
    steps: std::collections::HashSet<i64>,
}

impl Sampler {
    fn keep(&mut self, step_ms: i64, ts_ms: i64, value: f64) -> bool {
        self.count += 1.0;
        let delta = value - self.mean;
        self.mean += delta / self.count;
        self.m2 += delta * (value - self.mean);
        let step_s = (step_ms / 1000).max(1);
        let bucket = ts_ms.div_euclid(1000).div_euclid(step_s) * step_s;
        if self.steps.insert(bucket) {
            return true;
        }
        let sd = if self.count < 2.0 {
            0.0
        } else {
            (self.m2 / (self.count - 1.0)).sqrt()
        };
        sd != 0.0 && (value - self.mean).abs() / sd >= 3.0
    }
}

/// The exemplar frame of a `query_exemplars` answer, or none.
fn exemplar_frame(q: &PromQuery, data: &Value) -> Option<Value> {
    struct Row {
        time: i64,
        value: f64,
        labels: BTreeMap<String, String>,
    }
    let mut sampler = Sampler::default();
    let mut names: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for series in data.as_array().into_iter().flatten() {
        let series_labels = series["seriesLabels"].as_object().cloned().unwrap_or_default();
        for e in series["exemplars"].as_array().into_iter().flatten() {
            let mut labels: BTreeMap<String, String> = series_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                .collect();
            for (k, v) in e["labels"].as_object().into_iter().flatten() {
                labels.insert(k.clone(), v.as_str().unwrap_or("").to_owned());
            }
            // Every exemplar's label names make fields, sampled or not.
            names.extend(labels.keys().cloned());
            let (time, value) = (stamp(&e["timestamp"]), number(&e["value"]));
            if sampler.keep(q.step_ms, time, value) {
                rows.push(Row { time, value, labels });
            }
        }
    }
    if rows.is_empty() {
        return None;
    }
    rows.sort_by_key(|r| r.time);
    names.sort();
    names.dedup();
    let mut fields = vec![
        time_field(None),
        json!({ "name": "Value", "type": "number", "typeInfo": { "frame": "float64" } }),
    ];
    let values: Vec<f64> = rows.iter().map(|r| r.value).collect();
    let mut columns = vec![
        (json!(rows.iter().map(|r| r.time).collect::<Vec<_>>()), Value::Null),
        number_column(&values),
    ];
    for name in &names {
        fields.push(json!({ "name": name, "type": "string", "typeInfo": { "frame": "string" } }));
        let column: Vec<&str> = rows
            .iter()
            .map(|r| r.labels.get(name).map(String::as_str).unwrap_or(""))
            .collect();
        columns.push((json!(column), Value::Null));
    }
    Some(json!({
        "schema": {
            "name": "exemplar",
            "refId": q.ref_id,
            "meta": { "typeVersion": [0, 0], "custom": { "resultType": "exemplar" } },
            "fields": fields,
        },
        "data": frame_data(columns),
    }))
}

/// `base` with `path` appended, as Grafana joins a datasource URL.
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(&format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    ));
    url
}

async fn post_form(http: &reqwest::Client, url: Url, form: &[(&str, String)]) -> Result<(u16, Vec<u8>), String> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let resp = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, bytes.to_vec()))
}

fn failed(error: String, status: u16, downstream: bool, frames: Vec<Value>) -> Answer {
    Answer {
        frames,
        error: Some(error),
        status,
        downstream,
    }
}

/// A Prometheus query through Mimir's HTTP API, as promlib sends it
/// (`httpMethod: POST`).
pub async fn prometheus(http: &reqwest::Client, base: &Url, q: &PromQuery) -> Answer {
    let mut frames = Vec::new();
    let mut calls: Vec<(&str, Vec<(&str, String)>)> = Vec::new();
    if q.range {
        calls.push((
            "api/v1/query_range",
            vec![
                ("query", q.expr.clone()),
                ("start", seconds(q.start)),
                ("end", seconds(q.end)),
                ("step", strconv::format_float(q.step_ms as f64 / 1000.0)),
            ],
        ));
    }
    if q.instant {
        calls.push((
            "api/v1/query",
            vec![("query", q.expr.clone()), ("time", seconds(q.time))],
        ));
    }
    for (path, form) in calls {
        match post_form(http, join(base, path), &form).await {
            Ok((status, body)) => match read_prometheus(status, &body) {
                Ok(data) => frames.extend(with_first_meta(q, result_frames(q, &data))),
                Err((error, status, downstream)) => {
                    return failed(error, status, downstream, with_first_meta(q, Vec::new()));
                }
            },
            Err(e) => return failed(e, 500, true, Vec::new()),
        }
    }
    if q.exemplar {
        let form = [
            ("query", q.expr.clone()),
            ("start", seconds(q.start)),
            ("end", seconds(q.end)),
        ];
        match post_form(http, join(base, "api/v1/query_exemplars"), &form).await {
            // No selector in the query: 204, nothing to add.
            Ok((204, _)) => {}
            Ok((status, body)) => match read_prometheus(status, &body) {
                Ok(data) => frames.extend(exemplar_frame(q, &data)),
                Err((error, status, downstream)) => return failed(error, status, downstream, frames),
            },
            Err(e) => return failed(e, 500, true, frames),
        }
    }
    Answer {
        frames,
        error: None,
        status: 200,
        downstream: false,
    }
}

/// A Loki query through its HTTP API: log queries as one logs frame,
/// metric queries as Prometheus-style frames.
pub async fn loki(http: &reqwest::Client, base: &Url, query: &Value, ref_id: &str, range: Range) -> Answer {
    let expr = query["expr"].as_str().unwrap_or("").to_owned();
    let instant = query["queryType"].as_str() == Some("instant");
    let limit = query["maxLines"].as_i64().filter(|n| *n > 0).unwrap_or(1000);
    let step = loki_step(range, query);
    let direction = match query["direction"].as_str() {
        Some("forward") => "forward",
        _ => "backward",
    };
    let ns = |ms: i64| (i128::from(ms) * 1_000_000).to_string();
    let (path, params): (&str, Vec<(&str, String)>) = if instant {
        (
            "loki/api/v1/query",
            vec![
                ("query", expr.clone()),
                ("time", ns(range.to)),
                ("limit", limit.to_string()),
                ("direction", direction.into()),
            ],
        )
    } else {
        (
            "loki/api/v1/query_range",
            vec![
                ("query", expr.clone()),
                ("start", ns(range.from)),
                ("end", ns(range.to)),
                ("limit", limit.to_string()),
                ("direction", direction.into()),
                ("step", strconv::format_float(step as f64 / 1000.0)),
            ],
        )
    };
    let mut url = join(base, path);
    url.query_pairs_mut()
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    let resp = match http.get(url).send().await {
        Ok(r) => r,
        Err(e) => return failed(e.to_string(), 500, true, Vec::new()),
    };
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    let executed = format!("Expr: {expr}");
    if !(200..300).contains(&status) {
        return failed(loki_error(&body), status, true, Vec::new());
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return failed("Loki answered something that is not JSON".into(), 500, true, Vec::new());
    };
    let data = &v["data"];
    let frames = match data["resultType"].as_str() {
        Some("streams") => vec![logs_frame(ref_id, &executed, data)],
        _ => {
            let q = PromQuery {
                ref_id: ref_id.to_owned(),
                expr: expr.clone(),
                legend: query["legendFormat"].as_str().unwrap_or("").to_owned(),
                range: !instant,
                instant,
                exemplar: false,
                step_ms: step,
                start: range.from,
                end: range.to,
                time: range.to,
            };
            let mut frames = result_frames(&q, data);
            for f in &mut frames {
                f["schema"]["meta"]["executedQueryString"] = json!(executed);
            }
            frames
        }
    };
    Answer {
        frames,
        error: None,
        status: 200,
        downstream: false,
    }
}

/// `makeLokiError` (`pkg/tsdb/loki/api.go`): a JSON body's `message`
/// (any case, as Go's decoder matches it), else the whole body as it came,
/// its newline included.
fn loki_error(body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        v.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("message"))
            .and_then(|(_, m)| m.as_str().map(str::to_owned))
    });
    match message {
        Some(m) if !m.is_empty() => m,
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

/// Loki's streams as Grafana's logs frame.
fn logs_frame(ref_id: &str, executed: &str, data: &Value) -> Value {
    let mut rows: Vec<(Value, i64, String, String)> = Vec::new();
    for stream in data["result"].as_array().into_iter().flatten() {
        for entry in stream["values"].as_array().into_iter().flatten() {
            let ts = entry[0].as_str().unwrap_or("0").to_owned();
            let line = entry[1].as_str().unwrap_or("").to_owned();
            let ms = ts.parse::<i128>().map(|n| (n / 1_000_000) as i64).unwrap_or(0);
            rows.push((stream["stream"].clone(), ms, line, ts));
        }
    }
    let ids: Vec<String> = rows
        .iter()
        .map(|(labels, _, line, ts)| {
            let key = format!("{labels}{line}");
            format!("{ts}_{:08x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()) as u32)
        })
        .collect();
    json!({
        "schema": {
            "refId": ref_id,
            "meta": { "custom": { "frameType": "LabeledTimeValues" }, "executedQueryString": executed },
            "fields": [
                { "name": "labels", "type": "other", "typeInfo": { "frame": "json.RawMessage" } },
                { "name": "Time", "type": "time", "typeInfo": { "frame": "time.Time" } },
                { "name": "Line", "type": "string", "typeInfo": { "frame": "string" } },
                { "name": "tsNs", "type": "string", "typeInfo": { "frame": "string" } },
                { "name": "id", "type": "string", "typeInfo": { "frame": "string" } },
            ],
        },
        "data": { "values": [
            rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
            rows.iter().map(|r| r.3.clone()).collect::<Vec<_>>(),
            ids,
        ] },
    })
}

/// Which store answers a datasource's queries here.
pub fn served(ds: &Datasource) -> Option<Backend> {
    match ds.backend() {
        Some(b @ (Backend::Prometheus | Backend::Loki | Backend::Pyroscope)) => Some(b),
        _ => None,
    }
}

/// The datasource's scrape interval (`jsonData.timeInterval`), in ms.
pub fn scrape_ms(ds: &Datasource) -> i64 {
    ds.json_data["timeInterval"]
        .as_str()
        .and_then(|t| crate::go::model::parse_duration(t).ok())
        .map(|ns| (ns / 1_000_000) as i64)
        .filter(|ms| *ms > 0)
        .unwrap_or(DEFAULT_SCRAPE_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_steps_are_grafanas() {
        let now = 1_735_689_600_000;
        assert_eq!(parse_time(&json!("now"), now, false), now);
        assert_eq!(parse_time(&json!("now-1h"), now, false), now - 3_600_000);
        assert_eq!(parse_time(&json!("now-15m"), now, false), now - 900_000);
        assert_eq!(parse_time(&json!("1735689600000"), now, false), now);
        assert_eq!(parse_time(&json!(1735689600000i64), now, false), now);
        assert_eq!(parse_time(&json!("yesterday"), now, false), 0);
        // A bare Go duration is that long before now (`ParseDuration("-"+s)`).
        assert_eq!(parse_time(&json!("5m"), now, false), now - 300_000);
        assert_eq!(parse_time(&json!("1h30m"), now, false), now - 5_400_000);
        // Rounded: down for `from`, to the unit's last millisecond for `to`.
        let at = now + 1_234_567;
        assert_eq!(parse_time(&json!("now/h"), at, false), now);
        assert_eq!(parse_time(&json!("now/h"), at, true), now + 3_599_999);
        assert_eq!(parse_time(&json!("now-1d/d"), at, false), now - 86_400_000);
        assert_eq!(parse_time(&json!("now/x"), at, false), 0);
        assert_eq!(parse_time(&json!("now☃"), now, false), 0);
        assert_eq!(parse_time(&json!("now-1x"), now, false), 0);
        let hour = Range {
            from: now - 3_600_000,
            to: now,
        };
        // An hour over 1500 points is 2.4 s, under the 15 s scrape interval.
        assert_eq!(prometheus_step(hour, 0, 0, 15_000), 15_000);
        assert_eq!(prometheus_step(hour, 0, 60, 15_000), 60_000);
        assert_eq!(prometheus_step(hour, 30_000, 0, 15_000), 30_000);
        let month = Range {
            from: now - 30 * 86_400_000,
            to: now,
        };
        // 30 days over 11,000 points is 235 s, rounded to 5 m.
        assert_eq!(prometheus_step(month, 0, 100_000, 15_000), 300_000);
        assert_eq!(go_duration(15_000), "15s");
        assert_eq!(go_duration(60_000), "1m0s");
    }

    #[test]
    fn absent_query_fields_take_the_query_services_defaults() {
        let hour = Range { from: 0, to: 3_600_000 };
        // No `maxDataPoints`: the query service's 100 (`MustInt64(100)`),
        // so an hour is 36 s, rounded to 30 s.
        let q = PromQuery::read(&json!({ "expr": "up" }), "A", hour, 15_000);
        assert_eq!(q.step_ms, 30_000);
        // An explicit 0 is the calculator's own default resolution, 1500.
        let q = PromQuery::read(&json!({ "expr": "up", "maxDataPoints": 0 }), "A", hour, 15_000);
        assert_eq!(q.step_ms, 15_000);
        // Loki: `intervalMs` (1 s when absent) times the resolution, at
        // least the range over 11,000, or the query's own `step`.
        assert_eq!(loki_step(hour, &json!({})), 1000);
        assert_eq!(loki_step(hour, &json!({ "intervalMs": 15_000 })), 15_000);
        assert_eq!(loki_step(hour, &json!({ "intervalMs": 2000, "resolution": 5 })), 10_000);
        assert_eq!(loki_step(hour, &json!({ "intervalMs": 2000, "resolution": 7 })), 2000);
        assert_eq!(loki_step(hour, &json!({ "step": "1m", "resolution": 2 })), 120_000);
        let month = Range {
            from: 0,
            to: 30 * 86_400_000,
        };
        assert_eq!(loki_step(month, &json!({})), 30 * 86_400_000 / 11_000);
        assert_eq!(query_ref_id(&json!({ "expr": "up" })), "A");
        assert_eq!(query_ref_id(&json!({ "refId": "Q" })), "Q");
    }

    #[test]
    fn loki_errors_and_failed_answers_are_written_as_grafana_writes_them() {
        assert_eq!(loki_error(b"parse error at line 1\n"), "parse error at line 1\n");
        assert_eq!(loki_error(br#"{"Message":"too many"}"#), "too many");
        assert_eq!(loki_error(br#"{"message":""}"#), r#"{"message":""}"#);
        let failed = failed("x".into(), 400, true, Vec::new()).to_json();
        assert!(failed.get("frames").is_none(), "{failed}");
        let empty = Answer {
            status: 200,
            ..Answer::default()
        }
        .to_json();
        assert_eq!(empty["frames"], json!([]));
    }

    #[test]
    fn frames_are_promlibs() {
        let q = PromQuery::read(
            &json!({ "expr": "sum by (path) (rate(x[5m]))", "exemplar": true }),
            "A",
            Range { from: 0, to: 60_000 },
            15_000,
        );
        assert!(q.range && !q.instant && q.exemplar);
        let data = json!({ "resultType": "matrix", "result": [
            { "metric": { "path": "/a" }, "values": [[15, "1"], [30, "NaN"]] },
        ]});
        let frames = with_first_meta(&q, result_frames(&q, &data));
        let f = &frames[0];
        assert_eq!(f["schema"]["fields"][1]["name"], "Value");
        assert_eq!(f["schema"]["fields"][1]["labels"], json!({ "path": "/a" }));
        assert_eq!(
            f["schema"]["fields"][1]["config"]["displayNameFromDS"],
            r#"{path="/a"}"#
        );
        assert_eq!(f["schema"]["fields"][0]["config"]["interval"], 15_000);
        assert_eq!(
            f["schema"]["meta"]["executedQueryString"],
            "Expr: sum by (path) (rate(x[5m]))\nStep: 15s"
        );
        assert_eq!(
            f["schema"]["meta"]["custom"],
            json!({ "resultType": "matrix", "calculatedMinStep": 15_000 })
        );
        assert_eq!(f["data"]["values"], json!([[15_000, 30_000], [1.0, null]]));
        assert_eq!(f["data"]["entities"], json!([null, { "NaN": [1] }]));
        let empty = with_first_meta(&q, Vec::new());
        assert_eq!(empty[0]["schema"]["fields"], json!([]));
        let exemplars = json!([{ "seriesLabels": { "__name__": "x_bucket", "le": "0.5" }, "exemplars": [
            { "labels": { "trace_id": "abc", "span_id": "def" }, "value": "0.3", "timestamp": 20.5 },
        ]}]);
        let f = exemplar_frame(&q, &exemplars).unwrap();
        assert_eq!(f["schema"]["name"], "exemplar");
        let names: Vec<&str> = f["schema"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["name"].as_str())
            .collect();
        assert_eq!(names, ["Time", "Value", "__name__", "le", "span_id", "trace_id"]);
        assert_eq!(f["data"]["values"][0], json!([20_500]));
        assert_eq!(f["data"]["values"][5], json!(["abc"]));
        assert!(exemplar_frame(&q, &json!([])).is_none());
        // Within one 15 s step only an outlier joins the first exemplar.
        let many: Vec<Value> = (0..20)
            .map(|i| json!({ "labels": { "trace_id": format!("t{i}") }, "value": "0.1", "timestamp": 30.0 + f64::from(i) * 0.1 }))
            .chain([json!({ "labels": { "trace_id": "slow" }, "value": "9", "timestamp": 33.0 })])
            .collect();
        let f = exemplar_frame(&q, &json!([{ "seriesLabels": {}, "exemplars": many }])).unwrap();
        assert_eq!(f["data"]["values"][2], json!(["t0", "slow"]));
    }

    #[test]
    fn errors_are_read_as_promlib_reads_them() {
        let body =
            br#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:4: parse error: x"}"#;
        assert_eq!(
            read_prometheus(400, body).unwrap_err(),
            (
                r#"invalid parameter "query": 1:4: parse error: x"#.to_owned(),
                400,
                true
            )
        );
        let (e, status, _) = read_prometheus(501, br#"{"status":"error"}"#).unwrap_err();
        assert_eq!(
            (e.as_str(), status),
            (r#"unexpected response with status code 501: {"status":"error"}"#, 500)
        );
        assert_eq!(display_name(&Map::new(), "", "1+1"), "1+1");
        let labels = json!({ "__name__": "up", "job": "a" }).as_object().cloned().unwrap();
        assert_eq!(display_name(&labels, "", "up"), r#"up{job="a"}"#);
        assert_eq!(display_name(&labels, "{{job}} x", "up"), "a x");
        assert_eq!(display_name(&labels, "__auto", "up"), "");
        assert_eq!(
            interpolate("rate(x[$__rate_interval])", &[("$__rate_interval", "60s".into())]),
            "rate(x[60s])"
        );
    }
}
