//! The reference stack's profile store and flame graphs, as Pyroscope 1.10
//! serves them (`shared/reference/api/06-pyroscope.md`): series labels from
//! the push (`__name__`, `service_name`, …) and from the samples' string
//! labels, split as the distributor splits a profile (`split`), samples
//! merged into a flamebearer-style graph (`names`, `levels` of
//! `[x-offset, total, self, name]` with offsets relative to the previous
//! node of the level), and span profiles selected by the pprof `span_id`
//! sample label.
//!
//! Uses: pprof, lang::matcher (label matchers).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::lang::matcher::{Matcher, selects};
use crate::pprof::{Decoded, Stack};

pub type Labels = BTreeMap<String, String>;
/// Labels as a list, in the order they were given.
pub type Pairs = Vec<(String, String)>;
/// One sample type's series: its type suffix (`cpu:nanoseconds:cpu:nanoseconds`)
/// and each series' labels and stacks.
pub type TypeSeries = (String, Vec<(Labels, Vec<Stack>)>);

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

/// Pyroscope 1.10's `pprof_split.VisitSampleSeries` without relabeling
/// rules (`pkg/model/pprof_split/pprof_split.go`, as the distributor's
/// `extractSampleSeries` calls it): `profile_id` labels are renamed
/// `span_id`; samples are grouped by their string labels other than
/// `span_id`; each group's series is the pushed labels plus the group's
/// labels whose names the series does not already hold with a value (the
/// first of a repeated name wins); groups with the same series merge. A
/// profile whose samples carry no such labels is one series, the pushed
/// labels. Names are not checked here: the distributor validates each
/// series afterwards (`ValidateLabels`).
pub fn split(labels: &[(String, String)], stacks: &[Stack]) -> Vec<(Pairs, Vec<Stack>)> {
    let mut series: Vec<(Pairs, Vec<Stack>)> = Vec::new();
    for stack in stacks {
        let mut stack = stack.clone();
        for (key, _) in &mut stack.labels {
            if key == "profile_id" {
                *key = "span_id".into();
            }
        }
        let mut built = labels.to_vec();
        for (key, value) in stack.labels.iter().filter(|(k, _)| k != "span_id") {
            let held = built.iter().find(|(k, _)| k == key).is_some_and(|(_, v)| !v.is_empty());
            if !held {
                match built.iter_mut().find(|(k, _)| k == key) {
                    Some(pair) => pair.1.clone_from(value),
                    None => built.push((key.clone(), value.clone())),
                }
            }
        }
        built.sort();
        match series.iter_mut().find(|(l, _)| *l == built) {
            Some((_, group)) => group.push(stack),
            None => series.push((built, vec![stack])),
        }
    }
    series
}

/// The labels the ingester's head adds to a series
/// (`pkg/phlaredb/labels/labels.go`): `__service_name__` when there is a
/// service name, `__period_type__` and `__period_unit__` when the profile
/// has a period type, `__type__`, `__unit__` and `__profile_type__`.
fn with_private_labels(labels: &mut Labels, type_id: &str) {
    let parts: Vec<&str> = type_id.split(':').collect();
    let part = |i: usize| parts.get(i).copied().unwrap_or("").to_owned();
    if let Some(service) = labels.get("service_name").filter(|s| !s.is_empty()).cloned() {
        labels.insert("__service_name__".into(), service);
    }
    if !part(3).is_empty() || !part(4).is_empty() {
        labels.insert("__period_type__".into(), part(3));
        labels.insert("__period_unit__".into(), part(4));
    }
    labels.insert("__type__".into(), part(1));
    labels.insert("__unit__".into(), part(2));
    labels.insert("__profile_type__".into(), type_id.to_owned());
}

impl ProfileStore {
    /// `ValidateProfile`'s ingestion window: the profile's time in unix
    /// milliseconds (now when it has none), within [now-1h, now+10m].
    pub fn time_ms(profile: &Decoded) -> Result<i64, String> {
        let now_ms = (crate::logs::unix_nanos() / 1_000_000) as i64;
        let time_ms = if profile.time_nanos <= 0 {
            now_ms
        } else {
            profile.time_nanos / 1_000_000
        };
        if time_ms < now_ms - 3_600_000 || time_ms > now_ms + 600_000 {
            return Err(format!("profile time {time_ms} ms is outside [now-1h, now+10m]"));
        }
        Ok(time_ms)
    }

