//! Mimir 2.14's ruler HTTP API (`pkg/ruler/api.go`) under `/prometheus`:
//!
//! - `GET /api/v1/rules` — the Prometheus rules API as Mimir writes it:
//!   groups sorted by namespace (`file`), each rule `alerting` or
//!   `recording` with its health, last error and evaluation times, an
//!   alert's value in Go's `%e` form (`7.2e-02`) and the envelope's empty
//!   `errorType`/`error`. Filters as Mimir names them, without
//!   Prometheus' `[]`: `type=alert|record`, `rule_name`, `rule_group`,
//!   `file`; a group left without rules by a rule filter is not listed.
//!   A bad `type` is refused before any `Content-Type` is set, so Go
//!   sniffs the JSON as text. (Pagination came after 2.14.)
//! - `GET /api/v1/alerts` — every pending or firing alert.
//! - `GET /config/v1/rules[/<namespace>[/<group>]]` — the rule groups as
//!   YAML, namespace → groups, read from the local store as the deployment
//!   configures it: an unknown group is 404 `group does not exist`, an
//!   unknown namespace the store's 400, nothing at all 404 `no rule groups
//!   found` (`http.Error` bodies: text, a newline).
//!
//! Uses: ruler (groups and state), go (json escaping, time, strconv), state.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::go::{json, strconv, time, url};
use crate::lang::promql_eval::Labels;
use crate::mimir::no_head;
use crate::ruler::{self, Alert, Breakage, Group, GroupYaml, Kind, Rule, Shown};
use crate::state::SimState;

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/prometheus/api/v1/rules", no_head(get(rules)))
        .route("/prometheus/api/v1/alerts", no_head(get(alerts)))
        .route("/prometheus/config/v1/rules", get(config_all))
        .route("/prometheus/config/v1/rules/{namespace}", get(config_namespace))
        .route("/prometheus/config/v1/rules/{namespace}/{group}", get(config_group))
        .with_state(state)
}

/// Mimir's `response`: `errorType` and `error` are written even when empty.
#[derive(Serialize)]
struct Envelope<T: Serialize> {
    status: &'static str,
    data: T,
    #[serde(rename = "errorType")]
    error_type: &'static str,
    error: String,
}

fn respond<T: Serialize>(status: StatusCode, body: &Envelope<T>) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json::escape_html(&text),
    )
        .into_response()
}

/// `respondInvalidRequest`: the envelope, but no `Content-Type` set, so
/// Go's server sniffs the JSON as text.
fn bad_request(message: String) -> Response {
    let mut response = respond(
        StatusCode::BAD_REQUEST,
        &Envelope {
            status: "error",
            data: (),
            error_type: "bad_data",
            error: message,
        },
    );
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Go's `time.Time` in JSON: RFC 3339 with nanoseconds, the zero time when
/// never set.
fn go_time(ms: Option<i64>) -> String {
    match ms {
        None => "0001-01-01T00:00:00Z".into(),
        Some(ms) => {
            let nanos = u32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0);
            time::format_rfc3339_nano(ms.div_euclid(1000), nanos)
        }
    }
}

#[derive(Serialize)]
struct AlertOut<'a> {
    labels: &'a Labels,
    annotations: &'a Labels,
    state: &'static str,
    #[serde(rename = "activeAt")]
    active_at: String,
    #[serde(rename = "keepFiringSince", skip_serializing_if = "Option::is_none")]
    keep_firing_since: Option<String>,
    value: String,
}

fn alert_out(a: &Alert) -> AlertOut<'_> {
    AlertOut {
        labels: &a.labels,
        annotations: &a.annotations,
        state: a.state.as_str(),
        active_at: go_time(Some(a.active_at_ms)),
        keep_firing_since: a.keep_firing_since_ms.map(|ms| go_time(Some(ms))),
        value: strconv::format_float_e(a.value),
    }
}

#[derive(Serialize)]
struct AlertingOut<'a> {
    state: &'static str,
    name: &'a str,
    query: &'a str,
    duration: f64,
    #[serde(rename = "keepFiringFor")]
    keep_firing_for: f64,
    labels: &'a Labels,
    annotations: &'a Labels,
    alerts: Vec<AlertOut<'a>>,
    health: &'static str,
    #[serde(rename = "lastError")]
    last_error: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "lastEvaluation")]
    last_evaluation: String,
    #[serde(rename = "evaluationTime")]
    evaluation_time: f64,
}

