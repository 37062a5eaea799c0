//! Over 600 lines: `State`, the one handle on every record folder: its paths and shared record I/O
//! (each concern's methods are in files of their own).
//!
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

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::docker::host::Host;
use crate::error::{Error, Result};
use crate::fsio::{self, PUBLIC_DIR};
use crate::keystore::Backend;
use crate::pki::{KeyKind, KeyType, Purpose, Role, San};

mod autorenew;
mod checked;
mod formats;
mod journal;
mod json;
mod revocations;
mod swarm;
mod teams;
pub use autorenew::*;
use checked::*;
pub use journal::*;
use json::*;
pub use revocations::*;
pub use swarm::*;
pub use teams::{IssuerAuth, IssuerRecord, PendingRequest, SignedRecord};

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_admin(r: &Role) -> bool {
    *r == Role::Admin
}

/// The files of a server bundle, the only ones we write into (and remove
/// from) its folder: a user's folder keeps its other files.
pub const SERVER_FILES: [&str; 5] = [
    "ca.pem",
    "server-cert.pem",
    "server-key.pem",
    "daemon.json",
    DROP_IN_FILE,
];

/// The bundle's systemd drop-in, named as `server install` names it on the
/// host (it sorts after a user's own override.conf, and the last
/// ExecStart= wins).
pub const DROP_IN_FILE: &str = "docker.service.d/zz-docker-tlsctx.conf";

/// What v0.3 and earlier wrote in its place, removed with the bundle.
pub const OLD_DROP_IN_FILE: &str = "docker.service.d/override.conf";

/// The files of a service certificate (`cert`): the names nginx, registry
/// and most TLS software examples use.
pub const SERVICE_FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

/// The marker beside a bundle's crl.pem that a CRL is required: its CA has
/// revoked something, so the plugin refuses TLS requests while crl.pem is
/// missing instead of reading its absence as "nothing revoked"
/// (authz/trust.rs).
pub const CRL_REQUIRED: &str = "crl-required";

/// The files of a bundle of this purpose.
pub fn bundle_files(purpose: Purpose) -> &'static [&'static str] {
    if purpose.is_daemon() {
        &SERVER_FILES
    } else {
        &SERVICE_FILES
    }
}

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
    /// Someone else's CA, known from an accepted response (`accept`): its
    /// key is with its owner, so what it issues here is asked for with a
    /// request (ARCHITECTURE.md, "Teams").
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
    /// A Vault/OpenBao mount's CA (`issuer add`): certificates of this CA
    /// are signed by that issuer, and revoked there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct IdentityRecord {
    pub name: String,
    /// The Docker context it belongs to; None for a bundle from `client`.
    pub context: Option<String>,
    pub host: Option<Host>,
    /// Folder of a bundle from `client`.
    pub out: Option<PathBuf>,
    /// The context's description, for `restore`.
    #[serde(default)]
    pub description: Option<String>,
    pub ca: String,
    pub cn: String,
    pub serial: String,
    pub key_type: KeyType,
    /// What the identity may do under the authorization plugin; written
    /// only when not admin, so an admin's record reads as v0.1 wrote it.
    #[serde(default, skip_serializing_if = "is_admin")]
    pub role: Role,
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
    /// The key is only in the keystore: the context points Docker at the
    /// agent's socket (ARCHITECTURE.md, "The agent"), and has no key.pem.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keychain_only: bool,
    /// SHA-256 of the certificate kept beside the record (set by
    /// `write_identity`): `ls` checks a context's cert.pem against it
    /// without reading the kept copy. Older records get the full check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_pem_sha256: Option<String>,
    /// The earlier certificates of this name that have not expired: a
    /// renewal keeps the key by default, so the certificate it replaces
    /// stays valid until its own end, and `revoke NAME` must list it too.
    /// Kept by `write_identity`, in the same atomic write as the new serial.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<Superseded>,
}

/// A certificate a renewal (or a replacement with --force) superseded.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Superseded {
    pub serial: String,
    /// The CA that issued it (a replacement may have changed CA).
    pub ca: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// A client certificate's role, which may differ from the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// The earlier certificate a record on disk describes, for
/// [`merge_superseded`].
type Prev<'a> = (
    &'a str,
    &'a str,
    OffsetDateTime,
    Option<Role>,
    &'a [Superseded],
);

