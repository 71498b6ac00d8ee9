//! PromQL from typed parts: vector selectors (`name{a="b"}`), which are
//! also Pyroscope's label selectors (Pyroscope parses them with the
//! Prometheus parser, `shared/reference/api/06-pyroscope.md`), and the
//! scalar sums Grafana's health check sends. Prometheus needs a selector
//! to have a metric name or a matcher that does not match the empty
//! string ("vector selector must contain at least one non-empty matcher").
//!
//! Uses: query::lang::selector.

use std::fmt;

use crate::query::lang::selector::{LangError, Matcher, braces};

/// A checked metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricName(String);

impl MetricName {
    pub fn new(name: &str) -> Result<MetricName, LangError> {
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        if valid {
            Ok(MetricName(name.to_owned()))
        } else {
            Err(LangError::MetricName(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `metric{matchers}`, either part optional but not both; or a label
/// selector a datasource's settings spell out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector(Repr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    Built {
        metric: Option<MetricName>,
        matchers: Vec<Matcher>,
    },
    /// Text from a datasource setting (`tracesToProfiles.query`), already
    /// interpolated as Grafana does.
    Settings(String),
}

impl Selector {
    pub fn new(metric: Option<&str>, matchers: Vec<Matcher>) -> Result<Selector, LangError> {
        let metric = metric.map(MetricName::new).transpose()?;
        if metric.is_none() && matchers.iter().all(Matcher::matches_empty) {
            return Err(LangError::EmptyCompatible);
        }
        Ok(Selector(Repr::Built { metric, matchers }))
    }

    /// `metric{matchers}`.
    pub fn metric(name: &str, matchers: Vec<Matcher>) -> Result<Selector, LangError> {
        Selector::new(Some(name), matchers)
    }

    /// `{matchers}`, as Pyroscope's label selectors are written.
    pub fn labels(matchers: Vec<Matcher>) -> Result<Selector, LangError> {
        Selector::new(None, matchers)
    }

    /// A selector a datasource's settings spell out.
    pub fn from_settings(text: impl Into<String>) -> Selector {
        Selector(Repr::Settings(text.into()))
    }

    /// The same selector with one more matcher.
    pub fn and(mut self, matcher: Matcher) -> Selector {
        if let Repr::Built { matchers, .. } = &mut self.0 {
            matchers.push(matcher);
        }
        self
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Built {
                metric: Some(name),
                matchers,
            } if matchers.is_empty() => f.write_str(name.as_str()),
            Repr::Built {
                metric: Some(name),
                matchers,
            } => write!(f, "{}{}", name.as_str(), braces(matchers)),
            Repr::Built { metric: None, matchers } => f.write_str(&braces(matchers)),
            Repr::Settings(text) => f.write_str(text),
        }
    }
}

/// An instant query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Vector(Selector),
    Number(u32),
    Add(Box<Expr>, Box<Expr>),
    /// An expression the stack's configuration spells out (a rule's or a
    /// panel's), sent as written: what it names is its author's.
    Configured(super::configured::Configured),
}

impl Expr {
    /// `1+1`, the query Grafana's Prometheus health check sends.
    pub fn one_plus_one() -> Expr {
        Expr::Add(Box::new(Expr::Number(1)), Box::new(Expr::Number(1)))
    }
}

impl From<Selector> for Expr {
    fn from(s: Selector) -> Expr {
        Expr::Vector(s)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Vector(s) => write!(f, "{s}"),
            Expr::Number(n) => write!(f, "{n}"),
            Expr::Add(a, b) => write!(f, "{a}+{b}"),
            Expr::Configured(c) => f.write_str(c.text()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::lang::MatchOp;

    #[test]
    fn selectors_render() {
        let s = Selector::metric(
            "http_request_duration_seconds_bucket",
            vec![Matcher::new("job", MatchOp::Re, r"(.+/)?durable-code-backend").unwrap()],
        )
        .unwrap();
        assert_eq!(
            s.to_string(),
            "http_request_duration_seconds_bucket{job=~`(.+/)?durable-code-backend`}"
        );
        assert_eq!(Selector::metric("up", vec![]).unwrap().to_string(), "up");
        assert_eq!(
            Selector::labels(vec![Matcher::eq("service_name", "a\\b").unwrap()])
                .unwrap()
                .to_string(),
            r#"{service_name="a\\b"}"#
        );
        assert!(Selector::labels(vec![]).is_err());
        assert!(Selector::metric("a-b", vec![]).is_err());
        assert_eq!(Expr::one_plus_one().to_string(), "1+1");
    }
}
