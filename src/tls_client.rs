//! The one TLS client: TCP with deadlines, the rustls handshake to a
//! daemon verified against a context's CA (webpki, keeping the daemon's
//! certificate for the message), and one enum of what can go wrong on the
//! way. `check` (probe.rs) and the agent (agent/) both connect through it,
//! so both name the same causes with the same fixes.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, SignatureScheme};

/// Connect and handshake deadline: a daemon that answers at all answers in
/// well under this; a firewall that drops packets, or a dockerd that
/// accepts and then hangs, must not hang the command or the agent.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection to a daemon did not get as far as a TLS session.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
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
    /// A Docker API answered in plain HTTP where TLS was expected.
    PlainHttp,
    NotTls {
        detail: String,
    },
    ConnectionRefused,
    /// No TCP connection within [`TIMEOUT`].
    TimedOut,
    /// TCP connected, but the TLS handshake got no answer within
    /// [`TIMEOUT`]: a daemon that accepts and does not answer.
    NoAnswer,
    /// The peer closed during the handshake.
    Closed {
        detail: String,
    },
    Other(String),
}

impl Failure {
    /// What went wrong and the next step, for `check` and the agent alike.
    /// `hp` is "host:port", `name` the context.
    pub fn explain(&self, hp: &str, name: &str) -> (String, String) {
        match self {
            Failure::ServerCertExpired { not_after } => (
                format!("the daemon's server certificate expired on {not_after}"),
                format!("renew it (docker tlsctx server renew {name}), copy the new files to the host and restart dockerd"),
            ),
            Failure::ServerCertNotYetValid { not_before } => (
                format!("the daemon's server certificate is not valid before {not_before}"),
                "check the clocks of this machine and of the daemon host (NTP)".into(),
            ),
            Failure::HostNotInSans { host, sans } => (
                format!("{host} is not covered by the daemon's server certificate (it covers: {})", sans.join(", ")),
                format!("add it: docker tlsctx server renew {name} --add-san {host}, then copy the bundle and restart dockerd; or use a host name the certificate covers"),
            ),
            Failure::UnknownAuthority { issuer } => (
                format!("the daemon at {hp} presents a certificate from another CA ({issuer})"),
                "this context trusts a different CA than the daemon uses: install this context's server bundle on the daemon, or import the daemon's CA (docker tlsctx ca import) and issue the context from it".into(),
            ),
            Failure::ClientCertRefused { alert } => (
                format!("the daemon at {hp} refused this context's client certificate (TLS alert {alert})"),
                "the daemon trusts another CA, or the certificate expired or was revoked: compare with docker tlsctx inspect, renew with docker tlsctx renew".into(),
            ),
            Failure::PlainHttp => (
                format!("{hp} speaks plain HTTP, not TLS: the daemon there is open to anyone who can reach it"),
                "configure dockerd with --tlsverify (install the server bundle: docker tlsctx server ...), and use port 2376; never expose 2375".into(),
            ),
            Failure::NotTls { detail } => (
                format!("{hp} does not speak TLS ({detail})"),
                "check the port: dockerd's TLS port is usually 2376".into(),
            ),
            Failure::ConnectionRefused => (
                format!("connection refused by {hp}: nothing listens there"),
                "start dockerd on the host, and check that its daemon.json hosts include tcp://0.0.0.0:PORT".into(),
            ),
            Failure::TimedOut => (
                format!("no answer from {hp} within {} s", TIMEOUT.as_secs()),
                "check the address, the host's firewall and any security group for the port".into(),
            ),
            Failure::NoAnswer => (
                format!("{hp} accepted the connection but did not answer the TLS handshake within {} s", TIMEOUT.as_secs()),
                "dockerd there is hung or overloaded: look at it on the host (systemctl status docker, its log), or restart it".into(),
            ),
            Failure::Closed { detail } => (
                format!("{hp} closed the connection during the TLS handshake ({detail})"),
                format!("something other than dockerd may listen there, or it refused us early: docker tlsctx check {name}"),
            ),
            Failure::Other(why) => (why.clone(), format!("run docker --context {name} version for Docker's own message")),
        }
    }
}

/// TCP to the first address of `host` that answers within [`TIMEOUT`],
/// with read and write deadlines of [`TIMEOUT`] for the handshake.
pub fn connect_tcp(host: &str, port: u16) -> Result<TcpStream, Failure> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Failure::Other(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = Failure::Other(format!("{host} has no address"));
    for a in addrs {
        match TcpStream::connect_timeout(&a, TIMEOUT) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(TIMEOUT));
                let _ = s.set_write_timeout(Some(TIMEOUT));
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => {
                last = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => Failure::ConnectionRefused,
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                        Failure::TimedOut
                    }
                    _ => Failure::Other(e.to_string()),
                }
            }
        }
    }
    Err(last)
}

