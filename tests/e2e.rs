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

use pillars::stack::compose::{docker_preflight, wait_healthy};
use pillars::verify::TargetChoice;
use testcontainers::compose::DockerCompose;

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (var, default) in [
        ("PILLARS_GRAFANA_USER", "admin"),
        ("PILLARS_GRAFANA_PASSWORD", "local-admin-pw"),
    ] {
        if std::env::var_os(var).is_none() {
            // SAFETY: no other thread runs yet; the runtime starts below.
            unsafe { std::env::set_var(var, default) };
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        let docker_host = std::env::var("DOCKER_HOST").ok();
        let version = docker_preflight(docker_host.as_deref())
            .await
            .map_err(|e| e.to_string())?;
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
            pillars::acceptance::run_features(
                &root.join("features"),
                TargetChoice::File(root.join("compose/target.toml")),
                None,
            )
            .await
            .map_err(|e| e.to_string())
        }
        .await;
        if std::env::var_os("PILLARS_KEEP_STACK").is_some() {
            eprintln!("PILLARS_KEEP_STACK is set: the stack stays up (pillars stack down removes it)");
            std::mem::forget(compose);
        } else if let Err(e) = compose.down().await {
            eprintln!("warning: tearing the stack down failed: {e}");
        }
        ran
    });
    match result {
        Ok(summary) => {
            println!("{summary}");
            if summary.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
