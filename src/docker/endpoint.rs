//! The local endpoint a keychain-only context points Docker at: the agent's
//! unix socket (ARCHITECTURE.md, "The agent"). Docker talks plain HTTP to
//! it; the agent carries each connection on over mutual TLS with the key
//! from the keystore, so no key file exists for Docker's sake.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Unix socket paths are at most 108 bytes on Linux and 104 on macOS
/// (`sizeof(sun_path)`), the terminating NUL included.
pub const MAX_SOCKET_PATH: usize = 103;

/// The agent's folder (0700): `$XDG_RUNTIME_DIR/docker-tlsctx` on Linux
/// (the per-user tmpfs systemd makes, gone at logout), else
/// `/tmp/docker-tlsctx-UID`; `~/Library/Caches/docker-tlsctx/agent` on
/// macOS, which has no runtime folder of its own.
pub fn socket_dir() -> Result<PathBuf> {
    #[cfg(target_os = "macos")]
    {
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
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .map_err(Error::io("read", "/proc/self"))?;
        Ok(std::env::temp_dir().join(format!("docker-tlsctx-{uid}")))
    }
    #[cfg(not(unix))]
    {
        Err(Error::AgentUnsupported(
            "keychain-only contexts need unix sockets; on Windows the agent is not built yet",
        ))
    }
}

/// `<socket_dir>/NAME.sock`, refused when longer than a socket path may be.
pub fn socket_path(name: &str) -> Result<PathBuf> {
    let path = socket_dir()?.join(format!("{name}.sock"));
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(Error::SocketPathTooLong(path));
    }
    Ok(path)
}

/// The context's docker endpoint: `unix://<socket_path>`.
pub fn socket_url(name: &str) -> Result<String> {
    Ok(format!("unix://{}", socket_path(name)?.display()))
}

/// The Description of a keychain-only context, unless the user gave one.
pub fn description(host_url: &str) -> String {
    format!("{host_url} through the docker-tlsctx agent (key in the keychain only)")
}

/// Whether an agent answers on `name`'s socket now (one connect).
pub fn serving(name: &str) -> bool {
    #[cfg(unix)]
    {
        socket_path(name)
            .map(|p| std::os::unix::net::UnixStream::connect(p).is_ok())
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        let _ = name;
        false
    }
}

/// "serving" or "not running", as ls, inspect and check say it.
pub fn agent_state(name: &str) -> &'static str {
    if serving(name) {
        "serving"
    } else {
        "not running"
    }
}
