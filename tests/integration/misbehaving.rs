//! Read paths that misbehave are never reported as the stack's failure:
//! with every store read from a fake server that answers one way wrongly
//! (closed port, blackhole, slow, 500, 429, 400, an HTML page, truncated
//! JSON, a 50 MB body, a redirect) while ingest goes to a healthy
//! reference stack, every check that reads a store ends `error` — never
//! `fail`, never `pass` — inside its deadline, and the checks that do not
//! read a store are not broken by it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use pillars::checks::{CATALOG, CheckCtx, CheckSettings, Status};
use pillars::stack::sim::{SimOptions, SimStack};
use pillars::target::{Env, Target, TargetKind};

use crate::common::{SEED, dead_port};

#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    ClosedPort,
    Blackhole,
    Slow,
    ServerError,
    TooManyRequests,
    BadRequest,
    HtmlPage,
    TruncatedJson,
    HugeBody,
    Redirect,
}

const ALL: [Misbehaviour; 10] = [
    Misbehaviour::ClosedPort,
    Misbehaviour::Blackhole,
    Misbehaviour::Slow,
    Misbehaviour::ServerError,
    Misbehaviour::TooManyRequests,
    Misbehaviour::BadRequest,
    Misbehaviour::HtmlPage,
    Misbehaviour::TruncatedJson,
    Misbehaviour::HugeBody,
    Misbehaviour::Redirect,
];

/// The request timeout of the target these tests use.
const TIMEOUT: Duration = Duration::from_secs(1);

/// How the fake answers one request. Readiness endpoints answer `ready`,
/// so only the read paths misbehave.
async fn answer(how: Misbehaviour, uri: Uri) -> Response {
    if uri.path().ends_with("/ready") {
        return "ready".into_response();
    }
    match how {
        Misbehaviour::ClosedPort => unreachable!("nothing listens"),
        Misbehaviour::Blackhole => {
            // Accepts, then never answers within any test.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Misbehaviour::Slow => {
            tokio::time::sleep(TIMEOUT * 3).await;
            r#"{"status":"success","data":{"resultType":"streams","result":[]}}"#.into_response()
        }
        Misbehaviour::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        Misbehaviour::TooManyRequests => {
            (StatusCode::TOO_MANY_REQUESTS, "too many outstanding requests").into_response()
        }
        Misbehaviour::BadRequest => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "parse error at line 1, col 16: invalid char escape",
        )
            .into_response(),
        Misbehaviour::HtmlPage => (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Sign in to continue</body></html>",
        )
            .into_response(),
        Misbehaviour::TruncatedJson => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"success","data":{"resultType":"str"#,
        )
            .into_response(),
        Misbehaviour::HugeBody => {
            let chunk = bytes::Bytes::from(vec![b' '; 1024 * 1024]);
            let stream = futures::stream::iter((0..50).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
            ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response()
        }
        Misbehaviour::Redirect => (StatusCode::FOUND, [(header::LOCATION, "/login")], "").into_response(),
    }
}

