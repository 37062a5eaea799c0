//! The host side of an install: one POSIX sh script, staged with the files
//! and run detached from the SSH session (setsid), so a dropped connection
//! or a killed client cannot stop it half-way. It keeps a journal in its
//! work folder (ARCHITECTURE.md, "Installing on a host"):
//!
//! ```text
//! backing-up -> applying -> waiting -> committed
//!                  |            |
//!                  +------------+--> rolling-back -> rolled-back | down | broken
//! ```
//!
//! `waiting` is a confirmed commit: the new dockerd runs and answers on its
//! local socket, and the script waits for the client's `confirm` (its
//! mutual-TLS call went through) or `abort`. Without either in time (the
//! client was killed, the connection dropped) it rolls back by itself.
//! `sh apply.sh recover` undoes what a killed script left. `down`: the old
//! files are back but dockerd does not answer with them either; `broken`:
//! the old files could not be put back (the backups stay, listed in `done`).

use super::plan::Plan;
use crate::ssh::quote;

/// The list of what to install, one per line, tab-separated:
/// `D<TAB>mode<TAB>dir` (made when absent), `O<TAB>mode<TAB>dir` (ours:
/// made when absent, and root-owned with `mode` in any case), and
/// `F<TAB>mode<TAB>staged name<TAB>destination<TAB>expected` where
/// expected is the SHA-256 pre-flight saw, `absent`, or `-` (not read).
/// Paths hold no tab or newline (plan.rs checks the TLS folder).
pub fn manifest(plan: &Plan) -> String {
    let mut s = String::new();
    for (d, mode) in &plan.dirs {
        let kind = if plan.owned_dirs.contains(d) {
            "O"
        } else {
            "D"
        };
        s += &format!("{kind}\t{mode:o}\t{d}\n");
    }
    for (i, f) in plan.files.iter().enumerate() {
        let expected = match (&f.before, f.read_before) {
            (Some(b), _) => crate::text::sha256_hex(b.as_bytes()),
            (None, true) => "absent".into(),
            (None, false) => "-".into(),
        };
        s += &format!(
            "F\t{:o}\t{}\t{}\t{expected}\n",
            f.mode,
            staged_name(i),
            f.dest
        );
    }
    s
}

pub fn staged_name(i: usize) -> String {
    format!("f{i}")
}

/// How long the script waits for dockerd's local socket after a restart.
pub const UP_SECS: u32 = 60;

/// Starts the plugin and waits for its socket, before dockerd restarts
/// with it.
fn plugin_start(plan: &Plan) -> String {
    let Some(p) = &plan.plugin else {
        return ":".into();
    };
    format!(
        "{{ {start}; }} >>log 2>&1 9>&-\nn=0; while [ ! -S {sock} ] && [ \"$n\" -lt 20 ]; do sleep 0.5; n=$((n+1)); done\n[ -S {sock} ] || fail \"the authorization plugin did not start (no {sock})\"",
        start = p.start,
        sock = super::plugin::SOCKET
    )
}

