//! Secrets never leave the process: a Grafana that echoes the request's
//! `Authorization` header (and the secret itself) into its error bodies
//! makes every check fail to read, and the token, the password and their
//! Basic-auth and `Bearer` forms appear in nothing pillars prints or writes.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;

/// A Grafana that answers every call 401, quoting what it was sent.
async fn echoing_grafana() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(|headers: HeaderMap| async move {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let decoded = auth
            .strip_prefix("Basic ")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let body = serde_json::json!({ "message": format!("invalid credentials: {auth} ({decoded})") });
        (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

async fn verify_leaks(auth: &str, env: &[(&str, &str)], secrets: &[String]) {
    let grafana = echoing_grafana().await;
    let dir = tempfile::tempdir().unwrap();
    let target = format!(
        "name = \"echo\"\n[read]\ngrafana = \"http://{grafana}/grafana\"\n[auth]\n{auth}\n[limits]\nwait = \"1s\"\nmax_wait = \"2s\"\nrequest_timeout = \"1s\"\n"
    );
    std::fs::write(dir.path().join("echo.toml"), target).unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pillars"));
    command
        .args(["verify", "--target", "echo.toml", "--report-dir", "out"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().await.unwrap();
    let mut everything = vec![
        ("stdout".to_owned(), String::from_utf8_lossy(&out.stdout).into_owned()),
        ("stderr".to_owned(), String::from_utf8_lossy(&out.stderr).into_owned()),
    ];
    for file in ["run.json", "junit.xml", "report.html"] {
        let text = std::fs::read_to_string(dir.path().join("out").join(file)).unwrap();
        everything.push((file.to_owned(), text));
    }
    // The echo reached pillars: the reports carry the masked excerpt.
    let run_json = &everything[2].1;
    assert!(run_json.contains("invalid credentials"), "{run_json}");
    for (name, text) in &everything {
        for secret in secrets {
            assert!(!text.contains(secret.as_str()), "{name} holds `{secret}`:\n{text}");
        }
    }
}

#[tokio::test]
async fn issue_10_an_echoed_token_appears_nowhere() {
    let token = "glsa_SuperSecretToken_0123456789abcdef";
    verify_leaks(
        "grafana_token_env = \"PILLARS_TEST_TOKEN\"",
        &[("PILLARS_TEST_TOKEN", token)],
        &[token.to_owned(), format!("Bearer {token}")],
    )
    .await;
}

#[tokio::test]
async fn issue_10_an_echoed_password_appears_nowhere() {
    let (user, password) = ("admin", "pa55-w0rd-not-to-be-seen");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    verify_leaks(
        "grafana_user_env = \"PILLARS_TEST_USER\"\ngrafana_password_env = \"PILLARS_TEST_PASSWORD\"",
        &[("PILLARS_TEST_USER", user), ("PILLARS_TEST_PASSWORD", password)],
        &[password.to_owned(), basic],
    )
    .await;
}
