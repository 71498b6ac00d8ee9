//! PromQL that the stack's configuration spells out — an alerting or
//! recording rule's expression, a dashboard panel's query — read (never
//! rewritten) to learn which metrics it names, so a rule or panel on a
//! metric the pipeline does not write is found by name.
//!
//! Uses: nothing else in the crate.

use std::collections::BTreeSet;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};

/// An expression as configured, with the metric names it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    text: String,
    metrics: BTreeSet<String>,
}

impl Configured {
    /// Parses `text` as the Prometheus parser does; the error is its
    /// message.
    pub fn parse(text: &str) -> Result<Configured, String> {
        let expr = parser::parse(text)?;
        let mut metrics = BTreeSet::new();
        collect(&expr, &mut metrics);
        Ok(Configured {
            text: text.to_owned(),
            metrics,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Metric names the expression selects by name (`name{…}` or
    /// `{__name__="name"}`); regex name matchers name none.
    pub fn metrics(&self) -> &BTreeSet<String> {
        &self.metrics
    }
}

fn collect(expr: &Expr, out: &mut BTreeSet<String>) {
    match expr {
        Expr::Aggregate(a) => {
            collect(&a.expr, out);
            if let Some(param) = &a.param {
                collect(param, out);
            }
        }
        Expr::Unary(u) => collect(&u.expr, out),
        Expr::Binary(b) => {
            collect(&b.lhs, out);
            collect(&b.rhs, out);
        }
        Expr::Paren(p) => collect(&p.expr, out),
        Expr::Subquery(s) => collect(&s.expr, out),
        Expr::VectorSelector(vs) => selector(vs, out),
        Expr::MatrixSelector(ms) => selector(&ms.vs, out),
        Expr::Call(call) => call.args.args.iter().for_each(|arg| collect(arg, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn selector(vs: &promql_parser::parser::VectorSelector, out: &mut BTreeSet<String>) {
    if let Some(name) = &vs.name {
        out.insert(name.clone());
    }
    for m in &vs.matchers.matchers {
        if m.name == "__name__" && matches!(m.op, MatchOp::Equal) {
            out.insert(m.value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_metric_it_selects() {
        let c = Configured::parse(
            r#"1 - sum by (job) (rate(http_request_duration_seconds_bucket{le="2.5"}[5m])) / sum(rate({__name__="http_request_duration_seconds_count"}[5m])) and absent_over_time(up[10m]) > bool 0"#,
        )
        .unwrap();
        let names: Vec<&str> = c.metrics().iter().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "http_request_duration_seconds_bucket",
                "http_request_duration_seconds_count",
                "up"
            ]
        );
        assert!(Configured::parse("sum(rate(x[5m])").is_err());
        assert!(
            Configured::parse(r#"{__name__=~"http_.*"}"#)
                .unwrap()
                .metrics()
                .is_empty()
        );
    }
}
