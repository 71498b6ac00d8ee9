//! String literals as the stores' lexers read them. LogQL and TraceQL scan
//! with Go's `text/scanner` and unquote with `strconv.Unquote`; PromQL's
//! lexer (`lexEscape`) takes the same escapes. So a double-quoted literal
//! may hold any character but `"`, `\` and a newline as itself, and only
//! `\a \b \f \n \r \t \v \\ \"`, `\xNN`, `\uNNNN` and `\UNNNNNNNN` as
//! escapes; anything else after a backslash is a 400. A backtick string
//! takes no escapes at all and cannot hold a backtick.
//!
//! Uses: nothing else in the crate.

use std::fmt::Write as _;

/// `text` as a double-quoted literal every one of the three lexers accepts.
pub fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // NUL, other controls and the byte-order mark are errors or
            // traps for text/scanner; spelled as escapes they are plain.
            c if c.is_control() || c == '\u{feff}' => {
                let n = c as u32;
                // `\xNN` is a byte to strconv.Unquote: only ASCII fits it.
                if n < 0x80 {
                    let _ = write!(out, "\\x{n:02x}");
                } else {
                    let _ = write!(out, "\\u{n:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A regular expression as a literal: a raw backtick string, so its
/// backslashes stay as they are, unless it holds a backtick, or a control
/// character a raw string cannot carry (text/scanner refuses a NUL
/// anywhere).
pub fn regex_quoted(pattern: &str) -> String {
    if pattern.contains(|c: char| c == '`' || c.is_control() || c == '\u{feff}') {
        double_quoted(pattern)
    } else {
        format!("`{pattern}`")
    }
}

/// `text` as a regular expression that matches exactly it, in the syntax
/// of Go's RE2 (`regexp/syntax`): only RE2's own operators are escaped.
pub fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_quoted_uses_only_go_escapes() {
        assert_eq!(double_quoted("a-b"), r#""a-b""#);
        assert_eq!(double_quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(double_quoted("a\nb\tc\u{0}"), r#""a\nb\tc\x00""#);
        assert_eq!(double_quoted("ünï ☃"), "\"ünï ☃\"");
        assert_eq!(double_quoted("\u{feff}\u{2028}\u{85}"), "\"\\ufeff\u{2028}\\u0085\"");
    }

    #[test]
    fn regexes_go_raw_unless_they_hold_a_backtick() {
        assert_eq!(regex_quoted(r"(.+/)?a\.b"), r"`(.+/)?a\.b`");
        assert_eq!(regex_quoted(r"a`b\."), r#""a`b\\.""#);
        assert_eq!(regex_quoted("a\u{0}b"), r#""a\x00b""#);
    }

    #[test]
    fn regex_literal_escapes_re2_operators_only() {
        assert_eq!(regex_literal("pillars-logs-1a2b"), "pillars-logs-1a2b");
        assert_eq!(regex_literal("a.b/c(d)"), r"a\.b/c\(d\)");
        let re = regex::Regex::new(&format!("^{}$", regex_literal(r"x.y+z\ `q` [1]"))).unwrap();
        assert!(re.is_match(r"x.y+z\ `q` [1]"));
        assert!(!re.is_match("xzy+z"));
    }
}
