//! go-humanize's `ParseBytes` (`github.com/dustin/go-humanize/bytes.go`),
//! which Loki's LogQL reads byte sizes with (`| size > 5MB`).
//!
//! Uses: `go::strconv`.

use super::strconv;

/// `humanize.ParseBytes`: a number (digits, `.`, `,` grouping), optional
/// space, then a SI (`kB`, `MB`, …) or IEC (`KiB`, `MiB`, …) unit in any
/// case, or none.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let mut last = 0;
    let mut comma = false;
    for (i, c) in s.char_indices() {
        if !(c.is_numeric() || c == '.' || c == ',') {
            break;
        }
        comma |= c == ',';
        last = i + c.len_utf8();
    }
    let mut num = s[..last].to_owned();
    if comma {
        num = num.replace(',', "");
    }
    let f = strconv::parse_float(&num).map_err(|e| e.to_string())?;
    let extra = s[last..].trim().to_lowercase();
    let mult: u64 = match extra.as_str() {
        "b" | "" => 1,
        "kib" | "ki" => 1 << 10,
        "kb" | "k" => 1_000,
        "mib" | "mi" => 1 << 20,
        "mb" | "m" => 1_000_000,
        "gib" | "gi" => 1 << 30,
        "gb" | "g" => 1_000_000_000,
        "tib" | "ti" => 1 << 40,
        "tb" | "t" => 1_000_000_000_000,
        "pib" | "pi" => 1 << 50,
        "pb" | "p" => 1_000_000_000_000_000,
        "eib" | "ei" => 1 << 60,
        "eb" | "e" => 1_000_000_000_000_000_000,
        _ => return Err(format!("unhandled size name: {extra}")),
    };
    let v = f * mult as f64;
    if v >= u64::MAX as f64 {
        return Err(format!("too large: {s}"));
    }
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What LogQL's tests pinned.
    #[test]
    fn byte_sizes_as_humanize() {
        assert_eq!(parse_bytes("5MB"), Ok(5_000_000));
        assert_eq!(parse_bytes("1.5KiB"), Ok(1536));
        assert_eq!(
            parse_bytes("x"),
            Err(r#"strconv.ParseFloat: parsing "": invalid syntax"#.into())
        );
    }
}
