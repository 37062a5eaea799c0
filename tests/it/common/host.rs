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
    /// `unshare`, our child.
    unshare: Child,
    /// Its child, the sandbox's PID 1 (sshd): every process of the host
    /// (dockerd, install scripts, the plugin's service) is in its PID
    /// namespace, so killing it stops them all, and only them.
    init: u32,
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
        write_ssh_client(r, &r.join("userkey"), &r.join("known_hosts"));
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
        let mut unshare = Command::new(require("unshare"))
            .args([
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--mount-proc",
                "sh",
                "-c",
                &setup,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(r.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let init = match super::child_of(unshare.id(), Duration::from_secs(10)) {
            Some(p) => p,
            None => {
                let _ = unshare.kill();
                let _ = unshare.wait();
                panic!(
                    "unshare started no sandbox: {}",
                    fs::read_to_string(r.join("sshd.log")).unwrap_or_default()
                )
            }
        };
        let host = DockerHost {
            root,
            ssh_port,
            unshare,
            init,
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

    /// The sandbox's dockerd log (its init script's /var/log/docker.log).
    pub fn daemon_log(&self) -> String {
        fs::read_to_string(self.root.path().join("var-log/docker.log")).unwrap_or_default()
    }
}

impl Host for DockerHost {
    fn ssh_port(&self) -> u16 {
        self.ssh_port
    }

    fn client_dir(&self) -> &Path {
        self.root.path()
    }

    /// A shell command inside the sandbox (its mount namespace), as root.
    fn run(&self, script: &str) -> Output {
        Command::new(require("nsenter"))
            .args(["-t", &self.init.to_string(), "-m", "-p", "sh", "-c", script])
            .output()
            .unwrap()
    }

    fn etc_docker(&self) -> PathBuf {
        self.root.path().join("etc-docker")
    }

    fn install_dir(&self, name: &str) -> PathBuf {
        self.root.path().join(format!("state/install/{name}"))
    }

    fn daemon_log(&self) -> String {
        DockerHost::daemon_log(self)
    }
}

/// What the install tests need of a Docker host reached over SSH, whether
/// Debian's init script runs its dockerd (`DockerHost`) or systemd does
/// (`super::systemd_host::SystemdHost`).
pub trait Host {
    fn ssh_port(&self) -> u16;

    /// The test's side: bin/ssh, ssh_config and the hook files.
    fn client_dir(&self) -> &Path;

    /// A shell command on the host, as root.
    fn run(&self, script: &str) -> Output;

    /// The host's /etc/docker, seen from here.
    fn etc_docker(&self) -> PathBuf;

    /// The host's /var/lib/docker-tlsctx/install/NAME, seen from here.
    fn install_dir(&self, name: &str) -> PathBuf;

    /// What dockerd last said, for failure messages.
    fn daemon_log(&self) -> String;

    /// `root@127.0.0.1:PORT`, or another user of the host.
    fn target(&self, user: &str) -> String {
        format!("{user}@127.0.0.1:{}", self.ssh_port())
    }

    /// PATH with the test's `ssh` first.
    fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.client_dir().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// `run`, which must succeed.
    fn run_ok(&self, script: &str) -> Output {
        let o = self.run(script);
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    /// Whether the host's own `docker` reaches dockerd on its local socket.
    fn local_docker_ok(&self) -> bool {
        self.run("docker -H unix:///var/run/docker.sock version >/dev/null 2>&1")
            .status
            .success()
    }

    /// Waits until the host's dockerd answers on its local socket.
    fn wait_local_docker(&self) {
        let until = Instant::now() + Duration::from_secs(60);
        while !self.local_docker_ok() {
            assert!(
                Instant::now() < until,
                "the host's dockerd did not answer: {}",
                self.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The install journal's state for a bundle.
    fn journal(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.install_dir(name).join("state"))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Every file under /etc/docker with its mode and the SHA-256 of its
    /// bytes, to compare before and after a rollback.
    fn etc_docker_snapshot(&self) -> Vec<String> {
        snapshot_tree(&self.etc_docker())
    }

    fn hook(&self, script: &str) {
        fs::write(self.client_dir().join("hook"), script).unwrap();
    }

    /// The network to the host comes back (true) or goes down: every new
    /// ssh fails as an unreachable host does.
    fn network(&self, up: bool) {
        let p = self.client_dir().join("down");
        if up {
            let _ = fs::remove_file(p);
        } else {
            fs::write(p, "").unwrap();
        }
    }

    fn clear_hook(&self) {
        let _ = fs::remove_file(self.client_dir().join("hook"));
        let _ = fs::remove_file(self.client_dir().join("hook-confirm"));
        let _ = fs::remove_file(self.client_dir().join("release-confirm"));
    }

    /// The confirmation of an install never arrives: held until
    /// [`Host::release_confirmation`] (at most 60 s), then lost. Held, not
    /// slept on for a fixed time: under a loaded full run the test once
    /// looked for the install's ssh master after a 5 s hold had ended and
    /// the install with it.
    fn hold_confirmation(&self) {
        let release = self.client_dir().join("release-confirm");
        let _ = fs::remove_file(&release);
        fs::write(
            self.client_dir().join("hook-confirm"),
            format!(
                "i=0; while [ ! -e '{}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; exit 1\n",
                release.display()
            ),
        )
        .unwrap();
    }

    /// Lets a held confirmation go on (to its failure).
    fn release_confirmation(&self) {
        fs::write(self.client_dir().join("release-confirm"), "").unwrap();
    }
}

/// Every file and folder under `top` with its mode and the SHA-256 of its
/// bytes.
pub fn snapshot_tree(top: &Path) -> Vec<String> {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut paths = super::all_files(top);
    let mut dirs = vec![top.to_path_buf()];
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
            p.strip_prefix(top).unwrap_or(&p).display(),
            meta.permissions().mode(),
            docker_tlsctx::text::hex(&Sha256::digest(&bytes))
        ));
    }
    out.sort();
    out
}

impl Drop for DockerHost {
    fn drop(&mut self) {
        // The sandbox's PID 1, by its PID: the kernel then kills every
        // process of its namespace (dockerd, its containers, an install
        // script still waiting, the plugin's service), and its mounts go
        // with the last of them. Nothing else on the machine is touched.
        super::kill_pid(self.init, rustix::process::Signal::KILL);
        let _ = self.unshare.wait();
    }
}

pub fn keygen(path: &Path) {
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

pub fn write_mode(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The test's ssh client for a host under `r`: a config naming the user's
/// key and the pinned host key, and an `ssh` for the front of PATH that
/// reads it. OpenSSH takes ~ from the password database, not $HOME, so the
/// config goes through `-F`. A test may take the network down, or leave a
/// hook to run before the command that starts the host's apply script, or
/// the one that confirms an install (a hook that fails stops that command,
/// as a lost connection would).
pub fn write_ssh_client(r: &Path, identity: &Path, known_hosts: &Path) {
    fs::create_dir_all(r.join("bin")).unwrap();
    fs::write(
        r.join("ssh_config"),
        format!(
            "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n",
            identity.display(),
            known_hosts.display()
        ),
    )
    .unwrap();
    write_mode(
        &r.join("bin/ssh"),
        &format!(
            "#!/bin/sh\nR={r}\nif [ -f \"$R/down\" ]; then echo 'ssh: connect to host 127.0.0.1: Network is unreachable' >&2; exit 255; fi\ncase \"$*\" in *'setsid sh apply.sh <'*) if [ -f \"$R/hook\" ]; then sh \"$R/hook\" || exit 255; fi ;; *'/confirm'*) if [ -f \"$R/hook-confirm\" ]; then sh \"$R/hook-confirm\" || exit 255; fi ;; esac\nexec /usr/bin/ssh -F \"$R/ssh_config\" \"$@\"\n",
            r = r.display()
        ),
        0o755,
    );
}
