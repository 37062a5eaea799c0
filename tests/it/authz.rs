//! Over 600 lines: one area's scenarios over a shared fixture (a dockerd, a host, a keyring); the
//! fixture's helpers would be split with them.
//!
//! The authorization plugin against a real dockerd started with
//! `--authorization-plugin`: roles, revocation without a restart, bad CRLs,
//! and 200 parallel requests.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::dockerd::{free_port, stderr, Dockerd};
use crate::common::plugin::Plugin;
use crate::common::steps::Steps;
use crate::common::*;

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

/// `docker --context CTX ARGS…` with the sandbox's configuration.
fn in_context(s: &Sandbox, ctx: &str, args: &[&str]) -> Output {
    let mut all = vec!["--context", ctx];
    all.extend_from_slice(args);
    s.docker(&all)
}

/// A daemon address, with context `admin1` (and its server bundle) and the
/// read-only context `ro1` for it.
fn admin_and_reader(s: &Sandbox) -> (u16, String) {
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
    (port, host)
}

#[test]
fn roles_and_revocation_through_a_real_dockerd() {
    let s = Sandbox::new();
    let (port, host) = admin_and_reader(&s);
    ok(&s.tlsctx(&["new", "gone", "--host", &host, "--no-server"]));
    ok(&s.tlsctx(&["new", "gone2", "--host", &host, "--no-server"]));
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
    let dk = |ctx: &str, args: &[&str]| in_context(&s, ctx, args);
    let p = &plugin.name;
    let crl = bundle.join("crl.pem");
    let mut steps = Steps::new("roles_and_revocation_through_a_real_dockerd");

    let image = steps.setup("an admin does everything, a container included", || {
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
        image
    });

    steps.check("a read-only identity reads state, and is refused the rest with its role named", || {
    for args in [
        &["ps"][..],
        &["images"],
        &["inspect", "c1"],
        &["version"],
        &["logs", "c1"],
    ] {
        ok(&dk("ro1", args));
    }
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
        "GET /containers/c1/archive is GET /containers/{name}/archive, which reads files out of a container",
    );
    refused(
        &dk("ro1", &["volume", "create", "v1"]),
        p,
        "has role read-only",
    );

    });

    steps.setup(
        "a revoked identity is refused within a second, without restarting dockerd",
        || {
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
        },
    );
    // Issue 19: the CRL number was not tracked, so CRL 1 un-revoked what
    // CRL 2 revoked.
    steps.check("an older CRL put back is refused", || {
        let crl1 = fs::read(bundle.join("crl.pem")).unwrap();
        ok(&dk("gone2", &["ps"]));
        ok(&s.tlsctx(&["revoke", "gone2"]));
        refused(&dk("gone2", &["ps"]), p, "is revoked");
        let crl2 = fs::read(bundle.join("crl.pem")).unwrap();
        let _back = PutBack(crl.clone(), crl2.clone());
        fs::write(bundle.join("crl.pem"), &crl1).unwrap();
        refused(&dk("gone2", &["ps"]), p, "older than number 2");
        refused(&dk("admin1", &["ps"]), p, "older than number 2");
        fs::write(bundle.join("crl.pem"), &crl2).unwrap();
        ok(&dk("admin1", &["ps"]));
        assert!(bundle.join("crl-required").exists());
    });
    steps.check(
        "ls shows it revoked, renew refuses it, revoke --list lists it",
        || {
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
        },
    );
    // The local socket still works to repair things.
    steps.check(
        "a CRL of another CA, damaged or missing fails closed, never un-revoking",
        || {
            let good = fs::read(bundle.join("crl.pem")).unwrap();
            let _back = PutBack(crl.clone(), good.clone());
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
            // No CRL once the CA revoked something: everything is refused, not
            // un-revoked (issue 19: deleting crl.pem un-revoked everything).
            fs::remove_file(bundle.join("crl.pem")).unwrap();
            refused(&dk("gone", &["ps"]), p, "is missing");
            refused(&dk("admin1", &["ps"]), p, "is missing");
            fs::write(bundle.join("crl.pem"), &good).unwrap();
            refused(&dk("gone", &["ps"]), p, "is revoked");
        },
    );

    steps.check("200 parallel requests through the plugin all pass", || {
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
    });
    steps.check(
        "every decision is logged with CN, serial, method and path",
        || {
            let text = fs::read_to_string(&log).unwrap();
            assert!(
                text.contains("deny cn=\"ro1-client\"") && text.contains("POST /containers/create"),
                "{text}"
            );
        },
    );
    ok(&dk("admin1", &["rm", "-f", "c1"]));
    steps.done();
}

/// Puts a file's bytes back when dropped, after a failed step too, so the
/// next step starts from the fixture it expects.
struct PutBack(PathBuf, Vec<u8>);

