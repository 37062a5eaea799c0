//! What the next command does about one that did not finish (killed, a
//! full disk, a power cut): under the lock, before its own work, it removes
//! staging folders and temporary files, which may hold private-key copies,
//! and finishes or undoes the open transaction in the journal
//! (ARCHITECTURE.md, "One lock, one transaction").

use crate::error::Result;
use crate::fsio;
use crate::issuance::{
    identities::ca, identities::client, identities::identity, identities::remove,
    identities::revoke, server, Env,
};
use crate::state::Journal;

/// Cleans up after dead commands; returns one note per thing it finished or
/// undid (temporary files go silently).
pub fn run(env: &Env) -> Result<Vec<String>> {
    sweep(env);
    let state = env.state();
    let Some(journal) = state.journal()? else {
        return Ok(Vec::new());
    };
    Ok(vec![settle(env, &journal)?])
}

/// Whether process `pid` still runs. Under the lock no other writer runs,
/// so this only spares a reader's temporary expiry index.
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        std::path::Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Removes every staging folder (`tlsctx/tmp/stage-*`: staged contexts hold
/// key.pem) and every temporary sibling of a dead process.
fn sweep(env: &Env) {
    let state = env.state();
    let tmp = state.tmp_dir();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let owner = name
                .strip_prefix("stage-")
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<u32>().ok());
            if owner.is_some_and(|p| p != std::process::id()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let _ = std::fs::remove_dir(&tmp);
    }
    // Every folder a temporary file can be left in: where our files are
    // written in place. Docker's context store is not among them (contexts
    // are built in tlsctx/tmp and renamed in whole), nor are a user's
    // bundle folders outside a journal (their writes are journaled). Kept
    // to a few read_dir calls: this runs before every writing command
    // (bench/run.sh, row 3: 1,000 identities).
    let root = env.config_dir.join("tlsctx");
    let mut dirs = vec![
        env.config_dir.clone(),
        root.clone(),
        root.join("identities"),
        root.join("registry"),
    ];
    for sub in ["keys", "cas", "servers"] {
        if let Ok(entries) = std::fs::read_dir(root.join(sub)) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(e.path());
                    dirs.push(e.path().join("docker.service.d"));
                }
            }
        }
    }
    if let Ok(Some(
        Journal::Context {
            server: Some(plan), ..
        }
        | Journal::Server { plan, .. },
    )) = state.journal()
    {
        dirs.push(plan.record.dir.join("docker.service.d"));
        dirs.push(plan.record.dir.clone());
    }
    if let Ok(Some(Journal::Client { record, .. })) = state.journal() {
        dirs.extend(record.out);
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = fsio::temp_owner(&name) {
                if !alive(pid) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// Finishes or undoes one open transaction and closes the journal. Each
/// kind is settled by the module that writes it.
pub fn settle(env: &Env, journal: &Journal) -> Result<String> {
    let note = match journal {
        Journal::Ca {
            record, cert_pem, ..
        } => ca::settle(env, record, cert_pem)?,
        Journal::Server { plan, .. } => server::settle(env, plan)?,
        Journal::Context { .. } => identity::settle(env, journal)?,
        Journal::Client { .. } => client::settle(env, journal)?,
        Journal::Revoke {
            ca, revocations, ..
        } => revoke::settle(env, ca, revocations)?,
        Journal::RemoveCa { ca, keystore, .. } => {
            ca::finish_remove(env, ca, *keystore)?;
            format!("finished removing CA {ca:?}, which an earlier ca rm left half-done")
        }
        Journal::Remove { context, .. } => {
            remove::finish(env, context)?;
            format!("finished removing {context:?}, which an earlier rm left half-done")
        }
    };
    env.state().close_journal();
    Ok(note)
}
