//! `check`: connect to a context's endpoint with the context's own material
//! and say, in plain words, what works or which of the usual TLS failures it is.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::tls_client::{self, Failure, Identity};

pub use crate::tls_client::TIMEOUT;

/// What the probe found.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Ok {
        version: String,
        api_version: String,
        /// The certificate the daemon presented (DER), so `server install`
        /// can tell the new one from an old one of the same CA.
        server_cert: Vec<u8>,
    },
    Failed(Failure),
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
        Err(f) => Outcome::Failed(f),
    }
}

fn run(m: &Material<'_>) -> Result<Outcome, Failure> {
    let bad = |what: &str| Failure::Other(format!("the context's {what} cannot be read"));
    let first =
        |text: &str, what: &str| pem_blocks(text).into_iter().next().ok_or_else(|| bad(what));
    let ca_der = first(m.ca_pem, "ca.pem")?;
    let cert_der = first(m.cert_pem, "cert.pem")?;
    let key = PrivateKeyDer::try_from(first(m.key_pem, "key.pem")?).map_err(|_| bad("key.pem"))?;
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| Failure::Other(format!("the context's key.pem cannot be used: {e}")))?;
    let certified = rustls::sign::CertifiedKey::new(vec![CertificateDer::from(cert_der)], signer);
    certified.keys_match().map_err(|e| {
        Failure::Other(format!(
            "the context's client certificate and key do not go together: {e}"
        ))
    })?;
    let (config, verifier) = tls_client::config(ca_der, Arc::new(Identity(Arc::new(certified))))?;
    let (mut conn, mut tcp) = tls_client::handshake(config, &verifier, m.host, m.port)?;
    let server_cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .unwrap_or_default();
    // The request and its answer within their own deadline too.
    let until = std::time::Instant::now() + TIMEOUT;
    let mut io = tls_client::Deadline {
        tcp: &mut tcp,
        until,
    };
    let mut tls = rustls::Stream::new(&mut conn, &mut io);
    let request = format!("GET /version HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: docker-tlsctx-check\r\nConnection: close\r\n\r\n", m.host, m.port);
    let mut response = Vec::new();
    // Bounded as it is read: a daemon sending without end must not fill
    // memory before the parser's own bounds apply (found by review: 878 MB
    // in 5 s). One more byte than a head and a body may hold, so the parser
    // still sees that it is too long.
    let limit = (crate::http1::MAX_HEAD + MAX_VERSION_BODY + 1) as u64;
    let io = tls
        .write_all(request.as_bytes())
        .and_then(|_| Read::take(&mut tls, limit).read_to_end(&mut response));
    if let Err(e) = io {
        // Keep what was read: a TLS 1.3 server may close after answering.
        if response.is_empty() {
            // TLS 1.3 refuses a client certificate after the client's half
            // of the handshake: the alert arrives here.
            return Err(
                match tls_client::classify(&e, &verifier, m.host, m.port, until) {
                    Failure::NoAnswer => Failure::Other(format!(
                    "{}:{} completed the TLS handshake but did not answer GET /version within {} s",
                    m.host,
                    m.port,
                    TIMEOUT.as_secs()
                )),
                    f => f,
                },
            );
        }
    }
    parse_version(&response).map(|o| match o {
        Outcome::Ok {
            version,
            api_version,
            ..
        } => Outcome::Ok {
            version,
            api_version,
            server_cert,
        },
        other => other,
    })
}

/// Docker's `GET /version` answer is about 1 KiB (api/types/types.go
/// Version); 1 MiB is far more than any daemon sends.
const MAX_VERSION_BODY: usize = 1 << 20;

/// The daemon's answer to `GET /version`, read with the one HTTP/1.1
/// reader the plugin and the agent use (http1).
fn parse_version(resp: &[u8]) -> Result<Outcome, Failure> {
    let r = crate::http1::Reader::with_limit(resp, MAX_VERSION_BODY)
        .response()
        .map_err(|e| Failure::Other(format!("the daemon's answer cannot be read: {e}")))?;
    if r.status != 200 {
        return Err(Failure::Other(format!(
            "the daemon answered {} to GET /version",
            r.status
        )));
    }
    #[derive(serde::Deserialize)]
    struct Version {
        #[serde(rename = "Version")]
        version: Option<String>,
        #[serde(rename = "ApiVersion")]
        api_version: Option<String>,
    }
    let v: Version = serde_json::from_slice(&r.body)
        .map_err(|e| Failure::Other(format!("GET /version did not return JSON: {e}")))?;
    Ok(Outcome::Ok {
        version: crate::text::one_line(v.version.as_deref().unwrap_or("?")),
        api_version: crate::text::one_line(v.api_version.as_deref().unwrap_or("?")),
        server_cert: Vec::new(),
    })
}

fn pem_blocks(text: &str) -> Vec<Vec<u8>> {
    pem::parse_many(text)
        .map(|v| v.into_iter().map(|p| p.into_contents()).collect())
        .unwrap_or_default()
}
