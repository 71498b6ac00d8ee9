//! The query languages the reference stack's stores parse, as strictly as
//! the real ones: LogQL (Loki), TraceQL (Tempo), PromQL and label
//! selectors (Mimir, Pyroscope). What the real lexer or parser rejects is
//! rejected here with the same message; what is valid but beyond what the
//! reference stack evaluates is refused as such, never guessed at.
//!
//! Uses: nothing else in the crate.

pub mod logql;
pub mod promql;
pub mod scanner;
pub mod traceql;
