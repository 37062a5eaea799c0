//! launchd's socket activation for the agent (`agent install` writes a
//! launchd agent with a `Sockets` entry per keychain-only context).

use std::io;
use std::os::unix::io::FromRawFd;
use std::os::unix::net::UnixListener;

/// The listening sockets launchd made for the plist's `Sockets` entry
/// `name`; none when this process was not started by launchd or the entry
/// is not in its plist (the agent then binds the socket itself).
pub fn activated_sockets(name: &str) -> io::Result<Vec<UnixListener>> {
    match raunch::activate_socket(name) {
        Ok(fds) => Ok(fds
            .into_iter()
            // SAFETY: launch_activate_socket hands this process each
            // descriptor open and owned by no one else (launch(3)); it
            // answers EALREADY if asked again for the same name, so no
            // descriptor is wrapped twice. Each is a listening stream socket,
            // as the plist's `Sockets` entry (SockPathName) asks for; one of
            // another kind would fail at accept, not be unsound.
            .map(|fd| unsafe { UnixListener::from_raw_fd(fd) })
            .collect()),
        Err(raunch::Error::NotInPlist | raunch::Error::NotManaged) => Ok(Vec::new()),
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}
