//! Over 600 lines: one area's scenarios over a shared fixture (a dockerd, a host, a keyring); the
//! fixture's helpers would be split with them.
//!
//! Trust (SECURITY.md): races, hostile files and bad input, each case a
//! user could meet. Kills and full disks at every write step are in
//! tests/it/faults.rs.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use docker_tlsctx::docker::context::context_id;

fn tls_dir(s: &Sandbox, name: &str) -> PathBuf {
    s.cfg()
        .join("contexts/tls")
        .join(context_id(name))
        .join("docker")
}

fn meta(s: &Sandbox, name: &str) -> PathBuf {
    s.cfg()
        .join("contexts/meta")
        .join(context_id(name))
        .join("meta.json")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn failed_with(o: &Output, text: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", transcript(o));
    assert!(
        stderr(o).contains(text),
        "{text:?} not in:\n{}",
        transcript(o)
    );
}

/// Renews `name` `times` times in the background, alternating --rekey.
fn renew_loop(s: &Sandbox, name: &str, times: usize) -> std::thread::JoinHandle<()> {
    let cmds: Vec<Command> = (0..times)
        .map(|i| {
            let mut args = vec!["renew", name];
            if i % 2 == 1 {
                args.push("--rekey");
            }
            s.tlsctx_cmd(&args)
        })
        .collect();
    std::thread::spawn(move || {
        for mut c in cmds {
            ok(&c.output().unwrap());
        }
    })
}

/// Case 1, as the file system sees it: while renew swaps a context's TLS
/// folder, meta.json never points at a context without ca.pem (v0.1 moved
/// the old folder away, then the new one in, and Docker then spoke plain
/// HTTP to the tcp:// host).
#[test]
fn renew_never_leaves_a_context_without_tls_files() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&[
        "new",
        "live",
        "--host",
        "tcp://127.0.0.1:2376",
        "--no-server",
    ]));
    let (meta, ca) = (meta(&s, "live"), tls_dir(&s, "live").join("ca.pem"));
    let renewing = renew_loop(&s, "live", 30);
    let (mut polls, mut missing) = (0u64, 0u64);
    while !renewing.is_finished() {
        polls += 1;
        if meta.exists() && !ca.exists() {
            missing += 1;
        }
    }
    renewing.join().unwrap();
    assert!(
        polls > 1000,
        "only {polls} polls: the loop did not overlap the renewals"
    );
    assert_eq!(
        missing, 0,
        "{missing} of {polls} polls saw a context without ca.pem"
    );
}

/// Case 1 end to end: a listener on 127.0.0.1 counts the first byte of
/// every connection the real docker CLI makes while renew runs in a loop:
/// 0x16 opens a TLS handshake; anything else is plain HTTP. None allowed.
#[test]
fn docker_never_talks_plaintext_during_renew() {
    let s = Sandbox::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    ok(&s.tlsctx(&[
        "new",
        "live",
        "--host",
        &format!("tcp://127.0.0.1:{port}"),
        "--no-server",
    ]));
    let (tls, plain) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // What each plain connection said first, and from which port: a
    // failure shows who spoke (it was the docker CLI: issue 32's stop).
    let said: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    {
        let (tls, plain, done, said) = (tls.clone(), plain.clone(), done.clone(), said.clone());
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, from)) => {
                        conn.set_nonblocking(false).unwrap();
                        conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                        let mut first = [0u8; 1];
                        if conn.read_exact(&mut first).is_ok() {
                            if first[0] == 0x16 {
                                tls.fetch_add(1, Ordering::SeqCst);
                            } else {
                                plain.fetch_add(1, Ordering::SeqCst);
                                let mut rest = [0u8; 80];
                                let n = conn.read(&mut rest).unwrap_or(0);
                                let mut text = vec![first[0]];
                                text.extend_from_slice(&rest[..n]);
                                said.lock().unwrap().push(format!(
                                    "from {from}: {:?}",
                                    String::from_utf8_lossy(&text)
                                ));
                            }
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
    }
    let renewing = renew_loop(&s, "live", 40);
    let mut calls = 0;
    while !renewing.is_finished() || calls < 20 {
        // Fails (nothing answers TLS here); what matters is how it connects.
        let _ = s
            .docker_cmd(&["--context", "live", "version"])
            .env("DOCKER_CLIENT_TIMEOUT", "2")
            .output()
            .unwrap();
        calls += 1;
    }
    renewing.join().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    done.store(true, Ordering::SeqCst);
    let (tls, plain) = (tls.load(Ordering::SeqCst), plain.load(Ordering::SeqCst));
    assert!(
        tls >= calls / 2,
        "{tls} TLS connections for {calls} docker calls"
    );
    assert_eq!(
        plain,
        0,
        "{plain} of {} connections were plain HTTP: {:?}",
        tls + plain,
        said.lock().unwrap()
    );
}

