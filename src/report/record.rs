//! Reading back a record pillars wrote: `run.json`, `load.json` or
//! `capacity.json`, from its report directory or its own path, bounded in
//! size and checked for its schema version. `merge` and `diff` read
//! through here.
//!
//! Uses: report (the record types), textfile.

use std::path::{Path, PathBuf};

use crate::report::capacity::CapacityReport;
use crate::report::dir::{CAPACITY_JSON, LOAD_JSON, RUN_JSON};
use crate::report::load::{LOAD_SCHEMA_VERSION, LoadReport};
use crate::report::run::{RunReport, SCHEMA_VERSION};

/// A record, by kind.
#[derive(Debug, Clone)]
pub enum Record {
    Run(RunReport),
    Load(LoadReport),
    Capacity(CapacityReport),
}

impl Record {
    /// The file name it is written under.
    pub fn file_name(&self) -> &'static str {
        match self {
            Record::Run(_) => RUN_JSON,
            Record::Load(_) => LOAD_JSON,
            Record::Capacity(_) => CAPACITY_JSON,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("`{}` holds no {RUN_JSON}, {LOAD_JSON} or {CAPACITY_JSON}; pass a report directory pillars wrote", dir.display())]
    NoRecord { dir: PathBuf },
    #[error("`{}` holds more than one of {RUN_JSON}, {LOAD_JSON} and {CAPACITY_JSON}; pass the file itself", dir.display())]
    Several { dir: PathBuf },
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: crate::textfile::TextFileError,
    },
    #[error("`{}` is not a record pillars wrote: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("`{}` has schema version {found}; this pillars reads version {expected}", path.display())]
    Version { path: PathBuf, found: u64, expected: u64 },
}

/// Reads the record at `input`: a report directory holding one record, or
/// the record's file. Returns the file's path with it.
pub fn read(input: &Path) -> Result<(PathBuf, Record), RecordError> {
    let path = if input.is_dir() {
        let present: Vec<PathBuf> = [RUN_JSON, LOAD_JSON, CAPACITY_JSON]
            .iter()
            .map(|name| input.join(name))
            .filter(|p| p.is_file())
            .collect();
        match present.as_slice() {
            [one] => one.clone(),
            [] => return Err(RecordError::NoRecord { dir: input.to_owned() }),
            _ => return Err(RecordError::Several { dir: input.to_owned() }),
        }
    } else {
        input.to_owned()
    };
    let text = crate::textfile::read_at_most(&path, crate::textfile::MAX_RECORD_BYTES).map_err(|source| {
        RecordError::Read {
            path: path.clone(),
            source,
        }
    })?;
    let parse = |message: String| RecordError::Parse {
        path: path.clone(),
        message,
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?;
    let is_run = value.get("checks").is_some();
    let expected = u64::from(if is_run { SCHEMA_VERSION } else { LOAD_SCHEMA_VERSION });
    let version = value.get("schema_version").and_then(serde_json::Value::as_u64);
    if let Some(found) = version.filter(|v| *v != expected) {
        return Err(RecordError::Version { path, found, expected });
    }
    let record = if is_run {
        Record::Run(serde_json::from_value(value).map_err(|e| parse(e.to_string()))?)
    } else if value.get("steps").is_some() {
        Record::Capacity(serde_json::from_value(value).map_err(|e| parse(e.to_string()))?)
    } else {
        Record::Load(serde_json::from_value(value).map_err(|e| parse(e.to_string()))?)
    };
    Ok((path, record))
}
