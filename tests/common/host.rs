//! A Docker host over SSH for the install tests: a private mount namespace
//! (its own /etc/docker, /etc/default, /var/lib/docker, /var/log, a tmpfs
//! /run, the install journal folder, users and sudoers) in which a real
//! sshd runs on 127.0.0.1, so every remote command sees only the sandbox.
//! Its dockerd is started and restarted by Debian's own /etc/init.d/docker
//! (a copy whose `ulimit` lines may fail: the sandbox has no
//! CAP_SYS_RESOURCE); /etc/init.d and /usr/local/libexec/docker-tlsctx are
//! the sandbox's own too, for the authorization plugin's service. The network is the machine's: 127.0.0.1:PORT of the
//! sandbox's dockerd is reachable from the test.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{is_root, require};

pub struct DockerHost {
    pub root: tempfile::TempDir,
    pub ssh_port: u16,
    sshd: Child,
}

/// The sandbox's users: `deploy` has sudo without a password, `guarded`
/// only with one.
const USERS: &[(&str, u32)] = &[("deploy", 4701), ("guarded", 4702)];

impl DockerHost {
    /// A host whose /etc/docker/daemon.json is `daemon_json` (none when
    /// None), with dockerd started by its init script.
    pub fn start(daemon_json: Option<&str>) -> DockerHost {
        assert!(
            is_root(),
            "the Docker host sandbox needs root (CI runs as root)"
        );
        for p in [
            "sshd",
            "ssh",
            "ssh-keygen",
            "unshare",
            "nsenter",
            "sudo",
            "dockerd",
        ] {
            require(p);
        }
        let root = tempfile::Builder::new()
            .prefix("tlsctx-host-")
            .tempdir_in("/tmp")
            .unwrap();
        let r = root.path();
        for d in [
            "etc-docker",
            "etc-default",
            "var-lib-docker",
            "var-log",
            "state",
            "sudoers.d",
            "bin",
            "home",
            "init.d",
            "libexec",
        ] {
            fs::create_dir(r.join(d)).unwrap();
        }
        if let Some(j) = daemon_json {
            fs::write(r.join("etc-docker/daemon.json"), j).unwrap();
        }
        fs::write(
            r.join("etc-default/docker"),
            "# Docker Upstart and SysVinit configuration file\nDOCKER_OPTS=\"--bridge none --iptables=false\"\n",
        )
        .unwrap();
        let init =
            fs::read_to_string("/etc/init.d/docker").expect("Debian's docker.io init script");
        let init: String = init
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("ulimit ") {
                    format!("{l} || true\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        write_mode(&r.join("init.d/docker"), &init, 0o755);
        // The sandbox cannot reboot: enabling a service at boot is recorded,
        // not done (update-rc.d would write the machine's own rc links).
        write_mode(
            &r.join("update-rc.d"),
            "#!/bin/sh\necho \"$@\" >> /var/log/update-rc.d.calls\n",
            0o755,
        );
        // Users and sudoers, for the sudo cases.
        let mut passwd = fs::read_to_string("/etc/passwd").unwrap();
        let mut shadow = fs::read_to_string("/etc/shadow").unwrap();
        for (u, id) in USERS {
            passwd += &format!("{u}:x:{id}:{id}::{}:/bin/sh\n", r.join("home").display());
            shadow += &format!("{u}:*:19000:0:99999:7:::\n");
        }
        let mut group = fs::read_to_string("/etc/group").unwrap();
        for (u, id) in USERS {
            group += &format!("{u}:x:{id}:\n");
        }
        write_mode(&r.join("passwd"), &passwd, 0o644);
        write_mode(&r.join("shadow"), &shadow, 0o640);
        write_mode(&r.join("group"), &group, 0o644);
        write_mode(
            &r.join("sudoers.d/tlsctx-test"),
            // deploy's sudo records what it reads (log_input), as hardened
            // sites do: a key must never go through it.
            "Defaults:deploy log_input, !compress_io, iolog_dir=/var/log/sudo-io\ndeploy ALL=(ALL) NOPASSWD: ALL\nguarded ALL=(ALL) ALL\n",
            0o440,
        );
        // Keys: the host's, and the test user's (for every login).
        keygen(&r.join("hostkey"));
        keygen(&r.join("userkey"));
        fs::copy(r.join("userkey.pub"), r.join("authorized_keys")).unwrap();
        let ssh_port = super::dockerd::free_port();
        let host_pub = fs::read_to_string(r.join("hostkey.pub")).unwrap();
        fs::write(
            r.join("known_hosts"),
            format!("[127.0.0.1]:{ssh_port} {host_pub}"),
        )
        .unwrap();
        fs::write(
            r.join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n",
                r.join("userkey").display(),
                r.join("known_hosts").display()
            ),
        )
        .unwrap();
        // OpenSSH takes ~ from the password database, not $HOME: the
        // client reads the test's config through `-F`, from an `ssh` first
        // on PATH. A test may take the network down, or leave a hook to run
        // before the command that starts the host's apply script, or the
        // one that confirms an install (a hook that fails stops that
        // command, as a lost connection would).
        write_mode(
            &r.join("bin/ssh"),
            &format!(
                "#!/bin/sh\nR={r}\nif [ -f \"$R/down\" ]; then echo 'ssh: connect to host 127.0.0.1: Network is unreachable' >&2; exit 255; fi\ncase \"$*\" in *'setsid sh apply.sh <'*) if [ -f \"$R/hook\" ]; then sh \"$R/hook\" || exit 255; fi ;; *'/confirm'*) if [ -f \"$R/hook-confirm\" ]; then sh \"$R/hook-confirm\" || exit 255; fi ;; esac\nexec /usr/bin/ssh -F \"$R/ssh_config\" \"$@\"\n",
                r = r.display()
            ),
            0o755,
        );
        for p in [
            "/var/lib/docker",
            "/var/lib/docker-tlsctx",
            "/usr/local/libexec/docker-tlsctx",
        ] {
            fs::create_dir_all(p).unwrap();
        }
        let setup = format!(
            "set -e
R={r}
mount --bind $R/etc-docker /etc/docker
mount --bind $R/etc-default /etc/default
mount --bind $R/var-lib-docker /var/lib/docker
mount --bind $R/var-log /var/log
mount --bind $R/state /var/lib/docker-tlsctx
mount --bind $R/init.d /etc/init.d
mount --bind $R/update-rc.d /usr/sbin/update-rc.d
mount --bind $R/libexec /usr/local/libexec/docker-tlsctx
mount --bind $R/passwd /etc/passwd
mount --bind $R/shadow /etc/shadow
mount --bind $R/group /etc/group
mount --bind $R/sudoers.d /etc/sudoers.d
mount -t tmpfs tmpfs /run
mkdir -p /run/sshd
exec {sshd} -D -e -f /dev/null -p {ssh_port} -o ListenAddress=127.0.0.1 -h $R/hostkey -o AuthorizedKeysFile=$R/authorized_keys -o StrictModes=no -o UsePAM=no -o PidFile=none -o PermitRootLogin=prohibit-password
",
            r = r.display(),
            sshd = require("sshd").display(),
        );
        let sshd = Command::new(require("unshare"))
            .args(["--mount", "--propagation", "private", "sh", "-c", &setup])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(r.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let host = DockerHost {
            root,
            ssh_port,
            sshd,
        };
        host.wait_for_sshd();
        let o = host.run("/etc/init.d/docker start");
        assert!(
            o.status.success(),
            "init script: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        host.wait_local_docker();
        host
    }

    fn wait_for_sshd(&self) {
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.ssh_port)).is_err() {
            assert!(
                Instant::now() < until,
                "sshd did not listen: {}",
                fs::read_to_string(self.root.path().join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the sandbox's dockerd answers on its local socket.
    pub fn wait_local_docker(&self) {
        let until = Instant::now() + Duration::from_secs(60);
        while !self.local_docker_ok() {
            assert!(
                Instant::now() < until,
                "the host's dockerd did not answer: {}",
                fs::read_to_string(self.root.path().join("var-log/docker.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn local_docker_ok(&self) -> bool {
        self.run("docker -H unix:///var/run/docker.sock version >/dev/null 2>&1")
            .status
            .success()
    }

    /// `root@127.0.0.1:PORT`, or another user of the sandbox.
    pub fn target(&self, user: &str) -> String {
        format!("{user}@127.0.0.1:{}", self.ssh_port)
    }

    /// PATH with the test's `ssh` first.
    pub fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.root.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// A shell command inside the sandbox (its mount namespace), as root.
    pub fn run(&self, script: &str) -> Output {
        Command::new(require("nsenter"))
            .args(["-t", &self.sshd.id().to_string(), "-m", "sh", "-c", script])
            .output()
            .unwrap()
    }

    /// `run`, which must succeed.
    pub fn run_ok(&self, script: &str) -> Output {
        let o = self.run(script);
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    pub fn etc_docker(&self) -> PathBuf {
        self.root.path().join("etc-docker")
    }

    pub fn daemon_log(&self) -> String {
        fs::read_to_string(self.root.path().join("var-log/docker.log")).unwrap_or_default()
    }

    /// The install journal's state for a bundle (the host's
    /// /var/lib/docker-tlsctx/install/NAME/state).
    pub fn journal(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.root.path().join(format!("state/install/{name}/state")))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Every file under /etc/docker with its mode and the SHA-256 of its
    /// bytes, to compare before and after a rollback.
    pub fn etc_docker_snapshot(&self) -> Vec<String> {
        use sha2::{Digest, Sha256};
        use std::os::unix::fs::PermissionsExt;
        let mut out = Vec::new();
        let mut paths = super::all_files(&self.etc_docker());
        let mut dirs = vec![self.etc_docker()];
        while let Some(d) = dirs.pop() {
            for e in fs::read_dir(&d).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    paths.push(e.path());
                    dirs.push(e.path());
                }
            }
        }
        for p in paths {
            let meta = fs::symlink_metadata(&p).unwrap();
            let bytes = if meta.is_file() {
                fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            out.push(format!(
                "{} {:o} {}",
                p.display(),
                meta.permissions().mode(),
                docker_tlsctx::text::hex(&Sha256::digest(&bytes))
            ));
        }
        out.sort();
        out
    }

    pub fn hook(&self, script: &str) {
        fs::write(self.root.path().join("hook"), script).unwrap();
    }

    /// The network to the host comes back (true) or goes down: every new
    /// ssh fails as an unreachable host does.
    pub fn network(&self, up: bool) {
        let p = self.root.path().join("down");
        if up {
            let _ = fs::remove_file(p);
        } else {
            fs::write(p, "").unwrap();
        }
    }

    pub fn clear_hook(&self) {
        let _ = fs::remove_file(self.root.path().join("hook"));
        let _ = fs::remove_file(self.root.path().join("hook-confirm"));
    }

    /// The confirmation of an install never arrives (held, then lost).
    pub fn hold_confirmation(&self) {
        fs::write(self.root.path().join("hook-confirm"), "sleep 5; exit 1\n").unwrap();
    }
}

impl Drop for DockerHost {
    fn drop(&mut self) {
        // dockerd and its containerd keep the namespace (and its mounts)
        // alive: stop them first, and any install script still waiting.
        let _ = self.run("pkill -f '[s]h apply.sh' ; /etc/init.d/docker stop >/dev/null 2>&1");
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}

fn keygen(path: &Path) {
    let o = Command::new(require("ssh-keygen"))
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}
