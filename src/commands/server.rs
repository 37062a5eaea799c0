//! Server bundles: what the daemon host needs (DESIGN §8).
//!
//! ```text
//! ca.pem  server-cert.pem  server-key.pem (0600)  daemon.json  docker.service.d/override.conf
//! ```

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{
    ca, check_cancelled, check_server_days, date, parse_sans, print_json, with_progress, Env,
};
use crate::cli::{Format, ServerAction, ServerArgs, ServerCmd, ServerRenewArgs};
use crate::context::validate_name;
use crate::error::{Error, Result};
use crate::fsio::{self, PUBLIC_FILE, SECRET_DIR, SECRET_FILE};
use crate::keystore;
use crate::keystore::KeyStore;
use crate::pki::{Ca, Issued, KeyType, San};
use crate::state::ServerRecord;

pub const FILES: [&str; 5] = [
    "ca.pem",
    "server-cert.pem",
    "server-key.pem",
    "daemon.json",
    "docker.service.d/override.conf",
];

pub fn account(name: &str) -> String {
    format!("server/{name}")
}

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
    pub issued: Issued,
    pub sans: Vec<San>,
    pub port: u16,
    pub daemon_dir: String,
    pub key_type: KeyType,
}

pub fn issue(
    env: &Env,
    ca: &Ca,
    ca_name: &str,
    name: &str,
    sans: Vec<San>,
    key_type: KeyType,
    days: u32,
) -> Result<Issued> {
    let issued = with_progress(key_type, &format!("server {name}"), || {
        ca.issue_server(&sans, key_type, days, env.now, ca_name)
    })?;
    super::warn_if_clamped(&issued, "server", ca_name, days);
    Ok(issued)
}

/// Refuses to overwrite an existing bundle in `dir` unless `force`; a file
/// where the folder should be is an error of its own.
pub fn check_target(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::NotADirectory(dir.into()));
    }
    if !force && FILES.iter().any(|f| dir.join(f).exists()) {
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
    ca_name: &str,
    ca_pem: &str,
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
    fsio::write_atomic(
        &b.dir.join("server-cert.pem"),
        b.issued.cert_pem.as_bytes(),
        PUBLIC_FILE,
    )?;
    fsio::write_atomic(&b.dir.join("ca.pem"), ca_pem.as_bytes(), PUBLIC_FILE)?;
    fsio::write_atomic(
        &b.dir.join("daemon.json"),
        daemon_json(&b.daemon_dir, b.port).as_bytes(),
        PUBLIC_FILE,
    )?;
    fsio::write_atomic(
        &b.dir.join("docker.service.d/override.conf"),
        OVERRIDE_CONF.as_bytes(),
        PUBLIC_FILE,
    )?;
    ks.set(&account(name), &b.issued.key_der())?;
    let rec = ServerRecord {
        name: name.into(),
        dir: b.dir.clone(),
        ca: ca_name.into(),
        sans: b.sans.iter().map(ToString::to_string).collect(),
        serial: b.issued.serial_hex.clone(),
        key_type: b.key_type.to_string(),
        port: b.port,
        not_before: b.issued.not_before,
        not_after: b.issued.not_after,
        keystore: ks.backend().into(),
    };
    env.state().write_server(&rec)?;
    Ok(rec)
}

/// The steps for the daemon host, printed after `new` and `server`.
pub fn next_steps(dir: &Path, daemon_dir: &str, host: &str) -> String {
    let d = dir.display();
    let t = daemon_dir.trim_end_matches('/');
    format!(
        "Next, on the Docker host {host}:\n\
         \x20 1. copy {d}/{{ca.pem,server-cert.pem,server-key.pem}} to {t}/ (keep server-key.pem mode 0600, owner root)\n\
         \x20 2. merge {d}/daemon.json into /etc/docker/daemon.json\n\
         \x20 3. copy {d}/docker.service.d/override.conf to /etc/systemd/system/docker.service.d/override.conf\n\
         \x20 4. sudo systemctl daemon-reload && sudo systemctl restart docker\n"
    )
}

