//! `autorenew install|uninstall|status`: the OS's own scheduler runs
//! `renew --due` twice a day, on the wall clock, catching up a run missed
//! while the machine slept or was off. Never a monotonic timer (it pauses
//! in suspend: smallstep's renewer, istio/ztunnel#1481) and never a
//! long-running daemon of ours.
//!
//! - Linux: a systemd user timer (`OnCalendar`, `Persistent=true`,
//!   `RandomizedDelaySec` with `FixedRandomDelay=true`) and a oneshot
//!   service. User timers run while the user is logged out only with
//!   `loginctl enable-linger`.
//! - macOS: a launchd agent with `StartCalendarInterval` (run on wake when
//!   a time was missed) and `RunAtLoad`; `StartInterval` may miss runs
//!   across sleep.
//! - Windows: a Task Scheduler task from an XML definition, with
//!   `StartWhenAvailable` (run after a missed start).
//!
//! Each carries DOCKER_CONFIG and the keystore choice.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsio;
use crate::keystore::Choice;
use crate::text::xml;

/// The job's name for one configuration folder: several DOCKER_CONFIGs of
/// one user each get their own (`docker-tlsctx-renew-<8 hex>`), so
/// installing one never replaces or removes another's.
pub fn job_name(config_dir: &Path) -> String {
    let h = crate::text::sha256_hex(config_dir.display().to_string().as_bytes());
    format!("docker-tlsctx-renew-{}", &h[..8])
}

pub fn service_unit(config_dir: &Path) -> String {
    format!("{}.service", job_name(config_dir))
}

pub fn timer_unit(config_dir: &Path) -> String {
    format!("{}.timer", job_name(config_dir))
}

pub fn launchd_label(config_dir: &Path) -> String {
    format!("io.github.{}", job_name(config_dir))
}

/// Paths that go into a unit, a plist or a task: absolute, and nothing
/// their formats would read as syntax (systemd's `%` specifiers are
/// escaped; quotes, backslashes on Unix and control characters are
/// refused; on Windows `%`, which Task Scheduler expands).
pub fn check_path(what: &str, p: &Path) -> Result<()> {
    let s = p.display().to_string();
    let bad = |why: &str| {
        Err(Error::UnschedulablePath {
            what: what.to_string(),
            path: s.clone(),
            why: why.to_string(),
        })
    };
    if !p.is_absolute() {
        return bad("it is not an absolute path");
    }
    // The unit is text: a path that is not UTF-8 would be written with
    // U+FFFD in place of its bytes and name another folder (review).
    if p.to_str().is_none() {
        return bad("it is not valid UTF-8, so the job could not name it exactly");
    }
    if s.chars().any(|c| c.is_control() || c == '"') {
        return bad("it holds a quote or a control character");
    }
    if cfg!(unix) && s.contains('\\') {
        return bad("it holds a backslash");
    }
    if cfg!(windows) && s.contains('%') {
        return bad("it holds %, which Task Scheduler expands");
    }
    Ok(())
}

/// Twice a day, as certbot's timer: a failed run is retried within 12 h,
/// long before anything due (a third of a 90-day lifetime) expires.
pub const HOURS: [u8; 2] = [3, 15];

/// A minute of the hour fixed per configuration folder: many machines set
/// up alike do not all run at :00 (the jitter launchd and Task Scheduler
/// XML cannot draw themselves).
pub fn minute(config_dir: &Path) -> u8 {
    let h = crate::text::sha256_hex(config_dir.display().to_string().as_bytes());
    u8::from_str_radix(&h[..2], 16).unwrap_or(0) % 60
}

fn keystore_word(k: Choice) -> &'static str {
    match k {
        Choice::Auto => "auto",
        Choice::Os => "os",
        Choice::File => "file",
    }
}

/// One word of ExecStart= or Environment=, double-quoted, `%` doubled
/// (a specifier otherwise: systemd.unit(5)); check_path refused what
/// quoting could not carry.
pub fn sd_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('%', "%%"))
}

