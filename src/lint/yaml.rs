//! The YAML files of a deployment, recognised by their top-level keys:
//! Docker Compose (containers, their environment, published ports and
//! memory limits), Grafana datasource provisioning, GitHub workflows, and
//! the storage sections of Loki, Tempo, Mimir and Pyroscope configs (where
//! each writes in a bucket; Tempo's metrics generator). `serde_yaml` keeps
//! no positions, so lines are found in the text from the enclosing key.
//!
//! Uses: lint::{model, source}.

use std::sync::Arc;

use serde_yaml::Value as Yaml;

use crate::lint::model::*;
use crate::lint::source::{At, SourceFile};

fn yaml_str(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Recognises a YAML file by its top-level keys; false for none lint reads.
pub fn read_yaml(source: &Arc<SourceFile>, yaml: &Yaml, model: &mut Deployment) -> bool {
    let has = |key: &str| yaml.get(key).is_some();
    if yaml.get("services").is_some_and(Yaml::is_mapping) {
        read_compose(source, yaml, model);
    } else if yaml.get("datasources").is_some_and(Yaml::is_sequence) {
        read_provisioning(source, yaml, model);
    } else if has("jobs") && (has("on") || yaml.get(Yaml::Bool(true)).is_some()) {
        read_workflow(source, yaml, model);
    } else if has("schema_config") {
        read_loki(source, yaml, model);
    } else if has("metrics_generator") || yaml.get("storage").and_then(|s| s.get("trace")).is_some() {
        read_tempo(source, yaml, model);
    } else if has("blocks_storage") || has("multitenancy_enabled") {
        read_mimir(source, yaml, model);
    } else if has("pyroscopedb") || yaml.get("storage").and_then(|s| s.get("prefix")).is_some() {
        read_pyroscope(source, yaml, model);
    } else {
        return false;
    }
    true
}

fn read_compose(source: &Arc<SourceFile>, yaml: &Yaml, model: &mut Deployment) {
    let start = At::start(source);
    let services_at = start.find("services:");
    let mut file = ComposeFile {
        at: start.clone(),
        services: Vec::new(),
    };
    for (name, service) in yaml["services"].as_mapping().into_iter().flatten() {
        let Some(name) = name.as_str() else { continue };
        let at = services_at.find(&format!("{name}:"));
        let env = match &service["environment"] {
            Yaml::Mapping(map) => map
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), yaml_str(v).unwrap_or_default())))
                .collect(),
            Yaml::Sequence(items) => items
                .iter()
                .filter_map(|i| {
                    let (k, v) = i.as_str()?.split_once('=')?;
                    Some((k.to_owned(), v.to_owned()))
                })
                .collect(),
            _ => Vec::<(String, String)>::new(),
        };
        let env = env
            .into_iter()
            .map(|(name, value)| EnvVar {
                at: at.find(&name),
                value: resolve_defaults(&value),
                name,
            })
            .collect();
        let ports = service["ports"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|p| match p {
                Yaml::String(s) => parse_port(s),
                Yaml::Mapping(_) => Some((
                    yaml_str(&p["published"])?.parse().ok()?,
                    yaml_str(&p["target"])?.parse().ok()?,
                )),
                _ => None,
            })
            .collect();
        model.containers.push(Container {
            at: at.clone(),
            name: name.to_owned(),
            image: yaml_str(&service["image"]).unwrap_or_default(),
            env,
            ports,
        });
        let limit =
            yaml_str(&service["mem_limit"]).or_else(|| yaml_str(&service["deploy"]["resources"]["limits"]["memory"]));
        let excluded = match &service["labels"] {
            Yaml::Mapping(_) => service["labels"]["pillars.budget"].as_str() == Some("exclude"),
            Yaml::Sequence(items) => items.iter().any(|l| l.as_str() == Some("pillars.budget=exclude")),
            _ => false,
        };
        file.services.push(ComposeService {
            at,
            name: name.to_owned(),
            memory_limit: limit.and_then(|l| parse_bytes(&l)),
            excluded,
        });
    }
    model.compose_files.push(file);
}

