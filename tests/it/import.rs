//! `ca import` of CAs made elsewhere: the openssl recipe (RSA-4096 as PKCS#1
//! and PKCS#8), an EC CA with a SEC1 key, docker-machine's layout. What is
//! refused stores nothing.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;

/// A CA made with openssl: key (already written) + self-signed certificate.
fn ca_cert(dir: &Path, key: &Path, subject: &str, key_usage: &str) -> PathBuf {
    let cert = dir.join(format!(
        "{}-ca.pem",
        key.file_stem().unwrap().to_string_lossy()
    ));
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-sha256",
        "-days",
        "365",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        subject,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        key_usage,
        "-out",
        cert.to_str().unwrap(),
    ]);
    cert
}

fn import(s: &Sandbox, name: &str, cert: &Path, key: &Path) -> std::process::Output {
    s.tlsctx(&[
        "ca",
        "import",
        "--name",
        name,
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ])
}

/// Issues a client from the imported CA and checks it chains to the original certificate.
fn issues_and_verifies(s: &Sandbox, ca: &str, original_cert: &Path) {
    let out = s.path().join(format!("client-{ca}"));
    ok(&s.tlsctx(&[
        "client",
        &format!("c-{ca}"),
        "--ca",
        ca,
        "--out",
        out.to_str().unwrap(),
    ]));
    let v = openssl_ok(&[
        "verify",
        "-CAfile",
        original_cert.to_str().unwrap(),
        "-purpose",
        "sslclient",
        out.join("cert.pem").to_str().unwrap(),
    ]);
    assert!(v.contains(": OK"), "{v}");
    // ca.pem in the bundle is the imported certificate, same key and subject.
    let a = openssl_ok(&[
        "x509",
        "-noout",
        "-fingerprint",
        "-sha256",
        "-in",
        original_cert.to_str().unwrap(),
    ]);
    let b = openssl_ok(&[
        "x509",
        "-noout",
        "-fingerprint",
        "-sha256",
        "-in",
        out.join("ca.pem").to_str().unwrap(),
    ]);
    assert_eq!(a, b);
}

