//! Building and sending synthetic telemetry to the stack.

pub mod app;
pub mod faro;
pub mod log_records;
pub mod metric_points;
pub mod otlp;
pub mod otlp_grpc;
pub mod pool;
pub mod pprof;
pub mod profile_push;
pub mod synthetic;
pub mod template;
pub mod visit;