/// The superseded list a record gets when it replaces `prev` (the record on
/// disk): `prev`'s serial joins it unless it is the new one, both lists are
/// kept (a journal's record may predate the one on disk), and what expired
/// before the new certificate began is dropped (it can no longer be used,
/// so no CRL needs it).
fn merge_superseded(
    prev: Option<Prev<'_>>,
    next_serial: &str,
    next_not_before: OffsetDateTime,
    next_list: &[Superseded],
) -> Vec<Superseded> {
    let mut out: Vec<Superseded> = Vec::new();
    let mut add = |s: Superseded| {
        if s.serial != next_serial
            && s.not_after > next_not_before
            && !out.iter().any(|o| o.serial == s.serial)
        {
            out.push(s);
        }
    };
    if let Some((serial, ca, not_after, role, list)) = prev {
        for s in list {
            add(s.clone());
        }
        add(Superseded {
            serial: serial.to_string(),
            ca: ca.to_string(),
            not_after,
            role,
        });
    }
    for s in next_list {
        add(s.clone());
    }
    out
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
    /// The daemon's bundle, or a service certificate from `cert`; written
    /// only for the latter, so a daemon bundle's record reads as before.
    #[serde(default, skip_serializing_if = "Purpose::is_daemon")]
    pub purpose: Purpose,
    /// Where it runs: the plugin, and the host `server install` put it on.
    /// Flattened (issue 32): the same keys as before, at the top level.
    #[serde(flatten)]
    pub host: OnHost,
    /// What `renew --due` does after renewing it.
    #[serde(flatten)]
    pub renewal: OnRenewal,
    /// Earlier certificates of this bundle that have not expired (kept by
    /// `write_server`, as an identity's are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<Superseded>,
}

/// A server bundle on its Docker host (issue 32: `ServerRecord` split by
/// feature).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct OnHost {
    /// Made with --authz: daemon.json names the tlsctx-authz plugin.
    #[serde(default, skip_serializing_if = "is_false")]
    pub authz: bool,
    /// `server install --ssh`: the host it was last installed on, as the
    /// user wrote it ([USER@]HOST[:PORT]); later installs need no flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<String>,
    /// The serial last installed and verified there: a renewal whose
    /// install failed is installed by the next `renew --due`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<String>,
}

/// What `renew --due` does after renewing a bundle.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct OnRenewal {
    /// `--exec`: the deploy hook `renew --due` runs after renewing it
    /// (program and arguments, no shell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Vec<String>>,
    /// `swarm publish --rotate-on-renew`: `renew --due` moves the services
    /// that use these secrets to each renewal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<SwarmRotation>,
}

/// Where `renew --due` publishes a renewed bundle and whose services it
/// moves (ARCHITECTURE.md, "Renewal by itself").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmRotation {
    /// The secrets' name prefix.
    pub prefix: String,
    /// The Docker context given at publish time (None: docker's current
    /// one, read again at each run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The swarm's cluster ID at publish time: a run that reaches another
    /// swarm (DOCKER_HOST set then, not now) fails instead of publishing
    /// a key there.
    pub cluster: String,
    /// The serial the services were last moved to: a renewal whose
    /// rotation did not finish is rotated by the next run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated: Option<String>,
}