fn spawn_all(cmds: Vec<Command>) -> Vec<Output> {
    let children: Vec<_> = cmds
        .into_iter()
        .map(|mut c| {
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// Case 2: ten parallel first-use `new` runs create CA "default" once; its
/// key and ca.pem belong together and every identity chains to it.
#[test]
fn parallel_first_use_makes_one_ca() {
    for trial in 0..3 {
        let s = Sandbox::new();
        let outs = spawn_all(
            (0..10)
                .map(|i| {
                    s.tlsctx_cmd(&[
                        "new",
                        &format!("n{i}"),
                        "--host",
                        &format!("tcp://10.0.0.{i}:2376"),
                    ])
                })
                .collect(),
        );
        for o in &outs {
            ok(o);
        }
        let created = outs
            .iter()
            .filter(|o| String::from_utf8_lossy(&o.stdout).contains("Created CA"))
            .count();
        assert_eq!(created, 1, "trial {trial}: CA created {created} times");
        let ca = s.cfg().join("tlsctx/cas/default/ca.pem");
        for i in 0..10 {
            let cert = tls_dir(&s, &format!("n{i}")).join("cert.pem");
            openssl_ok(&[
                "verify",
                "-CAfile",
                ca.to_str().unwrap(),
                cert.to_str().unwrap(),
            ]);
        }
        // The CA key in the keystore matches ca.pem: it can still sign.
        ok(&s.tlsctx(&["server", "later", "--san", "192.0.2.1"]));
    }
}

/// Case 3: ten parallel `new same`: one wins, nine are told it exists; the
/// keystore key, the context's key.pem and the server bundle all agree.
#[test]
fn parallel_same_name_one_wins() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&["ca", "init"]));
    let outs = spawn_all(
        (0..10)
            .map(|_| s.tlsctx_cmd(&["new", "same", "--host", "tcp://10.0.0.1:2376"]))
            .collect(),
    );
    let wins = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(wins, 1);
    for o in outs.iter().filter(|o| !o.status.success()) {
        failed_with(o, "already exists");
    }
    // export reads the keystore's key and checks it against the record.
    ok(&s.tlsctx(&[
        "export",
        "same",
        "--dir",
        s.path().join("x").to_str().unwrap(),
    ]));
    assert_eq!(
        fs::read(s.path().join("x/key.pem")).unwrap(),
        fs::read(tls_dir(&s, "same").join("key.pem")).unwrap()
    );
    let bundle = s.cfg().join("tlsctx/servers/same");
    assert_eq!(
        public_key_of_cert(&bundle.join("server-cert.pem")),
        public_key_of_key(&bundle.join("server-key.pem"))
    );
}

