//! Over 600 lines: one area's scenarios over a shared fixture (a dockerd, a host, a keyring); the
//! fixture's helpers would be split with them.
//!
//! `new --ssh`, `server install`, `server renew --install`: the daemon side
//! over a real sshd into a sandboxed Docker host (tests/it/common/host.rs)
//! whose dockerd Debian's init script restarts. Each case checks what the
//! host runs afterwards through its own local socket and through the real
//! docker CLI with the context.
//!
//! Each case runs a host with its own dockerd (and the systemd ones a whole
//! systemd); two run at a time, which a 2-core machine carries (issue 32:
//! 350 s one at a time).

use std::fs;
use std::process::{Command, Output};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::common::dockerd::free_port;
use crate::common::host::{snapshot_tree, DockerHost, Host};
use crate::common::systemd_host::{SystemdHost, SUDO_USER};
use crate::common::*;

/// How many cases run at once.
const AT_ONCE: usize = 2;

static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// A place among the `AT_ONCE` cases that may run; given back when dropped,
/// a failed case's included.
struct Slot;

impl Drop for Slot {
    fn drop(&mut self) {
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        FREED.notify_one();
    }
}

fn slot() -> Slot {
    let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    while *n >= AT_ONCE {
        n = FREED.wait(n).unwrap_or_else(|e| e.into_inner());
    }
    *n += 1;
    Slot
}

fn tlsctx(s: &Sandbox, h: &impl Host, args: &[&str]) -> Output {
    tlsctx_cmd(s, h, args).output().unwrap()
}

fn tlsctx_cmd(s: &Sandbox, h: &impl Host, args: &[&str]) -> Command {
    let mut c = s.tlsctx_cmd(args);
    c.env("PATH", h.path_env());
    c
}

fn new_ssh(s: &Sandbox, h: &impl Host, name: &str, port: u16, user: &str) -> Output {
    tlsctx(
        s,
        h,
        &[
            "new",
            name,
            "--host",
            &format!("tcp://127.0.0.1:{port}"),
            "--ssh",
            &h.target(user),
        ],
    )
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn server_version(s: &Sandbox, ctx: &str) -> String {
    ok(&s.docker(&[
        "--context",
        ctx,
        "version",
        "--format",
        "{{.Server.Version}}",
    ]))
    .trim()
    .to_string()
}

/// No PEM private key left in the install's folders on either side.
fn no_key_left(s: &Sandbox, h: &impl Host, name: &str) {
    let tmp = s.cfg().join("tlsctx/tmp");
    let left: Vec<_> = if tmp.exists() {
        all_files(&tmp)
    } else {
        vec![]
    };
    assert!(left.is_empty(), "left in the staging folder: {left:?}");
    let work = h.install_dir(name);
    for f in all_files(&work) {
        let text = fs::read_to_string(&f).unwrap_or_default();
        assert!(
            !text.contains("PRIVATE KEY"),
            "a key is left in {}",
            f.display()
        );
    }
}

#[test]
fn fresh_host_then_run_then_renew_install() {
    let _g = slot();
    let h = DockerHost::start(None);
    let s = Sandbox::new();
    let port = free_port();
    let sampler = ArgvSampler::start();
    let o = new_ssh(&s, &h, "prod", port, "root");
    let out = ok(&o);
    assert!(
        out.contains("Installed server bundle \"prod\" on root@127.0.0.1"),
        "{out}"
    );
    assert_eq!(server_version(&s, "prod"), "20.10.24+dfsg1");
    // What landed on the host, with its modes.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        fs::metadata(h.etc_docker().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("tls/server-key.pem"), 0o600);
    assert_eq!(mode("tls"), 0o700);
    assert_eq!(mode("daemon.json"), 0o644);
    let bundle_key =
        fs::read_to_string(s.cfg().join("tlsctx/servers/prod/server-key.pem")).unwrap();
    assert_eq!(
        fs::read_to_string(h.etc_docker().join("tls/server-key.pem")).unwrap(),
        bundle_key
    );
    assert_eq!(h.journal("prod").as_deref(), Some("committed"));
    // The target is recorded; a run needs no flag.
    let rec = fs::read_to_string(s.cfg().join("tlsctx/servers/prod/server.json")).unwrap();
    assert!(
        rec.contains(&format!("\"ssh\": \"root@127.0.0.1:{}\"", h.ssh_port)),
        "{rec}"
    );
    let image = import_busybox(&s, "prod");
    let said = ok(&s.docker(&[
        "--context",
        "prod",
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "/bin/busybox",
        "echo",
        "hello",
    ]));
    assert_eq!(said.trim(), "hello");

    // Renew and install, while a client keeps calling.
    let before = fs::read_to_string(h.etc_docker().join("tls/server-cert.pem")).unwrap();
    let o = tlsctx(&s, &h, &["server", "renew", "prod", "--install"]);
    let out = ok(&o);
    assert!(out.contains("Renewed server bundle"), "{out}");
    assert!(out.contains("Installed server bundle"), "{out}");
    let after = fs::read_to_string(h.etc_docker().join("tls/server-cert.pem")).unwrap();
    assert_ne!(before, after, "the renewed certificate is on the host");
    assert_eq!(server_version(&s, "prod"), "20.10.24+dfsg1");
    let renewed_key =
        fs::read_to_string(s.cfg().join("tlsctx/servers/prod/server-key.pem")).unwrap();
    let mut needles = body_lines(&bundle_key);
    needles.extend(body_lines(&renewed_key));
    let (found, ssh_runs) = sampler.finish(&needles, "ssh");
    assert!(found.is_empty(), "a key on a command line: {found:?}");
    assert!(
        ssh_runs > 5,
        "the sampler saw the ssh commands ({ssh_runs})"
    );
    no_key_left(&s, &h, "prod");

    // Installing again converges: same files, one more verified restart.
    let snap = h.etc_docker_snapshot();
    ok(&tlsctx(&s, &h, &["server", "install", "prod"]));
    assert_eq!(h.etc_docker_snapshot(), snap);
}

#[test]
fn daemon_json_merged_and_dry_run_changes_nothing() {
    let _g = slot();
    let other = free_port();
    let h = DockerHost::start(Some(&format!(
        "{{\n  \"debug\": true,\n  \"log-opts\": {{\"max-size\": \"10m\"}},\n  \"hosts\": [\"unix:///var/run/docker.sock\", \"tcp://127.0.0.1:{other}\"]\n}}\n"
    )));
    let s = Sandbox::new();
    let port = free_port();
    ok(&s.tlsctx(&["new", "merge", "--host", &format!("tcp://127.0.0.1:{port}")]));
    let snap = h.etc_docker_snapshot();
    let target = h.target("deploy");
    let o = tlsctx(
        &s,
        &h,
        &["server", "install", "merge", "--ssh", &target, "--dry-run"],
    );
    let plan = ok(&o);
    assert!(plan.contains("nothing was changed"), "{plan}");
    assert!(plan.contains("+     \"tcp://0.0.0.0:"), "{plan}");
    assert!(
        plan.contains("/etc/docker/tls/server-key.pem (0600, root): the server key"),
        "{plan}"
    );
    assert!(!plan.contains("PRIVATE KEY"), "{plan}");
    assert_eq!(h.etc_docker_snapshot(), snap, "--dry-run changed the host");
    assert_eq!(h.journal("merge"), None);
    // Through sudo -n (deploy has NOPASSWD).
    ok(&tlsctx(
        &s,
        &h,
        &["server", "install", "merge", "--ssh", &target],
    ));
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(h.etc_docker().join("daemon.json")).unwrap())
            .unwrap();
    assert_eq!(v["debug"], true);
    assert_eq!(v["log-opts"]["max-size"], "10m");
    assert_eq!(
        v["hosts"],
        serde_json::json!([
            "unix:///var/run/docker.sock",
            format!("tcp://127.0.0.1:{other}"),
            format!("tcp://0.0.0.0:{port}")
        ])
    );
    assert_eq!(server_version(&s, "merge"), "20.10.24+dfsg1");
    assert!(h.local_docker_ok());
    // sudo logged its input, and the key was not in it.
    let io = all_files(&h.root.path().join("var-log/sudo-io"));
    assert!(!io.is_empty(), "sudo kept an I/O log");
    for f in io {
        let bytes = fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("PRIVATE KEY"),
            "the key is in sudo's log {}",
            f.display()
        );
    }
}

