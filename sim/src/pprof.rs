//! Decoding pprof profiles the way Pyroscope's ingest does: the body is
//! `perftools.profiles.Profile` (github.com/google/pprof `proto/profile.proto`),
//! gzipped or plain; each sample becomes a stack of function names with its
//! first value and its string labels (`span_id` links a sample to a span,
//! `shared/reference/api/06-pyroscope.md` §6.2–6.3), as the distributor's
//! `Profile.Normalize` (Pyroscope 1.10 `pkg/pprof/pprof.go`) leaves them:
//! labels without a string value (numeric ones, or the empty string at
//! index 0) are dropped, and so are samples with no value above zero.
//! Labels are kept in `LabelsByKeyValue` order (by the string-table
//! indexes of key, then value), the order the profile splitter reads.
//!
//! Uses: nothing else in the crate.

use prost::Message;

// Only the fields a flame graph needs are declared; prost skips the rest.
#[derive(Clone, PartialEq, prost::Message)]
struct Profile {
    #[prost(message, repeated, tag = "1")]
    sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    sample: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    string_table: Vec<String>,
    #[prost(int64, tag = "9")]
    time_nanos: i64,
    #[prost(message, optional, tag = "11")]
    period_type: Option<ValueType>,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
struct ValueType {
    #[prost(int64, tag = "1")]
    r#type: i64,
    #[prost(int64, tag = "2")]
    unit: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    value: Vec<i64>,
    #[prost(message, repeated, tag = "3")]
    label: Vec<Label>,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
struct Label {
    #[prost(int64, tag = "1")]
    key: i64,
    #[prost(int64, tag = "2")]
    str: i64,
    #[prost(int64, tag = "3")]
    num: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Location {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(message, repeated, tag = "4")]
    line: Vec<Line>,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
struct Line {
    #[prost(uint64, tag = "1")]
    function_id: u64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
struct Function {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(int64, tag = "2")]
    name: i64,
}

/// One sample as a flame graph sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// Function names, root first.
    pub frames: Vec<String>,
    pub value: i64,
    /// String sample labels, e.g. `span_id`, `thread_name`.
    pub labels: Vec<(String, String)>,
}

/// What the store keeps of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// `sample_type:unit:period_type:unit`, the tail of a profile type id.
    pub type_suffix: String,
    pub stacks: Vec<Stack>,
    /// 0 when the profile does not say.
    pub time_nanos: i64,
}

/// Decodes a pprof body, gzipped or plain.
pub fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out)
            .map_err(|e| format!("invalid gzip: {e}"))?;
        out
    } else {
        bytes.to_vec()
    };
    let p = Profile::decode(raw.as_slice()).map_err(|e| format!("invalid pprof: {e}"))?;
    let string = |i: i64| p.string_table.get(i as usize).cloned().unwrap_or_default();
    let value_type = |v: Option<&ValueType>| match v {
        Some(v) => format!("{}:{}", string(v.r#type), string(v.unit)),
        None => ":".into(),
    };
    let stacks = p
        .sample
        .iter()
        .filter(|s| s.value.iter().any(|v| *v > 0))
        .map(|s| {
            // Locations are leaf first, and a location's lines innermost first.
            let mut frames: Vec<String> = s
                .location_id
                .iter()
                .filter_map(|id| p.location.iter().find(|l| l.id == *id))
                .flat_map(|l| l.line.iter())
                .filter_map(|line| p.function.iter().find(|f| f.id == line.function_id))
                .map(|f| string(f.name))
                .collect();
            frames.reverse();
            let mut labels: Vec<Label> = s.label.iter().filter(|l| l.str != 0).copied().collect();
            labels.sort_by_key(|l| (l.key, l.str));
            Stack {
                frames,
                value: s.value.first().copied().unwrap_or(0),
                labels: labels.iter().map(|l| (string(l.key), string(l.str))).collect(),
            }
        })
        .collect();
    Ok(Decoded {
        type_suffix: format!(
            "{}:{}",
            value_type(p.sample_type.first()),
            value_type(p.period_type.as_ref())
        ),
        stacks,
        time_nanos: p.time_nanos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_encoders_profile_decodes() {
        // make_pprof.py's output (verified upstream with google/pprof).
        let body = include_bytes!("../../tests/fixtures/reference/pprof-span-00f067aa0ba902b7.pb");
        let decoded = decode(body).unwrap();
        assert_eq!(decoded.type_suffix, "cpu:nanoseconds:cpu:nanoseconds");
        assert_eq!(decoded.time_nanos, 1_735_689_600_000_000_000);
        assert_eq!(decoded.stacks.len(), 1);
        assert_eq!(decoded.stacks[0].frames, vec!["main", "handler"]);
        assert_eq!(
            decoded.stacks[0].labels,
            vec![("span_id".to_owned(), "00f067aa0ba902b7".to_owned())]
        );
        assert!(decode(b"\x1f\x8bnot gzip").is_err());
    }

    /// `Normalize`: numeric and empty labels go, as do samples that
    /// count nothing.
    #[test]
    fn decoding_normalizes_as_the_distributor_does() {
        let strings = [
            "",
            "cpu",
            "nanoseconds",
            "thread_name",
            "main",
            "bytes",
            "span_id",
            "00f067aa0ba902b7",
        ];
        let label = |key: i64, str: i64, num: i64| Label { key, str, num };
        let sample = |value: Vec<i64>, label: Vec<Label>| Sample {
            location_id: vec![1],
            value,
            label,
        };
        let profile = Profile {
            sample_type: vec![ValueType { r#type: 1, unit: 2 }],
            sample: vec![
                sample(
                    vec![5],
                    vec![label(6, 7, 0), label(3, 4, 0), label(5, 0, 1024), label(3, 0, 0)],
                ),
                sample(vec![0], vec![label(3, 4, 0)]),
                sample(vec![-1, 0], Vec::new()),
            ],
            location: vec![Location {
                id: 1,
                line: vec![Line { function_id: 1 }],
            }],
            function: vec![Function { id: 1, name: 4 }],
            string_table: strings.iter().map(|s| (*s).to_owned()).collect(),
            time_nanos: 0,
            period_type: None,
        };
        let decoded = decode(&profile.encode_to_vec()).unwrap();
        assert_eq!(decoded.stacks.len(), 1);
        assert_eq!(
            decoded.stacks[0].labels,
            [("thread_name", "main"), ("span_id", "00f067aa0ba902b7")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }
}
