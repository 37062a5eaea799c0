//! ls, inspect, renew, check, rm and the hooks, against the real docker CLI
//! and real dockerds configured to produce each failure.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::dockerd::{free_port, Dockerd};
use crate::common::secret_service::SecretService;
use crate::common::*;

/// A fixed clock for everything in a test: days left and states are then
/// the same on every run.
const NOW: &str = "2030-01-01T00:00:00Z";

fn at(s: &Sandbox, when: &str, args: &[&str]) -> Output {
    let mut c = s.tlsctx_cmd(args);
    c.env("DOCKER_TLSCTX_NOW", when);
    c.output().unwrap()
}

fn ctx_tls(s: &Sandbox, name: &str) -> std::path::PathBuf {
    use sha2::Digest;
    let id: String = sha2::Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    s.cfg().join("contexts/tls").join(id).join("docker")
}

#[test]
fn ls_and_inspect_show_expiry_and_broken_contexts() {
    let s = Sandbox::new();
    ok(&at(
        &s,
        "2029-12-22T00:00:00Z",
        &[
            "new",
            "fresh",
            "--host",
            "tcp://192.0.2.1",
            "--description",
            "fresh one",
        ],
    ));
    ok(&at(
        &s,
        "2029-10-25T00:00:00Z",
        &["new", "nearly", "--host", "tcp://192.0.2.2", "--no-server"],
    ));
    ok(&at(
        &s,
        "2029-09-01T00:00:00Z",
        &[
            "new",
            "expired",
            "--host",
            "tcp://192.0.2.3",
            "--no-server",
            "--days",
            "30",
        ],
    ));
    ok(&at(
        &s,
        "2029-12-31T00:00:00Z",
        &["new", "damaged", "--host", "tcp://192.0.2.4", "--no-server"],
    ));
    ok(&at(
        &s,
        "2029-12-31T00:00:00Z",
        &[
            "client",
            "ci-job",
            "--out",
            s.path().join("ci").to_str().unwrap(),
            "--days",
            "7",
        ],
    ));
    fs::remove_file(ctx_tls(&s, "damaged").join("key.pem")).unwrap();

    let o = at(&s, NOW, &["ls"]);
    snap!(Some(&s), "ls", transcript(&o));
    let o = at(&s, NOW, &["ls", "--all"]);
    snap!(Some(&s), "ls_all", transcript(&o));
    let o = at(&s, NOW, &["ls", "--quiet"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "damaged\nexpired\nfresh\nnearly\n"
    );
    let v: serde_json::Value =
        serde_json::from_slice(&at(&s, NOW, &["ls", "--format", "json"]).stdout).unwrap();
    let states: Vec<(&str, &str)> = v["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("damaged", "broken"),
            ("expired", "expired"),
            ("fresh", "ok"),
            ("nearly", "renew_soon")
        ]
    );
    // Every command warns about what needs attention, naming the fix.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "identity \"expired\" expired on 2029-10-01; renew it: docker tlsctx renew expired"
        ),
        "{err}"
    );
    assert!(
        err.contains("identity \"nearly\" expires in 22 days"),
        "{err}"
    );

    let o = at(&s, NOW, &["inspect", "fresh"]);
    snap!(Some(&s), "inspect_fresh", transcript(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&at(&s, NOW, &["inspect", "fresh", "--format", "json"]).stdout)
            .unwrap();
    assert_eq!(v["client"]["eku"], serde_json::json!(["clientAuth"]));
    assert_eq!(v["server"]["eku"], serde_json::json!(["serverAuth"]));
    assert_eq!(v["server"]["sans"], serde_json::json!(["IP:192.0.2.1"]));
    assert_eq!(v["client"]["sha256"].as_str().unwrap().len(), 64);
    // Colour only on a terminal: none here (stdout is a pipe).
    assert!(!String::from_utf8_lossy(&at(&s, NOW, &["ls"]).stdout).contains('\u{1b}'));
}

#[test]
fn ls_colours_on_a_terminal_unless_no_color() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&["new", "prod", "--host", "tcp://192.0.2.1", "--no-server"]));
    let script = require("script");
    let run = |no_color: bool| {
        let mut c = Command::new(&script);
        c.args(["-q", "-c", &format!("{BIN} ls"), "/dev/null"])
            .env("DOCKER_CONFIG", s.cfg())
            .env("DOCKER_TLSCTX_KEYSTORE", "file");
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned()
    };
    assert!(
        run(false).contains("\u{1b}[32mok\u{1b}[0m"),
        "{}",
        run(false)
    );
    assert!(!run(true).contains('\u{1b}'));
}

