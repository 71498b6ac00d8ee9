//! Load: scenarios, rate plans and the limiter that paces them.

pub mod capacity;
pub mod ingest;
pub mod rate;
pub mod run;
pub mod scenario;
pub mod traffic;
