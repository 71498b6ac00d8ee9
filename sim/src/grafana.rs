//! The reference stack's Grafana (11.4 shapes,
//! `shared/reference/api/02-grafana-http-api.md`), served under a sub-path
//! (`/grafana`) as the deployment serves it: `/api/health`,
//! `/api/datasources`, `/api/datasources/uid/<uid>`, the per-type health
//! checks (none for Tempo, as in 11.4), and the datasource proxy
//! `/api/datasources/proxy/uid/<uid>/…`, which forwards to the reference
//! stack's own store of the datasource's type. Datasources come from a
//! provisioning file; a bearer token or basic auth is required when set,
//! unless anonymous access gives a role to requests without valid
//! credentials. Paths outside the sub-path are redirected into it; paths
//! and methods no route takes are Grafana's not-found.
//! The deployment's dashboards (`dashboards`) are listed by `/api/search`
//! and served by `/api/dashboards/uid/<uid>`; `POST /api/ds/query` runs
//! Prometheus, Loki and Pyroscope queries as Grafana's backend plugins do
//! (`grafana_query`, `grafana_pyroscope`).
//!
//! Uses: provisioning (datasource model), dashboards, grafana_query,
//! grafana_pyroscope, state, faults.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use serde_json::json;
use url::Url;

use crate::faults::Role;
use crate::grafana_query::{self, PromQuery, Range};
use crate::provisioning::{Backend, Datasource};
use crate::state::SimState;
use crate::{dashboards, grafana_pyroscope};

/// The datasources the reference stack's Grafana is provisioned with by
/// default.
pub const DEFAULT_PROVISIONING: &str = include_str!("../../compose/grafana/provisioning/datasources/datasources.yaml");

/// How clients must authenticate, when at all.
#[derive(Debug, Clone, Default)]
pub struct GrafanaAuth {
    pub token: Option<String>,
    pub basic: Option<(String, String)>,
}

/// Why Grafana refused a request's credentials: the authn client that
/// tried them and its error (`pkg/services/authn/clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No client took the request: `auth.unauthorized`.
    NoCredentials,
    /// A legacy API key that does not decode: `api-key.invalid`.
    InvalidApiKey,
    /// A `glsa_` token no service account holds: the key store's plain
    /// error, which the middleware answers with its own fallback.
    UnknownToken,
    /// Basic credentials that are not a user's: `password-auth.failed`.
    BadPassword,
}

/// The organization role a request is served with: what a valid token or
/// basic credential is (the reference stack's are an admin's), or
/// `[auth.anonymous] org_role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgRole {
    Viewer,
    Admin,
}

impl GrafanaAuth {
    /// Whether the credentials are the configured ones. Without a token or
    /// basic auth set there are none to match.
    fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if let Some(given) = value.strip_prefix("Bearer ").filter(|t| !t.is_empty()) {
            return self.api_key(given);
        }
        let Some(encoded) = value.strip_prefix("Basic ") else {
            return Err(Refusal::NoCredentials);
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
        // `api_key:<token>` is a key sent as basic auth (`getTokenFromRequest`).
        // A failed key then meets the password client's refusal, and the
        // first Grafana error of the two is answered.
        if user == "api_key" && !password.is_empty() {
            return match self.api_key(password) {
                Err(Refusal::UnknownToken) => Err(Refusal::BadPassword),
                other => other,
            };
        }
        match &self.basic {
            Some((u, p)) if u == user && p == password => Ok(()),
            _ => Err(Refusal::BadPassword),
        }
    }

    fn api_key(&self, given: &str) -> Result<(), Refusal> {
        match &self.token {
            Some(token) if token == given => Ok(()),
            _ if given.starts_with("glsa_") => Err(Refusal::UnknownToken),
            _ => Err(Refusal::InvalidApiKey),
        }
    }
}

