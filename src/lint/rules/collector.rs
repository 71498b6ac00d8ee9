//! The collector's front door (`shared/reference/api/01-faro-receiver.md`):
//! the Faro receiver serves exactly `/collect` (POST, OPTIONS); its CORS
//! allowed headers are fixed — `content-type, traceparent, x-api-key,
//! x-faro-session-id, x-scope-orgid` in Alloy v1.13 (`content-encoding`
//! added later) — while the Faro Web SDK 2.x also sends `idempotency-key`;
//! and it rate-limits at 50 requests/s unless told otherwise.
//!
//! Uses: lint::{model, pipeline, finding, alloy}.

use crate::lint::alloy::Value;
use crate::lint::finding::{Finding, Rule};
use crate::lint::model::Deployment;
use crate::lint::pipeline::Pipeline;

const FARO_PORT: u16 = 12347;
const ALLOWED_HEADERS: [&str; 6] = [
    "content-type",
    "traceparent",
    "x-api-key",
    "x-faro-session-id",
    "x-scope-orgid",
    "content-encoding",
];
/// Headers the Faro Web SDK 2.x sends beyond the allowed ones.
const SDK2_HEADERS: [&str; 1] = ["idempotency-key"];

/// ALB path-pattern matching: `*` any run of characters, `?` one.
fn glob(pattern: &str, path: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), path.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn faro_port(pipeline: &Pipeline) -> u16 {
    pipeline
        .faro
        .as_ref()
        .and_then(|(_, b)| b.block("server")?.value("listen_port")?.as_f64())
        .map_or(FARO_PORT, |p| p as u16)
}

pub fn route(model: &Deployment, pipeline: &Pipeline, out: &mut Vec<Finding>) {
    let port = faro_port(pipeline);
    for rule in &model.lb_rules {
        let to_faro = rule.target_port == Some(port)
            || rule
                .target_group
                .as_deref()
                .is_some_and(|g| g.contains("faro") || g.contains("collect"));
        if !to_faro || rule.path_patterns.is_empty() || rule.path_patterns.iter().any(|p| glob(p, "/collect")) {
            continue;
        }
        out.push(
            Finding::new(
                Rule::CollectorRoute,
                rule.at.clone(),
                format!(
                    "listener rule `{}` forwards {:?} to the Faro receiver, which serves only `/collect`: the SDK's requests never reach it, and what does gets 404",
                    rule.name, rule.path_patterns
                ),
            )
            .evidence(format!(
                "target group {} (port {})",
                rule.target_group.as_deref().unwrap_or("?"),
                rule.target_port.map_or("?".to_owned(), |p| p.to_string())
            ))
            .evidence("faro.receiver routes: POST/OPTIONS /collect (exact match; /collect/<key> is not served)")
            .fix("use the path patterns [\"/collect\", \"/collect/*\"] and point the Faro SDK's url at /collect"),
        );
    }
}

pub fn cors(model: &Deployment, pipeline: &Pipeline, out: &mut Vec<Finding>) {
    let Some((at, faro)) = &pipeline.faro else { return };
    let Some(origins) = faro.block("server").and_then(|s| s.attribute("cors_allowed_origins")) else {
        return;
    };
    if matches!(&origins.value, Value::List(items) if items.is_empty()) {
        return;
    }
    let Some(sdk) = model.dependencies.iter().find(|d| d.name == "@grafana/faro-web-sdk") else {
        return;
    };
    let major = sdk
        .version
        .trim_start_matches(['^', '~', '=', '>', '<', 'v', ' '])
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < 2) {
        return;
    }
    let missing: Vec<&str> = SDK2_HEADERS
        .iter()
        .copied()
        .filter(|h| !ALLOWED_HEADERS.contains(h))
        .collect();
    out.push(
        Finding::new(
            Rule::CollectorCors,
            at.line_of(origins.line),
            format!(
                "the Faro receiver answers cross-origin requests, but its CORS allowed headers lack `{}`, which Faro Web SDK {} sends: browsers fail the preflight and drop every payload",
                missing.join("`, `"),
                sdk.version
            ),
        )
        .evidence(format!("{}:{}: @grafana/faro-web-sdk {}", sdk.at.file(), sdk.at.line, sdk.version))
        .evidence(format!("faro.receiver allows the headers {ALLOWED_HEADERS:?} (fixed, not configurable)"))
        .fix("serve the collector from the app's origin (`/collect` behind the same load balancer) and drop cors_allowed_origins, or answer the preflight in a proxy that allows idempotency-key"),
    );
}

pub fn rate_limit(model: &Deployment, pipeline: &Pipeline, out: &mut Vec<Finding>) {
    let Some((at, faro)) = &pipeline.faro else { return };
    let limits = faro.block("server").and_then(|s| s.block("rate_limiting"));
    if limits.and_then(|l| l.value("enabled")).and_then(Value::as_bool) == Some(false) {
        return;
    }
    let rate_attr = limits.and_then(|l| l.attribute("rate"));
    let rate = rate_attr.and_then(|a| a.value.as_f64()).unwrap_or(50.0);
    let Some(peak) = model
        .scenarios
        .iter()
        .max_by(|a, b| a.faro_per_second.total_cmp(&b.faro_per_second))
    else {
        return;
    };
    if peak.faro_per_second <= rate {
        return;
    }
    let place = match rate_attr {
        Some(a) => at.line_of(a.line),
        None => at.clone(),
    };
    out.push(
        Finding::new(
            Rule::CollectorRateLimit,
            place,
            format!(
                "scenario `{}` sends up to {} Faro requests/s, over the receiver's rate limit of {rate}/s: the rest get 429 and the SDK backs off",
                peak.name, peak.faro_per_second
            ),
        )
        .evidence(format!("{}:{}: frontend_sessions, one /collect request each", peak.at.file(), peak.at.line))
        .evidence(if rate_attr.is_some() {
            format!("rate_limiting.rate = {rate}")
        } else {
            "no rate_limiting block: enabled, rate 50, burst_size 100 by default".to_owned()
        })
        .fix(format!(
            "raise faro.receiver's server.rate_limiting rate (and burst_size) above {}",
            peak.faro_per_second
        )),
    );
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn alb_patterns_match_like_the_alb() {
        assert!(glob("/collect", "/collect"));
        assert!(glob("/collect*", "/collect"));
        assert!(!glob("/collect/*", "/collect"));
        assert!(glob("/*", "/collect"));
        assert!(!glob("/faro/*", "/collect"));
        assert!(glob("/c?llect", "/collect"));
    }
}
