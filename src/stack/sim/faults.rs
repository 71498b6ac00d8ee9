//! Fault knobs of the embedded reference stack: each breaks exactly one
//! property a check verifies, so every check can be shown to fail for the
//! right reason.
//!
//! Uses: nothing else in the crate.

use std::time::Duration;

/// The knobs, with what each breaks. `--sim-fault NAME[=VALUE]` takes these
/// names; `pillars sim --help` lists them.
pub const KNOWN: &[(&str, &str)] = [
    (
        "drop_traces",
        "ratio (0-1, default 1) of traces the collector acknowledges but never stores",
    ),
    (
        "not_ready",
        "a role (tempo) whose readiness endpoint answers 503, as while its ring warms up",
    ),
    (
        "delay_ms",
        "milliseconds before anything stored becomes queryable (default 1000)",
    ),
]
.as_slice();

/// The active faults. The default breaks nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Fraction of traces dropped after acknowledging them, chosen by trace
    /// id so the same traces drop on every read.
    pub drop_traces: f64,
    /// Extra time before stored data is visible to queries.
    pub delay: Duration,
    /// Roles whose readiness endpoint answers 503.
    pub not_ready: Vec<Role>,
}

/// A role of the reference stack that a fault can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Tempo,
}

impl Role {
    const ALL: [Role; 1] = [Role::Tempo];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Tempo => "tempo",
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    #[error("unknown sim fault `{name}`; known faults: {}", known_names())]
    Unknown { name: String },
    #[error("sim fault `{name}` takes {expected}, got {value:?}")]
    BadValue {
        name: String,
        value: String,
        expected: &'static str,
    },
}

fn known_names() -> String {
    KNOWN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

impl Faults {
    /// Parses `NAME[=VALUE]` specs, as given on the command line.
    pub fn parse<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Faults, FaultError> {
        let mut faults = Faults::default();
        for spec in specs {
            faults.apply(spec)?;
        }
        Ok(faults)
    }

    pub fn apply(&mut self, spec: &str) -> Result<(), FaultError> {
        let (name, value) = match spec.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (spec.trim(), None),
        };
        match name {
            "drop_traces" => self.drop_traces = ratio(name, value)?,
            "delay_ms" => {
                let ms = match value {
                    None => 1000,
                    Some(v) => v.parse::<u64>().map_err(|_| FaultError::BadValue {
                        name: name.to_owned(),
                        value: v.to_owned(),
                        expected: "a whole number of milliseconds",
                    })?,
                };
                self.delay = Duration::from_millis(ms);
            }
            "not_ready" => {
                let role = value.unwrap_or("tempo");
                let role = Role::ALL
                    .into_iter()
                    .find(|r| r.as_str() == role)
                    .ok_or_else(|| FaultError::BadValue {
                        name: name.to_owned(),
                        value: role.to_owned(),
                        expected: "a role with a readiness endpoint: tempo",
                    })?;
                if !self.not_ready.contains(&role) {
                    self.not_ready.push(role);
                }
            }
            _ => return Err(FaultError::Unknown { name: name.to_owned() }),
        }
        Ok(())
    }

    /// The faults as `NAME=VALUE` specs, for banners and reports.
    pub fn specs(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.drop_traces > 0.0 {
            out.push(format!("drop_traces={}", self.drop_traces));
        }
        for role in &self.not_ready {
            out.push(format!("not_ready={}", role.as_str()));
        }
        if !self.delay.is_zero() {
            out.push(format!("delay_ms={}", self.delay.as_millis()));
        }
        out
    }
}

fn ratio(name: &str, value: Option<&str>) -> Result<f64, FaultError> {
    let Some(v) = value else { return Ok(1.0) };
    match v.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(FaultError::BadValue {
            name: name.to_owned(),
            value: v.to_owned(),
            expected: "a ratio between 0 and 1",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_values() {
        let f = Faults::parse(["drop_traces=0.5", "delay_ms=250"]).unwrap();
        assert_eq!(f.drop_traces, 0.5);
        assert_eq!(f.delay, Duration::from_millis(250));
        assert_eq!(Faults::parse(["drop_traces"]).unwrap().drop_traces, 1.0);
        assert_eq!(f.specs(), vec!["drop_traces=0.5", "delay_ms=250"]);
    }

    #[test]
    fn bad_specs_say_what_is_known() {
        let err = Faults::parse(["drop_everything"]).unwrap_err().to_string();
        assert!(err.contains("drop_traces") && err.contains("delay_ms"), "{err}");
        assert!(Faults::parse(["drop_traces=2"]).is_err());
        assert!(Faults::parse(["delay_ms=soon"]).is_err());
        assert!(Faults::parse(["not_ready=grafana"]).is_err());
        assert_eq!(Faults::parse(["not_ready"]).unwrap().not_ready, vec![Role::Tempo]);
    }
}
