//! Pillar round trips: per pillar, send N synthetic items through the
//! stack's ingest path, read them back three ways (found, missing,
//! undecided: `measure::ingest_clock::watch`), record the pillar's
//! ingest in the run's ledger, and return what was measured for a check
//! to judge. The round-trip checks (`checks::*_roundtrip`) judge one;
//! `ingest.latency` and `ingest.completeness` judge the ledger and run the
//! ones not run yet (`pillars`); the load markers and the canary run them
//! one item wide (`probe`).
//!
//! `lookup` and `send` hold what every round trip's reading and sending
//! share; the correlation checks use them too.
//!
//! Uses: check, emit, query, measure.

pub mod frontend;
pub mod logs;
pub(crate) mod lookup;
pub mod metrics;
pub(crate) mod pillars;
pub(crate) mod probe;
pub mod profiles;
pub(crate) mod send;
pub mod traces;
pub(crate) mod transports;