#[test]
fn renew_while_dockerd_runs_and_a_failed_renew_keeps_the_old_identity() {
    let s = Sandbox::new();
    install_plugin(&s);
    let port = free_port();
    ok(&s.docker(&[
        "tlsctx",
        "new",
        "live",
        "--host",
        &format!("tcp://127.0.0.1:{port}"),
        "--days",
        "20",
    ]));
    let _d = Dockerd::start(s.path(), &s.cfg().join("tlsctx/servers/live"), port);
    let version = || {
        s.docker(&[
            "--context",
            "live",
            "version",
            "--format",
            "{{.Server.Version}}",
        ])
    };
    ok(&version());
    let serial = |s: &Sandbox| {
        let v: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(s.cfg().join("tlsctx/identities/live.json")).unwrap(),
        )
        .unwrap();
        v["serial"].as_str().unwrap().to_string()
    };
    let key_before = fs::read(ctx_tls(&s, "live").join("key.pem")).unwrap();
    let first = serial(&s);

    // Renew, same key: the daemon keeps running and accepts the new certificate.
    let out = ok(&s.docker(&["tlsctx", "renew", "live"]));
    assert!(out.contains("same key"), "{out}");
    assert_ne!(serial(&s), first);
    assert_eq!(
        fs::read(ctx_tls(&s, "live").join("key.pem")).unwrap(),
        key_before
    );
    ok(&version());

    // With --rekey: a new key, still accepted.
    ok(&s.docker(&["tlsctx", "renew", "live", "--rekey"]));
    assert_ne!(
        fs::read(ctx_tls(&s, "live").join("key.pem")).unwrap(),
        key_before
    );
    assert!(!fs::read(s.cfg().join("tlsctx/keys/client/live.key"))
        .unwrap()
        .is_empty());
    ok(&version());

    // A failure in the middle: the TLS folder cannot be replaced (immutable).
    let before_files: Vec<Vec<u8>> = ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .map(|f| fs::read(ctx_tls(&s, "live").join(f)).unwrap())
        .collect();
    let before_serial = serial(&s);
    let tls_root = s.cfg().join("contexts/tls");
    ok(&Command::new(require("chattr"))
        .arg("+i")
        .arg(&tls_root)
        .output()
        .unwrap());
    let o = s.docker(&["tlsctx", "renew", "live", "--rekey"]);
    ok(&Command::new("chattr")
        .arg("-i")
        .arg(&tls_root)
        .output()
        .unwrap());
    assert_eq!(o.status.code(), Some(1), "{}", transcript(&o));
    let after_files: Vec<Vec<u8>> = ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .map(|f| fs::read(ctx_tls(&s, "live").join(f)).unwrap())
        .collect();
    assert_eq!(
        before_files, after_files,
        "a failed renew must leave the context as it was"
    );
    assert_eq!(serial(&s), before_serial, "and its record");
    assert_eq!(
        fs::read(s.cfg().join("tlsctx/keys/client/live.key")).unwrap(),
        {
            let pem = String::from_utf8(before_files[2].clone()).unwrap();
            let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
            p.contents
        },
        "and the keystore's key"
    );
    ok(&version());

    // server renew: same CA, so the running daemon's clients are unaffected;
    // a daemon restarted with the new bundle accepts them too.
    let out = ok(&s.docker(&[
        "tlsctx",
        "server",
        "renew",
        "live",
        "--add-san",
        "localhost",
    ]));
    assert!(out.contains("restart"), "{out}");
    let cert = s.cfg().join("tlsctx/servers/live/server-cert.pem");
    let text = openssl_ok(&[
        "x509",
        "-noout",
        "-ext",
        "subjectAltName",
        "-in",
        cert.to_str().unwrap(),
    ]);
    assert!(
        text.contains("IP Address:127.0.0.1") && text.contains("DNS:localhost"),
        "{text}"
    );
}