impl GrafanaState {
    /// Who the request is. Credentials that fail fall through to the
    /// anonymous client when it is enabled, as for none at all
    /// (`authnimpl/service.go` tries the next client; the anonymous one
    /// always applies).
    fn identity(&self, headers: &HeaderMap) -> Result<OrgRole, Refusal> {
        match self.auth.check(headers) {
            Ok(()) => Ok(OrgRole::Admin),
            Err(refused) => self.anonymous.ok_or(refused),
        }
    }
}

struct GrafanaState {
    /// `[auth.anonymous]`: the role, when enabled.
    anonymous: Option<OrgRole>,
    sim: Arc<SimState>,
    datasources: Vec<Datasource>,
    backends: BTreeMap<Backend, Url>,
    auth: GrafanaAuth,
    http: reqwest::Client,
    /// Where Grafana is served (`/grafana`), for the URLs it writes.
    sub_path: String,
}

/// The router, with every route under `sub_path`.
pub fn router(
    sim: Arc<SimState>,
    datasources: Vec<Datasource>,
    backends: BTreeMap<Backend, Url>,
    auth: GrafanaAuth,
    anonymous: Option<OrgRole>,
    sub_path: &str,
) -> Router {
    let sub_path = format!("/{}", sub_path.trim_matches('/'));
    // Without credentials to check, the reference stack's Grafana is open.
    let anonymous = anonymous.or((auth.token.is_none() && auth.basic.is_none()).then_some(OrgRole::Admin));
    let state = Arc::new(GrafanaState {
        anonymous,
        sim,
        datasources,
        backends,
        auth,
        sub_path: if sub_path == "/" {
            String::new()
        } else {
            sub_path.clone()
        },
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("a client with a timeout always builds"),
    });
    // Methods as `pkg/api/api.go` registers them: the health check and the
    // proxy take any.
    let api = Router::new()
        .route("/api/health", get(health))
        .route("/api/datasources", get(list))
        .route("/api/datasources/uid/{uid}", get(one))
        .route("/api/datasources/uid/{uid}/health", any(datasource_health))
        .route("/api/datasources/proxy/uid/{uid}", any(proxy_root))
        .route("/api/datasources/proxy/uid/{uid}/{*rest}", any(proxy))
        .route("/api/search", get(search))
        .route("/api/dashboards/uid/{uid}", get(dashboard))
        .route("/api/ds/query", post(ds_query))
        .fallback(unrouted)
        .method_not_allowed_fallback(unrouted)
        .with_state(state);
    if sub_path == "/" {
        return api;
    }
    let prefix = sub_path.clone();
    Router::new()
        .nest(&sub_path, api)
        .fallback(move |method: Method, headers: HeaderMap, uri: Uri| {
            let prefix = prefix.clone();
            async move { into_sub_path(&prefix, &method, &headers, &uri) }
        })
}

/// `SubPathRedirect` (`pkg/middleware/subpath_redirect.go`): a request
/// whose URI lacks the sub-path is sent to `root_url` plus the URI, with
/// Go's `http.Redirect` (a short HTML body for GET, a content type for GET
/// and HEAD). `root_url` is the address the client used.
fn into_sub_path(prefix: &str, method: &Method, headers: &HeaderMap, uri: &Uri) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("http://{host}{prefix}{target}");
    let mut response = StatusCode::MOVED_PERMANENTLY.into_response();
    if *method == Method::GET {
        let escaped = location
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;");
        response = (
            StatusCode::MOVED_PERMANENTLY,
            format!("<a href=\"{escaped}\">Moved Permanently</a>.\n\n"),
        )
            .into_response();
    }
    let out = response.headers_mut();
    if let Ok(value) = axum::http::HeaderValue::try_from(location) {
        out.insert(header::LOCATION, value);
    }
    if *method == Method::GET || *method == Method::HEAD {
        out.insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("text/html; charset=utf-8"),
        );
    } else {
        out.remove(header::CONTENT_TYPE);
    }
    response
}

