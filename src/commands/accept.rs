//! `docker tlsctx accept RESPONSE [--ca-fingerprint SHA256] [--use]`.

use std::path::PathBuf;

use clap::Args;

use crate::error::Result;
use crate::issuance::teams::request::{self, Accept};
use crate::issuance::Env;
use crate::text::date;
use crate::ui;

pub fn run(env: &Env, args: &AcceptArgs) -> Result<()> {
    let bytes = crate::fsio::read_limited(&args.response, crate::csr::MAX_FILE)?;
    // The fingerprint computed here comes first, on a line of its own;
    // what the certificate says of itself comes after, on one line with
    // its control, bidi and escape characters made harmless (a subject
    // could otherwise draw a fake "SHA-256 <the real one>" line and hide
    // the one printed here).
    let confirm = |fp: &str, subject: &str| {
        eprintln!("The response is signed by the CA whose certificate has");
        eprintln!("  SHA-256 {fp}");
        eprintln!(
            "(its subject, as the certificate states it: {})",
            crate::text::one_line(subject)
        );
        ui::ask_yes("Is this the fingerprint the CA's owner read out to you")
    };
    let a = request::accept(
        env,
        &Accept {
            response: &bytes,
            ca_fingerprint: args.ca_fingerprint.as_deref(),
            use_it: args.use_it,
            confirm_ca: &confirm,
        },
    )?;
    let i = &a.identity;
    if a.renewal {
        println!(
            "Renewed context {:?}: valid until {}.",
            i.name,
            date(i.not_after)
        );
    } else {
        println!(
            "Created context {:?} (CN {}, role {}, valid until {}){}.",
            i.name,
            crate::text::one_line(&i.cn),
            i.role.as_str(),
            date(i.not_after),
            if i.keychain_only {
                ", key in the keystore only"
            } else {
                ""
            }
        );
    }
    if a.ca_is_new {
        println!(
            "Trusting CA {} as {:?} (its key stays with its owner).",
            crate::text::one_line(&format!("{:?}", a.ca.cn)),
            a.ca.name
        );
    }
    if !a.renewal {
        println!("Try it: docker --context {} version", i.name);
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct AcceptArgs {
    /// The response file from docker tlsctx sign
    pub response: PathBuf,
    /// The CA's SHA-256 fingerprint, as its owner read it out (asked on a terminal otherwise)
    #[arg(long, value_name = "SHA256")]
    pub ca_fingerprint: Option<String>,
    /// Make it the current context, as docker context use does
    #[arg(long = "use")]
    pub use_it: bool,
}
