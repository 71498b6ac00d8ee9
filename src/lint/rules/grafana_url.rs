//! `grafana.url`: Grafana builds every redirect from `root_url`
//! (`shared/reference/api/02-grafana-http-api.md` §2.5). A `root_url`
//! whose port is none users reach sends them nowhere; a sub-path with
//! `serve_from_sub_path` off leaves the proxy to strip it.
//!
//! Uses: lint::{model, finding}.

use crate::lint::finding::{Finding, Rule};
use crate::lint::model::{Container, Deployment};

/// Images that play the load balancer in front of Grafana.
const PROXIES: [&str; 5] = ["nginx", "traefik", "haproxy", "caddy", "envoy"];

fn is_grafana(c: &Container) -> bool {
    c.image.contains("grafana/grafana") || c.env("GF_SERVER_ROOT_URL").is_some()
}

pub fn check(model: &Deployment, out: &mut Vec<Finding>) {
    for grafana in model.containers.iter().filter(|c| is_grafana(c)) {
        let env = |name: &str| grafana.env(name).map(|e| e.value.as_str());
        let http_port: u16 = env("GF_SERVER_HTTP_PORT").and_then(|p| p.parse().ok()).unwrap_or(3000);
        let protocol = env("GF_SERVER_PROTOCOL").unwrap_or("http");
        let domain = env("GF_SERVER_DOMAIN").unwrap_or("localhost");
        let sub_path = env("GF_SERVER_SERVE_FROM_SUB_PATH") == Some("true");
        let raw = env("GF_SERVER_ROOT_URL").unwrap_or("%(protocol)s://%(domain)s:%(http_port)s/");
        let rendered = raw
            .replace("%(protocol)s", protocol)
            .replace("%(domain)s", domain)
            .replace("%(http_port)s", &http_port.to_string());
        let Ok(url) = url::Url::parse(&rendered) else { continue };
        let at = grafana
            .env("GF_SERVER_ROOT_URL")
            .map_or(grafana.at.clone(), |e| e.at.clone());
        let Some(port) = url.port_or_known_default() else {
            continue;
        };
        let mut reached: Vec<(String, u16)> = grafana
            .ports
            .iter()
            .filter(|(_, container)| *container == http_port)
            .map(|(host, _)| (grafana.name.clone(), *host))
            .collect();
        for proxy in model
            .containers
            .iter()
            .filter(|c| PROXIES.iter().any(|p| c.image.starts_with(p)))
        {
            reached.extend(proxy.ports.iter().map(|(host, _)| (proxy.name.clone(), *host)));
        }
        if !reached.is_empty() && !reached.iter().any(|(_, p)| *p == port) {
            let shown: Vec<String> = reached.iter().map(|(name, p)| format!("{p} ({name})")).collect();
            out.push(
                Finding::new(
                    Rule::GrafanaUrl,
                    at.clone(),
                    format!("Grafana's root_url renders as {rendered}, port {port}, but users reach it on {}: every redirect (login, a missing sub-path) lands on a port nothing serves", shown.join(", ")),
                )
                .evidence(format!("GF_SERVER_ROOT_URL={raw}"))
                .evidence(format!("published ports: {}", shown.join(", ")))
                .fix(format!("put the port users reach in root_url, e.g. %(protocol)s://%(domain)s:{}{}", reached[reached.len() - 1].1, url.path())),
            );
        }
        let path = url.path().trim_end_matches('/');
        if !path.is_empty() && !sub_path {
            out.push(
                Finding::new(
                    Rule::GrafanaUrl,
                    at.clone(),
                    format!("root_url has the sub-path `{path}/` but serve_from_sub_path is off: Grafana serves from `/` and its links point under `{path}/`, which only a proxy that strips the prefix makes work"),
                )
                .evidence(format!("GF_SERVER_SERVE_FROM_SUB_PATH={}", env("GF_SERVER_SERVE_FROM_SUB_PATH").unwrap_or("(unset: false)")))
                .fix("set GF_SERVER_SERVE_FROM_SUB_PATH=true"),
            );
        } else if path.is_empty() && sub_path {
            out.push(
                Finding::new(
                    Rule::GrafanaUrl,
                    at,
                    "serve_from_sub_path is on but root_url has no sub-path to serve from".to_string(),
                )
                .evidence(format!("root_url = {rendered}"))
                .fix("add the sub-path to root_url (…/grafana/) or turn serve_from_sub_path off"),
            );
        }
    }
}
