//! docker-credential-tlsctx against real peers: side by side with Debian's
//! docker-credential-secretservice on one Secret Service, and under the real
//! docker CLI and dockerd for `docker login` / `docker logout`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::dockerd::Dockerd;
use crate::common::secret_service::SecretService;
use crate::common::*;

/// Runs a credential helper with `stdin`, against the Secret Service.
fn helper(
    ss: &SecretService,
    program: &std::path::Path,
    s: &Sandbox,
    args: &[&str],
    stdin: &str,
) -> Output {
    let mut c = ss.env(Command::new(program));
    c.args(args)
        .env("DOCKER_CONFIG", s.cfg())
        .env("DOCKER_TLSCTX_KEYSTORE", "os");
    with_stdin(c, stdin)
}

fn our_helper(s: &Sandbox) -> std::path::PathBuf {
    install_plugin(s);
    s.path().join("bin/docker-credential-tlsctx")
}

/// Exit code and stdout: what Docker reads from a helper.
fn answer(o: &Output) -> (Option<i32>, String) {
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn same_answers_as_docker_credential_secretservice() {
    let reference = require("docker-credential-secretservice");
    let ss = SecretService::start();
    let s = Sandbox::new();
    let ours = our_helper(&s);
    // The cases of credentials_test.go and the keychain helpers' tests that
    // the protocol fixes, in order (each builds on the store before it).
    let cases: &[(&str, &str)] = &[
        (
            "store",
            r#"{"ServerURL":"https://registry.example.com:5000","Username":"alice","Secret":"s3cret"}"#,
        ),
        ("get", "https://registry.example.com:5000\n"),
        (
            "store",
            r#"{"ServerURL":"https://tokens.example.com","Username":"<token>","Secret":"eyJ&<>"}"#,
        ),
        ("get", "https://tokens.example.com"),
        ("list", ""),
        ("get", "https://unknown.example.com"),
        ("store", r#"{"Username":"alice","Secret":"x"}"#),
        (
            "store",
            r#"{"ServerURL":"https://registry.example.com","Secret":"x"}"#,
        ),
        ("get", ""),
        ("erase", ""),
        ("erase", "https://never-stored.example.com"),
        ("erase", "https://registry.example.com:5000"),
        ("get", "https://registry.example.com:5000"),
        ("erase", "https://tokens.example.com"),
        ("list", ""),
    ];
    let mut transcript_ours = String::new();
    for (action, input) in cases {
        let a = answer(&helper(&ss, &reference, &s, &[action], input));
        let b = answer(&helper(&ss, &ours, &s, &[action], input));
        assert_eq!(a, b, "{action} {input:?}: reference vs ours");
        transcript_ours.push_str(&format!(
            "$ {action} <<< {input:?}\nexit {:?}\n{}",
            b.0, b.1
        ));
    }
    snap!(None, "credhelper_side_by_side", transcript_ours);

    // Where the texts name the helper or its version they differ by design;
    // the form is the same. Debian ships the reference at 0.6.4, whose
    // unknown-action text predates v0.9's "<name>: unknown action: <action>".
    let (code, out) = answer(&helper(&ss, &ours, &s, &[], ""));
    assert_eq!(
        (code, out.as_str()),
        (
            Some(1),
            "Usage: docker-credential-tlsctx <store|get|erase|list|version>\n"
        )
    );
    let (code, _) = answer(&helper(&ss, &reference, &s, &[], ""));
    assert_eq!(code, Some(1));
    let (code, out) = answer(&helper(&ss, &ours, &s, &["bogus"], ""));
    assert_eq!(
        (code, out.as_str()),
        (Some(1), "docker-credential-tlsctx: unknown action: bogus\n")
    );
    let (code, out) = answer(&helper(&ss, &ours, &s, &["version"], ""));
    assert_eq!(code, Some(0));
    assert_eq!(
        out,
        format!(
            "docker-credential-tlsctx (github.com/docker-tlsctx/docker-tlsctx) {}\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(
        answer(&helper(&ss, &ours, &s, &["--version"], "")),
        (Some(0), out)
    );
    assert_eq!(answer(&helper(&ss, &ours, &s, &["-h"], "")).0, Some(0));
}

#[test]
fn list_never_returns_tls_keys() {
    let ss = SecretService::start();
    let s = Sandbox::new();
    let ours = our_helper(&s);
    ok(&ss.tlsctx(&s, &["new", "prod", "--host", "tcp://127.0.0.1:2376"]));
    assert!(ss.lookup("ca/default").is_some());
    ok(&helper(
        &ss,
        &ours,
        &s,
        &["store"],
        r#"{"ServerURL":"r.example.com","Username":"u","Secret":"p"}"#,
    ));
    let (_, list) = answer(&helper(&ss, &ours, &s, &["list"], ""));
    assert_eq!(list, "{\"r.example.com\":\"u\"}\n");
    // Registry credentials live under their own service.
    let o = ss
        .env(Command::new("secret-tool"))
        .args(["search", "--all", "service", "docker-tlsctx-registry"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout) + String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains("attribute.username = https://r.example.com"),
        "{text}"
    );
    assert!(!text.contains("ca/default"), "{text}");
    // Nothing secret in the index.
    let index = std::fs::read_to_string(s.cfg().join("tlsctx/registry-index.json")).unwrap();
    assert!(!index.contains("\"p\""), "{index}");
}

/// Base64 (RFC 4648 §4) for a Basic authorization header.
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A registry stub on 127.0.0.1: `/v2/` asks for Basic auth and accepts
/// one user. Bounded: 200 connections or 120 s, whichever comes first.
fn registry_stub(user: &str, password: &str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let expected = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        for conn in listener.incoming().take(200) {
            if Instant::now() > deadline {
                break;
            }
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
                // dockerd tries HTTPS first: a TLS ClientHello is not ours to answer.
                if req.first() == Some(&0x16) {
                    break;
                }
            }
            if req.first() == Some(&0x16) {
                continue;
            }
            let text = String::from_utf8_lossy(&req);
            let authorized = text.lines().any(|l| {
                l.split_once(':').is_some_and(|(k, v)| {
                    k.eq_ignore_ascii_case("authorization") && v.trim() == expected
                })
            });
            let resp = if authorized {
                "HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_string()
            } else {
                "HTTP/1.1 401 Unauthorized\r\nDocker-Distribution-API-Version: registry/2.0\r\nWWW-Authenticate: Basic realm=\"stub\"\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_string()
            };
            let _ = conn.write_all(resp.as_bytes());
        }
    });
    port
}

