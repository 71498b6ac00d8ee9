//! Reading a deployment: the paths walked (directories recursively, hidden
//! ones, `target/` and `node_modules/` skipped), each file read through the
//! capped reader and recognised by its name and content, and what it says
//! put into the one [`Deployment`] model. Files of no kind lint knows are
//! passed over; a file of a known kind that does not parse stops the lint
//! (exit 2) with its line and column.
//!
//! Uses: lint::{source, model, alloy, terraform, yaml}, textfile, load::scenario.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_yaml::Value as Yaml;

use crate::lint::model::*;
use crate::lint::source::{At, LintError, SourceFile};
use crate::lint::{alloy, terraform, yaml};

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
    let mut files: Vec<(PathBuf, Option<Kind>)> = files.into_iter().map(|f| (f, None)).collect();
    if let Some(dir) = scenarios {
        let entries = std::fs::read_dir(dir).map_err(|source| LintError::List {
            path: dir.to_owned(),
            source,
        })?;
        for entry in entries {
            let path = entry.map_err(|source| LintError::List {
                path: dir.to_owned(),
                source,
            })?;
            let path = path.path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push((path, Some(Kind::Scenario)));
            }
        }
    }
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    for (path, kind) in files {
        let Some(kind) = kind.or_else(|| kind_of(&path)) else {
            continue;
        };
        if read_one(&path, kind, &mut loaded.deployment)? {
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
        // Symlinked directories are not followed: a link loop would never end.
        if entry.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            walk(&entry, out)?;
        } else if kind_of(&entry).is_some() {
            out.push(entry);
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

/// Reads one file of `kind` into the model; false for a YAML file of no
/// kind lint knows.
fn read_one(path: &Path, kind: Kind, model: &mut Deployment) -> Result<bool, LintError> {
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
            return Ok(yaml::read_yaml(&source, &yaml, model));
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
