//! `exporter.protocol`: an OpenTelemetry exporter speaks the protocol its
//! environment names (`OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL`) to the port
//! its endpoint names (`OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT`). gRPC sent
//! to the collector's OTLP/HTTP port (or OTLP/HTTP to its gRPC port) gets
//! no export through, and the service's telemetry is lost without an error
//! anywhere a user looks. The ports are the collector's receiver's
//! (`otelcol.receiver.otlp` `grpc`/`http` `endpoint`), else 4317 and 4318.
//! Without a protocol variable the SDK's own default decides, so lint says
//! nothing.
//!
//! Uses: lint::{model, finding}.

use crate::lint::finding::{Finding, Rule};
use crate::lint::model::{Container, Deployment, EnvVar};
use crate::lint::source::At;

const SIGNALS: [&str; 3] = ["TRACES", "METRICS", "LOGS"];

/// The collector's OTLP ports, and where they are set.
struct Receiver {
    grpc: u16,
    http: u16,
    at: Option<At>,
}

pub fn protocol(model: &Deployment, out: &mut Vec<Finding>) {
    let receiver = receiver(model);
    for container in &model.containers {
        let mut seen: Vec<(String, String)> = Vec::new();
        for signal in SIGNALS {
            let (Some(endpoint), Some(protocol)) = (
                var(
                    container,
                    &format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"),
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                ),
                var(
                    container,
                    &format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"),
                    "OTEL_EXPORTER_OTLP_PROTOCOL",
                ),
            ) else {
                continue;
            };
            let key = (endpoint.name.clone(), protocol.name.clone());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            if let Some(finding) = mismatch(container, endpoint, protocol, &receiver) {
                out.push(finding);
            }
        }
    }
}

fn mismatch(container: &Container, endpoint: &EnvVar, protocol: &EnvVar, receiver: &Receiver) -> Option<Finding> {
    let port = port_of(&endpoint.value)?;
    let grpc = match protocol.value.trim() {
        "grpc" => true,
        "http/protobuf" | "http/json" => false,
        _ => return None,
    };
    let (wrong, right, spoken, served) = if grpc {
        (receiver.http, receiver.grpc, "gRPC", "OTLP/HTTP")
    } else {
        (receiver.grpc, receiver.http, "OTLP/HTTP", "gRPC")
    };
    if port != wrong || port == right {
        return None;
    }
    let mut finding = Finding::new(
        Rule::ExporterProtocol,
        endpoint.at.clone(),
        format!(
            "`{}` exports over {spoken} ({}={}) to port {port}, where the collector's receiver speaks {served}: no export gets through",
            container.name, protocol.name, protocol.value
        ),
    )
    .evidence(format!(
        "{}={} at {}:{}",
        endpoint.name,
        endpoint.value,
        endpoint.at.file(),
        endpoint.at.line
    ))
    .evidence(format!(
        "{}={} at {}:{}",
        protocol.name,
        protocol.value,
        protocol.at.file(),
        protocol.at.line
    ));
    finding = match &receiver.at {
        Some(at) => finding.evidence(format!(
            "otelcol.receiver.otlp at {}:{}: gRPC on {}, OTLP/HTTP on {}",
            at.file(),
            at.line,
            receiver.grpc,
            receiver.http
        )),
        None => finding.evidence(format!(
            "no collector config in these files: the conventional ports, gRPC {} and OTLP/HTTP {}",
            receiver.grpc, receiver.http
        )),
    };
    let other = if grpc { "http/protobuf" } else { "grpc" };
    Some(finding.fix(format!(
        "point {} at port {right}, or set {}={other} to match port {port}",
        endpoint.name, protocol.name
    )))
}

/// The signal's own variable, else the general one.
fn var<'a>(container: &'a Container, own: &str, general: &str) -> Option<&'a EnvVar> {
    container
        .env(own)
        .filter(|v| !v.value.is_empty())
        .or_else(|| container.env(general).filter(|v| !v.value.is_empty()))
}

/// The port an endpoint URL names, templates in its host and all
/// (`http://${observability_ip}:4317`); `None` without one.
fn port_of(url: &str) -> Option<u16> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next()?;
    let (_, port) = authority.rsplit_once(':')?;
    port.parse().ok()
}

fn receiver(model: &Deployment) -> Receiver {
    let mut receiver = Receiver {
        grpc: 4317,
        http: 4318,
        at: None,
    };
    let Some((file, block)) = model.components().find(|(_, b)| b.name == "otelcol.receiver.otlp") else {
        return receiver;
    };
    let port = |protocol: &str| block.block(protocol)?.value("endpoint")?.as_str().and_then(port_of);
    if let Some(p) = port("grpc") {
        receiver.grpc = p;
    }
    if let Some(p) = port("http") {
        receiver.http = p;
    }
    receiver.at = Some(At::line(&file.at.source, block.line));
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The findings for a Compose file whose backend sends `protocol` to
    /// `port`, beside a collector serving gRPC on 5317 and HTTP on 5318.
    fn lint(protocol: &str, port: u16) -> Vec<Finding> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            format!(
                "services:\n  backend:\n    image: b\n    mem_limit: 64m\n    environment:\n      OTEL_EXPORTER_OTLP_ENDPOINT: http://alloy:{port}\n      OTEL_EXPORTER_OTLP_PROTOCOL: {protocol}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("config.alloy"),
            "otelcol.receiver.otlp \"default\" {\n  grpc { endpoint = \"0.0.0.0:5317\" }\n  http { endpoint = \"0.0.0.0:5318\" }\n  output {}\n}\n",
        )
        .unwrap();
        crate::lint::LintReport::of(&[dir.path().to_owned()], None, &Default::default())
            .unwrap()
            .findings
            .into_iter()
            .filter(|f| f.rule == Rule::ExporterProtocol)
            .collect()
    }

    #[test]
    fn the_receivers_own_ports_decide() {
        assert!(lint("grpc", 5317).is_empty());
        assert!(lint("http/protobuf", 5318).is_empty());
        // The conventional ports are not the receiver's here: nothing to say.
        assert!(lint("grpc", 4318).is_empty());
        let wrong = lint("grpc", 5318);
        assert_eq!(wrong.len(), 1, "{wrong:?}");
        assert!(wrong[0].message.contains("port 5318"), "{}", wrong[0].message);
        assert!(
            wrong[0].evidence.iter().any(|e| e.contains("config.alloy:1")),
            "{:?}",
            wrong[0].evidence
        );
        assert!(wrong[0].fix.contains("port 5317"), "{}", wrong[0].fix);
        assert_eq!(lint("http/json", 5317).len(), 1);
    }

    #[test]
    fn ports_come_from_urls_with_templates_in_them() {
        assert_eq!(port_of("http://${observability_ip}:4317"), Some(4317));
        assert_eq!(port_of("http://alloy:4318/v1/traces"), Some(4318));
        assert_eq!(port_of("0.0.0.0:4317"), Some(4317));
        assert_eq!(port_of("https://otlp.example.com"), None);
    }
}
