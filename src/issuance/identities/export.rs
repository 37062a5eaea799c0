//! Handing a client identity to other tools: PKCS#12, a PEM folder, the
//! macOS login keychain. Used by `export` and by `new --p12/--keychain`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::fsio::{self, PUBLIC_FILE, SECRET_DIR, SECRET_FILE};
use crate::issuance::identities::identity::Material;
use crate::issuance::{identities::client, Env};
use crate::p12;
use crate::pki;

fn der_of(pem_text: &str) -> Result<Vec<u8>> {
    x509_parser::pem::parse_x509_pem(pem_text.as_bytes())
        .map(|(_, p)| p.contents)
        .map_err(|e| Error::Crypto(format!("not a PEM certificate: {e}")))
}

/// The password: from stdin (one line, never empty), or generated.
/// Returns it and whether it was generated (and so must be shown once).
fn password(from_stdin: bool) -> Result<(String, bool)> {
    if !from_stdin {
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

pub fn plan_p12(
    path: &Path,
    profile: p12::Profile,
    password_stdin: bool,
    force: bool,
) -> Result<P12Plan> {
    check_target(path, force)?;
    let (password, generated) = password(password_stdin)?;
    Ok(P12Plan {
        path: path.into(),
        password,
        generated,
        profile,
    })
}

/// What `--p12` wrote; the password only when generated (shown once).
pub struct P12Written {
    pub path: PathBuf,
    pub profile: p12::Profile,
    pub generated_password: Option<String>,
}

/// `--p12 FILE` (export and new): writes 0600 atomically.
pub fn write_p12(env: &Env, m: &Material, plan: &P12Plan, friendly: &str) -> Result<P12Written> {
    let bytes = encode(m, friendly, &plan.password, plan.profile)?;
    env.check_cancelled()?;
    fsio::write_atomic(&plan.path, &bytes, SECRET_FILE)?;
    Ok(P12Written {
        path: plan.path.clone(),
        profile: plan.profile,
        generated_password: plan.generated.then(|| plan.password.clone()),
    })
}

/// `security`, or the error that --keychain works on macOS only.
pub fn security_tool() -> Result<PathBuf> {
    which::which("security").map_err(|_| Error::NoSecurityTool)
}

/// `--keychain`: imports the identity into the macOS login keychain with
/// `security import`. `security` takes the file's password only as `-P` on
/// its argv, so the file imported is a temporary one (0600, in a 0700
/// folder, removed right after) protected by a random single-use password:
/// the user's own password, if any, never reaches an argv. Returns the
/// keychain's path.
pub fn import_into_keychain(env: &Env, m: &Material, friendly: &str) -> Result<PathBuf> {
    let security = security_tool()?;
    // The login keychain, unless DOCKER_TLSCTX_MACOS_KEYCHAIN names another
    // (a CI job's temporary keychain, a team's shared one).
    let login = match crate::environment::var_os(crate::environment::Var::MacosKeychain) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => dirs::home_dir()
            .ok_or(Error::NoSecurityTool)?
            .join("Library/Keychains/login.keychain-db"),
    };
    let stage = fsio::TempDir::new_in(&env.state().tmp_dir())?;
    let file = stage.path().join("identity.p12");
    let pw = p12::generate_password();
    // Legacy: the only profile every macOS version imports.
    fsio::write_atomic(
        &file,
        &encode(m, friendly, &pw, p12::Profile::Legacy)?,
        SECRET_FILE,
    )?;
    env.check_cancelled()?;
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
    Ok(login)
}

/// `--dir`: ca.pem, cert.pem, key.pem as DOCKER_CERT_PATH wants them.
pub fn write_dir(env: &Env, m: &Material, dir: &Path, force: bool) -> Result<()> {
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
    env.check_cancelled()?;
    fsio::create_dir_all(dir, SECRET_DIR)?;
    fsio::write_atomic(
        &dir.join("key.pem"),
        pki::key_pem_from_der(&m.key_der).as_bytes(),
        SECRET_FILE,
    )?;
    fsio::write_atomic(&dir.join("cert.pem"), m.cert_pem.as_bytes(), PUBLIC_FILE)?;
    fsio::write_atomic(&dir.join("ca.pem"), m.ca_pem.as_bytes(), PUBLIC_FILE)?;
    Ok(())
}
