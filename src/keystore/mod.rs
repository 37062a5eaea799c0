//! Where private keys live. Commands talk to the `KeyStore` trait only; the
//! backend is chosen in one place (`open`), so the OS-keychain backends slot in
//! without touching the commands.
//!
//! Accounts (DESIGN §9): `ca/<ca>`, `client/<identity>`, `server/<name>`,
//! each holding the PKCS#8 DER of a private key (DER rather than PEM text:
//! Windows Credential Manager caps a blob at 2,560 bytes).

pub mod file;

use std::path::Path;

use crate::error::{Error, Result};

pub trait KeyStore {
    /// The backend's name as recorded in ca.json and identity records.
    fn backend(&self) -> &'static str;
    /// Where a user finds the keys (a folder, or the keychain's name).
    fn location(&self) -> String;
    fn set(&self, account: &str, secret: &[u8]) -> Result<()>;
    /// `Ok(None)` when there is no such entry.
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>>;
    /// `Ok(false)` when there was no such entry.
    fn delete(&self, account: &str) -> Result<bool>;
}

/// The user's choice: `--keystore` or `DOCKER_TLSCTX_KEYSTORE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Auto,
    File,
}

impl std::str::FromStr for Choice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Choice::Auto),
            "file" => Ok(Choice::File),
            "os" => Err("the OS keychain backend (--keystore os) is not available in this build yet; use auto or file".into()),
            _ => Err(format!("unknown keystore {s:?}; choose auto or file")),
        }
    }
}

impl Choice {
    pub fn from_env() -> Result<Choice> {
        match std::env::var("DOCKER_TLSCTX_KEYSTORE") {
            Ok(v) if !v.is_empty() => v.parse().map_err(|why| Error::KeystoreUnavailable {
                backend: "DOCKER_TLSCTX_KEYSTORE",
                why,
            }),
            _ => Ok(Choice::Auto),
        }
    }
}

/// Opens the backend for `choice`. Today `auto` means the file store: the OS
/// keychain backends arrive with the keychain issue.
pub fn open(choice: Choice, config_dir: &Path) -> Result<Box<dyn KeyStore>> {
    match choice {
        Choice::Auto | Choice::File => Ok(Box::new(file::FileStore::new(config_dir))),
    }
}

/// Opens the backend a record names (ca.json, identity records), so a key is
/// found where it was put even if the default changed since.
pub fn open_recorded(backend: &str, config_dir: &Path) -> Result<Box<dyn KeyStore>> {
    match backend {
        file::BACKEND => Ok(Box::new(file::FileStore::new(config_dir))),
        other => Err(Error::KeystoreUnavailable {
            backend: "recorded",
            why: format!("this build does not know the {other:?} keystore"),
        }),
    }
}

#[cfg(test)]
pub mod memory {
    //! An in-memory store for unit tests of the logic above the trait.
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    #[derive(Default)]
    pub struct MemoryStore(pub RefCell<BTreeMap<String, Vec<u8>>>);

    impl KeyStore for MemoryStore {
        fn backend(&self) -> &'static str {
            "memory"
        }
        fn location(&self) -> String {
            "memory".into()
        }
        fn set(&self, account: &str, secret: &[u8]) -> Result<()> {
            self.0.borrow_mut().insert(account.into(), secret.to_vec());
            Ok(())
        }
        fn get(&self, account: &str) -> Result<Option<Vec<u8>>> {
            Ok(self.0.borrow().get(account).cloned())
        }
        fn delete(&self, account: &str) -> Result<bool> {
            Ok(self.0.borrow_mut().remove(account).is_some())
        }
    }
}
