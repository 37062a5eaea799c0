//! `docker tlsctx new NAME --host tcp://HOST[:PORT]`: the main job.
//!
//! Everything is validated and issued in memory first; then the server
//! bundle, the keystore entries and finally the context, whose meta.json
//! rename is the commit point (context.rs). A failure or cancellation before
//! it leaves no context behind and removes the key entries it added.

use serde_json::json;

use super::{
    ca, check_cancelled, check_client_days, check_server_days, client, date, export, parse_sans,
    print_json, server, Env, Host,
};
use crate::cli::{Format, NewArgs};
use crate::context::{validate_context_name, NewContext};
use crate::error::{Error, Result};
use crate::keystore::KeyStore;
use crate::pki::CA_DAYS;
use crate::state::ServerRecord;

pub fn run(env: &Env, args: &NewArgs) -> Result<()> {
    // 1. Everything the user typed, before anything is touched.
    validate_context_name(&args.name)?;
    let host = Host::parse(&args.host, args.force)?;
    let extra = parse_sans(&args.sans)?;
    check_client_days(args.days)?;
    check_server_days("--server-days", args.server_days)?;
    crate::context::validate_name("CA", &args.ca)?;
    let contexts = env.contexts();
    if contexts.exists(&args.name) && !args.force {
        return Err(Error::ContextExists(args.name.clone()));
    }
    client::check_free(env, &args.name, args.force)?;
    // --p12 and --keychain: their target, password and tool, before anything is written.
    let p12_plan = match &args.p12 {
        Some(p) => Some(export::plan_p12(p, &args.p12_opts, args.force)?),
        None => None,
    };
    if args.p12_opts.keychain {
        which::which("security").map_err(|_| Error::NoSecurityTool)?;
    }
    let server_dir = if args.no_server {
        None
    } else {
        let dir = args
            .server_dir
            .clone()
            .unwrap_or_else(|| env.state().default_server_dir(&args.name));
        server::check_target(&dir, args.force)?;
        Some(dir)
    };

    // 2. The CA: reuse it, or create "default" on first use.
    let ks = env.keystore()?;
    let kt = args.key_type.key_type;
    let mut created_ca = None;
    if args.ca == ca::DEFAULT_CA && env.state().ca(&args.ca)?.is_none() {
        created_ca = Some(ca::create(env, ks.as_ref(), &args.ca, None, kt, CA_DAYS)?);
    }
    let (ca_rec, signer) = ca::load(env, &args.ca)?;

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
            &signer,
            &ca_rec.name,
            &args.name,
            sans.clone(),
            kt,
            args.server_days,
        )?),
        None => None,
    };
    let cn = args
        .cn
        .clone()
        .unwrap_or_else(|| format!("{}-client", args.name));
    let client_issued = client::issue(env, &signer, &ca_rec.name, &cn, kt, args.days)?;
    check_cancelled()?;

    // 4. Write: server bundle, client key, then the context (commit point).
    let url = host.url();
    let server_rec = match (server_dir, server_issued) {
        (Some(dir), Some(issued)) => {
            let bundle = server::Bundle {
                dir,
                issued,
                sans,
                port: host.port,
                daemon_dir: args.daemon_dir.clone(),
                key_type: kt,
            };
            Some(server::write(
                env,
                ks.as_ref(),
                &args.name,
                &ca_rec.name,
                &signer.cert_pem,
                &bundle,
            )?)
        }
        _ => None,
    };
    let client_account = client::account(&args.name);
    let had_key = ks.get(&client_account)?.is_some();
    ks.set(&client_account, &client_issued.key_der())?;
    let key_pem = client_issued.key_pem();
    let ctx = NewContext {
        name: &args.name,
        description: args.description.as_deref(),
        host: &url,
        ca_pem: &signer.cert_pem,
        cert_pem: &client_issued.cert_pem,
        key_pem: &key_pem,
    };
    if let Err(e) = contexts.write(&ctx, args.force, check_cancelled) {
        if !had_key {
            let _ = ks.delete(&client_account);
        }
        return Err(e);
    }
    let rec = client::record(
        client::Recorded {
            name: &args.name,
            context: Some(&args.name),
            host: Some(&url),
            out: None,
            ca: &ca_rec.name,
            cn: &cn,
            key_type: kt,
            description: args.description.as_deref(),
        },
        &client_issued,
        ks.as_ref(),
    );
    env.state().write_identity(&rec, &client_issued.cert_pem)?;
    if args.use_it {
        contexts.use_context(&args.name)?;
    }
    if p12_plan.is_some() || args.p12_opts.keychain {
        let m = export::Material {
            host: url.clone(),
            cn: cn.clone(),
            ca_pem: signer.cert_pem.clone(),
            cert_pem: client_issued.cert_pem.clone(),
            key_der: client_issued.key_der(),
        };
        if let Some(plan) = &p12_plan {
            export::write_p12(&m, plan, &cn)?;
        }
        if args.p12_opts.keychain {
            export::import_into_keychain(env, &m, &cn)?;
        }
    }

    match args.format {
        Format::Json => print_json(&json!({
            "context": args.name,
            "host": url,
            "current": args.use_it,
            "ca": { "name": ca_rec.name, "created": created_ca.is_some(), "not_after": super::rfc3339(ca_rec.not_after), "keystore": ca_rec.keystore },
            "server": server_rec,
            "identity": rec,
        })),
        Format::Text => print_text(
            args,
            ks.as_ref(),
            created_ca.is_some(),
            &ca_rec,
            server_rec.as_ref(),
            &rec,
            &host,
        ),
    }
    Ok(())
}

fn print_text(
    args: &NewArgs,
    ks: &dyn KeyStore,
    created_ca: bool,
    ca_rec: &crate::state::CaRecord,
    server: Option<&ServerRecord>,
    id: &crate::state::IdentityRecord,
    host: &Host,
) {
    if created_ca {
        println!(
            "Created CA {:?} ({}, valid until {}); its key is in {}.",
            ca_rec.name,
            ca_rec.key_type,
            date(ca_rec.not_after),
            ks.describe()
        );
    } else {
        println!(
            "Using CA {:?} (valid until {}).",
            ca_rec.name,
            date(ca_rec.not_after)
        );
    }
    if let Some(s) = server {
        println!(
            "Issued server certificate for {} (valid until {}) in {}",
            s.sans.join(", "),
            date(s.not_after),
            s.dir.display()
        );
    }
    println!(
        "Issued client identity {:?} (CN {}, {}, valid until {}).",
        id.name,
        id.cn,
        id.key_type,
        date(id.not_after)
    );
    let current = if args.use_it {
        " and made it the current context"
    } else {
        ""
    };
    println!(
        "Created context {:?} for {}{current}.",
        args.name,
        host.url()
    );
    if let Some(s) = server {
        print!(
            "\n{}",
            server::next_steps(&s.dir, &args.daemon_dir, &host.name())
        );
    }
    println!("\nThen: docker --context {} version", args.name);
}
