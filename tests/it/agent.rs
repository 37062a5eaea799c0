//! Over 600 lines: one area's scenarios over a shared fixture (a dockerd, a host, a keyring); the
//! fixture's helpers would be split with them.
//!
//! Keychain-only contexts through the agent, against a real dockerd with
//! our server bundle: the docker CLI's everyday commands (version, ps, run,
//! exec -i, logs -f), no key file anywhere Docker or the agent keep files,
//! socket modes and another uid, a kill mid-stream, a locked Secret Service,
//! daemons the agent must not trust, socket activation from the units
//! `agent install` writes, and renew, restore and adopt in this mode.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::dockerd::{free_port, stderr, Dockerd};
use crate::common::secret_service::SecretService;
use crate::common::steps::Steps;
use crate::common::*;

/// A runtime folder for this sandbox: XDG_RUNTIME_DIR is set to it for
/// every command of ours here, and must change nothing (issue 30: the
/// socket's place does not depend on the environment).
fn run_dir(s: &Sandbox) -> PathBuf {
    let d = s.path().join("run");
    if !d.exists() {
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
    }
    d
}

fn tlsctx(s: &Sandbox, args: &[&str]) -> Output {
    let mut c = s.tlsctx_cmd(args);
    c.env("XDG_RUNTIME_DIR", run_dir(s));
    c.output().unwrap()
}

/// The endpoint Docker reads from context `name` (its meta.json).
fn endpoint(s: &Sandbox, name: &str) -> String {
    ok(&s.docker(&[
        "context",
        "inspect",
        name,
        "-f",
        "{{.Endpoints.docker.Host}}",
    ]))
}

/// Where the agent's socket for `name` is, whatever the environment.
fn socket(s: &Sandbox, name: &str) -> PathBuf {
    s.cfg().join(format!("tlsctx/agent/{name}.sock"))
}

/// `agent --foreground --log NAMES`, stopped on drop.
struct Agent {
    child: Child,
    log: PathBuf,
    killed: bool,
}

impl Agent {
    fn start(s: &Sandbox, names: &[&str], extra: &[&str]) -> Agent {
        let log = s.path().join(format!("agent-{}.log", names.join("-")));
        let mut c = s.tlsctx_cmd(&["agent", "--foreground", "--log"]);
        c.args(extra)
            .args(names)
            .env("XDG_RUNTIME_DIR", run_dir(s))
            .stderr(fs::File::create(&log).unwrap());
        let child = c.spawn().unwrap();
        let mut a = Agent {
            child,
            log,
            killed: false,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !names
            .iter()
            .all(|n| UnixStream::connect(socket(s, n)).is_ok())
        {
            if let Ok(Some(st)) = a.child.try_wait() {
                panic!("agent exited ({st}): {}", a.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "agent did not listen: {}",
                a.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        a
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.killed = true;
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.killed {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// A second SIGTERM close behind the first still lets the agent remove
/// its socket (as `authz serve`: the same hold, crate::interrupt::serving).
#[test]
fn a_second_signal_close_behind_the_first_leaves_no_agent_socket() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&[
        "new",
        "ts",
        "--host",
        "tcp://127.0.0.1:1",
        "--keychain-only",
    ]));
    let mut left = Vec::new();
    for round in 0..5 {
        let mut agent = Agent::start(&s, &["ts"], &[]);
        let pid = agent.child.id().to_string();
        for gap in [0, 5 + 2 * round] {
            std::thread::sleep(Duration::from_millis(gap));
            ok(&Command::new("kill").args(["-TERM", &pid]).output().unwrap());
        }
        let _ = agent.child.wait();
        agent.killed = true;
        if socket(&s, "ts").exists() {
            left.push(round);
            let _ = fs::remove_file(socket(&s, "ts"));
        }
    }
    assert!(
        left.is_empty(),
        "the socket was left behind in rounds {left:?}"
    );
    // The first signal during start-up, before the socket is bound, and
    // the second while the loop has not looked yet (the review of this
    // fix: 7 runs in 100 left the socket this way).
    let mut left = Vec::new();
    for round in 0..40 {
        let mut c = s.tlsctx_cmd(&["agent", "--foreground", "ts"]);
        c.env("XDG_RUNTIME_DIR", run_dir(&s)).stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        let pid = child.id().to_string();
        for gap in [1 + round % 5, 50] {
            std::thread::sleep(Duration::from_millis(gap));
            let _ = Command::new("kill").args(["-TERM", &pid]).output();
        }
        let _ = child.wait();
        if socket(&s, "ts").exists() {
            left.push(round);
            let _ = fs::remove_file(socket(&s, "ts"));
        }
    }
    assert!(
        left.is_empty(),
        "a signal during start-up left the socket behind in rounds {left:?}"
    );
}

fn dk(s: &Sandbox, ctx: &str, args: &[&str]) -> Output {
    let mut all = vec!["--context", ctx];
    all.extend_from_slice(args);
    s.docker(&all)
}

/// The key as PEM text and DER, from the file keystore (its only home).
fn keystore_key(s: &Sandbox, name: &str) -> (Vec<String>, Vec<u8>) {
    let der = fs::read(s.cfg().join(format!("tlsctx/keys/client/{name}.key"))).unwrap();
    let tmp = s.path().join("k.der");
    fs::write(&tmp, &der).unwrap();
    let pem = openssl_ok(&["pkey", "-inform", "DER", "-in", tmp.to_str().unwrap()]);
    fs::remove_file(&tmp).unwrap();
    let lines = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .map(str::to_string)
        .collect();
    (lines, der)
}

/// Files below `dir` (but those in `skip`) holding the key, as PEM or DER.
fn holding_key(dir: &Path, pem_lines: &[String], der: &[u8], skip: &[PathBuf]) -> Vec<PathBuf> {
    all_files(dir)
        .into_iter()
        .filter(|p| !skip.iter().any(|k| p.starts_with(k)))
        .filter(|p| fs::metadata(p).is_ok_and(|m| m.is_file()))
        .filter(|p| {
            let b = fs::read(p).unwrap_or_default();
            let t = String::from_utf8_lossy(&b);
            pem_lines.iter().any(|l| t.contains(l.as_str()))
                || b.windows(der.len()).any(|w| w == der)
        })
        .collect()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// One HTTP request over the socket, as uid 65534 (nobody), by Python.
/// Connects to `sock` as uid 65534 and sends a request: "refused ERRNO"
/// when the connection is refused, "answer b''" when it is dropped
/// unanswered (the agent may drop it before the request is sent: EPIPE on
/// the send, which was a traceback here and failed the test once).
fn as_nobody(sock: &Path) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
        ])
        .arg(
            "import socket,sys\n\
             s=socket.socket(socket.AF_UNIX)\n\
             try:\n  s.connect(sys.argv[1])\n\
             except OSError as e:\n  print('refused', e.errno); sys.exit(3)\n\
             s.settimeout(10)\n\
             try:\n  s.sendall(b'GET /_ping HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'); r=s.recv(100)\n\
             except (ConnectionResetError, BrokenPipeError):\n  r=b''\n\
             print('answer', repr(r))\n",
        )
        .arg(sock)
        .output()
        .unwrap()
}

#[test]
fn keychain_only_context_through_a_real_dockerd() {
    assert!(
        is_root(),
        "dockerd needs root; run the suite as root (CI does)"
    );
    require("setpriv");
    let s = Sandbox::new();
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let out = ok(&tlsctx(
        &s,
        &["new", "k1", "--host", &host, "--keychain-only"],
    ));
    assert!(out.contains("The client key is only in"), "{out}");
    // The context points Docker at the agent; no TLS folder, no key.pem.
    let meta = ok(&s.docker(&["context", "inspect", "k1", "--format", "{{json .}}"]));
    let v: serde_json::Value = serde_json::from_str(&meta).unwrap();
    let sock = socket(&s, "k1");
    assert_eq!(
        v["Endpoints"]["docker"]["Host"],
        format!("unix://{}", sock.display())
    );
    assert!(v["Metadata"]["Description"]
        .as_str()
        .unwrap()
        .contains("through the docker-tlsctx agent"));
    assert!(
        !s.cfg().join("contexts/tls").exists()
            || all_files(&s.cfg().join("contexts/tls")).is_empty()
    );

    let bundle = s.cfg().join("tlsctx/servers/k1");
    let dir = s.path().join("d");
    fs::create_dir(&dir).unwrap();
    let _daemon = Dockerd::start(&dir, &bundle, port);

    // Without an agent: Docker's own "cannot connect", nothing hangs.
    let o = dk(&s, "k1", &["version"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Cannot connect to the Docker daemon"),
        "{}",
        stderr(&o)
    );

    let mut agent = Agent::start(&s, &["k1"], &[]);
    assert_eq!(mode(&sock), 0o600);
    assert_eq!(mode(sock.parent().unwrap()), 0o700);
    let o = ok(&dk(
        &s,
        "k1",
        &["version", "--format", "{{.Server.Version}}"],
    ));
    assert!(!o.trim().is_empty());
    ok(&dk(&s, "k1", &["ps"]));
    let image = import_busybox(&s, "k1");
    let o = ok(&dk(
        &s,
        "k1",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "/bin/busybox",
            "echo",
            "from a container",
        ],
    ));
    assert_eq!(o.trim(), "from a container");
    ok(&dk(
        &s,
        "k1",
        &[
            "run",
            "-d",
            "--name",
            "ticker",
            "--network",
            "none",
            &image,
            "/bin/busybox",
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done",
        ],
    ));
    // exec -i: stdin in, output out, through an upgraded connection.
    let o = with_stdin(
        s.docker_cmd(&[
            "--context",
            "k1",
            "exec",
            "-i",
            "ticker",
            "/bin/busybox",
            "tr",
            "a-z",
            "A-Z",
        ]),
        "through the agent\n",
    );
    assert_eq!(ok(&o), "THROUGH THE AGENT\n");
    // logs -f streams; then the agent is killed mid-stream.
    let mut follow = s
        .docker_cmd(&["--context", "k1", "logs", "-f", "ticker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        assert!(lines.next().unwrap().unwrap().starts_with("tick "));
    }
    agent.kill9();
    let status = follow.wait().unwrap();
    let mut err = String::new();
    follow
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "logs -f went on without the agent");
    assert!(err.contains("unexpected EOF"), "{err}");
    let o = dk(&s, "k1", &["version"]);
    assert!(
        stderr(&o).contains("Cannot connect to the Docker daemon"),
        "{}",
        stderr(&o)
    );
    // A new agent takes over the socket the killed one left.
    let agent = Agent::start(&s, &["k1"], &[]);
    ok(&dk(&s, "k1", &["ps"]));
    // env: DOCKER_HOST at the socket, no TLS variables.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "export DOCKER_TLS_VERIFY=1; eval \"$({BIN} env k1)\"; {} --config {} version --format '{{{{.Server.Version}}}}'",
            require("docker").display(),
            s.cfg().display()
        ))
        .env("DOCKER_CONFIG", s.cfg())
        .env("XDG_RUNTIME_DIR", run_dir(&s))
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    assert!(!ok(&o).trim().is_empty());

