//! Over 600 lines: one area's scenarios over a shared fixture (a dockerd, a host, a keyring); the
//! fixture's helpers would be split with them.
//!
//! Fault injection (SECURITY.md, "Invariants"): every write step of every
//! writing command is interrupted in turn, by an abort (what kill -9 does:
//! no destructor, no cleanup) and by a full disk (ENOSPC), through the
//! failpoints of debug builds (fsio::step, `DOCKER_TLSCTX_FAILPOINT`).
//! After each one the store must hold its invariants: at once, no context
//! without its TLS files (Docker would speak plain HTTP); after the next
//! command, everything below; and running the command again succeeds.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::secret_service::SecretService;
use crate::common::*;
use docker_tlsctx::docker::context::context_id;
use docker_tlsctx::pki;
use x509_parser::prelude::FromDer;

struct Scenario {
    name: &'static str,
    setup: &'static [&'static [&'static str]],
    command: &'static [&'static str],
    /// What running it again looks like (a create again with --force).
    again: &'static [&'static str],
    stdin: Option<&'static str>,
}

const NEW: &[&str] = &["new", "prod", "--host", "tcp://10.0.0.1:2376"];
const USE: &[&str] = &["new", "prod", "--host", "tcp://10.0.0.1:2376", "--use"];
const CREDS: &str =
    r#"{"ServerURL":"https://registry.example.com","Username":"alice","Secret":"s3cret"}"#;

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "new (first use: CA, server bundle, identity, context)",
        setup: &[],
        command: NEW,
        again: &["new", "prod", "--host", "tcp://10.0.0.1:2376", "--force"],
        stdin: None,
    },
    Scenario {
        name: "new --force over an existing context and bundle",
        setup: &[NEW],
        command: &[
            "new",
            "prod",
            "--host",
            "tcp://10.0.0.2:2376",
            "--force",
            "--use",
        ],
        again: &[
            "new",
            "prod",
            "--host",
            "tcp://10.0.0.2:2376",
            "--force",
            "--use",
        ],
        stdin: None,
    },
    Scenario {
        name: "renew",
        setup: &[NEW],
        command: &["renew", "prod"],
        again: &["renew", "prod"],
        stdin: None,
    },
    Scenario {
        // Issue 21: a run of several items, each its own transaction. A
        // ten-year threshold makes every item due today.
        name: "renew --due (a context, a client bundle, a service certificate, a server bundle)",
        setup: &[
            NEW,
            &["client", "ci-bundle", "--days", "30"],
            &["cert", "web", "--san", "web.example", "--days", "60"],
        ],
        command: &["renew", "--due", "--before", "3650d"],
        again: &["renew", "--due", "--before", "3650d"],
        stdin: None,
    },
    Scenario {
        // Issue 30: a role change revokes every earlier certificate; a
        // stop between the list and the CRLs is finished by the next
        // command (found by review: the CRLs were never written then).
        name: "renew --role read-only after a renewal",
        setup: &[NEW, &["renew", "prod"]],
        command: &["renew", "prod", "--role", "read-only"],
        again: &["renew", "prod", "--role", "read-only"],
        stdin: None,
    },
    Scenario {
        name: "renew --rekey",
        setup: &[NEW],
        command: &["renew", "prod", "--rekey"],
        again: &["renew", "prod", "--rekey"],
        stdin: None,
    },
    Scenario {
        name: "restore --force",
        setup: &[NEW],
        command: &["restore", "prod", "--force"],
        again: &["restore", "prod", "--force"],
        stdin: None,
    },
    Scenario {
        name: "rm --force of the current context",
        setup: &[USE],
        command: &["rm", "prod", "--force"],
        again: &[],
        stdin: None,
    },
    Scenario {
        name: "ca init",
        setup: &[],
        command: &["ca", "init"],
        again: &["ca", "init", "--force"],
        stdin: None,
    },
    Scenario {
        name: "ca init --force over a CA",
        setup: &[&["ca", "init"]],
        command: &["ca", "init", "--force"],
        again: &["ca", "init", "--force"],
        stdin: None,
    },
    Scenario {
        name: "ca import",
        setup: &[
            &["ca", "init", "--name", "src"],
            &[
                "ca",
                "export",
                "--name",
                "src",
                "--out",
                "@/export",
                "--include-key",
            ],
        ],
        command: &[
            "ca",
            "import",
            "--name",
            "imp",
            "--cert",
            "@/export/ca.pem",
            "--key",
            "@/export/ca-key.pem",
        ],
        again: &[
            "ca",
            "import",
            "--name",
            "imp",
            "--cert",
            "@/export/ca.pem",
            "--key",
            "@/export/ca-key.pem",
            "--force",
        ],
        stdin: None,
    },
    Scenario {
        name: "server",
        setup: &[&["ca", "init"]],
        command: &["server", "node1", "--san", "10.0.0.5"],
        again: &["server", "node1", "--san", "10.0.0.5", "--force"],
        stdin: None,
    },
    Scenario {
        name: "server renew",
        setup: &[NEW],
        command: &["server", "renew", "prod", "--add-san", "10.0.0.9"],
        again: &["server", "renew", "prod"],
        stdin: None,
    },
    Scenario {
        name: "new --keychain-only",
        setup: &[],
        command: &[
            "new",
            "prod",
            "--host",
            "tcp://10.0.0.1:2376",
            "--keychain-only",
        ],
        again: &[
            "new",
            "prod",
            "--host",
            "tcp://10.0.0.1:2376",
            "--keychain-only",
            "--force",
        ],
        stdin: None,
    },
    Scenario {
        name: "agent adopt",
        setup: &[NEW],
        command: &["agent", "adopt", "prod"],
        again: &["agent", "adopt", "prod"],
        stdin: None,
    },
    Scenario {
        name: "renew --rekey, keychain-only",
        setup: &[&[
            "new",
            "prod",
            "--host",
            "tcp://10.0.0.1:2376",
            "--keychain-only",
        ]],
        command: &["renew", "prod", "--rekey"],
        again: &["renew", "prod", "--rekey"],
        stdin: None,
    },
    Scenario {
        name: "cert",
        setup: &[&["ca", "init"]],
        command: &["cert", "site", "--san", "site.local", "--client"],
        again: &["cert", "site", "--san", "site.local", "--client", "--force"],
        stdin: None,
    },
    Scenario {
        name: "cert renew",
        setup: &[&["ca", "init"], &["cert", "site", "--san", "site.local"]],
        command: &["cert", "renew", "site", "--add-san", "10.0.0.9"],
        again: &["cert", "renew", "site"],
        stdin: None,
    },
    Scenario {
        name: "client",
        setup: &[&["ca", "init"]],
        command: &["client", "ci1"],
        again: &["client", "ci1", "--force"],
        stdin: None,
    },
    Scenario {
        name: "hooks enable",
        setup: &[NEW],
        command: &["hooks", "enable"],
        again: &["hooks", "enable"],
        stdin: None,
    },
    Scenario {
        name: "new --server-dir (a folder of the user's) --p12",
        setup: &[],
        command: &[
            "new",
            "prod",
            "--host",
            "tcp://10.0.0.1:2376",
            "--server-dir",
            "@/bundle",
            "--p12",
            "@/prod.p12",
            "--password-stdin",
        ],
        again: &[
            "new",
            "prod",
            "--host",
            "tcp://10.0.0.1:2376",
            "--server-dir",
            "@/bundle",
            "--p12",
            "@/prod.p12",
            "--password-stdin",
            "--force",
        ],
        stdin: Some("correct horse battery"),
    },
    Scenario {
        name: "export --p12",
        setup: &[NEW],
        command: &["export", "prod", "--p12", "@/prod.p12", "--password-stdin"],
        again: &[
            "export",
            "prod",
            "--p12",
            "@/prod.p12",
            "--password-stdin",
            "--force",
        ],
        stdin: Some("correct horse battery"),
    },
    Scenario {
        name: "ca rm",
        setup: &[&["ca", "init", "--name", "spare"]],
        command: &["ca", "rm", "spare"],
        again: &[],
        stdin: None,
    },
    Scenario {
        name: "credential helper erase",
        setup: &[&["@credential", "store"]],
        command: &["@credential", "erase"],
        again: &["@credential", "erase"],
        stdin: Some("https://registry.example.com"),
    },
    Scenario {
        name: "revoke",
        setup: &[
            NEW,
            &[
                "new",
                "other",
                "--host",
                "tcp://10.0.0.3:2376",
                "--no-server",
            ],
        ],
        command: &["revoke", "other", "--reason", "superseded"],
        again: &[],
        stdin: None,
    },
    Scenario {
        name: "credential helper store",
        setup: &[],
        command: &["@credential", "store"],
        again: &["@credential", "store"],
        stdin: Some(CREDS),
    },
];

