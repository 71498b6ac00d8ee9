//! Mimir's Prometheus API as an HTTP client meets it: the methods each
//! route takes (gorilla/mux names them, so HEAD is not GET) and what the
//! querier's Prometheus API answers to a method it has no use for.

use crate::support::{self, answer};

#[tokio::test]
async fn routes_take_only_the_methods_mimir_names() {
    let stack = support::start().await;
    for path in [
        "/api/v1/query?query=up",
        "/api/v1/query_range?query=up&start=0&end=1&step=1",
        "/api/v1/query_exemplars?query=up",
        "/api/v1/series?match%5B%5D=up",
        "/api/v1/labels",
        "/api/v1/label/job/values",
        "/api/v1/rules",
        "/api/v1/alerts",
    ] {
        let got = answer(stack.http.head(format!("{}{path}", stack.mimir))).await;
        assert_eq!(got.status, 405, "HEAD {path}");
    }
    let got = answer(stack.http.post(format!("{}/api/v1/label/job/values", stack.mimir))).await;
    assert_eq!(got.status, 405);
    let got = answer(stack.http.get(format!("{}/api/v1/labels", stack.mimir))).await;
    assert_eq!(got.status, 200);
}

#[tokio::test]
async fn deleting_series_is_the_querier_s_not_implemented() {
    let stack = support::start().await;
    let got = answer(
        stack
            .http
            .delete(format!("{}/api/v1/series?match%5B%5D=up", stack.mimir)),
    )
    .await;
    assert_eq!(got.status, 500);
    assert_eq!(got.content_type, "application/json");
    assert_eq!(
        got.text(),
        r#"{"status":"error","errorType":"internal","error":"not implemented"}"#
    );
}