#[test]
fn a_daemon_that_cannot_start_is_rolled_back() {
    let _g = slot();
    let h = DockerHost::start(Some("{\"debug\": true}\n"));
    let s = Sandbox::new();
    let port = free_port();
    ok(&s.tlsctx(&["new", "busy", "--host", &format!("tcp://127.0.0.1:{port}")]));
    let snap = h.etc_docker_snapshot();
    let (o, _) = install_with_port_taken(&s, &h, "busy", port, "root");
    assert!(!o.status.success());
    let e = err(&o);
    assert!(e.contains("install on root@127.0.0.1"), "{e}");
    assert!(
        e.contains("the old configuration was restored and serves again"),
        "{e}"
    );
    assert!(
        e.contains("address already in use"),
        "the daemon's own words: {e}"
    );
    assert_eq!(
        h.etc_docker_snapshot(),
        snap,
        "/etc/docker is exactly as before"
    );
    assert!(h.local_docker_ok(), "the old dockerd serves its socket");
    assert_eq!(h.journal("busy").as_deref(), Some("rolled-back"));
    no_key_left(&s, &h, "busy");
    // Nothing recorded for a failed install.
    let rec = fs::read_to_string(s.cfg().join("tlsctx/servers/busy/server.json")).unwrap();
    assert!(!rec.contains("\"ssh\""), "{rec}");
    // With the port free, the same command installs.
    ok(&tlsctx(
        &s,
        &h,
        &["server", "install", "busy", "--ssh", &h.target("root")],
    ));
    assert_eq!(server_version(&s, "busy"), "20.10.24+dfsg1");
}

/// `server install NAME --ssh USER@host` while another program takes the
/// port after pre-flight looked (just before the host's script starts), so
/// dockerd cannot listen there; how long the install took.
fn install_with_port_taken(
    s: &Sandbox,
    h: &impl Host,
    name: &str,
    port: u16,
    user: &str,
) -> (Output, Duration) {
    let holder = h.client_dir().join("holder.pid");
    h.hook(&format!(
        "python3 -c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\", {port})); s.listen(); time.sleep(300)' </dev/null >/dev/null 2>&1 &\necho $! > {}\nsleep 0.5\n",
        holder.display()
    ));
    let started = Instant::now();
    let o = tlsctx(s, h, &["server", "install", name, "--ssh", &h.target(user)]);
    let took = started.elapsed();
    h.clear_hook();
    if let Ok(pid) = fs::read_to_string(&holder) {
        if let Ok(pid) = pid.trim().parse() {
            kill_pid(pid, rustix::process::Signal::TERM);
        }
    }
    (o, took)
}

#[test]
fn refusals_before_any_change() {
    let _g = slot();
    // A daemon.json damaged by hand after dockerd started (dockerd would
    // refuse it too, at its next start).
    let h = DockerHost::start(None);
    fs::write(
        h.etc_docker().join("daemon.json"),
        "{\n  \"debug\": true,\n  oops\n}\n",
    )
    .unwrap();
    let s = Sandbox::new();
    let port = free_port();
    ok(&s.tlsctx(&["new", "ref", "--host", &format!("tcp://127.0.0.1:{port}")]));
    let snap = h.etc_docker_snapshot();
    let install = |target: &str| tlsctx(&s, &h, &["server", "install", "ref", "--ssh", target]);

    let o = install(&h.target("root"));
    assert!(!o.status.success());
    let e = err(&o);
    assert!(
        e.contains("/etc/docker/daemon.json is not valid JSON"),
        "{e}"
    );
    assert!(e.contains("line 3, column 3"), "{e}");
    assert!(e.contains("nothing was changed"), "{e}");

    let o = install(&h.target("guarded"));
    let e = err(&o);
    assert!(!o.status.success());
    assert!(e.contains("sudo on guarded@127.0.0.1"), "{e}");
    assert!(e.contains("NOPASSWD"), "{e}");

    // An unknown host key: refused by ssh itself, never accepted.
    let kh = h.root.path().join("known_hosts");
    let known = fs::read_to_string(&kh).unwrap();
    fs::write(&kh, "").unwrap();
    let started = Instant::now();
    let o = install(&h.target("root"));
    fs::write(&kh, known).unwrap();
    let e = err(&o);
    assert!(!o.status.success());
    assert!(e.contains("Host key verification failed"), "{e}");
    assert!(e.contains("known_hosts"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(20), "no hang");

    // Names ssh would read as options.
    let o = tlsctx(
        &s,
        &h,
        &[
            "server",
            "install",
            "ref",
            "--ssh=-oProxyCommand=touch /tmp/tlsctx-pwned",
        ],
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("is not an SSH destination"), "{}", err(&o));
    assert!(!std::path::Path::new("/tmp/tlsctx-pwned").exists());

    assert_eq!(h.etc_docker_snapshot(), snap);
    assert_eq!(h.journal("ref"), None, "no install started");

    // The host's clock past the server certificate's end (issue 31: only
    // the client certificate was held to it): refused before any change,
    // with the way out. The sandbox's own `date` says 2100-01-01.
    fs::write(h.etc_docker().join("daemon.json"), "{}\n").unwrap();
    let snap = h.etc_docker_snapshot();
    h.run_ok("printf '#!/bin/sh\\necho 4102444800\\n' > /run/fake-date && chmod 755 /run/fake-date && mount --bind /run/fake-date /usr/bin/date");
    let o = install(&h.target("root"));
    h.run_ok("umount /usr/bin/date");
    let e = err(&o);
    assert!(!o.status.success());
    assert!(
        e.contains("the host's clock says 2100-01-01")
            && e.contains("outside the server certificate's validity")
            && e.contains("docker tlsctx server renew ref --install"),
        "{e}"
    );
    assert_eq!(h.etc_docker_snapshot(), snap);
    assert_eq!(h.journal("ref"), None, "no install started");
}

/// Kills the install when the host's journal reaches `state`.
fn kill_at(s: &Sandbox, h: &impl Host, name: &str, state: &str, what: &str) {
    kill_install_at(s, h, &["server", "install", name], name, state, what)
}

/// The PIDs of this sandbox's ssh master connections (each went to the
/// background with -f, so it is no child of ours): asked of each through
/// its own control socket, never found by name.
fn master_pids(s: &Sandbox) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(dirs) = fs::read_dir(s.cfg().join("tlsctx/tmp")) else {
        return pids;
    };
    for d in dirs.flatten() {
        let cm = d.path().join("cm");
        if !cm.exists() {
            continue;
        }
        let o = Command::new("/usr/bin/ssh")
            .arg("-o")
            .arg(format!("ControlPath={}", cm.display()))
            .args(["-O", "check", "master"])
            .output()
            .unwrap();
        // "Master running (pid=1234)" (ssh(1), -O check).
        let said = String::from_utf8_lossy(&o.stderr);
        if let Some(pid) = said
            .split("pid=")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .and_then(|p| p.parse().ok())
        {
            pids.push(pid);
        }
    }
    pids
}

