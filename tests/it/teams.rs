//! Over 600 lines: one area's scenarios over a shared fixture (a dockerd, a host, a keyring); the
//! fixture's helpers would be split with them.
//!
//! Teams (issue 22): `request` → `sign` → `accept` between two
//! configurations, against a real dockerd with the tlsctx-authz plugin;
//! and the requests an attacker would send a signer.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::dockerd::{free_port, stderr};
use crate::common::plugin::daemon_with_plugin;
use crate::common::steps::Steps;
use crate::common::*;

fn failed(o: &Output, want: &[&str]) {
    assert!(!o.status.success(), "succeeded: {}", transcript(o));
    let err = stderr(o);
    for w in want {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `request NAME --host HOST --cn CN --out OUT` in `s`, which must succeed.
fn request(s: &Sandbox, name: &str, host: &str, cn: &str, out: &Path) {
    ok(&s.tlsctx(&["request", name, "--host", host, "--cn", cn, "--out", p(out)]));
}

/// The CA's SHA-256 as `ca ls --format json` gives it.
fn ca_sha256(s: &Sandbox, ca: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&ok(&s.tlsctx(&["ca", "ls", "--format", "json"]))).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == ca)
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The key fingerprint `request` prints for the signer.
fn printed_spki(o: &Output) -> String {
    let err = stderr(o);
    err.lines()
        .find_map(|l| l.trim().strip_prefix("SHA-256 "))
        .unwrap_or_else(|| panic!("no fingerprint in: {err}"))
        .to_string()
}

fn openssl_text(cert: &Path) -> String {
    openssl_ok(&["x509", "-noout", "-text", "-in", p(cert)])
}

#[test]
fn a_request_signed_in_another_configuration_reaches_a_real_dockerd() {
    assert!(
        is_root(),
        "dockerd needs root; run the suite as root (CI does)"
    );
    let owner = Sandbox::new();
    let bob = Sandbox::new();
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    ok(&owner.tlsctx(&["new", "d1", "--host", &host]));
    let bundle = owner.cfg().join("tlsctx/servers/d1");
    let _daemon_and_plugin = daemon_with_plugin(owner.path(), &bundle, port);

    // Bob: a key in his keystore, a request file for it.
    let req = bob.path().join("prod.req");
    let o = bob.tlsctx(&[
        "request",
        "prod",
        "--host",
        &host,
        "--role",
        "admin",
        "--cn",
        "bob",
        "--out",
        p(&req),
    ]);
    ok(&o);
    let spki = printed_spki(&o);
    let o = openssl(&["req", "-in", p(&req), "-noout", "-verify", "-subject"]);
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(
        o.status.success() && all.contains("verify OK") && all.contains("CN = bob"),
        "{all}"
    );
    let ls = ok(&bob.tlsctx(&["ls"]));
    assert!(ls.contains("prod") && ls.contains("pending since"), "{ls}");
    // Not signed yet: no context for docker.
    assert!(!ok(&bob.docker(&["context", "ls", "-q"])).contains("prod"));

    // The owner: shown first, signed with the role granted.
    let resp = owner.path().join("prod.resp");
    let o = owner.tlsctx(&[
        "sign",
        p(&req),
        "--yes",
        "--role",
        "admin",
        "--out",
        p(&resp),
    ]);
    ok(&o);
    assert!(
        stderr(&o).contains(&format!("key SHA-256:  {spki}")),
        "{}",
        stderr(&o)
    );
    let ca_pem = owner.cfg().join("tlsctx/cas/default/ca.pem");
    let v = openssl_ok(&[
        "verify",
        "-CAfile",
        p(&ca_pem),
        "-purpose",
        "sslclient",
        p(&resp),
    ]);
    assert!(v.contains(": OK"), "{v}");

    // Bob accepts, with the CA's fingerprint as read out (colons, upper
    // case); a wrong one first.
    let fp = ca_sha256(&owner, "default");
    failed(
        &bob.tlsctx(&["accept", p(&resp), "--ca-fingerprint", &"ab".repeat(32)]),
        &["not the abab"],
    );
    failed(
        &bob.tlsctx(&["accept", p(&resp)]),
        &["must be confirmed", "--ca-fingerprint"],
    );
    let colons: Vec<String> = fp
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    ok(&bob.tlsctx(&["accept", p(&resp), "--ca-fingerprint", &colons.join(":")]));
    let v = ok(&bob.docker(&[
        "--context",
        "prod",
        "version",
        "--format",
        "{{.Server.Version}}",
    ]));
    assert!(!v.trim().is_empty());
    let ls = ok(&bob.tlsctx(&["ls"]));
    assert!(!ls.contains("pending"), "{ls}");

    // The key is in no file of the signer's side, and in neither file
    // that travelled.
    let key_file = bob.cfg().join("tlsctx/keys/client/prod.key");
    // The file keystore holds DER; a leak could be either form.
    let der = fs::read(&key_file).unwrap();
    let needles = body_lines(&pem::encode(&pem::Pem::new("PRIVATE KEY", der.clone())));
    assert!(!needles.is_empty());
    let mut files = all_files(owner.path());
    files.extend([req.clone(), resp.clone()]);
    for f in files {
        let bytes = fs::read(&f).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        for n in &needles {
            assert!(!text.contains(n.as_str()), "bob's key in {}", f.display());
        }
        assert!(
            !bytes.windows(der.len()).any(|w| w == der.as_slice()),
            "bob's key (DER) in {}",
            f.display()
        );
    }
    // No copy left under request/.
    assert!(all_files(&bob.cfg().join("tlsctx/keys/request")).is_empty());

    // Renewal: a request for the same key; signed with the role it had;
    // accepted without asking again; the context swapped.
    let req2 = bob.path().join("prod2.req");
    ok(&bob.tlsctx(&["renew", "prod", "--out", p(&req2)]));
    let resp2 = owner.path().join("prod2.resp");
    let o = owner.tlsctx(&["sign", p(&req2), "--yes", "--out", p(&resp2)]);
    ok(&o);
    assert!(
        stderr(&o).contains("renews:") && stderr(&o).contains("role:         admin"),
        "{}",
        stderr(&o)
    );
    let out = ok(&bob.tlsctx(&["accept", p(&resp2)]));
    assert!(out.contains("Renewed context \"prod\""), "{out}");
    ok(&bob.docker(&["--context", "prod", "version"]));
    let issued: serde_json::Value =
        serde_json::from_str(&ok(&owner.tlsctx(&["ca", "issued", "--format", "json"]))).unwrap();
    let signed: Vec<_> = issued["issued"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "signed request")
        .collect();
    assert_eq!(signed.len(), 2, "{issued}");
    assert!(signed
        .iter()
        .all(|i| i["cn"] == "bob" && i["role"] == "admin"));

    // Issue 30: a renewal signed with another role revokes the certificate
    // it renews at once; before, the demoted admin certificate stayed admin
    // until it expired. Bob's context still holds it: refused now.
    let req3 = bob.path().join("prod3.req");
    ok(&bob.tlsctx(&["renew", "prod", "--out", p(&req3)]));
    let resp3 = owner.path().join("prod3.resp");
    let o = owner.tlsctx(&[
        "sign",
        p(&req3),
        "--yes",
        "--role",
        "read-only",
        "--out",
        p(&resp3),
    ]);
    ok(&o);
    assert!(
        stderr(&o).contains("Revoked the certificate it renews")
            && stderr(&o).contains("reason superseded"),
        "{}",
        stderr(&o)
    );
    let o = bob.docker(&["--context", "prod", "ps"]);
    assert!(
        !o.status.success() && stderr(&o).contains("revoked"),
        "{}",
        transcript(&o)
    );
    ok(&bob.tlsctx(&["accept", p(&resp3)]));
    ok(&bob.docker(&["--context", "prod", "ps"]));
    let o = bob.docker(&["--context", "prod", "volume", "create", "v1"]);
    assert!(
        !o.status.success() && stderr(&o).contains("has role read-only"),
        "{}",
        transcript(&o)
    );

    // Both admin certificates went with the role change.
    let issued = ok(&owner.tlsctx(&["ca", "issued"]));
    assert_eq!(issued.matches("revoked").count(), 2, "{issued}");

    // Revoked by its CN: the plugin refuses bob, the owner's own context
    // still works.
    let out = ok(&owner.tlsctx(&["revoke", "bob"]));
    assert!(out.contains("Revoked \"bob\" (CN bob"), "{out}");
    let o = bob.docker(&["--context", "prod", "ps"]);
    assert!(!o.status.success(), "{}", transcript(&o));
    assert!(stderr(&o).contains("revoked"), "{}", stderr(&o));
    ok(&owner.docker(&["--context", "d1", "ps"]));
    let issued = ok(&owner.tlsctx(&["ca", "issued"]));
    assert_eq!(issued.matches("revoked").count(), 3, "{issued}");
}

/// An openssl key and CSR with what an attacker would ask for.
fn openssl_csr(dir: &Path, name: &str, key_args: &[&str], subj: &str, exts: &[&str]) -> PathBuf {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let mut args = vec!["req", "-new", "-newkey"];
    args.extend_from_slice(key_args);
    args.extend(["-nodes", "-keyout", p(&key), "-out", p(&csr), "-subj", subj]);
    for e in exts {
        args.extend(["-addext", e]);
    }
    openssl_ok(&args);
    csr
}

#[test]
fn hostile_requests_are_refused_or_stripped() {
    let owner = Sandbox::new();
    ok(&owner.tlsctx(&["new", "d1", "--host", "tcp://10.0.0.1:2376"]));
    let d = owner.path();
    let mut steps = Steps::new("hostile_requests_are_refused_or_stripped");

    // Everything a signer must not copy: CA:TRUE, serverAuth, SANs, a
    // role in the subject. Signed with policy only, each shown as ignored.
    let evil = openssl_csr(
        d,
        "evil",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=eve/OU=role:admin/O=Evil Corp",
        &[
            "basicConstraints=critical,CA:TRUE",
            "extendedKeyUsage=serverAuth,clientAuth",
            "subjectAltName=DNS:evil.example,IP:10.0.0.1",
        ],
    );
    steps.check(
        "a SHA-1-signed request is refused (issue 30: it was signed)",
        || {
            let sha1 = d.join("sha1.csr");
            let sha1_key = d.join("sha1.key");
            openssl_ok(&[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                p(&sha1_key),
                "-out",
                p(&sha1),
                "-subj",
                "/CN=old",
                "-sha1",
            ]);
            failed(
                &owner.tlsctx(&["sign", p(&sha1), "--yes", "--out", p(&d.join("sha1.resp"))]),
                &["is not a SHA-2 signature for its ecdsa-p256 key"],
            );
            assert!(!d.join("sha1.resp").exists());
        },
    );
    steps.setup(
        "CA:TRUE, serverAuth, SANs and a role in the request are shown as ignored and not signed",
        || {
            let out = d.join("evil.resp");
            let o = owner.tlsctx(&["sign", p(&evil), "--yes", "--out", p(&out)]);
            ok(&o);
            let err = stderr(&o);
            for w in [
                "subject OU=role:admin",
                "subject O=Evil Corp",
                "basicConstraints CA:TRUE",
                "extendedKeyUsage serverAuth, clientAuth",
                "subjectAltName DNS:evil.example, IP:10.0.0.1",
                "role:         read-only",
            ] {
                assert!(err.contains(w), "{w:?} not in: {err}");
            }
            let text = openssl_text(&out);
            assert!(
                text.contains("Subject: OU = role:read-only, CN = eve"),
                "{text}"
            );
            assert!(
                text.contains("CA:FALSE") && !text.contains("CA:TRUE"),
                "{text}"
            );
            assert!(
                text.contains("TLS Web Client Authentication")
                    && !text.contains("Server Authentication"),
                "{text}"
            );
            assert!(
                !text.contains("evil.example") && !text.contains("Alternative Name"),
                "{text}"
            );
            assert!(!text.contains("Evil Corp"), "{text}");
        },
    );

    let again = openssl_csr(
        d,
        "again",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=eve",
        &[],
    );
    // The one just signed, and the owner's own context's.
    steps.check("a CN that a live identity of the CA has is refused", || {
        failed(
            &owner.tlsctx(&["sign", p(&again), "--yes", "--out", p(&d.join("a.resp"))]),
            &["CN \"eve\" already names", "--cn"],
        );
        failed(
            &owner.tlsctx(&[
                "sign",
                p(&again),
                "--yes",
                "--cn",
                "d1-client",
                "--out",
                p(&d.join("a.resp")),
            ]),
            &["CN \"d1-client\" already names \"d1\""],
        );
        assert!(!d.join("a.resp").exists());
    });
    // The attacker's review signed all three.
    steps.check("another spelling of a CN in use (case, an invisible character, a trailing space) is refused", || {
    failed(
        &owner.tlsctx(&[
            "sign",
            p(&again),
            "--yes",
            "--cn",
            "EVE",
            "--out",
            p(&d.join("a.resp")),
        ]),
        &["CN \"EVE\" already names"],
    );
    for cn in ["eve\u{200b}", "e\u{202e}ve", "eve "] {
        failed(
            &owner.tlsctx(&[
                "sign",
                p(&again),
                "--yes",
                "--cn",
                cn,
                "--out",
                p(&d.join("a.resp")),
            ]),
            &["--cn is invalid"],
        );
    }
    assert!(!d.join("a.resp").exists());
    });
    // Attacker review: `bob<TAB>` was signed.
    steps.check(
        "a CN with a control character in the request is refused, not cleaned up and signed",
        || {
            let tab = openssl_csr(
                d,
                "tab",
                &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                "/CN=tabby\t",
                &[],
            );
            failed(
                &owner.tlsctx(&["sign", p(&tab), "--yes", "--out", p(&d.join("t.resp"))]),
                &["control character"],
            );
            assert!(!d.join("t.resp").exists());
        },
    );
    steps.check(
        "a host in the envelope that would draw on the signer's terminal is refused, not shown",
        || {
            let bob0 = Sandbox::new();
            let hreq = d.join("host.req");
            request(&bob0, "hh", "tcp://10.0.0.1:2376", "henry", &hreq);
            let text = fs::read_to_string(&hreq).unwrap().replace(
                "\"host\":\"tcp://10.0.0.1:2376\"",
                "\"host\":\"tcp://10.0.0.1:2376\\n  role:         admin\\u001b[1A\"",
            );
            assert!(text.contains("role:         admin"));
            fs::write(&hreq, text).unwrap();
            let o = owner.tlsctx(&["sign", p(&hreq), "--yes", "--out", p(&d.join("h.resp"))]);
            failed(&o, &["is not tcp://HOST[:PORT]"]);
            assert!(!stderr(&o).contains('\u{1b}'), "{}", stderr(&o));
        },
    );

    steps.check("a weak key is refused", || {
        let weak = openssl_csr(d, "weak", &["rsa:1024"], "/CN=weak", &[]);
        failed(
            &owner.tlsctx(&["sign", p(&weak), "--yes"]),
            &["the request's key is rsa-1024"],
        );
    });

    // One bit of the public key changed: the request then does not prove
    // that anyone holds that key.
    steps.check(
        "a request whose signature does not verify is refused",
        || {
            let pem_text = fs::read_to_string(&again).unwrap();
            let block = pem::parse(&pem_text).unwrap();
            let mut der = block.contents().to_vec();
            // Inside the P-256 point (BIT STRING 03 42 00, then 04 and x, y).
            let at = der
                .windows(4)
                .position(|w| w == [0x03, 0x42, 0x00, 0x04])
                .expect("a P-256 public key in the request");
            der[at + 20] ^= 1;
            let bad = d.join("bad.csr");
            fs::write(
                &bad,
                pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der)),
            )
            .unwrap();
            failed(
                &owner.tlsctx(&["sign", p(&bad), "--yes", "--cn", "mallory"]),
                &["its signature does not verify with its own key"],
            );
        },
    );
    steps.check(
        "a file that is no request, or oversized, is refused",
        || {
            fs::write(d.join("junk"), "hello").unwrap();
            failed(
                &owner.tlsctx(&["sign", p(&d.join("junk")), "--yes"]),
                &["no CERTIFICATE REQUEST"],
            );
            fs::write(d.join("big"), vec![b'A'; 70_000]).unwrap();
            failed(
                &owner.tlsctx(&["sign", p(&d.join("big")), "--yes"]),
                &["larger than"],
            );
        },
    );
    steps.check("with no terminal and no --yes, nothing is signed", || {
        let fresh = openssl_csr(
            d,
            "fresh",
            &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "/CN=frank",
            &[],
        );
        failed(
            &owner.tlsctx(&["sign", p(&fresh), "--out", p(&d.join("f.resp"))]),
            &["--yes"],
        );
        assert!(!d.join("f.resp").exists());
    });

    let bob = Sandbox::new();
    let carol = Sandbox::new();
    let fp = ca_sha256(&owner, "default");
    let bresp = d.join("bob.resp");
    steps.setup("bob's and carol's requests, and bob's signed", || {
        let breq = d.join("bob.req");
        let creq = d.join("carol.req");
        request(&bob, "prod", "tcp://10.0.0.1:2376", "bob", &breq);
        request(&carol, "prod", "tcp://10.0.0.1:2376", "carol", &creq);
        ok(&owner.tlsctx(&["sign", p(&breq), "--yes", "--out", p(&bresp)]));
    });
    steps.check(
        "accept refuses a response for a key none of the pending requests holds",
        || {
            failed(
                &carol.tlsctx(&["accept", p(&bresp), "--ca-fingerprint", &fp]),
                &["for a key none of your pending requests holds"],
            );
        },
    );
    steps.check(
        "accept refuses a certificate with another CA put beside it",
        || {
            ok(&owner.tlsctx(&["ca", "init", "--name", "other"]));
            let other = fs::read_to_string(owner.cfg().join("tlsctx/cas/other/ca.pem")).unwrap();
            let text = fs::read_to_string(&bresp).unwrap();
            let first_end = text.find("-----END CERTIFICATE-----").unwrap()
                + "-----END CERTIFICATE-----\n".len();
            let swapped = d.join("swapped.resp");
            fs::write(&swapped, format!("{}{}", &text[..first_end], other)).unwrap();
            let other_fp = ca_sha256(&owner, "other");
            failed(
                &bob.tlsctx(&["accept", p(&swapped), "--ca-fingerprint", &other_fp]),
                &["not signed by the CA it came with"],
            );
        },
    );
    steps.setup(
        "nothing was written by the refusals, and the real response is accepted",
        || {
            assert!(!bob.cfg().join("tlsctx/identities/prod.json").exists());
            ok(&bob.tlsctx(&["accept", p(&bresp), "--ca-fingerprint", &fp]));
            assert!(bob.cfg().join("tlsctx/identities/prod.json").exists());
        },
    );
    // A signer trusted for one daemon must not answer another request.
    steps.check(
        "a CA recorded once is confirmed again for the next request",
        || {
            let breq2 = d.join("bob2.req");
            request(&bob, "prod2", "tcp://10.0.0.2:2376", "bob2", &breq2);
            let bresp2 = d.join("bob2.resp");
            ok(&owner.tlsctx(&[
                "sign",
                p(&breq2),
                "--yes",
                "--role",
                "admin",
                "--out",
                p(&bresp2),
            ]));
            failed(
                &bob.tlsctx(&["accept", p(&bresp2)]),
                &["must be confirmed", "--ca-fingerprint"],
            );
            ok(&bob.tlsctx(&["accept", p(&bresp2), "--ca-fingerprint", &fp]));
        },
    );
    steps.check(
        "a keychain-only context accepted points at the agent, and no key.pem is written",
        || {
            let kreq = d.join("k.req");
            ok(&carol.tlsctx(&[
                "request",
                "kc",
                "--host",
                "tcp://10.0.0.3:2376",
                "--cn",
                "carol-kc",
                "--keychain-only",
                "--out",
                p(&kreq),
            ]));
            let kresp = d.join("k.resp");
            ok(&owner.tlsctx(&["sign", p(&kreq), "--yes", "--out", p(&kresp)]));
            ok(&carol.tlsctx(&["accept", p(&kresp), "--ca-fingerprint", &fp]));
            let host = ok(&carol.docker(&[
                "context",
                "inspect",
                "kc",
                "--format",
                "{{.Endpoints.docker.Host}}",
            ]));
            assert!(host.trim().starts_with("unix://"), "{host}");
            assert!(
                !all_files(&carol.cfg().join("contexts"))
                    .iter()
                    .any(|f| f.ends_with("key.pem")),
                "a key.pem for a keychain-only context"
            );
        },
    );
    steps.check(
        "a request name already taken is refused without --force",
        || {
            failed(
                &bob.tlsctx(&[
                    "request",
                    "prod",
                    "--host",
                    "tcp://10.0.0.1:2376",
                    "--out",
                    p(&d.join("x.req")),
                ]),
                &["already taken"],
            );
        },
    );
    steps.check("rm of a pending request removes its record and key", || {
        ok(&carol.tlsctx(&["rm", "prod"]));
        assert!(all_files(&carol.cfg().join("tlsctx/keys/request")).is_empty());
        assert!(!ok(&carol.tlsctx(&["ls"])).contains("pending"));
    });
    steps.done();
}

