//! The system `ssh`, as Docker's own `ssh://` contexts use it (docker/cli
//! cli/connhelper/ssh): the user's ~/.ssh/config, agent, jump hosts and
//! known_hosts apply. One ControlMaster connection carries every step of an
//! install (ARCHITECTURE.md, "Installing on a host"); its socket lives in a
//! private staging folder. File contents travel on stdin, never on a
//! command line, and every remote word is POSIX-quoted.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result, SshProblem};
use crate::fsio::TempDir;

/// `[USER@]HOST[:PORT]`; HOST may be an alias from ~/.ssh/config or
/// `[v6-address]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Target {
    /// Refuses anything `ssh` could read as an option (a leading `-`, e.g.
    /// `-oProxyCommand=…`) and anything with spaces or control characters,
    /// which no host or user name holds.
    pub fn parse(s: &str) -> Result<Target> {
        let bad = |why: &str| Error::SshTarget {
            target: s.into(),
            why: why.into(),
        };
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it holds a space or a control character"));
        }
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) => (Some(u), r),
            None => (None, s),
        };
        // Names as OpenSSH's own checks allow them, and nothing a shell
        // would read (our hints quote them anyway).
        let name_char = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        if let Some(u) = user {
            if u.is_empty() || u.starts_with('-') || !u.chars().all(name_char) {
                return Err(bad("the user name is empty or not a user name"));
            }
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address needs its closing ]"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("text after ]"))?),
            };
            (h, port)
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(bad(&format!("{p:?} is not a port (1-65535)"))),
            },
        };
        let host_ok = if rest.starts_with('[') {
            host.chars()
                .all(|c| c.is_ascii_hexdigit() || ":.%".contains(c))
                && host.contains(':')
        } else {
            host.chars().all(name_char)
        };
        if host.is_empty() || host.starts_with('-') || !host_ok {
            return Err(bad("the host is empty or not a host name or address"));
        }
        Ok(Target {
            user: user.map(Into::into),
            host: host.into(),
            port,
        })
    }

    /// `ssh` arguments naming the destination: `-l USER -p PORT -- HOST`.
    fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(u) = &self.user {
            a.extend(["-l".into(), u.clone()]);
        }
        if let Some(p) = self.port {
            a.extend(["-p".into(), p.to_string()]);
        }
        a.extend(["--".into(), self.host.clone()]);
        a
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// One word for a POSIX shell: single quotes, each `'` as `'\''`.
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return word.into();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// How long the first connection may take (Docker's own ssh helper uses
/// ConnectTimeout=30; the master gets the same).
const CONNECT: Duration = Duration::from_secs(30);
/// How long one remote command may take: each is a short step (the long
/// part of an install runs detached on the host and is polled).
const COMMAND: Duration = Duration::from_secs(120);

/// A logged-in connection to a host.
pub struct Session {
    pub target: Target,
    dir: TempDir,
    /// Commands go through `sudo -n` (the login is not root).
    sudo: bool,
}

/// What a remote command returned.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

