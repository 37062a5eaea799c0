//! Shared by the integration tests: the binary, temporary Docker config
//! folders, transcripts and their insta filters, and peer lookup.
#![allow(dead_code)]

pub mod bao;
pub mod dockerd;
pub mod host;
pub mod plugin;
pub mod secret_service;
pub mod steps;
pub mod systemd_host;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub const BIN: &str = env!("CARGO_BIN_EXE_docker-tlsctx");

/// A temporary folder with a Docker config folder `cfg/` inside (holding an
/// empty config.json, as docker-py needs).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

/// Where sandboxes go: a folder no other user can write to, anywhere up its
/// path, as the agent requires of the configuration folder its sockets live
/// in (issue 30: nothing under /tmp). `/run/tlsctx-tests` (root's, 0755)
/// when running as root, as CI does; else cargo's own temporary folder in
/// target/. Short, too: dockerd's unix socket path must fit in 108 bytes.
pub fn test_root() -> PathBuf {
    let root = if is_root() {
        PathBuf::from("/run/tlsctx-tests")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
    };
    match std::fs::create_dir(&root) {
        Ok(()) => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => panic!("cannot make the tests' folder {}: {e}", root.display()),
    }
    root
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("tlsctx-")
            .tempdir_in(test_root())
            .unwrap();
        std::fs::create_dir(dir.path().join("cfg")).unwrap();
        std::fs::write(dir.path().join("cfg/config.json"), "{}").unwrap();
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cfg(&self) -> PathBuf {
        self.dir.path().join("cfg")
    }

    /// Our binary, run standalone with DOCKER_CONFIG set.
    pub fn tlsctx(&self, args: &[&str]) -> Output {
        self.tlsctx_cmd(args).output().unwrap()
    }

    /// The file keystore unless a test says otherwise: whether this machine
    /// has a Secret Service must not change what these tests see. The
    /// keychain tests (tests/it/keychain.rs) run against a real one.
    pub fn tlsctx_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("DOCKER_CONFIG", self.cfg())
            .env("DOCKER_TLSCTX_KEYSTORE", "file")
            .env_remove("DOCKER_CLI_PLUGIN_SOCKET");
        c
    }

    /// The real docker CLI with this sandbox's config.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().unwrap()
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(require("docker"));
        c.arg("--config")
            .arg(self.cfg())
            .args(args)
            .env("DOCKER_TLSCTX_KEYSTORE", "file");
        for v in [
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "DOCKER_CONFIG",
        ] {
            c.env_remove(v);
        }
        c
    }

    /// Every file and folder below the sandbox, with its mode: what a failed
    /// command must leave unchanged.
    pub fn listing(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(self.path(), self.path(), &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        out.push(format!(
            "{:o} {}",
            m.permissions().mode() & 0o777,
            p.strip_prefix(root).unwrap().display()
        ));
        if m.is_dir() {
            walk(root, &p, out);
        }
    }
}

pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `exit`, stdout and stderr in one text, for snapshots.
pub fn transcript(o: &Output) -> String {
    format!(
        "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
        o.status
            .code()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "signal".into()),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// One table of filters for every snapshot: what varies between runs.
pub fn filters(sandbox: Option<&Sandbox>) -> Vec<(String, String)> {
    let mut f = Vec::new();
    if let Some(s) = sandbox {
        f.push((
            regex_escape(&s.path().display().to_string()),
            "[SANDBOX]".into(),
        ));
    }
    f.extend([
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z".into(),
            "[TIME]".into(),
        ),
        (r"\d{4}-\d\d-\d\d".into(), "[DATE]".into()),
        (r"\b[0-9a-f]{64}\b".into(), "[SHA256]".into()),
        (r"\b[0-9a-f]{32}\b".into(), "[SERIAL]".into()),
    ]);
    f
}

pub fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[macro_export]
macro_rules! snap {
    ($sandbox:expr, $name:expr, $value:expr) => {{
        let mut settings = insta::Settings::clone_current();
        for (re, rep) in $crate::common::filters($sandbox) {
            settings.add_filter(&re, rep);
        }
        settings.bind(|| insta::assert_snapshot!($name, $value));
    }};
}

/// The path of a peer program. A missing peer fails under CI=true (the CI
/// script installs every peer); elsewhere it fails too, naming the package,
/// because a test that quietly passes without its peer proves nothing.
pub fn require(program: &str) -> PathBuf {
    match which::which(program) {
        Ok(p) => p,
        Err(_) => panic!(
            "peer {program:?} is not installed; run ./scripts/test.sh, which installs the test peers (docker.io, openssl, …)"
        ),
    }
}