thread_local! {
    /// The Secret Service the keychain fault test runs against (its thread
    /// only): keys then live in a real gnome-keyring, not in files.
    static KEYRING: std::cell::RefCell<Option<SecretService>> = const { std::cell::RefCell::new(None) };
    /// How often gnome-keyring-daemon crashed under the test and was
    /// started again.
    static KEYRING_CRASHES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn keyring_env(c: &mut Command) -> bool {
    KEYRING.with(|k| {
        let k = k.borrow();
        let Some(k) = k.as_ref() else {
            return false;
        };
        c.env("DOCKER_TLSCTX_KEYSTORE", "os")
            .env("HOME", k.home.path())
            .env("DBUS_SESSION_BUS_ADDRESS", &k.address)
            // A call that does not answer becomes a timeout within 3 s. Not
            // 1 s: with the keychain tests side by side, a real call took
            // longer than that, the command left during it, and
            // gnome-keyring-daemon 42.1 aborted (keyring_crashed), which
            // the hang test cannot tell from its own fault.
            .env("DOCKER_TLSCTX_KEYCHAIN_TIMEOUT", "3");
        true
    })
}

fn secret_tool(args: &[&str]) -> Output {
    let mut c = Command::new("secret-tool");
    c.args(args);
    assert!(keyring_env(&mut c), "no keyring on this thread");
    c.output().unwrap()
}

/// A key as stored: the file store's file, or the Secret Service's item.
fn stored_key(cfg: &Path, kind: &str, name: &str) -> Option<Vec<u8>> {
    if KEYRING.with(|k| k.borrow().is_some()) {
        let o = secret_tool(&[
            "lookup",
            "service",
            "docker-tlsctx",
            "username",
            &format!("{kind}/{name}"),
        ]);
        return (o.status.success() && !o.stdout.is_empty()).then_some(o.stdout);
    }
    fs::read(
        cfg.join("tlsctx/keys")
            .join(kind)
            .join(format!("{name}.key")),
    )
    .ok()
}

/// Our binary with `args` (`@/` is the sandbox; `@credential` runs it as
/// the credential helper).
fn command(s: &Sandbox, args: &[&str], failpoint: Option<String>) -> Command {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("@/", &format!("{}/", s.path().display())))
        .collect();
    let mut c = if args.first().is_some_and(|a| a == "@credential") {
        let helper = s.path().join("docker-credential-tlsctx");
        if !helper.exists() {
            std::os::unix::fs::symlink(BIN, &helper).unwrap();
        }
        let mut c = Command::new(helper);
        c.args(&args[1..])
            .env("DOCKER_CONFIG", s.cfg())
            .env("DOCKER_TLSCTX_KEYSTORE", "file");
        c
    } else {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = s.tlsctx_cmd(&refs);
        // Where keychain-only contexts point Docker (the agent's socket).
        c.env("XDG_RUNTIME_DIR", s.path().join("run"));
        c
    };
    keyring_env(&mut c);
    c.env_remove("DOCKER_TLSCTX_FAILPOINT")
        .env_remove("DOCKER_TLSCTX_KEYCHAIN_FAILPOINT");
    match failpoint {
        // A keychain call that fails, whose answer never comes, or during
        // which Ctrl-C is pressed twice.
        Some(f) if f.starts_with("fail:") || f.starts_with("hang:") || f.starts_with("int:") => {
            c.env("DOCKER_TLSCTX_KEYCHAIN_FAILPOINT", f)
        }
        Some(f) => c.env("DOCKER_TLSCTX_FAILPOINT", f),
        None => &mut c,
    };
    c
}