/// `kill_at` with the install's own arguments (a first install names its
/// target with --ssh).
fn kill_install_at(s: &Sandbox, h: &impl Host, args: &[&str], name: &str, state: &str, what: &str) {
    let mut child = tlsctx_cmd(s, h, args)
        .env("DOCKER_TLSCTX_CONFIRM_SECS", "4")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(90);
    // "staging": every file is on the host, the script not started yet.
    let staged = h.client_dir().join("at-launch");
    if state == "staging" {
        h.hook(&format!("touch {}; sleep 3; exit 1", staged.display()));
    }
    // At "waiting" the client could confirm before the kill lands (it
    // needs milliseconds): its confirmation is held, so the kill or the
    // drop is what the host sees.
    if state == "waiting" {
        h.hold_confirmation();
    }
    loop {
        if h.journal(name).as_deref() == Some(state) || (state == "staging" && staged.exists()) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "{what}: the install ended before {state}"
        );
        assert!(Instant::now() < until, "{what}: never reached {state}");
        std::thread::sleep(Duration::from_millis(20));
    }
    match what {
        // The client dies.
        "kill" => {
            child.kill().unwrap();
        }
        // The connection drops: no new one can be made, and the
        // ControlMaster ssh of this install dies.
        _ => {
            h.network(false);
            let masters = master_pids(s);
            assert!(!masters.is_empty(), "no master connection to drop");
            for p in masters {
                kill_pid(p, rustix::process::Signal::KILL);
            }
        }
    }
    h.release_confirmation();
    let _ = child.wait();
    h.network(true);
    h.clear_hook();
    let _ = fs::remove_file(staged);
}

