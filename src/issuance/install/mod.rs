//! `server install`: a server bundle onto its Docker host over SSH,
//! validated, restarted, verified with a real client identity, and rolled
//! back when anything fails (ARCHITECTURE.md, "Installing on a host").
//!
//! Order: local checks (bundle, key, the identity that verifies) → login →
//! pre-flight (read-only) → the plan → settle an earlier half-done install
//! → stage → apply (detached, journaled) → mutual-TLS call from here →
//! confirm (or abort: the host rolls back) → record the target.

pub mod change;
pub mod facts;
pub mod plan;
pub mod plugin;
pub mod script;

use std::time::{Duration, Instant};

use facts::{Facts, HOST_STATE, HOST_STATE_PARENT, PREFLIGHT};
use plan::{Plan, Refusal};

use super::{check_cancelled, identity, Env};
use crate::error::{Error, Result};
use crate::fsio;
use crate::keystore;
use crate::pki;
use crate::probe;
use crate::ssh::{quote, Session, Target};
use crate::state::ServerRecord;

/// How long the host waits for this side's confirmation before it rolls
/// back by itself. DOCKER_TLSCTX_CONFIRM_SECS shortens it in debug builds
/// (tests of a killed client).
fn confirm_secs() -> u32 {
    #[cfg(debug_assertions)]
    if let Some(n) = std::env::var("DOCKER_TLSCTX_CONFIRM_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    90
}

pub struct Options<'a> {
    /// `--ssh`; the recorded target when None.
    pub ssh: Option<&'a str>,
    /// `--context`: the identity that proves the install.
    pub context: Option<&'a str>,
    pub dry_run: bool,
    /// `--yes`: a restart that stops containers goes ahead.
    pub yes: bool,
    /// `--force`: replace a TLS set-up of another CA.
    pub force: bool,
    /// Asks the user (a terminal) whether the restart may go ahead.
    pub confirm: &'a (dyn Fn(&str) -> bool + Sync),
    /// Says what happens while an interrupted install is undone.
    pub progress: &'a (dyn Fn(&str) + Sync),
}

/// What an install found and did.
pub struct Installed {
    pub name: String,
    pub target: Target,
    /// The address the mutual-TLS call went to, and with which context.
    pub address: String,
    pub context: String,
    pub plan: Plan,
    pub facts: Facts,
    /// Said before the restart (its cost) and after (an earlier install undone).
    pub notes: Vec<String>,
    /// The Engine's version, from the verifying call.
    pub version: String,
    pub restart: Duration,
    pub total: Duration,
    pub dry_run: bool,
}

pub fn work_dir(name: &str) -> String {
    format!("{HOST_STATE}/{name}")
}

fn refused(host: &str, r: Refusal) -> Error {
    Error::InstallRefused {
        host: host.into(),
        what: r.what,
        fix: r.fix,
    }
}

/// The bundle's files as they go to the host: the key from the keystore
/// (its canonical copy), checked against the certificate.
struct Files {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    crl_pem: Option<String>,
    tls_dir: String,
}

fn bundle_files(env: &Env, rec: &ServerRecord) -> Result<Files> {
    let dir = env.state().server_dir(rec);
    let read = |f: &str| fsio::read_to_string(&dir.join(f));
    let cert_pem = read("server-cert.pem")?;
    let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
    let der = ks
        .get(&super::server::account(&rec.name))?
        .ok_or_else(|| Error::KeyMissing {
            what: format!("server bundle {:?}", rec.name),
            backend: rec.keystore.to_string(),
            fix: format!("issue it again: docker tlsctx server renew {}", rec.name),
        })?;
    if !pki::key_matches_cert(&der, &cert_pem)? {
        return Err(Error::Corrupt {
            path: dir.join("server-cert.pem"),
            why: "the certificate does not belong to the bundle's key in the keystore".into(),
        });
    }
    let tls_dir = super::server::daemon_dir_of(&dir)
        .unwrap_or_else(|| super::server::DEFAULT_DAEMON_DIR.into());
    super::server::check_daemon_dir(&tls_dir)?;
    let crl_pem = dir
        .join("crl.pem")
        .exists()
        .then(|| read("crl.pem"))
        .transpose()?;
    Ok(Files {
        ca_pem: read("ca.pem")?,
        cert_pem,
        key_pem: pki::key_pem_from_der(&der),
        crl_pem,
        tls_dir,
    })
}

