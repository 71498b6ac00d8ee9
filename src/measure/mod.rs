//! Measuring what the stack does: write-to-queryable latency, latency
//! histograms, and the one polling helper.

pub mod ingest_clock;
pub mod latency;
pub mod memory;
