//! Registry URLs as the reference helpers normalise and match them.

use super::protocol::{CredError, CredResult};

/// A registry URL as the reference helpers read it (registryurl/parse.go):
/// a missing scheme means https, only http and https are allowed, the query
/// is dropped, the path is cleaned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryUrl {
    pub scheme: String,
    pub host: String,
    pub port: String,
    pub path: String,
}

impl RegistryUrl {
    pub fn parse(raw: &str) -> CredResult<RegistryUrl> {
        // A URL never holds control characters; one that does would forge
        // lines in `list` output and in the index.
        if raw.chars().any(char::is_control) {
            return Err(CredError::BadUrl(
                "the server URL contains a control character".into(),
            ));
        }
        let (scheme, rest) = match raw.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("".into(), raw.strip_prefix("//").unwrap_or(raw)),
        };
        if !scheme.is_empty() && scheme != "https" && scheme != "http" {
            // Only a short, plain scheme is repeated: an error never echoes
            // what may be a secret piped to the wrong action.
            return Err(CredError::BadUrl(
                if scheme.len() <= 16 && scheme.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    format!("unsupported scheme: {scheme}")
                } else {
                    "unsupported scheme".into()
                },
            ));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let path = tail.split(['?', '#']).next().unwrap_or("");
        let authority = authority
            .rsplit_once('@')
            .map(|(_, h)| h)
            .unwrap_or(authority);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| CredError::BadUrl("missing ']' after an IPv6 host".into()))?;
            (
                h.to_string(),
                after.strip_prefix(':').unwrap_or(after).to_string(),
            )
        } else {
            // Go's url.Parse: the text after the last colon is the port and
            // must be digits ("https://::1:8080" is host ::1, port 8080).
            match authority.rsplit_once(':') {
                Some((h, p)) => {
                    if !p.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(CredError::BadUrl(
                            "invalid port after host: a port is digits only".to_string(),
                        ));
                    }
                    (h.to_string(), p.to_string())
                }
                None => (authority.to_string(), String::new()),
            }
        };
        if host.is_empty() {
            return Err(CredError::BadUrl("no hostname in URL".into()));
        }
        Ok(RegistryUrl {
            scheme: if scheme.is_empty() {
                "https".into()
            } else {
                scheme
            },
            host: host.to_ascii_lowercase(),
            port,
            path: clean_path(path),
        })
    }

    /// One string per credential: the keystore account and index key.
    pub fn key(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let port = if self.port.is_empty() {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        format!("{}://{host}{port}{}", self.scheme, self.path)
    }

    /// Whether a read of `self` finds a credential stored for `stored`: the
    /// scheme and host must match; a read without port or path matches any
    /// (osxkeychain_test.go TestOSXKeychainHelperRetrieveAliases/Strict).
    pub fn finds(&self, stored: &RegistryUrl) -> bool {
        self.scheme == stored.scheme
            && self.host == stored.host
            && (self.port.is_empty() || self.port == stored.port)
            && (self.path.is_empty() || self.path == stored.path)
    }
}

/// Go's path.Clean for a URL path; "" and "/" both mean "no path".
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("/{}", parts.join("/"))
    }
}
