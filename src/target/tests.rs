//! Loading and validating target files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use super::*;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Target, TargetError> {
    Target::from_toml(
        text,
        TargetKind::File(PathBuf::from("t.toml")),
        &Env::from_pairs(env.iter().copied()),
    )
}

const DIRECT: &str = r#"
    name = "local"
    [ingest]
    otlp_http = "http://127.0.0.1:4318"
    [read]
    tempo = "http://127.0.0.1:3200"
    [limits]
    wait = "5s"
    max_wait = "8s"
"#;

#[test]
fn base_otlp_endpoint_gets_signal_paths() {
    let t = load(DIRECT, &[]).unwrap();
    assert_eq!(t.otlp_traces.unwrap().as_str(), "http://127.0.0.1:4318/v1/traces");
    assert_eq!(t.otlp_logs.unwrap().as_str(), "http://127.0.0.1:4318/v1/logs");
    let tempo = t.reads.get(&Store::Tempo).unwrap();
    assert_eq!(tempo.path, ReadPath::Direct);
    assert_eq!(t.limits.wait, Duration::from_secs(5));
}

#[test]
fn otel_env_conventions_override_the_file() {
    let t = load(
        DIRECT,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://tempo:4318/custom"),
        ],
    )
    .unwrap();
    // The per-signal variable is used as it is, the base gets /v1/<signal>.
    assert_eq!(t.otlp_traces.unwrap().as_str(), "http://tempo:4318/custom");
    assert_eq!(t.otlp_metrics.unwrap().as_str(), "http://collector:4318/v1/metrics");
}

#[test]
fn per_signal_key_beats_the_base() {
    let t = load(
        r#"[ingest]
        otlp_http = "http://a:4318"
        otlp_traces = "http://b:4318/v1/traces""#,
        &[],
    )
    .unwrap();
    assert_eq!(t.otlp_traces.unwrap().as_str(), "http://b:4318/v1/traces");
    assert_eq!(t.otlp_logs.unwrap().as_str(), "http://a:4318/v1/logs");
}

#[test]
fn grafana_proxy_is_used_when_no_direct_url() {
    let t = load(
        r#"[read]
        grafana = "https://alb.example/grafana"
        tempo = "http://127.0.0.1:3200"
        [read.datasources]
        loki = "logs-uid"
        [auth]
        grafana_token_env = "PILLARS_GRAFANA_TOKEN""#,
        &[("PILLARS_GRAFANA_TOKEN", "s3cret")],
    )
    .unwrap();
    let loki = t.reads.get(&Store::Loki).unwrap();
    assert_eq!(
        loki.base.as_str(),
        "https://alb.example/grafana/api/datasources/proxy/uid/logs-uid"
    );
    assert_eq!(loki.path, ReadPath::GrafanaProxy { uid: "logs-uid".into() });
    assert_eq!(loki.credential, Some(Credential::Bearer(Secret::new("s3cret"))));
    assert_eq!(t.reads.get(&Store::Tempo).unwrap().path, ReadPath::Direct);
    assert!(!format!("{t:?}").contains("s3cret"), "secret leaked into Debug");
    assert!(!format!("{:?}", t.endpoints()).contains("s3cret"));
}

#[test]
fn errors_name_the_key_and_the_fix() {
    let err = load("[ingest]\notlp_http = \"not a url\"", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("`ingest.otlp_http`"), "{err}");
    assert!(err.contains("http://"), "{err}");

    let err = load("[ingest]\notlp_htp = \"http://a\"", &[]).unwrap_err().to_string();
    assert!(err.contains("otlp_htp"), "{err}");

    let err = load("[read]\ntempo = \"ftp://a\"", &[]).unwrap_err().to_string();
    assert!(err.contains("`read.tempo`") && err.contains("scheme"), "{err}");

    let err = load("[read]\ntempo = \"http://u:p@a\"", &[]).unwrap_err().to_string();
    assert!(err.contains("credentials"), "{err}");

    let err = load(
        "[read]\ngrafana = \"http://g\"\n[auth]\ngrafana_token_env = \"NOPE_TOKEN\"",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("NOPE_TOKEN") && err.contains("export"), "{err}");

    let err = load("[read]\ntempo = \"http://a\"\n[limits]\nwait = \"ten\"", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("`limits.wait`"), "{err}");

    let err = load(
        "[read]\ntempo = \"http://a\"\n[limits]\nwait = \"10s\"\nmax_wait = \"5s\"",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("`limits.max_wait`"), "{err}");

    let err = load("name = \"empty\"", &[]).unwrap_err().to_string();
    assert!(err.contains("no endpoint"), "{err}");
}

