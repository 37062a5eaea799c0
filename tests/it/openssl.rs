//! An independent verifier reads what we issue: OpenSSL checks chains,
//! purposes (EKU), SANs, basic constraints, key usage, validity and that
//! each key matches its certificate, for every key type.

use std::path::Path;

use crate::common::*;

fn verify(ca: &Path, cert: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["verify", "-CAfile", ca.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(cert.to_str().unwrap());
    let o = openssl(&args);
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn text(cert: &Path) -> String {
    ok(&openssl(&[
        "x509",
        "-noout",
        "-text",
        "-in",
        cert.to_str().unwrap(),
    ]))
}

fn check_key_type(key_type: &str, openssl_says: &str) {
    let s = Sandbox::new();
    ok(&s.tlsctx(&[
        "new",
        "prod",
        "--host",
        "tcp://127.0.0.1:2376",
        "--san",
        "docker.example.com",
        "--key-type",
        key_type,
    ]));
    let server = s.cfg().join("tlsctx/servers/prod");
    let ctx = s.cfg().join(
        "contexts/tls/6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/docker",
    );
    let ca = server.join("ca.pem");
    let (srv, cli) = (server.join("server-cert.pem"), ctx.join("cert.pem"));
    assert_eq!(
        std::fs::read(&ca).unwrap(),
        std::fs::read(ctx.join("ca.pem")).unwrap()
    );

    // Chains and purposes: serverAuth only on the server, clientAuth only on the client.
    for (cert, purpose, want) in [
        (&srv, "sslserver", true),
        (&srv, "sslclient", false),
        (&cli, "sslclient", true),
        (&cli, "sslserver", false),
    ] {
        let (good, out) = verify(&ca, cert, &["-purpose", purpose, "-x509_strict"]);
        assert_eq!(
            good,
            want,
            "{key_type} {purpose} on {}: {out}",
            cert.display()
        );
    }
    // SANs: the host and --san names verify, others do not (Go has no CN fallback).
    assert!(verify(&ca, &srv, &["-verify_ip", "127.0.0.1"]).0);
    assert!(verify(&ca, &srv, &["-verify_hostname", "docker.example.com"]).0);
    let (good, out) = verify(&ca, &srv, &["-verify_hostname", "localhost"]);
    assert!(!good && out.contains("hostname mismatch"), "{out}");

    let ca_text = text(&ca);
    assert!(
        ca_text.contains("X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0"),
        "{ca_text}"
    );
    assert!(
        ca_text.contains("X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"),
        "{ca_text}"
    );
    assert!(
        !ca_text.contains("Extended Key Usage"),
        "a CA must carry no EKU: {ca_text}"
    );
    assert!(ca_text.contains("X509v3 Subject Key Identifier"));
    assert!(ca_text.contains(openssl_says), "{key_type}: {ca_text}");

    let srv_text = text(&srv);
    assert!(
        srv_text.contains("IP Address:127.0.0.1, DNS:docker.example.com"),
        "{srv_text}"
    );
    assert!(srv_text.contains("TLS Web Server Authentication"));
    assert!(srv_text.contains("X509v3 Authority Key Identifier"));
    assert!(srv_text.contains("CA:FALSE"));
    assert!(srv_text.contains(openssl_says), "{key_type}: {srv_text}");
    let cli_text = text(&cli);
    assert!(
        cli_text.contains("Subject: OU = role:admin, CN = prod-client"),
        "{cli_text}"
    );
    assert!(cli_text.contains("TLS Web Client Authentication"));

    // Keys match their certificates.
    assert_eq!(
        public_key_of_cert(&srv),
        public_key_of_key(&server.join("server-key.pem"))
    );
    assert_eq!(
        public_key_of_cert(&cli),
        public_key_of_key(&ctx.join("key.pem"))
    );

    // Validity: the client certificate lasts 90 days, the server 397.
    let day = 86_400;
    let checkend = |cert: &Path, secs: u64| {
        openssl(&[
            "x509",
            "-noout",
            "-checkend",
            &secs.to_string(),
            "-in",
            cert.to_str().unwrap(),
        ])
        .status
        .success()
    };
    assert!(checkend(&cli, 89 * day) && !checkend(&cli, 91 * day));
    assert!(checkend(&srv, 396 * day) && !checkend(&srv, 398 * day));
    assert!(checkend(&ca, 3649 * day) && !checkend(&ca, 3651 * day));
}

#[test]
fn ecdsa_p256() {
    check_key_type("ecdsa-p256", "ASN1 OID: prime256v1");
}

#[test]
fn ecdsa_p384() {
    check_key_type("ecdsa-p384", "ASN1 OID: secp384r1");
}

#[test]
fn ed25519() {
    check_key_type("ed25519", "Public Key Algorithm: ED25519");
}

#[test]
fn rsa_2048() {
    check_key_type("rsa-2048", "Public-Key: (2048 bit)");
}

#[test]
fn rsa_3072() {
    check_key_type("rsa-3072", "Public-Key: (3072 bit)");
}

#[test]
fn rsa_4096() {
    check_key_type("rsa-4096", "Public-Key: (4096 bit)");
}
