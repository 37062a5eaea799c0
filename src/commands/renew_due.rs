//! `docker tlsctx renew --due [--dry-run] [--before D|P%] [--format json]`:
//! what a scheduler runs. Exit 0 when nothing is due and when everything
//! due was renewed (a locked keychain is skipped, not failed); a real
//! failure exits 1 and names the item.

use serde_json::json;

use crate::args::{Format, RenewArgs};
use crate::error::{Error, Result};
use crate::issuance::renewal::due::Before;
use crate::issuance::renewal::renew_due::{self, Done, Options, Outcome, Pending, SwarmDone};
use crate::issuance::Env;
use crate::text::{date, rfc3339};
use crate::ui;

fn line(d: &Done) -> String {
    let what = format!("{} {:?}", d.item.kind.as_str(), d.item.name);
    match &d.outcome {
        Outcome::WouldRenew => format!(
            "{what}: due since {} (expires {}); would renew",
            date(d.item.due_at),
            date(d.item.not_after)
        ),
        Outcome::Renewed { not_after } => {
            format!("{what}: renewed, valid until {}", date(*not_after))
        }
        Outcome::WouldFinish(Pending::Install) => format!(
            "{what}: renewed by an earlier run, not installed yet; would install it on its host"
        ),
        Outcome::WouldFinish(Pending::Rotation) => format!(
            "{what}: renewed by an earlier run; would move its swarm services to it"
        ),
        Outcome::Installed {
            not_after,
            target,
            renewed_now: true,
        } => format!(
            "{what}: renewed, valid until {}, installed and verified on {target}",
            date(*not_after)
        ),
        Outcome::Installed {
            not_after,
            target,
            renewed_now: false,
        } => format!(
            "{what}: not installed yet (renewed by an earlier run, valid until {}); installed and verified on {target} now",
            date(*not_after)
        ),
        Outcome::Rotated { not_after } => format!(
            "{what}: renewed earlier (valid until {}); its services were moved to it now",
            date(*not_after)
        ),
        Outcome::NotInstalled { not_after, next } => format!(
            "{what}: renewed, valid until {}, not installed (no host recorded): {next}",
            date(*not_after)
        ),
        Outcome::Skipped(why) => format!("{what}: skipped: {why}"),
        Outcome::Left(why) => format!("{what}: left alone: {why}"),
        Outcome::Failed(e) => {
            let (w, fix) = crate::explain::explain(e);
            match fix {
                Some(f) => format!("{what}: FAILED: {w} ({f})"),
                None => format!("{what}: FAILED: {w}"),
            }
        }
    }
}

/// A renewal cut short by its CA's end: each run renews sooner (2/3 of a
/// shorter lifetime), so the cause is said every time.
const CLAMPED: &str = "it ends with its CA, sooner than its lifetime; each renewal will come sooner until a new CA is made (docker tlsctx ca ls shows when it ends)";

fn swarm_line(sw: &SwarmDone) -> String {
    if sw.services.is_empty() {
        format!(
            "published as swarm secrets version {}; no service uses them yet",
            sw.version
        )
    } else {
        format!(
            "published as swarm secrets version {} and moved {} to it",
            sw.version,
            sw.services.join(", ")
        )
    }
}

fn result_word(o: &Outcome) -> &'static str {
    match o {
        Outcome::WouldRenew => "due",
        Outcome::WouldFinish(_) => "pending",
        Outcome::Renewed { .. } => "renewed",
        Outcome::Installed { .. } => "installed",
        Outcome::NotInstalled { .. } => "renewed-not-installed",
        Outcome::Rotated { .. } => "rotated",
        Outcome::Skipped(_) => "skipped",
        Outcome::Left(_) => "left-alone",
        Outcome::Failed(_) => "failed",
    }
}

pub fn run(env: &Env, args: &RenewArgs) -> Result<()> {
    let before = match &args.before {
        Some(b) => Before::parse(b)?,
        None => Before::Rule,
    };
    let opts = Options {
        before,
        dry_run: args.dry_run,
        yes: args.yes,
        describe: crate::explain::message,
    };
    let done = renew_due::run(env, &opts, &|d| {
        eprintln!("{}", line(d));
        if let Some(sw) = &d.swarm {
            eprintln!("  {}", swarm_line(sw));
        }
        if d.clamped_to_ca {
            eprintln!("  {CLAMPED}");
        }
        if let Some(n) = &d.note {
            eprintln!("  {n}");
        }
    })?;
    let failed = done.iter().filter(|d| d.failed()).count();
    match args.format {
        Format::Json => ui::print_json(&json!({
            "dry_run": args.dry_run,
            "items": done.iter().map(|d| {
                let mut v = json!({
                    "name": d.item.name,
                    "kind": d.item.kind.as_str(),
                    "result": result_word(&d.outcome),
                    "due_at": rfc3339(d.item.due_at),
                    "not_after_before": rfc3339(d.item.not_after),
                });
                if let Some(n) = &d.note {
                    v["note"] = json!(n);
                }
                if let Some(sw) = &d.swarm {
                    v["swarm"] = json!({ "version": sw.version, "services": sw.services });
                }
                if d.clamped_to_ca {
                    v["clamped_to_ca"] = json!(true);
                }
                match &d.outcome {
                    Outcome::Renewed { not_after }
                    | Outcome::Rotated { not_after }
                    | Outcome::NotInstalled { not_after, .. } => {
                        v["not_after"] = json!(rfc3339(*not_after));
                    }
                    Outcome::Installed {
                        not_after,
                        target,
                        renewed_now,
                    } => {
                        v["not_after"] = json!(rfc3339(*not_after));
                        v["ssh"] = json!(target);
                        v["renewed_now"] = json!(renewed_now);
                    }
                    Outcome::WouldFinish(p) => {
                        v["pending"] = json!(match p {
                            Pending::Install => "install",
                            Pending::Rotation => "rotation",
                        });
                    }
                    Outcome::Skipped(why) | Outcome::Left(why) => v["reason"] = json!(why),
                    Outcome::Failed(e) => {
                        let (w, fix) = crate::explain::explain(e);
                        v["error"] = json!(w);
                        v["fix"] = json!(fix);
                    }
                    Outcome::WouldRenew => {}
                }
                v
            }).collect::<Vec<_>>(),
        })),
        Format::Text => {
            if done.is_empty() {
                eprintln!("Nothing is due.");
            }
        }
    }
    if failed > 0 {
        return Err(Error::RenewalsFailed {
            failed,
            total: done.len(),
        });
    }
    Ok(())
}
