//! What every round trip's sending shares: its items go out in batches, in
//! order, each item stamped with the instant its batch was acknowledged;
//! a batch that fails stops the sending, and says whether the store could
//! not be reached (`error`, `unreachable`) or refused the data (`fail`,
//! `rejected`).
//!
//! Uses: check::{outcome, reason}, emit::otlp.

use std::future::Future;
use std::ops::Range;

use tokio::time::Instant;

use crate::check::outcome::Verdict;
use crate::check::reason::Shared;
use crate::emit::otlp::{Ack, EmitError};

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
