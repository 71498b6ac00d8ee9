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
    // Bytes, not `string`: vtproto keeps invalid UTF-8 for
    // `ValidateProfile` to refuse by name.
    #[prost(bytes = "vec", repeated, tag = "6")]
    string_table: Vec<Vec<u8>>,
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
    pub facts: Facts,
    /// The sample types after the first, each with its own stacks: the
    /// ingester's head keeps one series per sample type
    /// (`pkg/phlaredb/labels/labels.go`).
    pub other_types: Vec<(String, Vec<Stack>)>,
}

/// What `ValidateProfile` looks at in the profile as received, before
/// `Normalize` (`pkg/validation/validate.go`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The decompressed size.
    pub size: usize,
    pub samples: usize,
    /// The label count of each sample.
    pub sample_labels: Vec<usize>,
    pub zero_location_id: bool,
    pub zero_function_id: bool,
    /// The names of the sample types.
    pub sample_types: Vec<String>,
    /// The first string-table entry that is not UTF-8.
    pub bad_utf8: Option<Vec<u8>>,
}

/// `pprof.RawFromBytes`' opening of a raw profile (`pkg/pprof/pprof.go`
/// `openBytes`): Go's gzip reader reads a 10-byte header first, so fewer
/// bytes are `gzip reset: EOF` (none) or `unexpected EOF`; a header that
/// is not gzip's (`1f 8b`, deflate) means plain protobuf; a gzip body
/// that does not inflate is `copy to buffer: …`.
fn open(bytes: &[u8]) -> Result<Vec<u8>, String> {
    match bytes.len() {
        0 => return Err("gzip reset: EOF".into()),
        1..10 => return Err("gzip reset: unexpected EOF".into()),
        _ => {}
    }
    if !bytes.starts_with(&[0x1f, 0x8b, 0x08]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    let mut reader = flate2::read::MultiGzDecoder::new(bytes);
    match std::io::Read::read_to_end(&mut reader, &mut out) {
        Ok(_) => Ok(out),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err("copy to buffer: unexpected EOF".into()),
        Err(e) if e.to_string().contains("checksum") => Err("copy to buffer: gzip: invalid checksum".into()),
        // Go names the byte offset of the corruption; flate2 does not.
        Err(_) => Err("copy to buffer: flate: corrupt input".into()),
    }
}

/// The plain protobuf bytes of a raw profile, gzipped or not.
pub fn plain(bytes: &[u8]) -> Result<Vec<u8>, String> {
    open(bytes)
}

/// How a field of `google.v1` (Pyroscope's copy of perftools.profiles)
/// is laid out on the wire.
#[derive(Clone, Copy)]
enum Kind {
    Varint,
    /// Repeated scalars, packed or not.
    Packed,
    Bytes,
    Message(&'static Schema),
}

/// A message's fields: number, Go field name, kind.
struct Schema {
    name: &'static str,
    fields: &'static [(i32, &'static str, Kind)],
}

use Kind::{Bytes, Message as Msg, Packed, Varint};

static VALUE_TYPE: Schema = Schema {
    name: "ValueType",
    fields: &[(1, "Type", Varint), (2, "Unit", Varint)],
};
static LABEL: Schema = Schema {
    name: "Label",
    fields: &[
        (1, "Key", Varint),
        (2, "Str", Varint),
        (3, "Num", Varint),
        (4, "NumUnit", Varint),
    ],
};
static SAMPLE: Schema = Schema {
    name: "Sample",
    fields: &[
        (1, "LocationId", Packed),
        (2, "Value", Packed),
        (3, "Label", Msg(&LABEL)),
    ],
};
static MAPPING: Schema = Schema {
    name: "Mapping",
    fields: &[
        (1, "Id", Varint),
        (2, "MemoryStart", Varint),
        (3, "MemoryLimit", Varint),
        (4, "FileOffset", Varint),
        (5, "Filename", Varint),
        (6, "BuildId", Varint),
        (7, "HasFunctions", Varint),
        (8, "HasFilenames", Varint),
        (9, "HasLineNumbers", Varint),
        (10, "HasInlineFrames", Varint),
    ],
};
static LINE: Schema = Schema {
    name: "Line",
    fields: &[(1, "FunctionId", Varint), (2, "Line", Varint)],
};
static LOCATION: Schema = Schema {
    name: "Location",
    fields: &[
        (1, "Id", Varint),
        (2, "MappingId", Varint),
        (3, "Address", Varint),
        (4, "Line", Msg(&LINE)),
        (5, "IsFolded", Varint),
    ],
};
static FUNCTION: Schema = Schema {
    name: "Function",
    fields: &[
        (1, "Id", Varint),
        (2, "Name", Varint),
        (3, "SystemName", Varint),
        (4, "Filename", Varint),
        (5, "StartLine", Varint),
    ],
};
static PROFILE: Schema = Schema {
    name: "Profile",
    fields: &[
        (1, "SampleType", Msg(&VALUE_TYPE)),
        (2, "Sample", Msg(&SAMPLE)),
        (3, "Mapping", Msg(&MAPPING)),
        (4, "Location", Msg(&LOCATION)),
        (5, "Function", Msg(&FUNCTION)),
        (6, "StringTable", Bytes),
        (7, "DropFrames", Varint),
        (8, "KeepFrames", Varint),
        (9, "TimeNanos", Varint),
        (10, "DurationNanos", Varint),
        (11, "PeriodType", Msg(&VALUE_TYPE)),
        (12, "Period", Varint),
        (13, "Comment", Packed),
        (14, "DefaultSampleType", Varint),
    ],
};

