//! Docker host addresses: `tcp://HOST[:PORT]` as `--host` takes it and
//! meta.json stores it.

use crate::error::{Error, Result};
use crate::pki::San;

/// A parsed `tcp://HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq)]
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
        if host.contains('*') {
            return Err(invalid(
                "a wildcard is not an address the docker CLI can connect to; give the daemon's own name (wildcards belong in --san)",
            ));
        }
        Ok(Host { san, port })
    }

    /// The canonical URL stored in the context, port always explicit.
    pub fn url(&self) -> String {
        format!("tcp://{}", self.authority())
    }

    /// `HOST:PORT` as a client dials it (`[v6]:PORT` for IPv6).
    pub fn authority(&self) -> String {
        match &self.san {
            San::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
            San::Ip(ip) => format!("{ip}:{}", self.port),
            San::Dns(d) => format!("{d}:{}", self.port),
        }
    }

    pub fn name(&self) -> String {
        self.san.host()
    }
}

/// Records keep the URL string v0.1 wrote (`tcp://203.0.113.7:2376`).
impl serde::Serialize for Host {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.url())
    }
}

impl<'de> serde::Deserialize<'de> for Host {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // A stored 2375 was accepted with --force when it was made.
        Host::parse(&s, true).map_err(|e| serde::de::Error::custom(e.to_string()))
    }
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
            ("tcp://*.example.com", "wildcard"),
        ] {
            let e = Host::parse(bad, false).unwrap_err().to_string();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
        assert_eq!(Host::parse("tcp://h:2375", true).unwrap().port, 2375);
    }
}
