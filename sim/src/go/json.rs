//! Go's `encoding/json` output (`src/encoding/json/encode.go`): strings as
//! `Marshal` writes them, HTML-safe (`<`, `>`, `&`, U+2028 and U+2029 as
//! `\u003c` …), and float64s as its `floatEncoder` writes them.
//!
//! Uses: nothing else in the crate.

use std::fmt::Write as _;

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

/// A string as Go's `encoding/json` writes it, HTML-safe.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
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

    /// Both ways of writing Go's JSON give the same text.
    #[test]
    fn strings_match_serde_json_made_html_safe() {
        for s in ["<a & b>", "\u{2028}\u{2029}", "q\"\\\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é"] {
            let serde = serde_json::to_string(s).unwrap();
            assert_eq!(string(s), escape_html(&serde), "{s:?}");
        }
    }
}
