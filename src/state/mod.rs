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

use crate::docker::host::Host;
use crate::error::{Error, Result};
use crate::fsio::{self, PUBLIC_DIR};
use crate::keystore::Backend;
use crate::pki::{KeyKind, KeyType, Purpose, Role, San};

mod teams;
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
    /// Made with --authz: daemon.json names the tlsctx-authz plugin.
    #[serde(default, skip_serializing_if = "is_false")]
    pub authz: bool,
    /// The daemon's bundle, or a service certificate from `cert`; written
    /// only for the latter, so a daemon bundle's record reads as before.
    #[serde(default, skip_serializing_if = "Purpose::is_daemon")]
    pub purpose: Purpose,
    /// `server install --ssh`: the host it was last installed on, as the
    /// user wrote it ([USER@]HOST[:PORT]); later installs need no flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<String>,
    /// The serial last installed and verified there: a renewal whose
    /// install failed is installed by the next `renew --due`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<String>,
    /// `--exec`: the deploy hook `renew --due` runs after renewing it
    /// (program and arguments, no shell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Vec<String>>,
    /// `swarm publish --rotate-on-renew`: `renew --due` moves the services
    /// that use these secrets to each renewal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<SwarmRotation>,
    /// Earlier certificates of this bundle that have not expired (kept by
    /// `write_server`, as an identity's are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<Superseded>,
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
        // crl.pem too, once its CA revoked something (issuance/revoke.rs).
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

    fn swarm_versions_path(&self, cluster: &str) -> PathBuf {
        self.root.join("swarm").join(format!("{cluster}.json"))
    }

    /// The last version `swarm publish` numbered for each prefix in the
    /// swarm `cluster` (its ID), so that a name is never used twice even
    /// when every secret of a prefix was removed by hand.
    pub fn swarm_versions(&self, cluster: &str) -> Result<SwarmVersions> {
        crate::names::validate("swarm cluster ID", cluster)?;
        Ok(read_json(&self.swarm_versions_path(cluster))?.unwrap_or_default())
    }

    /// Whether `swarm publish` numbered versions under `prefix` in any
    /// swarm this configuration published to.
    pub fn swarm_published(&self, prefix: &str) -> bool {
        let Ok(rd) = std::fs::read_dir(self.root.join("swarm")) else {
            return false;
        };
        rd.flatten().any(|e| {
            read_json::<SwarmVersions>(&e.path())
                .ok()
                .flatten()
                .is_some_and(|v| v.last.contains_key(prefix))
        })
    }

    pub fn write_swarm_versions(&self, cluster: &str, v: &SwarmVersions) -> Result<()> {
        crate::names::validate("swarm cluster ID", cluster)?;
        let path = self.swarm_versions_path(cluster);
        fsio::create_dir_all(path.parent().unwrap(), PUBLIC_DIR)?;
        write_json(&path, v)
    }

    fn revocations_path(&self, ca: &str) -> PathBuf {
        self.ca_dir(ca).join("revoked.json")
    }

    /// What CA `ca` revoked (empty when nothing is).
    pub fn revocations(&self, ca: &str) -> Result<Revocations> {
        Ok(read_json(&self.revocations_path(ca))?.unwrap_or_default())
    }

    pub fn write_revocations(&self, ca: &str, r: &Revocations) -> Result<()> {
        write_json(&self.revocations_path(ca), r)
    }

    /// Whether CA `ca` revoked the certificate with this serial. A damaged
    /// list counts as not revoked here (ls, health): `revoke` reports it.
    pub fn is_revoked(&self, ca: &str, serial: &str) -> bool {
        self.revocations(ca)
            .map(|r| r.entries.iter().any(|e| e.serial == serial))
            .unwrap_or(false)
    }

    fn journal_path(&self) -> PathBuf {
        self.root.join("journal.json")
    }

    /// The open transaction of a command that did not finish, if any
    /// (ARCHITECTURE.md, "One lock, one transaction").
    pub fn journal(&self) -> Result<Option<Journal>> {
        read_json(&self.journal_path())
    }

    /// Written before a command's first change, durably: it must outlive a
    /// power cut as long as what it describes does.
    pub fn open_journal(&self, j: &Journal) -> Result<()> {
        fsio::create_dir_all(&self.root, PUBLIC_DIR)?;
        let mut bytes = serde_json::to_vec_pretty(j).expect("journal serializes");
        bytes.push(b'\n');
        fsio::write_atomic(&self.journal_path(), &bytes, fsio::PUBLIC_FILE)
    }

    /// Closes the journal of work that is done. Best effort: a journal that
    /// cannot be removed is settled again by the next command, which finds
    /// the work done and only closes it, so the command that did the work
    /// does not report a failure it did not have.
    pub fn close_journal(&self) {
        let _ = fsio::remove_file(&self.journal_path());
    }
}

