//! The error a command can end in, the exit code each maps to (`exit`),
//! and the chain the binary prints for it.
//!
//! Uses: the error types of every layer below the commands.

use std::fmt;

use crate::acceptance::FeatureRunError;
use crate::bench::BenchError;
use crate::checks;
use crate::exit;
use crate::report::ReportError;
use crate::stack::compose::ComposeError;
use crate::stack::sim::{FaultError, SimError, VariantError};
use crate::stack::tunnel::TunnelError;
use crate::target::{OpenError, TargetError};

/// Why a command could not do its job. Each variant says what was tried and
/// what to do; `exit_code` says how the process ends.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Fault(#[from] FaultError),
    #[error(transparent)]
    Variant(#[from] VariantError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("{0}")]
    Usage(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Features(#[from] FeatureRunError),
    #[error(transparent)]
    Bench(#[from] BenchError),
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
    #[error(transparent)]
    Merge(#[from] crate::report::merge::MergeError),
    #[error(transparent)]
    Record(#[from] crate::report::record::RecordError),
    /// `--target aws` before its target file was rendered.
    #[error(transparent)]
    NotRendered(OpenError),
    /// The stack failed `stack.ready` before any load was sent.
    #[error(
        "not loading `{target}`{origin}: stack.ready {}: {summary}; start the stack (pillars stack up, pillars sim) or fix the target file", status.as_str()
    )]
    NotReady {
        target: String,
        /// ` (path)` of a target file, else empty.
        origin: String,
        status: checks::Status,
        summary: String,
    },
}

impl From<OpenError> for RunError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Sim(e) => RunError::Sim(e),
            OpenError::Target(e) => RunError::Target(e),
            OpenError::Tunnel(e) => RunError::Tunnel(e),
            e @ OpenError::NotRendered { .. } => RunError::NotRendered(e),
        }
    }
}

impl RunError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Bench(_) => exit::CHECK_FAILED,
            RunError::Compose(ComposeError::NoDocker { .. }) => exit::UNREACHABLE,
            RunError::Compose(_) => exit::CHECK_FAILED,
            // Not a word about the stack: the way to it did not open.
            RunError::Tunnel(_) => exit::UNREACHABLE,
            RunError::NotReady { status, .. } if *status == checks::Status::Fail => exit::CHECK_FAILED,
            RunError::NotReady { .. } => exit::UNREACHABLE,
            _ => exit::USAGE,
        }
    }
}

/// An error and its causes as the binary prints them: `error: …`, then one
/// indented `caused by: …` line per cause, with every secret masked.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |e: &dyn fmt::Display| crate::secrets::redact(&e.to_string()).into_owned();
        writeln!(f, "error: {}", redact(&self.0))?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            writeln!(f, "  caused by: {}", redact(&cause))?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_prints_each_cause_on_its_own_line() {
        let err = RunError::Io {
            what: "cannot write the target file `t.toml`".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(
            Chain(&err).to_string(),
            "error: cannot write the target file `t.toml`\n  caused by: disk full\n"
        );
        assert_eq!(err.exit_code(), exit::USAGE);
    }
}
