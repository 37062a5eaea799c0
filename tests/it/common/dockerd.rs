//! A dockerd of the test's own on 127.0.0.1 and a unix socket in the
//! sandbox, with its own --data-root, --exec-root and --pidfile.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// A dockerd of our own on 127.0.0.1, stopped (SIGTERM, by PID) on drop.
pub struct Dockerd {
    child: Child,
    dir: PathBuf,
}

impl Dockerd {
    pub fn start(dir: &Path, bundle: &Path, port: u16) -> Dockerd {
        Dockerd::start_with(dir, bundle, port, serde_json::json!({}))
    }

    /// `start`, with more daemon.json keys (e.g. "authorization-plugins").
    pub fn start_with(dir: &Path, bundle: &Path, port: u16, extra: serde_json::Value) -> Dockerd {
        // The generated daemon.json, with paths pointing at this test's bundle
        // and its own unix socket instead of the system's.
        let mut cfg: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(bundle.join("daemon.json")).unwrap()).unwrap();
        assert_eq!(cfg["tlsverify"], true);
        cfg["tlscacert"] = bundle.join("ca.pem").display().to_string().into();
        cfg["tlscert"] = bundle.join("server-cert.pem").display().to_string().into();
        cfg["tlskey"] = bundle.join("server-key.pem").display().to_string().into();
        cfg["hosts"] = serde_json::json!([
            format!("unix://{}/docker.sock", dir.display()),
            format!("tcp://127.0.0.1:{port}")
        ]);
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        Dockerd::spawn(dir, &cfg, &format!("API listen on 127.0.0.1:{port}"))
    }

    /// A daemon without TCP or TLS, on `dir/docker.sock` only: for tests
    /// that need any daemon (e.g. `docker login`, which the daemon performs).
    pub fn start_plain(dir: &Path) -> Dockerd {
        let cfg = serde_json::json!({ "hosts": [format!("unix://{}/docker.sock", dir.display())] });
        Dockerd::spawn(
            dir,
            &cfg,
            &format!("API listen on {}/docker.sock", dir.display()),
        )
    }

    /// A daemon that serves the API on TCP without TLS: what `check` must
    /// call out (and what Docker's port 2375 means).
    pub fn start_plaintext_tcp(dir: &Path, port: u16) -> Dockerd {
        let cfg = serde_json::json!({ "hosts": [format!("unix://{}/docker.sock", dir.display()), format!("tcp://127.0.0.1:{port}")] });
        Dockerd::spawn(dir, &cfg, &format!("API listen on 127.0.0.1:{port}"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `unix://…` of the daemon's own socket.
    pub fn socket(&self) -> String {
        format!("unix://{}/docker.sock", self.dir.display())
    }

    fn spawn(dir: &Path, cfg: &serde_json::Value, ready: &str) -> Dockerd {
        let dockerd = require("dockerd");
        assert!(
            is_root(),
            "dockerd needs root here; run the suite as root (CI does)"
        );
        fs::write(dir.join("daemon.json"), cfg.to_string()).unwrap();
        let log = fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new(dockerd)
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            // The bridge network does not work on the test machines (no iptables NAT there).
            .args(["--bridge", "none", "--iptables=false"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut d = Dockerd {
            child,
            dir: dir.to_path_buf(),
        };
        d.wait_for(ready);
        d
    }

    fn wait_for(&mut self, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = fs::File::open(self.dir.join("dockerd.log")).unwrap();
            if BufReader::new(log)
                .lines()
                .any(|l| l.is_ok_and(|l| l.contains(line)))
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "dockerd exited ({status}):\n{}",
                    fs::read_to_string(self.dir.join("dockerd.log")).unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not listen within 60 s:\n{}",
                fs::read_to_string(self.dir.join("dockerd.log")).unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