#[test]
fn openssl_rsa_4096_ca_as_pkcs1_and_pkcs8() {
    let s = Sandbox::new();
    let d = s.path();
    let pkcs8 = d.join("rsa8.pem");
    openssl_ok(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:4096",
        "-out",
        pkcs8.to_str().unwrap(),
    ]);
    let pkcs1 = d.join("rsa1.pem");
    openssl_ok(&[
        "pkey",
        "-in",
        pkcs8.to_str().unwrap(),
        "-traditional",
        "-out",
        pkcs1.to_str().unwrap(),
    ]);
    assert!(fs::read_to_string(&pkcs1)
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(fs::read_to_string(&pkcs8)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    let cert = ca_cert(
        d,
        &pkcs8,
        "/CN=openssl recipe CA",
        "keyUsage=critical,keyCertSign,cRLSign",
    );

    let o = import(&s, "recipe1", &cert, &pkcs1);
    snap!(Some(&s), "import_rsa_pkcs1", transcript(&o));
    ok(&o);
    ok(&import(&s, "recipe8", &cert, &pkcs8));
    issues_and_verifies(&s, "recipe1", &cert);
    issues_and_verifies(&s, "recipe8", &cert);
    let rec: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(s.cfg().join("tlsctx/cas/recipe1/ca.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["key_type"], "rsa-4096");
    assert_eq!(rec["cn"], "openssl recipe CA");

    // export gives back a key that is the same key, in its PKCS#1 form.
    let out = s.path().join("exported");
    ok(&s.tlsctx(&[
        "ca",
        "export",
        "--name",
        "recipe1",
        "--out",
        out.to_str().unwrap(),
        "--include-key",
    ]));
    let exported = fs::read_to_string(out.join("ca-key.pem")).unwrap();
    assert_eq!(exported, fs::read_to_string(&pkcs1).unwrap());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(out.join("ca-key.pem"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

#[test]
fn ec_ca_with_a_sec1_key() {
    let s = Sandbox::new();
    let d = s.path();
    // `openssl ecparam -genkey` writes "EC PARAMETERS" then "EC PRIVATE KEY" (SEC1).
    let key = d.join("ec.pem");
    openssl_ok(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-out",
        key.to_str().unwrap(),
    ]);
    assert!(fs::read_to_string(&key)
        .unwrap()
        .contains("-----BEGIN EC PRIVATE KEY-----"));
    let cert = ca_cert(
        d,
        &key,
        "/CN=EC CA",
        "keyUsage=critical,keyCertSign,cRLSign",
    );
    ok(&import(&s, "ec", &cert, &key));
    issues_and_verifies(&s, "ec", &cert);
    let rec: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(s.cfg().join("tlsctx/cas/ec/ca.json")).unwrap())
            .unwrap();
    assert_eq!(rec["key_type"], "ecdsa-p256");
}

#[test]
fn docker_machine_ca() {
    // docker-machine's ~/.docker/machine/certs: RSA-2048 PKCS#1 key, a CA
    // certificate with O=<user> and keyUsage certSign, keyEncipherment,
    // digitalSignature, keyAgreement (libmachine/cert/cert.go GenerateCACertificate).
    let s = Sandbox::new();
    let certs = s.path().join("machine/certs");
    fs::create_dir_all(&certs).unwrap();
    let key = certs.join("ca-key.pem");
    openssl_ok(&[
        "genrsa",
        "-traditional",
        "-out",
        key.to_str().unwrap(),
        "2048",
    ]);
    let cert = certs.join("ca.pem");
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-sha256",
        "-days",
        "1080",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/O=root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,keyEncipherment,digitalSignature,keyAgreement",
        "-out",
        cert.to_str().unwrap(),
    ]);
    let o = s.tlsctx(&[
        "ca",
        "import",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("is no longer needed"));
    // It became "default": `new` uses it without --ca.
    ok(&s.tlsctx(&[
        "new",
        "machine",
        "--host",
        "tcp://192.0.2.20",
        "--no-server",
    ]));
    let tls = s
        .cfg()
        .join("contexts/tls")
        .join(sha256_hex("machine"))
        .join("docker");
    let v = openssl_ok(&[
        "verify",
        "-CAfile",
        cert.to_str().unwrap(),
        tls.join("cert.pem").to_str().unwrap(),
    ]);
    assert!(v.contains(": OK"), "{v}");
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn refusals_store_nothing() {
    let s = Sandbox::new();
    let d = s.path().to_path_buf();
    let rsa = d.join("rsa.pem");
    openssl_ok(&["genrsa", "-out", rsa.to_str().unwrap(), "2048"]);
    let cert = ca_cert(
        &d,
        &rsa,
        "/CN=real CA",
        "keyUsage=critical,keyCertSign,cRLSign",
    );
    let ec = d.join("other-ec.pem");
    openssl_ok(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        ec.to_str().unwrap(),
    ]);
    // A leaf certificate: CA:FALSE.
    let leaf = d.join("leaf.pem");
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        rsa.to_str().unwrap(),
        "-subj",
        "/CN=leaf",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-out",
        leaf.to_str().unwrap(),
    ]);
    // A CA whose keyUsage forbids signing certificates.
    let nosign = d.join("nosign.pem");
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        rsa.to_str().unwrap(),
        "-subj",
        "/CN=nosign",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,digitalSignature",
        "-out",
        nosign.to_str().unwrap(),
    ]);
    let enc8 = d.join("enc8.pem");
    openssl_ok(&[
        "pkey",
        "-in",
        rsa.to_str().unwrap(),
        "-aes256",
        "-passout",
        "pass:secret",
        "-out",
        enc8.to_str().unwrap(),
    ]);
    let enc1 = d.join("enc1.pem");
    openssl_ok(&[
        "rsa",
        "-in",
        rsa.to_str().unwrap(),
        "-aes256",
        "-traditional",
        "-passout",
        "pass:secret",
        "-out",
        enc1.to_str().unwrap(),
    ]);
    let garbage = d.join("garbage.pem");
    fs::write(&garbage, "not a key\n").unwrap();

    let before = s.listing();
    for (name, c, k) in [
        ("mismatch", &cert, &ec),
        ("leaf", &leaf, &rsa),
        ("nosign", &nosign, &rsa),
        ("encrypted_pkcs8", &cert, &enc8),
        ("encrypted_traditional", &cert, &enc1),
        ("garbage", &cert, &garbage),
    ] {
        let o = import(&s, "imported", c, k);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", transcript(&o));
        snap!(Some(&s), format!("import_refused_{name}"), transcript(&o));
        assert_eq!(s.listing(), before, "{name} stored something");
    }
    // An existing CA is not replaced without --force.
    ok(&import(&s, "imported", &cert, &rsa));
    let o = import(&s, "imported", &cert, &rsa);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("CA \"imported\" already exists"));
}
