//! A child process with a deadline: standard input fed and output read on
//! threads of their own, a time limit, a cancellation check, optionally a
//! process group of its own. The schedulers' and service managers'
//! commands (`systemctl --user`, `launchctl`, `schtasks`), whose answers
//! `ls` and `autorenew status` print, `docker` under `swarm`, and deploy
//! hooks go through it. Neither a command that never ends, nor one that
//! writes without end, nor a process it leaves behind holding its pipes
//! may hold us past the limit (an attacker's review, issue 31).

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::interrupt::Cancel;

/// At most this much of each of standard output and error is kept by
/// [`run`]; the rest is read and dropped, so the child never blocks on a
/// full pipe.
pub const KEPT: u64 = 64 * 1024;

/// How often a running child is looked at: a scheduler answers in
/// milliseconds, and a cancellation should stop a child at once.
const POLL: Duration = Duration::from_millis(5);

/// What a command that ended said.
#[derive(Debug, PartialEq, Eq)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// The exit code; None when a signal ended it.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Why a child gave no [`Ran`].
#[derive(Debug)]
pub enum Stopped {
    /// It could not be started.
    NotStarted(std::io::Error),
    /// It did not end, or a process it left behind kept its pipes open,
    /// within the limit: killed.
    TimedOut,
    /// The cancellation check said so: killed.
    Cancelled,
    /// Asking whether it ended failed.
    Wait(std::io::Error),
}

/// A child process to run: its standard input (data, or nothing), what of
/// its output is kept, a time limit, a cancellation check, and whether it
/// gets a process group of its own. Each user of a child with a deadline
/// goes through here (issue 32: there were five copies, with three polling
/// intervals).
pub struct Spec {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    limit: Option<Duration>,
    keep: u64,
    own_group: bool,
    quiet: bool,
    stderr_to: Option<std::fs::File>,
    cancelled: Option<Cancel>,
}

impl Spec {
    /// `cmd` as the caller made it (program, arguments, environment); its
    /// standard streams are set here.
    pub fn new(cmd: Command) -> Spec {
        Spec {
            cmd,
            stdin: None,
            limit: None,
            keep: u64::MAX,
            own_group: false,
            quiet: false,
            stderr_to: None,
            cancelled: None,
        }
    }

    /// Data for its standard input, written on a thread of its own (a
    /// child that never reads cannot hold us; one that exits early closes
    /// the pipe, and its stderr says why).
    pub fn stdin(mut self, data: &[u8]) -> Spec {
        self.stdin = Some(data.to_vec());
        self
    }

    /// Killed when it has not ended within `limit`.
    pub fn limit(mut self, limit: Duration) -> Spec {
        self.limit = Some(limit);
        self
    }

    /// Keeps at most `bytes` of each output stream.
    pub fn keep(mut self, bytes: u64) -> Spec {
        self.keep = bytes;
        self
    }

    /// Unix: a process group of its own, killed whole at the limit or a
    /// cancellation (what it started goes with it), and out of reach of
    /// a terminal's Ctrl-C, which the caller handles.
    pub fn own_group(mut self) -> Spec {
        self.own_group = true;
        self
    }

    /// Its output goes nowhere (a deploy hook's, which may start a daemon
    /// that keeps it open).
    pub fn quiet(mut self) -> Spec {
        self.quiet = true;
        self
    }

    /// Its standard error goes to `file` (ssh's master log), not to us.
    pub fn stderr_to(mut self, file: std::fs::File) -> Spec {
        self.stderr_to = Some(file);
        self
    }

    /// Killed as soon as `cancelled` says so.
    pub fn cancel_on(mut self, cancel: &Cancel) -> Spec {
        self.cancelled = Some(cancel.clone());
        self
    }

