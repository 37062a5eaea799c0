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

mod relay;
pub mod units;

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

use crate::docker::endpoint;
use crate::docker::host::Host;
use crate::docker::plugin;
use crate::error::{Error, Result};
use crate::fsio;
use crate::issuance::{identity, Env};

/// How long a connect to the daemon may take before the CLI is told: the
/// same 5 s as `check` (probe.rs).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Options {
    /// Connections served at once; more are answered 503 at once.
    pub max_connections: usize,
    /// Exit after this long without a connection (None: never).
    pub idle: Option<Duration>,
    /// Say each connection's outcome on stderr.
    pub log: bool,
}

/// The identity's certificate file as last seen (modification time, size):
/// `renew` rewrites it, and the next connection then loads the new one.
type Stamp = Option<(std::time::SystemTime, u64)>;

/// One context's way to its daemon, made on first use and kept until its
/// certificate changes: the keychain may be locked when the agent starts
/// and unlocked later.
struct Target {
    name: String,
    socket: PathBuf,
    /// Handed over by systemd (socket activation): not ours to remove.
    activated: bool,
    host: Option<Host>,
    config: Mutex<Option<(Stamp, Arc<rustls::ClientConfig>)>>,
}

/// What every connection's thread shares.
struct Shared {
    env: Env,
    /// Connections being served now.
    active: AtomicUsize,
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
    endpoint::create_socket_dir(&env.config_dir)?;
    let mut targets = Vec::new();
    let mut listeners = Vec::new();
    let mut inherited = inherited_listeners();
    for name in names {
        let socket = endpoint::socket_path(&env.config_dir, name)?;
        // A context written where the socket used to go (/tmp before
        // v0.3) would send Docker's traffic to whoever listens there now.
        let url = format!("unix://{}", socket.display());
        if env.contexts().host(name)?.as_deref() != Some(url.as_str()) {
            return Err(Error::EndpointMoved(name.clone()));
        }
        let host = env.state().identity(name)?.and_then(|r| r.host);
        if let Some(i) = inherited.iter().position(|(p, _)| *p == socket) {
            let (_, listener) = inherited.swap_remove(i);
            targets.push(Arc::new(Target {
                name: name.clone(),
                socket,
                activated: true,
                host,
                config: Mutex::new(None),
            }));
            listeners.push(listener);
            continue;
        }
        fsio::refuse_symlink(&socket)?;
        if socket.exists() {
            if UnixStream::connect(&socket).is_ok() {
                return Err(Error::AgentRunning(name.clone()));
            }
            // Left by an agent that died: nobody answers on it.
            fsio::remove_file(&socket)?;
        }
        let listener = UnixListener::bind(&socket).map_err(Error::io("listen on", &socket))?;
        // The folder is 0700 already, so nobody else could connect in between.
        fsio::set_mode(&socket, fsio::SECRET_FILE)?;
        targets.push(Arc::new(Target {
            name: name.clone(),
            socket,
            activated: false,
            host,
            config: Mutex::new(None),
        }));
        listeners.push(listener);
    }
    let sockets: Vec<PathBuf> = targets.iter().map(|t| t.socket.clone()).collect();
    ready(&sockets);
    let shared = Arc::new(Shared {
        env,
        active: AtomicUsize::new(0),
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
                        )
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
        if plugin::cancelled() || idle {
            break;
        }
    }
    for t in &targets {
        if !t.activated {
            let _ = std::fs::remove_file(&t.socket);
        }
        // Drops our hold on the key; aws-lc wipes it when the last
        // connection using it ends (OPENSSL_cleanse on free).
        t.config.lock().unwrap().take();
    }
    Ok(())
}

/// Sockets systemd handed over (LISTEN_FDS, socket activation: the units
/// of `agent install`), each with the path it is bound to, which says
/// whose it is.
fn inherited_listeners() -> Vec<(PathBuf, UnixListener)> {
    let mut fds = listenfd::ListenFd::from_env();
    (0..fds.len())
        .filter_map(|i| fds.take_unix_listener(i).ok().flatten())
        .filter_map(|l| {
            let path = l.local_addr().ok()?.as_pathname()?.to_path_buf();
            Some((path, l))
        })
        .collect()
}

/// Only our own user may use the socket (its folder is 0700 and it is
/// 0600, and root can anyway): checked again with the peer's credentials.
#[cfg(target_os = "linux")]
fn same_user(client: &UnixStream) -> bool {
    match rustix::net::sockopt::socket_peercred(client) {
        Ok(cred) => {
            let peer = cred.uid.as_raw();
            peer == rustix::process::geteuid().as_raw() || peer == 0
        }
        Err(_) => false,
    }
}

#[cfg(not(target_os = "linux"))]
fn same_user(_client: &UnixStream) -> bool {
    true
}

