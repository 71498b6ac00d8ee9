//! TraceQL spanset filters from typed parts: `{ resource.service.name =
//! "x" && span.pillars.run = "r" }`, or `{}` for every trace
//! (`shared/reference/api/03-tempo.md` §3.3). Attribute names are written
//! unquoted, so only names TraceQL's lexer reads as one attribute are
//! taken; values are Go-quoted strings, as Tempo unquotes them.
//!
//! Uses: query::lang::{selector, quote}.

use std::fmt;

use crate::query::lang::quote::double_quoted;
use crate::query::lang::selector::LangError;

/// Where an attribute lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Resource,
    Span,
}

/// `resource.service.name`, `span.pillars.run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    scope: Scope,
    name: String,
}

impl Attribute {
    pub fn new(scope: Scope, name: &str) -> Result<Attribute, LangError> {
        // Letters, digits, `_`, `-` and dots between parts: what Tempo's
        // lexer reads as one attribute token without quotes.
        let valid = !name.is_empty()
            && name.split('.').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            });
        if valid {
            Ok(Attribute {
                scope,
                name: name.to_owned(),
            })
        } else {
            Err(LangError::Attribute(name.to_owned()))
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match self.scope {
            Scope::Resource => "resource",
            Scope::Span => "span",
        };
        write!(f, "{scope}.{}", self.name)
    }
}

/// `attribute = "value"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub attribute: Attribute,
    pub value: String,
}

/// A spanset filter: every condition must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpansetFilter(Vec<Condition>);

impl SpansetFilter {
    /// `{}`: every span.
    pub fn all() -> SpansetFilter {
        SpansetFilter(Vec::new())
    }

    pub fn and(mut self, scope: Scope, name: &str, value: impl Into<String>) -> Result<SpansetFilter, LangError> {
        self.0.push(Condition {
            attribute: Attribute::new(scope, name)?,
            value: value.into(),
        });
        Ok(self)
    }
}

impl fmt::Display for SpansetFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("{}");
        }
        let conditions: Vec<String> = self
            .0
            .iter()
            .map(|c| format!("{} = {}", c.attribute, double_quoted(&c.value)))
            .collect();
        write!(f, "{{ {} }}", conditions.join(" && "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_render() {
        let q = SpansetFilter::all()
            .and(Scope::Resource, "service.name", "pillars-traces-1a")
            .unwrap()
            .and(Scope::Span, "pillars.run", "r\"1")
            .unwrap();
        assert_eq!(
            q.to_string(),
            r#"{ resource.service.name = "pillars-traces-1a" && span.pillars.run = "r\"1" }"#
        );
        assert_eq!(SpansetFilter::all().to_string(), "{}");
        for bad in ["", "a b", "a..b", "a\"b", ".a"] {
            assert!(Attribute::new(Scope::Span, bad).is_err(), "{bad}");
        }
    }
}
