//! Pre-flight: one read-only script learns what the host runs, and
//! `Facts::parse` reads its `key=value` lines (file contents base64, so
//! nothing in a file can break the framing). Nothing here changes the host.

use base64::Engine;

/// Where an install keeps its journal, backups and staged files on the
/// host: outside /etc/docker, so a rollback leaves /etc/docker exactly as
/// it was (ARCHITECTURE.md, "Installing on a host").
pub const HOST_STATE: &str = "/var/lib/docker-tlsctx/install";
pub const HOST_STATE_PARENT: &str = "/var/lib/docker-tlsctx";

/// The read-only probe. `$1` is the bundle's work folder on the host.
pub const PREFLIGHT: &str = r#"
W="$1"
kv() { printf '%s=%s\n' "$1" "$2"; }
b64() { printf '%s64=' "$1"; base64 | tr -d '\n'; echo; }
kv uid "$(id -u)"
kv uname "$(uname -sm)"
if [ -x /usr/local/libexec/docker-tlsctx/docker-tlsctx ]; then kv plugin_bin yes; fi
if [ -d /run/systemd/system ]; then kv init systemd
elif [ -x /sbin/openrc-run ] || command -v openrc >/dev/null 2>&1; then kv init openrc
elif [ -x /etc/init.d/docker ]; then kv init sysv
else kv init unknown; fi
kv dockerd "$(command -v dockerd 2>/dev/null)"
kv version "$(dockerd --version 2>/dev/null | head -n 1)"
if dockerd --help 2>/dev/null | grep -q -- '--validate'; then kv validate yes; fi
if [ -e /snap/bin/docker ] || [ -d /var/snap/docker ]; then kv snap yes; fi
for c in /proc/[0-9]*/comm; do
  if [ "$(cat "$c" 2>/dev/null)" = rootlesskit ]; then kv rootless yes; break; fi
done
p="$(cat /var/run/docker.pid 2>/dev/null)"
if [ -n "$p" ] && [ -r "/proc/$p/cmdline" ]; then b64 running < "/proc/$p/cmdline"; fi
if [ -d /run/systemd/system ]; then systemctl cat docker.service 2>/dev/null | b64 unit; fi
for f in /etc/default/docker /etc/conf.d/docker /etc/docker/daemon.json; do
  if [ -f "$f" ]; then b64 "file:$f" < "$f"; fi
done
cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | b64 tcp
if command -v docker >/dev/null 2>&1; then
  kv cost "$(docker -H unix:///var/run/docker.sock info --format '{{.ContainersRunning}} {{.LiveRestoreEnabled}} {{.Swarm.ControlAvailable}}' 2>/dev/null)"
fi
kv clock "$(date +%s)"
if [ -f "$W/state" ]; then
  kv journal "$(cat "$W/state")"
  p="$(cat "$W/pid" 2>/dev/null)"
  if [ -n "$p" ] && grep -q apply.sh "/proc/$p/cmdline" 2>/dev/null; then kv journal_alive yes; fi
fi
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    Systemd,
    OpenRc,
    Sysv,
    Unknown,
}

/// What a restart costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub running: u32,
    pub live_restore: bool,
    pub swarm_manager: bool,
}

#[derive(Debug, Clone)]
pub struct Facts {
    pub uid: String,
    /// `uname -sm`: whether this binary can serve as the host's plugin.
    pub uname: String,
    /// The authorization plugin's binary is already installed.
    pub plugin_bin: bool,
    pub init: Init,
    pub dockerd: Option<String>,
    pub version: Option<String>,
    pub has_validate: bool,
    pub snap: bool,
    pub rootless: bool,
    /// The running dockerd's argv (its pid from /var/run/docker.pid, the
    /// default --pidfile on every init system).
    pub running: Option<Vec<String>>,
    /// `systemctl cat docker.service`: the unit and its drop-ins.
    pub unit: Option<String>,
    /// (path, content) of /etc/default/docker, /etc/conf.d/docker, daemon.json.
    pub files: Vec<(String, String)>,
    pub listening: Vec<u16>,
    pub cost: Option<Cost>,
    pub clock: Option<i64>,
    /// The last install's state on this host, and whether it still runs.
    pub journal: Option<(String, bool)>,
}

