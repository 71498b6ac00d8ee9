//! `pillars checks`: the catalog as a table — id, pillar and what passing
//! means, cut to the terminal — or, with `--json`, whole, with each check's
//! reasons.
//!
//! Uses: checks (the catalog), console.

use std::io::Write;

use serde::Serialize;

use crate::checks::{CATALOG, Pillar};
use crate::console::Console;
use crate::error::RunError;
use crate::exit;

#[derive(Serialize)]
struct Entry {
    id: &'static str,
    pillar: Pillar,
    summary: &'static str,
    /// The check's own reasons; every check can also give the shared ones.
    reasons: &'static [&'static str],
}

pub(super) fn run(json: bool, console: &mut Console) -> Result<u8, RunError> {
    let entries: Vec<Entry> = CATALOG
        .iter()
        .map(|spec| Entry {
            id: spec.id,
            pillar: spec.pillar,
            summary: spec.summary,
            reasons: spec.reasons,
        })
        .collect();
    if json {
        let text = serde_json::to_string_pretty(&entries).expect("the catalog serializes");
        let _ = writeln!(console.out, "{text}");
        return Ok(exit::OK);
    }
    let pillar = |e: &Entry| {
        serde_json::to_value(e.pillar)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    };
    let id_width = entries.iter().map(|e| e.id.len()).max().unwrap_or(0).max("CHECK".len());
    let pillar_width = entries
        .iter()
        .filter_map(|e| pillar(e).map(|p| p.len()))
        .max()
        .unwrap_or(0)
        .max("PILLAR".len());
    let room = console
        .out_width
        .map(|w| w.saturating_sub(id_width + pillar_width + 4).max(20));
    let _ = writeln!(
        console.out,
        "{:<id_width$}  {:<pillar_width$}  PASSES WHEN",
        "CHECK", "PILLAR"
    );
    for e in &entries {
        let _ = writeln!(
            console.out,
            "{:<id_width$}  {:<pillar_width$}  {}",
            e.id,
            pillar(e).unwrap_or_default(),
            crate::report::terminal::fit(e.summary, room)
        );
    }
    Ok(exit::OK)
}
