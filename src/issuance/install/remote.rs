//! The conversation with the host's apply script over ssh: pre-flight,
//! staging, launch, waiting for its states, aborting, and saying what a
//! host left in each end state means.

use super::state::HostState;
use std::time::{Duration, Instant};

use crate::error::{Error, InstallNext, Result};
use crate::interrupt::Cancel;
use crate::ssh::{quote, Session};

use super::*;

pub(super) fn preflight(session: &Session, work: &str) -> Result<Facts> {
    let ran = session.run(&format!("set -- {}\n{PREFLIGHT}", quote(work)), b"")?;
    if !ran.ok() {
        return Err(session.failed(&ran));
    }
    Ok(Facts::parse(&ran.stdout()))
}

/// An earlier install left on the host: wait for it, or undo it. Returns
/// what was done, for the report.
pub(super) fn settle_earlier(
    session: &Session,
    work: &str,
    facts: &Facts,
) -> Result<Option<String>> {
    let host = session.target.to_string();
    let Some((state, alive)) = &facts.journal else {
        return Ok(None);
    };
    let state = HostState::parse(state);
    match state {
        // `down`: the files are the ones from before that install; a new
        // install backs them up and restarts dockerd like any other.
        Some(HostState::Committed | HostState::RolledBack | HostState::Refused | HostState::Down) => {
            return Ok(None)
        }
        Some(HostState::Broken) => {
            return Err(Error::InstallRefused {
                host,
                what: format!("the last install there could not put the old files back (its journal and backups are in {work})"),
                next: format!("copy the backups listed in {work}/done back into place on the host, start dockerd, then remove {work}/state and run this again").into(),
            })
        }
        _ => {}
    }
    // A script still running ends by itself: committed once its client
    // confirms, rolled back without. Waiting for it keeps someone else's
    // install (another machine, another DOCKER_CONFIG) from being undone.
    if !*alive {
        // The script itself was killed (a reboot, kill -9): undo its work.
        let line = format!(
            "cd {w} && (setsid sh apply.sh recover </dev/null >>log 2>&1 &)",
            w = quote(work)
        );
        let ran = session.run(&line, b"")?;
        if !ran.ok() {
            return Err(session.failed(&ran));
        }
    }
    // What the earlier install was at, as the script words it (text that
    // is no state is not printed: it came from the host).
    let was = state.map_or("a state this version does not know", HostState::as_str);
    let (end, _) = wait_for(
        session,
        work,
        &[
            HostState::RolledBack,
            HostState::Committed,
            HostState::Down,
            HostState::Broken,
            HostState::Refused,
        ],
    )?;
    Ok(Some(match end {
        HostState::RolledBack => format!("undid an earlier install on {host} that was left half-done ({was}); the configuration before it serves again"),
        HostState::Committed | HostState::Refused => format!("an earlier install on {host} finished while this one waited"),
        // Something was changed (the earlier install undone): never
        // "nothing was changed" here.
        other => {
            return Err(Error::InstallFailed {
                host,
                what: format!(
                    "this run undid an earlier install that was left half-done ({was}), and {}",
                    after_rollback(other, work)
                ),
                next: after_rollback_fix(other, work).into(),
            })
        }
    }))
}

/// The files, the list and the script, each on stdin into a 0700 folder.
pub(super) fn stage(session: &Session, work: &str, plan: &Plan) -> Result<()> {
    let w = quote(work);
    let put = |name: &str, data: &[u8]| -> Result<()> {
        let line = format!(
            "umask 077; mkdir -p {w}/stage && cat > {w}/stage/{name}.part && mv -f {w}/stage/{name}.part {w}/stage/{name}"
        );
        let ran = session.run(&line, data)?;
        if ran.ok() {
            Ok(())
        } else {
            Err(session.failed(&ran))
        }
    };
    // The work folder and those above it: root's own and writable by no
    // one else, never a link (root runs apply.sh from there).
    let clean = session.run(
        &format!(
            r#"umask 077
for d in {HOST_STATE_PARENT} {HOST_STATE} {w}; do
  if [ -L "$d" ]; then echo "$d is a symbolic link" >&2; exit 4; fi
  if [ -e "$d" ]; then
    [ -d "$d" ] && [ "$(stat -c %u "$d")" = 0 ] || {{ echo "$d is not a folder of root's" >&2; exit 4; }}
    case "$(stat -c %A "$d")" in ?????w????|????????w?) echo "$d can be written by others" >&2; exit 4 ;; esac
  else
    mkdir -m 700 "$d" || exit 4
  fi
done
cd {w} && rm -rf stage confirm abort result daemon.log done backup"#
        ),
        b"",
    )?;
    if clean.code == Some(4) {
        return Err(Error::InstallRefused {
            host: session.target.to_string(),
            what: crate::ssh::printable(clean.stderr.trim()),
            next: format!("remove it, or make it root's own and mode 0700: the install runs as root from {work}").into(),
        });
    }
    if !clean.ok() {
        return Err(session.failed(&clean));
    }
    // Where sudo records its input (log_input), a key on sudo's stdin would
    // stay in that log: the key goes up as the login user into a private
    // folder of theirs and root moves it from there.
    let sudo_logs_input = session.uses_sudo()
        && session
            .run_as_login("sudo -n -l", b"")
            .is_ok_and(|r| r.stdout().contains("log_input"));
    for (i, f) in plan.files.iter().enumerate() {
        let name = script::staged_name(i);
        if f.secret && sudo_logs_input {
            put_around_sudo(session, work, &name, &f.content)?;
        } else {
            put(&name, &f.content)?;
        }
    }
    let list = script::manifest(plan);
    let apply = script::apply_script(work, plan, confirm_secs());
    let line = format!("umask 077; cat > {w}/files.part && mv -f {w}/files.part {w}/files");
    let ran = session.run(&line, list.as_bytes())?;
    if !ran.ok() {
        return Err(session.failed(&ran));
    }
    let line =
        format!("umask 077; cat > {w}/apply.sh.part && mv -f {w}/apply.sh.part {w}/apply.sh");
    let ran = session.run(&line, apply.as_bytes())?;
    if !ran.ok() {
        return Err(session.failed(&ran));
    }
    Ok(())
}

