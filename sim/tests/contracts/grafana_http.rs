//! Grafana 11.4's HTTP answers around the API pillars calls: who is let
//! in and what a refused request reads (`pkg/middleware/auth.go`,
//! `pkg/services/authn/clients`), paths and methods no route takes
//! (`NotFoundHandler`), `/api/health`'s own writer, and the datasource
//! health check's and proxy's answers for uids they cannot use.

use base64::Engine as _;
use pillars_sim::{Faults, GrafanaAuth, OrgRole, SimOptions};
use serde_json::json;

use crate::support::{self, Stack, answer};

const CHARSET_JSON: &str = "application/json; charset=UTF-8";

async fn with_token(token: &str) -> Stack {
    support::start_with(SimOptions {
        grafana_auth: GrafanaAuth {
            token: Some(token.into()),
            basic: Some(("admin".into(), "pw".into())),
        },
        ..SimOptions::default()
    })
    .await
}

fn basic(user: &str, password: &str) -> String {
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {pair}")
}

#[tokio::test]
async fn refused_credentials_get_the_authn_clients_errors() {
    let stack = with_token("glsa_good_0123abcd").await;
    let url = format!("{}/api/datasources", stack.grafana);
    let coded =
        |message: &str, id: &str| json!({ "message": message, "messageId": id, "statusCode": 401, "traceID": "" });
    let cases = [
        (None, coded("Unauthorized", "auth.unauthorized")),
        (
            Some("Bearer not-a-key".to_owned()),
            coded("Invalid API key", "api-key.invalid"),
        ),
        (
            Some("Bearer glsa_wrong_0123abcd".to_owned()),
            json!({ "message": "Unauthorized", "traceID": "" }),
        ),
        (
            Some(basic("admin", "wrong")),
            coded("Invalid username or password", "password-auth.failed"),
        ),
        (
            Some(basic("api_key", "not-a-key")),
            coded("Invalid API key", "api-key.invalid"),
        ),
    ];
    for (authorization, body) in cases {
        let mut req = stack.http.get(&url);
        if let Some(a) = &authorization {
            req = req.header("authorization", a);
        }
        let got = answer(req).await;
        assert_eq!(got.status, 401, "{authorization:?}");
        assert_eq!(got.content_type, CHARSET_JSON);
        assert_eq!(got.json(), body, "{authorization:?}");
    }
    for authorization in [
        "Bearer glsa_good_0123abcd".to_owned(),
        basic("admin", "pw"),
        basic("api_key", "glsa_good_0123abcd"),
    ] {
        let got = answer(stack.http.get(&url).header("authorization", &authorization)).await;
        assert_eq!(got.status, 200, "{authorization}: {}", got.text());
    }
}

#[tokio::test]
async fn an_open_grafana_serves_a_request_whose_key_fails_as_anonymous() {
    let stack = support::start().await;
    let got = answer(
        stack
            .http
            .get(format!("{}/api/datasources", stack.grafana))
            .header("authorization", "Bearer glsa_wrong_0123abcd"),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
}

#[tokio::test]
async fn unknown_api_paths_and_methods_are_not_found() {
    let stack = support::start().await;
    let not_found = json!({ "message": "Not found" });
    for (method, path) in [
        (reqwest::Method::GET, "/api/nope"),
        (reqwest::Method::GET, "/api/datasources/uid/mimir/nope"),
        // POST /api/datasources is a route (AddDataSource); PATCH is none.
        (reqwest::Method::PATCH, "/api/datasources"),
        (reqwest::Method::GET, "/api/ds/query"),
        (reqwest::Method::POST, "/api/health"),
        (reqwest::Method::DELETE, "/api/search"),
    ] {
        let got = answer(stack.http.request(method.clone(), format!("{}{path}", stack.grafana))).await;
        assert_eq!(got.status, 404, "{method} {path}");
        assert_eq!(got.content_type, CHARSET_JSON);
        assert_eq!(got.json(), not_found, "{method} {path}");
    }
}

#[tokio::test]
async fn health_is_indented_json_with_the_charset() {
    let stack = support::start().await;
    let got = answer(stack.http.get(format!("{}/api/health", stack.grafana))).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.content_type, CHARSET_JSON);
    assert_eq!(
        got.text(),
        "{\n  \"commit\": \"pillars-sim\",\n  \"database\": \"ok\",\n  \"version\": \"11.4.0\"\n}"
    );
    let head = answer(stack.http.head(format!("{}/api/health", stack.grafana))).await;
    assert_eq!(head.status, 200);
}