    /// Stores one pushed profile as the series `split` made of it;
    /// `dropped` says a fault discards it after accepting it.
    pub fn push(&self, series: Vec<(Labels, Vec<Stack>)>, type_suffix: &str, time_ms: i64, dropped: bool) {
        self.push_types(vec![(type_suffix.to_owned(), series)], time_ms, dropped);
    }

    /// Stores one pushed profile, one set of series per sample type.
    pub fn push_types(&self, types: Vec<TypeSeries>, time_ms: i64, dropped: bool) {
        let mut counts = self.counts.lock().expect("counts lock");
        counts.profiles_received += 1;
        if dropped {
            return;
        }
        counts.profiles_stored += 1;
        let received = Instant::now();
        let mut profiles = self.profiles.lock().expect("profile store lock");
        let series = types
            .into_iter()
            .flat_map(|(suffix, series)| series.into_iter().map(move |s| (suffix.clone(), s)));
        for (type_suffix, (mut labels, stacks)) in series {
            let name = labels.get("__name__").cloned().unwrap_or_default();
            let type_id = format!("{name}:{type_suffix}");
            with_private_labels(&mut labels, &type_id);
            profiles.push(StoredProfile {
                type_id,
                labels,
                stacks,
                time_ms,
                received,
            });
        }
    }

    /// Checks and stores a profile the reference stack makes itself (the
    /// app's span profiles), whose labels need no validating.
    pub fn push_decoded(&self, labels: &Labels, profile: &Decoded) -> Result<(), String> {
        let time_ms = Self::time_ms(profile)?;
        let pairs: Vec<(String, String)> = labels.clone().into_iter().collect();
        let series = split(&pairs, &profile.stacks)
            .into_iter()
            .map(|(labels, stacks)| (labels.into_iter().collect(), stacks))
            .collect();
        self.push(series, &profile.type_suffix, time_ms, false);
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
        self.label_values_of(name, (i64::MIN, i64::MAX), &[])
    }

    /// The distinct label sets of the series with data in the range that
    /// one of the selectors picks (all series when there are none), as the
    /// head's `forMatchingSelectors` walks them.
    pub fn series(&self, range_ms: (i64, i64), selectors: &[Vec<Matcher>]) -> Vec<Labels> {
        let profiles = self.profiles.lock().expect("profile store lock");
        let mut sets: Vec<Labels> = profiles
            .iter()
            .filter(|p| p.time_ms >= range_ms.0 && p.time_ms <= range_ms.1)
            .filter(|p| selectors.is_empty() || selectors.iter().any(|m| selects(m, &p.labels)))
            .map(|p| p.labels.clone())
            .collect();
        sets.sort();
        sets.dedup();
        sets
    }

    /// The sorted values of a label over `series`, empty values left out.
    pub fn label_values_of(&self, name: &str, range_ms: (i64, i64), selectors: &[Vec<Matcher>]) -> Vec<String> {
        let mut values: Vec<String> = self
            .series(range_ms, selectors)
            .into_iter()
            .filter_map(|l| l.get(name).filter(|v| !v.is_empty()).cloned())
            .collect();
        values.sort();
        values.dedup();
        values
    }

    pub fn counts(&self) -> ProfileCounts {
        *self.counts.lock().expect("counts lock")
    }
}

/// `NewFlameGraph` of an empty tree (`pkg/model/flamegraph.go`): the
/// root alone, named `total`, all zeros; protojson leaves out the zero
/// `total` and `maxSelf`.
pub fn empty_flamegraph() -> Value {
    json!({ "names": ["total"], "levels": [{ "values": ["0", "0", "0", "0"] }] })
}

