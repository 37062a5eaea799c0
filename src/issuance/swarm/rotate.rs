//! `swarm rotate` (ARCHITECTURE.md, "Swarm"): check and plan every service,
//! wait for an update swarm is still running, renew the bundle, publish the
//! next version, move each service in one `docker service update`, watch
//! the updates converge, and only then remove what no service uses.
//!
//! Once the bundle is renewed, every way out (an error, `--timeout`, Ctrl-C)
//! goes through the same cleanup: the new version's secrets that no service
//! uses are removed (an incomplete version included), and the error says
//! that the bundle was renewed and which version each service is on.

use std::time::{Duration, Instant};

use crate::docker::swarm::{Docker, Service, UpdateState};
use crate::error::{Error, Result};
use crate::interrupt::Cancel;
use crate::issuance::server::{self, Renewed};
use crate::issuance::swarm::publish::{
    parse_name, plan_move, publish, validate_prefix, versions, Published, Targets, Version,
};
use crate::issuance::{Env, Progress};

/// What a service's rotation came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub service: String,
    pub from: Option<u32>,
    pub moved: bool,
    pub why: Option<String>,
    pub seconds: f64,
}

/// What `swarm rotate` did.
pub struct Rotated {
    /// None when the request asked for no renewal (a renewal made earlier
    /// whose rotation did not finish).
    pub renewed: Option<Renewed>,
    pub published: Published,
    pub outcomes: Vec<Outcome>,
    /// Old secrets removed once no service used them.
    pub removed: Vec<String>,
    pub seconds: f64,
}

/// Told how each service's update is going.
pub trait Watch {
    fn status(&self, _service: &str, _state: &str, _elapsed: Duration) {}
    /// Something the user should know before the updates run.
    fn note(&self, _text: &str) {}
}

impl Watch for () {}

/// What `swarm rotate` asks for.
pub struct RotateRequest<'a> {
    pub name: &'a str,
    pub prefix: Option<&'a str>,
    pub services: &'a [String],
    pub targets: Targets,
    pub days: u32,
    /// Renew first (`swarm rotate`, a due renewal); false publishes the
    /// certificate the bundle has now.
    pub renew: bool,
    /// Bounds each update's convergence, each wait for an earlier update,
    /// and each docker call.
    pub timeout: Duration,
}

/// How often an update's state is read: a converging update takes a
/// second or more (swarm's update monitor is 5 s by default), so a poll
/// every half second adds little.
const POLL: Duration = Duration::from_millis(500);

/// The cleanup after an interruption gets its own, shorter bound: it must
/// not turn one hung daemon into two waits of `--timeout`.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(20);

pub fn rotate(
    env: &Env,
    docker: &Docker,
    req: &RotateRequest<'_>,
    progress: &dyn Progress,
    watch: &dyn Watch,
) -> Result<Rotated> {
    let rec = crate::issuance::swarm::publish::bundle_record(env, req.name)?;
    let prefix = req.prefix.unwrap_or(req.name);
    validate_prefix(prefix)?;
    crate::issuance::check_server_days("--days", req.days)?;
    docker.require_manager()?;
    let mut before = Vec::new();
    for name in req.services {
        let svc = docker
            .service(name)?
            .ok_or_else(|| Error::ServiceNotFound(name.clone()))?;
        // Version 0 stands in for the new one: only the shape is checked here.
        if plan_move(&svc, prefix, 0, &req.targets).is_none() {
            return Err(Error::ServiceHasNoTargets {
                service: name.clone(),
                bundle: req.name.into(),
            });
        }
        before.push(svc);
    }
    // An update swarm is still running (a killed or timed-out rotation,
    // someone's `docker service update`) is waited for, never updated on
    // top of: that took a 2-replica stop-first service to 0 tasks.
    for svc in before.iter_mut() {
        if svc.update.as_ref().is_some_and(|u| u.state.in_progress()) {
            *svc = settle(docker, svc, req.timeout, watch, &env.cancel)?;
        }
    }
    for svc in &before {
        if svc.update_has_downtime() {
            watch.note(&format!(
                "service {} updates stop-first with every task at once, so its tasks stop briefly while they move; for no downtime: docker service update --update-order start-first {}",
                svc.name, svc.name
            ));
        }
    }
    let started = Instant::now();
    let renewed = if req.renew {
        Some(server::renew(env, &rec.name, &[], req.days, progress)?)
    } else {
        None
    };
    let mut published: Option<Published> = None;
    match move_services(env, docker, req, prefix, &before, watch, &mut published) {
        Ok((outcomes, removed)) => {
            let published = published.expect("published before the services moved");
            remember_rotated(env, req.name, prefix, &published)?;
            Ok(Rotated {
                renewed,
                published,
                outcomes,
                removed,
                seconds: started.elapsed().as_secs_f64(),
            })
        }
        Err(e) => Err(interrupted(
            docker,
            req,
            prefix,
            renewed.as_ref(),
            published.as_ref(),
            e,
        )),
    }
}

