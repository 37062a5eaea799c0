//! Our own state under `$DOCKER_CONFIG/tlsctx/` (ARCHITECTURE.md, "State
//! layout"): public material and typed records only; private keys live in
//! the keystore. Records serialise their types as the same strings v0.1
//! wrote, so existing stores keep working.
//!
//! ```text
//! cas/<ca>/ca.pem, ca.json
//! servers/<name>/server.json (+ the bundle, unless --server-dir put it elsewhere)
//! identities/<name>.json
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::fsio::{self, PUBLIC_DIR};
use crate::keystore::Backend;
use crate::pki::{KeyKind, KeyType, San};

/// The files of a server bundle, the only ones we write into (and remove
/// from) its folder: a user's folder keeps its other files.
pub const SERVER_FILES: [&str; 5] = [
    "ca.pem",
    "server-cert.pem",
    "server-key.pem",
    "daemon.json",
    "docker.service.d/override.conf",
];

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct CaRecord {
    pub name: String,
    pub cn: String,
    pub key_type: KeyKind,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub sha256: String,
    /// Which keystore holds `ca/<name>`.
    pub keystore: Backend,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct IdentityRecord {
    pub name: String,
    /// The Docker context it belongs to; None for a bundle from `client`.
    pub context: Option<String>,
    pub host: Option<String>,
    /// Folder of a bundle from `client`.
    pub out: Option<PathBuf>,
    /// The context's description, for `restore`.
    #[serde(default)]
    pub description: Option<String>,
    pub ca: String,
    pub cn: String,
    pub serial: String,
    pub key_type: KeyType,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Which keystore holds `client/<name>`.
    pub keystore: Backend,
    /// SHA-256 of the key.pem written into the context: lets `ls` check a
    /// thousand contexts without parsing a thousand keys.
    #[serde(default)]
    pub key_pem_sha256: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ServerRecord {
    pub name: String,
    pub dir: PathBuf,
    pub ca: String,
    pub sans: Vec<San>,
    pub serial: String,
    pub key_type: KeyType,
    pub port: u16,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Which keystore holds `server/<name>`.
    pub keystore: Backend,
}

/// What an expiry warning needs of an identity.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ExpiryEntry {
    pub context: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

impl ExpiryEntry {
    fn of(r: &IdentityRecord) -> ExpiryEntry {
        ExpiryEntry {
            context: r.context.clone(),
            not_before: r.not_before,
            not_after: r.not_after,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct ExpiryIndex {
    stamp: Option<(u128, usize)>,
    entries: BTreeMap<String, ExpiryEntry>,
}

pub struct State {
    root: PathBuf,
}

impl State {
    pub fn new(config_dir: &Path) -> State {
        State {
            root: config_dir.join("tlsctx"),
        }
    }

    /// Staging for temporary files (the same file system as the results).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn ca_dir(&self, ca: &str) -> PathBuf {
        self.root.join("cas").join(ca)
    }

    pub fn default_server_dir(&self, name: &str) -> PathBuf {
        self.root.join("servers").join(name)
    }

    pub fn default_client_dir(&self, name: &str) -> PathBuf {
        self.root.join("clients").join(name)
    }

    fn identity_path(&self, name: &str) -> PathBuf {
        self.root.join("identities").join(format!("{name}.json"))
    }

    fn server_record_path(&self, name: &str) -> PathBuf {
        self.default_server_dir(name).join("server.json")
    }

    pub fn ca(&self, ca: &str) -> Result<Option<(CaRecord, String)>> {
        let dir = self.ca_dir(ca);
        let Some(rec) = read_json::<CaRecord>(&dir.join("ca.json"))? else {
            return Ok(None);
        };
        let pem = fsio::read_to_string(&dir.join("ca.pem"))?;
        Ok(Some((rec, pem)))
    }

    pub fn write_ca(&self, rec: &CaRecord, cert_pem: &str) -> Result<()> {
        let dir = self.ca_dir(&rec.name);
        fsio::create_dir_all(&dir, PUBLIC_DIR)?;
        fsio::write_public(&dir.join("ca.pem"), cert_pem.as_bytes())?;
        // ca.json last: its presence is what makes the CA exist.
        write_json(&dir.join("ca.json"), rec)
    }

    pub fn identity(&self, name: &str) -> Result<Option<IdentityRecord>> {
        read_json(&self.identity_path(name))
    }

    /// The certificate is kept beside the record (public): with the key from
    /// the keystore it is all `restore` needs to rebuild a context.
    pub fn write_identity(&self, rec: &IdentityRecord, cert_pem: &str) -> Result<()> {
        let path = self.identity_path(&rec.name);
        fsio::create_dir_all(path.parent().unwrap(), PUBLIC_DIR)?;
        let before = self.identities_stamp();
        fsio::write_public(&self.identity_cert_path(&rec.name), cert_pem.as_bytes())?;
        write_json(&path, rec)?;
        self.update_expiry_index(before, |e| {
            e.insert(rec.name.clone(), ExpiryEntry::of(rec));
        });
        Ok(())
    }

    /// What the expiry warnings of every command need, from one small file
    /// instead of every identity record: with a thousand identities a scan
    /// cost more than issuing a certificate (bench/run.sh, row 3). The
    /// index is trusted only while the identities folder has not changed
    /// behind it (same modification time and number of records); otherwise
    /// it is rebuilt from the records.
    pub fn expiry_entries(&self) -> Result<BTreeMap<String, ExpiryEntry>> {
        let stamp = self.identities_stamp();
        if let Ok(Some(idx)) = read_json::<ExpiryIndex>(&self.expiry_index_path()) {
            if stamp.is_some() && idx.stamp == stamp {
                return Ok(idx.entries);
            }
        }
        let entries: BTreeMap<String, ExpiryEntry> = self
            .identities()?
            .iter()
            .map(|r| (r.name.clone(), ExpiryEntry::of(r)))
            .collect();
        if stamp.is_some() {
            let _ = write_json(
                &self.expiry_index_path(),
                &ExpiryIndex {
                    stamp,
                    entries: entries.clone(),
                },
            );
        }
        Ok(entries)
    }

    fn expiry_index_path(&self) -> PathBuf {
        self.root.join("expiry-index.json")
    }

    /// (modification time in ns, number of records) of the identities folder.
    fn identities_stamp(&self) -> Option<(u128, usize)> {
        let dir = self.root.join("identities");
        let mtime = std::fs::metadata(&dir).ok()?.modified().ok()?;
        let ns = mtime.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
        let count = std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count();
        Some((ns, count))
    }

    /// Applies `change` to the index if it was current before our own write
    /// (`before`), else rebuilds it from the records. Best effort: the
    /// records are the truth, and a stale index is rebuilt by its reader.
    fn update_expiry_index(
        &self,
        before: Option<(u128, usize)>,
        change: impl FnOnce(&mut BTreeMap<String, ExpiryEntry>),
    ) {
        let path = self.expiry_index_path();
        let entries = match read_json::<ExpiryIndex>(&path) {
            Ok(Some(mut idx)) if before.is_some() && idx.stamp == before => {
                change(&mut idx.entries);
                idx.entries
            }
            _ => match self.identities() {
                Ok(ids) => ids
                    .iter()
                    .map(|r| (r.name.clone(), ExpiryEntry::of(r)))
                    .collect(),
                Err(_) => {
                    let _ = std::fs::remove_file(&path);
                    return;
                }
            },
        };
        let _ = write_json(
            &path,
            &ExpiryIndex {
                stamp: self.identities_stamp(),
                entries,
            },
        );
    }

    pub fn identity_cert_path(&self, name: &str) -> PathBuf {
        self.root.join("identities").join(format!("{name}.pem"))
    }

    pub fn identities(&self) -> Result<Vec<IdentityRecord>> {
        list_json(&self.root.join("identities"))
    }

    pub fn remove_identity(&self, name: &str) -> Result<()> {
        let before = self.identities_stamp();
        for p in [self.identity_path(name), self.identity_cert_path(name)] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", &p)(e)),
            }
        }
        self.update_expiry_index(before, |e| {
            e.remove(name);
        });
        Ok(())
    }

    pub fn cas(&self) -> Result<Vec<CaRecord>> {
        let mut out: Vec<CaRecord> = records_in_subfolders(&self.root.join("cas"), "ca.json")?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn remove_ca(&self, ca: &str) -> Result<()> {
        let dir = self.ca_dir(ca);
        // ca.json first: without it the CA no longer exists, whatever else remains.
        std::fs::remove_file(dir.join("ca.json"))
            .map_err(Error::io("remove", dir.join("ca.json")))?;
        std::fs::remove_dir_all(&dir).map_err(Error::io("remove", &dir))
    }

    pub fn server(&self, name: &str) -> Result<Option<ServerRecord>> {
        read_json(&self.server_record_path(name))
    }

    pub fn servers(&self) -> Result<Vec<ServerRecord>> {
        let mut out: Vec<ServerRecord> =
            records_in_subfolders(&self.root.join("servers"), "server.json")?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes a server bundle's files (only ours) and its record.
    pub fn remove_server(&self, rec: &ServerRecord) -> Result<()> {
        for f in SERVER_FILES.iter().chain(["server.json"].iter()) {
            for dir in [&rec.dir, &self.default_server_dir(&rec.name)] {
                let p = dir.join(f);
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove", &p)(e)),
                }
            }
        }
        // The folders go when empty; a user's folder with other files stays.
        for dir in [
            rec.dir.join("docker.service.d"),
            rec.dir.clone(),
            self.default_server_dir(&rec.name),
            self.root.join("servers"),
        ] {
            let _ = std::fs::remove_dir(dir);
        }
        Ok(())
    }

    pub fn write_server(&self, rec: &ServerRecord) -> Result<()> {
        let path = self.server_record_path(&rec.name);
        fsio::create_dir_all(path.parent().unwrap(), fsio::SECRET_DIR)?;
        write_json(&path, rec)
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
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

/// The record `file` of every subfolder of `dir` that has one.
fn records_in_subfolders<T: DeserializeOwned>(dir: &Path, file: &str) -> Result<Vec<T>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", dir)(e)),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        if let Some(rec) = read_json(&e.path().join(file))? {
            out.push(rec);
        }
    }
    Ok(out)
}

/// Every `*.json` record in `dir`, sorted by file name.
fn list_json<T: DeserializeOwned>(dir: &Path) -> Result<Vec<T>> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(e) => e
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", dir)(e)),
    };
    paths.sort();
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        if let Some(v) = read_json(&p)? {
            out.push(v);
        }
    }
    Ok(out)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("records serialize");
    bytes.push(b'\n');
    fsio::write_public(path, &bytes)
}
