//! Go's `encoding/json` (Go 1.22–1.25, without `GOEXPERIMENT=jsonv2`).
//!
//! Output (`src/encoding/json/encode.go`): strings as `Marshal` writes
//! them, HTML-safe (`<`, `>`, `&`, U+2028 and U+2029 as `\u003c` …), and
//! float64s as its `floatEncoder` writes them.
//!
//! Input (`decode.go`, `scanner.go`, `stream.go`): `Decoder.Decode` reads
//! the first JSON value of a body and ignores what follows; a body with
//! nothing but space is `EOF`, one that ends inside the value `unexpected
//! EOF`, and a syntax error is the scanner's `invalid character 'x' …`.
//! `Unmarshal` then stores the value into Go types as `decodeState` does:
//! object keys match field names exactly, else case-insensitively; `null`
//! leaves strings, numbers, bools and structs as they are and empties
//! maps, slices and pointers; a value of the wrong kind is skipped and
//! the first such `UnmarshalTypeError` is returned once decoding ends
//! (`json: cannot unmarshal string into Go struct field Browser.meta.browser.mobile
//! of type bool`, the struct holding the field, then the path of field
//! names from the root, map keys and slice indexes left out); an
//! `UnmarshalJSON` error (a `time.Time`) stops decoding at once and is
//! returned as it is. Strings are unescaped with invalid UTF-8 and
//! unpaired surrogates turned into U+FFFD.
//!
//! Uses: `go::strconv` (quoting a character in a syntax error).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;

use super::strconv;

/// What `Marshal` writes instead of a character its HTML-safe mode
/// escapes; serde_json writes these as they are.
fn html_escape(c: char) -> Option<&'static str> {
    Some(match c {
        '<' => "\\u003c",
        '>' => "\\u003e",
        '&' => "\\u0026",
        '\u{2028}' => "\\u2028",
        '\u{2029}' => "\\u2029",
        _ => return None,
    })
}

/// serde_json's output made Go's: the HTML-safe escapes, which (outside
/// strings) never occur in JSON, so replacing them is safe. serde_json
/// already escapes everything else as Go does.
pub fn escape_html(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match html_escape(c) {
            Some(escaped) => out.push_str(escaped),
            None => out.push(c),
        }
    }
    out
}

/// The two-character escapes `encodeState.string` writes that go-logfmt's
/// `writeQuotedString`, a copy of an older one, writes too.
pub(crate) fn short_escape(c: char) -> Option<&'static str> {
    Some(match c {
        '"' => "\\\"",
        '\\' => "\\\\",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        _ => return None,
    })
}

/// A string as Go's `encoding/json` writes it, HTML-safe.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if let Some(escaped) = short_escape(c) {
            out.push_str(escaped);
            continue;
        }
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => match html_escape(c) {
                Some(escaped) => out.push_str(escaped),
                None => out.push(c),
            },
        }
    }
    out.push('"');
    out
}

/// A float64 as Go's `encoding/json` writes it: the shortest digits, in
/// exponent form below 1e-6 and from 1e21 on (`1e+21`, `2.5e-7`).
pub fn float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{}", exp.abs());
    }
    format!("{f}")
}

// ---------------------------------------------------------------------------
// Decoding

/// A JSON value as the decoder scanned it, and where it lies in the input
/// (what an `UnmarshalJSON` method is given).
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: Kind,
    pub raw: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    /// The literal as written (`1e3`, `-0`).
    Number(String),
    /// Unescaped.
    String(String),
    Array(Vec<Value>),
    /// Keys unescaped, in input order, repeats kept.
    Object(Vec<(String, Value)>),
}

impl Kind {
    /// How an `UnmarshalTypeError` names the JSON value.
    fn what(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "bool",
            Kind::Number(_) => "number",
            Kind::String(_) => "string",
            Kind::Array(_) => "array",
            Kind::Object(_) => "object",
        }
    }
}

/// Why scanning stopped: a syntax error, or the input ran out.
enum Stop {
    Syntax(String),
    Eof,
}

