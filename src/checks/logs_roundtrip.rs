//! `logs.roundtrip`: N synthetic OTLP log records sent through the collector
//! are found in Loki, each exactly once, within the target's deadlines.
//!
//! The round trip itself is `roundtrip::logs`; this check judges what it
//! measured.
//!
//! Uses: check, roundtrip::{logs, lookup}.

use crate::check::reason::reasons;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Verdict};
use crate::roundtrip::logs::{self, Settings};
use crate::roundtrip::lookup::tally;
use crate::roundtrip::send::Over;
use crate::roundtrip::transports;
use crate::target::Signal;

reasons! {
    /// Why `logs.roundtrip` did not pass, beside the shared `rejected`,
    /// `not_found`, `read_failed` and `unreachable`.
    pub enum Reason {
        Duplicate,
    }
}

pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    logs::budget(&Settings::of(settings))
}

/// One leg per transport the run sends logs over (`--transport`).
pub async fn run(ctx: &CheckCtx) -> Outcome {
    transports::each(ctx, Signal::Logs, |transport, primary| async move {
        let settings = Settings {
            over: Some(Over { transport, primary }),
            ..Settings::of(&ctx.settings)
        };
        leg(ctx, &settings).await
    })
    .await
}

async fn leg(ctx: &CheckCtx, settings: &Settings) -> Outcome {
    let measured = match logs::round_trip(ctx, settings).await {
        Ok(measured) => measured,
        Err(outcome) => return outcome,
    };
    let (watched, duplicates) = (&measured.watched, &measured.evidence.duplicates);
    let (verdict, summary) = if watched.missing.is_empty() && !duplicates.is_empty() {
        (
            Verdict::fail(Reason::Duplicate),
            format!("{} log lines came back more than once", duplicates.len()),
        )
    } else {
        tally(watched, measured.sent, "log lines", "Loki")
    };
    Outcome::new(verdict, summary)
        .with_evidence(&measured.evidence)
        .with_latency("logs", &watched.histogram)
}