/// A bundle whose rotation `renew --due` does records the serial its
/// services now use, so an unfinished rotation is finished by the next run.
fn remember_rotated(env: &Env, name: &str, prefix: &str, p: &Published) -> Result<()> {
    let state = env.state();
    let Some(mut rec) = state.server(name)? else {
        return Ok(());
    };
    match rec.renewal.swarm.as_mut() {
        Some(s) if s.prefix == prefix && s.rotated.as_ref() != Some(&p.serial) => {
            s.rotated = Some(p.serial.clone());
            state.write_server(&rec)
        }
        _ => Ok(()),
    }
}

/// Waits until `svc`'s running update ends; a paused one is refused.
fn settle(
    docker: &Docker,
    svc: &Service,
    timeout: Duration,
    watch: &dyn Watch,
    cancel: &Cancel,
) -> Result<Service> {
    watch.note(&format!(
        "service {} is still being updated (an earlier update): waiting for it to finish before moving it",
        svc.name
    ));
    let t0 = Instant::now();
    loop {
        crate::issuance::check_cancelled(cancel)?;
        let now = docker
            .service(&svc.name)?
            .ok_or_else(|| Error::ServiceNotFound(svc.name.clone()))?;
        let state = now.update.as_ref().map(|u| u.state);
        watch.status(
            &svc.name,
            state.map_or("none", UpdateState::as_str),
            t0.elapsed(),
        );
        match state {
            Some(s) if s.in_progress() => {}
            Some(UpdateState::Paused | UpdateState::RollbackPaused) => {
                return Err(Error::ServiceBusy {
                    service: svc.name.clone(),
                    state: state.map_or("", UpdateState::as_str).into(),
                })
            }
            _ => return Ok(now),
        }
        if t0.elapsed() > timeout {
            return Err(Error::ServiceBusy {
                service: svc.name.clone(),
                state: format!(
                    "{} after {} s",
                    state.map_or("", UpdateState::as_str),
                    timeout.as_secs()
                ),
            });
        }
        std::thread::sleep(POLL);
    }
}

