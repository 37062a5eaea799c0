//! `new NAME --host tcp://HOST[:PORT]`: the main job.
//!
//! Everything is validated and issued in memory first; then the server
//! bundle, the keystore entries and finally the context, whose meta.json
//! rename is the commit point (docker/context.rs). A failure or
//! cancellation before it leaves no context behind and removes the key
//! entries it added.

use std::path::PathBuf;

use crate::docker::context::NewContext;
use crate::docker::host::Host;
use crate::error::{Error, Result};
use crate::issuance::identities::export::{self, P12Written};
use crate::issuance::identities::identity::Material;
use crate::issuance::{identities::ca, identities::client, parse_sans, server, Env, Progress};
use crate::names;
use crate::p12::Profile;
use crate::pki::{KeyType, Role, CA_DAYS};
use crate::state::{CaRecord, IdentityRecord, Journal, ServerRecord};

/// `--p12 FILE` and its options.
pub struct P12Request {
    pub path: PathBuf,
    pub profile: Profile,
    pub password_stdin: bool,
}

/// What `new` asks for.
pub struct Request<'a> {
    pub name: &'a str,
    pub host: &'a str,
    pub sans: &'a [String],
    pub server_dir: Option<PathBuf>,
    pub no_server: bool,
    pub cn: Option<&'a str>,
    pub ca: &'a str,
    pub days: u32,
    pub server_days: u32,
    pub key_type: KeyType,
    pub role: Role,
    pub description: Option<&'a str>,
    pub daemon_dir: &'a str,
    pub authz: bool,
    pub use_it: bool,
    pub force: bool,
    pub p12: Option<P12Request>,
    pub keychain: bool,
    /// `--keychain-only`: no key.pem; the context points Docker at the
    /// agent's socket (ARCHITECTURE.md, "The agent").
    pub keychain_only: bool,
}

/// What `new` made.
pub struct Created {
    pub host: Host,
    /// Set when the CA was created by this run (first use of "default").
    pub created_ca: bool,
    pub ca: CaRecord,
    /// Where the CA key is, as a phrase.
    pub keystore: String,
    pub server: Option<ServerRecord>,
    pub identity: IdentityRecord,
    pub server_clamped: bool,
    pub client_clamped: bool,
    pub p12: Option<P12Written>,
    /// The macOS keychain the identity went into (`--keychain`).
    pub keychain: Option<PathBuf>,
    /// What an issuer said (its warnings, a lifetime its role capped).
    pub notes: Vec<String>,
}

