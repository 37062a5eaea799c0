//! A Docker host as most people run one (issue 31): Debian bookworm booted
//! with systemd as PID 1 by systemd-nspawn, its packaged docker.service
//! (`dockerd -H fd://`, started from docker.socket), logind, the user
//! manager, and a real sshd on 127.0.0.1 for root and for `deploy` (sudo
//! without a password). The root filesystem is Debian's own packages, made
//! once by tests/it/common/systemd-root.sh under target/; each host boots a
//! fresh overlay of it, so no test sees another's changes.
//!
//! The network is this machine's: the host's daemon.json starts as
//! `{"bridge":"none","iptables":false}` so its dockerd never touches ours,
//! and a TCP port it opens is reachable from the test. Why each nspawn
//! option, and the cgroup gotcha: ../shared/DESIGN.md §13 (copied here
//! where it matters, since users run the suite without it).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::Signal;

use super::host::{keygen, write_mode, write_ssh_client, Host};
use super::{child_of, is_root, kill_pid, require};

pub struct SystemdHost {
    pub dir: tempfile::TempDir,
    pub ssh_port: u16,
    /// systemd-nspawn, our child; SIGTERM to it shuts the host down.
    nspawn: Child,
    /// The host's systemd (PID 1 inside), nspawn's child.
    init: u32,
    /// Whether this machine's /sys/fs/cgroup was writable before the boot.
    cgroup_rw: bool,
}

/// The sudo user (NOPASSWD), as on the SysV host.
pub const SUDO_USER: &str = "deploy";

/// Where the root filesystem is kept: target/systemd-host/root.
pub fn root_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("systemd-host/root")
}

impl SystemdHost {
    pub fn start() -> SystemdHost {
        assert!(is_root(), "the systemd host needs root (CI runs as root)");
        for p in ["systemd-nspawn", "nsenter", "ssh", "ssh-keygen", "mount"] {
            require(p);
        }
        let cache = root_cache();
        let made = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/common/systemd-root.sh"))
            .arg(&cache)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "the systemd host's root filesystem: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let dir = tempfile::Builder::new()
            .prefix("tlsctx-sysd-")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        for sub in ["upper", "work", "root", "lib-docker"] {
            fs::create_dir(d.join(sub)).unwrap();
        }
        // overlay2 inside cannot stack on an overlayfs root, and renames
        // across its layers fail (EXDEV): /var/lib/docker is a plain
        // folder, bound in.
        mount(&[
            "-t",
            "overlay",
            "overlay",
            "-o",
            &format!(
                "lowerdir={},upperdir={},workdir={}",
                cache.display(),
                d.join("upper").display(),
                d.join("work").display()
            ),
            &d.join("root").display().to_string(),
        ]);
        let r = d.join("root");
        let ssh_port = super::dockerd::free_port();
        keygen(&d.join("hostkey"));
        keygen(&d.join("userkey"));
        write_mode(
            &r.join("etc/ssh/ssh_host_ed25519_key"),
            &fs::read_to_string(d.join("hostkey")).unwrap(),
            0o600,
        );
        fs::copy(
            d.join("hostkey.pub"),
            r.join("etc/ssh/ssh_host_ed25519_key.pub"),
        )
        .unwrap();
        for k in ["rsa", "ecdsa"] {
            let _ = fs::remove_file(r.join(format!("etc/ssh/ssh_host_{k}_key")));
            let _ = fs::remove_file(r.join(format!("etc/ssh/ssh_host_{k}_key.pub")));
        }
        write_mode(
            &r.join("etc/ssh/sshd_config.d/tlsctx-test.conf"),
            &format!("Port {ssh_port}\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"),
            0o644,
        );
        let user_pub = fs::read_to_string(d.join("userkey.pub")).unwrap();
        fs::create_dir_all(r.join("root/.ssh")).unwrap();
        write_mode(&r.join("root/.ssh/authorized_keys"), &user_pub, 0o600);
        let o = Command::new("chroot")
            .arg(&r)
            .args(["useradd", "-m", "-s", "/bin/bash", "-G", "sudo", SUDO_USER])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "useradd: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let home = r.join(format!("home/{SUDO_USER}"));
        fs::create_dir_all(home.join(".ssh")).unwrap();
        write_mode(&home.join(".ssh/authorized_keys"), &user_pub, 0o600);
        let o = Command::new("chroot")
            .arg(&r)
            .args([
                "chown",
                "-R",
                &format!("{SUDO_USER}:{SUDO_USER}"),
                &format!("/home/{SUDO_USER}/.ssh"),
            ])
            .output()
            .unwrap();
        assert!(o.status.success());
        write_mode(
            &r.join("etc/sudoers.d/tlsctx-test"),
            &format!("{SUDO_USER} ALL=(ALL) NOPASSWD: ALL\n"),
            0o440,
        );
        fs::create_dir_all(r.join("etc/docker")).unwrap();
        fs::write(
            r.join("etc/docker/daemon.json"),
            "{\"bridge\": \"none\", \"iptables\": false}\n",
        )
        .unwrap();
        let name = format!("tlsctx-sysd-{ssh_port}");
        fs::write(r.join("etc/hostname"), format!("{name}\n")).unwrap();
        let host_pub = fs::read_to_string(d.join("hostkey.pub")).unwrap();
        fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{ssh_port} {host_pub}"),
        )
        .unwrap();
        write_ssh_client(d, &d.join("userkey"), &d.join("known_hosts"));

