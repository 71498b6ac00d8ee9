//! `pillars bench`: the harness measuring itself against loopback sinks,
//! always beside a baseline measured in the same run.

pub mod emit;
pub mod load;
pub mod sink;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("could not start the loopback sink: {0}")]
    Sink(#[source] std::io::Error),
    #[error("the loopback sink refused a request; the benchmark stopped")]
    SinkRefused,
    #[error("goose could not run the benchmark: {0}")]
    Goose(String),
    #[error("could not open a gRPC channel to the loopback sink: {0}")]
    Grpc(String),
}

/// `part` over `whole`; 0 when nothing was measured.
pub fn ratio(part: f64, whole: f64) -> f64 {
    if whole == 0.0 { 0.0 } else { part / whole }
}
