//! `docker tlsctx revoke NAME [--reason R]` and `revoke --list`.

use clap::Args;
use serde_json::json;

use crate::args::Format;
use crate::error::Result;
use crate::issuance::{identities::revoke, Env};
use crate::text::{date, rfc3339};
use crate::ui;

pub fn run(env: &Env, args: &RevokeArgs) -> Result<()> {
    if args.list {
        return list(env, args.format);
    }
    let name = args
        .name
        .as_deref()
        .expect("clap requires NAME without --list");
    let r = revoke::revoke(env, name, args.reason)?;
    if args.format == Format::Json {
        let also: Vec<_> = r
            .also
            .iter()
            .map(|(ca, serial)| json!({ "ca": ca, "serial": serial }))
            .collect();
        ui::print_json(&json!({ "revoked": r.entry, "also": also, "ca": r.ca, "crls": r.crls }));
        return Ok(());
    }
    println!(
        "Revoked {:?} (CN {}, serial {}) in CA {:?}.",
        name, r.cn, r.entry.serial, r.ca
    );
    for n in &r.notes {
        eprintln!("Note: {n}");
    }
    if !r.also.is_empty() {
        println!(
            "Also revoked its earlier certificates, still unexpired: {}.",
            r.also
                .iter()
                .map(|(ca, s)| if *ca == r.ca {
                    s.clone()
                } else {
                    format!("{s} (CA {ca:?})")
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if r.crls.is_empty() {
        println!("CA {:?} has no server bundle to write a CRL into.", r.ca);
    }
    for crl in &r.crls {
        println!("Wrote {}", crl.display());
    }
    println!(
        "\nNext: docker tlsctx server install --all --crl-only copies it to every host installed over SSH whose dockerd runs the \
         tlsctx-authz plugin (or copy crl.pem beside ca.pem by hand); the plugin re-reads the file within a second, no restart needed.\n\
         dockerd itself has no revocation: without the plugin this certificate keeps working until {}.",
        date(r.not_after)
    );
    Ok(())
}

fn list(env: &Env, format: Format) -> Result<()> {
    let all = revoke::list(env)?;
    if format == Format::Json {
        let v: Vec<_> = all
            .iter()
            .map(|(ca, e)| {
                let mut j = serde_json::to_value(e).expect("json");
                j["ca"] = ca.as_str().into();
                j
            })
            .collect();
        ui::print_json(&serde_json::Value::Array(v));
        return Ok(());
    }
    let rows: Vec<[String; 6]> = all
        .iter()
        .map(|(ca, e)| {
            [
                e.name.clone(),
                e.cn.clone(),
                e.serial.clone(),
                ca.clone(),
                rfc3339(e.revoked_at),
                e.reason
                    .map(|r| {
                        serde_json::to_value(r)
                            .expect("json")
                            .as_str()
                            .unwrap_or("")
                            .to_string()
                    })
                    .unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        ui::table(&["NAME", "CN", "SERIAL", "CA", "REVOKED", "REASON"], &rows)
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// Name of the identity (a context's, or a client bundle's)
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// Why (RFC 5280 reason code)
    #[arg(long, value_enum)]
    pub reason: Option<crate::state::RevocationReason>,
    /// Show what is revoked instead
    #[arg(long, conflicts_with_all = ["name", "reason"])]
    pub list: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