fn run(s: &Sandbox, args: &[&str], stdin: Option<&str>, failpoint: Option<String>) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut c = command(s, args, failpoint);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    // A command killed before it reads its input closes the pipe: fine.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes());
    child.wait_with_output().unwrap()
}

fn key_der_of_pem(path: &Path) -> Vec<u8> {
    pki::parse_private_key_pem(&fs::read_to_string(path).unwrap()).unwrap()
}

/// Names of the records in `dir` (file stems of `*.json`, or subfolders
/// holding `file`).
fn records(dir: &Path, file: Option<&str>) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            let name = p.file_name()?.to_string_lossy().into_owned();
            match file {
                Some(f) => p.join(f).exists().then_some(name),
                None => name.strip_suffix(".json").map(str::to_string),
            }
        })
        .collect();
    out.sort();
    out
}

fn keys(cfg: &Path, kind: &str) -> Vec<String> {
    if KEYRING.with(|k| k.borrow().is_some()) {
        let o = secret_tool(&["search", "--all", "service", "docker-tlsctx"]);
        let prefix = format!("attribute.username = {kind}/");
        let mut out: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&o.stderr).lines())
            .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
            .collect();
        out.sort();
        out.dedup();
        return out;
    }
    let mut out: Vec<String> = fs::read_dir(cfg.join("tlsctx/keys").join(kind))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .strip_suffix(".key")
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// What must hold at every instant: a context Docker lists has its TLS files.
fn no_plaintext(cfg: &Path) -> Result<(), String> {
    for e in fs::read_dir(cfg.join("contexts/meta"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let meta: serde_json::Value = serde_json::from_slice(
            &fs::read(e.path().join("meta.json")).map_err(|e| e.to_string())?,
        )
        .map_err(|e| format!("meta.json: {e}"))?;
        let name = meta["Name"].as_str().unwrap_or_default().to_string();
        let tls = cfg
            .join("contexts/tls")
            .join(context_id(&name))
            .join("docker");
        // A keychain-only context points at the agent's unix socket: Docker
        // speaks to no tcp:// host there (a TLS folder left by a kill goes
        // with the next command, which `invariants` checks).
        let host = meta["Endpoints"]["docker"]["Host"]
            .as_str()
            .unwrap_or_default();
        if host.starts_with("unix://") {
            continue;
        }
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            if !tls.join(f).is_file() {
                return Err(format!(
                    "context {name:?} has no {f}: Docker would talk plain HTTP"
                ));
            }
        }
    }
    Ok(())
}

