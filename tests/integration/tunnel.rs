//! A target's `[tunnel]`, with a stand-in `aws` on `PATH` that forwards
//! the local port to the reference stack's Grafana as the SSM port forward
//! would: the run goes through it, and the stand-in is gone afterwards on
//! success, failure and SIGTERM; `--target aws` reads `infra/target.toml`
//! and, without it, names the command that writes it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pillars::stack::sim::SimStack;
use pillars::target::AWS_TARGET_COMMAND;

use crate::common::{free_port, pillars_cli, pillars_command, through_grafana};

/// `aws ssm start-session … --parameters {"portNumber":[R],"localPortNumber":[L]}`
/// as a forward from 127.0.0.1:L to 127.0.0.1:R. `FAKE_AWS_MODE` makes it
/// fail as the CLI does (`fail`) or never open the port (`silent`).
const FAKE_AWS: &str = r#"#!/usr/bin/env python3
import json, os, socket, sys, threading, time

with open(os.environ["FAKE_AWS_PIDFILE"], "w") as f:
    f.write(str(os.getpid()))
with open(os.environ["FAKE_AWS_ARGS"], "w") as f:
    json.dump(sys.argv[1:], f)
args = sys.argv[1:]
if args[:2] != ["ssm", "start-session"] or "AWS-StartPortForwardingSession" not in args:
    sys.exit("unexpected arguments: %r" % args)
params = json.loads(args[args.index("--parameters") + 1])
remote, local = int(params["portNumber"][0]), int(params["localPortNumber"][0])
mode = os.environ.get("FAKE_AWS_MODE", "forward")
if mode == "fail":
    sys.stderr.write("An error occurred (TargetNotConnected) when calling the StartSession operation: "
                     + args[args.index("--target") + 1] + " is not connected.\n")
    sys.exit(254)
if mode == "silent":
    time.sleep(3600)

