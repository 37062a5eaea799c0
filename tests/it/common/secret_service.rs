//! A real Secret Service for tests: a private D-Bus session bus and
//! gnome-keyring-daemon (unlocked, secrets component) in a temporary HOME.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// A session bus and a keyring daemon of our own, stopped on drop.
pub struct SecretService {
    dbus: Child,
    keyring: Child,
    pub home: tempfile::TempDir,
    pub address: String,
}

impl SecretService {
    pub fn start() -> SecretService {
        let dbus_daemon = require("dbus-daemon");
        let gkd = require("gnome-keyring-daemon");
        require("secret-tool");
        let home = tempfile::Builder::new()
            .prefix("tlsctx-home-")
            .tempdir_in(super::test_root())
            .unwrap();
        let run = home.path().join("run");
        fs::create_dir(&run).unwrap();
        fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        // What dbus-run-session does, with the address in our hands.
        let mut dbus = Command::new(dbus_daemon)
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!("--address=unix:path={}/bus", run.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut address = String::new();
        BufReader::new(dbus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_string();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon printed {address:?}"
        );

        let keyring = spawn_keyring(&gkd, home.path(), &address);
        let ss = SecretService {
            dbus,
            keyring,
            home,
            address,
        };
        ss.wait_until_ready();
        ss
    }

    /// gnome-keyring-daemon's PID: the same at the end of a test as at its
    /// start when nothing we did took it down.
    pub fn keyring_pid(&self) -> u32 {
        self.keyring.id()
    }

    /// Whether gnome-keyring-daemon has exited (it crashes on a client
    /// that disconnects in the middle of opening a session: see
    /// tests/it/faults.rs).
    pub fn crashed(&mut self) -> bool {
        matches!(self.keyring.try_wait(), Ok(Some(_)))
    }

    /// Starts gnome-keyring-daemon again in the same HOME: the login
    /// keyring's items are on disk, so they are all there again.
    pub fn restart(&mut self) {
        let _ = self.keyring.wait();
        self.keyring = spawn_keyring(
            &require("gnome-keyring-daemon"),
            self.home.path(),
            &self.address,
        );
        self.wait_until_ready();
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let o = self
                .env(Command::new("dbus-send"))
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&o.stdout).contains("boolean true") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gnome-keyring-daemon did not take org.freedesktop.secrets"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn env(&self, mut c: Command) -> Command {
        c.env("HOME", self.home.path())
            .env("XDG_RUNTIME_DIR", self.home.path().join("run"))
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address);
        c
    }

    /// Our binary against this Secret Service, `--keystore os` unless told otherwise.
    pub fn tlsctx(&self, s: &Sandbox, args: &[&str]) -> Output {
        self.tlsctx_with(s, "os", args)
    }

    pub fn tlsctx_with(&self, s: &Sandbox, keystore: &str, args: &[&str]) -> Output {
        let mut c = s.tlsctx_cmd(args);
        c.env("DOCKER_TLSCTX_KEYSTORE", keystore)
            .env("HOME", self.home.path())
            .env("XDG_RUNTIME_DIR", self.home.path().join("run"))
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            // Never wait a minute for an unlock prompt nobody can answer.
            .env("DOCKER_TLSCTX_KEYCHAIN_TIMEOUT", "10");
        c.output().unwrap()
    }

    /// The secret stored for `account`, read by libsecret, not by us.
    pub fn lookup(&self, account: &str) -> Option<Vec<u8>> {
        self.lookup_in("docker-tlsctx", account)
    }

    pub fn lookup_in(&self, service: &str, account: &str) -> Option<Vec<u8>> {
        let o = self
            .env(Command::new("secret-tool"))
            .args(["lookup", "service", service, "username", account])
            .output()
            .unwrap();
        (o.status.success() && !o.stdout.is_empty()).then_some(o.stdout)
    }

    pub fn search(&self) -> String {
        let o = self
            .env(Command::new("secret-tool"))
            .args(["search", "--all", "--unlock", "service", "docker-tlsctx"])
            .output()
            .unwrap();
        // The secret lines hold raw key bytes: keep the labels and attributes
        // only, sorted (the keyring's item order is its own).
        let mut lines: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&o.stderr).lines())
            .filter(|l| l.starts_with("label") || l.starts_with("attribute.username"))
            .map(str::to_string)
            .collect();
        lines.sort();
        lines.join("\n")
    }

    /// Locks the login collection, as a screen lock or `secret-tool lock` would.
    pub fn lock(&self) {
        let o = self
            .env(Command::new("dbus-send"))
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.Lock",
                "array:objpath:/org/freedesktop/secrets/collection/login",
            ])
            .output()
            .unwrap();
        ok(&o);
    }
}

fn spawn_keyring(gkd: &std::path::Path, home: &std::path::Path, address: &str) -> Child {
    let mut keyring = Command::new(gkd)
        .args(["--foreground", "--unlock", "--components=secrets"])
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The login keyring's password, on stdin as gnome-keyring-daemon --unlock wants it.
    keyring
        .stdin
        .take()
        .unwrap()
        .write_all(b"test-password")
        .unwrap();
    keyring
}

impl Drop for SecretService {
    fn drop(&mut self) {
        for child in [&mut self.keyring, &mut self.dbus] {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}
