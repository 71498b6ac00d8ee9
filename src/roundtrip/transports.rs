//! A round-trip check over several OTLP transports: one leg per transport
//! (`CheckCtx::transports`), side by side, each judged by the check as if
//! it were the only one, then combined into the check's one outcome. The
//! check id stays the same whatever the transports, so features, `--only`
//! and reports keep naming it; the transports show in the summary (one
//! clause per transport, naming it and its endpoint) and in the evidence
//! (`transports`, one record per leg with its own verdict).
//!
//! The first leg is the one the check's results stand for: its latency
//! series keep their names, the others' get the transport as a suffix
//! (`traces.by_id.grpc`).
//!
//! Uses: check::outcome, target.

use std::future::Future;

use serde::Serialize;

use crate::check::CheckCtx;
use crate::check::outcome::{Outcome, Status, Verdict};
use crate::target::{Signal, Transport};

/// One leg as the evidence records it.
#[derive(Debug, Serialize)]
struct Leg {
    transport: Transport,
    endpoint: Option<String>,
    status: Status,
    reason: Option<&'static str>,
    summary: String,
    evidence: serde_json::Value,
}

/// Runs `leg` once per transport of `signal`, side by side, and combines
/// the outcomes. `leg` is given the transport and whether it is the first.
pub(crate) async fn each<F, Fut>(ctx: &CheckCtx, signal: Signal, leg: F) -> Outcome
where
    F: Fn(Transport, bool) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let transports = ctx.transports(signal);
    let outcomes = futures::future::join_all(transports.iter().enumerate().map(|(i, t)| leg(*t, i == 0))).await;
    let legs = transports
        .into_iter()
        .map(|t| (t, ctx.target.otlp_over(signal, t).map(|u| u.to_string())))
        .zip(outcomes)
        .map(|((t, url), o)| (t, url, o))
        .collect();
    combine(legs)
}

/// Worse first: a failure, then an error, then a pass; a skip only when
/// every leg skipped.
fn severity(status: Status) -> u8 {
    match status {
        Status::Fail => 3,
        Status::Error => 2,
        Status::Pass => 1,
        Status::Skip => 0,
    }
}

fn combine(mut legs: Vec<(Transport, Option<String>, Outcome)>) -> Outcome {
    if legs.len() == 1 {
        return legs
            .pop()
            .map(|(_, _, o)| o)
            .unwrap_or_else(|| Outcome::not_configured("no transport"));
    }
    let verdict: Verdict = legs
        .iter()
        .map(|(_, _, o)| o.verdict)
        .enumerate()
        .max_by_key(|(i, v)| (severity(v.status()), std::cmp::Reverse(*i)))
        .map(|(_, v)| v)
        .unwrap_or(Verdict::Pass);
    let summary = legs
        .iter()
        .map(|(t, url, o)| match url {
            Some(url) => format!("{t} ({url}): {}", o.summary),
            None => format!("{t}: {}", o.summary),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut combined = Outcome::new(verdict, summary);
    let mut records = Vec::with_capacity(legs.len());
    for (i, (transport, endpoint, outcome)) in legs.into_iter().enumerate() {
        for (series, latency) in outcome.latency {
            let name = if i == 0 {
                series
            } else {
                format!("{series}.{}", transport.as_str())
            };
            combined.latency.insert(name, latency);
        }
        records.push(Leg {
            transport,
            endpoint,
            status: outcome.verdict.status(),
            reason: outcome.verdict.reason(),
            summary: outcome.summary,
            evidence: outcome.evidence,
        });
    }
    combined.with_evidence(serde_json::json!({ "transports": records }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::reason::Shared;

    #[test]
    fn the_worst_leg_decides_and_each_is_named() {
        let http = Outcome::new(Verdict::Pass, "20/20 traces found");
        let grpc = Outcome::new(Verdict::fail(Shared::Rejected), "UNAVAILABLE");
        let out = combine(vec![
            (Transport::Http, Some("http://h:4318/v1/traces".into()), http),
            (Transport::Grpc, Some("http://h:4317/".into()), grpc),
        ]);
        assert_eq!(out.verdict, Verdict::fail(Shared::Rejected));
        assert!(
            out.summary.contains("OTLP/HTTP (http://h:4318/v1/traces): 20/20"),
            "{}",
            out.summary
        );
        assert!(
            out.summary.contains("OTLP/gRPC (http://h:4317/): UNAVAILABLE"),
            "{}",
            out.summary
        );
        let legs = out.evidence["transports"].as_array().unwrap();
        assert_eq!(legs[1]["transport"], "grpc");
        assert_eq!(legs[1]["reason"], "rejected");
        let skipped = combine(vec![
            (Transport::Http, None, Outcome::not_configured("none")),
            (Transport::Grpc, None, Outcome::new(Verdict::Pass, "ok")),
        ]);
        assert_eq!(skipped.verdict, Verdict::Pass);
    }
}
