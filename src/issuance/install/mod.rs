//! `server install`: a server bundle onto its Docker host over SSH,
//! validated, restarted, verified with a real client identity, and rolled
//! back when anything fails (ARCHITECTURE.md, "Installing on a host").
//!
//! Order: local checks (bundle, key, the identity that verifies) → login →
//! pre-flight (read-only) → the plan → settle an earlier half-done install
//! → stage → apply (detached, journaled) → mutual-TLS call from here →
//! confirm (or abort: the host rolls back) → record the target.

pub mod change;
mod crl;
pub mod facts;
mod fleet;
mod phases;
pub mod plan;
pub mod plugin;
mod remote;
pub mod script;
mod state;

pub use crl::{push_crl, Pushed};
pub use fleet::{fleet, in_parallel};
use remote::*;

use std::time::{Duration, Instant};

use facts::{Facts, HOST_STATE, HOST_STATE_PARENT, PREFLIGHT};
use plan::{Plan, Refusal};

use crate::error::{Error, InstallNext, MissingKey, Result};
use crate::fsio;
use crate::issuance::Env;
use crate::keystore;
use crate::pki;
use crate::probe;
use crate::ssh::{quote, Session, Target};
use crate::state::ServerRecord;

/// How long the host waits for this side's confirmation before it rolls
/// back by itself. DOCKER_TLSCTX_CONFIRM_SECS shortens it in debug builds
/// (tests of a killed client).
fn confirm_secs() -> u32 {
    #[cfg(debug_assertions)]
    if let Some(n) = crate::environment::var(crate::environment::Var::ConfirmSecs)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    90
}

pub struct Options<'a> {
    /// `--ssh`; the recorded target when None.
    pub ssh: Option<&'a str>,
    /// `--context`: the identity that proves the install.
    pub context: Option<&'a str>,
    pub dry_run: bool,
    /// `--yes`: a restart that stops containers goes ahead.
    pub yes: bool,
    /// `--force`: replace a TLS set-up of another CA.
    pub force: bool,
    /// Asks the user (a terminal) whether the restart may go ahead.
    pub confirm: &'a (dyn Fn(&str) -> bool + Sync),
    /// Says what happens while an interrupted install is undone.
    pub progress: &'a (dyn Fn(&str) + Sync),
}

/// What an install found and did.
pub struct Installed {
    pub name: String,
    pub target: Target,
    /// The address the mutual-TLS call went to, and with which context.
    pub address: String,
    pub context: String,
    pub plan: Plan,
    pub facts: Facts,
    /// Said before the restart (its cost) and after (an earlier install undone).
    pub notes: Vec<String>,
    /// The Engine's version, from the verifying call.
    pub version: String,
    pub restart: Duration,
    pub total: Duration,
    pub dry_run: bool,
}

pub fn work_dir(name: &str) -> String {
    format!("{HOST_STATE}/{name}")
}

fn refused(host: &str, r: Refusal) -> Error {
    Error::InstallRefused {
        host: host.into(),
        what: r.what,
        next: r.next,
    }
}

/// The bundle's files as they go to the host: the key from the keystore
/// (its canonical copy), checked against the certificate.
struct Files {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    crl_pem: Option<String>,
    tls_dir: String,
}

fn bundle_files(env: &Env, rec: &ServerRecord) -> Result<Files> {
    let dir = env.state().server_dir(rec);
    let read = |f: &str| fsio::read_to_string(&dir.join(f));
    let cert_pem = read("server-cert.pem")?;
    let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
    let der = ks
        .get(&crate::issuance::server::account(&rec.name))?
        .ok_or_else(|| Error::KeyMissing {
            of: MissingKey::ServerBundle {
                name: rec.name.clone(),
            },
            backend: rec.keystore.to_string(),
        })?;
    if !pki::key_matches_cert(&der, &cert_pem)? {
        return Err(Error::Corrupt {
            path: dir.join("server-cert.pem"),
            why: "the certificate does not belong to the bundle's key in the keystore".into(),
        });
    }
    let tls_dir = crate::issuance::server::daemon_dir_of(&dir)
        .unwrap_or_else(|| crate::issuance::server::DEFAULT_DAEMON_DIR.into());
    crate::issuance::server::check_daemon_dir(&tls_dir)?;
    let crl_pem = dir
        .join("crl.pem")
        .exists()
        .then(|| read("crl.pem"))
        .transpose()?;
    Ok(Files {
        ca_pem: read("ca.pem")?,
        cert_pem,
        key_pem: pki::key_pem_from_der(&der),
        crl_pem,
        tls_dir,
    })
}

