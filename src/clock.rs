//! Wall-clock time as the stores take it: since the unix epoch. What the
//! harness sends is stamped with it, and the ranges it reads are built
//! from it.
//!
//! Uses: nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, since the unix epoch (zero on a clock set before it).
pub fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Now in nanoseconds since the epoch; at least 1, which OTLP reads as set.
pub fn unix_nanos() -> u64 {
    (unix_now().as_nanos() as u64).max(1)
}
