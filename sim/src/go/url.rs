//! Go's `net/url` query decoding (`src/net/url/url.go`): `ParseQuery` and
//! `QueryUnescape`, which every store reads its HTTP parameters with
//! (`r.Form`, `r.URL.Query()`).
//!
//! Uses: `go::strconv` (`EscapeError` quotes with `strconv.Quote`).

use super::strconv;

/// `url.QueryUnescape`: `+` is a space and `%XX` a byte; the error is
/// `EscapeError`'s text for the first bad escape (`invalid URL escape
/// "%zz"`).
pub fn query_unescape(s: &str) -> Result<Vec<u8>, String> {
    unescape(s, true)
}

/// `url.PathUnescape`, as Go's server reads a request's path: `%XX` is a
/// byte and `+` stays `+`.
pub fn path_unescape(s: &str) -> Result<Vec<u8>, String> {
    unescape(s, false)
}

fn unescape(s: &str, plus_is_space: bool) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: Option<&u8>| c.and_then(|c| char::from(*c).to_digit(16));
                match (hex(b.get(i + 1)), hex(b.get(i + 2))) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => {
                        let bad = String::from_utf8_lossy(&b[i..(i + 3).min(b.len())]).into_owned();
                        return Err(format!("invalid URL escape {}", strconv::quote(&bad)));
                    }
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// A decoded `key=value` pair; a Go string may hold any bytes.
pub type Pair = (Vec<u8>, Vec<u8>);

/// `url.ParseQuery`: the `&`-separated pairs in order, key and value
/// unescaped to bytes, and the error Go returns beside them. A pair
/// holding `;` or a bad escape is dropped; the error is the first bad
/// escape's, unless a `;` comes later, whose `invalid semicolon separator
/// in query` replaces it.
pub fn parse_query(raw: &str) -> (Vec<Pair>, Option<String>) {
    let mut pairs = Vec::new();
    let mut error: Option<String> = None;
    for pair in raw.split('&') {
        if pair.contains(';') {
            error = Some("invalid semicolon separator in query".into());
            continue;
        }
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match (query_unescape(k), query_unescape(v)) {
            (Ok(k), Ok(v)) => pairs.push((k, v)),
            (Err(e), _) | (_, Err(e)) => {
                error.get_or_insert(e);
            }
        }
    }
    (pairs, error)
}

/// [`parse_query`] with keys and values as text, bytes that are not UTF-8
/// becoming U+FFFD.
pub fn parse_query_text(raw: &str) -> (Vec<(String, String)>, Option<String>) {
    let (pairs, error) = parse_query(raw);
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    (pairs.into_iter().map(|(k, v)| (text(k), text(v))).collect(), error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_as_go() {
        let (pairs, error) = parse_query_text("query=a+b&query=c&&q=%7Ba%3D%22b%22%7D");
        assert_eq!(error, None);
        assert_eq!(
            pairs,
            [("query", "a b"), ("query", "c"), ("q", r#"{a="b"}"#)].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(parse_query("x=%zz").1.as_deref(), Some(r#"invalid URL escape "%zz""#));
        assert_eq!(parse_query("x=%4").1.as_deref(), Some(r#"invalid URL escape "%4""#));
        // The first bad escape is kept; a later semicolon replaces it.
        assert_eq!(
            parse_query("x=%zz&y=%4").1.as_deref(),
            Some(r#"invalid URL escape "%zz""#)
        );
        assert_eq!(
            parse_query("x=%zz&a=1;b=2&y=1").1.as_deref(),
            Some("invalid semicolon separator in query")
        );
        assert_eq!(parse_query("x=%zz&a=1;b=2&y=1").0, [(b"y".to_vec(), b"1".to_vec())]);
        assert_eq!(parse_query("v=%FF").0, [(b"v".to_vec(), vec![0xff])]);
    }
}