impl ServerRecord {
    /// The certificate's file in the bundle folder.
    pub fn cert_file(&self) -> &'static str {
        if self.purpose.is_daemon() {
            "server-cert.pem"
        } else {
            "cert.pem"
        }
    }

    /// The key's file in the bundle folder (0600).
    pub fn key_file(&self) -> &'static str {
        if self.purpose.is_daemon() {
            "server-key.pem"
        } else {
            "key.pem"
        }
    }
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

    pub fn identity_path(&self, name: &str) -> PathBuf {
        self.root.join("identities").join(format!("{name}.json"))
    }

    fn server_record_path(&self, name: &str) -> PathBuf {
        self.default_server_dir(name).join("server.json")
    }

    pub fn ca(&self, ca: &str) -> Result<Option<(CaRecord, String)>> {
        let dir = self.ca_dir(ca);
        let Some(rec) = read_record::<CaRecord>(&dir.join("ca.json"), ca)? else {
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
        read_record(&self.identity_path(name), name)
    }

    /// The certificate is kept beside the record (public): with the key from
    /// the keystore it is all `restore` needs to rebuild a context.
    pub fn write_identity(&self, rec: &IdentityRecord, cert_pem: &str) -> Result<()> {
        let path = self.identity_path(&rec.name);
        fsio::create_dir_all(path.parent().unwrap(), PUBLIC_DIR)?;
        let before = self.identities_stamp();
        fsio::write_public(&self.identity_cert_path(&rec.name), cert_pem.as_bytes())?;
        let mut rec = rec.clone();
        rec.cert_pem_sha256 = Some(crate::text::sha256_hex(cert_pem.as_bytes()));
        // A damaged record on disk cannot tell what it held; the new one
        // keeps what it carries.
        let prev = self.identity(&rec.name).ok().flatten();
        rec.superseded = merge_superseded(
            prev.as_ref().map(|p| {
                (
                    p.serial.as_str(),
                    p.ca.as_str(),
                    p.not_after,
                    Some(p.role),
                    p.superseded.as_slice(),
                )
            }),
            &rec.serial,
            rec.not_before,
            &rec.superseded,
        );
        let rec = &rec;
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

    /// Every identity record that reads back whole; the damaged ones are
    /// skipped here (see `identities_checked`), so one bad file never stops
    /// another identity's command.
    pub fn identities(&self) -> Result<Vec<IdentityRecord>> {
        Ok(self.identities_checked()?.0)
    }

    /// Every identity record, and each damaged one as its error (the file
    /// and what is wrong), for `ls` to show.
    pub fn identities_checked(&self) -> Result<(Vec<IdentityRecord>, Vec<Error>)> {
        list_json(&self.root.join("identities"))
    }

    pub fn remove_identity(&self, name: &str) -> Result<()> {
        let before = self.identities_stamp();
        // The record first: without it the identity no longer exists.
        for p in [self.identity_path(name), self.identity_cert_path(name)] {
            fsio::remove_file(&p)?;
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
        fsio::remove_file(&dir.join("ca.json"))?;
        fsio::remove_dir_all(&dir)
    }

    pub fn server(&self, name: &str) -> Result<Option<ServerRecord>> {
        read_record(&self.server_record_path(name), name)
    }

    pub fn servers(&self) -> Result<Vec<ServerRecord>> {
        let mut out: Vec<ServerRecord> =
            records_in_subfolders(&self.root.join("servers"), "server.json")?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Where a server bundle is. Paths come from names: a bundle in the
    /// default place is found under this configuration folder even when the
    /// record holds another one's absolute path (a copied DOCKER_CONFIG);
    /// only a folder the user chose with --server-dir/--out is taken as
    /// recorded.
    pub fn server_dir(&self, rec: &ServerRecord) -> PathBuf {
        let default_tail = Path::new("tlsctx/servers").join(&rec.name);
        if rec.dir.ends_with(&default_tail) || rec.dir.as_os_str().is_empty() {
            self.default_server_dir(&rec.name)
        } else {
            rec.dir.clone()
        }
    }

    /// Removes a server bundle's files (only ours) and its record, the
    /// record last so that a run cut short can be finished by `rm`.
    pub fn remove_server(&self, rec: &ServerRecord) -> Result<()> {
        let dir = self.server_dir(rec);
        // crl.pem too, once its CA revoked something (issuance/identities/revoke.rs).
        for f in bundle_files(rec.purpose).iter().chain(&[
            "crl.pem",
            CRL_REQUIRED,
            "tlsctx-authz.service",
            OLD_DROP_IN_FILE,
        ]) {
            fsio::remove_file(&dir.join(f))?;
        }
        fsio::remove_file(&self.server_record_path(&rec.name))?;
        // The folders go when empty; a user's folder with other files stays.
        for d in [
            dir.join("docker.service.d"),
            dir.clone(),
            self.default_server_dir(&rec.name),
            self.root.join("servers"),
        ] {
            let _ = std::fs::remove_dir(d);
        }
        Ok(())
    }

    pub fn write_server(&self, rec: &ServerRecord) -> Result<()> {
        let path = self.server_record_path(&rec.name);
        fsio::create_dir_all(path.parent().unwrap(), fsio::SECRET_DIR)?;
        let prev = self.server(&rec.name).ok().flatten();
        let mut rec = rec.clone();
        rec.superseded = merge_superseded(
            prev.as_ref().map(|p| {
                (
                    p.serial.as_str(),
                    p.ca.as_str(),
                    p.not_after,
                    None,
                    p.superseded.as_slice(),
                )
            }),
            &rec.serial,
            rec.not_before,
            &rec.superseded,
        );
        write_json(&path, &rec)
    }
}