/// Case 4: fifty parallel credential stores are all listed afterwards.
#[test]
fn parallel_credential_stores_are_all_kept() {
    let s = Sandbox::new();
    let helper = s.path().join("docker-credential-tlsctx");
    std::os::unix::fs::symlink(BIN, &helper).unwrap();
    let children: Vec<_> = (0..50)
        .map(|i| {
            let mut c = Command::new(&helper);
            c.arg("store")
                .env("DOCKER_CONFIG", s.cfg())
                .env("DOCKER_TLSCTX_KEYSTORE", "file")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped());
            let mut child = c.spawn().unwrap();
            let body = format!(
                "{{\"ServerURL\":\"https://r{i}.example.com\",\"Username\":\"u{i}\",\"Secret\":\"s{i}\"}}"
            );
            use std::io::Write;
            child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
            child
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    let o = Command::new(&helper)
        .arg("list")
        .env("DOCKER_CONFIG", s.cfg())
        .env("DOCKER_TLSCTX_KEYSTORE", "file")
        .output()
        .unwrap();
    let list: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list.len(), 50);
}

/// A second writer waits with a message and then fails clearly; readers
/// never wait.
#[test]
fn a_second_writer_waits_and_readers_do_not() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&["new", "a1", "--host", "tcp://10.0.0.1:2376", "--no-server"]));
    let held = docker_tlsctx::lock::acquire(&s.cfg(), || {}).unwrap();
    let started = Instant::now();
    ok(&s.tlsctx(&["ls"]));
    ok(&s.tlsctx(&["inspect", "a1"]));
    assert!(started.elapsed() < Duration::from_secs(5));
    let o = s
        .tlsctx_cmd(&["renew", "a1"])
        .env("DOCKER_TLSCTX_LOCK_TIMEOUT", "0.5")
        .output()
        .unwrap();
    failed_with(
        &o,
        "another docker-tlsctx command is still changing this configuration",
    );
    assert!(stderr(&o).contains("Waiting for another docker-tlsctx command to finish"));
    drop(held);
    ok(&s.tlsctx(&["renew", "a1"]));
}

fn copy_tree(from: &Path, to: &Path) {
    ok(&Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap());
}

/// Case 6: records are not trusted as paths. A copied configuration's `rm`
/// removes its own server bundle, not the original's (server.json records
/// an absolute folder).
#[test]
fn rm_in_a_copied_config_keeps_the_original_bundle() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&["new", "prod", "--host", "tcp://10.0.0.1:2376"]));
    let copy = s.path().join("copy");
    copy_tree(&s.cfg(), &copy);
    let o = Command::new(BIN)
        .args(["rm", "prod"])
        .env("DOCKER_CONFIG", &copy)
        .env("DOCKER_TLSCTX_KEYSTORE", "file")
        .output()
        .unwrap();
    ok(&o);
    assert!(s.cfg().join("tlsctx/servers/prod/server-key.pem").exists());
    assert!(!copy.join("tlsctx/servers/prod/server-key.pem").exists());
}

/// Case 6: an identity record that names itself `../../…` is damaged, not
/// a path: renew refuses it and writes nothing outside DOCKER_CONFIG.
#[test]
fn a_record_cannot_point_writes_elsewhere() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&[
        "new",
        "prod",
        "--host",
        "tcp://10.0.0.1:2376",
        "--no-server",
    ]));
    let rec = s.cfg().join("tlsctx/identities/prod.json");
    let text = fs::read_to_string(&rec).unwrap();
    fs::write(
        &rec,
        text.replacen("\"name\": \"prod\"", "\"name\": \"../../escape\"", 1),
    )
    .unwrap();
    let before = s.listing();
    failed_with(&s.tlsctx(&["renew", "prod"]), "is damaged");
    assert_eq!(s.listing(), before);
    // ls reports it and goes on.
    let out = ok(&s.tlsctx(&["ls"]));
    assert!(
        out.contains("broken: ") && out.contains("is not a valid name"),
        "{out}"
    );
}

