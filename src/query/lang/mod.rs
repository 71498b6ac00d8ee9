//! The query languages the harness speaks — LogQL to Loki, PromQL to Mimir
//! (and Pyroscope's label selectors, which Pyroscope parses with the
//! Prometheus parser), TraceQL to Tempo — built from typed parts. Every
//! query pillars sends, shows in evidence or puts in an Explore link is one
//! of these values; no query text is `format!`ed elsewhere.
//!
//! Literals are quoted by the rules of each store's lexer
//! (`shared/reference/api/09-query-strings.md`): double-quoted strings take
//! only Go's escapes, regexes go into backtick raw strings, and label names
//! are checked, never pasted.
//!
//! Uses: nothing else in the crate.

pub mod configured;
pub mod logql;
pub mod promql;
mod quote;
mod selector;
pub mod traceql;

pub use quote::regex_literal;
pub use selector::{LabelName, LangError, MatchOp, Matcher};
