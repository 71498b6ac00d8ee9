//! What the stores inherit from Go and the Go libraries they are built
//! with, written once and behaving as those do: Loki, Tempo, Mimir and
//! Pyroscope print the same `strconv` quotes and `NumError`s, read the
//! same `url.ParseQuery` forms and `time.ParseDuration` durations, and
//! write the same `encoding/json`; Alloy decodes Faro payloads with
//! `encoding/json` and `time.Time` and writes their lines with go-logfmt;
//! Tempo writes traces with gogo's `jsonpb`. One file per upstream
//! package, each naming the source it follows; written from Go's
//! BSD-licensed standard library, the Apache-licensed Prometheus and
//! go-humanize sources, BSD-licensed gogo/protobuf and MIT-licensed
//! go-logfmt, with nothing taken from the AGPL stores themselves.
//!
//! Uses: nothing else in the crate.

pub(crate) mod fmt;
pub(crate) mod humanize;
pub(crate) mod json;
pub(crate) mod jsonpb;
pub(crate) mod logfmt;
pub(crate) mod model;
pub(crate) mod regexp;
pub(crate) mod strconv;
pub(crate) mod time;
pub(crate) mod url;
