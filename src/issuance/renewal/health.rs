//! The expiry policy and an identity's health, as `ls`, `inspect`, the
//! warnings before every command and Docker's hooks see them.
//!
//! dockerd has no revocation and reads its certificate only at start, so
//! short lifetimes, visible expiry and one-command renewal are the safety net.

use serde::Serialize;
use time::OffsetDateTime;

use crate::issuance::Env;
use crate::pki;
use crate::state::IdentityRecord;
use crate::text::{date, sha256_hex};

/// An identity's state, from ls's point of view.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "why")]
pub enum Health {
    Ok,
    RenewSoon,
    Expired,
    Revoked,
    Broken(String),
}

impl Health {
    pub fn label(&self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::RenewSoon => "renew soon",
            Health::Expired => "expired",
            Health::Revoked => "revoked",
            Health::Broken(_) => "broken",
        }
    }

    /// The label, with the reason when broken.
    pub fn describe(&self) -> String {
        match self {
            Health::Broken(why) => format!("broken: {why}"),
            other => other.label().to_string(),
        }
    }
}

/// Renewal is due once a third of the lifetime remains (ARCHITECTURE.md,
/// "Numbers"): 30 days of a 90-day certificate, about four months of a
/// 397-day one.
pub fn expiry(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Health {
    if now >= not_after {
        Health::Expired
    } else if (not_after - now) * 3 < (not_after - not_before) {
        Health::RenewSoon
    } else {
        Health::Ok
    }
}

pub fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (not_after - now).whole_days()
}

/// Checks what Docker will use: the context exists, its TLS files are there,
/// the certificate is the recorded one and the key belongs to it. Reads
/// files only: no keychain, so `ls` stays fast with a thousand contexts.
pub fn health(env: &Env, rec: &IdentityRecord) -> Health {
    health_with(env, rec, &|ca, serial| env.state().is_revoked(ca, serial))
}

/// The revoked serials of every CA, read once (`ls` asks for each of a
/// thousand identities; one revoked.json read per CA, not per identity).
pub fn revoked_set(env: &Env) -> std::collections::BTreeSet<(String, String)> {
    let state = env.state();
    let mut set = std::collections::BTreeSet::new();
    for c in state.cas().unwrap_or_default() {
        if let Ok(r) = state.revocations(&c.name) {
            for e in r.entries {
                set.insert((c.name.clone(), e.serial));
            }
        }
    }
    set
}

/// `health`, with the revocation check given (a set read once).
pub fn health_with(
    env: &Env,
    rec: &IdentityRecord,
    is_revoked: &dyn Fn(&str, &str) -> bool,
) -> Health {
    if is_revoked(&rec.ca, &rec.serial) {
        return Health::Revoked;
    }
    let Some(ctx) = rec.context.as_deref() else {
        return expiry(rec.not_before, rec.not_after, env.now);
    };
    let contexts = env.contexts();
    if !contexts.exists(ctx) {
        return Health::Broken(format!(
            "the Docker context is gone (restore it: docker tlsctx restore {ctx})"
        ));
    }
    if rec.keychain_only {
        // No TLS files: the context must point Docker at the agent.
        let socket = crate::docker::endpoint::socket_url(&env.config_dir, ctx).ok();
        if contexts.host(ctx).ok().flatten() != socket {
            return Health::Broken(format!(
                "the context does not point at the agent's socket (restore it: docker tlsctx restore {ctx} --force)"
            ));
        }
        return expiry(rec.not_before, rec.not_after, env.now);
    }
    let dir = contexts.tls_dir(ctx).join("docker");
    // 4 KiB holds an RSA-4096 key.pem (3.2 KB) and any of our cert.pem files.
    let read = |f: &str| {
        crate::fsio::read_small(&dir.join(f), 4096)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(())
    };
    let (Ok(cert), Ok(key), true) = (
        read("cert.pem"),
        read("key.pem"),
        dir.join("ca.pem").is_file(),
    ) else {
        return Health::Broken(format!(
            "TLS files are missing (restore them: docker tlsctx restore {ctx} --force)"
        ));
    };
    // The recorded certificate, byte for byte (both are written from the
    // same text): by its recorded hash, or against the kept copy.
    let same = match &rec.cert_pem_sha256 {
        Some(h) => *h == sha256_hex(cert.as_bytes()),
        None => {
            std::fs::read_to_string(env.state().identity_cert_path(&rec.name)).unwrap_or_default()
                == cert
        }
    };
    if !same {
        return Health::Broken(format!("cert.pem is not the recorded certificate (restore it: docker tlsctx restore {ctx} --force)"));
    }
    // The key by its recorded hash; records without one get the full check.
    let key_ok = match &rec.key_pem_sha256 {
        Some(h) => *h == sha256_hex(key.as_bytes()),
        None => pki::parse_private_key_pem(&key)
            .ok()
            .and_then(|der| pki::key_matches_cert(&der, &cert).ok())
            .unwrap_or(false),
    };
    if !key_ok {
        return Health::Broken(format!(
            "key.pem does not belong to cert.pem (restore it: docker tlsctx restore {ctx} --force)"
        ));
    }
    expiry(rec.not_before, rec.not_after, env.now)
}

/// One line per identity that needs attention, naming the command that fixes it.
pub fn expiry_warnings(env: &Env) -> Vec<String> {
    let Ok(entries) = env.state().expiry_entries() else {
        return Vec::new();
    };
    let state = env.state();
    // A revoked identity needs no renewal reminder; only the few that are
    // due are looked up, so the warnings stay one small read.
    let revoked = |name: &str| {
        state
            .identity(name)
            .ok()
            .flatten()
            .is_some_and(|r| state.is_revoked(&r.ca, &r.serial))
    };
    let warnings: Vec<String> = entries
        .iter()
        .filter_map(|(name, e)| {
            let days = days_left(e.not_after, env.now);
            let fix = match &e.context {
                Some(c) => format!("docker tlsctx renew {c}"),
                None => format!("docker tlsctx client {name} --force"),
            };
            let due = expiry(e.not_before, e.not_after, env.now);
            if matches!(due, Health::Expired | Health::RenewSoon) && revoked(name) {
                return None;
            }
            match due {
                Health::Expired => Some(format!(
                    "identity {name:?} expired on {}; renew it: {fix}",
                    date(e.not_after)
                )),
                Health::RenewSoon => Some(format!(
                    "identity {name:?} expires in {days} days ({}); renew it: {fix}",
                    date(e.not_after)
                )),
                _ => None,
            }
        })
        .collect();
    warnings
}

/// Said under the expiry warnings: whether a scheduler will act on them,
/// and since when it fails (one small file, read only when something is
/// due).
pub fn autorenew_note(env: &Env) -> String {
    let a = env.state().autorenew().ok().flatten();
    crate::issuance::renewal::renew_due::status_line(a.as_ref(), None, env.now)
}

/// Server bundles renewed by `renew --due` that no daemon has yet.
pub fn not_installed_warnings(env: &Env) -> Vec<String> {
    let a = env.state().autorenew().ok().flatten();
    crate::issuance::renewal::renew_due::not_installed_warnings(a.as_ref())
}
