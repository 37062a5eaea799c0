//! Over 600 lines: one run of `renew --due` in order (find, renew, install, hook, record), each
//! step reading the one before.
//!
//! `renew --due`: everything this tool manages that is due (due.rs), each
//! through its own command's path (one transaction each, the context
//! swapped atomically), under the one lock of the run. Finding nothing due
//! reads what `ls` reads (the expiry index and the server records) and
//! opens no keystore.

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::issuance::renewal::due::{self, Before};
use crate::issuance::{
    identities::client, identities::identity, install, server, swarm::publish, swarm::rotate, Env,
};
use crate::state::AutoRenew;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A context's identity (with key.pem, or keychain-only).
    Context,
    /// A bundle from `client NAME`.
    ClientBundle,
    /// A daemon's server bundle.
    Server,
    /// A service certificate from `cert`.
    Service,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Context => "context",
            Kind::ClientBundle => "client bundle",
            Kind::Server => "server bundle",
            Kind::Service => "service certificate",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    pub name: String,
    pub kind: Kind,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub due_at: OffsetDateTime,
    /// A server bundle renewed here whose install on its host failed.
    pub pending_install: bool,
    /// A bundle to rotate on swarm services whose last rotation did not
    /// finish (or that was renewed by hand since).
    pub pending_rotation: bool,
}

/// What an earlier run left unfinished.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pending {
    Install,
    Rotation,
}

/// What happened to one item.
pub enum Outcome {
    /// `--dry-run`.
    WouldRenew,
    /// `--dry-run` on an item renewed by an earlier run whose install on
    /// its host (or rotation on its services) did not finish: only that
    /// would be done, nothing renewed (issue 31: it said "due since" a
    /// date to come, "would renew").
    WouldFinish(Pending),
    Renewed {
        not_after: OffsetDateTime,
    },
    /// A server bundle installed on its recorded host: renewed now, or by
    /// an earlier run whose install did not finish (`renewed_now` false).
    Installed {
        not_after: OffsetDateTime,
        target: String,
        renewed_now: bool,
    },
    /// A bundle renewed earlier whose services were moved to it now.
    Rotated {
        not_after: OffsetDateTime,
    },
    /// A server bundle renewed here only: no recorded host.
    NotInstalled {
        not_after: OffsetDateTime,
        next: String,
    },
    /// Tried again at the next run (a locked keychain).
    Skipped(String),
    /// Not renewed, on purpose: revoked, or its context or folder was
    /// removed (renewing would hand out working credentials again).
    Left(String),
    Failed(Error),
}

pub struct Done {
    pub item: Item,
    pub outcome: Outcome,
    /// What the user still has to do (a bundle published as swarm secrets).
    pub note: Option<String>,
    /// `--rotate-on-renew`: the version published and the services moved.
    pub swarm: Option<SwarmDone>,
    /// The renewed certificate ends with its CA, sooner than its lifetime.
    pub clamped_to_ca: bool,
}

/// What a renewal did besides its outcome.
#[derive(Default)]
struct Extra {
    swarm: Option<SwarmDone>,
    clamped_to_ca: bool,
}

/// A rotation `renew --due` did.
#[derive(Debug, Clone)]
pub struct SwarmDone {
    pub version: u32,
    pub services: Vec<String>,
}

impl Done {
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed(_))
    }
}

pub struct Options {
    pub before: Before,
    pub dry_run: bool,
    /// A server install may restart a daemon that runs containers.
    pub yes: bool,
    /// An error as the user reads it, for `last_error` in autorenew.json
    /// (the interface's `explain::message`, which names the flag a value
    /// came from; this layer does not know the flags).
    pub describe: fn(&Error) -> String,
}

