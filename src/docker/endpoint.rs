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
/// agent"), and the same whatever the caller's environment (a context's
/// endpoint is written once; under cron or `su` an XDG_RUNTIME_DIR-based
/// path changed, or pointed at a /tmp folder that a cleaner removed and
/// another user made again: issue 30):
/// - Linux and BSDs: `$DOCKER_CONFIG/tlsctx/agent` beside the contexts that
///   point at it (`~/.docker/tlsctx/agent/NAME.sock`: 31 bytes plus the
///   home folder and the name, within sun_path's 108 for ordinary homes;
///   a longer name gets a short one, [`socket_path`]). XDG_RUNTIME_DIR is
///   not used.
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
        // Absolute: DOCKER_CONFIG or --config may be relative, and Docker
        // would resolve a relative endpoint from whatever folder it runs in.
        let config_dir = std::path::absolute(config_dir).map_err(Error::io("find", config_dir))?;
        Ok(config_dir.join("tlsctx").join("agent"))
    }
    // Windows: the agent listens on a named pipe (`socket_path`); this
    // folder holds only its log.
    #[cfg(not(unix))]
    {
        let config_dir = std::path::absolute(config_dir).map_err(Error::io("find", config_dir))?;
        Ok(config_dir.join("tlsctx").join("agent"))
    }
}

/// Creates the agent's folder 0700 if it is missing, then checks it as
/// [`check_private_dir`] does: whoever made it first must have been us.
/// Never a chmod: a folder that is not already 0700 is refused rather than
/// narrowed (a chmod by path follows a link someone swapped in between the
/// check and the call).
pub fn create_socket_dir(config_dir: &Path) -> Result<PathBuf> {
    let dir = socket_dir(config_dir)?;
    // Its ancestors first: nothing of ours is made inside a folder that is
    // someone else's (an XDG_RUNTIME_DIR of another user, say).
    if let Some(parent) = dir.parent() {
        if !parent.exists() {
            crate::fsio::create_dir_all(parent, crate::fsio::PUBLIC_DIR)?;
        }
        check_ancestors(&dir)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("create", &dir)(e)),
        }
    }
    #[cfg(not(unix))]
    crate::fsio::create_dir_all(&dir, crate::fsio::SECRET_DIR)?;
    // The ancestors were checked above.
    check_dir_itself(&dir)?;
    Ok(dir)
}

/// `unix://<socket_path>` for a context about to point there: the folder
/// is made (0700, ours) and checked first, so no one else can make it
/// before the agent runs (`new --keychain-only`, `agent adopt`, `restore`).
pub fn prepare_socket_url(config_dir: &Path, name: &str) -> Result<String> {
    let url = socket_url(config_dir, name)?;
    // A pipe has no folder: its DACL is set when the agent makes it.
    #[cfg(unix)]
    create_socket_dir(config_dir)?;
    Ok(url)
}

/// Whether `dir` is a folder only we can use, looked at with lstat every
/// time it is used: a real folder (not a link), owned by our user, mode
/// 0700, in a chain of folders no other user can change
/// ([`check_ancestors`]).
pub fn check_private_dir(dir: &Path) -> Result<()> {
    check_dir_itself(dir)?;
    check_ancestors(dir)
}

/// The folder itself, with lstat: a folder, not a link, ours, 0700.
#[cfg(unix)]
fn check_dir_itself(dir: &Path) -> Result<()> {
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
    Ok(())
}

/// Every folder above `dir`, up to `/`, with lstat: each ours or root's; a
/// link among them owned by us or root, and the folders it leads to checked
/// the same way; none writable by other users, sticky or not. A sticky
/// folder (/tmp, /dev/shm) anywhere above is refused too: whenever
/// something of ours below it is gone (a tmp cleaner, a reboot), another
/// user can make it again with their own folders and listener inside, and
/// the docker CLI connects to the path the context names without any
/// check (issue 30).
#[cfg(unix)]
fn check_ancestors(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let unsafe_dir = |why: String| Error::UnsafeSocketDir {
        path: dir.to_path_buf(),
        why,
    };
    let me = own_uid();
    let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    crate::fsio::walk_up(
        parent,
        || unsafe_dir("its path has too many links to follow".into()),
        |a, m| {
            if m.uid() != me && m.uid() != 0 {
                return Err(unsafe_dir(format!(
                    "{} belongs to uid {}",
                    a.display(),
                    m.uid()
                )));
            }
            if m.file_type().is_symlink() {
                return Ok(());
            }
            let others_write = m.mode() & 0o022 != 0;
            let sticky = m.mode() & 0o1000 != 0;
            if others_write {
                return Err(unsafe_dir(format!(
                    "{} is writable by other users{}",
                    a.display(),
                    if sticky {
                        " (sticky, like /tmp: once a folder of ours below it is gone, anyone can make it again)"
                    } else {
                        ""
                    }
                )));
            }
            Ok(())
        },
    )
}

