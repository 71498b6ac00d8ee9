//! Grafana datasource provisioning files (`provisioning/datasources/*.yaml`,
//! `apiVersion: 1`) as Grafana 11.4 reads them, and the datasource model
//! its HTTP API lists (`shared/reference/api/02-grafana-http-api.md` §2.2):
//! the reference stack's Grafana serves exactly what the file declares.
//!
//! Uses: nothing else in the crate.

use serde::{Deserialize, Serialize};

/// A datasource as `GET /api/datasources` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Datasource {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub uid: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub access: String,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub json_data: serde_json::Value,
}

/// The store behind a datasource, by its plugin type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Backend {
    Prometheus,
    Loki,
    Tempo,
    Pyroscope,
}

impl Datasource {
    pub fn backend(&self) -> Option<Backend> {
        match self.kind.as_str() {
            "prometheus" => Some(Backend::Prometheus),
            "loki" => Some(Backend::Loki),
            "tempo" => Some(Backend::Tempo),
            "grafana-pyroscope-datasource" => Some(Backend::Pyroscope),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    datasources: Vec<Datasource>,
}

/// The datasources of a provisioning file; each needs a uid.
pub fn parse(yaml: &str) -> Result<Vec<Datasource>, String> {
    let file: File = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    if let Some(ds) = file.datasources.iter().find(|d| d.uid.is_empty()) {
        return Err(format!("datasource {:?} has no uid", ds.name));
    }
    Ok(file.datasources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compose_provisioning_parses() {
        let ds = parse(crate::grafana::DEFAULT_PROVISIONING).unwrap();
        let backends: Vec<_> = ds.iter().filter_map(Datasource::backend).collect();
        assert_eq!(
            backends,
            [Backend::Prometheus, Backend::Loki, Backend::Tempo, Backend::Pyroscope]
        );
        assert!(parse("datasources:\n  - name: x\n    type: loki\n    uid: ''\n").is_err());
        assert!(parse("datasources: [").is_err());
    }
}