/// `base` with `path` appended to its path, as the proxy forwards
/// `/api/datasources/proxy/uid/<uid>/<path>` to the datasource URL.
fn join_path(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(&format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    ));
    url
}

/// A body written by the middleware's `c.JSON`, which names the charset
/// (`pkg/web/context.go`), where handlers' `response.JSON` does not.
fn middleware_json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

/// `notAuthorized` (`pkg/middleware/auth.go`): the authn error's public
/// part when it is a Grafana error, else `Unauthorized`; a trace id (empty
/// without tracing) whenever there was an error.
fn unauthorized(refused: Refusal) -> Response {
    let coded =
        |message: &str, id: &str| json!({ "message": message, "messageId": id, "statusCode": 401, "traceID": "" });
    let body = match refused {
        Refusal::NoCredentials => coded("Unauthorized", "auth.unauthorized"),
        Refusal::InvalidApiKey => coded("Invalid API key", "api-key.invalid"),
        Refusal::BadPassword => coded("Invalid username or password", "password-auth.failed"),
        Refusal::UnknownToken => json!({ "message": "Unauthorized", "traceID": "" }),
    };
    middleware_json(StatusCode::UNAUTHORIZED, body)
}

/// `NotFoundHandler` (`pkg/api/index.go`): what a path no route takes
/// gets, a method a route does not register included (the router has no
/// 405). An `/api` path is answered in JSON; any other is the app's index
/// page with a 404, which the reference stack does not serve (an empty
/// HTML body here).
async fn unrouted(uri: Uri) -> Response {
    if uri.path().starts_with("/api") {
        return middleware_json(StatusCode::NOT_FOUND, json!({ "message": "Not found" }));
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
        "",
    )
        .into_response()
}

/// `datasources:read`, which only the Admin role has (`fixed:datasources:reader`);
/// a Viewer may query, check health and proxy (`datasources:query`).
fn needs_datasources_read(state: &GrafanaState, headers: &HeaderMap) -> Option<Response> {
    match state.identity(headers) {
        Err(refused) => Some(unauthorized(refused)),
        Ok(OrgRole::Viewer) => Some(access_denied("datasources:read")),
        Ok(OrgRole::Admin) => None,
    }
}

/// The access-control middleware's `deny` (`pkg/services/accesscontrol/middleware.go`):
/// the permission asked for and an `ACE` error id of ten digits.
fn access_denied(permission: &str) -> Response {
    let digits = crate::logs::unix_nanos() % 10_000_000_000;
    middleware_json(
        StatusCode::FORBIDDEN,
        json!({
            "accessErrorId": format!("ACE{digits:010}"),
            "message": format!("You'll need additional permissions to perform this action. Permissions needed: {permission}"),
            "title": "Access denied",
        }),
    )
}

/// `util.IsValidShortUID`: letters, digits, `-` and `_`, at most 40.
fn valid_uid(uid: &str) -> bool {
    uid.len() <= 40 && uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `apiHealthHandler` (`pkg/api/http_server.go`): GET or HEAD only,
/// indented JSON (`EncodePretty`) with the charset named; 503 when the
/// database probe fails.
async fn health(State(state): State<Arc<GrafanaState>>) -> Response {
    let failing = state.sim.faults().not_ready.contains(&Role::Grafana);
    let body = json!({
        "commit": "pillars-sim",
        "database": if failing { "failing" } else { "ok" },
        "version": "11.4.0",
    });
    let status = if failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        serde_json::to_string_pretty(&body).unwrap_or_default(),
    )
        .into_response()
}

