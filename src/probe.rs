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
    let io = tls
        .write_all(request.as_bytes())
        .and_then(|_| tls.read_to_end(&mut response));
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

fn parse_version(resp: &[u8]) -> Result<Outcome, Failure> {
    let text = String::from_utf8_lossy(resp);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| Failure::Other("the daemon's answer was cut short".into()))?;
    let status = head.lines().next().unwrap_or("");
    if !status.contains(" 200 ") {
        return Err(Failure::Other(format!(
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
        .map_err(|e| Failure::Other(format!("GET /version did not return JSON: {e}")))?;
    Ok(Outcome::Ok {
        version: v["Version"].as_str().unwrap_or("?").to_string(),
        api_version: v["ApiVersion"].as_str().unwrap_or("?").to_string(),
        server_cert: Vec::new(),
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