fn handle(env: &Env, target: &Target, client: UnixStream, log: bool) {
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
            refuse(client, &refusal);
        }
    }
}

/// The TLS config of `target`, made once from the record, the CA and the
/// keystore.
fn config(
    env: &Env,
    target: &Target,
    log: bool,
) -> std::result::Result<Arc<rustls::ClientConfig>, Refusal> {
    let mut slot = target.config.lock().unwrap();
    let stamp: Stamp = std::fs::metadata(env.state().identity_cert_path(&target.name))
        .ok()
        .and_then(|m| Some((m.modified().ok()?, m.len())));
    if let Some((seen, c)) = slot.as_ref() {
        if *seen == stamp {
            return Ok(c.clone());
        }
    }
    let (rec, m) = identity::load_with_record(env, &target.name).map_err(|e| {
        let (what, next) = e.explain();
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
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.contents().to_vec()))
        .map_err(|_| bad("CA certificate"))?;
    // The key's bytes are wiped as soon as aws-lc holds it (which wipes its
    // own copy when the last connection using it is gone): the signing key
    // is made from a borrowed DER rather than handed to rustls by value.
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
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| bad("TLS configuration"))?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(Identity(certified)));
    let config = Arc::new(config);
    if log {
        eprintln!(
            "agent: {}: loaded identity {} (serial {}) from the {} keystore",
            target.name, rec.cn, rec.serial, rec.keystore
        );
    }
    *slot = Some((stamp, config.clone()));
    Ok(config)
}

/// Always the context's one client identity.
#[derive(Debug)]
struct Identity(Arc<rustls::sign::CertifiedKey>);

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

/// TCP to the daemon and the TLS handshake, before the CLI's first byte is
/// relayed: so every failure can still be answered in HTTP.
fn connect(env: &Env, target: &Target, log: bool) -> std::result::Result<relay::Tls, Refusal> {
    let config = config(env, target, log)?;
    let host = target.host.clone().ok_or_else(|| Refusal {
        status: 500,
        message: format!(
            "docker-tlsctx agent: the record of {:?} names no host",
            target.name
        ),
    })?;
    let url = host.url();
    let unreachable = |why: String| {
        Refusal {
        status: 502,
        message: format!(
            "docker-tlsctx agent: cannot reach {url}: {why}; is dockerd running and listening there? (docker tlsctx check {} says more)",
            target.name
        ),
    }
    };
    let addrs: Vec<_> = (host.name().as_str(), host.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve {}: {e}", host.name())))?
        .collect();
    let mut tcp = None;
    let mut last = String::from("no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let mut tcp = tcp.ok_or_else(|| unreachable(last))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(host.name())
        .map_err(|_| unreachable("not a valid server name".into()))?;
    let mut conn =
        rustls::ClientConnection::new(config, name).map_err(|e| unreachable(e.to_string()))?;
    let _ = tcp.set_read_timeout(Some(CONNECT_TIMEOUT));
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            return Err(Refusal {
                status: 502,
                message: format!(
                    "docker-tlsctx agent: {url} {}",
                    handshake_failure(&e, &target.name)
                ),
            });
        }
    }
    let _ = tcp.set_read_timeout(None);
    Ok(relay::Tls::new(conn, tcp))
}

/// A handshake error in the user's words (the same cases as `check`).
fn handshake_failure(e: &std::io::Error, name: &str) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let fix = format!("run docker tlsctx check {name} for the details and the fix");
    match e.get_ref().and_then(|i| i.downcast_ref::<E>()) {
        Some(E::InvalidCertificate(C::UnknownIssuer | C::BadSignature)) => format!(
            "presented a certificate that is not from this context's CA, so the agent did not trust it; {fix}"
        ),
        Some(E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. })) => format!(
            "presented a certificate that does not name this host in its SANs, so the agent did not trust it; {fix}"
        ),
        Some(E::InvalidCertificate(C::Expired | C::ExpiredContext { .. })) => {
            format!("presented an expired certificate; {fix}")
        }
        Some(E::AlertReceived(A::BadCertificate | A::UnknownCA | A::CertificateRequired | A::CertificateUnknown)) => {
            format!("refused this context's client certificate (another CA, or revoked); {fix}")
        }
        Some(other) => format!("failed the TLS handshake: {other}; {fix}"),
        None => format!("closed the connection during the TLS handshake ({e}); {fix}"),
    }
}

/// Answers the CLI's request with an error it prints: reads the request
/// head first (bounded), so the reply is not taken for a reset.
fn refuse(mut client: UnixStream, r: &Refusal) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while head.len() < 64 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = serde_json::json!({ "message": r.message }).to_string();
    let reason = match r.status {
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let _ = write!(
        client,
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        r.status,
        body.len()
    );
    let _ = client.flush();
}
