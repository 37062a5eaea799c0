//! `agent install` / `agent uninstall`: start the agent on demand.
//!
//! Linux: a systemd user socket unit listing every keychain-only context's
//! socket (0600 in a 0700 folder) and the service it activates; nothing
//! runs until the docker CLI first connects, and the agent exits after 10
//! idle minutes (systemd keeps listening). macOS: a launchd agent that
//! starts at login and is kept alive; launchd's socket activation needs its
//! C call `launch_activate_socket`, which takes unsafe code this crate does
//! not have.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsio;
use crate::issuance::schedule::{check_path, sd_quote};
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

/// The launchd agent (macOS).
pub fn launchd_plist(exe: &Path, config_dir: &Path, log: &Path) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by docker tlsctx agent install. -->
<plist version="1.0">
<dict>
  <key>Label</key><string>{LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
    <string>{}</string><string>agent</string><string>--foreground</string><string>--log</string>
  </array>
  <key>EnvironmentVariables</key>
  <dict><key>DOCKER_CONFIG</key><string>{}</string></dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><true/>
  <key>StandardErrorPath</key><string>{}</string>
</dict>
</plist>
"#,
        xml(&exe.display().to_string()),
        xml(&config_dir.display().to_string()),
        xml(&log.display().to_string())
    )
}

/// What `install` or `uninstall` did, and what the user runs next.
pub struct Installed {
    pub files: Vec<PathBuf>,
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

pub fn install(config_dir: &Path, sockets: &[PathBuf]) -> Result<Installed> {
    let exe = std::env::current_exe().map_err(Error::io("find", PathBuf::from("docker-tlsctx")))?;
    if cfg!(target_os = "macos") {
        let path = launchd_path()?;
        let log = crate::docker::endpoint::socket_dir(config_dir)?.join("agent.log");
        fsio::create_dir_all(path.parent().unwrap(), fsio::PUBLIC_DIR)?;
        fsio::check_owned("the LaunchAgents folder", path.parent().unwrap())?;
        fsio::check_owned("the program", &exe)?;
        fsio::write_public(&path, launchd_plist(&exe, config_dir, &log).as_bytes())?;
        return Ok(Installed {
            next: vec![format!(
                "launchctl bootstrap gui/$(id -u) {}",
                path.display()
            )],
            files: vec![path],
        });
    }
    // What reaches the units is checked as autorenew's is: no quotes,
    // backslashes or control characters (they would be unit syntax).
    check_path("the program", &exe)?;
    check_path("the Docker config folder", config_dir)?;
    for s in sockets {
        check_path("a context's socket", s)?;
    }
    let dir = systemd_dir()?;
    fsio::create_dir_all(&dir, fsio::PUBLIC_DIR)?;
    fsio::check_owned("the systemd user unit folder", &dir)?;
    fsio::check_owned("the program", &exe)?;
    let socket = dir.join(SOCKET_UNIT);
    let service = dir.join(SERVICE_UNIT);
    fsio::write_public(&service, systemd_service(&exe, config_dir).as_bytes())?;
    fsio::write_public(&socket, systemd_socket(sockets).as_bytes())?;
    Ok(Installed {
        files: vec![socket, service],
        next: vec![
            "systemctl --user daemon-reload".into(),
            format!("systemctl --user enable --now {SOCKET_UNIT}"),
            format!("systemctl --user restart {SOCKET_UNIT}   (after adding a context)"),
        ],
    })
}

pub fn uninstall() -> Result<Installed> {
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
        let p = launchd_plist(Path::new("/a&b"), Path::new("/c"), Path::new("/l"));
        assert!(p.contains("<string>/a&amp;b</string>"));
    }
}
