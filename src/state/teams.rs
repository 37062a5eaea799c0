//! Records of the request → sign → accept flow (ARCHITECTURE.md, "Teams"):
//! a requester's pending requests (`tlsctx/requests/NAME.json`) and what a
//! signer signed (`tlsctx/cas/CA/signed/SERIAL.json`, beside the CA, so
//! `revoke` and `ca issued` find it).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{check_name, check_own, is_false, list_json, read_record, write_json, Checked, State};
use crate::docker::host::Host;
use crate::error::Result;
use crate::fsio::{self, PUBLIC_DIR};
use crate::keystore::Backend;
use crate::pki::{KeyType, Role};

/// A request made here and not yet accepted: its key is in the keystore
/// under `account`, never in a file.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct PendingRequest {
    pub name: String,
    pub host: Host,
    pub cn: String,
    /// The role asked for (the signer decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    pub key_type: KeyType,
    pub keystore: Backend,
    /// The keystore account holding the key: `request/NAME` for a new key,
    /// `client/NAME` for a renewal that keeps the context's key.
    pub account: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub keychain_only: bool,
    pub spki_sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// A renewal of the identity NAME (its context stays in use until the
    /// response is accepted).
    #[serde(default, skip_serializing_if = "is_false")]
    pub renewal: bool,
}

/// A certificate `sign` issued for someone else's key.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SignedRecord {
    /// The requester's name for it (the envelope's), or the CN.
    pub name: String,
    pub ca: String,
    pub cn: String,
    pub role: Role,
    pub serial: String,
    pub key: String,
    pub spki_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// How an issuer's token is had.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IssuerAuth {
    /// A token: kept in the keystore, or read from BAO_TOKEN / VAULT_TOKEN.
    Token,
    /// AppRole: the role_id here, the secret_id in the keystore; a token
    /// per run from auth/approle/login.
    Approle,
}

/// A Vault/OpenBao PKI mount used as a CA (`issuer add`); its CA's record
/// has the same name. No secret is in it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct IssuerRecord {
    pub name: String,
    /// https://HOST[:PORT]
    pub url: String,
    pub mount: String,
    pub client_role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_role: Option<String>,
    pub auth: IssuerAuth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
    /// Which keystore holds `issuer/<name>`, when a secret was given.
    pub keystore: Backend,
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret_stored: bool,
    /// The engine's TLS CA was given (--ca-file), kept beside the record.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_ca: bool,
}

impl Checked for IssuerRecord {
    fn check(&self, expected: &str) -> std::result::Result<(), String> {
        check_own(&self.name, expected)?;
        // Words that become URL paths: the same rules as when typed.
        if !crate::vault::valid_url(&self.url)
            || !crate::vault::valid_path(&self.mount, true)
            || !crate::vault::valid_path(&self.client_role, false)
            || self
                .server_role
                .as_deref()
                .is_some_and(|r| !crate::vault::valid_path(r, false))
        {
            return Err("its address, mount or roles are not valid".into());
        }
        Ok(())
    }
}

impl Checked for PendingRequest {
    fn check(&self, expected: &str) -> std::result::Result<(), String> {
        check_own(&self.name, expected)?;
        // The account is read from the keystore: only the two shapes made.
        if self.account != format!("request/{}", self.name)
            && self.account != format!("client/{}", self.name)
        {
            return Err(format!(
                "its keystore account {:?} is not its own",
                self.account
            ));
        }
        Ok(())
    }
}

impl Checked for SignedRecord {
    fn check(&self, expected: &str) -> std::result::Result<(), String> {
        check_name("ca", &self.ca)?;
        if self.serial != expected || !self.serial.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("its serial {:?} is not its file's", self.serial));
        }
        Ok(())
    }
}

impl State {
    pub fn issuer_dir(&self, name: &str) -> PathBuf {
        self.root.join("issuers").join(name)
    }

    pub fn issuer(&self, name: &str) -> Result<Option<IssuerRecord>> {
        crate::names::validate("issuer", name)?;
        read_record(&self.issuer_dir(name).join("issuer.json"), name)
    }

    pub fn write_issuer(&self, r: &IssuerRecord, tls_ca_pem: Option<&str>) -> Result<()> {
        let dir = self.issuer_dir(&r.name);
        fsio::create_dir_all(&dir, PUBLIC_DIR)?;
        if let Some(pem) = tls_ca_pem {
            fsio::write_public(&dir.join("tls-ca.pem"), pem.as_bytes())?;
        }
        write_json(&dir.join("issuer.json"), r)
    }

    fn request_path(&self, name: &str) -> PathBuf {
        self.root.join("requests").join(format!("{name}.json"))
    }

    pub fn request(&self, name: &str) -> Result<Option<PendingRequest>> {
        crate::names::validate("request", name)?;
        read_record(&self.request_path(name), name)
    }

    pub fn requests(&self) -> Result<Vec<PendingRequest>> {
        Ok(list_json(&self.root.join("requests"))?.0)
    }

    pub fn write_request(&self, r: &PendingRequest) -> Result<()> {
        let path = self.request_path(&r.name);
        fsio::create_dir_all(path.parent().unwrap(), PUBLIC_DIR)?;
        write_json(&path, r)
    }

    pub fn remove_request(&self, name: &str) -> Result<()> {
        fsio::remove_file(&self.request_path(name))
    }

    fn signed_dir(&self, ca: &str) -> PathBuf {
        self.ca_dir(ca).join("signed")
    }

    /// Every certificate `sign` issued with CA `ca`.
    pub fn signed(&self, ca: &str) -> Result<Vec<SignedRecord>> {
        crate::names::validate("ca", ca)?;
        Ok(list_json(&self.signed_dir(ca))?.0)
    }

    pub fn write_signed(&self, r: &SignedRecord) -> Result<()> {
        crate::names::validate("ca", &r.ca)?;
        let dir = self.signed_dir(&r.ca);
        fsio::create_dir_all(&dir, PUBLIC_DIR)?;
        write_json(&dir.join(format!("{}.json", r.serial)), r)
    }
}
