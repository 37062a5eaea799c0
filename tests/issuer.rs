//! OpenBao's PKI secrets engine as the CA (issue 22): a real `bao server
//! -dev -dev-tls`, a real dockerd trusting the engine's CA with the
//! tlsctx-authz plugin, and the docker CLI.

mod common;

use std::fs;
use std::process::Output;

use common::bao::Bao;
use common::dockerd::{free_port, stderr};
use common::plugin::daemon_with_plugin;
use common::*;

fn failed(o: &Output, want: &[&str]) {
    assert!(!o.status.success(), "succeeded: {}", transcript(o));
    let err = stderr(o);
    for w in want {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
}

fn serial(s: &Sandbox, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(s.cfg().join(format!("tlsctx/identities/{name}.json"))).unwrap(),
    )
    .unwrap();
    v["serial"].as_str().unwrap().to_string()
}

#[test]
fn an_openbao_issuer_signs_what_a_real_dockerd_trusts() {
    assert!(
        is_root(),
        "dockerd needs root; run the suite as root (CI does)"
    );
    let s = Sandbox::new();
    let bao = Bao::start(s.path());
    let (role_id, secret_id) = bao.set_up_pki();
    let ca_file = bao.ca_file.to_str().unwrap().to_string();
    let add = |name: &str, extra: &[&str], stdin: &str| {
        let mut args = vec!["issuer", "add", name, "--url", bao.url.as_str()];
        args.extend_from_slice(extra);
        with_stdin(s.tlsctx_cmd(&args), stdin)
    };

    // The engine's TLS CA not given: its certificate is not trusted.
    failed(
        &add("team", &["--client-role", "client"], "root\n"),
        &["presented a certificate that is not trusted", "--ca-file"],
    );
    // AppRole: the role_id as a flag, the secret_id on stdin only.
    let sampler = ArgvSampler::start();
    let o = add(
        "team",
        &[
            "--client-role",
            "client",
            "--server-role",
            "server",
            "--auth",
            "approle",
            "--role-id",
            &role_id,
            "--ca-file",
            &ca_file,
        ],
        &format!("{secret_id}\n"),
    );
    let out = ok(&o);
    assert!(
        out.contains("AppRole secret_id kept in the file keystore"),
        "{out}"
    );
    // Its secret is in the keystore, not in any record.
    for f in all_files(&s.cfg().join("tlsctx")) {
        if f.starts_with(s.cfg().join("tlsctx/keys")) {
            continue;
        }
        let text = String::from_utf8_lossy(&fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains(&secret_id), "secret_id in {}", f.display());
    }

    // A context and its daemon's bundle, both signed by the engine.
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let o = s.tlsctx(&["new", "d1", "--host", &host, "--issuer", "team"]);
    ok(&o);
    let bundle = s.cfg().join("tlsctx/servers/d1");
    let issuer = openssl_ok(&[
        "x509",
        "-noout",
        "-issuer",
        "-in",
        bundle.join("server-cert.pem").to_str().unwrap(),
    ]);
    assert!(issuer.contains("team CA"), "{issuer}");
    let _daemon_and_plugin = daemon_with_plugin(s.path(), &bundle, port);
    ok(&s.docker(&["--context", "d1", "version"]));

    // Renewal goes through the engine too.
    let before = serial(&s, "d1");
    ok(&s.tlsctx(&["renew", "d1"]));
    assert_ne!(serial(&s, "d1"), before);
    ok(&s.docker(&["--context", "d1", "ps"]));

    // A lifetime the role caps is said, not silent.
    ok(&with_stdin(
        s.tlsctx_cmd(&[
            "issuer",
            "add",
            "capped",
            "--url",
            &bao.url,
            "--client-role",
            "short",
            "--ca-file",
            &ca_file,
        ]),
        "root\n",
    ));
    // The environment's token is not sent to an issuer that has its own
    // (it may be another engine's): a wrong one here changes nothing.
    let mut c = s.tlsctx_cmd(&[
        "new",
        "capped1",
        "--host",
        &host,
        "--no-server",
        "--issuer",
        "capped",
        "--days",
        "90",
    ]);
    c.env("BAO_TOKEN", "some-other-engines-token");
    let o = c.output().unwrap();
    ok(&o);
    assert!(
        stderr(&o).contains("not the 90 days asked: role \"short\" caps the lifetime"),
        "{}",
        stderr(&o)
    );

    // Revoked at the engine: its CRL goes into the bundle, and the plugin
    // refuses that identity at once; d1 still works.
    ok(&s.tlsctx(&[
        "new",
        "bob",
        "--host",
        &host,
        "--no-server",
        "--issuer",
        "team",
    ]));
    ok(&s.docker(&["--context", "bob", "ps"]));
    let bob_serial = serial(&s, "bob");
    ok(&s.tlsctx(&["revoke", "bob"]));
    let crl = openssl_ok(&[
        "crl",
        "-noout",
        "-text",
        "-in",
        bundle.join("crl.pem").to_str().unwrap(),
    ]);
    assert!(
        crl.to_uppercase().contains(&bob_serial.to_uppercase()),
        "{bob_serial} not in the engine's CRL: {crl}"
    );
    let listed = bao.run(&["list", "pki/certs/revoked"]);
    assert!(!listed.trim().is_empty(), "the engine lists no revocation");
    let mut refused = false;
    for _ in 0..50 {
        let o = s.docker(&["--context", "bob", "ps"]);
        if !o.status.success() && stderr(&o).contains("revoked") {
            refused = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(refused, "the plugin did not refuse bob");
    ok(&s.docker(&["--context", "d1", "ps"]));

    // A CA file that never ends or never opens: refused at once, not read
    // until memory runs out or blocked on a FIFO (attacker review).
    let fifo = s.path().join("fifo");
    ok(&std::process::Command::new("mkfifo")
        .arg(&fifo)
        .output()
        .unwrap());
    for bad in ["/dev/zero", fifo.to_str().unwrap()] {
        let t = std::time::Instant::now();
        failed(
            &with_stdin(
                s.tlsctx_cmd(&[
                    "issuer",
                    "add",
                    "zz",
                    "--url",
                    &bao.url,
                    "--client-role",
                    "client",
                    "--ca-file",
                    bad,
                ]),
                "root\n",
            ),
            &["not a regular file"],
        );
        assert!(t.elapsed().as_secs() < 5, "{bad}: {:?}", t.elapsed());
    }
    // No token piped in: refused, unless the environment is asked for.
    failed(
        &with_stdin(
            s.tlsctx_cmd(&[
                "issuer",
                "add",
                "envy",
                "--url",
                &bao.url,
                "--client-role",
                "client",
                "--ca-file",
                &ca_file,
            ]),
            "",
        ),
        &["no token on standard input", "--token-from-env"],
    );
    // A token without the policy, and a role that refuses the CN.
    let weak = bao.powerless_token();
    ok(&with_stdin(
        s.tlsctx_cmd(&[
            "issuer",
            "add",
            "weak",
            "--url",
            &bao.url,
            "--client-role",
            "client",
            "--ca-file",
            &ca_file,
        ]),
        &format!("{weak}\n"),
    ));
    failed(
        &s.tlsctx(&[
            "new",
            "w1",
            "--host",
            &host,
            "--no-server",
            "--issuer",
            "weak",
        ]),
        &["permission denied", "policy does not allow"],
    );
    assert!(!s.cfg().join("tlsctx/identities/w1.json").exists());
    ok(&with_stdin(
        s.tlsctx_cmd(&[
            "issuer",
            "add",
            "strict",
            "--url",
            &bao.url,
            "--client-role",
            "strict",
            "--ca-file",
            &ca_file,
        ]),
        "root\n",
    ));
    failed(
        &s.tlsctx(&[
            "new",
            "st1",
            "--host",
            &host,
            "--no-server",
            "--issuer",
            "strict",
            "--cn",
            "mallory",
        ]),
        &["refused", "mallory"],
    );
    // The secrets never reached a command line.
    let (hits, seen) = sampler.finish(&[secret_id.clone(), weak.clone()], "--issuer");
    assert!(hits.is_empty(), "a secret on argv: {hits:?}");
    assert!(seen > 0, "the sampler saw none of our commands");

    // Automatic renewal goes through the engine too; the revoked identity
    // is left alone.
    let before = serial(&s, "d1");
    let o = s.tlsctx(&["renew", "--due", "--before", "900d"]);
    ok(&o);
    let err = stderr(&o);
    assert!(err.contains("context \"d1\": renewed"), "{err}");
    assert!(
        err.contains("context \"bob\": left alone: revoked"),
        "{err}"
    );
    assert_ne!(serial(&s, "d1"), before);
    ok(&s.docker(&["--context", "d1", "ps"]));

    // A sealed engine, then one that is gone: said, nothing written.
    bao.run(&["operator", "seal"]);
    failed(
        &s.tlsctx(&[
            "new",
            "z1",
            "--host",
            &host,
            "--no-server",
            "--issuer",
            "capped",
        ]),
        &["the engine is sealed", "unseal"],
    );
    drop(bao);
    failed(
        &s.tlsctx(&[
            "new",
            "z2",
            "--host",
            &host,
            "--no-server",
            "--issuer",
            "capped",
        ]),
        &["cannot be reached"],
    );
    assert!(!s.cfg().join("tlsctx/identities/z1.json").exists());
    assert!(!s.cfg().join("tlsctx/identities/z2.json").exists());
}
