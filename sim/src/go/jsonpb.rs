//! gogo/protobuf's `jsonpb.Marshaler{}` (v1.3.2, `jsonpb/jsonpb.go`
//! `marshalObject`, `marshalValue`), the writer behind Tempo 2.6.1's
//! trace-by-id bodies (`pkg/tempopb/trace_utils.go` `MarshalToJSONV1`,
//! `modules/frontend/combiner/common.go`): fields in declaration order
//! under their JSON names, compact; with `EmitDefaults` off a zero scalar,
//! an empty string, empty bytes, an empty repeated field, a zero enum and
//! a nil message are left out, while a oneof member is written whatever
//! its value; 64-bit integers are quoted, 32-bit ones are not; float64
//! goes through `encoding/json` (`1e+21`, `2.5e-7`) except `NaN`,
//! `Infinity` and `-Infinity`, which are quoted; bytes are standard
//! base64; enums are their names (an unknown value is its bare number);
//! strings are `encoding/json`'s, HTML-safe.
//!
//! Uses: `go::json`.

use base64::Engine as _;

use super::json;

/// One message being written, field by field.
#[derive(Debug, Default)]
pub struct Message {
    out: String,
}

impl Message {
    pub fn new() -> Self {
        Message::default()
    }

    /// A field whose value is already JSON, written whatever it holds.
    pub fn raw(&mut self, name: &str, value: &str) {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        self.out.push_str(&json::string(name));
        self.out.push(':');
        self.out.push_str(value);
    }

    /// A `string` field, left out when empty.
    pub fn string(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            self.raw(name, &json::string(value));
        }
    }

    /// A `bytes` field, left out when empty.
    pub fn bytes(&mut self, name: &str, value: &[u8]) {
        if !value.is_empty() {
            self.raw(name, &bytes(value));
        }
    }

    /// A `uint32` or `fixed32` field, left out when zero.
    pub fn uint32(&mut self, name: &str, value: u32) {
        if value != 0 {
            self.raw(name, &value.to_string());
        }
    }

    /// A `uint64` or `fixed64` field, quoted, left out when zero.
    pub fn uint64(&mut self, name: &str, value: u64) {
        if value != 0 {
            self.raw(name, &format!("\"{value}\""));
        }
    }

    /// An enum field, by name, left out when zero.
    pub fn enumeration(&mut self, name: &str, value: i32, names: &[&str]) {
        if value != 0 {
            self.raw(name, &enumeration(value, names));
        }
    }

    /// A repeated field of already written values, left out when empty.
    pub fn repeated(&mut self, name: &str, values: Vec<String>) {
        if !values.is_empty() {
            self.raw(name, &format!("[{}]", values.join(",")));
        }
    }

    pub fn finish(mut self) -> String {
        if self.out.is_empty() {
            self.out.push('{');
        }
        self.out.push('}');
        self.out
    }
}

/// An `int64`, quoted.
pub fn int64(value: i64) -> String {
    format!("\"{value}\"")
}

/// A `double`: `encoding/json`'s float, or the quoted name of a
/// non-finite one.
pub fn double(value: f64) -> String {
    if value.is_nan() {
        "\"NaN\"".into()
    } else if value == f64::INFINITY {
        "\"Infinity\"".into()
    } else if value == f64::NEG_INFINITY {
        "\"-Infinity\"".into()
    } else {
        json::float(value)
    }
}

/// `bytes`: standard base64, quoted.
pub fn bytes(value: &[u8]) -> String {
    format!("\"{}\"", base64::engine::general_purpose::STANDARD.encode(value))
}

/// An enum value by its name in `names` (indexed by value), or its bare
/// number when it has none.
pub fn enumeration(value: i32, names: &[&str]) -> String {
    match usize::try_from(value).ok().and_then(|i| names.get(i)) {
        Some(name) => json::string(name),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What gogo's jsonpb wrote for these values in Tempo 2.6.1's tree
    /// (`MarshalToJSONV1` of a hand-built `tempopb.Trace`).
    #[test]
    fn values_as_jsonpb_writes_them() {
        assert_eq!(double(1.5), "1.5");
        assert_eq!(double(3.0), "3");
        assert_eq!(double(1e21), "1e+21");
        assert_eq!(double(2.5e-7), "2.5e-7");
        assert_eq!(double(f64::NAN), r#""NaN""#);
        assert_eq!(double(f64::NEG_INFINITY), r#""-Infinity""#);
        assert_eq!(int64(-7), r#""-7""#);
        assert_eq!(bytes(&[0xfb, 0xff, 1]), r#""+/8B""#);
        assert_eq!(bytes(&[]), r#""""#);
        let names = ["UNSET", "OK", "ERROR"];
        assert_eq!(enumeration(2, &names), r#""ERROR""#);
        assert_eq!(enumeration(7, &names), "7");
    }

    #[test]
    fn defaults_are_left_out() {
        let mut m = Message::new();
        m.string("name", "");
        m.uint32("flags", 0);
        m.uint64("startTimeUnixNano", 0);
        m.enumeration("kind", 0, &["UNSPECIFIED"]);
        m.repeated("events", Vec::new());
        assert_eq!(m.finish(), "{}");
        let mut m = Message::new();
        m.string("name", "<op>");
        m.uint32("flags", 257);
        m.uint64("startTimeUnixNano", 10);
        m.raw("status", "{}");
        assert_eq!(
            m.finish(),
            r#"{"name":"\u003cop\u003e","flags":257,"startTimeUnixNano":"10","status":{}}"#
        );
    }
}
