//! Go's `strconv` (Go 1.22–1.23, `src/strconv/{quote.go,atoi.go,atof.go}`)
//! as the stores' parsers and messages use it: `Quote`, `QuoteRune` and
//! `IsPrint`; `Unquote` and Prometheus' `strutil.Unquote`, a fork of it;
//! `ParseInt` and `Atoi` with `NumError`'s texts; `ParseFloat`; and
//! `FormatFloat(v, 'f', -1, 64)` and `FormatFloat(v, 'g', -1, 64)`.
//!
//! Uses: nothing else in the crate.

use std::fmt;

// ---------------------------------------------------------------------------
// Quoting

/// `strconv.IsPrint` without Go's tables: the ASCII graphic characters and
/// the space; beyond ASCII, everything but control and white-space
/// characters, the format characters, private-use planes and
/// noncharacters listed here. Unassigned code points, which Go does not
/// print, pass as printable.
pub fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(u, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
            | 0x202a..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xfffe | 0xffff
            | 0xe000..=0xf8ff | 0xe0000..=0xe007f)
        || u >= 0xf0000)
}

/// `strconv.Quote`, Go's `%q` of a string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// `strconv.QuoteRune`, Go's `%q` of a rune; `None` is Go's `eof` (-1),
/// which is not a valid rune and prints as U+FFFD.
pub fn quote_rune(c: Option<char>) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c.unwrap_or('\u{FFFD}'), '\'');
    out.push('\'');
    out
}

/// `appendEscapedRune`.
fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if is_print(c) => out.push(c),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

// ---------------------------------------------------------------------------
// Unquoting

/// What a `\u` or `\U` escape naming a surrogate half becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Surrogates {
    /// `strconv.UnquoteChar`: invalid syntax (`utf8.ValidRune`).
    Rejected,
    /// Prometheus' `strutil`, forked from an older `strconv` that only
    /// checked `utf8.MaxRune`: U+FFFD, as `utf8.EncodeRune` writes it.
    Replaced,
}

