//! What a check is, apart from any one check: the context it is given
//! (`context`, with the run's `ledger`), the outcome it returns (`outcome`,
//! with a typed `reason`), the catalog entry that runs it under its own
//! deadline (`spec`) and the `pillar` it is about. The catalog itself is
//! `checks`; nothing here knows it.
//!
//! Uses: target, ids, query, measure.

pub(crate) mod context;
pub(crate) mod hint;
pub(crate) mod ledger;
pub(crate) mod outcome;
pub(crate) mod pillar;
pub(crate) mod reason;
pub(crate) mod spec;

pub use context::{CheckCtx, CheckSettings, TraceLookup, TransportChoice};
pub use outcome::{Outcome, Status, Verdict};
pub use pillar::Pillar;
pub use spec::CheckSpec;
