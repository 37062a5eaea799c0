//! Server bundles: what the daemon host needs.
//!
//! ```text
//! ca.pem  server-cert.pem  server-key.pem (0600)  daemon.json  docker.service.d/zz-docker-tlsctx.conf
//! ```

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{Error, Result};
use crate::fsio::{self, SECRET_DIR, SECRET_FILE};
use crate::issuance::{generating, identities::ca, parse_sans, Env, Progress};
use crate::keystore::{self, Account, KeyStore};
use crate::names;
use crate::pki::{KeyType, Leaf, LeafRequest, Purpose, San};
use crate::state::{bundle_files, Journal, OnHost, OnRenewal, ServerPlan, ServerRecord};

pub fn account(name: &str) -> Account {
    Account::Server(name.into())
}

/// `--exec CMD` as the words the hook runs (no shell: text.rs).
pub fn parse_exec(line: Option<&str>) -> Result<Option<Vec<String>>> {
    line.map(|l| {
        crate::text::split_words(l).map_err(|why| Error::ExecInvalid {
            line: l.into(),
            why: why.into(),
        })
    })
    .transpose()
}

/// Where daemon.json points dockerd when the user names no folder.
pub const DEFAULT_DAEMON_DIR: &str = "/etc/docker/tls";

/// The folder on the daemon host: it goes into daemon.json, a unit's
/// ExecStart, an init script and `server install`'s file list, so only a
/// plain absolute path (no space, quote, `$`, tab, newline or `..`).
pub fn check_daemon_dir(dir: &str) -> Result<()> {
    let bad = |why| {
        Err(Error::DaemonDirInvalid {
            dir: dir.into(),
            why,
        })
    };
    if !dir.starts_with('/') {
        return bad("it is not an absolute path");
    }
    if !dir
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
    {
        return bad("it holds characters other than letters, digits and . _ - /");
    }
    let d = dir.trim_end_matches('/');
    if d.is_empty()
        || d.split('/')
            .skip(1)
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return bad("it is / itself, or has an empty, . or .. part");
    }
    Ok(())
}

/// daemon.json for the daemon host. `hosts` keeps fd://, the local socket
/// systemd's docker.socket owns and hands to dockerd (so `docker` on the
/// host itself keeps working, and socket activation too: a dockerd that
/// listened on /run/docker.sock itself unlinked it on exit, issue 31), and
/// listens on every address on `port`; paths point at `daemon_dir` (/etc/docker/tls by default).
/// With `authz`, dockerd also asks the tlsctx-authz plugin about every
/// request (AUTHZ_UNIT).
pub fn daemon_json(daemon_dir: &str, port: u16, authz: bool) -> String {
    let dir = daemon_dir.trim_end_matches('/');
    let mut v = json!({
        "tlsverify": true,
        "tlscacert": format!("{dir}/ca.pem"),
        "tlscert": format!("{dir}/server-cert.pem"),
        "tlskey": format!("{dir}/server-key.pem"),
        "hosts": ["fd://", format!("tcp://0.0.0.0:{port}")],
    });
    if authz {
        v["authorization-plugins"] = json!([AUTHZ_PLUGIN]);
    }
    let mut s = serde_json::to_string_pretty(&v).expect("json");
    s.push('\n');
    s
}

/// The authorization plugin's name: dockerd finds
/// /run/docker/plugins/tlsctx-authz.sock (moby pkg/plugins/discovery.go).
pub const AUTHZ_PLUGIN: &str = "tlsctx-authz";

/// The file of the plugin's systemd unit in a bundle made with --authz.
pub const AUTHZ_UNIT_FILE: &str = "tlsctx-authz.service";

/// The plugin's systemd unit, for /etc/systemd/system/. dockerd fails closed
/// while a configured plugin is down (every request is refused), so it
/// starts before dockerd and comes back at once when it stops. A plain
/// service rather than socket activation: adopting an inherited socket
/// needs unsafe code, which this crate forbids.
/// The binary path the bundle's own unit names (installed by hand).
pub const AUTHZ_BIN: &str = "/usr/local/bin/docker-tlsctx";

