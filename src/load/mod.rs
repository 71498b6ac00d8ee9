//! Load: scenarios, rate plans and the limiter that paces them, the
//! senders of each traffic kind (one through the OpenTelemetry SDK), the watched session they run in, the gates
//! that judge it, the capacity search built on those, and the shards a run
//! is split into across machines.

pub mod api;
pub mod capacity;
pub mod gate;
pub mod ingest;
pub mod markers;
pub mod progress;
pub mod rate;
pub mod run;
pub mod scenario;
pub mod sdk;
pub mod session;
pub mod shard;
pub mod tally;
pub mod traffic;
