//! go-logfmt v0.6.1 (`encode.go` `MarshalKeyvals`, `writeStringKey`,
//! `writeStringValue`; `jsonstring.go` `writeQuotedString`), as Alloy's
//! `faro.receiver` writes its lines with it: pairs joined by a space; a
//! key loses every rune that is a space or control character, `=`, `"`,
//! DEL or U+FFFD, and one left empty fails the whole line
//! (`ErrInvalidKey`); a value is written bare unless it holds one of
//! those runes, and `null` is always quoted.
//!
//! Also its `Decoder` (v0.6.0 `decode.go`, as Tempo 2.6.1 reads a search's
//! `tags`): records are `bufio.Scanner` lines, and the first syntax error
//! stops the scan with its message and 1-based byte position.
//!
//! Uses: `go::json` (the escapes both write).

use super::json;

/// go-logfmt's `ErrInvalidKey`.
pub const INVALID_KEY: &str = "invalid key";

/// Runes a key drops and a value is quoted for (`keyRuneFilter`,
/// `needsQuotedValueRune`).
fn special(c: char) -> bool {
    c <= ' ' || c == '=' || c == '"' || c == '\u{7f}' || c == '\u{fffd}'
}

/// `MarshalKeyvals` of string keys and string values.
pub fn marshal_keyvals<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Result<String, &'static str> {
    let mut out = String::new();
    for (key, value) in pairs {
        let key: String = key.as_ref().chars().filter(|&c| !special(c)).collect();
        if key.is_empty() {
            return Err(INVALID_KEY);
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&key);
        out.push('=');
        push_value(&mut out, value.as_ref());
    }
    Ok(out)
}

/// `writeStringValue(w, value, true)`.
fn push_value(out: &mut String, value: &str) {
    if value == "null" {
        out.push_str("\"null\"");
        return;
    }
    if !value.chars().any(special) {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if let Some(escaped) = json::short_escape(c) {
            out.push_str(escaped);
            continue;
        }
        match c {
            '\u{fffd}' => out.push_str("\\ufffd"),
            c if c < ' ' || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Why `Decoder` stopped: a `SyntaxError` (message, position) or the
/// scanner's line limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Syntax { msg: String, pos: usize },
    TooLong,
}

/// `bufio.MaxScanTokenSize`: the longest line, newline included.
const MAX_LINE: usize = 64 * 1024;

/// The keys `ScanRecord`/`ScanKeyval` read from `input`, in order, and the
/// error that stopped it, if any: the keys before it were all read.
pub fn decode_keys(input: &[u8]) -> (Vec<Vec<u8>>, Option<DecodeError>) {
    let mut keys = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let (line, next, newline) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..], true),
            None => (rest, &rest[rest.len()..], false),
        };
        // The scanner's buffer must hold the line and its newline; a last
        // line must leave room to see the end of input.
        if line.len() + usize::from(newline) > MAX_LINE || (!newline && line.len() >= MAX_LINE) {
            return (keys, Some(DecodeError::TooLong));
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Err(e) = decode_line(line, &mut keys) {
            return (keys, Some(e));
        }
        rest = next;
    }
    (keys, None)
}

fn syntax(msg: impl Into<String>, at: usize) -> DecodeError {
    DecodeError::Syntax {
        msg: msg.into(),
        pos: at + 1,
    }
}

/// `unexpectedByte`: Go's `%q` of the byte.
fn unexpected(c: u8, at: usize) -> DecodeError {
    syntax(format!("unexpected '{}'", c as char), at)
}

/// One record's pairs, as `ScanKeyval` walks them.
fn decode_line(line: &[u8], keys: &mut Vec<Vec<u8>>) -> Result<(), DecodeError> {
    let mut pos = 0;
    loop {
        // Garbage before a key.
        match line[pos..].iter().position(|&c| c > b' ') {
            Some(p) => pos += p,
            None => return Ok(()),
        }
        let start = pos;
        while pos < line.len() && line[pos] > b' ' && line[pos] != b'=' {
            if line[pos] == b'"' {
                return Err(unexpected(b'"', pos));
            }
            pos += 1;
        }
        let key = &line[start..pos];
        if key.is_empty() {
            return Err(unexpected(b'=', pos));
        }
        if String::from_utf8_lossy(key).contains('\u{fffd}') {
            return Err(syntax(INVALID_KEY, pos));
        }
        keys.push(key.to_vec());
        if pos == line.len() || line[pos] != b'=' {
            continue;
        }
        pos += 1;
        match line.get(pos) {
            None => return Ok(()),
            Some(&c) if c <= b' ' => continue,
            Some(b'"') => pos = quoted_value_end(line, pos)?,
            Some(_) => {
                while pos < line.len() && line[pos] > b' ' {
                    if line[pos] == b'=' || line[pos] == b'"' {
                        return Err(unexpected(line[pos], pos));
                    }
                    pos += 1;
                }
            }
        }
    }
}