    // No file holds the key but the keystore's own (dockerd's folder is
    // left out: the daemon never sees a client key, and it holds fifos).
    let (pem_lines, der) = keystore_key(&s, "k1");
    let skip = [s.cfg().join("tlsctx/keys"), dir.clone()];
    let hits = holding_key(s.path(), &pem_lines, &der, &skip);
    assert!(hits.is_empty(), "the client key is in {hits:?}");

    // Another uid: the 0700 folder refuses it; with the folder and socket
    // opened up, the agent's own peer check still drops it unanswered.
    let o = as_nobody(&sock);
    assert_eq!(o.status.code(), Some(3), "{}", transcript(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("refused 13"),
        "{}",
        transcript(&o)
    );
    fs::set_permissions(s.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(s.cfg(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(s.cfg().join("tlsctx"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(sock.parent().unwrap(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&sock, fs::Permissions::from_mode(0o666)).unwrap();
    let o = as_nobody(&sock);
    let answer = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        answer.contains("answer b''"),
        "nobody got an answer: {}",
        transcript(&o)
    );
    fs::set_permissions(sock.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(&sock, fs::Permissions::from_mode(0o600)).unwrap();

    // ls, inspect and check show the mode and the agent.
    let ls = ok(&tlsctx(&s, &["ls"]));
    assert!(ls.contains(&format!("{host} (agent: serving)")), "{ls}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(&tlsctx(&s, &["inspect", "k1", "--format", "json"]))).unwrap();
    assert_eq!(v["keychain_only"], true);
    assert_eq!(v["agent"]["state"], "serving");
    let o = ok(&tlsctx(&s, &["check", "k1"]));
    assert!(
        o.contains("agent: serving") && o.contains("answered with Docker Engine"),
        "{o}"
    );

    // renew --rekey: the running agent picks up the new identity.
    ok(&tlsctx(&s, &["renew", "k1", "--rekey"]));
    ok(&dk(&s, "k1", &["ps"]));
    let rec: serde_json::Value =
        serde_json::from_slice(&fs::read(s.cfg().join("tlsctx/identities/k1.json")).unwrap())
            .unwrap();
    let serial = rec["serial"].as_str().unwrap().to_string();
    assert!(
        agent.log_text().contains(&format!("(serial {serial})")),
        "{}",
        agent.log_text()
    );
    let (pem_lines, der) = keystore_key(&s, "k1");
    assert!(holding_key(s.path(), &pem_lines, &der, &skip).is_empty());

    // restore after docker context rm: the same socket context again.
    ok(&s.docker(&["context", "rm", "k1"]));
    ok(&tlsctx(&s, &["restore", "k1"]));
    ok(&dk(&s, "k1", &["version"]));
    assert!(
        !s.cfg().join("contexts/tls").exists()
            || all_files(&s.cfg().join("contexts/tls")).is_empty()
    );

    // adopt: a context with a key.pem becomes keychain-only; the key.pem goes.
    ok(&tlsctx(&s, &["new", "n1", "--host", &host, "--no-server"]));
    let n1_tls = s.cfg().join("contexts/tls").join(context_id("n1"));
    assert!(n1_tls.join("docker/key.pem").exists());
    ok(&tlsctx(&s, &["agent", "adopt", "n1"]));
    assert!(!n1_tls.exists());
    let n1 = Agent::start(&s, &["n1"], &["--max-connections", "1"]);
    ok(&dk(&s, "n1", &["ps"]));
    // A bounded number of connections: one held open, the next refused
    // with a message, and served again once it closes.
    // The connection of the `ps` above may still be closing (the agent
    // counts it until dockerd has closed its side): retry until served.
    let deadline = Instant::now() + Duration::from_secs(10);
    let held = loop {
        let mut c = UnixStream::connect(socket(&s, "n1")).unwrap();
        c.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
            .unwrap();
        let mut first = [0u8; 12];
        c.read_exact(&mut first).unwrap();
        if &first == b"HTTP/1.1 200" {
            break c;
        }
        assert_eq!(&first, b"HTTP/1.1 503", "neither served nor refused");
        assert!(
            Instant::now() < deadline,
            "the agent never freed its one connection"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let o = dk(&s, "n1", &["version"]);
    assert!(
        stderr(&o).contains("1 connections are open already"),
        "{}",
        transcript(&o)
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dk(&s, "n1", &["ps"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "not served again after the held connection closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(n1);
    drop(agent);
}

fn context_id(name: &str) -> String {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s {name} | sha256sum"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn the_agent_refuses_daemons_it_must_not_trust() {
    assert!(
        is_root(),
        "dockerd needs root; run the suite as root (CI does)"
    );
    let s = Sandbox::new();
    let port = free_port();
    // dockerd runs a bundle from another CA.
    ok(&tlsctx(&s, &["ca", "init", "--name", "other"]));
    ok(&tlsctx(
        &s,
        &[
            "server",
            "foreign",
            "--san",
            "127.0.0.1",
            "--san",
            "localhost",
            "--ca",
            "other",
        ],
    ));
    let dir = s.path().join("d");
    fs::create_dir(&dir).unwrap();
    let _daemon = Dockerd::start(&dir, &s.cfg().join("tlsctx/servers/foreign"), port);
    ok(&tlsctx(
        &s,
        &[
            "new",
            "kx",
            "--host",
            &format!("tcp://127.0.0.1:{port}"),
            "--no-server",
            "--keychain-only",
        ],
    ));
    // A host its certificate does not name: the CA is ours, the SAN is not.
    let port2 = free_port();
    ok(&tlsctx(
        &s,
        &[
            "new",
            "kn",
            "--host",
            &format!("tcp://127.0.0.1:{port2}"),
            "--san",
            "10.9.9.9",
            "--keychain-only",
        ],
    ));
    let dir2 = s.path().join("d2");
    fs::create_dir(&dir2).unwrap();
    // A bundle for 10.9.9.9 only, served on 127.0.0.1.
    ok(&tlsctx(
        &s,
        &["server", "kn", "--san", "10.9.9.9", "--force"],
    ));
    let _daemon2 = Dockerd::start(&dir2, &s.cfg().join("tlsctx/servers/kn"), port2);
    let _agent = Agent::start(&s, &["kx", "kn"], &[]);
    let o = dk(&s, "kx", &["version"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("Error response from daemon: docker-tlsctx agent:")
            && err.contains("presents a certificate from another CA"),
        "{err}"
    );
    let o = dk(&s, "kn", &["version"]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("is not covered by the daemon's server certificate"),
        "{err}"
    );
    assert!(err.contains("docker tlsctx check kn"), "{err}");
}

#[test]
fn a_locked_secret_service_gives_the_documented_message() {
    let ss = SecretService::start();
    let s = Sandbox::new();
    let port = free_port();
    let o = ss.tlsctx(
        &s,
        &[
            "new",
            "ks",
            "--host",
            &format!("tcp://127.0.0.1:{port}"),
            "--no-server",
            "--keychain-only",
        ],
    );
    ok(&o);
    ss.lock();
    let mut c = ss.env(s.tlsctx_cmd(&["agent", "--foreground", "--log", "ks"]));
    c.env("DOCKER_TLSCTX_KEYSTORE", "os")
        .env("DOCKER_TLSCTX_KEYCHAIN_TIMEOUT", "10")
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let sock = socket(&s, "ks");
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "agent did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = dk(&s, "ks", &["version"]);
    let _ = child.kill();
    let _ = child.wait();
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains(
            "Error response from daemon: docker-tlsctx agent: cannot load the identity of \"ks\""
        ) && err.contains("keychain is locked")
            && err.contains("unlock the login keyring"),
        "{err}"
    );
}

#[test]
fn installed_units_start_the_agent_on_first_use() {
    assert!(
        is_root(),
        "dockerd needs root; run the suite as root (CI does)"
    );
    let activate = require("systemd-socket-activate");
    let s = Sandbox::new();
    let port = free_port();
    ok(&tlsctx(
        &s,
        &[
            "new",
            "k1",
            "--host",
            &format!("tcp://127.0.0.1:{port}"),
            "--keychain-only",
        ],
    ));
    let home = s.path().join("home");
    fs::create_dir(&home).unwrap();
    let mut c = s.tlsctx_cmd(&["agent", "install"]);
    c.env("XDG_RUNTIME_DIR", run_dir(&s))
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME");
    let out = ok(&c.output().unwrap());
    // No user manager answers here: it says so, and what to run (issue 31:
    // it used to print the steps as if they were only advice). The systemd
    // host runs them for real (tests/it/install.rs).
    assert!(
        out.contains("Could not run systemctl --user daemon-reload")
            && out.contains("Not listening yet")
            && out.contains("  systemctl --user enable docker-tlsctx-agent.socket\n")
            && out.contains("  systemctl --user restart docker-tlsctx-agent.socket\n"),
        "{out}"
    );
    let units = home.join(".config/systemd/user");
    let socket_unit = fs::read_to_string(units.join("docker-tlsctx-agent.socket")).unwrap();
    let service_unit = fs::read_to_string(units.join("docker-tlsctx-agent.service")).unwrap();
    let listen = socket_unit
        .lines()
        .find_map(|l| l.strip_prefix("ListenStream="))
        .unwrap()
        .to_string();
    assert_eq!(PathBuf::from(&listen), socket(&s, "k1"));
    assert!(socket_unit.contains("SocketMode=0600") && socket_unit.contains("DirectoryMode=0700"));
    // What systemd would run: the unit's own ExecStart, its environment,
    // handed the socket it listens on (systemd-socket-activate does what
    // the socket unit does, without a user manager).
    let exec = service_unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let words: Vec<String> = exec
        .split_whitespace()
        .map(|w| w.trim_matches('"').to_string())
        .collect();
    let env_line = service_unit
        .lines()
        .find_map(|l| l.strip_prefix("Environment="))
        .unwrap();
    let (k, v) = env_line.trim_matches('"').split_once('=').unwrap();
    assert_eq!(k, "DOCKER_CONFIG");
    assert_eq!(PathBuf::from(v), s.cfg());
    fs::create_dir_all(Path::new(&listen).parent().unwrap()).unwrap();
    fs::set_permissions(
        Path::new(&listen).parent().unwrap(),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let idle: Vec<String> = words
        .iter()
        .map(|w| {
            if w == "600" {
                "2".to_string()
            } else {
                w.clone()
            }
        })
        .collect();
    let dir = s.path().join("d");
    fs::create_dir(&dir).unwrap();
    let _daemon = Dockerd::start(&dir, &s.cfg().join("tlsctx/servers/k1"), port);
    let mut act = Command::new(activate)
        .args([
            "-l",
            &listen,
            "-E",
            &format!("DOCKER_CONFIG={v}"),
            "-E",
            "DOCKER_TLSCTX_KEYSTORE=file",
        ])
        .args(["-E", &format!("XDG_RUNTIME_DIR={}", run_dir(&s).display())])
        .args(&idle)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&listen).is_err() {
        assert!(
            Instant::now() < deadline,
            "systemd-socket-activate did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing runs until the first connection; then the agent serves it
    // and exits once idle (the 600 s of the unit, 2 s here).
    let o = ok(&dk(
        &s,
        "k1",
        &["version", "--format", "{{.Server.Version}}"],
    ));
    assert!(!o.trim().is_empty());
    let t = Instant::now();
    let st = act.wait().unwrap();
    let mut err = String::new();
    act.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(st.success(), "{err}");
    assert!(err.contains("agent: k1: loaded identity"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(15), "no idle exit");
    let mut c = s.tlsctx_cmd(&["agent", "uninstall"]);
    c.env("HOME", &home).env_remove("XDG_CONFIG_HOME");
    ok(&c.output().unwrap());
    assert!(!units.join("docker-tlsctx-agent.socket").exists());
    let _ = std::io::stdout().flush();
}

/// A listener of uid 65534 on `path` (Python), kept until dropped: what a
/// second local user puts where our socket should be.
struct Squatter(Child);

impl Squatter {
    fn listen(path: &Path) -> Squatter {
        let child = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/python3",
                "-c",
                "import socket,sys,time\n\
                 s=socket.socket(socket.AF_UNIX)\n\
                 s.bind(sys.argv[1]); s.listen(8)\n\
                 print('listening', flush=True)\n\
                 while True:\n  c,_=s.accept(); c.close()\n",
            ])
            .arg(path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = child;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "listening", "the squatter did not listen");
        Squatter(child)
    }
}

impl Drop for Squatter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Without XDG_RUNTIME_DIR, as in a cron job or `su`.
fn no_xdg(s: &Sandbox, args: &[&str]) -> Output {
    let mut c = s.tlsctx_cmd(args);
    c.env_remove("XDG_RUNTIME_DIR");
    c.output().unwrap()
}

/// Issue 19: with XDG_RUNTIME_DIR unset the socket went under /tmp, where
/// another user made the folder first and listened: `ls` said "serving" and
/// Docker's traffic went to them. Now the folder is under DOCKER_CONFIG,
/// checked at every use, and a listener that is not ours is never
/// "serving".
#[test]
fn another_user_cannot_squat_the_agents_socket() {
    assert!(
        is_root(),
        "a second uid needs root; run the suite as root (CI does)"
    );
    require("setpriv");
    let s = Sandbox::new();
    ok(&no_xdg(
        &s,
        &[
            "new",
            "sq",
            "--host",
            "tcp://127.0.0.1:1",
            "--keychain-only",
        ],
    ));
    let dir = s.cfg().join("tlsctx/agent");
    let sock = dir.join("sq.sock");
    let meta = endpoint(&s, "sq");
    assert_eq!(
        meta.trim(),
        format!("unix://{}", sock.display()),
        "not under DOCKER_CONFIG"
    );
    assert!(!meta.contains("/tmp/docker-tlsctx-"), "{meta}");
    // What a step leaves where the agent's folder goes (a folder, a link),
    // removed before the next: a failed step leaves the next one its start.
    let reset = || {
        let _ = fs::remove_file(&dir);
        let _ = fs::remove_dir_all(&dir);
    };
    let mut steps = Steps::new("another_user_cannot_squat_the_agents_socket");

    // 1. The folder made first by another user, who listens in it.
    steps.check(
        "the folder made first by another user, who listens in it, is refused",
        || {
            fs::create_dir_all(&dir).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
            Command::new("chown")
                .args(["65534:65534"])
                .arg(&dir)
                .status()
                .unwrap();
            let squat = Squatter::listen(&sock);
            let ls = ok(&no_xdg(&s, &["ls"]));
            assert!(!ls.contains("serving"), "{ls}");
            assert!(
                ls.contains("UNSAFE") && ls.contains("belongs to uid 65534"),
                "{ls}"
            );
            let check = no_xdg(&s, &["check", "sq"]);
            assert!(!check.status.success(), "{}", transcript(&check));
            assert!(
                String::from_utf8_lossy(&check.stderr).contains("is not safe"),
                "{}",
                transcript(&check)
            );
            let agent = no_xdg(&s, &["agent", "--foreground", "sq"]);
            assert!(!agent.status.success(), "{}", transcript(&agent));
            assert!(
                String::from_utf8_lossy(&agent.stderr)
                    .contains("is not safe to use: it belongs to uid 65534"),
                "{}",
                transcript(&agent)
            );
            drop(squat);
        },
    );

    // 2. Our folder, but wider than 0700, or a link to theirs.
    steps.check(
        "our folder wider than 0700, or a link to theirs, is refused and not narrowed",
        || {
            reset();
            fs::create_dir(&dir).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
            let ls = ok(&no_xdg(&s, &["ls"]));
            assert!(ls.contains("its mode is 755"), "{ls}");
            // Refused, not narrowed (found by review: the chmod followed a link
            // swapped in between the check and the call).
            let agent = no_xdg(&s, &["agent", "--foreground", "sq"]);
            assert!(
                !agent.status.success()
                    && String::from_utf8_lossy(&agent.stderr).contains("its mode is 755"),
                "{}",
                transcript(&agent)
            );
            assert_eq!(mode(&dir), 0o755);
            fs::remove_dir_all(&dir).unwrap();
            let theirs = s.path().join("theirs");
            fs::create_dir(&theirs).unwrap();
            std::os::unix::fs::symlink(&theirs, &dir).unwrap();
            let ls = ok(&no_xdg(&s, &["ls"]));
            assert!(ls.contains("UNSAFE"), "{ls}");
            let agent = no_xdg(&s, &["agent", "--foreground", "sq"]);
            assert!(!agent.status.success(), "{}", transcript(&agent));
            fs::remove_file(&dir).unwrap();
        },
    );

    // 3. Our folder, 0700, with their listener moved into it (a bound
    //    socket keeps its owner): the peer's uid gives it away.
    steps.check(
        "their listener moved into our 0700 folder is given away by its uid",
        || {
            reset();
            fs::create_dir(&dir).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
            let outside = s.path().join("out");
            fs::create_dir(&outside).unwrap();
            Command::new("chown")
                .args(["65534:65534"])
                .arg(&outside)
                .status()
                .unwrap();
            let squat = Squatter::listen(&outside.join("sq.sock"));
            fs::rename(outside.join("sq.sock"), &sock).unwrap();
            let ls = ok(&no_xdg(&s, &["ls"]));
            assert!(
                !ls.contains("serving") && ls.contains("served by uid 65534"),
                "{ls}"
            );
            drop(squat);
            fs::remove_file(&sock).unwrap();
        },
    );

    // 4. A context an older version wrote (v0.2's /tmp folder, v0.3's
    //    XDG_RUNTIME_DIR one): check and ls say where Docker goes, and the
    //    agent moves it to its endpoint, says so once, and serves.
    steps.check(
        "an older version's context is called unsafe, and the agent moves it to its endpoint once",
        || {
            reset();
            let old_xdg = format!("unix://{}/docker-tlsctx/sq.sock", run_dir(&s).display());
            for old in ["unix:///tmp/docker-tlsctx-0/sq.sock", old_xdg.as_str()] {
                ok(&s.docker(&[
                    "context",
                    "update",
                    "sq",
                    "--docker",
                    &format!("host={old}"),
                ]));
                // Found by review: check and ls called it fine while Docker went
                // to the old path; now both say where Docker goes.
                let check = no_xdg(&s, &["check", "sq"]);
                assert!(
                    !check.status.success()
                        && String::from_utf8_lossy(&check.stderr)
                            .contains(&format!("points Docker at {old}")),
                    "{}",
                    transcript(&check)
                );
                assert!(ok(&no_xdg(&s, &["ls"])).contains("UNSAFE"));
                let agent = Agent::start(&s, &["sq"], &[]);
                let log = agent.log_text();
                assert!(
                    log.contains(&format!(
                        "context sq now points at unix://{}",
                        sock.display()
                    )) && log.contains(&format!("it pointed at {old}")),
                    "{log}"
                );
                let meta = endpoint(&s, "sq");
                assert_eq!(meta.trim(), format!("unix://{}", sock.display()));
                // From cron or su (no XDG variables): the same socket, serving.
                let ls = ok(&no_xdg(&s, &["ls"]));
                assert!(ls.contains("serving"), "{ls}");
                drop(agent);
                // Said once.
                let again = Agent::start(&s, &["sq"], &[]);
                assert!(!again.log_text().contains("now points at"));
                drop(again);
            }
        },
    );

    // 5. Issue 30: the place does not depend on XDG_RUNTIME_DIR, under
    //    /tmp, /dev/shm, missing, sticky: nothing is made there and the
    //    context keeps its endpoint.
    steps.check(
        "the socket does not depend on XDG_RUNTIME_DIR, and nothing is made there",
        || {
            let sticky = s.path().join("sticky");
            fs::create_dir(&sticky).unwrap();
            fs::set_permissions(&sticky, fs::Permissions::from_mode(0o1777)).unwrap();
            let gone = Path::new("/tmp").join(format!("tlsctx-gone-{}", std::process::id()));
            let shm = Path::new("/dev/shm").join(format!("tlsctx-gone-{}", std::process::id()));
            for run in [sticky.as_path(), gone.as_path(), shm.as_path()] {
                let mut c = s.tlsctx_cmd(&["agent", "adopt", "sq"]);
                c.env("XDG_RUNTIME_DIR", run);
                ok(&c.output().unwrap());
                let meta = endpoint(&s, "sq");
                assert_eq!(meta.trim(), format!("unix://{}", sock.display()));
                assert!(
                    !run.join("docker-tlsctx").exists(),
                    "made {}",
                    run.display()
                );
            }
            assert!(!gone.exists() && !shm.exists(), "made a runtime folder");
        },
    );

    // 6. Issue 30: a configuration folder under a sticky, world-writable
    //    folder (/tmp, /dev/shm) anywhere up its path is refused before a
    //    context points there: after a tmp cleaner or a reboot removed it,
    //    another user could make it again with a listener inside.
    steps.check(
        "a config folder under a sticky world-writable folder is refused",
        || {
            for top in [Path::new("/tmp"), Path::new("/dev/shm")] {
                let base = tempfile::Builder::new()
                    .prefix("tlsctx-sticky-")
                    .tempdir_in(top)
                    .unwrap();
                fs::set_permissions(base.path(), fs::Permissions::from_mode(0o755)).unwrap();
                let cfg = base.path().join("cfg");
                let mut c = s.tlsctx_cmd(&[
                    "new",
                    "tq",
                    "--host",
                    "tcp://127.0.0.1:1",
                    "--keychain-only",
                    "--no-server",
                ]);
                c.env("DOCKER_CONFIG", &cfg);
                let o = c.output().unwrap();
                let err = String::from_utf8_lossy(&o.stderr);
                assert!(
                    !o.status.success()
                        && err.contains(&format!(
                            "{} is writable by other users (sticky",
                            top.display()
                        )),
                    "{}",
                    transcript(&o)
                );
                assert!(!cfg.join("contexts").exists(), "a context was written");
            }
        },
    );

    // 7. A link of theirs up the configuration folder's path, even further
    //    down a chain of links (ours → theirs → a good folder), is refused:
    //    they could re-point it later.
    steps.check(
        "a link of theirs up the configuration folder path is refused, even down a chain",
        || {
            let att = s.path().join("att");
            fs::create_dir(&att).unwrap();
            let good = s.path().join("good2");
            fs::create_dir(&good).unwrap();
            std::os::unix::fs::symlink(&good, att.join("alink")).unwrap();
            Command::new("chown")
                .args(["-R", "-h", "65534:65534"])
                .arg(&att)
                .status()
                .unwrap();
            let chain = s.path().join("rt2");
            std::os::unix::fs::symlink(att.join("alink"), &chain).unwrap();
            let mut c = s.tlsctx_cmd(&[
                "new",
                "lq",
                "--host",
                "tcp://127.0.0.1:1",
                "--keychain-only",
                "--no-server",
            ]);
            c.env("DOCKER_CONFIG", &chain);
            let o = c.output().unwrap();
            assert!(
                !o.status.success()
                    && String::from_utf8_lossy(&o.stderr).contains("belongs to uid 65534"),
                "{}",
                transcript(&o)
            );
            assert!(
                !good.join("tlsctx/agent").exists(),
                "made a folder behind their link"
            );
        },
    );

    // 8. Found by the third review: a relative DOCKER_CONFIG (or, before
    //    issue 30, XDG_RUNTIME_DIR) became a relative endpoint, which Docker
    //    resolves from whatever folder it runs in: the config folder is
    //    made absolute.
    steps.check(
        "a relative DOCKER_CONFIG or XDG_RUNTIME_DIR makes no relative endpoint",
        || {
            let mut c = s.tlsctx_cmd(&["agent", "adopt", "sq"]);
            c.env("XDG_RUNTIME_DIR", "xdgrel").current_dir(s.path());
            ok(&c.output().unwrap());
            let meta = endpoint(&s, "sq");
            assert_eq!(meta.trim(), format!("unix://{}", sock.display()));
            let mut c = Command::new(BIN);
            c.args([
                "new",
                "rel",
                "--host",
                "tcp://127.0.0.1:1",
                "--keychain-only",
                "--no-server",
            ])
            .env("DOCKER_CONFIG", "cfg")
            .env("DOCKER_TLSCTX_KEYSTORE", "file")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("DOCKER_CLI_PLUGIN_SOCKET")
            .current_dir(s.path());
            ok(&c.output().unwrap());
            let meta = endpoint(&s, "rel");
            assert_eq!(
                meta.trim(),
                format!("unix://{}/rel.sock", dir.display()),
                "a relative endpoint"
            );
        },
    );
    steps.done();
}

/// Issue 19: a daemon that accepts and does not answer was reported as
/// "closed the connection during the TLS handshake"; it is named for what it
/// is, within the 5 s deadline, in the words `check` uses.
#[test]
fn a_daemon_that_does_not_answer_is_named() {
    let s = Sandbox::new();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let host = format!("tcp://127.0.0.1:{port}");
    ok(&tlsctx(
        &s,
        &["new", "hung", "--host", &host, "--keychain-only"],
    ));
    // Accepts, holds the connections, never answers.
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = held.clone();
    std::thread::spawn(move || {
        for c in silent.incoming().flatten() {
            h.lock().unwrap().push(c);
        }
    });
    let _agent = Agent::start(&s, &["hung"], &[]);
    let started = Instant::now();
    let o = dk(&s, "hung", &["version"]);
    let err = stderr(&o);
    assert!(
        !o.status.success()
            && err.contains(
                "accepted the connection but did not answer the TLS handshake within 5 s"
            ),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let check = tlsctx(&s, &["check", "hung"]);
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("did not answer the TLS handshake"),
        "{}",
        transcript(&check)
    );

    // Found by review: a server that sends a TLS record a byte every 2 s
    // (under the 5 s read timeout) held the handshake forever. The 5 s are
    // for the whole handshake now.
    let trickle = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tport = trickle.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in trickle.incoming().flatten() {
            std::thread::spawn(move || {
                // A handshake record header announcing 16 KiB, then a byte
                // at a time.
                let _ = c.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]);
                while c.write_all(&[0]).is_ok() {
                    std::thread::sleep(Duration::from_secs(2));
                }
            });
        }
    });
    ok(&tlsctx(
        &s,
        &[
            "new",
            "slow",
            "--host",
            &format!("tcp://127.0.0.1:{tport}"),
            "--keychain-only",
        ],
    ));
    let _agent2 = Agent::start(&s, &["slow"], &[]);
    let started = Instant::now();
    let o = dk(&s, "slow", &["version"]);
    assert!(
        !o.status.success() && stderr(&o).contains("did not answer the TLS handshake within 5 s"),
        "{}",
        stderr(&o)
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let check = tlsctx(&s, &["check", "slow"]);
    assert!(!check.status.success(), "{}", transcript(&check));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // Found by the third review: a server that answers with a record that
    // is not a handshake, then trickles, sent the client on to a second
    // look (is it plain HTTP?) with its own 5 s: 10 s in all. The second
    // look shares the handshake's deadline now.
    let odd = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let oport = odd.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // First connection: the odd record; second (the plain-HTTP look):
        // silence, then one byte just under the old per-read 5 s.
        for (i, mut c) in odd.incoming().flatten().enumerate() {
            std::thread::spawn(move || {
                if i % 2 == 1 {
                    std::thread::sleep(Duration::from_millis(4900));
                    let _ = c.write_all(b"X");
                    std::thread::sleep(Duration::from_secs(5));
                    return;
                }
                let _ = c.write_all(&[0x17, 0x03, 0x03, 0x00, 0x04]);
                while c.write_all(&[0]).is_ok() {
                    std::thread::sleep(Duration::from_millis(1400));
                }
            });
        }
    });
    ok(&tlsctx(
        &s,
        &[
            "new",
            "odd",
            "--host",
            &format!("tcp://127.0.0.1:{oport}"),
            "--keychain-only",
            "--no-server",
        ],
    ));
    let started = Instant::now();
    let check = tlsctx(&s, &["check", "odd"]);
    assert!(!check.status.success(), "{}", transcript(&check));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}: {}",
        started.elapsed(),
        transcript(&check)
    );
}

/// A connection to `name`'s socket that asked `GET /_ping`, and the status
/// line of its answer; asked again for up to 2 s while the answer is 503
/// (the connection before may hold the slot a moment after it closed).
fn pinged(s: &Sandbox, name: &str) -> (UnixStream, String) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let mut c = UnixStream::connect(socket(s, name)).unwrap();
        c.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let status = status_line(&mut c);
        if !status.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
            return (c, status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The whole answer to `GET /_ping` on `name`'s socket, once the agent has
/// a free slot (asked again while the answer is 503, for up to `within`).
fn answer_when_free(s: &Sandbox, name: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let mut c = UnixStream::connect(socket(s, name)).unwrap();
        c.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut text = String::new();
        let _ = c.read_to_string(&mut text);
        if !text.contains(" 503 ") || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The status line of the answer on `c` (read until its CRLF: a relay may
/// hand it over in pieces).
fn status_line(c: &mut UnixStream) -> String {
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n") && got.len() < 256 {
        match c.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).trim_end().to_string()
}

/// Issue 19: connections whose client had gone held the agent's slots
/// while the daemon hung (SIGSTOP), until it woke. Now a client's hang-up
/// frees its slot: with one slot, the next client is served (here: told the
/// stopped daemon does not answer) instead of refused with a 503.
#[test]
fn a_hung_daemon_does_not_hold_connections_whose_client_left() {
    assert!(
        is_root(),
        "dockerd needs root; run the suite as root (CI does)"
    );
    let s = Sandbox::new();
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    ok(&tlsctx(
        &s,
        &["new", "st", "--host", &host, "--keychain-only"],
    ));
    let dir = s.path().join("d");
    fs::create_dir(&dir).unwrap();
    let daemon = Dockerd::start(&dir, &s.cfg().join("tlsctx/servers/st"), port);
    let agent = Agent::start(&s, &["st"], &["--max-connections", "1"]);
    ok(&dk(&s, "st", &["version"]));
    let signal = |sig: &str| {
        ok(&Command::new("kill")
            .args([sig, &daemon.pid().to_string()])
            .output()
            .unwrap())
    };
    struct Cont<'a>(&'a dyn Fn(&str) -> String);
    impl Drop for Cont<'_> {
        fn drop(&mut self) {
            (self.0)("-CONT");
        }
    }
    for _ in 0..3 {
        // The handshake is done when the agent starts relaying; then the
        // daemon stops, the client asks and leaves. (The CLI that ran
        // before may still hold the slot for a moment after it exits.)
        let (mut c, status) = pinged(&s, "st");
        assert!(status.starts_with("HTTP/1.1 200"), "{status:?}");
        // A quiet relay's deadline: the agent's connection to the daemon
        // has TCP keepalive on (ss shows its timer).
        let ss = Command::new("ss")
            .args([
                "-tno",
                "state",
                "established",
                "dst",
                &format!("127.0.0.1:{port}"),
            ])
            .output()
            .unwrap();
        let ss = String::from_utf8_lossy(&ss.stdout);
        assert!(ss.contains("timer:(keepalive"), "{ss}");
        signal("-STOP");
        let _cont = Cont(&signal);
        c.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        drop(c);
        // The next one gets the slot back (within a second), and is told
        // the daemon does not answer.
        let answer = answer_when_free(&s, "st", Duration::from_secs(1));
        assert!(
            answer.starts_with("HTTP/1.1 502")
                && answer.contains("did not answer the TLS handshake"),
            "{answer}\n{}",
            agent.log_text()
        );
        drop(_cont);
        ok(&dk(&s, "st", &["version"]));
    }

    // Found by review: a client that left while its upload was stuck on a
    // daemon that had stopped reading held its slot (the relay sat in a
    // write, never looking at the client). The hang-up is watched for the
    // relay's whole life now.
    let (mut c, status) = pinged(&s, "st");
    assert!(status.starts_with("HTTP/1.1 200"), "{status:?}");
    c.write_all(b"POST /v1.41/images/load HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: 1000000000\r\n\r\n")
        .unwrap();
    signal("-STOP");
    let _cont = Cont(&signal);
    // Until every buffer on the way is full and the write blocks.
    c.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut sent = 0usize;
    while c.write_all(&chunk).is_ok() {
        sent += chunk.len();
        assert!(sent < 512 << 20, "the upload never blocked");
    }
    drop(c);
    let answer = answer_when_free(&s, "st", Duration::from_secs(2));
    assert!(
        answer.starts_with("HTTP/1.1 502"),
        "the slot was not freed after {sent} bytes: {answer}\n{}",
        agent.log_text()
    );
    drop(_cont);
    ok(&dk(&s, "st", &["version"]));
}

/// Issue 21: `renew --due` renews a keychain-only context in the keystore
/// and its record, and the running agent presents the new certificate from
/// its next connection, with no restart. The daemon here is `openssl
/// s_server -www` with the context's server bundle: its page shows the
/// client certificate it was given.
#[test]
fn renew_due_reaches_a_running_agent() {
    let s = Sandbox::new();
    let port = free_port();
    ok(&tlsctx(
        &s,
        &[
            "new",
            "kr",
            "--host",
            &format!("tcp://127.0.0.1:{port}"),
            "--keychain-only",
        ],
    ));
    let b = s.cfg().join("tlsctx/servers/kr");
    let mut server = Command::new(require("openssl"))
        .args([
            "s_server",
            "-accept",
            &port.to_string(),
            "-www",
            "-Verify",
            "1",
        ])
        .arg("-cert")
        .arg(b.join("server-cert.pem"))
        .arg("-key")
        .arg(b.join("server-key.pem"))
        .arg("-CAfile")
        .arg(b.join("ca.pem"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "s_server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _agent = Agent::start(&s, &["kr"], &[]);
    let presented = || {
        let page = answer_when_free(&s, "kr", Duration::from_secs(10));
        let start = page
            .find("-----BEGIN CERTIFICATE-----")
            .unwrap_or_else(|| panic!("no client certificate on the page: {page}"));
        let end = page[start..].find("-----END CERTIFICATE-----").unwrap() + start + 25;
        page[start..end].to_string()
    };
    let cert = || {
        fs::read_to_string(s.cfg().join("tlsctx/identities/kr.pem"))
            .unwrap()
            .trim()
            .to_string()
    };
    let before = cert();
    assert_eq!(presented(), before);
    // A threshold of ten years makes it due today (a clock moved forward
    // would start the new certificate in s_server's future).
    let o = tlsctx(&s, &["renew", "--due", "--before", "3650d"]);
    assert!(o.status.success(), "{}", transcript(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("context \"kr\": renewed"));
    let after = cert();
    assert_ne!(after, before);
    assert_eq!(
        presented(),
        after,
        "the agent still presents the old certificate"
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// `agent install` puts the config folder and the program into unit
/// files: a folder whose name is unit syntax (a quote that would end the
/// value and start another assignment) is refused, and so is a unit
/// folder another user could change (attacker review, issue 23 stop).
#[test]
fn agent_units_refuse_injection_and_a_folder_others_control() {
    let s = Sandbox::new();
    let home = s.path().join("home");
    fs::create_dir(&home).unwrap();
    let evil = s.path().join("cq\" \"LD_PRELOAD=evil.so");
    fs::create_dir(&evil).unwrap();
    fs::write(evil.join("config.json"), "{}").unwrap();
    let o = s
        .tlsctx_cmd(&["agent", "install"])
        .env("DOCKER_CONFIG", &evil)
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", transcript(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot go into"),
        "{}",
        transcript(&o)
    );
    assert!(!home
        .join(".config/systemd/user/docker-tlsctx-agent.service")
        .exists());
    if !is_root() {
        assert!(std::env::var("CI").is_err(), "CI runs this as root");
        return;
    }
    // A unit folder another user owns and may write to.
    let units = home.join(".config/systemd/user");
    fs::create_dir_all(&units).unwrap();
    Command::new("chown")
        .args(["-R", "65534"])
        .arg(home.join(".config"))
        .status()
        .unwrap();
    Command::new("chmod")
        .arg("0777")
        .arg(&units)
        .status()
        .unwrap();
    let o = s
        .tlsctx_cmd(&["agent", "install"])
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", transcript(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not safe to use"),
        "{}",
        transcript(&o)
    );
    assert!(!units.join("docker-tlsctx-agent.service").exists());
}

/// macOS and Windows (issue 24): the launchd agent with one `Sockets` entry
/// per keychain-only context, read by Python's plistlib (what launchd
/// parses), and the Windows logon task by an XML parser (Wine's schtasks,
/// in the cross-check, keeps only its settings).
#[test]
fn launchd_sockets_plist_and_logon_task_read_back() {
    use docker_tlsctx::agent::units;
    let exe = Path::new("/Applications/Docker Tools/docker-tlsctx");
    let cfg = Path::new("/Users/a&b/.docker");
    let cache = Path::new("/Users/a&b/Library/Caches/docker-tlsctx/agent");
    let sockets = vec![
        ("prod".to_string(), cache.join("prod.sock")),
        ("stage-2".to_string(), cache.join("stage-2.sock")),
    ];
    let plist = units::launchd_plist(exe, cfg, &cache.join("agent.log"), &sockets);
    let check = r#"
import plistlib, sys
p = plistlib.loads(sys.stdin.buffer.read())
assert p["Label"] == "io.github.docker-tlsctx.agent", p
assert p["ProgramArguments"] == ["/Applications/Docker Tools/docker-tlsctx", "agent", "--foreground", "--log", "--idle-timeout", "600"], p
assert p["EnvironmentVariables"] == {"DOCKER_CONFIG": "/Users/a&b/.docker"}, p
cache = "/Users/a&b/Library/Caches/docker-tlsctx/agent"
assert p["Sockets"] == {
    "prod": {"SockPathName": cache + "/prod.sock", "SockPathMode": 0o600},
    "stage-2": {"SockPathName": cache + "/stage-2.sock", "SockPathMode": 0o600},
}, p["Sockets"]
# On demand: nothing runs before the first connection.
assert "RunAtLoad" not in p and "KeepAlive" not in p, p
assert p["StandardErrorPath"] == cache + "/agent.log", p
import xml.etree.ElementTree as ET
t = ET.fromstring(sys.argv[1])
ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
sid = "S-1-5-21-1-2-3-1001"
assert t.find("t:Triggers/t:LogonTrigger/t:UserId", ns).text == sid
p = t.find("t:Principals/t:Principal", ns)
assert p.find("t:UserId", ns).text == sid and p.find("t:LogonType", ns).text == "InteractiveToken"
assert p.find("t:RunLevel", ns).text == "LeastPrivilege"
assert t.find("t:Settings/t:ExecutionTimeLimit", ns).text == "PT0S"
assert t.find("t:Settings/t:MultipleInstancesPolicy", ns).text == "IgnoreNew"
assert t.find("t:Settings/t:RestartOnFailure/t:Interval", ns).text == "PT1M"
e = t.find("t:Actions/t:Exec", ns)
assert e.find("t:Command", ns).text == r"C:\Tools\docker-tlsctx.exe"
assert e.find("t:Arguments", ns).text == r'--config "C:\Users\a&b\.docker" agent --foreground', e.find("t:Arguments", ns).text
print("ok")
"#;
    let task = units::task_xml(
        Path::new(r"C:\Tools\docker-tlsctx.exe"),
        Path::new(r"C:\Users\a&b\.docker\"),
        "S-1-5-21-1-2-3-1001",
    )
    .replacen("UTF-16", "UTF-8", 1);
    let mut c = Command::new(require("python3"));
    c.args(["-c", check, &task]);
    let o = with_stdin(c, &plist);
    assert!(o.status.success(), "{}", transcript(&o));
}

/// A user manager that never answers (a stuck `systemctl --user`, or one
/// someone put first on PATH): `agent install` gives up on it after its
/// limit, says the agent is not listening and what to run, and leaves
/// nothing of it running (an attacker's review: it waited forever).
#[test]
fn agent_install_with_a_service_manager_that_never_answers() {
    let s = Sandbox::new();
    let home = s.path().join("home");
    let bin = s.path().join("bin");
    fs::create_dir_all(&home).unwrap();
    fs::create_dir_all(&bin).unwrap();
    let pids = s.path().join("pids");
    fs::write(
        bin.join("systemctl"),
        format!(
            "#!/bin/sh\nsleep 600 &\necho $! >> {}\nwait\n",
            pids.display()
        ),
    )
    .unwrap();
    fs::set_permissions(bin.join("systemctl"), fs::Permissions::from_mode(0o755)).unwrap();
    // Whatever the outcome, the sleeps the fake started are stopped (by
    // the PIDs it wrote) when the test ends.
    struct StopAll(PathBuf);
    impl Drop for StopAll {
        fn drop(&mut self) {
            for pid in fs::read_to_string(&self.0).unwrap_or_default().lines() {
                if let Ok(pid) = pid.trim().parse() {
                    kill_pid(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }
    let _stop = StopAll(pids.clone());
    let mut c = s.tlsctx_cmd(&["agent", "install"]);
    c.env("HOME", &home)
        .env("XDG_RUNTIME_DIR", run_dir(&s))
        .env_remove("XDG_CONFIG_HOME")
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        );
    let started = Instant::now();
    let o = c.output().unwrap();
    let took = started.elapsed();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        took < Duration::from_secs(40),
        "took {took:?}: the limit is 20 s"
    );
    assert!(
        out.contains("Could not run systemctl --user daemon-reload")
            && !out.contains("Could not run systemctl --user enable")
            && out.contains("Not listening yet")
            && out.contains("  systemctl --user enable docker-tlsctx-agent.socket\n"),
        "{out}"
    );
    // One attempt only, and what it started was stopped with it.
    let started: Vec<i32> = fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let stat = fs::read_to_string(format!("/proc/{}/stat", started[0])).unwrap_or_default();
        if stat.is_empty() || stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')) {
            break;
        }
        assert!(Instant::now() < until, "still running: {stat}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
