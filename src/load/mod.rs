//! Load: scenarios, rate plans and the limiter that paces them.

pub mod rate;
pub mod scenario;
