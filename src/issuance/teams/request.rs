//! The requester's side of the team flow (ARCHITECTURE.md, "Teams"):
//! `request` makes a key in the keystore and a PKCS#10 request for it;
//! `accept` checks the signer's response against that key and the CA the
//! user confirms, then writes the context as `new` does. The key never
//! leaves the keystore (and the context's key.pem, unless keychain-only).

use std::path::Path;

use crate::csr::{self, RequestEnvelope};
use crate::docker::context::NewContext;
use crate::docker::host::Host;
use crate::environment::Var;
use crate::error::{Error, MissingKey, Result};
use crate::fsio;
use crate::issuance::{identities::client, Env};
use crate::keystore::{self, Account};
use crate::names;
use crate::pki::{self, CertInfo, KeyType, Role};
use crate::state::{CaRecord, IdentityRecord, Journal, PendingRequest};
use crate::text::{rfc3339, sha256_hex};

/// What `request NAME` asks for.
pub struct Ask<'a> {
    pub name: &'a str,
    pub host: &'a str,
    pub cn: Option<&'a str>,
    pub role: Option<Role>,
    pub key_type: KeyType,
    pub keychain_only: bool,
    /// Where the request file goes; None: returned only (`--out -`).
    pub out: Option<&'a Path>,
    /// Replace a pending request of that name (its key goes).
    pub force: bool,
}

/// What `request` made.
pub struct Requested {
    pub pending: PendingRequest,
    /// The request file's text (PEM request and envelope).
    pub text: String,
}

/// The CN a request asks for unless told: the login name (what dockerd's
/// logs and the plugin will show), else the context's name.
fn default_cn(name: &str) -> String {
    [Var::User, Var::Username, Var::Logname]
        .iter()
        .filter_map(|v| crate::environment::var(*v).ok())
        .find(|u| names::validate_cn(u).is_ok() && names::is_valid(u))
        .unwrap_or_else(|| name.to_string())
}

pub fn request(env: &Env, ask: &Ask<'_>) -> Result<Requested> {
    names::validate_context(ask.name)?;
    let host = Host::parse(ask.host, false)?;
    let cn = ask
        .cn
        .map(str::to_string)
        .unwrap_or_else(|| default_cn(ask.name));
    names::validate_cn(&cn)?;
    let state = env.state();
    if state.identity(ask.name)?.is_some() || env.contexts().exists(ask.name) {
        return Err(Error::RequestPending(ask.name.into()));
    }
    let earlier = state.request(ask.name)?;
    if earlier.is_some() && !ask.force {
        return Err(Error::RequestPending(ask.name.into()));
    }
    if let Some(out) = ask.out {
        if std::fs::symlink_metadata(out).is_ok() && !ask.force {
            return Err(Error::FileExists(out.into()));
        }
    }
    let ks = env.keystore()?;
    let key_der = pki::new_key_der(ask.key_type)?;
    let spki = pki::spki_sha256_of_key(&key_der)?;
    let csr = crate::csr::csr_pem(&key_der, &cn)?;
    let created = env.now;
    let envelope = RequestEnvelope::new(ask.name, &host.url(), ask.role, &spki, &rfc3339(created));
    let text = csr::request_text(&csr, &envelope);
    let account = Account::Request(ask.name.into());
    let pending = PendingRequest {
        name: ask.name.into(),
        host,
        cn,
        role: ask.role,
        key_type: ask.key_type,
        keystore: ks.backend(),
        account: account.to_string(),
        keychain_only: ask.keychain_only,
        spki_sha256: spki,
        created,
        renewal: false,
    };
    env.check_cancelled()?;
    // The record first, then the key: a kill between them leaves a
    // pending request without a key (`request --force` replaces it), never
    // a key nothing names.
    state.write_request(&pending)?;
    if let Err(e) = ks.set(&account, &key_der) {
        let _ = state.remove_request(ask.name);
        return Err(e);
    }
    if let Some(out) = ask.out {
        if let Err(e) = fsio::write_public(out, text.as_bytes()) {
            let _ = ks.delete(&account);
            let _ = state.remove_request(ask.name);
            return Err(e);
        }
    }
    Ok(Requested { pending, text })
}

