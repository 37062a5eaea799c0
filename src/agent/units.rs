//! `agent install` / `agent uninstall`: start the agent on demand.
//!
//! Linux: a systemd user socket unit listing every keychain-only context's
//! socket (0600 in a 0700 folder) and the service it activates; nothing
//! runs until the docker CLI first connects, and the agent exits after 10
//! idle minutes (systemd keeps listening). macOS: a launchd agent with a
//! `Sockets` entry per context, the same on-demand start (the agent takes
//! them with `launch_activate_socket`, src/sys/macos.rs). Windows: a Task
//! Scheduler task that starts the agent at the user's logon (a named pipe
//! cannot be activated on demand).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsio;
use crate::issuance::renewal::schedule::{check_path, run as run_quietly, sd_quote};
use crate::text::xml;

/// Minutes an activated agent waits for a connection before it exits.
pub const IDLE_SECS: u64 = 600;

pub const SOCKET_UNIT: &str = "docker-tlsctx-agent.socket";
pub const SERVICE_UNIT: &str = "docker-tlsctx-agent.service";
pub const LAUNCHD_LABEL: &str = "io.github.docker-tlsctx.agent";

/// The socket unit: one ListenStream per context.
pub fn systemd_socket(sockets: &[PathBuf]) -> String {
    let mut s = String::from(
        "# Written by docker tlsctx agent install: the sockets of the keychain-only contexts.\n\
         # Run it again after docker tlsctx new … --keychain-only to add a context.\n\
         [Unit]\n\
         Description=docker-tlsctx agent sockets (keychain-only Docker contexts)\n\n\
         [Socket]\n",
    );
    for p in sockets {
        // ListenStream= expands specifiers too: `%` doubled.
        s.push_str(&format!(
            "ListenStream={}\n",
            p.display().to_string().replace('%', "%%")
        ));
    }
    s.push_str("SocketMode=0600\nDirectoryMode=0700\n\n[Install]\nWantedBy=sockets.target\n");
    s
}

/// The service the socket unit starts.
pub fn systemd_service(exe: &Path, config_dir: &Path) -> String {
    format!(
        "# Written by docker tlsctx agent install.\n\
         [Unit]\n\
         Description=docker-tlsctx agent: mutual TLS with keys from the keychain for Docker contexts\n\
         Requires={SOCKET_UNIT}\n\n\
         [Service]\n\
         ExecStart={} agent --foreground --log --idle-timeout {IDLE_SECS}\n\
         Environment={}\n",
        sd_quote(&exe.display().to_string()),
        sd_quote(&format!("DOCKER_CONFIG={}", config_dir.display()))
    )
}