#[tokio::test]
async fn the_health_check_takes_any_method_and_fails_unknown_uids_as_a_load_error() {
    let stack = support::start().await;
    let got = answer(
        stack
            .http
            .post(format!("{}/api/datasources/uid/mimir/health", stack.grafana)),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json()["status"], "OK");
    let got = answer(
        stack
            .http
            .get(format!("{}/api/datasources/uid/nope/health", stack.grafana)),
    )
    .await;
    assert_eq!(
        (got.status, got.json()),
        (
            500,
            json!({ "message": "Unable to load datasource metadata", "traceID": "" })
        )
    );
    assert_eq!(got.content_type, "application/json");
    let got = answer(
        stack
            .http
            .get(format!("{}/api/datasources/uid/a.b/health", stack.grafana)),
    )
    .await;
    assert_eq!((got.status, got.json()), (400, json!({ "message": "UID is invalid" })));
}

#[tokio::test]
async fn the_proxy_answers_unknown_and_invalid_uids_as_its_middleware_does() {
    let stack = support::start().await;
    let got = answer(
        stack
            .http
            .get(format!("{}/api/datasources/proxy/uid/nope/api/v1/query", stack.grafana)),
    )
    .await;
    assert_eq!(got.status, 404);
    assert_eq!(got.content_type, CHARSET_JSON);
    assert_eq!(
        got.json(),
        json!({ "message": "Unable to find datasource", "traceID": "" })
    );
    let got = answer(
        stack
            .http
            .get(format!("{}/api/datasources/proxy/uid/a.b/api/v1/query", stack.grafana)),
    )
    .await;
    assert_eq!((got.status, got.json()), (400, json!({ "message": "UID is invalid" })));
    // Nothing after the uid: the datasource URL itself, routed.
    let got = answer(
        stack
            .http
            .get(format!("{}/api/datasources/proxy/uid/nope", stack.grafana)),
    )
    .await;
    assert_eq!(got.json()["message"], "Unable to find datasource");
}

#[tokio::test]
async fn ds_query_refuses_requests_as_the_query_service_does() {
    let stack = support::start().await;
    let url = format!("{}/api/ds/query", stack.grafana);
    let invalid_id = json!({
        "message": "Query does not contain a valid data source identifier",
        "messageId": "query.invalidDatasourceId",
        "statusCode": 400,
        "traceID": "",
    });
    // Only an expression query reports missing datasource information.
    for query in [
        json!({ "refId": "B", "expr": "up" }),
        json!({ "refId": "B", "expr": "up", "datasource": { "uid": "" } }),
        json!({ "refId": "B", "expr": "up", "datasourceId": 0 }),
    ] {
        let body = json!({ "queries": [query], "from": "now-5m", "to": "now" });
        let got = answer(stack.http.post(&url).json(&body)).await;
        assert_eq!((got.status, got.json()), (400, invalid_id.clone()), "{body}");
    }
    // A body that does not bind to MetricRequest.
    let bad = json!({ "message": "bad request data", "traceID": "" });
    for body in [
        "{".to_owned(),
        json!({ "queries": [], "from": 1 }).to_string(),
        json!({ "queries": {} }).to_string(),
    ] {
        let got = answer(stack.http.post(&url).body(body.clone())).await;
        assert_eq!((got.status, got.json()), (400, bad.clone()), "{body}");
        assert_eq!(got.content_type, "application/json");
    }
    // No body at all binds to nothing: no queries.
    let got = answer(stack.http.post(&url)).await;
    assert_eq!(
        (got.status, got.json()["messageId"].clone()),
        (400, json!("query.noQueries"))
    );
    // An unknown uid: the handler's error, with a trace id as it has an error.
    let body = json!({ "queries": [{ "refId": "A", "datasource": { "uid": "nope" } }] });
    let got = answer(stack.http.post(&url).json(&body)).await;
    assert_eq!(
        (got.status, got.json()),
        (404, json!({ "message": "Data source not found", "traceID": "" }))
    );
    // Before 8.3 the datasource could be its uid as a string.
    let body = json!({ "queries": [{ "refId": "A", "datasource": "mimir", "expr": "1" }], "from": "5m", "to": "now" });
    let got = answer(stack.http.post(&url).json(&body)).await;
    assert_eq!(got.status, 200, "{}", got.text());
}

#[tokio::test]
async fn an_unknown_dashboard_is_not_found_with_a_trace_id() {
    let stack = support::start().await;
    let got = answer(stack.http.get(format!("{}/api/dashboards/uid/nope", stack.grafana))).await;
    assert_eq!(
        (got.status, got.json()),
        (404, json!({ "message": "Dashboard not found", "traceID": "" }))
    );
}