const INT_OVERFLOW: &str = "proto: integer overflow";
const INVALID_LENGTH: &str = "proto: negative length found during unmarshaling";
const UNEXPECTED_EOF: &str = "unexpected EOF";

/// A varint as vtproto reads it: at most ten 7-bit groups, the buffer's
/// end being `unexpected EOF`.
fn varint(data: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        if shift >= 64 {
            return Err(INT_OVERFLOW.into());
        }
        let Some(&b) = data.get(*at) else {
            return Err(UNEXPECTED_EOF.into());
        };
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(value);
        }
        shift += 7;
    }
}

/// A length prefix and where its bytes end, with Go's `int` overflow.
fn length_prefixed(data: &[u8], at: &mut usize) -> Result<usize, String> {
    let len = varint(data, at)? as i64;
    if len < 0 {
        return Err(INVALID_LENGTH.into());
    }
    let end = (*at as i64).checked_add(len).ok_or(INVALID_LENGTH)?;
    if end as u64 > data.len() as u64 {
        return Err(UNEXPECTED_EOF.into());
    }
    Ok(end as usize)
}

/// `protohelpers.Skip`: the length of the unknown field at the start of
/// `data`, groups included.
fn skip(data: &[u8]) -> Result<i64, String> {
    let mut at = 0usize;
    let mut depth = 0;
    while at < data.len() {
        let wire = varint(data, &mut at)?;
        let mut next = at as i64;
        match wire & 7 {
            0 => {
                varint(data, &mut at)?;
                next = at as i64;
            }
            1 => next = next.wrapping_add(8),
            2 => {
                let len = varint(data, &mut at)? as i64;
                if len < 0 {
                    return Err(INVALID_LENGTH.into());
                }
                next = (at as i64).wrapping_add(len);
            }
            3 => depth += 1,
            4 => {
                if depth == 0 {
                    return Err("proto: unexpected end of group".into());
                }
                depth -= 1;
            }
            5 => next = next.wrapping_add(4),
            other => return Err(format!("proto: illegal wireType {other}")),
        }
        if next < 0 {
            return Err(INVALID_LENGTH.into());
        }
        if depth == 0 {
            return Ok(next);
        }
        at = next as usize;
    }
    Err(UNEXPECTED_EOF.into())
}

/// The message's bytes read as vtproto's generated `UnmarshalVT` reads
/// them (`api/gen/proto/go/google/v1/profile_vtproto.pb.go`), for its
/// errors, word for word: the raw profile's first fault is what the push
/// answers.
fn check_wire(schema: &Schema, data: &[u8]) -> Result<(), String> {
    let mut at = 0;
    while at < data.len() {
        let start = at;
        let wire = varint(data, &mut at)?;
        let field = (wire >> 3) as i32;
        let wire_type = wire & 7;
        if wire_type == 4 {
            return Err(format!("proto: {}: wiretype end group for non-group", schema.name));
        }
        if field <= 0 {
            return Err(format!(
                "proto: {}: illegal tag {field} (wire type {wire})",
                schema.name
            ));
        }
        let Some(&(_, go_name, kind)) = schema.fields.iter().find(|(n, _, _)| *n == field) else {
            let len = skip(&data[start..])?;
            let end = (start as i64).checked_add(len).ok_or(INVALID_LENGTH)?;
            if end as u64 > data.len() as u64 {
                return Err(UNEXPECTED_EOF.into());
            }
            at = end as usize;
            continue;
        };
        let wrong = || format!("proto: wrong wireType = {wire_type} for field {go_name}");
        match (kind, wire_type) {
            (Varint | Packed, 0) => {
                varint(data, &mut at)?;
            }
            (Packed, 2) => {
                let end = length_prefixed(data, &mut at)?;
                while at < end {
                    varint(data, &mut at)?;
                }
            }
            (Bytes, 2) => at = length_prefixed(data, &mut at)?,
            (Msg(inner), 2) => {
                let end = length_prefixed(data, &mut at)?;
                check_wire(inner, &data[at..end])?;
                at = end;
            }
            _ => return Err(wrong()),
        }
    }
    Ok(())
}

