//! The local endpoint a keychain-only context points Docker at: the agent's
//! unix socket (ARCHITECTURE.md, "The agent"). Docker talks plain HTTP to
//! it; the agent carries each connection on over mutual TLS with the key
//! from the keystore, so no key file exists for Docker's sake.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Unix socket paths are at most 108 bytes on Linux and 104 on macOS
/// (`sizeof(sun_path)`), the terminating NUL included.
pub const MAX_SOCKET_PATH: usize = 103;

/// The agent's folder (0700), where only its user can create it (a folder
/// under a world-writable directory such as /tmp can be made first by
/// another user, who then receives the traffic: ARCHITECTURE.md, "The
/// agent"):
/// - Linux and BSDs: `$XDG_RUNTIME_DIR/docker-tlsctx` (the per-user 0700
///   tmpfs systemd-logind makes, gone at logout), else
///   `$DOCKER_CONFIG/tlsctx/agent` beside the contexts that point at it
///   (`~/.docker/tlsctx/agent/NAME.sock`: 31 bytes plus the home folder and
///   the name, within sun_path's 108 for ordinary homes);
/// - macOS: `~/Library/Caches/docker-tlsctx/agent` (no runtime folder).
pub fn socket_dir(config_dir: &Path) -> Result<PathBuf> {
    #[cfg(target_os = "macos")]
    {
        let _ = config_dir;
        let cache = dirs::cache_dir().ok_or(Error::AgentUnsupported(
            "no ~/Library/Caches folder to put the agent's socket in",
        ))?;
        Ok(cache.join("docker-tlsctx").join("agent"))
    }
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir).join("docker-tlsctx"));
        }
        Ok(config_dir.join("tlsctx").join("agent"))
    }
    #[cfg(not(unix))]
    {
        let _ = config_dir;
        Err(Error::AgentUnsupported(
            "keychain-only contexts need unix sockets; on Windows the agent is not built yet",
        ))
    }
}

/// Creates the agent's folder 0700 if it is missing, then checks it as
/// [`check_private_dir`] does: whoever made it first must have been us.
pub fn create_socket_dir(config_dir: &Path) -> Result<PathBuf> {
    let dir = socket_dir(config_dir)?;
    // The parent first: nothing of ours is made inside a folder that is
    // someone else's (an XDG_RUNTIME_DIR of another user, say).
    if let Some(parent) = dir.parent().filter(|p| p.exists()) {
        check_parent(&dir, parent)?;
    }
    crate::fsio::create_dir_all(&dir, crate::fsio::SECRET_DIR)?;
    check_private_dir(&dir)?;
    Ok(dir)
}

/// Whether `dir` is a folder only we can use, looked at with lstat every
/// time it is used: a real folder (not a link), owned by our user, mode
/// 0700; and its parent neither another user's nor writable by others
/// without the sticky bit (or that user could swap our folder for theirs).
#[cfg(unix)]
pub fn check_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let unsafe_dir = |why: String| Error::UnsafeSocketDir {
        path: dir.to_path_buf(),
        why,
    };
    let me = own_uid();
    let m = std::fs::symlink_metadata(dir).map_err(Error::io("look at", dir))?;
    if m.file_type().is_symlink() {
        return Err(unsafe_dir("it is a symbolic link".into()));
    }
    if !m.is_dir() {
        return Err(unsafe_dir("it is not a folder".into()));
    }
    if m.uid() != me {
        return Err(unsafe_dir(format!(
            "it belongs to uid {}, not to you (uid {me})",
            m.uid()
        )));
    }
    if m.mode() & 0o7777 != 0o700 {
        return Err(unsafe_dir(format!(
            "its mode is {:o}, not 700",
            m.mode() & 0o7777
        )));
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        check_parent(dir, parent)?;
    }
    Ok(())
}

