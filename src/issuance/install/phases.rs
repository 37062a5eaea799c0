//! `install()`'s steps as types, each consumed by the next (issue 32: a
//! typed state machine where one 291-line function walked them):
//! [`Planned`] (checked here and on the host; nothing changed) →
//! [`Started`] (the files staged, the host's script waiting for our call)
//! → [`Committed`] (our mutual-TLS call went through, the host kept the
//! new configuration) → [`Installed`] (recorded here). What each step does
//! when it fails or is cancelled is said with it.

use std::time::{Duration, Instant};

use super::remote::*;
use super::state::HostState;
use super::{
    bundle_and_target, bundle_files, clock_outside, other_ca, plan, refused, rolls_back_by_itself,
    verifier, verify, work_dir, Files, Installed, Options,
};
use crate::error::{Error, InstallNext, Result};
use crate::interrupt::FirmHold;
use crate::issuance::{identities::identity, Env};
use crate::pki;
use crate::probe;
use crate::ssh::{quote, Session};
use crate::state::ServerRecord;

/// What every step after the plan needs.
pub(super) struct Install {
    rec: ServerRecord,
    target_text: String,
    files: Files,
    m: identity::Material,
    hostname: String,
    shown: String,
    session: Session,
    work: String,
    out: Installed,
}

/// Checked here and on the host, the plan made: nothing changed yet.
pub(super) struct Planned(pub Install);

/// The files staged and the host's script started: dockerd runs the new
/// configuration and the host waits for our call, rolling back by itself
/// if none comes.
pub(super) struct Started {
    run: Install,
    launched: Instant,
}

/// The host keeps the new configuration; a second Ctrl-C waits
/// (`firm`) until it is recorded here too.
pub(super) struct Committed {
    run: Install,
    firm: FirmHold,
}

impl Planned {
    /// What a dry run reports: its total taken before the SSH session
    /// closes (up to 5 s of `ssh -O exit`, which the old code never counted;
    /// review of issue 32's split).
    pub fn dry_run(self, started: Instant) -> Installed {
        let Planned(mut run) = self;
        run.out.total = started.elapsed();
        run.out
    }
}

