//! Starting and stopping the embedded reference stack: each role on its own
//! loopback port (port 0, so tests never collide), and the target that points
//! at it.
//!
//! Uses: every role's module, provisioning, state, faults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use crate::faro::{FaroReceiver, FaroSettings};
use crate::faults::Faults;
use crate::grafana::{self, GrafanaAuth, OrgRole};
use crate::logs::LogCounts;
use crate::metrics::MetricCounts;
use crate::profiles::ProfileCounts;
use crate::provisioning::{self, Backend};
use crate::ruler::{RuleFile, RuleTiming, Ruler};
use crate::state::SimState;
use crate::traces::TraceCounts;
use crate::variants::Variants;
use crate::{app, cadvisor, collector, collector_grpc, loki, mimir, pyroscope, tempo};

/// Where the reference stack's Grafana is served, as the deployment's is.
pub const DEFAULT_GRAFANA_SUB_PATH: &str = "/grafana";

/// How to start the reference stack.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub faults: Faults,
    /// Deployment choices to reproduce (how Alloy exports logs, …).
    pub variants: Variants,
    /// Idle time before Tempo search finds a trace.
    pub search_idle: Duration,
    /// Address to bind every role on; port 0 picks free ports.
    pub bind: SocketAddr,
    /// Grafana's datasources, as a provisioning file; the built-in one
    /// matches the deployment.
    pub grafana_datasources: Option<String>,
    pub grafana_auth: GrafanaAuth,
    /// `[auth.anonymous]`: the role a request without valid credentials is
    /// served with. `None` is open as an admin when `grafana_auth` is empty
    /// and closed otherwise; the deployment's Grafana is `Some(Viewer)`.
    pub grafana_anonymous: Option<OrgRole>,
    /// The environment variable the printed target names for Grafana's
    /// token, when `grafana_auth` has one.
    pub grafana_token_env: Option<String>,
    /// Where Grafana is served (`root_url`'s path, `serve_from_sub_path`).
    pub grafana_sub_path: String,
    pub faro: FaroSettings,
    /// `service.name` of the app role's backend tier.
    pub backend_service: String,
    /// The rule files Mimir's ruler loads; the deployment's by default.
    pub rule_files: Vec<RuleFile>,
    /// Shorter rule intervals and `for`s than the files say, for tests.
    pub rule_timing: RuleTiming,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            faults: Faults::default(),
            variants: Variants::default(),
            search_idle: Duration::from_secs(2),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            grafana_datasources: None,
            grafana_auth: GrafanaAuth::default(),
            grafana_anonymous: None,
            grafana_token_env: None,
            grafana_sub_path: DEFAULT_GRAFANA_SUB_PATH.into(),
            faro: FaroSettings::default(),
            backend_service: "durable-code-backend".into(),
            rule_files: vec![RuleFile::deployment()],
            // A test double's alerts fire in seconds, not after the files'
            // 30 s intervals and minutes of `for`: same states, same order.
            rule_timing: RuleTiming {
                interval: Some(Duration::from_secs(1)),
                hold: Some(Duration::from_secs(2)),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("could not bind the reference stack's {role} to {addr}: {source}; pick another address or free the port")]
    Bind {
        role: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the Grafana datasource provisioning file is not valid: {0}")]
    Provisioning(String),
    #[error("the ruler's rule file is not valid: {0}")]
    Rules(String),
}

/// A running reference stack. Dropping it stops its servers.
#[derive(Debug)]
pub struct SimStack {
    collector: SocketAddr,
    collector_grpc: SocketAddr,
    tempo: SocketAddr,
    loki: SocketAddr,
    mimir: SocketAddr,
    pyroscope: SocketAddr,
    grafana: SocketAddr,
    grafana_sub_path: String,
    grafana_token_env: Option<String>,
    faro: SocketAddr,
    app: SocketAddr,
    state: Arc<SimState>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
}

impl SimStack {
    pub async fn start(options: SimOptions) -> Result<SimStack, SimError> {
        let ruler = Ruler::load(&options.rule_files, options.rule_timing).map_err(SimError::Rules)?;
        let state = Arc::new(SimState::new(options.faults, options.variants, options.search_idle).with_ruler(ruler));
        let (stop, stopped) = watch::channel(false);
        let mut servers = Vec::new();
        let faro_receiver = FaroReceiver::new(state.clone(), options.faro.clone());
        let routers = [
            ("collector", collector::router(state.clone())),
            ("tempo", tempo::router(state.clone())),
            ("loki", loki::router(state.clone())),
            ("mimir", mimir::router(state.clone())),
            ("pyroscope", pyroscope::router(state.clone())),
            ("faro", faro_receiver.router()),
            // The ALB: the backend's paths and `/collect` on one port.
            (
                "app",
                app::router(state.clone(), &options.backend_service).merge(faro_receiver.router()),
            ),
        ];
        let mut addrs = Vec::with_capacity(routers.len());
        for (role, router) in routers {
            addrs.push(serve(role, options.bind, router, &stopped, &mut servers).await?);
        }
        let [collector, tempo, loki, mimir, pyroscope, faro, app] = addrs[..] else {
            unreachable!("one address per role")
        };
        let yaml = options
            .grafana_datasources
            .as_deref()
            .unwrap_or(grafana::DEFAULT_PROVISIONING);
        let datasources = provisioning::parse(yaml).map_err(SimError::Provisioning)?;
        let url = |addr: SocketAddr, path: &str| Url::parse(&format!("http://{addr}{path}")).expect("loopback URL");
        let backends = BTreeMap::from([
            (Backend::Tempo, url(tempo, "")),
            (Backend::Loki, url(loki, "")),
            (Backend::Prometheus, url(mimir, "/prometheus")),
            (Backend::Pyroscope, url(pyroscope, "")),
        ]);
        let grafana_router = grafana::router(
            state.clone(),
            datasources,
            backends,
            options.grafana_auth,
            options.grafana_anonymous,
            &options.grafana_sub_path,
        );
        let grafana = serve("grafana", options.bind, grafana_router, &stopped, &mut servers).await?;
        let (listener, collector_grpc) = listen("collector (OTLP/gRPC)", options.bind).await?;
        servers.push(tokio::spawn(collector_grpc::serve(
            state.clone(),
            listener,
            stopped.clone(),
        )));
        servers.push(tokio::spawn(cadvisor::run(state.clone(), stopped.clone())));
        servers.extend(Ruler::spawn(state.clone(), &stopped));
        Ok(SimStack {
            collector,
            collector_grpc,
            tempo,
            loki,
            mimir,
            pyroscope,
            grafana,
            grafana_sub_path: format!("/{}", options.grafana_sub_path.trim_matches('/')),
            grafana_token_env: options.grafana_token_env,
            faro,
            app,
            state,
            stop,
            servers,
        })
    }