/// The plugin's name and small logo, as its `plugin.json` gives them;
/// an unknown type is its own name with the generic icon
/// (`GetDataSources`, `pkg/api/datasources.go`).
fn plugin_info(kind: &str) -> (String, String) {
    let core = |name: &str, logo: &str| {
        (
            name.to_owned(),
            format!("public/app/plugins/datasource/{kind}/img/{logo}"),
        )
    };
    match kind {
        "prometheus" => core("Prometheus", "prometheus_logo.svg"),
        "loki" => core("Loki", "loki_icon.svg"),
        "tempo" => core("Tempo", "tempo_logo.svg"),
        "grafana-pyroscope-datasource" => core("Grafana Pyroscope", "grafana_pyroscope_icon.svg"),
        other => (other.to_owned(), "public/img/icn-datasource.svg".to_owned()),
    }
}

/// `DataSourceListItemDTO` (`pkg/api/dtos/datasource.go`); ids are the
/// provisioning order's.
fn listed(ds: &Datasource, id: usize) -> serde_json::Value {
    let (type_name, logo) = plugin_info(&ds.kind);
    json!({
        "id": id + 1,
        "uid": ds.uid,
        "orgId": 1,
        "name": ds.name,
        "type": ds.kind,
        "typeName": type_name,
        "typeLogoUrl": logo,
        "access": ds.access,
        "url": ds.url,
        "user": "",
        "database": "",
        "basicAuth": false,
        "isDefault": ds.is_default,
        "jsonData": if ds.json_data.is_null() { json!({}) } else { ds.json_data.clone() },
        "readOnly": true,
    })
}

/// The single datasource's `DataSource` DTO: no `typeName`, but the
/// credentials' flags, the secure fields set and the version.
fn detailed(ds: &Datasource, id: usize) -> serde_json::Value {
    let mut v = listed(ds, id);
    if let Some(fields) = v.as_object_mut() {
        fields.remove("typeName");
        fields.insert("basicAuthUser".into(), json!(""));
        fields.insert("withCredentials".into(), json!(false));
        fields.insert("secureJsonFields".into(), json!({}));
        fields.insert("version".into(), json!(1));
    }
    v
}

/// The list, by name without case (`DataSourceList.Less`).
async fn list(State(state): State<Arc<GrafanaState>>, headers: HeaderMap) -> Response {
    if let Some(refused) = needs_datasources_read(&state, &headers) {
        return refused;
    }
    let mut all: Vec<(usize, &Datasource)> = state.datasources.iter().enumerate().collect();
    all.sort_by_key(|(_, d)| d.name.to_lowercase());
    Json(all.into_iter().map(|(i, d)| listed(d, i)).collect::<Vec<_>>()).into_response()
}

fn find<'a>(state: &'a GrafanaState, uid: &str) -> Option<(usize, &'a Datasource)> {
    state.datasources.iter().enumerate().find(|(_, d)| d.uid == uid)
}

/// `response.Error`: only the message, in production mode.
fn handler_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

fn not_found() -> Response {
    handler_error(StatusCode::NOT_FOUND, "Data source not found")
}

async fn one(State(state): State<Arc<GrafanaState>>, headers: HeaderMap, Path(uid): Path<String>) -> Response {
    if let Some(refused) = needs_datasources_read(&state, &headers) {
        return refused;
    }
    match find(&state, &uid) {
        Some((i, ds)) => Json(detailed(ds, i)).into_response(),
        None => not_found(),
    }
}