/// `strconv.Unquote` for `"…"` and `` `…` `` literals (what Go's
/// `text/scanner` returns as strings; `'…'` is not handled); the value is
/// bytes, as a Go string may hold any (`"\x80"`). `None` is its only
/// error, `invalid syntax`. Raw strings drop their carriage returns.
pub fn unquote(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() < 2 {
        return None;
    }
    let quote = b[0];
    let end = b[1..].iter().position(|&c| c == quote)? + 2;
    match quote {
        b'`' => {
            if end != b.len() {
                return None;
            }
            Some(b[1..end - 1].iter().copied().filter(|&c| c != b'\r').collect())
        }
        b'"' => {
            if !b[..end].contains(&b'\\') && !b[..end].contains(&b'\n') {
                return (end == b.len()).then(|| b[1..end - 1].to_vec());
            }
            let mut out = Vec::new();
            let mut rest = &b[1..];
            while let Some(&c) = rest.first()
                && c != quote
            {
                if c == b'\n' {
                    return None;
                }
                rest = unquote_char(rest, quote, Surrogates::Rejected, &mut out)?;
            }
            match rest {
                [q] if *q == quote => Some(out),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Prometheus' `strutil.Unquote`, which PromQL and LogQL strings go
/// through: Go's `strconv.Unquote` with the single-quote special case
/// removed (`'…'` holds a string like `"…"`), and a `\u`/`\U` surrogate
/// half read as U+FFFD instead of rejected. It is kept apart from
/// [`unquote`] because the two differ exactly there. `None` is its only
/// error, `invalid syntax`; bytes that are not UTF-8 (from `\x` and octal
/// escapes) become U+FFFD.
pub fn unquote_strutil(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b[b.len() - 1] {
        return None;
    }
    let quote = b[0];
    // The quotes are ASCII, so the slice is on character boundaries.
    let inner = s.get(1..s.len() - 1)?;
    if quote == b'`' {
        return (!inner.contains('`')).then(|| inner.to_owned());
    }
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    if inner.contains('\n') {
        return None;
    }
    if !inner.contains('\\') && !inner.as_bytes().contains(&quote) {
        return Some(inner.to_owned());
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut rest = inner.as_bytes();
    while !rest.is_empty() {
        rest = unquote_char(rest, quote, Surrogates::Replaced, &mut out)?;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// `strconv.UnquoteChar` on valid UTF-8: appends one character's bytes
/// and returns the rest.
fn unquote_char<'s>(s: &'s [u8], quote: u8, surrogates: Surrogates, out: &mut Vec<u8>) -> Option<&'s [u8]> {
    let c = *s.first()?;
    if c == quote {
        return None;
    }
    if c >= 0x80 {
        let len = match c {
            0xf0.. => 4,
            0xe0.. => 3,
            _ => 2,
        };
        out.extend_from_slice(s.get(..len)?);
        return s.get(len..);
    }
    if c != b'\\' {
        out.push(c);
        return Some(&s[1..]);
    }
    let e = *s.get(1)?;
    let s = &s[2..];
    let simple = match e {
        b'a' => Some(7),
        b'b' => Some(8),
        b'f' => Some(12),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(11),
        b'\\' => Some(b'\\'),
        b'\'' | b'"' if e == quote => Some(e),
        _ => None,
    };
    if let Some(v) = simple {
        out.push(v);
        return Some(s);
    }
    match e {
        b'x' | b'u' | b'U' => {
            let n = match e {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let digits = s.get(..n)?;
            let mut v: u32 = 0;
            for &d in digits {
                v = v << 4 | char::from(d).to_digit(16)?;
            }
            if e == b'x' {
                // One byte, possibly not UTF-8.
                out.push(v as u8);
            } else {
                let ch = match char::from_u32(v) {
                    Some(ch) => ch,
                    None if surrogates == Surrogates::Replaced && v <= 0x10ffff => '\u{fffd}',
                    None => return None,
                };
                let mut buf = [0; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            Some(&s[n..])
        }
        b'0'..=b'7' => {
            let mut v = u32::from(e - b'0');
            for &d in s.get(..2)? {
                if !(b'0'..=b'7').contains(&d) {
                    return None;
                }
                v = v << 3 | u32::from(d - b'0');
            }
            if v > 255 {
                return None;
            }
            out.push(v as u8);
            Some(&s[2..])
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Numbers

/// Why a number did not parse (`strconv.ErrSyntax`, `strconv.ErrRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumErrorKind {
    Syntax,
    Range,
}

impl fmt::Display for NumErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NumErrorKind::Syntax => "invalid syntax",
            NumErrorKind::Range => "value out of range",
        })
    }
}

/// `strconv.NumError`: `strconv.ParseInt: parsing "x": invalid syntax`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumError {
    /// The Go function that failed: `ParseInt`, `Atoi`, `ParseFloat`.
    pub func: &'static str,
    pub num: String,
    pub err: NumErrorKind,
}

impl NumError {
    fn new(func: &'static str, num: &str, err: NumErrorKind) -> NumError {
        NumError {
            func,
            num: num.to_owned(),
            err,
        }
    }

    /// The float `ParseFloat` returns beside this error: ±Inf when the
    /// value is out of range, 0 when the syntax is bad.
    pub fn float_value(&self) -> f64 {
        match self.err {
            NumErrorKind::Syntax => 0.0,
            NumErrorKind::Range if self.num.starts_with('-') => f64::NEG_INFINITY,
            NumErrorKind::Range => f64::INFINITY,
        }
    }
}

impl fmt::Display for NumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "strconv.{}: parsing {}: {}", self.func, quote(&self.num), self.err)
    }
}

impl std::error::Error for NumError {}

/// Go's `underscoreOK`: in a base-prefixed (`0x`, `0o`, `0b`) or decimal
/// literal, `_` only between digits, the prefix counting as one.
fn underscore_ok(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1] | 0x20 == b'x';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseUint(s, base, bits)`'s value or error kind. Base 0 reads
/// Go's prefixes (`0x`, `0o`, `0b`, a leading `0` for octal) and `_`
/// separators; any other base neither.
fn parse_uint(s: &str, base: u32, bits: u32) -> Result<u64, NumErrorKind> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(NumErrorKind::Syntax);
    }
    let base0 = base == 0;
    let (base, digits) = match (base0, b[0], b.get(1).map(|c| c | 0x20)) {
        (true, b'0', Some(b'b')) if b.len() >= 3 => (2, &b[2..]),
        (true, b'0', Some(b'o')) if b.len() >= 3 => (8, &b[2..]),
        (true, b'0', Some(b'x')) if b.len() >= 3 => (16, &b[2..]),
        (true, b'0', _) => (8, &b[1..]),
        (true, _, _) => (10, b),
        (false, _, _) => (base, b),
    };
    let cutoff = u64::MAX / u64::from(base) + 1;
    let max = if bits >= 64 { u64::MAX } else { (1 << bits) - 1 };
    let mut underscores = false;
    let mut n: u64 = 0;
    for &c in digits {
        let d = match c {
            b'_' if base0 => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => c - b'0',
            _ if (c | 0x20).is_ascii_lowercase() => (c | 0x20) - b'a' + 10,
            _ => return Err(NumErrorKind::Syntax),
        };
        if u32::from(d) >= base {
            return Err(NumErrorKind::Syntax);
        }
        if n >= cutoff {
            return Err(NumErrorKind::Range);
        }
        n *= u64::from(base);
        let next = n.wrapping_add(u64::from(d));
        if next < n || next > max {
            return Err(NumErrorKind::Range);
        }
        n = next;
    }
    if underscores && !underscore_ok(s) {
        return Err(NumErrorKind::Syntax);
    }
    Ok(n)
}

/// `ParseInt`'s body; `func` is the name its errors carry.
fn parse_int_named(func: &'static str, s: &str, base: u32, bits: u32) -> Result<i64, NumError> {
    let err = |kind| NumError::new(func, s, kind);
    let (neg, unsigned) = match s.as_bytes().first() {
        None => return Err(err(NumErrorKind::Syntax)),
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        Some(_) => (false, s),
    };
    let n = parse_uint(unsigned, base, bits).map_err(err)?;
    let cutoff = 1u64 << (bits.clamp(2, 64) - 1);
    if (!neg && n >= cutoff) || (neg && n > cutoff) {
        return Err(err(NumErrorKind::Range));
    }
    let v = n as i64;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// `strconv.ParseInt(s, base, bits)`, `bits` from 2 to 64. Base 0 (what
/// Prometheus' parser reads numbers with) takes Go's prefixes and `_`
/// separators; base 10 (what HTTP parameters are read with) neither.
pub fn parse_int(s: &str, base: u32, bits: u32) -> Result<i64, NumError> {
    parse_int_named("ParseInt", s, base, bits)
}

/// `strconv.Atoi` on 64-bit Go: `ParseInt(s, 10, 64)`, its errors naming
/// `Atoi`.
pub fn atoi(s: &str) -> Result<i64, NumError> {
    parse_int_named("Atoi", s, 10, 64)
}

/// `strconv.ParseFloat(s, 64)`: an optional sign, `inf`/`infinity` (any
/// case, signed) or `nan` (unsigned), decimal or `0x` hexadecimal (with
/// its mandatory `p` exponent) mantissas, `_` separators where
/// `underscoreOK` allows them. Out of range is an error whose
/// [`NumError::float_value`] is ±Inf.
pub fn parse_float(s: &str) -> Result<f64, NumError> {
    let err = |kind| NumError::new("ParseFloat", s, kind);
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let sign = if neg { -1.0 } else { 1.0 };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Ok(sign * f64::INFINITY);
    }
    if lower == "nan" && body.len() == s.len() {
        return Ok(f64::NAN);
    }
    let b = body.as_bytes();
    let hex = b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'x';
    if body.contains('_') && !underscore_ok(s) {
        return Err(err(NumErrorKind::Syntax));
    }
    let clean: String = body.chars().filter(|&c| c != '_').collect();
    let value = if hex {
        hex_float(&clean[2..]).ok_or_else(|| err(NumErrorKind::Syntax))?
    } else if is_decimal_float(&clean) {
        clean.parse::<f64>().map_err(|_| err(NumErrorKind::Syntax))?
    } else {
        return Err(err(NumErrorKind::Syntax));
    };
    if value.is_infinite() {
        return Err(err(NumErrorKind::Range));
    }
    Ok(sign * value)
}

/// Digits, an optional fraction and an optional exponent, with at least
/// one digit before the exponent (`readFloat`'s decimal form).
fn is_decimal_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] | 0x20) == b'e' {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// A hexadecimal float after its `0x`: mantissa, `p`, exponent. The
/// mantissa keeps its first 56 bits; a huge exponent saturates, as Go's
/// does, to an infinite or zero value.
fn hex_float(s: &str) -> Option<f64> {
    let (mantissa, exp_text) = s.split_once(['p', 'P'])?;
    let digits = exp_text.strip_prefix(['+', '-']).unwrap_or(exp_text);
    if digits.is_empty() || !digits.bytes().all(|d| d.is_ascii_digit()) {
        return None;
    }
    let exp = digits.parse::<i64>().unwrap_or(i64::MAX).min(100_000);
    let exp = if exp_text.starts_with('-') { -exp } else { exp };
    let mut m: u64 = 0;
    let mut shift: i64 = 0;
    let mut seen_dot = false;
    let mut count = 0;
    for c in mantissa.chars() {
        if c == '.' {
            if seen_dot {
                return None;
            }
            seen_dot = true;
            continue;
        }
        let d = u64::from(c.to_digit(16)?);
        count += 1;
        if m < 1 << 56 {
            m = m * 16 + d;
            if seen_dot {
                shift -= 4;
            }
        } else if !seen_dot {
            shift += 4;
        }
    }
    if count == 0 {
        return None;
    }
    let mut v = m as f64;
    let mut e = (exp + shift).clamp(-4000, 4000);
    while e > 1000 {
        v *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        v *= 2f64.powi(-1000);
        e += 1000;
    }
    Some(v * 2f64.powi(e as i32))
}

/// `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest decimal that reads
/// back as `v`, never in exponent form; `NaN`, `+Inf`, `-Inf`.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// `strconv.FormatFloat(v, 'e', -1, 64)`: the shortest digits in exponent
/// form, the exponent signed and at least two digits (`1e+00`,
/// `7.2e-02`). `NaN`, `+Inf`, `-Inf`.
pub fn format_float_e(v: f64) -> String {
    if !v.is_finite() {
        return format_float(v);
    }
    let text = format!("{v:e}");
    let (mantissa, e) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// `strconv.FormatFloat(v, 'g', -1, 64)`, which is what `fmt`'s `%v` of a
/// float64 prints: the shortest digits that read back as `v`, in
/// exponent form when the shortest decimal's exponent is below -4 or
/// from 6 on (the shortest `'g'` decides at precision 6), the exponent
/// signed and at least two digits (`2.5e+06`, `1e-05`). The exponent is
/// the shortest decimal's, not `log10`'s: 999999.9999999999 stays plain,
/// 9.999999999999999e-05 does not. `NaN`, `+Inf`, `-Inf`.
pub fn format_float_g(v: f64) -> String {
    if !v.is_finite() {
        return format_float(v);
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // `{:e}` is the shortest round-trip decimal, as strconv's digits are.
    let text = format!("{v:e}");
    let (mantissa, e) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quoting and unquoting LogQL's and TraceQL's tests pinned.
    #[test]
    fn quotes_as_go() {
        assert_eq!(quote("a\"b\\\n\u{1}é"), r#""a\"b\\\n\x01é""#);
        assert_eq!(quote("a\"\\\n\u{1}é\u{a0}"), r#""a\"\\\n\x01é\u00a0""#);
        assert_eq!(quote_rune(Some('\'')), r"'\''");
        assert_eq!(quote_rune(None), "'\u{FFFD}'");
        assert_eq!(unquote_strutil(r#""\x41\101\u00e9""#).as_deref(), Some("AAé"));
        assert_eq!(unquote_strutil(r#""\777""#), None);
        assert_eq!(unquote_strutil("`a\\-b`").as_deref(), Some("a\\-b"));
        assert_eq!(unquote(r#""\x80""#), Some(vec![0x80]));
        assert_eq!(unquote("`a\r\nb`"), Some(b"a\nb".to_vec()));
        assert_eq!(unquote(r#""\400""#), None);
    }

    /// Where `strutil.Unquote` and `strconv.Unquote` part ways.
    #[test]
    fn strutil_differs_from_strconv_on_surrogates_and_single_quotes() {
        assert_eq!(unquote_strutil(r#""\ud800""#).as_deref(), Some("\u{fffd}"));
        assert_eq!(unquote(r#""\ud800""#), None);
        assert_eq!(unquote_strutil("'ab'").as_deref(), Some("ab"));
        assert_eq!(unquote("'ab'"), None);
    }

    #[test]
    fn integers_as_go() {
        let int = |s: &str, bits| parse_int(s, 10, bits).map_err(|e| e.to_string());
        assert_eq!(int("-2147483648", 32), Ok(-2_147_483_648));
        assert_eq!(
            int("2147483648", 32),
            Err(r#"strconv.ParseInt: parsing "2147483648": value out of range"#.into())
        );
        // ParseUint reads every digit before the sign's range is checked.
        assert_eq!(
            int("9223372036854775808x", 64),
            Err(r#"strconv.ParseInt: parsing "9223372036854775808x": invalid syntax"#.into())
        );
        assert_eq!(
            atoi("1 ").map_err(|e| e.to_string()),
            Err(r#"strconv.Atoi: parsing "1 ": invalid syntax"#.into())
        );
        assert_eq!(atoi("+7"), Ok(7));
        assert_eq!(parse_int("0x_1F", 0, 64), Ok(31));
        assert_eq!(parse_int("0755", 0, 64), Ok(493));
        assert_eq!(parse_int("0b101", 0, 64), Ok(5));
        assert!(parse_int("1_000", 10, 64).is_err());
        assert_eq!(parse_int("1_000", 0, 64), Ok(1000));
        assert!(parse_int("0x", 0, 64).is_err());
        assert!(parse_int("1__0", 0, 64).is_err());
    }

    #[test]
    fn floats_as_go() {
        let float = |s: &str| parse_float(s).map_err(|e| (e.float_value(), e.err.to_string()));
        assert_eq!(float("1_000"), Ok(1000.0));
        assert_eq!(float("0x1p4"), Ok(16.0));
        assert_eq!(float("1e400"), Err((f64::INFINITY, "value out of range".into())));
        assert_eq!(float("-1e400"), Err((f64::NEG_INFINITY, "value out of range".into())));
        assert_eq!(float("0x1F"), Err((0.0, "invalid syntax".into())));
        assert_eq!(float("0x1.8p1"), Ok(3.0));
        assert_eq!(float("0x1p-2"), Ok(0.25));
        assert_eq!(float("-Infinity"), Ok(f64::NEG_INFINITY));
        assert!(float("NaN").unwrap().is_nan());
        assert!(float("+nan").is_err());
        assert!(float("1__0").is_err());
        assert_eq!(
            parse_float("1e400").unwrap_err().to_string(),
            r#"strconv.ParseFloat: parsing "1e400": value out of range"#
        );
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
    }

    /// What Alloy's Faro measurement lines pinned (`value_*` is `%v`).
    #[test]
    fn shortest_g_as_go() {
        for (v, want) in [
            (2500.0, "2500"),
            (22.12, "22.12"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1e21, "1e+21"),
            (2.5e6, "2.5e+06"),
            (123456.0, "123456"),
            (0.00001, "1e-05"),
            (0.0001, "0.0001"),
            // Where log10 and the shortest decimal disagree on the exponent.
            (999999.9999999999, "999999.9999999999"),
            (0.00009999999999999999, "9.999999999999999e-05"),
            (-2.5e-7, "-2.5e-07"),
            (1e100, "1e+100"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(format_float_g(v), want, "{v:e}");
        }
    }
}
