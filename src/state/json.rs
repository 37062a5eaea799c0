//! Reading and writing the JSON records: small regular files, read in
//! one go, written atomically.

use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, Result};
use crate::fsio::{self};

use super::*;

pub(super) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    // One `read` for a record of a few hundred bytes (`ls` reads a thousand);
    // a JSON document cut short never parses, so a short read fails safe.
    match fsio::read_small(path, 4096) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                path: path.into(),
                why: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}

/// A record, checked against the name it is read for.
pub(super) fn read_record<T: DeserializeOwned + Checked>(
    path: &Path,
    expected: &str,
) -> Result<Option<T>> {
    let Some(rec) = read_json::<T>(path)? else {
        return Ok(None);
    };
    rec.check(expected).map_err(|why| Error::Corrupt {
        path: path.into(),
        why,
    })?;
    Ok(Some(rec))
}

/// The record `file` of every subfolder of `dir` that has one; damaged ones
/// are left out (ls reports identities' damaged records, see `list_json`).
pub(super) fn records_in_subfolders<T: DeserializeOwned + Checked>(
    dir: &Path,
    file: &str,
) -> Result<Vec<T>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", dir)(e)),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Ok(Some(rec)) = read_record(&e.path().join(file), &name) {
            out.push(rec);
        }
    }
    Ok(out)
}

/// Every `*.json` record in `dir`, sorted by file name, and the damaged ones.
pub(super) fn list_json<T: DeserializeOwned + Checked>(dir: &Path) -> Result<(Vec<T>, Vec<Error>)> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(e) => e
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(Error::io("read", dir)(e)),
    };
    paths.sort();
    let mut out = Vec::with_capacity(paths.len());
    let mut damaged = Vec::new();
    for p in paths {
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match read_record(&p, &stem) {
            Ok(Some(v)) => out.push(v),
            Ok(None) => {}
            Err(e) => damaged.push(e),
        }
    }
    Ok((out, damaged))
}

pub(super) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("records serialize");
    bytes.push(b'\n');
    fsio::write_public(path, &bytes)
}
