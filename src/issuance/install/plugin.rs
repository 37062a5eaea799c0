//! The authorization plugin on the host, for bundles made with --authz:
//! this binary, and a service for the host's init system that starts it
//! before dockerd and brings it back when it stops. dockerd refuses every
//! request while a configured plugin is down (moby pkg/authorization), so
//! the plugin answers before dockerd restarts with it.

use super::change::{FileChange, Refusal};
use super::facts::{Facts, Init};
use crate::ssh::quote;

/// Where the install puts the binary (not /usr/local/bin, which a user's
/// own docker-tlsctx may hold, and not a Docker CLI plugin folder).
pub const BIN: &str = "/usr/local/libexec/docker-tlsctx/docker-tlsctx";
/// dockerd finds plugin NAME at /run/docker/plugins/NAME.sock (moby
/// pkg/plugins/discovery.go).
pub const SOCKET: &str = "/run/docker/plugins/tlsctx-authz.sock";
pub const UNIT: &str = "/etc/systemd/system/tlsctx-authz.service";
pub const SCRIPT: &str = "/etc/init.d/tlsctx-authz";
pub const LOG: &str = "/var/log/tlsctx-authz.log";

/// Shell commands for the host's script.
#[derive(Debug, Clone)]
pub struct Commands {
    pub start: String,
    pub stop: String,
    /// After a rollback restored the files: the old plugin again, or none.
    pub after_restore: String,
    /// Prints the plugin's log (its decisions, `--log`).
    pub log: String,
}

/// `uname -sm` of hosts this binary runs on.
fn our_uname() -> String {
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        other => other,
    };
    format!("{os} {}", std::env::consts::ARCH)
}

/// The plugin's files and commands; `exe` is this binary's bytes.
pub fn plan(
    facts: &Facts,
    tls_dir: &str,
    exe: Option<&[u8]>,
) -> Result<(Vec<FileChange>, Commands), Refusal> {
    let mut files = Vec::new();
    match exe {
        Some(bytes) if facts.uname == our_uname() => files.push(FileChange {
            dest: BIN.into(),
            mode: 0o755,
            before: None,
            content: bytes.to_vec(),
            secret: false,
            read_before: false,
        }),
        _ if facts.plugin_bin => {}
        _ => {
            return Err(Refusal {
                what: format!(
                    "the bundle runs the tlsctx-authz plugin, and the host is {:?} while this docker-tlsctx is built for {:?}",
                    facts.uname,
                    our_uname()
                ),
                next: format!("install docker-tlsctx for that platform on the host as {BIN}, then run this again").into(),
            })
        }
    }
    let dir = tls_dir.trim_end_matches('/');
    let serve = format!("{BIN} authz serve --bundle {} --log", quote(dir));
    let (text, dest, mode, cmds) = match facts.init {
        Init::Systemd => (
            crate::issuance::server::authz_unit(dir, BIN),
            UNIT,
            0o644,
            Commands {
                start: "systemctl daemon-reload && systemctl enable tlsctx-authz.service >/dev/null 2>&1; systemctl restart tlsctx-authz.service".into(),
                stop: "systemctl stop tlsctx-authz.service".into(),
                after_restore: format!("if [ -e {UNIT} ]; then systemctl restart tlsctx-authz.service; else systemctl disable tlsctx-authz.service; fi"),
                log: "journalctl -u tlsctx-authz.service -o cat --no-pager".into(),
            },
        ),
        Init::OpenRc => (
            openrc_script(&serve),
            SCRIPT,
            0o755,
            Commands {
                start: "rc-update add tlsctx-authz default >/dev/null 2>&1; rc-service tlsctx-authz restart".into(),
                stop: format!("[ -x {SCRIPT} ] && rc-service tlsctx-authz stop"),
                after_restore: format!("if [ -e {SCRIPT} ]; then rc-service tlsctx-authz restart; else rc-update del tlsctx-authz default; fi"),
                log: format!("cat {LOG}"),
            },
        ),
        _ => (
            sysv_script(dir),
            SCRIPT,
            0o755,
            Commands {
                start: format!("{SCRIPT} restart && if command -v update-rc.d >/dev/null 2>&1; then update-rc.d tlsctx-authz defaults >/dev/null 2>&1; fi"),
                stop: format!("[ -x {SCRIPT} ] && {SCRIPT} stop"),
                after_restore: format!("if [ -e {SCRIPT} ]; then {SCRIPT} restart; elif command -v update-rc.d >/dev/null 2>&1; then update-rc.d tlsctx-authz remove; fi"),
                log: format!("cat {LOG}"),
            },
        ),
    };
    files.push(FileChange {
        dest: dest.into(),
        mode,
        before: None,
        content: text.into_bytes(),
        secret: false,
        read_before: false,
    });
    Ok((files, cmds))
}

/// OpenRC's supervise-daemon restarts the plugin when it stops.
fn openrc_script(serve: &str) -> String {
    let (command, args) = serve.split_once(' ').expect("a command and its arguments");
    format!(
        r#"#!/sbin/openrc-run
# Written by docker-tlsctx (server install): revocation and roles for dockerd.
description="docker-tlsctx authorization plugin for dockerd"
supervisor=supervise-daemon
command={command}
command_args="{args}"
output_log={LOG}
error_log={LOG}
respawn_delay=1
depend() {{
	before docker
}}
"#
    )
}

/// A System V script: start-stop-daemon runs a loop that restarts the
/// plugin (what systemd's Restart=always does), and its LSB header orders
/// it before docker.
fn sysv_script(dir: &str) -> String {
    format!(
        r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          tlsctx-authz
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# X-Start-Before:    docker
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: docker-tlsctx authorization plugin for dockerd
### END INIT INFO
# Written by docker-tlsctx (server install): revocation and roles for dockerd.
BIN={BIN}
BUNDLE={bundle}
PIDFILE=/var/run/tlsctx-authz.pid
LOG={LOG}
case "$1" in
  run)
    c=
    trap '[ -n "$c" ] && kill "$c" 2>/dev/null; exit 0' TERM INT
    while :; do
      "$BIN" authz serve --bundle "$BUNDLE" --log >>"$LOG" 2>&1 &
      c=$!
      wait "$c"
      sleep 1
    done ;;
  start)
    start-stop-daemon --start --quiet --oknodo --background --make-pidfile \
      --pidfile "$PIDFILE" --startas /bin/sh -- "$0" run ;;
  stop)
    start-stop-daemon --stop --quiet --oknodo --pidfile "$PIDFILE" --remove-pidfile --retry TERM/5/KILL/2 ;;
  restart|force-reload)
    "$0" stop; "$0" start ;;
  status)
    start-stop-daemon --status --pidfile "$PIDFILE" ;;
  *)
    echo "Usage: $0 {{start|stop|restart|status}}" >&2; exit 3 ;;
esac
"#,
        bundle = quote(dir)
    )
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_valid_sh() {
        for s in [
            sysv_script("/etc/docker/tls"),
            openrc_script(&format!("{BIN} authz serve --bundle /x --log")),
        ] {
            crate::issuance::install::assert_valid_sh(&s);
        }
    }
}
