//! Grafana: links into Explore for evidence.
//!
//! Follows `shared/reference/api/02-grafana-http-api.md`; Grafana 11 Explore
//! takes its state in the `panes` query parameter.
//!
//! Uses: target.

use url::Url;

use crate::target::{Grafana, Store, join_path};

/// A link that opens `query` against the datasource of `store` in Explore.
pub fn explore_link(grafana: &Grafana, store: Store, query: &str) -> Url {
    let uid = &grafana.datasources[&store];
    let mut query_obj = serde_json::json!({
        "refId": "A",
        "datasource": { "type": store.as_str(), "uid": uid },
        "query": query,
    });
    if store == Store::Tempo {
        query_obj["queryType"] = "traceql".into();
    }
    let panes = serde_json::json!({
        "pillars": {
            "datasource": uid,
            "queries": [query_obj],
            "range": { "from": "now-1h", "to": "now" },
        }
    });
    let mut url = join_path(&grafana.url, "explore");
    url.query_pairs_mut()
        .append_pair("schemaVersion", "1")
        .append_pair("orgId", "1")
        .append_pair("panes", &panes.to_string());
    url
}