/// A secret staged without passing through sudo's input: written by the
/// login user into a fresh 0700 folder of theirs, moved by root, the folder
/// removed either way.
pub(super) fn put_around_sudo(
    session: &Session,
    work: &str,
    name: &str,
    data: &[u8],
) -> Result<()> {
    let up = session.run_as_login(
        "umask 077; d=$(mktemp -d) && cat > \"$d/k\" && printf %s \"$d\"",
        data,
    )?;
    let tmp = up.stdout();
    if !up.ok() || !tmp.starts_with('/') {
        return Err(session.failed(&up));
    }
    let t = quote(tmp.trim());
    let w = quote(work);
    let moved = session.run(
        &format!("mkdir -p {w}/stage && install -o 0 -g 0 -m 600 {t}/k {w}/stage/{name}; r=$?; rm -rf {t}; exit $r"),
        b"",
    );
    let _ = session.run_as_login(&format!("rm -rf {t}"), b"");
    let moved = moved?;
    if moved.ok() {
        Ok(())
    } else {
        Err(session.failed(&moved))
    }
}

/// Starts apply.sh in its own session, so the SSH connection's end does not
/// end it.
pub(super) fn launch(session: &Session, work: &str) -> Result<()> {
    let line = format!(
        "cd {w} && rm -f state && if command -v setsid >/dev/null 2>&1; then (setsid sh apply.sh </dev/null >>log 2>&1 &); else (nohup sh apply.sh </dev/null >>log 2>&1 &); fi",
        w = quote(work)
    );
    let ran = session.run(&line, b"")?;
    if ran.ok() {
        Ok(())
    } else {
        Err(session.failed(&ran))
    }
}

pub(super) fn abort(session: &Session, work: &str, reason: &str) -> Result<()> {
    let w = quote(work);
    session.run(
        &format!("cat > {w}/abort.part && mv -f {w}/abort.part {w}/abort"),
        reason.as_bytes(),
    )?;
    Ok(())
}

pub(super) fn again(name: &str) -> InstallNext {
    InstallNext::Again {
        bundle: name.into(),
    }
}

/// The journal's state now (None before the script's first, or for text
/// that is no state).
pub(super) fn state_now(session: &Session, work: &str) -> Result<Option<HostState>> {
    let ran = session.run(&format!("cat {}/state 2>/dev/null", quote(work)), b"")?;
    Ok(HostState::parse(&ran.stdout()))
}