pub fn run_cmd(env: &Env, cmd: &ServerCmd) -> Result<()> {
    match &cmd.action {
        Some(ServerAction::Renew(a)) => renew(env, a),
        None => run(env, &cmd.issue),
    }
}

pub fn run(env: &Env, args: &ServerArgs) -> Result<()> {
    let name = args
        .name
        .clone()
        .expect("clap requires NAME without a subcommand");
    validate_name("server bundle", &name)?;
    let sans = parse_sans(&args.sans)?;
    check_server_days("--days", args.days)?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| env.state().default_server_dir(&name));
    check_target(&dir, args.force)?;
    let (ca_rec, ca) = ca::load(env, &args.ca)?;
    let kt = args.key_type.key_type;
    let issued = issue(env, &ca, &ca_rec.name, &name, sans.clone(), kt, args.days)?;
    let ks = env.keystore()?;
    let bundle = Bundle {
        dir,
        issued,
        sans,
        port: args.port,
        daemon_dir: args.daemon_dir.clone(),
        key_type: kt,
    };
    let rec = write(env, ks.as_ref(), &name, &ca_rec.name, &ca.cert_pem, &bundle)?;
    match args.format {
        Format::Json => print_json(&json!({ "server": rec })),
        Format::Text => {
            println!(
                "Issued server bundle {:?} for {} (valid until {}) in {}",
                rec.name,
                rec.sans.join(", "),
                date(rec.not_after),
                rec.dir.display()
            );
            print!(
                "\n{}",
                next_steps(&rec.dir, &args.daemon_dir, &bundle.sans[0].host())
            );
        }
    }
    Ok(())
}

/// `server renew NAME`: a new key and certificate from the same CA, for the
/// same names (plus `--add-san`), written over the bundle where it is.
/// Clients keep working: they trust the CA, not this certificate.
pub fn renew(env: &Env, args: &ServerRenewArgs) -> Result<()> {
    validate_name("server bundle", &args.name)?;
    check_server_days("--days", args.days)?;
    let rec = env
        .state()
        .server(&args.name)?
        .ok_or_else(|| Error::ServerNotFound(args.name.clone()))?;
    let mut sans: Vec<San> = rec
        .sans
        .iter()
        .filter_map(|s| San::parse(s.trim_start_matches("IP:").trim_start_matches("DNS:")))
        .collect();
    for s in parse_sans(&args.add_sans)? {
        if !sans.contains(&s) {
            sans.push(s);
        }
    }
    let (ca_rec, ca) = ca::load(env, &rec.ca)?;
    let kt: KeyType = rec.key_type.parse().map_err(|e: String| Error::Corrupt {
        path: rec.dir.join("server.json"),
        why: e,
    })?;
    let issued = issue(
        env,
        &ca,
        &ca_rec.name,
        &args.name,
        sans.clone(),
        kt,
        args.days,
    )?;
    let ks = keystore::open_recorded(&rec.keystore, &env.config_dir)?;
    let daemon_dir = daemon_dir_of(&rec.dir).unwrap_or_else(|| "/etc/docker/tls".into());
    let bundle = Bundle {
        dir: rec.dir.clone(),
        issued,
        sans,
        port: rec.port,
        daemon_dir: daemon_dir.clone(),
        key_type: kt,
    };
    let new_rec = write(
        env,
        ks.as_ref(),
        &args.name,
        &ca_rec.name,
        &ca.cert_pem,
        &bundle,
    )?;
    println!(
        "Renewed server bundle {:?} for {} (valid until {}, was {}) in {}",
        new_rec.name,
        new_rec.sans.join(", "),
        date(new_rec.not_after),
        date(rec.not_after),
        new_rec.dir.display()
    );
    println!("dockerd reads its certificate only at start: copy the new files and restart it.");
    print!(
        "\n{}",
        next_steps(&new_rec.dir, &daemon_dir, &bundle.sans[0].host())
    );
    Ok(())
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