/// `renew NAME` for an identity whose CA is someone else's: a request for
/// the same key, marked as a renewal; the context keeps working until its
/// response is accepted.
pub fn renewal(env: &Env, name: &str, out: Option<&Path>) -> Result<Requested> {
    let state = env.state();
    let rec = state
        .identity(name)?
        .ok_or_else(|| Error::IdentityNotFound(name.into()))?;
    let Some(host) = rec.host.clone() else {
        return Err(Error::IdentityNotFound(name.into()));
    };
    if let Some(out) = out {
        if std::fs::symlink_metadata(out).is_ok() {
            return Err(Error::FileExists(out.into()));
        }
    }
    let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
    let account = client::account(name);
    let key_der = ks.get(&account)?.ok_or_else(|| Error::KeyMissing {
        of: MissingKey::IdentityRequested {
            name: name.into(),
            host: host.url(),
        },
        backend: rec.keystore.to_string(),
    })?;
    let spki = pki::spki_sha256_of_key(&key_der)?;
    let csr = crate::csr::csr_pem(&key_der, &rec.cn)?;
    let mut envelope =
        RequestEnvelope::new(name, &host.url(), Some(rec.role), &spki, &rfc3339(env.now));
    envelope.renewal = true;
    let text = csr::request_text(&csr, &envelope);
    let pending = PendingRequest {
        name: name.into(),
        host,
        cn: rec.cn.clone(),
        role: Some(rec.role),
        key_type: rec.key_type,
        keystore: rec.keystore,
        account: account.to_string(),
        keychain_only: rec.keychain_only,
        spki_sha256: spki,
        created: env.now,
        renewal: true,
    };
    state.write_request(&pending)?;
    if let Some(out) = out {
        fsio::write_public(out, text.as_bytes())?;
    }
    Ok(Requested { pending, text })
}

/// What `accept` asks for.
pub struct Accept<'a> {
    pub response: &'a [u8],
    /// `--ca-fingerprint`: the CA's SHA-256, as the signer read it out.
    pub ca_fingerprint: Option<&'a str>,
    pub use_it: bool,
    /// Asked (fingerprint, CA subject) when the CA is new here and no
    /// fingerprint was given; false refuses.
    pub confirm_ca: &'a dyn Fn(&str, &str) -> bool,
}

/// What `accept` did.
pub struct Accepted {
    pub identity: IdentityRecord,
    pub ca: CaRecord,
    pub ca_is_new: bool,
    pub renewal: bool,
}

