//! The correlation checks against the real reference backend
//! (`compose/app/`, FastAPI with the OpenTelemetry Python SDK, loguru and
//! pyroscope-otel), run natively and pointed at the embedded reference
//! stack: the links are made by a real SDK, not by the simulator.
//!
//! Needs Python 3 with `compose/app/requirements.txt`; the venv in `.venv`
//! is created on first use (`bash .ci/run` creates it too).

use pillars::stack::sim::SimTarget;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pillars::checks::{CheckCtx, CheckSettings, Status};
use pillars::stack::sim::{SimOptions, SimStack};
use pillars::target::{Env, Signal, Target, TargetKind};

use crate::common::{SEED, run};

const INSTALL: &str = "python3 -m venv .venv && .venv/bin/pip install -r compose/app/requirements.txt";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's interpreter, created and filled on first use.
fn python() -> PathBuf {
    let venv = repo().join(".venv");
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args([
                "-c",
                "import fastapi, uvicorn, loguru, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc, pyroscope, pyroscope.otel",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return python;
    }
    eprintln!("setting up the reference backend's Python environment: {INSTALL}");
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .unwrap_or_else(|e| {
            panic!("python3 is needed to run the reference backend ({e}); install Python 3.11 and run: {INSTALL}")
        });
    assert!(created.success(), "creating .venv failed; run: {INSTALL}");
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "-q", "-r"])
        .arg(repo().join("compose/app/requirements.txt"))
        .status()
        .expect("pip runs");
    assert!(
        installed.success(),
        "installing compose/app/requirements.txt failed; run: {INSTALL}"
    );
    assert!(
        ready(&python),
        "the packages are still missing from .venv; run: {INSTALL}"
    );
    python
}

/// The backend process; killed when dropped.
struct Backend(Child);

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn issue_4_correlation_checks_pass_against_the_real_backend_over_grpc() {
    // The deployment's way: the Python SDK's gRPC exporters to 4317.
    let sim = correlation_checks_pass(
        "grpc",
        &[
            "correlation.trace_across_tiers",
            "correlation.exemplar_to_trace",
            "correlation.trace_to_logs",
            "correlation.trace_to_profile",
        ],
    )
    .await;
    assert!(sim.grpc_exports() > 0, "the backend's telemetry went over gRPC");
}

#[tokio::test]
async fn correlation_checks_pass_against_the_real_backend_over_http() {
    let sim = correlation_checks_pass(
        "http/protobuf",
        &["correlation.trace_across_tiers", "correlation.trace_to_logs"],
    )
    .await;
    assert_eq!(sim.grpc_exports(), 0, "the backend's telemetry went over OTLP/HTTP");
}

/// Runs the backend exporting over `protocol` to the sim and the checks
/// `ids` against it; each must pass.
async fn correlation_checks_pass(protocol: &str, ids: &[&str]) -> SimStack {
    let python = python();
    let sim = SimStack::start(SimOptions::default()).await.expect("sim starts");
    let sim_target = sim.target(&Env::default()).unwrap();
    let collector = match protocol {
        "grpc" => sim_target.otlp_grpc.of(Signal::Traces).as_ref().unwrap().as_str(),
        _ => sim_target.otlp_traces.as_ref().unwrap().as_str(),
    }
    .trim_end_matches('/')
    .trim_end_matches("/v1/traces")
    .to_owned();
    let pyroscope = sim_target.pyroscope_ingest.as_ref().unwrap().to_string();
    let port = free_port();
    let backend = Backend(
        Command::new(&python)
            .args([
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .current_dir(repo().join("compose/app"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
            .env("OTEL_SERVICE_NAME", "durable-code-backend")
            .env("OTEL_TRACES_SAMPLER", "traceidratio")
            .env("OTEL_TRACES_SAMPLER_ARG", "1.0")
            .env("OTEL_METRIC_EXPORT_INTERVAL", "500")
            .env("OTEL_BSP_SCHEDULE_DELAY", "200")
            .env("OTEL_BLRP_SCHEDULE_DELAY", "200")
            .env("PYROSCOPE_SERVER_ADDRESS", pyroscope.trim_end_matches('/'))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the reference backend starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if reqwest::get(format!("{base}/health"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reference backend did not answer /health within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The sim's target, with the app role played by the real backend.
    let toml = sim.target_toml().replace(
        &format!(
            "base_url = \"{}\"",
            sim_target.app.as_ref().unwrap().as_str().trim_end_matches('/')
        ),
        &format!("base_url = \"{base}\""),
    );
    assert!(toml.contains(&base), "{toml}");
    let mut target = Target::from_toml(&toml, TargetKind::File("real-backend.toml".into()), &Env::default()).unwrap();
    // pyroscope-io pushes every 10 s: give the profile link time to land.
    target.limits.wait = Duration::from_secs(25);
    target.limits.max_wait = Duration::from_secs(30);
    let ctx = CheckCtx::new(Arc::new(target), "real-backend".into(), SEED, CheckSettings::default());
    for id in ids {
        let outcome = run(id, &ctx).await;
        assert_eq!(
            outcome.status(),
            Status::Pass,
            "{id} against the real backend over {protocol}: {outcome:?}"
        );
    }
    drop(backend);
    sim
}
