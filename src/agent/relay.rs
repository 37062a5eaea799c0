//! Bytes both ways between the docker CLI's connection (a unix socket, or
//! on Windows a named pipe) and one TLS
//! connection to the daemon, with a thread per direction. rustls keeps one
//! state for both directions, so it sits behind a lock that is never held
//! across a blocking read; what it produces for the wire is written under a
//! second lock, taken first, so TLS records leave in the order they were
//! made (both threads may make some: data, alerts, key updates).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The CLI's end of a relayed connection: a unix socket, or on Windows a
/// named pipe (agent/pipe.rs). Shared by the relay's threads.
pub trait Client: Send + Sync + 'static {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_all(&self, buf: &[u8]) -> io::Result<()>;
    /// Ends the connection both ways: a read waiting on it returns.
    fn close(&self);
    /// Waits until the CLI hangs up entirely, then returns true; false when
    /// `stop` is set (the relay is over), or at once where a hang-up cannot
    /// be told apart from a half-close.
    fn wait_for_hangup(&self, _stop: &AtomicBool) -> bool {
        false
    }
}

#[cfg(unix)]
impl Client for UnixStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }

    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        Write::write_all(&mut &*self, buf)
    }

    fn close(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }

    /// A full close is the only one that sets POLLHUP on our end of a unix
    /// socket (Linux's unix_poll: both directions shut); a half-close (`exec
    /// -i` when stdin ends) does not, and still wants the daemon's answer.
    /// run() shuts our end when the relay is over, which raises POLLHUP
    /// too: `stop` is not needed.
    #[cfg(target_os = "linux")]
    fn wait_for_hangup(&self, _stop: &AtomicBool) -> bool {
        use rustix::event::{poll, PollFd, PollFlags};
        loop {
            // No events asked for: poll reports HUP and ERR regardless, and
            // does not wake for the end of input we have already read.
            let mut fds = [PollFd::new(self, PollFlags::empty())];
            match poll(&mut fds, None) {
                Ok(_) if fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR) => {
                    return true
                }
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => return false,
            }
        }
    }
}

/// Plaintext read from the CLI at once. rustls buffers at most 64 KiB of
/// plaintext before it is encrypted (DEFAULT_BUFFER_LIMIT); each chunk is
/// encrypted and sent before the next is read.
const CHUNK: usize = 32 * 1024;

pub struct Tls {
    conn: Mutex<rustls::ClientConnection>,
    /// Taken while writing to the TCP stream: TLS records leave in order.
    wire: Mutex<()>,
    /// One socket handle for reads and writes (`&TcpStream` does both), so
    /// that `abort` reaches a blocked write as well as a blocked read.
    tcp: TcpStream,
}

impl Tls {
    pub fn new(conn: rustls::ClientConnection, tcp: TcpStream) -> Tls {
        Tls {
            conn: Mutex::new(conn),
            wire: Mutex::new(()),
            tcp,
        }
    }

    /// Ends the daemon's side now: a read of a silent daemon returns, and
    /// so does a write to one that stopped reading (on Windows that takes
    /// cancelling it: a shutdown does not end a blocked send).
    fn abort(&self) {
        let _ = self.tcp.shutdown(Shutdown::Both);
        #[cfg(windows)]
        crate::sys::windows::cancel_socket_io(std::os::windows::io::AsSocket::as_socket(&self.tcp));
    }

    /// Sends whatever rustls has ready for the wire.
    fn flush(&self) -> io::Result<()> {
        let _order = self.wire.lock().unwrap();
        loop {
            let mut out = Vec::new();
            {
                let mut c = self.conn.lock().unwrap();
                if !c.wants_write() {
                    return Ok(());
                }
                c.write_tls(&mut out)?;
            }
            (&self.tcp).write_all(&out)?;
        }
    }
}

/// What a relayed connection came to.
pub struct Relayed {
    pub up: u64,
    pub down: u64,
    pub error: Option<String>,
}

