//! Over 600 lines: one area's scenarios over a shared fixture (a dockerd, a host, a keyring); the
//! fixture's helpers would be split with them.
//!
//! CLI transcripts and generated files, as insta snapshots; bad input leaves
//! the sandbox exactly as it was.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::*;

fn mode(p: &std::path::Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn metadata_transcript() {
    let s = Sandbox::new();
    let o = s.tlsctx(&["docker-cli-plugin-metadata"]);
    snap!(None, "metadata", transcript(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["Version"],
        env!("CARGO_PKG_VERSION"),
        "plugin-metadata must follow Cargo.toml's version"
    );
    assert_eq!(v["SchemaVersion"], "0.1.0");
    // It must not touch the disk: nothing appears in DOCKER_CONFIG.
    assert_eq!(s.listing(), ["644 cfg/config.json", "755 cfg"]);
}

#[test]
fn help_transcripts() {
    let s = Sandbox::new();
    snap!(None, "help", transcript(&s.tlsctx(&["--help"])));
    snap!(None, "help_new", transcript(&s.tlsctx(&["new", "--help"])));
    snap!(
        None,
        "help_cert",
        transcript(&s.tlsctx(&["cert", "--help"]))
    );
    snap!(
        None,
        "help_agent",
        transcript(&s.tlsctx(&["agent", "--help"]))
    );
    snap!(
        None,
        "help_swarm",
        transcript(&s.tlsctx(&["swarm", "--help"]))
    );
    snap!(
        None,
        "help_swarm_rotate",
        transcript(&s.tlsctx(&["swarm", "rotate", "--help"]))
    );
    // `docker help tlsctx` arrives as `help tlsctx`, with Docker's flags first.
    let via_docker = s.tlsctx(&["--config", "/nonexistent", "help", "tlsctx"]);
    assert_eq!(transcript(&via_docker), transcript(&s.tlsctx(&["--help"])));
}

#[test]
fn new_transcript_and_files() {
    let s = Sandbox::new();
    let o = s.tlsctx(&[
        "new",
        "prod",
        "--host",
        "tcp://203.0.113.7:2376",
        "--san",
        "docker.example.com",
        "--description",
        "production",
    ]);
    snap!(Some(&s), "new_prod", transcript(&o));
    assert!(o.status.success());
    let id = "6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77"; // sha256("prod")
    let meta =
        fs::read_to_string(s.cfg().join("contexts/meta").join(id).join("meta.json")).unwrap();
    snap!(None, "new_prod_meta_json", meta);
    let server = s.cfg().join("tlsctx/servers/prod");
    snap!(
        None,
        "new_prod_daemon_json",
        fs::read_to_string(server.join("daemon.json")).unwrap()
    );
    snap!(
        None,
        "drop_in_conf",
        fs::read_to_string(server.join("docker.service.d/zz-docker-tlsctx.conf")).unwrap()
    );
    snap!(Some(&s), "new_prod_listing", s.listing().join("\n"));

    // Modes the secrets need, whatever the umask.
    assert_eq!(mode(&server.join("server-key.pem")), 0o600);
    assert_eq!(mode(&server), 0o700);
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        assert_eq!(
            mode(&s.cfg().join("contexts/tls").join(id).join("docker").join(f)),
            0o600
        );
    }
    // The CA key is in the keystore folder and nowhere else.
    let ca_key = fs::read(s.cfg().join("tlsctx/keys/ca/default.key")).unwrap();
    for entry in s.listing() {
        let rel = entry.split_once(' ').unwrap().1;
        let p = s.path().join(rel);
        if p.is_file() && !rel.ends_with("keys/ca/default.key") {
            let bytes = fs::read(&p).unwrap();
            assert!(
                !bytes.windows(ca_key.len()).any(|w| w == ca_key),
                "CA key bytes found in {rel}"
            );
        }
    }

    // A second context reuses the CA.
    let o = s.tlsctx(&[
        "new",
        "web",
        "--host",
        "tcp://docker.example.com",
        "--no-server",
        "--use",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(v["ca"]["created"], false);
    assert_eq!(v["host"], "tcp://docker.example.com:2376");
    assert_eq!(v["server"], serde_json::Value::Null);
    snap!(
        Some(&s),
        "new_web_json",
        String::from_utf8(o.stdout).unwrap()
    );
    let config = fs::read_to_string(s.cfg().join("config.json")).unwrap();
    assert_eq!(config, "{\n\t\"currentContext\": \"web\"\n}");
}

#[test]
fn ca_server_client_commands() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&[
        "ca",
        "init",
        "--name",
        "team",
        "--key-type",
        "ecdsa-p384",
        "--cn",
        "Team CA",
    ]));
    let o = s.tlsctx(&["ca", "init", "--name", "team"]);
    snap!(Some(&s), "ca_init_exists", transcript(&o));

    let out = s.path().join("srv");
    let o = s.tlsctx(&[
        "server",
        "node1",
        "--ca",
        "team",
        "--san",
        "10.0.0.5",
        "--san",
        "node1.internal",
        "--out",
        out.to_str().unwrap(),
        "--port",
        "2377",
    ]);
    snap!(Some(&s), "server_node1", transcript(&o));
    let daemon: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("daemon.json")).unwrap()).unwrap();
    assert_eq!(daemon["hosts"][1], "tcp://0.0.0.0:2377");
    // The same bundle again needs --force.
    let again = s.tlsctx(&[
        "server",
        "node1",
        "--ca",
        "team",
        "--san",
        "10.0.0.5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("a server bundle already exists"));

    let ci = s.path().join("ci");
    let o = s.tlsctx(&[
        "client",
        "ci-job",
        "--ca",
        "team",
        "--out",
        ci.to_str().unwrap(),
        "--days",
        "7",
    ]);
    snap!(Some(&s), "client_ci_job", transcript(&o));
    assert_eq!(mode(&ci.join("key.pem")), 0o600);
    assert_eq!(mode(&ci), 0o700);
    let record: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(s.cfg().join("tlsctx/identities/ci-job.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["cn"], "ci-job");
    assert_eq!(record["ca"], "team");
    assert_eq!(record["keystore"], "file");
}

/// Each bad input: a clear error, non-zero exit, nothing written or changed.
#[test]
fn bad_input_changes_nothing() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&["new", "prod", "--host", "tcp://127.0.0.1"]));
    let before = s.listing();
    let before_meta = fs::read(s.cfg().join(
        "contexts/meta/6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/meta.json",
    ))
    .unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("name_invalid", &["new", "a", "--host", "tcp://h"]),
        ("name_reserved", &["new", "default", "--host", "tcp://h"]),
        ("name_slash", &["new", "../x", "--host", "tcp://h"]),
        (
            "context_exists",
            &["new", "prod", "--host", "tcp://127.0.0.1"],
        ),
        ("host_http", &["new", "x1", "--host", "http://h:2376"]),
        (
            "host_unix",
            &["new", "x1", "--host", "unix:///var/run/docker.sock"],
        ),
        ("host_empty", &["new", "x1", "--host", ""]),
        ("host_bad_port", &["new", "x1", "--host", "tcp://h:70000"]),
        (
            "host_plaintext_port",
            &["new", "x1", "--host", "tcp://h:2375"],
        ),
        (
            "san_invalid",
            &["new", "x1", "--host", "tcp://h", "--san", "not a name"],
        ),
        (
            "days_zero",
            &["new", "x1", "--host", "tcp://h", "--days", "0"],
        ),
        (
            "days_too_many",
            &["new", "x1", "--host", "tcp://h", "--days", "3651"],
        ),
        (
            "server_days_apple",
            &["new", "x1", "--host", "tcp://h", "--server-days", "826"],
        ),
        (
            "key_type_unknown",
            &["new", "x1", "--host", "tcp://h", "--key-type", "dsa"],
        ),
        (
            "ca_missing",
            &["new", "x1", "--host", "tcp://h", "--ca", "nope"],
        ),
        ("client_ca_missing", &["client", "x1", "--ca", "nope"]),
        ("server_no_san", &["server", "x1"]),
        (
            "keystore_unknown",
            &["--keystore", "vault", "new", "x1", "--host", "tcp://h"],
        ),
    ];
    for (name, args) in cases {
        let o = s.tlsctx(args);
        assert!(!o.status.success(), "{name} must fail");
        assert!(o.stdout.is_empty(), "{name}: errors go to stderr");
        snap!(Some(&s), format!("error_{name}"), transcript(&o));
        assert_eq!(s.listing(), before, "{name} changed the sandbox");
    }
    let after_meta = fs::read(s.cfg().join(
        "contexts/meta/6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/meta.json",
    ))
    .unwrap();
    assert_eq!(before_meta, after_meta);
}

