//! What the round-trip checks share: turning a failed send into a verdict,
//! describing a lookup's result as evidence, and recording it in the ledger.
//!
//! Uses: checks::{ledger, outcome}, emit::otlp, measure::ingest_clock.

use serde::Serialize;

use crate::checks::ledger::PillarIngest;
use crate::checks::outcome::Verdict;
use crate::emit::otlp::EmitError;
use crate::measure::ingest_clock::Watched;

/// Items listed by id in evidence, at most.
pub const LISTED: usize = 10;

#[derive(Debug, Serialize)]
pub struct Listed {
    pub slot: u64,
    pub id: String,
}

/// One lookup's result, as evidence.
#[derive(Debug, Serialize, Default)]
pub struct LookupEvidence {
    pub found: usize,
    pub missing: Vec<Listed>,
    pub missing_total: usize,
    /// Found only by the confirming query after `wait`.
    pub confirmed_late: usize,
    pub polls: u32,
    pub last_error: Option<String>,
}

impl LookupEvidence {
    pub fn new(w: &Watched<u64>, id_of: impl Fn(u64) -> String) -> Self {
        LookupEvidence {
            found: w.found.len(),
            missing: w
                .missing
                .iter()
                .take(LISTED)
                .map(|&slot| Listed { slot, id: id_of(slot) })
                .collect(),
            missing_total: w.missing.len(),
            confirmed_late: w.confirmed_late,
            polls: w.polls,
            last_error: w.last_error.as_ref().map(|e| e.to_string()),
        }
    }
}

/// The ledger entry of a lookup.
pub fn ingest_of(sent: u64, w: &Watched<u64>, id_of: impl Fn(u64) -> String) -> PillarIngest {
    PillarIngest {
        sent,
        found: w.found.len() as u64,
        missing: w.missing.iter().take(LISTED).map(|&s| id_of(s)).collect(),
        latency: w.histogram.clone(),
    }
}

/// A send that failed: the store could not be reached (error), or it
/// refused or rejected the data (fail).
pub fn send_verdict(err: &EmitError) -> Verdict {
    if err.is_unreachable() {
        Verdict::Error("unreachable")
    } else {
        Verdict::Fail("rejected")
    }
}

/// The end of a round trip's verdict: some items never showed up in the
/// store (`not_found`), or all of them did.
pub fn tally(w: &Watched<u64>, sent: u64, items: &str, store: &str) -> (Verdict, String) {
    if w.missing.is_empty() {
        (
            Verdict::Pass,
            format!(
                "{sent}/{sent} {items} found; p99 {} ms",
                w.histogram.percentile_ms(99.0)
            ),
        )
    } else {
        (
            Verdict::Fail("not_found"),
            format!("{} of {sent} {items} not found in {store}", w.missing.len()),
        )
    }
}

/// The last error of a lookup that never reached its store, if so.
pub fn unreachable(w: &Watched<u64>) -> Option<String> {
    (w.unreachable && w.found.is_empty()).then(|| w.last_error.as_ref().map(|e| e.to_string()).unwrap_or_default())
}
