//! Over 600 lines: one area's scenarios over a shared fixture (a dockerd, a host, a keyring); the
//! fixture's helpers would be split with them.
//!
//! OpenBao's PKI secrets engine as the CA (issue 22): a real `bao server
//! -dev -dev-tls`, a real dockerd trusting the engine's CA with the
//! tlsctx-authz plugin, and the docker CLI.

use std::fs;
use std::process::Output;

use crate::common::bao::Bao;
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

    let mut steps = Steps::new("an_openbao_issuer_signs_what_a_real_dockerd_trusts");
    steps.check(
        "without the engine's TLS CA, its certificate is not trusted",
        || {
            failed(
                &add("team", &["--client-role", "client"], "root\n"),
                &["presented a certificate that is not trusted", "--ca-file"],
            );
        },
    );
    let sampler = ArgvSampler::start();
    steps.setup(
        "an AppRole issuer: the role_id as a flag, the secret_id on stdin only",
        || {
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
        },
    );
    steps.check("its secret is in the keystore, not in any record", || {
        for f in all_files(&s.cfg().join("tlsctx")) {
            if f.starts_with(s.cfg().join("tlsctx/keys")) {
                continue;
            }
            let text = String::from_utf8_lossy(&fs::read(&f).unwrap()).into_owned();
            assert!(!text.contains(&secret_id), "secret_id in {}", f.display());
        }
    });

    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let bundle = s.cfg().join("tlsctx/servers/d1");
    let _daemon_and_plugin = steps.setup(
        "a context and its daemon's bundle, both signed by the engine, reach a real dockerd",
        || {
            let o = s.tlsctx(&["new", "d1", "--host", &host, "--issuer", "team"]);
            ok(&o);
            let issuer = openssl_ok(&[
                "x509",
                "-noout",
                "-issuer",
                "-in",
                bundle.join("server-cert.pem").to_str().unwrap(),
            ]);
            assert!(issuer.contains("team CA"), "{issuer}");
            let daemon_and_plugin = daemon_with_plugin(s.path(), &bundle, port);
            ok(&s.docker(&["--context", "d1", "version"]));
            daemon_and_plugin
        },
    );

    steps.check("renewal goes through the engine too", || {
        let before = serial(&s, "d1");
        ok(&s.tlsctx(&["renew", "d1"]));
        assert_ne!(serial(&s, "d1"), before);
        ok(&s.docker(&["--context", "d1", "ps"]));
    });

    steps.setup("an issuer whose role caps the lifetime", || {
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
    });
    // The environment's token is not sent to an issuer that has its own
    // (it may be another engine's): a wrong one here changes nothing.
    steps.check(
        "a lifetime the role caps is said, and the environment's token is not sent",
        || {
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
        },
    );

    // Revoked at the engine: its CRL goes into the bundle, and the plugin
    // refuses that identity at once; d1 still works.
    steps.check(
        "an identity revoked at the engine is refused by the plugin at once",
        || {
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
            // With auto_rebuild the engine's CRL lags its revocations (issue 30:
            // it was written without the serial); the engine is asked to rebuild.
            bao.run(&["write", "pki/config/crl", "auto_rebuild=true"]);
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
        },
    );

    // Not read until memory runs out or blocked on a FIFO (attacker review).
    steps.check(
        "a CA file that never ends or never opens is refused at once",
        || {
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
        },
    );
    steps.check(
        "with no token piped in, add is refused unless the environment is asked for",
        || {
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
        },
    );
    let weak = bao.powerless_token();
    steps.check(
        "a token without the policy, and a role that refuses the CN, are said",
        || {
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
        },
    );
    steps.check("the secrets never reached a command line", || {
        let (hits, seen) = sampler.finish(&[secret_id.clone(), weak.clone()], "--issuer");
        assert!(hits.is_empty(), "a secret on argv: {hits:?}");
        assert!(seen > 0, "the sampler saw none of our commands");
    });

    steps.check(
        "automatic renewal goes through the engine, and leaves the revoked identity alone",
        || {
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
        },
    );

    steps.check(
        "a sealed engine, then one that is gone, is said and nothing is written",
        || {
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
        },
    );
    steps.done();
}

/// The lying engine of tests/it/common/hostile_engine.py, stopped by PID.
struct Hostile {
    child: std::process::Child,
    url: String,
    dir: std::path::PathBuf,
}

