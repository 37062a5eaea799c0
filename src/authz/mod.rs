//! Over 600 lines: the plugin protocol's one request path (parse, decide, answer, log) and its unit
//! tests.
//!
//! `docker tlsctx authz serve`: a Docker Engine authorization plugin (moby
//! pkg/authorization, pkg/plugins) on a unix socket. dockerd finds it by the
//! socket's name in /run/docker/plugins, POSTs every API request to
//! `/AuthZPlugin.AuthZReq` with the client certificate it authenticated, and
//! refuses the request when we answer `"Allow": false` ("authorization denied
//! by plugin NAME: MSG"). The decision (trust.rs, policy.rs): requests without
//! a certificate (the local socket) pass; a certificate not from the bundle's
//! CA, a revoked one, or one whose role does not allow the request is refused.

pub mod policy;
pub mod refusal;
pub mod route;
pub mod trust;

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use refusal::Refusal;

use crate::error::{Error, Result};
use trust::{Trust, Verdict};

/// `authorization.Request` (moby pkg/authorization/api.go), every field
/// with its Go type: a field of another type, or `null` where dockerd never
/// sends one, makes the body unreadable, and an unreadable body is refused.
/// Fields dockerd may add later are ignored; a key given twice is refused
/// ([`no_duplicate_keys`]).
#[derive(Deserialize, Debug)]
pub struct AuthzRequest {
    #[serde(rename = "User", default, deserialize_with = "not_null")]
    pub user: Option<String>,
    #[serde(rename = "UserAuthNMethod", default, deserialize_with = "not_null")]
    pub authn_method: Option<String>,
    #[serde(rename = "RequestMethod")]
    pub method: String,
    /// Spelled so in moby's JSON tag.
    #[serde(rename = "RequestUri")]
    pub uri: String,
    /// []byte: base64.
    #[serde(rename = "RequestBody", default, deserialize_with = "not_null")]
    pub body: Option<String>,
    #[serde(rename = "RequestHeaders", default, deserialize_with = "not_null")]
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    /// Each entry: base64 of the PEM text of one certificate of the chain
    /// the client sent, leaf first (PeerCertificate.MarshalJSON).
    #[serde(
        rename = "RequestPeerCertificates",
        default,
        deserialize_with = "not_null"
    )]
    pub peer_certificates: Option<Vec<String>>,
    #[serde(rename = "ResponseStatusCode", default, deserialize_with = "not_null")]
    pub response_status: Option<i64>,
    #[serde(rename = "ResponseBody", default, deserialize_with = "not_null")]
    pub response_body: Option<String>,
    #[serde(rename = "ResponseHeaders", default, deserialize_with = "not_null")]
    pub response_headers: Option<std::collections::BTreeMap<String, String>>,
}

/// Present means a value: Go's `omitempty` leaves a field out, never null.
fn not_null<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// The request a body holds, or why it is refused.
pub fn parse_request(body: &[u8]) -> std::result::Result<AuthzRequest, String> {
    no_duplicate_keys(body)?;
    serde_json::from_slice(body).map_err(|e| format!("the request cannot be read: {e}"))
}

