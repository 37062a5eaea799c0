//! `docker tlsctx sign REQUEST [--ca CA] [--days N] [--role R] [--cn CN]
//! [--yes] [--out FILE]`: shows what will be signed, asks, signs.

use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::issuance::teams::sign::{self, Ask, Preview};
use crate::issuance::Env;
use crate::text::date;
use crate::ui;

/// What the signer reads before saying yes: everything that decides who
/// gets in, and everything of the request that will not be copied.
fn show(p: &Preview) {
    let r = &p.request;
    eprintln!("About to sign with CA {:?}:", p.ca);
    eprintln!(
        "  recorded as:  {} (docker tlsctx revoke {} revokes it)",
        p.name, p.name
    );
    if let Some(asked) = &p.requested_name {
        eprintln!(
            "                (the request calls itself {asked:?}, which already names an identity or another holder's certificate here)"
        );
    }
    eprintln!("  CN:           {}", crate::text::one_line(&p.cn));
    if !p.cn.is_ascii() {
        eprintln!("                (not plain ASCII: check it is not made to look like someone else's CN)");
    }
    eprintln!(
        "  role:         {}{}",
        p.role.as_str(),
        match p.asked_role {
            Some(a) if a != p.role => format!(
                " (the request asks for {}; grant it with --role {})",
                a.as_str(),
                a.as_str()
            ),
            _ => String::new(),
        }
    );
    eprintln!("  usage:        TLS client (clientAuth) only");
    eprintln!("  lifetime:     {} days", p.days);
    eprintln!("  key:          {}", r.key);
    eprintln!(
        "  key SHA-256:  {} (compare with what the requester reads out)",
        r.spki_sha256
    );
    if let Some(h) = &p.host {
        eprintln!("  for daemon:   {h} (as the requester says)");
    }
    if let Some(s) = &p.renews {
        eprintln!(
            "  renews:       serial {} (same key, valid until {})",
            s.serial,
            date(s.not_after)
        );
    }
    if !r.ignored.is_empty() {
        eprintln!("  ignored (not copied into the certificate):");
        for i in &r.ignored {
            eprintln!("    {i}");
        }
    }
}

pub fn run(env: &Env, args: &SignArgs) -> Result<()> {
    let bytes = crate::fsio::read_limited(&args.request, crate::csr::MAX_FILE)?;
    let p = sign::preview(
        env,
        &Ask {
            request: &bytes,
            ca: &args.ca,
            days: args.days,
            role: args.role,
            cn: args.cn.as_deref(),
        },
    )?;
    show(&p);
    if !args.yes && !ui::ask_yes("Sign it") {
        return Err(Error::NeedsConfirmation {
            what: "signing gives access to the CA's daemons".into(),
            flag: "--yes".into(),
        });
    }
    let to_stdout = args.out.as_deref() == Some(std::path::Path::new("-"));
    let out = match &args.out {
        _ if to_stdout => None,
        Some(o) => Some(o.clone()),
        None => Some(PathBuf::from(format!("{}.tlsctx-response", p.name))),
    };
    let s = sign::sign(env, &p, out.as_deref())?;
    if to_stdout {
        print!("{}", s.text);
    }
    ui::warn_if_clamped(s.clamped_to_ca, s.record.not_after, "client", &p.ca, p.days);
    eprintln!(
        "Signed {:?} (CN {}, role {}, serial {}, valid until {}).",
        s.record.name,
        s.record.cn,
        s.record.role.as_str(),
        s.record.serial,
        date(s.record.not_after)
    );
    if let Some(o) = &out {
        eprintln!("Wrote {}: send it back; it holds no key.", o.display());
    }
    if !s.revoked_old.is_empty() {
        let serials: Vec<&str> = s.revoked_old.iter().map(|e| e.serial.as_str()).collect();
        eprintln!(
            "Revoked the certificate it renews (serial {}, reason superseded): its role changed.",
            serials.join(", ")
        );
        for crl in &s.crls {
            eprintln!("Wrote {}", crl.display());
        }
    }
    eprintln!(
        "Read out the CA's fingerprint for them to confirm: SHA-256 {}",
        p.ca_sha256
    );
    eprintln!(
        "Revoke it later with: docker tlsctx revoke {}",
        s.record.serial
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct SignArgs {
    /// The request file (docker tlsctx request, openssl req, step, easy-rsa gen-req, cfssl)
    pub request: PathBuf,
    /// CA that signs it
    #[arg(long, default_value = "default")]
    pub ca: String,
    /// Lifetime in days
    #[arg(long, default_value_t = crate::pki::CLIENT_DAYS)]
    pub days: u32,
    /// Role granted: admin, read-only or viewer [default: read-only, or the role a renewed certificate had]
    #[arg(long, value_name = "ROLE")]
    pub role: Option<crate::pki::Role>,
    /// Common name to issue [default: the request's]
    #[arg(long)]
    pub cn: Option<String>,
    /// Sign without asking (what would be signed is still shown)
    #[arg(long)]
    pub yes: bool,
    /// Where the response goes ('-': standard output) [default: NAME.tlsctx-response]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}