#[test]
fn force_replaces_a_context_and_2375() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&["new", "prod", "--host", "tcp://127.0.0.1"]));
    let key_before = fs::read(s.cfg().join("tlsctx/keys/client/prod.key")).unwrap();
    ok(&s.tlsctx(&[
        "new",
        "prod",
        "--host",
        "tcp://127.0.0.1:2375",
        "--force",
        "--description",
        "again",
    ]));
    let meta = fs::read_to_string(s.cfg().join(
        "contexts/meta/6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/meta.json",
    ))
    .unwrap();
    assert!(
        meta.contains("\"Host\":\"tcp://127.0.0.1:2375\"") && meta.contains("again"),
        "{meta}"
    );
    assert_ne!(
        fs::read(s.cfg().join("tlsctx/keys/client/prod.key")).unwrap(),
        key_before
    );
    // No staging leftovers.
    assert!(!s.cfg().join("tlsctx/tmp").exists());
}

#[test]
fn unwritable_docker_config_is_a_clear_error() {
    if is_root() {
        // root ignores permission bits: use a path below a file instead.
        let s = Sandbox::new();
        let o = std::process::Command::new(BIN)
            .args(["new", "prod", "--host", "tcp://127.0.0.1"])
            .env("DOCKER_CONFIG", s.cfg().join("config.json").join("sub"))
            .env("DOCKER_TLSCTX_KEYSTORE", "file")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr)
            .replace(&s.path().display().to_string(), "[SANDBOX]");
        snap!(None, "error_config_unwritable", err);
        assert_eq!(s.listing(), ["644 cfg/config.json", "755 cfg"]);
    } else {
        let s = Sandbox::new();
        fs::set_permissions(s.cfg(), fs::Permissions::from_mode(0o555)).unwrap();
        let o = s.tlsctx(&["new", "prod", "--host", "tcp://127.0.0.1"]);
        fs::set_permissions(s.cfg(), fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains("DOCKER_CONFIG"));
    }
}

