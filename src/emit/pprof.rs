//! pprof profiles (`perftools.profiles.Profile`), written as prost structs
//! from the public profile.proto, and the synthetic CPU profiles the
//! profiles round trip and span profiles send: sample type and period
//! `cpu`/`nanoseconds`, so Pyroscope's profile type is
//! `process_cpu:cpu:nanoseconds:cpu:nanoseconds`; a `span_id` sample label
//! links a sample to a span (`shared/reference/api/06-pyroscope.md` §6.2–6.3).
//!
//! Uses: ids.

use std::io::Write;

use prost::Message;

use crate::ids::SpanId;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    pub period: i64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct ValueType {
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Leaf first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Label {
    #[prost(int64, tag = "1")]
    pub key: i64,
    #[prost(int64, tag = "2")]
    pub str: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Line {
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    #[prost(int64, tag = "2")]
    pub line: i64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Function {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(int64, tag = "2")]
    pub name: i64,
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    #[prost(int64, tag = "4")]
    pub filename: i64,
}

/// One sample as a flame graph sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// Function names, root first.
    pub frames: Vec<String>,
    pub value: i64,
    /// Sample labels, e.g. `span_id`.
    pub labels: Vec<(String, String)>,
}

/// The profile type every synthetic profile has.
pub const PROFILE_TYPE: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
/// CPU time one synthetic sample stands for.
pub const SAMPLE_NANOS: i64 = 20_000_000;

impl Profile {
    fn string(&self, index: i64) -> &str {
        self.string_table.get(index as usize).map(String::as_str).unwrap_or("")
    }

    /// Each sample's stack, root first, as function names, with its first
    /// value and its labels.
    pub fn stacks(&self) -> Vec<Stack> {
        self.sample
            .iter()
            .map(|s| {
                let mut frames: Vec<String> = s
                    .location_id
                    .iter()
                    .filter_map(|id| self.location.iter().find(|l| l.id == *id))
                    .flat_map(|l| l.line.iter().rev())
                    .filter_map(|line| self.function.iter().find(|f| f.id == line.function_id))
                    .map(|f| self.string(f.name).to_owned())
                    .collect();
                frames.reverse();
                let labels = s
                    .label
                    .iter()
                    .map(|l| (self.string(l.key).to_owned(), self.string(l.str).to_owned()))
                    .collect();
                Stack {
                    frames,
                    value: s.value.first().copied().unwrap_or(0),
                    labels,
                }
            })
            .collect()
    }

    /// The `sample_type:unit:period_type:unit` part of a profile type id.
    pub fn type_suffix(&self) -> String {
        let vt = |v: Option<&ValueType>| {
            v.map(|v| format!("{}:{}", self.string(v.r#type), self.string(v.unit)))
                .unwrap_or_else(|| ":".into())
        };
        format!("{}:{}", vt(self.sample_type.first()), vt(self.period_type.as_ref()))
    }
}

/// Builds a CPU profile whose one sample is the stack `frames` (root first)
/// with `SAMPLE_NANOS`, labelled `span_id` when given.
pub fn cpu_profile(frames: &[&str], span_id: Option<SpanId>, time_nanos: i64, filename: &str) -> Profile {
    let mut strings: Vec<String> = vec![String::new(), "cpu".into(), "nanoseconds".into()];
    let index = |s: &str, strings: &mut Vec<String>| -> i64 {
        match strings.iter().position(|x| x == s) {
            Some(i) => i as i64,
            None => {
                strings.push(s.to_owned());
                (strings.len() - 1) as i64
            }
        }
    };
    let names: Vec<i64> = frames.iter().map(|f| index(f, &mut strings)).collect();
    let label = span_id.map(|id| {
        let key = index("span_id", &mut strings);
        let value = index(&id.to_string(), &mut strings);
        Label { key, str: value }
    });
    let file = index(filename, &mut strings);
    let cpu = ValueType { r#type: 1, unit: 2 };
    let ids = 1..=frames.len() as u64;
    Profile {
        sample_type: vec![cpu],
        sample: vec![Sample {
            location_id: ids.clone().rev().collect(),
            value: vec![SAMPLE_NANOS],
            label: label.into_iter().collect(),
        }],
        location: ids
            .clone()
            .map(|id| Location {
                id,
                line: vec![Line {
                    function_id: id,
                    line: 10 * id as i64,
                }],
            })
            .collect(),
        function: ids
            .zip(&names)
            .map(|(id, &name)| Function {
                id,
                name,
                system_name: name,
                filename: file,
            })
            .collect(),
        string_table: strings,
        time_nanos,
        duration_nanos: 10_000_000_000,
        period_type: Some(cpu),
        period: 10_000_000,
    }
}

/// The gzipped encoding Pyroscope's push and ingest APIs take.
pub fn gzip(profile: &Profile) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(&profile.encode_to_vec())
        .expect("writing to memory succeeds");
    encoder.finish().expect("writing to memory succeeds")
}

/// Decodes a pprof body, gzipped or plain.
pub fn decode(bytes: &[u8]) -> Result<Profile, String> {
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out)
            .map_err(|e| format!("invalid gzip: {e}"))?;
        out
    } else {
        bytes.to_vec()
    };
    Profile::decode(raw.as_slice()).map_err(|e| format!("invalid pprof: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_matches_the_reference_encoder_byte_for_byte() {
        // tests/fixtures/reference/pprof-span-*.pb is make_pprof.py's output
        // (verified upstream with google/pprof), un-gzipped.
        let expected = include_bytes!("../../tests/fixtures/reference/pprof-span-00f067aa0ba902b7.pb");
        let span: SpanId = "00f067aa0ba902b7".parse().unwrap();
        let mut profile = cpu_profile(
            &["main", "handler"],
            Some(span),
            1_735_689_600_000_000_000,
            "harness.py",
        );
        // make_pprof.py lists `service_name` last in its string table.
        profile.string_table.push("service_name".into());
        assert_eq!(profile.encode_to_vec(), expected.to_vec());
    }

    #[test]
    fn stacks_read_back_root_first_with_labels() {
        let span: SpanId = "00f067aa0ba902b7".parse().unwrap();
        let profile = decode(&gzip(&cpu_profile(&["main", "handler", "leaf"], Some(span), 1, "x.py"))).unwrap();
        let stacks = profile.stacks();
        assert_eq!(stacks[0].frames, vec!["main", "handler", "leaf"]);
        assert_eq!(stacks[0].value, SAMPLE_NANOS);
        assert_eq!(
            stacks[0].labels,
            vec![("span_id".to_owned(), "00f067aa0ba902b7".to_owned())]
        );
        assert_eq!(profile.type_suffix(), "cpu:nanoseconds:cpu:nanoseconds");
    }
}
