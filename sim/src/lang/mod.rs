//! The query languages the reference stack's stores parse, as strictly as
//! the real ones: LogQL (Loki), TraceQL (Tempo), PromQL and label
//! selectors (Mimir, Pyroscope). What the real lexer or parser rejects is
//! rejected here with the same message; what is valid but beyond what the
//! reference stack evaluates is refused as such, never guessed at. LogQL
//! and PromQL share one label matcher (`matcher`), as Loki and Prometheus
//! share `labels.NewMatcher`.
//!
//! Uses: `go` (through the languages).

pub mod logql;
pub mod matcher;
pub mod promql;
pub mod promql_eval;
pub mod scanner;
pub mod traceql;