pub fn run<C: Client>(client: C, tls: Tls) -> Relayed {
    let tls = Arc::new(tls);
    let client = Arc::new(client);
    let (up_client, up_tls) = (client.clone(), tls.clone());
    let up = std::thread::spawn(move || up(&*up_client, &up_tls));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (client, tls, stop) = (client.clone(), tls.clone(), stop.clone());
        std::thread::spawn(move || wait_for_hangup(&*client, &tls, &stop))
    };
    let down = down(&*client, &tls);
    // The daemon is done (or gone): the CLI's side ends too, so the other
    // thread's read returns. Again until it has: a pipe's cancellation
    // reaches only a read already waiting (agent/pipe.rs).
    client.close();
    while !up.is_finished() {
        std::thread::sleep(std::time::Duration::from_millis(10));
        client.close();
        if stop.load(Ordering::SeqCst) {
            // The CLI hung up (the watcher): the reading thread may be
            // stuck writing to a daemon that stopped reading.
            tls.abort();
        }
    }
    let up = up.join().unwrap_or(Ok(0));
    let (down_n, down_err) = match down {
        Ok(n) => (n, None),
        Err((n, e)) => (n, Some(e.to_string())),
    };
    let (up_n, up_err) = match up {
        Ok(n) => (n, None),
        Err(e) => (0, Some(e.to_string())),
    };
    let _ = tls.tcp.shutdown(Shutdown::Both);
    stop.store(true, Ordering::SeqCst);
    let _ = watcher.join();
    Relayed {
        up: up_n,
        down: down_n,
        error: down_err.or(up_err),
    }
}

/// CLI → daemon. At the CLI's end of input (a half-close, as `exec -i`
/// makes when stdin ends) the daemon gets close_notify: Go's TLS reads it
/// as EOF, as it does the CLI's own CloseWrite.
fn up(client: &dyn Client, tls: &Tls) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match client.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                // The CLI is gone (reset): nothing can reach it any more.
                let _ = tls.tcp.shutdown(Shutdown::Both);
                return Ok(total);
            }
        };
        if n == 0 {
            tls.conn.lock().unwrap().send_close_notify();
            let _ = tls.flush();
            return Ok(total);
        }
        tls.conn.lock().unwrap().writer().write_all(&buf[..n])?;
        tls.flush()?;
        total += n as u64;
    }
}

/// Watches the CLI's end for the whole life of the relay: on a full
/// hang-up the daemon's side is shut too, which ends a read of a silent
/// daemon and a write to one that stopped reading alike, so the connection
/// is freed even while the daemon hangs (issue 19: slots were held until a
/// hung dockerd woke). run() closes our end when the daemon is done, which
/// also ends this wait. A pipe has no poll: it is looked at twice a second
/// (agent/pipe.rs), since the thread reading it may be stuck writing to a
/// daemon that stopped reading, and then sees nothing.
fn wait_for_hangup(client: &dyn Client, tls: &Tls, stop: &AtomicBool) {
    if client.wait_for_hangup(stop) {
        stop.store(true, Ordering::SeqCst);
        tls.abort();
    }
}

/// Daemon → CLI, until the daemon closes.
fn down(client: &dyn Client, tls: &Tls) -> Result<u64, (u64, io::Error)> {
    let mut raw = vec![0u8; CHUNK + 1024];
    let mut plain = vec![0u8; CHUNK];
    let mut total = 0u64;
    let mut read = &tls.tcp;
    loop {
        let n = match read.read(&mut raw) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((total, e)),
        };
        if n == 0 {
            return Ok(total);
        }
        let mut input = &raw[..n];
        let mut closed = false;
        while !input.is_empty() {
            let mut out = Vec::new();
            {
                let mut c = tls.conn.lock().unwrap();
                c.read_tls(&mut input).map_err(|e| (total, e))?;
                let state = c
                    .process_new_packets()
                    .map_err(|e| (total, io::Error::new(io::ErrorKind::InvalidData, e)))?;
                let mut left = state.plaintext_bytes_to_read();
                while left > 0 {
                    let k = c
                        .reader()
                        .read(&mut plain[..left.min(CHUNK)])
                        .map_err(|e| (total, e))?;
                    if k == 0 {
                        break;
                    }
                    out.extend_from_slice(&plain[..k]);
                    left -= k;
                }
                closed |= state.peer_has_closed();
            }
            tls.flush().map_err(|e| (total, e))?;
            if !out.is_empty() {
                client.write_all(&out).map_err(|e| (total, e))?;
                total += out.len() as u64;
            }
        }
        if closed {
            return Ok(total);
        }
    }
}
