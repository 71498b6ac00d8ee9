//! What every lookup shares, in the round trips and the correlation
//! checks: describing a lookup's result as evidence, its ledger entry, and
//! the three-way end of every lookup — found, missing (the store answered
//! without it: `fail`, `not_found`) or undecided (every read failed:
//! `error`, `read_failed` or `unreachable`, never counted as missing).
//!
//! Uses: check::{ledger, outcome, reason}, measure::{ingest_clock, wait}.

use serde::Serialize;

use crate::check::ledger::PillarIngest;
use crate::check::outcome::Verdict;
use crate::check::reason::Shared;
use crate::measure::ingest_clock::Watched;
use crate::wait::Looked;

/// Items listed by id in evidence, at most.
pub(crate) const LISTED: usize = 10;

#[derive(Debug, Serialize)]
pub(crate) struct Listed {
    pub slot: u64,
    pub id: String,
}

/// One lookup's result, as evidence.
#[derive(Debug, Serialize, Default)]
pub(crate) struct LookupEvidence {
    pub found: usize,
    pub missing: Vec<Listed>,
    pub missing_total: usize,
    /// Items no read could decide: the read path failed for them.
    pub undecided: Vec<Listed>,
    pub undecided_total: usize,
    /// Found only by the confirming query after `wait`.
    pub confirmed_late: usize,
    pub polls: u32,
    pub last_error: Option<String>,
}

fn listed(slots: &[u64], id_of: &impl Fn(u64) -> String) -> Vec<Listed> {
    slots
        .iter()
        .take(LISTED)
        .map(|&slot| Listed { slot, id: id_of(slot) })
        .collect()
}

impl LookupEvidence {
    pub(crate) fn new(w: &Watched<u64>, id_of: impl Fn(u64) -> String) -> Self {
        LookupEvidence {
            found: w.found.len(),
            missing: listed(&w.missing, &id_of),
            missing_total: w.missing.len(),
            undecided: listed(&w.undecided, &id_of),
            undecided_total: w.undecided.len(),
            confirmed_late: w.confirmed_late,
            polls: w.polls,
            last_error: w.last_error.as_ref().map(|e| e.to_string()),
        }
    }
}

/// The ledger entry of a lookup.
pub(crate) fn ingest_of(sent: u64, w: &Watched<u64>, id_of: impl Fn(u64) -> String) -> PillarIngest {
    PillarIngest {
        sent,
        found: w.found.len() as u64,
        missing: w.missing.iter().take(LISTED).map(|&s| id_of(s)).collect(),
        missing_total: w.missing.len() as u64,
        undecided: w.undecided.len() as u64,
        read_error: undecided(w, "items").map(|(_, why)| why),
        latency: w.histogram.clone(),
    }
}

/// When a lookup left items undecided: the error verdict (`unreachable`
/// when the store never answered, else `read_failed`) and why, naming the
/// read and what came back.
pub(crate) fn undecided(w: &Watched<u64>, items: &str) -> Option<(Verdict, String)> {
    if w.undecided.is_empty() {
        return None;
    }
    let error = w.last_error.as_ref();
    let reason = match error {
        Some(e) => Shared::of(e),
        // Never read: the deadline came first.
        None => Shared::ReadFailed,
    };
    let why = match error {
        Some(e) => e.to_string(),
        None => "no read finished before the deadline".to_owned(),
    };
    Some((
        Verdict::error(reason),
        format!(
            "could not read {} of the {items}, so whether they arrived is undecided: {why}",
            w.undecided.len()
        ),
    ))
}

/// The end of a round trip's verdict: items the store answered without
/// (`not_found`, even when others are undecided), items no read could
/// decide (`read_failed`/`unreachable`), or all found.
pub(crate) fn tally(w: &Watched<u64>, sent: u64, items: &str, store: &str) -> (Verdict, String) {
    if !w.missing.is_empty() {
        let mut summary = format!("{} of {sent} {items} not found in {store}", w.missing.len());
        if !w.undecided.is_empty() {
            summary.push_str(&format!("; {} more undecided (reads failed)", w.undecided.len()));
        }
        return (Verdict::fail(Shared::NotFound), summary);
    }
    if let Some(verdict) = undecided(w, items) {
        return verdict;
    }
    (
        Verdict::Pass,
        format!(
            "{sent}/{sent} {items} found; p99 {} ms",
            w.histogram.percentile_ms(99.0)
        ),
    )
}

/// The error verdict of a polled read that decided nothing: the last read
/// failed (`unreachable` or `read_failed`, with what came back) or none
/// finished in time. `None` for a read that found or did not find.
pub(crate) fn undecided_read<T>(looked: &Looked<T>, what: &str) -> Option<(Verdict, String)> {
    match looked {
        Looked::Undecided(e) => Some((
            Verdict::error(Shared::of(e)),
            format!("could not read {what}, so whether it is there is undecided: {e}"),
        )),
        Looked::NoAnswer => Some((
            Verdict::error(Shared::ReadFailed),
            format!("no read of {what} finished before the deadline"),
        )),
        Looked::Found(_) | Looked::Absent => None,
    }
}