/// The launchd agent (macOS): one `Sockets` entry per context, keyed by
/// its name, at its path, mode 0600 (`SockPathMode` is decimal: plists
/// have no octal, launchd.plist(5)). No RunAtLoad or KeepAlive: launchd
/// starts the agent at the first connection, and it exits when idle.
pub fn launchd_plist(
    exe: &Path,
    config_dir: &Path,
    log: &Path,
    sockets: &[(String, PathBuf)],
) -> String {
    let entries: String = sockets
        .iter()
        .map(|(name, path)| {
            format!(
                "    <key>{}</key>\n    <dict><key>SockPathName</key><string>{}</string><key>SockPathMode</key><integer>384</integer></dict>\n",
                xml(name),
                xml(&path.display().to_string())
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by docker tlsctx agent install. Run it again after adding a keychain-only context. -->
<plist version="1.0">
<dict>
  <key>Label</key><string>{LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
    <string>{}</string><string>agent</string><string>--foreground</string><string>--log</string><string>--idle-timeout</string><string>{IDLE_SECS}</string>
  </array>
  <key>EnvironmentVariables</key>
  <dict><key>DOCKER_CONFIG</key><string>{}</string></dict>
  <key>Sockets</key>
  <dict>
{entries}  </dict>
  <key>StandardErrorPath</key><string>{}</string>
</dict>
</plist>
"#,
        xml(&exe.display().to_string()),
        xml(&config_dir.display().to_string()),
        xml(&log.display().to_string())
    )
}

/// The Task Scheduler task (Windows): the agent at the user's logon, as
/// that user with least privilege, hidden, with no time limit (`PT0S`), one
/// instance at most, and started again a minute after it fails: while no
/// agent holds the pipe's name, another local user can make it and receive
/// what Docker sends (ARCHITECTURE.md, "The agent"). Task Scheduler sets no environment: the folder
/// goes as our global flag.
pub fn task_xml(exe: &Path, config_dir: &Path, sid: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><Description>docker-tlsctx agent: mutual TLS with keys from Credential Manager for keychain-only Docker contexts</Description></RegistrationInfo>
  <Triggers>
    <LogonTrigger><UserId>{sid}</UserId></LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author"><UserId>{sid}</UserId><LogonType>InteractiveToken</LogonType><RunLevel>LeastPrivilege</RunLevel></Principal>
  </Principals>
  <Settings>
    <Hidden>true</Hidden>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure><Interval>PT1M</Interval><Count>999</Count></RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{}</Command>
      <Arguments>--config "{}" agent --foreground</Arguments>
    </Exec>
  </Actions>
</Task>
"#,
        xml(&exe.display().to_string()),
        // A trailing backslash would escape the closing quote.
        xml(config_dir.display().to_string().trim_end_matches('\\'))
    )
}

/// The task's name in Task Scheduler.
pub const TASK_NAME: &str = "docker-tlsctx-agent";

/// What `install` or `uninstall` did, and what the user runs next.
pub struct Installed {
    pub files: Vec<PathBuf>,
    /// The service manager's commands run here, and whether each worked.
    pub ran: Vec<(String, bool)>,
    /// What the user runs next (what could not be run here).
    pub next: Vec<String>,
}

/// Where user units go: `$XDG_CONFIG_HOME/systemd/user` (~/.config/…).
fn systemd_dir() -> Result<PathBuf> {
    dirs::config_dir()
        .map(|d| d.join("systemd/user"))
        .ok_or(Error::AgentUnsupported(
            "no home folder for the systemd user units",
        ))
}

fn launchd_path() -> Result<PathBuf> {
    dirs::home_dir()
        .map(|h| {
            h.join("Library/LaunchAgents")
                .join(format!("{LAUNCHD_LABEL}.plist"))
        })
        .ok_or(Error::AgentUnsupported(
            "no home folder for the launchd agent",
        ))
}

/// `sockets`: each keychain-only context's name and socket.
pub fn install(config_dir: &Path, sockets: &[(String, PathBuf)]) -> Result<Installed> {
    let exe = std::env::current_exe().map_err(Error::io("find", PathBuf::from("docker-tlsctx")))?;
    if cfg!(target_os = "macos") {
        let path = launchd_path()?;
        let log = crate::docker::endpoint::create_socket_dir(config_dir)?.join("agent.log");
        fsio::create_dir_all_owned(
            "the LaunchAgents folder",
            path.parent().unwrap(),
            fsio::PUBLIC_DIR,
        )?;
        fsio::check_owned("the program", &exe)?;
        fsio::write_public(
            &path,
            launchd_plist(&exe, config_dir, &log, sockets).as_bytes(),
        )?;
        return Ok(Installed {
            ran: Vec::new(),
            next: vec![
                format!(
                    "launchctl bootout gui/$(id -u)/{LAUNCHD_LABEL}   (if it was loaded before)"
                ),
                format!("launchctl bootstrap gui/$(id -u) {}", path.display()),
            ],
            files: vec![path],
        });
    }
    if cfg!(windows) {
        return install_task(config_dir, &exe);
    }
    let sockets: Vec<PathBuf> = sockets.iter().map(|(_, p)| p.clone()).collect();
    let sockets = &sockets;
    // What reaches the units is checked as autorenew's is: no quotes,
    // backslashes or control characters (they would be unit syntax).
    check_path("the program", &exe)?;
    check_path("the Docker config folder", config_dir)?;
    for s in sockets {
        check_path("a context's socket", s)?;
    }
    let dir = systemd_dir()?;
    fsio::create_dir_all_owned("the systemd user unit folder", &dir, fsio::PUBLIC_DIR)?;
    fsio::check_owned("the program", &exe)?;
    let socket = dir.join(SOCKET_UNIT);
    let service = dir.join(SERVICE_UNIT);
    fsio::write_public(&service, systemd_service(&exe, config_dir).as_bytes())?;
    fsio::write_public(&socket, systemd_socket(sockets).as_bytes())?;
    // Enabled and (re)started here (issue 31: the units alone listened
    // nowhere until the user ran these). restart, not start: a socket unit
    // already listening picks up the contexts added since. Where the user
    // manager cannot be reached (no login session: cron, su), they are the
    // next step instead.
    let mut ran = Vec::new();
    let mut next = Vec::new();
    for words in [
        vec!["systemctl", "--user", "daemon-reload"],
        vec!["systemctl", "--user", "enable", SOCKET_UNIT],
        vec!["systemctl", "--user", "restart", SOCKET_UNIT],
    ] {
        // After a step that failed, the rest is only the next step (not
        // reported as tried).
        if !next.is_empty() {
            next.push(words.join(" "));
            continue;
        }
        let ok = run_quietly(&words);
        if !ok {
            next.push(words.join(" "));
        }
        ran.push((words.join(" "), ok));
    }
    Ok(Installed {
        files: vec![socket, service],
        ran,
        next,
    })
}

/// Windows: the task, registered with schtasks (which reads the XML as
/// UTF-16 with a byte-order mark, as autorenew's task is written).
fn install_task(config_dir: &Path, exe: &Path) -> Result<Installed> {
    #[cfg(windows)]
    let sid = crate::sys::windows::current_user_sid().map_err(Error::io(
        "read the user's SID for",
        PathBuf::from(TASK_NAME),
    ))?;
    #[cfg(not(windows))]
    let sid = String::new();
    let config_dir = &std::path::absolute(config_dir).map_err(Error::io("find", config_dir))?;
    check_path("the program", exe)?;
    check_path("the Docker config folder", config_dir)?;
    let path = config_dir.join("tlsctx").join("agent-task.xml");
    fsio::create_dir_all(path.parent().expect("tlsctx"), fsio::SECRET_DIR)?;
    let text = task_xml(exe, config_dir, &sid);
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    fsio::write_public(&path, &bytes)?;
    let file = path.display().to_string();
    let mut next = Vec::new();
    let create = ["schtasks", "/Create", "/TN", TASK_NAME, "/XML", &file, "/F"];
    if !crate::issuance::renewal::schedule::run(&create) {
        next.push(create.join(" "));
    }
    next.push(format!(
        "schtasks /Run /TN {TASK_NAME}   (to start it now, before the next logon)"
    ));
    Ok(Installed {
        files: vec![path],
        ran: Vec::new(),
        next,
    })
}

pub fn uninstall() -> Result<Installed> {
    if cfg!(windows) {
        let delete = ["schtasks", "/Delete", "/TN", TASK_NAME, "/F"];
        let deleted = crate::issuance::renewal::schedule::run(&delete);
        return Ok(Installed {
            files: Vec::new(),
            ran: Vec::new(),
            next: if deleted {
                vec![format!("taskkill /IM docker-tlsctx.exe   (the task is deleted; this stops an agent it started)")]
            } else {
                vec![delete.join(" ")]
            },
        });
    }
    let files = if cfg!(target_os = "macos") {
        vec![launchd_path()?]
    } else {
        let dir = systemd_dir()?;
        vec![dir.join(SOCKET_UNIT), dir.join(SERVICE_UNIT)]
    };
    let next = if cfg!(target_os = "macos") {
        vec![format!("launchctl bootout gui/$(id -u)/{LAUNCHD_LABEL}")]
    } else {
        vec![
            format!("systemctl --user disable --now {SOCKET_UNIT} {SERVICE_UNIT}"),
            "systemctl --user daemon-reload".into(),
        ]
    };
    let mut removed = Vec::new();
    for f in files {
        if f.exists() {
            fsio::remove_file(&f)?;
            removed.push(f);
        }
    }
    Ok(Installed {
        files: removed,
        ran: Vec::new(),
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_name_every_socket_and_the_config() {
        let s = systemd_socket(&[PathBuf::from("/run/user/1000/docker-tlsctx/a.sock")]);
        assert!(s.contains("ListenStream=/run/user/1000/docker-tlsctx/a.sock\n"));
        assert!(s.contains("SocketMode=0600\nDirectoryMode=0700\n"));
        let svc = systemd_service(Path::new("/x/docker-tlsctx"), Path::new("/h/.docker"));
        assert!(svc.contains(
            "ExecStart=\"/x/docker-tlsctx\" agent --foreground --log --idle-timeout 600\n"
        ));
        assert!(svc.contains("Environment=\"DOCKER_CONFIG=/h/.docker\""));
        let p = launchd_plist(Path::new("/a&b"), Path::new("/c"), Path::new("/l"), &[]);
        assert!(p.contains("<string>/a&amp;b</string>"));
    }
}
