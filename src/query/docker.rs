//! The Docker Engine API, read over its socket (`DOCKER_HOST`, by default
//! `unix:///var/run/docker.sock`) with one HTTP/1.0 request per call, so the
//! answer ends when the engine closes the connection. Used for the Compose
//! preflight and for per-container memory stats.
//!
//! Uses: nothing of pillars.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The engine's address: `docker_host` (`DOCKER_HOST`, as the caller read
/// it) when set, else the default socket.
pub fn host(docker_host: Option<&str>) -> String {
    docker_host
        .filter(|h| !h.is_empty())
        .unwrap_or("unix:///var/run/docker.sock")
        .to_owned()
}

/// `GET path` on the engine at `host`, its body as JSON, within `timeout`.
pub async fn get_json(host: &str, path: &str, timeout: Duration) -> Result<serde_json::Value, String> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n");
    let exchange = async {
        let mut response = Vec::new();
        if let Some(socket) = host.strip_prefix("unix://") {
            let mut stream = tokio::net::UnixStream::connect(socket).await?;
            stream.write_all(request.as_bytes()).await?;
            stream.read_to_end(&mut response).await?;
        } else {
            let addr = host.strip_prefix("tcp://").unwrap_or(host);
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream.write_all(request.as_bytes()).await?;
            stream.read_to_end(&mut response).await?;
        }
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap_or("none");
    if !status.starts_with('2') {
        return Err(format!("GET {path} answered {status}"));
    }
    serde_json::from_str(body).map_err(|_| format!("GET {path} did not answer JSON"))
}
