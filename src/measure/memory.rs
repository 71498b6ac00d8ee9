//! Memory headroom: each container's working set against its limit, and
//! their sum against the instance budget, from the best source the target
//! has — cAdvisor's series in Mimir (`container_memory_working_set_bytes`,
//! `container_spec_memory_limit_bytes`; the AWS deploy), the Docker Engine's
//! stats (the Compose stack), or this process itself (the embedded stack).
//! See `shared/reference/api/08-container-memory.md`.
//!
//! Uses: query::mimir.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::http::HttpError;
use crate::query::lang::promql::{Expr, Selector};
use crate::query::lang::{LangError, MatchOp, Matcher};
use crate::query::mimir::MimirClient;

/// One container's memory at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerMemory {
    pub container: String,
    pub working_set_bytes: u64,
    /// None when the container has no limit.
    pub limit_bytes: Option<u64>,
}

impl ContainerMemory {
    /// Free share of the limit (0–1); None without a limit.
    pub fn headroom(&self) -> Option<f64> {
        let limit = self.limit_bytes.filter(|l| *l > 0)? as f64;
        Some(1.0 - self.working_set_bytes as f64 / limit)
    }
}

/// The container (or the instance budget) with the least free memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Least {
    pub container: String,
    /// Free share of its limit, 0–1.
    pub headroom: f64,
}

impl std::fmt::Display for Least {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:.0} %", self.container, self.headroom * 100.0)
    }
}

/// The least headroom among containers, and the budget's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headroom {
    pub min_container: Option<Least>,
    pub total_bytes: u64,
    /// Free share of the instance budget.
    pub budget: Option<f64>,
}

pub fn headroom(samples: &[ContainerMemory], budget_bytes: Option<u64>) -> Headroom {
    let min_container = samples
        .iter()
        .filter_map(|s| {
            s.headroom().map(|headroom| Least {
                container: s.container.clone(),
                headroom,
            })
        })
        .min_by(|a, b| a.headroom.total_cmp(&b.headroom));
    let total_bytes = samples.iter().map(|s| s.working_set_bytes).sum();
    Headroom {
        min_container,
        total_bytes,
        budget: budget_bytes
            .filter(|b| *b > 0)
            .map(|b| 1.0 - total_bytes as f64 / b as f64),
    }
}

/// Where memory figures came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// cAdvisor's series, read back from Mimir.
    Cadvisor,
    /// The Docker Engine's stats for the Compose project.
    DockerEngine,
    /// This process, which serves the embedded reference stack.
    OwnProcess,
}

/// The sources a target has, best first.
#[derive(Debug, Clone)]
pub struct Sources {
    pub mimir: Option<MimirClient>,
    /// Ask the Docker Engine.
    pub docker: bool,
    /// The engine's address when not the default socket (`DOCKER_HOST`,
    /// as the caller read it).
    pub docker_host: Option<String>,
    pub own_process: bool,
}

impl Sources {
    /// Each container's memory from the best source that has any: none
    /// when no source does. An error means Mimir could not be asked.
    pub async fn sample(&self) -> Result<Option<(Source, Vec<ContainerMemory>)>, HttpError> {
        if let Some(mimir) = &self.mimir {
            let now = crate::clock::unix_now().as_secs_f64();
            let found = from_cadvisor(mimir, now).await?;
            if !found.is_empty() {
                return Ok(Some((Source::Cadvisor, found)));
            }
        }
        if self.docker {
            let found = from_docker_engine(self.docker_host.as_deref()).await;
            if !found.is_empty() {
                return Ok(Some((Source::DockerEngine, found)));
            }
        }
        Ok(self
            .own_process
            .then(own_process)
            .flatten()
            .map(|m| (Source::OwnProcess, vec![m])))
    }
}

/// This process's resident memory, for the embedded reference stack.
pub fn own_process() -> Option<ContainerMemory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(ContainerMemory {
        container: "pillars (embedded reference stack)".into(),
        working_set_bytes: kib * 1024,
        limit_bytes: None,
    })
}

/// cAdvisor's series of one metric, for every named container.
pub fn cadvisor_query(metric: &str) -> Result<Expr, LangError> {
    Ok(Selector::metric(metric, vec![Matcher::new("name", MatchOp::Ne, "")?])?.into())
}

/// cAdvisor's view, read back from Mimir: working set and limit per
/// container `name`.
pub async fn from_cadvisor(mimir: &MimirClient, at_secs: f64) -> Result<Vec<ContainerMemory>, HttpError> {
    let query = |metric: &str| {
        cadvisor_query(metric)
            .map_err(|e| HttpError::decode("Mimir", mimir.base(), format!("cannot build the query: {e}")))
    };
    let working = mimir
        .query(&query("container_memory_working_set_bytes")?, at_secs)
        .await?;
    let limits = mimir
        .query(&query("container_spec_memory_limit_bytes")?, at_secs)
        .await?;
    let limit_of: BTreeMap<&str, u64> = limits
        .iter()
        .filter_map(|s| Some((s.labels.get("name")?.as_str(), s.value as u64)))
        .collect();
    Ok(working
        .iter()
        .filter_map(|s| {
            let name = s.labels.get("name")?;
            Some(ContainerMemory {
                container: name.clone(),
                working_set_bytes: s.value as u64,
                // cAdvisor reports 0 for "no limit".
                limit_bytes: limit_of.get(name.as_str()).copied().filter(|l| *l > 0),
            })
        })
        .collect())
}