#[test]
fn docker_login_and_logout_go_through_the_helper() {
    let ss = SecretService::start();
    let s = Sandbox::new();
    let _ours = our_helper(&s);
    std::fs::write(
        s.cfg().join("config.json"),
        "{\n\t\"credsStore\": \"tlsctx\"\n}",
    )
    .unwrap();
    let dockerd = Dockerd::start_plain(s.path());
    let port = registry_stub("alice", "s3cret-pw");
    let registry = format!("127.0.0.1:{port}");
    let docker = |args: &[&str], stdin: &str| {
        let mut c = ss.env(Command::new(require("docker")));
        let path = format!(
            "{}:{}",
            s.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.args(args)
            .env("DOCKER_CONFIG", s.cfg())
            .env("DOCKER_HOST", dockerd.socket())
            .env("DOCKER_TLSCTX_KEYSTORE", "os")
            .env("PATH", path)
            .env_remove("DOCKER_CONTEXT");
        with_stdin(c, stdin)
    };

    // A wrong password is refused by the registry and stores nothing.
    let o = docker(
        &["login", &registry, "-u", "alice", "--password-stdin"],
        "wrong",
    );
    assert!(!o.status.success());
    assert_eq!(
        ss.lookup_in("docker-tlsctx-registry", &format!("https://{registry}")),
        None
    );

    let o = docker(
        &["login", &registry, "-u", "alice", "--password-stdin"],
        "s3cret-pw",
    );
    let out = ok(&o);
    assert!(out.contains("Login Succeeded"), "{out}");
    let stored = ss
        .lookup_in("docker-tlsctx-registry", &format!("https://{registry}"))
        .expect("our helper stored it");
    let stored: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(stored["Username"], "alice");
    assert_eq!(stored["Secret"], "s3cret-pw");
    let config = std::fs::read_to_string(s.cfg().join("config.json")).unwrap();
    assert!(
        !config.contains("s3cret-pw") && !config.contains(&base64(b"alice:s3cret-pw")),
        "{config}"
    );
    let v: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(v["credsStore"], "tlsctx");
    assert_eq!(v["auths"][&registry], serde_json::json!({}));

    let o = docker(&["logout", &registry], "");
    ok(&o);
    assert_eq!(
        ss.lookup_in("docker-tlsctx-registry", &format!("https://{registry}")),
        None
    );
    let config = std::fs::read_to_string(s.cfg().join("config.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert!(v["auths"].get(&registry).is_none(), "{config}");
}