#[test]
fn timeout_scale_multiplies_deadlines() {
    let t = load(DIRECT, &[("PILLARS_TIMEOUT_SCALE", "2")]).unwrap();
    assert_eq!(t.limits.wait, Duration::from_secs(10));
    assert!(load(DIRECT, &[("PILLARS_TIMEOUT_SCALE", "-1")]).is_err());
}

#[test]
fn shares_are_between_0_and_1_and_name_their_key() {
    let t = load(&format!("{DIRECT}memory_headroom = 0.2\n"), &[]).unwrap();
    assert_eq!(t.limits.memory_headroom, 0.2);
    assert_eq!(load(DIRECT, &[]).unwrap().limits.memory_headroom, 0.15);
    for key in ["memory_headroom", "completeness"] {
        let err = load(&format!("{DIRECT}{key} = 1.5\n"), &[]).unwrap_err().to_string();
        assert!(
            err.contains(&format!("limits.{key}")) && err.contains("between 0 and 1"),
            "{err}"
        );
    }
}

#[test]
fn join_keeps_the_base_path() {
    let base = Url::parse("http://h/grafana/").unwrap();
    assert_eq!(join_path(&base, "/api/health").as_str(), "http://h/grafana/api/health");
    let base = Url::parse("http://h").unwrap();
    assert_eq!(join_path(&base, "ready").as_str(), "http://h/ready");
}

#[test]
fn app_service_names_default_to_the_deployments() {
    let t = load(DIRECT, &[]).unwrap();
    assert_eq!(t.frontend_service, DEFAULT_FRONTEND_SERVICE);
    assert_eq!(t.backend_service, DEFAULT_BACKEND_SERVICE);
    let t = load(&format!("{DIRECT}[app]\nbackend_service = \"shop-api\"\n"), &[]).unwrap();
    assert_eq!(t.backend_service, "shop-api");
    assert_eq!(t.frontend_service, DEFAULT_FRONTEND_SERVICE);
}

#[test]
fn docker_host_applies_to_file_targets_only() {
    let env = [("DOCKER_HOST", "tcp://127.0.0.1:2375")];
    assert_eq!(
        load(DIRECT, &env).unwrap().docker_host.as_deref(),
        Some("tcp://127.0.0.1:2375")
    );
    let sim = Target::from_toml(DIRECT, TargetKind::Sim, &Env::from_pairs(env)).unwrap();
    assert_eq!(sim.docker_host, None);
}

#[test]
fn built_in_names_choose_their_files() {
    assert!(matches!(TargetChoice::parse("sim"), TargetChoice::Sim(_)));
    assert!(matches!(TargetChoice::parse("compose"), TargetChoice::Compose(p) if p == Path::new(COMPOSE_TARGET_FILE)));
    assert!(matches!(TargetChoice::parse("aws"), TargetChoice::Aws(p) if p == Path::new(AWS_TARGET_FILE)));
    assert!(matches!(TargetChoice::parse("my.toml"), TargetChoice::File(p) if p == Path::new("my.toml")));
}

#[test]
fn a_tunnel_is_checked_and_must_carry_an_endpoint() {
    let through = |tunnel: &str| {
        format!(
            "[read]\ngrafana = \"http://127.0.0.1:13001/grafana\"\n[tunnel]\nkind = \"ssm\"\ninstance_id = \"i-0123456789abcdef0\"\nremote_port = 3001\nlocal_port = 13001\n{tunnel}"
        )
    };
    let target = load(&through("region = \"eu-west-1\"\n"), &[]).unwrap();
    let tunnel = target.tunnel.unwrap();
    assert_eq!((tunnel.remote_port, tunnel.local_port), (3001, 13001));
    assert_eq!(tunnel.region.as_deref(), Some("eu-west-1"));
    assert_eq!(tunnel.ready_within, Duration::from_secs(30));

    for (text, key) in [
        (through("").replace("\"ssm\"", "\"ssh\""), "`tunnel.kind`"),
        (
            through("").replace("i-0123456789abcdef0", "web-1"),
            "`tunnel.instance_id`",
        ),
        (
            through("").replace("remote_port = 3001", "remote_port = 0"),
            "`tunnel.remote_port`",
        ),
        (through("ready_within = \"1h\"\n"), "`tunnel.ready_within`"),
        (through("region = \"eu west\"\n"), "`tunnel.region`"),
        (
            through("").replace("13001/grafana", "3001/grafana"),
            "`tunnel.local_port`",
        ),
        (through("color = \"red\"\n"), "color"),
    ] {
        let err = load(&text, &[]).unwrap_err().to_string();
        assert!(err.contains(key), "{key}: {err}");
    }
}

