//! Prometheus' `common/model` durations (`model/time.go`, common v0.55 as
//! Prometheus 2.54, Loki 3.3 and Tempo 2.6 vendor it): `ParseDuration`
//! with its error texts and `Duration.String`.
//!
//! Uses: `go::strconv` (its errors quote with `%q`).

use super::strconv::quote;

/// `model.ParseDuration`, in nanoseconds: `0`, or integers with the units
/// `y` (365d), `w`, `d`, `h`, `m`, `s`, `ms`, each at most once and in
/// that order (`1h30m`, not `30m1h`); no sign, no fractions.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", quote(s));
    const UNITS: &[(&str, usize, u64)] = &[
        ("ms", 7, 1_000_000),
        ("s", 6, 1_000_000_000),
        ("m", 5, 60_000_000_000),
        ("h", 4, 3_600_000_000_000),
        ("d", 3, 86_400_000_000_000),
        ("w", 2, 604_800_000_000_000),
        ("y", 1, 31_536_000_000_000_000),
    ];
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut last_pos = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            return Err(invalid());
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let v: u64 = s[start..i].parse().map_err(|_| invalid())?;
        let unit_start = i;
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        if i == unit_start {
            return Err(invalid());
        }
        let unit = &s[unit_start..i];
        let Some(&(_, pos, mult)) = UNITS.iter().find(|(u, _, _)| *u == unit) else {
            return Err(format!("unknown unit {} in duration {}", quote(unit), quote(s)));
        };
        if pos <= last_pos {
            return Err(invalid());
        }
        last_pos = pos;
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".into());
        }
        total = total.saturating_add(v * mult);
        if total > (1u64 << 63) - 1 {
            return Err("duration out of range".into());
        }
    }
    Ok(total)
}

/// `model.Duration.String`: whole milliseconds, `y` and `w` only when
/// they divide exactly (`30d1h`, `2w`, `0s`).
pub fn duration_string(nanos: u64) -> String {
    let mut ms = nanos / 1_000_000;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut unit = |name: &str, mult: u64, exact: bool, ms: &mut u64| {
        if exact && !ms.is_multiple_of(mult) {
            return;
        }
        let v = *ms / mult;
        if v > 0 {
            out.push_str(&format!("{v}{name}"));
            *ms -= v * mult;
        }
    };
    unit("y", 31_536_000_000, true, &mut ms);
    unit("w", 604_800_000, true, &mut ms);
    unit("d", 86_400_000, false, &mut ms);
    unit("h", 3_600_000, false, &mut ms);
    unit("m", 60_000, false, &mut ms);
    unit("s", 1_000, false, &mut ms);
    unit("ms", 1, false, &mut ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What LogQL's and TraceQL's tests pinned.
    #[test]
    fn durations_as_prometheus() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(
            parse_duration("30m1h"),
            Err(r#"not a valid duration string: "30m1h""#.into())
        );
        assert_eq!(parse_duration("1d2h"), Ok(93_600_000_000_000));
        assert!(parse_duration("2h1d").is_err());
        assert_eq!(parse_duration("1x"), Err(r#"unknown unit "x" in duration "1x""#.into()));
        assert_eq!(parse_duration("300y"), Err("duration out of range".into()));
        assert_eq!(duration_string(721 * 3_600_000_000_000), "30d1h");
        assert_eq!(duration_string(14 * 86_400_000_000_000), "2w");
    }
}