#[cfg(not(unix))]
fn check_ancestors(_dir: &Path) -> Result<()> {
    Ok(())
}

#[cfg(not(unix))]
fn check_dir_itself(_dir: &Path) -> Result<()> {
    Ok(())
}

/// Our effective uid (std has no geteuid).
#[cfg(unix)]
fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `<socket_dir>/NAME.sock`; when that is longer than a socket path may be
/// (a name of up to 128 characters), `<socket_dir>/_<16 hex>.sock` from the
/// name's SHA-256: stable, and never another context's (a name cannot start
/// with `_`). Refused only when even that does not fit (a very long
/// configuration folder).
#[cfg(unix)]
pub fn socket_path(config_dir: &Path, name: &str) -> Result<PathBuf> {
    let dir = socket_dir(config_dir)?;
    // The endpoint is written as text: a path that is not UTF-8 would be
    // written with U+FFFD in place of its bytes, and Docker would connect
    // to another path than the one the agent binds (found by review).
    if dir.to_str().is_none() {
        return Err(Error::UnsafeSocketDir {
            path: dir,
            why: "its path is not valid UTF-8, so the context could not name it exactly".into(),
        });
    }
    let path = dir.join(format!("{name}.sock"));
    if path.as_os_str().len() <= MAX_SOCKET_PATH {
        return Ok(path);
    }
    let short = dir.join(format!(
        "_{}.sock",
        &crate::text::sha256_hex(name.as_bytes())[..16]
    ));
    if short.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(Error::SocketPathTooLong(short));
    }
    Ok(short)
}

/// Windows: the start of `name`'s pipes, `\\.\pipe\docker-tlsctx-<SID>-<NAME>-`.
/// Pipe names are one namespace for the whole machine, so the user's SID
/// keeps two users' `prod` apart; it is also the only user the pipe's DACL
/// lets in (agent/pipe.rs). SIDs are `S-` and digits, names are Docker's
/// `[a-zA-Z0-9][a-zA-Z0-9_.+-]*`: nothing a URL or a pipe name would read
/// differently.
#[cfg(windows)]
fn pipe_prefix(name: &str) -> Result<String> {
    let sid = crate::sys::windows::current_user_sid()
        .map_err(Error::io("read the user's SID for", PathBuf::from(name)))?;
    Ok(format!(r"\\.\pipe\docker-tlsctx-{sid}-{name}-"))
}

/// Windows: a new pipe name for `name`, 128 random bits after the prefix.
/// Chosen at every agent start and recorded in the context under the lock,
/// and again (never served) when the agent stops (issue 30): a name fixed
/// in advance could be made by another user while no agent runs, and the
/// docker CLI would send them the user's traffic. Another user cannot read
/// the context in the user's profile, so cannot know the next name.
#[cfg(windows)]
pub fn fresh_pipe(name: &str) -> Result<PathBuf> {
    let path = PathBuf::from(format!(
        "{}{}",
        pipe_prefix(name)?,
        crate::text::random_hex(16)
    ));
    // 256 characters at most (CreateNamedPipeW's lpName).
    if path.as_os_str().len() > 256 {
        return Err(Error::SocketPathTooLong(path));
    }
    Ok(path)
}

