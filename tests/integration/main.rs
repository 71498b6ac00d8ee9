//! Integration tests, one binary: checks against the embedded reference
//! stack with and without faults, the compliance walk over the catalog, the
//! CLI's exit codes, and the reports.

mod browser;
mod canary;
mod cli;
mod common;
mod compliance;
mod compose;
mod correlation;
mod crates;
mod diff;
mod faults;
mod grafana;
mod grpc;
mod lint;
mod load;
mod merge;
mod misbehaving;
mod query_corpus;
mod reference_backend;
mod report;
mod sdk;
mod secrets;
mod tunnel;
