//! `docker tlsctx client NAME`: a client bundle alone, in DOCKER_CERT_PATH
//! layout (CI jobs).

use serde_json::json;

use crate::cli::{ClientArgs, Format};
use crate::error::Result;
use crate::issuance::client::{self, Request};
use crate::issuance::Env;
use crate::text::date;
use crate::ui;

pub fn run(env: &Env, args: &ClientArgs) -> Result<()> {
    let b = client::create_bundle(
        env,
        &Request {
            name: &args.name,
            out: args.out.clone(),
            days: args.days,
            ca: &args.ca,
            cn: args.cn.as_deref(),
            key_type: args.key_type.key_type,
            role: args.role,
            force: args.force,
        },
        &ui::Spinner::default(),
    )?;
    let rec = &b.record;
    ui::warn_if_clamped(b.clamped_to_ca, rec.not_after, "client", &rec.ca, args.days);
    match args.format {
        Format::Json => ui::print_json(&json!({ "identity": rec })),
        Format::Text => {
            println!(
                "Issued client identity {:?} (CN {}, {}, valid until {}) in {}",
                rec.name,
                rec.cn,
                rec.key_type,
                date(rec.not_after),
                b.dir.display()
            );
            println!(
                "Use it with: DOCKER_HOST=tcp://HOST:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={} docker version",
                b.dir.display()
            );
        }
    }
    Ok(())
}
