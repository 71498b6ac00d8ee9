//! Tempo's HTTP read API as a client sees it: the frontend's routes take
//! any method (`cmd/tempo/app/modules.go` registers them without
//! `Methods`, at v2.6.1), and a path no route matches is gorilla/mux's
//! Go `404 page not found`.

use serde_json::json;

use crate::support::{self, answer};

#[tokio::test]
async fn frontend_routes_take_any_method_and_unrouted_paths_are_gos_404() {
    let stack = support::start().await;
    let tempo = &stack.tempo;

    let got = answer(stack.http.post(format!("{tempo}/api/search?q=%7B%7D"))).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(got.json().get("metrics").is_some(), "{}", got.text());
    let got = answer(stack.http.post(format!("{tempo}/api/traces/{}", "1".repeat(32)))).await;
    assert_eq!((got.status, got.text().as_str()), (404, ""));
    let got = answer(stack.http.put(format!("{tempo}/api/v2/traces/{}", "1".repeat(32)))).await;
    assert_eq!((got.status, got.text().as_str()), (200, r#"{"trace":{}}"#));

    // No trace id, a trailing slash: no route, so mux's NotFoundHandler.
    for path in ["/api/traces/", "/api/traces/abc/", "/api/v2/traces/a/b", "/api/nosuch"] {
        let got = answer(stack.http.get(format!("{tempo}{path}"))).await;
        assert_eq!(
            (got.status, got.content_type.as_str(), got.text().as_str()),
            (404, "text/plain; charset=utf-8", "404 page not found\n"),
            "{path}"
        );
    }
}

/// `/ready` and `/api/echo` answer through Go's `http.Error`: a newline
/// after the text, `nosniff`, any method (`cmd/tempo/app/app.go`,
/// `modules.go` at v2.6.1).
#[tokio::test]
async fn ready_and_echo_are_gos_http_error_texts() {
    let stack = support::start().await;
    for (path, text) in [("/ready", "ready\n"), ("/api/echo", "echo\n")] {
        for request in [
            stack.http.get(format!("{}{path}", stack.tempo)),
            stack.http.post(format!("{}{path}", stack.tempo)),
        ] {
            let response = request.send().await.expect("the request reaches the stack");
            let nosniff = response.headers().get("x-content-type-options").cloned();
            let got = answer_of(response).await;
            assert_eq!(
                (got.status, got.content_type.as_str(), got.text().as_str()),
                (200, "text/plain; charset=utf-8", text),
                "{path}"
            );
            assert_eq!(
                nosniff.as_ref().and_then(|v| v.to_str().ok()),
                Some("nosniff"),
                "{path}"
            );
        }
    }
}

async fn answer_of(response: reqwest::Response) -> support::Answer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.bytes().await.expect("a readable body").to_vec();
    support::Answer {
        status,
        content_type,
        content_encoding: String::new(),
        body,
    }
}

/// Endpoints Tempo 2.6.1 serves but the reference stack does not
/// evaluate are refused as such (501), not as a missing route.
#[tokio::test]
async fn unserved_tempo_endpoints_are_501_not_404() {
    let stack = support::start().await;
    for path in [
        "/api/search/tags",
        "/api/v2/search/tags",
        "/api/search/tag/service.name/values",
        "/api/v2/search/tag/resource.service.name/values",
        "/api/metrics/query_range?q=%7B%7D%20%7C%20rate()",
        "/api/metrics/query?q=%7B%7D%20%7C%20rate()",
    ] {
        let got = answer(stack.http.get(format!("{}{path}", stack.tempo))).await;
        assert_eq!(got.status, 501, "{path}: {}", got.text());
        assert!(got.text().starts_with("pillars-sim: "), "{path}: {}", got.text());
    }
}

/// Over HTTP the id is the path as Go unescapes it.
#[tokio::test]
async fn trace_id_paths_are_unescaped_as_go_does() {
    let stack = support::start().await;
    let get = |path: &str| answer(stack.http.get(format!("{}{path}", stack.tempo)));
    let got = get("/api/traces/%FF").await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (
            400,
            "trace IDs can only contain hex characters: invalid character '\u{fffd}' at position 1"
        )
    );
    let got = get("/api/v2/traces/%zz").await;
    assert_eq!((got.status, got.text().as_str()), (400, "400 Bad Request"));
    let got = get("/api/traces/%31").await;
    assert_eq!((got.status, got.text().as_str()), (404, ""));
}

/// The frontend's gzhttp: a body of 1024 bytes or more is gzipped when the
/// client accepts gzip; smaller ones and other clients get it plain.
#[tokio::test]
async fn large_frontend_bodies_are_gzipped_for_clients_that_accept_it() {
    let stack = support::start().await;
    let id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let start = support::now_nanos();
    let body = json!({ "resourceSpans": [{
        "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": "gz" } }] },
        "scopeSpans": [{ "spans": [{
            "traceId": id, "spanId": "00f067aa0ba902b7", "name": "big",
            "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 1).to_string(),
            "attributes": [{ "key": "pad", "value": { "stringValue": "x".repeat(2000) } }]
        }] }]
    }]});
    let got = answer(
        stack
            .http
            .post(format!("{}/v1/traces", stack.otlp_http))
            .header("Content-Type", "application/json")
            .body(body.to_string()),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
    let url = format!("{}/api/traces/{id}", stack.tempo);
    let zipped = answer(stack.http.get(&url).header("Accept-Encoding", "gzip")).await;
    assert_eq!((zipped.status, zipped.content_encoding.as_str()), (200, "gzip"));
    let plain = answer(stack.http.get(&url)).await;
    assert_eq!((plain.status, plain.content_encoding.as_str()), (200, ""));
    assert!(plain.text().contains(&"x".repeat(2000)));
    let small = answer(
        stack
            .http
            .get(format!("{}/api/search?q=%7B%7D", stack.tempo))
            .header("Accept-Encoding", "gzip"),
    )
    .await;
    assert_eq!((small.status, small.content_encoding.as_str()), (200, ""));
}
