//! Label matchers as Prometheus' `labels.NewMatcher` builds them
//! (`model/labels/matcher.go`, the 2.54 line): `=`, `!=`, and `=~`/`!~`
//! with a Go regexp anchored at both ends. Loki's stream selectors and
//! label filters and PromQL's and Pyroscope's selectors all build theirs
//! this way, so the one definition serves LogQL and PromQL alike.
//!
//! Uses: `go::regexp`.

use std::collections::BTreeMap;

use regex::Regex;

use crate::go::regexp::{self, RegexTrouble};

/// How a label matcher compares a label's value.
#[derive(Debug, Clone)]
pub enum MatchOp {
    Equal(String),
    NotEqual(String),
    /// Fully anchored, as Prometheus compiles it.
    Regex(Regex),
    NotRegex(Regex),
}

impl MatchOp {
    /// Whether `value` (empty for an absent label) passes.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            MatchOp::Equal(v) => value == v,
            MatchOp::NotEqual(v) => value != v,
            MatchOp::Regex(re) => re.is_match(value),
            MatchOp::NotRegex(re) => !re.is_match(value),
        }
    }
}

/// One label matcher: `name op value`.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
}

impl Matcher {
    /// `labels.NewMatcher`: `op` is `=`, `!=`, `=~` or `!~` (the callers'
    /// grammars allow no other); a bad regex is Go's error.
    pub fn new(name: impl Into<String>, op: &str, value: &str) -> Result<Matcher, RegexTrouble> {
        let op = match op {
            "=" => MatchOp::Equal(value.to_owned()),
            "!=" => MatchOp::NotEqual(value.to_owned()),
            "=~" => MatchOp::Regex(regexp::anchored_regex(value)?),
            _ => MatchOp::NotRegex(regexp::anchored_regex(value)?),
        };
        Ok(Matcher { name: name.into(), op })
    }

    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal(value.into()),
        }
    }

    /// Whether the label set passes; an absent label reads as empty.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.op
            .matches(labels.get(&self.name).map(String::as_str).unwrap_or(""))
    }

    /// The `regex` crate's pattern a regex matcher compiled, unanchored.
    pub fn rust_pattern(&self) -> Option<&str> {
        match &self.op {
            MatchOp::Regex(re) | MatchOp::NotRegex(re) => Some(regexp::unanchored(re)),
            MatchOp::Equal(_) | MatchOp::NotEqual(_) => None,
        }
    }
}

/// Whether a label set passes every matcher.
pub fn selects(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}