/// A call tree; `flamegraph` orders the children by name.
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

    /// `NewFlameGraph` (`pkg/model/flamegraph.go`) without a node limit:
    /// the tree walked with a stack, children in name order (the tree
    /// keeps them sorted) pushed so the last is taken first; a node's
    /// name index is given when it is taken, its children start after its
    /// own value; each level then runs left to right, offsets relative to
    /// the previous node's end.
    fn flamegraph(&self) -> Value {
        if self.total == 0 {
            return empty_flamegraph();
        }
        let mut names: Vec<String> = Vec::new();
        let mut levels: Vec<Vec<[i64; 4]>> = Vec::new();
        let mut max_self = 0;
        let mut stack: Vec<(usize, i64, &str, &Node)> = vec![(0, 0, "total", self)];
        while let Some((level, x, name, node)) = stack.pop() {
            max_self = max_self.max(node.own);
            let index = match names.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    names.push(name.to_owned());
                    names.len() - 1
                }
            };
            if levels.len() <= level {
                levels.push(Vec::new());
            }
            levels[level].push([x, node.total, node.own, index as i64]);
            let mut children: Vec<&(String, Node)> = node.children.iter().collect();
            children.sort_by(|a, b| a.0.cmp(&b.0));
            let mut child_x = x + node.own;
            for (child_name, child) in children {
                stack.push((level + 1, child_x, child_name, child));
                child_x += child.total;
            }
        }
        let levels: Vec<Value> = levels
            .into_iter()
            .map(|mut level| {
                level.reverse();
                let mut end = 0;
                let values: Vec<String> = level
                    .iter()
                    .flat_map(|[x, total, own, name]| {
                        let offset = x - end;
                        end = x + total;
                        [offset, *total, *own, *name]
                    })
                    .map(|v| v.to_string())
                    .collect();
                json!({ "values": values })
            })
            .collect();
        let mut graph = json!({ "names": names, "levels": levels, "total": self.total.to_string() });
        // protojson leaves a zero out.
        if max_self != 0 {
            graph["maxSelf"] = json!(max_self.to_string());
        }
        graph
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

    fn pairs(list: &[(&str, &str)]) -> Pairs {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn stack(value: i64, labels: &[(&str, &str)]) -> Stack {
        Stack {
            frames: vec!["main".into()],
            value,
            labels: pairs(labels),
        }
    }

    /// `pprof_split.go`'s rules: `span_id` stays on the samples, the
    /// other string labels make series, pushed labels win (its test's
    /// "sample label name overlaps with series label" case), `profile_id`
    /// is `span_id`.
    #[test]
    fn sample_labels_split_a_profile_into_series() {
        let base = pairs(&[("__name__", "process_cpu"), ("service_name", "svc")]);
        let stacks = [
            stack(1, &[("thread_name", "main"), ("span_id", "aa")]),
            stack(2, &[("thread_name", "worker")]),
            stack(3, &[("thread_name", "main"), ("profile_id", "bb")]),
            stack(4, &[("service_name", "other"), ("span_id", "cc")]),
        ];
        let got = split(&base, &stacks);
        let series: Vec<(Pairs, Vec<i64>)> = got
            .iter()
            .map(|(l, s)| (l.clone(), s.iter().map(|s| s.value).collect()))
            .collect();
        let with = |extra: &[(&str, &str)]| {
            let mut l = base.clone();
            l.extend(pairs(extra));
            l.sort();
            l
        };
        assert_eq!(
            series,
            vec![
                (with(&[("thread_name", "main")]), vec![1, 3]),
                (with(&[("thread_name", "worker")]), vec![2]),
                (base.clone(), vec![4]),
            ]
        );
        assert_eq!(got[0].1[1].labels, pairs(&[("thread_name", "main"), ("span_id", "bb")]));
        // No sample labels but `span_id`: one series, the pushed labels.
        let spans = [stack(1, &[("span_id", "aa")]), stack(2, &[])];
        let got = split(&base, &spans);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, base);
    }

    #[test]
    fn sibling_offsets_are_relative() {
        let mut tree = Node::default();
        tree.add(&["main".into(), "a".into()], 10);
        tree.add(&["main".into(), "b".into()], 30);
        tree.add(&["other".into()], 5);
        let graph = tree.flamegraph();
        // Names as the walk takes them: the last child first.
        assert_eq!(graph["names"], json!(["total", "other", "main", "b", "a"]));
        // Level 1: main at 0 (40), other right after it.
        assert_eq!(
            graph["levels"][1]["values"],
            json!(["0", "40", "0", "2", "0", "5", "5", "1"])
        );
        // Level 2: a at 0 (10), b right after a.
        assert_eq!(
            graph["levels"][2]["values"],
            json!(["0", "10", "10", "4", "0", "30", "30", "3"])
        );
        // Children are drawn after their parent's own value, in name order.
        let mut tree = Node::default();
        tree.add(&["main".into()], 5);
        tree.add(&["main".into(), "z".into()], 10);
        tree.add(&["main".into(), "b".into()], 20);
        let graph = tree.flamegraph();
        assert_eq!(
            graph["levels"][2]["values"],
            json!(["5", "20", "20", "3", "0", "10", "10", "2"])
        );
        assert_eq!(graph["maxSelf"], "20");
    }
}