impl Drop for PutBack {
    fn drop(&mut self) {
        let _ = fs::write(&self.0, &self.1);
    }
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

/// Attacker review (stop 38): the plugin's socket sits in a folder every
/// user can enter (/run/docker/plugins). It was bound under the process's
/// umask and narrowed to 0600 after: started under umask 000, another user
/// connected in between in 6 of 10 starts. Each start here watches for the
/// socket's first appearance and wants it 0600 from then on.
#[test]
fn the_plugin_socket_is_never_open_to_others_even_under_umask_000() {
    use std::os::unix::fs::PermissionsExt;
    let s = Sandbox::new();
    ok(&s.tlsctx(&["ca", "init"]));
    ok(&s.tlsctx(&["server", "p1", "--san", "127.0.0.1"]));
    let bundle = s.cfg().join("tlsctx/servers/p1");
    let dir = s.path().join("plugins");
    fs::create_dir(&dir).unwrap();
    for round in 0..20 {
        let socket = dir.join(format!("r{round}.sock"));
        let mut child = Command::new("sh")
            .args([
                "-c",
                "umask 000; exec \"$@\"",
                "sh",
                BIN,
                "authz",
                "serve",
                "--bundle",
            ])
            .arg(&bundle)
            .arg("--socket")
            .arg(&socket)
            .arg("--state-dir")
            .arg(s.path().join("state"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // No sleep: the window was between two system calls.
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = loop {
            if let Ok(m) = fs::symlink_metadata(&socket) {
                break m.permissions().mode() & 0o777;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the plugin did not listen"
            );
        };
        ok(&Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .output()
            .unwrap());
        let _ = child.wait();
        assert_eq!(
            first & 0o077,
            0,
            "round {round}: the socket was first seen with mode {first:o}, open to other users"
        );
    }
}

/// A second SIGTERM close behind the first (a service manager that
/// repeats itself, a person who presses Ctrl-C twice) still lets the plugin
/// remove its socket: a stale one made dockerd refuse every request until
/// the plugin was started again (attacker review, stop 38: left behind in
/// 5 of 6 tries with 5-20 ms between the signals).
#[test]
fn a_second_signal_close_behind_the_first_leaves_no_socket() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&["ca", "init"]));
    ok(&s.tlsctx(&["server", "p2", "--san", "127.0.0.1"]));
    let bundle = s.cfg().join("tlsctx/servers/p2");
    let mut left = Vec::new();
    for round in 0..10 {
        let mut plugin = Plugin::start(&bundle, &s.path().join(format!("plugin-{round}.log")));
        let pid = plugin.child.id().to_string();
        for gap in [0, 5 + round] {
            std::thread::sleep(Duration::from_millis(gap));
            ok(&Command::new("kill").args(["-TERM", &pid]).output().unwrap());
        }
        let _ = plugin.child.wait();
        if plugin.socket.exists() {
            left.push(round);
        }
    }
    assert!(
        left.is_empty(),
        "the socket was left behind in rounds {left:?}"
    );
}

/// An exported identity's files: ca.pem, cert.pem, key.pem.
fn files_of(s: &Sandbox, name: &str) -> PathBuf {
    let dir = s.path().join(format!("export-{name}"));
    ok(&s.tlsctx(&["export", name, "--dir", dir.to_str().unwrap()]));
    dir
}

/// curl with an identity's files: (HTTP status, body).
fn curl(id: &Path, port: u16, target: &str, extra: &[&str]) -> (String, String) {
    let body = id.join("body");
    let o = Command::new(require("curl"))
        .args(["-sS", "-m", "5", "--path-as-is", "-o"])
        .arg(&body)
        .args(["-w", "%{http_code}", "--cacert"])
        .arg(id.join("ca.pem"))
        .arg("--cert")
        .arg(id.join("cert.pem"))
        .arg("--key")
        .arg(id.join("key.pem"))
        .args(extra)
        .arg(format!("https://127.0.0.1:{port}{target}"))
        .env_remove("CURL_CA_BUNDLE")
        .env_remove("REQUESTS_CA_BUNDLE")
        .output()
        .unwrap();
    let code = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (code, fs::read_to_string(&body).unwrap_or_default())
}

/// The default CA's certificate and key (ca.pem, ca-key.pem), for openssl.
fn export_ca(s: &Sandbox) -> PathBuf {
    let ca = s.path().join("ca");
    ok(&s.tlsctx(&[
        "ca",
        "export",
        "--name",
        "default",
        "--out",
        ca.to_str().unwrap(),
        "--include-key",
    ]));
    ca
}