impl Session {
    /// Logs in (BatchMode: a key or agent, never a prompt; host keys
    /// checked against known_hosts as the user's config says, never
    /// turned off), then learns whether commands need `sudo -n`. The master
    /// goes to the background once logged in (`-f`) and ends by itself 15 s
    /// after its last command (ControlPersist), so a killed client leaves no
    /// logged-in connection behind for long.
    pub fn open(target: &Target, staging: &Path) -> Result<Session> {
        let dir = TempDir::new_in(staging)?;
        let log = std::fs::File::create(dir.path().join("master.log"))
            .map_err(Error::io("create", dir.path()))?;
        let mut master = Command::new("ssh");
        master
            .args(base_opts(dir.path()))
            .args([
                "-o",
                "ControlMaster=yes",
                "-o",
                "ControlPersist=15",
                "-o",
                &format!("ConnectTimeout={}", CONNECT.as_secs()),
                // A dropped connection is noticed in ~15 s, not at TCP's pace.
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
                "-f",
                "-N",
            ])
            .args(target.args());
        let status = match crate::proc::Spec::new(master)
            .quiet()
            .stderr_to(log)
            .own_group()
            .limit(CONNECT + Duration::from_secs(10))
            .run()
        {
            Ok(r) => Some(r.status),
            Err(crate::proc::Stopped::NotStarted(e)) => {
                return Err(Error::SshFailed {
                    target: target.to_string(),
                    detail: format!("ssh cannot be run: {e}"),
                    problem: SshProblem::NoClient,
                })
            }
            Err(crate::proc::Stopped::Wait(e)) => {
                return Err(Error::io("run", Path::new("ssh"))(e))
            }
            Err(crate::proc::Stopped::TimedOut | crate::proc::Stopped::Cancelled) => None,
        };
        let log = || std::fs::read_to_string(dir.path().join("master.log")).unwrap_or_default();
        match status {
            Some(st) if st.success() && dir.path().join("cm").exists() => {}
            Some(_) => return Err(connect_error(target, &log())),
            None => {
                return Err(Error::SshFailed {
                    target: target.to_string(),
                    detail: "no login within 40 s".into(),
                    problem: SshProblem::NoLogin,
                })
            }
        }
        let mut s = Session {
            target: target.clone(),
            dir,
            sudo: false,
        };
        let who = s.run_plain("id -u", b"")?;
        if !who.ok() {
            return Err(s.failed(&who));
        }
        if who.stdout().trim() != "0" {
            let probe = s.run_plain("sudo -n true", b"")?;
            if !probe.ok() {
                if probe.stderr.contains("password") {
                    return Err(Error::SudoPassword(target.to_string()));
                }
                let problem = if probe.stderr.contains("tty") {
                    SshProblem::SudoNeedsTty
                } else {
                    SshProblem::SudoRefused
                };
                return Err(Error::SshFailed {
                    target: target.to_string(),
                    detail: format!("sudo -n true failed: {}", last_line(&probe.stderr)),
                    problem,
                });
            }
            s.sudo = true;
        }
        Ok(s)
    }

    /// Runs `script` with `sh -c` as root on the host (through `sudo -n`
    /// when the login is not root), `input` on its stdin.
    pub fn run(&self, script: &str, input: &[u8]) -> Result<Ran> {
        let sh = format!("sh -c {}", quote(script));
        let line = if self.sudo {
            format!("sudo -n {sh}")
        } else {
            sh
        };
        self.run_plain(&line, input)
    }

    /// Whether commands go through `sudo -n`.
    pub fn uses_sudo(&self) -> bool {
        self.sudo
    }

    /// A command as the login user, without sudo.
    pub fn run_as_login(&self, line: &str, input: &[u8]) -> Result<Ran> {
        self.run_plain(line, input)
    }

    fn run_plain(&self, line: &str, input: &[u8]) -> Result<Ran> {
        let mut cmd = Command::new("ssh");
        cmd.args(base_opts(self.dir.path()))
            .args(["-o", "ControlMaster=no", "-T"])
            .args(self.target.args())
            .arg(line);
        // No remote step takes long (the install's long parts run detached
        // on the host): a host that stops answering is an error, not a hang.
        // ssh runs in a process group of its own: a Ctrl-C at the terminal
        // goes to the whole foreground group, and an ssh that died of it
        // mid-command was read as the host's answer ("sudo -n true failed",
        // a lost connection; issue 31). This process alone sees the signal
        // and decides what the host is told. BatchMode never asks on the
        // terminal, so the group needs none.
        let ran = match crate::proc::Spec::new(cmd)
            .stdin(input)
            .own_group()
            .limit(COMMAND)
            .run()
        {
            Ok(r) => r,
            Err(crate::proc::Stopped::NotStarted(e) | crate::proc::Stopped::Wait(e)) => {
                return Err(Error::io("run", Path::new("ssh"))(e))
            }
            Err(crate::proc::Stopped::TimedOut | crate::proc::Stopped::Cancelled) => {
                return Err(Error::SshFailed {
                    target: self.target.to_string(),
                    detail: format!(
                        "a remote command did not end within {} s",
                        COMMAND.as_secs()
                    ),
                    problem: SshProblem::CommandHung,
                })
            }
        };
        let (status, stdout) = (ran.status, ran.stdout);
        let stderr = String::from_utf8_lossy(&ran.stderr).into_owned();
        let ran = Ran {
            code: status.code(),
            stdout,
            stderr,
        };
        // 255 is ssh's own failure: the connection, not the command.
        if ran.code == Some(255) {
            return Err(connect_error(&self.target, &ran.stderr));
        }
        Ok(ran)
    }