    pub fn run(mut self) -> Result<Ran, Stopped> {
        let piped = || {
            if self.quiet {
                Stdio::null()
            } else {
                Stdio::piped()
            }
        };
        let out_io = piped();
        let err_io = match self.stderr_to.take() {
            Some(f) => Stdio::from(f),
            None => piped(),
        };
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(out_io)
            .stderr(err_io);
        #[cfg(unix)]
        if self.own_group {
            std::os::unix::process::CommandExt::process_group(&mut self.cmd, 0);
        }
        let mut child = self.cmd.spawn().map_err(Stopped::NotStarted)?;
        // Not joined: a process the child left behind that holds its stdin
        // without reading could otherwise hold us past the limit; the
        // thread ends when the pipe's last reader does.
        if let Some(data) = self.stdin.take() {
            let mut pipe = child.stdin.take().expect("piped");
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
        }
        let out = drain(child.stdout.take(), self.keep);
        let err = drain(child.stderr.take(), self.keep);
        let until = self.limit.map(|l| Instant::now() + l);
        let own_group = self.own_group;
        let cancelled = self.cancelled.take();
        let over = || until.is_some_and(|u| Instant::now() >= u);
        // Looked at after 1, 2, 4 ms, then every POLL: a command that
        // ends at once (most remote steps of an install) costs no more
        // than it takes.
        let mut nap = Duration::from_millis(1);
        loop {
            // Ended, but not reaped yet where it leads a group: while it is
            // a zombie its PID, and so its group's ID, cannot be given to
            // another process, so the group can still be killed safely
            // (attacker review: a group killed after the reap could be a
            // stranger's that took the number).
            match ended(&mut child, own_group) {
                Ok(true) => break,
                Ok(false) => {
                    if cancelled.as_ref().is_some_and(Cancel::requested) {
                        stop(&mut child, own_group);
                        return Err(Stopped::Cancelled);
                    }
                    if over() {
                        stop(&mut child, own_group);
                        return Err(Stopped::TimedOut);
                    }
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(POLL);
                }
                Err(e) => {
                    stop(&mut child, own_group);
                    return Err(Stopped::Wait(e));
                }
            }
        }
        // A process the child left behind may still hold its pipes: the
        // readers answer through channels, waited for until the same limit
        // and a cancellation.
        let recv = |rx: &mpsc::Receiver<Vec<u8>>| -> Result<Vec<u8>, Stopped> {
            loop {
                let step = match until {
                    Some(u) => u.saturating_duration_since(Instant::now()).min(POLL * 10),
                    None => POLL * 10,
                };
                match rx.recv_timeout(step) {
                    Ok(v) => return Ok(v),
                    Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(Vec::new()),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if cancelled.as_ref().is_some_and(Cancel::requested) {
                            return Err(Stopped::Cancelled);
                        }
                        if over() {
                            return Err(Stopped::TimedOut);
                        }
                    }
                }
            }
        };
        let outputs = recv(&out).and_then(|o| Ok((o, recv(&err)?)));
        // Killed with its group while the leader is still unreaped (see
        // above); then reaped.
        if outputs.is_err() {
            #[cfg(unix)]
            if own_group {
                kill_group(child.id());
            }
        }
        let status = child.wait().map_err(Stopped::Wait)?;
        let (stdout, stderr) = outputs?;
        Ok(Ran {
            status,
            stdout,
            stderr,
        })
    }
}

/// Whether `child` ended. A group leader is left unreaped (waitid with
/// WNOWAIT, waitid(2)) so that its group can still be killed safely;
/// anything else is reaped as it ends ([`std::process::Child::try_wait`]).
fn ended(child: &mut std::process::Child, own_group: bool) -> std::io::Result<bool> {
    #[cfg(unix)]
    if own_group {
        use rustix::process::{waitid, Pid, WaitId, WaitIdOptions};
        let Some(pid) = Pid::from_raw(child.id() as i32) else {
            return Ok(true);
        };
        return waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG,
        )
        .map(|s| s.is_some())
        .map_err(std::io::Error::from);
    }
    #[cfg(not(unix))]
    let _ = own_group;
    child.try_wait().map(|s| s.is_some())
}

/// Kills `child` (and its process group, when it leads one) and reaps it.
fn stop(child: &mut std::process::Child, own_group: bool) {
    #[cfg(unix)]
    if own_group {
        kill_group(child.id());
    }
    #[cfg(not(unix))]
    let _ = own_group;
    let _ = child.kill();
    let _ = child.wait();
}

/// Unix: SIGKILL to the process group `pgid` (a child started with
/// [`Spec::own_group`] leads its own).
#[cfg(unix)]
fn kill_group(pgid: u32) {
    if let Some(pg) = rustix::process::Pid::from_raw(pgid as i32) {
        let _ = rustix::process::kill_process_group(pg, rustix::process::Signal::KILL);
    }
}

/// Runs `words` with no standard input, in a process group of its own, at
/// most [`KEPT`] of each output kept, and at most `limit` to end and close
/// its pipes: the schedulers' and service managers' commands. None when it
/// cannot be started or takes longer (it is then killed, with what it
/// started).
pub fn run(words: &[&str], limit: Duration) -> Option<Ran> {
    let (program, args) = words.split_first()?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    Spec::new(cmd)
        .limit(limit)
        .keep(KEPT)
        .own_group()
        .run()
        .ok()
}

