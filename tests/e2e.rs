//! `cargo test --features e2e`: stands the Compose stack up once, runs every
//! feature in `features/` against it (`compose/target.toml`), tears it down
//! (unless PILLARS_KEEP_STACK is set) and prints `N passed, N failed`.
//! Without a Docker engine it stops within seconds with one message.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use pillars::stack::compose::{ComposeStack, docker_preflight};
use pillars::verify::TargetChoice;

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (var, default) in [
        ("PILLARS_GRAFANA_USER", "admin"),
        ("PILLARS_GRAFANA_PASSWORD", "pillars"),
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
        let stack = ComposeStack::new(&root.join("compose/docker-compose.yml"))
            .await
            .map_err(|e| e.to_string())?;
        let up = stack.up(Duration::from_secs(240)).await.map_err(|e| e.to_string());
        let summary = match up {
            Ok(()) => pillars::acceptance::run_features(
                &root.join("features"),
                TargetChoice::File(root.join("compose/target.toml")),
                None,
            )
            .await
            .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if std::env::var_os("PILLARS_KEEP_STACK").is_none()
            && let Err(e) = stack.down().await
        {
            eprintln!("warning: tearing the stack down failed: {e}");
        }
        summary
    });
    match result {
        Ok(summary) => {
            println!("{} passed, {} failed", summary.passed, summary.failed);
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
