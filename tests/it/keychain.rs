//! Keys in a real Secret Service: a private D-Bus session bus and
//! gnome-keyring-daemon (unlocked, secrets component) in a temporary HOME,
//! inspected with secret-tool, the libsecret CLI.

use std::fs;

use std::path::Path;
use std::process::Stdio;

use crate::common::secret_service::SecretService;
use crate::common::*;

/// The public key of a DER private key, computed by OpenSSL.
fn public_key_of_der(der: &[u8], dir: &Path) -> String {
    let p = dir.join("key.der");
    fs::write(&p, der).unwrap();
    let out = ok(&openssl(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        p.to_str().unwrap(),
        "-pubout",
    ]));
    fs::remove_file(p).unwrap();
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn every_key_type_lives_in_the_secret_service() {
    let ss = SecretService::start();
    let s = Sandbox::new();
    for kt in [
        "ecdsa-p256",
        "ecdsa-p384",
        "ed25519",
        "rsa-2048",
        "rsa-3072",
        "rsa-4096",
    ] {
        let ca = format!("ca-{kt}");
        ok(&ss.tlsctx(&s, &["ca", "init", "--name", &ca, "--key-type", kt]));
        let out = s.path().join(format!("client-{kt}"));
        ok(&ss.tlsctx(
            &s,
            &[
                "client",
                &format!("c-{kt}"),
                "--ca",
                &ca,
                "--key-type",
                kt,
                "--out",
                out.to_str().unwrap(),
            ],
        ));
        // The CA key, as libsecret reads it, is the key of the CA certificate.
        let ca_pem = s.cfg().join("tlsctx/cas").join(&ca).join("ca.pem");
        let key = ss
            .lookup(&format!("ca/{ca}"))
            .unwrap_or_else(|| panic!("no CA key for {kt} in the Secret Service"));
        assert_eq!(
            public_key_of_der(&key, s.path()),
            public_key_of_cert(&ca_pem),
            "{kt}"
        );
        let client_key = ss.lookup(&format!("client/c-{kt}")).unwrap();
        assert_eq!(
            public_key_of_der(&client_key, s.path()),
            public_key_of_cert(&out.join("cert.pem")),
            "{kt}"
        );
        // Signed by that CA.
        ok(&openssl(&[
            "verify",
            "-CAfile",
            ca_pem.to_str().unwrap(),
            out.join("cert.pem").to_str().unwrap(),
        ]));
        // The CA key is in no file: not under DOCKER_CONFIG, not in the bundle.
        for f in all_files(s.path()) {
            assert!(
                !contains(&fs::read(&f).unwrap(), &key),
                "CA key bytes in {}",
                f.display()
            );
        }
        let record: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(s.cfg().join("tlsctx/cas").join(&ca).join("ca.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(record["keystore"], "os");
    }
    assert!(
        !s.cfg().join("tlsctx/keys").exists(),
        "the file keystore must not be used"
    );
}

#[test]
fn store_get_delete_and_a_100_kb_secret() {
    use docker_tlsctx::keystore::{os::OsStore, Account, KeyStore};
    let ss = SecretService::start();
    // The library reads the session bus address from the environment; this
    // test is the only in-process user of the keystore in this binary.
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &ss.address);
    let store = OsStore::connect("docker-tlsctx").unwrap();
    assert_eq!(
        store.get(&Account::Ca("nothing-here".into())).unwrap(),
        None,
        "not found is None, not an error"
    );
    assert!(!store.delete(&Account::Ca("nothing-here".into())).unwrap());

    let big: Vec<u8> = (0..100 * 1024).map(|i| (i * 7 + i / 251) as u8).collect();
    store.set(&Account::Ca("big".into()), &big).unwrap();
    assert_eq!(store.get(&Account::Ca("big".into())).unwrap().unwrap(), big);
    assert_eq!(
        ss.lookup("ca/big").unwrap(),
        big,
        "libsecret reads the same bytes"
    );
    // Overwrite in place: still one item.
    store.set(&Account::Ca("big".into()), b"small").unwrap();
    assert_eq!(
        store.get(&Account::Ca("big".into())).unwrap().unwrap(),
        b"small"
    );
    assert_eq!(
        ss.search().matches("attribute.username = ca/big").count(),
        1
    );
    assert!(store.delete(&Account::Ca("big".into())).unwrap());
    assert_eq!(store.get(&Account::Ca("big".into())).unwrap(), None);
    assert_eq!(ss.lookup("ca/big"), None);
    std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
}

#[test]
fn two_processes_read_what_a_third_wrote() {
    let ss = SecretService::start();
    let s = Sandbox::new();
    ok(&ss.tlsctx(&s, &["ca", "init"]));
    let spawn = |name: &str| {
        let mut c = s.tlsctx_cmd(&[
            "client",
            name,
            "--out",
            s.path().join(name).to_str().unwrap(),
        ]);
        c.env("DOCKER_TLSCTX_KEYSTORE", "os")
            .env("DBUS_SESSION_BUS_ADDRESS", &ss.address)
            .env("HOME", ss.home.path());
        c.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("reader-a"), spawn("reader-b"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    ok(&a);
    ok(&b);
    let ca = s.cfg().join("tlsctx/cas/default/ca.pem");
    for n in ["reader-a", "reader-b"] {
        ok(&openssl(&[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            s.path().join(n).join("cert.pem").to_str().unwrap(),
        ]));
    }
}

#[test]
fn secret_tool_sees_our_items_and_no_private_key_is_left_in_a_file() {
    let ss = SecretService::start();
    let s = Sandbox::new();
    ok(&ss.tlsctx(&s, &["new", "prod", "--host", "tcp://127.0.0.1:2376"]));
    snap!(None, "keychain_secret_tool_search", ss.search());
    let ca_key = ss.lookup("ca/default").unwrap();
    let mut with_private_keys = Vec::new();
    for f in all_files(&s.cfg()) {
        let bytes = fs::read(&f).unwrap();
        assert!(!contains(&bytes, &ca_key), "CA key in {}", f.display());
        if contains(&bytes, b"PRIVATE KEY") {
            with_private_keys.push(f.strip_prefix(s.cfg()).unwrap().display().to_string());
        }
    }
    with_private_keys.sort();
    // Only the two files Docker and dockerd must read hold a key.
    assert_eq!(
        with_private_keys,
        [
            "contexts/tls/6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/docker/key.pem",
            "tlsctx/servers/prod/server-key.pem"
        ]
    );
    // And those files hold the keystore's copies.
    let ctx_key = fs::read_to_string(s.cfg().join("contexts/tls/6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/docker/key.pem")).unwrap();
    let (_, der) = x509_parser::pem::parse_x509_pem(ctx_key.as_bytes()).unwrap();
    assert_eq!(der.contents, ss.lookup("client/prod").unwrap());
}

#[test]
fn restore_rebuilds_a_removed_context_from_the_keychain() {
    let ss = SecretService::start();
    let s = Sandbox::new();
    ok(&ss.tlsctx(
        &s,
        &[
            "new",
            "prod",
            "--host",
            "tcp://127.0.0.1:2376",
            "--description",
            "prod box",
            "--no-server",
        ],
    ));
    let tls = s.cfg().join(
        "contexts/tls/6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/docker",
    );
    let before: Vec<Vec<u8>> = ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .map(|f| fs::read(tls.join(f)).unwrap())
        .collect();
    let meta_before = fs::read(s.cfg().join(
        "contexts/meta/6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/meta.json",
    ))
    .unwrap();
    ok(&s.docker(&["context", "rm", "prod"]));
    assert!(!tls.exists());

    let o = ss.tlsctx(&s, &["restore", "prod"]);
    snap!(Some(&s), "keychain_restore", transcript(&o));
    let after: Vec<Vec<u8>> = ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .map(|f| fs::read(tls.join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(meta_before, fs::read(s.cfg().join("contexts/meta/6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/meta.json")).unwrap());
    // A context that exists is not replaced without --force.
    let o = ss.tlsctx(&s, &["restore", "prod"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("context \"prod\" already exists"));
    ok(&ss.tlsctx(&s, &["restore", "prod", "--force"]));
}

#[test]
fn a_locked_collection_is_a_clear_error_and_changes_nothing() {
    let ss = SecretService::start();
    let s = Sandbox::new();
    ok(&ss.tlsctx(&s, &["ca", "init"]));
    ss.lock();
    let before = s.listing();
    for keystore in ["os", "auto"] {
        let o = ss.tlsctx_with(&s, keystore, &["new", "prod", "--host", "tcp://127.0.0.1"]);
        assert_eq!(o.status.code(), Some(1), "{}", transcript(&o));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        // A locked keychain is not a missing one: auto does not move the CA's custody to files.
        assert!(err.contains("keychain is locked"), "{keystore}: {err}");
        assert!(err.contains("Hint: unlock the login keyring"), "{err}");
        assert!(!err.contains("Warning"), "{err}");
        assert_eq!(
            s.listing(),
            before,
            "{keystore}: a failed command changed files"
        );
    }
    let o = ss.tlsctx(&s, &["ca", "init", "--name", "second"]);
    snap!(Some(&s), "keychain_locked", transcript(&o));
}

#[test]
fn no_session_bus_fails_with_os_and_falls_back_with_auto() {
    let s = Sandbox::new();
    let nobus = |keystore: &str, args: &[&str]| {
        let mut c = s.tlsctx_cmd(args);
        c.env("DOCKER_TLSCTX_KEYSTORE", keystore).env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}/no-bus-here", s.path().display()),
        );
        c.output().unwrap()
    };
    let before = s.listing();
    let o = nobus("os", &["ca", "init"]);
    snap!(Some(&s), "keychain_no_bus_os", transcript(&o));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(s.listing(), before);

    let o = nobus("auto", &["ca", "init"]);
    snap!(Some(&s), "keychain_no_bus_auto", transcript(&o));
    ok(&o);
    assert!(s.cfg().join("tlsctx/keys/ca/default.key").is_file());

    // Later commands find the key where the record says, whatever the choice.
    ok(&nobus(
        "file",
        &[
            "client",
            "ci",
            "--out",
            s.path().join("ci").to_str().unwrap(),
        ],
    ));

    let o = nobus("auto", &["keystore", "status"]);
    snap!(Some(&s), "keychain_status_no_bus", transcript(&o));
}

#[test]
fn status_with_a_keychain() {
    let ss = SecretService::start();
    let s = Sandbox::new();
    ok(&ss.tlsctx(&s, &["ca", "init"]));
    let o = ss.tlsctx_with(&s, "auto", &["keystore", "status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["selected"], "os");
    assert_eq!(v["os"]["available"], true);
    assert_eq!(v["os"]["keys"], 1);
    assert_eq!(v["file"]["keys"], 0);
}

#[test]
fn an_imported_ca_key_moves_into_the_secret_service() {
    let ss = SecretService::start();
    let s = Sandbox::new();
    let key = s.path().join("ca-key.pem");
    ok(&openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        key.to_str().unwrap(),
    ]));
    let cert = s.path().join("ca.pem");
    ok(&openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/CN=imported",
        "-out",
        cert.to_str().unwrap(),
    ]));
    ok(&ss.tlsctx(
        &s,
        &[
            "ca",
            "import",
            "--name",
            "imported",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    ));
    let stored = ss
        .lookup("ca/imported")
        .expect("the key is in the Secret Service");
    assert_eq!(
        public_key_of_der(&stored, s.path()),
        public_key_of_cert(&cert)
    );
    assert!(!s.cfg().join("tlsctx/keys").exists());
    // ca rm takes it out again.
    ok(&ss.tlsctx(&s, &["ca", "rm", "imported"]));
    assert_eq!(ss.lookup("ca/imported"), None);
    assert!(!s.cfg().join("tlsctx/cas/imported").exists());
}
