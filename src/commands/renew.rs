//! `docker tlsctx renew NAME [--days N] [--rekey]`.

use crate::cli::RenewArgs;
use crate::error::Result;
use crate::issuance::{identity, Env};
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
        (args.format == crate::cli::Format::Json, "--format"),
    ] {
        if set {
            return Err(crate::error::Error::FlagNeedsDue(flag));
        }
    }
    let days = args.days.unwrap_or(crate::pki::CLIENT_DAYS);
    let r = identity::renew(
        env,
        name,
        days,
        args.rekey,
        args.role,
        &ui::Spinner::default(),
    )?;
    ui::warn_if_clamped(
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
    Ok(())
}
