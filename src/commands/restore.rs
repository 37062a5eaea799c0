//! `docker tlsctx restore NAME`: rebuild a context that `docker context rm`
//! deleted (or that was damaged) from what we keep: the identity record and
//! certificate, the CA certificate, and the client key in the keystore.

use super::{client, Env};
use crate::cli::RestoreArgs;
use crate::context::{validate_context_name, NewContext};
use crate::error::{Error, Result};
use crate::fsio;
use crate::keystore;
use crate::pki;

pub fn run(env: &Env, args: &RestoreArgs) -> Result<()> {
    validate_context_name(&args.name)?;
    let state = env.state();
    let rec = state
        .identity(&args.name)?
        .ok_or_else(|| Error::IdentityNotFound(args.name.clone()))?;
    let (Some(context), Some(host)) = (rec.context.as_deref(), rec.host.as_deref()) else {
        return Err(Error::Corrupt {
            path: state.identity_cert_path(&args.name).with_extension("json"),
            why: "this identity is a client bundle (docker tlsctx client), not a context".into(),
        });
    };
    let contexts = env.contexts();
    if contexts.exists(context) && !args.force {
        return Err(Error::ContextExists(context.into()));
    }
    let cert_pem = fsio::read_to_string(&state.identity_cert_path(&args.name))?;
    let (_, ca_pem) = state
        .ca(&rec.ca)?
        .ok_or_else(|| Error::CaNotFound(rec.ca.clone()))?;
    let ks = keystore::open_recorded(&rec.keystore, &env.config_dir)?;
    let key_der = ks.get(&client::account(&args.name))?.ok_or_else(|| Error::KeyMissing {
        what: format!("identity {:?}", args.name),
        backend: rec.keystore.clone(),
        fix: format!("issue a new identity instead: docker tlsctx new {} --host {host} --no-server --force", args.name),
    })?;
    if !pki::key_matches_cert(&key_der, &cert_pem)? {
        return Err(Error::Corrupt {
            path: state.identity_cert_path(&args.name),
            why: "the certificate does not belong to the key in the keystore".into(),
        });
    }
    let key_pem = pki::key_pem_from_der(&key_der);
    contexts.write(
        &NewContext {
            name: context,
            description: rec.description.as_deref(),
            host,
            ca_pem: &ca_pem,
            cert_pem: &cert_pem,
            key_pem: &key_pem,
        },
        args.force,
        super::check_cancelled,
    )?;
    println!(
        "Restored context {context:?} for {host} (client identity CN {}, valid until {}).",
        rec.cn,
        super::date(rec.not_after)
    );
    Ok(())
}
