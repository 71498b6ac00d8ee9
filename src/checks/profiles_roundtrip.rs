//! `profiles.roundtrip`: N synthetic CPU profiles pushed to Pyroscope are
//! found in its merged flame graph for the run.
//!
//! The round trip itself is `roundtrip::profiles`; this check judges what
//! it measured.
//!
//! Uses: check, roundtrip::{profiles, lookup}.

use crate::check::reason::reasons;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome};
use crate::roundtrip::lookup::tally;
use crate::roundtrip::profiles::{self, Settings};

reasons! {
    /// `profiles.roundtrip` gives only the shared reasons: `rejected`,
    /// `not_found`, `read_failed`, `unreachable`.
    pub enum Reason {}
}

pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    profiles::budget(&Settings::of(settings))
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let measured = match profiles::round_trip(ctx, &Settings::of(&ctx.settings)).await {
        Ok(measured) => measured,
        Err(outcome) => return outcome,
    };
    let (verdict, summary) = tally(&measured.watched, measured.sent, "profiles", "Pyroscope");
    Outcome::new(verdict, summary)
        .with_evidence(&measured.evidence)
        .with_latency("profiles", &measured.watched.histogram)
}
