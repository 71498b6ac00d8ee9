//! `pillars merge`: the shards of one split load or capacity run
//! (`--shard i/N`, one per machine) put back into one record. Counts are
//! summed, latency histograms merged exactly from the histograms each
//! record carries, rates added (the shards ran side by side), memory
//! series kept side by side, one per shard, and the verdicts carried over:
//! a gate any shard broke is broken.
//!
//! A capacity search is merged step by step while every shard ran the same
//! step; where their searches parted (one shard broke a gate, another
//! held), the merged record ends and says so.
//!
//! Uses: report::{load, capacity, dir}, load (records' parts: capacity
//! steps, shards, sessions), check (completeness), measure, textfile.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::check::ledger::completeness;
use crate::load::capacity::{FirstBad, StepMarkers, StepResult, StepUnits, slope};
use crate::load::gate::{self, Broken};
use crate::load::scenario::TrafficKind;
use crate::load::session::Timeline;
use crate::load::shard::Shard;
use crate::measure::latency::{LatencyHistogram, LatencySummary};
use crate::measure::memory::Least;
use crate::report::Report;
use crate::report::capacity::{CapacityReport, recommend};
use crate::report::load::{IngestReport, KindReport, LOAD_SCHEMA_VERSION, LoadReport, MergedShard};
use crate::report::record::{self, Record, RecordError};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("`{}`: {what} cannot be merged exactly: {why}; re-run the shard with this pillars", path.display())]
    Histogram { path: PathBuf, what: String, why: String },
    #[error("{0}")]
    Shards(String),
}

/// A merged record.
#[derive(Debug, Clone)]
pub enum Merged {
    Load(LoadReport),
    Capacity(CapacityReport),
}

impl Merged {
    pub fn report(&self) -> Report<'_> {
        match self {
            Merged::Load(r) => Report::Load(r),
            Merged::Capacity(r) => Report::Capacity(r),
        }
    }
}

struct Read<T> {
    source: PathBuf,
    record: T,
}

/// Reads the shards' records at `inputs` and merges them.
pub fn merge(inputs: &[PathBuf]) -> Result<Merged, MergeError> {
    let mut loads = Vec::new();
    let mut searches = Vec::new();
    for input in inputs {
        let (source, record) = record::read(input)?;
        match record {
            Record::Load(record) => loads.push(Read { source, record }),
            Record::Capacity(record) => searches.push(Read { source, record }),
            Record::Run(_) => {
                return Err(MergeError::Shards(format!(
                    "`{}` is a verify run; merge takes the load or capacity records of a split run",
                    source.display()
                )));
            }
        }
    }
    match (loads.is_empty(), searches.is_empty()) {
        (false, true) => merge_load(loads).map(Merged::Load),
        (true, false) => merge_capacity(searches).map(Merged::Capacity),
        (true, true) => Err(MergeError::Shards("name at least one report directory".into())),
        (false, false) => Err(MergeError::Shards(format!(
            "{} holds a load record and {} a capacity record; merge the shards of one run",
            loads[0].source.display(),
            searches[0].source.display()
        ))),
    }
}

/// What the shard checks need of a record.
struct Header<'a> {
    source: &'a Path,
    scenario: &'a str,
    target: &'a str,
    shard: Option<Shard>,
    p99_slo_ms: u64,
}

/// A record that a shard of a run writes.
trait ShardRecord {
    fn scenario(&self) -> &str;
    fn target(&self) -> &str;
    fn shard(&self) -> Option<Shard>;
    fn p99_slo_ms(&self) -> u64;
    fn run_id(&self) -> &str;
    fn seed(&self) -> u64;
    fn interrupted(&self) -> bool;
    fn timeline(&self) -> &Timeline;
}

macro_rules! shard_record {
    ($record:ty) => {
        impl ShardRecord for $record {
            fn scenario(&self) -> &str {
                &self.scenario
            }
            fn target(&self) -> &str {
                &self.target
            }
            fn shard(&self) -> Option<Shard> {
                self.shard
            }
            fn p99_slo_ms(&self) -> u64 {
                self.p99_slo_ms
            }
            fn run_id(&self) -> &str {
                &self.run_id
            }
            fn seed(&self) -> u64 {
                self.seed
            }
            fn interrupted(&self) -> bool {
                self.interrupted
            }
            fn timeline(&self) -> &Timeline {
                &self.timeline
            }
        }
    };
}
shard_record!(LoadReport);
shard_record!(CapacityReport);

