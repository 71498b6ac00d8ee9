//! Grafana 11.4's Pyroscope datasource behind `/api/ds/query`
//! (`pkg/tsdb/grafana-pyroscope-datasource`): a `profile` query is sent to
//! the reference stack's Pyroscope as `SelectMergeStacktraces` over the
//! panel's range, and its flame graph becomes one frame named `response`
//! in nested-set form — `level`, `value`, `self` (int64, `value` and
//! `self` in the profile type's unit) and `label` (an enum field whose
//! config lists the names), one row per node, depth first. A flame graph
//! without levels is that frame with no rows; no flame graph at all is
//! Grafana's empty frame (`label` a string field). `metrics` and `both`
//! queries (`SelectSeries`) are not run here.
//!
//! Uses: grafana_query (answers, ranges).

use serde_json::{Value, json};
use url::Url;

use crate::grafana_query::{Answer, Range};

/// Levels and nodes read at most from one flame graph.
const MAX_LEVELS: usize = 1024;
const MAX_NODES: usize = 1 << 20;

/// One node of the flame graph as Grafana's `ProfileTree` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    pub level: usize,
    pub start: i64,
    pub value: i64,
    pub own: i64,
    pub name: String,
    pub children: Vec<TreeNode>,
}

/// `getUnits`: the profile type's third part, as Grafana names units.
pub fn unit(profile_type_id: &str) -> String {
    match profile_type_id.split(':').nth(2).unwrap_or("") {
        "nanoseconds" => "ns".into(),
        "count" => "short".into(),
        other => other.into(),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    }
}

/// `levelsToTree`: the flamebearer's levels (4-tuples of offset from the
/// previous node's end, total, self, name index) as a tree; `None` when
/// there are no levels.
pub fn levels_to_tree(graph: &Value) -> Option<TreeNode> {
    let names: Vec<&str> = graph["names"]
        .as_array()
        .map(|a| a.iter().map(|n| n.as_str().unwrap_or("")).collect())
        .unwrap_or_default();
    let levels: Vec<Vec<i64>> = graph["levels"]
        .as_array()?
        .iter()
        .take(MAX_LEVELS)
        .map(|l| {
            l["values"]
                .as_array()
                .map(|v| v.iter().map(int).collect())
                .unwrap_or_default()
        })
        .collect();
    let first = levels.first()?;
    let name = |i: i64| {
        names
            .get(usize::try_from(i).unwrap_or(usize::MAX))
            .copied()
            .unwrap_or("")
            .to_owned()
    };
    // Grafana names the root by the first value of level 0.
    let mut root = TreeNode {
        level: 0,
        start: 0,
        value: first.get(1).copied().unwrap_or(0),
        own: first.get(2).copied().unwrap_or(0),
        name: name(first.first().copied().unwrap_or(0)),
        children: Vec::new(),
    };
    // Paths (child indexes from the root) of the previous level's nodes.
    let mut parents: Vec<Vec<usize>> = vec![Vec::new()];
    let mut nodes = 1;
    for (depth, values) in levels.iter().enumerate().skip(1) {
        let mut next = Vec::new();
        let mut queue = parents.into_iter();
        let Some(mut parent) = queue.next() else { break };
        let mut offset = 0i64;
        let mut items = values.chunks_exact(4).peekable();
        while let Some(item) = items.peek() {
            let start = item[0].saturating_add(offset);
            let end = start.saturating_add(item[1]);
            let p = at(&root, &parent);
            if start >= p.start && end <= p.start.saturating_add(p.value) {
                let child = TreeNode {
                    level: depth,
                    start,
                    value: item[1],
                    own: item[2],
                    name: name(item[3]),
                    children: Vec::new(),
                };
                let host = at_mut(&mut root, &parent);
                host.children.push(child);
                let mut path = parent.clone();
                path.push(host.children.len() - 1);
                next.push(path);
                offset = end;
                items.next();
                nodes += 1;
                if nodes >= MAX_NODES {
                    return Some(root);
                }
            } else {
                match queue.next() {
                    Some(p) => parent = p,
                    None => break,
                }
            }
        }
        parents = next;
    }
    Some(root)
}

fn at<'a>(root: &'a TreeNode, path: &[usize]) -> &'a TreeNode {
    path.iter().fold(root, |n, i| &n.children[*i])
}

fn at_mut<'a>(root: &'a mut TreeNode, path: &[usize]) -> &'a mut TreeNode {
    path.iter().fold(root, |n, i| &mut n.children[*i])
}

fn int_field(name: &str, unit: Option<&str>) -> Value {
    let mut f = json!({ "name": name, "type": "number", "typeInfo": { "frame": "int64" } });
    if let Some(u) = unit {
        f["config"] = json!({ "unit": u });
    }
    f
}

fn frame(ref_id: &str, fields: Vec<Value>, values: Vec<Value>) -> Value {
    json!({
        "schema": {
            "name": "response",
            "refId": ref_id,
            "meta": { "typeVersion": [0, 0], "preferredVisualisationType": "flamegraph" },
            "fields": fields,
        },
        "data": { "values": values },
    })
}

