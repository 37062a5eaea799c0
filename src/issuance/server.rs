//! Server bundles: what the daemon host needs.
//!
//! ```text
//! ca.pem  server-cert.pem  server-key.pem (0600)  daemon.json  docker.service.d/override.conf
//! ```

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{ca, check_cancelled, generating, parse_sans, Env, Progress};
use crate::error::{Error, Result};
use crate::fsio::{self, SECRET_DIR, SECRET_FILE};
use crate::keystore::{self, Account, KeyStore};
use crate::names;
use crate::pki::{Ca, KeyType, Leaf, San};
use crate::state::{ServerRecord, SERVER_FILES};

pub fn account(name: &str) -> Account {
    Account::Server(name.into())
}

/// Where daemon.json points dockerd when the user names no folder.
pub const DEFAULT_DAEMON_DIR: &str = "/etc/docker/tls";

/// daemon.json for the daemon host. `hosts` keeps the local unix socket so
/// `docker` on the host itself keeps working, and listens on every address
/// on `port`; paths point at `daemon_dir` (/etc/docker/tls by default).
pub fn daemon_json(daemon_dir: &str, port: u16) -> String {
    let dir = daemon_dir.trim_end_matches('/');
    let v = json!({
        "tlsverify": true,
        "tlscacert": format!("{dir}/ca.pem"),
        "tlscert": format!("{dir}/server-cert.pem"),
        "tlskey": format!("{dir}/server-key.pem"),
        "hosts": ["unix:///var/run/docker.sock", format!("tcp://0.0.0.0:{port}")],
    });
    let mut s = serde_json::to_string_pretty(&v).expect("json");
    s.push('\n');
    s
}

/// The systemd drop-in. Packaged units start `dockerd -H fd://`; with
/// `hosts` also in daemon.json dockerd refuses to start ("the following
/// directives are specified both as a flag and in the configuration file:
/// hosts", daemon/config/config.go), so ExecStart is reset without -H.
pub const OVERRIDE_CONF: &str = "\
# Written by docker-tlsctx: daemon.json now sets \"hosts\", and dockerd refuses
# \"hosts\" given both as a flag (-H fd:// in the packaged unit) and in
# daemon.json. An empty ExecStart= clears the packaged command first.
# A bare \"dockerd\" is looked up by systemd (>= 239) in /usr/sbin and /usr/bin,
# which covers Debian's docker.io and Docker's own docker-ce packages.
[Service]
ExecStart=
ExecStart=dockerd --containerd=/run/containerd/containerd.sock
";

/// A server certificate and everything written with it.
pub struct Bundle {
    pub dir: PathBuf,
    pub issued: Leaf,
    pub sans: Vec<San>,
    pub port: u16,
    pub daemon_dir: String,
    pub key_type: KeyType,
}

pub fn issue(
    env: &Env,
    ca: &Ca,
    name: &str,
    sans: &[San],
    key_type: KeyType,
    days: u32,
    progress: &dyn Progress,
) -> Result<Leaf> {
    generating(progress, key_type, &format!("server {name}"), || {
        ca.issue_server(sans, key_type, days, env.now)
    })
}

/// Refuses to overwrite an existing bundle in `dir` unless `force`; a file
/// where the folder should be is an error of its own.
pub fn check_target(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::NotADirectory(dir.into()));
    }
    if !force && SERVER_FILES.iter().any(|f| dir.join(f).exists()) {
        return Err(Error::BundleExists {
            what: "server",
            dir: dir.into(),
        });
    }
    Ok(())
}

/// Writes the bundle files (only ours: a user's folder keeps its other
/// files), the key 0600 in a 0700 folder; then the key's keystore copy and
/// the record.
pub fn write(
    env: &Env,
    ks: &dyn KeyStore,
    name: &str,
    ca: &Ca,
    b: &Bundle,
) -> Result<ServerRecord> {
    check_cancelled()?;
    fsio::create_dir_all(&b.dir, SECRET_DIR)?;
    fsio::create_dir_all(&b.dir.join("docker.service.d"), fsio::PUBLIC_DIR)?;
    fsio::write_atomic(
        &b.dir.join("server-key.pem"),
        b.issued.key_pem().as_bytes(),
        SECRET_FILE,
    )?;
    fsio::write_public(&b.dir.join("server-cert.pem"), b.issued.cert_pem.as_bytes())?;
    fsio::write_public(&b.dir.join("ca.pem"), ca.cert_pem.as_bytes())?;
    fsio::write_public(
        &b.dir.join("daemon.json"),
        daemon_json(&b.daemon_dir, b.port).as_bytes(),
    )?;
    fsio::write_public(
        &b.dir.join("docker.service.d/override.conf"),
        OVERRIDE_CONF.as_bytes(),
    )?;
    ks.set(&account(name), &b.issued.key_der())?;
    let rec = ServerRecord {
        name: name.into(),
        dir: b.dir.clone(),
        ca: ca.name().into(),
        sans: b.sans.clone(),
        serial: b.issued.serial_hex.clone(),
        key_type: b.key_type,
        port: b.port,
        not_before: b.issued.not_before,
        not_after: b.issued.not_after,
        keystore: ks.backend(),
    };
    env.state().write_server(&rec)?;
    Ok(rec)
}

