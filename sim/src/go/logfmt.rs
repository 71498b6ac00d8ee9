//! go-logfmt v0.6.1 (`encode.go` `MarshalKeyvals`, `writeStringKey`,
//! `writeStringValue`; `jsonstring.go` `writeQuotedString`), as Alloy's
//! `faro.receiver` writes its lines with it: pairs joined by a space; a
//! key loses every rune that is a space or control character, `=`, `"`,
//! DEL or U+FFFD, and one left empty fails the whole line
//! (`ErrInvalidKey`); a value is written bare unless it holds one of
//! those runes, and `null` is always quoted.
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
}
