//! `docker tlsctx renew NAME [--days N] [--rekey]`.

use crate::args::RenewArgs;
use crate::error::Result;
use crate::issuance::{identities::identity, teams::request, Env};
use crate::text::date;
use crate::ui;

pub fn run(env: &Env, args: &RenewArgs) -> Result<()> {
    let name = args
        .name
        .as_deref()
        .expect("clap requires NAME without --due");
    // clap's `requires` does not hold a flag to --due once NAME is given.
    for (set, flag) in [
        (args.dry_run, "--dry-run"),
        (args.before.is_some(), "--before"),
        (args.yes, "--yes"),
        (args.format == crate::args::Format::Json, "--format"),
    ] {
        if set {
            return Err(crate::error::Error::FlagNeedsDue(flag));
        }
    }
    // Signed by someone else's CA (`accept`): the renewal is a request for
    // the same key, and the context keeps working until it is accepted.
    if let Some(rec) = env.state().identity(name)? {
        if request::signed_elsewhere(env, &rec) {
            if args.rekey || args.role.is_some() || args.days.is_some() {
                return Err(crate::error::Error::RenewElsewhere(name.into()));
            }
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| format!("{name}.tlsctx-request").into());
            let r = request::renewal(env, name, Some(&out))?;
            println!(
                "Wrote a renewal request for {name:?} to {} (same key, SHA-256 {}).",
                out.display(),
                r.pending.spki_sha256
            );
            println!(
                "Send it to the owner of its CA (docker tlsctx sign {}), then: docker tlsctx accept RESPONSE",
                out.display()
            );
            return Ok(());
        }
    }
    if args.out.is_some() {
        return Err(crate::error::Error::OutNeedsRequest(name.into()));
    }
    let days = args.days.unwrap_or(crate::pki::CLIENT_DAYS);
    let r = identity::renew(
        env,
        name,
        days,
        args.rekey,
        args.revoke_old,
        args.role,
        &ui::Spinner::default(),
    )?;
    ui::renewal_notes(
        &r.notes,
        r.clamped_to_ca,
        r.after.not_after,
        "client",
        &r.after.ca,
        days,
    );
    println!(
        "Renewed {:?}: new client certificate (serial {}, {}) valid until {} (was {}).",
        name,
        &r.after.serial[..8],
        if args.rekey { "new key" } else { "same key" },
        date(r.after.not_after),
        date(r.before.not_after)
    );
    if !r.revoked_old.is_empty() {
        let why = if r.after.role != r.before.role {
            format!(
                "its role changed from {} to {}",
                r.before.role.as_str(),
                r.after.role.as_str()
            )
        } else {
            "--revoke-old".to_string()
        };
        let serials: Vec<&str> = r.revoked_old.iter().map(|e| e.serial.as_str()).collect();
        println!(
            "Revoked the certificate it replaces and any earlier one still valid (serial {}, reason superseded): {why}.",
            serials.join(", ")
        );
        let crls = &r.crls;
        for crl in crls {
            println!("Wrote {}", crl.display());
        }
        if !crls.is_empty() {
            println!("Next: docker tlsctx server install --all --crl-only");
        }
    } else if !r.before.serial.is_empty() {
        println!(
            "The certificate it replaces (serial {}) stays valid until {}; revoke {name} revokes both.",
            &r.before.serial[..8.min(r.before.serial.len())],
            date(r.before.not_after)
        );
    }
    Ok(())
}
