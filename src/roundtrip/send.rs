//! What every round trip's sending shares: its items go out in batches, in
//! order, each item stamped with the instant its batch was acknowledged;
//! a batch that fails stops the sending, and says whether the store could
//! not be reached (`error`, `unreachable`) or refused the data (`fail`,
//! `rejected`). `Over` is the transport one round trip's leg sends over.
//!
//! Uses: check::{outcome, reason, context}, emit::otlp, ids, target.

use std::future::Future;
use std::ops::Range;

use tokio::time::Instant;

use crate::check::CheckCtx;
use crate::check::outcome::{Outcome, Verdict};
use crate::check::reason::Shared;
use crate::emit::otlp::{Ack, EmitError, OtlpEmitter};
use crate::ids::Seed;
use crate::target::{Signal, Transport};

/// A send that failed: the store could not be reached (error), or it
/// refused or rejected the data (fail).
pub(crate) fn send_verdict(err: &EmitError) -> Verdict {
    if err.is_unreachable() {
        Verdict::error(Shared::Unreachable)
    } else {
        Verdict::fail(Shared::Rejected)
    }
}

/// Where sending stopped: the batch that failed, and why.
#[derive(Debug)]
pub(crate) struct SendFailed {
    pub slots: Range<u64>,
    pub err: EmitError,
}

/// Sends slots `0..total`, `per_batch` at a time, one batch after another;
/// returns each slot with the instant its batch was acknowledged.
pub(crate) async fn in_batches<F, Fut>(
    total: u64,
    per_batch: u64,
    mut send: F,
) -> Result<Vec<(u64, Instant)>, SendFailed>
where
    F: FnMut(Range<u64>) -> Fut,
    Fut: Future<Output = Result<Ack, EmitError>>,
{
    let per_batch = per_batch.max(1);
    let mut acked = Vec::with_capacity(total as usize);
    let mut slot = 0;
    while slot < total {
        let slots = slot..(slot + per_batch).min(total);
        match send(slots.clone()).await {
            Ok(ack) => acked.extend(slots.clone().map(|s| (s, ack.at))),
            Err(err) => return Err(SendFailed { slots, err }),
        }
        slot = slots.end;
    }
    Ok(acked)
}

/// The requests sending `total` items `per_batch` at a time takes.
pub(crate) fn batches(total: u64, per_batch: u64) -> u32 {
    total.div_ceil(per_batch.max(1)) as u32
}

/// The domain a gRPC leg's seed derives from the run's in (`grpc`).
const GRPC_SEED_DOMAIN: u64 = 0x6772_7063;

/// The transport a round trip sends over, and whether it is the first of
/// its signal's in this run: the one the ledger records and
/// `ingest.latency`/`ingest.completeness` judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Over {
    pub transport: Transport,
    pub primary: bool,
}

impl Over {
    /// The run's first transport for `signal`.
    pub(crate) fn first(ctx: &CheckCtx, signal: Signal) -> Over {
        Over {
            transport: ctx.transports(signal).first().copied().unwrap_or(Transport::Http),
            primary: true,
        }
    }

    /// The seed of what this leg sends: gRPC legs derive their own, so two
    /// legs of one run never find each other's items.
    pub(crate) fn seed(self, ctx: &CheckCtx) -> Seed {
        match self.transport {
            Transport::Http => ctx.seed,
            Transport::Grpc => Seed(ctx.seed.word(0, GRPC_SEED_DOMAIN)),
        }
    }

    /// The run id this leg's items carry (and are selected by): a gRPC
    /// leg's is the run's with `-grpc`, as Mimir's series only tell runs
    /// apart by it.
    pub(crate) fn run_id(self, ctx: &CheckCtx) -> String {
        match self.transport {
            Transport::Http => ctx.run_id.clone(),
            Transport::Grpc => format!("{}-grpc", ctx.run_id),
        }
    }

    /// The `service.name` of what this leg sends.
    pub(crate) fn service_name(self, ctx: &CheckCtx, check: &str) -> String {
        match self.transport {
            Transport::Http => ctx.service_name(check),
            Transport::Grpc => ctx.service_name(&format!("{check}.grpc")),
        }
    }

    /// The emitter of this leg, or the outcome of a target that names no
    /// endpoint for it.
    pub(crate) fn emitter(self, ctx: &CheckCtx, signal: Signal, read: &str) -> Result<OtlpEmitter, Outcome> {
        OtlpEmitter::for_target(&ctx.target, &ctx.http, signal, self.transport).ok_or_else(|| {
            let key = match self.transport {
                Transport::Http => signal.key(),
                Transport::Grpc => "ingest.otlp_grpc",
            };
            Outcome::not_configured(format!(
                "the target names no {} {} endpoint (`{key}`) or no {read} read endpoint",
                self.transport,
                signal.as_str()
            ))
        })
    }
}
