//! Over 600 lines: the agent's one serving path (load, refuse, relay) and the unit tests of its
//! refusals.
//!
//! The agent (ARCHITECTURE.md, "The agent"): serves the unix socket of each
//! keychain-only context. Each connection from the docker CLI is carried on
//! to the context's real host over mutual TLS, with the client key read from
//! the keystore into this process's memory only; the daemon is verified
//! against the context's CA and the host against its SANs (webpki). Bytes
//! are relayed both ways untouched, so HTTP upgrades (`exec -it`, `attach`,
//! `logs -f`, BuildKit sessions) pass as they are.
//!
//! When the connection cannot be made (keychain locked, daemon unreachable,
//! a daemon this context must not trust), the agent answers the request
//! itself with an HTTP error whose message says what to do: the docker CLI
//! prints it as "Error response from daemon: …".

#[cfg(windows)]
mod pipe;
mod relay;
pub mod units;

#[cfg(unix)]
use std::os::unix::net::{UnixListener as Listener, UnixStream as Conn};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::docker::endpoint;
use crate::docker::host::Host;
use crate::error::{Error, Result};
#[cfg(unix)]
use crate::fsio;
use crate::issuance::{identities::identity, Env};
use crate::tls_client::{self, Identity, Recording};
#[cfg(windows)]
use pipe::{Conn, Listener};
#[cfg(unix)]
use relay::Client;

pub struct Options {
    /// Connections served at once; more are answered 503 at once.
    pub max_connections: usize,
    /// Exit after this long without a connection (None: never).
    pub idle: Option<Duration>,
    /// Say each connection's outcome on stderr.
    pub log: bool,
}

/// The identity's certificate and record files as last seen (modification
/// time, size): `renew` rewrites the certificate and `new --force` both
/// (perhaps with another host); the next connection then loads them again.
type Stamp = [FileStamp; 2];
type FileStamp = Option<(std::time::SystemTime, u64)>;

fn file_stamp(p: &Path) -> FileStamp {
    std::fs::metadata(p)
        .ok()
        .and_then(|m| Some((m.modified().ok()?, m.len())))
}

fn stamp(env: &Env, name: &str) -> Stamp {
    let state = env.state();
    [
        file_stamp(&state.identity_cert_path(name)),
        file_stamp(&state.identity_path(name)),
    ]
}

/// What a context's connections are made with, loaded together from the
/// record, its CA and the keystore: the host and the identity never come
/// from two different versions of the context.
struct Loaded {
    host: Host,
    config: Arc<rustls::ClientConfig>,
    verifier: Arc<Recording>,
    /// The CA certificate it trusts, and that file as it was: a CA
    /// replaced in place (`ca import --force`) is read again too.
    ca_path: PathBuf,
    ca_stamp: FileStamp,
}

/// One context's way to its daemon, made on first use and kept until its
/// files change: the keychain may be locked when the agent starts and
/// unlocked later.
struct Target {
    name: String,
    socket: PathBuf,
    /// Handed over by systemd (socket activation): not ours to remove.
    activated: bool,
    loaded: Mutex<Option<(Stamp, Arc<Loaded>)>>,
}

/// What every connection's thread shares.
struct Shared {
    env: Env,
    /// Connections being served now.
    active: AtomicUsize,
    /// Connections being refused now (over the limit).
    refusing: AtomicUsize,
    /// When the last connection came or went: the idle clock.
    last: Mutex<Instant>,
    opts: Options,
}

/// What failed before any byte reached the daemon, for the CLI to print.
struct Refusal {
    status: u16,
    message: String,
}

/// The keychain-only contexts to serve: those named, or every one.
pub fn contexts(env: &Env, names: &[String]) -> Result<Vec<String>> {
    let state = env.state();
    if names.is_empty() {
        return Ok(state
            .identities()?
            .into_iter()
            .filter(|r| r.keychain_only && r.context.is_some())
            .map(|r| r.name)
            .collect());
    }
    for n in names {
        let rec = state
            .identity(n)?
            .ok_or_else(|| Error::IdentityNotFound(n.clone()))?;
        if !rec.keychain_only {
            return Err(Error::NotKeychainOnly(n.clone()));
        }
    }
    Ok(names.to_vec())
}

