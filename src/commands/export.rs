//! Handing a client identity to other tools: `export` (PKCS#12, a PEM folder,
//! the macOS login keychain) and `env` (docker-machine style variables).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{client, Env};
use crate::cli::{EnvArgs, ExportArgs, P12Opts, Shell};
use crate::context::validate_context_name;
use crate::error::{Error, Result};
use crate::fsio::{self, PUBLIC_FILE, SECRET_DIR, SECRET_FILE};
use crate::keystore;
use crate::p12;
use crate::pki;
use crate::state::IdentityRecord;

/// A context's identity, read back: what every export writes.
pub struct Material {
    pub host: String,
    pub cn: String,
    pub ca_pem: String,
    pub cert_pem: String,
    /// PKCS#8 DER, from the keystore (the canonical copy).
    pub key_der: Vec<u8>,
}

pub fn load(env: &Env, name: &str) -> Result<Material> {
    load_with_record(env, name).map(|(_, m)| m)
}

/// A context's identity from what we keep (record, certificate, CA, the key
/// in the keystore), checked to belong together. `restore` rebuilds a
/// context from the same.
pub fn load_with_record(env: &Env, name: &str) -> Result<(IdentityRecord, Material)> {
    validate_context_name(name)?;
    let state = env.state();
    let rec = state
        .identity(name)?
        .ok_or_else(|| Error::IdentityNotFound(name.into()))?;
    let host = match (&rec.context, &rec.host) {
        (Some(_), Some(h)) => h.clone(),
        _ => {
            return Err(Error::Corrupt {
                path: state.identity_cert_path(name).with_extension("json"),
                why: "this identity is a client bundle (docker tlsctx client), not a context"
                    .into(),
            })
        }
    };
    let cert_pem = fsio::read_to_string(&state.identity_cert_path(name))?;
    let (_, ca_pem) = state
        .ca(&rec.ca)?
        .ok_or_else(|| Error::CaNotFound(rec.ca.clone()))?;
    let ks = keystore::open_recorded(&rec.keystore, &env.config_dir)?;
    let key_der = ks
        .get(&client::account(name))?
        .ok_or_else(|| Error::KeyMissing {
            what: format!("identity {name:?}"),
            backend: rec.keystore.clone(),
            fix: format!(
                "issue a new identity: docker tlsctx new {name} --host {host} --no-server --force"
            ),
        })?;
    if !pki::key_matches_cert(&key_der, &cert_pem)? {
        return Err(Error::Corrupt {
            path: state.identity_cert_path(name),
            why: "the certificate does not belong to the key in the keystore".into(),
        });
    }
    let m = Material {
        host,
        cn: rec.cn.clone(),
        ca_pem,
        cert_pem,
        key_der,
    };
    Ok((rec, m))
}

fn der_of(pem_text: &str) -> Result<Vec<u8>> {
    x509_parser::pem::parse_x509_pem(pem_text.as_bytes())
        .map(|(_, p)| p.contents)
        .map_err(|e| Error::Crypto(format!("not a PEM certificate: {e}")))
}

/// The password: from stdin (one line, never empty), or generated.
/// Returns it and whether it was generated (and so must be shown once).
fn password(opts: &P12Opts) -> Result<(String, bool)> {
    if !opts.password_stdin {
        return Ok((p12::generate_password(), true));
    }
    let mut buf = Vec::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_end(&mut buf)
        .map_err(Error::io("read", "standard input"))?;
    let text =
        String::from_utf8(buf).map_err(|_| Error::BadPassword("it is not UTF-8 text".into()))?;
    // One trailing newline is the terminator `echo` adds, not part of the password.
    let pw = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if pw.trim().is_empty() {
        return Err(Error::BadPassword(
            "it is empty; macOS 15 cannot import a PKCS#12 file without a password".into(),
        ));
    }
    Ok((pw.to_string(), false))
}

