//! `cargo test --features e2e`: a Docker preflight first (one message and a
//! failure within seconds without an engine), then testcontainers'
//! `DockerCompose` stands `compose/docker-compose.yml` up once — without
//! compose's 60 s global wait; each service is waited for on its own health
//! endpoint — every feature in `features/` runs against it
//! (`compose/target.toml`), and the stack goes down with its volumes, on
//! failure too (PILLARS_KEEP_STACK=1 keeps it for debugging). Prints
//! `N passed, N failed`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use pillars::env::Env;
use pillars::stack::compose::{docker_preflight, wait_healthy};
use pillars::target::{COMPOSE_TARGET_FILE, TargetChoice};
use testcontainers::compose::DockerCompose;

#[path = "support/features.rs"]
mod features;

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Grafana's admin as docker-compose.yml sets it up, unless named.
    let env = Env::from_process()
        .or_set("PILLARS_GRAFANA_USER", "admin")
        .or_set("PILLARS_GRAFANA_PASSWORD", "local-admin-pw");
    features::run(async move {
        let version = docker_preflight(env.docker_host()).await.map_err(|e| e.to_string())?;
        eprintln!("Docker {version}: standing up compose/docker-compose.yml");
        let mut compose = DockerCompose::with_local_client(&[root.join("compose/docker-compose.yml")])
            .with_build(true)
            .with_wait(false);
        compose.with_remove_volumes(true);
        let ran = async {
            compose
                .up()
                .await
                .map_err(|e| format!("docker compose up failed: {e}"))?;
            wait_healthy(Duration::from_secs(240))
                .await
                .map_err(|e| e.to_string())?;
            let target = TargetChoice::File(root.join(COMPOSE_TARGET_FILE));
            pillars::acceptance::run_features(&features::dir(), target, env.clone(), None)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        if env.get("PILLARS_KEEP_STACK").is_some() {
            eprintln!("PILLARS_KEEP_STACK is set: the stack stays up (pillars stack down removes it)");
            std::mem::forget(compose);
        } else if let Err(e) = compose.down().await {
            eprintln!("warning: tearing the stack down failed: {e}");
        }
        ran
    })
}
