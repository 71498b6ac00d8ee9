//! One model of a deployment, whatever files it was read from: the
//! datasources Grafana is provisioned with, the collector's components,
//! the containers and their environment, where each component writes in
//! object storage and what expires there, the load balancer's routes, the
//! CI steps, and the dependency manifests and load scenarios beside them.
//! Rules read only this.
//!
//! Uses: lint::{source, alloy}.

use serde_json::Value as Json;

use crate::lint::alloy;
use crate::lint::source::At;

#[derive(Debug, Default)]
pub struct Deployment {
    pub datasources: Vec<Datasource>,
    /// Each Alloy file, parsed.
    pub alloy: Vec<AlloyFile>,
    /// Containers: Compose services, ECS container definitions, and the
    /// environment an EC2 user-data template sets (as one container).
    pub containers: Vec<Container>,
    pub compose_files: Vec<ComposeFile>,
    pub stores: Vec<ObjectStore>,
    pub lifecycle_rules: Vec<LifecycleRule>,
    pub lb_rules: Vec<LbRule>,
    pub metrics_generators: Vec<MetricsGenerator>,
    pub workflow_steps: Vec<WorkflowStep>,
    pub dependencies: Vec<Dependency>,
    pub scenarios: Vec<ScenarioRate>,
}

/// A Grafana datasource, from provisioning YAML or a `grafana_data_source`.
#[derive(Debug, Clone)]
pub struct Datasource {
    pub at: At,
    /// The line its definition ends before (the next one's, or past the
    /// end of the file): where its keys are looked for.
    pub end_line: u32,
    pub uid: String,
    pub name: String,
    /// Grafana's plugin type: `prometheus`, `loki`, `tempo`, ….
    pub kind: String,
    pub json_data: Json,
}

#[derive(Debug)]
pub struct AlloyFile {
    pub at: At,
    pub config: alloy::Config,
}

#[derive(Debug, Clone)]
pub struct EnvVar {
    pub at: At,
    pub name: String,
    /// With Compose's `${VAR:-default}` resolved to its default.
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct Container {
    pub at: At,
    pub name: String,
    pub image: String,
    pub env: Vec<EnvVar>,
    /// Host ports published to container ports.
    pub ports: Vec<(u16, u16)>,
}

impl Container {
    pub fn env(&self, name: &str) -> Option<&EnvVar> {
        self.env.iter().find(|e| e.name == name)
    }
}

/// A Compose file's services and their memory limits, for the budget.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    pub at: At,
    pub services: Vec<ComposeService>,
}

#[derive(Debug, Clone)]
pub struct ComposeService {
    pub at: At,
    pub name: String,
    /// `mem_limit` or `deploy.resources.limits.memory`, in bytes.
    pub memory_limit: Option<u64>,
    /// Labelled `pillars.budget: exclude`: not on the instance's budget
    /// (the app, the edge proxy, MinIO stand in for what runs elsewhere).
    pub excluded: bool,
}

/// Which store a component's object storage config belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Loki,
    Tempo,
    Mimir,
    Pyroscope,
}

impl Component {
    pub fn name(self) -> &'static str {
        match self {
            Component::Loki => "loki",
            Component::Tempo => "tempo",
            Component::Mimir => "mimir",
            Component::Pyroscope => "pyroscope",
        }
    }
}

/// Where a component writes in an S3 bucket.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    pub at: At,
    pub component: Component,
    /// The bucket, defaults of `${VAR:-default}` resolved.
    pub bucket: String,
    /// Without leading or trailing `/`; `None` at the bucket root.
    pub prefix: Option<String>,
    /// Where the prefix is (or would be) set, and the key that sets it.
    pub prefix_key: &'static str,
}

/// One S3 lifecycle rule (Terraform `aws_s3_bucket_lifecycle_configuration`).
#[derive(Debug, Clone)]
pub struct LifecycleRule {
    pub at: At,
    pub id: String,
    /// Without leading or trailing `/`; `None` when it is not a literal
    /// (a variable, a dynamic block) and cannot be judged.
    pub prefix: Option<String>,
}

/// One load-balancer listener rule: path patterns and the port of the
/// target group it forwards to, where that is known.
#[derive(Debug, Clone)]
pub struct LbRule {
    pub at: At,
    pub name: String,
    pub path_patterns: Vec<String>,
    pub target_port: Option<u16>,
    pub target_group: Option<String>,
}

/// Tempo's metrics generator writing to a Prometheus remote-write endpoint.
#[derive(Debug, Clone)]
pub struct MetricsGenerator {
    pub at: At,
    pub url: String,
    pub send_exemplars: bool,
}

#[derive(Debug, Clone)]
pub struct WorkflowStep {
    pub at: At,
    pub name: String,
    pub run: Option<String>,
    pub continue_on_error: bool,
}

/// A package a manifest (requirements.txt, package.json) names.
#[derive(Debug, Clone)]
pub struct Dependency {
    pub at: At,
    pub name: String,
    pub version: String,
}

/// The peak Faro request rate one scenario asks for.
#[derive(Debug, Clone)]
pub struct ScenarioRate {
    pub at: At,
    pub name: String,
    /// `/collect` requests a second at the scenario's highest step.
    pub faro_per_second: f64,
}

impl Datasource {
    /// The line of a key of this datasource, in YAML (`key:`) or HCL
    /// (`key =`) form; the datasource's own line when it has none.
    pub fn key_at(&self, key: &str) -> At {
        let yaml = format!("{key}:");
        let hcl = format!("{key} ");
        self.at.find_within(&[&yaml, &hcl], self.end_line)
    }

    /// The line of a tag `key` under the setting `setting`.
    pub fn tag_at(&self, setting: &str, key: &str) -> At {
        let from = self.key_at(setting);
        let (yaml, hcl) = (format!("key: {key}"), format!("\"{key}\""));
        from.find_within(&[&yaml, &hcl], self.end_line)
    }
}

impl Deployment {
    pub fn datasources_of(&self, kind: &str) -> impl Iterator<Item = &Datasource> {
        self.datasources.iter().filter(move |d| d.kind == kind)
    }

    /// Every Alloy component, with the file it is in.
    pub fn components(&self) -> impl Iterator<Item = (&AlloyFile, &alloy::Block)> {
        self.alloy
            .iter()
            .flat_map(|f| f.config.blocks.iter().map(move |b| (f, b)))
    }

    /// Every environment setting of every container.
    pub fn env(&self) -> impl Iterator<Item = &EnvVar> {
        self.containers.iter().flat_map(|c| c.env.iter())
    }
}

/// `${VAR:-default}`, `${VAR-default}` and `${VAR:default}` (Mimir's and
/// Pyroscope's `-config.expand-env`) become their default; anything else
/// stays as written.
pub fn resolve_defaults(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &rest[start + 2..start + len];
        match inner.find([':', '-']) {
            Some(i) => {
                let default = inner[i..].trim_start_matches(':').trim_start_matches('-');
                out.push_str(default);
            }
            None => out.push_str(&rest[start..start + len + 1]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_of_interpolations_are_resolved() {
        assert_eq!(resolve_defaults("${S3_BUCKET:-observability}"), "observability");
        assert_eq!(resolve_defaults("${S3_BUCKET:observability}"), "observability");
        assert_eq!(resolve_defaults("a-${X-b}-c"), "a-b-c");
        assert_eq!(resolve_defaults("${X}"), "${X}");
        assert_eq!(resolve_defaults("plain"), "plain");
    }
}