/// Case 7: one damaged record is one broken row; everything else works.
#[test]
fn a_damaged_record_is_one_broken_row() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&[
        "new",
        "good",
        "--host",
        "tcp://10.0.0.1:2376",
        "--no-server",
    ]));
    ok(&s.tlsctx(&["new", "bad", "--host", "tcp://10.0.0.2:2376", "--no-server"]));
    fs::write(s.cfg().join("tlsctx/identities/bad.json"), "{ not json").unwrap();
    let out = ok(&s.tlsctx(&["ls"]));
    let good = out.lines().find(|l| l.starts_with("good ")).unwrap();
    assert!(good.ends_with("ok"), "{out}");
    let bad = out.lines().find(|l| l.starts_with("bad ")).unwrap();
    assert!(
        bad.contains("broken: ") && bad.contains("bad.json is damaged"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&s.tlsctx(&["ls", "--format", "json"]))).unwrap();
    assert_eq!(json["damaged"][0]["name"], "bad");
    ok(&s.tlsctx(&["ls", "--all"]));
    ok(&s.tlsctx(&["ca", "ls"]));
    ok(&s.tlsctx(&["keystore", "status"]));
    ok(&s.tlsctx(&["renew", "good"]));
}

/// Case 7: where keys live, a symlink is refused, never followed.
#[test]
fn symlinks_where_keys_live_are_refused() {
    for link in ["tlsctx/keys/client", "contexts/tls", "tlsctx/tmp"] {
        let s = Sandbox::new();
        ok(&s.tlsctx(&["ca", "init"]));
        let elsewhere = s.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        let at = s.cfg().join(link);
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &at).unwrap();
        let o = s.tlsctx(&["new", "x1", "--host", "tcp://10.0.0.1:2376", "--no-server"]);
        failed_with(&o, "is a symbolic link");
        assert_eq!(
            fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "{link}: nothing may go through the link"
        );
    }
}

fn modes(s: &Sandbox) -> Vec<String> {
    s.listing()
        .into_iter()
        .filter(|l| l.contains("tlsctx/keys") || l.contains("contexts/tls"))
        .collect()
}

