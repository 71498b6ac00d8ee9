//! Grafana datasource provisioning files (`provisioning/datasources/*.yaml`,
//! `apiVersion: 1`) as Grafana 11.4 reads them, and the datasource model
//! its HTTP API lists (`shared/reference/api/02-grafana-http-api.md` §2.2):
//! the reference stack's Grafana serves exactly what the file declares.
//! As Grafana does, every string value is expanded: `$$` is a literal `$`,
//! `$NAME` and `${NAME}` the environment variable (empty when unset).
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
    let mut file: File = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    if let Some(ds) = file.datasources.iter().find(|d| d.uid.is_empty()) {
        return Err(format!("datasource {:?} has no uid", ds.name));
    }
    for ds in &mut file.datasources {
        ds.url = expand(&ds.url);
        expand_json(&mut ds.json_data);
    }
    Ok(file.datasources)
}

fn expand_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => *s = expand(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(expand_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(expand_json),
        _ => {}
    }
}

/// Grafana's provisioning interpolation of one string.
fn expand(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let name_len = |s: &str| {
            s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(s.len())
        };
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{')
            && let Some(end) = braced.find('}')
        {
            out.push_str(&std::env::var(&braced[..end]).unwrap_or_default());
            rest = &braced[end + 1..];
        } else if name_len(after) > 0 {
            let n = name_len(after);
            out.push_str(&std::env::var(&after[..n]).unwrap_or_default());
            rest = &after[n..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
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

    #[test]
    fn strings_are_expanded_as_grafana_does() {
        assert_eq!(expand("$${__value.raw}"), "${__value.raw}");
        assert_eq!(expand("a$$b"), "a$b");
        assert_eq!(expand("${PILLARS_SIM_SURELY_UNSET}x"), "x");
        assert_eq!(expand("cost: 5$"), "cost: 5$");
    }
}