/// What the datasource's backend health check does in Grafana 11.4: a real
/// call to the store, with the plugin's own success message.
async fn datasource_health(
    State(state): State<Arc<GrafanaState>>,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> Response {
    if let Err(refused) = state.identity(&headers) {
        return unauthorized(refused);
    }
    if !valid_uid(&uid) {
        return handler_error(StatusCode::BAD_REQUEST, "UID is invalid");
    }
    // The datasource cache's not-found is not told apart here
    // (`CheckDatasourceHealthWithUID`, `pkg/api/datasources.go`).
    let Some((_, ds)) = find(&state, &uid) else {
        return traced_error(StatusCode::INTERNAL_SERVER_ERROR, "Unable to load datasource metadata");
    };
    let Some(store) = ds.backend() else {
        return health_error(format!("plugin {} is not served by the reference stack", ds.kind));
    };
    // Grafana 11.4's Tempo plugin has no backend health check: the core
    // plugin's `ErrMethodNotImplemented`, answered through
    // `translatePluginRequestErrorToAPIError` (`pkg/api/plugins.go`).
    if store == Backend::Tempo {
        return grafana_error(StatusCode::NOT_IMPLEMENTED, "plugin.notImplemented", "Not implemented");
    }
    let probed = if state.sim.faults().datasource_unhealthy.contains(&uid) {
        Err(Failure::Unreachable)
    } else {
        match state.backends.get(&store) {
            Some(backend) => probe(&state.http, store, backend).await,
            None => Err(Failure::Unreachable),
        }
    };
    match (store, probed) {
        (Backend::Prometheus, Ok(())) => health_ok("Successfully queried the Prometheus API."),
        (Backend::Loki, Ok(())) => health_ok("Data source successfully connected."),
        (_, Ok(())) => health_ok("Data source is working"),
        // promlib's `getHealthCheckMessage`: the error, then its sentence;
        // an HTTP failure is the response's status line.
        (Backend::Prometheus, Err(failure)) => {
            let error = match failure {
                Failure::Status(status) => status.to_string(),
                Failure::Unreachable => format!(
                    "Post \"{}/api/v1/query\": dial tcp: connect: connection refused",
                    ds.url.trim_end_matches('/')
                ),
            };
            health_error(format!(
                "{error} - There was an error returned querying the Prometheus API."
            ))
        }
        // The Loki plugin logs the cause and answers one sentence.
        (Backend::Loki, Err(_)) => {
            health_error("Unable to connect with Loki. Please check the server logs for more details.".into())
        }
        (_, Err(Failure::Status(status))) => health_error(format!("{} answered {status}", ds.url)),
        (_, Err(Failure::Unreachable)) => health_error(format!("{}: connection refused", ds.url)),
    }
}

/// Why a health probe failed.
enum Failure {
    Status(reqwest::StatusCode),
    Unreachable,
}

/// The plugin's own probe: promlib's instant `1+1` (POST, its default
/// method), Pyroscope's `ProfileTypes`. The Loki plugin asks for the
/// instant `vector(1)+vector(1)` and wants 2 (`pkg/tsdb/loki/healthcheck.go`);
/// the reference stack's Loki does not evaluate vector arithmetic (a 501),
/// so its label names are asked instead.
async fn probe(http: &reqwest::Client, store: Backend, backend: &Url) -> Result<(), Failure> {
    let now_s = crate::logs::unix_nanos() / 1_000_000_000;
    let request = match store {
        Backend::Prometheus => http
            .post(join_path(backend, "api/v1/query"))
            .header(header::CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded")
            .body(format!("query=1%2B1&time={now_s}")),
        Backend::Loki => http.get(join_path(backend, "loki/api/v1/labels")),
        _ => http
            .post(join_path(backend, "querier.v1.QuerierService/ProfileTypes"))
            .json(&json!({})),
    };
    let resp = request.send().await.map_err(|_| Failure::Unreachable)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Failure::Status(status));
    }
    Ok(())
}

fn health_ok(message: &str) -> Response {
    Json(json!({ "status": "OK", "message": message })).into_response()
}

/// `checkDatasourceHealth`: a status other than OK is a 400.
fn health_error(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "status": "ERROR", "message": message })),
    )
        .into_response()
}

/// `/api/datasources/proxy/uid/<uid>` with nothing after it: the
/// datasource URL itself.
async fn proxy_root(
    state: State<Arc<GrafanaState>>,
    method: Method,
    headers: HeaderMap,
    Path(uid): Path<String>,
    query: RawQuery,
    body: Bytes,
) -> Response {
    proxy(state, method, headers, Path((uid, String::new())), query, body).await
}

