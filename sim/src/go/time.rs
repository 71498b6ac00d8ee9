//! Go's `time` (Go 1.22–1.23, `src/time/{format.go,format_rfc3339.go,time.go}`):
//! `ParseDuration` with its error texts, `Duration.String`, and
//! `Parse(RFC3339Nano, …)` as Loki and Prometheus read timestamps.
//!
//! Uses: nothing else in the crate.

/// `time.quote`: `"` and `\` escaped, control and non-ASCII bytes as
/// `\xNN` (not `strconv.Quote`).
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if !c.is_ascii() || c < ' ' {
            let mut buf = [0; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
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
    let invalid = || format!("time: invalid duration {}", quote(orig));
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
            return Err(format!("time: missing unit in duration {}", quote(orig)));
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
                    quote(other),
                    quote(orig)
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

/// `time.Parse(time.RFC3339Nano, s)` (`2006-01-02T15:04:05.999999999Z07:00`),
/// as unix seconds and the nanosecond within the second. Go's layout
/// parser, which answers when the strict RFC 3339 fast path does not,
/// also takes a one-digit hour, `,` before the fraction, any number of
/// fraction digits (the first nine count) and zone offsets up to `24:60`.
pub fn parse_rfc3339_nano(s: &str) -> Option<(i64, i64)> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let year = num(0, 4)?;
    (b.get(4) == Some(&b'-')).then_some(())?;
    let month = num(5, 2)?;
    (b.get(7) == Some(&b'-')).then_some(())?;
    let day = num(8, 2)?;
    (b.get(10) == Some(&b'T')).then_some(())?;
    let hour_len = if b.get(12) == Some(&b':') { 1 } else { 2 };
    let hour = num(11, hour_len)?;
    let mut i = 11 + hour_len;
    (b.get(i) == Some(&b':')).then_some(())?;
    let minute = num(i + 1, 2)?;
    (b.get(i + 3) == Some(&b':')).then_some(())?;
    let second = num(i + 4, 2)?;
    i += 6;
    let mut nanos: i64 = 0;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let mut digits = 0;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            if digits < 9 {
                nanos = nanos * 10 + i64::from(d - b'0');
                digits += 1;
            }
            i += 1;
        }
        nanos *= 10i64.pow(9 - digits);
    }
    let offset = match b.get(i)? {
        b'Z' => {
            i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            let h = num(i + 1, 2)?;
            (b.get(i + 3) == Some(&b':')).then_some(())?;
            let m = num(i + 4, 2)?;
            // "some people do write offsets of 24 hours or 60 minutes"
            if h > 24 || m > 60 {
                return None;
            }
            i += 6;
            let o = (h * 60 + m) * 60;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    if i != b.len() {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset, nanos))
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
}
