//! Docker's context store, written byte for byte as docker/cli writes it
//! (cli/context/store: metadatastore.go, tlsstore.go), so the real `docker`
//! CLI, docker-py and every other reader use our contexts as their own.
//!
//! ```text
//! contexts/meta/<sha256hex(name)>/meta.json          0644 in 0755 folders
//! contexts/tls/<sha256hex(name)>/docker/{ca,cert,key}.pem   0600 in 0700 folders
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::fsio::{self, PUBLIC_DIR, PUBLIC_FILE, SECRET_DIR, SECRET_FILE};

/// The folder name Docker derives from a context name (store.go `contextdirOf`).
pub fn context_id(name: &str) -> String {
    crate::text::hex(&Sha256::digest(name.as_bytes()))
}

/// meta.json, field for field in Docker's order (store.Metadata):
/// `{"Name":…,"Metadata":{…},"Endpoints":{"docker":{"Host":…,"SkipTLSVerify":false}}}`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Meta<'a> {
    name: &'a str,
    metadata: ContextMetadata<'a>,
    endpoints: Endpoints<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContextMetadata<'a> {
    /// Docker omits an empty description (`json:",omitempty"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}

#[derive(Serialize)]
struct Endpoints<'a> {
    docker: DockerEndpoint<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEndpoint<'a> {
    host: &'a str,
    #[serde(rename = "SkipTLSVerify")]
    skip_tls_verify: bool,
}

pub fn meta_json(name: &str, description: Option<&str>, host: &str) -> Vec<u8> {
    let meta = Meta {
        name,
        metadata: ContextMetadata {
            description: description.filter(|d| !d.is_empty()),
        },
        endpoints: Endpoints {
            docker: DockerEndpoint {
                host,
                skip_tls_verify: false,
            },
        },
    };
    // Go's json.Marshal: compact, no trailing newline.
    serde_json::to_vec(&meta).expect("meta.json serializes")
}

/// What goes into a new context.
pub struct NewContext<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub host: &'a str,
    pub ca_pem: &'a str,
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
}

/// How the new TLS folder took the old one's place.
enum Swap {
    Exchanged,
    MovedAside(PathBuf),
    New,
}

pub struct Store {
    config_dir: PathBuf,
}

impl Store {
    pub fn new(config_dir: &Path) -> Store {
        Store {
            config_dir: config_dir.to_path_buf(),
        }
    }

    pub fn meta_dir(&self, name: &str) -> PathBuf {
        self.config_dir.join("contexts/meta").join(context_id(name))
    }

    pub fn tls_dir(&self, name: &str) -> PathBuf {
        self.config_dir.join("contexts/tls").join(context_id(name))
    }