/// `"8000:80"`, `"127.0.0.1:8000:80"`, `"8000:80/tcp"`; a bare container
/// port publishes nothing fixed.
fn parse_port(text: &str) -> Option<(u16, u16)> {
    let text = text.split('/').next()?;
    let mut parts: Vec<&str> = text.rsplitn(3, ':').collect();
    parts.reverse();
    match parts.as_slice() {
        [.., host, container] => Some((host.parse().ok()?, container.parse().ok()?)),
        _ => None,
    }
}

/// Docker's memory sizes: `704m`, `1g`, `64M`, `512mb`, a plain byte count.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim().to_lowercase();
    let t = t.trim_end_matches('b').trim_end_matches('i');
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len()));
    let n: f64 = digits.parse().ok()?;
    let scale = match unit {
        "" => 1u64,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    Some((n * scale as f64) as u64)
}

fn read_provisioning(source: &Arc<SourceFile>, yaml: &Yaml, model: &mut Deployment) {
    let entries = yaml["datasources"].as_sequence().map_or(&[][..], |s| s.as_slice());
    // Each entry starts at its `- ` item line; the next one's ends it.
    let mut starts = Vec::new();
    let mut at = At::start(source).find("datasources:");
    for ds in entries {
        let name = yaml_str(&ds["name"]).unwrap_or_default();
        at = at.find_any(&[&format!("name: {name}"), &format!("name: \"{name}\""), "- name:"]);
        starts.push(at.clone());
        at = At::line(source, at.line + 1);
    }
    for (i, ds) in entries.iter().enumerate() {
        let end_line = starts.get(i + 1).map_or(u32::MAX, |next| next.line);
        model.datasources.push(Datasource {
            at: starts[i].clone(),
            end_line,
            uid: yaml_str(&ds["uid"]).unwrap_or_default(),
            name: yaml_str(&ds["name"]).unwrap_or_default(),
            kind: yaml_str(&ds["type"]).unwrap_or_default(),
            json_data: serde_json::to_value(&ds["jsonData"]).unwrap_or_default(),
        });
    }
}

fn read_workflow(source: &Arc<SourceFile>, yaml: &Yaml, model: &mut Deployment) {
    let truthy = |v: &Yaml| v.as_bool() == Some(true) || v.as_str() == Some("true");
    let mut at = At::start(source).find("jobs:");
    for (_, job) in yaml["jobs"].as_mapping().into_iter().flatten() {
        let job_continues = truthy(&job["continue-on-error"]);
        for step in job["steps"].as_sequence().into_iter().flatten() {
            let name = yaml_str(&step["name"]).unwrap_or_default();
            let run = yaml_str(&step["run"]);
            let needle = if name.is_empty() {
                run.as_deref().and_then(|r| r.lines().next()).unwrap_or("-").to_owned()
            } else {
                format!("name: {name}")
            };
            at = at.find_any(&[&needle, &name]);
            model.workflow_steps.push(WorkflowStep {
                at: at.clone(),
                name,
                run,
                continue_on_error: job_continues || truthy(&step["continue-on-error"]),
            });
            at = At::line(source, at.line + 1);
        }
    }
}

fn store(
    source: &Arc<SourceFile>,
    component: Component,
    s3: &Yaml,
    bucket_key: &str,
    anchor: &str,
    prefix: Option<&Yaml>,
    prefix_key: &'static str,
) -> ObjectStore {
    let start = At::start(source);
    let prefix = prefix
        .and_then(yaml_str)
        .map(|p| resolve_defaults(&p).trim_matches('/').to_owned())
        .filter(|p| !p.is_empty());
    let at = match &prefix {
        // `prefix:` as a key, not the word in a comment.
        Some(_) => start.find(&format!("{}:", prefix_key.rsplit('.').next().unwrap_or(prefix_key))),
        None => start.find(anchor),
    };
    ObjectStore {
        at,
        component,
        bucket: yaml_str(&s3[bucket_key])
            .map(|b| resolve_defaults(&b))
            .unwrap_or_default(),
        prefix,
        prefix_key,
    }
}

