//! Reading a deployment: the paths walked (directories recursively, hidden
//! ones, `target/` and `node_modules/` skipped), each file read through the
//! capped reader and recognised by its name and content, and what it says
//! put into the one [`Deployment`] model. Files of no kind lint knows are
//! passed over; a file of a known kind that does not parse stops the lint
//! (exit 2) with its line and column.
//!
//! Uses: lint::{source, model, alloy, terraform}, textfile, load::scenario.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_yaml::Value as Yaml;

use crate::lint::model::*;
use crate::lint::source::{At, LintError, SourceFile};
use crate::lint::{alloy, terraform};

/// The most files one lint reads: a bound on a mistaken `pillars lint /`.
const MAX_FILES: usize = 5_000;

/// What was read: the model and the files it came from.
#[derive(Debug, Default)]
pub struct Loaded {
    pub deployment: Deployment,
    pub files: Vec<PathBuf>,
}

/// Reads `paths` (and the scenario files under `scenarios`, if given).
pub fn load(paths: &[PathBuf], scenarios: Option<&Path>) -> Result<Loaded, LintError> {
    let mut loaded = Loaded::default();
    let mut files = Vec::new();
    for path in paths {
        let before = files.len();
        walk(path, &mut files)?;
        if files.len() == before && path.is_dir() {
            return Err(LintError::NothingToLint(path.clone()));
        }
    }
    if let Some(dir) = scenarios {
        let mut found = Vec::new();
        walk(dir, &mut found)?;
        files.extend(found.into_iter().filter(|f| f.extension().is_some_and(|e| e == "toml")));
    }
    files.dedup();
    for path in files {
        if read_one(&path, &mut loaded.deployment)? {
            loaded.files.push(path);
        }
    }
    if loaded.files.is_empty()
        && let Some(path) = paths.first()
    {
        return Err(LintError::NothingToLint(path.clone()));
    }
    Ok(loaded)
}

fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), LintError> {
    let meta = std::fs::metadata(path).map_err(|source| LintError::Read {
        path: path.to_owned(),
        source: source.into(),
    })?;
    if !meta.is_dir() {
        out.push(path.to_owned());
        return Ok(());
    }
    let list = |source| LintError::List {
        path: path.to_owned(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(list)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(list)?;
    entries.sort();
    for entry in entries {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let skipped = name.starts_with('.') && name != ".github" || name == "target" || name == "node_modules";
        if skipped || out.len() >= MAX_FILES {
            continue;
        }
        if entry.is_dir() {
            walk(&entry, out)?;
        } else if kind_of(&entry).is_some() {
            out.push(entry);
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Yaml,
    YamlTemplate,
    Alloy,
    Terraform,
    /// Another Terraform template (EC2 user data): its environment lines.
    Template,
    Requirements,
    PackageJson,
    Scenario,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    let in_scenarios = path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "scenarios");
    Some(if name.ends_with(".alloy") || name.ends_with(".alloy.tftpl") {
        Kind::Alloy
    } else if name.ends_with(".yml.tftpl") || name.ends_with(".yaml.tftpl") {
        Kind::YamlTemplate
    } else if name.ends_with(".yml") || name.ends_with(".yaml") {
        Kind::Yaml
    } else if name.ends_with(".tf") {
        Kind::Terraform
    } else if name.ends_with(".tftpl") {
        Kind::Template
    } else if name.starts_with("requirements") && name.ends_with(".txt") {
        Kind::Requirements
    } else if name == "package.json" {
        Kind::PackageJson
    } else if name.ends_with(".toml") && in_scenarios {
        Kind::Scenario
    } else {
        return None;
    })
}

/// Reads one file into the model; false when it is of no kind lint reads.
fn read_one(path: &Path, model: &mut Deployment) -> Result<bool, LintError> {
    let Some(kind) = kind_of(path) else {
        return Ok(false);
    };
    let text = crate::textfile::read(path).map_err(|source| LintError::Read {
        path: path.to_owned(),
        source,
    })?;
    let source = Arc::new(SourceFile {
        path: path.to_owned(),
        text,
    });
    let syntax = |line: usize, column: usize, problem: String| LintError::Syntax {
        path: path.to_owned(),
        line,
        column,
        problem,
    };
    match kind {
        Kind::Alloy => {
            let config = alloy::parse(&source.text).map_err(|e| syntax(e.line, e.column, e.to_string()))?;
            model.alloy.push(AlloyFile {
                at: At::start(&source),
                config,
            });
        }
        Kind::Yaml | Kind::YamlTemplate => {
            let text = if kind == Kind::YamlTemplate {
                without_directives(&source.text)
            } else {
                source.text.clone()
            };
            let yaml: Yaml = serde_yaml::from_str(&text).map_err(|e| {
                let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
                syntax(line, column, format!("not valid YAML: {e}"))
            })?;
            return Ok(read_yaml(&source, &yaml, model));
        }
        Kind::Terraform => terraform::read(&source, model).map_err(|e| syntax(e.line, e.column, e.problem))?,
        Kind::Template => model.containers.push(template_env(&source)),
        Kind::Requirements => read_requirements(&source, model),
        Kind::PackageJson => {
            let json: serde_json::Value = serde_json::from_str(&source.text)
                .map_err(|e| syntax(e.line(), e.column(), format!("not valid JSON: {e}")))?;
            for section in ["dependencies", "devDependencies"] {
                for (name, version) in json[section].as_object().into_iter().flatten() {
                    model.dependencies.push(Dependency {
                        at: At::start(&source).find(&format!("\"{name}\"")),
                        name: name.clone(),
                        version: version.as_str().unwrap_or_default().to_owned(),
                    });
                }
            }
        }
        Kind::Scenario => {
            let scenario = crate::load::scenario::Scenario::from_toml(&source.text, &path.display().to_string())
                .map_err(|e| syntax(1, 1, e.to_string()))?;
            model.scenarios.push(scenario_rate(&source, &scenario));
        }
    }
    Ok(true)
}

/// `%{ … }` directive lines dropped: what is left is the YAML Terraform
/// renders, with `${…}` as plain text.
fn without_directives(text: &str) -> String {
    text.lines()
        .map(|l| if l.trim_start().starts_with("%{") { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

fn yaml_str(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Recognises a YAML file by its top-level keys; false for none lint reads.
fn read_yaml(source: &Arc<SourceFile>, yaml: &Yaml, model: &mut Deployment) -> bool {
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
    let mut at = At::start(source).find("datasources:");
    for ds in yaml["datasources"].as_sequence().into_iter().flatten() {
        let name = yaml_str(&ds["name"]).unwrap_or_default();
        at = at.find_any(&[&format!("name: {name}"), &format!("name: \"{name}\""), "- name:"]);
        let json_data = serde_json::to_value(&ds["jsonData"]).unwrap_or_default();
        model.datasources.push(Datasource {
            at: at.clone(),
            uid: yaml_str(&ds["uid"]).unwrap_or_default(),
            name,
            kind: yaml_str(&ds["type"]).unwrap_or_default(),
            json_data,
        });
        at = At::line(source, at.line + 1);
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
        Some(_) => start.find(prefix_key.rsplit('.').next().unwrap_or(prefix_key)),
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

/// The environment a user-data template sets: `NAME=value` (shell,
/// env files) and `NAME: value` (an embedded Compose file) lines.
fn template_env(source: &Arc<SourceFile>) -> Container {
    let re = regex::Regex::new(r#"^\s*(?:export\s+|-\s+)?([A-Z][A-Z0-9_]*)\s*(?:=|:\s)\s*"?([^"\s]*)"?"#)
        .expect("valid regex");
    let env = source
        .text
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let c = re.captures(line)?;
            Some(EnvVar {
                at: At::line(source, i as u32 + 1),
                name: c[1].to_owned(),
                value: resolve_defaults(&c[2]),
            })
        })
        .collect();
    Container {
        at: At::start(source),
        name: source
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        image: String::new(),
        env,
        ports: Vec::new(),
    }
}

fn read_requirements(source: &Arc<SourceFile>, model: &mut Deployment) {
    for (i, line) in source.text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() || line.starts_with('-') {
            continue;
        }
        let end = line
            .find(['=', '<', '>', '~', '!', '[', ';', ' '])
            .unwrap_or(line.len());
        model.dependencies.push(Dependency {
            at: At::line(source, i as u32 + 1),
            name: line[..end].to_lowercase().replace('_', "-"),
            version: line[end..].trim_start_matches(['=', '<', '>', '~', '!']).to_owned(),
        });
    }
}

/// The Faro requests a second of a scenario at its peak: one `/collect`
/// request per frontend session, at the highest step (and, for a capacity
/// search, the highest scale it may reach).
fn scenario_rate(source: &Arc<SourceFile>, scenario: &crate::load::scenario::Scenario) -> ScenarioRate {
    use crate::load::scenario::TrafficKind;
    let rate = scenario
        .traffic
        .get(&TrafficKind::FrontendSessions)
        .map_or(0.0, |t| t.rate);
    let step = scenario.scale_steps().iter().map(|s| s.scale).fold(0.0, f64::max);
    let search = scenario.search.as_ref().map_or(1.0, |s| {
        s.start_scale * s.factor.powi(s.max_steps.saturating_sub(1) as i32)
    });
    ScenarioRate {
        at: At::start(source).find_any(&["[traffic.frontend_sessions]", "name ="]),
        name: scenario.name.clone(),
        faro_per_second: rate * step.max(1.0) * search,
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