/// Issue 30: a signer's CA whose subject holds a line break, a fake
/// `SHA-256 <the real fingerprint>` line and an escape sequence that hides
/// the real one got a `y`: `accept` printed the subject raw before the
/// fingerprint it computed. Now the computed fingerprint comes first and
/// the subject is one line with its control characters made harmless.
#[test]
fn accept_shows_its_own_fingerprint_before_the_cas_words() {
    let d = Sandbox::new();
    let bob = Sandbox::new();
    let req = d.path().join("bob.req");
    request(&bob, "prod", "tcp://10.0.0.1:2376", "bob", &req);
    // The attacker's CA and the certificate it signs for bob's key, by
    // openssl. The genuine fingerprint they imitate is any other CA's.
    let genuine = Sandbox::new();
    ok(&genuine.tlsctx(&["ca", "init"]));
    let real_fp = ca_sha256(&genuine, "default");
    let w = d.path();
    let key = w.join("evil-ca.key");
    let ca = w.join("evil-ca.pem");
    // localityName allows 128 characters (CN only 64).
    let subject = format!("/CN=Team CA/L=\n  SHA-256 {real_fp}\n\u{1b}[2K\u{1b}[1A\u{1b}[2K");
    let o = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        p(&key),
        "-out",
        p(&ca),
        "-days",
        "30",
        "-utf8",
        "-subj",
        &subject,
        "-addext",
        "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    assert!(o.status.success(), "{}", transcript(&o));
    let text = fs::read_to_string(&req).unwrap();
    let start = text.find("-----BEGIN CERTIFICATE REQUEST-----").unwrap();
    let csr = w.join("bob.csr");
    fs::write(&csr, &text[start..]).unwrap();
    let ext = w.join("ext.cnf");
    fs::write(&ext, "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n").unwrap();
    let cert = w.join("bob.pem");
    let o = openssl(&[
        "x509",
        "-req",
        "-in",
        p(&csr),
        "-CA",
        p(&ca),
        "-CAkey",
        p(&key),
        "-set_serial",
        "0x1234",
        "-days",
        "10",
        "-extfile",
        p(&ext),
        "-out",
        p(&cert),
        "-subj",
        "/OU=role:admin/CN=bob",
    ]);
    assert!(o.status.success(), "{}", transcript(&o));
    let der = openssl(&["x509", "-in", p(&ca), "-outform", "DER"]).stdout;
    let evil_fp = {
        use sha2::Digest;
        sha2::Sha256::digest(&der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let envelope = serde_json::json!({
        "kind": "docker-tlsctx response",
        "version": 1,
        "name": "prod",
        "host": "tcp://10.0.0.1:2376",
        "ca_sha256": evil_fp,
        "cn": "bob",
        "role": "admin",
        "serial": "1234",
        "not_after": "2030-01-01T00:00:00Z",
    });
    let resp = w.join("evil.resp");
    fs::write(
        &resp,
        format!(
            "{envelope}\n{}{}",
            fs::read_to_string(&cert).unwrap(),
            fs::read_to_string(&ca).unwrap()
        ),
    )
    .unwrap();
    let o = bob.tlsctx(&["accept", p(&resp)]);
    assert!(!o.status.success(), "{}", transcript(&o));
    let err = stderr(&o);
    // The first fingerprint shown is the one computed here, and the
    // imitated one never starts a line of its own.
    let first = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("SHA-256 "))
        .unwrap_or_else(|| panic!("no fingerprint shown: {err}"));
    assert_eq!(first, evil_fp, "{err}");
    assert!(
        !err.lines()
            .any(|l| l.trim() == format!("SHA-256 {real_fp}")),
        "{err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "an escape reached the terminal: {err:?}"
    );
    assert!(!bob.cfg().join("tlsctx/identities/prod.json").exists());
}

/// Issue 30: a request's envelope could name the signer's own context
/// (`prod`): `sign` recorded it under that name without showing it, and
/// `revoke prod` then revoked the signer's identity while the signed one
/// stayed valid. Now it is recorded under a name of its own, shown before
/// signing, and the requester still accepts it under theirs.
#[test]
fn an_envelope_cannot_take_the_signers_own_name() {
    let owner = Sandbox::new();
    let bob = Sandbox::new();
    ok(&owner.tlsctx(&["new", "prod", "--host", "tcp://10.0.0.1:2376"]));
    let req = bob.path().join("prod.req");
    request(&bob, "prod", "tcp://10.0.0.1:2376", "bob", &req);
    let resp = owner.path().join("prod.resp");
    let o = owner.tlsctx(&["sign", p(&req), "--yes", "--out", p(&resp)]);
    ok(&o);
    let err = stderr(&o);
    let recorded = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("recorded as:"))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no name shown: {err}"))
        .to_string();
    assert!(recorded.starts_with("signed-"), "{err}");
    assert!(err.contains("the request calls itself \"prod\""), "{err}");
    let fp = ca_sha256(&owner, "default");
    ok(&bob.tlsctx(&["accept", p(&resp), "--ca-fingerprint", &fp]));
    assert!(bob.cfg().join("tlsctx/identities/prod.json").exists());
    // revoke by the recorded name reaches bob's certificate, and the
    // signer's own prod is untouched.
    let out = ok(&owner.tlsctx(&["revoke", &recorded]));
    assert!(out.contains("CN bob"), "{out}");
    let ls = ok(&owner.tlsctx(&["ls"]));
    assert!(
        ls.lines()
            .any(|l| l.starts_with("prod ") && !l.contains("revoked")),
        "{ls}"
    );
    // A name of hex digits could be one of our serials, which revoke looks
    // up first (found by review: named after the daemon's server
    // certificate serial, `revoke NAME` revoked the server certificate).
    let serial: serde_json::Value = serde_json::from_slice(
        &fs::read(owner.cfg().join("tlsctx/servers/prod/server.json")).unwrap(),
    )
    .unwrap();
    let serial = serial["serial"].as_str().unwrap().to_string();
    let mal = Sandbox::new();
    let mreq = mal.path().join("m.req");
    request(&mal, &serial, "tcp://10.0.0.1:2376", "mallory", &mreq);
    let o = owner.tlsctx(&[
        "sign",
        p(&mreq),
        "--yes",
        "--out",
        p(&owner.path().join("m.resp")),
    ]);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("recorded as:  signed-") && err.contains(&format!("calls itself {serial:?}")),
        "{err}"
    );
}

