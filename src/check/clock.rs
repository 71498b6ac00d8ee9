//! Wall-clock time as the stores take it: since the unix epoch. What a
//! check sends is stamped with it, and the ranges it reads are built from it.
//!
//! Uses: nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, since the unix epoch (zero on a clock set before it).
pub(crate) fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}
