//! The OS keychain through keyring-core: one store crate per OS, chosen at
//! compile time in the `platform` modules below; everything else here is
//! shared. Each call runs with a deadline, because a locked Secret Service
//! collection answers with an unlock prompt that may never be shown (no
//! desktop session) and would otherwise hang the command.

use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use keyring_core::api::CredentialStore;
use keyring_core::Error as KError;

use super::{Account, Backend, KeyStore};
use crate::error::{Error, Result};

/// How long one keychain call may take. A person answering an unlock dialog
/// needs time; `DOCKER_TLSCTX_KEYCHAIN_TIMEOUT` (seconds) changes it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

fn timeout() -> Duration {
    crate::environment::var(crate::environment::Var::KeychainTimeout)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// Runs `f` on a worker thread and gives up after the deadline. The worker
/// is left behind on time-out; the command fails and the process exits.
fn with_deadline<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let fault = failpoint();
    if fault == Some(Fault::Fail) {
        return Err(Error::KeystoreFailed {
            backend: platform::NAME,
            why: "failpoint: the keychain call failed".into(),
        });
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // A second Ctrl-C waits for the call (crate::interrupt): the
        // Secret Service must not see us vanish halfway through it.
        let answer = {
            let _held = crate::interrupt::hold();
            if fault == Some(Fault::Interrupt) {
                // Ctrl-C twice while the call is being made.
                for _ in 0..2 {
                    #[cfg(unix)]
                    let _ = rustix::process::kill_process(
                        rustix::process::getpid(),
                        rustix::process::Signal::INT,
                    );
                    std::thread::sleep(Duration::from_millis(30));
                }
            }
            f()
        };
        if fault == Some(Fault::Hang) {
            // Done, but the answer never comes: the ambiguous case.
            std::thread::sleep(Duration::from_secs(3600));
        }
        let _ = tx.send(answer);
    });
    let limit = timeout();
    rx.recv_timeout(limit).map_err(|_| Error::KeychainTimeout {
        backend: platform::NAME,
        secs: limit.as_secs_f64(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The call is not made and fails.
    Fail,
    /// The call is made and its answer never arrives (the deadline fires).
    Hang,
    /// Ctrl-C twice as the call is made.
    Interrupt,
}

/// Failpoints for the keychain fault tests (tests/it/faults.rs), in debug
/// builds only, like fsio::step: `DOCKER_TLSCTX_KEYCHAIN_FAILPOINT=fail:N`
/// or `hang:N` acts on the Nth keychain call of the process.
#[cfg(debug_assertions)]
fn failpoint() -> Option<Fault> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    static PLAN: OnceLock<Option<(Fault, usize)>> = OnceLock::new();
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let plan = PLAN.get_or_init(|| {
        let v = crate::environment::var(crate::environment::Var::KeychainFailpoint).ok()?;
        let (kind, n) = v.split_once(':')?;
        let kind = match kind {
            "fail" => Fault::Fail,
            "hang" => Fault::Hang,
            "int" => Fault::Interrupt,
            _ => return None,
        };
        Some((kind, n.parse().ok()?))
    });
    let (kind, at) = (*plan)?;
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    (n == at).then(|| {
        eprintln!("failpoint: injected at keychain call {n}");
        kind
    })
}

#[cfg(not(debug_assertions))]
#[inline(always)]
fn failpoint() -> Option<Fault> {
    None
}

pub struct OsStore {
    store: Arc<CredentialStore>,
    service: &'static str,
}

impl OsStore {
    /// Connects to the OS keychain; fails when there is none to talk to
    /// (on Linux: no D-Bus session bus, or no Secret Service provider on it).
    pub fn connect(service: &'static str) -> Result<OsStore> {
        // One connection (on Linux one D-Bus connection and one Secret
        // Service session) per process, made when a command first needs the
        // keychain: every OpenSession is a chance for gnome-keyring-daemon
        // 42.1 to abort if we go away during it (crate::interrupt), and
        // commands open the keystore several times.
        static STORE: std::sync::Mutex<Option<Arc<CredentialStore>>> = std::sync::Mutex::new(None);
        let mut cached = STORE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = cached.as_ref() {
            return Ok(OsStore {
                store: store.clone(),
                service,
            });
        }
        // Any failure to connect means there is no keychain to talk to (on
        // Linux: no session bus, or nobody provides org.freedesktop.secrets).
        let store = with_deadline(platform::store)?.map_err(|e| match e {
            KError::NoStorageAccess(_) => map_error(e),
            other => Error::KeystoreUnavailable {
                backend: platform::NAME,
                why: other.to_string(),
            },
        })?;
        *cached = Some(store.clone());
        Ok(OsStore { store, service })
    }

    fn entry(&self, account: &Account) -> Result<keyring_core::Entry> {
        let account = account.to_string();
        let label = format!("docker-tlsctx {account}");
        let mods = platform::modifiers(&label);
        let mods_ref: HashMap<&str, &str> = mods.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let m = if mods_ref.is_empty() {
            None
        } else {
            Some(&mods_ref)
        };
        self.store
            .build(self.service, &account, m)
            .map_err(map_error)
    }
}

impl KeyStore for OsStore {
    fn backend(&self) -> Backend {
        Backend::Os
    }

    fn describe(&self) -> String {
        format!("the OS keychain ({})", platform::NAME)
    }

    fn set(&self, account: &Account, secret: &[u8]) -> Result<()> {
        let entry = self.entry(account)?;
        let secret = secret.to_vec();
        with_deadline(move || entry.set_secret(&secret))?.map_err(map_error)
    }

    fn get(&self, account: &Account) -> Result<Option<Vec<u8>>> {
        let entry = self.entry(account)?;
        match with_deadline(move || entry.get_secret())? {
            Ok(s) => Ok(Some(s)),
            Err(KError::NoEntry) => Ok(None),
            Err(e) => Err(map_error(e)),
        }
    }

    fn delete(&self, account: &Account) -> Result<bool> {
        let entry = self.entry(account)?;
        match with_deadline(move || entry.delete_credential())? {
            Ok(()) => Ok(true),
            Err(KError::NoEntry) => Ok(false),
            Err(e) => Err(map_error(e)),
        }
    }
}

/// keyring-core's errors, mapped to the user's situation.
fn map_error(e: KError) -> Error {
    match e {
        KError::NoStorageAccess(inner) => Error::KeychainLocked {
            backend: platform::NAME,
            why: inner.to_string(),
        },
        KError::NoDefaultStore => Error::KeystoreUnavailable {
            backend: platform::NAME,
            why: "no credential store is available on this system".into(),
        },
        other => Error::KeystoreFailed {
            backend: platform::NAME,
            why: other.to_string(),
        },
    }
}

/// Which OS keychain this build talks to: the one place the platforms are
/// told apart, so what names or explains a keychain (`explain`) matches on
/// it instead of repeating the cfg list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    SecretService,
    MacosKeychain,
    CredentialManager,
    /// An OS with no supported keychain.
    None,
}

