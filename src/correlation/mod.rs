//! The correlation machinery the correlation checks (`checks::correlation`)
//! share: the synthetic frontend sessions they follow through the app and
//! the backend span they start from (`session`), the datasources'
//! correlation settings and how a check that reads them starts
//! (`settings`), and Grafana's links rebuilt from those settings (`links`).
//!
//! Uses: check, roundtrip::{lookup, send}, emit, query, measure.

pub mod links;
pub(crate) mod session;
pub mod settings;
pub mod waterfall;