/// `check` against one real daemon per failure class, each within its timeout.
#[test]
fn check_names_each_failure() {
    let s = Sandbox::new();
    install_plugin(&s);
    let good_port = free_port();
    ok(&s.tlsctx(&[
        "new",
        "good",
        "--host",
        &format!("tcp://127.0.0.1:{good_port}"),
    ]));
    // A server certificate that expired: issued two years ago for one day.
    let expired_port = free_port();
    ok(&at(
        &s,
        "2024-06-01T00:00:00Z",
        &[
            "new",
            "stale",
            "--host",
            &format!("tcp://127.0.0.1:{expired_port}"),
            "--server-days",
            "1",
        ],
    ));
    let plain_port = free_port();
    let dirs: Vec<_> = ["d1", "d2", "d3"]
        .iter()
        .map(|d| {
            let p = s.path().join(d);
            fs::create_dir(&p).unwrap();
            p
        })
        .collect();
    let _good = Dockerd::start(&dirs[0], &s.cfg().join("tlsctx/servers/good"), good_port);
    let _stale = Dockerd::start(
        &dirs[1],
        &s.cfg().join("tlsctx/servers/stale"),
        expired_port,
    );
    let _plain = Dockerd::start_plaintext_tcp(&dirs[2], plain_port);

    // Contexts for the other cases.
    ok(&s.tlsctx(&[
        "new",
        "byname",
        "--host",
        &format!("tcp://localhost:{good_port}"),
        "--no-server",
    ]));
    ok(&s.tlsctx(&["ca", "init", "--name", "other"]));
    ok(&s.tlsctx(&[
        "new",
        "otherca",
        "--host",
        &format!("tcp://127.0.0.1:{good_port}"),
        "--no-server",
        "--ca",
        "other",
    ]));
    ok(&s.tlsctx(&[
        "new",
        "refused",
        "--host",
        &format!("tcp://127.0.0.1:{good_port}"),
        "--no-server",
        "--ca",
        "other",
    ]));
    fs::copy(
        s.cfg().join("tlsctx/cas/default/ca.pem"),
        ctx_tls(&s, "refused").join("ca.pem"),
    )
    .unwrap();
    ok(&s.tlsctx(&[
        "new",
        "plain",
        "--host",
        &format!("tcp://127.0.0.1:{plain_port}"),
        "--no-server",
    ]));
    let stopped_port = free_port();
    ok(&s.tlsctx(&[
        "new",
        "stopped",
        "--host",
        &format!("tcp://127.0.0.1:{stopped_port}"),
        "--no-server",
    ]));

    let mut transcripts = String::new();
    for (name, want_ok, needle) in [
        ("good", true, "ok: tcp://127.0.0.1"),
        ("stale", false, "server certificate expired on 2024-06-02"),
        (
            "byname",
            false,
            "localhost is not covered by the daemon's server certificate (it covers: IP:127.0.0.1)",
        ),
        ("otherca", false, "presents a certificate from another CA"),
        (
            "refused",
            false,
            "refused this context's client certificate",
        ),
        ("plain", false, "speaks plain HTTP, not TLS"),
        ("stopped", false, "connection refused"),
    ] {
        let started = Instant::now();
        let o = s.tlsctx(&["check", name]);
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "{name} took {:?}",
            started.elapsed()
        );
        assert_eq!(o.status.success(), want_ok, "{name}: {}", transcript(&o));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(all.contains(needle), "{name}: {all}");
        // Ports and versions vary: keep the words.
        let t = transcript(&o)
            .replace(&good_port.to_string(), "PORT")
            .replace(&plain_port.to_string(), "PORT")
            .replace(&stopped_port.to_string(), "PORT");
        transcripts.push_str(&format!("### check {name}\n{t}\n"));
    }
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r"Engine [0-9][^ ]* \(API [0-9.]+\) in \d+ ms",
        "Engine [VERSION] (API [API]) in [MS] ms",
    );
    settings.add_filter(r"\(\d+ days left\)", "([N] days left)");
    for (re, rep) in filters(Some(&s)) {
        settings.add_filter(&re, rep);
    }
    settings.bind(|| insta::assert_snapshot!("check_outcomes", transcripts));
}

#[test]
fn rm_leaves_nothing_behind_with_the_file_store() {
    let s = Sandbox::new();
    install_plugin(&s);
    ok(&s.tlsctx(&["new", "keep", "--host", "tcp://192.0.2.9", "--no-server"]));
    let before = s.listing();
    ok(&s.tlsctx(&["new", "gone", "--host", "tcp://192.0.2.10", "--use"]));
    // The current context needs --force; then Docker falls back to default.
    let o = s.tlsctx(&["rm", "gone"]);
    snap!(Some(&s), "rm_current", transcript(&o));
    assert_eq!(o.status.code(), Some(1));
    ok(&s.tlsctx(&["rm", "gone", "--force"]));
    assert_eq!(ok(&s.docker(&["context", "show"])).trim(), "default");
    let mut after = s.listing();
    // config.json changed (currentContext removed); everything else is as before `new gone`.
    after.retain(|l| !l.ends_with("cfg/config.json"));
    let mut expected = before.clone();
    expected.retain(|l| !l.ends_with("cfg/config.json"));
    // rm leaves no empty folders it created for `gone` behind either.
    assert_eq!(after, expected);
    assert!(!String::from_utf8_lossy(&s.docker(&["context", "ls", "-q"]).stdout).contains("gone"));
}

