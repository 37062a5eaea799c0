//! The authorization plugin against a real dockerd started with
//! `--authorization-plugin`: roles, revocation without a restart, bad CRLs,
//! and 200 parallel requests.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::dockerd::{free_port, Dockerd};
use common::*;

struct Plugin {
    child: Child,
    socket: PathBuf,
    pub name: String,
}

impl Plugin {
    fn start(bundle: &Path, log: &Path) -> Plugin {
        assert!(
            is_root(),
            "dockerd and /run/docker/plugins need root; run the suite as root (CI does)"
        );
        // One name per plugin: tests of this binary run in parallel.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("tlsctx-authz-test-{}-{n}", std::process::id());
        let socket = PathBuf::from(format!("/run/docker/plugins/{name}.sock"));
        let child = Command::new(BIN)
            .args(["authz", "serve", "--log", "--bundle"])
            .arg(bundle)
            .arg("--socket")
            .arg(&socket)
            .stderr(fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "the plugin did not listen: {}",
                fs::read_to_string(log).unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Plugin {
            child,
            socket,
            name,
        }
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.socket);
    }
}

fn refused(o: &Output, plugin: &str, want: &str) {
    assert!(!o.status.success(), "allowed: {}", transcript(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "authorization denied by plugin {plugin}: tlsctx: "
        )) && err.contains(want),
        "{want:?} not in: {err}"
    );
}

