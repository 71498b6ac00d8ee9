//! A target's `[tunnel]`: an AWS Systems Manager port forward, opened
//! before the run and always closed after it. pillars starts `aws ssm
//! start-session --document-name AWS-StartPortForwardingSession` as a child
//! in its own process group (the CLI runs `session-manager-plugin` below
//! it), waits, bounded, until `127.0.0.1:<local_port>` accepts, and ends
//! the whole group when the run ends: on success, failure, Ctrl-C and
//! SIGTERM alike, and on drop if nothing closed it first.
//!
//! Uses: target (the tunnel), env (`PATH` and the child's environment).

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::env::Env;
use crate::target::Tunnel;

/// How much of the CLI's stderr an error quotes.
const STDERR_TAIL: usize = 2048;
/// How often the local port is tried while the session starts.
const POLL: Duration = Duration::from_millis(200);
/// How long the session has to end after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error(
        "the target's [tunnel] needs the AWS CLI v2 (`aws`), and none is on PATH; install it (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html) or run pillars where it is installed"
    )]
    NoAwsCli,
    #[error(
        "`aws ssm start-session` needs the Session Manager plugin (`session-manager-plugin`), and none is on PATH; install it (https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html)"
    )]
    NoPlugin,
    #[error(
        "the tunnel's local port 127.0.0.1:{port} is already in use; stop what holds it (`ss -ltnp 'sport = :{port}'`) or pick another `tunnel.local_port`"
    )]
    PortInUse { port: u16 },
    #[error("cannot start `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the SSM session to {instance} ended ({status}) before 127.0.0.1:{port} opened{stderr}; check the instance id, that its SSM agent is online (`aws ssm describe-instance-information`), and your AWS credentials (`aws sts get-caller-identity`)"
    )]
    Ended {
        instance: String,
        port: u16,
        status: String,
        stderr: String,
    },
    #[error(
        "the SSM session to {instance} did not open 127.0.0.1:{port} within {}{stderr}; check that the instance's port {remote_port} is served, or raise `tunnel.ready_within`", humantime::format_duration(*waited)
    )]
    NotReady {
        instance: String,
        port: u16,
        remote_port: u16,
        waited: Duration,
        stderr: String,
    },
}

/// An open port forward. [`OpenTunnel::close`] ends it; dropping it kills
/// it.
#[derive(Debug)]
pub struct OpenTunnel {
    child: Option<Child>,
    group: Pid,
}