/// `quoteChar`: the byte as a rune, quoted with single quotes.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".into(),
        b'"' => "'\"'".into(),
        c => {
            let quoted = strconv::quote(&char::from(c).to_string());
            format!("'{}'", &quoted[1..quoted.len() - 1])
        }
    }
}

fn invalid(c: u8, context: &str) -> Stop {
    Stop::Syntax(format!("invalid character {} {context}", quote_char(c)))
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Result<u8, Stop> {
        self.b.get(self.i).copied().ok_or(Stop::Eof)
    }

    fn skip_space(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    /// The value that starts here, after any space.
    fn value(&mut self) -> Result<Value, Stop> {
        self.skip_space();
        let start = self.i;
        let kind = match self.peek()? {
            b'{' => self.object()?,
            b'[' => self.array()?,
            b'"' => Kind::String(self.string()?),
            b'-' | b'0'..=b'9' => Kind::Number(self.number()?),
            b't' => self.literal("true", Kind::Bool(true))?,
            b'f' => self.literal("false", Kind::Bool(false))?,
            b'n' => self.literal("null", Kind::Null)?,
            c => return Err(invalid(c, "looking for beginning of value")),
        };
        Ok(Value {
            kind,
            raw: start..self.i,
        })
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Kind, Stop> {
        for expected in word.bytes() {
            let c = self.peek()?;
            if c != expected {
                return Err(invalid(
                    c,
                    &format!("in literal {word} (expecting {})", quote_char(expected)),
                ));
            }
            self.i += 1;
        }
        Ok(kind)
    }

    fn object(&mut self) -> Result<Kind, Stop> {
        self.i += 1;
        let mut members = Vec::new();
        self.skip_space();
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(Kind::Object(members));
        }
        loop {
            self.skip_space();
            let c = self.peek()?;
            if c != b'"' {
                return Err(invalid(c, "looking for beginning of object key string"));
            }
            let key = self.string()?;
            self.skip_space();
            let c = self.peek()?;
            if c != b':' {
                return Err(invalid(c, "after object key"));
            }
            self.i += 1;
            members.push((key, self.value()?));
            self.skip_space();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Ok(Kind::Object(members));
                }
                c => return Err(invalid(c, "after object key:value pair")),
            }
        }
    }

    fn array(&mut self) -> Result<Kind, Stop> {
        self.i += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek()? == b']' {
            self.i += 1;
            return Ok(Kind::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_space();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Ok(Kind::Array(items));
                }
                c => return Err(invalid(c, "after array element")),
            }
        }
    }

    /// A string literal, unescaped as `unquoteBytes` does.
    fn string(&mut self) -> Result<String, Stop> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        let mut pending_high: Option<u16> = None;
        let push_rune = |out: &mut Vec<u8>, c: char| {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        };
        loop {
            let c = self.peek()?;
            self.i += 1;
            if c != b'\\' && pending_high.take().is_some() {
                push_rune(&mut out, '\u{fffd}');
            }
            match c {
                b'"' => return Ok(lossy(&out)),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    let unit = match e {
                        b'"' | b'\\' | b'/' => Some(u16::from(e)),
                        b'b' => Some(0x8),
                        b'f' => Some(0xc),
                        b'n' => Some(0xa),
                        b'r' => Some(0xd),
                        b't' => Some(0x9),
                        b'u' => {
                            let mut v: u16 = 0;
                            for _ in 0..4 {
                                let h = self.peek()?;
                                let d = (h as char)
                                    .to_digit(16)
                                    .ok_or_else(|| invalid(h, "in \\u hexadecimal character escape"))?;
                                v = v * 16 + d as u16;
                                self.i += 1;
                            }
                            // A \u escape: pair surrogates, as utf16.DecodeRune.
                            match (pending_high.take(), v) {
                                (Some(high), 0xdc00..=0xdfff) => {
                                    let c = 0x10000 + ((u32::from(high) - 0xd800) << 10) + (u32::from(v) - 0xdc00);
                                    push_rune(&mut out, char::from_u32(c).unwrap_or('\u{fffd}'));
                                }
                                (high, 0xd800..=0xdbff) => {
                                    if high.is_some() {
                                        push_rune(&mut out, '\u{fffd}');
                                    }
                                    pending_high = Some(v);
                                }
                                (high, v) => {
                                    if high.is_some() {
                                        push_rune(&mut out, '\u{fffd}');
                                    }
                                    push_rune(&mut out, char::from_u32(u32::from(v)).unwrap_or('\u{fffd}'));
                                }
                            }
                            None
                        }
                        e => return Err(invalid(e, "in string escape code")),
                    };
                    if let Some(unit) = unit {
                        if pending_high.take().is_some() {
                            push_rune(&mut out, '\u{fffd}');
                        }
                        out.push(unit as u8);
                    }
                }
                c if c < 0x20 => return Err(invalid(c, "in string literal")),
                c => out.push(c),
            }
        }
    }

    /// A number literal as the scanner's number states read it.
    fn number(&mut self) -> Result<String, Stop> {
        let start = self.i;
        let digits = |s: &mut Self| {
            while s.b.get(s.i).is_some_and(u8::is_ascii_digit) {
                s.i += 1;
            }
        };
        if self.peek()? == b'-' {
            self.i += 1;
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(invalid(c, "in numeric literal"));
            }
        }
        if self.peek()? == b'0' {
            self.i += 1;
        } else {
            digits(self);
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(invalid(c, "after decimal point in numeric literal"));
            }
            digits(self);
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek()?, b'+' | b'-') {
                self.i += 1;
            }
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(invalid(c, "in exponent of numeric literal"));
            }
            digits(self);
        }
        Ok(String::from_utf8_lossy(&self.b[start..self.i]).into_owned())
    }
}

