//! File-system primitives: atomic writes with explicit modes, private folders,
//! and where Docker's configuration lives.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Secret files: private keys, the TLS files of a context (docker/cli
/// cli/context/store/tlsstore.go writes them 0600).
pub const SECRET_FILE: u32 = 0o600;
/// Folders holding secrets (tlsstore.go creates them 0700).
pub const SECRET_DIR: u32 = 0o700;
/// Public files: certificates, meta.json (metadatastore.go writes 0644).
pub const PUBLIC_FILE: u32 = 0o644;
/// Public folders (metadatastore.go creates them 0755).
pub const PUBLIC_DIR: u32 = 0o755;

/// `--config` > `$DOCKER_CONFIG` > `~/.docker`, the order docker/cli
/// cli/config/config.go uses.
pub fn docker_config_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("DOCKER_CONFIG") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => dirs::home_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".docker"),
    }
}

/// Creates `dir` and missing parents. `dir` itself gets `mode` exactly
/// (whatever the umask); missing parents get 0755, as Docker's MkdirAll under
/// the usual umask. Existing folders are left as they are.
pub fn create_dir_all(dir: &Path, mode: u32) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        return Err(Error::NotADirectory(dir.to_path_buf()));
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            create_dir_all(parent, PUBLIC_DIR)?;
        }
    }
    match fs::create_dir(dir) {
        Ok(()) => set_mode(dir, mode),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(Error::io("create folder", dir)(e)),
    }
}

#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(Error::io("set permissions of", path))
}

#[cfg(not(unix))]
pub fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

/// A unique name beside `path` for a temporary file or folder.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        crate::text::random_hex(6)
    ))
}

/// Writes `data` to `path` atomically: a new temporary file in the same folder
/// created with `mode` from the start (never readable by others, not even
/// briefly), fsync, rename over `path`, fsync the folder. A reader sees the
/// old file or the new one, never half of one.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    write_replacing(path, data, mode, true)
}

/// The one durability rule for public files (0644: certificates, records,
/// indexes, daemon.json): they can be written again from what the keystore
/// and records hold, so they are renamed into place without fsync. A reader
/// still sees old or new, never half; after a power cut the newest version
/// may be missing. Twelve fsyncs were half the time of issuing a client
/// identity (bench/run.sh, row 3). Everything else (keys, a context's TLS
/// files, config.json) goes through `write_atomic`.
pub fn write_public(path: &Path, data: &[u8]) -> Result<()> {
    write_replacing(path, data, PUBLIC_FILE, false)
}

fn write_replacing(path: &Path, data: &[u8], mode: u32, durable: bool) -> Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        opts.mode(mode);
        let mut f = opts.open(&tmp).map_err(Error::io("create", &tmp))?;
        // The umask may have cleared bits of `mode` (0644 under umask 077):
        // set it exactly, as Docker's AtomicWriteFile does with Chmod.
        set_mode(&tmp, mode)?;
        f.write_all(data).map_err(Error::io("write", &tmp))?;
        if durable {
            f.sync_all().map_err(Error::io("sync", &tmp))?;
        }
        fs::rename(&tmp, path).map_err(Error::io("write", path))?;
        if durable {
            sync_dir(path.parent().unwrap_or(Path::new(".")));
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Best effort: makes a rename durable on file systems that need it.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A folder removed on drop: staging areas that a
/// failure or a cancellation must not leave behind.
pub struct TempDir {
    path: Option<PathBuf>,
}

impl TempDir {
    pub fn new_in(parent: &Path) -> Result<TempDir> {
        create_dir_all(parent, SECRET_DIR)?;
        let path = parent.join(format!(
            "stage-{}-{}",
            std::process::id(),
            crate::text::random_hex(6)
        ));
        fs::create_dir(&path).map_err(Error::io("create folder", &path))?;
        set_mode(&path, SECRET_DIR)?;
        Ok(TempDir { path: Some(path) })
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("TempDir path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_dir_all(&p);
            // The staging parent goes too once empty (fails harmlessly if not).
            if let Some(parent) = p.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}

pub fn read_to_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(Error::io("read", path))
}
