//! A dashboard's panels and their queries, from its JSON model: rows'
//! nested panels flattened in, the datasource of each query resolved as
//! Grafana resolves it (the query's own, else the panel's; a uid, a name, a
//! variable, or nothing for the default datasource), and the query model
//! sent as the panel sends it, variables filled in.
//!
//! Uses: dashboard::vars, query::grafana (datasources).

use serde::Serialize;
use serde_json::Value;

use super::vars::Variables;
use crate::query::grafana::Datasource;

#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub uid: String,
    pub title: String,
    pub panels: Vec<Panel>,
    pub variables: Variables,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub id: Option<u64>,
    pub title: String,
    /// The panel plugin (`timeseries`, `stat`, `flamegraph`, …).
    pub kind: String,
    pub queries: Vec<PanelQuery>,
}

/// Where a query runs, as the dashboard names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DsRef {
    /// A datasource by uid (after variables).
    Uid(String),
    /// By name, as older dashboards write it.
    Name(String),
    /// Not named: the default datasource.
    Default,
    /// Grafana's built-in ones (`-- Grafana --`, `-- Dashboard --`), which
    /// read no store.
    BuiltIn,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PanelQuery {
    pub ref_id: String,
    pub datasource: DsRef,
    /// The query model as `/api/ds/query` takes it, without `datasource`.
    pub model: Value,
}

impl PanelQuery {
    /// The query text, whichever field the plugin keeps it in.
    pub fn text(&self) -> Option<&str> {
        ["expr", "query", "labelSelector", "rawSql"]
            .iter()
            .find_map(|key| self.model.get(*key)?.as_str())
            .filter(|t| !t.trim().is_empty())
    }

    /// The datasource it runs on, among Grafana's.
    pub fn resolve<'a>(&self, datasources: &'a [Datasource]) -> Option<&'a Datasource> {
        match &self.datasource {
            DsRef::Uid(uid) => datasources.iter().find(|d| d.uid == *uid || d.name == *uid),
            // A datasource variable's value is a name or, since Grafana 8, a uid.
            DsRef::Name(name) => datasources
                .iter()
                .find(|d| d.name == *name)
                .or_else(|| datasources.iter().find(|d| d.uid == *name)),
            DsRef::Default => datasources.iter().find(|d| d.is_default),
            DsRef::BuiltIn => None,
        }
    }
}

const BUILT_IN: [&str; 3] = ["-- Grafana --", "-- Dashboard --", "grafana"];
const MIXED: &str = "-- Mixed --";

impl Dashboard {
    /// The dashboard `model` (`/api/dashboards/uid/<uid>`'s `dashboard`).
    pub fn from_model(model: &Value, datasources: &[Datasource]) -> Dashboard {
        let variables = Variables::of(model, |kind| {
            datasources
                .iter()
                .find(|d| d.kind == kind && d.is_default)
                .or_else(|| datasources.iter().find(|d| d.kind == kind))
                .map(|d| d.uid.clone())
        });
        let mut panels = Vec::new();
        for panel in model.get("panels").and_then(Value::as_array).into_iter().flatten() {
            panels.push(panel);
            // A collapsed row keeps its panels inside it.
            panels.extend(panel.get("panels").and_then(Value::as_array).into_iter().flatten());
        }
        let panels = panels
            .into_iter()
            .filter(|p| p.get("type").and_then(Value::as_str) != Some("row"))
            .map(|p| Panel::from_model(p, &variables))
            .filter(|p| !p.queries.is_empty())
            .collect();
        Dashboard {
            uid: str_of(model, "uid"),
            title: str_of(model, "title"),
            panels,
            variables,
        }
    }
}

impl Panel {
    fn from_model(panel: &Value, vars: &Variables) -> Panel {
        let panel_ds = panel
            .get("datasource")
            .map(|d| ds_ref(d, vars))
            .unwrap_or(DsRef::Default);
        let queries = panel
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|t| t.get("hide").and_then(Value::as_bool) != Some(true))
            .enumerate()
            .map(|(i, target)| {
                let datasource = match target.get("datasource").map(|d| ds_ref(d, vars)) {
                    Some(DsRef::Default) | None => panel_ds.clone(),
                    Some(own) => own,
                };
                let mut model = substituted(target, vars);
                if let Some(fields) = model.as_object_mut() {
                    fields.remove("datasource");
                    if !fields.contains_key("refId") {
                        fields.insert("refId".into(), Value::String(ref_id(i)));
                    }
                }
                PanelQuery {
                    ref_id: model["refId"].as_str().map(str::to_owned).unwrap_or_else(|| ref_id(i)),
                    datasource,
                    model,
                }
            })
            .filter(|q| q.datasource != DsRef::Uid(MIXED.into()))
            .collect();
        Panel {
            id: panel.get("id").and_then(Value::as_u64),
            title: str_of(panel, "title"),
            kind: str_of(panel, "type"),
            queries,
        }
    }
}

