//! Docker's config.json: `currentContext` (as `docker context use` writes
//! it) and the hooks settings. Every key we do not own is kept, in order;
//! Docker drops unknown top-level keys on save, so our own data never goes
//! here.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::fsio::{self, PUBLIC_DIR, SECRET_FILE};

pub struct ConfigFile {
    config_dir: PathBuf,
}

impl ConfigFile {
    pub fn new(config_dir: &Path) -> ConfigFile {
        ConfigFile {
            config_dir: config_dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.config_dir.join("config.json")
    }

    /// Sets `currentContext` as `docker context use` does.
    pub fn use_context(&self, name: &str) -> Result<()> {
        self.edit(|doc| {
            doc.insert("currentContext".into(), name.into());
        })
    }

    /// `currentContext`, if set.
    pub fn current(&self) -> Result<Option<String>> {
        Ok(self
            .read()?
            .get("currentContext")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string))
    }

    /// What `docker context rm -f` does to the current context: Docker then
    /// falls back to DOCKER_HOST or "default" (cli/command/context/remove.go).
    pub fn clear_current(&self) -> Result<()> {
        self.edit(|doc| {
            doc.remove("currentContext");
        })
    }

    /// Where an edit is written: config.json, or the file it links to. A
    /// dotfiles setup often links it, and Docker follows the link, so we
    /// replace the target, never the link with a file of its own.
    fn write_target(&self) -> PathBuf {
        let path = self.path();
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(&path) {
                Ok(target) => target,
                Err(_) => match fs::read_link(&path) {
                    Ok(t) if t.is_absolute() => t,
                    Ok(t) => self.config_dir.join(t),
                    Err(_) => path,
                },
            },
            _ => path,
        }
    }

    pub fn read(&self) -> Result<Map<String, Value>> {
        let path = self.path();
        match fs::read(&path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Default::default()),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path: path.clone(),
                why: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
            Err(e) => Err(Error::io("read", &path)(e)),
        }
    }

    /// Edits config.json keeping every other key and their order (Docker
    /// writes tab-indented JSON, mode 0600: cli/config/configfile/file.go).
    pub fn edit(&self, edit: impl FnOnce(&mut Map<String, Value>)) -> Result<()> {
        let path = self.write_target();
        let mut doc = self.read()?;
        edit(&mut doc);
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        serde::Serialize::serialize(&doc, &mut ser).expect("config.json serializes");
        fsio::create_dir_all(path.parent().unwrap_or(&self.config_dir), PUBLIC_DIR)?;
        fsio::write_atomic(&path, &out, SECRET_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_context_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("config.json"),
            "{\"auths\":{},\"zz\":1,\"credsStore\":\"x\"}",
        )
        .unwrap();
        ConfigFile::new(dir.path()).use_context("prod").unwrap();
        let text = fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert_eq!(text, "{\n\t\"auths\": {},\n\t\"zz\": 1,\n\t\"credsStore\": \"x\",\n\t\"currentContext\": \"prod\"\n}");
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_config_json_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles-config.json");
        fs::write(&real, "{\"auths\":{}}").unwrap();
        let cfg = dir.path().join("cfg");
        fs::create_dir(&cfg).unwrap();
        std::os::unix::fs::symlink(&real, cfg.join("config.json")).unwrap();
        ConfigFile::new(&cfg).use_context("prod").unwrap();
        assert!(fs::symlink_metadata(cfg.join("config.json"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::read_to_string(&real)
            .unwrap()
            .contains("\"currentContext\": \"prod\""));
    }
}
