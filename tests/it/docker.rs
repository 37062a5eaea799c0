//! The real docker CLI reads our contexts and runs us as a plugin; a real
//! dockerd, started here with our server bundle and --tlsverify, accepts our
//! client identity and refuses the wrong ones.

use std::fs;

use std::path::Path;
use std::process::Command;

use crate::common::dockerd::{free_port, stderr, Dockerd};
use crate::common::steps::Steps;
use crate::common::*;

/// Every path below `dir` with its mode, and the bytes of every file.
fn tree(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    fn go(root: &Path, d: &Path, out: &mut Vec<(String, u32, Vec<u8>)>) {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::metadata(&p).unwrap();
            let bytes = if m.is_file() {
                fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            out.push((
                p.strip_prefix(root).unwrap().display().to_string(),
                m.permissions().mode() & 0o7777,
                bytes,
            ));
            if m.is_dir() {
                go(root, &p, out);
            }
        }
    }
    go(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn context_is_byte_for_byte_what_docker_context_create_writes() {
    for description in [Some("production"), None] {
        let ours = Sandbox::new();
        let mut args = vec![
            "new",
            "prod",
            "--host",
            "tcp://127.0.0.1:2376",
            "--no-server",
        ];
        if let Some(d) = description {
            args.extend(["--description", d]);
        }
        ok(&ours.tlsctx(&args));
        let tls = ours
            .cfg()
            .join("contexts/tls")
            .join("6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/docker");

        // Docker writes a context from the very same files.
        let theirs = Sandbox::new();
        let files = theirs.path().join("files");
        fs::create_dir(&files).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            fs::copy(tls.join(f), files.join(f)).unwrap();
        }
        let endpoint = format!(
            "host=tcp://127.0.0.1:2376,ca={0}/ca.pem,cert={0}/cert.pem,key={0}/key.pem",
            files.display()
        );
        let mut args = vec!["context", "create", "prod", "--docker", &endpoint];
        if let Some(d) = description {
            args.extend(["--description", d]);
        }
        ok(&theirs.docker(&args));

        let a = tree(&ours.cfg().join("contexts"));
        let b = tree(&theirs.cfg().join("contexts"));
        assert_eq!(
            a.len(),
            b.len(),
            "{:?}\n{:?}",
            a.iter().map(|x| &x.0).collect::<Vec<_>>(),
            b.iter().map(|x| &x.0).collect::<Vec<_>>()
        );
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((&x.0, x.1), (&y.0, y.1), "path or mode differs");
            assert_eq!(x.2, y.2, "bytes of {} differ", x.0);
        }
    }
}