    /// The docker endpoint's Host from meta.json, if the context exists.
    pub fn host(&self, name: &str) -> Result<Option<String>> {
        let path = self.meta_dir(name).join("meta.json");
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &path)(e)),
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.clone(),
            why: e.to_string(),
        })?;
        Ok(v["Endpoints"]["docker"]["Host"]
            .as_str()
            .map(str::to_string))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.meta_dir(name).join("meta.json").is_file()
    }

    /// Staging lives outside `contexts/`: Docker lists contexts by walking
    /// `contexts/meta` for meta.json files, so a staged one there would show up.
    fn staging_parent(&self) -> PathBuf {
        crate::state::State::new(&self.config_dir).tmp_dir()
    }

    /// Writes a context so that it appears whole or not at all: both folders
    /// are built in a staging area, then renamed into place, TLS first and
    /// meta.json last. Docker only sees a context once its meta folder exists,
    /// so an interruption before that last rename leaves no context behind
    /// (a TLS folder without meta is ignored by Docker and replaced next time).
    /// `check` runs just before the commit and may veto it (cancellation).
    pub fn write(
        &self,
        ctx: &NewContext<'_>,
        force: bool,
        check: impl Fn() -> Result<()>,
    ) -> Result<()> {
        if self.exists(ctx.name) && !force {
            return Err(Error::ContextExists(ctx.name.into()));
        }
        let stage = fsio::TempDir::new_in(&self.staging_parent())?;
        let meta_stage = stage.path().join("meta");
        let tls_stage = stage.path().join("tls");
        fsio::create_dir_all(&meta_stage, PUBLIC_DIR)?;
        fsio::write_atomic(
            &meta_stage.join("meta.json"),
            &meta_json(ctx.name, ctx.description, ctx.host),
            PUBLIC_FILE,
        )?;
        let docker = tls_stage.join("docker");
        fsio::create_dir_all(&docker, SECRET_DIR)?;
        fsio::set_mode(&tls_stage, SECRET_DIR)?;
        // Always write ca.pem: without TLS files Docker speaks plain HTTP to a
        // tcp:// host (observed with Docker CLI 28.2.2).
        for (file, data) in [
            ("ca.pem", ctx.ca_pem),
            ("cert.pem", ctx.cert_pem),
            ("key.pem", ctx.key_pem),
        ] {
            fsio::write_atomic(&docker.join(file), data.as_bytes(), SECRET_FILE)?;
        }

        let meta_dir = self.meta_dir(ctx.name);
        let tls_dir = self.tls_dir(ctx.name);
        fsio::create_dir_all(meta_dir.parent().unwrap(), PUBLIC_DIR)?;
        fsio::create_dir_all(tls_dir.parent().unwrap(), SECRET_DIR)?;

        fsio::refuse_symlink(&tls_dir)?;
        fsio::refuse_symlink(&meta_dir)?;

        check()?;
        // 1. The TLS folder. An existing one is swapped with the staged one
        //    in a single renameat2(RENAME_EXCHANGE): at every instant the
        //    context has TLS files, so the docker CLI never talks plain HTTP
        //    to its tcp:// host (it does when ca.pem is missing, observed
        //    with Docker CLI 28.2.2). The old folder ends up in the staging
        //    area and goes with it.
        let swap = if tls_dir.exists() {
            match fsio::exchange(&tls_stage, &tls_dir) {
                Ok(()) => Swap::Exchanged,
                Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                    // No exchange here (macOS, Windows, some file systems):
                    // the old folder moves aside, the new one takes its
                    // place, and on failure the old one goes back. The
                    // window between the two renames is as short as it gets.
                    let old_tls = stage.path().join("old-tls");
                    fsio::rename(&tls_dir, &old_tls).map_err(Error::io("replace", &tls_dir))?;
                    if let Err(e) = fsio::rename(&tls_stage, &tls_dir) {
                        let _ = fs::rename(&old_tls, &tls_dir);
                        return Err(Error::io("write", &tls_dir)(e));
                    }
                    Swap::MovedAside(old_tls)
                }
                Err(e) => return Err(Error::io("replace", &tls_dir)(e)),
            }
        } else {
            fsio::rename(&tls_stage, &tls_dir).map_err(Error::io("write", &tls_dir))?;
            Swap::New
        };
        // 2. meta.json, the commit point: a new context's folder is renamed
        //    into place; an existing context gets its meta.json replaced by
        //    an atomic file rename. On failure the old TLS folder goes back.
        let committed = if meta_dir.is_dir() {
            fsio::rename(&meta_stage.join("meta.json"), &meta_dir.join("meta.json"))
                .map_err(Error::io("write", meta_dir.join("meta.json")))
        } else {
            fsio::rename(&meta_stage, &meta_dir).map_err(Error::io("write", &meta_dir))
        };
        if let Err(e) = committed {
            match swap {
                Swap::Exchanged => {
                    let _ = fsio::exchange(&tls_stage, &tls_dir);
                }
                Swap::MovedAside(old) => {
                    let _ = fs::remove_dir_all(&tls_dir);
                    let _ = fs::rename(&old, &tls_dir);
                }
                Swap::New => {
                    let _ = fs::remove_dir_all(&tls_dir);
                }
            }
            return Err(e);
        }
        fsio::sync_dir(tls_dir.parent().unwrap());
        fsio::sync_dir(&meta_dir);
        fsio::sync_dir(meta_dir.parent().unwrap());
        Ok(())
    }

    /// Writes a context with no TLS files, for an endpoint that needs none
    /// (the agent's unix socket). meta.json is the commit point, as in
    /// `write`; a TLS folder left from before (with its key.pem) goes only
    /// after it, so Docker never sees a tcp:// host without TLS files.
    pub fn write_plain(
        &self,
        name: &str,
        description: Option<&str>,
        host: &str,
        force: bool,
        check: impl Fn() -> Result<()>,
    ) -> Result<()> {
        if self.exists(name) && !force {
            return Err(Error::ContextExists(name.into()));
        }
        let stage = fsio::TempDir::new_in(&self.staging_parent())?;
        let meta_stage = stage.path().join("meta");
        fsio::create_dir_all(&meta_stage, PUBLIC_DIR)?;
        fsio::write_atomic(
            &meta_stage.join("meta.json"),
            &meta_json(name, description, host),
            PUBLIC_FILE,
        )?;
        let meta_dir = self.meta_dir(name);
        fsio::create_dir_all(meta_dir.parent().unwrap(), PUBLIC_DIR)?;
        fsio::refuse_symlink(&meta_dir)?;
        check()?;
        if meta_dir.is_dir() {
            fsio::rename(&meta_stage.join("meta.json"), &meta_dir.join("meta.json"))
                .map_err(Error::io("write", meta_dir.join("meta.json")))?;
        } else {
            fsio::rename(&meta_stage, &meta_dir).map_err(Error::io("write", &meta_dir))?;
        }
        fsio::sync_dir(&meta_dir);
        fsio::sync_dir(meta_dir.parent().unwrap());
        let tls_dir = self.tls_dir(name);
        if tls_dir.exists() {
            fsio::remove_dir_all(&tls_dir)?;
        }
        Ok(())
    }

    /// Points an existing context at `host`, everything else in its
    /// meta.json kept (one atomic write: Docker sees the old endpoint or
    /// the new). The agent's pipe on Windows, chosen anew at each start.
    pub fn set_host(&self, name: &str, host: &str) -> Result<()> {
        let path = self.meta_dir(name).join("meta.json");
        fsio::refuse_symlink(&self.meta_dir(name))?;
        let bytes = fs::read(&path).map_err(Error::io("read", &path))?;
        let mut v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path: path.clone(),
                why: e.to_string(),
            })?;
        let slot = v
            .pointer_mut("/Endpoints/docker/Host")
            .ok_or_else(|| Error::Corrupt {
                path: path.clone(),
                why: "it has no docker endpoint".into(),
            })?;
        *slot = serde_json::Value::String(host.into());
        let text = serde_json::to_vec(&v).map_err(|e| Error::Corrupt {
            path: path.clone(),
            why: e.to_string(),
        })?;
        fsio::write_atomic(&path, &text, PUBLIC_FILE)
    }

    /// Removes the context's meta and TLS folders (meta first: from then on
    /// Docker no longer lists it).
    pub fn remove(&self, name: &str) -> Result<()> {
        for dir in [self.meta_dir(name), self.tls_dir(name)] {
            fsio::remove_dir_all(&dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_json_matches_docker_bytes() {
        // Bytes written by `docker context create` (CLI 28.2.2) for the same inputs.
        assert_eq!(
            String::from_utf8(meta_json("p2", None, "tcp://1.2.3.4:2376")).unwrap(),
            r#"{"Name":"p2","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://1.2.3.4:2376","SkipTLSVerify":false}}}"#
        );
        assert_eq!(
            String::from_utf8(meta_json("prod", Some("my d"), "tcp://1.2.3.4:2376")).unwrap(),
            r#"{"Name":"prod","Metadata":{"Description":"my d"},"Endpoints":{"docker":{"Host":"tcp://1.2.3.4:2376","SkipTLSVerify":false}}}"#
        );
    }

    /// The agent on Windows repoints its contexts: only the host changes.
    #[test]
    fn set_host_keeps_the_rest_of_meta_json() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store
            .write_plain("k1", Some("my d"), "npipe:////./pipe/a", false, || Ok(()))
            .unwrap();
        store.set_host("k1", "npipe:////./pipe/b").unwrap();
        assert_eq!(
            store.host("k1").unwrap().as_deref(),
            Some("npipe:////./pipe/b")
        );
        let meta: serde_json::Value =
            serde_json::from_slice(&fs::read(store.meta_dir("k1").join("meta.json")).unwrap())
                .unwrap();
        assert_eq!(meta["Name"], "k1");
        assert_eq!(meta["Metadata"]["Description"], "my d");
        assert_eq!(meta["Endpoints"]["docker"]["SkipTLSVerify"], false);
        assert!(store.set_host("nope", "npipe:////./pipe/c").is_err());
    }

    #[test]
    fn context_id_is_sha256_of_name() {
        assert_eq!(
            context_id("prod"),
            "6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77"
        );
    }
}
