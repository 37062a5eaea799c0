//! `new --ssh`, `server install`, `server renew --install`: the daemon side
//! over a real sshd into a sandboxed Docker host (tests/common/host.rs)
//! whose dockerd Debian's init script restarts. Each case checks what the
//! host runs afterwards through its own local socket and through the real
//! docker CLI with the context.
//!
//! The cases share the machine's CPU with a dockerd each; a lock runs them
//! one at a time.

mod common;

use std::fs;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::dockerd::free_port;
use common::host::DockerHost;
use common::*;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn tlsctx(s: &Sandbox, h: &DockerHost, args: &[&str]) -> Output {
    tlsctx_cmd(s, h, args).output().unwrap()
}

fn tlsctx_cmd(s: &Sandbox, h: &DockerHost, args: &[&str]) -> Command {
    let mut c = s.tlsctx_cmd(args);
    c.env("PATH", h.path_env());
    c
}

fn new_ssh(s: &Sandbox, h: &DockerHost, name: &str, port: u16, user: &str) -> Output {
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
fn no_key_left(s: &Sandbox, h: &DockerHost, name: &str) {
    let tmp = s.cfg().join("tlsctx/tmp");
    let left: Vec<_> = if tmp.exists() {
        all_files(&tmp)
    } else {
        vec![]
    };
    assert!(left.is_empty(), "left in the staging folder: {left:?}");
    let work = h.root.path().join(format!("state/install/{name}"));
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
    let _g = serial();
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
    let _g = serial();
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
    let _g = serial();
    let h = DockerHost::start(Some("{\"debug\": true}\n"));
    let s = Sandbox::new();
    let port = free_port();
    ok(&s.tlsctx(&["new", "busy", "--host", &format!("tcp://127.0.0.1:{port}")]));
    let snap = h.etc_docker_snapshot();
    // Another program takes the port after pre-flight looked (just before
    // the host's script starts), so dockerd cannot listen there.
    let holder = h.root.path().join("holder.pid");
    h.hook(&format!(
        "python3 -c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\", {port})); s.listen(); time.sleep(300)' </dev/null >/dev/null 2>&1 &\necho $! > {}\nsleep 0.5\n",
        holder.display()
    ));
    let o = tlsctx(
        &s,
        &h,
        &["server", "install", "busy", "--ssh", &h.target("root")],
    );
    h.clear_hook();
    if let Ok(pid) = fs::read_to_string(&holder) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
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

#[test]
fn refusals_before_any_change() {
    let _g = serial();
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
}

/// Kills the install when the host's journal reaches `state`.
fn kill_at(s: &Sandbox, h: &DockerHost, name: &str, state: &str, what: &str) {
    let mut child = tlsctx_cmd(s, h, &["server", "install", name])
        .env("DOCKER_TLSCTX_CONFIRM_SECS", "4")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(90);
    // "staging": every file is on the host, the script not started yet.
    let staged = h.root.path().join("at-launch");
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
            let o = Command::new("pkill")
                .args(["-KILL", "-f", "ControlMaster=yes"])
                .output()
                .unwrap();
            assert!(o.status.success(), "no master connection to drop");
        }
    }
    let _ = child.wait();
    h.network(true);
    h.clear_hook();
    let _ = fs::remove_file(staged);
}

#[test]
fn killed_or_disconnected_installs_leave_a_serving_host_and_converge() {
    let _g = serial();
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
    ok_status(&h.run("pkill -KILL -f '[s]h apply.sh'"));
    let o = tlsctx(&s, &h, &["server", "install", "kk"]);
    let e = err(&o);
    ok(&o);
    assert!(e.contains("undid an earlier install"), "{e}");
    assert_eq!(server_version(&s, "kk"), "20.10.24+dfsg1");
}

fn ok_status(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_fleet_in_parallel_with_one_failing() {
    let _g = serial();
    let good = DockerHost::start(None);
    let bad = DockerHost::start(None);
    let s = Sandbox::new();
    let (p1, p2) = (free_port(), free_port());
    // One client config knows both hosts (good's ssh wrapper reads it).
    let (g, b) = (good.root.path(), bad.root.path());
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
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let results: Vec<(String, String)> = v["installs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().into(),
                i["result"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        results,
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
    let _g = serial();
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
    ok_status(&h.run("pkill -KILL -f '[d]ocker-tlsctx authz serve'"));
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
    let _g = serial();
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
    let _g = serial();
    let h = DockerHost::start(None);
    let s = Sandbox::new();
    let port = free_port();
    ok(&tlsctx(
        &s,
        &h,
        &[
            "new",
            "rd",
            "--host",
            &format!("tcp://127.0.0.1:{port}"),
            "--server-days",
            "3",
            "--ssh",
            &h.target("root"),
        ],
    ));
    let cert_on_host = || fs::read_to_string(h.etc_docker().join("tls/server-cert.pem")).unwrap();
    let first = cert_on_host();
    let o = tlsctx(&s, &h, &["renew", "--due", "--before", "5d"]);
    assert!(o.status.success(), "{}", transcript(&o));
    let e = err(&o);
    assert!(e.contains("server bundle \"rd\": renewed"), "{e}");
    assert!(
        e.contains("installed and verified on root@127.0.0.1"),
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
    let o = tlsctx_cmd(&s, &h, &["renew", "--due", "--before", "5d"])
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
    // The next run (nothing due by the rule) installs what was renewed.
    let o = tlsctx(&s, &h, &["renew", "--due"]);
    assert!(o.status.success(), "{}", transcript(&o));
    assert!(err(&o).contains("installed and verified"), "{}", err(&o));
    let local = fs::read_to_string(s.cfg().join("tlsctx/servers/rd/server-cert.pem")).unwrap();
    assert_eq!(
        fs::read_to_string(h.etc_docker().join("tls/server-cert.pem")).unwrap(),
        local
    );
    assert_eq!(server_version(&s, "rd"), "20.10.24+dfsg1");
}
