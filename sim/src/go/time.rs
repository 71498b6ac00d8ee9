//! Go's `time` (Go 1.22–1.25, `src/time/{format.go,format_rfc3339.go,time.go}`):
//! `ParseDuration` with its error texts, `Duration.String`;
//! `Parse(RFC3339, …)` and `Parse(RFC3339Nano, …)` with `ParseError`'s
//! texts, as Loki and Prometheus read timestamps and as `Time.UnmarshalJSON`
//! reads Faro's; and `Time.String`, as Alloy prints Faro timestamps.
//!
//! A parsed offset is put in the local zone when it matches it; the
//! stores' containers run in UTC, so a zero offset prints as `UTC` and
//! any other as a nameless fixed zone (`+0200 +0200`).
//!
//! Uses: nothing else in the crate.

/// `time.quote`: `"` and `\` escaped, control and non-ASCII bytes as
/// `\xNN` (not `strconv.Quote`).
fn quote(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in s {
        if !(b' '..0x80).contains(&b) {
            out.push_str(&format!("\\x{b:02x}"));
        } else {
            if b == b'"' || b == b'\\' {
                out.push('\\');
            }
            out.push(char::from(b));
        }
    }
    out.push('"');
    out
}

/// `time.ParseDuration`, in nanoseconds: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`
/// with units `ns`, `us` (`µs`, `μs`), `ms`, `s`, `m`, `h`; the errors are
/// Go's (`time: invalid duration "x"`, `time: missing unit in duration
/// "5"`, `time: unknown unit "x" in duration "1x"`).
pub fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(orig.as_bytes()));
    let mut s = orig;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // leadingInt
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &d in &b[..int_len] {
            if v > (1 << 63) / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(d - b'0');
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        s = &s[int_len..];
        // leadingFraction: stops gaining precision rather than overflow.
        let (mut frac, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest.bytes().take_while(|c| c.is_ascii_digit()).count();
            let mut overflow = false;
            for d in rest[..frac_len].bytes() {
                if overflow {
                    continue;
                }
                if frac > ((1 << 63) - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = frac * 10 + u64::from(d - b'0');
                if y > 1 << 63 {
                    overflow = true;
                    continue;
                }
                frac = y;
                scale *= 10.0;
            }
            post = frac_len > 0;
            s = &rest[frac_len..];
        }
        if int_len == 0 && !post {
            return Err(invalid());
        }
        let unit_len = s.bytes().take_while(|&c| c != b'.' && !c.is_ascii_digit()).count();
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(orig.as_bytes())));
        }
        let unit: u64 = match &s[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(other.as_bytes()),
                    quote(orig.as_bytes())
                ));
            }
        };
        s = &s[unit_len..];
        if v > (1 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            // float64 keeps fractions of hours nanosecond-exact.
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        // Go's uint64 sum, which two 1<<63 terms wrap.
        total = total.wrapping_add(v);
        if total > 1 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((total as i64).wrapping_neg());
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// `time.Duration.String`: `744h0m0s`, `1.5s`, `1.5ms`, `0s`.
pub fn duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let u = d.unsigned_abs();
    let frac = |v: u64, prec: u32| -> String {
        let p = 10u64.pow(prec);
        let (int, mut fr) = (v / p, v % p);
        if fr == 0 {
            return int.to_string();
        }
        let mut digits = prec as usize;
        while fr % 10 == 0 {
            fr /= 10;
            digits -= 1;
        }
        format!("{int}.{fr:0digits$}")
    };
    let body = if u < 1_000_000_000 {
        let (unit, prec) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        format!("{}{unit}", frac(u, prec))
    } else {
        let secs = u / 1_000_000_000;
        let sec = frac((secs % 60) * 1_000_000_000 + u % 1_000_000_000, 9);
        let mins = secs / 60;
        if mins == 0 {
            format!("{sec}s")
        } else if mins < 60 {
            format!("{mins}m{sec}s")
        } else {
            format!("{}h{}m{sec}s", mins / 60, mins % 60)
        }
    };
    if d < 0 { format!("-{body}") } else { body }
}

/// `time.RFC3339`, as `ParseError`s name it.
pub const RFC3339: &str = "2006-01-02T15:04:05Z07:00";
/// `time.RFC3339Nano`.
pub const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";

/// A `time.Time` as parsing an RFC 3339 string leaves it: the wall clock
/// as written and the zone offset it was written with. The default is
/// Go's zero `Time`, `0001-01-01 00:00:00 +0000 UTC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nanos: i64,
    /// Seconds east of UTC.
    offset: i64,
}

