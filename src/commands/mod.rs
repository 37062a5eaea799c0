//! One file per command family. Commands take an `Env` and return `Result`;
//! `main` prints errors.

pub mod ca;
pub mod client;
pub mod export;
pub mod keystore_status;
pub mod lifecycle;
pub mod new;
pub mod restore;
pub mod server;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use time::OffsetDateTime;

use crate::context;
use crate::error::{Error, Result};
use crate::keystore::{self, Choice, KeyStore};
use crate::pki::{self, KeyType, San};
use crate::state::State;

/// What every command needs: where Docker's config is, which keystore, and the clock.
pub struct Env {
    pub config_dir: PathBuf,
    pub keystore_choice: Choice,
    pub now: OffsetDateTime,
}

impl Env {
    pub fn state(&self) -> State {
        State::new(&self.config_dir)
    }
    pub fn contexts(&self) -> context::Store {
        context::Store::new(&self.config_dir)
    }
    pub fn keystore(&self) -> Result<Box<dyn KeyStore>> {
        keystore::open(self.keystore_choice, &self.config_dir)
    }
}

/// Fails with `Cancelled` once SIGINT, SIGTERM or Docker's socket asked us to stop.
pub fn check_cancelled() -> Result<()> {
    if crate::plugin::cancelled() {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}

pub fn check_days(flag: &'static str, days: u32, max: u32, why: &'static str) -> Result<()> {
    if days == 0 || days > max {
        return Err(Error::DaysOutOfRange {
            flag,
            days,
            max,
            why,
        });
    }
    Ok(())
}

pub fn check_client_days(days: u32) -> Result<()> {
    check_days("--days", days, pki::MAX_DAYS, "at most 10 years")
}

pub fn check_server_days(flag: &'static str, days: u32) -> Result<()> {
    check_days(
        flag,
        days,
        pki::SERVER_MAX_DAYS,
        "Apple's platforms reject TLS server certificates valid longer than 825 days",
    )
}

pub fn parse_sans(values: &[String]) -> Result<Vec<San>> {
    values
        .iter()
        .map(|v| San::parse(v).ok_or_else(|| Error::SanInvalid(v.clone())))
        .collect()
}

/// A parsed `tcp://HOST[:PORT]`.
#[derive(Debug, PartialEq)]
pub struct Host {
    pub san: San,
    pub port: u16,
}

/// Docker's default TLS port (docker/cli opts/hosts.go `DefaultTLSHTTPPort`).
pub const TLS_PORT: u16 = 2376;
/// Docker's plaintext port (opts/hosts.go `DefaultHTTPPort`): no encryption, no auth.
pub const PLAINTEXT_PORT: u16 = 2375;

impl Host {
    pub fn parse(s: &str, force: bool) -> Result<Host> {
        let invalid = |why: &str| Error::HostInvalid {
            host: s.into(),
            why: why.into(),
        };
        let rest = s
            .strip_prefix("tcp://")
            .ok_or_else(|| Error::HostScheme(s.into()))?;
        if rest.contains('/') || rest.contains('?') || rest.contains('#') {
            return Err(invalid("a path is not allowed, only tcp://HOST[:PORT]"));
        }
        if rest.contains('@') {
            return Err(invalid(
                "user names are not allowed, only tcp://HOST[:PORT]",
            ));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| invalid("missing ] after an IPv6 address"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| invalid("expected :PORT after ]"))?,
                ),
            };
            (h, port)
        } else {
            match rest.matches(':').count() {
                0 => (rest, None),
                1 => {
                    let (h, p) = rest.split_once(':').unwrap();
                    (h, Some(p))
                }
                _ => {
                    return Err(invalid(
                        "put an IPv6 address in brackets: tcp://[2001:db8::1]:2376",
                    ))
                }
            }
        };
        if host.is_empty() {
            return Err(invalid("the host name is empty"));
        }
        let port =
            match port {
                None => TLS_PORT,
                Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                    invalid(&format!("port {p:?} is not a number from 1 to 65535"))
                })?,
            };
        if port == PLAINTEXT_PORT && !force {
            return Err(Error::PlaintextPort(s.into()));
        }
        let san = San::parse(host)
            .ok_or_else(|| invalid(&format!("{host:?} is neither an IP address nor a DNS name")))?;
        Ok(Host { san, port })
    }

    /// The canonical URL stored in the context, port always explicit.
    pub fn url(&self) -> String {
        match &self.san {
            San::Ip(std::net::IpAddr::V6(ip)) => format!("tcp://[{ip}]:{}", self.port),
            San::Ip(ip) => format!("tcp://{ip}:{}", self.port),
            San::Dns(d) => format!("tcp://{d}:{}", self.port),
        }
    }

    pub fn name(&self) -> String {
        self.san.host()
    }
}

/// Generates a key pair, showing a spinner on a terminal for the slow kinds
/// (RSA-4096 takes about a second; DESIGN §4).
pub fn with_progress<T>(key_type: KeyType, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if !key_type.is_rsa() || !std::io::stderr().is_terminal() {
        return f();
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let label = format!("Generating {key_type} key for {what} ");
    let flag = done.clone();
    let spinner = std::thread::spawn(move || {
        let frames = ['|', '/', '-', '\\'];
        let mut i = 0;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            eprint!("\r{label}{}", frames[i % 4]);
            let _ = std::io::stderr().flush();
            i += 1;
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprint!("\r\x1b[2K");
    });
    let r = f();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = spinner.join();
    r
}

/// One warning line when a certificate was cut short to end with its CA.
pub fn warn_if_clamped(issued: &pki::Issued, what: &str, ca: &str, days: u32) {
    if issued.clamped_to_ca {
        eprintln!(
            "Warning: the {what} certificate ends on {} with CA {ca:?}, sooner than the {days} days asked for; plan a new CA before then.",
            date(issued.not_after)
        );
    }
}

/// RFC 3339, as the JSON outputs and records write times.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

pub fn date(t: OffsetDateTime) -> String {
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

/// Left-aligned columns separated by three spaces, as `docker context ls`.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut width = header.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == N {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}   "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

/// Prints JSON on stdout, pretty, newline-terminated.
pub fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("json"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let h = Host::parse("tcp://203.0.113.7", false).unwrap();
        assert_eq!(h.url(), "tcp://203.0.113.7:2376");
        assert_eq!(
            Host::parse("tcp://[2001:db8::1]:9999", false)
                .unwrap()
                .url(),
            "tcp://[2001:db8::1]:9999"
        );
        assert_eq!(
            Host::parse("tcp://Docker.Example.com:2376", false)
                .unwrap()
                .url(),
            "tcp://docker.example.com:2376"
        );
        for (bad, want) in [
            ("", "the host is empty"),
            ("http://h:2376", "is not a tcp:// address"),
            ("unix:///var/run/docker.sock", "is not a tcp:// address"),
            ("tcp://", "the host name is empty"),
            ("tcp://h:0", "is not a number from 1 to 65535"),
            ("tcp://h:65536", "is not a number from 1 to 65535"),
            ("tcp://h:x", "is not a number"),
            ("tcp://h:2376/path", "a path is not allowed"),
            ("tcp://2001:db8::1", "brackets"),
            (
                "tcp://bad_name:2376",
                "neither an IP address nor a DNS name",
            ),
            ("tcp://h:2375", "plaintext"),
        ] {
            let e = Host::parse(bad, false).unwrap_err().to_string();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
        assert_eq!(Host::parse("tcp://h:2375", true).unwrap().port, 2375);
    }
}
