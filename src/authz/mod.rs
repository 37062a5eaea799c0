//! `docker tlsctx authz serve`: a Docker Engine authorization plugin (moby
//! pkg/authorization, pkg/plugins) on a unix socket. dockerd finds it by the
//! socket's name in /run/docker/plugins, POSTs every API request to
//! `/AuthZPlugin.AuthZReq` with the client certificate it authenticated, and
//! refuses the request when we answer `"Allow": false` ("authorization denied
//! by plugin NAME: MSG"). The decision (trust.rs, policy.rs): requests without
//! a certificate (the local socket) pass; a certificate not from the bundle's
//! CA, a revoked one, or one whose role does not allow the request is refused.

pub mod policy;
pub mod trust;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result};
use trust::{Trust, Verdict};

/// What the plugin protocol's Content-Type is (pkg/plugins/client.go).
const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.2+json";
/// A request body dockerd sends is a few KiB; more is not one of its requests.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The part of `authorization.Request` we read (moby pkg/authorization/api.go).
#[derive(Deserialize, Default)]
struct AuthzRequest {
    #[serde(rename = "RequestMethod", default)]
    method: String,
    #[serde(rename = "RequestUri", default)]
    uri: String,
    /// Each entry: base64 of the PEM text of one certificate of the chain
    /// the client sent, leaf first (PeerCertificate.MarshalJSON).
    #[serde(rename = "RequestPeerCertificates", default)]
    peer_certificates: Option<Vec<String>>,
}

/// The plugin's name, as dockerd's --authorization-plugin gives it: the
/// socket's file name without `.sock`.
pub fn plugin_name(socket: &Path) -> String {
    socket
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Serves until SIGINT or SIGTERM (systemd's stop), then removes its
/// socket. The socket is created 0600 (dockerd runs as root and is its only
/// client), replacing a stale one of a previous run.
pub fn serve(bundle: &Path, socket: &Path, log: bool) -> Result<()> {
    let trust = Arc::new(Trust::open(bundle).map_err(|why| Error::Corrupt {
        path: bundle.join("ca.pem"),
        why,
    })?);
    if let Some(dir) = socket.parent() {
        crate::fsio::create_dir_all(dir, crate::fsio::PUBLIC_DIR)?;
    }
    {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::symlink_metadata(socket).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(socket);
        }
    }
    let listener = UnixListener::bind(socket).map_err(Error::io("listen on", socket))?;
    crate::fsio::set_mode(socket, crate::fsio::SECRET_FILE)?;
    eprintln!(
        "tlsctx-authz: serving plugin {:?} on {} for bundle {}",
        plugin_name(socket),
        socket.display(),
        bundle.display()
    );
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let trust = trust.clone();
            std::thread::spawn(move || {
                let _ = connection(conn, &trust, log);
            });
        }
    });
    // The accept above blocks; the signal only sets a flag (plugin.rs), so
    // it is looked at here. Without this a stop waited for systemd's
    // SIGKILL, 90 s later.
    while !crate::docker::plugin::cancelled() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(socket);
    Ok(())
}

/// One keep-alive connection from dockerd: requests until it closes.
fn connection(conn: UnixStream, trust: &Trust, log: bool) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut writer = conn;
    loop {
        let Some((path, body)) = read_request(&mut reader)? else {
            return Ok(());
        };
        let answer = respond(&path, &body, trust, log);
        write!(
            writer,
            "HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        )?;
        writer.flush()?;
    }
}

/// The JSON answer to one plugin call.
pub fn respond(path: &str, body: &[u8], trust: &Trust, log: bool) -> String {
    match path {
        "/Plugin.Activate" => json!({ "Implements": ["authz"] }).to_string(),
        "/AuthZPlugin.AuthZReq" => {
            let req: AuthzRequest = serde_json::from_slice(body).unwrap_or_default();
            let peer = req
                .peer_certificates
                .as_ref()
                .and_then(|c| c.first())
                .map(|b64| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .unwrap_or_default()
                });
            let verdict = trust.check(
                peer.as_deref(),
                &req.method,
                &req.uri,
                time::OffsetDateTime::now_utc(),
            );
            if log {
                log_decision(&verdict, &req.method, &req.uri);
            }
            match verdict {
                Verdict::Local | Verdict::Allow { .. } => json!({ "Allow": true }).to_string(),
                Verdict::Deny { msg, .. } => {
                    json!({ "Allow": false, "Msg": format!("tlsctx: {msg}") }).to_string()
                }
            }
        }
        // Responses are not filtered: the request was decided already.
        "/AuthZPlugin.AuthZRes" => json!({ "Allow": true }).to_string(),
        other => json!({ "Err": format!("{other}: not a call of the authz protocol") }).to_string(),
    }
}

fn log_decision(v: &Verdict, method: &str, uri: &str) {
    let path = policy::api_path(uri);
    match v {
        Verdict::Local => eprintln!("tlsctx-authz: allow local {method} {path}"),
        Verdict::Allow { cn, serial, role } => {
            eprintln!("tlsctx-authz: allow cn={cn:?} serial={serial} role={role} {method} {path}")
        }
        Verdict::Deny { cn, serial, msg } => {
            eprintln!("tlsctx-authz: deny cn={cn:?} serial={serial} {method} {path}: {msg}")
        }
    }
}

/// Reads one HTTP/1.1 request: its path and body (Content-Length or
/// chunked, as Go's client sends). `None` when the peer closed.
fn read_request(r: &mut impl BufRead) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                length = v.parse().unwrap_or(0);
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad("bad chunk size"))?;
            if body.len() + n > MAX_BODY {
                return Err(bad("request too large"));
            }
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        if length > MAX_BODY {
            return Err(bad("request too large"));
        }
        body.resize(length, 0);
        r.read_exact(&mut body)?;
    }
    Ok(Some((path, body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_with_length_and_chunks() {
        let raw = b"POST /Plugin.Activate HTTP/1.1\r\nHost: plugin\r\nContent-Length: 2\r\n\r\n{}POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let mut r = BufReader::new(&raw[..]);
        let (p, b) = read_request(&mut r).unwrap().unwrap();
        assert_eq!((p.as_str(), b.as_slice()), ("/Plugin.Activate", &b"{}"[..]));
        let (p, b) = read_request(&mut r).unwrap().unwrap();
        assert_eq!(
            (p.as_str(), b.as_slice()),
            ("/AuthZPlugin.AuthZReq", &b"abc"[..])
        );
        assert!(read_request(&mut r).unwrap().is_none());
        assert_eq!(
            plugin_name(Path::new("/run/docker/plugins/other.sock")),
            "other"
        );
    }
}