/// A client certificate made by openssl with the CA's key: subjects we never
/// issue (two role OUs, a misspelled role, none).
fn openssl_client(s: &Sandbox, ca: &Path, name: &str, subject: &str, san: Option<&str>) -> PathBuf {
    let dir = s.path().join(format!("odd-{name}"));
    fs::create_dir_all(&dir).unwrap();
    fs::copy(ca.join("ca.pem"), dir.join("ca.pem")).unwrap();
    let ext = dir.join("ext.cnf");
    let mut text = "extendedKeyUsage = clientAuth\n".to_string();
    if let Some(san) = san {
        text.push_str(&format!("subjectAltName = {san}\n"));
    }
    fs::write(&ext, text).unwrap();
    let p = |f: &str| dir.join(f).display().to_string();
    openssl_ok(&[
        "req",
        "-utf8",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p("key.pem"),
        "-subj",
        subject,
        "-out",
        &p("req.csr"),
    ]);
    openssl_ok(&[
        "x509",
        "-req",
        "-in",
        &p("req.csr"),
        "-CA",
        &ca.join("ca.pem").display().to_string(),
        "-CAkey",
        &ca.join("ca-key.pem").display().to_string(),
        "-set_serial",
        "0x7e57a11",
        "-days",
        "2",
        "-extfile",
        &ext.display().to_string(),
        "-out",
        &p("cert.pem"),
    ]);
    dir
}

