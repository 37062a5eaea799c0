//! What an install changes on a host, worked out from the pre-flight facts
//! alone (pure: facts in, plan or refusal out), so `--dry-run` prints
//! exactly what the real run applies.

use serde_json::{json, Map, Value};

use super::change::refuse;
pub use super::change::{FileChange, Refusal};
use super::facts::{Facts, Init};
use crate::error::InstallNext;
use crate::issuance::server::AUTHZ_PLUGIN;

/// dockerd's default (moby daemon/config: /etc/docker/daemon.json).
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// Our drop-in. systemd applies a unit's drop-ins in name order and the
/// last ExecStart= wins, so the name sorts after the usual override.conf.
pub const DROP_IN: &str = "/etc/systemd/system/docker.service.d/zz-docker-tlsctx.conf";

/// The local socket every install keeps, so `docker` on the host itself
/// keeps working.
pub const LOCAL_SOCKET: &str = "unix:///var/run/docker.sock";

#[derive(Debug, Clone)]
pub struct Plan {
    /// Folders made when absent, with their modes.
    pub dirs: Vec<(String, u32)>,
    /// Those of `dirs` that are ours: root-owned with their mode even when
    /// they exist (a folder another user could write would hand them the
    /// daemon's trust).
    pub owned_dirs: Vec<String>,
    pub files: Vec<FileChange>,
    /// Shell commands (run as root on the host).
    pub reload: String,
    pub restart: String,
    pub logs: String,
    /// A shell test that is true once the service manager has given up
    /// starting dockerd, so a failed start is reported then, not after
    /// `UP_SECS` (`false` where the init system cannot say).
    pub gave_up: String,
    /// `dockerd --validate` is run on the new daemon.json (Docker 23.0+).
    pub validate: bool,
    /// The start command as the host's init system has it, for the report.
    pub start_command: String,
    /// The authorization plugin's service (bundles made with --authz).
    pub plugin: Option<super::plugin::Commands>,
}

/// What the bundle brings.
pub struct Bundle<'a> {
    pub tls_dir: &'a str,
    pub port: u16,
    pub authz: bool,
    pub ca_pem: &'a str,
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
    pub crl_pem: Option<&'a str>,
    /// This binary, to run as the host's authorization plugin (--authz).
    pub plugin_exe: Option<&'a [u8]>,
}

/// Flags of a dockerd command line that matter here.
#[derive(Debug, Default, PartialEq)]
pub struct Flags {
    /// The words without any -H/--host.
    pub kept: Vec<String>,
    pub hosts: Vec<String>,
    pub tls: Vec<String>,
    pub config_file: Option<String>,
}

/// Splits dockerd's flags as Go's pflag reads them: `-H X`, `-H=X`, `-HX`,
/// `--host X`, `--host=X`.
pub fn split_flags(words: &[String]) -> Flags {
    let mut f = Flags::default();
    let mut it = words.iter().peekable();
    while let Some(w) = it.next() {
        let value_of = |w: &str, long: &str| -> Option<Option<String>> {
            if w == long {
                return Some(None);
            }
            w.strip_prefix(long)
                .and_then(|r| r.strip_prefix('='))
                .map(|v| Some(v.to_string()))
        };
        if let Some(v) = value_of(w, "--host").or_else(|| value_of(w, "-H")) {
            let v = v.or_else(|| it.next().cloned()).unwrap_or_default();
            f.hosts.push(v);
        } else if let Some(rest) = w.strip_prefix("-H").filter(|r| !r.is_empty()) {
            f.hosts.push(rest.into());
        } else if let Some(v) = value_of(w, "--config-file") {
            let v = v.or_else(|| it.next().cloned()).unwrap_or_default();
            f.config_file = Some(v.clone());
            f.kept.push("--config-file".into());
            f.kept.push(v);
        } else if w.starts_with("--tls") {
            f.tls.push(w.split('=').next().unwrap_or(w).into());
            f.kept.push(w.clone());
        } else {
            f.kept.push(w.clone());
        }
    }
    f
}

