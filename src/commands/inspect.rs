//! `docker tlsctx inspect NAME`: the client certificate, its CA and the
//! server bundle, as text or JSON.

use clap::Args;
use serde_json::json;

use crate::args::Format;
use crate::error::{Error, Result};
use crate::issuance::renewal::health::{days_left, health};
use crate::issuance::{identities::ca, identities::client, server, Env};
use crate::pki::CertInfo;
use crate::text::rfc3339;
use crate::{fsio, names, ui};

fn cert_json(info: &CertInfo) -> serde_json::Value {
    json!({
        "subject": info.subject,
        "issuer": info.issuer,
        "serial": info.serial_hex,
        "sans": info.sans,
        "eku": info.ekus,
        "not_before": rfc3339(info.not_before),
        "not_after": rfc3339(info.not_after),
        "sha256": info.sha256,
        "key_type": info.key_type,
    })
}

pub fn run(env: &Env, args: &InspectArgs) -> Result<()> {
    names::validate_context(&args.name)?;
    let state = env.state();
    let rec = state
        .identity(&args.name)?
        .ok_or_else(|| Error::IdentityNotFound(args.name.clone()))?;
    let client = CertInfo::from_pem(&fsio::read_to_string(
        &state.identity_cert_path(&args.name),
    )?)?;
    let (ca_rec, ca_pem) = state
        .ca(&rec.ca)?
        .ok_or_else(|| Error::CaNotFound(rec.ca.clone()))?;
    let ca = CertInfo::from_pem(&ca_pem)?;
    let server = match state.server(&args.name)? {
        Some(s) => {
            let dir = state.server_dir(&s);
            Some((
                CertInfo::from_pem(&fsio::read_to_string(&dir.join(s.cert_file()))?)?,
                s,
                dir,
            ))
        }
        None => None,
    };
    let h = health(env, &rec);
    let client_account = client::account(&rec.name).to_string();
    let ca_account = ca::account(&ca_rec.name).to_string();
    let mut v = json!({
        "name": rec.name,
        "context": rec.context,
        "host": rec.host,
        "state": h,
        "client": cert_json(&client),
        "client_key": { "keystore": rec.keystore, "account": client_account },
        "ca": cert_json(&ca),
        "ca_key": { "name": ca_rec.name, "keystore": ca_rec.keystore, "account": ca_account },
    });
    if rec.keychain_only {
        v["keychain_only"] = true.into();
        v["agent"] = json!({
            "socket": crate::docker::endpoint::socket_url(&env.config_dir, &rec.name).ok(),
            "state": crate::docker::endpoint::agent_state(&env.config_dir, &rec.name).to_string(),
        });
    }
    if let Some((info, s, dir)) = &server {
        v["server"] = cert_json(info);
        v["server"]["bundle"] = dir.display().to_string().into();
        v["server_key"] =
            json!({ "keystore": s.keystore, "account": server::account(&s.name).to_string() });
    }
    if args.format == Format::Json {
        ui::print_json(&v);
        return Ok(());
    }
    println!(
        "Context:   {}",
        rec.context.as_deref().unwrap_or("(client bundle)")
    );
    println!(
        "Host:      {}",
        rec.host
            .as_ref()
            .map(|h| h.url())
            .unwrap_or_else(|| "-".into())
    );
    println!("State:     {}", h.describe());
    if rec.keychain_only {
        println!(
            "Agent:     {} on {} (the key is in the keystore only)",
            crate::docker::endpoint::agent_state(&env.config_dir, &rec.name),
            crate::docker::endpoint::socket_url(&env.config_dir, &rec.name).unwrap_or_default()
        );
    }
    let section = |title: &str, i: &CertInfo, key: String| {
        println!("\n{title}");
        println!("  Subject:     {}", crate::text::one_line(&i.subject));
        println!("  Issuer:      {}", crate::text::one_line(&i.issuer));
        println!("  Serial:      {}", i.serial_hex);
        if !i.sans.is_empty() {
            println!("  SANs:        {}", i.sans.join(", "));
        }
        println!(
            "  EKU:         {}",
            if i.ekus.is_empty() {
                "(none)".into()
            } else {
                i.ekus.join(", ")
            }
        );
        println!("  Not before:  {}", rfc3339(i.not_before));
        println!(
            "  Not after:   {} ({} days left)",
            rfc3339(i.not_after),
            days_left(i.not_after, env.now)
        );
        println!("  SHA-256:     {}", i.sha256);
        println!("  Key:         {} in the {key}", i.key_type);
    };
    section(
        "Client certificate",
        &client,
        format!("{} keystore ({client_account})", rec.keystore),
    );
    section(
        "CA",
        &ca,
        format!("{} keystore ({ca_account})", ca_rec.keystore),
    );
    if let Some((info, s, dir)) = &server {
        section(
            &format!("Server certificate ({})", dir.display()),
            info,
            format!("{} keystore ({})", s.keystore, server::account(&s.name)),
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Name of the context
    pub name: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