/// Refuses JSON with a key twice in one object, anywhere: serde keeps the
/// last one of a map silently, and two readers could disagree on which.
fn no_duplicate_keys(body: &[u8]) -> std::result::Result<(), String> {
    use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
    struct Check;
    impl<'de> DeserializeSeed<'de> for Check {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(
            self,
            d: D,
        ) -> std::result::Result<(), D::Error> {
            d.deserialize_any(Check)
        }
    }
    impl<'de> Visitor<'de> for Check {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<(), A::Error> {
            while a.next_element_seed(Check)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(k) = a.next_key::<String>()? {
                if !seen.insert(k.clone()) {
                    return Err(serde::de::Error::custom(format!("key {k:?} appears twice")));
                }
                a.next_value_seed(Check)?;
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    Check
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| format!("the request cannot be read: {e}"))
}

/// How `authz serve` runs.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    pub log: bool,
    pub trust: trust::Options,
    /// SIGINT or SIGTERM (systemd's stop) asked the plugin to stop.
    pub cancel: crate::interrupt::Cancel,
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
pub fn serve(bundle: &Path, socket: &Path, options: ServeOptions) -> Result<()> {
    // Dropped last, after the socket is removed: a second signal waits for
    // that (crate::interrupt::serving).
    let _serving = crate::interrupt::serving();
    // Stopped before it started: nothing to bind, nothing to remove.
    if options.cancel.requested() {
        return Ok(());
    }
    let trust = Arc::new(
        Trust::with_options(bundle, options.trust.clone()).map_err(|why| Error::Corrupt {
            path: bundle.join("ca.pem"),
            why: why.to_string(),
        })?,
    );
    if let Some(dir) = socket.parent() {
        crate::fsio::create_dir_all(dir, crate::fsio::PUBLIC_DIR)?;
    }
    {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::symlink_metadata(socket).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(socket);
        }
    }
    // Made 0600 by the bind itself (umask 177 for that call), not bound
    // under the process's umask and narrowed after: the folder is one
    // every user can enter, and under umask 000 another user connected in
    // between (attacker review, stop 38). Nothing else creates files
    // while it is set: the serve threads start below.
    let umask = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(socket);
    rustix::process::umask(umask);
    let listener = bound.map_err(Error::io("listen on", socket))?;
    crate::fsio::set_mode(socket, crate::fsio::SECRET_FILE)?;
    eprintln!(
        "tlsctx-authz: serving plugin {:?} on {} for bundle {}{}",
        plugin_name(socket),
        socket.display(),
        bundle.display(),
        if options.trust.require_role {
            " (roles required)"
        } else {
            ""
        }
    );
    let log = options.log;
    let fatal: Arc<Mutex<Option<std::io::Error>>> = Arc::default();
    let accepting = {
        let fatal = fatal.clone();
        std::thread::Builder::new()
            .name("authz-accept".into())
            .spawn(move || {
                let e = accept_loop(&listener, &trust, log);
                *fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            })
            .map_err(Error::io("start the accept thread for", socket))?
    };
    // The accept above blocks; the signal only sets a flag (plugin.rs), so
    // it is looked at here. Without this a stop waited for systemd's
    // SIGKILL, 90 s later. An accept loop that ended is a failure the
    // process cannot survive: it exits non-zero so the service manager
    // (Restart=always) starts a new one, instead of living on deaf.
    while !options.cancel.requested() {
        if accepting.is_finished() {
            let _ = std::fs::remove_file(socket);
            let e = fatal
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_else(|| std::io::Error::other("the accept loop stopped"));
            return Err(Error::io("accept connections on", socket)(e));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(socket);
    Ok(())
}

/// At most this many connections at once. dockerd's plugin client keeps a
/// few keep-alive connections (Go's http.Transport: 2 idle per host by
/// default); a newcomer beyond the cap closes the connection that has been
/// quiet longest, so idle or trickling connections can never lock dockerd
/// out.
pub const MAX_CONNECTIONS: usize = 256;

/// A connection's thread needs little: a request is at most 4 MiB on the
/// heap; parsing and the decision use a few KiB of stack.
const CONNECTION_STACK: usize = 256 * 1024;

/// What a connection is doing: waiting for a request, reading one, or
/// deciding and answering one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Idle,
    Reading,
    Deciding,
}

/// An open connection: a handle to close it, its thread, since when it is
/// in its phase.
struct Open {
    handle: UnixStream,
    thread: Option<std::thread::JoinHandle<()>>,
    since: Instant,
    phase: Phase,
}

/// The open connections, and how many may be open: [`MAX_CONNECTIONS`], or
/// fewer once a thread could not be started (a task limit such as
/// systemd's TasksMax, memory), tried again at full size every
/// [`LIMIT_RETRY`].
struct Connections {
    next: u64,
    open: std::collections::HashMap<u64, Open>,
    limit: usize,
    limited_at: Option<Instant>,
}

const LIMIT_RETRY: Duration = Duration::from_secs(10);

impl Default for Connections {
    fn default() -> Self {
        Connections {
            next: 0,
            open: std::collections::HashMap::new(),
            limit: MAX_CONNECTIONS,
            limited_at: None,
        }
    }
}

impl Connections {
    /// Takes out the connection to close to make room, to be closed with
    /// [`close`] once the lock is released (its thread takes the lock to
    /// leave): the one idle for longest, else the one that has been reading
    /// its request for longest (a trickle; a real request takes
    /// milliseconds); never one deciding a request (its answer has a write
    /// deadline).
    /// An idle connection whose next request already waits unread in the
    /// socket is not idle: closing it would drop a request dockerd sent in
    /// full, which its client does not retry (found by review: 245 such
    /// EOFs under load).
    fn take_quietest(&mut self) -> Option<Open> {
        let mut order: Vec<(&u64, &Open)> = self
            .open
            .iter()
            .filter(|(_, o)| o.phase != Phase::Deciding)
            .collect();
        order.sort_by_key(|(_, o)| (o.phase, o.since));
        let id = order
            .into_iter()
            .find(|(_, o)| o.phase != Phase::Idle || !has_unread(&o.handle))
            .map(|(id, _)| *id)?;
        self.open.remove(&id)
    }

    fn set_phase(&mut self, id: u64, phase: Phase) {
        if let Some(o) = self.open.get_mut(&id) {
            o.phase = phase;
            o.since = Instant::now();
        }
    }
}

/// Whether bytes wait unread on the socket (a peek that does not block; a
/// closed peer reads as nothing waiting).
fn has_unread(s: &UnixStream) -> bool {
    use rustix::net::{recv, RecvFlags};
    let mut one = [0u8; 1];
    matches!(
        recv(s, &mut one, RecvFlags::PEEK | RecvFlags::DONTWAIT),
        Ok((n, _)) if n > 0
    )
}

/// Closes a connection taken out of the table and waits for its thread to
/// end (it sees the socket shut at once), so its task is free again.
fn close(o: Open) {
    let _ = o.handle.shutdown(std::net::Shutdown::Both);
    if let Some(t) = o.thread {
        let _ = t.join();
    }
}

fn lock(c: &Mutex<Connections>) -> std::sync::MutexGuard<'_, Connections> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// Accepts until the listener fails in a way it cannot recover from (then
/// returns the error). A connection that cannot be served (no thread can
/// be started) makes room by closing the quietest one, and the number of
/// connections is held below what failed; the loop goes on: one bad
/// moment must not stop the plugin (issue 30: a panic here left a live
/// process that refused everything).
fn accept_loop(listener: &UnixListener, trust: &Arc<Trust>, log: bool) -> std::io::Error {
    let conns: Arc<Mutex<Connections>> = Arc::default();
    loop {
        let conn = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if transient(&e) => {
                if log {
                    eprintln!("tlsctx-authz: cannot accept a connection now: {e}");
                }
                // Out of descriptors or memory: make room, then try again.
                let quiet = lock(&conns).take_quietest();
                if let Some(q) = quiet {
                    close(q);
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => return e,
        };
        serve_connection(conn, trust, log, &conns);
    }
}

/// Starts a connection's thread, making room first when the table is full
/// and again when the thread cannot start; closes the connection when
/// nothing helps.
fn serve_connection(
    conn: UnixStream,
    trust: &Arc<Trust>,
    log: bool,
    conns: &Arc<Mutex<Connections>>,
) {
    let Ok(handle) = conn.try_clone() else {
        return;
    };
    let id = {
        let mut c = lock(conns);
        if c.limited_at.is_some_and(|at| at.elapsed() > LIMIT_RETRY) {
            c.limit = MAX_CONNECTIONS;
            c.limited_at = None;
        }
        c.next += 1;
        c.next
    };
    // The connection travels to its thread through this slot, and comes
    // back when the thread cannot start.
    let slot = Arc::new(Mutex::new(Some(conn)));
    for attempt in 1..=3 {
        // Full: the quietest one goes first. All deciding: this one is
        // closed (dockerd retries; the cap holds).
        loop {
            let mut c = lock(conns);
            if c.open.len() < c.limit {
                break;
            }
            let Some(quiet) = c.take_quietest() else {
                return;
            };
            drop(c);
            close(quiet);
        }
        let (trust, conns2, slot2) = (trust.clone(), conns.clone(), slot.clone());
        let Ok(handle) = handle.try_clone() else {
            return;
        };
        lock(conns).open.insert(
            id,
            Open {
                handle,
                thread: None,
                since: Instant::now(),
                phase: Phase::Idle,
            },
        );
        let started = std::thread::Builder::new()
            .name("authz-conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                let c = slot2.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(c) = c {
                    let _ = connection(c, &trust, log, &conns2, id);
                }
                lock(&conns2).open.remove(&id);
            });
        match started {
            Ok(thread) => {
                // Kept to wait for it when it is closed to make room; it
                // may have ended already.
                if let Some(o) = lock(conns).open.get_mut(&id) {
                    o.thread = Some(thread);
                }
                return;
            }
            Err(e) => {
                if log {
                    eprintln!(
                        "tlsctx-authz: cannot start a thread for a connection (try {attempt}): {e}; serving fewer connections at once"
                    );
                }
                let mut c = lock(conns);
                c.open.remove(&id);
                c.limit = c.open.len().max(1);
                c.limited_at = Some(Instant::now());
            }
        }
    }
}

/// Accept errors that pass: out of descriptors or memory, a connection
/// aborted before it was accepted, a signal (accept(2)).
fn transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        Interrupted | ConnectionAborted | WouldBlock | OutOfMemory
    ) || matches!(
        e.raw_os_error(),
        Some(code) if [libc_codes::EMFILE, libc_codes::ENFILE, libc_codes::ENOBUFS, libc_codes::ENOMEM, libc_codes::EPROTO, libc_codes::EPERM].contains(&code)
    )
}