/// The context whose identity proves the install: `--context`, else the
/// bundle's own name (what `new` makes), else any context of the bundle's
/// CA whose host the certificate names.
fn verifier(env: &Env, rec: &ServerRecord, wanted: Option<&str>) -> Result<String> {
    let state = env.state();
    if let Some(c) = wanted {
        return Ok(c.into());
    }
    let fits = |r: &crate::state::IdentityRecord| {
        r.context.is_some()
            && r.ca == rec.ca
            && r.host.as_ref().is_some_and(|h| {
                rec.sans
                    .iter()
                    .any(|s| s.host().eq_ignore_ascii_case(&h.name()))
            })
    };
    if let Some(r) = state.identity(&rec.name)?.filter(fits) {
        return Ok(r.name);
    }
    let mut all = state.identities()?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all.into_iter()
        .find(fits)
        .map(|r| r.name)
        .ok_or_else(|| Error::InstallRefused {
            host: rec.name.clone(),
            what: format!(
                "no context of CA {:?} names a host of this certificate, so nothing here could prove the install",
                rec.ca
            ),
            next: InstallNext::NeedsContext {
                host: rec.sans[0].host(),
                port: rec.port,
                ca: rec.ca.clone(),
            },
        })
}

/// The daemon bundle NAME and where it goes: `--ssh`, else its record's.
fn bundle_and_target(
    env: &Env,
    name: &str,
    ssh: Option<&str>,
) -> Result<(ServerRecord, String, Target)> {
    crate::names::validate("server bundle", name)?;
    let rec = env
        .state()
        .server(name)?
        .filter(|r| r.purpose.is_daemon())
        .ok_or_else(|| Error::ServerNotFound(name.into()))?;
    let text = ssh
        .map(str::to_string)
        .or_else(|| rec.host.ssh.clone())
        .ok_or_else(|| Error::InstallRefused {
            host: name.into(),
            what: format!("server bundle {name:?} has no SSH target yet"),
            next: InstallNext::NameTheHost {
                bundle: name.into(),
            },
        })?;
    let target = Target::parse(&text)?;
    Ok((rec, text, target))
}

pub fn install(env: &Env, name: &str, opts: &Options<'_>) -> Result<Installed> {
    let mut undone = None;
    let result = install_inner(env, name, opts, &mut undone);
    crate::interrupt::set_exit_note(None);
    match (result, undone) {
        // This run already undid an earlier half-done install (and
        // restarted dockerd): a later refusal or cancel must not say
        // "nothing was changed".
        (Err(Error::InstallRefused { host, what, next }), Some(note)) => {
            Err(Error::InstallFailed {
                host,
                what: format!("{what}; before that, this run {note}"),
                next,
            })
        }
        (Err(Error::Cancelled), Some(note)) => Err(Error::InstallInterrupted {
            host: name.into(),
            what: format!("before that, this run {note}; nothing else was changed"),
            next: again(name),
        }),
        (r, _) => r,
    }
}

fn install_inner(
    env: &Env,
    name: &str,
    opts: &Options<'_>,
    undone: &mut Option<String>,
) -> Result<Installed> {
    let started = Instant::now();
    let planned = phases::plan_on_host(env, name, opts, undone)?;
    if opts.dry_run {
        return Ok(planned.dry_run(started));
    }
    env.check_cancelled()?;
    let running = phases::start(env, name, opts, planned)?;
    let committed = phases::confirm(env, name, opts, running)?;
    phases::record(env, name, committed, started)
}