pub use endpoint::serving;

/// Binds every socket (0600 in a 0700 folder), then serves until SIGINT or
/// SIGTERM, or until idle for `opts.idle`. `ready` runs once all listen.
pub fn serve(
    env: Env,
    names: &[String],
    opts: Options,
    ready: impl FnOnce(&[PathBuf]),
) -> Result<()> {
    let cancel = env.cancel.clone();
    // Dropped last, after the sockets are removed: a second signal waits
    // for that (crate::interrupt::serving).
    let _serving = crate::interrupt::serving();
    // Stopped before it started: nothing to bind, nothing to remove.
    if cancel.requested() {
        return Ok(());
    }
    endpoint::create_socket_dir(&env.config_dir)?;
    let mut targets = Vec::new();
    let mut listeners = Vec::new();
    let mut inherited = inherited_listeners(names);
    for name in names {
        // Unix: the one socket path. Windows: a new pipe name at every
        // start, recorded in the context below (endpoint::fresh_pipe).
        #[cfg(unix)]
        let socket = endpoint::socket_path(&env.config_dir, name)?;
        #[cfg(windows)]
        let socket = endpoint::fresh_pipe(name)?;
        env.state()
            .identity(name)?
            .ok_or_else(|| Error::IdentityNotFound(name.clone()))?;
        // A context written where the socket used to go (/tmp before
        // v0.3) would send Docker's traffic to whoever listens there now.
        let url = endpoint::socket_url(&env.config_dir, name)?;
        if env.contexts().host(name)?.as_deref() != Some(url.as_str()) {
            return Err(Error::EndpointMoved(name.clone()));
        }
        if let Some(i) = inherited.iter().position(|(p, _)| *p == socket) {
            let (_, listener) = inherited.swap_remove(i);
            targets.push(Arc::new(Target {
                name: name.clone(),
                socket,
                activated: true,
                loaded: Mutex::new(None),
            }));
            listeners.push(listener);
            continue;
        }
        let listener = bind(name, &socket)?;
        targets.push(Arc::new(Target {
            name: name.clone(),
            socket,
            activated: false,
            loaded: Mutex::new(None),
        }));
        listeners.push(listener);
    }
    let sockets: Vec<PathBuf> = targets.iter().map(|t| t.socket.clone()).collect();
    #[cfg(windows)]
    repoint(&env, &targets, |t| Some(t.socket.clone()))?;
    ready(&sockets);
    let shared = Arc::new(Shared {
        env,
        active: AtomicUsize::new(0),
        refusing: AtomicUsize::new(0),
        last: Mutex::new(Instant::now()),
        opts,
    });
    for (listener, target) in listeners.into_iter().zip(&targets) {
        let (shared, target) = (shared.clone(), target.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                *shared.last.lock().unwrap() = Instant::now();
                let max = shared.opts.max_connections;
                if shared.active.fetch_add(1, Ordering::SeqCst) >= max {
                    shared.active.fetch_sub(1, Ordering::SeqCst);
                    // Beyond as many refusals again, the connection is
                    // just closed: refusals are bounded too.
                    if shared.refusing.fetch_add(1, Ordering::SeqCst) >= max {
                        shared.refusing.fetch_sub(1, Ordering::SeqCst);
                        drop(client);
                        continue;
                    }
                    let shared = shared.clone();
                    // Answered on a thread of its own: reading the request
                    // head must not hold up the next accept.
                    std::thread::spawn(move || {
                        refuse(
                            client,
                            &Refusal {
                                status: 503,
                                message: format!(
                                    "docker-tlsctx agent: {max} connections are open already, the most it serves; try again when some close"
                                ),
                            },
                            // Counted out before the reply is written: the
                            // CLI connects again (GET /version after HEAD
                            // /_ping) as soon as it has read it, and found
                            // this refusal still counted, so it was closed
                            // unanswered ("EOF": 3 of 5 runs of
                            // tests/it/agent.rs's limit check). The reply is a
                            // few hundred bytes into an empty socket
                            // buffer: it never blocks.
                            || {
                                shared.refusing.fetch_sub(1, Ordering::SeqCst);
                            },
                        );
                    });
                    continue;
                }
                let (shared, target) = (shared.clone(), target.clone());
                std::thread::spawn(move || {
                    handle(&shared.env, &target, client, shared.opts.log);
                    *shared.last.lock().unwrap() = Instant::now();
                    shared.active.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
    }
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let idle = shared.active.load(Ordering::SeqCst) == 0
            && shared
                .opts
                .idle
                .is_some_and(|d| shared.last.lock().unwrap().elapsed() >= d);
        if cancel.requested() || idle {
            break;
        }
    }
    // Windows: the contexts point at names never served from now on, so
    // nobody can stand in for a stopped agent under the name Docker uses.
    #[cfg(windows)]
    if let Err(e) = repoint(&shared.env, &targets, |t| {
        endpoint::fresh_pipe(&t.name).ok()
    }) {
        eprintln!("agent: cannot point the contexts away from the stopped agent's pipes: {e}");
    }
    for t in &targets {
        // A pipe goes with its last handle; a socket file stays behind.
        if !t.activated && cfg!(unix) {
            let _ = std::fs::remove_file(&t.socket);
        }
        // Drops our hold on the key; aws-lc wipes it when the last
        // connection using it ends (OPENSSL_cleanse on free).
        t.loaded.lock().unwrap().take();
    }
    Ok(())
}

/// Binds `name`'s socket (0600 in the 0700 folder checked above), after
/// removing one an agent that died left behind.
#[cfg(unix)]
fn bind(name: &str, socket: &Path) -> Result<Listener> {
    fsio::refuse_symlink(socket)?;
    if socket.exists() {
        if Conn::connect(socket).is_ok() {
            return Err(Error::AgentRunning(name.to_string()));
        }
        // Left by an agent that died: nobody answers on it.
        fsio::remove_file(socket)?;
    }
    let listener = Listener::bind(socket).map_err(Error::io("listen on", socket))?;
    // The folder is 0700 already, so nobody else could connect in between.
    fsio::set_mode(socket, fsio::SECRET_FILE)?;
    Ok(listener)
}

/// Makes `name`'s pipe (agent/pipe.rs). A pipe of that name that exists
/// already is never shared, whoever made it: another agent of ours, or a
/// process waiting for the user's traffic. It is looked for first (Wine
/// ignores FILE_FLAG_FIRST_PIPE_INSTANCE), and the flag refuses one made
/// between that look and our call.
#[cfg(windows)]
fn bind(name: &str, socket: &Path) -> Result<Listener> {
    let taken = |who: String| Error::PipeTaken {
        name: name.to_string(),
        pipe: socket.to_path_buf(),
        who,
    };
    match endpoint::pipe_state(socket) {
        endpoint::AgentState::NotRunning => {}
        endpoint::AgentState::Serving => {
            return Err(taken(
                "a process of yours (another agent, or a program posing as one)".into(),
            ))
        }
        endpoint::AgentState::Unsafe(why) => return Err(taken(why)),
    }
    pipe::listen(socket).map_err(|e| {
        // FILE_FLAG_FIRST_PIPE_INSTANCE on a name in use: ERROR_ACCESS_DENIED
        // (5); ERROR_PIPE_BUSY (231) when its instances are all taken.
        if e.kind() == std::io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(231) {
            taken("a process that made it just now".into())
        } else {
            Error::io("make the named pipe", socket)(e)
        }
    })
}

/// Windows: points each target's context at the pipe `to` gives, under
/// the lock every writing command takes, when it still is a keychain-only
/// context pointing at one of the user's pipes for it (a `new --force` or
/// `rm` in between wins).
#[cfg(windows)]
fn repoint(
    env: &Env,
    targets: &[Arc<Target>],
    to: impl Fn(&Target) -> Option<PathBuf>,
) -> Result<()> {
    let _lock = crate::lock::acquire(&env.config_dir, || {
        eprintln!("agent: waiting for another docker-tlsctx command to finish...");
    })?;
    let contexts = env.contexts();
    for t in targets {
        let keychain_only = env
            .state()
            .identity(&t.name)?
            .is_some_and(|r| r.keychain_only);
        let ours = endpoint::socket_url(&env.config_dir, &t.name)?;
        if !keychain_only || contexts.host(&t.name)?.as_deref() != Some(ours.as_str()) {
            continue;
        }
        if let Some(pipe) = to(t) {
            contexts.set_host(&t.name, &endpoint::url_of(&pipe))?;
        }
    }
    Ok(())
}

/// Sockets systemd handed over (LISTEN_FDS, socket activation: the units
/// of `agent install`), each with the path it is bound to, which says
/// whose it is.
#[cfg(target_os = "linux")]
fn inherited_listeners(_names: &[String]) -> Vec<(PathBuf, Listener)> {
    let mut fds = listenfd::ListenFd::from_env();
    (0..fds.len())
        .filter_map(|i| fds.take_unix_listener(i).ok().flatten())
        .filter_map(|l| {
            let path = l.local_addr().ok()?.as_pathname()?.to_path_buf();
            Some((path, l))
        })
        .collect()
}

/// Sockets launchd made for the plist's `Sockets` entries (one per context,
/// keyed by its name: units.rs), each with the path it is bound to, which
/// must still be the context's socket.
#[cfg(target_os = "macos")]
fn inherited_listeners(names: &[String]) -> Vec<(PathBuf, Listener)> {
    names
        .iter()
        .flat_map(|n| crate::sys::macos::activated_sockets(n).unwrap_or_default())
        .filter_map(|l| {
            let path = l.local_addr().ok()?.as_pathname()?.to_path_buf();
            Some((path, l))
        })
        .collect()
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn inherited_listeners(_names: &[String]) -> Vec<(PathBuf, Listener)> {
    Vec::new()
}

/// Only our own user may use the socket (its folder is 0700 and it is
/// 0600, and root can anyway): checked again with the peer's credentials.
#[cfg(target_os = "linux")]
fn same_user(client: &Conn) -> bool {
    match rustix::net::sockopt::socket_peercred(client) {
        Ok(cred) => {
            let peer = cred.uid.as_raw();
            peer == rustix::process::geteuid().as_raw() || peer == 0
        }
        Err(_) => false,
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
fn same_user(_client: &Conn) -> bool {
    true
}

/// The pipe's client must run as our user (agent/pipe.rs).
#[cfg(windows)]
fn same_user(client: &Conn) -> bool {
    pipe::client_is_ours(client)
}

fn handle(env: &Env, target: &Target, client: Conn, log: bool) {
    if !same_user(&client) {
        return;
    }
    let started = Instant::now();
    match connect(env, target, log) {
        Ok(tls) => {
            let r = relay::run(client, tls);
            if log {
                eprintln!(
                    "agent: {}: relayed {} bytes up, {} down in {:.1} s{}",
                    target.name,
                    r.up,
                    r.down,
                    started.elapsed().as_secs_f64(),
                    r.error.map(|e| format!(" ({e})")).unwrap_or_default()
                );
            }
        }
        Err(refusal) => {
            if log {
                eprintln!("agent: {}: refused: {}", target.name, refusal.message);
            }
            refuse(client, &refusal, || {});
        }
    }
}

/// What `target`'s connections are made with: cached until its files
/// change. The keystore call (which may wait for a locked keychain) is made
/// without holding the cache's lock, so it never holds up the context's
/// other connections.
fn load(env: &Env, target: &Target, log: bool) -> std::result::Result<Arc<Loaded>, Refusal> {
    let now = stamp(env, &target.name);
    if let Some((seen, loaded)) = target.loaded.lock().unwrap().as_ref() {
        if *seen == now && file_stamp(&loaded.ca_path) == loaded.ca_stamp {
            return Ok(loaded.clone());
        }
    }
    let loaded = Arc::new(read_identity(env, target, log)?);
    *target.loaded.lock().unwrap() = Some((now, loaded.clone()));
    Ok(loaded)
}

fn read_identity(env: &Env, target: &Target, log: bool) -> std::result::Result<Loaded, Refusal> {
    let (rec, m) = identity::load_with_record(env, &target.name).map_err(|e| {
        let (what, next) = crate::explain::explain(&e);
        Refusal {
            status: 503,
            message: format!(
                "docker-tlsctx agent: cannot load the identity of {:?}: {what}{}",
                target.name,
                next.map(|n| format!("; {n}")).unwrap_or_default()
            ),
        }
    })?;
    let bad = |what: &str| {
        Refusal {
        status: 500,
        message: format!("docker-tlsctx agent: the {what} of {:?} cannot be used; run docker tlsctx restore {} --force or renew it", target.name, target.name),
    }
    };
    let ca = pem::parse(&m.ca_pem).map_err(|_| bad("CA certificate"))?;
    let cert = pem::parse(&m.cert_pem).map_err(|_| bad("certificate"))?;
    // The key's bytes are wiped as soon as aws-lc holds it (which wipes its
    // own copy when the last connection using it is gone): the signing key
    // is made from a borrowed DER rather than handed to rustls by value.
    let host = m.host.clone();
    let mut m = m;
    let der = zeroize::Zeroizing::new(std::mem::take(&mut m.key_der));
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&PrivateKeyDer::Pkcs8(
        PrivatePkcs8KeyDer::from(der.as_slice()),
    ))
    .map_err(|_| bad("key"))?;
    drop(der);
    let certified = Arc::new(rustls::sign::CertifiedKey::new(
        vec![CertificateDer::from(cert.contents().to_vec())],
        signer,
    ));
    let (config, verifier) =
        tls_client::config(ca.contents().to_vec(), Arc::new(Identity(certified)))
            .map_err(|_| bad("CA certificate"))?;
    if log {
        eprintln!(
            "agent: {}: loaded identity {} (serial {}) from the {} keystore, for {}",
            target.name,
            rec.cn,
            rec.serial,
            rec.keystore,
            host.url()
        );
    }
    let ca_path = env.state().ca_dir(&rec.ca).join("ca.pem");
    Ok(Loaded {
        host,
        config,
        verifier,
        ca_stamp: file_stamp(&ca_path),
        ca_path,
    })
}

/// TCP to the daemon and the TLS handshake (tls_client.rs, with its
/// deadlines), before the CLI's first byte is relayed: so every failure can
/// still be answered in HTTP, in the same words as `check`.
fn connect(env: &Env, target: &Target, log: bool) -> std::result::Result<relay::Tls, Refusal> {
    let l = load(env, target, log)?;
    let name = l.host.name();
    match tls_client::handshake(l.config.clone(), &l.verifier, &name, l.host.port) {
        Ok((conn, tcp)) => {
            // The relay has no read deadline on the daemon: `logs -f` and
            // `events` may be quiet for hours (relay.rs frees a connection
            // whose client has gone instead).
            let _ = tcp.set_read_timeout(None);
            let _ = tcp.set_write_timeout(None);
            keepalive(&tcp);
            Ok(relay::Tls::new(conn, tcp))
        }
        Err(f) => {
            let (what, fix) = f.explain(&format!("{name}:{}", l.host.port), &target.name);
            Err(Refusal {
                status: 502,
                message: format!(
                    "docker-tlsctx agent: {what}; {fix} (docker tlsctx check {} says more)",
                    target.name
                ),
            })
        }
    }
}

/// The deadline of a quiet relay: TCP keepalive after 60 s of silence, a
/// probe every 10 s, 6 unanswered probes and the connection is dropped, so
/// a daemon host that vanished (network gone, host powered off) frees the
/// relay within about two minutes, while a quiet but live `logs -f` or
/// `events` stream (the kernel answers the probes) is kept.
#[cfg(target_os = "linux")]
fn keepalive(tcp: &std::net::TcpStream) {
    use rustix::net::sockopt;
    let _ = sockopt::set_socket_keepalive(tcp, true);
    let _ = sockopt::set_tcp_keepidle(tcp, Duration::from_secs(60));
    let _ = sockopt::set_tcp_keepintvl(tcp, Duration::from_secs(10));
    let _ = sockopt::set_tcp_keepcnt(tcp, 6);
}

/// macOS and the BSDs: the same, TCP_KEEPALIVE being their TCP_KEEPIDLE
/// (rustix maps it; macOS has TCP_KEEPINTVL and TCP_KEEPCNT since 10.8).
#[cfg(all(unix, not(target_os = "linux")))]
fn keepalive(tcp: &std::net::TcpStream) {
    use rustix::net::sockopt;
    let _ = sockopt::set_socket_keepalive(tcp, true);
    let _ = sockopt::set_tcp_keepidle(tcp, Duration::from_secs(60));
    let _ = sockopt::set_tcp_keepintvl(tcp, Duration::from_secs(10));
    let _ = sockopt::set_tcp_keepcnt(tcp, 6);
}

/// Windows: SO_KEEPALIVE, then 60 s idle and a probe every 10 s
/// (SIO_KEEPALIVE_VALS, through socket2). The number of probes is fixed at
/// 10 since Vista (Microsoft's SIO_KEEPALIVE_VALS page), so a vanished host
/// frees the relay within about three minutes.
#[cfg(windows)]
fn keepalive(tcp: &std::net::TcpStream) {
    let s = socket2::SockRef::from(tcp);
    let _ = s.set_keepalive(true);
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10));
    let _ = s.set_tcp_keepalive(&ka);
}

/// Answers the CLI's request with an error it prints: reads the request
/// head first (bounded), so the reply is not taken for a reset.
fn refuse(client: Conn, r: &Refusal, before_reply: impl FnOnce()) {
    read_head(&client);
    before_reply();
    let body = serde_json::json!({ "message": r.message }).to_string();
    let mut w = &client;
    let _ = crate::http1::write_answer(&mut w, r.status, "application/json", &body, true);
}

/// Reads the request head: a unix socket closed with unread input resets the
/// connection, and the CLI would print "connection reset" instead of the
/// refusal. 2 s for the whole head, not per read: a client that sends a
/// byte at a time must not keep this thread.
#[cfg(unix)]
fn read_head(client: &Conn) {
    let until = Instant::now() + Duration::from_secs(2);
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !crate::http1::head_done(&head) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || client.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
}

/// A pipe keeps unread input without a reset, and interprocess lets the
/// reply be read before it disconnects: nothing to read first (and a pipe
/// read has no deadline).
#[cfg(windows)]
fn read_head(_client: &Conn) {}

#[cfg(test)]
mod tests {
    /// Issue 30: TCP keepalive was set on Linux only; every OS sets it on
    /// the relay's connection to the daemon (run under Wine for Windows by
    /// the cross-check).
    #[test]
    fn relays_to_the_daemon_keep_alive_on_every_os() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        super::keepalive(&tcp);
        #[cfg(unix)]
        assert!(rustix::net::sockopt::socket_keepalive(&tcp).unwrap());
        #[cfg(target_os = "linux")]
        assert_eq!(
            rustix::net::sockopt::tcp_keepidle(&tcp).unwrap(),
            std::time::Duration::from_secs(60)
        );
        #[cfg(windows)]
        assert!(socket2::SockRef::from(&tcp).keepalive().unwrap());
    }
}