pub fn authz_unit(daemon_dir: &str, bin: &str) -> String {
    let dir = daemon_dir.trim_end_matches('/');
    format!(
        "# Written by docker-tlsctx: revocation and roles for dockerd (authorization plugin).
[Unit]
Description=docker-tlsctx authorization plugin for dockerd
Before=docker.service

[Service]
ExecStart={bin} authz serve --bundle {dir} --log
Restart=always
RestartSec=1

[Install]
WantedBy=docker.service
"
    )
}

/// The systemd drop-in, for a unit whose command is `words` (its own,
/// without -H). Packaged units start `dockerd -H fd://`; with `hosts` also
/// in daemon.json dockerd refuses to start ("the following directives are
/// specified both as a flag and in the configuration file: hosts",
/// daemon/config/config.go), so ExecStart is reset without -H. `server
/// install` writes it with the host's own command; the bundle's copy, for
/// doing it by hand, with `OVERRIDE_COMMAND`.
pub fn drop_in(words: &[String]) -> String {
    format!(
        "# Written by docker-tlsctx: daemon.json now sets \"hosts\" (the unit's -H
# values as they were, fd:// included), and dockerd refuses \"hosts\" both as
# a flag and in daemon.json (daemon/config/config.go). This is the unit's own
# command without -H; an empty ExecStart= clears the packaged one first.
[Service]
ExecStart=
ExecStart={}
",
        words.join(" ")
    )
}

/// The packaged units' command without -H, for the bundle's drop-in: a
/// bare "dockerd" is looked up by systemd (>= 239) in /usr/sbin and
/// /usr/bin, which covers Debian's docker.io and Docker's docker-ce;
/// $DOCKER_OPTS is Debian's (/etc/default/docker) and empty elsewhere.
pub const OVERRIDE_COMMAND: &str =
    "dockerd --containerd=/run/containerd/containerd.sock $DOCKER_OPTS";

/// A server certificate and everything written with it.
pub struct Bundle {
    pub dir: PathBuf,
    pub issued: Leaf,
    pub sans: Vec<San>,
    pub port: u16,
    pub daemon_dir: String,
    pub key_type: KeyType,
    /// `--authz`: dockerd asks the tlsctx-authz plugin (daemon.json, unit).
    pub authz: bool,
    pub purpose: Purpose,
    /// The recorded SSH target, kept across a renewal.
    pub ssh: Option<String>,
    /// The serial installed there, kept across a renewal.
    pub installed: Option<String>,
    /// The deploy hook, kept across a renewal.
    pub exec: Option<Vec<String>>,
    /// `swarm publish --rotate-on-renew`, kept across a renewal.
    pub swarm: Option<crate::state::SwarmRotation>,
}

#[allow(clippy::too_many_arguments)]
pub fn issue(
    env: &Env,
    ca: &dyn crate::issuance::teams::signer::Signer,
    name: &str,
    purpose: Purpose,
    sans: &[San],
    key_type: KeyType,
    days: u32,
    progress: &dyn Progress,
) -> Result<Leaf> {
    let what = if purpose.is_daemon() {
        "server"
    } else {
        "certificate"
    };
    generating(progress, key_type, &format!("{what} {name}"), || {
        ca.sign(&LeafRequest::service(
            purpose, sans, key_type, days, env.now,
        ))
    })
}

/// Refuses to overwrite an existing bundle in `dir` unless `force`; a file
/// where the folder should be is an error of its own.
pub fn check_target(dir: &Path, force: bool) -> Result<()> {
    check_target_for(Purpose::Daemon, dir, force)
}

fn check_target_for(purpose: Purpose, dir: &Path, force: bool) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::NotADirectory(dir.into()));
    }
    if !force && bundle_files(purpose).iter().any(|f| dir.join(f).exists()) {
        return Err(Error::BundleExists {
            what: if purpose.is_daemon() {
                "server"
            } else {
                "certificate"
            },
            dir: dir.into(),
        });
    }
    Ok(())
}