/// What `server NAME` asks for.
pub struct Request<'a> {
    pub name: &'a str,
    pub sans: &'a [String],
    pub days: u32,
    pub out: Option<PathBuf>,
    pub ca: &'a str,
    pub key_type: KeyType,
    pub port: u16,
    pub daemon_dir: &'a str,
    pub force: bool,
}

/// A server bundle alone. Returns its record and whether the certificate
/// was cut short to end with its CA.
pub fn create(
    env: &Env,
    req: &Request<'_>,
    progress: &dyn Progress,
) -> Result<(ServerRecord, bool)> {
    names::validate("server bundle", req.name)?;
    let sans = parse_sans(req.sans)?;
    super::check_server_days("--days", req.days)?;
    let dir = req
        .out
        .clone()
        .unwrap_or_else(|| env.state().default_server_dir(req.name));
    check_target(&dir, req.force)?;
    let (_, ca) = ca::load(env, req.ca)?;
    let issued = issue(env, &ca, req.name, &sans, req.key_type, req.days, progress)?;
    let clamped = issued.clamped_to_ca;
    let ks = env.keystore()?;
    let bundle = Bundle {
        dir,
        issued,
        sans,
        port: req.port,
        daemon_dir: req.daemon_dir.into(),
        key_type: req.key_type,
    };
    Ok((write(env, ks.as_ref(), req.name, &ca, &bundle)?, clamped))
}

/// What `server renew` did.
pub struct Renewed {
    pub before: ServerRecord,
    pub after: ServerRecord,
    pub daemon_dir: String,
    pub clamped_to_ca: bool,
}

/// `server renew NAME`: a new key and certificate from the same CA, for the
/// same names (plus `add_sans`), written over the bundle where it is.
/// Clients keep working: they trust the CA, not this certificate.
pub fn renew(
    env: &Env,
    name: &str,
    add_sans: &[String],
    days: u32,
    progress: &dyn Progress,
) -> Result<Renewed> {
    names::validate("server bundle", name)?;
    super::check_server_days("--days", days)?;
    let rec = env
        .state()
        .server(name)?
        .ok_or_else(|| Error::ServerNotFound(name.into()))?;
    let mut sans = rec.sans.clone();
    for s in parse_sans(add_sans)? {
        if !sans.contains(&s) {
            sans.push(s);
        }
    }
    let (_, ca) = ca::load(env, &rec.ca)?;
    let issued = issue(env, &ca, name, &sans, rec.key_type, days, progress)?;
    let clamped_to_ca = issued.clamped_to_ca;
    let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
    let daemon_dir = daemon_dir_of(&rec.dir).unwrap_or_else(|| DEFAULT_DAEMON_DIR.into());
    let bundle = Bundle {
        dir: rec.dir.clone(),
        issued,
        sans,
        port: rec.port,
        daemon_dir: daemon_dir.clone(),
        key_type: rec.key_type,
    };
    let after = write(env, ks.as_ref(), name, &ca, &bundle)?;
    Ok(Renewed {
        before: rec,
        after,
        daemon_dir,
        clamped_to_ca,
    })
}

/// The folder daemon.json points at, so a renewal keeps the user's --daemon-dir.
fn daemon_dir_of(dir: &Path) -> Option<String> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("daemon.json")).ok()?).ok()?;
    let key = v["tlskey"].as_str()?;
    Some(key.strip_suffix("/server-key.pem")?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_json_paths_and_hosts() {
        let v: serde_json::Value = serde_json::from_str(&daemon_json("/opt/tls/", 2376)).unwrap();
        assert_eq!(v["tlskey"], "/opt/tls/server-key.pem");
        assert_eq!(v["hosts"][0], "unix:///var/run/docker.sock");
        assert_eq!(v["hosts"][1], "tcp://0.0.0.0:2376");
        assert_eq!(v["tlsverify"], true);
    }
}
