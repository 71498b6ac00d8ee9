//! The verbs of Go's `fmt` (`src/fmt/format.go`) that the stores' messages
//! print values with, beyond `%q` (`strconv::quote`).
//!
//! Uses: `go::strconv`.

use super::strconv;

/// `%f`: six decimals; `NaN`, `+Inf`, `-Inf`.
pub fn percent_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v:.6}")
    }
}

/// `%#U`: `U+002D '-'`, or just `U+0001` when the rune is not printable.
pub fn percent_sharp_u(c: char) -> String {
    if strconv::is_print(c) {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}
