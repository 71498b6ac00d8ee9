//! The Compose stack (`compose/docker-compose.yml`): a Docker preflight that
//! answers within seconds with one clear message when there is no engine,
//! standing the stack up and down with Docker's compose CLI, and waiting for
//! each service on its own health endpoint with its own deadline.
//!
//! Uses: measure::{wait, memory} (the Compose project), query::{docker, http}.
//! The Docker engine's address comes from the caller (`DOCKER_HOST`, read
//! once into `env::Env`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::wait::{Probe, wait_for};

/// How long the engine has to answer `GET /version`.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(
        "the Compose stack needs a Docker engine, and none answered at {host} ({detail}); start Docker, or point DOCKER_HOST at a running engine (e.g. DOCKER_HOST=unix:///var/run/docker.sock or tcp://127.0.0.1:2375)"
    )]
    NoDocker { host: String, detail: String },
    #[error("no compose CLI found (tried `docker compose` and `docker-compose`); install the Docker Compose plugin")]
    NoComposeCli,
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("service {service} did not become healthy: {detail}; see `docker compose logs {service}`")]
    Unhealthy { service: String, detail: String },
}

/// Asks the Docker engine for its version, as `docker version` would.
pub async fn docker_preflight(docker_host: Option<&str>) -> Result<String, ComposeError> {
    let host = crate::query::docker::host(docker_host);
    let no_docker = |detail: String| ComposeError::NoDocker {
        host: host.clone(),
        detail,
    };
    let version = crate::query::docker::get_json(&host, "/version", PREFLIGHT_TIMEOUT)
        .await
        .map_err(no_docker)?;
    version
        .get("Version")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| no_docker("the answer had no Version".into()))
}

/// Waits for each service on its health endpoint, each with its own
/// deadline, instead of compose's one global wait.
pub async fn wait_healthy(per_service: Duration) -> Result<(), ComposeError> {
    let http = crate::http::client(Duration::from_secs(3));
    for (service, url) in HEALTH {
        wait_for(per_service, &format!("{service} healthy"), || {
            let req = http.get(*url);
            async move {
                match req.send().await {
                    Ok(r) if r.status().is_success() => Probe::Ready(()),
                    Ok(r) => Probe::NotYet(format!("{url} answered {}", r.status())),
                    Err(e) => Probe::NotYet(format!("{url}: {e}")),
                }
            }
        })
        .await
        .map_err(|e| ComposeError::Unhealthy {
            service: (*service).to_owned(),
            detail: e.to_string(),
        })?;
    }
    Ok(())
}

/// The stack's compose file and the CLI that runs it.
#[derive(Debug, Clone)]
pub struct ComposeStack {
    file: PathBuf,
    cli: Vec<String>,
}

/// Each service of the stack and where it answers healthy on the host.
pub const HEALTH: &[(&str, &str)] = &[
    ("mimir", "http://127.0.0.1:9009/ready"),
    ("loki", "http://127.0.0.1:3100/ready"),
    ("tempo", "http://127.0.0.1:3200/ready"),
    ("pyroscope", "http://127.0.0.1:4040/ready"),
    ("alloy", "http://127.0.0.1:12345/-/ready"),
    ("grafana", "http://127.0.0.1:3001/grafana/api/health"),
    ("edge", "http://127.0.0.1:8000/health"),
];

impl ComposeStack {
    /// Finds the compose CLI for `file` (`compose/docker-compose.yml`).
    pub async fn new(file: &Path) -> Result<ComposeStack, ComposeError> {
        for cli in [vec!["docker", "compose"], vec!["docker-compose"]] {
            let ok = Command::new(cli[0])
                .args(&cli[1..])
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(ComposeStack {
                    file: file.to_owned(),
                    cli: cli.into_iter().map(str::to_owned).collect(),
                });
            }
        }
        Err(ComposeError::NoComposeCli)
    }

    async fn run(&self, args: &[&str]) -> Result<String, ComposeError> {
        let output = Command::new(&self.cli[0])
            .args(&self.cli[1..])
            .args(["-p", crate::measure::memory::COMPOSE_PROJECT, "-f"])
            .arg(&self.file)
            .args(args)
            .output()
            .await
            .map_err(|e| ComposeError::Command {
                command: format!("{} {}", self.cli.join(" "), args.join(" ")),
                status: "could not start".into(),
                stderr: e.to_string(),
            })?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(ComposeError::Command {
                command: format!("{} {}", self.cli.join(" "), args.join(" ")),
                status: output.status.to_string(),
                stderr: crate::http::excerpt(&output.stderr),
            })
        }
    }

    /// `up -d --build`, then waits for every service on its own endpoint.
    pub async fn up(&self, per_service: Duration) -> Result<(), ComposeError> {
        self.run(&["up", "-d", "--build"]).await?;
        wait_healthy(per_service).await
    }

    /// `down -v`: containers and volumes go.
    pub async fn down(&self) -> Result<(), ComposeError> {
        self.run(&["down", "-v", "--remove-orphans"]).await.map(drop)
    }

    /// `ps`, as the CLI prints it.
    pub async fn status(&self) -> Result<String, ComposeError> {
        self.run(&["ps"]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_engine_is_one_clear_message_within_seconds() {
        let started = std::time::Instant::now();
        let err = docker_preflight(Some("unix:///nonexistent/docker.sock"))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("needs a Docker engine") && text.contains("DOCKER_HOST"),
            "{text}"
        );
        assert!(started.elapsed() < Duration::from_secs(4));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = docker_preflight(Some(&format!("tcp://127.0.0.1:{port}")))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(&format!("tcp://127.0.0.1:{port}")));
    }
}
