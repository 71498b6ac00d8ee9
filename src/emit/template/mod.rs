//! Pre-encoded export requests: the hot path of every OTLP emitter.
//!
//! A batch is encoded once by the spec, through prost; every later batch is
//! a copy of those bytes with the fields a slot changes written in place
//! (ids, times, sequence numbers, values). No batch is built or encoded
//! message by message on the way to the collector, and a test per signal
//! holds the patched bytes to what the spec builds for the same slots.
//!
//! - `traces`: a fixed number of traces per batch; `pillars.seq` as a
//!   10-byte varint so every slot fits the same bytes.
//! - `logs`, `metrics`: one item template per *shape* (how many decimal
//!   digits and varint bytes a slot takes), the envelope's lengths written
//!   per batch: the bytes are exactly prost's.
//!
//! Uses: emit::{synthetic, log_records, metric_points}, ids.

mod logs;
mod metrics;
mod traces;
mod wire;

pub use logs::LogBatchTemplate;
pub use metrics::MetricBatchTemplate;
pub use traces::TraceBatchTemplate;
