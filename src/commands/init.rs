//! `pillars init`: a commented target file for a real stack, from the few
//! URLs a user knows (the app behind its ALB, Grafana's sub-path, OTLP and
//! Pyroscope when they are reachable), checked by loading it back. Never
//! overwrites a file unless told to.
//!
//! Uses: target (to load the result back), report (the atomic write), console.

use std::io::Write;
use std::path::PathBuf;

use url::Url;

use crate::console::{Console, printable};
use crate::env::Env;
use crate::error::RunError;
use crate::exit;
use crate::target::{Target, TargetKind};

/// What the target file is made from.
#[derive(Debug)]
pub struct InitPlan {
    pub path: PathBuf,
    pub name: String,
    /// The app's public base URL (the ALB): `/api/*`, `/health`, `/collect`.
    pub base_url: Url,
    /// Grafana's URL, sub-path included; default `<base_url>/grafana`.
    pub grafana: Option<Url>,
    /// The collector's OTLP/HTTP base URL, when pillars can reach it.
    pub otlp_http: Option<Url>,
    /// Pyroscope's URL, when pillars can reach it.
    pub pyroscope: Option<Url>,
    /// The environment variable that holds a Grafana service-account token.
    pub token_env: String,
    pub force: bool,
}

pub(super) fn run(plan: InitPlan, console: &mut Console) -> Result<u8, RunError> {
    if plan.path.exists() && !plan.force {
        return Err(RunError::Usage(format!(
            "`{}` exists; pass --force to replace it, or --out to write elsewhere",
            plan.path.display()
        )));
    }
    let text = render(&plan);
    // Loaded back as `verify` will load it, the token standing in: a file
    // this writes always parses.
    let env = Env::from_pairs([(plan.token_env.as_str(), "token-for-the-check")]);
    Target::from_toml(&text, TargetKind::File(plan.path.clone()), &env)
        .map_err(|e| RunError::Usage(format!("the target built from these flags does not load: {e}")))?;
    crate::report::dir::write_atomic(&plan.path, &text)
        .map_err(|e| RunError::Usage(format!("cannot write `{}`: {e}", plan.path.display())))?;
    let _ = writeln!(
        console.out,
        "wrote {}\nnext: export {}=<a Grafana service-account token (Viewer)>, then\n  pillars verify --target {}",
        plan.path.display(),
        printable(&plan.token_env),
        plan.path.display()
    );
    Ok(exit::OK)
}

/// `base` with `path` appended to its path.
fn under(base: &Url, path: &str) -> String {
    format!("{}/{path}", base.as_str().trim_end_matches('/'))
}

fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn render(plan: &InitPlan) -> String {
    let base = &plan.base_url;
    let grafana = plan
        .grafana
        .as_ref()
        .map_or_else(|| under(base, "grafana"), |u| u.to_string());
    let otlp = match &plan.otlp_http {
        Some(u) => format!("otlp_http = {}", quoted(u.as_str())),
        None => "# otlp_http = \"http://<collector>:4318\"".to_owned(),
    };
    let pyroscope = match &plan.pyroscope {
        Some(u) => format!("pyroscope = {}", quoted(u.as_str())),
        None => "# pyroscope = \"http://<instance>:4040\"".to_owned(),
    };
    format!(
        r#"# pillars target: {name}. Written by `pillars init`; every key is explained
# in the README's Targets section. Check it with `pillars verify --target <this file>`.
name = {name_q}
description = "the app behind its load balancer, Grafana at its sub-path"

[ingest]
# OTLP/HTTP to the collector (/v1/traces, /v1/metrics, /v1/logs are appended):
# traces.roundtrip, logs.roundtrip, metrics.roundtrip and the ingest.* checks
# need it. Often reachable only from inside the VPC: run pillars there, or leave
# it out and those checks are skipped.
{otlp}
# OTLP/gRPC (port 4317), as the deployment's backend exports: with both named,
# `--transport both` checks each; otlp_protocol picks the round trips' default
# (OTEL_EXPORTER_OTLP_PROTOCOL wins). The sdk_traces load kind needs it.
# otlp_grpc = "http://<collector>:4317"
# otlp_protocol = "grpc"
# Faro through the load balancer's /collect route: frontend.roundtrip and the
# correlation checks.
faro = {faro}
# Pyroscope's push API: profiles.roundtrip.
{pyroscope}

[app]
# The app's public base URL: the correlation checks call /api/* through it with
# a traceparent, as the React app does.
base_url = {base}
frontend_service = "durable-code-frontend"  # Faro `app` label and frontend service.name
backend_service = "durable-code-backend"    # the backend's service.name

[read]
# Every store is read through Grafana's datasource proxy, sub-path included:
# datasources.healthy, every round trip's read side and the correlation checks.
grafana = {grafana}
# A store's own URL, when pillars can reach it, is read directly instead:
# tempo = "http://<instance>:3200"
# loki = "http://<instance>:3100"
# mimir = "http://<instance>:9009/prometheus"

[read.datasources]
# Grafana datasource uids; each defaults to the store's name.
# tempo = "tempo"
# loki = "loki"
# mimir = "mimir"
# pyroscope = "pyroscope"

[auth]
# The name of the environment variable that holds a Grafana service-account
# token (role Viewer), never the token itself.
grafana_token_env = {token}

[limits]
ingest_slo = "30s"          # p99 write-to-queryable latency each pillar must stay under
wait = "60s"                # poll this long before suspecting data is missing
max_wait = "90s"            # keep confirming until then before declaring it missing
request_timeout = "10s"
# memory_budget_mb = 2700   # memory the instance leaves for containers
# alert_wait = "4m"         # alerts.fire: wait this long for the fast-burn alerts to fire

# dashboards.have_data judges every panel Grafana serves; list the ones
# that may show nothing on this deployment.
[dashboards]
# expected_empty = ["Profiling / Memory allocations"]

# alerts.fire and correlation.investigation: the rule groups the ruler must
# load and the alerts a burst drives (these are the defaults, for the rules
# of compose/mimir/rules).
[alerts]
# groups = ["durable-code-slo-recording", "durable-code-slo-alerts", "durable-code-symptoms"]
# error_alert = "BackendAvailabilityFastBurn"
# latency_alert = "BackendLatencyFastBurn"
# error_path = "/api/error?ratio=1"   # an app path that answers 5xx (pillars' reference backends serve this one)
# slow_path = "/api/delay/slow"
"#,
        name = printable(&plan.name),
        name_q = quoted(&plan.name),
        faro = quoted(&under(base, "collect")),
        base = quoted(base.as_str()),
        grafana = quoted(&grafana),
        token = quoted(&plan.token_env),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> InitPlan {
        InitPlan {
            path: "t.toml".into(),
            name: "staging".into(),
            base_url: Url::parse("https://app.example/").unwrap(),
            grafana: None,
            otlp_http: None,
            pyroscope: Some(Url::parse("http://10.0.0.5:4040").unwrap()),
            token_env: "PILLARS_GRAFANA_TOKEN".into(),
            force: false,
        }
    }

    #[test]
    fn the_file_loads_back_with_the_urls_it_was_given() {
        let env = Env::from_pairs([("PILLARS_GRAFANA_TOKEN", "t0ken-value")]);
        let target = Target::from_toml(&render(&plan()), TargetKind::Sim, &env).unwrap();
        assert_eq!(target.name, "staging");
        assert_eq!(
            target.grafana.as_ref().unwrap().url.as_str(),
            "https://app.example/grafana"
        );
        assert!(target.otlp_traces.is_none(), "no OTLP unless given");
        assert!(render(&plan()).contains("faro = \"https://app.example/collect\""));
    }
}
