//! One lock for every command that writes (ARCHITECTURE.md, "One lock, one
//! transaction"): an advisory lock taken with std's `File::try_lock` (flock
//! on Unix, LockFileEx on Windows). On Unix it locks the `$DOCKER_CONFIG`
//! folder itself, so locking adds no file (a refused command leaves the
//! folder exactly as it was); on Windows, where a folder cannot be opened as
//! a file, `tlsctx/lock`. The OS releases it when the process ends, however
//! it ends, so a killed command never leaves a stale lock. Readers (`ls`,
//! `inspect`, the plugin metadata) never take it.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fsio::{self, PUBLIC_DIR};

/// How long a second writer waits by default: long enough for a keychain
/// unlock prompt in the first one (60 s), then it says so and stops.
const DEFAULT_WAIT: Duration = Duration::from_secs(90);

fn wait_limit() -> Duration {
    crate::environment::var(crate::environment::Var::LockTimeout)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_WAIT)
}

/// Held for the life of the value.
pub struct Lock {
    _file: File,
}

/// Takes the lock of the configuration in `config_dir`. When another
/// process holds it, `waiting` is called once, and the wait is bounded.
pub fn acquire(config_dir: &Path, waiting: impl FnOnce()) -> Result<Lock> {
    let (file, path) = open(config_dir)?;
    let started = Instant::now();
    let limit = wait_limit();
    let mut waiting = Some(waiting);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Lock { _file: file }),
            Err(TryLockError::WouldBlock) => {
                if let Some(w) = waiting.take() {
                    w();
                }
                if started.elapsed() >= limit {
                    return Err(Error::Busy {
                        secs: limit.as_secs(),
                    });
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path)(e)),
        }
    }
}

/// The first thing a writing command touches: a configuration folder that
/// cannot be used is said here, in its own words.
fn usable_dir(dir: &Path) -> Result<()> {
    fsio::create_dir_all(dir, PUBLIC_DIR).map_err(|e| match e {
        Error::NotADirectory(_) => Error::ConfigUnwritable {
            path: dir.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotADirectory),
        },
        other => other,
    })
}

#[cfg(unix)]
fn open(config_dir: &Path) -> Result<(File, PathBuf)> {
    usable_dir(config_dir)?;
    let file = File::open(config_dir).map_err(Error::io("open", config_dir))?;
    Ok((file, config_dir.to_path_buf()))
}

#[cfg(not(unix))]
fn open(config_dir: &Path) -> Result<(File, PathBuf)> {
    let dir = config_dir.join("tlsctx");
    usable_dir(&dir)?;
    let path = dir.join("lock");
    fsio::refuse_symlink(&path)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    Ok((file, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), || panic!("nobody holds it yet")).unwrap();
        // Locks are per open file description, so a second open in this
        // process contends like another process would.
        std::env::set_var("DOCKER_TLSCTX_LOCK_TIMEOUT", "0.2");
        let mut told = false;
        let err = acquire(dir.path(), || told = true).err().unwrap();
        std::env::remove_var("DOCKER_TLSCTX_LOCK_TIMEOUT");
        assert!(told, "a waiting command says so");
        assert!(matches!(err, Error::Busy { .. }), "{err}");
        drop(first);
        acquire(dir.path(), || panic!("released on drop")).unwrap();
        // Locking adds nothing to the folder (Windows keeps tlsctx/lock).
        #[cfg(unix)]
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