/// What must hold once the next command ran.
fn invariants(cfg: &Path) -> Result<(), String> {
    settled(cfg, true)
}

/// The invariants; with `strict` false, a command that failed may instead
/// have left its work journaled (an open journal or a pending credential)
/// for the next command to settle, as a removal that cannot go on does.
fn settled(cfg: &Path, strict: bool) -> Result<(), String> {
    let open = cfg.join("tlsctx/journal.json").exists()
        || cfg.join("tlsctx/registry-pending.json").exists();
    if open && !strict {
        // Journaled for the next command: only what Docker sees must hold.
        return no_plaintext(cfg);
    }
    no_plaintext(cfg)?;
    let root = cfg.join("tlsctx");
    // Every context has its record; every record its key, matching what Docker uses.
    let identities = records(&root.join("identities"), None);
    for e in fs::read_dir(cfg.join("contexts/meta"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let meta: serde_json::Value =
            serde_json::from_slice(&fs::read(e.path().join("meta.json")).unwrap()).unwrap();
        let name = meta["Name"].as_str().unwrap().to_string();
        if !identities.contains(&name) {
            return Err(format!("context {name:?} has no identity record"));
        }
    }
    for name in &identities {
        let rec: serde_json::Value = serde_json::from_slice(
            &fs::read(root.join(format!("identities/{name}.json"))).unwrap(),
        )
        .map_err(|e| format!("record {name}: {e}"))?;
        let der = stored_key(cfg, "client", name)
            .ok_or_else(|| format!("identity {name:?} has no key"))?;
        let cert = fs::read_to_string(root.join(format!("identities/{name}.pem")))
            .map_err(|_| format!("identity {name:?} has no certificate"))?;
        if !pki::key_matches_cert(&der, &cert).unwrap_or(false) {
            return Err(format!(
                "identity {name:?}: keystore key and certificate differ"
            ));
        }
        // Issue 30: an earlier certificate with another role than the
        // identity has now is revoked (a demoted admin's stays admin
        // otherwise), in its CA's list; the CRL check below then wants it
        // in every bundle's crl.pem.
        let role = rec["role"].as_str().unwrap_or("admin");
        let ca = rec["ca"].as_str().unwrap_or_default();
        let listed: Vec<String> = fs::read(root.join(format!("cas/{ca}/revoked.json")))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map(|v| {
                v["entries"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["serial"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for s in rec["superseded"].as_array().into_iter().flatten() {
            let old_role = s["role"].as_str().unwrap_or("admin");
            let serial = s["serial"].as_str().unwrap_or_default();
            if s["ca"] == ca && old_role != role && !listed.iter().any(|l| l == serial) {
                return Err(format!(
                    "identity {name:?} is {role} now, and its earlier {old_role} certificate {serial} is not revoked"
                ));
            }
        }
        if let (Some(ctx), true) = (rec["context"].as_str(), rec["keychain_only"] == true) {
            let meta: serde_json::Value = serde_json::from_slice(
                &fs::read(
                    cfg.join("contexts/meta")
                        .join(context_id(ctx))
                        .join("meta.json"),
                )
                .map_err(|_| format!("identity {name:?} has no context"))?,
            )
            .unwrap();
            let host = meta["Endpoints"]["docker"]["Host"]
                .as_str()
                .unwrap_or_default();
            if !host.ends_with(&format!("/tlsctx/agent/{ctx}.sock")) {
                return Err(format!("keychain-only context {ctx:?} points at {host}"));
            }
            if cfg.join("contexts/tls").join(context_id(ctx)).exists() {
                return Err(format!("keychain-only context {ctx:?} still has TLS files"));
            }
        } else if let Some(ctx) = rec["context"].as_str() {
            let tls = cfg
                .join("contexts/tls")
                .join(context_id(ctx))
                .join("docker");
            if !tls.join("key.pem").exists() {
                return Err(format!("identity {name:?} has no context"));
            }
            if key_der_of_pem(&tls.join("key.pem")) != der {
                return Err(format!(
                    "context {ctx:?}: key.pem is not the keystore's key"
                ));
            }
            if fs::read_to_string(tls.join("cert.pem")).unwrap() != cert {
                return Err(format!("context {ctx:?}: cert.pem is not the recorded one"));
            }
        }
    }
    // CAs: the keystore key belongs to ca.pem.
    let cas = records(&root.join("cas"), Some("ca.json"));
    for ca in &cas {
        let der = stored_key(cfg, "ca", ca).ok_or_else(|| format!("CA {ca:?} has no key"))?;
        let pem = fs::read_to_string(root.join(format!("cas/{ca}/ca.pem"))).unwrap();
        if !pki::key_matches_cert(&der, &pem).unwrap_or(false) {
            return Err(format!("CA {ca:?}: the key does not match ca.pem"));
        }
    }
    // Server bundles: whole, and the key in both places.
    let servers = records(&root.join("servers"), Some("server.json"));
    for s in &servers {
        let rec: serde_json::Value = serde_json::from_slice(
            &fs::read(root.join("servers").join(s).join("server.json")).unwrap(),
        )
        .map_err(|e| format!("server record {s}: {e}"))?;
        let recorded = Path::new(rec["dir"].as_str().unwrap_or_default());
        let dir = if recorded.ends_with(Path::new("tlsctx/servers").join(s)) {
            root.join("servers").join(s)
        } else {
            recorded.to_path_buf()
        };
        // A service certificate (`cert`) has its own three files.
        let service = rec["purpose"].is_string();
        let (files, key_file, cert_file): (&[&str], _, _) = if service {
            (&docker_tlsctx::state::SERVICE_FILES, "key.pem", "cert.pem")
        } else {
            (
                &docker_tlsctx::state::SERVER_FILES,
                "server-key.pem",
                "server-cert.pem",
            )
        };
        for f in files {
            if !dir.join(f).exists() {
                return Err(format!("server bundle {s:?} lacks {f}"));
            }
        }
        let der = key_der_of_pem(&dir.join(key_file));
        let cert = fs::read_to_string(dir.join(cert_file)).unwrap();
        if !pki::key_matches_cert(&der, &cert).unwrap_or(false) {
            return Err(format!("server bundle {s:?}: key and certificate differ"));
        }
        if stored_key(cfg, "server", s) != Some(der) {
            return Err(format!("server bundle {s:?}: keystore key differs"));
        }
    }
    // Revocations: every bundle of a CA that revoked something has a CRL
    // listing exactly those serials.
    for ca in &cas {
        let Ok(b) = fs::read(root.join(format!("cas/{ca}/revoked.json"))) else {
            continue;
        };
        let revs: serde_json::Value =
            serde_json::from_slice(&b).map_err(|e| format!("revoked.json: {e}"))?;
        let mut want: Vec<String> = revs["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["serial"].as_str().unwrap().to_string())
            .collect();
        want.sort();
        for s in &servers {
            let rec: serde_json::Value = serde_json::from_slice(
                &fs::read(root.join("servers").join(s).join("server.json")).unwrap(),
            )
            .unwrap();
            if rec["ca"] != ca.as_str() || want.is_empty() {
                continue;
            }
            let crl = fs::read(root.join("servers").join(s).join("crl.pem"))
                .map_err(|_| format!("bundle {s:?} has no crl.pem"))?;
            let (_, pem) = x509_parser::pem::parse_x509_pem(&crl).map_err(|e| e.to_string())?;
            let (_, parsed) =
                x509_parser::revocation_list::CertificateRevocationList::from_der(&pem.contents)
                    .map_err(|e| format!("bundle {s:?}: crl.pem: {e}"))?;
            let mut got: Vec<String> = parsed
                .iter_revoked_certificates()
                .map(|r| docker_tlsctx::text::hex(r.raw_serial()))
                .collect();
            got.sort();
            if got != want {
                return Err(format!("bundle {s:?}: the CRL lists {got:?}, not {want:?}"));
            }
        }
    }
    // No orphan keys.
    for (kind, known) in [("client", &identities), ("ca", &cas), ("server", &servers)] {
        for k in keys(cfg, kind) {
            if !known.contains(&k) {
                return Err(format!("orphan key {kind}/{k}"));
            }
        }
    }
    // Registry: index and store agree.
    let index: serde_json::Map<String, serde_json::Value> =
        match fs::read(root.join("registry-index.json")) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("registry index: {e}"))?,
            Err(_) => Default::default(),
        };
    let stored = fs::read_dir(root.join("registry"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    if index.len() != stored {
        return Err(format!(
            "registry index lists {} of {stored} credentials",
            index.len()
        ));
    }
    // Nothing left behind: staging, temporary files, an open journal.
    for f in all_files(cfg) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let open = name == "journal.json" || name == "registry-pending.json";
        if name.contains(".tmp-") || f.starts_with(root.join("tmp")) || (open && strict) {
            return Err(format!("left behind: {}", f.display()));
        }
    }
    if root.join("tmp").exists() {
        return Err("left behind: the staging folder".into());
    }
    Ok(())
}

fn fresh(sc: &Scenario) -> Sandbox {
    if KEYRING.with(|k| k.borrow().is_some()) {
        // One keyring for every run: each starts from an empty one.
        let _ = secret_tool(&["clear", "service", "docker-tlsctx"]);
    }
    let s = Sandbox::new();
    for step in sc.setup {
        ok(&run(&s, step, Some(CREDS), None));
    }
    s
}

/// A writing command that does nothing but take the lock and recover (and
/// the credential helper's `list`, which settles its own index).
fn next_command(s: &Sandbox) {
    ok(&run(s, &["@credential", "list"], None, None));
    let o = run(s, &["rm", "no-such-context"], None, None);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not exist"),
        "recovery failed: {}",
        transcript(&o)
    );
}

/// gnome-keyring-daemon 42.1 aborts (GLib-ERROR in g_variant_new, after
/// "aes_negotiate: assertion 'session' failed") when a client goes away
/// while its OpenSession is being handled, which a kill at the wrong
/// moment does. That is the peer failing, not our invariants: the daemon is
/// started again (its items are on disk) and the same fault injected again.
fn keyring_crashed() -> bool {
    KEYRING.with(|k| {
        let mut k = k.borrow_mut();
        let Some(ss) = k.as_mut() else {
            return false;
        };
        if !ss.crashed() {
            return false;
        }
        ss.restart();
        KEYRING_CRASHES.with(|c| c.set(c.get() + 1));
        true
    })
}

/// Runs a scenario with each step failing in turn; returns how many faults
/// were injected.
fn inject(sc: &Scenario, kind: &str) -> usize {
    let mut injected = 0;
    let mut n = 0;
    let mut retries = 0;
    loop {
        n += 1;
        let attempt = std::panic::catch_unwind(|| inject_at(sc, kind, n));
        match attempt {
            Ok(Some(())) => injected += 1,
            Ok(None) => return injected,
            Err(panic) => {
                if keyring_crashed() && retries < 5 {
                    retries += 1;
                    n -= 1;
                    continue;
                }
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// One fault at step `n`: `Some(())` when it was injected, `None` when the
/// command ran whole (past its last step).
fn inject_at(sc: &Scenario, kind: &str, n: usize) -> Option<()> {
    {
        assert!(n < 400, "{}: no end in sight", sc.name);
        let s = fresh(sc);
        let o = run(&s, sc.command, sc.stdin, Some(format!("{kind}:{n}")));
        let ctx = format!("{} with {kind} at step {n}", sc.name);
        if !String::from_utf8_lossy(&o.stderr).contains("failpoint: injected") {
            // Past the last step: the command ran whole.
            assert!(o.status.success(), "{ctx}: {}", transcript(&o));
            invariants(&s.cfg()).unwrap_or_else(|e| panic!("{ctx}, clean run: {e}"));
            return None;
        }
        if kind == "kill" {
            assert_eq!(o.status.signal(), Some(6), "{ctx}: {}", transcript(&o));
            no_plaintext(&s.cfg()).unwrap_or_else(|e| panic!("{ctx}, at once: {e}"));
            next_command(&s);
        } else if kind == "int" {
            // Ctrl-C twice during a keychain call: the call ends first, then
            // the process (130), or the command says it was cancelled, or it
            // had nothing left to check and finished.
            assert!(
                o.status.code() == Some(130) || o.status.success(),
                "{ctx}: {}",
                transcript(&o)
            );
            assert!(!transcript(&o).contains("panicked"), "{ctx}");
            no_plaintext(&s.cfg()).unwrap_or_else(|e| panic!("{ctx}, at once: {e}"));
            next_command(&s);
        } else if !o.status.success() {
            // A full disk, or a keychain call that failed or did not
            // answer, is an error the command reports and cleans up after
            // at once (a best-effort write, such as the expiry index, may
            // shrug it off).
            let text = transcript(&o);
            let want = match kind {
                "fail" => "failpoint: the keychain call failed",
                "hang" => "did not answer within",
                _ => "No space left on device",
            };
            assert!(text.contains(want), "{ctx}: {text}");
            assert!(!text.contains("panicked"), "{ctx}: {text}");
        }
        if kind != "kill" && kind != "int" {
            // At once, before any other command runs: nothing half-made.
            settled(&s.cfg(), false)
                .unwrap_or_else(|e| panic!("{ctx}, at once: {e}\n{}", transcript(&o)));
            next_command(&s);
        }
        invariants(&s.cfg()).unwrap_or_else(|e| panic!("{ctx}: {e}\n{}", transcript(&o)));
        let again = if sc.again.is_empty() {
            sc.command
        } else {
            sc.again
        };
        let o = run(&s, again, sc.stdin, None);
        // rm or revoke again: it finishes now, or it was done already.
        let done_already = ["does not exist", "is already revoked"]
            .iter()
            .any(|t| String::from_utf8_lossy(&o.stderr).contains(t));
        assert!(
            o.status.success() || (sc.again.is_empty() && done_already),
            "{ctx}, run again: {}",
            transcript(&o)
        );
        invariants(&s.cfg()).unwrap_or_else(|e| panic!("{ctx}, run again: {e}"));
    }
    Some(())
}

fn report(kind: &str) {
    let mut total = 0;
    for sc in SCENARIOS {
        let n = inject(sc, kind);
        println!("{kind}: {n:>3} faults injected into {}", sc.name);
        total += n;
    }
    println!("{kind}: {total} faults in all");
    assert!(
        total > 100,
        "only {total} faults: the failpoints are not reached"
    );
}

#[test]
fn a_kill_at_any_write_step_loses_nothing() {
    report("kill");
}

#[test]
fn a_full_disk_at_any_write_step_loses_nothing() {
    report("enospc");
}

/// Issue 19: the same, with keys in a real Secret Service (gnome-keyring)
/// rather than files: a kill at every write step, and a keychain call that
/// fails, or is made but never answers (the deadline fires), at every
/// keychain call of every scenario that touches keys. One test per kind of
/// fault, each with a gnome-keyring of its own, so they fail on their own
/// and run side by side (issue 32: 269 s as one test). libtest starts
/// tests in the order of their names; these start the long ones (a kill
/// with keys in the keychain, 162 s; a call that never answers, 154 s)
/// early, so the area takes about 262 s on two threads, not 337 s.
fn keychain_faults_lose_nothing(kind: &str) {
    const WITH_KEYS: &[&str] = &[
        "new (first use: CA, server bundle, identity, context)",
        "new --force over an existing context and bundle",
        "renew --rekey",
        "restore --force",
        "rm --force of the current context",
        "ca init --force over a CA",
        "server renew",
        "new --keychain-only",
        "agent adopt",
        "renew --rekey, keychain-only",
        "cert",
        "revoke",
    ];
    KEYRING.with(|k| *k.borrow_mut() = Some(SecretService::start()));
    let pid = KEYRING.with(|k| k.borrow().as_ref().unwrap().keyring_pid());
    let mut n_kind = 0;
    for sc in SCENARIOS.iter().filter(|sc| WITH_KEYS.contains(&sc.name)) {
        let n = inject(sc, kind);
        println!("keychain {kind}: {n:>3} faults injected into {}", sc.name);
        n_kind += n;
    }
    assert!(
        n_kind > 10,
        "{kind}: only {n_kind} faults: the failpoints are not reached"
    );
    let crashes = KEYRING_CRASHES.with(|c| c.get());
    println!(
        "keychain {kind}: {n_kind} faults in all; gnome-keyring-daemon crashed and was restarted {crashes} times"
    );
    // Issue 30: the user's keyring survives every fault of ours, Ctrl-C
    // during a D-Bus call included (it aborted 5 times in 447 faults when
    // every command opened sessions of its own and a second Ctrl-C left
    // at once).
    let (now, crashed) = KEYRING.with(|k| {
        let mut k = k.borrow_mut();
        let ss = k.as_mut().unwrap();
        (ss.keyring_pid(), ss.crashed())
    });
    assert!(
        crashes == 0 && !crashed && now == pid,
        "gnome-keyring-daemon died under the faults ({crashes} restarts; PID {pid} then {now})"
    );
    KEYRING.with(|k| k.borrow_mut().take());
}

#[test]
fn a_kill_at_any_step_with_keys_in_the_keychain_loses_nothing() {
    keychain_faults_lose_nothing("kill");
}

#[test]
fn a_failed_keychain_call_at_any_step_loses_nothing() {
    keychain_faults_lose_nothing("fail");
}

#[test]
fn a_keychain_call_that_never_answers_at_any_step_loses_nothing() {
    keychain_faults_lose_nothing("hang");
}

#[test]
fn ctrl_c_during_any_keychain_call_loses_nothing() {
    keychain_faults_lose_nothing("int");
}