impl Facts {
    pub fn parse(out: &str) -> Facts {
        let mut f = Facts {
            uid: String::new(),
            uname: String::new(),
            plugin_bin: false,
            init: Init::Unknown,
            dockerd: None,
            version: None,
            has_validate: false,
            snap: false,
            rootless: false,
            running: None,
            unit: None,
            files: Vec::new(),
            listening: Vec::new(),
            cost: None,
            clock: None,
            journal: None,
        };
        let mut alive = false;
        for line in out.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let some = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
            let decoded = || {
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default()
            };
            match k {
                "uid" => f.uid = v.trim().into(),
                "uname" => f.uname = v.trim().into(),
                "plugin_bin" => f.plugin_bin = true,
                "init" => {
                    f.init = match v.trim() {
                        "systemd" => Init::Systemd,
                        "openrc" => Init::OpenRc,
                        "sysv" => Init::Sysv,
                        _ => Init::Unknown,
                    }
                }
                "dockerd" => f.dockerd = some(v),
                "version" => f.version = some(v),
                "validate" => f.has_validate = true,
                "snap" => f.snap = true,
                "rootless" => f.rootless = true,
                "running64" => {
                    let argv: Vec<String> = decoded()
                        .split('\0')
                        .filter(|a| !a.is_empty())
                        .map(Into::into)
                        .collect();
                    if !argv.is_empty() {
                        f.running = Some(argv);
                    }
                }
                "unit64" => f.unit = Some(decoded()).filter(|u| !u.trim().is_empty()),
                "tcp64" => f.listening = listening_ports(&decoded()),
                "cost" => f.cost = parse_cost(v),
                "clock" => f.clock = v.trim().parse().ok(),
                "journal" => f.journal = Some((v.trim().into(), false)),
                "journal_alive" => alive = true,
                _ => {
                    if let Some(path) = k.strip_prefix("file:").and_then(|p| p.strip_suffix("64")) {
                        f.files.push((path.into(), decoded()));
                    }
                }
            }
        }
        if let Some(j) = &mut f.journal {
            j.1 = alive;
        }
        f
    }

    pub fn file(&self, path: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, c)| c.as_str())
    }
}

fn parse_cost(v: &str) -> Option<Cost> {
    let mut it = v.split_whitespace();
    Some(Cost {
        running: it.next()?.parse().ok()?,
        live_restore: it.next()? == "true",
        swarm_manager: it.next()? == "true",
    })
}

/// Ports in LISTEN (state 0A) in /proc/net/tcp and tcp6 (the kernel's
/// proc_net_tcp format: `sl local_address rem_address st …`, hex).
pub fn listening_ports(table: &str) -> Vec<u16> {
    let mut ports: Vec<u16> = table
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            if cols.len() < 4 || cols[3] != "0A" {
                return None;
            }
            let port = cols[1].rsplit(':').next()?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_probe() {
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let out = format!(
            "uid=0\ninit=sysv\ndockerd=/usr/sbin/dockerd\nversion=Docker version 20.10.24+dfsg1\nrunning64={}\nfile:/etc/docker/daemon.json64={}\ntcp64={}\ncost=2 false true\nclock=1790000000\njournal=waiting\njournal_alive=yes\n",
            b("/usr/sbin/dockerd\0-p\0/var/run/docker.pid\0--bridge\0none\0"),
            b("{\"debug\": true}\n"),
            b("  sl  local_address rem_address   st\n   0: 00000000:0948 00000000:0000 0A 00000000\n   1: 0100007F:0016 00000000:0000 0A\n   2: 0100007F:1234 0100007F:0016 01\n"),
        );
        let f = Facts::parse(&out);
        assert_eq!(f.init, Init::Sysv);
        assert_eq!(f.running.as_ref().unwrap()[3], "--bridge");
        assert_eq!(
            f.file("/etc/docker/daemon.json"),
            Some("{\"debug\": true}\n")
        );
        assert_eq!(f.listening, vec![22, 2376]);
        assert_eq!(
            f.cost,
            Some(Cost {
                running: 2,
                live_restore: false,
                swarm_manager: true
            })
        );
        assert_eq!(f.journal, Some(("waiting".into(), true)));
        assert!(!f.has_validate && !f.snap);
    }
}