/// `treeToNestedSetDataFrame`: the tree depth first, as one frame.
pub fn nested_set_frame(ref_id: &str, tree: Option<&TreeNode>, unit: &str) -> Value {
    let (mut level, mut value, mut own, mut label) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut texts: Vec<String> = Vec::new();
    let mut stack: Vec<&TreeNode> = tree.into_iter().collect();
    while let Some(n) = stack.pop() {
        level.push(n.level as i64);
        value.push(n.value);
        own.push(n.own);
        let index = match texts.iter().position(|t| *t == n.name) {
            Some(i) => i,
            None => {
                texts.push(n.name.clone());
                texts.len() - 1
            }
        };
        label.push(index);
        stack.extend(n.children.iter().rev());
    }
    let label_field = json!({
        "name": "label", "type": "enum", "typeInfo": { "frame": "enum" },
        "config": { "type": { "enum": { "text": texts } } },
    });
    frame(
        ref_id,
        vec![
            int_field("level", None),
            int_field("value", Some(unit)),
            int_field("self", Some(unit)),
            label_field,
        ],
        vec![json!(level), json!(value), json!(own), json!(label)],
    )
}

/// `getEmptyDataFrame`: what Grafana answers when Pyroscope sent no flame graph.
pub fn empty_frame(ref_id: &str) -> Value {
    frame(
        ref_id,
        vec![
            int_field("level", None),
            int_field("value", None),
            int_field("self", None),
            json!({ "name": "label", "type": "string", "typeInfo": { "frame": "string" } }),
        ],
        vec![json!([]), json!([]), json!([]), json!([])],
    )
}

fn refused(error: String, status: u16) -> Answer {
    Answer {
        frames: Vec::new(),
        error: Some(error),
        status,
        downstream: status != 501,
    }
}

/// A Pyroscope query, as the datasource runs it.
pub async fn query(http: &reqwest::Client, base: &Url, query: &Value, ref_id: &str, range: Range) -> Answer {
    let kind = query["queryType"].as_str().unwrap_or("both");
    if kind != "profile" {
        return refused(
            format!(
                "the reference stack's Grafana runs Pyroscope `profile` queries only, not `{kind}` (real Grafana does)"
            ),
            501,
        );
    }
    let type_id = query["profileTypeId"].as_str().unwrap_or("");
    let mut body = json!({
        "profileTypeID": type_id,
        "labelSelector": query["labelSelector"].as_str().unwrap_or("{}"),
        "start": range.from.to_string(),
        "end": range.to.to_string(),
    });
    if let Some(n) = query["maxNodes"].as_i64() {
        body["maxNodes"] = json!(n.to_string());
    }
    let mut url = base.clone();
    url.set_path(&format!(
        "{}/querier.v1.QuerierService/SelectMergeStacktraces",
        base.path().trim_end_matches('/')
    ));
    let resp = match http.post(url).json(&body).send().await {
        Ok(r) => r,
        Err(e) => return refused(e.to_string(), 500),
    };
    let status = resp.status().as_u16();
    let Ok(answer) = resp.json::<Value>().await else {
        return refused(
            format!("Pyroscope answered {status} with something that is not JSON"),
            500,
        );
    };
    if !(200..300).contains(&status) {
        // connect-go's error text: `<code>: <message>`.
        let code = answer["code"].as_str().unwrap_or("unknown");
        let message = answer["message"].as_str().unwrap_or("");
        return refused(format!("{code}: {message}"), 500);
    }
    let frame = match answer.get("flamegraph").filter(|g| !g.is_null()) {
        Some(graph) => nested_set_frame(ref_id, levels_to_tree(graph).as_ref(), &unit(type_id)),
        None => empty_frame(ref_id),
    };
    Answer {
        frames: vec![frame],
        error: None,
        status: 200,
        downstream: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_flame_graph_becomes_a_nested_set_frame() {
        // shared/reference/api/06-pyroscope.md §6.3, with a second child.
        let graph = json!({
            "names": ["total", "main", "handler", "gc"],
            "levels": [
                { "values": ["0", "30", "0", "0"] },
                { "values": ["0", "30", "5", "1"] },
                { "values": ["0", "20", "20", "2", "0", "5", "5", "3"] },
            ],
            "total": "30", "maxSelf": "20",
        });
        let tree = levels_to_tree(&graph).unwrap();
        assert_eq!(tree.children[0].children.len(), 2);
        let f = nested_set_frame("A", Some(&tree), &unit("process_cpu:cpu:nanoseconds:cpu:nanoseconds"));
        assert_eq!(f["schema"]["name"], "response");
        assert_eq!(f["schema"]["meta"]["preferredVisualisationType"], "flamegraph");
        assert_eq!(f["schema"]["fields"][1]["config"], json!({ "unit": "ns" }));
        assert_eq!(
            f["schema"]["fields"][3]["config"]["type"]["enum"]["text"],
            json!(["total", "main", "handler", "gc"])
        );
        assert_eq!(
            f["data"]["values"],
            json!([[0, 1, 2, 2], [30, 30, 20, 5], [0, 5, 20, 5], [0, 1, 2, 3]])
        );
    }

    #[test]
    fn no_levels_is_a_frame_without_rows_and_bad_input_does_not_panic() {
        let graph = json!({ "names": [], "levels": [], "total": "0", "maxSelf": "0" });
        assert_eq!(levels_to_tree(&graph), None);
        let f = nested_set_frame("A", None, &unit("memory:alloc_space:bytes:space:bytes"));
        assert_eq!(f["data"]["values"], json!([[], [], [], []]));
        assert_eq!(f["schema"]["fields"][2]["config"], json!({ "unit": "bytes" }));
        assert_eq!(unit("x:y:count:z:w"), "short");
        assert_eq!(empty_frame("A")["schema"]["fields"][3]["type"], "string");
        // A child outside every parent, a ragged tuple, names out of range.
        let odd = json!({ "names": ["total"], "levels": [
            { "values": ["0", "10", "0", "0"] },
            { "values": ["50", "10", "0", "9", "1"] },
        ] });
        let tree = levels_to_tree(&odd).unwrap();
        assert!(tree.children.is_empty());
    }
}