/// Issue 30: the CN of an accepted certificate is the signer's choice. A
/// signer holding the right CA key (another tool, openssl by hand) could
/// give bob a second identity whose CN reads as the first one, or one in
/// decomposed form: `accept` holds it to the rules `new` and `sign` follow.
#[test]
fn accept_refuses_a_cn_that_passes_for_another_identity() {
    let owner = Sandbox::new();
    let bob = Sandbox::new();
    ok(&owner.tlsctx(&["ca", "init"]));
    let fp = ca_sha256(&owner, "default");
    let req = bob.path().join("p1.req");
    request(&bob, "p1", "tcp://10.0.0.1:2376", "bob", &req);
    let resp = owner.path().join("p1.resp");
    ok(&owner.tlsctx(&["sign", p(&req), "--yes", "--out", p(&resp)]));
    ok(&bob.tlsctx(&["accept", p(&resp), "--ca-fingerprint", &fp]));

    // The same CA's key, used by hand.
    let w = owner.path();
    let ca_key = owner.cfg().join("tlsctx/keys/ca/default.key");
    let ca_pem = owner.cfg().join("tlsctx/cas/default/ca.pem");
    for (i, (cn, why)) in [
        // Cyrillic о in place of the Latin o.
        ("b\u{43e}b", "reads as that of \"p1\""),
        // é as e and a combining accent.
        ("be\u{301}b", "composed form (NFC)"),
        // Two CNs: Go (dockerd's logs) takes the last one, bob (found by
        // review).
        ("carol|bob", "its subject has 2 common names"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("p{}", i + 2);
        let req = bob.path().join(format!("{name}.req"));
        request(&bob, &name, "tcp://10.0.0.1:2376", "x", &req);
        let text = fs::read_to_string(&req).unwrap();
        let start = text.find("-----BEGIN CERTIFICATE REQUEST-----").unwrap();
        let csr = w.join(format!("{name}.csr"));
        fs::write(&csr, &text[start..]).unwrap();
        let cert = w.join(format!("{name}.pem"));
        // openssl x509 -subj takes Latin-1: Python's cryptography writes the
        // CN as UTF8String.
        let script = r#"
import sys, datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
csr_path, ca_path, key_path, out, cn, serial = sys.argv[1:]
csr = x509.load_pem_x509_csr(open(csr_path, "rb").read())
ca = x509.load_pem_x509_certificate(open(ca_path, "rb").read())
key = serialization.load_der_private_key(open(key_path, "rb").read(), None)
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder()
    .subject_name(x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "role:admin")]
        + [x509.NameAttribute(NameOID.COMMON_NAME, c) for c in cn.split("|")]))
    .issuer_name(ca.subject).public_key(csr.public_key())
    .serial_number(int(serial, 16))
    .not_valid_before(now - datetime.timedelta(minutes=1))
    .not_valid_after(now + datetime.timedelta(days=10))
    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    .sign(key, hashes.SHA256()))
open(out, "wb").write(cert.public_bytes(serialization.Encoding.PEM))
"#;
        let o = std::process::Command::new(require("python3"))
            .args(["-c", script, p(&csr), p(&ca_pem), p(&ca_key), p(&cert), cn])
            .arg(format!("77{i}1"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", transcript(&o));
        let envelope = serde_json::json!({
            "kind": "docker-tlsctx response",
            "version": 1,
            "name": name,
            "host": "tcp://10.0.0.1:2376",
            "ca_sha256": fp,
            "cn": cn,
            "role": "admin",
            "serial": format!("77{i}1"),
            "not_after": "2030-01-01T00:00:00Z",
        });
        let resp = w.join(format!("{name}.resp"));
        fs::write(
            &resp,
            format!(
                "{envelope}\n{}{}",
                fs::read_to_string(&cert).unwrap(),
                fs::read_to_string(&ca_pem).unwrap()
            ),
        )
        .unwrap();
        failed(&bob.tlsctx(&["accept", p(&resp)]), &[why]);
        assert!(!bob
            .cfg()
            .join(format!("tlsctx/identities/{name}.json"))
            .exists());
    }
}
