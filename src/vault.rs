//! The Vault / OpenBao PKI secrets engine over HTTPS (ARCHITECTURE.md,
//! "Teams"): the few calls an issuer needs, through ureq on rustls with the
//! aws-lc provider every other TLS connection here uses, and the engine's
//! CA verified (its own file, or Mozilla's roots); never `-k`.
//!
//! Only `sign` is used to get certificates: `issue` would make the private
//! key on the server. Responses are read into typed structs; the engine's
//! `warnings[]` are kept for the user.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, IssuerProblem, Result};

/// Each call's limit: a sealed or overloaded engine answers in
/// milliseconds; a hung one must not hold the lock.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Larger bodies are refused (a CRL of many thousand entries fits).
const MAX_BODY: u64 = 8 << 20;

pub struct Engine {
    agent: ureq::Agent,
    base: String,
    mount: String,
}

/// What `sign` returns.
#[derive(Debug, Clone, Deserialize)]
pub struct Signed {
    pub certificate: String,
    pub issuing_ca: String,
    #[serde(default)]
    pub serial_number: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<String>,
}

#[derive(Deserialize)]
struct Login {
    auth: LoginAuth,
}

#[derive(Deserialize)]
struct LoginAuth {
    client_token: String,
}

/// A mount path or role name as the engine accepts them in a URL path:
/// letters, digits, `-`, `_`, and `/` between mount segments.
pub fn valid_path(s: &str, slash: bool) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('/')
        && !s.ends_with('/')
        && !s.contains("//")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (slash && b == b'/'))
}

/// `https://HOST[:PORT]` and nothing more (no path, user or query), so a
/// mount cannot be smuggled into the address.
pub fn valid_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

fn unreachable(base: &str, e: &ureq::Error) -> Error {
    let why = e.to_string();
    match e {
        ureq::Error::Timeout(_) => {
            return Error::IssuerFailed {
                what: format!(
                    "the engine at {base} did not answer in full within {} s",
                    TIMEOUT.as_secs()
                ),
                problem: IssuerProblem::Overloaded,
            }
        }
        ureq::Error::BodyExceedsLimit(_) => {
            return Error::IssuerFailed {
                what: format!(
                "the engine at {base} answered with more than {} MiB, which no PKI engine sends",
                MAX_BODY >> 20
            ),
                problem: IssuerProblem::NotTheEngine,
            }
        }
        _ => {}
    }
    let untrusted = why.contains("UnknownIssuer")
        || why.contains("invalid peer certificate")
        || why.contains("certificate");
    if untrusted {
        Error::IssuerFailed {
            what: format!(
                "the engine at {base} presented a certificate that is not trusted ({why})"
            ),
            problem: IssuerProblem::Untrusted,
        }
    } else {
        Error::IssuerFailed {
            what: format!("the engine at {base} cannot be reached ({why})"),
            problem: IssuerProblem::Unreachable,
        }
    }
}