/// This build's keychain.
pub const KIND: Kind = platform::KIND;

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
mod platform {
    //! Linux and BSDs: the Secret Service over D-Bus (gnome-keyring, KWallet),
    //! through zbus, pure Rust. Never the kernel keyring (keyutils): it is
    //! lost at reboot, no home for a CA key.
    use super::*;

    pub const NAME: &str = "Secret Service (D-Bus)";
    pub const KIND: super::Kind = super::Kind::SecretService;

    pub fn store() -> keyring_core::Result<Arc<CredentialStore>> {
        let s: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
        Ok(s)
    }

    /// A readable label in Seahorse and `secret-tool`.
    pub fn modifiers(label: &str) -> Vec<(&'static str, String)> {
        vec![("label", label.to_string())]
    }
}

#[cfg(target_os = "macos")]
mod platform {
    //! macOS: the login Keychain (Security framework).
    use super::*;

    pub const NAME: &str = "macOS login Keychain";
    pub const KIND: super::Kind = super::Kind::MacosKeychain;

    pub fn store() -> keyring_core::Result<Arc<CredentialStore>> {
        let s: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
        Ok(s)
    }

    pub fn modifiers(_label: &str) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

#[cfg(target_os = "windows")]
mod platform {
    //! Windows: Credential Manager. Blobs are capped at 2,560 bytes
    //! (CRED_MAX_CREDENTIAL_BLOB_SIZE), so keys are stored as DER, not PEM.
    use super::*;

    pub const NAME: &str = "Windows Credential Manager";
    pub const KIND: super::Kind = super::Kind::CredentialManager;

    pub fn store() -> keyring_core::Result<Arc<CredentialStore>> {
        let s: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
        Ok(s)
    }

    pub fn modifiers(_label: &str) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "windows"
)))]
mod platform {
    use super::*;

    pub const NAME: &str = "OS keychain";
    pub const KIND: super::Kind = super::Kind::None;

    pub fn store() -> keyring_core::Result<Arc<CredentialStore>> {
        Err(keyring_core::Error::NoDefaultStore)
    }

    pub fn modifiers(_label: &str) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}
