//! `docker tlsctx ca issued [--ca CA] [--format json]`.

use clap::Args;
use serde_json::json;

use crate::args::Format;
use crate::error::Result;
use crate::issuance::{teams::sign, Env};
use crate::text::{date, rfc3339};
use crate::ui;

pub fn run(env: &Env, args: &CaIssuedArgs) -> Result<()> {
    let all = sign::issued(env, &args.ca)?;
    if args.format == Format::Json {
        let v: Vec<_> = all
            .iter()
            .map(|i| {
                json!({
                    "kind": i.kind,
                    "name": i.name,
                    "cn": i.cn,
                    "role": i.role.map(|r| r.as_str()),
                    "serial": i.serial,
                    "not_after": rfc3339(i.not_after),
                    "revoked": i.revoked,
                    "superseded": i.superseded,
                    "expired": i.not_after <= env.now,
                })
            })
            .collect();
        ui::print_json(&json!({ "ca": args.ca, "issued": v }));
        return Ok(());
    }
    if all.is_empty() {
        println!("CA {:?} has issued nothing that is recorded here.", args.ca);
        return Ok(());
    }
    let rows: Vec<[String; 7]> = all
        .iter()
        .map(|i| {
            let state = if i.revoked {
                "revoked"
            } else if i.not_after <= env.now {
                "expired"
            } else if i.superseded {
                "superseded"
            } else {
                "valid"
            };
            [
                i.name.clone(),
                i.kind.into(),
                crate::text::one_line(&i.cn),
                i.role.map_or("-", |r| r.as_str()).into(),
                i.serial.clone(),
                date(i.not_after),
                state.into(),
            ]
        })
        .collect();
    print!(
        "{}",
        ui::table(
            &["NAME", "KIND", "CN", "ROLE", "SERIAL", "NOT AFTER", "STATE"],
            &rows,
        )
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct CaIssuedArgs {
    /// The CA
    #[arg(long, default_value = "default")]
    pub ca: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