/// Everything managed, with its due date, soonest first.
pub fn items(env: &Env, before: Before) -> Result<Vec<Item>> {
    let state = env.state();
    let mut out = Vec::new();
    for (name, e) in state.expiry_entries()? {
        out.push(Item {
            kind: if e.context.is_some() {
                Kind::Context
            } else {
                Kind::ClientBundle
            },
            due_at: due::due_at(e.not_before, e.not_after, before),
            name,
            not_before: e.not_before,
            not_after: e.not_after,
            pending_install: false,
            pending_rotation: false,
        });
    }
    for r in state.servers()? {
        out.push(Item {
            kind: if r.purpose.is_daemon() {
                Kind::Server
            } else {
                Kind::Service
            },
            due_at: due::due_at(r.not_before, r.not_after, before),
            pending_install: r.purpose.is_daemon()
                && r.host.ssh.is_some()
                && r.host.installed.is_some()
                && r.host.installed.as_deref() != Some(&r.serial),
            pending_rotation: r
                .renewal
                .swarm
                .as_ref()
                .is_some_and(|s| s.rotated.as_deref() != Some(&r.serial)),
            name: r.name,
            not_before: r.not_before,
            not_after: r.not_after,
        });
    }
    out.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// Renews the due items; `each` hears each as it ends. Revoked identities
/// are left alone (their renewal would undo a revocation).
pub fn run(env: &Env, opts: &Options, each: &dyn Fn(&Done)) -> Result<Vec<Done>> {
    let due: Vec<Item> = items(env, opts.before)?
        .into_iter()
        .filter(|i| env.now >= i.due_at || i.pending_install || i.pending_rotation)
        .collect();
    let mut done = Vec::new();
    for item in due {
        let mut extra = Extra::default();
        let outcome = if let Some(why) = left_alone(env, &item) {
            Outcome::Left(why)
        } else if opts.dry_run {
            match (
                env.now >= item.due_at,
                item.pending_install,
                item.pending_rotation,
            ) {
                (false, true, _) => Outcome::WouldFinish(Pending::Install),
                (false, _, true) => Outcome::WouldFinish(Pending::Rotation),
                _ => Outcome::WouldRenew,
            }
        } else {
            match renew_one(env, &item, opts, &mut extra) {
                Ok(o) => o,
                // Locked now, likely open later (a scheduled run while the
                // user is away): tried again, until the last sixth of the
                // lifetime, where waiting is no longer safe.
                Err(e @ Error::KeychainLocked { .. }) => {
                    let life = item.not_after - item.not_before;
                    if env.now >= item.not_after - life / 6 {
                        Outcome::Failed(e)
                    } else {
                        Outcome::Skipped("keychain locked; the next run tries again".into())
                    }
                }
                Err(e) => Outcome::Failed(e),
            }
        };
        // Services keep the secret version they were given: rotating them
        // restarts their tasks, which this run does not do unasked.
        let note = (extra.swarm.is_none()
            && matches!(outcome, Outcome::Renewed { .. } | Outcome::Installed { .. } | Outcome::NotInstalled { .. })
            && matches!(item.kind, Kind::Server | Kind::Service)
            && env.state().swarm_published(&item.name))
        .then(|| format!("it is published as swarm secrets: move its services to the new version with docker tlsctx swarm rotate {} (or let renew --due do it: docker tlsctx swarm publish {} --rotate-on-renew)", item.name, item.name));
        let d = Done {
            item,
            outcome,
            note,
            swarm: extra.swarm,
            clamped_to_ca: extra.clamped_to_ca,
        };
        each(&d);
        done.push(d);
    }
    if !opts.dry_run {
        record(env, &done, opts.describe)?;
    }
    Ok(done)
}

/// Whether `renew --due` leaves the item alone (revoked, orphaned).
pub fn is_left_alone(env: &Env, item: &Item) -> bool {
    left_alone(env, item).is_some()
}

/// Why an item is not renewed at all, if it is not.
fn left_alone(env: &Env, item: &Item) -> Option<String> {
    // Its CA's key is with someone else: the renewal is a request only a
    // person can send and have signed.
    if item.kind == Kind::Context {
        let rec = env.state().identity(&item.name).ok().flatten();
        if rec.is_some_and(|r| crate::issuance::teams::request::signed_elsewhere(env, &r)) {
            return Some(format!(
                "signed by someone else's CA: docker tlsctx renew {} writes the renewal request to send them",
                item.name
            ));
        }
    }
    match item.kind {
        Kind::Context | Kind::ClientBundle if revoked(env, &item.name) => Some(format!(
            "revoked, so never renewed; remove it with docker tlsctx rm {}",
            item.name
        )),
        Kind::Context if env.contexts().host(&item.name).ok().flatten().is_none() => Some(format!(
            "its Docker context was removed; remove the rest with docker tlsctx rm {}",
            item.name
        )),
        Kind::ClientBundle => {
            let rec = env.state().identity(&item.name).ok().flatten()?;
            let out = rec.out?;
            (!out.is_dir()).then(|| {
                format!(
                    "its folder {} is gone; issue it again with docker tlsctx client {} --force",
                    out.display(),
                    item.name
                )
            })
        }
        _ => None,
    }
}

fn revoked(env: &Env, name: &str) -> bool {
    let state = env.state();
    state
        .identity(name)
        .ok()
        .flatten()
        .is_some_and(|r| state.is_revoked(&r.ca, &r.serial))
}

fn renew_one(env: &Env, item: &Item, opts: &Options, extra: &mut Extra) -> Result<Outcome> {
    let days = due::lifetime_days(item.not_before, item.not_after);
    let due = env.now >= item.due_at;
    match item.kind {
        Kind::Context => {
            let r = identity::renew(
                env,
                &item.name,
                days.min(crate::pki::MAX_DAYS),
                false,
                false,
                None,
                &(),
            )?;
            extra.clamped_to_ca = r.clamped_to_ca;
            Ok(Outcome::Renewed {
                not_after: r.after.not_after,
            })
        }
        Kind::ClientBundle => {
            let rec = env
                .state()
                .identity(&item.name)?
                .ok_or_else(|| Error::IdentityNotFound(item.name.clone()))?;
            let b = client::create_bundle(
                env,
                &client::Request {
                    name: &item.name,
                    out: rec.out.clone(),
                    days: days.min(crate::pki::MAX_DAYS),
                    ca: &rec.ca,
                    cn: Some(&rec.cn),
                    key_type: rec.key_type,
                    role: rec.role,
                    force: true,
                },
                &(),
            )?;
            extra.clamped_to_ca = b.clamped_to_ca;
            Ok(Outcome::Renewed {
                not_after: b.record.not_after,
            })
        }
        Kind::Service | Kind::Server => {
            let days = days.min(crate::pki::SERVER_MAX_DAYS);
            let rec = env
                .state()
                .server(&item.name)?
                .ok_or_else(|| Error::ServerNotFound(item.name.clone()))?;
            // Renewed now, or by an earlier run whose install or rotation
            // did not finish (then only what is left is done).
            let renewed = match &rec.renewal.swarm {
                Some(sw) if due || item.pending_rotation => {
                    let (renewed, done) = rotate_in_swarm(env, &rec, sw, due, days)?;
                    extra.swarm = Some(done);
                    renewed
                }
                _ if due => Some(server::renew(env, &item.name, &[], days, &())?),
                _ => None,
            };
            extra.clamped_to_ca = renewed.as_ref().is_some_and(|r| r.clamped_to_ca);
            let renewed = renewed.map(|r| r.after);
            let after = renewed.clone().unwrap_or(rec);
            let not_after = after.not_after;
            let install = item.kind == Kind::Server
                && after.host.ssh.is_some()
                && (renewed.is_some() || item.pending_install);
            let target = if install {
                Some(install_on_host(env, &item.name, not_after, opts)?)
            } else {
                None
            };
            if renewed.is_some() {
                deploy_hook(env, &after)?;
            }
            Ok(match target {
                Some(target) => Outcome::Installed {
                    not_after,
                    target,
                    renewed_now: renewed.is_some(),
                },
                None if renewed.is_none() => Outcome::Rotated { not_after },
                None if item.kind == Kind::Server => Outcome::NotInstalled {
                    not_after,
                    next: format!(
                        "docker tlsctx server install {} --ssh [USER@]HOST[:PORT]",
                        item.name
                    ),
                },
                None => Outcome::Renewed { not_after },
            })
        }
    }
}

/// How long each swarm step may take, as `swarm rotate`'s default.
const SWARM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// `--rotate-on-renew`: renew (when due), publish the next version and
/// move every service that uses one of the prefix's versions, through
/// `swarm rotate`'s own path. Returns the renewed record, if renewed.
fn rotate_in_swarm(
    env: &Env,
    rec: &crate::state::ServerRecord,
    sw: &crate::state::SwarmRotation,
    renew: bool,
    days: u32,
) -> Result<(Option<server::Renewed>, SwarmDone)> {
    let docker =
        crate::docker::swarm::Docker::find(&env.config_dir, sw.context.as_deref(), &env.cancel)?
            .with_timeout(SWARM_TIMEOUT);
    let cluster = docker.require_manager()?;
    if cluster != sw.cluster {
        return Err(Error::SwarmMoved {
            name: rec.name.clone(),
            context: docker.context_label(),
        });
    }
    let services: Vec<String> = publish::list(&docker)?
        .into_iter()
        .filter(|v| v.bundle == rec.name && v.prefix == sw.prefix)
        .flat_map(|v| v.services)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let r = rotate::rotate(
        env,
        &docker,
        &rotate::RotateRequest {
            name: &rec.name,
            prefix: Some(&sw.prefix),
            services: &services,
            targets: publish::Targets::default(),
            days,
            renew,
            timeout: SWARM_TIMEOUT,
        },
        &(),
        &(),
    )?;
    Ok((
        r.renewed,
        SwarmDone {
            version: r.published.version,
            services,
        },
    ))
}

/// How long a deploy hook may take (a reload is seconds; a hung one must
/// not hold the lock for ever).
const HOOK_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// `--exec`: run after the item was renewed (and installed), with its
/// name and files in the environment, its own words only (no shell).
fn deploy_hook(env: &Env, rec: &crate::state::ServerRecord) -> Result<()> {
    let Some(argv) = rec.renewal.exec.as_ref().filter(|a| !a.is_empty()) else {
        return Ok(());
    };
    let dir = env.state().server_dir(rec);
    let failed = |why: String| Error::HookFailed {
        name: rec.name.clone(),
        why,
    };
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env("TLSCTX_NAME", &rec.name)
        .env("TLSCTX_DIR", &dir)
        .env("TLSCTX_CERT", dir.join(rec.cert_file()))
        .env("TLSCTX_KEY", dir.join(rec.key_file()))
        .env("TLSCTX_CA", dir.join("ca.pem"));
    match crate::proc::Spec::new(cmd).quiet().limit(HOOK_LIMIT).run() {
        Ok(r) if r.ok() => Ok(()),
        Ok(r) => Err(failed(format!(
            "{} exited with {}",
            argv.join(" "),
            r.status
        ))),
        Err(crate::proc::Stopped::NotStarted(e)) => {
            Err(failed(format!("{} cannot be run: {e}", argv[0])))
        }
        Err(crate::proc::Stopped::TimedOut | crate::proc::Stopped::Cancelled) => Err(failed(
            format!("{} did not end within {} s", argv[0], HOOK_LIMIT.as_secs()),
        )),
        Err(crate::proc::Stopped::Wait(e)) => Err(failed(e.to_string())),
    }
}

/// The bundle onto its recorded host. A scheduled run has no terminal: a
/// restart that stops containers needs --yes, as on the command line.
fn install_on_host(
    env: &Env,
    name: &str,
    not_after: OffsetDateTime,
    opts: &Options,
) -> Result<String> {
    let done = install::install(
        env,
        name,
        &install::Options {
            ssh: None,
            context: None,
            dry_run: false,
            yes: opts.yes,
            force: false,
            confirm: &|_| false,
            progress: &|_| {},
        },
    )
    .map_err(|e| Error::RenewedNotInstalled {
        host: name.into(),
        not_after,
        source: Box::new(e),
    })?;
    Ok(done.target.to_string())
}

/// The run's result in tlsctx/autorenew.json.
fn record(env: &Env, done: &[Done], describe: fn(&Error) -> String) -> Result<()> {
    let state = env.state();
    let mut a = match state.autorenew() {
        Ok(a) => a.unwrap_or_default(),
        // A damaged record is rebuilt, not lost: the scheduler is on when
        // its files are in place (a lost flag read "off" while the timer
        // ran).
        Err(_) => AutoRenew {
            scheduler: crate::issuance::renewal::schedule::files(&env.config_dir)
                .ok()
                .filter(|f| f.iter().all(|p| p.is_file()))
                .map(|_| crate::issuance::renewal::schedule::scheduler_name().to_string()),
            ..AutoRenew::default()
        },
    };
    a.last_attempt = Some(env.now);
    a.skipped.clear();
    for d in done {
        match &d.outcome {
            Outcome::Skipped(why) => {
                a.skipped.insert(d.item.name.clone(), why.clone());
            }
            Outcome::NotInstalled { .. } => {
                a.not_installed
                    .insert(d.item.name.clone(), crate::text::date(env.now));
            }
            Outcome::Installed { .. } => {
                a.not_installed.remove(&d.item.name);
            }
            _ => {}
        }
    }
    match done.iter().find(|d| d.failed()) {
        Some(d) => {
            let Outcome::Failed(e) = &d.outcome else {
                unreachable!("failed() matched")
            };
            a.last_error = Some(format!(
                "{} {}: {}",
                d.item.kind.as_str(),
                d.item.name,
                describe(e)
            ));
            a.consecutive_failures = a.consecutive_failures.saturating_add(1);
            a.failing_since = a.failing_since.or(Some(env.now));
        }
        None => {
            a.last_error = None;
            a.consecutive_failures = 0;
            a.failing_since = None;
        }
    }
    state.write_autorenew(&a)
}

/// One line for the expiry warnings and `ls`: whether automatic renewal is
/// on, whether it runs, and since when it fails.
/// With `said`, the scheduler's own answer decides on or off, and the
/// record only what it ran; without (the expiry warnings' fast path), the
/// record alone.
pub fn status_line(
    a: Option<&AutoRenew>,
    said: Option<&crate::issuance::renewal::schedule::Said>,
    now: OffsetDateTime,
) -> String {
    use crate::issuance::renewal::schedule::Said;
    let fallback = AutoRenew::default();
    let a = match (a, said) {
        (_, Some(Said::Off(why))) => {
            return format!(
                "Automatic renewal is off: {why}; turn it on: docker tlsctx autorenew install"
            )
        }
        // Turned on by hand, where the tool could not reach the scheduler.
        (a, Some(Said::On(_))) => a.unwrap_or(&fallback),
        (Some(a), _) if a.scheduler.is_some() => a,
        (_, Some(Said::Unknown(why))) => {
            return format!("Automatic renewal is off as far as this tool knows (the scheduler could not be asked: {why}); turn it on: docker tlsctx autorenew install")
        }
        _ => return "Automatic renewal is off; turn it on: docker tlsctx autorenew install".into(),
    };
    let by = a
        .scheduler
        .as_deref()
        .unwrap_or(crate::issuance::renewal::schedule::scheduler_name());
    let skipped = if a.skipped.is_empty() {
        String::new()
    } else {
        format!(
            "; {} skipped ({})",
            a.skipped.len(),
            a.skipped.values().next().map_or("", String::as_str)
        )
    };
    // The record says on, but the scheduler could not be asked: said as
    // the record's word, not as the scheduler's (an attacker's review).
    let unasked = match said {
        Some(Said::Unknown(why)) => {
            format!(" (as recorded at install; the scheduler could not be asked: {why})")
        }
        _ => String::new(),
    };
    let line = match (&a.failing_since, &a.last_error, a.last_attempt) {
        (Some(since), Some(why), _) => format!(
            "Automatic renewal ({by}) has failed since {} ({} runs): {}",
            crate::text::date(*since),
            a.consecutive_failures,
            crate::ssh::printable(why)
        ),
        // It runs twice a day: two days without a run means it does not.
        (_, _, Some(last)) if now - last > time::Duration::days(2) => format!(
            "Automatic renewal ({by}) has not run since {}: check the scheduler (docker tlsctx autorenew status)",
            crate::text::date(last)
        ),
        (_, _, Some(last)) => format!(
            "Automatic renewal is on ({by}); last run {}, ok{skipped}",
            crate::text::rfc3339(last)
        ),
        _ => format!("Automatic renewal is on ({by}); it has not run yet"),
    };
    line + &unasked
}

/// Warnings for bundles renewed here whose daemons still serve the old
/// certificate (no host recorded to install them on).
pub fn not_installed_warnings(a: Option<&AutoRenew>) -> Vec<String> {
    a.map(|a| {
        a.not_installed
            .iter()
            .map(|(name, on)| {
                format!(
                    "server bundle {name:?} was renewed on {on} but not installed: its daemon still serves the old certificate; install it: docker tlsctx server install {name} --ssh [USER@]HOST"
                )
            })
            .collect()
    })
    .unwrap_or_default()
}