/// Linux's errno values (asm-generic/errno-base.h, errno.h).
mod libc_codes {
    pub const EPERM: i32 = 1;
    pub const ENOMEM: i32 = 12;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const EPROTO: i32 = 71;
    pub const ENOBUFS: i32 = 105;
}

/// The default folder of the plugin's state (the CRL numbers it accepted):
/// it must outlive a reboot, so not /run.
pub fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/docker-tlsctx/authz")
}

/// One keep-alive connection from dockerd: requests until it closes or
/// sends something outside the protocol's bounds (http.rs).
fn connection(
    conn: UnixStream,
    trust: &Trust,
    log: bool,
    conns: &Mutex<Connections>,
    id: u64,
) -> std::io::Result<()> {
    let mut reader = crate::http1::Reader::new(conn.try_clone()?);
    // A peer that stops reading must not hold a connection that is deciding
    // (never closed to make room) for ever: the answer, a few hundred
    // bytes, gets the same deadline a request does.
    conn.set_write_timeout(Some(crate::http1::REQUEST))?;
    let mut writer = conn;
    loop {
        match reader.next_request_noting(|| lock(conns).set_phase(id, Phase::Reading)) {
            Ok(None) => return Ok(()),
            Ok(Some(req)) => {
                lock(conns).set_phase(id, Phase::Deciding);
                let answer = if req.method == "POST" {
                    respond(&req.path, &req.body, trust, log)
                } else {
                    refusal(&format!(
                        "{} is not a call of the plugin protocol",
                        req.method
                    ))
                };
                crate::http1::write_json(&mut writer, &answer)?;
                lock(conns).set_phase(id, Phase::Idle);
            }
            Err(e) => {
                if log {
                    eprintln!("tlsctx-authz: closing a connection: {e}");
                }
                let _ = crate::http1::write_bad_request(&mut writer, &e.to_string());
                return Err(e);
            }
        }
    }
}