    pub fn faults(&self) -> Faults {
        self.state.faults()
    }

    /// Replaces the faults of the running stack.
    pub fn set_faults(&self, faults: Faults) {
        self.state.set_faults(faults);
    }

    pub fn variants(&self) -> Variants {
        self.state.variants()
    }

    /// Replaces the deployment variants of the running stack.
    pub fn set_variants(&self, variants: Variants) {
        self.state.set_variants(variants);
    }

    pub fn trace_counts(&self) -> TraceCounts {
        self.state.traces.counts()
    }

    pub fn log_counts(&self) -> LogCounts {
        self.state.logs.counts()
    }

    pub fn metric_counts(&self) -> MetricCounts {
        self.state.metrics.counts()
    }

    /// Requests the app's `/api/*` routes received, 429s included.
    pub fn app_requests(&self) -> u64 {
        self.state.app_requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Export calls the OTLP/gRPC receiver answered OK.
    pub fn grpc_exports(&self) -> u64 {
        self.state.grpc_exports.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Ingest requests that arrived while `reject_ratio` was set.
    pub fn refused_candidates(&self) -> u64 {
        self.state.ingest_requests()
    }

    pub fn profile_counts(&self) -> ProfileCounts {
        self.state.profiles.counts()
    }

    /// The target file that points at this stack, as `pillars sim` prints it.
    pub fn target_toml(&self) -> String {
        let faults = self.state.faults().specs();
        let mut fault_line = if faults.is_empty() {
            String::new()
        } else {
            format!(" Faults: {}.", faults.join(", "))
        };
        let variants = self.state.variants().specs();
        if !variants.is_empty() {
            fault_line.push_str(&format!(" Variants: {}.", variants.join(", ")));
        }
        format!(
            r#"# The embedded reference stack (pillars sim): a test double, not a deployment.{fault_line}
name = "sim"
description = "embedded reference stack (in-process test double)"

[ingest]
otlp_http = "http://{collector}"
otlp_grpc = "http://{collector_grpc}"
pyroscope = "http://{pyroscope}"
faro = "http://{faro}/collect"

[app]
base_url = "http://{app}"

[read]
tempo = "http://{tempo}"
loki = "http://{loki}"
mimir = "http://{mimir}/prometheus"
pyroscope = "http://{pyroscope}"
grafana = "http://{grafana}{grafana_path}"
{auth}
[dashboards]
# As on the deployment: the app profiles CPU only.
expected_empty = ["Profiling / Memory allocations"]

[limits]
wait = "5s"
max_wait = "8s"
search_ready_after = "{search_ready}ms"
request_timeout = "5s"
ingest_slo = "5s"
# Rules are evaluated every second and alerts held 2 s (SimOptions::rule_timing).
alert_wait = "15s"
"#,
            collector = self.collector,
            collector_grpc = self.collector_grpc,
            tempo = self.tempo,
            loki = self.loki,
            mimir = self.mimir,
            pyroscope = self.pyroscope,
            grafana = self.grafana,
            grafana_path = self.grafana_sub_path.trim_end_matches('/'),
            auth = match &self.grafana_token_env {
                Some(var) => format!("\n[auth]\ngrafana_token_env = \"{var}\"\n"),
                None => String::new(),
            },
            faro = self.faro,
            app = self.app,
            // The guard stays inside max_wait (8 s) even when search is made
            // slower than that.
            search_ready = self.state.search_idle.min(Duration::from_secs(4)).as_millis(),
        )
    }

    /// Stops the servers and waits for them to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for server in self.servers.drain(..) {
            let _ = server.await;
        }
    }
}

impl Drop for SimStack {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn listen(role: &'static str, bind: SocketAddr) -> Result<(TcpListener, SocketAddr), SimError> {
    let listener = TcpListener::bind(bind).await.map_err(|source| SimError::Bind {
        role,
        addr: bind,
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        role,
        addr: bind,
        source,
    })?;
    Ok((listener, addr))
}

async fn serve(
    role: &'static str,
    bind: SocketAddr,
    router: axum::Router,
    stopped: &watch::Receiver<bool>,
    servers: &mut Vec<JoinHandle<()>>,
) -> Result<SocketAddr, SimError> {
    let (listener, addr) = listen(role, bind).await?;
    let mut stopped = stopped.clone();
    servers.push(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|&stop| stop).await;
        };
        // A server error after binding only ends this role; requests to it
        // then fail and the checks say so.
        let _ = axum::serve(listener, router).with_graceful_shutdown(shutdown).await;
    }));
    Ok(addr)
}