#[derive(Serialize)]
struct RecordingOut<'a> {
    name: &'a str,
    query: &'a str,
    labels: &'a Labels,
    health: &'static str,
    #[serde(rename = "lastError")]
    last_error: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "lastEvaluation")]
    last_evaluation: String,
    #[serde(rename = "evaluationTime")]
    evaluation_time: f64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum RuleOut<'a> {
    Alerting(AlertingOut<'a>),
    Recording(RecordingOut<'a>),
}

#[derive(Serialize)]
struct GroupOut<'a> {
    name: &'a str,
    file: &'a str,
    rules: Vec<RuleOut<'a>>,
    interval: f64,
    #[serde(rename = "lastEvaluation")]
    last_evaluation: String,
    #[serde(rename = "evaluationTime")]
    evaluation_time: f64,
    #[serde(rename = "sourceTenants")]
    source_tenants: Option<Vec<String>>,
}

fn rule_out(rule: &Rule, typo: bool) -> RuleOut<'_> {
    let query = &rule.query(typo).text;
    match &rule.kind {
        Kind::Alerting {
            alert,
            hold,
            keep_firing_for,
            annotations,
            ..
        } => RuleOut::Alerting(AlertingOut {
            state: rule.state().as_str(),
            name: alert,
            query,
            duration: hold.as_secs_f64(),
            keep_firing_for: keep_firing_for.as_secs_f64(),
            labels: &rule.labels,
            annotations,
            alerts: rule.listed_alerts().into_iter().map(alert_out).collect(),
            health: rule.health.as_str(),
            last_error: &rule.last_error,
            kind: "alerting",
            last_evaluation: go_time(rule.last_evaluation_ms),
            evaluation_time: rule.evaluation_time.as_secs_f64(),
        }),
        Kind::Recording { record } => RuleOut::Recording(RecordingOut {
            name: record,
            query,
            labels: &rule.labels,
            health: rule.health.as_str(),
            last_error: &rule.last_error,
            kind: "recording",
            last_evaluation: go_time(rule.last_evaluation_ms),
            evaluation_time: rule.evaluation_time.as_secs_f64(),
        }),
    }
}

/// The rules API's query as Mimir 2.14's ruler reads it (pkg/ruler/api.go,
/// `PrometheusRules`): `URL.Query()`, bad pairs dropped.
struct Filter {
    alerting: Option<bool>,
    rule_names: Vec<String>,
    rule_groups: Vec<String>,
    files: Vec<String>,
}

impl Filter {
    fn read(raw: Option<&str>) -> Result<Filter, String> {
        let (pairs, _) = url::parse_query_text(raw.unwrap_or(""));
        let all =
            |key: &str| -> Vec<String> { pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect() };
        let first = |key: &str| all(key).into_iter().next().unwrap_or_default();
        let alerting = match first("type").to_ascii_lowercase().as_str() {
            "" => None,
            "alert" => Some(true),
            "record" => Some(false),
            other => return Err(format!("not supported value {}", strconv::quote(other))),
        };
        Ok(Filter {
            alerting,
            rule_names: all("rule_name"),
            rule_groups: all("rule_group"),
            files: all("file"),
        })
    }

    fn filters_rules(&self) -> bool {
        self.alerting.is_some() || !self.rule_names.is_empty()
    }

    fn keeps_group(&self, g: &Group) -> bool {
        (self.rule_groups.is_empty() || self.rule_groups.contains(&g.name))
            && (self.files.is_empty() || self.files.contains(&g.namespace))
    }

    fn keeps_rule(&self, r: &Rule) -> bool {
        let alerting = matches!(r.kind, Kind::Alerting { .. });
        self.alerting.is_none_or(|want| want == alerting)
            && (self.rule_names.is_empty() || self.rule_names.iter().any(|n| n == r.name()))
    }
}

