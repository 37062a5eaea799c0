//! `rm NAME`: a context, its identity record, its keys and its server
//! bundle. A journal entry written first lets the next command finish a
//! removal cut short (recover.rs), so no part is left that no command can
//! remove.

use crate::error::{Error, Result};
use crate::issuance::{identities::client, server, Env};
use crate::keystore::{self, Account};
use crate::names;
use crate::state::Journal;

/// Removes what `name` has; returns what went, one phrase each, in order.
pub fn context(env: &Env, name: &str, force: bool) -> Result<Vec<String>> {
    names::validate_context(name)?;
    let state = env.state();
    let contexts = env.contexts();
    let ours = state.identity(name)?.is_some()
        || state.server(name)?.is_some()
        || state.request(name)?.is_some();
    if !ours {
        return Err(if contexts.exists(name) {
            // Docker's own, or another tool's: not ours to delete.
            Error::ContextNotOurs(name.into())
        } else {
            Error::ContextMissing(name.into())
        });
    }
    let current = env.config().current()?.as_deref() == Some(name);
    if current && !force {
        return Err(Error::ContextInUse(name.into()));
    }
    env.check_cancelled()?;
    let journal = Journal::Remove {
        pid: std::process::id(),
        context: name.into(),
    };
    state.open_journal(&journal)?;
    let removed = finish(env, name)?;
    state.close_journal();
    Ok(removed)
}

/// Every step of a removal, each one done only if still needed, so it can
/// run again after any of them (ARCHITECTURE.md, "Write and commit order").
pub fn finish(env: &Env, name: &str) -> Result<Vec<String>> {
    let state = env.state();
    let contexts = env.contexts();
    let config = env.config();
    let mut removed = Vec::new();
    // Docker first: from here on Docker no longer offers the context.
    if contexts.exists(name) || contexts.tls_dir(name).exists() {
        contexts.remove(name)?;
        removed.push(format!("context {name:?}"));
    }
    if config.current()?.as_deref() == Some(name) {
        config.clear_current()?;
    }
    if let Some(rec) = state.identity(name)? {
        // The key before the record: the record says which keystore holds it.
        let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
        ks.delete(&client::account(name))?;
        state.remove_identity(name)?;
        removed.push(format!(
            "identity record and client key ({} keystore)",
            rec.keystore
        ));
    }
    // A pending request: its key (made for it alone) before its record.
    if let Some(r) = state.request(name)? {
        if r.account == Account::Request(name.into()).to_string() {
            let ks = keystore::open_recorded(r.keystore, &env.config_dir)?;
            ks.delete(&Account::Request(name.into()))?;
        }
        state.remove_request(name)?;
        removed.push(format!(
            "pending request (its key in the {} keystore)",
            r.keystore
        ));
    }
    if let Some(s) = state.server(name)? {
        let ks = keystore::open_recorded(s.keystore, &env.config_dir)?;
        ks.delete(&server::account(&s.name))?;
        let dir = state.server_dir(&s);
        state.remove_server(&s)?;
        let what = if s.purpose.is_daemon() {
            "server bundle"
        } else {
            "service certificate"
        };
        removed.push(format!("{what} {} and its key", dir.display()));
    }
    Ok(removed)
}
