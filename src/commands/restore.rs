//! `docker tlsctx restore NAME`: rebuild a context that `docker context rm`
//! deleted (or that was damaged) from what we keep: the identity record and
//! certificate, the CA certificate, and the client key in the keystore.

use super::{export, Env};
use crate::cli::RestoreArgs;
use crate::context::{validate_context_name, NewContext};
use crate::error::{Error, Result};
use crate::pki;

pub fn run(env: &Env, args: &RestoreArgs) -> Result<()> {
    validate_context_name(&args.name)?;
    let contexts = env.contexts();
    if contexts.exists(&args.name) && !args.force {
        return Err(Error::ContextExists(args.name.clone()));
    }
    let (rec, m) = export::load_with_record(env, &args.name)?;
    let key_pem = pki::key_pem_from_der(&m.key_der);
    contexts.write(
        &NewContext {
            name: &args.name,
            description: rec.description.as_deref(),
            host: &m.host,
            ca_pem: &m.ca_pem,
            cert_pem: &m.cert_pem,
            key_pem: &key_pem,
        },
        args.force,
        super::check_cancelled,
    )?;
    println!(
        "Restored context {:?} for {} (client identity CN {}, valid until {}).",
        args.name,
        m.host,
        rec.cn,
        super::date(rec.not_after)
    );
    Ok(())
}