#[tokio::test]
async fn datasources_are_listed_by_name_in_the_list_dtos_shape() {
    let stack = support::start().await;
    let got = answer(stack.http.get(format!("{}/api/datasources", stack.grafana))).await;
    assert_eq!(got.status, 200);
    let list = got.json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["Loki", "Mimir", "Pyroscope", "Tempo"]);
    let pyroscope = &list[2];
    assert_eq!(pyroscope["typeName"], "Grafana Pyroscope");
    assert_eq!(
        pyroscope["typeLogoUrl"],
        "public/app/plugins/datasource/grafana-pyroscope-datasource/img/grafana_pyroscope_icon.svg"
    );
    assert_eq!(
        (&pyroscope["user"], &pyroscope["database"], &pyroscope["basicAuth"]),
        (&json!(""), &json!(""), &json!(false))
    );
    // Ids stay those of the provisioning order.
    assert_eq!(list[1]["id"], 1);
    assert!(list[1].get("version").is_none() && list[1].get("secureJsonFields").is_none());
    let got = answer(stack.http.get(format!("{}/api/datasources/uid/mimir", stack.grafana))).await;
    let one = got.json();
    assert_eq!(
        one["typeLogoUrl"],
        "public/app/plugins/datasource/prometheus/img/prometheus_logo.svg"
    );
    assert_eq!(
        (
            &one["basicAuthUser"],
            &one["withCredentials"],
            &one["secureJsonFields"],
            &one["version"]
        ),
        (&json!(""), &json!(false), &json!({}), &json!(1))
    );
    assert!(one.get("typeName").is_none(), "{one}");
}

#[tokio::test]
async fn tempo_has_no_backend_health_check_in_11_4() {
    let stack = support::start().await;
    let got = answer(
        stack
            .http
            .get(format!("{}/api/datasources/uid/tempo/health", stack.grafana)),
    )
    .await;
    assert_eq!(got.status, 501, "{}", got.text());
    assert_eq!(got.content_type, "application/json");
    assert_eq!(
        got.json(),
        json!({ "message": "Not implemented", "messageId": "plugin.notImplemented", "statusCode": 501, "traceID": "" })
    );
}

#[tokio::test]
async fn search_refuses_a_limit_above_5000() {
    let stack = support::start().await;
    let got = answer(
        stack
            .http
            .get(format!("{}/api/search?type=dash-db&limit=5001", stack.grafana)),
    )
    .await;
    assert_eq!(
        (got.status, got.json()),
        (
            422,
            json!({ "message": "Limit is above maximum allowed (5000), use page parameter to access hits beyond limit" })
        )
    );
    let got = answer(
        stack
            .http
            .get(format!("{}/api/search?type=dash-db&limit=5000", stack.grafana)),
    )
    .await;
    assert_eq!(got.status, 200);
}