fn read_loki(source: &Arc<SourceFile>, yaml: &Yaml, model: &mut Deployment) {
    let cfg = &yaml["storage_config"];
    let (s3, prefix, key) = if cfg["use_thanos_objstore"].as_bool() == Some(true) {
        (
            &cfg["object_store"]["s3"],
            cfg["object_store"].get("storage_prefix"),
            "storage_config.object_store.storage_prefix",
        )
    } else {
        (&cfg["aws"], cfg.get("object_prefix"), "storage_config.object_prefix")
    };
    if s3.is_mapping() {
        let bucket_key = if s3.get("bucket_name").is_some() {
            "bucket_name"
        } else {
            "bucketnames"
        };
        let anchor = if key.contains("thanos") || key.contains("object_store") {
            "s3:"
        } else {
            "aws:"
        };
        model
            .stores
            .push(store(source, Component::Loki, s3, bucket_key, anchor, prefix, key));
    }
}

fn read_tempo(source: &Arc<SourceFile>, yaml: &Yaml, model: &mut Deployment) {
    let s3 = &yaml["storage"]["trace"]["s3"];
    if s3.is_mapping() {
        let prefix = s3.get("prefix");
        model.stores.push(store(
            source,
            Component::Tempo,
            s3,
            "bucket",
            "s3:",
            prefix,
            "storage.trace.s3.prefix",
        ));
    }
    let start = At::start(source);
    for rw in yaml["metrics_generator"]["storage"]["remote_write"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        let url = yaml_str(&rw["url"]).unwrap_or_default();
        model.metrics_generators.push(MetricsGenerator {
            at: start.find("remote_write:").find(&url),
            send_exemplars: rw["send_exemplars"].as_bool().unwrap_or(false),
            url,
        });
    }
}

fn read_mimir(source: &Arc<SourceFile>, yaml: &Yaml, model: &mut Deployment) {
    let blocks = &yaml["blocks_storage"];
    let s3 = if blocks["s3"].is_mapping() {
        &blocks["s3"]
    } else {
        &yaml["common"]["storage"]["s3"]
    };
    if s3.is_mapping() {
        let (prefix, key) = match blocks.get("storage_prefix") {
            Some(p) => (Some(p), "blocks_storage.storage_prefix"),
            None => (
                yaml["common"]["storage"].get("storage_prefix"),
                "common.storage.storage_prefix",
            ),
        };
        model
            .stores
            .push(store(source, Component::Mimir, s3, "bucket_name", "s3:", prefix, key));
    }
}

fn read_pyroscope(source: &Arc<SourceFile>, yaml: &Yaml, model: &mut Deployment) {
    let storage = &yaml["storage"];
    if storage["s3"].is_mapping() {
        let prefix = storage.get("prefix");
        model.stores.push(store(
            source,
            Component::Pyroscope,
            &storage["s3"],
            "bucket_name",
            "s3:",
            prefix,
            "storage.prefix",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_and_ports_parse_as_docker_reads_them() {
        assert_eq!(parse_bytes("704m"), Some(704 << 20));
        assert_eq!(parse_bytes("1g"), Some(1 << 30));
        assert_eq!(parse_bytes("64M"), Some(64 << 20));
        assert_eq!(parse_bytes("512MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("1024"), Some(1024));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_port("8000:80"), Some((8000, 80)));
        assert_eq!(parse_port("127.0.0.1:3001:3001/tcp"), Some((3001, 3001)));
        assert_eq!(parse_port("80"), None);
    }
}