/// The context whose identity proves the install: `--context`, else the
/// bundle's own name (what `new` makes), else any context of the bundle's
/// CA whose host the certificate names.
fn verifier(env: &Env, rec: &ServerRecord, wanted: Option<&str>) -> Result<String> {
    let state = env.state();
    if let Some(c) = wanted {
        return Ok(c.into());
    }
    let fits = |r: &crate::state::IdentityRecord| {
        r.context.is_some()
            && r.ca == rec.ca
            && r.host.as_ref().is_some_and(|h| {
                rec.sans
                    .iter()
                    .any(|s| s.host().eq_ignore_ascii_case(&h.name()))
            })
    };
    if let Some(r) = state.identity(&rec.name)?.filter(fits) {
        return Ok(r.name);
    }
    let mut all = state.identities()?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all.into_iter()
        .find(fits)
        .map(|r| r.name)
        .ok_or_else(|| Error::InstallRefused {
            host: rec.name.clone(),
            what: format!(
                "no context of CA {:?} names a host of this certificate, so nothing here could prove the install",
                rec.ca
            ),
            fix: format!(
                "pass --context NAME, or make one: docker tlsctx new NAME --host tcp://{}:{} --ca {} --no-server",
                rec.sans[0].host(),
                rec.port,
                rec.ca
            ),
        })
}

/// The daemon bundle NAME and where it goes: `--ssh`, else its record's.
fn bundle_and_target(
    env: &Env,
    name: &str,
    ssh: Option<&str>,
) -> Result<(ServerRecord, String, Target)> {
    crate::names::validate("server bundle", name)?;
    let rec = env
        .state()
        .server(name)?
        .filter(|r| r.purpose.is_daemon())
        .ok_or_else(|| Error::ServerNotFound(name.into()))?;
    let text = ssh
        .map(str::to_string)
        .or_else(|| rec.ssh.clone())
        .ok_or_else(|| Error::InstallRefused {
            host: name.into(),
            what: format!("server bundle {name:?} has no SSH target yet"),
            fix: format!(
                "name the host once: docker tlsctx server install {name} --ssh [USER@]HOST[:PORT]"
            ),
        })?;
    let target = Target::parse(&text)?;
    Ok((rec, text, target))
}

pub fn install(env: &Env, name: &str, opts: &Options<'_>) -> Result<Installed> {
    let mut undone = None;
    let result = install_inner(env, name, opts, &mut undone);
    crate::interrupt::set_exit_note(None);
    match (result, undone) {
        // This run already undid an earlier half-done install (and
        // restarted dockerd): a later refusal or cancel must not say
        // "nothing was changed".
        (Err(Error::InstallRefused { host, what, fix }), Some(note)) => Err(Error::InstallFailed {
            host,
            what: format!("{what}; before that, this run {note}"),
            fix,
        }),
        (Err(Error::Cancelled), Some(note)) => Err(Error::InstallInterrupted {
            host: name.into(),
            what: format!("before that, this run {note}; nothing else was changed"),
            fix: again(name),
        }),
        (r, _) => r,
    }
}