pub fn apply_script(work: &str, plan: &Plan, confirm_secs: u32) -> String {
    let validate = if plan.validate {
        // Docker 23.0+ (moby#42393) checks a configuration without starting.
        "t 30 dockerd --validate --config-file stage/daemon.json >>log 2>&1 || refuse \"dockerd --validate refused the new daemon.json\""
    } else {
        ":"
    };
    let daemon_json_stage = plan
        .files
        .iter()
        .position(|f| f.dest == super::plan::DAEMON_JSON)
        .map(staged_name)
        .unwrap_or_default();
    format!(
        r#"#!/bin/sh
# Written by docker-tlsctx: one install of a server bundle, with its journal.
set -u
W={work}
cd "$W" || exit 1
umask 077
echo $$ > pid
say() {{ printf '%s\n' "$1" > state.new && mv -f state.new state; }}
# A command with a time limit, where timeout(1) exists.
t() {{ if command -v timeout >/dev/null 2>&1; then timeout "$@"; else shift; "$@"; fi; }}
alive() {{
  if command -v docker >/dev/null 2>&1; then
    t 5 docker -H unix:///var/run/docker.sock version >/dev/null 2>&1
  else
    curl -fsS --max-time 5 --unix-socket /var/run/docker.sock http://docker/_ping >/dev/null 2>&1
  fi
}}
# Up within {up} s, or the service manager gave up first (say so: the
# message then is not a timeout).
# The clock, not a count of passes (one `alive` may take its 5 s), from
# the restart's start: restart and wait together take at most {up} s and
# one last probe, whatever the unit's TimeoutStartSec (docker-ce's is 0:
# a restart that never ends).
wait_up() {{
  while [ "$(date +%s)" -lt "$((up_from + {up}))" ]; do
    alive && return 0
    if {gave_up}; then n=$(($(date +%s) - up_from)); echo gave-up > up.why; return 1; fi
    sleep 1
  done
  echo timeout > up.why
  return 1
}}
restart() {{ up_from=$(date +%s); t {up} sh -c {restart_q}; }}
restore() {{
  [ -f done ] || return 0
  sed '1!G;h;$!d' done > done.rev
  while IFS='	' read -r kind path n owner; do
    case "$kind" in
      file) cp -P -p "backup/$n" "$path.tlsctx-restore" && mv -f "$path.tlsctx-restore" "$path" || return 1 ;;
      new) rm -f "$path" ;;
      dir) rmdir "$path" 2>/dev/null ;;
      meta) chown "$owner" "$path" && chmod "$n" "$path" || return 1 ;;
    esac
  done < done.rev
  rm -f done.rev
}}
rollback() {{
  prev="$(cat state 2>/dev/null)"
  say rolling-back
  {{ {plugin_stop}; }} >>log 2>&1 9>&-
  if ! restore; then say broken; exit 1; fi
  {{ {plugin_after}; }} >>log 2>&1 9>&-
  if [ "$prev" = backing-up ]; then
    rm -rf backup stage done files confirm abort
    say rolled-back
    return 0
  fi
  {reload} >>log 2>&1 9>&-
  restart >>log 2>&1 9>&-
  if wait_up; then
    rm -rf backup stage done files confirm abort
    say rolled-back
  else
    # The old files are back, byte for byte; dockerd does not answer with
    # them either. Not "broken": nothing is left to restore by hand.
    {{ {logs}; }} > restored.log 2>&1
    rm -rf backup stage done files confirm abort
    say down
  fi
}}
fail() {{
  printf '%s\n' "$1" > result
  {{ {logs}; }} > daemon.log 2>&1
  rollback
  exit 1
}}
# Before any change: nothing to undo.
refuse() {{
  printf '%s\n' "$1" > result
  rm -rf stage backup done files
  say refused
  exit 1
}}
if [ "${{1:-}}" = recover ]; then
  rollback
  exit 0
fi
rm -f result daemon.log confirm abort done
# One install at a time on this host: two would merge daemon.json over
# each other. The lock is not passed on to dockerd or the plugin (9>&-).
exec 9> ../.lock
if command -v flock >/dev/null 2>&1; then
  flock -n 9 || refuse "another install is changing this host right now; run this again when it ends"
fi
# The files pre-flight read must be as it read them.
while IFS='	' read -r kind mode a b want; do
  [ "$kind" = F ] || continue
  [ -d "$b" ] && refuse "$b is a folder"
  case "$want" in
    -) ;;
    absent) [ -e "$b" ] && refuse "$b appeared since pre-flight; run this again" ;;
    *) if command -v sha256sum >/dev/null 2>&1; then
         got="$(sha256sum < "$b" 2>/dev/null | cut -d' ' -f1)"
         [ "$got" = "$want" ] || refuse "$b changed since pre-flight; run this again"
       fi ;;
  esac
