//! Ctrl-C and Docker's plugin socket in the middle of `new` leave no context,
//! identity, client key or staging folder behind. Linux only: Docker's
//! socket is an abstract unix socket there.
#![cfg(target_os = "linux")]

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::process::{Child, Command, Stdio};

use crate::common::*;

fn listener() -> (UnixListener, String) {
    // Docker's own form: an abstract socket named with a leading @ (cli-plugins/socket).
    let name = format!("docker_cli_test_{}_{}", std::process::id(), rand_suffix());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    (UnixListener::bind_addr(&addr).unwrap(), format!("@{name}"))
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// RSA-4096 keys take long enough to generate that the cancellation lands mid-run.
const SLOW_NEW: &[&str] = &[
    "new",
    "slow",
    "--host",
    "tcp://127.0.0.1",
    "--key-type",
    "rsa-4096",
];

fn assert_nothing_half_written(s: &Sandbox) {
    assert!(
        !s.cfg().join("contexts").exists()
            || !s
                .cfg()
                .join("contexts/meta")
                .read_dir()
                .unwrap()
                .any(|_| true),
        "no context may appear"
    );
    assert!(!s.cfg().join("tlsctx/identities/slow.json").exists());
    assert!(!s.cfg().join("tlsctx/keys/client/slow.key").exists());
    assert!(
        !s.cfg().join("tlsctx/tmp").exists(),
        "staging must be cleaned up"
    );
    let ls = s.docker(&["context", "ls", "--format", "{{.Name}}"]);
    assert!(!ok(&ls).lines().any(|l| l == "slow"));
}

/// `new` with RSA-4096 keys, connected to Docker's socket at `addr`.
fn spawn_slow_new(s: &Sandbox, addr: &str) -> Child {
    s.tlsctx_cmd(SLOW_NEW)
        .env("DOCKER_CLI_PLUGIN_SOCKET", addr)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn socket_eof_cancels_cleanly() {
    let s = Sandbox::new();
    let (l, addr) = listener();
    let child = spawn_slow_new(&s, &addr);
    let (conn, _) = l.accept().unwrap();
    drop(conn); // What the CLI does when it is interrupted: close the connection.
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", transcript(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Error: cancelled"),
        "{}",
        transcript(&o)
    );
    assert_nothing_half_written(&s);
    // And the same command then runs to completion.
    ok(&s.tlsctx(&["new", "slow", "--host", "tcp://127.0.0.1"]));
}

#[test]
fn sigint_cancels_cleanly() {
    let s = Sandbox::new();
    let (l, addr) = listener();
    let child = spawn_slow_new(&s, &addr);
    // The connection is made after the signal handlers are in place.
    let (_conn, _) = l.accept().unwrap();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", transcript(&o));
    assert_nothing_half_written(&s);
}

#[test]
fn a_missing_socket_is_ignored() {
    let s = Sandbox::new();
    let o = s
        .tlsctx_cmd(&["new", "fine", "--host", "tcp://127.0.0.1"])
        .env("DOCKER_CLI_PLUGIN_SOCKET", "@no-such-socket-here")
        .output()
        .unwrap();
    ok(&o);
}
