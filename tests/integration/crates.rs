//! The reference stack is its own crate and shares nothing with the harness:
//! `pillars-sim` depends on no part of `pillars`, and `pillars` reaches the
//! reference stack only through `src/stack/sim.rs`, for starting it, never
//! for its codecs.

use std::path::Path;

use crate::common::rust_files;

/// A file's text before its `#[cfg(test)]` module.
fn non_test_code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[test]
fn the_reference_stack_depends_on_nothing_of_the_harness() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Table = std::fs::read_to_string(root.join("sim/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) {
            assert!(
                !deps.keys().any(|k| k == "pillars"),
                "sim/Cargo.toml [{section}] names pillars"
            );
        }
    }
    let mut files = Vec::new();
    rust_files(&root.join("sim/src"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("pillars::"), "{} names the harness", file.display());
    }
}

#[test]
fn the_harness_uses_the_reference_stack_only_to_run_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let gate = root.join("src/stack/sim.rs");
    for file in files.iter().filter(|f| **f != gate) {
        assert!(
            !non_test_code(file).contains("pillars_sim"),
            "{} reaches into pillars-sim; go through src/stack/sim.rs",
            file.display()
        );
    }
    // The gate re-exports how to start and configure the stack, no codec.
    let gate_text = non_test_code(&gate);
    for codec in [
        "faro_lines",
        "logql",
        "pprof",
        "provisioning",
        "ids",
        "traceql",
        "promql",
    ] {
        assert!(
            !gate_text.contains(&format!("{codec}::")) && !gate_text.contains(&format!(" {codec},")),
            "src/stack/sim.rs re-exports the reference stack's `{codec}`"
        );
    }
}

/// What a check is (`src/check/`), the pillar round trips (`src/roundtrip/`)
/// and the correlation machinery (`src/correlation/`) sit below the
/// catalog: none of them names `checks`, so no check can run another.
#[test]
fn issue_12_the_check_machinery_never_reaches_into_the_catalog() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["src/check", "src/roundtrip", "src/correlation"] {
        let mut files = Vec::new();
        rust_files(&root.join(dir), &mut files);
        assert!(!files.is_empty(), "{dir} has no files");
        for file in files {
            let code = non_test_code(&file);
            assert!(
                !code.contains("crate::checks") && !code.contains("super::checks"),
                "{} reaches into the check catalog",
                file.display()
            );
        }
    }
}