/// Ctrl-C after the host's script started and before this side confirmed:
/// the host is asked to roll back now (it would by itself once no
/// confirmation came), and the error says which of the two happened.
pub(super) fn interrupted(
    session: &Session,
    work: &str,
    host: &str,
    name: &str,
    launched: Instant,
    opts: &Options<'_>,
) -> Error {
    let by_itself = rolls_back_by_itself(launched);
    (opts.progress)(&format!(
        "Interrupted: asking {host} to put its old configuration back now. Ctrl-C again leaves at once; then {by_itself}."
    ));
    // The script clears an abort left from an earlier run when it starts:
    // wait for its first state before asking.
    let until = Instant::now() + Duration::from_secs(20);
    let mut state = None;
    let mut lost = false;
    while state.is_none() && Instant::now() < until {
        match state_now(session, work) {
            Ok(s) => state = s,
            Err(_) => {
                lost = true;
                break;
            }
        }
        if state.is_none() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let told =
        state.is_some() && abort(session, work, "interrupted (Ctrl-C) on the client").is_ok();
    if !told {
        let why = if lost || state.is_some() {
            "the connection failed"
        } else {
            "its install script wrote no first state within 20 s"
        };
        return Error::InstallInterrupted {
            host: host.into(),
            what: format!("the host could not be told ({why}); {by_itself}"),
            next: InstallNext::CheckThenAgain {
                bundle: name.into(),
            },
        };
    }
    match wait_for(
        session,
        work,
        &[
            HostState::RolledBack,
            HostState::Down,
            HostState::Broken,
            HostState::Refused,
            HostState::Committed,
        ],
    ) {
        Ok((HostState::Committed, _)) => Error::InstallInterrupted {
            host: host.into(),
            what: "the host had already committed the new configuration".into(),
            next: again(name),
        },
        Ok((end, _)) => Error::InstallInterrupted {
            host: host.into(),
            what: after_rollback(end, work),
            next: match end {
                HostState::Down | HostState::Broken => after_rollback_fix(end, work).into(),
                _ => again(name),
            },
        },
        Err(_) => Error::InstallInterrupted {
            host: host.into(),
            what: format!("no answer while the host rolls back; {by_itself}"),
            next: again(name),
        },
    }
}

/// `wait_for`, or None as soon as the user interrupts.
pub(super) fn wait_for_unless_cancelled(
    session: &Session,
    work: &str,
    ends: &[HostState],
    cancel: &Cancel,
) -> Result<Option<(HostState, String)>> {
    wait_for_inner(session, work, ends, Some(cancel))
}

/// Polls the journal until it reaches one of `ends`; returns the state and
/// the script's reason.
pub(super) fn wait_for(
    session: &Session,
    work: &str,
    ends: &[HostState],
) -> Result<(HostState, String)> {
    Ok(wait_for_inner(session, work, ends, None)?.expect("not cancellable"))
}

pub(super) fn wait_for_inner(
    session: &Session,
    work: &str,
    ends: &[HostState],
    cancel: Option<&Cancel>,
) -> Result<Option<(HostState, String)>> {
    let w = quote(work);
    // Restart (up to UP_SECS), the confirmation window, a rollback's restart.
    let limit = Duration::from_secs(u64::from(2 * script::UP_SECS + confirm_secs() + 30));
    let until = Instant::now() + limit;
    let mut state;
    loop {
        let ran = session.run(
            &format!("cat {w}/state 2>/dev/null; echo; echo ---; cat {w}/result 2>/dev/null"),
            b"",
        )?;
        let out = ran.stdout();
        let (s, why) = out.split_once("---").unwrap_or((&out, ""));
        state = s.trim().to_string();
        if let Some(end) = HostState::parse(&state).filter(|s| ends.contains(s)) {
            return Ok(Some((end, why.trim().to_string())));
        }
        if cancel.is_some_and(Cancel::requested) {
            return Ok(None);
        }
        if Instant::now() > until {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(Error::InstallFailed {
        host: session.target.to_string(),
        what: format!(
            "the install on the host is still at {state:?} after {} s",
            limit.as_secs()
        ),
        next: InstallNext::StillRunning { work: work.into() },
    })
}

pub(super) fn failed_on_host(
    session: &Session,
    work: &str,
    host: &str,
    state: HostState,
    why: &str,
) -> Error {
    let logs = session
        .run(&format!("cat {}/daemon.log 2>/dev/null", quote(work)), b"")
        .map(|r| r.stdout())
        .unwrap_or_default();
    let logs = crate::ssh::printable(&logs);
    let tail: Vec<&str> = logs.lines().rev().take(8).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    let restored = after_rollback(state, work);
    let why = if why.is_empty() {
        "dockerd did not start".to_string()
    } else {
        crate::ssh::printable(why)
    };
    Error::InstallFailed {
        host: host.into(),
        what: format!(
            "{why}; {restored}{}{}",
            if tail.is_empty() { "" } else { ". dockerd's last log lines:\n  " },
            tail.join("\n  ")
        ),
        next: match state {
            HostState::Down | HostState::Broken => after_rollback_fix(state, work),
            _ => format!(
                "fix what the log names (a port another program holds, a flag daemon.json repeats), then run the install again; the journal is in {work} on the host"
            ),
        }
        .into(),
    }
}

/// What the host's journal says of the configuration from before an
/// install, in words that are true of each end state.
pub(super) fn after_rollback(state: HostState, work: &str) -> String {
    match state {
        HostState::RolledBack => "the old configuration was restored and serves again".into(),
        HostState::Refused => "nothing was changed".into(),
        HostState::Down => format!("the old files were put back as they were, but dockerd does not answer with them either (its last lines are in {work}/restored.log on the host)"),
        _ => format!("the old files could not be put back (the backups are in {work}/backup, listed in {work}/done)"),
    }
}

pub(super) fn after_rollback_fix(state: HostState, work: &str) -> String {
    match state {
        HostState::Down => format!("on the host, `systemctl status docker` or the daemon log says why dockerd does not start with its old configuration; once it runs, run the install again (the journal is in {work})"),
        _ => format!("copy the backups listed in {work}/done back into place on the host, start dockerd, then remove {work}/state and run the install again"),
    }
}