impl Hostile {
    fn start(dir: &std::path::Path) -> Hostile {
        use std::io::BufRead;
        let dir = dir.join("hostile");
        fs::create_dir(&dir).unwrap();
        let mut child = std::process::Command::new(require("python3"))
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/it/common/hostile_engine.py"
            ))
            .arg(&dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the hostile engine did not start: {line:?}"));
        Hostile {
            child,
            url: format!("https://127.0.0.1:{port}"),
            dir,
        }
    }

    fn log(&self, name: &str) -> String {
        fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// The serial the engine last issued under `role`.
    fn issued(&self, role: &str) -> String {
        self.log("issued")
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(&format!("{role} ")))
            .unwrap_or_else(|| panic!("the engine issued nothing under {role}"))
            .to_string()
    }

    fn revoked(&self, serial: &str) -> bool {
        self.log("revoked").lines().any(|l| l == serial)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 30: what no real OpenBao does, from an engine that lies. Each bad
/// certificate is refused with its reason, nothing is written here, and it
/// is revoked at the engine when the recorded CA signed it; a CRL that is
/// not the CA's current one listing the serial never reaches a bundle.
#[test]
fn a_hostile_engines_answers_are_refused_and_nothing_is_written() {
    let s = Sandbox::new();
    let e = Hostile::start(s.path());
    let tls_ca = e.dir.join("tls-ca.pem");
    let add = |name: &str, client: &str, server: &str| {
        ok(&with_stdin(
            s.tlsctx_cmd(&[
                "issuer",
                "add",
                name,
                "--url",
                &e.url,
                "--client-role",
                client,
                "--server-role",
                server,
                "--ca-file",
                tls_ca.to_str().unwrap(),
            ]),
            "token\n",
        ));
    };
    let host = format!("tcp://127.0.0.1:{}", free_port());
    let nothing_written = |name: &str| {
        for f in all_files(&s.cfg()) {
            let shown = f.display().to_string();
            assert!(!shown.contains(&format!("/{name}")), "{shown} was written");
        }
    };

    let mut steps = Steps::new("a_hostile_engines_answers_are_refused_and_nothing_is_written");
    steps.setup(
        "a well-set engine works: the fake is not refused for being a fake",
        || {
            add("good", "good-client", "good-server");
            ok(&s.tlsctx(&["new", "d1", "--host", &host, "--issuer", "good"]));
        },
    );

    // Client identities: each lie refused, the reason said.
    for (role, why, revoked) in [
        (
            "other-cn",
            "its CN is \"mallory\", not the \"c-other-cn-client\" asked for",
            true,
        ),
        ("extra-san", "it names DNS:evil.example too", true),
        ("ca-true", "it is a CA certificate (CA:TRUE)", true),
        (
            "both-eku",
            "its extended key usage is serverAuth, clientAuth, not clientAuth alone",
            true,
        ),
        (
            "any-eku",
            "clientAuth, anyExtendedKeyUsage, not clientAuth alone",
            true,
        ),
        ("backdated", "it is backdated to", true),
        (
            "no-ou",
            "issues identities with no role ou, not admin",
            true,
        ),
        (
            "crit-ext",
            "a critical extension 1.3.6.1.4.1.55555.1 that is not understood",
            true,
        ),
        ("other-key", "it is for another key", true),
        // Another CA's certificate: its serial means nothing to this engine.
        ("other-ca", "it was not signed by the recorded CA", false),
    ] {
        steps.check(
            &format!("a client certificate from role {role} is refused: {why}"),
            || {
                let issuer = format!("h-{role}");
                add(&issuer, role, "good-server");
                let name = format!("c-{role}");
                let o = s.tlsctx(&[
                    "new",
                    &name,
                    "--host",
                    &host,
                    "--no-server",
                    "--issuer",
                    &issuer,
                ]);
                failed(&o, &[why]);
                let serial = e.issued(role);
                assert_eq!(e.revoked(&serial), revoked, "{role}: revoked at the engine");
                assert_eq!(
                    stderr(&o).contains("revoked at the engine"),
                    revoked,
                    "{role}: said so: {}",
                    stderr(&o)
                );
                nothing_written(&name);
            },
        );
    }
    // A daemon's certificate: the same rules, with serverAuth and its SANs.
    for (role, why) in [
        ("server-extra-san", "it names DNS:evil.example too"),
        ("server-ca-true", "it is a CA certificate (CA:TRUE)"),
        (
            "server-both-eku",
            "serverAuth, clientAuth, not serverAuth alone",
        ),
        ("server-other-cn", "its CN is \"mallory\""),
    ] {
        steps.check(
            &format!("a daemon's certificate from role {role} is refused: {why}"),
            || {
                let issuer = format!("h-{role}");
                add(&issuer, "good-client", role);
                let name = format!("s-{role}");
                failed(
                    &s.tlsctx(&["new", &name, "--host", &host, "--issuer", &issuer]),
                    &["cannot be a daemon's", why, "revoked at the engine"],
                );
                assert!(
                    e.revoked(&e.issued(role)),
                    "{role} not revoked at the engine"
                );
                nothing_written(&name);
            },
        );
    }
    // An answer that redirects, never ends, or trickles: refused within the
    // engine call's 15 s, the redirect not followed.
    for (role, why) in [
        (
            "redirect",
            "answered with a redirect (302), which is not followed",
        ),
        ("huge", "answered with more than 8 MiB"),
        ("trickle", "did not answer in full within 15 s"),
    ] {
        steps.check(
            &format!("an answer that {role}s is refused within 15 s: {why}"),
            || {
                let issuer = format!("h-{role}");
                add(&issuer, role, "good-server");
                let name = format!("c-{role}");
                let t = std::time::Instant::now();
                failed(
                    &s.tlsctx(&[
                        "new",
                        &name,
                        "--host",
                        &host,
                        "--no-server",
                        "--issuer",
                        &issuer,
                    ]),
                    &[why],
                );
                assert!(t.elapsed().as_secs() < 30, "{role}: {:?}", t.elapsed());
                nothing_written(&name);
            },
        );
    }
    steps.check("the redirect was not followed", || {
        assert!(
            !e.log("requests").contains("elsewhere"),
            "the redirect was followed"
        );
    });

    // Revocation: the engine's CRL is checked before it is written.
    let crl_file = s.cfg().join("tlsctx/servers/d1/crl.pem");
    let revoked_json = s.cfg().join("tlsctx/cas/good/revoked.json");
    let crl_text = || {
        fs::read(&crl_file)
            .map(|_| openssl_ok(&["crl", "-noout", "-text", "-in", crl_file.to_str().unwrap()]))
            .unwrap_or_default()
            .to_lowercase()
    };
    let set_mode = |m: &str| fs::write(e.dir.join("crl-mode"), m).unwrap();
    let crl_files = || {
        (
            fs::read(&crl_file).unwrap(),
            fs::read(&revoked_json).unwrap(),
        )
    };
    // The engine answers in mode `m`: `revoke who` is refused for `why`,
    // and neither the bundle's CRL nor the revocation record changes.
    let refused_crl = |m: &str, why: &str, who: &str| {
        let before = crl_files();
        set_mode(m);
        failed(
            &s.tlsctx(&["revoke", who]),
            &[why, "no CRL was written here"],
        );
        assert_eq!(crl_files(), before, "{m}: something was written");
    };
    for n in ["a1", "a2", "a3"] {
        ok(&s.tlsctx(&["new", n, "--host", &host, "--no-server", "--issuer", "good"]));
    }
    steps.setup(
        "an engine that rebuilds its CRL on a schedule is asked to rebuild it",
        || {
            set_mode("lazy");
            ok(&s.tlsctx(&["revoke", "a1"]));
            assert!(e.log("requests").contains("GET /v1/pki/crl/rotate"));
            assert!(crl_text().contains(&serial(&s, "a1")), "{}", crl_text());
        },
    );
    // A CRL that is not the CA's current one listing the serial: refused,
    // nothing recorded here, the bundle's CRL as it was.
    for (m, why) in [
        ("stale", "(revoked), even after a rebuild"),
        ("junk", "it is not PEM"),
        ("foreign", "it was not issued by the recorded CA"),
        ("expired", "it is past its nextUpdate"),
    ] {
        steps.check(
            &format!("a CRL of the engine's mode {m:?} is refused and nothing is written: {why}"),
            || refused_crl(m, why, "a2"),
        );
    }
    steps.setup(
        "the same revoke finishes the job once the engine's CRL is right",
        || {
            set_mode("good");
            ok(&s.tlsctx(&["revoke", "a2"]));
            let text = crl_text();
            assert!(
                text.contains(&serial(&s, "a1")) && text.contains(&serial(&s, "a2")),
                "{text}"
            );
            ok(&s.tlsctx(&[
                "new",
                "a4",
                "--host",
                &host,
                "--no-server",
                "--issuer",
                "good",
            ]));
        },
    );

    // Found by review. Text a lenient PEM reader takes and the plugin's
    // refuses: the CRL written is ours, the same DER in plain PEM.
    steps.setup(
        "a CRL with text before its PEM is written as our own plain PEM",
        || {
            set_mode("prefix");
            ok(&s.tlsctx(&["revoke", "a3"]));
            let written = fs::read_to_string(&crl_file).unwrap();
            assert!(written.starts_with("-----BEGIN X509 CRL-----"), "{written}");
            assert!(crl_text().contains(&serial(&s, "a3")));
        },
    );
    // A delta CRL, and one that forgot the earlier revocations (which would
    // have let a1, a2 and a3 back in): refused.
    for (m, why) in [
        ("delta", "it is a delta CRL"),
        ("forget", "(all revoked), even after a rebuild"),
    ] {
        steps.check(
            &format!("a CRL of the engine's mode {m:?} is refused and nothing is written: {why}"),
            || refused_crl(m, why, "a4"),
        );
    }
    steps.setup(
        "once the CRL is right again, the revoke goes through",
        || {
            set_mode("good");
            ok(&s.tlsctx(&["revoke", "a4"]));
        },
    );

    // The engine files such a serial without its 00 sign byte (found by
    // review: "certificate with serial 00:b8:… not found", so such
    // identities could never be revoked).
    steps.check(
        "a serial whose top bit is set is revoked at the engine",
        || {
            add("lz", "leadzero-client", "good-server");
            ok(&s.tlsctx(&[
                "new",
                "lz1",
                "--host",
                &host,
                "--no-server",
                "--issuer",
                "lz",
            ]));
            assert!(serial(&s, "lz1").starts_with("00"), "{}", serial(&s, "lz1"));
            ok(&s.tlsctx(&["revoke", "lz1"]));
            assert!(e.revoked(&e.issued("leadzero-client")));
        },
    );
    steps.done();
}