/// The Prometheus plugin's proxy routes (`plugin.json`): a write that
/// matches none is refused by `validateRequest`
/// (`pkg/api/pluginproxy/ds_proxy.go`), which matches a route by method
/// and by path prefix. The refused method's word, when refused.
fn prometheus_write_refused(method: &Method, path: &str) -> Option<&'static str> {
    const ROUTES: &[(&str, &str)] = &[
        ("POST", "api/v1/query"),
        ("POST", "api/v1/query_range"),
        ("POST", "api/v1/series"),
        ("POST", "api/v1/labels"),
        ("POST", "api/v1/query_exemplars"),
        ("GET", "rules"),
        ("POST", "rules"),
        ("DELETE", "rules"),
        ("DELETE", "config/v1/rules"),
        ("POST", "config/v1/rules"),
    ];
    let word = match *method {
        Method::POST => "POSTs",
        Method::PUT => "PUTs",
        Method::DELETE => "DELETEs",
        _ => return None,
    };
    // `util.CleanRelativePath`: no leading slash, no `.` or `..` steps.
    let mut clean: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                clean.pop();
            }
            p => clean.push(p),
        }
    }
    let clean = clean.join("/");
    let routed = ROUTES
        .iter()
        .any(|(m, p)| *m == method.as_str() && clean.starts_with(p));
    (!routed).then_some(word)
}

async fn proxy(
    State(state): State<Arc<GrafanaState>>,
    method: Method,
    headers: HeaderMap,
    Path((uid, rest)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(refused) = state.identity(&headers) {
        return unauthorized(refused);
    }
    // `ProxyDatasourceRequestWithUID` and `toAPIError`
    // (`pkg/services/datasourceproxy/datasourceproxy.go`): `c.JsonApiErr`,
    // with a trace id when there was an error.
    if !valid_uid(&uid) {
        return middleware_json(StatusCode::BAD_REQUEST, json!({ "message": "UID is invalid" }));
    }
    let Some((_, ds)) = find(&state, &uid) else {
        return middleware_json(
            StatusCode::NOT_FOUND,
            json!({ "message": "Unable to find datasource", "traceID": "" }),
        );
    };
    let Some(backend) = ds.backend().and_then(|s| state.backends.get(&s)) else {
        return (StatusCode::BAD_GATEWAY, Json(json!({ "message": "Bad Gateway" }))).into_response();
    };
    if ds.kind == "prometheus"
        && let Some(word) = prometheus_write_refused(&method, &rest)
    {
        return middleware_json(
            StatusCode::FORBIDDEN,
            json!({ "message": format!("non allow-listed {word} not allowed on proxied Prometheus datasource") }),
        );
    }
    if state.sim.faults().datasource_unqueryable.contains(&uid) {
        return (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "message": format!("datasource {uid}: upstream answered 500") })),
        )
            .into_response();
    }
    let mut url = join_path(backend, &rest);
    url.set_query(query.as_deref());
    let mut forward = state.http.request(method, url);
    for (name, value) in &headers {
        if forwarded(name.as_str()) {
            forward = forward.header(name, value);
        }
    }
    match forward.body(body).send().await {
        Ok(resp) => {
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let upstream = resp.headers().clone();
            let bytes = resp.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            let out = response.headers_mut();
            out.remove(header::CONTENT_TYPE);
            for (name, value) in &upstream {
                if name != header::SET_COOKIE && name != header::CONTENT_LENGTH && !hop_by_hop(name.as_str()) {
                    out.append(name.clone(), value.clone());
                }
            }
            // `SetProxyResponseHeaders` (`pkg/util/proxyutil`).
            out.insert(
                header::CONTENT_SECURITY_POLICY,
                axum::http::HeaderValue::from_static("sandbox"),
            );
            response
        }
        // `errorHandler` (`pkg/util/proxyutil/reverse_proxy.go`): a status
        // and no body.
        Err(e) if e.is_timeout() => StatusCode::GATEWAY_TIMEOUT.into_response(),
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// Headers Go's reverse proxy drops on both legs.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// What of the client's request the proxy sends on: all but the hop-by-hop
/// headers, the host, Grafana's own credentials and cookies, and the
/// `Origin`/`Referer` the director clears (`pkg/api/pluginproxy`).
fn forwarded(name: &str) -> bool {
    !hop_by_hop(name)
        && !matches!(
            name,
            "host" | "content-length" | "authorization" | "cookie" | "origin" | "referer"
        )
}

// ---------------------------------------------------------------------------
// Dashboards

async fn search(State(state): State<Arc<GrafanaState>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    if let Err(refused) = state.identity(&headers) {
        return unauthorized(refused);
    }
    let (pairs, _) = crate::go::url::parse_query_text(raw.as_deref().unwrap_or(""));
    let all = |key: &str| -> Vec<String> { pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect() };
    // `Search` (`pkg/api/search.go`): `QueryInt64`, 0 when not a number.
    let limit = all("limit").first().and_then(|l| l.parse::<i64>().ok()).unwrap_or(0);
    if limit > 5000 {
        return handler_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Limit is above maximum allowed (5000), use page parameter to access hits beyond limit",
        );
    }
    let search = dashboards::Search {
        kind: all("type").into_iter().next().filter(|t| !t.is_empty()),
        query: all("query").into_iter().next().unwrap_or_default(),
        tags: all("tag"),
        uids: all("dashboardUIDs")
            .iter()
            .flat_map(|v| v.split(',').map(str::to_owned))
            .filter(|v| !v.is_empty())
            .collect(),
    };
    let served = dashboards::all(state.sim.faults().dashboard_metric_missing);
    Json(dashboards::search(&served, &search, &state.sub_path)).into_response()
}

