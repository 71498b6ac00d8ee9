//! What `pillars lint` reports: the rules it knows (a closed set, each with
//! a stable id and a severity), and findings — a rule broken at one place
//! in one file, with what is wrong, the evidence and the fix.
//!
//! Uses: lint::source (places in files).

use serde::Serialize;

use crate::lint::source::At;

/// How bad a finding is. Both fail the lint (exit 1); SARIF keeps them
/// apart so code scanning can show them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The link or route is broken: telemetry is lost or cannot be followed.
    Error,
    /// It works today but breaks under load or on a change nearby.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Every rule `pillars lint` checks. Ids are stable: SARIF, JUnit, the
/// README and the fixtures name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Rule {
    #[serde(rename = "exemplar.label")]
    ExemplarLabel,
    #[serde(rename = "logs.derived_field")]
    DerivedField,
    #[serde(rename = "traces_to_logs.tags")]
    TracesToLogsTags,
    #[serde(rename = "traces_to_metrics.tags")]
    TracesToMetricsTags,
    #[serde(rename = "traces_to_profiles.tags")]
    TracesToProfilesTags,
    #[serde(rename = "profiles.span_profiles")]
    SpanProfiles,
    #[serde(rename = "traces.sampler")]
    Sampler,
    #[serde(rename = "exporter.protocol")]
    ExporterProtocol,
    #[serde(rename = "collector.route")]
    CollectorRoute,
    #[serde(rename = "collector.cors")]
    CollectorCors,
    #[serde(rename = "collector.rate_limit")]
    CollectorRateLimit,
    #[serde(rename = "storage.prefix")]
    StoragePrefix,
    #[serde(rename = "grafana.url")]
    GrafanaUrl,
    #[serde(rename = "memory.budget")]
    MemoryBudget,
    #[serde(rename = "ci.health_step")]
    HealthStep,
}

impl Rule {
    pub const ALL: [Rule; 15] = [
        Rule::ExemplarLabel,
        Rule::DerivedField,
        Rule::TracesToLogsTags,
        Rule::TracesToMetricsTags,
        Rule::TracesToProfilesTags,
        Rule::SpanProfiles,
        Rule::Sampler,
        Rule::ExporterProtocol,
        Rule::CollectorRoute,
        Rule::CollectorCors,
        Rule::CollectorRateLimit,
        Rule::StoragePrefix,
        Rule::GrafanaUrl,
        Rule::MemoryBudget,
        Rule::HealthStep,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Rule::ExemplarLabel => "exemplar.label",
            Rule::DerivedField => "logs.derived_field",
            Rule::TracesToLogsTags => "traces_to_logs.tags",
            Rule::TracesToMetricsTags => "traces_to_metrics.tags",
            Rule::TracesToProfilesTags => "traces_to_profiles.tags",
            Rule::SpanProfiles => "profiles.span_profiles",
            Rule::Sampler => "traces.sampler",
            Rule::ExporterProtocol => "exporter.protocol",
            Rule::CollectorRoute => "collector.route",
            Rule::CollectorCors => "collector.cors",
            Rule::CollectorRateLimit => "collector.rate_limit",
            Rule::StoragePrefix => "storage.prefix",
            Rule::GrafanaUrl => "grafana.url",
            Rule::MemoryBudget => "memory.budget",
            Rule::HealthStep => "ci.health_step",
        }
    }

    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    pub fn severity(self) -> Severity {
        match self {
            Rule::CollectorRateLimit | Rule::MemoryBudget => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// One line: what the rule holds the files to.
    pub fn summary(self) -> &'static str {
        match self {
            Rule::ExemplarLabel => {
                "the Mimir datasource's exemplar trace-id destinations name the exemplar label each metrics path writes (OTLP: trace_id, Tempo metrics-generator: traceID)"
            }
            Rule::DerivedField => {
                "a Loki derived field extracts the trace id from every line format the pipeline writes to Loki"
            }
            Rule::TracesToLogsTags => {
                "the Tempo datasource's traces-to-logs tags map span attributes to labels the log streams carry, with the same values"
            }
            Rule::TracesToMetricsTags => {
                "the Tempo datasource's traces-to-metrics tags map span attributes to labels the series carry"
            }
            Rule::TracesToProfilesTags => {
                "the Tempo datasource's traces-to-profiles tags map span attributes to labels the profiles carry"
            }
            Rule::SpanProfiles => {
                "traces-to-profiles is configured only where something adds pyroscope.profile.id to spans (pyroscope-otel)"
            }
            Rule::Sampler => {
                "a backend sampler below 1.0 honours the caller's decision (parentbased_traceidratio), so frontend traces continue"
            }
            Rule::ExporterProtocol => {
                "an OTLP exporter's protocol variable matches the collector port its endpoint names (gRPC 4317, OTLP/HTTP 4318)"
            }
            Rule::CollectorRoute => "load-balancer rules send `/collect` to the Faro receiver, the one route it serves",
            Rule::CollectorCors => {
                "the Faro receiver's CORS allowed headers cover the headers the Faro Web SDK version sends"
            }
            Rule::CollectorRateLimit => {
                "the Faro receiver's rate limit is above the Faro request rate of the scenarios"
            }
            Rule::StoragePrefix => {
                "each component writes under its own prefix of a shared bucket, and lifecycle rules cover exactly those prefixes"
            }
            Rule::GrafanaUrl => {
                "Grafana's root_url, serve_from_sub_path and the port users reach it on agree, so redirects land where users are"
            }
            Rule::MemoryBudget => "every container has a memory limit and the limits fit the instance's budget",
            Rule::HealthStep => "CI steps that probe the stack can fail (no `|| true`, `exit 0` or continue-on-error)",
        }
    }
}

/// One broken rule at one place.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    #[serde(flatten)]
    pub at: At,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What in the files shows it (values read, where they came from).
    pub evidence: Vec<String>,
    /// What to change.
    pub fix: String,
}

impl Finding {
    pub fn new(rule: Rule, at: At, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            severity: rule.severity(),
            at,
            message: message.into(),
            evidence: Vec::new(),
            fix: String::new(),
        }
    }

    pub fn evidence(mut self, line: impl Into<String>) -> Finding {
        self.evidence.push(line.into());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = fix.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_round_trip() {
        let mut ids: Vec<_> = Rule::ALL.iter().map(|r| r.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
        for rule in Rule::ALL {
            assert_eq!(Rule::from_id(rule.id()), Some(rule));
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.id());
        }
    }

    #[test]
    fn every_rule_is_documented_and_has_a_scenario() {
        let readme = include_str!("../../README.md");
        let feature = include_str!("../../features/lint.feature");
        let schema = include_str!("../../schema/lint.schema.json");
        for rule in Rule::ALL {
            let row = format!("| `{}` |", rule.id());
            assert!(readme.contains(&row), "README has no row for {}", rule.id());
            let example = format!("| {} ", rule.id());
            assert!(
                feature.contains(&example),
                "features/lint.feature has no example for {}",
                rule.id()
            );
            assert!(
                schema.contains(&format!("\"{}\"", rule.id())),
                "schema/lint.schema.json lacks {}",
                rule.id()
            );
        }
    }
}