/// Serves `how` on a loopback port; returns its address.
async fn fake(how: Misbehaviour) -> SocketAddr {
    if matches!(how, Misbehaviour::ClosedPort) {
        return SocketAddr::from(([127, 0, 0, 1], dead_port()));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(move |uri: Uri| answer(how, uri));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// The sim's target with every store read from `fake`.
fn target(sim: &SimStack, fake: SocketAddr) -> Target {
    let mut section = String::new();
    let mut toml = String::new();
    for line in sim.target_toml().lines() {
        if line.starts_with('[') {
            section = line.to_owned();
        }
        let line = match (section.as_str(), line.split_once(" = ")) {
            ("[read]", Some((store @ ("tempo" | "loki" | "pyroscope"), _))) => format!("{store} = \"http://{fake}\""),
            ("[read]", Some(("mimir", _))) => format!("mimir = \"http://{fake}/prometheus\""),
            ("[limits]", Some(_)) => continue,
            _ => line.to_owned(),
        };
        toml.push_str(&line);
        toml.push('\n');
    }
    toml.push_str("wait = \"1s\"\nmax_wait = \"2s\"\nrequest_timeout = \"1s\"\nsearch_ready_after = \"0s\"\n");
    Target::from_toml(&toml, TargetKind::File("misbehaving.toml".into()), &Env::default()).unwrap()
}

/// Checks whose verdict does not rest on reading the stores directly.
fn reads_no_store(id: &str) -> bool {
    // stack.ready reads `/ready`, which the fake answers; datasources.healthy
    // and dashboards.have_data read through Grafana, whose proxy and query
    // API go to the reference stack.
    matches!(id, "stack.ready" | "datasources.healthy" | "dashboards.have_data")
}

async fn walk(how: Misbehaviour) -> Vec<String> {
    let sim = SimStack::start(SimOptions::default()).await.unwrap();
    let target = target(&sim, fake(how).await);
    let ctx = CheckCtx::new(
        Arc::new(target),
        format!("misbehaving-{how:?}"),
        SEED,
        CheckSettings {
            traces: 3,
            logs: 3,
            metrics: 3,
            profiles: 3,
            frontend_sessions: 1,
            correlation_sessions: 1,
            ..CheckSettings::default()
        },
    );
    let mut problems = Vec::new();
    for spec in CATALOG {
        let started = Instant::now();
        let outcome = spec.run(&ctx).await;
        let took = started.elapsed();
        let status = outcome.status();
        let wrong = if reads_no_store(spec.id) {
            status == Status::Fail
        } else {
            status != Status::Error
        };
        if wrong {
            problems.push(format!(
                "{how:?}: {} ended {} ({:?}): {}",
                spec.id,
                status.as_str(),
                outcome.verdict.reason(),
                outcome.summary
            ));
        }
        // The store's own message reaches the user.
        if matches!(how, Misbehaviour::BadRequest)
            && spec.id == "logs.roundtrip"
            && !(outcome.verdict.reason() == Some("read_failed") && outcome.summary.contains("invalid char escape"))
        {
            problems.push(format!(
                "BadRequest: logs.roundtrip does not name the store's answer: {outcome:?}"
            ));
        }
        if took >= spec.deadline(&ctx) {
            problems.push(format!("{how:?}: {} took {took:?}, past its deadline", spec.id));
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_10_a_misbehaving_read_path_is_an_error_never_a_failure() {
    let walks = ALL.map(|how| tokio::spawn(walk(how)));
    let mut problems = Vec::new();
    for walk in walks {
        problems.extend(walk.await.unwrap());
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// A fake store whose every path, `/ready` too, answers `status` with
/// `content_type` and `body`.
async fn fake_ready(status: StatusCode, content_type: &'static str, body: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(move || async move {
        let mut response = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
        if status.is_redirection() {
            response
                .headers_mut()
                .insert(header::LOCATION, header::HeaderValue::from_static("/login"));
        }
        response
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test]
async fn issue_10_ready_means_the_components_own_answer_not_any_200() {
    let cases = [
        (StatusCode::OK, "text/plain", "ready\n", Status::Pass, None),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "Ingester not ready",
            Status::Fail,
            Some("not_ready"),
        ),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "boom",
            Status::Fail,
            Some("not_ready"),
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            "text/plain",
            "slow down",
            Status::Error,
            Some("read_failed"),
        ),
        (StatusCode::FOUND, "text/plain", "", Status::Error, Some("read_failed")),
        (
            StatusCode::OK,
            "text/html",
            "<html>Sign in</html>",
            Status::Error,
            Some("read_failed"),
        ),
    ];
    for (status, content_type, body, want, reason) in cases {
        let addr = fake_ready(status, content_type, body).await;
        let toml = format!(
            "name = \"ready\"\n[read]\nloki = \"http://{addr}\"\n[limits]\nwait = \"1s\"\nmax_wait = \"2s\"\nrequest_timeout = \"1s\"\n"
        );
        let target = Target::from_toml(&toml, TargetKind::File("ready.toml".into()), &Env::default()).unwrap();
        let ctx = CheckCtx::new(Arc::new(target), "ready".into(), SEED, CheckSettings::default());
        let outcome = crate::common::run("stack.ready", &ctx).await;
        assert_eq!(outcome.status(), want, "{status} {content_type} {body:?}: {outcome:?}");
        assert_eq!(outcome.verdict.reason(), reason, "{status}: {outcome:?}");
    }
}
