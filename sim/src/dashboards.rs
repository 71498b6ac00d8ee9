//! The dashboards the reference stack's Grafana serves: the deployment's
//! (`compose/grafana/dashboards/*.json`), provisioned into the folder
//! "Durable Code" as `compose/grafana/provisioning/dashboards` says, and
//! listed and fetched in Grafana 11.4's shapes (`/api/search` hits,
//! `/api/dashboards/uid/<uid>`'s `dashboard` and `meta`).
//!
//! Under `dashboard_metric_missing` the golden-signals dashboard queries
//! `http_requests` where the pipeline writes `http_requests_total`, as a
//! dashboard written for another pipeline's names does.
//!
//! Uses: nothing else in the crate.

use serde::Serialize;
use serde_json::Value;

/// The provisioned dashboards, by file name.
const FILES: &[(&str, &str)] = &[
    (
        "golden-signals.json",
        include_str!("../../compose/grafana/dashboards/golden-signals.json"),
    ),
    (
        "profiling.json",
        include_str!("../../compose/grafana/dashboards/profiling.json"),
    ),
    ("red.json", include_str!("../../compose/grafana/dashboards/red.json")),
    (
        "traces.json",
        include_str!("../../compose/grafana/dashboards/traces.json"),
    ),
    ("use.json", include_str!("../../compose/grafana/dashboards/use.json")),
    (
        "web-vitals.json",
        include_str!("../../compose/grafana/dashboards/web-vitals.json"),
    ),
];

/// The folder the provider puts them in.
pub const FOLDER_TITLE: &str = "Durable Code";
/// Grafana generates a folder's uid; the reference stack fixes one.
pub const FOLDER_UID: &str = "durable-code";
const FOLDER_ID: i64 = 1;

/// The dashboard `dashboard_metric_missing` breaks.
pub const BROKEN_UID: &str = "durable-golden-signals";

/// One provisioned dashboard.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub id: i64,
    pub uid: String,
    pub title: String,
    pub tags: Vec<String>,
    pub file: &'static str,
    pub json: Value,
}