    /// A remote command that failed, as an error.
    pub fn failed(&self, ran: &Ran) -> Error {
        Error::SshFailed {
            target: self.target.to_string(),
            detail: format!(
                "a remote command exited with {}: {}",
                ran.code.map_or("a signal".into(), |c| c.to_string()),
                last_line(&ran.stderr)
            ),
            problem: SshProblem::CommandFailed,
        }
    }
}

impl Drop for Session {
    /// Ends the master connection now rather than after ControlPersist.
    fn drop(&mut self) {
        let mut cmd = Command::new("ssh");
        cmd.args(base_opts(self.dir.path()))
            .args(["-O", "exit"])
            .args(self.target.args());
        // The control socket answers at once; a master that does not is
        // left to ControlPersist.
        let _ = crate::proc::Spec::new(cmd)
            .quiet()
            .own_group()
            .limit(Duration::from_secs(5))
            .run();
    }
}

fn base_opts(dir: &Path) -> Vec<String> {
    [
        "-o".to_string(),
        format!("ControlPath={}", dir.join("cm").display()),
        "-o".into(),
        // Never a password, passphrase or host-key prompt: an error instead.
        "BatchMode=yes".into(),
        "-o".into(),
        "LogLevel=ERROR".into(),
    ]
    .into()
}

fn last_line(s: &str) -> String {
    printable(
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("(no message)")
            .trim(),
    )
}

/// Text from the host, safe to print (text::printable).
pub use crate::text::printable;

/// The `ssh` command a user can paste to see the whole message.
fn try_line(target: &Target) -> String {
    let mut words = vec!["ssh".to_string()];
    if let Some(p) = target.port {
        words.extend(["-p".into(), p.to_string()]);
    }
    let dest = match &target.user {
        Some(u) => format!("{u}@{}", target.host),
        None => target.host.clone(),
    };
    words.push(quote(&dest));
    words.push("true".into());
    words.join(" ")
}

/// ssh's own failures, told apart by OpenSSH's messages.
fn connect_error(target: &Target, log: &str) -> Error {
    let detail = last_line(log);
    let problem = if log.contains("Host key verification failed")
        || log.contains("No ED25519 host key is known")
        || log.contains("host key is known")
    {
        SshProblem::HostKeyUnknown {
            try_line: try_line(target),
        }
    } else if log.contains("Permission denied") {
        SshProblem::KeyRefused {
            host: target.host.clone(),
        }
    } else if log.contains("Connection refused")
        || log.contains("timed out")
        || log.contains("Could not resolve")
    {
        SshProblem::Unreachable
    } else {
        SshProblem::Other {
            try_line: try_line(target),
        }
    };
    Error::SshFailed {
        target: target.to_string(),
        detail,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("root@203.0.113.7:2222").unwrap();
        assert_eq!(t.user.as_deref(), Some("root"));
        assert_eq!(t.host, "203.0.113.7");
        assert_eq!(t.port, Some(2222));
        assert_eq!(t.to_string(), "root@203.0.113.7:2222");
        let t = Target::parse("[::1]:22").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", Some(22)));
        assert_eq!(t.to_string(), "[::1]:22");
        assert_eq!(Target::parse("docker1").unwrap().host, "docker1");
        for bad in [
            "",
            "-oProxyCommand=touch /tmp/x",
            "root@-oProxyCommand=x",
            "-l@host",
            "host:0",
            "host:99999",
            "a b",
            "host\n",
            "@host",
            "[::1",
            "[::1]x",
            "x$(touch${IFS}PWNED)",
            "h`id`",
            "us;er@h",
            "[fe80::1;x]",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?} was accepted");
        }
        // The destination always follows `--`: nothing in it is an option.
        assert_eq!(
            Target::parse("u@h:2").unwrap().args(),
            ["-l", "u", "-p", "2", "--", "h"]
        );
    }

    // What a POSIX sh makes of the quoted words (no sh under Wine).
    #[cfg(unix)]
    #[test]
    fn quoting() {
        assert_eq!(quote("/etc/docker"), "/etc/docker");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
        // What sh makes of it is the word itself.
        for w in ["it's $HOME `x` \"q\" \\ ;|&", "'", "''x"] {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {}", quote(w))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), w);
        }
    }
}
