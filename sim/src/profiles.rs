//! The reference stack's profile store and flame graphs, as Pyroscope 1.10
//! serves them (`shared/reference/api/06-pyroscope.md`): series labels from
//! the push (`__name__`, `service_name`, …), samples merged into a
//! flamebearer-style graph (`names`, `levels` of `[x-offset, total, self,
//! name]` with offsets relative to the previous node of the level), and
//! span profiles selected by the pprof `span_id` sample label.
//!
//! Uses: pprof, lang::promql (label matchers).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::lang::promql::{Matcher, selects};
use crate::pprof::{Decoded, Stack};

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone)]
struct StoredProfile {
    labels: Labels,
    type_id: String,
    stacks: Vec<Stack>,
    time_ms: i64,
    received: Instant,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProfileCounts {
    pub profiles_received: u64,
    pub profiles_stored: u64,
}

#[derive(Debug, Default)]
pub struct ProfileStore {
    profiles: Mutex<Vec<StoredProfile>>,
    counts: Mutex<ProfileCounts>,
}

/// What selects profiles for a query.
pub struct Selection<'a> {
    pub type_id: &'a str,
    pub matchers: &'a [Matcher],
    pub range_ms: (i64, i64),
    /// Only samples labelled with one of these span ids.
    pub spans: Option<&'a [String]>,
    pub delay: Duration,
}

impl ProfileStore {
    /// Validates and stores one pushed profile, as the Push and ingest
    /// APIs do; `dropped` says a fault discards it after accepting it.
    pub fn push(&self, labels: Labels, profile: &Decoded, dropped: bool) -> Result<(), String> {
        let name = labels.get("__name__").cloned().unwrap_or_default();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            return Err(format!("invalid metric name {name:?}"));
        }
        if labels.get("service_name").is_none_or(|s| s.is_empty()) {
            return Err("service_name is required".into());
        }
        let now_ms = (crate::logs::unix_nanos() / 1_000_000) as i64;
        let time_ms = if profile.time_nanos == 0 {
            now_ms
        } else {
            profile.time_nanos / 1_000_000
        };
        if time_ms < now_ms - 3_600_000 || time_ms > now_ms + 600_000 {
            return Err(format!("profile time {time_ms} ms is outside [now-1h, now+10m]"));
        }
        let mut counts = self.counts.lock().expect("counts lock");
        counts.profiles_received += 1;
        if dropped {
            return Ok(());
        }
        counts.profiles_stored += 1;
        let stored = StoredProfile {
            type_id: format!("{name}:{}", profile.type_suffix),
            labels,
            stacks: profile.stacks.clone(),
            time_ms,
            received: Instant::now(),
        };
        self.profiles.lock().expect("profile store lock").push(stored);
        Ok(())
    }

    fn selected<'a>(&self, profiles: &'a [StoredProfile], s: &Selection<'_>) -> Vec<&'a StoredProfile> {
        let now = Instant::now();
        profiles
            .iter()
            .filter(|p| now >= p.received + s.delay)
            .filter(|p| p.type_id == s.type_id)
            .filter(|p| p.time_ms >= s.range_ms.0 && p.time_ms <= s.range_ms.1)
            .filter(|p| selects(s.matchers, &p.labels))
            .collect()
    }

    /// The merged flame graph of the selection.
    pub fn flamegraph(&self, s: &Selection<'_>) -> Value {
        let profiles = self.profiles.lock().expect("profile store lock");
        let mut tree = Node::default();
        for p in self.selected(&profiles, s) {
            for stack in &p.stacks {
                if let Some(spans) = s.spans {
                    let span = stack.labels.iter().find(|(k, _)| k == "span_id").map(|(_, v)| v);
                    if !span.is_some_and(|span| spans.iter().any(|want| want.eq_ignore_ascii_case(span))) {
                        continue;
                    }
                }
                tree.add(&stack.frames, stack.value);
            }
        }
        tree.flamegraph()
    }

    /// Profile types with data in the range.
    pub fn types(&self, range_ms: (i64, i64)) -> Vec<String> {
        let profiles = self.profiles.lock().expect("profile store lock");
        let mut types: Vec<String> = profiles
            .iter()
            .filter(|p| p.time_ms >= range_ms.0 && p.time_ms <= range_ms.1)
            .map(|p| p.type_id.clone())
            .collect();
        types.sort();
        types.dedup();
        types
    }

    /// Values of a series label.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        let profiles = self.profiles.lock().expect("profile store lock");
        let mut values: Vec<String> = profiles.iter().filter_map(|p| p.labels.get(name).cloned()).collect();
        values.sort();
        values.dedup();
        values
    }

    pub fn counts(&self) -> ProfileCounts {
        *self.counts.lock().expect("counts lock")
    }
}