/// Reads a pipe on a thread of its own: the first `keep` bytes, then the
/// rest into nothing.
fn drain<R: Read + Send + 'static>(r: Option<R>, keep: u64) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(mut r) = r {
            let _ = (&mut r).take(keep).read_to_end(&mut v);
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        }
        let _ = tx.send(v);
    });
    rx
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(2);

    #[test]
    fn answers_and_limits() {
        let r = run(&["sh", "-c", "echo enabled; echo oops >&2; exit 1"], LIMIT).unwrap();
        assert_eq!(
            (r.code(), r.stdout.as_slice(), r.stderr.as_slice()),
            (Some(1), &b"enabled\n"[..], &b"oops\n"[..])
        );
        assert!(run(&["/nonexistent/program"], LIMIT).is_none());
        // More than a pipe holds, then an exit: answered, not timed out.
        let started = Instant::now();
        let r = run(
            &["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a; exit 3"],
            LIMIT,
        )
        .unwrap();
        assert_eq!((r.code(), r.stdout.len()), (Some(3), KEPT as usize));
        assert!(started.elapsed() < LIMIT);
    }

    /// A command that never ends, and one that ends while a process it
    /// started keeps the pipes open: both cost the limit, and what they
    /// started is killed with them (its group).
    #[test]
    fn a_command_that_does_not_end_costs_the_limit_and_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("tlsctx-proc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, script) in [
            "echo $$ > {f}; exec sleep 30",
            "sleep 30 & echo $! > {f}; echo on",
        ]
        .iter()
        .enumerate()
        {
            let f = dir.join(format!("pid{i}"));
            let script = script.replace("{f}", &f.display().to_string());
            let started = Instant::now();
            assert!(run(&["sh", "-c", &script], LIMIT).is_none(), "{script}");
            let took = started.elapsed();
            assert!(
                took >= LIMIT && took < LIMIT + Duration::from_secs(1),
                "{took:?}"
            );
            let pid: i32 = std::fs::read_to_string(&f).unwrap().trim().parse().unwrap();
            // Killed and reaped (the direct child) or reparented and killed:
            // either way, no longer running after a moment.
            let until = Instant::now() + Duration::from_secs(2);
            loop {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // Gone, or a zombie waiting for init to reap it.
                if stat.is_empty() || stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')) {
                    break;
                }
                assert!(Instant::now() < until, "{pid} still runs: {stat}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Standard input is fed while the output is read (more than a pipe
    /// holds both ways: neither side blocks), and nothing is cut without a
    /// `keep`.
    #[test]
    fn stdin_is_fed_and_all_output_kept() {
        let data = vec![b'x'; 300_000];
        let mut cmd = Command::new("cat");
        cmd.arg("-");
        let r = Spec::new(cmd).stdin(&data).limit(LIMIT).run().unwrap();
        assert!(r.ok());
        assert_eq!(r.stdout.len(), data.len());
    }

    /// A cancellation stops the child at once, limit or not.
    #[test]
    fn a_cancellation_stops_it() {
        let stop = Cancel::new();
        let started = Instant::now();
        let t = std::thread::spawn({
            let stop = stop.clone();
            move || {
                std::thread::sleep(Duration::from_millis(200));
                stop.request();
            }
        });
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let r = Spec::new(cmd).cancel_on(&stop).run();
        t.join().unwrap();
        assert!(matches!(r, Err(Stopped::Cancelled)), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// A child that exits while a process it started keeps its output
    /// open, with no limit (docker under swarm without --timeout): a
    /// cancellation still ends the wait (attacker review: only a second
    /// Ctrl-C did).
    #[test]
    fn a_cancellation_ends_the_wait_for_a_held_pipe() {
        let dir = std::env::temp_dir().join(format!("tlsctx-proc-late-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pid");
        let stop = Cancel::new();
        let t = std::thread::spawn({
            let stop = stop.clone();
            move || {
                std::thread::sleep(Duration::from_millis(300));
                stop.request();
            }
        });
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            &format!("sleep 30 & echo $! > {}; echo on", f.display()),
        ]);
        let started = Instant::now();
        let r = Spec::new(cmd).cancel_on(&stop).run();
        t.join().unwrap();
        // The sleep is ours to stop, by its PID.
        if let Ok(pid) = std::fs::read_to_string(&f)
            .unwrap_or_default()
            .trim()
            .parse::<i32>()
        {
            if let Some(p) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(r, Err(Stopped::Cancelled)), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
