//! Secrets never leave the process. Every secret value pillars reads (from
//! the environment variables a target names) is registered here with the
//! forms it travels in — as it is, URL-encoded, JSON-escaped, and for
//! Basic auth the base64 of `user:password` — and every byte pillars prints
//! or writes (the console, `run.json`, `junit.xml`, `report.html`,
//! `load.json`, `capacity.json`) goes through [`redact`] first. That covers
//! what a server echoes back too: a body quoting the `Authorization` header
//! is cut to an excerpt and then redacted like everything else.
//!
//! Uses: nothing else in the crate.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::RwLock;

use base64::Engine as _;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this are not masked on their own: a two-letter
/// password cannot be told from every other occurrence of its letters, and
/// masking it would garble every report. Their Basic-auth form is still
/// masked.
pub const MIN_MASKED_LEN: usize = 4;

static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

fn add(form: String) {
    if form.chars().count() < MIN_MASKED_LEN {
        return;
    }
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    if !known.contains(&form) {
        known.push(form);
        // Longest first, so a secret inside a longer form is not cut early.
        known.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }
}

/// Registers a secret value and the forms it travels in.
pub fn register(value: &str) {
    add(value.to_owned());
    add(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
    let json = serde_json::to_string(value).unwrap_or_default();
    add(json.trim_matches('"').to_owned());
}

/// Registers the Basic-auth form of a user and password.
pub fn register_basic(user: &str, password: &str) {
    register(password);
    add(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
}

/// `text` with every registered secret masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    Cow::Owned(out)
}

/// A writer that masks secrets in what passes through it. It holds a line
/// until its newline (or a flush), so a secret split across two writes is
/// still masked.
pub struct Redacting<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Redacting<W> {
    pub fn new(inner: W) -> Self {
        Redacting {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(bytes);
        self.inner.write_all(redact(&text).as_bytes())
    }
}

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|b| *b == b'\n') {
            let rest = self.pending.split_off(last + 1);
            let lines = std::mem::replace(&mut self.pending, rest);
            self.emit(&lines)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            self.emit(&pending)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Redacting<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_is_masked() {
        register_basic("admin", "s3cr&t \"pw\"");
        register("glsa_token_for_tests_0123");
        let basic = base64::engine::general_purpose::STANDARD.encode("admin:s3cr&t \"pw\"");
        for text in [
            "Authorization: Bearer glsa_token_for_tests_0123".to_owned(),
            format!("echoed: Basic {basic}"),
            "password=s3cr%26t+%22pw%22".to_owned(),
            r#"{"password":"s3cr&t \"pw\""}"#.to_owned(),
        ] {
            let masked = redact(&text);
            assert!(masked.contains(MASK), "{text} -> {masked}");
            for leak in ["glsa_token", "s3cr", basic.as_str()] {
                assert!(!masked.contains(leak), "{text} -> {masked}");
            }
        }
        assert_eq!(redact("nothing secret here"), "nothing secret here");
        // Too short to tell from other text: left alone, its Basic form not.
        register_basic("u", "x");
        assert_eq!(redact("max exemplar"), "max exemplar");
        let basic = base64::engine::general_purpose::STANDARD.encode("u:x");
        assert_eq!(redact(&basic), MASK);
    }

    #[test]
    fn a_secret_split_across_writes_is_masked() {
        register("split-secret-value-42");
        let mut out = Vec::new();
        {
            let mut w = Redacting::new(&mut out);
            w.write_all(b"token split-sec").unwrap();
            w.write_all(b"ret-value-42 end\nnext").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "token *** end\nnext");
    }
}