impl Default for Time {
    fn default() -> Self {
        Time {
            year: 1,
            month: 1,
            day: 1,
            hour: 0,
            min: 0,
            sec: 0,
            nanos: 0,
            offset: 0,
        }
    }
}

impl Time {
    /// Unix seconds and the nanosecond within the second.
    pub fn unix(&self) -> (i64, i64) {
        // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
        let y = if self.month <= 2 { self.year - 1 } else { self.year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (self.month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + self.day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400 + self.hour * 3600 + self.min * 60 + self.sec - self.offset;
        (secs, self.nanos)
    }

    /// `Time.String`: `Format("2006-01-02 15:04:05.999999999 -0700 MST")`,
    /// the zone `UTC` at offset zero (the local zone) and otherwise the
    /// offset again, as a nameless fixed zone prints.
    pub fn string(&self) -> String {
        let mut frac = String::new();
        if self.nanos != 0 {
            frac = format!(".{:09}", self.nanos).trim_end_matches('0').to_owned();
        }
        let minutes = self.offset.abs() / 60;
        let sign = if self.offset < 0 { '-' } else { '+' };
        let numeric = format!("{sign}{:02}{:02}", minutes / 60, minutes % 60);
        let zone = if self.offset == 0 { "UTC" } else { numeric.as_str() };
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{frac} {numeric} {zone}",
            self.year, self.month, self.day, self.hour, self.min, self.sec
        )
    }

    /// `Time.UnmarshalJSON`: `null` leaves the time as it is; anything but
    /// a JSON string is refused; the string's bytes, not unescaped (Go's
    /// TODO, issue 47353), are parsed as RFC 3339.
    pub fn unmarshal_json(&mut self, data: &[u8]) -> Result<(), String> {
        if data == b"null" {
            return Ok(());
        }
        if data.len() < 2 || data[0] != b'"' || data[data.len() - 1] != b'"' {
            return Err("Time.UnmarshalJSON: input is not a JSON string".into());
        }
        *self = parse_rfc3339(RFC3339, &data[1..data.len() - 1])?;
        Ok(())
    }
}

/// `newParseError`'s texts.
fn parse_error(layout: &str, value: &[u8], layout_elem: &str, value_elem: &[u8]) -> String {
    format!(
        "parsing time {} as {}: cannot parse {} as {}",
        quote(value),
        quote(layout.as_bytes()),
        quote(value_elem),
        quote(layout_elem.as_bytes())
    )
}

fn parse_message(value: &[u8], message: &str) -> String {
    format!("parsing time {}{message}", quote(value))
}

/// `getnum`: one or two digits (two when `fixed`), and the rest.
fn getnum(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let digit = |i: usize| s.get(i).filter(|c| c.is_ascii_digit()).map(|c| i64::from(c - b'0'));
    let first = digit(0)?;
    match digit(1) {
        Some(second) => Some((first * 10 + second, &s[2..])),
        None if fixed => None,
        None => Some((first, &s[1..])),
    }
}

/// `time.Parse(layout, value)` for `RFC3339` or `RFC3339Nano` (which
/// read the same strings), with `parse`'s errors in its order: a chunk
/// that does not parse is `cannot parse "<rest>" as "<chunk>"`, a field
/// out of range is `: month out of range` (and hour, minute, second,
/// `time zone offset hour`, `time zone offset minute`, day), text after
/// the zone is `: extra text: "<rest>"`. Go's layout parser, which
/// answers when the strict RFC 3339 fast path does not, also takes a
/// one-digit hour, `,` before the fraction, any number of fraction
/// digits (the first nine count) and zone offsets up to `24:60`.
pub fn parse_rfc3339(layout: &str, value: &[u8]) -> Result<Time, String> {
    let bad = |elem: &str, rest: &[u8]| parse_error(layout, value, elem, rest);
    let range = |what: &str| parse_message(value, &format!(": {what} out of range"));
    let expect = |rest: &'_ [u8], prefix: u8| -> Result<(), String> {
        if rest.first() == Some(&prefix) {
            Ok(())
        } else {
            Err(bad(&char::from(prefix).to_string(), rest))
        }
    };
    let mut v = value;
    // 2006
    if v.len() < 4 || !v[0].is_ascii_digit() || !v[..4].iter().all(u8::is_ascii_digit) {
        return Err(bad("2006", v));
    }
    let year = v[..4].iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    v = &v[4..];
    expect(v, b'-')?;
    v = &v[1..];
    // 01
    let (month, rest) = getnum(v, true).ok_or_else(|| bad("01", v))?;
    if !(1..=12).contains(&month) {
        return Err(range("month"));
    }
    v = rest;
    expect(v, b'-')?;
    v = &v[1..];
    // 02: any two digits; the day is checked against the month last.
    let (day, rest) = getnum(v, true).ok_or_else(|| bad("02", v))?;
    v = rest;
    expect(v, b'T')?;
    v = &v[1..];
    // 15
    let (hour, rest) = getnum(v, false).ok_or_else(|| bad("15", v))?;
    if hour >= 24 {
        return Err(range("hour"));
    }
    v = rest;
    expect(v, b':')?;
    v = &v[1..];
    // 04
    let (min, rest) = getnum(v, true).ok_or_else(|| bad("04", v))?;
    if min >= 60 {
        return Err(range("minute"));
    }
    v = rest;
    expect(v, b':')?;
    v = &v[1..];
    // 05, then a fraction the layout may or may not spell out.
    let (sec, rest) = getnum(v, true).ok_or_else(|| bad("05", v))?;
    if sec >= 60 {
        return Err(range("second"));
    }
    v = rest;
    let mut nanos = 0;
    if v.len() >= 2 && matches!(v[0], b'.' | b',') && v[1].is_ascii_digit() {
        let n = 1 + v[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        // parseNanoseconds: the first nine digits, scaled.
        let digits = &v[1..n.min(10)];
        nanos = digits.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')) * 10i64.pow(9 - digits.len() as u32);
        v = &v[n..];
    }
    // Z07:00
    let offset = if v.first() == Some(&b'Z') {
        v = &v[1..];
        0
    } else {
        let tz = v;
        if v.len() < 6 || v[3] != b':' {
            return Err(bad("Z07:00", tz));
        }
        let hr = getnum(&v[1..3], true);
        let mm = hr.and_then(|_| getnum(&v[4..6], true));
        let (hr, mm) = (hr.map_or(0, |h| h.0), mm.map_or(0, |m| m.0));
        if mm > 60 {
            return Err(range("time zone offset minute"));
        }
        if hr > 24 {
            return Err(range("time zone offset hour"));
        }
        let sign = match v[0] {
            b'+' => 1,
            b'-' => -1,
            _ => 0,
        };
        if sign == 0 || getnum(&v[1..3], true).is_none() || getnum(&v[4..6], true).is_none() {
            return Err(bad("Z07:00", tz));
        }
        v = &v[6..];
        sign * (hr * 60 + mm) * 60
    };
    if !v.is_empty() {
        return Err(parse_message(value, &format!(": extra text: {}", quote(v))));
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day < 1 || day > days_in_month {
        return Err(range("day"));
    }
    Ok(Time {
        year,
        month,
        day,
        hour,
        min,
        sec,
        nanos,
        offset,
    })
}

/// `Time.Format(time.RFC3339Nano)` of a UTC time: the fraction without
/// trailing zeros, `Z` for the zone (`2025-01-01T00:00:00.5Z`).
pub fn format_rfc3339_nano(unix_secs: i64, nanos: u32) -> String {
    // Howard Hinnant's civil_from_days.
    let days = unix_secs.div_euclid(86_400);
    let secs_of_day = unix_secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_owned()
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{frac}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// `time.Parse(time.RFC3339Nano, s)` as unix seconds and the nanosecond
/// within the second.
pub fn parse_rfc3339_nano(s: &str) -> Option<(i64, i64)> {
    parse_rfc3339(RFC3339_NANO, s.as_bytes()).ok().map(|t| t.unix())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What LogQL's and TraceQL's tests pinned.
    #[test]
    fn durations_as_go() {
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("-5m"), Ok(-300_000_000_000));
        assert_eq!(parse_duration("5"), Err(r#"time: missing unit in duration "5""#.into()));
        assert_eq!(parse_duration("1h2m3.5s"), Ok(3_723_500_000_000));
        assert_eq!(parse_duration("-1.5ms"), Ok(-1_500_000));
        assert_eq!(
            parse_duration("1x"),
            Err(r#"time: unknown unit "x" in duration "1x""#.into())
        );
        assert_eq!(parse_duration("é"), Err(r#"time: invalid duration "\xc3\xa9""#.into()));
        assert_eq!(parse_duration("-9223372036854775808ns"), Ok(i64::MIN));
        assert!(parse_duration("9223372036854775808ns").is_err());
        assert_eq!(duration_string(744 * 3_600_000_000_000), "744h0m0s");
        assert_eq!(duration_string(1_500_000_000), "1.5s");
        assert_eq!(duration_string(1_500_000), "1.5ms");
    }

    #[test]
    fn rfc3339_as_go() {
        assert_eq!(parse_rfc3339_nano("2025-01-01T00:00:00Z"), Some((1_735_689_600, 0)));
        assert_eq!(
            parse_rfc3339_nano("2025-01-01T01:00:00.25+01:00"),
            Some((1_735_689_600, 250_000_000))
        );
        assert_eq!(
            parse_rfc3339_nano("2025-01-01T0:00:00,1234567891Z"),
            Some((1_735_689_600, 123_456_789))
        );
        assert_eq!(
            parse_rfc3339_nano("2025-01-02T00:00:00+24:00"),
            Some((1_735_689_600, 0))
        );
        assert_eq!(parse_rfc3339_nano("1969-12-31T23:59:59.5Z"), Some((-1, 500_000_000)));
        assert_eq!(parse_rfc3339_nano("2025-02-30T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_nano("2025-01-01T00:00:00+25:00"), None);
        assert_eq!(parse_rfc3339_nano("2025-01-01 00:00:00Z"), None);
        assert_eq!(parse_rfc3339_nano("2025-01-01T24:00:00Z"), None);
    }

    /// What Go's `time.Parse(time.RFC3339, …)` answered for these (Go's
    /// `ParseError` texts), and `Time.String` of what it parsed.
    #[test]
    fn parse_errors_and_strings_as_go() {
        let parse = |s: &str| parse_rfc3339(RFC3339, s.as_bytes()).map(|t| t.string());
        for (value, want) in [
            ("2025-01-01T00:00:00.123+01:00", "2025-01-01 00:00:00.123 +0100 +0100"),
            ("2025-01-01T00:00:00-00:00", "2025-01-01 00:00:00 +0000 UTC"),
            ("2025-01-01T0:00:00,5Z", "2025-01-01 00:00:00.5 +0000 UTC"),
            ("2025-01-01T00:00:00+24:00", "2025-01-01 00:00:00 +2400 +2400"),
            (
                "2024-02-29T23:59:59.999999999-05:30",
                "2024-02-29 23:59:59.999999999 -0530 -0530",
            ),
        ] {
            assert_eq!(parse(value), Ok(want.to_owned()), "{value}");
        }
        let layout = r#"as "2006-01-02T15:04:05Z07:00""#;
        for (value, want) in [
            (
                "2025-01-01",
                format!(r#"parsing time "2025-01-01" {layout}: cannot parse "" as "T""#),
            ),
            (
                "2025-1-01T00:00:00Z",
                format!(r#"parsing time "2025-1-01T00:00:00Z" {layout}: cannot parse "1-01T00:00:00Z" as "01""#),
            ),
            (
                "2025-01-01T00:00:00+0100",
                format!(r#"parsing time "2025-01-01T00:00:00+0100" {layout}: cannot parse "+0100" as "Z07:00""#),
            ),
            (
                "2025-01-01T00:00:00\\u005a",
                format!(r#"parsing time "2025-01-01T00:00:00\\u005a" {layout}: cannot parse "\\u005a" as "Z07:00""#),
            ),
            (
                "2025-13-01T00:00:00Z",
                r#"parsing time "2025-13-01T00:00:00Z": month out of range"#.to_owned(),
            ),
            (
                "2025-02-30T00:00:00Z",
                r#"parsing time "2025-02-30T00:00:00Z": day out of range"#.to_owned(),
            ),
            (
                "2025-01-01T00:00:00+01:61",
                r#"parsing time "2025-01-01T00:00:00+01:61": time zone offset minute out of range"#.to_owned(),
            ),
            (
                "2025-01-01T00:00:00Zjunk",
                r#"parsing time "2025-01-01T00:00:00Zjunk": extra text: "junk""#.to_owned(),
            ),
        ] {
            assert_eq!(parse(value), Err(want), "{value}");
        }
        assert_eq!(Time::default().string(), "0001-01-01 00:00:00 +0000 UTC");
        let mut t = Time::default();
        assert_eq!(t.unmarshal_json(b"null"), Ok(()));
        assert_eq!(
            t.unmarshal_json(b"12"),
            Err("Time.UnmarshalJSON: input is not a JSON string".to_owned())
        );
    }
}
