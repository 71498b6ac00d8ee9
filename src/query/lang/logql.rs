//! LogQL log queries from typed parts: a stream selector, then line
//! filters, parsers and label filters (`shared/reference/api/05-loki.md`
//! §5.3). Loki refuses a selector whose every matcher accepts the empty
//! string, so [`Selector::new`] does too.
//!
//! Uses: query::lang::{selector, quote}.

use std::fmt;

use crate::query::lang::quote::{double_quoted, regex_quoted};
use crate::query::lang::selector::{LabelName, LangError, MatchOp, Matcher, braces};

/// `{name op "value", …}`: which streams a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector(Vec<Matcher>);

impl Selector {
    pub fn new(matchers: Vec<Matcher>) -> Result<Selector, LangError> {
        if matchers.iter().all(Matcher::matches_empty) {
            return Err(LangError::EmptyCompatible);
        }
        Ok(Selector(matchers))
    }

    pub fn matchers(&self) -> &[Matcher] {
        &self.0
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&braces(&self.0))
    }
}

/// One pipeline stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// `|= "text"`: the line holds the text.
    Contains(String),
    /// `!= "text"`.
    NotContains(String),
    /// `|~ `regex``.
    Matches(String),
    Json,
    Logfmt,
    /// `| label_format NAME=`{{ contains "TEXT" __line__ }}``: NAME is
    /// `true` when the line holds TEXT (Grafana's trace-to-logs link).
    LineContainsLabel {
        name: LabelName,
        text: String,
    },
    /// `| a="x" or b="y"`: alternatives, each a conjunction.
    LabelFilter(Vec<Vec<Matcher>>),
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Contains(text) => write!(f, "|= {}", double_quoted(text)),
            Stage::NotContains(text) => write!(f, "!= {}", double_quoted(text)),
            Stage::Matches(re) => write!(f, "|~ {}", regex_quoted(re)),
            Stage::Json => f.write_str("| json"),
            Stage::Logfmt => f.write_str("| logfmt"),
            Stage::LineContainsLabel { name, text } => {
                // A Go template inside a raw string, spaced as Grafana's
                // trace-to-logs link writes it; the template's own string
                // literal takes Go's escapes.
                let template = format!("{{{{ contains {} __line__  }}}}", double_quoted(text));
                write!(f, "| label_format {name}={}", regex_quoted(&template))
            }
            Stage::LabelFilter(alternatives) => {
                let ors: Vec<String> = alternatives
                    .iter()
                    .map(|all| all.iter().map(Matcher::to_string).collect::<Vec<_>>().join(" and "))
                    .collect();
                write!(f, "| {}", ors.join(" or "))
            }
        }
    }
}

/// A log query: a selector and its pipeline, or a datasource's own query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery(Repr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    Pipeline {
        selector: Selector,
        stages: Vec<Stage>,
    },
    /// Text from a datasource setting (`tracesToLogsV2.query`), already
    /// interpolated as Grafana does: the user wrote it, pillars sends it.
    Settings(String),
}

impl LogQuery {
    pub fn new(selector: Selector) -> LogQuery {
        LogQuery(Repr::Pipeline {
            selector,
            stages: Vec::new(),
        })
    }

    /// A query a datasource's settings spell out.
    pub fn from_settings(text: impl Into<String>) -> LogQuery {
        LogQuery(Repr::Settings(text.into()))
    }

    /// The query with one more stage.
    pub fn then(mut self, stage: Stage) -> LogQuery {
        match &mut self.0 {
            Repr::Pipeline { stages, .. } => stages.push(stage),
            Repr::Settings(text) => *text = format!("{text} {stage}"),
        }
        self
    }

    /// The stream selector, when pillars built the query.
    pub fn selector(&self) -> Option<&Selector> {
        match &self.0 {
            Repr::Pipeline { selector, .. } => Some(selector),
            Repr::Settings(_) => None,
        }
    }
}

impl fmt::Display for LogQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Pipeline { selector, stages } => {
                write!(f, "{selector}")?;
                for stage in stages {
                    write!(f, " {stage}")?;
                }
                Ok(())
            }
            Repr::Settings(text) => f.write_str(text),
        }
    }
}

/// A label filter matcher, `name op value`.
pub fn label_is(name: &str, value: impl Into<String>) -> Result<Matcher, LangError> {
    Matcher::new(name, MatchOp::Eq, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::lang::regex_literal;

    #[test]
    fn queries_render_with_quoted_literals() {
        let service = "pillars-logs-1a2b";
        let selector = Selector::new(vec![
            Matcher::new("service_name", MatchOp::Re, format!("(.+/)?{}", regex_literal(service))).unwrap(),
        ])
        .unwrap();
        let q = LogQuery::new(selector).then(Stage::Contains("run=r \"1\" ".into()));
        assert_eq!(
            q.to_string(),
            r#"{service_name=~`(.+/)?pillars-logs-1a2b`} |= "run=r \"1\" ""#
        );
    }

    #[test]
    fn grafanas_trace_to_logs_shape() {
        let q = LogQuery::new(Selector::new(vec![Matcher::eq("service_name", "svc").unwrap()]).unwrap())
            .then(Stage::LineContainsLabel {
                name: LabelName::new("log_line_contains_trace_id").unwrap(),
                text: "abc".into(),
            })
            .then(Stage::LabelFilter(vec![
                vec![label_is("log_line_contains_trace_id", "true").unwrap()],
                vec![label_is("trace_id", "abc").unwrap()],
            ]));
        assert_eq!(
            q.to_string(),
            "{service_name=\"svc\"} | label_format log_line_contains_trace_id=`{{ contains \"abc\" __line__  }}` | log_line_contains_trace_id=\"true\" or trace_id=\"abc\""
        );
    }

    #[test]
    fn a_selector_must_select_something() {
        assert_eq!(
            Selector::new(vec![Matcher::new("a", MatchOp::Re, ".*").unwrap()]),
            Err(LangError::EmptyCompatible)
        );
        assert!(Selector::new(vec![Matcher::new("service_name", MatchOp::Re, ".+").unwrap()]).is_ok());
    }
}
