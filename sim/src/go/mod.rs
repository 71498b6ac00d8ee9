//! What the stores inherit from Go and the Go libraries they are built
//! with, written once and behaving as those do: Loki, Tempo, Mimir and
//! Pyroscope print the same `strconv` quotes and `NumError`s, read the
//! same `url.ParseQuery` forms and `time.ParseDuration` durations, and
//! write the same `encoding/json`. One file per upstream package, each
//! naming the source it follows; written from Go's BSD-licensed standard
//! library and the Apache-licensed Prometheus and go-humanize sources,
//! with nothing taken from the AGPL stores themselves.
//!
//! Uses: nothing else in the crate.

pub(crate) mod fmt;
pub(crate) mod humanize;
pub(crate) mod json;
pub(crate) mod model;
pub(crate) mod regexp;
pub(crate) mod strconv;
pub(crate) mod time;
pub(crate) mod url;