/// Publish, update, converge, remove the old versions: everything after
/// the renewal. `published` is set as soon as the version exists.
fn move_services(
    env: &Env,
    docker: &Docker,
    req: &RotateRequest<'_>,
    prefix: &str,
    before: &[Service],
    watch: &dyn Watch,
    published: &mut Option<Published>,
) -> Result<(Vec<Outcome>, Vec<String>)> {
    let p = publish(env, docker, req.name, Some(prefix))?;
    let version = p.version;
    *published = Some(p);
    let mut outcomes = Vec::new();
    let mut pending = Vec::new();
    for svc in before {
        env.check_cancelled()?;
        let mv = plan_move(svc, prefix, version, &req.targets).expect("planned above");
        let t0 = Instant::now();
        match docker.update_secrets(&svc.name, &mv.remove, &mv.add) {
            Ok(()) => pending.push((svc.clone(), mv, t0)),
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => outcomes.push(Outcome {
                service: svc.name.clone(),
                from: mv.from,
                moved: false,
                why: Some(e.to_string()),
                seconds: 0.0,
            }),
        }
    }
    for (svc, mv, t0) in pending {
        let old_start = svc.update.as_ref().map(|u| u.started_at.clone());
        let why = converge(
            docker,
            &svc.name,
            old_start,
            t0,
            req.timeout,
            watch,
            &env.cancel,
        )?;
        outcomes.push(Outcome {
            service: svc.name.clone(),
            from: mv.from,
            moved: why.is_none(),
            why,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    outcomes.sort_by(|a, b| a.service.cmp(&b.service));
    if outcomes.iter().any(|o| !o.moved) {
        let why = outcomes
            .iter()
            .filter_map(|o| o.why.as_ref().map(|w| format!("{}: {w}", o.service)))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::RotationFailed {
            why,
            on: Vec::new(),
        });
    }
    let ours = ours(docker, req.name, prefix)?;
    let mut removed = Vec::new();
    for v in ours
        .iter()
        .filter(|v| v.version < version && v.services.is_empty())
    {
        for s in &v.secrets {
            docker.remove_secret(s)?;
            removed.push(s.clone());
        }
    }
    Ok((outcomes, removed))
}

fn ours(docker: &Docker, bundle: &str, prefix: &str) -> Result<Vec<Version>> {
    Ok(versions(&docker.secrets()?, &docker.services()?)
        .into_iter()
        .filter(|v| v.bundle == bundle && v.prefix == prefix)
        .collect())
}

/// The one way out after the renewal: remove the new version's secrets no
/// service uses (and any of its secrets if it never completed), then say
/// what changed. The cleanup ignores a cancellation already given (it is
/// what the cancellation asked for) and has its own deadline.
fn interrupted(
    docker: &Docker,
    req: &RotateRequest<'_>,
    prefix: &str,
    renewed: Option<&Renewed>,
    published: Option<&Published>,
    cause: Error,
) -> Error {
    let cleanup = docker.for_cleanup(CLEANUP_TIMEOUT.min(req.timeout.max(Duration::from_secs(5))));
    let mut notes = Vec::new();
    let version = published.map(|p| p.version);
    if let Some(v) = version {
        match ours(&cleanup, req.name, prefix) {
            Ok(all) => {
                if let Some(new) = all.iter().find(|x| x.version == v) {
                    if new.services.is_empty() {
                        for s in &new.secrets {
                            if cleanup.remove_secret(s).is_err() {
                                notes.push(format!("could not remove {s}"));
                            }
                        }
                    }
                }
            }
            Err(e) => notes.push(format!("could not look at the secrets to clean up ({e})")),
        }
    }
    let on = match cleanup.services() {
        Ok(services) => where_services_are(&services, prefix, req.services),
        Err(e) => vec![format!("unknown ({e})")],
    };
    let cancelled = matches!(cause, Error::Cancelled);
    let why = match cause {
        Error::RotationFailed { why, .. } => why,
        Error::Cancelled => "stopped at Ctrl-C or Docker's cancellation".into(),
        other => other.to_string(),
    };
    Error::RotationInterrupted {
        why,
        cancelled,
        renewed: match renewed {
            Some(r) => format!(
                "{:?} was renewed (valid until {})",
                req.name,
                crate::text::date(r.after.not_after)
            ),
            None => format!("{:?} was not renewed again", req.name),
        },
        version,
        on,
        notes,
    }
}

/// "web on v1" for each named service, from their specs as they are now.
fn where_services_are(services: &[Service], prefix: &str, names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            let svc = services.iter().find(|s| &s.name == n || &s.id == n);
            let v = svc.and_then(|s| {
                s.mounts
                    .iter()
                    .filter_map(|m| parse_name(prefix, &m.secret_name).map(|(_, v)| v))
                    .max()
            });
            let updating = svc
                .and_then(|s| s.update.as_ref())
                .filter(|u| u.state.in_progress())
                .map(|u| format!(" (swarm: {})", u.state.as_str()))
                .unwrap_or_default();
            match v {
                Some(v) => format!("{n} on v{v}{updating}"),
                None => format!("{n} on none of {prefix}'s secrets{updating}"),
            }
        })
        .collect()
}

/// Watches `service`'s update (the one that started after `old_start`)
/// until it completes (None) or fails (Some(why)); a paused update is
/// rolled back, and waited for, so the service runs the old version again.
/// A cancellation stops the watching (swarm goes on with the update).
fn converge(
    docker: &Docker,
    service: &str,
    old_start: Option<String>,
    t0: Instant,
    timeout: Duration,
    watch: &dyn Watch,
    cancel: &Cancel,
) -> Result<Option<String>> {
    let mut rolled_back: Option<String> = None;
    loop {
        crate::issuance::check_cancelled(cancel)?;
        let svc = docker
            .service(service)?
            .ok_or_else(|| Error::ServiceNotFound(service.into()))?;
        let status = svc
            .update
            .filter(|u| Some(&u.started_at) != old_start.as_ref() || rolled_back.is_some());
        let state = status.as_ref().map(|u| u.state);
        let message = status.map(|u| u.message).unwrap_or_default();
        watch.status(
            service,
            state.map_or("starting", UpdateState::as_str),
            t0.elapsed(),
        );
        match (state, &rolled_back) {
            (Some(UpdateState::Completed), None) => return Ok(None),
            (Some(UpdateState::RollbackCompleted), Some(why)) => return Ok(Some(why.clone())),
            (Some(UpdateState::RollbackCompleted), None) => {
                return Ok(Some(format!(
                    "its update failed and swarm rolled it back ({message})"
                )))
            }
            (Some(UpdateState::Paused), None) => {
                docker.rollback(service)?;
                rolled_back = Some(format!("its update failed ({message}) and was rolled back"));
            }
            (Some(UpdateState::RollbackPaused), _) => {
                return Ok(Some(format!(
                    "its update failed and so did the rollback ({message}); it needs a look"
                )))
            }
            _ => {}
        }
        if t0.elapsed() > timeout {
            let shown = state.map_or("starting", UpdateState::as_str);
            return Ok(Some(format!(
                "its update did not converge within {} s (state: {shown})",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(POLL);
    }
}
