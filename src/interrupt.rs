//! When a second Ctrl-C may end the process at once (issue 30). The first
//! SIGINT or SIGTERM only sets the command's [`Cancel`] (docker/plugin.rs
//! registers it), which commands check before they commit anything; a second one ends the
//! process with status 130, except while a call to another process that
//! must not see us vanish halfway is in flight: then the exit waits until
//! the call returns.
//!
//! The call that needs it: gnome-keyring-daemon 42.1 aborts (GLib-ERROR in
//! g_variant_new after "aes_negotiate: assertion 'session' failed") when
//! a client goes away while its OpenSession is being handled, and D-Bus
//! then starts a locked keyring in its place: a Ctrl-C of ours must not
//! take down the user's keyring. Every Secret Service call is held, so a
//! second Ctrl-C waits for it, but not for ever: a call held longer than
//! [`PATIENCE`] (an unlock prompt nobody answers) no longer defers it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A request to stop: SIGINT, SIGTERM, or the docker CLI going away
/// (docker::plugin::install_cancellation sets it). A value the command is
/// given (issue 32: carried in `Env`, and handed to what waits on a child
/// process), not a global every step polls; clones share one flag.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A request nobody has made yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// True once the user or Docker asked us to stop.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Asks everything holding a clone to stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst)
    }

    /// The flag itself, for signal handlers to set.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

/// How long a held call defers a second Ctrl-C. OpenSession and the
/// other calls answer in milliseconds; a person at an unlock prompt who
/// presses Ctrl-C twice wants out.
pub const PATIENCE: Duration = Duration::from_secs(3);

struct Held {
    count: usize,
    since: Option<Instant>,
    /// Firm holds: a second Ctrl-C waits for them however long they take
    /// (a host told to keep its new configuration, until this side has
    /// recorded it: leaving then would make the record lie).
    firm: usize,
    /// Said on stderr when a second Ctrl-C ends the process: what is left
    /// behind and what happens to it.
    note: Option<String>,
}

fn held() -> &'static Mutex<Held> {
    static HELD: OnceLock<Mutex<Held>> = OnceLock::new();
    HELD.get_or_init(|| {
        Mutex::new(Held {
            count: 0,
            since: None,
            firm: 0,
            note: None,
        })
    })
}

/// The second (or later) SIGINT or SIGTERM, seen by the thread that
/// watches signals (docker/plugin.rs): ends the process with status 130 at
/// once when nothing is held, else as soon as the hold is released or has
/// lasted [`PATIENCE`].
pub fn second_signal() -> ! {
    loop {
        {
            let h = held().lock().unwrap_or_else(|p| p.into_inner());
            let patient = h.since.is_some_and(|t| t.elapsed() < PATIENCE);
            if h.firm == 0 && (h.count == 0 || !patient) {
                if let Some(n) = &h.note {
                    eprintln!("{n}");
                }
                std::process::exit(130);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Servers running in this process (the authorization plugin, the agent)
/// that end on the first signal by removing their sockets.
static SERVING: AtomicUsize = AtomicUsize::new(0);

/// Whether the first signal came, and the hold it takes while a server
/// runs (released once the servers have removed their sockets).
struct Stopping {
    signalled: bool,
    hold: Option<Hold>,
}

fn stopping() -> &'static Mutex<Stopping> {
    static STOPPING: OnceLock<Mutex<Stopping>> = OnceLock::new();
    STOPPING.get_or_init(|| {
        Mutex::new(Stopping {
            signalled: false,
            hold: None,
        })
    })
}

/// A server's life (see [`serving`]).
pub struct Serving(());

/// Says that a server runs until the first signal and then removes its
/// socket: the first signal then holds off a second one (up to
/// [`PATIENCE`]) until the returned guard is dropped, after the socket is
/// gone. A second SIGTERM close behind the first used to end the process
/// at once and leave the socket, and dockerd then refused every request
/// until the plugin was started again (attacker review, stop 38).
///
/// A first signal that came before this call (during start-up, before the
/// socket is bound) takes the hold here: otherwise a second one ended the
/// process between the bind and the loop that notices the first
/// (attacker review of this change: the agent left its socket 7 times in
/// 100 with signals 50 ms apart right after its start).
pub fn serving() -> Serving {
    let mut s = stopping().lock().unwrap_or_else(|p| p.into_inner());
    SERVING.fetch_add(1, Ordering::SeqCst);
    if s.signalled && s.hold.is_none() {
        s.hold = Some(hold());
    }
    Serving(())
}

impl Drop for Serving {
    fn drop(&mut self) {
        let mut s = stopping().lock().unwrap_or_else(|p| p.into_inner());
        if SERVING.fetch_sub(1, Ordering::SeqCst) == 1 {
            s.hold.take();
        }
    }
}

/// The first SIGINT or SIGTERM, seen by the thread that watches signals
/// (docker/plugin.rs): while a server runs, a hold for its cleanup.
pub fn first_signal() {
    let mut s = stopping().lock().unwrap_or_else(|p| p.into_inner());
    s.signalled = true;
    if SERVING.load(Ordering::SeqCst) > 0 && s.hold.is_none() {
        s.hold = Some(hold());
    }
}

/// A call in flight that a second Ctrl-C waits for.
pub struct Hold(());

/// Holds off a second Ctrl-C until the returned guard is dropped.
pub fn hold() -> Hold {
    let mut h = held().lock().unwrap_or_else(|p| p.into_inner());
    h.count += 1;
    if h.count == 1 {
        h.since = Some(Instant::now());
    }
    Hold(())
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut h = held().lock().unwrap_or_else(|p| p.into_inner());
        h.count -= 1;
        if h.count == 0 {
            h.since = None;
        }
    }
}

/// A step a second Ctrl-C must not cut (see `Held::firm`).
pub struct FirmHold(());

pub fn hold_firm() -> FirmHold {
    held().lock().unwrap_or_else(|p| p.into_inner()).firm += 1;
    FirmHold(())
}

impl Drop for FirmHold {
    fn drop(&mut self) {
        held().lock().unwrap_or_else(|p| p.into_inner()).firm -= 1;
    }
}

/// What a second Ctrl-C says before it ends the process (None: nothing).
pub fn set_exit_note(note: Option<String>) {
    held().lock().unwrap_or_else(|p| p.into_inner()).note = note;
}

/// Waits (at most `max`) until nothing is held: the process is about to
/// exit, and a call still in flight on another thread (one whose deadline
/// passed) would otherwise see us vanish halfway.
pub fn settle(max: Duration) {
    let until = Instant::now() + max;
    while Instant::now() < until {
        if held().lock().unwrap_or_else(|p| p.into_inner()).count == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_nest_and_settle_returns_once_released() {
        let a = hold();
        let b = hold();
        assert_eq!(held().lock().unwrap().count, 2);
        drop(a);
        assert!(held().lock().unwrap().since.is_some());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(b);
        });
        let started = Instant::now();
        settle(Duration::from_secs(5));
        assert!(started.elapsed() < Duration::from_secs(2));
        t.join().unwrap();
        assert!(held().lock().unwrap().since.is_none());
    }
}