/// `tlsctx/swarm/<cluster>.json`: prefix → the last version published.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct SwarmVersions {
    pub last: BTreeMap<String, u32>,
}

/// A CA's revocations: what its CRL lists (`cas/<ca>/revoked.json`).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Revocations {
    /// The number of the last CRL made from it (RFC 5280 §5.2.3: grows).
    pub crl_number: u64,
    pub entries: Vec<RevokedEntry>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RevokedEntry {
    pub serial: String,
    pub name: String,
    pub cn: String,
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    #[serde(default)]
    pub reason: Option<RevocationReason>,
}

/// RFC 5280 §5.3.1 reasons, by their names in kebab case.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl RevocationReason {
    pub fn code(self) -> rcgen::RevocationReason {
        match self {
            RevocationReason::Unspecified => rcgen::RevocationReason::Unspecified,
            RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            RevocationReason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
            RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
            RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
            RevocationReason::PrivilegeWithdrawn => rcgen::RevocationReason::PrivilegeWithdrawn,
        }
    }
}

/// What a command that did not finish was doing: enough to finish it or
/// undo it (issuance/recover.rs). Public data only: never a key.
// Variants differ in size (a context carries a record and a server plan);
// one journal exists per command, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Journal {
    /// A CA being created or replaced: committed once the keystore holds
    /// the key of `cert_pem`.
    Ca {
        pid: u32,
        record: CaRecord,
        cert_pem: String,
    },
    /// A context being created or replaced (`new`, `renew`): committed once
    /// the context's cert.pem is `cert_pem`.
    Context {
        pid: u32,
        context: String,
        record: IdentityRecord,
        cert_pem: String,
        /// Keystore entries that did not exist before this command.
        added: Vec<String>,
        /// The server bundle this command writes with the context.
        server: Option<ServerPlan>,
        /// `--use`: set currentContext once committed.
        use_context: bool,
        /// `renew` with a role change or `--revoke-old`: the certificates it
        /// supersedes (the one it replaces and every earlier unexpired one),
        /// revoked once committed (issuance/revoke.rs).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        supersede: Vec<RevokedEntry>,
    },
    /// A server bundle alone (`server`, `server renew`): committed once the
    /// keystore holds the key of the plan's certificate.
    Server { pid: u32, plan: ServerPlan },
    /// A client bundle (`client`): committed once the keystore holds the
    /// key of `cert_pem`; the record is then written.
    Client {
        pid: u32,
        record: IdentityRecord,
        cert_pem: String,
        /// No bundle files were in its folder before.
        new_bundle: bool,
        /// The keystore had no key of that name before.
        added_key: bool,
    },
    /// `ca rm`: committed from the start; finishing removes the rest.
    RemoveCa {
        pid: u32,
        ca: String,
        keystore: Backend,
    },
    /// `revoke`: committed once the CA's revoked.json lists the serial;
    /// finishing writes the CRL into each of the CA's server bundles.
    Revoke {
        pid: u32,
        ca: String,
        revocations: Revocations,
    },
    /// `rm`: committed from the start; finishing means removing the rest.
    Remove { pid: u32, context: String },
}

/// Everything of a server bundle but its key (which is in the keystore
/// from the bundle's commit point on): enough to write it again.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ServerPlan {
    pub record: ServerRecord,
    pub cert_pem: String,
    pub ca_pem: String,
    pub daemon_dir: String,
    /// No bundle was there before: undoing removes it.
    pub new_bundle: bool,
}