/// The record and public files of a bundle, before anything is written.
pub fn plan(
    name: &str,
    ca: &dyn crate::issuance::teams::signer::Signer,
    b: &Bundle,
    ks: &dyn KeyStore,
    new_bundle: bool,
) -> ServerPlan {
    ServerPlan {
        record: ServerRecord {
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
            purpose: b.purpose,
            host: OnHost {
                authz: b.authz,
                ssh: b.ssh.clone(),
                installed: b.installed.clone(),
            },
            renewal: OnRenewal {
                exec: b.exec.clone(),
                swarm: b.swarm.clone(),
            },
            superseded: Vec::new(),
        },
        cert_pem: b.issued.cert_pem.clone(),
        ca_pem: ca.cert_pem().to_string(),
        daemon_dir: b.daemon_dir.clone(),
        new_bundle,
    }
}

/// Whether `dir` holds none of a server bundle's files yet.
pub fn is_new(dir: &Path) -> bool {
    is_new_for(Purpose::Daemon, dir)
}

fn is_new_for(purpose: Purpose, dir: &Path) -> bool {
    !bundle_files(purpose).iter().any(|f| dir.join(f).exists())
}

/// Writes a bundle (ARCHITECTURE.md, "Write and commit order"): the key
/// into the keystore first, the bundle's commit point, then the files (only
/// ours: a user's folder keeps its other files; the key 0600 in a 0700
/// folder), then the record. From the commit point on, `finish` can write
/// the rest again from the keystore and the plan.
pub fn write(env: &Env, ks: &dyn KeyStore, plan: &ServerPlan, key: &Leaf) -> Result<ServerRecord> {
    env.check_cancelled()?;
    ks.set(&account(&plan.record.name), &key.key_der())?;
    write_files(env, plan, &key.key_pem())?;
    // A bundle of a CA that revoked something carries its CRL from the start.
    let revs = env.state().revocations(&plan.record.ca)?;
    if !revs.entries.is_empty() {
        let pem = crate::issuance::teams::issuer::crl_for(env, &plan.record.ca, &revs)?;
        ca::write_crl_into(&plan.record.dir, &pem)?;
    }
    Ok(plan.record.clone())
}

fn write_files(env: &Env, plan: &ServerPlan, key_pem: &str) -> Result<()> {
    if !plan.record.purpose.is_daemon() {
        return write_service_files(env, plan, key_pem);
    }
    let dir = &plan.record.dir;
    fsio::create_dir_all(dir, SECRET_DIR)?;
    fsio::create_dir_all(&dir.join("docker.service.d"), fsio::PUBLIC_DIR)?;
    fsio::refuse_symlink(&dir.join("server-key.pem"))?;
    fsio::write_atomic(&dir.join("server-key.pem"), key_pem.as_bytes(), SECRET_FILE)?;
    fsio::write_public(&dir.join("server-cert.pem"), plan.cert_pem.as_bytes())?;
    fsio::write_public(&dir.join("ca.pem"), plan.ca_pem.as_bytes())?;
    fsio::write_public(
        &dir.join("daemon.json"),
        daemon_json(&plan.daemon_dir, plan.record.port, plan.record.host.authz).as_bytes(),
    )?;
    if plan.record.host.authz {
        fsio::write_public(
            &dir.join(AUTHZ_UNIT_FILE),
            authz_unit(&plan.daemon_dir, AUTHZ_BIN).as_bytes(),
        )?;
    }
    fsio::write_public(
        &dir.join(crate::state::DROP_IN_FILE),
        drop_in(&[OVERRIDE_COMMAND.to_string()]).as_bytes(),
    )?;
    // v0.3 wrote it as override.conf, a name that replaced the user's own.
    fsio::remove_file(&dir.join(crate::state::OLD_DROP_IN_FILE))?;
    env.state().write_server(&plan.record)
}

