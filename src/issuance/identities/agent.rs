//! `agent adopt NAME`: an existing context becomes keychain-only
//! (ARCHITECTURE.md, "The agent"): it points Docker at the agent's socket
//! and its TLS folder, key.pem included, goes.

use crate::docker::endpoint;
use crate::error::{Error, Result};
use crate::issuance::{identities::identity, Env};
use crate::names;
use crate::pki;
use crate::state::{IdentityRecord, Journal};

/// One transaction (journal `context`, with a keychain-only record): the
/// keystore must already hold the key the context's key.pem has; then the
/// context is rewritten (meta.json, the commit point, then the TLS folder
/// goes) and the record says keychain-only.
pub fn adopt(env: &Env, name: &str) -> Result<IdentityRecord> {
    names::validate_context(name)?;
    let contexts = env.contexts();
    if !contexts.exists(name) {
        return Err(Error::ContextMissing(name.into()));
    }
    // The keystore's copy, checked against the record's certificate.
    let (rec, m) = identity::load_with_record(env, name)?;
    if rec.keychain_only {
        // Already keychain-only: make sure it points at the socket where
        // it goes now (an older version's /tmp path could be another
        // user's: ARCHITECTURE.md, "The agent"); restore rewrites it.
        let socket = endpoint::socket_url(&env.config_dir, name)?;
        if contexts.host(name)?.as_deref() == Some(socket.as_str()) {
            return Ok(rec);
        }
        return identity::restore(env, name, true).map(|(rec, _)| rec);
    }
    let on_disk = std::fs::read_to_string(contexts.tls_dir(name).join("docker/key.pem")).ok();
    if let Some(pem) = on_disk {
        let der = pki::parse_private_key_pem(&pem).ok();
        if der.as_deref() != Some(m.key_der.as_slice()) {
            return Err(Error::Corrupt {
                path: contexts.tls_dir(name).join("docker/key.pem"),
                why: "the context's key.pem is not the key in the keystore, so removing it could lose the key Docker uses".into(),
            });
        }
    }
    let socket = endpoint::prepare_socket_url(&env.config_dir, name)?;
    let mut after = rec.clone();
    after.keychain_only = true;
    after.key_pem_sha256 = None;
    if after.description.is_none() {
        after.description = Some(endpoint::description(&m.host.url()));
    }
    let journal = Journal::Context {
        pid: std::process::id(),
        context: name.into(),
        record: after.clone(),
        cert_pem: m.cert_pem.clone(),
        added: Vec::new(),
        server: None,
        use_context: false,
        supersede: Vec::new(),
    };
    let state = env.state();
    crate::issuance::transaction(
        env,
        &journal,
        || identity::settle(env, &journal),
        || {
            contexts.write_plain(name, after.description.as_deref(), &socket, true, || {
                env.check_cancelled()
            })?;
            state.write_identity(&after, &m.cert_pem)
        },
    )?;
    Ok(after)
}
