//! `pillars checks`: the catalog, one line per check — id, pillar and
//! what passing means.
//!
//! Uses: checks (the catalog), console.

use std::io::Write;

use crate::console::Console;
use crate::error::RunError;
use crate::exit;

pub(super) fn run(console: &mut Console) -> Result<u8, RunError> {
    for spec in crate::checks::CATALOG {
        let pillar = serde_json::to_value(spec.pillar).unwrap_or_default();
        let _ = writeln!(
            console.out,
            "{:<28} {:<12} {}",
            spec.id,
            pillar.as_str().unwrap_or_default(),
            spec.summary
        );
    }
    Ok(exit::OK)
}