fn encode(m: &Material, friendly: &str, pw: &str, profile: p12::Profile) -> Result<Vec<u8>> {
    let cert = der_of(&m.cert_pem)?;
    let chain = vec![der_of(&m.ca_pem)?];
    Ok(p12::encode(
        &p12::Identity {
            key_pkcs8: &m.key_der,
            cert: &cert,
            chain: &chain,
            friendly_name: friendly,
        },
        pw,
        profile,
    ))
}

/// Refuses to overwrite without `force`, and a target whose folder is missing.
fn check_target(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        return Err(Error::FileExists(path.into()));
    }
    if path.is_dir() {
        return Err(Error::FileExists(path.into()));
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::Io {
            action: "write",
            path: path.into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "its folder does not exist"),
        });
    }
    Ok(())
}

/// Everything `--p12` needs from the user, checked before anything is
/// written: the target and the password.
pub struct P12Plan {
    path: PathBuf,
    password: String,
    generated: bool,
    profile: p12::Profile,
}

pub fn plan_p12(path: &Path, opts: &P12Opts, force: bool) -> Result<P12Plan> {
    check_target(path, force)?;
    let (password, generated) = password(opts)?;
    Ok(P12Plan {
        path: path.into(),
        password,
        generated,
        profile: opts.p12_profile,
    })
}

/// `--p12 FILE` (export and new): writes 0600 atomically.
pub fn write_p12(m: &Material, plan: &P12Plan, friendly: &str) -> Result<()> {
    let (path, pw, generated) = (&plan.path, &plan.password, plan.generated);
    let bytes = encode(m, friendly, pw, plan.profile)?;
    super::check_cancelled()?;
    fsio::write_atomic(path, &bytes, SECRET_FILE)?;
    let profile = match plan.profile {
        p12::Profile::Legacy => "legacy: 3DES, SHA-1 MAC",
        p12::Profile::Modern => "modern: AES-256, SHA-256 MAC",
    };
    eprintln!(
        "Wrote {} (PKCS#12, {profile}, friendly name {friendly:?}, mode 0600).",
        path.display()
    );
    if generated {
        eprintln!(
            "Password for {} (shown once, stored nowhere): {pw}",
            path.display()
        );
    }
    Ok(())
}

/// `--keychain`: imports the identity into the macOS login keychain with
/// `security import`. `security` takes the file's password only as `-P` on
/// its argv, so the file imported is a temporary one (0600, in a 0700
/// folder, removed right after) protected by a random single-use password:
/// the user's own password, if any, never reaches an argv.
pub fn import_into_keychain(env: &Env, m: &Material, friendly: &str) -> Result<()> {
    let security = which::which("security").map_err(|_| Error::NoSecurityTool)?;
    let home = dirs::home_dir().ok_or(Error::NoSecurityTool)?;
    let login = home.join("Library/Keychains/login.keychain-db");
    let stage = fsio::TempDir::new_in(&env.state().tmp_dir())?;
    let file = stage.path().join("identity.p12");
    let pw = p12::generate_password();
    // Legacy: the only profile every macOS version imports.
    fsio::write_atomic(
        &file,
        &encode(m, friendly, &pw, p12::Profile::Legacy)?,
        SECRET_FILE,
    )?;
    super::check_cancelled()?;
    let out = Command::new(&security)
        .arg("import")
        .arg(&file)
        .args(["-f", "pkcs12", "-k"])
        .arg(&login)
        .args(["-P", &pw])
        .output()
        .map_err(Error::io("run", &security))?;
    drop(stage); // the temporary file goes now, whatever happened
    if !out.status.success() {
        return Err(Error::KeychainImport(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    eprintln!(
        "Imported identity {friendly:?} into the login keychain ({}).",
        login.display()
    );
    let hostport = m.host.trim_start_matches("tcp://");
    eprintln!("curl uses it by name: curl --cert {friendly:?} https://{hostport}/_ping");
    Ok(())
}

pub fn run_export(env: &Env, args: &ExportArgs) -> Result<()> {
    let m = load(env, &args.name)?;
    let friendly = args.friendly_name.clone().unwrap_or_else(|| m.cn.clone());
    if let Some(dir) = &args.dir {
        return write_dir(&m, dir, args.force);
    }
    if let Some(p) = &args.p12 {
        let plan = plan_p12(p, &args.p12_opts, args.force)?;
        write_p12(&m, &plan, &friendly)?;
    }
    if args.p12_opts.keychain {
        import_into_keychain(env, &m, &friendly)?;
    }
    Ok(())
}

/// `--dir`: ca.pem, cert.pem, key.pem as DOCKER_CERT_PATH wants them.
fn write_dir(m: &Material, dir: &Path, force: bool) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::NotADirectory(dir.into()));
    }
    if !force {
        for f in client::FILES {
            if dir.join(f).exists() {
                return Err(Error::FileExists(dir.join(f)));
            }
        }
    }
    super::check_cancelled()?;
    fsio::create_dir_all(dir, SECRET_DIR)?;
    fsio::write_atomic(
        &dir.join("key.pem"),
        pki::key_pem_from_der(&m.key_der).as_bytes(),
        SECRET_FILE,
    )?;
    fsio::write_atomic(&dir.join("cert.pem"), m.cert_pem.as_bytes(), PUBLIC_FILE)?;
    fsio::write_atomic(&dir.join("ca.pem"), m.ca_pem.as_bytes(), PUBLIC_FILE)?;
    println!(
        "Wrote ca.pem, cert.pem and key.pem (0600) to {}",
        dir.display()
    );
    println!(
        "Use them with: DOCKER_HOST={} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={} docker version",
        m.host,
        dir.display()
    );
    Ok(())
}