/// Bytes as text, each byte of an invalid UTF-8 sequence becoming U+FFFD
/// (`utf8.DecodeRune`'s width-1 `RuneError`).
fn lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push('\u{fffd}');
        }
    }
    out
}

/// `json.NewDecoder(body).Decode(&v)`'s reading: the first value of the
/// body, its errors as Go's `Error()` texts.
pub fn decode(data: &[u8]) -> Result<Value, String> {
    let mut scanner = Scanner { b: data, i: 0 };
    scanner.skip_space();
    if scanner.i == data.len() {
        return Err("EOF".into());
    }
    // A bare number at the very end is complete; one the input cuts
    // short (`1.`, `-`) is `unexpected EOF`, as the decoder's probe finds.
    scanner.value().map_err(|stop| match stop {
        Stop::Syntax(msg) => msg,
        Stop::Eof => "unexpected EOF".into(),
    })
}

/// What a field's decoder returns: `Err` is an `UnmarshalJSON` failure,
/// which stops decoding.
pub type Fatal = Result<(), String>;

/// `decodeState`'s bookkeeping while a value is stored into Go types:
/// the first type error, and where in the value the decoder is.
#[derive(Debug, Default)]
pub struct Unmarshal {
    saved: Option<String>,
    /// JSON names of the fields from the root.
    fields: Vec<&'static str>,
    /// The struct holding the innermost field.
    strukt: Option<&'static str>,
}

impl Unmarshal {
    pub fn new() -> Self {
        Unmarshal::default()
    }

    /// The saved type error, once the whole value has been stored.
    pub fn finish(self) -> Result<(), String> {
        self.saved.map_or(Ok(()), Err)
    }

    /// An `UnmarshalTypeError` with the decoder's context; only the first
    /// is kept.
    fn mismatch(&mut self, value: &str, go_type: &str) {
        if self.saved.is_some() {
            return;
        }
        self.saved = Some(match self.strukt {
            Some(strukt) => format!(
                "json: cannot unmarshal {value} into Go struct field {strukt}.{} of type {go_type}",
                self.fields.join(".")
            ),
            None => format!("json: cannot unmarshal {value} into Go value of type {go_type}"),
        });
    }