#[test]
fn roles_and_revocation_through_a_real_dockerd() {
    let s = Sandbox::new();
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    ok(&s.tlsctx(&["new", "admin1", "--host", &host]));
    ok(&s.tlsctx(&[
        "new",
        "ro1",
        "--host",
        &host,
        "--no-server",
        "--role",
        "read-only",
    ]));
    ok(&s.tlsctx(&["new", "gone", "--host", &host, "--no-server"]));
    let bundle = s.cfg().join("tlsctx/servers/admin1");
    let log = s.path().join("plugin.log");
    let plugin = Plugin::start(&bundle, &log);
    let dir = s.path().join("d");
    fs::create_dir(&dir).unwrap();
    let _daemon = Dockerd::start_with(
        &dir,
        &bundle,
        port,
        serde_json::json!({ "authorization-plugins": [plugin.name] }),
    );
    let dk = |ctx: &str, args: &[&str]| {
        let mut all = vec!["--context", ctx];
        all.extend_from_slice(args);
        s.docker(&all)
    };

    // Admin: everything, a container included.
    ok(&dk("admin1", &["version"]));
    let image = import_busybox(&s, "admin1");
    ok(&dk(
        "admin1",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "/bin/busybox",
            "true",
        ],
    ));
    ok(&dk(
        "admin1",
        &[
            "create",
            "--name",
            "c1",
            "--network",
            "none",
            &image,
            "/bin/busybox",
            "sleep",
            "60",
        ],
    ));
    ok(&dk("admin1", &["start", "c1"]));

    // Read-only: reads state, is refused the rest with its role named.
    for args in [
        &["ps"][..],
        &["images"],
        &["inspect", "c1"],
        &["version"],
        &["logs", "c1"],
    ] {
        ok(&dk("ro1", args));
    }
    let p = &plugin.name;
    refused(
        &dk(
            "ro1",
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &image,
                "/bin/busybox",
                "true",
            ],
        ),
        p,
        "has role read-only, and POST /containers/create changes the engine",
    );
    refused(
        &dk("ro1", &["exec", "c1", "/bin/busybox", "true"]),
        p,
        "has role read-only",
    );
    refused(&dk("ro1", &["rm", "-f", "c1"]), p, "has role read-only");
    refused(
        &dk(
            "ro1",
            &[
                "cp",
                "c1:/bin/busybox",
                s.path().join("out").to_str().unwrap(),
            ],
        ),
        p,
        "reads data out of the engine",
    );
    refused(
        &dk("ro1", &["volume", "create", "v1"]),
        p,
        "has role read-only",
    );

    // Revocation, without restarting dockerd: refused within a second.
    ok(&dk("gone", &["ps"]));
    let out = ok(&s.tlsctx(&["revoke", "gone", "--reason", "key-compromise"]));
    assert!(
        out.contains(&bundle.join("crl.pem").display().to_string()),
        "{out}"
    );
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let o = dk("gone", &["ps"]);
        if !o.status.success() {
            refused(&o, p, "is revoked");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still allowed a second after revoke"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ok(&dk("admin1", &["ps"]));
    ok(&dk("ro1", &["ps"]));
    // ls shows it, renew refuses it, --list lists it.
    let ls = ok(&s.tlsctx(&["ls"]));
    assert!(
        ls.lines()
            .any(|l| l.starts_with("gone ") && l.ends_with("revoked")),
        "{ls}"
    );
    let o = s.tlsctx(&["renew", "gone"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is revoked and cannot be renewed"),
        "{}",
        transcript(&o)
    );
    let list = ok(&s.tlsctx(&["revoke", "--list"]));
    assert!(
        list.contains("gone") && list.contains("key-compromise"),
        "{list}"
    );

    // Bad CRLs fail closed; the local socket still works to repair things.
    let good = fs::read(bundle.join("crl.pem")).unwrap();
    let other = Sandbox::new();
    ok(&other.tlsctx(&["new", "x1", "--host", &host]));
    ok(&other.tlsctx(&["revoke", "x1"]));
    fs::copy(
        other.cfg().join("tlsctx/servers/x1/crl.pem"),
        bundle.join("crl.pem"),
    )
    .unwrap();
    refused(
        &dk("admin1", &["ps"]),
        p,
        "was not issued by this bundle's CA",
    );
    fs::write(bundle.join("crl.pem"), &good[..good.len() / 2]).unwrap();
    refused(&dk("admin1", &["ps"]), p, "is damaged");
    ok(&s.docker(&["-H", &format!("unix://{}/docker.sock", dir.display()), "ps"]));
    // No CRL at all: nothing is revoked (documented).
    fs::remove_file(bundle.join("crl.pem")).unwrap();
    ok(&dk("gone", &["ps"]));
    fs::write(bundle.join("crl.pem"), &good).unwrap();
    refused(&dk("gone", &["ps"]), p, "is revoked");

    // 200 parallel requests through the plugin.
    let children: Vec<_> = (0..200)
        .map(|_| {
            s.docker_cmd(&["--context", "admin1", "ps", "-q"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let failures: Vec<String> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .filter(|o| !o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 200 failed: {:?}",
        failures.len(),
        failures.first()
    );

    // Every decision is logged with CN, serial, method and path.
    let text = fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("deny cn=\"ro1-client\"") && text.contains("POST /containers/create"),
        "{text}"
    );
    ok(&dk("admin1", &["rm", "-f", "c1"]));
}

/// `--authz`: daemon.json names the plugin and the bundle carries its unit,
/// which a renewal keeps; `rm` removes both.
#[test]
fn authz_bundles_name_the_plugin_and_carry_its_unit() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&["ca", "init"]));
    let out = ok(&s.tlsctx(&["server", "node9", "--san", "10.0.0.9", "--authz"]));
    assert!(out.contains("systemctl enable --now tlsctx-authz"), "{out}");
    let dir = s.cfg().join("tlsctx/servers/node9");
    let daemon: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("daemon.json")).unwrap()).unwrap();
    assert_eq!(
        daemon["authorization-plugins"],
        serde_json::json!(["tlsctx-authz"])
    );
    snap!(
        None,
        "authz_unit",
        fs::read_to_string(dir.join("tlsctx-authz.service")).unwrap()
    );
    ok(&s.tlsctx(&["server", "renew", "node9"]));
    let daemon = fs::read_to_string(dir.join("daemon.json")).unwrap();
    assert!(
        daemon.contains("tlsctx-authz"),
        "renew dropped the plugin: {daemon}"
    );
    ok(&s.tlsctx(&["new", "plain", "--host", "tcp://10.0.0.8:2376"]));
    let plain = fs::read_to_string(s.cfg().join("tlsctx/servers/plain/daemon.json")).unwrap();
    assert!(!plain.contains("authorization-plugins"), "{plain}");
}

#[test]
fn the_plugin_stops_at_sigterm_and_removes_its_socket() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&["ca", "init"]));
    ok(&s.tlsctx(&["server", "p1", "--san", "127.0.0.1"]));
    let log = s.path().join("plugin.log");
    let mut plugin = Plugin::start(&s.cfg().join("tlsctx/servers/p1"), &log);
    ok(&Command::new("kill")
        .args(["-TERM", &plugin.child.id().to_string()])
        .output()
        .unwrap());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Ok(Some(st)) = plugin.child.try_wait() {
            assert!(st.success(), "{st}");
            break;
        }
        assert!(Instant::now() < deadline, "still running 3 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!plugin.socket.exists());
}
