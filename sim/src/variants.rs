//! Deployment variants of the reference stack: not faults (nothing is
//! broken) but the choices a deployment makes that change what the stores
//! end up holding, so the deployment's own shapes can be reproduced.
//!
//! - `log_export`: how the simulated Alloy exports the logs it receives
//!   over OTLP. `otlp` (the default) sends them to Loki's OTLP endpoint
//!   (`service_name` index label, `trace_id` structured metadata);
//!   `loki_exporter` is the deployment's `otelcol.exporter.loki` →
//!   `loki.write`: the push API with `exporter`, `job`, `instance` and
//!   `level` labels and a JSON line holding `traceid`
//!   (`shared/reference/api/05-loki.md` §5.2, §5.5).
//!
//! Uses: nothing else in the crate.

/// The variants, with what each value means. `--variant NAME=VALUE` (and
/// `--sim-variant`) take these; `pillars sim --help` lists them.
pub const KNOWN: &[(&str, &str)] = &[(
    "log_export",
    "how Alloy exports OTLP logs: otlp (to Loki's /otlp endpoint, the default) or loki_exporter (otelcol.exporter.loki to the push API, as the deployment does)",
)];

/// How the simulated Alloy exports OTLP logs to Loki.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogExport {
    #[default]
    Otlp,
    LokiExporter,
}

impl LogExport {
    pub const fn as_str(self) -> &'static str {
        match self {
            LogExport::Otlp => "otlp",
            LogExport::LokiExporter => "loki_exporter",
        }
    }
}

/// The deployment choices in force; the default is the reference stack's
/// own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Variants {
    pub log_export: LogExport,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariantError {
    #[error("unknown sim variant `{0}`; known variants: log_export")]
    Unknown(String),
    #[error("sim variant `{name}` takes {expected}, got {value:?}")]
    BadValue {
        name: String,
        value: String,
        expected: &'static str,
    },
}

impl Variants {
    /// Parses `NAME=VALUE` specs, as given on the command line.
    pub fn parse<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Variants, VariantError> {
        let mut variants = Variants::default();
        for spec in specs {
            variants.apply(spec)?;
        }
        Ok(variants)
    }

    pub fn apply(&mut self, spec: &str) -> Result<(), VariantError> {
        let (name, value) = spec.split_once('=').map_or((spec, ""), |(n, v)| (n, v));
        match name.trim() {
            "log_export" => {
                self.log_export = match value.trim() {
                    "otlp" => LogExport::Otlp,
                    "loki_exporter" => LogExport::LokiExporter,
                    other => {
                        return Err(VariantError::BadValue {
                            name: "log_export".into(),
                            value: other.into(),
                            expected: "otlp or loki_exporter",
                        });
                    }
                };
            }
            other => return Err(VariantError::Unknown(other.into())),
        }
        Ok(())
    }

    /// The variants that differ from the default, as `NAME=VALUE`.
    pub fn specs(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.log_export != LogExport::default() {
            out.push(format!("log_export={}", self.log_export.as_str()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print() {
        let v = Variants::parse(["log_export=loki_exporter"]).unwrap();
        assert_eq!(v.log_export, LogExport::LokiExporter);
        assert_eq!(v.specs(), ["log_export=loki_exporter"]);
        assert!(Variants::default().specs().is_empty());
        assert!(Variants::parse(["log_export=syslog"]).is_err());
        assert!(Variants::parse(["tracing=on"]).is_err());
    }
}
