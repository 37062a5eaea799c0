//! `check`: connect to a context's endpoint with the context's own material
//! and say, in plain words, what works or which of the usual TLS failures it is.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, SignatureScheme};

/// Connect and read timeouts: a daemon that answers at all answers in well
/// under this; a firewall that drops packets must not hang the command.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// What the probe found.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Ok {
        version: String,
        api_version: String,
    },
    ServerCertExpired {
        not_after: String,
    },
    ServerCertNotYetValid {
        not_before: String,
    },
    HostNotInSans {
        host: String,
        sans: Vec<String>,
    },
    UnknownAuthority {
        issuer: String,
    },
    ClientCertRefused {
        alert: String,
    },
    PlainHttp,
    NotTls {
        detail: String,
    },
    ConnectionRefused,
    TimedOut,
    Other(String),
}

/// The material of a context, as PEM text.
pub struct Material<'a> {
    pub host: &'a str,
    pub port: u16,
    pub ca_pem: &'a str,
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
}

pub fn probe(m: &Material<'_>) -> Outcome {
    match run(m) {
        Ok(o) => o,
        Err(o) => o,
    }
}

fn connect(host: &str, port: u16) -> Result<TcpStream, Outcome> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Outcome::Other(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = Outcome::Other(format!("{host} has no address"));
    for a in addrs {
        match TcpStream::connect_timeout(&a, TIMEOUT) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(TIMEOUT));
                let _ = s.set_write_timeout(Some(TIMEOUT));
                return Ok(s);
            }
            Err(e) => {
                last = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => Outcome::ConnectionRefused,
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                        Outcome::TimedOut
                    }
                    _ => Outcome::Other(e.to_string()),
                }
            }
        }
    }
    Err(last)
}

fn run(m: &Material<'_>) -> Result<Outcome, Outcome> {
    let bad = |what: &str| Outcome::Other(format!("the context's {what} cannot be read"));
    let ca_der = pem_blocks(m.ca_pem)
        .into_iter()
        .next()
        .ok_or_else(|| bad("ca.pem"))?;
    let cert_der = pem_blocks(m.cert_pem)
        .into_iter()
        .next()
        .ok_or_else(|| bad("cert.pem"))?;
    let key_der = pem_blocks(m.key_pem)
        .into_iter()
        .next()
        .ok_or_else(|| bad("key.pem"))?;
    let key = PrivateKeyDer::try_from(key_der).map_err(|_| bad("key.pem"))?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der))
        .map_err(|_| bad("ca.pem"))?;
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Outcome::Other(e.to_string()))?;
    let verifier = Arc::new(Recording {
        inner,
        seen: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Outcome::Other(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_client_auth_cert(vec![CertificateDer::from(cert_der)], key)
        .map_err(|e| {
            Outcome::Other(format!(
                "the context's client certificate and key do not go together: {e}"
            ))
        })?;

    let name = ServerName::try_from(m.host.to_string())
        .map_err(|_| Outcome::Other(format!("{} is not a valid server name", m.host)))?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| Outcome::Other(e.to_string()))?;
    let mut tcp = connect(m.host, m.port)?;
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    let request = format!("GET /version HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: docker-tlsctx-check\r\nConnection: close\r\n\r\n", m.host, m.port);
    let mut response = Vec::new();
    let io = tls
        .write_all(request.as_bytes())
        .and_then(|_| tls.read_to_end(&mut response));
    if let Err(e) = io {
        // Keep what was read: a TLS 1.3 server may close after answering.
        if response.is_empty() {
            return Err(classify(e, &verifier, m));
        }
    }
    parse_version(&response)
}

/// Turns a handshake or read failure into the user's situation.
fn classify(e: std::io::Error, verifier: &Recording, m: &Material<'_>) -> Outcome {
    let seen = verifier.seen.lock().unwrap().take();
    let Some(tls_err) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return match e.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Outcome::TimedOut,
            std::io::ErrorKind::ConnectionRefused => Outcome::ConnectionRefused,
            _ => Outcome::Other(e.to_string()),
        };
    };
    match tls_err {
        rustls::Error::InvalidCertificate(ce) => {
            let info = seen
                .as_deref()
                .and_then(|der| crate::pki::CertInfo::from_der(der).ok());
            let date = |t: time::OffsetDateTime| crate::text::date(t);
            match ce {
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    Outcome::ServerCertExpired {
                        not_after: info.map(|i| date(i.not_after)).unwrap_or_default(),
                    }
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    Outcome::ServerCertNotYetValid {
                        not_before: info.map(|i| date(i.not_before)).unwrap_or_default(),
                    }
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => Outcome::HostNotInSans {
                    host: m.host.to_string(),
                    sans: info.map(|i| i.sans).unwrap_or_default(),
                },
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    Outcome::UnknownAuthority {
                        issuer: info.map(|i| i.issuer).unwrap_or_default(),
                    }
                }
                other => Outcome::Other(format!("the server certificate was rejected: {other:?}")),
            }
        }
        rustls::Error::AlertReceived(alert) => match alert {
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateRequired
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked => Outcome::ClientCertRefused {
                alert: format!("{alert:?}"),
            },
            other => Outcome::Other(format!("the daemon ended the TLS handshake: {other:?}")),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            if speaks_plain_http(m) {
                Outcome::PlainHttp
            } else {
                Outcome::NotTls {
                    detail: tls_err.to_string(),
                }
            }
        }
        other => Outcome::Other(other.to_string()),
    }
}

/// A second connection, in plain HTTP: does a Docker API answer there?
fn speaks_plain_http(m: &Material<'_>) -> bool {
    let Ok(mut s) = connect(m.host, m.port) else {
        return false;
    };
    let req = format!("GET /_ping HTTP/1.0\r\nHost: {}:{}\r\n\r\n", m.host, m.port);
    let mut buf = [0u8; 16];
    s.write_all(req.as_bytes()).is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"HTTP/1."))
}

fn parse_version(resp: &[u8]) -> Result<Outcome, Outcome> {
    let text = String::from_utf8_lossy(resp);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| Outcome::Other("the daemon's answer was cut short".into()))?;
    let status = head.lines().next().unwrap_or("");
    if !status.contains(" 200 ") {
        return Err(Outcome::Other(format!(
            "the daemon answered {status:?} to GET /version"
        )));
    }
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    let v: serde_json::Value = serde_json::from_str(body.trim())
        .map_err(|e| Outcome::Other(format!("GET /version did not return JSON: {e}")))?;
    Ok(Outcome::Ok {
        version: v["Version"].as_str().unwrap_or("?").to_string(),
        api_version: v["ApiVersion"].as_str().unwrap_or("?").to_string(),
    })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn pem_blocks(text: &str) -> Vec<Vec<u8>> {
    pem::parse_many(text)
        .map(|v| v.into_iter().map(|p| p.into_contents()).collect())
        .unwrap_or_default()
}

/// Delegates to webpki, keeping the server's certificate for the message.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end_entity.to_vec());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
