//! The one place that reads the process environment. The binary takes a
//! snapshot once ([`Env::from_process`]) and passes it down; every module
//! that depends on a variable is handed the snapshot, or the value read
//! from it, so tests pass their own ([`Env::from_pairs`], [`Env::default`]).
//!
//! What is read, and by whom:
//! - `PILLARS_TIMEOUT_SCALE`: a multiplier for every deadline (`target`);
//! - `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT`:
//!   a file target's ingest endpoints, after the OpenTelemetry exporter
//!   conventions (`target`);
//! - the variables a target file names under `[auth]`, and
//!   `pillars sim --grafana-token-env`: secrets (`target`, `commands::sim`);
//! - `DOCKER_HOST`: the Docker engine of the Compose preflight and of
//!   container memory samples (`commands`, `target`);
//! - `NO_COLOR`: no colour and no progress bars (`console`, `commands`).
//!
//! `PILLARS_TARGET` is the default of `--target`, read by clap while it
//! parses the command line (`cli`).
//!
//! A variable set to the empty string counts as unset, for every variable
//! (for `NO_COLOR` as <https://no-color.org> says).
//!
//! Uses: nothing else in the crate.

use std::collections::BTreeMap;

/// A snapshot of the environment variables pillars reads. Its `Debug`
/// names the variables only: their values may be secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env(BTreeMap<String, String>);

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Env").field(&self.0.keys().collect::<Vec<_>>()).finish()
    }
}

impl Env {
    /// The process environment, now. Variables whose name or value is not
    /// Unicode are left out: none of those pillars reads can be.
    pub fn from_process() -> Self {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// This snapshot with `name` set to `value` where it is unset, e.g. a
    /// test's default credentials.
    pub fn or_set(mut self, name: &str, value: &str) -> Self {
        if self.get(name).is_none() {
            self.0.insert(name.to_owned(), value.to_owned());
        }
        self
    }

    /// The value of `name`, unless it is unset or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// Every variable of the snapshot: the environment a child process pillars
    /// starts runs with.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `DOCKER_HOST`: the Docker engine to ask, when not the default socket.
    pub fn docker_host(&self) -> Option<&str> {
        self.get("DOCKER_HOST")
    }

    /// `NO_COLOR` is set (and not empty): no colour, no progress bars.
    pub fn no_color(&self) -> bool {
        self.get("NO_COLOR").is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_counts_as_unset() {
        let env = Env::from_pairs([("NO_COLOR", ""), ("DOCKER_HOST", "tcp://h:2375")]);
        assert!(!env.no_color());
        assert_eq!(env.docker_host(), Some("tcp://h:2375"));
        assert!(Env::from_pairs([("NO_COLOR", "1")]).no_color());
        let env = env.or_set("NO_COLOR", "1").or_set("DOCKER_HOST", "unix:///x");
        assert!(env.no_color());
        assert_eq!(env.docker_host(), Some("tcp://h:2375"));
        assert!(!format!("{env:?}").contains("tcp://h"), "values stay out of Debug");
    }
}