impl Engine {
    /// `ca_pem`: the engine's TLS CA (None: Mozilla's roots).
    pub fn new(base: &str, mount: &str, ca_pem: Option<&str>) -> Result<Engine> {
        if !valid_url(base) {
            return Err(Error::IssuerFailed {
                what: format!("{base:?} is not an https://HOST[:PORT] address"),
                problem: IssuerProblem::BadUrl,
            });
        }
        if !valid_path(mount, true) {
            return Err(Error::IssuerFailed {
                what: format!("mount {mount:?} is not a path of letters, digits, - and _"),
                problem: IssuerProblem::BadMount,
            });
        }
        let roots = match ca_pem {
            Some(pem) => {
                let certs: Vec<ureq::tls::Certificate<'static>> = ::pem::parse_many(pem)
                    .map_err(|e| Error::IssuerFailed {
                        what: format!("the engine's CA file cannot be read: {e}"),
                        problem: IssuerProblem::BadCaFile,
                    })?
                    .into_iter()
                    .filter(|b| b.tag() == "CERTIFICATE")
                    .map(|b| ureq::tls::Certificate::from_der(b.contents()).to_owned())
                    .collect();
                if certs.is_empty() {
                    return Err(Error::IssuerFailed {
                        what: "the engine's CA file holds no certificate".into(),
                        problem: IssuerProblem::BadCaFile,
                    });
                }
                ureq::tls::RootCerts::new_with_certs(&certs)
            }
            None => ureq::tls::RootCerts::WebPki,
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(roots)
            .unversioned_rustls_crypto_provider(provider)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .https_only(true)
            .http_status_as_error(false)
            .max_redirects(0)
            // The engine is reached directly: a proxy from the environment
            // would see the token.
            .proxy(None)
            .timeout_global(Some(TIMEOUT))
            .build()
            .into();
        Ok(Engine {
            agent,
            base: base.trim_end_matches('/').to_string(),
            mount: mount.to_string(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.base)
    }

    /// The body of a 2xx answer, or the engine's own errors with what they
    /// mean.
    fn read(
        &self,
        what: &str,
        r: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String> {
        let mut resp = r.map_err(|e| unreachable(&self.base, &e))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| unreachable(&self.base, &e))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let errors = serde_json::from_str::<Errors>(&body)
            .map(|e| e.errors.join("; "))
            .unwrap_or_default();
        let errors = crate::text::one_line(&errors);
        let (what, problem) = match status {
            300..=399 => (
                format!(
                    "{what}: the engine answered with a redirect ({status}), which is not followed"
                ),
                IssuerProblem::Redirect,
            ),
            503 if errors.contains("sealed") => (
                format!("{what}: the engine is sealed"),
                IssuerProblem::Sealed,
            ),
            401 | 403 => (
                format!("{what}: permission denied ({errors})"),
                IssuerProblem::Denied,
            ),
            404 => (
                format!("{what}: not found ({errors})"),
                IssuerProblem::NotFound {
                    mount: self.mount.clone(),
                },
            ),
            _ => (
                format!("{what}: the engine refused ({status}: {errors})"),
                IssuerProblem::Refused,
            ),
        };
        Err(Error::IssuerFailed { what, problem })
    }

    fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<(T, Vec<String>)> {
        let mut req = self.agent.post(&self.url(path));
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        let text = self.read(what, req.send_json(body))?;
        let env: Envelope<T> = serde_json::from_str(&text).map_err(|e| Error::IssuerFailed {
            what: format!("{what}: the engine's answer cannot be read ({e})"),
            problem: IssuerProblem::NotPki,
        })?;
        let data = env.data.ok_or_else(|| Error::IssuerFailed {
            what: format!("{what}: the engine's answer has no data"),
            problem: IssuerProblem::NotPki,
        })?;
        Ok((data, env.warnings.unwrap_or_default()))
    }

    /// The mount's CA certificate (PEM); no token needed.
    pub fn ca_pem(&self) -> Result<String> {
        let r = self
            .agent
            .get(&self.url(&format!("{}/ca/pem", self.mount)))
            .call();
        self.read("reading the mount's CA", r)
    }

    /// The mount's CRL (PEM); no token needed.
    pub fn crl_pem(&self) -> Result<String> {
        let r = self
            .agent
            .get(&self.url(&format!("{}/crl/pem", self.mount)))
            .call();
        self.read("reading the mount's CRL", r)
    }

    /// `GET <mount>/crl/rotate`: the CRL rebuilt now (needs a token).
    pub fn rotate_crl(&self, token: &str) -> Result<()> {
        let r = self
            .agent
            .get(&self.url(&format!("{}/crl/rotate", self.mount)))
            .header("X-Vault-Token", token)
            .call();
        self.read("rebuilding the mount's CRL", r).map(|_| ())
    }

    /// AppRole login: a token for this run.
    pub fn login_approle(&self, role_id: &str, secret_id: &str) -> Result<String> {
        let mut req = self.agent.post(&self.url("auth/approle/login"));
        req = req.header("Content-Type", "application/json");
        let text = self.read(
            "logging in with AppRole",
            req.send_json(serde_json::json!({ "role_id": role_id, "secret_id": secret_id })),
        )?;
        let l: Login = serde_json::from_str(&text).map_err(|e| Error::IssuerFailed {
            what: format!("the AppRole login answer cannot be read ({e})"),
            problem: IssuerProblem::NoAppRole,
        })?;
        Ok(l.auth.client_token)
    }

    /// Whether the token is valid (`auth/token/lookup-self`).
    pub fn check_token(&self, token: &str) -> Result<()> {
        let r = self
            .agent
            .get(&self.url("auth/token/lookup-self"))
            .header("X-Vault-Token", token)
            .call();
        self.read("checking the token", r).map(|_| ())
    }

    /// `POST <mount>/sign/<role>`: the CSR signed under the role's policy.
    pub fn sign(
        &self,
        token: &str,
        role: &str,
        body: &serde_json::Value,
    ) -> Result<(Signed, Vec<String>)> {
        if !valid_path(role, false) {
            return Err(Error::IssuerFailed {
                what: format!("role {role:?} is not a name of letters, digits, - and _"),
                problem: IssuerProblem::BadRole,
            });
        }
        self.post_json(
            &format!("signing with role {role:?}"),
            &format!("{}/sign/{role}", self.mount),
            Some(token),
            body,
        )
    }

    /// `POST <mount>/revoke`: `serial` as the engine writes it (aa:bb:…).
    pub fn revoke(&self, token: &str, serial: &str) -> Result<Vec<String>> {
        let (_, warnings): (serde_json::Value, _) = self.post_json(
            "revoking",
            &format!("{}/revoke", self.mount),
            Some(token),
            &serde_json::json!({ "serial_number": serial }),
        )?;
        Ok(warnings)
    }
}

/// Our serials (lower-case hex of the DER integer's bytes) as the engine
/// files them: the number's bytes without leading zeros (Go's
/// `big.Int.Bytes()`, certutil.GetHexFormatted in Vault's and OpenBao's
/// builtin/logical/pki), pairs joined by colons. A serial whose top bit is
/// set carries a 00 sign byte in DER, and the engine found no certificate
/// "00:b8:…" to revoke (found by review: about 1 in 256 of its serials).
pub fn engine_serial(hex: &str) -> String {
    let h = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex.to_string()
    };
    let mut h = h.as_str();
    while h.len() > 2 && h.starts_with("00") {
        h = &h[2..];
    }
    h.as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap_or("00"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_paths() {
        assert!(valid_url("https://127.0.0.1:8200"));
        assert!(valid_url("https://[::1]:8200"));
        for bad in [
            "http://127.0.0.1:8200",
            "https://h/v1/sys",
            "https://user@h",
            "https://h?x=1",
            "https://",
        ] {
            assert!(!valid_url(bad), "{bad}");
        }
        assert!(valid_path("pki", true) && valid_path("team/pki_int", true));
        for bad in ["", "../sys", "pki/", "/pki", "a//b", "pki?x", "a b"] {
            assert!(!valid_path(bad, true), "{bad}");
        }
        assert!(!valid_path("a/b", false));
        assert_eq!(engine_serial("0a1b2c"), "0a:1b:2c");
        assert_eq!(engine_serial("a1b2c"), "0a:1b:2c");
        assert_eq!(engine_serial("00b871"), "b8:71");
        assert_eq!(engine_serial("0000"), "00");
    }
}