/// "the host's clock says T, outside the KIND certificate's validity (A to
/// B)" when `t` is outside it.
fn clock_outside(
    t: time::OffsetDateTime,
    kind: &str,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> Option<String> {
    (t < not_before || t > not_after).then(|| {
        format!(
            "the host's clock says {}, outside the {kind} certificate's validity ({} to {})",
            crate::text::rfc3339(t),
            crate::text::rfc3339(not_before),
            crate::text::rfc3339(not_after)
        )
    })
}

/// When the host's script gives up waiting for a confirmation and starts
/// putting the old configuration back, at the latest, from its launch:
/// `dockerd --validate` (30 s), the plugin's start (10 s), the restart and
/// the local socket (UP_SECS, with one last 5 s probe), then the window.
fn rolls_back_by_itself(launched: Instant) -> String {
    let latest = Duration::from_secs(u64::from(30 + 10 + script::UP_SECS + 5 + confirm_secs()));
    let left = latest.saturating_sub(launched.elapsed());
    let by = time::OffsetDateTime::now_utc() + left;
    format!(
        "the host puts its old configuration back by itself, starting by {:02}:{:02}:{:02} UTC at the latest (no confirmation will come)",
        by.hour(),
        by.minute(),
        by.second()
    )
}

/// dockerd already trusts another CA for its clients (another bundle, a
/// hand-made set-up): replacing it would lock that CA's clients out, so it
/// takes --force.
fn other_ca(session: &Session, facts: &Facts, ca_pem: &str, host: &str, name: &str) -> Result<()> {
    let Some(path) = facts
        .file(plan::DAEMON_JSON)
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v.get("tlscacert")?.as_str().map(str::to_string))
    else {
        return Ok(());
    };
    let ran = session.run(&format!("cat {} 2>/dev/null", quote(&path)), b"")?;
    let theirs = ran.stdout();
    if !ran.ok() || theirs.trim() == ca_pem.trim() {
        return Ok(());
    }
    let who = crate::pki::CertInfo::from_pem(&theirs)
        .map(|c| format!(" ({})", c.subject))
        .unwrap_or_default();
    Err(Error::InstallRefused {
        host: host.into(),
        what: format!("dockerd there already trusts another CA for its clients: {path}{who}; its clients would be locked out"),
        next: InstallNext::ForceCa {
            bundle: name.into(),
        },
    })
}

/// One mutual-TLS call with the context's identity; a refused connection
/// right after the restart is tried again for a few seconds. The daemon
/// must present the certificate just installed: another one of the same CA
/// means it did not load the new configuration (a dockerd the service
/// manager does not own, a restart that did nothing).
fn verify(
    m: &probe::Material<'_>,
    installed_cert_pem: &str,
) -> std::result::Result<String, crate::tls_client::Failure> {
    let until = Instant::now() + Duration::from_secs(5);
    let want = pem::parse(installed_cert_pem)
        .map(|p| p.contents().to_vec())
        .unwrap_or_default();
    loop {
        match probe::probe(m) {
            probe::Outcome::Ok {
                version,
                server_cert,
                ..
            } => {
                if server_cert != want {
                    return Err(crate::tls_client::Failure::Other(format!(
                        "the daemon answered with another certificate (SHA-256 {}) than the one installed: it does not run the new configuration",
                        crate::text::sha256_hex(&server_cert)
                    )));
                }
                return Ok(version);
            }
            probe::Outcome::Failed(crate::tls_client::Failure::ConnectionRefused)
                if Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(250))
            }
            probe::Outcome::Failed(f) => return Err(f),
        }
    }
}

/// `sh -n`: the script parses as POSIX sh.
#[cfg(all(test, unix))]
pub(crate) fn assert_valid_sh(script: &str) {
    let out = std::process::Command::new("sh")
        .args(["-n", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
