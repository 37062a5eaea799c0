//! Issuance: the operations every command is made of (create or load a CA,
//! issue a server bundle, issue or re-issue a client identity, load an
//! identity's material, the expiry policy). Services return values and
//! print nothing: the commands say what happened (ARCHITECTURE.md, "Layers").

pub mod identities;
pub mod install;
pub mod recover;
pub mod renewal;
pub mod server;
pub mod swarm;
pub mod teams;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::docker::config::ConfigFile;
use crate::docker::context;
use crate::error::{Error, Result};
use crate::interrupt::Cancel;
use crate::keystore::{self, Choice, KeyStore};
use crate::pki::{self, KeyType, San};
use crate::state::{Journal, State};

/// What every command needs: where Docker's config is, which keystore, the
/// clock, and the request to stop (issue 32: carried here, not polled from
/// a global).
pub struct Env {
    pub config_dir: PathBuf,
    pub keystore_choice: Choice,
    pub now: OffsetDateTime,
    pub cancel: Cancel,
}

impl Env {
    /// The clock: DOCKER_TLSCTX_NOW (RFC 3339) stands in for the system
    /// clock, so tests can issue certificates that are nearly expired or
    /// expired and a host with a wrong clock can still issue usable ones.
    pub fn from_process(config_dir: &Path, keystore_choice: Choice, cancel: Cancel) -> Result<Env> {
        let now = match crate::environment::var(crate::environment::Var::Now) {
            Ok(v) if !v.is_empty() => {
                OffsetDateTime::parse(&v, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| Error::BadClock(format!("{v:?}: {e}")))?
            }
            _ => OffsetDateTime::now_utc(),
        };
        // X.509 times end at 9999-12-31 (RFC 5280 §4.1.2.5 GeneralizedTime);
        // a clock past 9980 would issue a CA that ends after it, and one
        // before 1970 is a broken clock. Checked before anything is written.
        if !(1970..=9980).contains(&now.year()) {
            return Err(Error::BadClock(format!(
                "{} is outside the years 1970 to 9980 that certificates issued now can cover",
                crate::text::date(now)
            )));
        }
        Ok(Env {
            config_dir: config_dir.to_path_buf(),
            keystore_choice,
            now,
            cancel,
        })
    }

    pub fn state(&self) -> State {
        State::new(&self.config_dir)
    }
    pub fn contexts(&self) -> context::Store {
        context::Store::new(&self.config_dir)
    }
    pub fn config(&self) -> ConfigFile {
        ConfigFile::new(&self.config_dir)
    }
    pub fn keystore(&self) -> Result<Box<dyn KeyStore>> {
        keystore::open(self.keystore_choice, &self.config_dir)
    }
}

/// Told when a slow step starts and ends (key generation: RSA-4096 takes
/// about a second), so a command can show progress; `()` shows nothing.
pub trait Progress {
    fn started(&self, _key_type: KeyType, _what: &str) {}
    fn finished(&self) {}
}

impl Progress for () {}

/// Runs a key generation between `started` and `finished`.
pub(crate) fn generating<T>(
    progress: &dyn Progress,
    key_type: KeyType,
    what: &str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    progress.started(key_type, what);
    let r = f();
    progress.finished();
    r
}

/// Runs `work` as one transaction (ARCHITECTURE.md, "One lock, one
/// transaction"): the journal is written before it and closed after it.
/// When `work` fails, `settle` finishes or undoes what it did at once; if
/// even that fails, the journal stays for the next command (recover.rs).
pub(crate) fn transaction<T>(
    env: &Env,
    journal: &Journal,
    settle: impl FnOnce() -> Result<String>,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let state = env.state();
    state.open_journal(journal)?;
    match work() {
        Ok(v) => {
            state.close_journal();
            Ok(v)
        }
        Err(e) => {
            if settle().is_ok() {
                state.close_journal();
            }
            Err(e)
        }
    }
}

/// Fails with `Cancelled` once SIGINT, SIGTERM or Docker's socket asked us to stop.
pub fn check_cancelled(cancel: &Cancel) -> Result<()> {
    if cancel.requested() {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}

impl Env {
    /// Fails with `Cancelled` once the user or Docker asked us to stop.
    pub fn check_cancelled(&self) -> Result<()> {
        check_cancelled(&self.cancel)
    }
}

pub fn check_days(flag: &'static str, days: u32, max: u32, why: &'static str) -> Result<()> {
    if days == 0 || days > max {
        return Err(Error::DaysOutOfRange {
            flag,
            days,
            max,
            why,
        });
    }
    Ok(())
}

/// Refuses `cn` when a live certificate of CA `ca` carries it or one that
/// looks the same (names::cn_key): an identity here other than `name` (the
/// one being replaced or renewed), or a certificate `sign` issued. dockerd's
/// logs and the authorization plugin tell people apart by CN only.
pub(crate) fn check_cn_free(env: &Env, ca: &str, cn: &str, name: &str) -> Result<()> {
    check_cn_free_here(env, ca, cn, name)?;
    let state = env.state();
    let key = crate::names::cn_key(cn);
    let live = |not_after: time::OffsetDateTime, serial: &str| {
        not_after > env.now && !state.is_revoked(ca, serial)
    };
    for s in state.signed(ca)? {
        if crate::names::cn_key(&s.cn) == key && live(s.not_after, &s.serial) {
            return Err(Error::CnInUse {
                cn: cn.into(),
                ca: ca.into(),
                by: format!("{:?} (signed, serial {})", s.name, s.serial),
            });
        }
    }
    Ok(())
}

/// `check_cn_free` among the identities here only: what `accept` checks,
/// where the certificate being accepted may be one `sign` recorded on this
/// same machine.
pub(crate) fn check_cn_free_here(env: &Env, ca: &str, cn: &str, name: &str) -> Result<()> {
    let state = env.state();
    let key = crate::names::cn_key(cn);
    let live = |not_after: time::OffsetDateTime, serial: &str| {
        not_after > env.now && !state.is_revoked(ca, serial)
    };
    let taken = |by: String| Error::CnInUse {
        cn: cn.into(),
        ca: ca.into(),
        by,
    };
    for i in state.identities()? {
        if i.name != name
            && i.ca == ca
            && crate::names::cn_key(&i.cn) == key
            && live(i.not_after, &i.serial)
        {
            return Err(taken(format!("{:?}", i.name)));
        }
    }
    Ok(())
}

pub fn check_client_days(days: u32) -> Result<()> {
    check_days("--days", days, pki::MAX_DAYS, "at most 10 years")
}

pub fn check_server_days(flag: &'static str, days: u32) -> Result<()> {
    check_days(
        flag,
        days,
        pki::SERVER_MAX_DAYS,
        "Apple's platforms reject TLS server certificates valid longer than 825 days",
    )
}

pub fn parse_sans(values: &[String]) -> Result<Vec<San>> {
    values
        .iter()
        .map(|v| San::parse(v).ok_or_else(|| Error::SanInvalid(v.clone())))
        .collect()
}