#[tokio::test]
async fn the_proxy_lets_through_only_the_prometheus_plugins_routes_for_writes() {
    let stack = support::start().await;
    let proxy = format!("{}/api/datasources/proxy/uid/mimir", stack.grafana);
    // The plugin's routes: POST to query (and what starts so), series, labels.
    for path in ["api/v1/query", "api/v1/query_range", "api/v1/series", "api/v1/labels"] {
        let got = answer(
            stack
                .http
                .post(format!("{proxy}/{path}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("query=up&match%5B%5D=up&start=0&end=60&step=15"),
        )
        .await;
        assert_ne!(got.status, 403, "{path}: {}", got.text());
    }
    for (method, path, word) in [
        (reqwest::Method::POST, "api/v1/label/__name__/values", "POSTs"),
        (reqwest::Method::PUT, "api/v1/query", "PUTs"),
        (reqwest::Method::DELETE, "api/v1/admin/tsdb/delete_series", "DELETEs"),
    ] {
        let got = answer(stack.http.request(method.clone(), format!("{proxy}/{path}"))).await;
        assert_eq!(got.status, 403, "{method} {path}");
        assert_eq!(got.content_type, CHARSET_JSON);
        assert_eq!(
            got.json(),
            json!({ "message": format!("non allow-listed {word} not allowed on proxied Prometheus datasource") })
        );
    }
    // GETs and other datasource types are not checked.
    let got = answer(stack.http.get(format!("{proxy}/api/v1/label/__name__/values"))).await;
    assert_eq!(got.status, 200, "{}", got.text());
}

#[tokio::test]
async fn proxied_answers_are_sandboxed_and_keep_the_stores_headers() {
    let stack = support::start().await;
    let got = stack
        .http
        .get(format!(
            "{}/api/datasources/proxy/uid/mimir/api/v1/query?query=1",
            stack.grafana
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let headers = got.headers();
    assert_eq!(headers["content-security-policy"], "sandbox");
    // What the store itself set comes through (Mimir's own results cache
    // header is one the double did not copy).
    let direct = stack
        .http
        .get(format!("{}/api/v1/query?query=1", stack.mimir))
        .send()
        .await
        .unwrap();
    for (name, value) in direct.headers() {
        if ["date", "content-length", "set-cookie"].contains(&name.as_str()) {
            continue;
        }
        assert_eq!(headers.get(name), Some(value), "{name}");
    }
}

#[tokio::test]
async fn paths_outside_the_sub_path_are_redirected_into_it() {
    let stack = support::start().await;
    let root = stack.grafana.trim_end_matches("/grafana").to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let host = root.trim_start_matches("http://");
    let got = http.get(format!("{root}/api/health?x=1")).send().await.unwrap();
    assert_eq!(got.status(), 301);
    let location = format!("http://{host}/grafana/api/health?x=1");
    assert_eq!(got.headers()["location"], location.as_str());
    assert_eq!(got.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        got.text().await.unwrap(),
        format!("<a href=\"{location}\">Moved Permanently</a>.\n\n")
    );
    // A POST is redirected too, without a body.
    let got = http.post(format!("{root}/api/ds/query")).send().await.unwrap();
    assert_eq!(got.status(), 301);
    assert!(got.headers().get("content-type").is_none());
    assert_eq!(got.text().await.unwrap(), "");
    // Under the sub-path, what is not /api is the app's (HTML) not-found.
    let got = http.get(format!("{}/nope", stack.grafana)).send().await.unwrap();
    assert_eq!(got.status(), 404);
    assert!(
        got.headers()["content-type"].to_str().unwrap().starts_with("text/html"),
        "{:?}",
        got.headers()
    );
}

#[tokio::test]
async fn an_anonymous_viewer_may_query_but_not_read_datasources() {
    // The deployment's Grafana: anonymous Viewer beside an admin's token.
    let stack = support::start_with(SimOptions {
        grafana_auth: GrafanaAuth {
            token: Some("glsa_good_0123abcd".into()),
            basic: None,
        },
        grafana_anonymous: Some(OrgRole::Viewer),
        ..SimOptions::default()
    })
    .await;
    for authorization in [None, Some("Bearer glsa_wrong_0123abcd"), Some("Bearer not-a-key")] {
        for path in ["/api/datasources", "/api/datasources/uid/mimir"] {
            let mut req = stack.http.get(format!("{}{path}", stack.grafana));
            if let Some(a) = authorization {
                req = req.header("authorization", a);
            }
            let got = answer(req).await;
            assert_eq!(got.status, 403, "{authorization:?} {path}");
            assert_eq!(got.content_type, CHARSET_JSON);
            let body = got.json();
            assert_eq!(body["title"], "Access denied");
            assert_eq!(
                body["message"],
                "You'll need additional permissions to perform this action. Permissions needed: datasources:read"
            );
            let id = body["accessErrorId"].as_str().unwrap();
            assert!(
                id.len() == 13 && id.starts_with("ACE") && id[3..].bytes().all(|b| b.is_ascii_digit()),
                "{id}"
            );
        }
    }
    for path in [
        "/api/datasources/uid/mimir/health",
        "/api/search",
        "/api/dashboards/uid/durable-red",
    ] {
        let got = answer(stack.http.get(format!("{}{path}", stack.grafana))).await;
        assert_eq!(got.status, 200, "{path}: {}", got.text());
    }
    let got = answer(
        stack
            .http
            .get(format!("{}/api/datasources", stack.grafana))
            .header("authorization", "Bearer glsa_good_0123abcd"),
    )
    .await;
    assert_eq!(got.status, 200);
}

#[tokio::test]
async fn health_checks_answer_in_each_plugins_words() {
    let stack = support::start().await;
    let health = |stack: &Stack, uid: &str| {
        let url = format!("{}/api/datasources/uid/{uid}/health", stack.grafana);
        let req = stack.http.get(url);
        async move {
            let got = answer(req).await;
            (got.status, got.json())
        }
    };
    assert_eq!(
        health(&stack, "loki").await,
        (
            200,
            json!({ "status": "OK", "message": "Data source successfully connected." })
        )
    );
    assert_eq!(
        health(&stack, "mimir").await,
        (
            200,
            json!({ "status": "OK", "message": "Successfully queried the Prometheus API." })
        )
    );
    let broken = support::start_with(SimOptions {
        faults: Faults::parse(["datasource_unhealthy=mimir", "datasource_unhealthy=loki"]).unwrap(),
        ..SimOptions::default()
    })
    .await;
    let (status, body) = health(&broken, "mimir").await;
    assert_eq!((status, &body["status"]), (400, &json!("ERROR")));
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Post \"")
            && message.ends_with(" - There was an error returned querying the Prometheus API."),
        "{message}"
    );
    assert_eq!(
        health(&broken, "loki").await,
        (
            400,
            json!({ "status": "ERROR", "message": "Unable to connect with Loki. Please check the server logs for more details." })
        )
    );
}
