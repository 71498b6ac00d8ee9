//! Label matchers, the part LogQL stream selectors, PromQL vector selectors
//! and Pyroscope label selectors share: `name op "value"` with `=`, `!=`,
//! `=~`, `!~`. Label names follow Prometheus' rule
//! (`[a-zA-Z_][a-zA-Z0-9_]*`), which Loki and Pyroscope apply too, so a
//! name from a target file or a datasource setting is checked, never pasted.
//!
//! Uses: query::lang::quote.

use std::fmt;

use crate::query::lang::quote::{double_quoted, regex_quoted};

/// Why a query could not be built from what it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LangError {
    #[error("`{0}` is not a valid label name: use letters, digits and `_`, not starting with a digit")]
    LabelName(String),
    #[error("`{0}` is not a valid metric name: use letters, digits, `_` and `:`, not starting with a digit")]
    MetricName(String),
    #[error("`{0}` is not a TraceQL attribute name pillars can write unquoted")]
    Attribute(String),
    #[error("a stream selector needs a matcher that does not match the empty string, as Loki requires")]
    EmptyCompatible,
}

/// A checked label name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelName(String);

impl LabelName {
    pub fn new(name: &str) -> Result<LabelName, LangError> {
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(LabelName(name.to_owned()))
        } else {
            Err(LangError::LabelName(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LabelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl MatchOp {
    pub const fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }

    const fn is_regex(self) -> bool {
        matches!(self, MatchOp::Re | MatchOp::NotRe)
    }
}

/// `name op value`; a regex value is an RE2 pattern, anchored by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub name: LabelName,
    pub op: MatchOp,
    pub value: String,
}

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: impl Into<String>) -> Result<Matcher, LangError> {
        Ok(Matcher {
            name: LabelName::new(name)?,
            op,
            value: value.into(),
        })
    }

    pub fn eq(name: &str, value: impl Into<String>) -> Result<Matcher, LangError> {
        Matcher::new(name, MatchOp::Eq, value)
    }

    /// Whether the matcher accepts a label that is absent (the empty
    /// string), which Loki refuses as a stream selector's only kind.
    pub fn matches_empty(&self) -> bool {
        match self.op {
            MatchOp::Eq => self.value.is_empty(),
            MatchOp::Ne => !self.value.is_empty(),
            MatchOp::Re => regex::Regex::new(&format!("^(?:{})$", self.value)).is_ok_and(|re| re.is_match("")),
            MatchOp::NotRe => regex::Regex::new(&format!("^(?:{})$", self.value)).is_ok_and(|re| !re.is_match("")),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if self.op.is_regex() {
            regex_quoted(&self.value)
        } else {
            double_quoted(&self.value)
        };
        write!(f, "{}{}{value}", self.name, self.op.as_str())
    }
}

/// `{a="x", b=~`y`}`.
pub(crate) fn braces(matchers: &[Matcher]) -> String {
    let inner: Vec<String> = matchers.iter().map(Matcher::to_string).collect();
    format!("{{{}}}", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_values_quoted() {
        assert!(LabelName::new("service_name").is_ok());
        for bad in ["service.name", "", "1a", "a-b", "a b", "ü"] {
            assert!(LabelName::new(bad).is_err(), "{bad}");
        }
        let m = Matcher::new("service_name", MatchOp::Re, r"(.+/)?a\-b").unwrap();
        assert_eq!(m.to_string(), r"service_name=~`(.+/)?a\-b`");
        assert_eq!(Matcher::eq("job", "a\"b").unwrap().to_string(), r#"job="a\"b""#);
    }

    #[test]
    fn empty_compatible_matchers_are_known() {
        assert!(Matcher::new("a", MatchOp::Re, ".*").unwrap().matches_empty());
        assert!(!Matcher::new("a", MatchOp::Re, ".+").unwrap().matches_empty());
        assert!(Matcher::new("a", MatchOp::Ne, "x").unwrap().matches_empty());
        assert!(!Matcher::eq("a", "x").unwrap().matches_empty());
    }
}