/// The Docker Engine's `GET /containers/<id>/stats?stream=false` body as a
/// sample: working set is usage less inactive file cache, as `docker stats`
/// computes it (cgroup v2 `inactive_file`, v1 `total_inactive_file`).
pub fn from_docker_stats(name: &str, stats: &serde_json::Value) -> Option<ContainerMemory> {
    let memory = stats.get("memory_stats")?;
    let usage = memory.get("usage")?.as_u64()?;
    let inactive = memory
        .get("stats")
        .and_then(|s| s.get("inactive_file").or_else(|| s.get("total_inactive_file")))
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    Some(ContainerMemory {
        container: name.trim_start_matches('/').to_owned(),
        working_set_bytes: usage.saturating_sub(inactive),
        limit_bytes: memory.get("limit").and_then(|v| v.as_u64()).filter(|l| *l > 0),
    })
}

/// The Compose project `pillars stack` runs the stack as (`-p`), whose
/// containers the Docker Engine stats cover.
pub const COMPOSE_PROJECT: &str = "pillars";

/// Each running container of the Compose project, from the Docker Engine's
/// stats; empty when no engine answers.
pub async fn from_docker_engine(docker_host: Option<&str>) -> Vec<ContainerMemory> {
    let host = crate::query::docker::host(docker_host);
    let timeout = std::time::Duration::from_secs(3);
    // filters={"label":["com.docker.compose.project=pillars"]}, encoded.
    let list = format!(
        "/containers/json?filters=%7B%22label%22%3A%5B%22com.docker.compose.project%3D{COMPOSE_PROJECT}%22%5D%7D"
    );
    let Ok(containers) = crate::query::docker::get_json(&host, &list, timeout).await else {
        return Vec::new();
    };
    let stats = containers.as_array().into_iter().flatten().filter_map(|c| {
        let id = c.get("Id")?.as_str()?.to_owned();
        let name = c.get("Names")?.get(0)?.as_str()?.to_owned();
        let host = host.clone();
        Some(async move {
            let path = format!("/containers/{id}/stats?stream=false&one-shot=true");
            let stats = crate::query::docker::get_json(&host, &path, timeout).await.ok()?;
            from_docker_stats(&name, &stats)
        })
    });
    futures::future::join_all(stats).await.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_stats_give_the_working_set() {
        let stats = serde_json::json!({
            "memory_stats": { "usage": 300_000_000u64, "limit": 402_653_184u64, "stats": { "inactive_file": 50_000_000u64 } }
        });
        let m = from_docker_stats("/pillars-loki-1", &stats).unwrap();
        assert_eq!(m.container, "pillars-loki-1");
        assert_eq!(m.working_set_bytes, 250_000_000);
        let h = m.headroom().unwrap();
        assert!((h - (1.0 - 250_000_000.0 / 402_653_184.0)).abs() < 1e-9);
        assert!(from_docker_stats("x", &serde_json::json!({})).is_none());
    }

    /// A Docker Engine on a socket, answering as the real one does over
    /// HTTP/1.0: the project's containers, then each one's stats.
    #[tokio::test]
    async fn the_docker_engine_gives_each_compose_container() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let engine = tokio::spawn(async move {
            let mut paths = Vec::new();
            for _ in 0..3 {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = vec![0u8; 4096];
                let n = stream.read(&mut request).await.unwrap();
                let line = String::from_utf8_lossy(&request[..n])
                    .lines()
                    .next()
                    .unwrap()
                    .to_owned();
                let path = line.split_whitespace().nth(1).unwrap().to_owned();
                let body = if path.starts_with("/containers/json") {
                    r#"[{"Id":"a1","Names":["/pillars-loki-1"]},{"Id":"b2","Names":["/pillars-tempo-1"]}]"#.to_owned()
                } else if path.starts_with("/containers/a1/stats") {
                    r#"{"memory_stats":{"usage":300,"limit":400,"stats":{"inactive_file":100}}}"#.to_owned()
                } else {
                    r#"{"memory_stats":{"usage":50,"limit":0}}"#.to_owned()
                };
                let answer = format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}");
                stream.write_all(answer.as_bytes()).await.unwrap();
                paths.push(path);
            }
            paths
        });
        let host = format!("unix://{}", socket.display());
        let mut found = from_docker_engine(Some(&host)).await;
        found.sort_by(|a, b| a.container.cmp(&b.container));
        assert_eq!(
            found,
            vec![
                ContainerMemory {
                    container: "pillars-loki-1".into(),
                    working_set_bytes: 200,
                    limit_bytes: Some(400),
                },
                ContainerMemory {
                    container: "pillars-tempo-1".into(),
                    working_set_bytes: 50,
                    limit_bytes: None,
                },
            ]
        );
        let paths = engine.await.unwrap();
        assert!(
            paths[0].contains("com.docker.compose.project%3Dpillars"),
            "the list is filtered to the project: {}",
            paths[0]
        );
        // No engine at all: nothing, quickly.
        assert!(
            from_docker_engine(Some("unix:///nonexistent/docker.sock"))
                .await
                .is_empty()
        );
    }

    #[test]
    fn headroom_is_the_tightest_container_and_the_budget() {
        let samples = [
            ContainerMemory {
                container: "loki".into(),
                working_set_bytes: 300,
                limit_bytes: Some(400),
            },
            ContainerMemory {
                container: "tempo".into(),
                working_set_bytes: 100,
                limit_bytes: Some(400),
            },
            ContainerMemory {
                container: "free".into(),
                working_set_bytes: 100,
                limit_bytes: None,
            },
        ];
        let h = headroom(&samples, Some(1000));
        assert_eq!(
            h.min_container,
            Some(Least {
                container: "loki".into(),
                headroom: 0.25
            })
        );
        assert_eq!(h.total_bytes, 500);
        assert_eq!(h.budget, Some(0.5));
    }

    #[test]
    fn own_process_memory_is_read() {
        let m = own_process().unwrap();
        assert!(m.working_set_bytes > 1024 * 1024, "{m:?}");
    }
}