impl<T: ShardRecord> Read<T> {
    fn header(&self) -> Header<'_> {
        Header {
            source: &self.source,
            scenario: self.record.scenario(),
            target: self.record.target(),
            shard: self.record.shard(),
            p99_slo_ms: self.record.p99_slo_ms(),
        }
    }

    /// The shard, once `check_shards` has passed.
    fn shard(&self) -> Shard {
        self.record.shard().expect("checked shards")
    }
}

/// The records are every shard of one run, each once; sorts them by
/// shard.
fn check_shards<T: ShardRecord>(records: &mut [Read<T>]) -> Result<(), MergeError> {
    let header = Read::header;
    for r in records.iter() {
        let h = header(r);
        if h.shard.is_none() {
            return Err(MergeError::Shards(format!(
                "`{}` is a whole run, not a shard: only runs made with --shard INDEX/COUNT merge",
                h.source.display()
            )));
        }
    }
    records.sort_by_key(|r| header(r).shard);
    let first = header(&records[0]);
    let count = first.shard.map_or(0, |s| s.count);
    let mut seen = BTreeMap::new();
    for r in records.iter() {
        let h = header(r);
        let shard = h.shard.expect("checked above");
        if shard.count != count {
            return Err(MergeError::Shards(format!(
                "`{}` is shard {shard} but `{}` one of {count}: merge the shards of one run",
                h.source.display(),
                first.source.display()
            )));
        }
        if (h.scenario, h.target, h.p99_slo_ms) != (first.scenario, first.target, first.p99_slo_ms) {
            return Err(MergeError::Shards(format!(
                "`{}` ran scenario `{}` against `{}`, `{}` ran `{}` against `{}`: merge the shards of one run",
                h.source.display(),
                h.scenario,
                h.target,
                first.source.display(),
                first.scenario,
                first.target
            )));
        }
        if let Some(before) = seen.insert(shard.index, h.source) {
            return Err(MergeError::Shards(format!(
                "shard {shard} is there twice: `{}` and `{}`",
                before.display(),
                h.source.display()
            )));
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Shards(format!(
            "shard {} missing: pass the report directories of all {count} shards",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Where each merged shard came from.
fn merged_shards<T: ShardRecord>(records: &[Read<T>]) -> Vec<MergedShard> {
    records
        .iter()
        .map(|r| MergedShard {
            index: r.shard().index,
            count: r.shard().count,
            run_id: r.record.run_id().to_owned(),
            seed: r.record.seed(),
            source: r.source.display().to_string(),
            interrupted: r.record.interrupted(),
        })
        .collect()
}

/// The first shard's run id less its `-s1of2`, and `-merged`.
fn merged_run_id(first: &str, shard: Option<Shard>) -> String {
    let base = shard
        .and_then(|s| first.strip_suffix(&s.run_id_suffix()))
        .unwrap_or(first);
    format!("{base}-merged")
}

/// Merges latency summaries exactly from the histograms they carry.
fn merge_latency<'a>(
    parts: impl IntoIterator<Item = (&'a Path, &'a LatencySummary)>,
    what: &str,
) -> Result<LatencySummary, MergeError> {
    let mut all = LatencyHistogram::default();
    for (source, summary) in parts {
        let histogram = summary.histogram().map_err(|why| MergeError::Histogram {
            path: source.to_owned(),
            what: what.to_owned(),
            why,
        })?;
        all.merge(&histogram);
    }
    Ok(all.summary())
}

/// The part of each shard's record `part` picks, beside where it was read.
fn parts_of<'a, T, P>(records: &'a [Read<T>], part: impl Fn(&'a T) -> Option<&'a P>) -> Vec<(&'a Path, &'a P)> {
    records
        .iter()
        .filter_map(|r| Some((r.source.as_path(), part(&r.record)?)))
        .collect()
}

fn merge_load(mut records: Vec<Read<LoadReport>>) -> Result<LoadReport, MergeError> {
    check_shards(&mut records)?;
    let first = &records[0].record;
    let kinds: BTreeSet<TrafficKind> = records.iter().flat_map(|r| r.record.kinds.keys().copied()).collect();
    let mut merged_kinds = BTreeMap::new();
    for kind in kinds {
        let parts = parts_of(&records, |r| r.kinds.get(&kind));
        merged_kinds.insert(kind, merge_kind(kind, &parts, &records)?);
    }
    let pillars: BTreeSet<_> = records.iter().flat_map(|r| r.record.ingest.keys().copied()).collect();
    let mut ingest = BTreeMap::new();
    for pillar in pillars {
        let parts = parts_of(&records, |r| r.ingest.get(&pillar));
        let sum = |f: fn(&IngestReport) -> u64| parts.iter().map(|(_, i)| f(i)).sum::<u64>();
        let (sent, found, undecided) = (sum(|i| i.sent), sum(|i| i.found), sum(|i| i.undecided));
        let what = format!("the {} ingest latency", pillar.as_str());
        ingest.insert(
            pillar,
            IngestReport {
                sent,
                found,
                undecided,
                errors: sum(|i| i.errors),
                completeness: completeness(sent, found, undecided),
                latency_ms: merge_latency(parts.iter().map(|(s, i)| (*s, &i.latency_ms)), &what)?,
            },
        );
    }
    let mut merged = LoadReport {
        schema_version: LOAD_SCHEMA_VERSION,
        scenario: first.scenario.clone(),
        target: first.target.clone(),
        reference_stack: first.reference_stack,
        seed: first.seed,
        run_id: merged_run_id(&first.run_id, first.shard),
        duration_secs: records.iter().map(|r| r.record.duration_secs).fold(0.0, f64::max),
        interrupted: records.iter().any(|r| r.record.interrupted),
        kinds: merged_kinds,
        not_driven: records
            .iter()
            .flat_map(|r| r.record.not_driven.iter().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        ingest,
        min_headroom: least(records.iter().filter_map(|r| r.record.min_headroom.as_ref())),
        broken: records.iter().find_map(|r| r.record.broken.clone()),
        unread: records
            .iter()
            .flat_map(|r| r.record.unread.iter().map(move |u| format!("shard {}: {u}", r.shard())))
            .collect(),
        p99_slo_ms: first.p99_slo_ms,
        default_gates: records.iter().all(|r| r.record.default_gates),
        shard: None,
        merged: merged_shards(&records),
        timeline: merge_timelines(&records),
        gates: Vec::new(),
    };
    // The gates again, on the merged figures, by the shards' limits.
    merged.gates = gate::rejudge(&first.gates, merged_figures(&merged));
    if !merged.gates.is_empty() {
        merged.broken = gate::first_broken(&merged.gates);
    }
    Ok(merged)
}

/// The figures the gates judge, read off a merged record: the refused
/// share of each kind (worst first), each pillar's p99 ingest latency and
/// completeness, the least memory headroom.
fn merged_figures(r: &LoadReport) -> Vec<Broken> {
    let mut ratios: Vec<(TrafficKind, f64)> = r.kinds.iter().map(|(kind, k)| (*kind, k.error_ratio)).collect();
    ratios.sort_by(|a, b| b.1.total_cmp(&a.1));
    let errors = ratios
        .into_iter()
        .map(|(kind, ratio)| Broken::ErrorRatio { kind, ratio });
    let latency = r
        .ingest
        .iter()
        .filter(|(_, i)| i.latency_ms.count > 0)
        .map(|(pillar, i)| Broken::IngestLatency {
            pillar: *pillar,
            p99_ms: i.latency_ms.p99,
            slo_ms: r.p99_slo_ms,
        });
    let completeness = r.ingest.iter().filter_map(|(pillar, i)| {
        Some(Broken::Completeness {
            pillar: *pillar,
            ratio: i.completeness?,
        })
    });
    let memory = r.min_headroom.clone().map(|l| Broken::MemoryHeadroom {
        container: l.container,
        headroom: l.headroom,
    });
    errors.chain(latency).chain(completeness).chain(memory).collect()
}

fn merge_kind(
    kind: TrafficKind,
    parts: &[(&Path, &KindReport)],
    records: &[Read<LoadReport>],
) -> Result<KindReport, MergeError> {
    let sum = |f: fn(&KindReport) -> u64| parts.iter().map(|(_, k)| f(k)).sum::<u64>();
    let (offered, refused) = (sum(|k| k.offered_units), sum(|k| k.refused_units));
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for (_, k) in parts {
        for (reason, n) in &k.refused {
            *reasons.entry(reason.clone()).or_default() += n;
        }
    }
    let failed: Vec<String> = parts
        .iter()
        .filter_map(|(source, k)| {
            let why = k.failed.as_ref()?;
            let shard = records.iter().find(|r| r.source == *source)?.record.shard?;
            Some(format!("shard {shard}: {why}"))
        })
        .collect();
    let name = kind.as_str();
    Ok(KindReport {
        offered_units: offered,
        accepted_units: sum(|k| k.accepted_units),
        refused_units: refused,
        refused: reasons,
        error_ratio: if offered == 0 {
            0.0
        } else {
            refused as f64 / offered as f64
        },
        // The shards sent side by side: their rates add up.
        achieved_rate: parts.iter().map(|(_, k)| k.achieved_rate).sum(),
        latency_ms: merge_latency(
            parts.iter().map(|(s, k)| (*s, &k.latency_ms)),
            &format!("the {name} send latency"),
        )?,
        service_latency_ms: merge_latency(
            parts.iter().map(|(s, k)| (*s, &k.service_latency_ms)),
            &format!("the {name} service latency"),
        )?,
        late_starts: sum(|k| k.late_starts),
        collector_stalls: sum(|k| k.collector_stalls),
        bytes_sent: sum(|k| k.bytes_sent),
        failed: (!failed.is_empty()).then(|| failed.join("; ")),
    })
}

fn least<'a>(all: impl Iterator<Item = &'a Least>) -> Option<Least> {
    all.min_by(|a, b| a.headroom.total_cmp(&b.headroom)).cloned()
}

/// Rates added tick by tick (each shard's ticks count from its own start,
/// and the shards start together), markers in time order, and each
/// shard's memory series beside the others', named for its shard.
fn merge_timelines<T: ShardRecord>(records: &[Read<T>]) -> Timeline {
    let mut out = Timeline::default();
    for (shard, timeline) in records.iter().map(|r| (r.shard(), r.record.timeline())) {
        for (kind, points) in &timeline.rates {
            let merged = out.rates.entry(*kind).or_default();
            for (i, p) in points.iter().enumerate() {
                match merged.get_mut(i) {
                    Some(m) => {
                        m.offered += p.offered;
                        m.achieved += p.achieved;
                    }
                    None => merged.push(*p),
                }
            }
        }
        for (pillar, points) in &timeline.ingest {
            out.ingest.entry(*pillar).or_default().extend(points.iter().copied());
        }
        let named = |name: &str| format!("{name} (shard {shard})");
        out.memory.extend(timeline.memory.iter().map(|m| {
            let mut point = m.clone();
            for c in &mut point.containers {
                c.container = named(&c.container);
            }
            if let Some(least) = &mut point.headroom.min_container {
                least.container = named(&least.container);
            }
            point
        }));
    }
    for points in out.ingest.values_mut() {
        points.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
    }
    out.memory.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
    out
}

fn merge_capacity(mut records: Vec<Read<CapacityReport>>) -> Result<CapacityReport, MergeError> {
    check_shards(&mut records)?;
    let first = &records[0].record;
    // Steps merge while every shard ran the same one.
    let longest = records.iter().map(|r| r.record.steps.len()).max().unwrap_or(0);
    let mut steps = Vec::new();
    let mut parted = None;
    for k in 0..longest {
        let at_k = parts_of(&records, |r| r.steps.get(k));
        let scale = at_k[0].1.scale;
        if at_k.len() < records.len() || at_k.iter().any(|(_, s)| (s.scale - scale).abs() > 1e-9) {
            parted = Some(k);
            break;
        }
        steps.push(merge_step(&at_k)?);
    }
    let first_bad = steps
        .iter()
        .filter_map(|s| {
            let broken = s.broken.clone()?;
            Some(FirstBad {
                rate: s.offered_rate,
                broken,
            })
        })
        .min_by(|a, b| a.rate.total_cmp(&b.rate));
    let last_good = steps
        .iter()
        .filter(|s| s.broken.is_none() && first_bad.as_ref().is_none_or(|b| s.offered_rate < b.rate))
        .max_by(|a, b| a.offered_rate.total_cmp(&b.offered_rate));
    let memory_bytes_per_unit = slope(&steps);
    let mut recommendation = recommend(
        &first.target,
        first.memory_budget_bytes,
        last_good,
        first_bad.as_ref(),
        memory_bytes_per_unit,
    );
    if let Some(k) = parted {
        let ends: Vec<String> = records
            .iter()
            .map(|r| match r.record.steps.get(k) {
                Some(step) => format!("shard {} ran x{:.2}", r.shard(), step.scale),
                None => format!("shard {} had stopped", r.shard()),
            })
            .collect();
        recommendation.push_str(&format!(
            "; the shards' searches parted at step {} ({}): what came after is in the shards' own reports",
            k + 1,
            ends.join(", ")
        ));
    }
    Ok(CapacityReport {
        schema_version: LOAD_SCHEMA_VERSION,
        scenario: first.scenario.clone(),
        target: first.target.clone(),
        reference_stack: first.reference_stack,
        seed: first.seed,
        run_id: merged_run_id(&first.run_id, first.shard),
        interrupted: records.iter().any(|r| r.record.interrupted),
        last_good_rate: last_good.map(|s| s.offered_rate),
        first_bad,
        memory_bytes_per_unit,
        recommendation,
        memory_budget_bytes: first.memory_budget_bytes,
        p99_slo_ms: first.p99_slo_ms,
        shard: None,
        merged: merged_shards(&records),
        steps,
        timeline: merge_timelines(&records),
    })
}

/// One step every shard ran, as one.
fn merge_step(parts: &[(&Path, &StepResult)]) -> Result<StepResult, MergeError> {
    let step0 = parts[0].1;
    let mut mix: BTreeMap<TrafficKind, f64> = BTreeMap::new();
    let mut units: BTreeMap<TrafficKind, StepUnits> = BTreeMap::new();
    for (_, s) in parts {
        for (kind, rate) in &s.mix {
            *mix.entry(*kind).or_default() += rate;
        }
        for (kind, u) in &s.units {
            let sum = units.entry(*kind).or_default();
            sum.accepted += u.accepted;
            sum.refused += u.refused;
        }
    }
    let pillars: BTreeSet<_> = parts.iter().flat_map(|(_, s)| s.markers.keys().copied()).collect();
    let mut markers = BTreeMap::new();
    for pillar in pillars {
        let of: Vec<(&Path, &StepMarkers)> = parts
            .iter()
            .filter_map(|(source, s)| Some((*source, s.markers.get(&pillar)?)))
            .collect();
        let what = format!("step x{:.2}'s {} ingest latency", step0.scale, pillar.as_str());
        markers.insert(
            pillar,
            StepMarkers {
                sent: of.iter().map(|(_, m)| m.sent).sum(),
                found: of.iter().map(|(_, m)| m.found).sum(),
                undecided: of.iter().map(|(_, m)| m.undecided).sum(),
                latency_ms: merge_latency(of.iter().map(|(s, m)| (*s, &m.latency_ms)), &what)?,
            },
        );
    }
    let worst_error_ratio = if units.is_empty() {
        parts.iter().map(|(_, s)| s.worst_error_ratio).fold(0.0, f64::max)
    } else {
        units
            .values()
            .map(|u| {
                let offered = u.accepted + u.refused;
                if offered == 0 {
                    0.0
                } else {
                    u.refused as f64 / offered as f64
                }
            })
            .fold(0.0, f64::max)
    };
    Ok(StepResult {
        scale: step0.scale,
        started_secs: parts.iter().map(|(_, s)| s.started_secs).fold(f64::INFINITY, f64::min),
        duration_secs: parts.iter().map(|(_, s)| s.duration_secs).fold(0.0, f64::max),
        offered_rate: parts.iter().map(|(_, s)| s.offered_rate).sum(),
        achieved_rate: parts.iter().map(|(_, s)| s.achieved_rate).sum(),
        mix,
        worst_error_ratio,
        ingest_p99_ms: markers
            .iter()
            .filter(|(_, m)| m.latency_ms.count > 0)
            .map(|(p, m)| (*p, m.latency_ms.p99))
            .collect(),
        completeness: markers
            .iter()
            .filter_map(|(p, m)| Some((*p, completeness(m.sent, m.found, m.undecided)?)))
            .collect(),
        undecided: markers
            .iter()
            .filter(|(_, m)| m.undecided > 0)
            .map(|(p, m)| (*p, m.undecided))
            .collect(),
        min_headroom: least(parts.iter().filter_map(|(_, s)| s.min_headroom.as_ref())),
        max_working_set_bytes: parts.iter().map(|(_, s)| s.max_working_set_bytes).max().unwrap_or(0),
        broken: parts.iter().find_map(|(_, s)| s.broken.clone()),
        units,
        markers,
    })
}