pub fn systemd_service(exe: &Path, config_dir: &Path, keystore: Choice) -> String {
    format!(
        "# Written by docker tlsctx autorenew install.\n\
         [Unit]\n\
         Description=docker-tlsctx: renew the certificates that are due\n\n\
         [Service]\n\
         Type=oneshot\n\
         TimeoutStartSec=1h\n\
         ExecStart={} renew --due\n\
         Environment={}\n\
         Environment={}\n",
        sd_quote(&exe.display().to_string()),
        sd_quote(&format!("DOCKER_CONFIG={}", config_dir.display())),
        sd_quote(&format!(
            "DOCKER_TLSCTX_KEYSTORE={}",
            keystore_word(keystore)
        )),
    )
}

pub fn systemd_timer() -> String {
    format!(
        "# Written by docker tlsctx autorenew install: twice a day on the wall clock;\n\
         # a run missed while the machine was off or asleep runs at the next start.\n\
         [Unit]\n\
         Description=docker-tlsctx: renew the certificates that are due, twice a day\n\n\
         [Timer]\n\
         OnCalendar=*-*-* {:02},{:02}:00:00\n\
         Persistent=true\n\
         RandomizedDelaySec=1h\n\
         FixedRandomDelay=true\n\n\
         [Install]\n\
         WantedBy=timers.target\n",
        HOURS[0], HOURS[1]
    )
}