        // nspawn removes its propagation folder recursively and refuses to
        // unless /run/systemd/nspawn is a tmpfs.
        let prop = Path::new("/run/systemd/nspawn");
        if !is_mountpoint(prop) {
            fs::create_dir_all(prop).unwrap();
            mount(&["-t", "tmpfs", "tmpfs", "/run/systemd/nspawn"]);
        }
        let cgroup_rw = cgroup_writable();
        // No system bus or systemd runs on this machine: no registration,
        // no new scope. dockerd inside needs the capabilities and calls.
        let nspawn = Command::new(require("systemd-nspawn"))
            .arg("-D")
            .arg(&r)
            .args([
                "-M",
                &name,
                "-b",
                "--register=no",
                "--keep-unit",
                "--capability=all",
                "--system-call-filter=@mount @privileged keyctl bpf",
                "--console=pipe",
            ])
            .arg(format!(
                "--bind={}:/var/lib/docker",
                d.join("lib-docker").display()
            ))
            .stdin(Stdio::null())
            .stdout(fs::File::create(d.join("console.log")).unwrap())
            .stderr(fs::File::create(d.join("nspawn.log")).unwrap())
            .spawn()
            .unwrap();
        let init = child_of(nspawn.id(), Duration::from_secs(30)).unwrap_or(0);
        let mut host = SystemdHost {
            dir,
            ssh_port,
            nspawn,
            init,
            cgroup_rw,
        };
        assert!(
            init != 0,
            "systemd-nspawn started no init: {}",
            host.console()
        );
        host.wait_booted();
        host.restore_cgroup();
        host.wait_local_docker();
        let until = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", ssh_port)).is_err() {
            assert!(
                Instant::now() < until,
                "the host's sshd did not listen: {}",
                String::from_utf8_lossy(&host.run("systemctl status ssh --no-pager").stdout)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        host
    }

