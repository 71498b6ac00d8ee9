//! Building and sending synthetic telemetry to the stack.

pub mod otlp;
pub mod synthetic;
pub mod template;