async fn dashboard(State(state): State<Arc<GrafanaState>>, headers: HeaderMap, Path(uid): Path<String>) -> Response {
    if let Err(refused) = state.identity(&headers) {
        return unauthorized(refused);
    }
    let served = dashboards::all(state.sim.faults().dashboard_metric_missing);
    match served.iter().find(|d| d.uid == uid) {
        Some(d) => Json(dashboards::with_meta(d, &state.sub_path)).into_response(),
        // `getDashboardHelper` answers the store's error: a cause, so traced.
        None => traced_error(StatusCode::NOT_FOUND, "Dashboard not found"),
    }
}

// ---------------------------------------------------------------------------
// /api/ds/query

/// Grafana's `errutil` error body.
fn grafana_error(status: StatusCode, message_id: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "message": message, "messageId": message_id, "statusCode": status.as_u16(), "traceID": "" })),
    )
        .into_response()
}

/// `response.Error` with a cause: `WriteTo` adds the trace id
/// (`pkg/api/response/response.go`).
fn traced_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message, "traceID": "" }))).into_response()
}

/// `web.Bind` of the body into `dtos.MetricRequest`: an empty body or
/// `null` binds to nothing; `from` and `to` must be strings, `queries` an
/// array and `debug` a bool when given.
fn bind_metric_request(body: &[u8]) -> Option<serde_json::Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(json!({}));
    }
    let request: serde_json::Value = serde_json::from_slice(body).ok()?;
    if request.is_null() {
        return Some(json!({}));
    }
    let fields = request.as_object()?;
    let fits = |key: &str, kind: fn(&serde_json::Value) -> bool| fields.get(key).is_none_or(|v| v.is_null() || kind(v));
    let binds = fits("from", serde_json::Value::is_string)
        && fits("to", serde_json::Value::is_string)
        && fits("queries", serde_json::Value::is_array)
        && fits("debug", serde_json::Value::is_boolean);
    binds.then_some(request)
}

/// What a query's datasource reference comes to.
enum Named<'a> {
    Found(&'a Datasource),
    /// A uid or id that no datasource has.
    Missing,
    /// No usable uid or id.
    Nothing,
}