/// "AB:CD…" or "abcd…" → "abcd…".
fn normal_fingerprint(s: &str) -> String {
    s.chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

pub fn accept(env: &Env, a: &Accept<'_>) -> Result<Accepted> {
    let r = csr::read_response(a.response)?;
    let cert = CertInfo::from_der(&r.cert_der)?;
    let ca = CertInfo::from_der(&r.ca_der)?;
    let refused = |why: &str| Error::ResponseRefused(why.into());
    let state = env.state();
    let spki = sha256_hex(&cert.spki_der);
    let pending = state
        .requests()?
        .into_iter()
        .find(|p| p.spki_sha256 == spki)
        .ok_or_else(|| {
            refused("its certificate is for a key none of your pending requests holds (someone else's response, or a request replaced since)")
        })?;
    if let Some(given) = a.ca_fingerprint {
        let given = normal_fingerprint(given);
        if given != ca.sha256 {
            return Err(Error::CaFingerprintMismatch {
                given,
                actual: ca.sha256.clone(),
            });
        }
    }
    pki::check_client_chain(&r.cert_der, &r.ca_der, env.now).map_err(|why| refused(&why))?;
    // The signer chose the CN: it is held to the rules a CN made here
    // follows (NFC, no invisible or mixed-up characters), and must not
    // look like another live identity of the same CA here, which dockerd's
    // logs and the plugin could not tell apart (issue 30).
    // One CN and one role OU, as the plugin reads them: Go (dockerd's
    // logs, an authorization plugin's User) takes the last CN, the first
    // is what is checked here (found by review: CN=carol, CN=bob).
    if !matches!(cert.role_claim, pki::RoleClaim::Client(_)) {
        let why = match &cert.role_claim {
            pki::RoleClaim::Ambiguous(why) => why.clone(),
            _ => "it carries no role OU".into(),
        };
        return Err(refused(&format!(
            "its subject cannot be read as one person with one role: {why}"
        )));
    }
    names::validate_cn(&cert.subject_cn).map_err(|e| {
        let why = match e {
            Error::CnInvalid(why) => why,
            other => other.to_string(),
        };
        refused(&format!(
            "the CN it was signed for cannot be used here: {why}"
        ))
    })?;
    let known = state.cas()?.into_iter().find(|c| c.sha256 == ca.sha256);
    if let Some(k) = &known {
        crate::issuance::check_cn_free_here(env, &k.name, &cert.subject_cn, &pending.name).map_err(
            |e| match e {
                Error::CnInUse { by, ca, .. } => refused(&format!(
                    "its CN {:?} reads as that of {by}, a live identity of CA {ca:?} here (case, composition and look-alike letters of other scripts do not tell people apart in dockerd's logs or the plugin)",
                    cert.subject_cn
                )),
                other => other,
            },
        )?;
    }
    let before = if pending.renewal {
        let rec = state
            .identity(&pending.name)?
            .ok_or_else(|| Error::IdentityNotFound(pending.name.clone()))?;
        if known.as_ref().map(|k| &k.name) != Some(&rec.ca) {
            return Err(refused(
                "it was signed by another CA than the one the identity it renews has",
            ));
        }
        Some(rec)
    } else {
        // A CA already recorded here is confirmed again too: a signer
        // trusted once for one daemon must not answer a request meant for
        // another person (its CA would become that host's trust).
        if a.ca_fingerprint.is_none() && !(a.confirm_ca)(&ca.sha256, &ca.subject) {
            return Err(Error::NeedsConfirmation {
                what: format!(
                    "the CA {:?} (SHA-256 {}) must be confirmed with the owner you sent the request to",
                    ca.subject, ca.sha256
                ),
                flag: "--ca-fingerprint SHA256".into(),
            });
        }
        if state.identity(&pending.name)?.is_some() || env.contexts().exists(&pending.name) {
            return Err(Error::ContextExists(pending.name.clone()));
        }
        None
    };
    let ks = keystore::open_recorded(pending.keystore, &env.config_dir)?;
    let from = if pending.renewal {
        client::account(&pending.name)
    } else {
        Account::Request(pending.name.clone())
    };
    let key_der = ks.get(&from)?.ok_or_else(|| Error::KeyMissing {
        of: MissingKey::PendingRequest {
            name: pending.name.clone(),
            host: pending.host.url(),
        },
        backend: pending.keystore.to_string(),
    })?;
    if !pki::key_matches_cert(&key_der, &r.cert_pem)? {
        return Err(refused("its certificate is not for the pending key"));
    }
    // The CA, known from now on by its fingerprint (its key stays with
    // its owner).
    let (ca_rec, ca_is_new) = match known {
        Some(k) => (k, false),
        None => {
            let name = format!("ext-{}", &ca.sha256[..12]);
            // Another CA under that name (a 48-bit prefix collision, made
            // on purpose) must not be replaced.
            if state.ca(&name)?.is_some() {
                return Err(refused(&format!(
                    "a different CA is already recorded as {name:?}"
                )));
            }
            let rec = CaRecord {
                name,
                cn: ca.subject_cn.clone(),
                key_type: pki::KeyKind::from_name(&ca.key_type),
                created: env.now,
                not_after: ca.not_after,
                sha256: ca.sha256.clone(),
                keystore: pending.keystore,
                external: true,
                issuer: None,
            };
            (rec, true)
        }
    };
    let key_pem = pki::key_pem_from_der(&key_der);
    let record = IdentityRecord {
        name: pending.name.clone(),
        context: Some(pending.name.clone()),
        host: Some(pending.host.clone()),
        out: None,
        description: before.as_ref().and_then(|b| b.description.clone()),
        ca: ca_rec.name.clone(),
        cn: cert.subject_cn.clone(),
        serial: cert.serial_hex.clone(),
        key_type: pending.key_type,
        role: cert.role,
        not_before: cert.not_before,
        not_after: cert.not_after,
        keystore: pending.keystore,
        key_pem_sha256: (!pending.keychain_only).then(|| sha256_hex(key_pem.as_bytes())),
        keychain_only: pending.keychain_only,
        cert_pem_sha256: None,
        superseded: Vec::new(),
    };
    env.check_cancelled()?;
    if ca_is_new {
        state.write_ca(&ca_rec, &r.ca_pem)?;
    }
    let url = pending.host.url();
    let socket = if pending.keychain_only {
        Some(crate::docker::endpoint::prepare_socket_url(
            &env.config_dir,
            &pending.name,
        )?)
    } else {
        None
    };
    let keychain_description = socket
        .as_ref()
        .map(|_| crate::docker::endpoint::description(&url));
    let description = record.description.clone().or(keychain_description);
    let to = client::account(&pending.name);
    let moving = from != to;
    // One transaction (ARCHITECTURE.md, "Write and commit order"), as
    // `new` (first acceptance: the key is copied to the context's account,
    // undone on failure) or `renew` (the context swapped in one step).
    let journal = Journal::Context {
        pid: std::process::id(),
        context: pending.name.clone(),
        record: record.clone(),
        cert_pem: r.cert_pem.clone(),
        added: if moving {
            vec![to.to_string()]
        } else {
            Vec::new()
        },
        server: None,
        use_context: a.use_it,
        supersede: Vec::new(),
    };
    let contexts = env.contexts();
    crate::issuance::transaction(
        env,
        &journal,
        || crate::issuance::identities::identity::settle(env, &journal),
        || {
            if moving {
                ks.set(&to, &key_der)?;
            }
            match &socket {
                Some(socket) => {
                    if !pending.renewal {
                        contexts.write_plain(
                            &pending.name,
                            description.as_deref(),
                            socket,
                            false,
                            || env.check_cancelled(),
                        )?
                    }
                }
                None => contexts.write(
                    &NewContext {
                        name: &pending.name,
                        description: description.as_deref(),
                        host: &url,
                        ca_pem: &r.ca_pem,
                        cert_pem: &r.cert_pem,
                        key_pem: &key_pem,
                    },
                    pending.renewal,
                    || env.check_cancelled(),
                )?,
            }
            state.write_identity(&record, &r.cert_pem)?;
            if a.use_it {
                env.config().use_context(&pending.name)?;
            }
            Ok(())
        },
    )?;
    // Done with the request: its record, and the key's copy under
    // request/ (the context's account holds it now).
    if moving {
        let _ = ks.delete(&from);
    }
    state.remove_request(&pending.name)?;
    Ok(Accepted {
        identity: record,
        ca: ca_rec,
        ca_is_new,
        renewal: pending.renewal,
    })
}

/// Whether an identity's CA is someone else's (its renewal is a request).
pub fn signed_elsewhere(env: &Env, rec: &IdentityRecord) -> bool {
    env.state()
        .ca(&rec.ca)
        .ok()
        .flatten()
        .is_some_and(|(c, _)| c.external && c.issuer.is_none())
}