    fn wait_booted(&mut self) {
        let until = Instant::now() + Duration::from_secs(90);
        loop {
            // nspawn's first child may be a helper that forks the
            // container's init and goes: look again each time.
            if let Some(p) = super::children_of(self.nspawn.id()).first() {
                self.init = *p;
            }
            let o = self.run("systemctl is-system-running");
            let state = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if state == "running" {
                return;
            }
            // Degraded: a unit this sandbox cannot run failed (one that
            // needs a device or a kernel feature). What the tests use
            // (docker, its socket, sshd, logind) is waited for by name
            // below; the failed units are said, for a failure later.
            if state == "degraded" {
                let failed = self.run("systemctl --failed --no-legend --plain --no-pager");
                eprintln!(
                    "systemd host: booted degraded; failed units: {}",
                    String::from_utf8_lossy(&failed.stdout).trim()
                );
                return;
            }
            if let Ok(Some(st)) = self.nspawn.try_wait() {
                panic!("systemd-nspawn exited ({st}): {}", self.console());
            }
            assert!(
                Instant::now() < until,
                "the systemd host did not finish booting ({state:?}, {}): {}",
                String::from_utf8_lossy(&o.stderr).trim(),
                self.console()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn console(&self) -> String {
        let d = self.dir.path();
        let tail = |p: &str| {
            let t = fs::read_to_string(d.join(p)).unwrap_or_default();
            let lines: Vec<&str> = t.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        format!("{}\n{}", tail("nspawn.log"), tail("console.log"))
    }

    /// Booting systemd this way remounts this machine's /sys/fs/cgroup
    /// tmpfs read-only (the superblock is shared), which breaks Debian's
    /// /etc/init.d/docker (`cgroupfs_mount`) for everything else, the SysV
    /// test host included: put it back as it was.
    fn restore_cgroup(&self) {
        if self.cgroup_rw && !cgroup_writable() {
            mount(&["-o", "remount,rw", "/sys/fs/cgroup"]);
        }
    }

    /// `systemctl ARGS` on the host; its standard output.
    pub fn systemctl(&self, args: &str) -> String {
        String::from_utf8_lossy(&self.run(&format!("systemctl {args}")).stdout)
            .trim()
            .to_string()
    }

    /// The host's / seen from here (the overlay).
    pub fn fs(&self) -> PathBuf {
        self.dir.path().join("root")
    }
}

impl Host for SystemdHost {
    fn ssh_port(&self) -> u16 {
        self.ssh_port
    }

    fn client_dir(&self) -> &Path {
        self.dir.path()
    }

    /// In every namespace of the host, as root.
    fn run(&self, script: &str) -> Output {
        Command::new(require("nsenter"))
            .args(["-t", &self.init.to_string(), "-a", "sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn etc_docker(&self) -> PathBuf {
        self.fs().join("etc/docker")
    }

    fn install_dir(&self, name: &str) -> PathBuf {
        self.fs()
            .join(format!("var/lib/docker-tlsctx/install/{name}"))
    }

    fn daemon_log(&self) -> String {
        String::from_utf8_lossy(
            &self
                .run("journalctl -u docker.service -n 30 --no-pager")
                .stdout,
        )
        .into_owned()
    }
}

impl Drop for SystemdHost {
    fn drop(&mut self) {
        // A clean shutdown (SIGTERM to nspawn), then the kill; every process
        // of the host is in its PID namespace and goes with its init.
        if self.init != 0 {
            kill_pid(self.nspawn.id(), Signal::TERM);
            let until = Instant::now() + Duration::from_secs(20);
            while matches!(self.nspawn.try_wait(), Ok(None)) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
        let root = self.dir.path().join("root");
        let o = Command::new("umount").arg("-R").arg(&root).output();
        if !o.is_ok_and(|o| o.status.success()) {
            let _ = Command::new("umount").arg("-l").arg(&root).output();
        }
        self.restore_cgroup();
    }
}

fn mount(args: &[&str]) {
    let o = Command::new("mount").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "mount {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn is_mountpoint(p: &Path) -> bool {
    let want = p.display().to_string();
    fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(want.as_str()))
}

/// Whether /sys/fs/cgroup is mounted read-write here.
fn cgroup_writable() -> bool {
    fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .rfind(|l| l.split_whitespace().nth(1) == Some("/sys/fs/cgroup"))
        .is_some_and(|l| {
            l.split_whitespace()
                .nth(3)
                .is_some_and(|o| o.split(',').any(|x| x == "rw"))
        })
}