/// `env NAME`: the variables docker-machine's `env` printed, pointing at the
/// context's own TLS folder.
pub fn run_env(env: &Env, args: &EnvArgs) -> Result<()> {
    validate_context_name(&args.name)?;
    let contexts = env.contexts();
    let host = contexts
        .host(&args.name)?
        .ok_or_else(|| Error::ContextMissing(args.name.clone()))?;
    let cert_path: PathBuf = contexts.tls_dir(&args.name).join("docker");
    let cert_path = cert_path.display().to_string();
    let vars = [
        ("DOCKER_HOST", host.as_str()),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", cert_path.as_str()),
    ];
    let hostport = host.trim_start_matches("tcp://");
    let (comment_eval, curl) = match args.shell {
        Shell::Sh => (
            format!("eval \"$(docker tlsctx env {})\"", args.name),
            format!("curl --cacert \"$DOCKER_CERT_PATH/ca.pem\" --cert \"$DOCKER_CERT_PATH/cert.pem\" --key \"$DOCKER_CERT_PATH/key.pem\" https://{hostport}/_ping"),
        ),
        Shell::Fish => (
            format!("docker tlsctx env {} --shell fish | source", args.name),
            format!("curl --cacert \"$DOCKER_CERT_PATH/ca.pem\" --cert \"$DOCKER_CERT_PATH/cert.pem\" --key \"$DOCKER_CERT_PATH/key.pem\" https://{hostport}/_ping"),
        ),
        Shell::Powershell => (
            format!("& docker tlsctx env {} --shell powershell | Invoke-Expression", args.name),
            format!("curl.exe --cacert \"$Env:DOCKER_CERT_PATH\\ca.pem\" --cert \"$Env:DOCKER_CERT_PATH\\cert.pem\" --key \"$Env:DOCKER_CERT_PATH\\key.pem\" https://{hostport}/_ping"),
        ),
    };
    for (k, v) in vars {
        match args.shell {
            Shell::Sh => println!("export {k}={}", sh_quote(v)),
            Shell::Fish => println!("set -gx {k} {};", sh_quote(v)),
            Shell::Powershell => println!(
                "$Env:{k} = \"{}\"",
                v.replace('`', "``").replace('"', "`\"").replace('$', "`$")
            ),
        }
    }
    println!("# Run this command to configure your shell:");
    println!("# {comment_eval}");
    println!("# Reach the daemon with curl: {curl}");
    Ok(())
}

/// Single quotes for sh and fish: nothing inside is special but the quote itself.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