/// Issue 19 against a real dockerd: other spellings of what read-only may
/// not do (percent-encoding, absolute-form targets, a WebSocket attach,
/// swarm tokens), service certificates and odd role OUs. Each was allowed
/// before; each is refused now, and the plain reads still work.
#[test]
fn read_only_is_read_only_in_every_spelling() {
    let s = Sandbox::new();
    let (port, host) = admin_and_reader(&s);
    ok(&s.tlsctx(&["cert", "svc1", "--san", "svc.example", "--client"]));
    let bundle = s.cfg().join("tlsctx/servers/admin1");
    let plugin = Plugin::start(&bundle, &s.path().join("plugin.log"));
    let dir = s.path().join("d");
    fs::create_dir(&dir).unwrap();
    let _daemon = Dockerd::start_with(
        &dir,
        &bundle,
        port,
        serde_json::json!({ "authorization-plugins": [plugin.name] }),
    );
    let p = &plugin.name;
    let image = import_busybox(&s, "admin1");
    ok(&s.docker(&[
        "--context",
        "admin1",
        "create",
        "-i",
        "--name",
        "c1",
        "--network",
        "none",
        &image,
        "/bin/busybox",
        "sh",
    ]));
    ok(&s.docker(&["--context", "admin1", "start", "c1"]));
    let ro = files_of(&s, "ro1");
    let mut steps = Steps::new("read_only_is_read_only_in_every_spelling");

    // The plain reads work, spelled plainly or not.
    for target in [
        "/v1.41/containers/json",
        "/v1.41/containers/c1/json",
        "/v1.41/containers/c1/%6Aso%6E",
        "/v1.41/containers/c1/top",
        "/v1.41/version",
    ] {
        steps.check(&format!("a read-only identity reads {target}"), || {
            let (code, body) = curl(&ro, port, target, &[]);
            assert_eq!(code, "200", "{target}: {body}");
        });
    }
    steps.check(
        "a read-only identity reads with an absolute-form target",
        || {
            let (code, body) = curl(
                &ro,
                port,
                "/",
                &["--request-target", "http://x/v1.41/containers/json"],
            );
            assert_eq!(code, "200", "absolute-form read: {body}");
        },
    );

    // What it may not do, in every spelling: refused by the plugin.
    let denied = |target: &str, extra: &[&str], want: &str| {
        let (code, body) = curl(&ro, port, target, extra);
        assert!(
            code == "403"
                && body.contains(&format!("authorization denied by plugin {p}"))
                && body.contains(want),
            "{target} {extra:?}: {code} {body}"
        );
    };
    let img = format!("/v1.41/images/{image}/%67et");
    for (target, want) in [
        (
            "/v1.41/containers/c1/%61rchive?path=/etc/hostname",
            "reads files out of a container",
        ),
        (
            "/v1.41/containers/c1%2Farchive?path=/etc/hostname",
            "reads files out of a container",
        ),
        (
            "/v1.41/containers/c1/%65xport",
            "reads files out of a container",
        ),
        ("/v1.41/images/get?names=x", "reads image layers"),
        (img.as_str(), "reads image layers"),
        ("/v1.41/swarm", "join tokens"),
        ("/v1.41/swarm/unlock%6Bey", "unlock key"),
        ("/v1.41/configs", "swarm configs"),
        ("/v1.41/secrets", "swarm secrets"),
        (
            "/v1.41/distribution/registry.invalid/x/json",
            "connect to a registry",
        ),
        ("/debug/vars", "debug endpoints"),
        // Found by review: ps_args=e printed every process's environment.
        ("/v1.41/containers/c1/top?ps_args=auxe", "ps e shows"),
    ] {
        steps.check(&format!("the plugin refuses {target}: {want}"), || {
            denied(target, &[], want)
        });
    }
    steps.check("the plugin refuses absolute-form and unix: targets", || {
        denied(
            "/",
            &["--request-target", "http://x/v1.41/containers/c1/export"],
            "reads files out of a container",
        );
        denied(
            "/",
            &[
                "--request-target",
                "unix:/v1.41/containers/c1/archive?path=/",
            ],
            "reads files out of a container",
        );
    });
    // A 403 has no body to read the message from.
    steps.check(
        "the plugin refuses HEAD of the archive, and a websocket attach",
        || {
            let (code, _) = curl(&ro, port, "/v1.41/containers/c1/%61rchive?path=/", &["-I"]);
            assert_eq!(code, "403", "HEAD of the archive");
            denied(
                "/v1.41/containers/c1/attach/%77s?stream=1&stdin=1&stdout=1",
                &[
                    "-H",
                    "Connection: Upgrade",
                    "-H",
                    "Upgrade: websocket",
                    "-H",
                    "Sec-WebSocket-Version: 13",
                    "-H",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                ],
                "attaches to a container",
            );
        },
    );
    let dk = |ctx: &str, args: &[&str]| in_context(&s, ctx, args);
    steps.check(
        "the plugin refuses docker export and save through the real CLI",
        || {
            refused(
                &dk("ro1", &["export", "c1"]),
                p,
                "reads files out of a container",
            );
            refused(&dk("ro1", &["save", &image]), p, "reads image layers");
        },
    );

    // A service certificate of the same CA is not an Engine identity.
    let svc = s.cfg().join("tlsctx/servers/svc1");
    let with = |dir: &Path, args: &[&str]| {
        let mut c = s.docker_cmd(&["--tlsverify", "--tlscacert"]);
        c.arg(dir.join("ca.pem"))
            .arg("--tlscert")
            .arg(dir.join("cert.pem"))
            .arg("--tlskey")
            .arg(dir.join("key.pem"))
            .arg("-H")
            .arg(&host)
            .args(args);
        c.output().unwrap()
    };
    steps.check(
        "a service certificate of the same CA is not an Engine identity",
        || {
            refused(&with(&svc, &["ps"]), p, "is a service certificate");
            refused(
                &with(
                    &svc,
                    &[
                        "run",
                        "--rm",
                        "--privileged",
                        "-v",
                        "/:/host",
                        "--network",
                        "none",
                        &image,
                        "/bin/busybox",
                        "true",
                    ],
                ),
                p,
                "is a service certificate",
            );
        },
    );

    // Subjects we never issue, made by openssl with the CA's key.
    let ca = export_ca(&s);
    for (name, subject, want) in [
        ("caps", "/OU=role:Read-Only/CN=odd1", "cannot be read"),
        ("space", "/OU=role: read-only/CN=odd2", "cannot be read"),
        (
            "two",
            "/OU=role:admin/OU=role:read-only/CN=odd3",
            "names 2 roles",
        ),
        (
            "two-b",
            "/OU=role:read-only/OU=role:admin/CN=odd4",
            "names 2 roles",
        ),
        (
            "cns",
            "/OU=role:read-only/CN=odd5/CN=odd6",
            "2 common names",
        ),
        // Found by review: a zero-width space before the role, or the role
        // in O instead of OU, read as no role at all, which was admin.
        (
            "zwsp",
            "/OU=\u{200b}role:read-only/CN=odd7",
            "is not a role",
        ),
        ("org", "/O=role:read-only/CN=odd8", "other fields than a CN"),
    ] {
        steps.check(
            &format!("a subject we never issue is refused: {subject:?}"),
            || {
                let id = openssl_client(&s, &ca, name, subject, None);
                refused(&with(&id, &["ps"]), p, want);
            },
        );
    }
    steps.check(
        "a v0.2 service certificate is refused; a v0.2 admin client is still admin",
        || {
            // A v0.2 service certificate (no role, a SAN) is refused; a v0.2 admin
            // client (no role, no SAN) is still admin without --require-role.
            let old_svc = openssl_client(
                &s,
                &ca,
                "old-svc",
                "/CN=svc.example",
                Some("DNS:svc.example"),
            );
            refused(
                &with(&old_svc, &["ps"]),
                p,
                "a service certificate from before",
            );
            let legacy = openssl_client(&s, &ca, "legacy", "/CN=legacy-client", None);
            ok(&with(&legacy, &["ps"]));
        },
    );
    ok(&dk("admin1", &["rm", "-f", "c1"]));
    steps.done();
}