#[test]
fn docker_global_flags_before_the_plugin_word() {
    // What Docker passes for `docker --config DIR -c prod tlsctx new web …`.
    let s = Sandbox::new();
    let o = std::process::Command::new(BIN)
        .arg("--config")
        .arg(s.cfg())
        .args([
            "-c",
            "whatever",
            "--log-level",
            "debug",
            "tlsctx",
            "new",
            "web",
            "--host",
            "tcp://10.1.2.3",
            "--no-server",
        ])
        .env_remove("DOCKER_CONFIG")
        .env("DOCKER_TLSCTX_KEYSTORE", "file")
        .output()
        .unwrap();
    ok(&o);
    assert!(
        s.cfg().join("tlsctx/identities/web.json").is_file(),
        "--config must be honoured"
    );
}

#[test]
fn rsa_keys_show_progress_on_a_terminal_only() {
    let s = Sandbox::new();
    let script = require("script");
    let o = std::process::Command::new(&script)
        .args([
            "-q",
            "-c",
            &format!("{BIN} new slow --host tcp://192.0.2.5 --no-server --key-type rsa-4096"),
            "/dev/null",
        ])
        .env("DOCKER_CONFIG", s.cfg())
        .env("DOCKER_TLSCTX_KEYSTORE", "file")
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&o.stdout);
    assert!(
        tty.contains("Generating rsa-4096 key for CA default"),
        "{tty}"
    );
    // Piped, no spinner.
    let o = s.tlsctx(&[
        "new",
        "slow2",
        "--host",
        "tcp://192.0.2.6",
        "--no-server",
        "--key-type",
        "rsa-2048",
    ]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("Generating"));
    // ca ls shows both CAs' state... here the one CA with its two identities.
    let o = s.tlsctx(&["ca", "ls"]);
    snap!(Some(&s), "ca_ls", transcript(&o));
}