pub fn launchd_plist(exe: &Path, config_dir: &Path, keystore: Choice, log: &Path) -> String {
    let m = minute(config_dir);
    let times: String = HOURS
        .iter()
        .map(|h| {
            format!("    <dict><key>Hour</key><integer>{h}</integer><key>Minute</key><integer>{m}</integer></dict>\n")
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by docker tlsctx autorenew install. -->
<plist version="1.0">
<dict>
  <key>Label</key><string>{}</string>
  <key>ProgramArguments</key>
  <array><string>{}</string><string>renew</string><string>--due</string></array>
  <key>EnvironmentVariables</key>
  <dict><key>DOCKER_CONFIG</key><string>{}</string><key>DOCKER_TLSCTX_KEYSTORE</key><string>{}</string></dict>
  <key>StartCalendarInterval</key>
  <array>
{times}  </array>
  <key>RunAtLoad</key><true/>
  <key>StandardErrorPath</key><string>{}</string>
</dict>
</plist>
"#,
        launchd_label(config_dir),
        xml(&exe.display().to_string()),
        xml(&config_dir.display().to_string()),
        keystore_word(keystore),
        xml(&log.display().to_string())
    )
}

/// The Task Scheduler definition (schema 1.2, Windows 7 and later). Task
/// Scheduler sets no environment, so the folder and keystore go as our
/// global flags.
pub fn task_xml(exe: &Path, config_dir: &Path, keystore: Choice) -> String {
    let m = minute(config_dir);
    let triggers: String = HOURS
        .iter()
        .map(|h| {
            format!(
                "    <CalendarTrigger><StartBoundary>2026-01-01T{h:02}:{m:02}:00</StartBoundary><RandomDelay>PT1H</RandomDelay><ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger>\n"
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><Description>docker-tlsctx: renew the certificates that are due</Description></RegistrationInfo>
  <Triggers>
{triggers}  </Triggers>
  <Settings>
    <StartWhenAvailable>true</StartWhenAvailable>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <ExecutionTimeLimit>PT1H</ExecutionTimeLimit>
  </Settings>
  <Actions>
    <Exec>
      <Command>{}</Command>
      <Arguments>--config "{}" --keystore {} renew --due</Arguments>
    </Exec>
  </Actions>
</Task>
"#,
        xml(&exe.display().to_string()),
        // A trailing backslash would escape the closing quote.
        xml(config_dir.display().to_string().trim_end_matches('\\')),
        keystore_word(keystore)
    )
}

/// What `install` or `uninstall` did.
pub struct Changed {
    pub scheduler: &'static str,
    pub files: Vec<PathBuf>,
    /// Commands that ran, with whether they worked.
    pub ran: Vec<(String, bool)>,
    /// What the user runs next, when a command could not run here.
    pub next: Vec<String>,
}

pub fn scheduler_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "launchd agent"
    } else if cfg!(windows) {
        "Task Scheduler task"
    } else {
        "systemd user timer"
    }
}

fn systemd_dir() -> Result<PathBuf> {
    dirs::config_dir()
        .map(|d| d.join("systemd/user"))
        .ok_or(Error::NoHome {
            what: "the systemd user units",
            vars: "HOME (or XDG_CONFIG_HOME)",
        })
}

fn launchd_path(config_dir: &Path) -> Result<PathBuf> {
    dirs::home_dir()
        .map(|h| {
            h.join("Library/LaunchAgents")
                .join(format!("{}.plist", launchd_label(config_dir)))
        })
        .ok_or(Error::NoHome {
            what: "the launchd agent",
            vars: "HOME",
        })
}

/// The files `install` writes on this OS.
pub fn files(config_dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(if cfg!(target_os = "macos") {
        vec![launchd_path(config_dir)?]
    } else if cfg!(windows) {
        vec![config_dir
            .join("tlsctx")
            .join(format!("{}.xml", job_name(config_dir)))]
    } else {
        let d = systemd_dir()?;
        vec![
            d.join(service_unit(config_dir)),
            d.join(timer_unit(config_dir)),
        ]
    })
}

/// The scheduler commands a change ran, and those that failed (what the
/// user runs next, in a session where the scheduler is reachable).
#[derive(Default)]
struct Runs {
    ran: Vec<(String, bool)>,
    next: Vec<String>,
}

impl Runs {
    /// Runs `words` unless an earlier step failed (then it is only the
    /// next step for the user: `enable --now` after a failed
    /// `daemon-reload` would act on units the manager has not read).
    fn try_run(&mut self, words: &[&str]) {
        if !self.next.is_empty() {
            self.next.push(words.join(" "));
            return;
        }
        let ok = run(words);
        self.ran.push((words.join(" "), ok));
        if !ok {
            self.next.push(words.join(" "));
        }
    }
}

/// How long a scheduler's or service manager's change may take: a
/// `systemctl --user restart` waits for its job, which a stuck unit can
/// hold for minutes (systemd's DefaultTimeoutStartSec is 90 s); past this
/// it is reported as not run, with the command to run by hand.
pub const CHANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs a scheduler's command quietly; whether it worked within
/// [`CHANGE_TIMEOUT`].
pub fn run(words: &[&str]) -> bool {
    crate::proc::run(words, CHANGE_TIMEOUT).is_some_and(|r| r.ok())
}

/// Writes the scheduler's files and asks the scheduler to load them; what
/// it could not run here is returned as the next step.
pub fn install(config_dir: &Path, keystore: Choice) -> Result<Changed> {
    let exe = std::env::current_exe().map_err(Error::io("find", PathBuf::from("docker-tlsctx")))?;
    // A relative folder would be read from wherever the scheduler starts.
    let config_dir = &std::path::absolute(config_dir).map_err(Error::io("find", config_dir))?;
    check_path("the program", &exe)?;
    check_path("the Docker config folder", config_dir)?;
    let files = files(config_dir)?;
    let mut runs = Runs::default();
    if cfg!(target_os = "macos") {
        let log = config_dir.join("tlsctx/autorenew.log");
        let dir = files[0].parent().expect("LaunchAgents");
        fsio::create_dir_all_owned("the LaunchAgents folder", dir, fsio::PUBLIC_DIR)?;
        fsio::check_owned("the program", &exe)?;
        fsio::write_public(
            &files[0],
            launchd_plist(&exe, config_dir, keystore, &log).as_bytes(),
        )?;
        let domain = format!("gui/{}", uid());
        // A loaded agent is replaced, not kept (bootstrap refuses a loaded one).
        let _ = run(&[
            "launchctl",
            "bootout",
            &format!("{domain}/{}", launchd_label(config_dir)),
        ]);
        runs.try_run(&[
            "launchctl",
            "bootstrap",
            &domain,
            &files[0].display().to_string(),
        ]);
    } else if cfg!(windows) {
        fsio::create_dir_all(files[0].parent().expect("tlsctx"), fsio::SECRET_DIR)?;
        // Task Scheduler reads its XML as UTF-16 with a byte-order mark.
        let text = task_xml(&exe, config_dir, keystore);
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        fsio::write_public(&files[0], &bytes)?;
        let path = files[0].display().to_string();
        let task = job_name(config_dir);
        runs.try_run(&["schtasks", "/Create", "/TN", &task, "/XML", &path, "/F"]);
    } else {
        let dir = files[0].parent().expect("systemd/user");
        // The user manager runs what these units say: neither they nor the
        // program may be changeable by another user.
        fsio::create_dir_all_owned("the systemd user unit folder", dir, fsio::PUBLIC_DIR)?;
        fsio::check_owned("the program", &exe)?;
        fsio::write_public(
            &files[0],
            systemd_service(&exe, config_dir, keystore).as_bytes(),
        )?;
        fsio::write_public(&files[1], systemd_timer().as_bytes())?;
        runs.try_run(&["systemctl", "--user", "daemon-reload"]);
        runs.try_run(&[
            "systemctl",
            "--user",
            "enable",
            "--now",
            &timer_unit(config_dir),
        ]);
    }
    Ok(Changed {
        scheduler: scheduler_name(),
        files,
        ran: runs.ran,
        next: runs.next,
    })
}

pub fn uninstall(config_dir: &Path) -> Result<Changed> {
    let config_dir = &std::path::absolute(config_dir).map_err(Error::io("find", config_dir))?;
    let mut runs = Runs::default();
    if cfg!(target_os = "macos") {
        runs.try_run(&[
            "launchctl",
            "bootout",
            &format!("gui/{}/{}", uid(), launchd_label(config_dir)),
        ]);
    } else if cfg!(windows) {
        runs.try_run(&["schtasks", "/Delete", "/TN", &job_name(config_dir), "/F"]);
    } else {
        runs.try_run(&[
            "systemctl",
            "--user",
            "disable",
            "--now",
            &timer_unit(config_dir),
        ]);
    }
    let mut removed = Vec::new();
    for f in files(config_dir)? {
        if f.exists() {
            fsio::remove_file(&f)?;
            removed.push(f);
        }
    }
    if !cfg!(target_os = "macos") && !cfg!(windows) {
        runs.try_run(&["systemctl", "--user", "daemon-reload"]);
    }
    Ok(Changed {
        scheduler: scheduler_name(),
        files: removed,
        ran: runs.ran,
        next: runs.next,
    })
}

/// What the OS's scheduler says of this configuration folder's job, asked
/// now (issue 31: a timer disabled by hand was still "on" from our record,
/// and one enabled by hand "off").
#[derive(Debug, Clone, PartialEq)]
pub enum Said {
    /// Loaded and going to run; the scheduler's words.
    On(String),
    /// Not going to run; the scheduler's words.
    Off(String),
    /// The scheduler could not be asked (no user manager in this session).
    Unknown(String),
}

/// How long a scheduler may take to answer a query: `ls` asks it, and a
/// user manager whose bus is gone, or Wine's `schtasks /Query` (which never
/// returned in the Wine end-to-end run), must not hold `ls`.
const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A scheduler's command: exit status, standard output, first line of
/// standard error (made printable: a scheduler's words reach the
/// terminal). None when it cannot be run or does not answer in time.
fn ask(words: &[&str]) -> Option<(Option<i32>, String, String)> {
    let r = crate::proc::run(words, ASK_TIMEOUT)?;
    let err = String::from_utf8_lossy(&r.stderr);
    Some((
        r.code(),
        crate::ssh::printable(String::from_utf8_lossy(&r.stdout).trim()),
        crate::ssh::printable(err.lines().next().unwrap_or("").trim()),
    ))
}

pub fn query(config_dir: &Path) -> Said {
    let config_dir = std::path::absolute(config_dir).unwrap_or_else(|_| config_dir.into());
    let config_dir = config_dir.as_path();
    if cfg!(target_os = "macos") {
        let target = format!("gui/{}/{}", uid(), launchd_label(config_dir));
        return match ask(&["launchctl", "print", &target]) {
            Some((Some(0), _, _)) => Said::On(format!("launchd has {target} loaded")),
            // 113: "Could not find service" (launchctl's exit code for it).
            Some((Some(113), _, _)) => Said::Off(format!("launchd has no {target} loaded")),
            Some((_, _, e)) => Said::Unknown(format!("launchctl print {target}: {e}")),
            None => Said::Unknown("launchctl did not answer within 2 s".into()),
        };
    }
    if cfg!(windows) {
        let task = job_name(config_dir);
        // The task's own XML, not the listing: the listing's words are
        // translated ("Disabled"), the XML's elements are not.
        return match ask(&["schtasks", "/Query", "/TN", &task, "/XML"]) {
            Some((Some(0), out, _)) if out.contains("<Task") => {
                if out.contains("<Enabled>false</Enabled>") {
                    Said::Off(format!("the task {task} is disabled in Task Scheduler"))
                } else {
                    Said::On(format!("Task Scheduler has the task {task}"))
                }
            }
            Some((Some(0), _, _)) => Said::Unknown(format!(
                "schtasks /Query /TN {task} /XML gave no task definition"
            )),
            Some((_, _, _)) => Said::Off(format!("Task Scheduler has no task {task}")),
            None => Said::Unknown("schtasks did not answer within 2 s".into()),
        };
    }
    let timer = timer_unit(config_dir);
    // systemctl --user reaches the manager through $XDG_RUNTIME_DIR
    // (systemd/private, else the bus) or $DBUS_SESSION_BUS_ADDRESS
    // (sd_bus_open_user(3)); with none of them (cron, su, a bare ssh
    // command), it cannot answer, and asking costs `ls` a process start
    // (23 ms on bench/renew.sh's machine) to learn that.
    let runtime =
        crate::environment::var_os(crate::environment::Var::XdgRuntimeDir).map(PathBuf::from);
    let reachable = crate::environment::var_os(crate::environment::Var::DbusSessionBusAddress)
        .is_some()
        || runtime
            .as_ref()
            .is_some_and(|d| d.join("systemd/private").exists() || d.join("bus").exists());
    if !reachable {
        return Said::Unknown(
            "no user manager in this session (no $XDG_RUNTIME_DIR with its socket)".into(),
        );
    }
    // One `show` for the three properties (systemctl(1): KEY=VALUE lines,
    // exit 0 even for a unit it does not know, which is LoadState=not-found;
    // non-zero when no user manager answers).
    let Some((code, out, err)) = ask(&[
        "systemctl",
        "--user",
        "show",
        &timer,
        "-p",
        "LoadState",
        "-p",
        "UnitFileState",
        "-p",
        "ActiveState",
    ]) else {
        return Said::Unknown("systemctl --user did not answer within 2 s".into());
    };
    if code != Some(0) {
        return Said::Unknown(if err.is_empty() {
            format!("systemctl --user show {timer} exited with {code:?}")
        } else {
            err
        });
    }
    let prop = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .unwrap_or("")
            .to_string()
    };
    match (
        prop("LoadState").as_str(),
        prop("UnitFileState").as_str(),
        prop("ActiveState").as_str(),
    ) {
        ("not-found", _, _) => Said::Off(format!("the user manager has no {timer}")),
        (_, "enabled", "active") => Said::On(format!("{timer} is enabled and active")),
        (_, "enabled", a) => Said::Off(format!(
            "{timer} is enabled but {a} (systemctl --user start {timer})"
        )),
        (_, "", _) => Said::Unknown(format!("systemctl --user show {timer} gave no state")),
        (_, f, _) => Said::Off(format!("{timer} is {f} in the user manager")),
    }
}

#[cfg(unix)]
fn uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[cfg(not(unix))]
fn uid() -> u32 {
    0
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The Wine end-to-end run hung in `ls` for 16 minutes on a
    /// `schtasks /Query` that never returned: a scheduler that does not
    /// answer costs ASK_TIMEOUT (crate::proc has the other cases), and
    /// what it says reaches the terminal made harmless.
    #[test]
    fn a_scheduler_that_does_not_answer_costs_two_seconds() {
        let started = std::time::Instant::now();
        assert_eq!(ask(&["sleep", "30"]), None);
        assert!(started.elapsed() < ASK_TIMEOUT + std::time::Duration::from_secs(1));
        assert_eq!(
            ask(&["sh", "-c", "echo enabled; echo oops >&2; exit 1"]),
            Some((Some(1), "enabled".to_string(), "oops".to_string()))
        );
        let (_, out, err) = ask(&[
            "sh",
            "-c",
            "printf 'on\\033]52;c;eA==\\007\\342\\200\\256'; printf '\\033[2Jx' >&2",
        ])
        .unwrap();
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{202e}'),
            "{out:?}"
        );
        assert!(out.starts_with("on") && !err.contains('\u{1b}'), "{err:?}");
    }
}