/// Sends `sig` to one process the test started (by its PID, never a name).
pub fn kill_pid(pid: u32, sig: rustix::process::Signal) {
    if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(p, sig);
    }
}

/// The first child of `pid` (as /proc lists them), waiting up to `wait`
/// for one to appear.
pub fn child_of(pid: u32, wait: std::time::Duration) -> Option<u32> {
    let until = std::time::Instant::now() + wait;
    loop {
        if let Some(c) = children_of(pid).first() {
            return Some(*c);
        }
        if std::time::Instant::now() >= until {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The children of `pid` (every thread's), from /proc.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let text = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|w| w.parse::<u32>().ok()),
        );
    }
    out
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Installs our binary into the sandbox with install.sh, as a user would:
/// the plugin into cfg/cli-plugins, the credential helper link into bin/.
pub fn install_plugin(s: &Sandbox) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh");
    let o = Command::new("sh")
        .arg(script)
        .args(["--binary", BIN, "--config"])
        .arg(s.cfg())
        .arg("--bin-dir")
        .arg(s.path().join("bin"))
        .output()
        .unwrap();
    ok(&o);
}

/// Runs `c` with `stdin` as its standard input; captures stdout and stderr.
pub fn with_stdin(mut c: Command, stdin: &str) -> Output {
    use std::io::Write;
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// OpenSSL, the independent reader of what we write.
pub fn openssl(args: &[&str]) -> Output {
    Command::new(require("openssl"))
        .args(args)
        .output()
        .unwrap()
}

/// OpenSSL that must succeed; its standard output.
pub fn openssl_ok(args: &[&str]) -> String {
    ok(&openssl(args))
}

/// The public key of a certificate, as OpenSSL reads it.
pub fn public_key_of_cert(cert: &Path) -> String {
    openssl_ok(&["x509", "-noout", "-pubkey", "-in", cert.to_str().unwrap()])
}

/// The public key of a PEM private key, as OpenSSL reads it.
pub fn public_key_of_key(key: &Path) -> String {
    openssl_ok(&["pkey", "-pubout", "-in", key.to_str().unwrap()])
}

/// Every file below `dir` (none if it does not exist).
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(all_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// An image to run, imported from Debian's static busybox (nothing can be pulled here).
pub fn import_busybox(s: &Sandbox, ctx: &str) -> String {
    let root = s.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(require("busybox"), root.join("bin/busybox")).unwrap();
    let tar = s.path().join("rootfs.tar");
    ok(&Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .output()
        .unwrap());
    ok(&s.docker(&[
        "--context",
        ctx,
        "import",
        tar.to_str().unwrap(),
        "tlsctx-test/busybox",
    ]));
    ok(&s.docker(&[
        "--context",
        ctx,
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        "tlsctx-test/busybox",
    ]))
    .trim()
    .to_string()
}

/// Samples every process's argv while it runs and keeps each distinct one,
/// so that keys made during the run (a rotation renews its key) are looked
/// for too; counts the processes of a kind it saw, so a clean result means
/// something.
pub struct ArgvSampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<BTreeSet<String>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ArgvSampler {
    pub fn start() -> ArgvSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let (st, sn) = (stop.clone(), seen.clone());
        let handle = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                for e in std::fs::read_dir("/proc").unwrap().flatten() {
                    if let Ok(argv) = std::fs::read(e.path().join("cmdline")) {
                        let text = String::from_utf8_lossy(&argv).replace('\0', " ");
                        // The PID too: the same command twice counts twice.
                        sn.lock()
                            .unwrap()
                            .insert(format!("{} {text}", e.file_name().to_string_lossy()));
                    }
                }
            }
        });
        ArgvSampler {
            stop,
            seen,
            handle: Some(handle),
        }
    }

    /// Stops; returns (argvs holding a needle, processes seen whose argv
    /// holds `counted`).
    pub fn finish(mut self, needles: &[String], counted: &str) -> (Vec<String>, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().unwrap().join().unwrap();
        let seen = self.seen.lock().unwrap();
        let found = seen
            .iter()
            .filter(|a| needles.iter().any(|n| a.contains(n.as_str())))
            .cloned()
            .collect();
        let creates = seen.iter().filter(|a| a.contains(counted)).count();
        (found, creates)
    }
}

/// The base64 lines of a PEM file: what would show if its data leaked.
pub fn body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .map(str::to_string)
        .collect()
}