/// Decodes a raw profile, gzipped or plain, with the errors Pyroscope's
/// `RawFromBytes` gives.
pub fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    let raw = open(bytes)?;
    check_wire(&PROFILE, &raw)?;
    let p = Profile::decode(raw.as_slice()).map_err(|e| format!("invalid pprof: {e}"))?;
    let string = |i: i64| {
        p.string_table
            .get(i as usize)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default()
    };
    let facts = Facts {
        size: raw.len(),
        samples: p.sample.len(),
        sample_labels: p.sample.iter().map(|s| s.label.len()).collect(),
        zero_location_id: p.location.iter().any(|l| l.id == 0),
        zero_function_id: p.function.iter().any(|f| f.id == 0),
        sample_types: p.sample_type.iter().map(|t| string(t.r#type)).collect(),
        bad_utf8: p.string_table.iter().find(|s| std::str::from_utf8(s).is_err()).cloned(),
    };
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
            let stack = Stack {
                frames,
                value: 0,
                labels: labels.iter().map(|l| (string(l.key), string(l.str))).collect(),
            };
            (stack, s.value.clone())
        })
        .collect::<Vec<_>>();
    // Each sample type's stacks: a sample's value at the type's index,
    // none where that is zero.
    let for_type = |i: usize| -> Vec<Stack> {
        stacks
            .iter()
            .filter_map(|(stack, values)| {
                let value = values.get(i).copied().unwrap_or(0);
                (value != 0).then(|| Stack { value, ..stack.clone() })
            })
            .collect()
    };
    let period = value_type(p.period_type.as_ref());
    let suffix = |t: Option<&ValueType>| format!("{}:{period}", value_type(t));
    Ok(Decoded {
        type_suffix: suffix(p.sample_type.first()),
        stacks: for_type(0),
        time_nanos: p.time_nanos,
        facts,
        other_types: (1..p.sample_type.len())
            .map(|i| (suffix(p.sample_type.get(i)), for_type(i)))
            .collect(),
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

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    /// `RawFromBytes`: Go's gzip reader wants a 10-byte header before it
    /// decides the body is plain protobuf.
    #[test]
    fn a_raw_profile_opens_as_pyroscope_opens_it() {
        assert_eq!(decode(b"").unwrap_err(), "gzip reset: EOF");
        assert_eq!(decode(b"\x1f\x8b\x08").unwrap_err(), "gzip reset: unexpected EOF");
        assert_eq!(decode(&[0x48, 0x01]).unwrap_err(), "gzip reset: unexpected EOF");
        let body = include_bytes!("../../tests/fixtures/reference/pprof-span-00f067aa0ba902b7.pb");
        let plain = open(body).unwrap();
        assert!(decode(&plain).is_ok());
        let zipped = gzip(&plain);
        assert_eq!(decode(&zipped).unwrap(), decode(&plain).unwrap());
        assert_eq!(
            decode(&zipped[..zipped.len() / 2]).unwrap_err(),
            "copy to buffer: unexpected EOF"
        );
        // `1f 8b` without deflate's method byte is not a gzip header.
        assert_eq!(
            decode(b"\x1f\x8bnot gzip").unwrap_err(),
            "proto: wrong wireType = 7 for field Mapping"
        );
    }

    /// vtproto's `UnmarshalVT` errors, word for word.
    #[test]
    fn bytes_that_are_not_pprof_fail_as_vtproto_fails() {
        let pad = [0x48, 0x00, 0x48, 0x00, 0x48, 0x00, 0x48, 0x00];
        let with = |tail: &[u8]| [&pad[..], tail].concat();
        for (body, want) in [
            (
                b"hello world".to_vec(),
                "proto: Profile: wiretype end group for non-group",
            ),
            (with(&[0x08, 0x01]), "proto: wrong wireType = 0 for field SampleType"),
            (with(&[0x00, 0x00]), "proto: Profile: illegal tag 0 (wire type 0)"),
            (with(&[0x32, 0x7f]), "unexpected EOF"),
            (with(&[0x7f, 0x00]), "proto: illegal wireType 7"),
            (
                with(&[0x12, 0x02, 0x18, 0x01]),
                "proto: wrong wireType = 0 for field Label",
            ),
            (with(&[0x12, 0x02, 0x1a, 0x05]), "unexpected EOF"),
            (with(&[0x68, 0xff]), "unexpected EOF"),
            (
                with(&[[0x48].as_slice(), &[0xff; 10]].concat()),
                "proto: integer overflow",
            ),
            (
                with(&[0x22, 0x02, 0x00, 0x00]),
                "proto: Location: illegal tag 0 (wire type 0)",
            ),
        ] {
            assert_eq!(decode(&body).unwrap_err(), want, "{body:02x?}");
        }
        // Unknown fields, groups included, are skipped.
        assert!(decode(&with(&[0x78, 0x05, 0x7b, 0x08, 0x01, 0x7c])).is_ok());
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
            string_table: strings.iter().map(|s| s.as_bytes().to_vec()).collect(),
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