fn install_inner(
    env: &Env,
    name: &str,
    opts: &Options<'_>,
    undone: &mut Option<String>,
) -> Result<Installed> {
    let started = Instant::now();
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
            fix: format!("add the name: docker tlsctx server renew {name} --add-san {hostname} --install"),
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
    let exe = if rec.authz {
        let path = std::env::current_exe()
            .map_err(Error::io("read", std::path::Path::new("/proc/self/exe")))?;
        Some(std::fs::read(&path).map_err(Error::io("read", &path))?)
    } else {
        None
    };
    let bundle = plan::Bundle {
        tls_dir: &files.tls_dir,
        port: rec.port,
        authz: rec.authz,
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
                fix: if t > rec.not_after {
                    format!("renew it first (docker tlsctx server renew {name} --install), or set the host's clock if it is wrong")
                } else {
                    set_clock.into()
                },
            });
        }
        if let Some(what) = clock_outside(t, "client", id_rec.not_before, id_rec.not_after) {
            return Err(Error::InstallRefused {
                host: shown,
                what: format!("{what}, so dockerd would refuse it"),
                fix: set_clock.into(),
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
                    fix:
                        "pass --yes when that is fine (or enable live-restore in daemon.json first)"
                            .into(),
                });
            }
            notes.push(said);
        }
    }
    let mut out = Installed {
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
    if opts.dry_run {
        out.total = started.elapsed();
        return Ok(out);
    }
    check_cancelled()?;
    // The staged files hold the key: a second Ctrl-C waits until they are
    // staged and, when cancelled, removed again (never left on the host).
    let firm = crate::interrupt::hold_firm();
    let staged = stage(&session, &work, &out.plan);
    if staged.is_err() || cancelled() {
        let removed = session
            .run(&format!("rm -rf {}/stage", quote(&work)), b"")
            .is_ok_and(|r| r.ok());
        staged?;
        return Err(Error::InstallInterrupted {
            host: shown,
            what: if removed {
                "nothing was changed on the host (the files staged there were removed)".into()
            } else {
                format!("nothing was changed on the host, but the files staged in {work}/stage (the key among them) could not be removed: remove that folder on the host")
            },
            fix: again(name),
        });
    }
    drop(firm);
    let launched = Instant::now();
    crate::interrupt::set_exit_note(Some(format!(
        "Interrupted: {shown} was not told; {}.",
        rolls_back_by_itself(launched)
    )));
    launch(&session, &work)?;
    let (state, why) = match wait_for_unless_cancelled(
        &session,
        &work,
        &["waiting", "rolled-back", "down", "broken", "refused"],
    )? {
        Some(end) => end,
        None => return Err(interrupted(&session, &work, &shown, name, launched, opts)),
    };
    out.restart = launched.elapsed();
    if state != "waiting" {
        return Err(failed_on_host(&session, &work, &shown, &state, &why));
    }
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
            host: &hostname,
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
    if cancelled() {
        return Err(interrupted(&session, &work, &shown, name, launched, opts));
    }
    // From the confirmation on, the host keeps the new configuration: a
    // second Ctrl-C waits (crate::interrupt, firmly) until this side has
    // recorded it too, so the record matches the host.
    let firm = match probed {
        Ok(version) => {
            let firm = crate::interrupt::hold_firm();
            crate::interrupt::set_exit_note(None);
            session.run(&format!("touch {}/confirm", quote(&work)), b"")?;
            let (state, why) = wait_for(
                &session,
                &work,
                &["committed", "rolled-back", "down", "broken"],
            )?;
            if state != "committed" {
                return Err(failed_on_host(&session, &work, &shown, &state, &why));
            }
            out.version = version;
            firm
        }
        Err(f) => {
            let hp = out.address.clone();
            let (what, fix) = f.explain(&hp, &out.context);
            let reason =
                format!("the daemon ran, but a mutual-TLS call from here to {hp} failed: {what}");
            abort(&session, &work, &reason)?;
            let (state, _) = wait_for(&session, &work, &["rolled-back", "down", "broken"])?;
            let undone = after_rollback(&state, &work);
            let firewall = matches!(f, crate::tls_client::Failure::TimedOut);
            return Err(Error::InstallFailed {
                host: shown,
                what: format!("{reason}; {undone}"),
                fix: if firewall {
                    format!("the daemon answered on the host itself but nothing came back here within 5 s: a firewall between here and {hp} drops the traffic; open TCP {} to this machine (ufw allow, security group), then run docker tlsctx server install {name} again", m.host.port)
                } else {
                    format!("{fix}; then run docker tlsctx server install {name} again")
                },
            });
        }
    };
    // Later installs and renewals need no --ssh; `renew --due` knows this
    // serial is in place.
    if rec.ssh.as_deref() != Some(target_text.as_str())
        || rec.installed.as_deref() != Some(&rec.serial)
    {
        let mut rec = rec.clone();
        rec.ssh = Some(target_text);
        rec.installed = Some(rec.serial.clone());
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

/// "the host's clock says T, outside the KIND certificate's validity (A to
/// B)" when `t` is outside it.
fn clock_outside(
    t: time::OffsetDateTime,
    kind: &str,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> Option<String> {
    (t < not_before || t > not_after).then(|| {
        format!(
            "the host's clock says {}, outside the {kind} certificate's validity ({} to {})",
            crate::text::rfc3339(t),
            crate::text::rfc3339(not_before),
            crate::text::rfc3339(not_after)
        )
    })
}

/// When the host's script gives up waiting for a confirmation and starts
/// putting the old configuration back, at the latest, from its launch:
/// `dockerd --validate` (30 s), the plugin's start (10 s), the restart and
/// the local socket (UP_SECS, with one last 5 s probe), then the window.
fn rolls_back_by_itself(launched: Instant) -> String {
    let latest = Duration::from_secs(u64::from(30 + 10 + script::UP_SECS + 5 + confirm_secs()));
    let left = latest.saturating_sub(launched.elapsed());
    let by = time::OffsetDateTime::now_utc() + left;
    format!(
        "the host puts its old configuration back by itself, starting by {:02}:{:02}:{:02} UTC at the latest (no confirmation will come)",
        by.hour(),
        by.minute(),
        by.second()
    )
}

/// dockerd already trusts another CA for its clients (another bundle, a
/// hand-made set-up): replacing it would lock that CA's clients out, so it
/// takes --force.
fn other_ca(session: &Session, facts: &Facts, ca_pem: &str, host: &str, name: &str) -> Result<()> {
    let Some(path) = facts
        .file(plan::DAEMON_JSON)
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v.get("tlscacert")?.as_str().map(str::to_string))
    else {
        return Ok(());
    };
    let ran = session.run(&format!("cat {} 2>/dev/null", quote(&path)), b"")?;
    let theirs = ran.stdout();
    if !ran.ok() || theirs.trim() == ca_pem.trim() {
        return Ok(());
    }
    let who = crate::pki::CertInfo::from_pem(&theirs)
        .map(|c| format!(" ({})", c.subject))
        .unwrap_or_default();
    Err(Error::InstallRefused {
        host: host.into(),
        what: format!("dockerd there already trusts another CA for its clients: {path}{who}; its clients would be locked out"),
        fix: format!("if that is what you want: docker tlsctx server install {name} --force-ca"),
    })
}

fn preflight(session: &Session, work: &str) -> Result<Facts> {
    let ran = session.run(&format!("set -- {}\n{PREFLIGHT}", quote(work)), b"")?;
    if !ran.ok() {
        return Err(session.failed(&ran));
    }
    Ok(Facts::parse(&ran.stdout()))
}

/// An earlier install left on the host: wait for it, or undo it. Returns
/// what was done, for the report.
fn settle_earlier(session: &Session, work: &str, facts: &Facts) -> Result<Option<String>> {
    let host = session.target.to_string();
    let Some((state, alive)) = &facts.journal else {
        return Ok(None);
    };
    match state.as_str() {
        // `down`: the files are the ones from before that install; a new
        // install backs them up and restarts dockerd like any other.
        "committed" | "rolled-back" | "refused" | "down" => return Ok(None),
        "broken" => {
            return Err(Error::InstallRefused {
                host,
                what: format!("the last install there could not put the old files back (its journal and backups are in {work})"),
                fix: format!("copy the backups listed in {work}/done back into place on the host, start dockerd, then remove {work}/state and run this again"),
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
    let (end, _) = wait_for(
        session,
        work,
        &["rolled-back", "committed", "down", "broken", "refused"],
    )?;
    Ok(Some(match end.as_str() {
        "rolled-back" => format!("undid an earlier install on {host} that was left half-done ({state}); the configuration before it serves again"),
        "committed" | "refused" => format!("an earlier install on {host} finished while this one waited"),
        // Something was changed (the earlier install undone): never
        // "nothing was changed" here.
        other => {
            return Err(Error::InstallFailed {
                host,
                what: format!(
                    "this run undid an earlier install that was left half-done ({state}), and {}",
                    after_rollback(other, work)
                ),
                fix: after_rollback_fix(other, work),
            })
        }
    }))
}

/// The files, the list and the script, each on stdin into a 0700 folder.
fn stage(session: &Session, work: &str, plan: &Plan) -> Result<()> {
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
            fix: format!("remove it, or make it root's own and mode 0700: the install runs as root from {work}"),
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
fn put_around_sudo(session: &Session, work: &str, name: &str, data: &[u8]) -> Result<()> {
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
fn launch(session: &Session, work: &str) -> Result<()> {
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

fn abort(session: &Session, work: &str, reason: &str) -> Result<()> {
    let w = quote(work);
    session.run(
        &format!("cat > {w}/abort.part && mv -f {w}/abort.part {w}/abort"),
        reason.as_bytes(),
    )?;
    Ok(())
}

fn cancelled() -> bool {
    crate::docker::plugin::cancelled()
}

fn again(name: &str) -> String {
    format!("run docker tlsctx server install {name} again when ready")
}

/// The journal's state now ("" before the script's first).
fn state_now(session: &Session, work: &str) -> Result<String> {
    let ran = session.run(&format!("cat {}/state 2>/dev/null", quote(work)), b"")?;
    Ok(ran.stdout().trim().to_string())
}

/// Ctrl-C after the host's script started and before this side confirmed:
/// the host is asked to roll back now (it would by itself once no
/// confirmation came), and the error says which of the two happened.
fn interrupted(
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
    let mut state = String::new();
    let mut lost = false;
    while state.is_empty() && Instant::now() < until {
        match state_now(session, work) {
            Ok(s) => state = s,
            Err(_) => {
                lost = true;
                break;
            }
        }
        if state.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let told =
        !state.is_empty() && abort(session, work, "interrupted (Ctrl-C) on the client").is_ok();
    if !told {
        let why = if lost || !state.is_empty() {
            "the connection failed"
        } else {
            "its install script wrote no first state within 20 s"
        };
        return Error::InstallInterrupted {
            host: host.into(),
            what: format!("the host could not be told ({why}); {by_itself}"),
            fix: format!("check on the host later with: docker tlsctx server install {name} --dry-run; then {}", again(name)),
        };
    }
    match wait_for(
        session,
        work,
        &["rolled-back", "down", "broken", "refused", "committed"],
    ) {
        Ok((end, _)) if end == "committed" => Error::InstallInterrupted {
            host: host.into(),
            what: "the host had already committed the new configuration".into(),
            fix: again(name),
        },
        Ok((end, _)) => Error::InstallInterrupted {
            host: host.into(),
            what: after_rollback(&end, work),
            fix: match end.as_str() {
                "down" | "broken" => after_rollback_fix(&end, work),
                _ => again(name),
            },
        },
        Err(_) => Error::InstallInterrupted {
            host: host.into(),
            what: format!("no answer while the host rolls back; {by_itself}"),
            fix: again(name),
        },
    }
}

/// `wait_for`, or None as soon as the user interrupts.
fn wait_for_unless_cancelled(
    session: &Session,
    work: &str,
    ends: &[&str],
) -> Result<Option<(String, String)>> {
    wait_for_inner(session, work, ends, true)
}

/// Polls the journal until it reaches one of `ends`; returns the state and
/// the script's reason.
fn wait_for(session: &Session, work: &str, ends: &[&str]) -> Result<(String, String)> {
    Ok(wait_for_inner(session, work, ends, false)?.expect("not cancellable"))
}

fn wait_for_inner(
    session: &Session,
    work: &str,
    ends: &[&str],
    cancellable: bool,
) -> Result<Option<(String, String)>> {
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
        if ends.contains(&state.as_str()) {
            return Ok(Some((state, why.trim().to_string())));
        }
        if cancellable && cancelled() {
            return Ok(None);
        }
        if Instant::now() > until {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(Error::InstallFailed {
        host: session.target.to_string(),
        what: format!("the install on the host is still at {state:?} after {} s", limit.as_secs()),
        fix: format!("look at {work}/log on the host; the next docker tlsctx server install finishes or undoes it"),
    })
}

fn failed_on_host(session: &Session, work: &str, host: &str, state: &str, why: &str) -> Error {
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
        fix: match state {
            "down" | "broken" => after_rollback_fix(state, work),
            _ => format!(
                "fix what the log names (a port another program holds, a flag daemon.json repeats), then run the install again; the journal is in {work} on the host"
            ),
        },
    }
}

/// What the host's journal says of the configuration from before an
/// install, in words that are true of each end state.
fn after_rollback(state: &str, work: &str) -> String {
    match state {
        "rolled-back" => "the old configuration was restored and serves again".into(),
        "refused" => "nothing was changed".into(),
        "down" => format!("the old files were put back as they were, but dockerd does not answer with them either (its last lines are in {work}/restored.log on the host)"),
        _ => format!("the old files could not be put back (the backups are in {work}/backup, listed in {work}/done)"),
    }
}

fn after_rollback_fix(state: &str, work: &str) -> String {
    match state {
        "down" => format!("on the host, `systemctl status docker` or the daemon log says why dockerd does not start with its old configuration; once it runs, run the install again (the journal is in {work})"),
        _ => format!("copy the backups listed in {work}/done back into place on the host, start dockerd, then remove {work}/state and run the install again"),
    }
}

/// One mutual-TLS call with the context's identity; a refused connection
/// right after the restart is tried again for a few seconds. The daemon
/// must present the certificate just installed: another one of the same CA
/// means it did not load the new configuration (a dockerd the service
/// manager does not own, a restart that did nothing).
fn verify(
    m: &probe::Material<'_>,
    installed_cert_pem: &str,
) -> std::result::Result<String, crate::tls_client::Failure> {
    let until = Instant::now() + Duration::from_secs(5);
    let want = pem::parse(installed_cert_pem)
        .map(|p| p.contents().to_vec())
        .unwrap_or_default();
    loop {
        match probe::probe(m) {
            probe::Outcome::Ok {
                version,
                server_cert,
                ..
            } => {
                if server_cert != want {
                    return Err(crate::tls_client::Failure::Other(format!(
                        "the daemon answered with another certificate (SHA-256 {}) than the one installed: it does not run the new configuration",
                        crate::text::sha256_hex(&server_cert)
                    )));
                }
                return Ok(version);
            }
            probe::Outcome::Failed(crate::tls_client::Failure::ConnectionRefused)
                if Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(250))
            }
            probe::Outcome::Failed(f) => return Err(f),
        }
    }
}

/// The bundles `server install --all` reaches: those with a recorded
/// target (with `authz_only`, those whose daemon runs the plugin), grouped
/// by host: bundles of one host are installed one after the other, since
/// they share its daemon.json.
pub fn fleet(env: &Env, authz_only: bool) -> Result<Vec<Vec<String>>> {
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in env.state().servers()? {
        if !(r.purpose.is_daemon() && (r.authz || !authz_only)) {
            continue;
        }
        let Some(ssh) = &r.ssh else { continue };
        let key = Target::parse(ssh)
            .map(|t| format!("{}:{}", t.host.to_ascii_lowercase(), t.port.unwrap_or(22)))
            .unwrap_or_else(|_| ssh.clone());
        groups.entry(key).or_default().push(r.name);
    }
    let mut groups: Vec<Vec<String>> = groups.into_values().collect();
    for g in &mut groups {
        g.sort();
    }
    if groups.is_empty() {
        return Err(Error::InstallRefused {
            host: "any host".into(),
            what: "no server bundle has a recorded SSH target".into(),
            fix: "install one first: docker tlsctx server install NAME --ssh [USER@]HOST[:PORT]"
                .into(),
        });
    }
    Ok(groups)
}

/// Runs `f` for each name, `parallel` groups at a time, a group's names
/// one after the other. Each host has its own session and journal, so one
/// failing neither stops nor touches the others; `done` hears each as it
/// ends.
#[allow(clippy::type_complexity)]
pub fn in_parallel<T: Send>(
    groups: Vec<Vec<String>>,
    parallel: usize,
    f: &(dyn Fn(&str) -> Result<T> + Sync),
    done: &(dyn Fn(&str, &Result<T>) + Sync),
) -> Vec<(String, Result<T>)> {
    let workers = parallel.clamp(1, groups.len().max(1));
    let queue = std::sync::Mutex::new(groups.into_iter());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let Some(group) = queue.lock().expect("queue").next() else {
                    break;
                };
                for name in group {
                    let r = f(&name);
                    done(&name, &r);
                    results.lock().expect("results").push((name, r));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by(|a, b| a.0.cmp(&b.0));
    results
}

/// What `server install --crl-only` did.
pub struct Pushed {
    pub name: String,
    pub target: Target,
    pub dest: String,
    pub total: Duration,
}

/// `server install NAME --crl-only`: the bundle's crl.pem (which `revoke`
/// writes) onto its host, atomically beside ca.pem. The plugin reads it
/// again when it changes: no restart, so nothing to roll back.
pub fn push_crl(env: &Env, name: &str, ssh: Option<&str>) -> Result<Pushed> {
    let started = Instant::now();
    let (rec, _, target) = bundle_and_target(env, name, ssh)?;
    let shown = target.to_string();
    if !rec.authz {
        return Err(Error::InstallRefused {
            host: shown,
            what: format!("bundle {name:?} was made without --authz, and dockerd itself reads no CRL"),
            fix: format!("revocation needs the plugin: docker tlsctx server {name} --san … --authz --force, then server install {name}"),
        });
    }
    let files = bundle_files(env, &rec)?;
    let Some(crl) = files.crl_pem else {
        return Err(Error::InstallRefused {
            host: shown,
            what: format!(
                "bundle {name:?} has no crl.pem: CA {:?} has revoked nothing",
                rec.ca
            ),
            fix: "revoke first: docker tlsctx revoke NAME".into(),
        });
    };
    let session = Session::open(&target, &env.state().tmp_dir())?;
    let dir = files.tls_dir.trim_end_matches('/').to_string();
    let d = quote(&dir);
    let ran = session.run(
        &format!("[ -d {d} ] || exit 3; umask 022; cat > {d}/crl.pem.tlsctx-new && chmod 644 {d}/crl.pem.tlsctx-new && mv -f {d}/crl.pem.tlsctx-new {d}/crl.pem"),
        crl.as_bytes(),
    )?;
    if ran.code == Some(3) {
        return Err(Error::InstallRefused {
            host: shown,
            what: format!("{dir} is not there: the bundle was never installed on it"),
            fix: format!("install it: docker tlsctx server install {name}"),
        });
    }
    if !ran.ok() {
        return Err(session.failed(&ran));
    }
    Ok(Pushed {
        name: name.into(),
        target,
        dest: format!("{dir}/crl.pem"),
        total: started.elapsed(),
    })
}

/// `sh -n`: the script parses as POSIX sh.
#[cfg(all(test, unix))]
pub(crate) fn assert_valid_sh(script: &str) {
    let out = std::process::Command::new("sh")
        .args(["-n", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
