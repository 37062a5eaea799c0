//! Every PKCS#12 file we write, read by independent readers: OpenSSL 3
//! (without -legacy), Java's keytool, Python's cryptography, NSS's pk12util.
//! Plus `export --dir`, `env`, the `--keychain` path with a stub `security`,
//! and bad input that writes nothing.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

const PW: &str = "correct horse battery staple";

fn sandbox_with_context() -> Sandbox {
    let s = Sandbox::new();
    ok(&s.tlsctx(&[
        "new",
        "prod",
        "--host",
        "tcp://127.0.0.1:2376",
        "--no-server",
    ]));
    s
}

fn export_p12(s: &Sandbox, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "export",
        "prod",
        "--p12",
        file.to_str().unwrap(),
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    with_stdin(s.tlsctx_cmd(&args), &format!("{PW}\n"))
}

fn pwfile(s: &Sandbox) -> PathBuf {
    let p = s.path().join("pw");
    fs::write(&p, PW).unwrap();
    p
}

/// OpenSSL that must succeed; what it printed on both streams.
fn openssl_text(args: &[&str]) -> String {
    let o = openssl(args);
    ok(&o);
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// OpenSSL's view: algorithms, bags, attributes; and the key matches the certificate.
fn openssl_reads(file: &Path, pw: &Path) -> String {
    let info = openssl_text(&[
        "pkcs12",
        "-info",
        "-noout",
        "-in",
        file.to_str().unwrap(),
        "-passin",
        &format!("file:{}", pw.display()),
    ]);
    let pem = openssl_text(&[
        "pkcs12",
        "-nodes",
        "-in",
        file.to_str().unwrap(),
        "-passin",
        &format!("file:{}", pw.display()),
    ]);
    let dir = file.parent().unwrap();
    fs::write(dir.join("out.pem"), &pem).unwrap();
    let from_key = openssl_text(&[
        "pkey",
        "-in",
        dir.join("out.pem").to_str().unwrap(),
        "-pubout",
    ]);
    let from_cert = openssl_text(&[
        "x509",
        "-in",
        dir.join("out.pem").to_str().unwrap(),
        "-noout",
        "-pubkey",
    ]);
    assert_eq!(
        from_key, from_cert,
        "the key in the file must belong to its first certificate"
    );
    format!("{info}\n{pem}")
}

fn keytool_lists(file: &Path, pw: &Path) -> String {
    let o = Command::new(require("keytool"))
        .args([
            "-list",
            "-storetype",
            "PKCS12",
            "-keystore",
            file.to_str().unwrap(),
            "-storepass:file",
            pw.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    ok(&o)
}

fn python_loads(file: &Path) {
    let script = format!(
        r#"
from cryptography.hazmat.primitives.serialization import pkcs12, Encoding, PublicFormat
key, cert, extra = pkcs12.load_key_and_certificates(open({file:?}, "rb").read(), {PW:?}.encode())
spki = lambda k: k.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
assert spki(key.public_key()) == spki(cert.public_key()), "key does not match certificate"
assert len(extra) == 1, "the CA certificate travels with the identity"
print(cert.subject.rfc4514_string())
"#,
        file = file.display().to_string()
    );
    let out = ok(&Command::new(require("python3"))
        .arg("-c")
        .arg(script)
        .output()
        .unwrap());
    assert_eq!(out.trim(), "CN=prod-client,OU=role:admin");
}

#[test]
fn legacy_profile_reads_everywhere() {
    let s = sandbox_with_context();
    let file = s.path().join("prod.p12");
    let o = export_p12(&s, &file, &[]);
    ok(&o);
    assert_eq!(mode(&file), 0o600);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("Password for"),
        "a given password is not echoed"
    );
    let pw = pwfile(&s);
    let text = openssl_reads(&file, &pw);
    // OpenSSL 3 without -legacy: 3DES for both bags, a SHA-1 MAC, 2048 iterations.
    assert!(text.contains("MAC: sha1, Iteration 2048"), "{text}");
    assert!(
        text.contains("PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048"),
        "{text}"
    );
    assert!(
        text.contains("Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048"),
        "{text}"
    );
    // Friendly name and localKeyID on both the key and its certificate: that is how Keychain pairs them.
    assert_eq!(
        text.matches("friendlyName: prod-client").count(),
        2,
        "{text}"
    );
    let ids: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("localKeyID:"))
        .collect();
    assert_eq!(ids.len(), 2, "{text}");
    assert_eq!(ids[0], ids[1]);
    assert!(
        keytool_lists(&file, &pw).contains("prod-client, ")
            && keytool_lists(&file, &pw).contains("PrivateKeyEntry")
    );
    python_loads(&file);

    // NSS, as Firefox and Chromium on Linux import it.
    let db = s.path().join("nssdb");
    fs::create_dir(&db).unwrap();
    let sql = format!("sql:{}", db.display());
    ok(&Command::new(require("certutil"))
        .args(["-N", "-d", &sql, "--empty-password"])
        .output()
        .unwrap());
    let o = Command::new(require("pk12util"))
        .args([
            "-i",
            file.to_str().unwrap(),
            "-d",
            &sql,
            "-w",
            pw.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(ok(&o).contains("PKCS12 IMPORT SUCCESSFUL"));
    let listed = ok(&Command::new("certutil")
        .args(["-L", "-d", &sql])
        .output()
        .unwrap());
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("prod-client") && l.trim_end().ends_with("u,u,u")),
        "{listed}"
    );
    let keys = ok(&Command::new("certutil")
        .args(["-K", "-d", &sql])
        .output()
        .unwrap());
    assert!(keys.contains("prod-client"), "{keys}");
}

#[test]
fn modern_profile() {
    let s = sandbox_with_context();
    let file = s.path().join("modern.p12");
    ok(&export_p12(
        &s,
        &file,
        &["--p12-profile", "modern", "--name", "Prod Docker"],
    ));
    let pw = pwfile(&s);
    let text = openssl_reads(&file, &pw);
    assert!(text.contains("MAC: sha256"), "{text}");
    assert!(
        text.contains(
            "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256"
        ),
        "{text}"
    );
    assert_eq!(
        text.matches("friendlyName: Prod Docker").count(),
        2,
        "{text}"
    );
    assert!(keytool_lists(&file, &pw).contains("prod docker, "));
    python_loads(&file);
}

#[test]
fn a_generated_password_is_shown_once_and_works() {
    let s = sandbox_with_context();
    let file = s.path().join("gen.p12");
    let o = s.tlsctx(&["export", "prod", "--p12", file.to_str().unwrap()]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("Password for "))
        .expect("the password is shown");
    let pw = line.rsplit(": ").next().unwrap();
    assert_eq!(pw.len(), 24);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains(pw),
        "only on stderr"
    );
    let p = s.path().join("genpw");
    fs::write(&p, pw).unwrap();
    openssl_text(&[
        "pkcs12",
        "-info",
        "-noout",
        "-in",
        file.to_str().unwrap(),
        "-passin",
        &format!("file:{}", p.display()),
    ]);
    // And it is stored nowhere.
    for f in all_files(&s.cfg()) {
        assert!(
            !fs::read(&f)
                .unwrap()
                .windows(pw.len())
                .any(|w| w == pw.as_bytes()),
            "{}",
            f.display()
        );
    }
}