#[test]
fn cert_transcript_files_and_refusals() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&["ca", "init"]));
    let o = s.tlsctx(&[
        "cert",
        "registry",
        "--san",
        "registry.local",
        "--san",
        "10.0.0.5",
    ]);
    snap!(Some(&s), "cert_registry", transcript(&o));
    let dir = s.cfg().join("tlsctx/servers/registry");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("key.pem")), 0o600);
    let cert = dir.join("cert.pem");
    let text = openssl_ok(&[
        "x509",
        "-noout",
        "-ext",
        "extendedKeyUsage,subjectAltName",
        "-in",
        cert.to_str().unwrap(),
    ]);
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(
        text.contains("DNS:registry.local, IP Address:10.0.0.5"),
        "{text}"
    );
    // OpenSSL verifies it as a TLS server certificate of our CA.
    openssl_ok(&[
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        dir.join("ca.pem").to_str().unwrap(),
        cert.to_str().unwrap(),
    ]);
    assert_eq!(
        public_key_of_cert(&cert),
        public_key_of_key(&dir.join("key.pem"))
    );

    ok(&s.tlsctx(&["cert", "job", "--san", "job.local", "--client"]));
    let job = s.cfg().join("tlsctx/servers/job/cert.pem");
    openssl_ok(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        dir.join("ca.pem").to_str().unwrap(),
        job.to_str().unwrap(),
    ]);
    let o = openssl(&[
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        dir.join("ca.pem").to_str().unwrap(),
        job.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success(),
        "a --client certificate passed as a server's"
    );

    // ls --all lists them; renew keeps the names and moves the key.
    let ls = ok(&s.tlsctx(&["ls", "--all"]));
    assert!(ls.contains("SERVICE CERTIFICATES"), "{ls}");
    assert!(
        ls.lines()
            .any(|l| l.starts_with("registry ") && l.contains(" service ")),
        "{ls}"
    );
    assert!(
        ls.lines()
            .any(|l| l.starts_with("job ") && l.contains("service-client")),
        "{ls}"
    );
    let key_before = fs::read(dir.join("key.pem")).unwrap();
    ok(&s.tlsctx(&["cert", "renew", "registry", "--add-san", "registry.example"]));
    assert_ne!(fs::read(dir.join("key.pem")).unwrap(), key_before);
    let text = openssl_ok(&[
        "x509",
        "-noout",
        "-ext",
        "subjectAltName",
        "-in",
        cert.to_str().unwrap(),
    ]);
    assert!(
        text.contains("DNS:registry.local, IP Address:10.0.0.5, DNS:registry.example"),
        "{text}"
    );

    // One namespace with server bundles; nothing changes on a refusal.
    let before = s.listing();
    let o = s.tlsctx(&["cert", "registry", "--san", "x.local"]);
    snap!(Some(&s), "cert_exists", transcript(&o));
    ok(&s.tlsctx(&["server", "d1", "--san", "d1.local"]));
    let before_d1 = s.listing();
    let o = s.tlsctx(&["cert", "d1", "--san", "d1.local", "--force"]);
    snap!(Some(&s), "cert_name_taken", transcript(&o));
    assert_eq!(s.listing(), before_d1);
    let o = s.tlsctx(&["swarm", "publish", "registry", "--prefix", "a+b"]);
    snap!(Some(&s), "swarm_bad_prefix", transcript(&o));
    let o = s.tlsctx(&["swarm", "publish", "nothing"]);
    snap!(Some(&s), "swarm_no_bundle", transcript(&o));
    assert_eq!(s.listing(), before_d1);
    assert!(before_d1.len() > before.len());

    // rm takes it away with its key.
    ok(&s.tlsctx(&["rm", "registry"]));
    assert!(!dir.exists());
    assert!(!s.cfg().join("tlsctx/keys/server/registry.key").exists());
}

#[test]
fn keychain_only_transcript_and_files() {
    let s = Sandbox::new();
    let run = s.path().join("run");
    let mut c = s.tlsctx_cmd(&[
        "new",
        "prod",
        "--host",
        "tcp://203.0.113.7:2376",
        "--keychain-only",
    ]);
    c.env("XDG_RUNTIME_DIR", &run);
    let o = c.output().unwrap();
    snap!(Some(&s), "new_keychain_only", transcript(&o));
    assert!(o.status.success());
    let id = "6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77"; // sha256("prod")
    let meta =
        fs::read_to_string(s.cfg().join("contexts/meta").join(id).join("meta.json")).unwrap();
    snap!(Some(&s), "new_keychain_only_meta_json", meta);
    assert!(!s.cfg().join("contexts/tls").join(id).exists());
    // Without the agent, ls says so.
    let mut c = s.tlsctx_cmd(&["ls"]);
    c.env("XDG_RUNTIME_DIR", &run);
    let ls = ok(&c.output().unwrap());
    assert!(
        ls.contains("tcp://203.0.113.7:2376 (agent: not running)"),
        "{ls}"
    );
    // A name whose socket path would not fit in sun_path gets a short,
    // stable one (issue 30: not a /tmp fallback).
    let long = "x".repeat(120);
    let mut c = s.tlsctx_cmd(&[
        "new",
        &long,
        "--host",
        "tcp://203.0.113.7:2376",
        "--keychain-only",
        "--no-server",
    ]);
    c.env("XDG_RUNTIME_DIR", &run);
    ok(&c.output().unwrap());
    let host = ok(&s.docker(&[
        "context",
        "inspect",
        &long,
        "-f",
        "{{.Endpoints.docker.Host}}",
    ]));
    let path = host.trim().strip_prefix("unix://").unwrap().to_string();
    let file = std::path::Path::new(&path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        path.starts_with(&s.cfg().join("tlsctx/agent/_").display().to_string())
            && file.len() == "_0123456789abcdef.sock".len()
            && path.len() <= 103,
        "{path}"
    );
    // Only a configuration folder too long for even that is refused,
    // before anything is written.
    let deep = s.path().join("d".repeat(100));
    fs::create_dir(&deep).unwrap();
    let mut c = s.tlsctx_cmd(&[
        "new",
        "k2",
        "--host",
        "tcp://203.0.113.7:2376",
        "--keychain-only",
        "--no-server",
    ]);
    c.env("DOCKER_CONFIG", &deep);
    let o = c.output().unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("longer than the 103 bytes"),
        "{}",
        transcript(&o)
    );
    assert!(!deep.join("contexts").exists());
}
