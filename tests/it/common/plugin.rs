//! The tlsctx-authz plugin, started for a test's dockerd
//! (`authorization-plugins` in its daemon.json).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::dockerd::Dockerd;
use super::{is_root, BIN};

pub struct Plugin {
    pub child: Child,
    pub socket: PathBuf,
    pub name: String,
}

impl Plugin {
    pub fn start(bundle: &Path, log: &Path) -> Plugin {
        Plugin::start_with(bundle, log, &[])
    }

    pub fn start_with(bundle: &Path, log: &Path, extra: &[&str]) -> Plugin {
        assert!(
            is_root(),
            "dockerd and /run/docker/plugins need root; run the suite as root (CI does)"
        );
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("tlsctx-authz-test-{}-{n}", std::process::id());
        let socket = PathBuf::from(format!("/run/docker/plugins/{name}.sock"));
        // The CRL numbers it accepts stay with the test's own files.
        let state = log.with_extension("state");
        let child = Command::new(BIN)
            .args(["authz", "serve", "--log", "--bundle"])
            .arg(bundle)
            .arg("--socket")
            .arg(&socket)
            .arg("--state-dir")
            .arg(&state)
            .args(extra)
            .stderr(fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "the plugin did not listen: {}",
                fs::read_to_string(log).unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Plugin {
            child,
            socket,
            name,
        }
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.socket);
    }
}

/// The plugin on `bundle` and a dockerd on `port` that asks it, both
/// under `work` (plugin.log, the daemon's folder `d`). Drop the daemon
/// before the plugin (a tuple drops in order; keep it in one binding): a
/// daemon whose plugin is gone refuses everything.
pub fn daemon_with_plugin(work: &Path, bundle: &Path, port: u16) -> (Dockerd, Plugin) {
    let plugin = Plugin::start(bundle, &work.join("plugin.log"));
    let dir = work.join("d");
    fs::create_dir(&dir).unwrap();
    let daemon = Dockerd::start_with(
        &dir,
        bundle,
        port,
        serde_json::json!({ "authorization-plugins": [plugin.name] }),
    );
    (daemon, plugin)
}