/// One plugin call over its socket; the JSON answer, or the raw reply when
/// it is not a 200.
fn call(socket: &Path, raw: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut c = std::os::unix::net::UnixStream::connect(socket).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(raw).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&out);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        return text.into_owned();
                    }
                }
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn post(path: &str, body: &str) -> Vec<u8> {
    format!("POST {path} HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// Issue 19: a body the plugin could not parse became a request without a
/// certificate, "local", allowed. Every one is refused now, with Err, and
/// so are HTTP framings that two readers could read differently.
#[test]
fn unreadable_plugin_calls_are_refused() {
    use base64::Engine;
    let s = Sandbox::new();
    ok(&s.tlsctx(&[
        "new",
        "ro1",
        "--host",
        "tcp://127.0.0.1:2376",
        "--role",
        "read-only",
    ]));
    let bundle = s.cfg().join("tlsctx/servers/ro1");
    let ca = export_ca(&s);
    let legacy = openssl_client(&s, &ca, "legacy", "/CN=legacy-client", None);
    let b64 = |p: &Path| base64::engine::general_purpose::STANDARD.encode(fs::read(p).unwrap());
    let ro = b64(&files_of(&s, "ro1").join("cert.pem"));
    let old = b64(&legacy.join("cert.pem"));
    let plugin = Plugin::start(&bundle, &s.path().join("plugin.log"));
    let strict = Plugin::start_with(&bundle, &s.path().join("strict.log"), &["--require-role"]);
    let req = |body: &str| call(&plugin.socket, &post("/AuthZPlugin.AuthZReq", body));
    let allowed = |answer: &str| answer.contains(r#""Allow":true"#);
    // The well-formed ones decide as they should.
    let good = format!(
        r#"{{"User":"ro1-client","UserAuthNMethod":"TLS","RequestMethod":"GET","RequestUri":"/v1.41/containers/json","RequestPeerCertificates":["{ro}"]}}"#
    );
    assert!(allowed(&req(&good)), "{}", req(&good));
    let local = r#"{"RequestMethod":"POST","RequestUri":"/v1.41/containers/create"}"#;
    assert!(allowed(&req(local)), "{}", req(local));
    for body in [
        // A key twice: the certificate first, then nothing.
        format!(r#"{{"RequestMethod":"POST","RequestUri":"/v1.41/containers/create","RequestPeerCertificates":["{ro}"],"RequestPeerCertificates":["{ro}"]}}"#),
        format!(r#"{{"RequestMethod":"POST","RequestMethod":"POST","RequestUri":"/v1.41/containers/create","UserAuthNMethod":"TLS","RequestPeerCertificates":["{ro}"]}}"#),
        r#"{"RequestMethod":"POST","RequestUri":"/v1.41/containers/create","RequestPeerCertificates":[null]}"#.to_string(),
        r#"{"RequestMethod":"POST","RequestUri":"/v1.41/containers/create","RequestPeerCertificates":null}"#.to_string(),
        r#"{"RequestMethod":"POST","RequestUri":"/v1.41/containers/create","RequestPeerCertificates":[]}"#.to_string(),
        format!(r#"{{"RequestMethod":"POST","RequestUri":5,"RequestPeerCertificates":["{ro}"]}}"#),
        r#"{"RequestMethod":"POST","RequestUri":"/v1.41/containers/create","UserAuthNMethod":"TLS"}"#.to_string(),
        r#"{"RequestMethod":"POST","RequestUri":"/v1.41/containers/create","RequestPeerCertificates":["not base64!"]}"#.to_string(),
        "not json".to_string(),
    ] {
        let answer = req(&body);
        assert!(
            answer.contains(r#""Allow":false"#) && answer.contains("tlsctx: "),
            "{body} gave {answer}"
        );
    }
    // Framings refused at the HTTP layer: 400 and the connection closed.
    for raw in [
        b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 70\r\n\r\n{}".to_vec(),
        b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}".to_vec(),
        format!("POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nContent-Length: {}\r\n\r\n", 64 << 20).into_bytes(),
    ] {
        let answer = call(&plugin.socket, &raw);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    // --require-role: a certificate without a role is refused.
    let legacy_req = format!(
        r#"{{"UserAuthNMethod":"TLS","RequestMethod":"GET","RequestUri":"/_ping","RequestPeerCertificates":["{old}"]}}"#
    );
    assert!(allowed(&req(&legacy_req)));
    let answer = call(&strict.socket, &post("/AuthZPlugin.AuthZReq", &legacy_req));
    assert!(
        answer.contains(r#""Allow":false"#)
            && answer.contains("renew it: docker tlsctx renew NAME --role admin"),
        "{answer}"
    );
}

/// The status of a request made with an identity's exported files.
fn status_with(id: &Path, port: u16, target: &str) -> (String, String) {
    curl(id, port, target, &[])
}

/// `POST /containers/create` (an empty body) with an identity's files: what
/// a stolen admin certificate would try first.
fn create_with(id: &Path, port: u16) -> (String, String) {
    curl(
        id,
        port,
        "/v1.41/containers/create",
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
        ],
    )
}

/// Issue 30: a revoked identity is revoked in every certificate it ever had.
/// Before, `renew` (which keeps the key), `renew --rekey`, `renew --due`
/// and a demotion with `renew --role read-only` each left the previous
/// certificate valid until it expired, and `revoke NAME` listed only the
/// current serial: the stolen old certificate still created containers as
/// admin through the plugin.
#[test]
fn stolen_old_certificates_are_refused_after_every_renewal_path() {
    let s = Sandbox::new();
    let (port, host) = admin_and_reader(&s);
    let names = ["kept", "rekeyed", "demoted", "due", "byserial", "oldgone"];
    for n in names {
        ok(&s.tlsctx(&["new", n, "--host", &host, "--no-server"]));
    }
    let bundle = s.cfg().join("tlsctx/servers/admin1");
    let work = s.path().join("w");
    fs::create_dir(&work).unwrap();
    let _daemon_and_plugin = common::plugin::daemon_with_plugin(&work, &bundle, port);
    let log = work.join("plugin.log");
    // What a thief copied before each renewal.
    let old: Vec<PathBuf> = names
        .iter()
        .map(|n| {
            let dir = s.path().join(format!("old-{n}"));
            ok(&s.tlsctx(&["export", n, "--dir", dir.to_str().unwrap()]));
            dir
        })
        .collect();
    let old_of = |n: &str| &old[names.iter().position(|x| *x == n).unwrap()];
    for n in names {
        assert_eq!(
            status_with(old_of(n), port, "/v1.41/version").0,
            "200",
            "{n}"
        );
    }
    let serial_of = |n: &str| -> String {
        let v: serde_json::Value =
            serde_json::from_str(&ok(&s.tlsctx(&["inspect", n, "--format", "json"]))).unwrap();
        v["client"]["serial"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string()
    };
    let old_byserial = serial_of("byserial");

    ok(&s.tlsctx(&["renew", "kept"]));
    ok(&s.tlsctx(&["renew", "rekeyed", "--rekey"]));
    ok(&s.tlsctx(&["renew", "byserial"]));
    // A demotion revokes the admin certificates it supersedes at once, the
    // thief's (two renewals back) too: found by review, only the one
    // replaced went.
    ok(&s.tlsctx(&["renew", "demoted"]));
    ok(&s.tlsctx(&["renew", "oldgone"]));
    let out = ok(&s.tlsctx(&["renew", "demoted", "--role", "read-only"]));
    assert!(
        out.contains("Revoked the certificate it replaces")
            && out.contains("reason superseded")
            && out.contains("its role changed from admin to read-only"),
        "{out}"
    );
    // --revoke-old with a new key does the same without a role change.
    let out = ok(&s.tlsctx(&["renew", "oldgone", "--rekey", "--revoke-old"]));
    assert!(out.contains("Revoked the certificate it replaces"), "{out}");
    // Everything is due with at most 10 years left.
    ok(&s.tlsctx(&["renew", "--due", "--before", "3650d"]));

    // The superseded certificates are listed, with their state.
    let issued: serde_json::Value =
        serde_json::from_str(&ok(&s.tlsctx(&["ca", "issued", "--format", "json"]))).unwrap();
    let sup = |n: &str| {
        issued["issued"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["name"] == n && i["superseded"] == true)
            .count()
    };
    // Each was renewed once by name (demoted and oldgone twice) and once
    // more by --due.
    for n in ["kept", "rekeyed", "byserial"] {
        assert_eq!(sup(n), 2, "{n}: {issued}");
    }
    for n in ["demoted", "oldgone"] {
        assert_eq!(sup(n), 3, "{n}: {issued}");
    }
    assert_eq!(sup("due"), 1, "{issued}");
    let table = ok(&s.tlsctx(&["ca", "issued"]));
    assert!(table.contains("superseded"), "{table}");

    // Until revoked, a kept-key renewal leaves the old certificate working
    // (said by renew); the demoted and --revoke-old ones are gone already.
    assert_eq!(status_with(old_of("kept"), port, "/v1.41/version").0, "200");
    for n in ["demoted", "oldgone"] {
        let (code, body) = status_with(old_of(n), port, "/v1.41/version");
        assert_eq!(code, "403", "{n}: {body}");
        assert!(body.contains("is revoked"), "{n}: {body}");
    }
    // The demoted identity's current certificate is read-only.
    let (code, body) = create_with(&files_of(&s, "demoted"), port);
    assert_eq!(code, "403", "{body}");
    assert!(body.contains("has role read-only"), "{body}");

    // revoke NAME: every unexpired certificate of the holder.
    for n in ["kept", "rekeyed", "due"] {
        let out = ok(&s.tlsctx(&["revoke", n, "--reason", "key-compromise"]));
        assert!(
            out.contains("Also revoked its earlier certificates"),
            "{n}: {out}"
        );
    }
    for n in ["kept", "rekeyed", "due"] {
        // The old certificate, privileged: refused, and no container made.
        let (code, body) = create_with(old_of(n), port);
        assert_eq!(code, "403", "{n}: {body}");
        assert!(body.contains("is revoked"), "{n}: {body}");
    }
    // revoke SERIAL: an older serial of ours is found, and only that one
    // goes.
    let out = ok(&s.tlsctx(&["revoke", &old_byserial]));
    assert!(out.contains(&old_byserial), "{out}");
    let (code, body) = status_with(old_of("byserial"), port, "/v1.41/version");
    assert_eq!(code, "403", "{body}");
    assert_eq!(
        status_with(&files_of(&s, "byserial"), port, "/v1.41/version").0,
        "200"
    );
    // A context moved to another CA with --force: revoke NAME reaches its
    // old certificate under the old CA too (found by review: only the new
    // CA's list was written, and a second revoke said "already revoked").
    ok(&s.tlsctx(&["new", "moved", "--host", &host, "--no-server"]));
    let before_move = s.path().join("old-moved");
    ok(&s.tlsctx(&["export", "moved", "--dir", before_move.to_str().unwrap()]));
    ok(&s.tlsctx(&["ca", "init", "--name", "other"]));
    ok(&s.tlsctx(&[
        "new",
        "moved",
        "--host",
        &host,
        "--no-server",
        "--force",
        "--ca",
        "other",
    ]));
    assert_eq!(status_with(&before_move, port, "/v1.41/version").0, "200");
    let out = ok(&s.tlsctx(&["revoke", "moved"]));
    assert!(out.contains("(CA \"default\")"), "{out}");
    let (code, body) = status_with(&before_move, port, "/v1.41/version");
    assert_eq!(code, "403", "{body}");
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("is revoked"), "{text}");
}

/// A pids cgroup (v1's pids hierarchy, or v2's) holding `pid` with at most
/// `max` tasks, as systemd's TasksMax does; removed on drop.
struct PidsCap {
    dir: PathBuf,
}

impl PidsCap {
    fn new(pid: u32, max: u32) -> PidsCap {
        let v1 = Path::new("/sys/fs/cgroup/pids");
        let v2 = Path::new("/sys/fs/cgroup");
        let base = if v1.join("cgroup.procs").exists() {
            v1
        } else if fs::read_to_string(v2.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|w| w == "pids"))
        {
            v2
        } else {
            panic!("no pids cgroup controller here (/sys/fs/cgroup/pids or cgroup2 with pids): the task-cap test needs one, as systemd's TasksMax does")
        };
        let dir = base.join(format!("tlsctx-test-{}-{pid}", std::process::id()));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
        fs::write(dir.join("pids.max"), max.to_string()).unwrap();
        fs::write(dir.join("cgroup.procs"), pid.to_string()).unwrap();
        PidsCap { dir }
    }

    fn current(&self) -> u32 {
        fs::read_to_string(self.dir.join("pids.current"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for PidsCap {
    fn drop(&mut self) {
        // The process (stopped by then, or moved back) must leave first.
        if let Ok(procs) = fs::read_to_string(self.dir.join("cgroup.procs")) {
            let parent = self.dir.parent().unwrap().join("cgroup.procs");
            for p in procs.lines() {
                let _ = fs::write(&parent, p);
            }
        }
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Issue 30: one failed thread start (many idle connections under a task
/// limit) panicked the accept loop, leaving a live plugin that refused
/// everything, which `Restart=always` never restarts; one byte every 8 s
/// held a connection for ever (the deadline was per read). Now: 1,200 idle
/// connections against a plugin capped at 48 tasks, and dockerd still gets
/// its answers; a trickle is cut within 30 s.
#[test]
fn the_plugin_survives_idle_floods_and_trickles() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let s = Sandbox::new();
    let (port, _host) = admin_and_reader(&s);
    let bundle = s.cfg().join("tlsctx/servers/admin1");
    let work = s.path().join("w");
    fs::create_dir(&work).unwrap();
    let mut dp = common::plugin::daemon_with_plugin(&work, &bundle, port);
    let socket = dp.1.socket.clone();
    let cap = PidsCap::new(dp.1.child.id(), 48);
    let idle: Vec<UnixStream> = (0..1200)
        .map(|i| {
            UnixStream::connect(&socket)
                .unwrap_or_else(|e| panic!("connection {i} to the plugin failed: {e}"))
        })
        .collect();
    assert!(cap.current() <= 48, "{} tasks", cap.current());
    // Still answering: a new call, and dockerd's own.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = call(&socket, &post("/Plugin.Activate", "{}"));
        if answer.contains("authz") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the plugin stopped answering: {answer:?}; log: {}",
            fs::read_to_string(work.join("plugin.log")).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(&s.docker(&["--context", "admin1", "version"]));
    ok(&s.docker(&["--context", "ro1", "ps"]));
    // The process is alive, and its connections are bounded.
    assert!(
        matches!(dp.1.child.try_wait(), Ok(None)),
        "the plugin exited"
    );
    drop(idle);

    // A trickle: one byte a second of a request that never ends.
    let mut t = UnixStream::connect(&socket).unwrap();
    t.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let started = Instant::now();
    let head =
        b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: plugin\r\nContent-Length: 999999\r\n\r\n";
    let mut cut = None;
    for b in head.iter().cycle().take(60) {
        if t.write_all(&[*b]).is_err() {
            cut = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 512];
        match t.read(&mut buf) {
            // Closed (with or without its 400 first).
            Ok(0) => {
                cut = Some(started.elapsed());
                break;
            }
            Ok(_) => {}
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(950));
    }
    let cut = cut.expect("a one-byte-a-second request was still open after 60 s");
    assert!(cut < Duration::from_secs(30), "cut after {cut:?}");
    ok(&s.docker(&["--context", "admin1", "version"]));
    drop(dp);
    drop(cap);
}

/// Issue 30: the viewer role through a real dockerd: lists and versions;
/// inspect (environment, logging driver options), logs and the volume list
/// (driver options) refused, with the role named.
#[test]
fn viewer_sees_lists_and_nothing_that_can_hold_secrets() {
    let s = Sandbox::new();
    let (port, host) = admin_and_reader(&s);
    ok(&s.tlsctx(&[
        "new",
        "v1",
        "--host",
        &host,
        "--no-server",
        "--role",
        "viewer",
    ]));
    let bundle = s.cfg().join("tlsctx/servers/admin1");
    let work = s.path().join("w");
    fs::create_dir(&work).unwrap();
    let dp = common::plugin::daemon_with_plugin(&work, &bundle, port);
    let p = dp.1.name.clone();
    let dk = |ctx: &str, args: &[&str]| in_context(&s, ctx, args);
    let image = import_busybox(&s, "admin1");
    ok(&dk(
        "admin1",
        &[
            "create",
            "--name",
            "c1",
            "--network",
            "none",
            "-e",
            "DB_PASSWORD=hunter2",
            &image,
            "/bin/busybox",
            "true",
        ],
    ));
    ok(&dk(
        "admin1",
        &[
            "volume",
            "create",
            "--opt",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
            "--opt",
            "o=password=s3cret",
            "vol1",
        ],
    ));
    for args in [
        &["version"][..],
        &["ps", "-a"],
        &["images"],
        &["network", "ls"],
    ] {
        ok(&dk("v1", args));
    }
    for (args, what) in [
        (&["inspect", "c1"][..], "GET /containers/{name}/json"),
        // docker logs inspects the container first.
        (&["logs", "c1"], "GET /containers/{name}/"),
        (&["volume", "ls"], "GET /volumes"),
        (&["volume", "inspect", "vol1"], "GET /volumes/{name}"),
        (&["info"], "GET /info"),
    ] {
        let o = dk("v1", args);
        refused(&o, &p, "which the viewer role may not use");
        assert!(stderr(&o).contains(what), "{args:?}: {}", stderr(&o));
        assert!(!String::from_utf8_lossy(&o.stdout).contains("hunter2"));
        assert!(!String::from_utf8_lossy(&o.stdout).contains("s3cret"));
    }
    refused(&dk("v1", &["rm", "-f", "c1"]), &p, "changes the engine");
    // The same reads are read-only's (documented in SECURITY.md).
    let o = ok(&dk("ro1", &["inspect", "c1"]));
    assert!(o.contains("DB_PASSWORD=hunter2"));
    ok(&dk("admin1", &["rm", "-f", "c1"]));
    ok(&dk("admin1", &["volume", "rm", "vol1"]));
}
