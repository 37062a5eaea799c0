//! A child process with a time limit: the schedulers' and service managers'
//! commands (`systemctl --user`, `launchctl`, `schtasks`), whose answers
//! `ls` and `autorenew status` print and whose changes `agent install` and
//! `autorenew install` report. Neither a command that never ends, nor one
//! that writes without end, nor a process it leaves behind holding its
//! pipes may hold us past the limit (an attacker's review, issue 31).

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// At most this much of each of standard output and error is kept; the
/// rest is read and dropped, so the child never blocks on a full pipe.
pub const KEPT: u64 = 64 * 1024;

/// What a command that ended said.
#[derive(Debug, PartialEq, Eq)]
pub struct Ran {
    /// The exit code; None when a signal ended it.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `words` with no standard input and at most `limit` to end and
/// close its pipes. None when it cannot be started or takes longer; it is
/// then killed, with everything it started in its process group on Unix
/// (it runs in a group of its own, which also keeps a terminal's Ctrl-C,
/// which the caller handles, away from it).
pub fn run(words: &[&str], limit: Duration) -> Option<Ran> {
    let (program, args) = words.split_first()?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().ok()?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let until = Instant::now() + limit;
    let kill = |child: &mut std::process::Child| {
        #[cfg(unix)]
        if let Some(pg) = rustix::process::Pid::from_raw(child.id() as i32) {
            let _ = rustix::process::kill_process_group(pg, rustix::process::Signal::KILL);
        }
        let _ = child.kill();
        let _ = child.wait();
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                kill(&mut child);
                return None;
            }
        }
    };
    // A process the child left behind may still hold its pipes: the
    // readers answer through channels, waited for until the same limit.
    let left = || until.saturating_duration_since(Instant::now());
    let (stdout, stderr) = match (out.recv_timeout(left()), err.recv_timeout(left())) {
        (Ok(o), Ok(e)) => (o, e),
        _ => {
            #[cfg(unix)]
            if let Some(pg) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(pg, rustix::process::Signal::KILL);
            }
            return None;
        }
    };
    Some(Ran {
        code: status.code(),
        stdout,
        stderr,
    })
}

/// Reads a pipe on a thread of its own: the first [`KEPT`] bytes, then
/// the rest into nothing.
fn drain<R: Read + Send + 'static>(r: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(mut r) = r {
            let _ = (&mut r).take(KEPT).read_to_end(&mut v);
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
        assert_eq!(
            run(&["sh", "-c", "echo enabled; echo oops >&2; exit 1"], LIMIT),
            Some(Ran {
                code: Some(1),
                stdout: b"enabled\n".to_vec(),
                stderr: b"oops\n".to_vec()
            })
        );
        assert_eq!(run(&["/nonexistent/program"], LIMIT), None);
        // More than a pipe holds, then an exit: answered, not timed out.
        let started = Instant::now();
        let r = run(
            &["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a; exit 3"],
            LIMIT,
        )
        .unwrap();
        assert_eq!((r.code, r.stdout.len()), (Some(3), KEPT as usize));
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
            assert_eq!(run(&["sh", "-c", &script], LIMIT), None, "{script}");
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
}
