//! `frontend.roundtrip`: synthetic Faro sessions posted to the collector's
//! `/collect` land in Loki as Alloy writes them — every log, exception,
//! web-vitals measurement and event, under the frontend's `app` label — and
//! their spans land in Tempo.
//!
//! The round trip itself is `roundtrip::frontend`; this check judges what
//! it measured.
//!
//! Uses: check, roundtrip::{frontend, lookup}, emit::faro.

use crate::check::reason::reasons;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Verdict};
use crate::emit::faro::FrontendSpec;
use crate::roundtrip::frontend::{self, Frontend, Settings};
use crate::roundtrip::lookup::undecided;

reasons! {
    /// Why `frontend.roundtrip` did not pass, beside the shared reasons: a
    /// refused post is `rate_limited` or `rejected`; reads that all failed
    /// are `read_failed` or `unreachable`.
    pub enum Reason {
        MissingLines,
        MissingSpans,
    }
}

pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    frontend::budget(&Settings::of(settings))
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let measured = match frontend::round_trip(ctx, &Settings::of(&ctx.settings)).await {
        Ok(measured) => measured,
        Err(outcome) => return outcome,
    };
    let (verdict, summary) = judge(&measured);
    Outcome::new(verdict, summary)
        .with_evidence(&measured.evidence)
        .with_latency("frontend.lines", &measured.lines.histogram)
        .with_latency("frontend.spans", &measured.spans.histogram)
}

fn judge(measured: &Frontend) -> (Verdict, String) {
    let Frontend { lines, spans, sent, .. } = measured;
    let session_id = |slot: u64| measured.sessions[slot as usize].session_id.as_str();
    if !lines.missing.is_empty() {
        let short: Vec<String> = lines
            .missing
            .iter()
            .map(|&slot| {
                let found = measured.evidence.lines_found.get(session_id(slot));
                let kinds: Vec<String> = FrontendSpec::expected_lines()
                    .iter()
                    .map(|(kind, want)| {
                        let got = found.and_then(|f| f.get(*kind)).copied().unwrap_or(0);
                        format!("{kind} {got}/{want}")
                    })
                    .collect();
                format!("session {}: {}", session_id(slot), kinds.join(", "))
            })
            .collect();
        return (
            Verdict::fail(Reason::MissingLines),
            format!(
                "{} of {sent} sessions were accepted (202) but their lines are not all in Loki: {}",
                lines.missing.len(),
                short.join("; ")
            ),
        );
    }
    if !spans.missing.is_empty() {
        return (
            Verdict::fail(Reason::MissingSpans),
            format!("{} of {sent} sessions' spans not found in Tempo", spans.missing.len()),
        );
    }
    if let Some(verdict) = undecided(lines, "sessions' lines").or_else(|| undecided(spans, "sessions' spans")) {
        return verdict;
    }
    (
        Verdict::Pass,
        format!(
            "{sent}/{sent} sessions: every line in Loki and every trace in Tempo; lines p99 {} ms",
            lines.histogram.percentile_ms(99.0)
        ),
    )
}