    /// A `string`-kinded value (`go_type` names it: `string`,
    /// `payload.LogLevel`). Scalars never fail decoding (a mismatch is
    /// saved), but answer `Fatal` so that every field decodes alike.
    pub fn string(&mut self, v: &Value, out: &mut String, go_type: &str) -> Fatal {
        match &v.kind {
            Kind::Null => {}
            Kind::String(s) => out.clone_from(s),
            other => self.mismatch(other.what(), go_type),
        }
        Ok(())
    }

    pub fn bool(&mut self, v: &Value, out: &mut bool) -> Fatal {
        match &v.kind {
            Kind::Null => {}
            Kind::Bool(b) => *out = *b,
            other => self.mismatch(other.what(), "bool"),
        }
        Ok(())
    }

    /// An `int` (64-bit): a number that is not an integer in range is
    /// `number <literal>`.
    pub fn int(&mut self, v: &Value, out: &mut i64) -> Fatal {
        match &v.kind {
            Kind::Null => {}
            Kind::Number(n) => match n.parse::<i64>() {
                Ok(i) => *out = i,
                Err(_) => self.mismatch(&format!("number {n}"), "int"),
            },
            other => self.mismatch(other.what(), "int"),
        }
        Ok(())
    }

    /// A `float64`: a number out of its range is `number <literal>`.
    pub fn float64(&mut self, v: &Value, out: &mut f64) -> Fatal {
        match &v.kind {
            Kind::Null => {}
            Kind::Number(n) => match n.parse::<f64>() {
                Ok(f) if f.is_finite() => *out = f,
                _ => self.mismatch(&format!("number {n}"), "float64"),
            },
            other => self.mismatch(other.what(), "float64"),
        }
        Ok(())
    }

    /// A `map[string]T`: `null` empties it, an object adds to it, each
    /// entry decoded from `T`'s zero value.
    pub fn map<T: Default>(
        &mut self,
        v: &Value,
        out: &mut BTreeMap<String, T>,
        go_type: &str,
        mut elem: impl FnMut(&mut Self, &Value, &mut T) -> Fatal,
    ) -> Fatal {
        match &v.kind {
            Kind::Null => out.clear(),
            Kind::Object(members) => {
                for (key, value) in members {
                    let mut e = T::default();
                    elem(self, value, &mut e)?;
                    out.insert(key.clone(), e);
                }
            }
            other => self.mismatch(other.what(), go_type),
        }
        Ok(())
    }

    /// A slice: `null` empties it; an array is decoded element by element
    /// into what the slice already holds, then the slice is cut to it.
    pub fn slice<T: Default>(
        &mut self,
        v: &Value,
        out: &mut Vec<T>,
        go_type: &str,
        mut elem: impl FnMut(&mut Self, &Value, &mut T) -> Fatal,
    ) -> Fatal {
        match &v.kind {
            Kind::Null => out.clear(),
            Kind::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i == out.len() {
                        out.push(T::default());
                    }
                    elem(self, item, &mut out[i])?;
                }
                out.truncate(items.len());
            }
            other => self.mismatch(other.what(), go_type),
        }
        Ok(())
    }

    /// A struct named `name` (`go_type` as `reflect.Type.String` spells
    /// it) with fields by JSON name; `field` decodes the one at an index.
    /// Unknown keys are ignored.
    pub fn object(
        &mut self,
        v: &Value,
        name: &'static str,
        go_type: &str,
        fields: &[&'static str],
        mut field: impl FnMut(&mut Self, usize, &Value) -> Fatal,
    ) -> Fatal {
        let members = match &v.kind {
            Kind::Null => return Ok(()),
            Kind::Object(members) => members,
            other => {
                self.mismatch(other.what(), go_type);
                return Ok(());
            }
        };
        for (key, value) in members {
            let index = fields
                .iter()
                .position(|f| f == key)
                .or_else(|| fields.iter().position(|f| fold(f) == fold(key)));
            let Some(index) = index else { continue };
            let (depth, strukt) = (self.fields.len(), self.strukt);
            self.fields.push(fields[index]);
            self.strukt = Some(name);
            field(self, index, value)?;
            self.fields.truncate(depth);
            self.strukt = strukt;
        }
        Ok(())
    }
}