def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", local))
server.listen(64)
print("Port %d opened for sessionId fake." % local, flush=True)
while True:
    client, _ = server.accept()
    upstream = socket.create_connection(("127.0.0.1", remote))
    for a, b in ((client, upstream), (upstream, client)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
"#;

/// A directory holding the stand-in `aws` and `session-manager-plugin`.
struct FakeAws {
    dir: tempfile::TempDir,
}

impl FakeAws {
    fn new() -> FakeAws {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [("aws", FAKE_AWS), ("session-manager-plugin", "#!/bin/sh\nexit 0\n")] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        FakeAws { dir }
    }

    fn path_var(&self) -> String {
        format!("{}:/usr/local/bin:/usr/bin:/bin", self.dir.path().display())
    }

    fn pidfile(&self) -> PathBuf {
        self.dir.path().join("aws.pid")
    }

    fn argsfile(&self) -> PathBuf {
        self.dir.path().join("aws.args")
    }

    /// The variables the stand-in reads, with `mode`.
    fn vars(&self, mode: &str) -> Vec<(String, String)> {
        vec![
            ("PATH".into(), self.path_var()),
            ("FAKE_AWS_PIDFILE".into(), self.pidfile().display().to_string()),
            ("FAKE_AWS_ARGS".into(), self.argsfile().display().to_string()),
            ("FAKE_AWS_MODE".into(), mode.into()),
            ("NO_COLOR".into(), "1".into()),
        ]
    }

    /// Waits until the stand-in has written its pid.
    fn pid(&self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(pid) = std::fs::read_to_string(self.pidfile())
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                return Some(pid);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The stand-in's process is gone (or a zombie about to be reaped).
    fn gone(&self) -> bool {
        let Some(pid) = self.pid() else { return true };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => return true,
                Ok(stat) if stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z')) => {
                    return true;
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        false
    }
}

/// The sim's target, read through Grafana at 127.0.0.1:`local`, which a
/// tunnel forwards to `remote` (the sim's Grafana port unless a test says).
fn tunnelled_target(sim: &SimStack, local: u16, remote: Option<u16>, ready_within: &str) -> String {
    let text = through_grafana(sim);
    let grafana_line = text
        .lines()
        .find(|l| l.starts_with("grafana = "))
        .expect("a Grafana URL");
    let url = url::Url::parse(grafana_line.trim_start_matches("grafana = ").trim_matches('"')).unwrap();
    let remote = remote.unwrap_or_else(|| url.port().unwrap());
    let tunnelled = text.replace(
        &format!("127.0.0.1:{}", url.port().unwrap()),
        &format!("127.0.0.1:{local}"),
    );
    format!(
        "{tunnelled}\n[tunnel]\nkind = \"ssm\"\ninstance_id = \"i-0123456789abcdef0\"\nremote_port = {remote}\nlocal_port = {local}\nready_within = \"{ready_within}\"\n"
    )
}

/// `pillars verify --only datasources.healthy` against `target` with
/// exactly `vars` as its environment: its exit code and what it printed.
async fn verify(target: &Path, report_dir: &Path, vars: Vec<(String, String)>) -> (i32, String) {
    let mut command = pillars_command();
    command
        .args(["verify", "--only", "datasources.healthy", "--target"])
        .arg(target)
        .arg("--report-dir")
        .arg(report_dir)
        .env_clear()
        .envs(vars);
    pillars_cli(&mut command).await
}

#[tokio::test]
async fn issue_13_the_run_goes_through_the_tunnel_and_closes_it() {
    let sim = SimStack::start(Default::default()).await.unwrap();
    let fake = FakeAws::new();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.toml");
    std::fs::write(&target, tunnelled_target(&sim, free_port(), None, "10s")).unwrap();
    let (code, output) = verify(&target, &dir.path().join("reports"), fake.vars("forward")).await;
    assert_eq!(code, 0, "{output}");
    let args: Vec<String> = serde_json::from_str(&std::fs::read_to_string(fake.argsfile()).unwrap()).unwrap();
    assert_eq!(args[..4], ["ssm", "start-session", "--target", "i-0123456789abcdef0"]);
    assert!(fake.gone(), "the session outlived the run");
}

#[tokio::test]
async fn issue_13_a_session_that_fails_or_never_opens_is_exit_3_and_is_ended() {
    let sim = SimStack::start(Default::default()).await.unwrap();
    for (mode, says) in [("fail", "TargetNotConnected"), ("silent", "did not open 127.0.0.1")] {
        let fake = FakeAws::new();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.toml");
        std::fs::write(&target, tunnelled_target(&sim, free_port(), None, "1s")).unwrap();
        let started = Instant::now();
        let (code, output) = verify(&target, &dir.path().join("reports"), fake.vars(mode)).await;
        assert_eq!(code, 3, "{mode}: {output}");
        assert!(output.contains(says), "{mode}: {output}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{mode} took {:?}",
            started.elapsed()
        );
        assert!(fake.gone(), "{mode}: the session outlived the run");
    }
}

#[tokio::test]
async fn issue_13_a_missing_cli_or_a_busy_local_port_says_what_to_do() {
    let sim = SimStack::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.toml");
    std::fs::write(&target, tunnelled_target(&sim, free_port(), None, "1s")).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let path = vec![("PATH".to_owned(), empty.path().display().to_string())];
    let (code, output) = verify(&target, &dir.path().join("reports"), path).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("AWS CLI") && output.contains("install"), "{output}");

    let fake = FakeAws::new();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    std::fs::write(&target, tunnelled_target(&sim, port, None, "1s")).unwrap();
    let (code, output) = verify(&target, &dir.path().join("reports"), fake.vars("forward")).await;
    assert_eq!(code, 3, "{output}");
    assert!(
        output.contains(&format!("127.0.0.1:{port} is already in use")),
        "{output}"
    );
}

/// SIGTERM while the run waits on a read through the tunnel: 143, and the
/// session is ended.
#[tokio::test]
async fn issue_13_sigterm_ends_the_session_too() {
    let sim = SimStack::start(Default::default()).await.unwrap();
    // A Grafana that accepts and never answers keeps the run waiting.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let fake = FakeAws::new();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.toml");
    std::fs::write(&target, tunnelled_target(&sim, free_port(), Some(silent_port), "10s")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pillars"))
        .args([
            "verify",
            "--target",
            target.to_str().unwrap(),
            "--only",
            "datasources.healthy",
        ])
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .env_clear()
        .envs(fake.vars("forward"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(fake.pid().is_some(), "the session never started");
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "pillars did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(143));
    assert!(fake.gone(), "the session outlived SIGTERM");
    drop(silent);
}

/// `--target aws` reads `infra/target.toml` below the working directory;
/// without it, the error names the command that writes it.
#[tokio::test]
async fn issue_13_target_aws_reads_the_rendered_file_or_says_how_to_render_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pillars"))
        .args(["verify", "--target", "aws", "--report-dir", "reports"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(AWS_TARGET_COMMAND), "{stderr}");

    let sim = SimStack::start(Default::default()).await.unwrap();
    let fake = FakeAws::new();
    std::fs::create_dir(dir.path().join("infra")).unwrap();
    std::fs::write(
        dir.path().join("infra/target.toml"),
        tunnelled_target(&sim, free_port(), None, "10s"),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pillars"))
        .args([
            "verify",
            "--target",
            "aws",
            "--only",
            "datasources.healthy",
            "--report-dir",
            "reports",
        ])
        .current_dir(dir.path())
        .env_clear()
        .envs(fake.vars("forward"))
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(dir.path().join("reports/run.json").exists());
    assert!(fake.gone(), "the session outlived the run");
}

/// What Terraform renders (held to these files by its own tests) is a
/// target pillars loads: the in-VPC one reads every store through
/// Grafana on the instance, the laptop one through its tunnel.
#[test]
fn issue_13_the_rendered_targets_load() {
    use pillars::target::{Env, Target};
    let env = Env::from_pairs([
        ("PILLARS_GRAFANA_USER", "admin"),
        ("PILLARS_GRAFANA_PASSWORD", "secret-pw"),
    ]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/examples");
    let vpc = Target::from_file(&root.join("target.example.toml"), &env).unwrap();
    assert!(vpc.tunnel.is_none());
    let grafana = vpc.grafana.as_ref().expect("reads through Grafana");
    assert_eq!(grafana.url.port(), Some(3001));
    assert!(vpc.otlp_traces.as_ref().unwrap().as_str().ends_with(":4318/v1/traces"));
    assert_eq!(vpc.pyroscope_ingest.as_ref().unwrap().port(), Some(4040));
    assert_eq!(vpc.faro.as_ref().unwrap().port(), Some(12347));

    let laptop = Target::from_file(&root.join("laptop-target.example.toml"), &env).unwrap();
    let tunnel = laptop.tunnel.as_ref().expect("a tunnel");
    assert_eq!((tunnel.remote_port, tunnel.local_port), (3001, 13001));
    assert_eq!(laptop.grafana.as_ref().unwrap().url.port(), Some(13001));
    assert!(
        laptop.otlp_traces.is_none(),
        "the instance takes OTLP from the VPC only"
    );
}