const BOTH: &str = r#"
    [ingest]
    otlp_http = "http://c:4318"
    otlp_grpc = "http://c:4317"
    [read]
    tempo = "http://c:3200"
"#;

#[test]
fn grpc_is_named_beside_http_and_http_stays_the_default() {
    let t = load(BOTH, &[]).unwrap();
    for signal in Signal::ALL {
        assert_eq!(*t.otlp_protocol.of(signal), Transport::Http);
        assert_eq!(t.otlp_over(signal, Transport::Grpc).unwrap().as_str(), "http://c:4317/");
        assert_eq!(t.transports(signal), [Transport::Http, Transport::Grpc]);
    }
    assert_eq!(t.endpoints()["otlp_grpc"], "http://c:4317/");
    assert_eq!(t.otlp_compression, Compression::Gzip);
}

#[test]
fn the_file_or_the_exporter_variables_choose_grpc() {
    let file = BOTH.replace("[read]", "otlp_protocol = \"grpc\"\n[read]");
    assert_eq!(
        *load(&file, &[]).unwrap().otlp_protocol.of(Signal::Logs),
        Transport::Grpc
    );
    // Only a gRPC endpoint: gRPC.
    let only = "[ingest]\notlp_grpc = \"http://c:4317\"\n";
    assert_eq!(
        *load(only, &[]).unwrap().otlp_protocol.of(Signal::Traces),
        Transport::Grpc
    );
    // The per-signal variable beats the general one, which beats the file.
    let t = load(
        &file,
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
        ],
    )
    .unwrap();
    assert_eq!(*t.otlp_protocol.of(Signal::Traces), Transport::Http);
    assert_eq!(*t.otlp_protocol.of(Signal::Metrics), Transport::Grpc);
    let err = load(BOTH, &[("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && err.contains("grpc"),
        "{err}"
    );
}

#[test]
fn with_grpc_the_endpoint_variables_name_the_grpc_endpoint() {
    let t = load(
        BOTH,
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://alloy:4317"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:4317"),
        ],
    )
    .unwrap();
    // As they are: gRPC has no path to append.
    assert_eq!(
        t.otlp_over(Signal::Traces, Transport::Grpc).unwrap().as_str(),
        "http://alloy:4317/"
    );
    assert_eq!(
        t.otlp_over(Signal::Logs, Transport::Grpc).unwrap().as_str(),
        "http://logs:4317/"
    );
    // HTTP keeps the file's endpoints.
    assert_eq!(t.otlp_traces.as_ref().unwrap().as_str(), "http://c:4318/v1/traces");
    assert_eq!(t.endpoints()["otlp_grpc_logs"], "http://logs:4317/");
    let err = load("[ingest]\notlp_grpc = \"http://c:4317/v1/traces\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("ingest.otlp_grpc") && err.contains("path"), "{err}");
}

#[test]
fn exporter_headers_are_read_as_secrets() {
    let t = load(
        BOTH,
        &[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "X-Scope-OrgID=tenant1, authorization=Bearer%20t0ps3cr3t",
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ],
    )
    .unwrap();
    let headers = t.otlp_headers.of(Signal::Logs);
    let names: Vec<&str> = headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["x-scope-orgid", "authorization"]);
    assert_eq!(headers[1].value.expose(), "Bearer t0ps3cr3t");
    assert!(!format!("{t:?}").contains("t0ps3cr3t"));
    assert!(!crate::secrets::redact("sent Bearer t0ps3cr3t").contains("t0ps3cr3t"));
    assert_eq!(t.otlp_compression, Compression::None);
    for var in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS"] {
        for bad in ["novalue", "grpc-timeout=1S", "a=%zz"] {
            let err = load(BOTH, &[(var, bad)]).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
        }
    }
}

#[test]
fn a_signals_own_headers_replace_the_general_ones() {
    let t = load(
        BOTH,
        &[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-scope-orgid=tenant1,authorization=Bearer%20all",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-scope-orgid=traces"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", ""),
        ],
    )
    .unwrap();
    let of = |signal| -> Vec<(String, String)> {
        t.otlp_headers
            .of(signal)
            .iter()
            .map(|h| (h.name.clone(), h.value.expose().to_owned()))
            .collect()
    };
    assert_eq!(of(Signal::Traces), [("x-scope-orgid".to_owned(), "traces".to_owned())]);
    assert_eq!(of(Signal::Metrics).len(), 2, "the general headers");
    // Set to the empty string counts as unset: the general ones again.
    assert_eq!(of(Signal::Logs), of(Signal::Metrics));
}