/// A call tree: children in first-seen order, as flame graphs draw them.
#[derive(Debug, Default)]
struct Node {
    total: i64,
    own: i64,
    children: Vec<(String, Node)>,
}

impl Node {
    fn add(&mut self, frames: &[String], value: i64) {
        self.total += value;
        let Some((first, rest)) = frames.split_first() else {
            self.own += value;
            return;
        };
        let index = match self.children.iter().position(|(name, _)| name == first) {
            Some(i) => i,
            None => {
                self.children.push((first.clone(), Node::default()));
                self.children.len() - 1
            }
        };
        self.children[index].1.add(rest, value);
    }

    fn flamegraph(&self) -> Value {
        let mut names = vec!["total".to_owned()];
        let mut levels: Vec<Vec<i64>> = Vec::new();
        // (level, absolute x, node, name index); `last_end` per level makes
        // offsets relative to the previous node of the same level.
        let mut last_end: Vec<i64> = Vec::new();
        let mut stack: Vec<(usize, i64, &Node, usize)> = vec![(0, 0, self, 0)];
        while let Some((level, x, node, name)) = stack.pop() {
            if levels.len() <= level {
                levels.push(Vec::new());
                last_end.push(0);
            }
            levels[level].extend([x - last_end[level], node.total, node.own, name as i64]);
            last_end[level] = x + node.total;
            let mut child_x = x;
            let mut children = Vec::new();
            for (child_name, child) in &node.children {
                let index = match names.iter().position(|n| n == child_name) {
                    Some(i) => i,
                    None => {
                        names.push(child_name.clone());
                        names.len() - 1
                    }
                };
                children.push((level + 1, child_x, child, index));
                child_x += child.total;
            }
            // Depth first, left to right.
            stack.extend(children.into_iter().rev());
        }
        if self.total == 0 {
            return json!({ "names": [], "levels": [], "total": "0", "maxSelf": "0" });
        }
        let max_self = levels.iter().flat_map(|l| l.chunks(4).map(|n| n[2])).max().unwrap_or(0);
        json!({
            "names": names,
            "levels": levels.iter().map(|l| json!({ "values": l.iter().map(|v| v.to_string()).collect::<Vec<_>>() })).collect::<Vec<_>>(),
            "total": self.total.to_string(),
            "maxSelf": max_self.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flamegraph_matches_the_reference_shape() {
        // shared/reference/api/06-pyroscope.md §6.3: main -> handler, 20 ms.
        let mut tree = Node::default();
        tree.add(&["main".into(), "handler".into()], 20_000_000);
        let graph = tree.flamegraph();
        assert_eq!(graph["names"], json!(["total", "main", "handler"]));
        assert_eq!(
            graph["levels"],
            json!([
                {"values":["0","20000000","0","0"]},
                {"values":["0","20000000","0","1"]},
                {"values":["0","20000000","20000000","2"]}
            ])
        );
        assert_eq!(graph["total"], "20000000");
    }

    #[test]
    fn sibling_offsets_are_relative() {
        let mut tree = Node::default();
        tree.add(&["main".into(), "a".into()], 10);
        tree.add(&["main".into(), "b".into()], 30);
        tree.add(&["other".into()], 5);
        let graph = tree.flamegraph();
        // Level 1: main at 0 (40), other right after it.
        assert_eq!(
            graph["levels"][1]["values"],
            json!(["0", "40", "0", "1", "0", "5", "5", "2"])
        );
        // Level 2: a at 0 (10), b right after a.
        assert_eq!(
            graph["levels"][2]["values"],
            json!(["0", "10", "10", "3", "0", "30", "30", "4"])
        );
    }
}