#[test]
fn killed_or_disconnected_installs_leave_a_serving_host_and_converge() {
    let _g = slot();
    let h = DockerHost::start(None);
    let s = Sandbox::new();
    let port = free_port();
    ok(&new_ssh(&s, &h, "kk", port, "root"));
    for (state, what) in [
        ("staging", "kill"),
        ("applying", "kill"),
        ("waiting", "kill"),
        ("waiting", "drop"),
    ] {
        let installed = h.etc_docker_snapshot();
        // Each time: a new certificate that is not yet on the host.
        ok(&tlsctx(&s, &h, &["server", "renew", "kk"]));
        kill_at(&s, &h, "kk", state, what);
        // The host goes back by itself once no confirmation comes (a kill
        // while staging changed nothing).
        let until = Instant::now() + Duration::from_secs(120);
        let settled = if state == "staging" {
            "committed"
        } else {
            "rolled-back"
        };
        while h.journal("kk").as_deref() != Some(settled) {
            assert!(
                Instant::now() < until,
                "{what} at {state}: the host did not roll back ({:?})",
                h.journal("kk")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            h.local_docker_ok(),
            "{what} at {state}: the old dockerd serves"
        );
        assert_eq!(
            h.etc_docker_snapshot(),
            installed,
            "{what} at {state}: the old files"
        );
        // The next run converges on the new bundle.
        ok(&tlsctx(&s, &h, &["server", "install", "kk"]));
        assert_eq!(server_version(&s, "kk"), "20.10.24+dfsg1");
        let on_host = fs::read_to_string(h.etc_docker().join("tls/server-cert.pem")).unwrap();
        let local = fs::read_to_string(s.cfg().join("tlsctx/servers/kk/server-cert.pem")).unwrap();
        assert_eq!(on_host, local, "{what} at {state}: the renewed certificate");
        no_key_left(&s, &h, "kk");
    }
    // A script killed on the host (a reboot, kill -9) while applying: the
    // next install undoes it first.
    ok(&tlsctx(&s, &h, &["server", "renew", "kk"]));
    let mut child = tlsctx_cmd(&s, &h, &["server", "install", "kk"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while h.journal("kk").as_deref() != Some("waiting") {
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    // By the PID the script records in its work folder.
    ok_status(&h.run("kill -KILL \"$(cat /var/lib/docker-tlsctx/install/kk/pid)\""));
    let o = tlsctx(&s, &h, &["server", "install", "kk"]);
    let e = err(&o);
    ok(&o);
    assert!(e.contains("undid an earlier install"), "{e}");
    assert_eq!(server_version(&s, "kk"), "20.10.24+dfsg1");
}

fn ok_status(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `server install --all --format json`'s (name, result) pairs.
fn fleet_results(o: &Output) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["installs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().into(),
                i["result"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// One client config knows both hosts (the first host's ssh wrapper reads
/// it).
fn one_ssh_config(g: &std::path::Path, b: &std::path::Path) {
    fs::write(
        g.join("ssh_config"),
        format!(
            "Host *\n  IdentityFile {}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {} {}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n",
            g.join("userkey").display(),
            b.join("userkey").display(),
            g.join("known_hosts").display(),
            b.join("known_hosts").display()
        ),
    )
    .unwrap();
}

#[test]
fn a_fleet_in_parallel_with_one_failing() {
    let _g = slot();
    let good = DockerHost::start(None);
    let bad = DockerHost::start(None);
    let s = Sandbox::new();
    let (p1, p2) = (free_port(), free_port());
    one_ssh_config(good.client_dir(), bad.client_dir());
    ok(&new_ssh(&s, &good, "fleet-a", p1, "root"));
    let o = tlsctx(
        &s,
        &good,
        &[
            "new",
            "fleet-b",
            "--host",
            &format!("tcp://127.0.0.1:{p2}"),
            "--ssh",
            &bad.target("root"),
        ],
    );
    ok(&o);
    // The second host's known key changes (a reinstalled host, or a man in
    // the middle): its install must fail, the first must not care.
    let kh = bad.root.path().join("known_hosts");
    let other = good.root.path().join("hostkey.pub");
    fs::write(
        &kh,
        format!(
            "[127.0.0.1]:{} {}",
            bad.ssh_port,
            fs::read_to_string(other).unwrap()
        ),
    )
    .unwrap();
    let o = tlsctx(
        &s,
        &good,
        &[
            "server",
            "install",
            "--all",
            "--parallel",
            "2",
            "--format",
            "json",
        ],
    );
    assert!(!o.status.success());
    assert_eq!(
        fleet_results(&o),
        [
            ("fleet-a".into(), "installed".into()),
            ("fleet-b".into(), "failed".into())
        ]
    );
    assert!(err(&o).contains("1 of 2 installs failed"), "{}", err(&o));
    assert_eq!(server_version(&s, "fleet-a"), "20.10.24+dfsg1");
    assert_eq!(
        server_version(&s, "fleet-b"),
        "20.10.24+dfsg1",
        "fleet-b keeps its earlier install"
    );
}

#[test]
fn authz_plugin_installed_then_roles_and_a_pushed_crl() {
    let _g = slot();
    let h = DockerHost::start(None);
    let s = Sandbox::new();
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    // The verify step itself proves the call went through the plugin.
    let out = ok(&tlsctx(
        &s,
        &h,
        &[
            "new",
            "guard",
            "--host",
            &host,
            "--authz",
            "--ssh",
            &h.target("root"),
        ],
    ));
    assert!(out.contains("Installed server bundle \"guard\""), "{out}");
    ok_status(&h.run("[ -S /run/docker/plugins/tlsctx-authz.sock ]"));
    let calls = fs::read_to_string(h.root.path().join("var-log/update-rc.d.calls")).unwrap();
    assert!(
        calls.contains("tlsctx-authz defaults"),
        "enabled at boot: {calls}"
    );
    let log = fs::read_to_string(h.root.path().join("var-log/tlsctx-authz.log")).unwrap();
    assert!(log.contains("allow cn=\"guard-client\""), "{log}");

    ok(&s.tlsctx(&[
        "new",
        "guard-ro",
        "--host",
        &host,
        "--no-server",
        "--role",
        "read-only",
    ]));
    assert_eq!(server_version(&s, "guard-ro"), "20.10.24+dfsg1");
    let o = s.docker(&["--context", "guard-ro", "network", "create", "nope"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("has role read-only"), "{}", err(&o));

    // Revoke, push the CRL: refused from the next request, no restart.
    let pid = ok(&h.run_ok("cat /var/run/docker.pid"));
    ok(&s.tlsctx(&["revoke", "guard-ro"]));
    let out = ok(&tlsctx(
        &s,
        &h,
        &["server", "install", "--all", "--crl-only"],
    ));
    assert!(out.contains("crl pushed"), "{out}");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let o = s.docker(&[
            "--context",
            "guard-ro",
            "version",
            "--format",
            "{{.Server.Version}}",
        ]);
        if !o.status.success() && err(&o).contains("revoked") {
            break;
        }
        assert!(
            Instant::now() < until,
            "still served after the CRL push: {}",
            err(&o)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        ok(&h.run_ok("cat /var/run/docker.pid")),
        pid,
        "dockerd was not restarted"
    );
    assert_eq!(server_version(&s, "guard"), "20.10.24+dfsg1");

    // The plugin comes back when it dies (dockerd refuses everything while
    // it is down).
    // By PID: the service's run loop (its pid file) has the plugin as its
    // one child.
    ok_status(&h.run("kill -KILL $(cat /proc/$(cat /var/run/tlsctx-authz.pid)/task/*/children)"));
    let until = Instant::now() + Duration::from_secs(10);
    while !s
        .docker(&["--context", "guard", "version"])
        .status
        .success()
    {
        assert!(Instant::now() < until, "the plugin did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The systemd path, offline: the drop-in and the plugin's unit generated
/// for the packaged docker.service, checked by `systemd-analyze verify`
/// (no systemd runs here). The plan comes from the same code as a real
/// install, fed the facts pre-flight would read on such a host.
#[test]
fn systemd_drop_in_verifies_against_the_packaged_unit() {
    use base64::Engine;
    use docker_tlsctx::issuance::install::{facts::Facts, plan, plugin};
    let analyze = require("systemd-analyze");
    let packaged = fs::read_to_string("/lib/systemd/system/docker.service")
        .expect("Debian's docker.io docker.service");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let uname = format!(
        "{} {}",
        if cfg!(target_os = "linux") {
            "Linux"
        } else {
            "?"
        },
        std::env::consts::ARCH
    );
    let facts = Facts::parse(&format!(
        "uid=0\nuname={uname}\ninit=systemd\ndockerd=/usr/sbin/dockerd\nunit64={}\n",
        b64(&format!("# /lib/systemd/system/docker.service\n{packaged}"))
    ));
    let bundle = plan::Bundle {
        tls_dir: "/etc/docker/tls",
        port: 2376,
        authz: true,
        ca_pem: "",
        cert_pem: "",
        key_pem: "",
        crl_pem: None,
        plugin_exe: Some(b"#!/bin/sh\n"),
    };
    let p = plan::build(&facts, &bundle, "host").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let units = dir.path();
    fs::write(units.join("docker.service"), &packaged).unwrap();
    fs::create_dir(units.join("docker.service.d")).unwrap();
    let file = |dest: &str| {
        p.files
            .iter()
            .find(|f| f.dest == dest)
            .unwrap_or_else(|| panic!("the plan writes {dest}"))
            .content
            .clone()
    };
    let drop_in = String::from_utf8(file(plan::DROP_IN)).unwrap();
    assert!(
        drop_in.contains("ExecStart=\nExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock $DOCKER_OPTS\n"),
        "{drop_in}"
    );
    fs::write(
        units.join("docker.service.d/zz-docker-tlsctx.conf"),
        &drop_in,
    )
    .unwrap();
    // The plugin's unit names a binary that must exist for verify.
    let unit = String::from_utf8(file(plugin::UNIT)).unwrap();
    let unit = unit.replace(plugin::BIN, "/bin/true");
    fs::write(units.join("tlsctx-authz.service"), unit).unwrap();
    let verify = |names: &[&str]| {
        Command::new(&analyze)
            .arg("verify")
            .args(names)
            .current_dir(units)
            .env("SYSTEMD_UNIT_PATH", format!("{}:", units.display()))
            .output()
            .unwrap()
    };
    let o = verify(&["docker.service", "tlsctx-authz.service"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).trim().is_empty(), "warnings: {}", err(&o));
    // The check can fail: without the reset, two ExecStart= lines.
    fs::write(
        units.join("docker.service.d/zz-docker-tlsctx.conf"),
        drop_in.replace("ExecStart=\n", ""),
    )
    .unwrap();
    let o = verify(&["docker.service"]);
    assert!(!o.status.success(), "a drop-in without the reset passed");
}

/// What the first attacker review found: a dockerd the init script does
/// not own, another CA's set-up, a folder others can write, a linked work
/// folder.
#[test]
fn hostile_host_states_are_refused_or_repaired() {
    let _g = slot();
    let h = DockerHost::start(None);
    let s = Sandbox::new();
    let port = free_port();
    ok(&new_ssh(&s, &h, "hh", port, "root"));

    // The TLS folder made writable by someone else: repaired (root, 0700).
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tls = h.etc_docker().join("tls");
    fs::set_permissions(&tls, fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::chown(&tls, Some(1000), Some(1000)).unwrap();
    ok(&tlsctx(&s, &h, &["server", "install", "hh"]));
    let m = fs::metadata(&tls).unwrap();
    assert_eq!((m.mode() & 0o777, m.uid(), m.gid()), (0o700, 0, 0));

    // dockerd started by hand, outside the init script: a restart does not
    // reach it, and the install must not be reported done.
    ok_status(&h.run(
        "/etc/init.d/docker stop >/dev/null && (setsid dockerd --pidfile /var/run/docker-alt.pid --bridge none --iptables=false </dev/null >/var/log/alt.log 2>&1 &)",
    ));
    h.wait_local_docker();
    ok(&tlsctx(&s, &h, &["server", "renew", "hh"]));
    let o = tlsctx(&s, &h, &["server", "install", "hh"]);
    assert!(
        !o.status.success(),
        "reported installed: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = err(&o);
    assert!(
        e.contains("another certificate") || e.contains("was not restarted"),
        "{e}"
    );
    ok_status(&h.run(
        "kill $(cat /var/run/docker-alt.pid); while [ -e /var/run/docker-alt.pid ]; do sleep 0.2; done; /etc/init.d/docker start >/dev/null",
    ));
    h.wait_local_docker();
    ok(&tlsctx(&s, &h, &["server", "install", "hh"]));

    // A second bundle of another CA for the same daemon: refused, since
    // the first CA's clients would be locked out.
    ok(&s.tlsctx(&["ca", "init", "--name", "other"]));
    let snap = h.etc_docker_snapshot();
    let o = tlsctx(
        &s,
        &h,
        &[
            "new",
            "hh2",
            "--host",
            &format!("tcp://127.0.0.1:{}", free_port()),
            "--ca",
            "other",
            "--ssh",
            &h.target("root"),
        ],
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("already trusts another CA"), "{}", err(&o));
    assert_eq!(h.etc_docker_snapshot(), snap);
    assert_eq!(server_version(&s, "hh"), "20.10.24+dfsg1");

    // The work folder replaced by a link to a folder someone else owns.
    let work = h.root.path().join("state/install/hh");
    fs::remove_dir_all(&work).unwrap();
    let evil = h.root.path().join("evil");
    fs::create_dir(&evil).unwrap();
    fs::set_permissions(&evil, fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::symlink(&evil, &work).unwrap();
    let o = tlsctx(&s, &h, &["server", "install", "hh"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("is a symbolic link"), "{}", err(&o));
    fs::remove_file(&work).unwrap();
    ok(&tlsctx(&s, &h, &["server", "install", "hh"]));
}

/// `renew --due` on a bundle with a recorded host: renewed, installed and
/// verified there; a failing install is rolled back and exits non-zero.
/// (`--before 5d` makes the 3-day server certificate due today: a clock
/// moved forward would put the new certificates' start in the host's
/// future.)
#[test]
fn renew_due_installs_server_bundles_on_their_host() {
    let _g = slot();
    renew_due_on(&DockerHost::start(None), "root");
}

/// The same on the systemd host, through sudo.
#[test]
fn systemd_renew_due_installs_server_bundles_on_their_host() {
    let _g = slot();
    let h = SystemdHost::start();
    renew_due_on(&h, SUDO_USER);
    local_socket_and_activation(&h, "after renew --due");
}

fn renew_due_on(h: &impl Host, user: &str) {
    let s = Sandbox::new();
    let port = free_port();
    ok(&tlsctx(
        &s,
        h,
        &[
            "new",
            "rd",
            "--host",
            &format!("tcp://127.0.0.1:{port}"),
            "--server-days",
            "3",
            "--ssh",
            &h.target(user),
        ],
    ));
    let cert_on_host = || fs::read_to_string(h.etc_docker().join("tls/server-cert.pem")).unwrap();
    let first = cert_on_host();
    let o = tlsctx(&s, h, &["renew", "--due", "--before", "5d"]);
    assert!(o.status.success(), "{}", transcript(&o));
    let e = err(&o);
    assert!(e.contains("server bundle \"rd\": renewed"), "{e}");
    assert!(
        e.contains(&format!("installed and verified on {user}@127.0.0.1")),
        "{e}"
    );
    assert!(
        !e.contains("context \"rd\""),
        "the 90-day context is not due: {e}"
    );
    assert_ne!(cert_on_host(), first);
    assert_eq!(server_version(&s, "rd"), "20.10.24+dfsg1");

    // The host gets no confirmation in time (a window of 0 s): it rolls
    // back by itself, and the run reports the item and exits 1.
    let installed = h.etc_docker_snapshot();
    let o = tlsctx_cmd(&s, h, &["renew", "--due", "--before", "5d"])
        .env("DOCKER_TLSCTX_CONFIRM_SECS", "0")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", transcript(&o));
    let e = err(&o);
    assert!(e.contains("server bundle \"rd\": FAILED"), "{e}");
    assert!(e.contains("renewed here"), "{e}");
    assert!(e.contains("the old configuration was restored"), "{e}");
    assert_eq!(h.etc_docker_snapshot(), installed);
    assert!(h.local_docker_ok());
    // Issue 31: a dry run says only the install is left (it said "due
    // since" a date to come, "would renew").
    let o = tlsctx(&s, h, &["renew", "--due", "--dry-run"]);
    let e = err(&o);
    assert!(o.status.success(), "{}", transcript(&o));
    assert!(
        e.contains("server bundle \"rd\": renewed by an earlier run, not installed yet; would install it on its host"),
        "{e}"
    );
    assert!(
        !e.contains("due since") && !e.contains("would renew"),
        "{e}"
    );
    // The next run (nothing due by the rule) installs what was renewed, and
    // says it only installed.
    let o = tlsctx(&s, h, &["renew", "--due"]);
    assert!(o.status.success(), "{}", transcript(&o));
    let e = err(&o);
    assert!(
        e.contains("server bundle \"rd\": not installed yet (renewed by an earlier run")
            && e.contains(&format!("installed and verified on {user}@127.0.0.1")),
        "{e}"
    );
    assert!(!e.contains(": renewed, valid until"), "{e}");
    let local = fs::read_to_string(s.cfg().join("tlsctx/servers/rd/server-cert.pem")).unwrap();
    assert_eq!(
        fs::read_to_string(h.etc_docker().join("tls/server-cert.pem")).unwrap(),
        local
    );
    assert_eq!(server_version(&s, "rd"), "20.10.24+dfsg1");
}

// The same installs on a host as most people run one: systemd as PID 1
// and Debian's packaged docker.service, started as `dockerd -H fd://` from
// docker.socket (tests/it/common/systemd_host.rs). Issue 31.

/// What an install may change on the systemd host: /etc/docker and the
/// units' folder (the drop-in).
fn systemd_files(h: &SystemdHost) -> Vec<String> {
    let mut v = snapshot_tree(&h.etc_docker());
    v.extend(
        snapshot_tree(&h.fs().join("etc/systemd/system"))
            .into_iter()
            .map(|l| format!("systemd/{l}")),
    );
    v
}

/// The host's own `docker` reaches dockerd through /run/docker.sock, and
/// once dockerd is stopped, docker.socket starts it again on the next
/// connection (socket activation).
fn local_socket_and_activation(h: &SystemdHost, when: &str) {
    assert!(
        h.run("timeout 20 docker -H unix:///run/docker.sock version >/dev/null")
            .status
            .success(),
        "{when}: /run/docker.sock does not answer: {}",
        h.daemon_log()
    );
    h.run_ok("systemctl stop docker.service 2>/dev/null");
    assert_eq!(
        h.systemctl("is-active docker.service"),
        "inactive",
        "{when}"
    );
    assert!(
        h.run("timeout 30 docker -H unix:///run/docker.sock version >/dev/null")
            .status
            .success(),
        "{when}: docker.socket did not start dockerd again: {}",
        h.daemon_log()
    );
    assert_eq!(h.systemctl("is-active docker.service"), "active", "{when}");
}

#[test]
fn systemd_host_install_keeps_its_local_socket_and_socket_activation() {
    let _g = slot();
    let h = SystemdHost::start();
    assert_eq!(h.systemctl("is-active docker.socket"), "active");
    let s = Sandbox::new();
    let port = free_port();
    let out = ok(&new_ssh(&s, &h, "sd", port, SUDO_USER));
    assert!(
        out.contains(&format!(
            "Installed server bundle \"sd\" on {SUDO_USER}@127.0.0.1"
        )),
        "{out}"
    );
    assert_eq!(server_version(&s, "sd"), "20.10.24+dfsg1");
    // daemon.json keeps fd:// (docker.socket's) and adds no unix socket.
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(h.etc_docker().join("daemon.json")).unwrap())
            .unwrap();
    assert_eq!(
        json["hosts"],
        serde_json::json!(["fd://", format!("tcp://0.0.0.0:{port}")])
    );
    let drop_in = h
        .fs()
        .join("etc/systemd/system/docker.service.d/zz-docker-tlsctx.conf");
    assert!(drop_in.exists(), "the drop-in is written");
    assert!(
        fs::read_to_string(&drop_in)
            .unwrap()
            .contains("$DOCKER_OPTS"),
        "the drop-in keeps $DOCKER_OPTS"
    );
    local_socket_and_activation(&h, "after the install");
    // The activated dockerd is the TLS one too.
    assert_eq!(server_version(&s, "sd"), "20.10.24+dfsg1");
    let out = ok(&tlsctx(&s, &h, &["server", "renew", "sd", "--install"]));
    assert!(out.contains("Installed server bundle"), "{out}");
    assert_eq!(server_version(&s, "sd"), "20.10.24+dfsg1");
    local_socket_and_activation(&h, "after a renewal's install");
    no_key_left(&s, &h, "sd");

    // A host v0.3 installed: its daemon.json has the local unix socket
    // where the packaged unit said fd:// (our drop-in already took -H
    // away). The next install puts fd:// back.
    let path = h.etc_docker().join("daemon.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    json["hosts"] = serde_json::json!([
        "unix:///var/run/docker.sock",
        format!("tcp://0.0.0.0:{port}")
    ]);
    fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    h.run_ok("systemctl restart docker.service");
    ok(&tlsctx(&s, &h, &["server", "install", "sd"]));
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        json["hosts"],
        serde_json::json!([format!("tcp://0.0.0.0:{port}"), "fd://"]),
        "fd:// back on a host v0.3 installed"
    );
    local_socket_and_activation(&h, "after installing over v0.3's daemon.json");
}

/// An iptables rule that drops TCP to `port` on the loopback (the test
/// host shares this network), removed again by its exact spec when the
/// guard drops, also when the test fails.
struct Firewall(u16);

impl Firewall {
    fn drop_port(port: u16) -> Firewall {
        let o = Command::new("iptables")
            .args(Firewall::spec("-I", port))
            .output()
            .expect("iptables (apt-get install iptables) makes the firewall of this test");
        assert!(
            o.status.success(),
            "iptables could not add a rule (the test needs CAP_NET_ADMIN): {}",
            err(&o)
        );
        Firewall(port)
    }

    fn spec(op: &str, port: u16) -> Vec<String> {
        [
            op,
            "INPUT",
            "-i",
            "lo",
            "-p",
            "tcp",
            "--dport",
            &port.to_string(),
            "-j",
            "DROP",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        let _ = Command::new("iptables")
            .args(Firewall::spec("-D", self.0))
            .status();
    }
}

/// Issue 31: a first install that rolled back (for any reason) left the
/// packaged `-H fd://` dockerd serving a socket with no path. Each cause in
/// turn, each a first install again: the files as they were, byte for
/// byte, /run/docker.sock answering, and socket activation working.
#[test]
fn systemd_first_installs_that_roll_back_leave_the_host_as_it_was() {
    let _g = slot();
    let h = SystemdHost::start();
    let s = Sandbox::new();
    let port = free_port();
    ok(&s.tlsctx(&["new", "rb", "--host", &format!("tcp://127.0.0.1:{port}")]));
    let before = systemd_files(&h);
    let target = h.target("root");
    let first_install = ["server", "install", "rb", "--ssh", target.as_str()];
    let settle = |what: &str| {
        let until = Instant::now() + Duration::from_secs(150);
        while h.journal("rb").as_deref() != Some("rolled-back") {
            assert!(
                Instant::now() < until,
                "{what}: the host did not roll back ({:?})",
                h.journal("rb")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(systemd_files(&h), before, "{what}: the files as they were");
        local_socket_and_activation(&h, what);
    };

    // A firewall drops the daemon's port (dockerd starts, answers on the
    // host itself, but the mutual-TLS check from here gets nothing back):
    // the host is told to roll back, and the message names the firewall.
    {
        let _fw = Firewall::drop_port(port);
        let o = tlsctx(&s, &h, &first_install);
        assert!(!o.status.success());
        let e = err(&o);
        assert!(
            e.contains("a mutual-TLS call from here to")
                && e.contains("the old configuration was restored and serves again")
                && e.contains(&format!("open TCP {port}")),
            "{e}"
        );
    }
    settle("a failed TLS check (a firewall)");

    // dockerd cannot start with the new configuration (its port is taken):
    // noticed when systemd gives up, with dockerd's own words.
    let (o, took) = install_with_port_taken(&s, &h, "rb", port, "root");
    assert!(!o.status.success());
    let e = err(&o);
    assert!(
        e.contains("the old configuration was restored and serves again"),
        "{e}"
    );
    assert!(
        e.contains("address already in use"),
        "dockerd's own words: {e}"
    );
    assert!(
        !e.contains("systemd[1]"),
        "systemd's lines about the unit are not dockerd's: {e}"
    );
    assert!(
        took < Duration::from_secs(45),
        "noticed after {took:?} (systemd gives up within seconds; the wait is 60 s)"
    );
    settle("a dockerd that cannot start");

    // The client is killed while the host applies; the host rolls back by
    // itself when no confirmation comes.
    kill_install_at(&s, &h, &first_install, "rb", "applying", "kill");
    settle("a client killed while applying");

    // The connection drops while the host waits for the confirmation.
    kill_install_at(&s, &h, &first_install, "rb", "waiting", "drop");
    settle("a connection dropped while waiting");

    // The host's script is killed (a reboot, kill -9) while waiting: the
    // next install undoes it first, then installs.
    let mut child = tlsctx_cmd(&s, &h, &first_install)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(90);
    while h.journal("rb").as_deref() != Some("waiting") {
        assert!(Instant::now() < until, "never reached waiting");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    ok_status(&h.run("kill -KILL \"$(cat /var/lib/docker-tlsctx/install/rb/pid)\""));
    let o = tlsctx(&s, &h, &first_install);
    let e = err(&o);
    ok(&o);
    assert!(e.contains("undid an earlier install"), "{e}");
    assert_eq!(server_version(&s, "rb"), "20.10.24+dfsg1");
    local_socket_and_activation(&h, "after recover and an install");
}

/// Issue 31: Ctrl-C during `server install` killed its ssh children (the
/// terminal signals the whole foreground group), so the outcome hung on
/// timing: a false "sudo -n true failed", exit 130 with nothing said, or a
/// host that committed while the local record stayed empty. The signal
/// goes to the install's whole process group here, as a terminal sends it.
#[test]
fn systemd_ctrl_c_during_an_install_says_what_the_host_does() {
    let _g = slot();
    let h = SystemdHost::start();
    let s = Sandbox::new();
    let port = free_port();
    ok(&s.tlsctx(&["new", "cc", "--host", &format!("tcp://127.0.0.1:{port}")]));
    let before = systemd_files(&h);
    let target = h.target(SUDO_USER);
    let install = ["server", "install", "cc", "--ssh", target.as_str()];
    let ctrl_c = |child: &std::process::Child| {
        let pg = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::kill_process_group(pg, rustix::process::Signal::INT).unwrap();
    };
    let spawn = || {
        use std::os::unix::process::CommandExt;
        let mut c = tlsctx_cmd(&s, &h, &install);
        c.env("DOCKER_TLSCTX_CONFIRM_SECS", "30")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0);
        c.spawn().unwrap()
    };

    // Before anything reaches the host (logging in, pre-flight): nothing
    // changes there, and no false diagnosis of ssh or sudo.
    let child = spawn();
    std::thread::sleep(Duration::from_millis(300));
    ctrl_c(&child);
    let o = child.wait_with_output().unwrap();
    let e = err(&o);
    assert_eq!(o.status.code(), Some(130), "{e}");
    assert!(e.contains("nothing was changed"), "{e}");
    assert!(!e.contains("sudo") && !e.contains("ssh"), "{e}");
    assert_eq!(systemd_files(&h), before);

    // While the host applies: it is told to roll back, and does.
    for at in ["applying", "waiting"] {
        let child = spawn();
        let until = Instant::now() + Duration::from_secs(90);
        while h.journal("cc").as_deref() != Some(at) {
            assert!(Instant::now() < until, "never reached {at}");
            std::thread::sleep(Duration::from_millis(20));
        }
        ctrl_c(&child);
        let o = child.wait_with_output().unwrap();
        let e = err(&o);
        let rec = fs::read_to_string(s.cfg().join("tlsctx/servers/cc/server.json")).unwrap();
        match o.status.code() {
            Some(130) => {
                assert!(
                    e.contains("install on deploy@127.0.0.1")
                        && e.contains(
                            "interrupted: the old configuration was restored and serves again"
                        ),
                    "{at}: {e}"
                );
                assert_eq!(h.journal("cc").as_deref(), Some("rolled-back"), "{at}");
                assert_eq!(systemd_files(&h), before, "{at}: the files as they were");
                assert!(!rec.contains("\"ssh\""), "{at}: nothing recorded: {rec}");
                local_socket_and_activation(&h, at);
            }
            // At `waiting` the confirmation may have gone before the signal
            // came: then the host keeps the new configuration, and the
            // record here says so too.
            Some(0) if at == "waiting" => {
                assert_eq!(h.journal("cc").as_deref(), Some("committed"), "{e}");
                assert!(rec.contains(&format!("\"ssh\": \"{target}\"")), "{rec}");
                return;
            }
            other => panic!("{at}: exit {other:?}: {e}"),
        }
    }
}

/// A fleet of both kinds of host, installed in parallel: the SysV host and
/// the systemd host (through sudo) at once, each verified, and the systemd
/// host keeps its local socket and socket activation.
#[test]
fn systemd_and_sysv_hosts_in_one_parallel_fleet() {
    let _g = slot();
    let sysv = DockerHost::start(None);
    let sd = SystemdHost::start();
    one_ssh_config(sysv.client_dir(), sd.client_dir());
    let s = Sandbox::new();
    let (p1, p2) = (free_port(), free_port());
    ok(&new_ssh(&s, &sysv, "mix-a", p1, "root"));
    ok(&tlsctx(
        &s,
        &sysv,
        &[
            "new",
            "mix-b",
            "--host",
            &format!("tcp://127.0.0.1:{p2}"),
            "--ssh",
            &sd.target(SUDO_USER),
        ],
    ));
    let o = tlsctx(
        &s,
        &sysv,
        &[
            "server",
            "install",
            "--all",
            "--parallel",
            "2",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", transcript(&o));
    assert_eq!(
        fleet_results(&o),
        [
            ("mix-a".into(), "installed".into()),
            ("mix-b".into(), "installed".into())
        ]
    );
    assert_eq!(server_version(&s, "mix-a"), "20.10.24+dfsg1");
    assert_eq!(server_version(&s, "mix-b"), "20.10.24+dfsg1");
    local_socket_and_activation(&sd, "after a parallel fleet install");
}

/// The authorization plugin on the systemd host: a unit dockerd pulls in,
/// roles enforced, a pushed CRL taking effect without a restart of dockerd,
/// Restart=always bringing a killed plugin back, and socket activation
/// starting dockerd with its plugin.
#[test]
fn systemd_authz_plugin_roles_crl_and_restart() {
    let _g = slot();
    let h = SystemdHost::start();
    let s = Sandbox::new();
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let out = ok(&tlsctx(
        &s,
        &h,
        &[
            "new",
            "sguard",
            "--host",
            &host,
            "--authz",
            "--ssh",
            &h.target(SUDO_USER),
        ],
    ));
    assert!(out.contains("Installed server bundle \"sguard\""), "{out}");
    assert_eq!(h.systemctl("is-active tlsctx-authz.service"), "active");
    assert_eq!(h.systemctl("is-enabled tlsctx-authz.service"), "enabled");
    ok_status(&h.run("[ -S /run/docker/plugins/tlsctx-authz.sock ]"));

    ok(&s.tlsctx(&[
        "new",
        "sguard-ro",
        "--host",
        &host,
        "--no-server",
        "--role",
        "read-only",
    ]));
    assert_eq!(server_version(&s, "sguard-ro"), "20.10.24+dfsg1");
    let o = s.docker(&["--context", "sguard-ro", "network", "create", "nope"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("has role read-only"), "{}", err(&o));

    let main_pid = |unit: &str| h.systemctl(&format!("show -p MainPID --value {unit}"));
    let dockerd = main_pid("docker.service");
    ok(&s.tlsctx(&["revoke", "sguard-ro"]));
    let out = ok(&tlsctx(
        &s,
        &h,
        &["server", "install", "--all", "--crl-only"],
    ));
    assert!(out.contains("crl pushed"), "{out}");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let o = s.docker(&["--context", "sguard-ro", "version"]);
        if !o.status.success() && err(&o).contains("revoked") {
            break;
        }
        assert!(Instant::now() < until, "still served: {}", err(&o));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        main_pid("docker.service"),
        dockerd,
        "dockerd was not restarted"
    );

    // The plugin dies: systemd starts it again (dockerd refuses everything
    // while it is down).
    let plugin = main_pid("tlsctx-authz.service");
    ok_status(&h.run(&format!("kill -KILL {plugin}")));
    let until = Instant::now() + Duration::from_secs(15);
    while !s
        .docker(&["--context", "sguard", "version"])
        .status
        .success()
    {
        assert!(Instant::now() < until, "the plugin did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_ne!(main_pid("tlsctx-authz.service"), plugin);

    // Socket activation starts dockerd again, which still asks the plugin.
    local_socket_and_activation(&h, "with the plugin");
    assert_eq!(server_version(&s, "sguard"), "20.10.24+dfsg1");
    let o = s.docker(&["--context", "sguard-ro", "version"]);
    assert!(err(&o).contains("revoked"), "{}", err(&o));
}

/// Issue 31: a user without Rust installs the .deb (scripts/package.sh, of
/// the binary this suite built) on the systemd host and uses it as a
/// normal user: the plugin and the credential helper found where Docker
/// and PATH look, completion, `autorenew install` under a real `systemd
/// --user` with lingering, `autorenew status` reading the scheduler back
/// after `systemctl --user disable` and after a run; then `dpkg -r` keeps
/// the user's keys and contexts.
#[test]
fn the_deb_on_the_systemd_host_for_a_normal_user() {
    let _g = slot();
    let o = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/package.sh"))
        .env("PACKAGE_BIN", BIN)
        .env("PACKAGE_LINT", "0")
        .env("PACKAGE_DEB_COMPRESSION", "none")
        .output()
        .unwrap();
    assert!(o.status.success(), "package.sh: {}", err(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let deb = out.lines().find(|l| l.ends_with(".deb")).expect("a .deb");
    assert!(
        deb.ends_with(&format!(
            "docker-tlsctx_{}_amd64.deb",
            env!("CARGO_PKG_VERSION")
        )),
        "{deb}"
    );
    let sums = fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dist/SHA256SUMS"),
    )
    .unwrap();
    assert_eq!(sums.lines().count(), 2, "{sums}");

    let h = SystemdHost::start();
    fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(deb),
        h.fs().join("root/tlsctx.deb"),
    )
    .unwrap();
    h.run_ok("dpkg -i /root/tlsctx.deb >/dev/null");
    h.run_ok(&format!("loginctl enable-linger {SUDO_USER}"));
    let uid = ok(&h.run_ok(&format!("id -u {SUDO_USER}")))
        .trim()
        .to_string();
    let until = Instant::now() + Duration::from_secs(30);
    while h.systemctl(&format!("is-active user@{uid}.service")) != "active" {
        assert!(Instant::now() < until, "the user manager did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A login of the user's own, over the host's sshd (a logind session).
    let user = |cmd: &str| -> Output {
        Command::new(h.client_dir().join("bin/ssh"))
            .args([
                "-p",
                &h.ssh_port.to_string(),
                &format!("{SUDO_USER}@127.0.0.1"),
            ])
            .arg(format!("export DOCKER_TLSCTX_KEYSTORE=file; {cmd}"))
            .output()
            .unwrap()
    };
    let said = ok(&user("docker tlsctx new u1 --host tcp://10.0.0.1:2376 --no-server && docker context ls --format '{{.Name}}'"));
    assert!(said.lines().any(|l| l == "u1"), "{said}");
    // Completion as Docker asks a plugin for it (`docker __complete`, from
    // Docker 23: bookworm's 20.10 CLI does not ask plugins, so the plugin
    // is asked the way a newer CLI does).
    let said = ok(&user(
        "/usr/libexec/docker/cli-plugins/docker-tlsctx __complete tlsctx ''",
    ));
    assert!(
        said.lines().any(|l| l.starts_with("new\t")),
        "completion: {said}"
    );
    assert_eq!(ok(&user("docker-credential-tlsctx list")).trim(), "{}");

    let said = ok(&user("docker tlsctx autorenew install"));
    assert!(said.contains("Ran systemctl --user enable --now"), "{said}");
    assert!(!said.contains("not on yet"), "{said}");
    let status = || -> serde_json::Value {
        serde_json::from_str(&ok(&user("docker tlsctx autorenew status --format json"))).unwrap()
    };
    let st = status();
    assert_eq!(st["installed"], true, "{st}");
    assert_eq!(st["scheduler_says"]["state"], "on", "{st}");
    let timer = st["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".timer"))
        .map(|f| f.rsplit('/').next().unwrap().to_string())
        .unwrap();
    let service = timer.replace(".timer", ".service");
    // Turned off behind the tool's back: status and ls say off.
    ok(&user(&format!("systemctl --user disable --now {timer}")));
    let st = status();
    assert_eq!(st["installed"], false, "{st}");
    assert_eq!(st["scheduler_says"]["state"], "off", "{st}");
    let text = ok(&user("docker tlsctx autorenew status"));
    assert!(
        text.contains("Automatic renewal is off") && text.contains("disabled"),
        "{text}"
    );
    // On again by hand; a run of the timer's service is reported.
    ok(&user(&format!("systemctl --user enable --now {timer}")));
    assert_eq!(status()["scheduler_says"]["state"], "on");
    ok(&user(&format!("systemctl --user start {service}")));
    let st = status();
    assert!(st["last_attempt"].is_string(), "the run is recorded: {st}");
    assert_eq!(st["consecutive_failures"], 0, "{st}");

    // The agent under the user's own systemd: `agent install` enables and
    // starts the socket unit, and the first docker call starts the agent
    // (socket activation), which answers for the keychain-only context
    // (here with the daemon it cannot reach: its own words, through the
    // docker CLI).
    ok(&user(
        "docker tlsctx new kc --host tcp://127.0.0.1:1 --keychain-only --no-server >/dev/null",
    ));
    let said = ok(&user("docker tlsctx agent install"));
    assert!(
        said.contains("Listening now and at every login") && !said.contains("Could not run"),
        "{said}"
    );
    let unit_state = |u: &str| {
        ok(&user(&format!("systemctl --user is-active {u} || true")))
            .trim()
            .to_string()
    };
    assert_eq!(unit_state("docker-tlsctx-agent.socket"), "active");
    assert_eq!(unit_state("docker-tlsctx-agent.service"), "inactive");
    let o = user("docker --context kc version --format '{{.Server.Version}}'");
    let e = err(&o);
    assert!(
        !o.status.success() && e.contains("docker-tlsctx agent"),
        "the agent answers: {e}"
    );
    assert_eq!(
        unit_state("docker-tlsctx-agent.service"),
        "active",
        "started by the first connection"
    );

    // Removing the package keeps what the user made.
    h.run_ok("dpkg -r docker-tlsctx >/dev/null");
    assert!(!h
        .fs()
        .join("usr/libexec/docker/cli-plugins/docker-tlsctx")
        .exists());
    let home = h.fs().join(format!("home/{SUDO_USER}/.docker"));
    assert!(home.join("tlsctx/keys").is_dir(), "the keys are kept");
    let said = ok(&user("docker context ls --format '{{.Name}}'"));
    assert!(
        said.lines().any(|l| l == "u1"),
        "the context is kept: {said}"
    );
}