/// A client configuration trusting only `ca_der`, presenting what
/// `identity` resolves, and the verifier that records the daemon's
/// certificate for [`classify`].
pub fn config(
    ca_der: Vec<u8>,
    identity: Arc<dyn rustls::client::ResolvesClientCert>,
) -> Result<(Arc<rustls::ClientConfig>, Arc<Recording>), Failure> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der))
        .map_err(|_| Failure::Other("the context's CA certificate cannot be read".into()))?;
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Failure::Other(e.to_string()))?;
    let verifier = Arc::new(Recording {
        inner,
        seen: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::Other(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_client_cert_resolver(identity);
    Ok((Arc::new(config), verifier))
}

/// Always the one client identity of a context.
#[derive(Debug)]
pub struct Identity(pub Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for Identity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A stream whose reads and writes all end by one instant: a per-read
/// timeout alone lets a peer that sends a byte every few seconds hold a
/// handshake forever.
pub struct Deadline<'a> {
    pub tcp: &'a mut TcpStream,
    pub until: std::time::Instant,
}

impl Deadline<'_> {
    fn left(&self) -> std::io::Result<Duration> {
        let left = self
            .until
            .saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the deadline passed",
            ));
        }
        Ok(left)
    }
}

impl std::io::Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.tcp.set_read_timeout(Some(self.left()?))?;
        self.tcp.read(buf)
    }
}

impl std::io::Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tcp.set_write_timeout(Some(self.left()?))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

/// TCP, then the whole handshake within [`TIMEOUT`] in all (not per read);
/// the connection is returned with deadlines still set (the caller changes
/// them).
pub fn handshake(
    config: Arc<rustls::ClientConfig>,
    verifier: &Recording,
    host: &str,
    port: u16,
) -> Result<(rustls::ClientConnection, TcpStream), Failure> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| Failure::Other(format!("{host} is not a valid server name")))?;
    let mut conn =
        rustls::ClientConnection::new(config, name).map_err(|e| Failure::Other(e.to_string()))?;
    let mut tcp = connect_tcp(host, port)?;
    let until = std::time::Instant::now() + TIMEOUT;
    let mut io = Deadline {
        tcp: &mut tcp,
        until,
    };
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut io) {
            return Err(classify(&e, verifier, host, port, until));
        }
    }
    let _ = tcp.set_read_timeout(Some(TIMEOUT));
    let _ = tcp.set_write_timeout(Some(TIMEOUT));
    Ok((conn, tcp))
}

/// A handshake or read failure as the user's situation. A second look (is
/// it plain HTTP?) is taken only within what is left until `until`.
pub fn classify(
    e: &std::io::Error,
    verifier: &Recording,
    host: &str,
    port: u16,
    until: std::time::Instant,
) -> Failure {
    let seen = verifier.seen.lock().unwrap().take();
    let Some(tls_err) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return match e.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Failure::NoAnswer,
            std::io::ErrorKind::ConnectionRefused => Failure::ConnectionRefused,
            _ => Failure::Closed {
                detail: e.to_string(),
            },
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
                    Failure::ServerCertExpired {
                        not_after: info.map(|i| date(i.not_after)).unwrap_or_default(),
                    }
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    Failure::ServerCertNotYetValid {
                        not_before: info.map(|i| date(i.not_before)).unwrap_or_default(),
                    }
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => Failure::HostNotInSans {
                    host: host.to_string(),
                    sans: info.map(|i| i.sans).unwrap_or_default(),
                },
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    Failure::UnknownAuthority {
                        issuer: info.map(|i| i.issuer).unwrap_or_default(),
                    }
                }
                other => Failure::Other(format!("the server certificate was rejected: {other:?}")),
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
            | AlertDescription::CertificateRevoked => Failure::ClientCertRefused {
                alert: format!("{alert:?}"),
            },
            other => Failure::Other(format!("the daemon ended the TLS handshake: {other:?}")),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            if speaks_plain_http(host, port, until) {
                Failure::PlainHttp
            } else {
                Failure::NotTls {
                    detail: tls_err.to_string(),
                }
            }
        }
        other => Failure::Other(other.to_string()),
    }
}

/// A second connection, in plain HTTP: does a Docker API answer there?
/// Within the same deadline as the handshake it follows, so a failure is
/// named within [`TIMEOUT`] in all (a slow server made it 10 s).
fn speaks_plain_http(host: &str, port: u16, until: std::time::Instant) -> bool {
    use std::io::{Read, Write};
    if until <= std::time::Instant::now() {
        return false;
    }
    let Ok(mut tcp) = connect_tcp(host, port) else {
        return false;
    };
    let mut s = Deadline {
        tcp: &mut tcp,
        until,
    };
    let req = format!("GET /_ping HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n");
    let mut buf = [0u8; 16];
    s.write_all(req.as_bytes()).is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"HTTP/1."))
}

/// Delegates to webpki, keeping the server's certificate for the message.
#[derive(Debug)]
pub struct Recording {
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