/// `foldName`: ASCII letters upper-cased, other runes to the smallest of
/// their simple case folds, which for the letters an ASCII name can hold
/// are `ſ` (to `S`) and the Kelvin sign (to `K`).
fn fold(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '\u{17f}' => 'S',
            '\u{212a}' => 'K',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the Loki exporter's tests pinned.
    #[test]
    fn json_as_go() {
        assert_eq!(string("<a & b>\u{2028}"), r#""\u003ca \u0026 b\u003e\u2028""#);
        assert_eq!(float(1.0), "1");
        assert_eq!(float(1.1), "1.1");
        assert_eq!(float(1e21), "1e+21");
        assert_eq!(float(2.5e-7), "2.5e-7");
        assert_eq!(float(0.1 + 0.2), "0.30000000000000004");
    }

    /// What Go's `Decoder.Decode` answered for these bodies.
    #[test]
    fn decoder_errors_as_go() {
        for (body, want) in [
            ("", "EOF"),
            ("  ", "EOF"),
            ("{\"logs\":[", "unexpected EOF"),
            ("{\"a\" 1}", "invalid character '1' after object key"),
            (
                "{\"a\":1,}",
                "invalid character '}' looking for beginning of object key string",
            ),
            ("{\"a\":tru}", "invalid character '}' in literal true (expecting 'e')"),
            (r#"{"a":"\x"}"#, "invalid character 'x' in string escape code"),
            (
                r#"{"a":"\u12G4"}"#,
                "invalid character 'G' in \\u hexadecimal character escape",
            ),
            ("{\"a\":01}", "invalid character '1' after object key:value pair"),
            (
                "{\"a\":1.}",
                "invalid character '}' after decimal point in numeric literal",
            ),
            ("{\"a\":1e}", "invalid character '}' in exponent of numeric literal"),
            ("{\"a\":[1 2]}", "invalid character '2' after array element"),
            ("{\"a\":\"line\nbreak\"}", "invalid character '\\n' in string literal"),
            ("[1,]", "invalid character ']' looking for beginning of value"),
            ("\u{feff}{}", "invalid character 'ï' looking for beginning of value"),
        ] {
            assert_eq!(decode(body.as_bytes()).err().as_deref(), Some(want), "{body:?}");
        }
        // The first value is read; what follows it is not.
        assert!(decode(b"{} trailing").is_ok());
        assert!(decode(b"{\"a\":1} {").is_ok());
    }

    #[test]
    fn type_errors_name_the_struct_and_the_field_path() {
        let value = decode(br#"{"meta":{"browser":{"mobile":"yes"}},"n":[1.5]}"#).unwrap();
        let mut u = Unmarshal::new();
        let mut mobile = false;
        u.object(&value, "Payload", "payload.Payload", &["meta"], |u, _, v| {
            u.object(v, "Meta", "payload.Meta", &["browser"], |u, _, v| {
                u.object(v, "Browser", "payload.Browser", &["mobile"], |u, _, v| {
                    u.bool(v, &mut mobile)
                })
            })
        })
        .unwrap();
        assert_eq!(
            u.finish(),
            Err("json: cannot unmarshal string into Go struct field Browser.meta.browser.mobile of type bool".into())
        );
        let mut u = Unmarshal::new();
        let mut n = 0;
        u.int(&decode(b"1.5").unwrap(), &mut n).unwrap();
        assert_eq!(
            u.finish(),
            Err("json: cannot unmarshal number 1.5 into Go value of type int".into())
        );
    }

    /// Both ways of writing Go's JSON give the same text.
    #[test]
    fn strings_match_serde_json_made_html_safe() {
        for s in ["<a & b>", "\u{2028}\u{2029}", "q\"\\\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é"] {
            let serde = serde_json::to_string(s).unwrap();
            assert_eq!(string(s), escape_html(&serde), "{s:?}");
        }
    }
}