/// The folder that holds the agent's: ours or root's, and not writable by
/// others unless sticky (or they could rename ours away and put theirs).
#[cfg(unix)]
fn check_parent(dir: &Path, parent: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let unsafe_dir = |why: String| Error::UnsafeSocketDir {
        path: dir.to_path_buf(),
        why,
    };
    let me = own_uid();
    let p = std::fs::metadata(parent).map_err(Error::io("look at", parent))?;
    if p.uid() != me && p.uid() != 0 {
        return Err(unsafe_dir(format!(
            "its parent folder belongs to uid {}",
            p.uid()
        )));
    }
    if p.mode() & 0o022 != 0 && p.mode() & 0o1000 == 0 {
        return Err(unsafe_dir(
            "its parent folder is writable by others and not sticky".into(),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_parent(_dir: &Path, _parent: &Path) -> Result<()> {
    Ok(())
}

#[cfg(not(unix))]
pub fn check_private_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

/// Our effective uid (std has no geteuid).
#[cfg(unix)]
fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `<socket_dir>/NAME.sock`, refused when longer than a socket path may be.
pub fn socket_path(config_dir: &Path, name: &str) -> Result<PathBuf> {
    let path = socket_dir(config_dir)?.join(format!("{name}.sock"));
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(Error::SocketPathTooLong(path));
    }
    Ok(path)
}

/// The context's docker endpoint: `unix://<socket_path>`.
pub fn socket_url(config_dir: &Path, name: &str) -> Result<String> {
    Ok(format!(
        "unix://{}",
        socket_path(config_dir, name)?.display()
    ))
}

/// The Description of a keychain-only context, unless the user gave one.
pub fn description(host_url: &str) -> String {
    format!("{host_url} through the docker-tlsctx agent (key in the keychain only)")
}

/// What ls, inspect and check say of a context's agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentState {
    /// An agent of ours answers on the socket.
    Serving,
    NotRunning,
    /// The folder or the listener is not ours: nothing should be sent there.
    Unsafe(String),
}

impl std::fmt::Display for AgentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentState::Serving => f.write_str("serving"),
            AgentState::NotRunning => f.write_str("not running"),
            AgentState::Unsafe(why) => write!(f, "UNSAFE: {why}"),
        }
    }
}

/// Whether an agent of ours answers on `name`'s socket now: the folder
/// passes [`check_private_dir`], and the process listening is our user
/// (SO_PEERCRED on Linux), so a listener someone else put there first is
/// never called "serving".
pub fn agent_state(config_dir: &Path, name: &str) -> AgentState {
    #[cfg(unix)]
    {
        let Ok(path) = socket_path(config_dir, name) else {
            return AgentState::NotRunning;
        };
        let dir = path.parent().expect("a socket path has a folder");
        if std::fs::symlink_metadata(dir).is_err() {
            return AgentState::NotRunning;
        }
        if let Err(e) = check_private_dir(dir) {
            return AgentState::Unsafe(e.to_string());
        }
        let Ok(stream) = std::os::unix::net::UnixStream::connect(&path) else {
            return AgentState::NotRunning;
        };
        match listener_is_ours(&stream) {
            Ok(()) => AgentState::Serving,
            Err(why) => AgentState::Unsafe(why),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (config_dir, name);
        AgentState::NotRunning
    }
}

/// Whether an agent answers on `name`'s socket (see [`agent_state`]).
pub fn serving(config_dir: &Path, name: &str) -> bool {
    agent_state(config_dir, name) == AgentState::Serving
}

/// The uid of the process that listens at the other end of `stream`.
#[cfg(target_os = "linux")]
pub fn listener_is_ours(
    stream: &std::os::unix::net::UnixStream,
) -> std::result::Result<(), String> {
    let me = rustix::process::geteuid().as_raw();
    match rustix::net::sockopt::socket_peercred(stream) {
        Ok(cred) if cred.uid.as_raw() == me => Ok(()),
        Ok(cred) => Err(format!(
            "the socket is served by uid {}, not by you",
            cred.uid.as_raw()
        )),
        Err(e) => Err(format!("cannot tell who serves the socket: {e}")),
    }
}

/// Elsewhere the folder check stands alone (0700, ours).
#[cfg(all(unix, not(target_os = "linux")))]
pub fn listener_is_ours(
    _stream: &std::os::unix::net::UnixStream,
) -> std::result::Result<(), String> {
    Ok(())
}
