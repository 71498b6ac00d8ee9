//! The reference stack's Grafana as clients meet it: auth when configured,
//! a sub-path, and provisioning files.

use pillars::stack::sim::SimTarget;
use std::sync::Arc;

use pillars::checks::{CheckCtx, CheckSettings, Status};
use pillars::stack::sim::{GrafanaAuth, SimOptions, SimStack};
use pillars::target::{Env, Target, TargetKind};

use crate::common::{SEED, run};

async fn sim_with(options: SimOptions) -> SimStack {
    SimStack::start(options).await.expect("sim starts")
}

#[tokio::test]
async fn a_token_is_required_when_configured_and_read_from_the_environment() {
    let sim = sim_with(SimOptions {
        grafana_auth: GrafanaAuth {
            token: Some("s3cret".into()),
            basic: None,
        },
        grafana_token_env: Some("PILLARS_TEST_GRAFANA_TOKEN".into()),
        ..SimOptions::default()
    })
    .await;
    let toml = sim.target_toml();
    assert!(
        toml.contains("grafana_token_env = \"PILLARS_TEST_GRAFANA_TOKEN\""),
        "{toml}"
    );
    assert!(!toml.contains("s3cret"));

    let env = Env::from_pairs([("PILLARS_TEST_GRAFANA_TOKEN", "s3cret")]);
    let target = Target::from_toml(&toml, TargetKind::File("sim.toml".into()), &env).unwrap();
    let ctx = CheckCtx::new(Arc::new(target), "auth".into(), SEED, CheckSettings::default());
    let outcome = run("datasources.healthy", &ctx).await;
    assert_eq!(outcome.status(), Status::Pass, "{outcome:?}");

    let wrong = Env::from_pairs([("PILLARS_TEST_GRAFANA_TOKEN", "nope")]);
    let target = Target::from_toml(&toml, TargetKind::File("sim.toml".into()), &wrong).unwrap();
    let ctx = CheckCtx::new(Arc::new(target), "auth".into(), SEED, CheckSettings::default());
    let outcome = run("datasources.healthy", &ctx).await;
    assert_eq!(outcome.verdict.reason(), Some("unauthorized"), "{outcome:?}");
    assert!(outcome.summary.contains("401"), "{}", outcome.summary);
    assert!(
        !format!("{outcome:?}").contains("nope"),
        "the token leaked into the outcome"
    );
}

#[tokio::test]
async fn grafana_is_served_under_the_configured_sub_path_only() {
    let sim = sim_with(SimOptions {
        grafana_sub_path: "/observability/grafana".into(),
        ..SimOptions::default()
    })
    .await;
    let target = sim.target(&Env::default()).unwrap();
    let url = target.grafana.as_ref().unwrap().url.clone();
    assert!(url.path().starts_with("/observability/grafana"), "{url}");
    let ctx = CheckCtx::new(Arc::new(target), "sub".into(), SEED, CheckSettings::default());
    assert_eq!(run("datasources.healthy", &ctx).await.status(), Status::Pass);
    let root = format!(
        "http://{}/api/health",
        url.host_str().unwrap().to_owned() + ":" + &url.port().unwrap().to_string()
    );
    // Outside the sub-path Grafana redirects into it (SubPathRedirect);
    // pillars never follows a redirect, so it sees the 301 itself.
    let answer = pillars::http::client(std::time::Duration::from_secs(5))
        .get(root)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 301);
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(location.contains("/observability/grafana/api/health"), "{location}");
}

#[tokio::test]
async fn a_provisioning_file_decides_the_datasources() {
    let yaml = r#"
apiVersion: 1
datasources:
  - name: Logs
    type: loki
    uid: logs-uid
    url: http://loki:3100
"#;
    let sim = sim_with(SimOptions {
        grafana_datasources: Some(yaml.into()),
        ..SimOptions::default()
    })
    .await;
    // Reading the stores directly, the target needs none of Grafana's uids.
    let target = sim.target(&Env::default()).unwrap();
    let ctx = CheckCtx::new(Arc::new(target), "prov".into(), SEED, CheckSettings::default());
    let outcome = run("datasources.healthy", &ctx).await;
    assert_eq!(outcome.status(), Status::Pass, "{outcome:?}");
    assert_eq!(outcome.evidence["datasources"][0]["uid"], "logs-uid");

    // Reading through Grafana, it needs the uids tempo, mimir, pyroscope and
    // loki, which this Grafana does not have.
    let proxied = crate::common::through_grafana(&sim);
    let target = Target::from_toml(&proxied, TargetKind::File("proxy.toml".into()), &Env::default()).unwrap();
    let ctx = CheckCtx::new(Arc::new(target), "prov".into(), SEED, CheckSettings::default());
    let outcome = run("datasources.healthy", &ctx).await;
    assert_eq!(outcome.verdict.reason(), Some("missing_datasource"), "{outcome:?}");

    let err = SimStack::start(SimOptions {
        grafana_datasources: Some("datasources: [".into()),
        ..SimOptions::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("provisioning"), "{err}");
}
