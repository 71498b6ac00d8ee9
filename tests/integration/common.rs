//! Shared fixtures: a reference stack with faults, a check context on it, a
//! target nobody listens on.

use pillars::stack::sim::SimTarget;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pillars::checks::{self, CheckCtx, CheckSettings, Outcome};
use pillars::ids::Seed;
use pillars::stack::sim::{Faults, SimOptions, SimStack};
use pillars::target::{Env, Target, TargetKind};

pub const SEED: Seed = Seed(0x5eed_1234);

/// Starts a reference stack with `faults` and returns it with a context.
pub async fn sim(faults: &[&str], settings: CheckSettings) -> (SimStack, CheckCtx) {
    let sim = SimStack::start(SimOptions {
        faults: Faults::parse(faults.iter().copied()).expect("valid faults"),
        ..SimOptions::default()
    })
    .await
    .expect("sim starts");
    let target = sim.target(&Env::default()).expect("sim target is valid");
    let ctx = CheckCtx::new(Arc::new(target), "test-run".into(), SEED, settings);
    (sim, ctx)
}

pub async fn run(id: &str, ctx: &CheckCtx) -> Outcome {
    checks::find(id).expect("check in catalog").run(ctx).await
}

/// A loopback port free at the time of asking, for something the test then
/// starts to bind (a tunnel's local end).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A loopback port with nothing listening: connections are refused. The
/// port stays bound (without `listen`) for the life of the test process,
/// so no server a test starts alongside can be given it.
pub fn dead_port() -> u16 {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("addr")
        .port();
    // Held, never listened on: a connect gets a reset, a bind gets refused.
    std::mem::forget(socket);
    port
}

/// A target file naming every role, all on ports nobody listens on.
pub fn dead_target_toml() -> String {
    let port = dead_port();
    format!(
        r#"name = "dead"
[ingest]
otlp_http = "http://127.0.0.1:{port}"
pyroscope = "http://127.0.0.1:{port}"
faro = "http://127.0.0.1:{port}/collect"
[app]
base_url = "http://127.0.0.1:{port}"
[read]
grafana = "http://127.0.0.1:{port}/grafana"
tempo = "http://127.0.0.1:{port}"
loki = "http://127.0.0.1:{port}"
mimir = "http://127.0.0.1:{port}"
pyroscope = "http://127.0.0.1:{port}"
[limits]
wait = "2s"
max_wait = "3s"
request_timeout = "2s"
"#
    )
}

pub fn dead_target() -> Target {
    Target::from_toml(
        &dead_target_toml(),
        TargetKind::File("dead.toml".into()),
        &Env::default(),
    )
    .expect("valid")
}

/// The sim's target file less its direct read URLs: every read goes through
/// Grafana's datasource proxy, as on the AWS deploy.
pub fn through_grafana(sim: &SimStack) -> String {
    let mut section = String::new();
    sim.target_toml()
        .lines()
        .filter(|line| {
            if line.starts_with('[') {
                section = (*line).to_owned();
            }
            section != "[read]" || !line.contains("://") || line.starts_with("grafana")
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Every `.rs` file below `dir`.
pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Runs the `pillars` binary to its end: exit code and stdout then stderr.
pub async fn pillars_cli(command: &mut tokio::process::Command) -> (i32, String) {
    let out = command.output().await.unwrap();
    let mut printed = String::from_utf8_lossy(&out.stdout).into_owned();
    printed.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), printed)
}

/// A command for the `pillars` binary.
pub fn pillars_command() -> tokio::process::Command {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_pillars"))
}