done < files
cp stage/{daemon_json_stage} stage/daemon.json 2>/dev/null
{validate}
say backing-up
mkdir -p backup || fail "cannot make $W/backup"
i=0
: > done
while IFS='	' read -r kind mode a b want; do
  case "$kind" in
    D|O)
      [ -L "$a" ] && fail "$a is a symbolic link"
      if [ -d "$a" ]; then
        [ "$kind" = O ] && printf 'meta\t%s\t%s\t%s\n' "$a" "$(stat -c %a "$a")" "$(stat -c %u:%g "$a")" >> done
      else
        printf 'dir\t%s\n' "$a" >> done
      fi ;;
    F)
      if [ -e "$b" ] || [ -L "$b" ]; then
        i=$((i+1))
        cp -P -p "$b" "backup/$i" || fail "cannot back up $b"
        printf 'file\t%s\t%s\n' "$b" "$i" >> done
      else
        printf 'new\t%s\n' "$b" >> done
      fi ;;
  esac
done < files
say applying
while IFS='	' read -r kind mode a b want; do
  case "$kind" in
    D) if [ ! -d "$a" ]; then mkdir -p "$a" && chmod "$mode" "$a" || fail "cannot make $a"; fi ;;
    O) mkdir -p "$a" && chown 0:0 "$a" && chmod "$mode" "$a" || fail "cannot make $a root's own ($mode)" ;;
    F)
      rm -f "$b.tlsctx-new"
      cp "stage/$a" "$b.tlsctx-new" && chown 0:0 "$b.tlsctx-new" && chmod "$mode" "$b.tlsctx-new" \
        && mv -f "$b.tlsctx-new" "$b" || fail "cannot write $b" ;;
  esac
done < files
rm -rf stage
{plugin_start}
old="$(cat /var/run/docker.pid 2>/dev/null)"
{reload} >>log 2>&1 9>&-
restart >>log 2>&1 9>&-
rm -f up.why
if ! wait_up; then
  if [ "$(cat up.why 2>/dev/null)" = gave-up ]; then
    fail "dockerd did not start with the new configuration: the service manager gave up after $n s"
  fi
  fail "dockerd did not answer on /var/run/docker.sock within {up} s of the restart with the new configuration"
fi
new="$(cat /var/run/docker.pid 2>/dev/null)"
if [ -n "$old" ] && [ "$old" = "$new" ]; then
  fail "dockerd was not restarted (still pid $old): the service manager does not run the dockerd that answers"
fi
say waiting
n=0
while [ "$n" -lt {confirm} ]; do
  [ -e confirm ] && break
  [ -e abort ] && break
  sleep 1
  n=$((n+1))
done
if [ -e confirm ] && [ ! -e abort ]; then
  rm -rf backup done files confirm
  say committed
  exit 0
fi
if [ -e abort ]; then cp abort result; else echo "no confirmation from the client within {confirm} s" > result; fi
rollback
exit 1
"#,
        work = quote(work),
        up = UP_SECS,
        restart_q = quote(&plan.restart),
        reload = plan.reload,
        logs = plan.logs,
        gave_up = plan.gave_up,
        confirm = confirm_secs,
        plugin_stop = plan.plugin.as_ref().map_or(":", |p| p.stop.as_str()),
        plugin_after = plan
            .plugin
            .as_ref()
            .map_or(":", |p| p.after_restore.as_str()),
        plugin_start = plugin_start(plan),
    )
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_valid_sh() {
        let plan = Plan {
            dirs: vec![("/etc/docker/tls".into(), 0o700)],
            owned_dirs: vec!["/etc/docker/tls".into()],
            files: vec![],
            reload: ":".into(),
            restart: "/etc/init.d/docker restart".into(),
            logs: "tail -n 20 /var/log/docker.log".into(),
            gave_up: "false".into(),
            validate: true,
            start_command: String::new(),
            plugin: None,
        };
        crate::issuance::install::assert_valid_sh(&apply_script(
            "/var/lib/docker-tlsctx/install/it's",
            &plan,
            60,
        ));
        assert_eq!(manifest(&plan), "O\t700\t/etc/docker/tls\n");
    }
}