/// Past the quoted value opening at `open`, checked as `unquoteBytes`
/// checks one with escapes.
fn quoted_value_end(line: &[u8], open: usize) -> Result<usize, DecodeError> {
    let (mut escaped, mut has_escape) = (false, false);
    for (p, &c) in line[open + 1..].iter().enumerate() {
        if escaped {
            escaped = false;
        } else if c == b'\\' {
            (has_escape, escaped) = (true, true);
        } else if c == b'"' {
            let end = open + p + 2;
            if has_escape && !valid_escapes(&line[open + 1..end - 1]) {
                return Err(syntax("invalid quoted value", end));
            }
            return Ok(end);
        }
    }
    Err(syntax("unterminated quoted value", line.len()))
}

/// `unquoteBytes`' checks: only JSON's escapes and `\'`, `\u` with four
/// hex digits, no control characters.
fn valid_escapes(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\\' => match s.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'\'' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') if s.len() >= i + 6 && s[i + 2..i + 6].iter().all(u8::is_ascii_hexdigit) => i += 6,
                _ => return false,
            },
            c if c < b' ' => return false,
            _ => i += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// go-logfmt v0.6.1's `encode_internal_test.go`
    /// `TestWriteValueStrings` cases, then what `needsQuotedValueRune`,
    /// `writeQuotedString` and `keyRuneFilter` add (DEL, U+FFFD, `null`).
    #[test]
    fn values_and_keys_as_go_logfmt_writes_them() {
        for (value, want) in [
            ("", ""),
            ("v", "v"),
            ("=", r#""=""#),
            (" ", r#"" ""#),
            (r#"""#, r#""\"""#),
            ("\\", "\\"),
            ("\\\"", r#""\\\"""#),
            ("\n", r#""\n""#),
            ("\u{0}", r#""\u0000""#),
            ("\u{10}", r#""\u0010""#),
            ("\u{1f}", r#""\u001f""#),
            ("µ", "µ"),
            ("a\\b c", r#""a\\b c""#),
            ("\u{7f}", r#""\u007f""#),
            ("\u{fffd}", r#""\ufffd""#),
            ("null", r#""null""#),
            ("é", "é"),
        ] {
            let mut out = String::new();
            push_value(&mut out, value);
            assert_eq!(out, want, "{value:?}");
        }
        assert_eq!(
            marshal_keyvals(&[("a b", "1"), ("c=\"d", "x y")]),
            Ok(r#"ab=1 cd="x y""#.into())
        );
        assert_eq!(marshal_keyvals(&[("k", "v"), (" =", "1")]), Err(INVALID_KEY));
    }

    /// go-logfmt v0.6.0's `decode_test.go` error cases and what its
    /// decoder does around them: positions are 1-based bytes on the line.
    #[test]
    fn keys_and_errors_as_go_logfmts_decoder_reads_them() {
        let keys = |s: &str| -> Vec<String> {
            decode_keys(s.as_bytes())
                .0
                .iter()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect()
        };
        let err = |s: &[u8]| decode_keys(s).1;
        let at = |msg: &str, pos: usize| Some(DecodeError::Syntax { msg: msg.into(), pos });
        assert_eq!(keys("a=1 b c= d=\"x y\"\ne=\"\\u00e9\""), ["a", "b", "c", "d", "e"]);
        assert_eq!(err(b"a=1 b=\"\\t\" c"), None);
        assert_eq!(err(b"a=1\r\nb=2"), None);
        assert_eq!(err(b"=1"), at("unexpected '='", 1));
        assert_eq!(err(b"a=1 =2"), at("unexpected '='", 5));
        assert_eq!(err(b"a\"b=1"), at("unexpected '\"'", 2));
        assert_eq!(err(b"a=b=c"), at("unexpected '='", 4));
        assert_eq!(err(b"a=b\"c"), at("unexpected '\"'", 4));
        assert_eq!(err(b"a=\"b"), at("unterminated quoted value", 5));
        assert_eq!(err(b"a=\"\\x\""), at("invalid quoted value", 7));
        assert_eq!(err(b"a=\"\\u12\""), at("invalid quoted value", 9));
        assert_eq!(err("a=\"\\n\u{1}\"".as_bytes()), at("invalid quoted value", 8));
        assert_eq!(err(b"\xffa=1"), at(INVALID_KEY, 3));
        assert_eq!(err(b"a=1\nb=\"c"), at("unterminated quoted value", 5));
        assert_eq!(decode_keys(b"a b\n=").0, [b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(err(&vec![b'a'; MAX_LINE]), Some(DecodeError::TooLong));
        assert_eq!(err(&vec![b'a'; MAX_LINE - 1]), None);
    }
}