/// A record read back is trusted only as far as its names go: every name
/// in it must be valid, and its own name must be the one its file is named
/// after (a record never turns into a path of its own choosing).
trait Checked {
    fn check(&self, expected: &str) -> std::result::Result<(), String>;
}

fn check_name(field: &str, value: &str) -> std::result::Result<(), String> {
    if crate::names::is_valid(value) {
        Ok(())
    } else {
        Err(format!("its {field} {value:?} is not a valid name"))
    }
}

fn check_own(value: &str, expected: &str) -> std::result::Result<(), String> {
    check_name("name", value)?;
    if value != expected {
        return Err(format!(
            "it names itself {value:?}, but its file belongs to {expected:?}"
        ));
    }
    Ok(())
}

impl Checked for CaRecord {
    fn check(&self, expected: &str) -> std::result::Result<(), String> {
        check_own(&self.name, expected)
    }
}

impl Checked for IdentityRecord {
    fn check(&self, expected: &str) -> std::result::Result<(), String> {
        check_own(&self.name, expected)?;
        check_name("ca", &self.ca)?;
        if let Some(c) = &self.context {
            check_name("context", c)?;
        }
        Ok(())
    }
}

impl Checked for ServerRecord {
    fn check(&self, expected: &str) -> std::result::Result<(), String> {
        check_own(&self.name, expected)?;
        check_name("ca", &self.ca)?;
        if let Some(s) = &self.swarm {
            // Words that reach `docker` on its command line: the same rules
            // as when they were typed.
            if !crate::names::is_swarm_prefix(&s.prefix) {
                return Err(format!(
                    "its swarm prefix {:?} is not a valid name",
                    s.prefix
                ));
            }
            check_name("swarm cluster ID", &s.cluster)?;
            if let Some(c) = &s.context {
                check_name("context", c)?;
            }
        }
        Ok(())
    }
}

impl Checked for ExpiryIndex {
    fn check(&self, _: &str) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// `renew --due`'s own record (tlsctx/autorenew.json): which scheduler
/// runs it, and how its runs went, for the expiry warnings, `ls` and
/// `autorenew status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AutoRenew {
    /// "systemd user timer", "launchd agent", "Task Scheduler task"; None
    /// when `autorenew install` has not run (or `uninstall` did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_attempt: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default)]
    pub consecutive_failures: u32,
    /// The first failed run of the current series.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub failing_since: Option<OffsetDateTime>,
    /// Server bundles renewed here that no host has yet (no SSH target),
    /// with the date renewed: said under every command's warnings until
    /// `server install` runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_installed: BTreeMap<String, String>,
    /// Items the last run skipped (a locked keychain), with why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, String>,
}

impl State {
    fn autorenew_path(&self) -> PathBuf {
        self.root.join("autorenew.json")
    }

    /// The record, if `renew --due` or `autorenew install` ever ran. Read
    /// by every command that warns: only a small regular file is read (a
    /// FIFO or a device there would block or never end).
    pub fn autorenew(&self) -> Result<Option<AutoRenew>> {
        let path = self.autorenew_path();
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &path)(e)),
            Ok(m) if !m.is_file() || m.len() > 1 << 20 => {
                return Err(Error::Corrupt {
                    path,
                    why: "not a regular file of at most 1 MiB".into(),
                })
            }
            Ok(_) => {}
        }
        read_json(&path)
    }

    pub fn write_autorenew(&self, a: &AutoRenew) -> Result<()> {
        fsio::create_dir_all(&self.root, fsio::SECRET_DIR)?;
        write_json(&self.autorenew_path(), a)
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
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
fn read_record<T: DeserializeOwned + Checked>(path: &Path, expected: &str) -> Result<Option<T>> {
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
fn records_in_subfolders<T: DeserializeOwned + Checked>(dir: &Path, file: &str) -> Result<Vec<T>> {
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
fn list_json<T: DeserializeOwned + Checked>(dir: &Path) -> Result<(Vec<T>, Vec<Error>)> {
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

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("records serialize");
    bytes.push(b'\n');
    fsio::write_public(path, &bytes)
}