#[test]
fn new_writes_a_p12_at_creation() {
    let s = Sandbox::new();
    let file = s.path().join("new.p12");
    let mut c = s.tlsctx_cmd(&[
        "new",
        "prod",
        "--host",
        "tcp://127.0.0.1:2376",
        "--no-server",
        "--p12",
        file.to_str().unwrap(),
        "--password-stdin",
    ]);
    c.env("DOCKER_TLSCTX_KEYSTORE", "file");
    ok(&with_stdin(c, PW));
    let pw = pwfile(&s);
    let text = openssl_reads(&file, &pw);
    // The same certificate as the context's.
    let ctx_cert = fs::read_to_string(s.cfg().join("contexts/tls/6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/docker/cert.pem")).unwrap();
    assert!(text.contains(ctx_cert.trim()), "{text}");
}

#[test]
fn export_dir_and_env() {
    let s = sandbox_with_context();
    let dir = s.path().join("certs");
    ok(&s.tlsctx(&["export", "prod", "--dir", dir.to_str().unwrap()]));
    assert_eq!(mode(&dir.join("key.pem")), 0o600);
    assert_eq!(mode(&dir), 0o700);
    let ctx = s.cfg().join(
        "contexts/tls/6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/docker",
    );
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        assert_eq!(
            fs::read(dir.join(f)).unwrap(),
            fs::read(ctx.join(f)).unwrap(),
            "{f}"
        );
    }
    // Again without --force: refused.
    let o = s.tlsctx(&["export", "prod", "--dir", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));

    for shell in ["sh", "fish", "powershell"] {
        let o = s.tlsctx(&["env", "prod", "--shell", shell]);
        snap!(Some(&s), format!("env_{shell}"), transcript(&o));
    }
    // What eval makes of it in a real shell.
    let script = format!(
        "eval \"$(DOCKER_CONFIG='{}' '{}' env prod)\" && printf '%s|%s|%s' \"$DOCKER_HOST\" \"$DOCKER_TLS_VERIFY\" \"$DOCKER_CERT_PATH\"",
        s.cfg().display(),
        BIN
    );
    let out = ok(&Command::new("sh").arg("-c").arg(script).output().unwrap());
    assert_eq!(out, format!("tcp://127.0.0.1:2376|1|{}", ctx.display()));

    // A meta.json from elsewhere (docker context import) whose Host would
    // end PowerShell's string at a typographic quote, or fish's at \':
    // nothing is printed for a shell to evaluate (attacker review, issue 24).
    let meta = s.cfg().join(
        "contexts/meta/6754af9632a2745e85c293e5aac0863370d9bd3330b9938c00cadfd215227d77/meta.json",
    );
    let good = fs::read_to_string(&meta).unwrap();
    for evil in [
        "tcp://h\\u201d; Write-Output PWNED; \\u201c:2376",
        "tcp://h\\\\'; echo PWNED; #:2376",
        "unix:///tmp/x'; echo PWNED; #",
    ] {
        fs::write(&meta, good.replace("tcp://127.0.0.1:2376", evil)).unwrap();
        for shell in ["sh", "fish", "powershell"] {
            let o = s.tlsctx(&["env", "prod", "--shell", shell]);
            assert_eq!(
                o.status.code(),
                Some(1),
                "{evil} {shell}: {}",
                transcript(&o)
            );
            assert!(o.stdout.is_empty(), "{evil} {shell}: {}", transcript(&o));
            assert!(!String::from_utf8_lossy(&o.stdout).contains("PWNED"));
        }
    }
    fs::write(&meta, good).unwrap();
}

