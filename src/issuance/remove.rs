//! `rm NAME`: a context, its identity record, its keys and its server bundle.

use super::{check_cancelled, client, server, Env};
use crate::error::{Error, Result};
use crate::keystore;
use crate::names;

/// What was removed, one phrase each, in the order it went.
pub fn context(env: &Env, name: &str, force: bool) -> Result<Vec<String>> {
    names::validate_context(name)?;
    let state = env.state();
    let contexts = env.contexts();
    let config = env.config();
    let rec = state.identity(name)?;
    if rec.is_none() && !contexts.exists(name) {
        return Err(Error::ContextMissing(name.into()));
    }
    let current = config.current()?.as_deref() == Some(name);
    if current && !force {
        return Err(Error::ContextInUse(name.into()));
    }
    check_cancelled()?;
    // Docker first: from here on Docker no longer offers the context.
    contexts.remove(name)?;
    if current {
        config.clear_current()?;
    }
    let mut removed = vec![format!("context {name:?}")];
    if let Some(rec) = rec {
        let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
        ks.delete(&client::account(name))?;
        state.remove_identity(name)?;
        removed.push(format!(
            "identity record and client key ({} keystore)",
            rec.keystore
        ));
    }
    if let Some(s) = state.server(name)? {
        let ks = keystore::open_recorded(s.keystore, &env.config_dir)?;
        ks.delete(&server::account(&s.name))?;
        state.remove_server(&s)?;
        removed.push(format!("server bundle {} and its key", s.dir.display()));
    }
    Ok(removed)
}
