//! `server install --crl-only`: a CA's current CRL pushed to a host whose
//! plugin reads it, without a restart.

use std::time::{Duration, Instant};

use crate::error::{Error, InstallNext, Result};
use crate::ssh::{quote, Session};

use super::*;

/// What `server install --crl-only` did.
pub struct Pushed {
    pub name: String,
    pub target: Target,
    pub dest: String,
    pub total: Duration,
}

/// `server install NAME --crl-only`: the bundle's crl.pem (which `revoke`
/// writes) onto its host, atomically beside ca.pem. The plugin reads it
/// again when it changes: no restart, so nothing to roll back.
pub fn push_crl(env: &Env, name: &str, ssh: Option<&str>) -> Result<Pushed> {
    let started = Instant::now();
    let (rec, _, target) = bundle_and_target(env, name, ssh)?;
    let shown = target.to_string();
    if !rec.host.authz {
        return Err(Error::InstallRefused {
            host: shown,
            what: format!(
                "bundle {name:?} was made without --authz, and dockerd itself reads no CRL"
            ),
            next: InstallNext::NeedsAuthz {
                bundle: name.into(),
            },
        });
    }
    let files = bundle_files(env, &rec)?;
    let Some(crl) = files.crl_pem else {
        return Err(Error::InstallRefused {
            host: shown,
            what: format!(
                "bundle {name:?} has no crl.pem: CA {:?} has revoked nothing",
                rec.ca
            ),
            next: InstallNext::RevokeFirst,
        });
    };
    let session = Session::open(&target, &env.state().tmp_dir())?;
    let dir = files.tls_dir.trim_end_matches('/').to_string();
    let d = quote(&dir);
    let ran = session.run(
        &format!("[ -d {d} ] || exit 3; umask 022; cat > {d}/crl.pem.tlsctx-new && chmod 644 {d}/crl.pem.tlsctx-new && mv -f {d}/crl.pem.tlsctx-new {d}/crl.pem"),
        crl.as_bytes(),
    )?;
    if ran.code == Some(3) {
        return Err(Error::InstallRefused {
            host: shown,
            what: format!("{dir} is not there: the bundle was never installed on it"),
            next: InstallNext::InstallFirst {
                bundle: name.into(),
            },
        });
    }
    if !ran.ok() {
        return Err(session.failed(&ran));
    }
    Ok(Pushed {
        name: name.into(),
        target,
        dest: format!("{dir}/crl.pem"),
        total: started.elapsed(),
    })
}