/// Grafana's `slugify`: lower case, runs of anything but letters and
/// digits one `-`, none at the ends.
pub fn slug(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// The dashboards as served now; `broken` is `dashboard_metric_missing`.
pub fn all(broken: bool) -> Vec<Dashboard> {
    let mut out: Vec<Dashboard> = FILES
        .iter()
        .filter_map(|(file, text)| {
            let mut json: Value = serde_json::from_str(text).ok()?;
            let uid = json["uid"].as_str()?.to_owned();
            if broken && uid == BROKEN_UID {
                rename_metric(&mut json, "http_requests_total", "http_requests");
            }
            Some(Dashboard {
                id: 0,
                title: json["title"].as_str().unwrap_or_default().to_owned(),
                tags: json["tags"]
                    .as_array()
                    .map(|t| t.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
                uid,
                file,
                json,
            })
        })
        .collect();
    // Provisioning inserts them in file order: ids from 2 (1 is the folder).
    for (i, d) in out.iter_mut().enumerate() {
        d.id = FOLDER_ID + 1 + i as i64;
        d.json["id"] = Value::from(d.id);
    }
    out
}

/// Renames a metric in every panel target's `expr`.
fn rename_metric(json: &mut Value, from: &str, to: &str) {
    let Some(panels) = json["panels"].as_array_mut() else {
        return;
    };
    for panel in panels {
        let Some(targets) = panel["targets"].as_array_mut() else {
            continue;
        };
        for target in targets {
            if let Some(expr) = target["expr"].as_str() {
                target["expr"] = Value::from(expr.replace(from, to));
            }
        }
    }
}

/// A `/api/search` hit, in Grafana's field order.
#[derive(Debug, Serialize)]
pub struct Hit {
    pub id: i64,
    pub uid: String,
    pub title: String,
    pub uri: String,
    pub url: String,
    pub slug: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub tags: Vec<String>,
    #[serde(rename = "isStarred")]
    pub is_starred: bool,
    #[serde(rename = "folderId", skip_serializing_if = "Option::is_none")]
    pub folder_id: Option<i64>,
    #[serde(rename = "folderUid", skip_serializing_if = "Option::is_none")]
    pub folder_uid: Option<String>,
    #[serde(rename = "folderTitle", skip_serializing_if = "Option::is_none")]
    pub folder_title: Option<String>,
    #[serde(rename = "folderUrl", skip_serializing_if = "Option::is_none")]
    pub folder_url: Option<String>,
    #[serde(rename = "sortMeta")]
    pub sort_meta: i64,
}

/// What `/api/search` is asked for.
#[derive(Debug, Default)]
pub struct Search {
    /// `type`: `dash-db`, `dash-folder`, or both when empty.
    pub kind: Option<String>,
    /// `query`: a case-insensitive part of the title.
    pub query: String,
    /// `tag`: every one must be on the dashboard.
    pub tags: Vec<String>,
    /// `dashboardUIDs`: when given, only these.
    pub uids: Vec<String>,
}

fn folder_url(sub_path: &str) -> String {
    format!("{sub_path}/dashboards/f/{FOLDER_UID}/")
}

/// The hits, folders first and then dashboards, each by title.
pub fn search(dashboards: &[Dashboard], search: &Search, sub_path: &str) -> Vec<Hit> {
    let wants = |kind: &str| search.kind.as_deref().is_none_or(|k| k == kind);
    let query = search.query.to_lowercase();
    let mut hits = Vec::new();
    if wants("dash-folder")
        && search.tags.is_empty()
        && search.uids.is_empty()
        && FOLDER_TITLE.to_lowercase().contains(&query)
    {
        hits.push(Hit {
            id: FOLDER_ID,
            uid: FOLDER_UID.into(),
            title: FOLDER_TITLE.into(),
            uri: format!("db/{}", slug(FOLDER_TITLE)),
            url: format!("{sub_path}/dashboards/f/{FOLDER_UID}/{}", slug(FOLDER_TITLE)),
            slug: String::new(),
            kind: "dash-folder",
            tags: Vec::new(),
            is_starred: false,
            folder_id: None,
            folder_uid: None,
            folder_title: None,
            folder_url: None,
            sort_meta: 0,
        });
    }
    if wants("dash-db") {
        let mut found: Vec<&Dashboard> = dashboards
            .iter()
            .filter(|d| d.title.to_lowercase().contains(&query))
            .filter(|d| search.tags.iter().all(|t| d.tags.contains(t)))
            .filter(|d| search.uids.is_empty() || search.uids.contains(&d.uid))
            .collect();
        found.sort_by_key(|d| d.title.to_lowercase());
        hits.extend(found.into_iter().map(|d| Hit {
            id: d.id,
            uid: d.uid.clone(),
            title: d.title.clone(),
            uri: format!("db/{}", slug(&d.title)),
            url: format!("{sub_path}/d/{}/{}", d.uid, slug(&d.title)),
            slug: String::new(),
            kind: "dash-db",
            tags: d.tags.clone(),
            is_starred: false,
            folder_id: Some(FOLDER_ID),
            folder_uid: Some(FOLDER_UID.into()),
            folder_title: Some(FOLDER_TITLE.into()),
            folder_url: Some(folder_url(sub_path)),
            sort_meta: 0,
        }));
    }
    hits
}

/// `GET /api/dashboards/uid/<uid>`'s body.
pub fn with_meta(d: &Dashboard, sub_path: &str) -> Value {
    let slug = slug(&d.title);
    serde_json::json!({
        "meta": {
            "type": "db",
            "canSave": false,
            "canEdit": false,
            "canAdmin": false,
            "canStar": true,
            "canDelete": false,
            "slug": slug,
            "url": format!("{sub_path}/d/{}/{slug}", d.uid),
            "expires": "0001-01-01T00:00:00Z",
            "created": "2025-01-01T00:00:00Z",
            "updated": "2025-01-01T00:00:00Z",
            "updatedBy": "Anonymous",
            "createdBy": "Anonymous",
            "version": d.json["version"].as_i64().unwrap_or(1),
            "hasAcl": false,
            "isFolder": false,
            "folderId": FOLDER_ID,
            "folderUid": FOLDER_UID,
            "folderTitle": FOLDER_TITLE,
            "folderUrl": folder_url(sub_path),
            "provisioned": true,
            "provisionedExternalId": d.file,
            "annotationsPermissions": {
                "dashboard": { "canAdd": false, "canEdit": false, "canDelete": false },
                "organization": { "canAdd": false, "canEdit": false, "canDelete": false }
            },
            "publicDashboardEnabled": false
        },
        "dashboard": d.json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployment_dashboards_are_served_with_slugs() {
        let all = all(false);
        let uids: Vec<&str> = all.iter().map(|d| d.uid.as_str()).collect();
        assert_eq!(
            uids,
            [
                "durable-golden-signals",
                "durable-profiling",
                "durable-red",
                "durable-traces",
                "durable-use",
                "durable-web-vitals"
            ]
        );
        assert_eq!(slug("RED by path and method"), "red-by-path-and-method");
        assert_eq!(slug("Traces: span metrics"), "traces-span-metrics");
        let hits = search(
            &all,
            &Search {
                kind: Some("dash-db".into()),
                ..Search::default()
            },
            "/grafana",
        );
        assert_eq!(hits.len(), 6);
        assert_eq!(hits[0].title, "Frontend web vitals");
        assert_eq!(hits[0].url, "/grafana/d/durable-web-vitals/frontend-web-vitals");
        let folders = search(
            &all,
            &Search {
                kind: Some("dash-folder".into()),
                ..Search::default()
            },
            "/grafana",
        );
        assert_eq!(folders.len(), 1);
        let tagged = search(
            &all,
            &Search {
                query: "golden".into(),
                tags: vec!["pillars".into()],
                ..Search::default()
            },
            "",
        );
        assert_eq!(tagged.len(), 1);
    }

    #[test]
    fn the_fault_renames_the_golden_signals_request_metric() {
        let broken = all(true);
        let golden = &broken[0].json;
        let exprs: Vec<&str> = golden["panels"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["targets"][0]["expr"].as_str())
            .collect();
        assert!(exprs[0].contains("rate(http_requests{"), "{}", exprs[0]);
        assert!(exprs[1].contains("http_errors_total") && exprs[1].contains("rate(http_requests{"));
        assert!(exprs.iter().all(|e| !e.contains("http_requests_total")));
        // Only that dashboard.
        assert!(broken[2].json.to_string().contains("http_requests_total"));
    }
}