/// A service certificate's folder: key (0600, first), certificate, CA,
/// then the record. No daemon.json or drop-in: dockerd does not use it.
fn write_service_files(env: &Env, plan: &ServerPlan, key_pem: &str) -> Result<()> {
    let dir = &plan.record.dir;
    fsio::create_dir_all(dir, SECRET_DIR)?;
    let key = dir.join(plan.record.key_file());
    fsio::refuse_symlink(&key)?;
    fsio::write_atomic(&key, key_pem.as_bytes(), SECRET_FILE)?;
    fsio::write_public(&dir.join(plan.record.cert_file()), plan.cert_pem.as_bytes())?;
    fsio::write_public(&dir.join("ca.pem"), plan.ca_pem.as_bytes())?;
    env.state().write_server(&plan.record)
}

/// Recovery: when the keystore holds the key of the plan's certificate
/// (the bundle was committed), writes the files and record again from it
/// and returns true; otherwise leaves everything as it is.
pub fn finish(env: &Env, plan: &ServerPlan) -> Result<bool> {
    let ks = keystore::open_recorded(plan.record.keystore, &env.config_dir)?;
    let Some(der) = ks.get(&account(&plan.record.name))? else {
        return Ok(false);
    };
    if !crate::pki::key_matches_cert(&der, &plan.cert_pem).unwrap_or(false) {
        return Ok(false);
    }
    write_files(env, plan, &crate::pki::key_pem_from_der(&der))?;
    Ok(true)
}

/// Finishes a committed bundle or undoes an uncommitted one; says which.
pub fn settle(env: &Env, plan: &ServerPlan) -> Result<String> {
    let name = &plan.record.name;
    Ok(if finish(env, plan)? {
        format!("finished server bundle {name:?}, which an earlier command left half-written")
    } else {
        undo(env, plan)?;
        format!("undid server bundle {name:?}, which an earlier command left unfinished")
    })
}

/// Recovery: removes a bundle that was new to its folder, its record and
/// its key. A replaced bundle is finished instead (see `finish`) or, when
/// its key never reached the keystore, left as it was.
pub fn undo(env: &Env, plan: &ServerPlan) -> Result<()> {
    if !plan.new_bundle {
        finish(env, plan)?;
        return Ok(());
    }
    let state = env.state();
    let mut rec = plan.record.clone();
    rec.dir = plan.record.dir.clone();
    state.remove_server(&rec)?;
    let ks = keystore::open_recorded(plan.record.keystore, &env.config_dir)?;
    ks.delete(&account(&plan.record.name))?;
    Ok(())
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
    pub authz: bool,
    pub force: bool,
    /// `server` issues the daemon's bundle, `cert` a service's.
    pub purpose: Purpose,
    /// `--exec`, split into words.
    pub exec: Option<Vec<String>>,
}

/// A server bundle alone. Returns its record and whether the certificate
/// was cut short to end with its CA.
pub fn create(
    env: &Env,
    req: &Request<'_>,
    progress: &dyn Progress,
) -> Result<(ServerRecord, bool)> {
    names::validate("server bundle", req.name)?;
    check_daemon_dir(req.daemon_dir)?;
    let sans = parse_sans(req.sans)?;
    crate::issuance::check_server_days("--days", req.days)?;
    let dir = req
        .out
        .clone()
        .unwrap_or_else(|| env.state().default_server_dir(req.name));
    check_target_for(req.purpose, &dir, req.force)?;
    // Server bundles and service certificates share one namespace (their
    // keystore account and `swarm publish NAME`); even --force replaces
    // one of the same kind only, since the other kind's files would stay.
    if let Some(old) = env.state().server(req.name)? {
        if old.purpose.is_daemon() != req.purpose.is_daemon() {
            return Err(Error::BundleNameTaken {
                name: req.name.into(),
                purpose: old.purpose.as_str(),
            });
        }
    }
    let (_, ca) = crate::issuance::teams::issuer::signer_of(env, req.ca)?;
    let issued = issue(
        env,
        ca.as_ref(),
        req.name,
        req.purpose,
        &sans,
        req.key_type,
        req.days,
        progress,
    )?;
    let clamped = issued.clamped_to_ca;
    let ks = env.keystore()?;
    let new_bundle = is_new_for(req.purpose, &dir) && env.state().server(req.name)?.is_none();
    let bundle = Bundle {
        dir,
        issued,
        sans,
        port: req.port,
        daemon_dir: req.daemon_dir.into(),
        key_type: req.key_type,
        authz: req.authz,
        purpose: req.purpose,
        // A replaced bundle (--force) keeps where it was installed.
        ssh: env.state().server(req.name)?.and_then(|r| r.host.ssh),
        installed: env.state().server(req.name)?.and_then(|r| r.host.installed),
        exec: req.exec.clone(),
        swarm: env.state().server(req.name)?.and_then(|r| r.renewal.swarm),
    };
    let plan = plan(req.name, ca.as_ref(), &bundle, ks.as_ref(), new_bundle);
    Ok((
        in_journal(env, ks.as_ref(), &plan, &bundle.issued)?,
        clamped,
    ))
}