#[test]
fn docker_lists_and_runs_the_plugin() {
    let s = Sandbox::new();
    install_plugin(&s);
    // `docker info` lists client plugins even with no daemon to talk to.
    let o = s
        .docker_cmd(&["info"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .output()
        .unwrap();
    let info = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        info.contains("tlsctx: Mutual-TLS contexts for remote Docker Engines (docker-tlsctx)"),
        "{info}"
    );
    assert!(
        info.contains(&format!("Version:  {}", env!("CARGO_PKG_VERSION"))),
        "{info}"
    );
    assert!(!info.contains("is not valid"), "{info}");

    let help = ok(&s.docker(&["--help"]));
    assert!(
        help.lines()
            .any(|l| l.trim_start().starts_with("tlsctx*") && l.contains("Mutual-TLS")),
        "{help}"
    );
    assert!(
        !help.contains("Invalid Plugins"),
        "the credential helper must not sit in cli-plugins: {help}"
    );

    // `docker help tlsctx` and `docker tlsctx --help` reach our help.
    assert!(ok(&s.docker(&["help", "tlsctx"])).contains("Usage: docker tlsctx"));

    // The main job through the docker CLI; --config reaches us as a flag.
    let out = ok(&s.docker(&[
        "tlsctx",
        "new",
        "viadocker",
        "--host",
        "tcp://192.0.2.10",
        "--use",
        "--description",
        "via docker",
    ]));
    assert!(out.contains("Created context \"viadocker\""), "{out}");
    assert!(s.cfg().join("tlsctx/identities/viadocker.json").is_file());
    let ls = ok(&s.docker(&[
        "context",
        "ls",
        "--format",
        "{{.Name}} {{.DockerEndpoint}} {{.Description}}",
    ]));
    assert!(
        ls.lines()
            .any(|l| l == "viadocker tcp://192.0.2.10:2376 via docker"),
        "{ls}"
    );
    assert_eq!(ok(&s.docker(&["context", "show"])).trim(), "viadocker");
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(&s.docker(&["context", "inspect", "viadocker"]))).unwrap();
    assert_eq!(inspect[0]["Endpoints"]["docker"]["SkipTLSVerify"], false);
    assert_eq!(
        inspect[0]["TLSMaterial"]["docker"],
        serde_json::json!(["ca.pem", "cert.pem", "key.pem"])
    );

    // Docker's own errors for our bad input come through unchanged.
    let o = s.docker(&["tlsctx", "new", "viadocker", "--host", "tcp://192.0.2.10"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("context \"viadocker\" already exists"));
}

#[test]
fn real_dockerd_accepts_our_identity_and_refuses_others() {
    let s = Sandbox::new();
    install_plugin(&s);
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    // The daemon's CA comes from the openssl recipe (RSA-4096, PKCS#1 key),
    // imported: certificates issued by an imported CA must satisfy dockerd.
    let key = s.path().join("recipe-ca-key.pem");
    let cert = s.path().join("recipe-ca.pem");
    openssl_ok(&[
        "genrsa",
        "-traditional",
        "-out",
        key.to_str().unwrap(),
        "4096",
    ]);
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
        "/CN=recipe CA",
        "-out",
        cert.to_str().unwrap(),
    ]);
    ok(&s.docker(&[
        "tlsctx",
        "ca",
        "import",
        "--name",
        "recipe",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]));
    // Through the docker CLI, as a user would.
    ok(&s.docker(&["tlsctx", "new", "e2e", "--host", &host, "--ca", "recipe"]));
    let _dockerd = Dockerd::start(s.path(), &s.cfg().join("tlsctx/servers/e2e"), port);

    let mut steps = Steps::new("real_dockerd_accepts_our_identity_and_refuses_others");
    // 1. Our context works with the real docker CLI.
    let version = steps.setup("our context works with the real docker CLI", || {
        let version = ok(&s.docker(&[
            "--context",
            "e2e",
            "version",
            "--format",
            "{{.Server.Version}}",
        ]));
        assert!(!version.trim().is_empty());
        let ps = s.docker(&["--context", "e2e", "ps"]);
        ok(&ps);
        version
    });

    // 1b. The same identity handed to curl: PKCS#12 (both profiles) and PEM files,
    //     and to a shell through `env`.
    steps.check("the same identity works for curl (PKCS#12 of both profiles, PEM) and a shell through env", || {
    let curl = |args: &[&str]| {
        let mut c = Command::new(require("curl"));
        // The environment's CA bundle variables would override --cacert (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE are set on the test machines).
        c.env_remove("CURL_CA_BUNDLE")
            .env_remove("REQUESTS_CA_BUNDLE")
            .args(["-sS", "--max-time", "20"])
            .args(args);
        c.output().unwrap()
    };
    let ping = format!("https://127.0.0.1:{port}/_ping");
    let ca = s.cfg().join("tlsctx/cas/recipe/ca.pem");
    for profile in ["legacy", "modern"] {
        let file = s.path().join(format!("e2e-{profile}.p12"));
        let mut c = s.tlsctx_cmd(&[
            "export",
            "e2e",
            "--p12",
            file.to_str().unwrap(),
            "--p12-profile",
            profile,
            "--password-stdin",
        ]);
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"p12-pass").unwrap();
        ok(&child.wait_with_output().unwrap());
        let o = curl(&[
            "--cacert",
            ca.to_str().unwrap(),
            "--cert-type",
            "P12",
            "--cert",
            &format!("{}:p12-pass", file.display()),
            &ping,
        ]);
        assert_eq!(ok(&o), "OK", "curl with the {profile} PKCS#12");
    }
    let pem_dir = s.path().join("e2e-pem");
    ok(&s.docker(&[
        "tlsctx",
        "export",
        "e2e",
        "--dir",
        pem_dir.to_str().unwrap(),
    ]));
    let pem = |f: &str| pem_dir.join(f).display().to_string();
    let o = curl(&[
        "--cacert",
        &pem("ca.pem"),
        "--cert",
        &pem("cert.pem"),
        "--key",
        &pem("key.pem"),
        &ping,
    ]);
    assert_eq!(ok(&o), "OK", "curl with the exported PEM files");
    let o = curl(&["--cacert", &pem("ca.pem"), &ping]);
    assert!(
        !o.status.success(),
        "without a client certificate the daemon refuses curl"
    );
    let script = format!(
        "eval \"$(DOCKER_CONFIG='{cfg}' DOCKER_TLSCTX_KEYSTORE=file '{bin}' env e2e)\" && '{docker}' --config '{cfg}' version --format '{{{{.Server.Version}}}}'",
        cfg = s.cfg().display(),
        bin = BIN,
        docker = require("docker").display()
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert_eq!(ok(&o), version, "docker through the variables of `env`");
    });

    // 2. A client identity from another CA is refused by the daemon, even
    //    when the client trusts the daemon's CA.
    steps.check(
        "a client identity from another CA is refused by the daemon",
        || {
            ok(&s.docker(&["tlsctx", "ca", "init", "--name", "other"]));
            let intruder = s.path().join("intruder");
            ok(&s.docker(&[
                "tlsctx",
                "client",
                "intruder",
                "--ca",
                "other",
                "--out",
                intruder.to_str().unwrap(),
            ]));
            fs::copy(&cert, intruder.join("ca.pem")).unwrap();
            // docker as DOCKER_CERT_PATH users run it, without a context.
            let version_with = |cert_path: &Path| {
                s.docker_cmd(&["version", "--format", "{{.Server.Version}}"])
                    .env("DOCKER_HOST", &host)
                    .env("DOCKER_TLS_VERIFY", "1")
                    .env("DOCKER_CERT_PATH", cert_path)
                    .output()
                    .unwrap()
            };
            let o = version_with(&intruder);
            assert!(
                !o.status.success(),
                "a foreign client certificate must be refused"
            );
            assert!(stderr(&o).contains("tls: "), "{}", stderr(&o));
            // The same files with its own identity from our CA work: the refusal above is the CA's doing.
            let good = s.path().join("good");
            ok(&s.docker(&[
                "tlsctx",
                "client",
                "good",
                "--ca",
                "recipe",
                "--out",
                good.to_str().unwrap(),
            ]));
            let o = version_with(&good);
            ok(&o);
        },
    );

    // 3. A host name the server certificate does not cover fails verification.
    steps.check(
        "a host name the server certificate does not cover fails verification",
        || {
            ok(&s.docker(&[
                "tlsctx",
                "new",
                "byname",
                "--host",
                &format!("tcp://localhost:{port}"),
                "--no-server",
                "--ca",
                "recipe",
            ]));
            let o = s.docker(&[
                "--context",
                "byname",
                "version",
                "--format",
                "{{.Server.Version}}",
            ]);
            assert!(!o.status.success());
            // Go's wording: the certificate has an IP SAN only, no DNS names.
            let e = stderr(&o);
            assert!(
                e.contains(
                    "x509: certificate is not valid for any names, but wanted to match localhost"
                ),
                "{e}"
            );
        },
    );

    // 4. `docker context rm` then `restore`: the rebuilt context works.
    steps.check(
        "docker context rm then restore gives a context that works",
        || {
            ok(&s.docker(&["context", "rm", "e2e"]));
            assert!(!s.docker(&["--context", "e2e", "version"]).status.success());
            ok(&s.docker(&["tlsctx", "restore", "e2e"]));
            let again = ok(&s.docker(&[
                "--context",
                "e2e",
                "version",
                "--format",
                "{{.Server.Version}}",
            ]));
            assert_eq!(again, version);
        },
    );

    // 5. A context whose CA is not the daemon's fails verification too.
    steps.check(
        "a context whose CA is not the daemon's fails verification",
        || {
            ok(&s.docker(&[
                "tlsctx",
                "new",
                "otherca",
                "--host",
                &host,
                "--ca",
                "other",
                "--no-server",
            ]));
            let o = s.docker(&[
                "--context",
                "otherca",
                "version",
                "--format",
                "{{.Server.Version}}",
            ]);
            assert!(!o.status.success());
            assert!(
                stderr(&o).contains("certificate signed by unknown authority"),
                "{}",
                stderr(&o)
            );
        },
    );
    steps.done();
}