/// A stand-in for macOS's security(1): records its arguments and keeps a
/// copy of the file it was asked to import.
fn stub_security(s: &Sandbox) -> PathBuf {
    let bin = s.path().join("stubbin");
    fs::create_dir_all(&bin).unwrap();
    let log = s.path().join("security.log");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{log}'\ncp \"$2\" '{copy}'\nls -l \"$2\" | cut -c1-10 > '{mode}'\n",
        log = log.display(),
        copy = s.path().join("imported.p12").display(),
        mode = s.path().join("imported.mode").display()
    );
    fs::write(bin.join("security"), script).unwrap();
    fs::set_permissions(bin.join("security"), fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn keychain_import_runs_security_with_a_temporary_file() {
    let s = sandbox_with_context();
    let bin = stub_security(&s);
    let home = s.path().join("home");
    fs::create_dir(&home).unwrap();
    let mut c = s.tlsctx_cmd(&["export", "prod", "--keychain", "--name", "Prod"]);
    c.env(
        "PATH",
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
    )
    .env("HOME", &home);
    let o = c.output().unwrap();
    snap!(Some(&s), "keychain_import", transcript(&o));
    ok(&o);
    let args: Vec<String> = fs::read_to_string(s.path().join("security.log"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(args[0], "import");
    assert_eq!(
        &args[2..6],
        [
            "-f",
            "pkcs12",
            "-k",
            &home
                .join("Library/Keychains/login.keychain-db")
                .display()
                .to_string()
        ]
    );
    assert_eq!(args[6], "-P");
    // The imported file was private, is gone now, and opens with the single-use password.
    assert_eq!(
        fs::read_to_string(s.path().join("imported.mode"))
            .unwrap()
            .trim(),
        "-rw-------"
    );
    assert!(
        !Path::new(&args[1]).exists(),
        "the temporary file must be removed"
    );
    let p = s.path().join("onetime");
    fs::write(&p, &args[7]).unwrap();
    let text = openssl_reads(&s.path().join("imported.p12"), &p);
    assert!(
        text.contains("pbeWithSHA1And3-KeyTripleDES-CBC") && text.contains("friendlyName: Prod"),
        "{text}"
    );
    assert!(!s.cfg().join("tlsctx/tmp").exists());

    // Without security(1) (not macOS): a clear error, nothing done.
    let mut c = s.tlsctx_cmd(&["export", "prod", "--keychain"]);
    c.env("PATH", "/nonexistent");
    let o = c.output().unwrap();
    snap!(Some(&s), "keychain_no_security", transcript(&o));
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn bad_input_writes_nothing() {
    let s = sandbox_with_context();
    let file = s.path().join("x.p12");
    let before = s.listing();
    let cases: Vec<(&str, Output)> = vec![
        (
            "empty_password",
            with_stdin(
                s.tlsctx_cmd(&[
                    "export",
                    "prod",
                    "--p12",
                    file.to_str().unwrap(),
                    "--password-stdin",
                ]),
                "\n",
            ),
        ),
        (
            "blank_password",
            with_stdin(
                s.tlsctx_cmd(&[
                    "export",
                    "prod",
                    "--p12",
                    file.to_str().unwrap(),
                    "--password-stdin",
                ]),
                "   \n",
            ),
        ),
        (
            "unknown_context",
            s.tlsctx(&["export", "nope", "--p12", file.to_str().unwrap()]),
        ),
        (
            "missing_folder",
            s.tlsctx(&[
                "export",
                "prod",
                "--p12",
                s.path().join("no/such/dir/x.p12").to_str().unwrap(),
            ]),
        ),
        ("no_target", s.tlsctx(&["export", "prod"])),
        (
            "unknown_profile",
            s.tlsctx(&[
                "export",
                "prod",
                "--p12",
                file.to_str().unwrap(),
                "--p12-profile",
                "rc2",
            ]),
        ),
        ("env_unknown_context", s.tlsctx(&["env", "nope"])),
        (
            "new_empty_password",
            with_stdin(
                s.tlsctx_cmd(&[
                    "new",
                    "other",
                    "--host",
                    "tcp://127.0.0.1",
                    "--p12",
                    file.to_str().unwrap(),
                    "--password-stdin",
                ]),
                "",
            ),
        ),
    ];
    for (name, o) in cases {
        assert!(!o.status.success(), "{name}");
        snap!(Some(&s), format!("p12_error_{name}"), transcript(&o));
        assert_eq!(s.listing(), before, "{name} wrote something");
    }
    // An existing file needs --force.
    ok(&export_p12(&s, &file, &[]));
    let first = fs::read(&file).unwrap();
    let o = export_p12(&s, &file, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(fs::read(&file).unwrap(), first);
    ok(&export_p12(&s, &file, &["--force"]));
    assert_ne!(fs::read(&file).unwrap(), first);
}