/// `write` inside a journal: a run cut short is finished or undone by the
/// next command (recover.rs), a failure here at once.
fn in_journal(env: &Env, ks: &dyn KeyStore, plan: &ServerPlan, key: &Leaf) -> Result<ServerRecord> {
    let journal = Journal::Server {
        pid: std::process::id(),
        plan: plan.clone(),
    };
    crate::issuance::transaction(
        env,
        &journal,
        || settle(env, plan),
        || write(env, ks, plan, key),
    )
}

/// What `server renew` did.
pub struct Renewed {
    pub before: ServerRecord,
    pub after: ServerRecord,
    pub daemon_dir: String,
    pub clamped_to_ca: bool,
    /// What an issuer said.
    pub notes: Vec<String>,
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
    crate::issuance::check_server_days("--days", days)?;
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
    let (_, ca) = crate::issuance::teams::issuer::signer_of(env, &rec.ca)?;
    let issued = issue(
        env,
        ca.as_ref(),
        name,
        rec.purpose,
        &sans,
        rec.key_type,
        days,
        progress,
    )?;
    let clamped_to_ca = issued.clamped_to_ca;
    let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
    let dir = env.state().server_dir(&rec);
    let daemon_dir = daemon_dir_of(&dir).unwrap_or_else(|| DEFAULT_DAEMON_DIR.into());
    let bundle = Bundle {
        dir,
        issued,
        sans,
        port: rec.port,
        daemon_dir: daemon_dir.clone(),
        key_type: rec.key_type,
        authz: rec.host.authz,
        purpose: rec.purpose,
        ssh: rec.host.ssh.clone(),
        installed: rec.host.installed.clone(),
        exec: rec.renewal.exec.clone(),
        swarm: rec.renewal.swarm.clone(),
    };
    let plan = plan(name, ca.as_ref(), &bundle, ks.as_ref(), false);
    let after = in_journal(env, ks.as_ref(), &plan, &bundle.issued)?;
    Ok(Renewed {
        before: rec,
        after,
        daemon_dir,
        clamped_to_ca,
        notes: ca.notes(),
    })
}

/// The folder daemon.json points at, so a renewal keeps the user's --daemon-dir.
pub fn daemon_dir_of(dir: &Path) -> Option<String> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("daemon.json")).ok()?).ok()?;
    let key = v["tlskey"].as_str()?;
    Some(key.strip_suffix("/server-key.pem")?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_dirs() {
        for ok in ["/etc/docker/tls", "/opt/tls/", "/srv/docker-tls.d/v_1"] {
            check_daemon_dir(ok).unwrap();
        }
        for bad in [
            "etc/docker",
            "/etc/docker/tls\nF\t644\tf0\t/etc/x",
            "/etc/a b",
            "/etc/$(id)",
            "/etc/../root",
            "/etc//x",
            "/",
            "/etc/'x'",
        ] {
            assert!(check_daemon_dir(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn daemon_json_paths_and_hosts() {
        let v: serde_json::Value =
            serde_json::from_str(&daemon_json("/opt/tls/", 2376, false)).unwrap();
        assert_eq!(v["tlskey"], "/opt/tls/server-key.pem");
        assert_eq!(v["hosts"][0], "fd://");
        assert_eq!(v["hosts"][1], "tcp://0.0.0.0:2376");
        assert_eq!(v["tlsverify"], true);
    }
}