#[test]
fn rm_leaves_nothing_behind_in_the_secret_service() {
    let ss = SecretService::start();
    let s = Sandbox::new();
    ok(&ss.tlsctx(&s, &["new", "gone", "--host", "tcp://192.0.2.10"]));
    assert!(ss.lookup("client/gone").is_some() && ss.lookup("server/gone").is_some());
    ok(&ss.tlsctx(&s, &["rm", "gone"]));
    assert_eq!(ss.lookup("client/gone"), None);
    assert_eq!(ss.lookup("server/gone"), None);
    assert!(ss.lookup("ca/default").is_some(), "the CA stays");
    for f in [
        "tlsctx/identities/gone.json",
        "tlsctx/identities/gone.pem",
        "tlsctx/servers/gone",
    ] {
        assert!(!s.cfg().join(f).exists(), "{f}");
    }
    assert!(!ctx_tls(&s, "gone").exists());
}

#[test]
fn docker_context_ls_shows_our_hint_through_hooks() {
    let s = Sandbox::new();
    install_plugin(&s);
    fs::write(
        s.cfg().join("config.json"),
        "{\n\t\"auths\": {},\n\t\"psFormat\": \"table {{.ID}}\"\n}",
    )
    .unwrap();
    let out = ok(&s.tlsctx(&["hooks", "enable"]));
    assert!(out.contains("context use, context ls"), "{out}");
    let cfg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(s.cfg().join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["features"]["hooks"], "true");
    assert_eq!(cfg["plugins"]["tlsctx"]["hooks"], "context use,context ls");
    assert_eq!(cfg["psFormat"], "table {{.ID}}", "other keys are kept");
    // An identity with a third of its life left: issued 70 of 90 days ago.
    let issued = (time::OffsetDateTime::now_utc() - time::Duration::days(70))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    ok(&at(
        &s,
        &issued,
        &["new", "nearly", "--host", "tcp://192.0.2.2", "--no-server"],
    ));
    // Docker prints hooks' hints only to a terminal: run it under script(1).
    let o = Command::new(require("script"))
        .args([
            "-q",
            "-c",
            &format!("{} context ls", require("docker").display()),
            "/dev/null",
        ])
        .env("DOCKER_CONFIG", s.cfg())
        .env("DOCKER_TLSCTX_KEYSTORE", "file")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("What's next"), "{text}");
    assert!(
        text.contains("identity \"nearly\" expires in")
            && text.contains("docker tlsctx renew nearly"),
        "{text}"
    );
    ok(&s.tlsctx(&["hooks", "disable"]));
    let cfg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(s.cfg().join("config.json")).unwrap()).unwrap();
    assert!(cfg["plugins"]["tlsctx"].get("hooks").is_none());
    let _ = Path::new("");
}

/// Issue 30 review: `check` read the daemon's whole answer into memory
/// before any bound applied (878 MB in 5 s from a daemon that never stops
/// sending). A daemon with the context's own server certificate sends a
/// body without end; `check` stops reading at its bound, says why, and the
/// daemon counts how much it got rid of before the connection closed.
#[test]
fn check_reads_a_bounded_answer_from_a_daemon_that_never_stops() {
    let s = Sandbox::new();
    let port = free_port();
    ok(&s.tlsctx(&["new", "flood", "--host", &format!("tcp://127.0.0.1:{port}")]));
    let bundle = s.cfg().join("tlsctx/servers/flood");
    let sent = s.path().join("sent");
    let script = r#"
import socket, ssl, sys
cert, key, port, out = sys.argv[1:]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(port)))
srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
tls = ctx.wrap_socket(conn, server_side=True)
tls.recv(4096)
sent = 0
chunk = b"a" * 65536
try:
    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    while sent < (4 << 30):
        tls.sendall(chunk)
        sent += len(chunk)
except OSError:
    pass
# Written whole, then renamed: the test looks for the file and stops
# this daemon once it is there (it once found it empty).
open(out + ".tmp", "w").write(str(sent))
import os
os.rename(out + ".tmp", out)
"#;
    let mut daemon = Command::new(require("python3"))
        .args(["-c", script])
        .arg(bundle.join("server-cert.pem"))
        .arg(bundle.join("server-key.pem"))
        .arg(port.to_string())
        .arg(&sent)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(daemon.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    let t = Instant::now();
    let o = s.tlsctx(&["check", "flood"]);
    assert!(!o.status.success(), "{}", transcript(&o));
    assert!(transcript(&o).contains("too large"), "{}", transcript(&o));
    let waited = Instant::now();
    while !sent.exists() && waited.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    let n: u64 = fs::read_to_string(&sent)
        .expect("the daemon kept sending after check ended")
        .parse()
        .unwrap();
    // 1 MiB of body and a head, plus what the sockets buffer on the way.
    assert!(n < 32 << 20, "check took {n} bytes in {:?}", t.elapsed());
}