pub fn run(env: &Env, req: &Request<'_>, progress: &dyn Progress) -> Result<Created> {
    // 1. Everything the user typed, before anything is touched.
    names::validate_context(req.name)?;
    let host = Host::parse(req.host, req.force)?;
    let extra = parse_sans(req.sans)?;
    crate::issuance::check_client_days(req.days)?;
    crate::issuance::check_server_days("--server-days", req.server_days)?;
    names::validate("CA", req.ca)?;
    if let Some(cn) = req.cn {
        names::validate_cn(cn)?;
    }
    let contexts = env.contexts();
    if contexts.exists(req.name) && !req.force {
        return Err(Error::ContextExists(req.name.into()));
    }
    client::check_free(env, req.name, req.force)?;
    // --p12 and --keychain: their target, password and tool, before anything is written.
    let p12_plan = match &req.p12 {
        Some(p) => Some(export::plan_p12(
            &p.path,
            p.profile,
            p.password_stdin,
            req.force,
        )?),
        None => None,
    };
    if req.keychain {
        export::security_tool()?;
    }
    let server_dir = if req.no_server {
        None
    } else {
        let dir = req
            .server_dir
            .clone()
            .unwrap_or_else(|| env.state().default_server_dir(req.name));
        server::check_target(&dir, req.force)?;
        server::check_daemon_dir(req.daemon_dir)?;
        Some(dir)
    };

    // 2. The CA: reuse it, or create "default" on first use.
    let ks = env.keystore()?;
    let kt = req.key_type;
    let mut created_ca = false;
    if req.ca == ca::DEFAULT_CA && env.state().ca(req.ca)?.is_none() {
        ca::create(env, ks.as_ref(), req.ca, None, kt, CA_DAYS, progress)?;
        created_ca = true;
    }
    let (ca_rec, signer) = crate::issuance::teams::issuer::signer_of(env, req.ca)?;

    // 3. Issue in memory.
    let mut sans = vec![host.san.clone()];
    for s in extra {
        if !sans.contains(&s) {
            sans.push(s);
        }
    }
    let server_issued = match &server_dir {
        Some(_) => Some(server::issue(
            env,
            signer.as_ref(),
            req.name,
            crate::pki::Purpose::Daemon,
            &sans,
            kt,
            req.server_days,
            progress,
        )?),
        None => None,
    };
    let server_clamped = server_issued.as_ref().is_some_and(|s| s.clamped_to_ca);
    let cn = req
        .cn
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}-client", req.name));
    crate::issuance::check_cn_free(env, signer.name(), &cn, req.name)?;
    let client_issued = client::issue(env, signer.as_ref(), &cn, req.role, kt, req.days, progress)?;
    env.check_cancelled()?;

    // 4. Write, inside a journal (ARCHITECTURE.md, "Write and commit
    //    order"): server bundle, client key, then the context (commit
    //    point), then the identity record. A failure undoes what came
    //    before the commit; a kill is finished or undone by the next command.
    let url = host.url();
    // Checked before anything is written: where the agent's socket goes,
    // its folder made ours now so no one else can make it first.
    let socket = if req.keychain_only {
        Some(crate::docker::endpoint::prepare_socket_url(
            &env.config_dir,
            req.name,
        )?)
    } else {
        None
    };
    let keychain_description = socket
        .as_ref()
        .map(|_| crate::docker::endpoint::description(&url));
    let description = req.description.or(keychain_description.as_deref());
    let client_account = client::account(req.name);
    let had_key = ks.get(&client_account)?.is_some();
    let server_bundle = match (server_dir, server_issued) {
        (Some(dir), Some(issued)) => {
            let new_bundle = server::is_new(&dir) && env.state().server(req.name)?.is_none();
            let bundle = server::Bundle {
                dir,
                issued,
                sans,
                port: host.port,
                daemon_dir: req.daemon_dir.into(),
                key_type: kt,
                authz: req.authz,
                purpose: crate::pki::Purpose::Daemon,
                ssh: env.state().server(req.name)?.and_then(|r| r.host.ssh),
                installed: env.state().server(req.name)?.and_then(|r| r.host.installed),
                exec: env.state().server(req.name)?.and_then(|r| r.renewal.exec),
                swarm: env.state().server(req.name)?.and_then(|r| r.renewal.swarm),
            };
            let plan = server::plan(req.name, signer.as_ref(), &bundle, ks.as_ref(), new_bundle);
            Some((plan, bundle))
        }
        _ => None,
    };
    let rec = client::record(
        client::Recorded {
            name: req.name,
            context: Some(req.name),
            host: Some(&host),
            out: None,
            ca: &ca_rec.name,
            cn: &cn,
            key_type: kt,
            role: req.role,
            description,
        },
        &client_issued,
        ks.as_ref(),
    );
    let mut rec = rec;
    if req.keychain_only {
        rec.keychain_only = true;
        rec.key_pem_sha256 = None;
    }
    let mut added = Vec::new();
    if !had_key {
        added.push(client_account.to_string());
    }
    let journal = Journal::Context {
        pid: std::process::id(),
        context: req.name.into(),
        record: rec.clone(),
        cert_pem: client_issued.cert_pem.clone(),
        added,
        server: server_bundle.as_ref().map(|(plan, _)| plan.clone()),
        use_context: req.use_it,
        supersede: Vec::new(),
    };
    let state = env.state();
    let key_pem = client_issued.key_pem();
    let server_rec = crate::issuance::transaction(
        env,
        &journal,
        || crate::issuance::identities::identity::settle(env, &journal),
        || {
            let server_rec = match &server_bundle {
                Some((plan, bundle)) => {
                    Some(server::write(env, ks.as_ref(), plan, &bundle.issued)?)
                }
                None => None,
            };
            ks.set(&client_account, &client_issued.key_der())?;
            match &socket {
                Some(socket) => {
                    contexts.write_plain(req.name, description, socket, req.force, || {
                        env.check_cancelled()
                    })?
                }
                None => {
                    let ctx = NewContext {
                        name: req.name,
                        description,
                        host: &url,
                        ca_pem: signer.cert_pem(),
                        cert_pem: &client_issued.cert_pem,
                        key_pem: &key_pem,
                    };
                    contexts.write(&ctx, req.force, || env.check_cancelled())?;
                }
            }
            state.write_identity(&rec, &client_issued.cert_pem)?;
            if req.use_it {
                env.config().use_context(req.name)?;
            }
            Ok(server_rec)
        },
    )?;
    let mut p12 = None;
    let mut keychain = None;
    if p12_plan.is_some() || req.keychain {
        let m = Material {
            host: host.clone(),
            cn: cn.clone(),
            ca_pem: signer.cert_pem().to_string(),
            cert_pem: client_issued.cert_pem.clone(),
            key_der: client_issued.key_der(),
        };
        if let Some(plan) = &p12_plan {
            p12 = Some(export::write_p12(env, &m, plan, &cn)?);
        }
        if req.keychain {
            keychain = Some(export::import_into_keychain(env, &m, &cn)?);
        }
    }
    Ok(Created {
        host,
        created_ca,
        ca: ca_rec,
        keystore: ks.describe(),
        server: server_rec,
        identity: rec,
        server_clamped,
        client_clamped: client_issued.clamped_to_ca,
        p12,
        keychain,
        notes: signer.notes(),
    })
}