/// Local checks (the bundle, its key, the identity that will prove the
/// install), the login, pre-flight, an earlier half-done install settled,
/// the plan and the refusals that need the host's facts.
pub(super) fn plan_on_host(
    env: &Env,
    name: &str,
    opts: &Options<'_>,
    undone: &mut Option<String>,
) -> Result<Planned> {
    let (rec, target_text, target) = bundle_and_target(env, name, opts.ssh)?;
    let files = bundle_files(env, &rec)?;
    let context = verifier(env, &rec, opts.context)?;
    let m = identity::load(env, &context)?;
    let hostname = m.host.name();
    let shown = target.to_string();
    // x509: certificate is valid for A, not B: caught before the host.
    if !rec
        .sans
        .iter()
        .any(|s| s.host().eq_ignore_ascii_case(&hostname))
    {
        return Err(Error::InstallRefused {
            host: shown,
            what: format!(
                "context {context:?} reaches the daemon as {hostname}, which the server certificate does not name (it names {})",
                rec.sans.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
            next: InstallNext::AddSan {
                bundle: name.into(),
                hostname,
            },
        });
    }
    let id_rec = env
        .state()
        .identity(&context)?
        .ok_or_else(|| Error::IdentityNotFound(context.clone()))?;

    let session = Session::open(&target, &env.state().tmp_dir())?;
    let work = work_dir(name);
    let mut notes = Vec::new();
    let mut facts = preflight(&session, &work)?;
    if let Some(note) = settle_earlier(&session, &work, &facts)? {
        *undone = Some(note.clone());
        notes.push(note);
        facts = preflight(&session, &work)?;
    }
    // The plugin is this very binary (same OS and architecture checked by
    // the plan).
    let exe = if rec.host.authz {
        let path = std::env::current_exe()
            .map_err(Error::io("read", std::path::Path::new("/proc/self/exe")))?;
        Some(std::fs::read(&path).map_err(Error::io("read", &path))?)
    } else {
        None
    };
    let bundle = plan::Bundle {
        tls_dir: &files.tls_dir,
        port: rec.port,
        authz: rec.host.authz,
        ca_pem: &files.ca_pem,
        cert_pem: &files.cert_pem,
        key_pem: &files.key_pem,
        crl_pem: files.crl_pem.as_deref(),
        plugin_exe: exe.as_deref(),
    };
    let plan = plan::build(&facts, &bundle, &shown).map_err(|r| refused(&shown, r))?;
    if !opts.force {
        other_ca(&session, &facts, &files.ca_pem, &shown, name)?;
    }
    // dockerd checks the client certificate with the host's clock, and
    // the client checks the server's with its own: a server certificate
    // the host's clock calls not yet valid or expired is refused before a
    // restart too (issue 31: only the client's was checked).
    if let Some(clock) = facts.clock {
        let t = time::OffsetDateTime::from_unix_timestamp(clock).unwrap_or(env.now);
        let set_clock =
            "set the host's clock (timedatectl set-ntp true, or chrony/ntpd), then run this again";
        if let Some(what) = clock_outside(t, "server", rec.not_before, rec.not_after) {
            return Err(Error::InstallRefused {
                host: shown,
                what,
                next: if t > rec.not_after {
                    InstallNext::RenewFirst {
                        bundle: name.into(),
                    }
                } else {
                    set_clock.into()
                },
            });
        }
        if let Some(what) = clock_outside(t, "client", id_rec.not_before, id_rec.not_after) {
            return Err(Error::InstallRefused {
                host: shown,
                what: format!("{what}, so dockerd would refuse it"),
                next: set_clock.into(),
            });
        }
    }
    if let Some(c) = facts.cost {
        let mut cost = Vec::new();
        if c.running > 0 && !c.live_restore {
            cost.push(format!(
                "stops its {} running container(s) (live-restore is off; containers with a restart policy come back)",
                c.running
            ));
        }
        if c.swarm_manager {
            cost.push("takes a swarm manager away while dockerd restarts".into());
        }
        if !cost.is_empty() {
            let said = format!("restarting dockerd on {shown} {}", cost.join(", and "));
            if !opts.dry_run && !opts.yes && !(opts.confirm)(&said) {
                return Err(Error::InstallRefused {
                    host: shown,
                    what: said,
                    next: InstallNext::ConfirmRestart,
                });
            }
            notes.push(said);
        }
    }
    let out = Installed {
        name: name.into(),
        target,
        address: format!("{hostname}:{}", m.host.port),
        context,
        plan,
        facts,
        notes,
        version: String::new(),
        restart: Duration::ZERO,
        total: Duration::ZERO,
        dry_run: opts.dry_run,
    };
    Ok(Planned(Install {
        rec,
        target_text,
        files,
        m,
        hostname,
        shown,
        session,
        work,
        out,
    }))
}

/// Stages the files and starts the host's script; returns once dockerd
/// runs the new configuration and the host waits for our call.
pub(super) fn start(env: &Env, name: &str, opts: &Options<'_>, p: Planned) -> Result<Started> {
    let Planned(mut run) = p;
    let Install {
        session,
        work,
        shown,
        out,
        ..
    } = &mut run;
    let (session, work, shown) = (&*session, work.as_str(), shown.clone());
    // The staged files hold the key: a second Ctrl-C waits until they are
    // staged and, when cancelled, removed again (never left on the host).
    let firm = crate::interrupt::hold_firm();
    let staged = stage(session, work, &out.plan);
    if staged.is_err() || env.cancel.requested() {
        let removed = session
            .run(&format!("rm -rf {}/stage", quote(work)), b"")
            .is_ok_and(|r| r.ok());
        staged?;
        return Err(Error::InstallInterrupted {
            host: shown,
            what: if removed {
                "nothing was changed on the host (the files staged there were removed)".into()
            } else {
                format!("nothing was changed on the host, but the files staged in {work}/stage (the key among them) could not be removed: remove that folder on the host")
            },
            next: again(name),
        });
    }
    drop(firm);
    let launched = Instant::now();
    crate::interrupt::set_exit_note(Some(format!(
        "Interrupted: {shown} was not told; {}.",
        rolls_back_by_itself(launched)
    )));
    launch(session, work)?;
    let (state, why) = match wait_for_unless_cancelled(
        session,
        work,
        &[
            HostState::Waiting,
            HostState::RolledBack,
            HostState::Down,
            HostState::Broken,
            HostState::Refused,
        ],
        &env.cancel,
    )? {
        Some(end) => end,
        None => return Err(interrupted(session, work, &shown, name, launched, opts)),
    };
    out.restart = launched.elapsed();
    if state != HostState::Waiting {
        return Err(failed_on_host(session, work, &shown, state, &why));
    }
    Ok(Started { run, launched })
}

/// The call from here with the context's identity (through the plugin
/// when the bundle has it); the host commits on our word, or rolls back
/// on our abort.
pub(super) fn confirm(env: &Env, name: &str, opts: &Options<'_>, s: Started) -> Result<Committed> {
    let Started { mut run, launched } = s;
    let Install {
        files,
        m,
        hostname,
        shown,
        session,
        work,
        out,
        ..
    } = &mut run;
    let (session, work, shown) = (&*session, work.as_str(), shown.clone());
    let key_pem = pki::key_pem_from_der(&m.key_der);
    // With the plugin: its decisions for this CN, before and after the call.
    let allowed = format!("allow cn={:?}", m.cn);
    let count = |log: &str| -> Result<usize> {
        let ran = session.run(&format!("{log} 2>/dev/null"), b"")?;
        Ok(ran
            .stdout()
            .lines()
            .filter(|l| l.contains(&allowed))
            .count())
    };
    let seen_before = match &out.plan.plugin {
        Some(p) => Some(count(&p.log)?),
        None => None,
    };
    let probed = verify(
        &probe::Material {
            host: hostname,
            port: m.host.port,
            ca_pem: &m.ca_pem,
            cert_pem: &m.cert_pem,
            key_pem: &key_pem,
        },
        &files.cert_pem,
    );
    // The call went through the plugin, or the install is not what it says.
    let probed = match (probed, &out.plan.plugin, seen_before) {
        (Ok(v), Some(p), Some(n)) => {
            if count(&p.log)? > n {
                Ok(v)
            } else {
                Err(crate::tls_client::Failure::Other(
                    "dockerd answered without asking the tlsctx-authz plugin (no decision in its log)".into(),
                ))
            }
        }
        (r, _, _) => r,
    };
    if env.cancel.requested() {
        return Err(interrupted(session, work, &shown, name, launched, opts));
    }
    // From the confirmation on, the host keeps the new configuration: a
    // second Ctrl-C waits (crate::interrupt, firmly) until this side has
    // recorded it too, so the record matches the host.
    let firm = match probed {
        Ok(version) => {
            let firm = crate::interrupt::hold_firm();
            crate::interrupt::set_exit_note(None);
            session.run(&format!("touch {}/confirm", quote(work)), b"")?;
            let (state, why) = wait_for(
                session,
                work,
                &[
                    HostState::Committed,
                    HostState::RolledBack,
                    HostState::Down,
                    HostState::Broken,
                ],
            )?;
            if state != HostState::Committed {
                return Err(failed_on_host(session, work, &shown, state, &why));
            }
            out.version = version;
            firm
        }
        Err(f) => {
            let hp = out.address.clone();
            let (what, fix) = f.explain(&hp, &out.context);
            let reason =
                format!("the daemon ran, but a mutual-TLS call from here to {hp} failed: {what}");
            abort(session, work, &reason)?;
            let (state, _) = wait_for(session, work, &HostState::AFTER_ROLLBACK)?;
            let undone = after_rollback(state, work);
            let firewall = matches!(f, crate::tls_client::Failure::TimedOut);
            return Err(Error::InstallFailed {
                host: shown,
                what: format!("{reason}; {undone}"),
                next: InstallNext::OnHostThenAgain {
                    what: if firewall {
                        format!("the daemon answered on the host itself but nothing came back here within 5 s: a firewall between here and {hp} drops the traffic; open TCP {} to this machine (ufw allow, security group)", m.host.port)
                    } else {
                        fix
                    },
                    bundle: name.into(),
                },
            });
        }
    };

    Ok(Committed { run, firm })
}

/// Records the target and the installed serial here.
pub(super) fn record(env: &Env, name: &str, c: Committed, started: Instant) -> Result<Installed> {
    let Committed { run, firm } = c;
    let Install {
        rec,
        target_text,
        mut out,
        ..
    } = run;
    // Later installs and renewals need no --ssh; `renew --due` knows this
    // serial is in place.
    if rec.host.ssh.as_deref() != Some(target_text.as_str())
        || rec.host.installed.as_deref() != Some(&rec.serial)
    {
        let mut rec = rec.clone();
        rec.host.ssh = Some(target_text);
        rec.host.installed = Some(rec.serial.clone());
        env.state().write_server(&rec)?;
    }
    // A renewal `renew --due` could not install is installed now.
    if let Some(mut a) = env.state().autorenew().ok().flatten() {
        if a.not_installed.remove(name).is_some() {
            env.state().write_autorenew(&a)?;
        }
    }
    drop(firm);
    out.total = started.elapsed();
    Ok(out)
}