async fn rules(State(state): State<Arc<SimState>>, RawQuery(raw): RawQuery) -> Response {
    let filter = match Filter::read(raw.as_deref()) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let shown = state.ruler.shown(&Breakage::of(&state));
    let groups: Vec<GroupOut<'_>> = shown
        .iter()
        .filter(|s| filter.keeps_group(&s.group))
        .filter_map(|Shown { group, typo }| {
            let rules: Vec<RuleOut<'_>> = group
                .rules
                .iter()
                .filter(|r| filter.keeps_rule(r))
                .map(|r| rule_out(r, *typo))
                .collect();
            (!(filter.filters_rules() && rules.is_empty())).then(|| GroupOut {
                name: &group.name,
                file: &group.namespace,
                rules,
                interval: group.interval.as_secs_f64(),
                last_evaluation: go_time(group.last_evaluation_ms),
                evaluation_time: group.evaluation_time.as_secs_f64(),
                source_tenants: None,
            })
        })
        .collect();
    #[derive(Serialize)]
    struct Discovery<'a> {
        groups: Vec<GroupOut<'a>>,
    }
    respond(
        StatusCode::OK,
        &Envelope {
            status: "success",
            data: Discovery { groups },
            error_type: "",
            error: String::new(),
        },
    )
}

async fn alerts(State(state): State<Arc<SimState>>) -> Response {
    let shown = state.ruler.shown(&Breakage::of(&state));
    let alerts: Vec<AlertOut<'_>> = shown
        .iter()
        .flat_map(|s| s.group.rules.iter())
        .flat_map(|r| r.listed_alerts())
        .map(alert_out)
        .collect();
    #[derive(Serialize)]
    struct Discovery<'a> {
        alerts: Vec<AlertOut<'a>>,
    }
    respond(
        StatusCode::OK,
        &Envelope {
            status: "success",
            data: Discovery { alerts },
            error_type: "",
            error: String::new(),
        },
    )
}

// ---------------------------------------------------------------------------
// The configuration API

/// Go's `http.Error`: plain text with a newline.
fn http_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{message}\n"),
    )
        .into_response()
}

fn yaml(body: &impl Serialize) -> Response {
    match serde_yaml::to_string(body) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/yaml")], text).into_response(),
        Err(e) => http_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// A group as `rulespb.FromProto` writes it back: the file's fields, the
/// misspelled expressions under `rule_metric_missing`.
fn source(s: &Shown) -> GroupYaml {
    let mut g = s.group.source.clone();
    if s.typo {
        g.set_exprs(s.group.rules.iter().map(|r| r.query(true).text.clone()));
    }
    g
}

fn by_namespace(shown: &[Shown]) -> BTreeMap<String, Vec<GroupYaml>> {
    let mut out: BTreeMap<String, Vec<GroupYaml>> = BTreeMap::new();
    for s in shown {
        out.entry(s.group.namespace.clone()).or_default().push(source(s));
    }
    out
}

/// The local store's answer for a namespace with no file.
fn no_file(namespace: &str) -> Response {
    let path = format!("{}/{}/{namespace}", ruler::RULES_DIRECTORY, ruler::TENANT);
    http_error(
        StatusCode::BAD_REQUEST,
        &format!(
            "failed to load rule group for user {} and namespace {namespace}: error parsing {path}: open {path}: no such file or directory",
            ruler::TENANT
        ),
    )
}

async fn config_all(State(state): State<Arc<SimState>>) -> Response {
    let shown = state.ruler.shown(&Breakage::of(&state));
    if shown.is_empty() {
        return http_error(StatusCode::NOT_FOUND, "no rule groups found");
    }
    yaml(&by_namespace(&shown))
}

fn namespace_groups(state: &SimState, namespace: &str) -> (bool, Vec<Shown>) {
    // A namespace whose groups the fault hides still has its file.
    let exists = state
        .ruler
        .shown(&Breakage::default())
        .iter()
        .any(|s| s.group.namespace == namespace);
    let shown = state
        .ruler
        .shown(&Breakage::of(state))
        .into_iter()
        .filter(|s| s.group.namespace == namespace)
        .collect();
    (exists, shown)
}

async fn config_namespace(State(state): State<Arc<SimState>>, Path(namespace): Path<String>) -> Response {
    let (exists, shown) = namespace_groups(&state, &namespace);
    if !exists {
        return no_file(&namespace);
    }
    if shown.is_empty() {
        return http_error(StatusCode::NOT_FOUND, "no rule groups found");
    }
    yaml(&by_namespace(&shown))
}

async fn config_group(
    State(state): State<Arc<SimState>>,
    Path((namespace, group)): Path<(String, String)>,
) -> Response {
    let (exists, shown) = namespace_groups(&state, &namespace);
    if !exists {
        return no_file(&namespace);
    }
    match shown.iter().find(|s| s.group.name == group) {
        Some(s) => yaml(&source(s)),
        None => http_error(StatusCode::NOT_FOUND, "group does not exist"),
    }
}
