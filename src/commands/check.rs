//! `docker tlsctx check NAME`: connects with the context's own material and
//! says what works, or which failure it is and its fix.

use crate::docker::host::Host;
use crate::error::{Error, Result};
use crate::issuance::renewal::health::days_left;
use crate::issuance::Env;
use crate::pki::CertInfo;
use crate::text::date;
use crate::{fsio, names, probe};

pub fn run(env: &Env, name: &str) -> Result<()> {
    names::validate_context(name)?;
    let contexts = env.contexts();
    let host = contexts
        .host(name)?
        .ok_or_else(|| Error::ContextMissing(name.into()))?;
    // A keychain-only context's material is where the agent reads it: the
    // record, its CA and the keystore; its real host is the record's.
    let keychain_only = env
        .state()
        .identity(name)?
        .filter(|r| r.keychain_only)
        .is_some();
    let (host, ca_pem, cert_pem, key_pem) = if keychain_only {
        use crate::docker::endpoint::{self, AgentState};
        let state = endpoint::agent_state(&env.config_dir, name);
        // Docker's traffic would go to someone else's folder or listener:
        // that is the finding, whatever the daemon says.
        if let AgentState::Unsafe(why) = &state {
            return Err(Error::CheckFailed {
                what: format!("the agent's socket for {name} is not safe: {why}"),
                fix: format!(
                    "do not use the context until this is fixed; remove what is not yours at {}, or keep your configuration folder where only you and root can change anything above it (DOCKER_CONFIG), then: docker tlsctx agent adopt {name}",
                    host
                ),
            });
        }
        let m = crate::issuance::identities::identity::load(env, name)?;
        println!("agent: {state} on {host}");
        let key = crate::pki::key_pem_from_der(&m.key_der);
        (m.host.url(), m.ca_pem, m.cert_pem, key)
    } else {
        let dir = contexts.tls_dir(name).join("docker");
        let read = |f: &str| fsio::read_to_string(&dir.join(f));
        (host, read("ca.pem")?, read("cert.pem")?, read("key.pem")?)
    };
    let parsed = Host::parse(&host, true)?;
    let hostname = parsed.name();
    let started = std::time::Instant::now();
    let outcome = probe::probe(&probe::Material {
        host: &hostname,
        port: parsed.port,
        ca_pem: &ca_pem,
        cert_pem: &cert_pem,
        key_pem: &key_pem,
    });
    let took = started.elapsed().as_millis();
    let hp = format!("{hostname}:{}", parsed.port);
    let fail = |what: String, fix: String| Err(Error::CheckFailed { what, fix });
    match outcome {
        probe::Outcome::Ok {
            version,
            api_version,
            ..
        } => {
            let client = CertInfo::from_pem(&cert_pem)?;
            println!(
                "ok: {host} answered with Docker Engine {version} (API {api_version}) in {took} ms"
            );
            println!(
                "client certificate valid until {} ({} days left)",
                date(client.not_after),
                days_left(client.not_after, env.now)
            );
            Ok(())
        }
        probe::Outcome::Failed(f) => {
            let (what, fix) = f.explain(&hp, name);
            fail(what, fix)
        }
    }
}