/// `getDataSourceFromQuery` (`pkg/services/query/query.go`):
/// `datasource.uid`, else `datasource` as a string (before 8.3), else a
/// positive `datasourceId`.
fn query_datasource<'a>(state: &'a GrafanaState, query: &serde_json::Value) -> Named<'a> {
    let uid = query["datasource"]["uid"]
        .as_str()
        .filter(|u| !u.is_empty())
        .or_else(|| query["datasource"].as_str())
        .unwrap_or("");
    if !uid.is_empty() {
        return find(state, uid).map_or(Named::Missing, |(_, d)| Named::Found(d));
    }
    match query["datasourceId"].as_i64().filter(|id| *id > 0) {
        Some(id) => usize::try_from(id - 1)
            .ok()
            .and_then(|i| state.datasources.get(i))
            .map_or(Named::Missing, Named::Found),
        None => Named::Nothing,
    }
}

async fn ds_query(State(state): State<Arc<GrafanaState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = state.identity(&headers) {
        return unauthorized(refused);
    }
    let Some(request) = bind_metric_request(&body) else {
        return traced_error(StatusCode::BAD_REQUEST, "bad request data");
    };
    let queries: Vec<&serde_json::Value> = request["queries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|q| !q["hide"].as_bool().unwrap_or(false))
        .collect();
    if queries.is_empty() {
        return grafana_error(StatusCode::BAD_REQUEST, "query.noQueries", "No queries found");
    }
    let now = (crate::logs::unix_nanos() / 1_000_000) as i64;
    let range = Range {
        from: grafana_query::parse_time(&request["from"], now, false),
        to: grafana_query::parse_time(&request["to"], now, true),
    };
    // Every datasource is found before any query runs.
    let mut resolved = Vec::with_capacity(queries.len());
    for q in &queries {
        let ref_id = grafana_query::query_ref_id(q);
        let ds = match query_datasource(&state, q) {
            Named::Found(ds) => ds,
            Named::Missing => return traced_error(StatusCode::NOT_FOUND, "Data source not found"),
            Named::Nothing => {
                return grafana_error(
                    StatusCode::BAD_REQUEST,
                    "query.invalidDatasourceId",
                    "Query does not contain a valid data source identifier",
                );
            }
        };
        resolved.push((ref_id, *q, ds));
    }
    let mut results = serde_json::Map::new();
    let mut any_error = false;
    for (ref_id, q, ds) in resolved {
        let answer = if state.sim.faults().datasource_unqueryable.contains(&ds.uid) {
            grafana_query::Answer {
                frames: Vec::new(),
                error: Some(format!("datasource {}: upstream answered 500", ds.uid)),
                status: 500,
                downstream: true,
            }
        } else {
            match (
                grafana_query::served(ds),
                ds.backend().and_then(|b| state.backends.get(&b)),
            ) {
                (Some(Backend::Prometheus), Some(base)) => {
                    let pq = PromQuery::read(q, &ref_id, range, grafana_query::scrape_ms(ds));
                    grafana_query::prometheus(&state.http, base, &pq).await
                }
                (Some(Backend::Loki), Some(base)) => grafana_query::loki(&state.http, base, q, &ref_id, range).await,
                (Some(Backend::Pyroscope), Some(base)) => {
                    grafana_pyroscope::query(&state.http, base, q, &ref_id, range).await
                }
                _ => grafana_query::Answer {
                    frames: Vec::new(),
                    error: Some(format!(
                        "the reference stack's Grafana does not run {} queries through /api/ds/query (real Grafana does)",
                        ds.kind
                    )),
                    status: 501,
                    downstream: false,
                },
            }
        };
        any_error |= answer.error.is_some();
        results.insert(ref_id, answer.to_json());
    }
    let status = if any_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, Json(json!({ "results": results }))).into_response()
}
