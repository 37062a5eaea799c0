//! The agent's named pipe on Windows (ARCHITECTURE.md, "The agent"): what
//! the unix socket in a 0700 folder is elsewhere.
//!
//! - Its DACL (SDDL, below) lets in the agent's own user and nobody else,
//!   and denies network logons outright; `PIPE_REJECT_REMOTE_CLIENTS`
//!   (interprocess's default) refuses clients on other machines.
//! - Its first instance is made with `FILE_FLAG_FIRST_PIPE_INSTANCE`, so a
//!   pipe someone made first under the context's name is an error, not a
//!   second server that would receive half the user's traffic; interprocess
//!   keeps an instance open at all times, so the name is never free again
//!   while the agent runs, and only its user may add instances (the DACL).
//! - Each client's process is looked up (GetNamedPipeClientProcessId) and
//!   must run as the agent's user, or the connection is dropped unanswered.

use std::io::{self, Read, Write};
use std::os::windows::io::AsHandle;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use interprocess::os::windows::named_pipe::{
    pipe_mode, DuplexPipeStream, PipeListener, PipeListenerOptions,
};
use interprocess::os::windows::security_descriptor::SecurityDescriptor;

use crate::sys::windows::{cancel_io, current_user_sid, pipe_peer_gone, process_user_sid};

pub type Listener = PipeListener<pipe_mode::Bytes, pipe_mode::Bytes>;
pub type Conn = DuplexPipeStream<pipe_mode::Bytes>;

/// The pipe's security descriptor: owned by the user (`O:`), a protected
/// DACL (`D:P`, nothing inherited) that first denies every access to
/// network logons (`NU`, S-1-5-2) and then allows all of it to the user's
/// SID alone. No SYSTEM entry: the agent and the docker CLI both run as the
/// user, and whoever can connect is root on the remote host.
pub fn sddl(sid: &str) -> String {
    format!("O:{sid}D:P(D;;GA;;;NU)(A;;GA;;;{sid})")
}

/// Makes the pipe's first instance, or fails if the name is taken.
pub fn listen(path: &Path) -> io::Result<Listener> {
    let sid = current_user_sid()?;
    let text = widestring::U16CString::from_str(sddl(&sid)).map_err(io::Error::other)?;
    let sd = SecurityDescriptor::deserialize(&text)?;
    let mut options = PipeListenerOptions::new().path(path);
    options.security_descriptor = Some(sd);
    options.create_duplex::<pipe_mode::Bytes>()
}

/// Whether the client's process runs as our user; anything that cannot be
/// told is a no.
pub fn client_is_ours(client: &Conn) -> bool {
    let (Ok(me), Ok(pid)) = (current_user_sid(), client.client_process_id()) else {
        return false;
    };
    process_user_sid(pid).is_ok_and(|sid| sid == me)
}

impl super::relay::Client for Conn {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }

    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        Write::write_all(&mut &*self, buf)
    }

    /// A pipe has no shutdown: a read waiting on it is cancelled, and the
    /// CLI sees the end when the agent drops the stream (interprocess
    /// flushes what is unread, then disconnects).
    fn close(&self) {
        cancel_io(self.as_handle());
    }

    /// Twice a second: the CLI gone (killed, or done without reading the
    /// answer) frees the relay even while the daemon hangs and the thread
    /// that reads the pipe is stuck writing to it (issue 19's case, found
    /// again on Windows by the attacker review).
    fn wait_for_hangup(&self, stop: &AtomicBool) -> bool {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(500));
            if pipe_peer_gone(self.as_handle()) {
                return true;
            }
        }
        false
    }
}