fn ds_ref(value: &Value, vars: &Variables) -> DsRef {
    let named = match value {
        Value::Null => return DsRef::Default,
        Value::String(name) => vars.substitute(name),
        Value::Object(fields) => match fields.get("uid").and_then(Value::as_str) {
            Some(uid) => {
                let uid = vars.substitute(uid);
                return if BUILT_IN.contains(&uid.as_str()) {
                    DsRef::BuiltIn
                } else {
                    DsRef::Uid(uid)
                };
            }
            None => return DsRef::Default,
        },
        _ => return DsRef::Default,
    };
    if BUILT_IN.contains(&named.as_str()) {
        DsRef::BuiltIn
    } else if named == MIXED {
        DsRef::Uid(named)
    } else {
        DsRef::Name(named)
    }
}

/// The target with every string's variables filled in.
fn substituted(value: &Value, vars: &Variables) -> Value {
    match value {
        Value::String(s) => Value::String(vars.substitute(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| substituted(v, vars)).collect()),
        Value::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), substituted(v, vars))).collect()),
        other => other.clone(),
    }
}

fn ref_id(i: usize) -> String {
    let letter = (b'A' + (i % 26) as u8) as char;
    if i < 26 {
        letter.to_string()
    } else {
        format!("{letter}{}", i / 26)
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(uid: &str, kind: &str, default: bool) -> Datasource {
        serde_json::from_value(
            serde_json::json!({ "name": uid.to_uppercase(), "type": kind, "uid": uid, "isDefault": default }),
        )
        .unwrap()
    }

    #[test]
    fn panels_in_rows_and_their_datasources_resolve() {
        let datasources = [ds("mimir", "prometheus", true), ds("loki", "loki", false)];
        let model = serde_json::json!({
            "uid": "d1", "title": "One",
            "templating": { "list": [{ "name": "ds", "type": "datasource", "query": "loki" }] },
            "panels": [
                { "id": 1, "type": "timeseries", "title": "rate", "datasource": { "type": "prometheus", "uid": "mimir" },
                  "targets": [{ "expr": "sum(rate(x[5m]))" }, { "expr": "hidden", "hide": true }] },
                { "id": 2, "type": "row", "title": "more", "collapsed": true, "panels": [
                    { "id": 3, "type": "logs", "title": "lines", "datasource": "${ds}",
                      "targets": [{ "refId": "L", "expr": "{app=\"a\"}" }] },
                    { "id": 4, "type": "stat", "title": "default", "targets": [{ "expr": "up" }] },
                ]},
                { "id": 5, "type": "text", "title": "notes" },
                { "id": 6, "type": "timeseries", "title": "annotations", "datasource": { "uid": "-- Grafana --" }, "targets": [{ "refId": "A" }] },
            ]
        });
        let d = Dashboard::from_model(&model, &datasources);
        let titles: Vec<&str> = d.panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["rate", "lines", "default", "annotations"]);
        let rate = &d.panels[0];
        assert_eq!(rate.queries.len(), 1, "hidden queries do not run");
        assert_eq!(rate.queries[0].ref_id, "A");
        assert_eq!(rate.queries[0].resolve(&datasources).unwrap().uid, "mimir");
        assert_eq!(rate.queries[0].text(), Some("sum(rate(x[5m]))"));
        // `${ds}` is a datasource variable: the first loki one, by uid.
        assert_eq!(d.panels[1].queries[0].resolve(&datasources).unwrap().uid, "loki");
        assert_eq!(d.panels[2].queries[0].resolve(&datasources).unwrap().uid, "mimir");
        assert_eq!(d.panels[3].queries[0].datasource, DsRef::BuiltIn);
    }
}