/// The effective ExecStart of `systemctl cat docker.service`: later
/// assignments win, an empty `ExecStart=` clears (systemd.service(5)).
pub fn exec_start(unit: &str) -> Option<String> {
    let mut cur: Option<String> = None;
    let mut lines = unit.lines();
    while let Some(l) = lines.next() {
        let l = l.trim();
        if let Some(v) = l.strip_prefix("ExecStart=") {
            let mut v = v.trim().to_string();
            // Continuation lines end with a backslash.
            while v.ends_with('\\') {
                v.pop();
                v.push(' ');
                v.push_str(lines.next().unwrap_or("").trim());
            }
            cur = (!v.is_empty()).then_some(v);
        }
    }
    cur
}

/// `systemctl cat` output without our drop-in's section (its header line
/// `# /etc/systemd/system/docker.service.d/zz-docker-tlsctx.conf` to the
/// next header).
pub fn without_our_drop_in(unit: &str) -> String {
    let mut out = String::new();
    let mut ours = false;
    for l in unit.lines() {
        if let Some(path) = l.strip_prefix("# /") {
            ours = format!("/{}", path.trim()) == DROP_IN;
        }
        if !ours {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// DOCKER_OPTS of a shell variables file (/etc/default/docker,
/// /etc/conf.d/docker): the line index, the quote, the value. Only the
/// simple forms init scripts document; anything else is None.
pub fn docker_opts(file: &str) -> Option<(usize, char, String)> {
    docker_opts_line(file).map(|(i, q, v, _)| (i, q, v))
}

/// `docker_opts`, and whether the line starts with `export `.
fn docker_opts_line(file: &str) -> Option<(usize, char, String, bool)> {
    let mut found = None;
    for (i, l) in file.lines().enumerate() {
        let t = l.trim_start();
        let export = t.starts_with("export ");
        let t = t.strip_prefix("export ").unwrap_or(t);
        let Some(v) = t.strip_prefix("DOCKER_OPTS=") else {
            continue;
        };
        let v = v.trim_end();
        let parsed = match v.chars().next() {
            Some(q @ ('"' | '\'')) => v[1..]
                .strip_suffix(q)
                .filter(|inner| !inner.contains(q))
                .map(|inner| (q, inner.to_string())),
            _ => Some((' ', v.split('#').next().unwrap_or("").trim().to_string())),
        };
        found = parsed.map(|(q, val)| (i, q, val, export));
    }
    found
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(Into::into).collect()
}

/// daemon.json with our TLS keys and hosts merged in; every other key kept.
/// A damaged file is refused with its line and column.
pub fn merge_daemon_json(
    current: Option<&str>,
    path: &str,
    b: &Bundle<'_>,
    moved_hosts: &[String],
) -> Result<String, Refusal> {
    let mut obj: Map<String, Value> = match current {
        None => Map::new(),
        Some(s) if s.trim().is_empty() => Map::new(),
        Some(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(refuse(
                    format!("{path} is not a JSON object"),
                    format!("fix {path} on the host (dockerd would not start with it either), then run this again"),
                ))
            }
            Err(e) => {
                return Err(refuse(
                    format!(
                        "{path} is not valid JSON: {} at line {}, column {}",
                        e.to_string().split(" at line").next().unwrap_or(""),
                        e.line(),
                        e.column()
                    ),
                    format!("fix {path} on the host (dockerd would not start with it either), then run this again"),
                ))
            }
        },
    };
    let mut hosts: Vec<String> = match obj.get("hosts") {
        None => Vec::new(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        Some(_) => {
            return Err(refuse(
                format!("\"hosts\" in {path} is not a list of addresses"),
                format!(
                    "make it a list such as [\"{LOCAL_SOCKET}\"] in {path}, then run this again"
                ),
            ))
        }
    };
    // The start command's addresses move here as they are. fd:// stays
    // fd://: it is systemd's socket activation (docker.socket owns
    // /run/docker.sock and hands dockerd the listening socket). Rewritten
    // to unix:///var/run/docker.sock, the new dockerd unlinked systemd's
    // socket file on exit, so after a rollback the restored `-H fd://`
    // dockerd served a socket with no path, and after an install
    // `systemctl stop docker` left nothing to activate it again (issue 31;
    // DESIGN.md §13, checked on Debian's packaged unit).
    hosts.extend(moved_hosts.iter().cloned());
    // With fd://, docker.socket owns /run/docker.sock (/var/run is a link
    // to /run): a unix:// entry for the same path would have dockerd
    // unlink systemd's socket and listen there itself. v0.3 wrote exactly
    // that entry in place of fd://.
    if hosts.iter().any(|h| h.starts_with("fd://")) {
        hosts.retain(|h| h != LOCAL_SOCKET && h != "unix:///run/docker.sock");
    }
    if !hosts
        .iter()
        .any(|h| h.starts_with("unix://") || h.starts_with("fd://"))
    {
        hosts.insert(0, LOCAL_SOCKET.into());
    }
    let port = b.port.to_string();
    if !hosts
        .iter()
        .any(|h| h.starts_with("tcp://") && h.rsplit(':').next() == Some(port.as_str()))
    {
        hosts.push(format!("tcp://0.0.0.0:{port}"));
    }
    let mut seen = std::collections::HashSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    let dir = b.tls_dir.trim_end_matches('/');
    if obj.get("tls") == Some(&Value::Bool(false)) {
        obj.remove("tls");
    }
    obj.insert("tlsverify".into(), json!(true));
    obj.insert("tlscacert".into(), json!(format!("{dir}/ca.pem")));
    obj.insert("tlscert".into(), json!(format!("{dir}/server-cert.pem")));
    obj.insert("tlskey".into(), json!(format!("{dir}/server-key.pem")));
    obj.insert("hosts".into(), json!(hosts));
    if b.authz {
        let plugins = obj
            .entry("authorization-plugins")
            .or_insert_with(|| json!([]));
        match plugins {
            Value::Array(a) if !a.iter().any(|p| p == AUTHZ_PLUGIN) => a.push(json!(AUTHZ_PLUGIN)),
            Value::Array(_) => {}
            _ => {
                return Err(refuse(
                    format!("\"authorization-plugins\" in {path} is not a list"),
                    format!("make it a list in {path}, then run this again"),
                ))
            }
        }
    }
    let mut s = serde_json::to_string_pretty(&Value::Object(obj)).expect("json");
    s.push('\n');
    Ok(s)
}

/// The drop-in that restarts dockerd without -H, keeping the unit's own
/// dockerd path and every other flag (`--containerd=…`, `$DOCKER_OPTS`).
pub fn build(facts: &Facts, b: &Bundle<'_>, host: &str) -> Result<Plan, Refusal> {
    let Some(dockerd) = &facts.dockerd else {
        return Err(refuse(
            "dockerd is not installed there",
            "install Docker Engine on the host (docker-ce or your distribution's docker.io), then run this again",
        ));
    };
    if facts.snap {
        return Err(refuse(
            "Docker there comes from snap, whose daemon.json and service snapd owns (/var/snap/docker/current/config/daemon.json)",
            InstallNext::Snap,
        ));
    }
    if facts.rootless {
        return Err(refuse(
            "a rootless dockerd runs there (rootlesskit), configured in its user's ~/.config/docker",
            "not supported: rootless dockerd cannot listen on a TCP port for other machines without its own port driver; use the system daemon",
        ));
    }
    let (kind, start_words, opts_file) = match facts.init {
        Init::Systemd => {
            let unit = facts.unit.as_deref().ok_or_else(|| {
                refuse(
                    "systemd runs there but has no docker.service",
                    "install Docker's packaged service (docker-ce or docker.io), then run this again",
                )
            })?;
            let cmd = exec_start(unit).ok_or_else(|| {
                refuse(
                    "docker.service has no ExecStart",
                    "check `systemctl cat docker.service` on the host",
                )
            })?;
            ("systemd", words(&cmd), "/etc/default/docker")
        }
        Init::Sysv => ("sysv", vec![dockerd.clone()], "/etc/default/docker"),
        Init::OpenRc => ("openrc", vec![dockerd.clone()], "/etc/conf.d/docker"),
        Init::Unknown => {
            return Err(refuse(
                "no systemd, OpenRC or /etc/init.d/docker there to restart dockerd with",
                InstallNext::NoServiceManager,
            ))
        }
    };
    let unit_flags = split_flags(&start_words);
    let opts_text = facts.file(opts_file);
    let opts = opts_text.and_then(docker_opts);
    let uses_opts = kind != "systemd" || start_words.iter().any(|w| w.contains("DOCKER_OPTS"));
    let opts_flags = match (&opts, uses_opts) {
        (Some((_, _, v)), true) => split_flags(&words(v)),
        _ => Flags::default(),
    };
    let tls: Vec<String> = unit_flags
        .tls
        .iter()
        .chain(&opts_flags.tls)
        .cloned()
        .collect();
    if !tls.is_empty() {
        return Err(refuse(
            format!("dockerd's start command already sets {}", tls.join(", ")),
            "remove those flags from the start command (daemon.json will carry the TLS settings), then run this again",
        ));
    }
    let config = unit_flags
        .config_file
        .clone()
        .or(opts_flags.config_file.clone())
        .unwrap_or_else(|| DAEMON_JSON.into());
    if config != DAEMON_JSON {
        return Err(refuse(
            format!("dockerd reads its configuration from {config}, not {DAEMON_JSON}"),
            "not supported yet: drop --config-file from the start command, or configure that file by hand",
        ));
    }
    let current = facts.file(DAEMON_JSON);
    let mut moved: Vec<String> = unit_flags
        .hosts
        .iter()
        .chain(&opts_flags.hosts)
        .cloned()
        .collect();
    // A host v0.3 installed: our drop-in already took -H away, and its
    // daemon.json has unix:///var/run/docker.sock where the packaged unit
    // said fd://. The packaged command (the unit without our drop-in)
    // says what to put back (issue 31).
    if facts.init == Init::Systemd && unit_flags.hosts.is_empty() {
        if let Some(vendor) = facts
            .unit
            .as_deref()
            .map(without_our_drop_in)
            .as_deref()
            .and_then(exec_start)
        {
            let vendor = split_flags(&words(&vendor));
            if vendor.hosts.iter().any(|h| h.starts_with("fd://"))
                && facts.unit.as_deref().is_some_and(|u| u.contains(DROP_IN))
            {
                moved.push("fd://".into());
            }
        }
    }
    let merged = merge_daemon_json(current, DAEMON_JSON, b, &moved)?;
    // The port: free, or already dockerd's own.
    let ours_now = current_tcp_ports(current, &moved);
    if facts.listening.contains(&b.port) && !ours_now.contains(&b.port) {
        return Err(refuse(
            format!("TCP port {} on {host} is taken by another program", b.port),
            InstallNext::FreePort { port: b.port },
        ));
    }
    let dir = b.tls_dir.trim_end_matches('/');
    let mut files = vec![
        file(format!("{dir}/ca.pem"), 0o644, b.ca_pem, None, false),
        file(
            format!("{dir}/server-cert.pem"),
            0o644,
            b.cert_pem,
            None,
            false,
        ),
        file(
            format!("{dir}/server-key.pem"),
            0o600,
            b.key_pem,
            None,
            true,
        ),
    ];
    if let Some(crl) = b.crl_pem {
        files.push(file(format!("{dir}/crl.pem"), 0o644, crl, None, false));
    }
    files.push(FileChange {
        read_before: true,
        ..file(
            DAEMON_JSON.into(),
            0o644,
            &merged,
            current.map(Into::into),
            false,
        )
    });
    let mut dirs = vec![("/etc/docker".to_string(), 0o755), (dir.to_string(), 0o700)];
    let mut owned_dirs = vec![dir.to_string()];
    if !unit_flags.hosts.is_empty() {
        dirs.push(("/etc/systemd/system/docker.service.d".into(), 0o755));
        files.push(file(
            DROP_IN.into(),
            0o644,
            &crate::issuance::server::drop_in(&unit_flags.kept),
            None,
            false,
        ));
    }
    if !opts_flags.hosts.is_empty() {
        let (line, q, _) = opts.as_ref().expect("opts_flags come from opts");
        let text = opts_text.expect("opts come from the file");
        let q = if *q == ' ' { '"' } else { *q };
        let export = if docker_opts_line(text).is_some_and(|l| l.3) {
            "export "
        } else {
            ""
        };
        let new_line = format!("{export}DOCKER_OPTS={q}{}{q}", opts_flags.kept.join(" "));
        let mut lines: Vec<&str> = text.lines().collect();
        lines[*line] = &new_line;
        let mut new_text = lines.join("\n");
        new_text.push('\n');
        files.push(FileChange {
            read_before: true,
            ..file(opts_file.into(), 0o644, &new_text, Some(text.into()), false)
        });
    }
    let plugin = if b.authz {
        let (more, cmds) = super::plugin::plan(facts, dir, b.plugin_exe)?;
        dirs.push(("/usr/local/libexec/docker-tlsctx".into(), 0o755));
        owned_dirs.push("/usr/local/libexec/docker-tlsctx".into());
        files.extend(more);
        Some(cmds)
    } else {
        None
    };
    let (reload, restart, logs, gave_up) = match facts.init {
        Init::Systemd => (
            "systemctl daemon-reload",
            // A failed start counts against StartLimitBurst ("start request
            // repeated too quickly"); clear it so a rollback can start.
            // docker.socket too: connections while dockerd cannot start
            // count against the socket's own limit, and a failed socket
            // would leave the restored dockerd nothing to serve.
            // With docker.socket, dockerd is stopped and the socket unit
            // restarted before dockerd starts: a dockerd that listened on
            // /run/docker.sock itself (v0.3 configured unix:// in place of
            // fd://, and so do hand-made set-ups) unlinks that path as it
            // stops, and a -H fd:// dockerd would then serve systemd's
            // socket with no path. A fresh socket unit makes the file again
            // (the issue's own repair by hand, done every time: it cannot
            // be seen from the path whose socket it is).
            "systemctl reset-failed docker.service docker.socket >/dev/null 2>&1; if systemctl cat docker.socket >/dev/null 2>&1; then systemctl stop docker.service; systemctl restart docker.socket; systemctl start docker.service; else systemctl restart docker.service; fi",
            // dockerd's own lines, not systemd's about the unit ("Start
            // request repeated too quickly" says nothing of why).
            "journalctl -u docker.service -n 200 --no-pager -o short-iso | grep -v ' systemd\\[1\\]: ' | tail -n 20",
            // `failed` only once Restart= has run out (the packaged unit:
            // StartLimitBurst=3 in 60 s), not between its retries.
            "systemctl is-failed --quiet docker.service",
        ),
        Init::OpenRc => (
            ":",
            "rc-service docker restart",
            "tail -n 20 /var/log/docker.log",
            "false",
        ),
        _ => (
            ":",
            "/etc/init.d/docker restart",
            "tail -n 20 /var/log/docker.log",
            "false",
        ),
    };
    let mut start_command = start_words.join(" ");
    if uses_opts {
        if let Some((_, _, v)) = &opts {
            start_command = format!("{start_command} (DOCKER_OPTS={v:?} from {opts_file})");
        }
    }
    Ok(Plan {
        dirs,
        owned_dirs,
        files,
        reload: reload.into(),
        restart: restart.into(),
        logs: logs.into(),
        gave_up: gave_up.into(),
        validate: facts.has_validate,
        start_command,
        plugin,
    })
}

fn file(
    dest: String,
    mode: u32,
    content: &str,
    before: Option<String>,
    secret: bool,
) -> FileChange {
    FileChange {
        dest,
        mode,
        before,
        content: content.as_bytes().to_vec(),
        secret,
        read_before: false,
    }
}

/// TCP ports dockerd listens on now (daemon.json hosts and -H flags).
fn current_tcp_ports(daemon_json: Option<&str>, flags: &[String]) -> Vec<u16> {
    let from_json: Vec<String> = daemon_json
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| v.get("hosts").cloned())
        .and_then(|h| serde_json::from_value::<Vec<String>>(h).ok())
        .unwrap_or_default();
    from_json
        .iter()
        .chain(flags)
        .filter(|h| h.starts_with("tcp://"))
        .filter_map(|h| h.rsplit(':').next()?.trim_end_matches('/').parse().ok())
        .collect()
}

/// A line diff (`-`/`+`/` `), for the dry run's daemon.json.
pub fn diff(before: &str, after: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    // Longest common subsequence table, from the end.
    let mut l = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            l[i][j] = if a[i] == b[j] {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out += &format!("  {}\n", a[i]);
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || l[i][j + 1] >= l[i + 1][j]) {
            out += &format!("+ {}\n", b[j]);
            j += 1;
        } else {
            out += &format!("- {}\n", a[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests;