/// Case 7: folders are made with their mode (no 0777 moment under umask
/// 000) and a key folder left wide is narrowed.
#[test]
fn key_folders_are_private_whatever_the_umask() {
    let s = Sandbox::new();
    let o = Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" \"$@\""])
        .arg(BIN)
        .args(["new", "x1", "--host", "tcp://10.0.0.1:2376"])
        .env("DOCKER_CONFIG", s.cfg())
        .env("DOCKER_TLSCTX_KEYSTORE", "file")
        .output()
        .unwrap();
    ok(&o);
    for l in modes(&s) {
        let path = l.split_once(' ').unwrap().1;
        let is_dir = s.path().join(path).is_dir();
        let want = if is_dir { "700 " } else { "600 " };
        assert!(l.starts_with(want), "{l}");
    }
    let keys = s.cfg().join("tlsctx/keys/client");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&keys, fs::Permissions::from_mode(0o777)).unwrap();
    ok(&s.tlsctx(&["new", "x2", "--host", "tcp://10.0.0.2:2376", "--no-server"]));
    assert_eq!(
        fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

/// Case 7: clocks and names out of range, wildcard hosts and control
/// characters are clear errors, checked before anything is written.
#[test]
fn out_of_range_input_is_refused_before_any_write() {
    let s = Sandbox::new();
    let before = s.listing();
    for now in [
        "9999-06-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "1900-01-01T00:00:00Z",
    ] {
        let o = s
            .tlsctx_cmd(&["new", "t1", "--host", "tcp://10.0.0.1:2376"])
            .env("DOCKER_TLSCTX_NOW", now)
            .output()
            .unwrap();
        failed_with(&o, "DOCKER_TLSCTX_NOW");
    }
    let long = "n".repeat(200);
    failed_with(
        &s.tlsctx(&["new", &long, "--host", "tcp://10.0.0.1:2376"]),
        "at most 128 are allowed",
    );
    failed_with(
        &s.tlsctx(&["new", "w1", "--host", "tcp://*.example.com"]),
        "wildcard",
    );
    failed_with(
        &s.tlsctx(&[
            "new",
            "c1",
            "--host",
            "tcp://10.0.0.1:2376",
            "--cn",
            "alice\nFAKE ok",
        ]),
        "control character",
    );
    failed_with(
        &s.tlsctx(&["client", "c2", "--cn", "bob\r"]),
        "control character",
    );
    assert_eq!(s.listing(), before);
}

/// Case 7: the credential helper refuses control characters in a server
/// URL and never echoes what it was given (a secret) in an error.
#[test]
fn credential_helper_refuses_control_characters_and_echoes_nothing() {
    let s = Sandbox::new();
    let helper = s.path().join("docker-credential-tlsctx");
    std::os::unix::fs::symlink(BIN, &helper).unwrap();
    let run = |input: &str| {
        let mut c = Command::new(&helper);
        c.arg("store")
            .env("DOCKER_CONFIG", s.cfg())
            .env("DOCKER_TLSCTX_KEYSTORE", "file");
        with_stdin(c, input)
    };
    let o = run(r#"{"ServerURL":"https://a.example.com\n{\"x\":1}","Username":"u","Secret":"s"}"#);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("control character"));
    for input in [
        r#""hunter2-secret""#,
        r#"{"ServerURL":"h","Username":"u","Secret":hunter2-secret}"#,
    ] {
        let o = run(input);
        assert_eq!(o.status.code(), Some(1));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("invalid credentials JSON"), "{out}");
        assert!(
            !out.contains("hunter2"),
            "the error echoes the input: {out}"
        );
    }
}

/// Case 7: rm leaves alone a Docker context this tool did not create.
#[test]
fn rm_leaves_foreign_contexts_alone() {
    let s = Sandbox::new();
    ok(&s.docker(&[
        "context",
        "create",
        "theirs",
        "--docker",
        "host=tcp://192.0.2.1:2376",
    ]));
    let before = s.listing();
    failed_with(
        &s.tlsctx(&["rm", "theirs"]),
        "was not created by docker-tlsctx",
    );
    assert_eq!(s.listing(), before);
    ok(&s.docker(&["context", "inspect", "theirs"]));
}

/// Case 7: a config.json that is a symlink stays one (Docker follows it).
#[test]
fn a_linked_config_json_stays_linked() {
    let s = Sandbox::new();
    let real = s.path().join("dotfiles.json");
    fs::write(&real, "{\"auths\":{}}").unwrap();
    fs::remove_file(s.cfg().join("config.json")).unwrap();
    std::os::unix::fs::symlink(&real, s.cfg().join("config.json")).unwrap();
    ok(&s.tlsctx(&["hooks", "enable"]));
    ok(&s.tlsctx(&[
        "new",
        "u1",
        "--host",
        "tcp://10.0.0.1:2376",
        "--no-server",
        "--use",
    ]));
    assert!(fs::symlink_metadata(s.cfg().join("config.json"))
        .unwrap()
        .file_type()
        .is_symlink());
    let text = fs::read_to_string(&real).unwrap();
    assert!(
        text.contains("\"currentContext\": \"u1\"") && text.contains("\"hooks\""),
        "{text}"
    );
}

/// A revoked identity gets no renewal reminders (renew refuses it anyway).
#[test]
fn revoked_identities_get_no_expiry_warnings() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&["new", "old", "--host", "tcp://10.0.0.1:2376", "--days", "3"]));
    let warn = |s: &Sandbox| {
        let o = s
            .tlsctx_cmd(&["ls"])
            .env("DOCKER_TLSCTX_NOW", "2099-01-01T00:00:00Z")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // Far in the future: expired (and the CA, ten years on, too).
    assert!(
        warn(&s).contains("identity \"old\" expired"),
        "{}",
        warn(&s)
    );
    ok(&s.tlsctx(&["revoke", "old"]));
    assert!(!warn(&s).contains("identity \"old\""), "{}", warn(&s));
}