/// Windows: the pipe `name`'s context points at when it is one of this
/// user's pipes for it (the prefix and 32 hex digits), else a fresh name
/// (a new context, or one pointing elsewhere: v0.3's fixed name, which is
/// moved).
#[cfg(windows)]
pub fn socket_path(config_dir: &Path, name: &str) -> Result<PathBuf> {
    let prefix = pipe_prefix(name)?;
    let recorded = super::context::Store::new(config_dir)
        .host(name)
        .ok()
        .flatten()
        .and_then(|h| pipe_of_url(&h));
    if let Some(p) = recorded {
        let ours = p.strip_prefix(&prefix).is_some_and(|rest| {
            rest.len() == 32
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if ours {
            return Ok(PathBuf::from(p));
        }
    }
    fresh_pipe(name)
}

/// `npipe:////./pipe/x` → `\\.\pipe\x`.
#[cfg(windows)]
fn pipe_of_url(url: &str) -> Option<String> {
    url.strip_prefix("npipe://").map(|p| p.replace('/', "\\"))
}

/// The docker endpoint of a socket or pipe: `unix://<path>`, or on Windows
/// `npipe:////./pipe/<name>` (the form Docker Desktop's
/// `npipe:////./pipe/docker_engine` takes).
pub fn url_of(path: &Path) -> String {
    if cfg!(windows) {
        format!("npipe://{}", path.display().to_string().replace('\\', "/"))
    } else {
        format!("unix://{}", path.display())
    }
}

/// The context's docker endpoint: [`url_of`] its [`socket_path`].
pub fn socket_url(config_dir: &Path, name: &str) -> Result<String> {
    Ok(url_of(&socket_path(config_dir, name)?))
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
        // Docker goes where meta.json says, whatever the agent serves: a
        // context still pointing elsewhere (v0.2's /tmp path, v0.3's
        // XDG_RUNTIME_DIR one) is unsafe until moved.
        let url = format!("unix://{}", path.display());
        if let Some(state) = points_elsewhere(config_dir, name, &url) {
            return state;
        }
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
    #[cfg(windows)]
    {
        let (Ok(path), Ok(url)) = (socket_path(config_dir, name), socket_url(config_dir, name))
        else {
            return AgentState::NotRunning;
        };
        if let Some(state) = points_elsewhere(config_dir, name, &url) {
            return state;
        }
        pipe_state(&path)
    }
}

/// Who serves the pipe: connects as Docker does, anonymously
/// (SECURITY_SQOS_PRESENT with SECURITY_ANONYMOUS, as go-winio's DialPipe),
/// so whatever serves it cannot act as us (ImpersonateNamedPipeClient), and
/// asks for the server's process, whose user must be ours.
#[cfg(windows)]
pub fn pipe_state(path: &Path) -> AgentState {
    use crate::sys::windows::{current_user_sid, pipe_server_process_id, process_user_sid};
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::AsHandle;
    // SECURITY_ANONYMOUS is 0; std adds SECURITY_SQOS_PRESENT.
    let pipe = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .security_qos_flags(0)
        .open(path)
    {
        Ok(p) => p,
        // ERROR_PIPE_BUSY: it exists, and every instance is taken (ours
        // always keeps one waiting).
        Err(e) if e.raw_os_error() == Some(231) => return AgentState::Unsafe(
            "the pipe exists but none of its instances answers, so who serves it cannot be told"
                .into(),
        ),
        Err(_) => return AgentState::NotRunning,
    };
    let me = current_user_sid().ok();
    match pipe_server_process_id(pipe.as_handle()).and_then(process_user_sid) {
        Ok(sid) if Some(&sid) == me.as_ref() => AgentState::Serving,
        Ok(sid) => AgentState::Unsafe(format!(
            "the pipe is served by a process of another user ({sid}), not by you"
        )),
        Err(e) => AgentState::Unsafe(format!("cannot tell who serves the pipe: {e}")),
    }
}

/// Docker goes where meta.json says, whatever the agent serves: the state
/// of a context that does not point at `url` (gone, or still pointing
/// elsewhere, such as v0.2's /tmp path), or None when it does.
fn points_elsewhere(config_dir: &Path, name: &str, url: &str) -> Option<AgentState> {
    match super::context::Store::new(config_dir).host(name) {
        Ok(Some(host)) if host == url => None,
        Ok(Some(host)) => Some(AgentState::Unsafe(format!(
            "the context points Docker at {host}, not at the agent's endpoint {url}; run docker tlsctx agent adopt {name}"
        ))),
        Ok(None) => Some(AgentState::NotRunning),
        Err(e) => Some(AgentState::Unsafe(e.to_string())),
    }
}

/// Whether an agent answers on `name`'s socket (see [`agent_state`]).
pub fn serving(config_dir: &Path, name: &str) -> bool {
    agent_state(config_dir, name) == AgentState::Serving
}

/// Windows: the process serving the pipe `name`'s context points at, when
/// one of ours serves it. `agent` waits for its own child there: a pipe
/// under the context's last name that someone made while no agent ran is
/// not the agent it started (found under Wine, where every process is the
/// same user and so "ours").
#[cfg(windows)]
pub fn pipe_server(config_dir: &Path, name: &str) -> Option<u32> {
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::AsHandle;
    if !serving(config_dir, name) {
        return None;
    }
    let path = socket_path(config_dir, name).ok()?;
    let pipe = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .security_qos_flags(0)
        .open(path)
        .ok()?;
    crate::sys::windows::pipe_server_process_id(pipe.as_handle()).ok()
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