/// A refusal that is also an error: dockerd fails the request either way.
fn refusal(why: &str) -> String {
    let msg = format!("tlsctx: {why}");
    json!({ "Allow": false, "Msg": msg, "Err": msg }).to_string()
}

/// The JSON answer to one plugin call.
pub fn respond(path: &str, body: &[u8], trust: &Trust, log: bool) -> String {
    match path {
        "/Plugin.Activate" => json!({ "Implements": ["authz"] }).to_string(),
        "/AuthZPlugin.AuthZReq" => {
            let req = match parse_request(body) {
                Ok(r) => r,
                Err(why) => {
                    if log {
                        eprintln!("tlsctx-authz: deny unreadable request: {why}");
                    }
                    return refusal(&why);
                }
            };
            let verdict = match peer_certificate(&req) {
                Ok(peer) => trust.check(
                    peer.as_deref(),
                    &req.method,
                    &req.uri,
                    time::OffsetDateTime::now_utc(),
                ),
                Err(why) => Verdict::Deny {
                    cn: String::new(),
                    serial: String::new(),
                    msg: Refusal::PeerUnreadable(why),
                },
            };
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
        // Responses are not filtered: the request was decided already. An
        // unreadable one is still refused, as everything unreadable is.
        "/AuthZPlugin.AuthZRes" => match parse_request(body) {
            Ok(_) => json!({ "Allow": true }).to_string(),
            Err(why) => refusal(&why),
        },
        other => refusal(&format!("{other}: not a call of the authz protocol")),
    }
}

/// The client certificate of a request (PEM text), `None` for dockerd's
/// local socket; anything in between is refused: a TLS request without a
/// certificate, an empty list (Go's omitempty never sends one), an entry
/// that is not base64 of PEM text.
fn peer_certificate(req: &AuthzRequest) -> std::result::Result<Option<String>, String> {
    let tls = req.authn_method.as_deref().is_some_and(|m| !m.is_empty());
    let Some(certs) = &req.peer_certificates else {
        return if tls {
            Err(format!(
                "a request authenticated by {:?} came without a certificate",
                req.authn_method.as_deref().unwrap_or("")
            ))
        } else {
            Ok(None)
        };
    };
    let first = certs
        .first()
        .ok_or("the request has an empty list of certificates")?;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(first)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("the client certificate is not base64 of PEM text")?;
    Ok(Some(pem))
}

fn log_decision(v: &Verdict, method: &str, uri: &str) {
    let path = policy::log_path(uri);
    let method = method.escape_debug();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_requests_are_refused() {
        let ok = br#"{"RequestMethod":"GET","RequestUri":"/_ping"}"#;
        assert!(parse_request(ok).is_ok());
        for bad in [
            &br#"{"RequestMethod":"GET","RequestUri":"/_ping","RequestUri":"/x"}"#[..],
            br#"{"RequestMethod":"GET","RequestUri":"/_ping","RequestPeerCertificates":null}"#,
            br#"{"RequestMethod":"GET","RequestUri":"/_ping","RequestPeerCertificates":[null]}"#,
            br#"{"RequestMethod":"GET","RequestUri":7}"#,
            br#"{"RequestMethod":"GET"}"#,
            br#"{"RequestMethod":"GET","RequestUri":"/_ping","RequestHeaders":{"a":"1","a":"2"}}"#,
            br#"{"RequestMethod":"GET","RequestUri":"/_ping","User":null}"#,
            br#"{"RequestMethod":"GET","RequestUri":"/_ping"} {}"#,
            b"",
            b"[]",
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{} was read",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            plugin_name(Path::new("/run/docker/plugins/other.sock")),
            "other"
        );
    }
}