impl OpenTunnel {
    /// Opens `tunnel`, finding the CLI on `env`'s `PATH`.
    pub async fn open(tunnel: &Tunnel, env: &Env) -> Result<OpenTunnel, TunnelError> {
        let path = env.get("PATH").unwrap_or_default();
        let aws = find_executable(path, "aws").ok_or(TunnelError::NoAwsCli)?;
        find_executable(path, "session-manager-plugin").ok_or(TunnelError::NoPlugin)?;
        // Something already listening would answer in the session's stead.
        drop(
            std::net::TcpListener::bind(("127.0.0.1", tunnel.local_port)).map_err(|_| TunnelError::PortInUse {
                port: tunnel.local_port,
            })?,
        );
        let args = arguments(tunnel);
        let mut command = Command::new(&aws);
        command
            .args(&args)
            // The environment pillars started with: the AWS CLI's
            // credentials, profile and region variables come through.
            .env_clear()
            .envs(env.vars())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| TunnelError::Spawn {
            command: format!("{} {}", aws.display(), args.join(" ")),
            source,
        })?;
        let group = Pid::from_raw(child.id().map_or(0, |id| id as i32));
        let stderr = tail_of(&mut child);
        let mut open = OpenTunnel {
            child: Some(child),
            group,
        };
        match open.wait_ready(tunnel, &stderr).await {
            Ok(()) => Ok(open),
            Err(e) => {
                open.close().await;
                Err(e)
            }
        }
    }

    /// Polls the local port until it accepts, the session ends, or the
    /// tunnel's `ready_within` passes.
    async fn wait_ready(&mut self, tunnel: &Tunnel, stderr: &Arc<Mutex<String>>) -> Result<(), TunnelError> {
        let quoted = || {
            let text = stderr.lock().map(|s| s.trim().to_owned()).unwrap_or_default();
            if text.is_empty() {
                String::new()
            } else {
                format!(": {}", crate::console::printable(&text))
            }
        };
        let deadline = Instant::now() + tunnel.ready_within;
        loop {
            if let Some(status) = self.exited() {
                // Let the reader take the last of what it printed.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(TunnelError::Ended {
                    instance: tunnel.instance_id.clone(),
                    port: tunnel.local_port,
                    status: describe(status),
                    stderr: quoted(),
                });
            }
            let attempt = TcpStream::connect(("127.0.0.1", tunnel.local_port));
            if let Ok(Ok(_)) = tokio::time::timeout(POLL, attempt).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(TunnelError::NotReady {
                    instance: tunnel.instance_id.clone(),
                    port: tunnel.local_port,
                    remote_port: tunnel.remote_port,
                    waited: tunnel.ready_within,
                    stderr: quoted(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Ends the session: SIGTERM to its process group, then SIGKILL if it
    /// is still there after a grace period.
    pub async fn close(mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = killpg(self.group, Signal::SIGTERM);
        if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
            let _ = killpg(self.group, Signal::SIGKILL);
            let _ = child.wait().await;
        }
        // The plugin may outlive the CLI it was started by.
        let _ = killpg(self.group, Signal::SIGKILL);
    }
}

impl Drop for OpenTunnel {
    fn drop(&mut self) {
        if self.child.take().is_some() {
            let _ = killpg(self.group, Signal::SIGKILL);
        }
    }
}

/// `aws ssm start-session` forwarding `local_port` to the instance's
/// `remote_port`.
fn arguments(tunnel: &Tunnel) -> Vec<String> {
    let mut args = vec![
        "ssm".to_owned(),
        "start-session".to_owned(),
        "--target".to_owned(),
        tunnel.instance_id.clone(),
        "--document-name".to_owned(),
        "AWS-StartPortForwardingSession".to_owned(),
        "--parameters".to_owned(),
        format!(
            r#"{{"portNumber":["{}"],"localPortNumber":["{}"]}}"#,
            tunnel.remote_port, tunnel.local_port
        ),
    ];
    for (flag, value) in [("--region", &tunnel.region), ("--profile", &tunnel.profile)] {
        if let Some(value) = value {
            args.push(flag.to_owned());
            args.push(value.clone());
        }
    }
    args
}

/// The last [`STDERR_TAIL`] bytes the child writes to stderr, kept as it
/// writes them.
fn tail_of(child: &mut Child) -> Arc<Mutex<String>> {
    let tail = Arc::new(Mutex::new(String::new()));
    if let Some(mut stderr) = child.stderr.take() {
        let tail = tail.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = stderr.read(&mut buf).await {
                let Ok(mut text) = tail.lock() else { return };
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                if text.len() > STDERR_TAIL {
                    let from = text.len() - STDERR_TAIL;
                    let cut = (from..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(from);
                    text.drain(..cut);
                }
            }
        });
    }
    tail
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_owned(),
    }
}

/// The first executable file called `name` in the directories of `path`.
fn find_executable(path: &str, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunnel() -> Tunnel {
        Tunnel {
            instance_id: "i-0123456789abcdef0".into(),
            remote_port: 3001,
            local_port: 13001,
            region: Some("eu-west-1".into()),
            profile: None,
            ready_within: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_session_forwards_the_local_port_to_the_remote_one() {
        assert_eq!(
            arguments(&tunnel()),
            [
                "ssm",
                "start-session",
                "--target",
                "i-0123456789abcdef0",
                "--document-name",
                "AWS-StartPortForwardingSession",
                "--parameters",
                r#"{"portNumber":["3001"],"localPortNumber":["13001"]}"#,
                "--region",
                "eu-west-1",
            ]
        );
    }

    #[tokio::test]
    async fn a_missing_cli_or_plugin_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display().to_string();
        let env = Env::from_pairs([("PATH", path.as_str())]);
        let err = OpenTunnel::open(&tunnel(), &env).await.unwrap_err();
        assert!(matches!(err, TunnelError::NoAwsCli), "{err}");
        let aws = dir.path().join("aws");
        std::fs::write(&aws, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&aws, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let err = OpenTunnel::open(&tunnel(), &env).await.unwrap_err();
        assert!(matches!(err, TunnelError::NoPlugin), "{err}");
        assert!(err.to_string().contains("session-manager-plugin"), "{err}");
    }
}
