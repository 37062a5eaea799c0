//! Over 600 lines: one area's scenarios over a shared fixture (a dockerd, a host, a keyring); the
//! fixture's helpers would be split with them.
//!
//! `renew --due` and `autorenew`: with DOCKER_TLSCTX_NOW moving the clock,
//! exactly the due items renew and the others stay byte-identical; the
//! scheduler's units checked by their own tools (systemd-analyze,
//! plistlib). Server bundles installed over SSH by `renew --due` are in
//! tests/it/install.rs (they need the sandboxed host).

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::common::secret_service::SecretService;
use crate::common::*;

/// An RFC 3339 time `days` from now.
fn later(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn at(s: &Sandbox, now: &str, args: &[&str]) -> std::process::Output {
    s.tlsctx_cmd(args)
        .env("DOCKER_TLSCTX_NOW", now)
        .output()
        .unwrap()
}

fn files_of(dirs: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = dirs
        .iter()
        .flat_map(|d| all_files(d))
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn exactly_the_due_items_renew_and_a_second_run_does_nothing() {
    let s = Sandbox::new();
    // Due at day 60 (90-day context), day 20 (30-day client bundle), day
    // 40 (60-day service certificate); not at day 61: a 300-day context,
    // the 397-day server bundle of `new`, a 200-day service certificate.
    ok(&s.tlsctx(&["new", "due-ctx", "--host", "tcp://10.0.0.1:2376"]));
    ok(&s.tlsctx(&[
        "new",
        "later-ctx",
        "--host",
        "tcp://10.0.0.2:2376",
        "--no-server",
        "--days",
        "300",
    ]));
    ok(&s.tlsctx(&["client", "due-bundle", "--days", "30"]));
    // Its deploy hook (no shell of ours: the words name one) sees its files.
    let hook_out = s.path().join("hook.out");
    let hook = format!(
        "sh -c 'echo \"$TLSCTX_NAME $TLSCTX_CERT\" > {}'",
        hook_out.display()
    );
    ok(&s.tlsctx(&[
        "cert",
        "due-svc",
        "--san",
        "web.example",
        "--days",
        "60",
        "--exec",
        &hook,
    ]));
    ok(&s.tlsctx(&["cert", "later-svc", "--san", "api.example", "--days", "200"]));
    // A server bundle with no host recorded: renewed here, and said under
    // every command until it is installed.
    ok(&s.tlsctx(&["server", "hostless", "--san", "10.0.0.9", "--days", "30"]));
    // A context removed with `docker context rm` behind our back: left
    // alone, never handed working credentials again.
    ok(&s.tlsctx(&[
        "new",
        "gone-ctx",
        "--host",
        "tcp://10.0.0.4:2376",
        "--no-server",
    ]));
    fs::remove_dir_all(
        s.cfg()
            .join("contexts/meta")
            .join(docker_tlsctx::docker::context::context_id("gone-ctx")),
    )
    .unwrap();
    let t = s.cfg().join("tlsctx");
    let untouched = [
        t.join("identities/later-ctx.json"),
        t.join("identities/later-ctx.pem"),
        t.join("servers/due-ctx"),
        t.join("servers/later-svc"),
    ];
    let stay = |paths: &[PathBuf]| -> Vec<(PathBuf, Vec<u8>)> {
        let mut v = files_of(
            &paths
                .iter()
                .filter(|p| p.is_dir())
                .cloned()
                .collect::<Vec<_>>(),
        );
        for p in paths.iter().filter(|p| p.is_file()) {
            v.push((p.clone(), fs::read(p).unwrap()));
        }
        v
    };
    let before = stay(&untouched);
    let ctx_cert = |name: &str| fs::read(t.join(format!("identities/{name}.pem"))).unwrap();
    let due_before = (ctx_cert("due-ctx"), ctx_cert("due-bundle"));

    // Today nothing is due: exit 0, and no keystore is opened (the file
    // keystore's folder is not even read: a locked keychain would not be).
    let o = s.tlsctx(&["renew", "--due"]);
    assert!(o.status.success(), "{}", transcript(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Nothing is due."));

    let now = later(61);
    let o = at(
        &s,
        &now,
        &["renew", "--due", "--dry-run", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut due: Vec<(String, String)> = v["items"]
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
    due.sort();
    assert_eq!(
        due,
        [
            ("due-bundle".into(), "due".into()),
            ("due-ctx".into(), "due".into()),
            ("due-svc".into(), "due".into()),
            ("gone-ctx".into(), "left-alone".into()),
            ("hostless".into(), "due".into())
        ]
    );
    assert_eq!(
        (ctx_cert("due-ctx"), ctx_cert("due-bundle")),
        due_before,
        "--dry-run renewed"
    );

    // due-svc was published as swarm secrets (the record `swarm publish`
    // keeps per cluster): the run says how to move its services, and does
    // not restart them itself.
    fs::create_dir_all(t.join("swarm")).unwrap();
    fs::write(
        t.join("swarm/k3x9cluster.json"),
        r#"{"last":{"due-svc":2}}"#,
    )
    .unwrap();
    let o = at(&s, &now, &["renew", "--due"]);
    assert!(o.status.success(), "{}", transcript(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("docker tlsctx swarm rotate due-svc"), "{err}");
    let said = fs::read_to_string(&hook_out).expect("the deploy hook ran");
    assert_eq!(
        said.trim(),
        format!("due-svc {}", t.join("servers/due-svc/cert.pem").display())
    );
    assert!(
        err.contains("context \"gone-ctx\": left alone: its Docker context was removed"),
        "{err}"
    );
    assert!(err.contains("server bundle \"hostless\": renewed"), "{err}");
    let o = at(&s, &now, &["ls"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("server bundle \"hostless\" was renewed on"),
        "{}",
        transcript(&o)
    );
    // renew NAME takes none of --due's flags.
    let o = s.tlsctx(&["renew", "due-ctx", "--dry-run"]);
    assert_eq!(o.status.code(), Some(1), "{}", transcript(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--dry-run goes with renew --due"));
    assert!(!err.contains("swarm rotate due-ctx"), "{err}");
    for l in [
        "context \"due-ctx\": renewed",
        "client bundle \"due-bundle\": renewed",
        "service certificate \"due-svc\": renewed",
    ] {
        assert!(err.contains(l), "{l:?} in {err}");
    }
    assert_ne!(ctx_cert("due-ctx"), due_before.0);
    assert_ne!(ctx_cert("due-bundle"), due_before.1);
    assert_eq!(stay(&untouched), before, "items not due changed");
    // The renewed context still works as a context: its TLS files are the
    // new certificate.
    let inspect = ok(&at(&s, &now, &["inspect", "due-ctx", "--format", "json"]));
    assert!(inspect.contains("due-ctx-client"), "{inspect}");

    // A second run renews nothing and exits 0.
    let o = at(&s, &now, &["renew", "--due", "--format", "json"]);
    assert!(o.status.success(), "{}", transcript(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Only what is left alone on purpose, said again each run.
    let results: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["left-alone"], "{v}");

    // The run is recorded; ls and the status say so.
    let rec: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(t.join("autorenew.json")).unwrap()).unwrap();
    assert_eq!(rec["consecutive_failures"], 0);
    assert!(ok(&at(&s, &now, &["ls"])).contains("Automatic renewal is off"));
    let st = ok(&at(&s, &now, &["autorenew", "status"]));
    assert!(st.contains("next due:"), "{st}");
}

#[test]
fn a_failure_exits_non_zero_names_the_item_and_is_remembered() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&[
        "new",
        "ok-ctx",
        "--host",
        "tcp://10.0.0.1:2376",
        "--no-server",
    ]));
    ok(&s.tlsctx(&[
        "cert",
        "broken-svc",
        "--san",
        "web.example",
        "--days",
        "30",
        "--exec",
        "false",
    ]));
    // Due at day 86.7: not in the run at day 80, warned about at day 89.
    ok(&s.tlsctx(&[
        "new",
        "soon-ctx",
        "--host",
        "tcp://10.0.0.3:2376",
        "--no-server",
        "--days",
        "130",
    ]));
    // The key of the service certificate's CA is lost: its renewal must
    // fail, and the context due at the same time must still renew.
    ok(&s.tlsctx(&["ca", "init", "--name", "other"]));
    ok(&s.tlsctx(&[
        "cert",
        "orphan",
        "--san",
        "x.example",
        "--days",
        "30",
        "--ca",
        "other",
    ]));
    fs::remove_file(s.cfg().join("tlsctx/keys/ca/other.key")).unwrap();
    // A CA that ends at day 100: the client renewed at day 80 ends with it,
    // and the run says so (each renewal comes sooner until a new CA).
    ok(&s.tlsctx(&["ca", "init", "--name", "short", "--days", "100"]));
    ok(&s.tlsctx(&["client", "clamped", "--ca", "short", "--days", "30"]));
    let now = later(80);
    let o = at(&s, &now, &["renew", "--due"]);
    assert_eq!(o.status.code(), Some(1), "{}", transcript(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("service certificate \"orphan\": FAILED"),
        "{err}"
    );
    assert!(err.contains("context \"ok-ctx\": renewed"), "{err}");
    assert!(
        err.contains("client bundle \"clamped\": renewed")
            && err.contains("it ends with its CA, sooner than its lifetime"),
        "{err}"
    );
    assert_eq!(
        err.matches("it ends with its CA").count(),
        1,
        "said of the clamped one only: {err}"
    );
    assert!(
        err.contains("\"broken-svc\" was renewed, but its deploy hook failed: false exited with exit status: 1"),
        "{err}"
    );
    assert!(err.contains("2 of 4 renewals failed"), "{err}");
    let rec: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(s.cfg().join("tlsctx/autorenew.json")).unwrap())
            .unwrap();
    assert_eq!(rec["consecutive_failures"], 1);
    assert!(rec["last_error"].as_str().unwrap().contains("broken-svc"));
    // Marked installed, the warnings say since when it fails.
    let mut r = rec.clone();
    r["scheduler"] = "systemd user timer".into();
    fs::write(s.cfg().join("tlsctx/autorenew.json"), r.to_string()).unwrap();
    let o = at(&s, &later(89), &["ls"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Automatic renewal (systemd user timer) has failed since"),
        "{err}"
    );
}

#[test]
fn a_locked_keychain_is_skipped_with_exit_zero() {
    let ss = SecretService::start();
    let s = Sandbox::new();
    ok(&ss.tlsctx(
        &s,
        &["new", "kc", "--host", "tcp://10.0.0.1:2376", "--no-server"],
    ));
    ss.lock();
    let cert = s.cfg().join("tlsctx/identities/kc.pem");
    let before = fs::read(&cert).unwrap();
    let o = ss
        .env(s.tlsctx_cmd(&["renew", "--due"]))
        .env("DOCKER_TLSCTX_KEYSTORE", "os")
        .env("DOCKER_TLSCTX_NOW", later(70))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", transcript(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("context \"kc\": skipped: keychain locked"),
        "{err}"
    );
    assert_eq!(fs::read(&cert).unwrap(), before, "nothing renewed");
    let rec = fs::read_to_string(s.cfg().join("tlsctx/autorenew.json")).unwrap();
    assert!(
        rec.contains("\"skipped\"") && rec.contains("keychain locked"),
        "{rec}"
    );
}

/// The systemd units `autorenew install` writes, verified by
/// systemd-analyze, and the service's command run as systemd would run it
/// (its ExecStart words with its Environment=, nothing else).
#[test]
fn systemd_units_verify_and_their_command_runs() {
    let analyze = require("systemd-analyze");
    let s = Sandbox::new();
    let home = s.path().join("home");
    fs::create_dir(&home).unwrap();
    // A folder whose name holds a systemd specifier: `%h` must stay `%h`.
    let cfg = s.path().join("cfg%h");
    fs::create_dir(&cfg).unwrap();
    fs::write(cfg.join("config.json"), "{}").unwrap();
    let o = s
        .tlsctx_cmd(&["autorenew", "install"])
        .env("DOCKER_CONFIG", &cfg)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", transcript(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // No user manager here: the commands are said, not pretended, and
    // renewal is not called on.
    let job = docker_tlsctx::issuance::renewal::schedule::job_name(&cfg);
    assert!(
        out.contains(&format!("systemctl --user enable --now {job}.timer")),
        "{out}"
    );
    assert!(out.contains("Automatic renewal is not on yet"), "{out}");
    let units = home.join(".config/systemd/user");
    let timer = fs::read_to_string(units.join(format!("{job}.timer"))).unwrap();
    for l in [
        "OnCalendar=*-*-* 03,15:00:00",
        "Persistent=true",
        "RandomizedDelaySec=1h",
        "FixedRandomDelay=true",
    ] {
        assert!(timer.contains(l), "{l} in {timer}");
    }
    assert!(
        !timer.contains("OnUnitActiveSec") && !timer.contains("OnBootSec"),
        "a monotonic timer"
    );
    let v = Command::new(&analyze)
        .args(["verify", &format!("{job}.timer"), &format!("{job}.service")])
        .current_dir(&units)
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units.display()))
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", transcript(&v));
    assert!(
        String::from_utf8_lossy(&v.stderr).trim().is_empty(),
        "{}",
        transcript(&v)
    );

    let service = fs::read_to_string(units.join(format!("{job}.service"))).unwrap();
    // What systemd makes of a quoted word: the quotes go, `%%` is `%`.
    let unquote = |w: &str| w.trim_matches('"').replace("%%", "%");
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let words: Vec<String> = exec.split(' ').map(unquote).collect();
    let as_systemd = || {
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..])
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        for e in service
            .lines()
            .filter_map(|l| l.strip_prefix("Environment="))
        {
            let (k, v) = unquote(e)
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .unwrap();
            cmd.env(k, v);
        }
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .output()
            .unwrap()
    };
    let o = as_systemd();
    assert!(o.status.success(), "{}", transcript(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Nothing is due."));
    assert!(service.contains("/cfg%%h\""), "{service}");
    // It ran on that folder: its run is recorded there.
    let rec = fs::read_to_string(cfg.join("tlsctx/autorenew.json")).unwrap();
    assert!(
        rec.contains("last_attempt"),
        "the unit's command used another folder: {rec}"
    );
    assert!(service.contains("DOCKER_TLSCTX_KEYSTORE=file"));
    // Not recorded as on (the enable did not run); uninstall removes the
    // files.
    let st = ok(&s
        .tlsctx_cmd(&["autorenew", "status"])
        .env("DOCKER_CONFIG", &cfg)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .output()
        .unwrap());
    assert!(st.contains("Automatic renewal is off"), "{st}");
    // A damaged record is rebuilt by the next run, not lost: it is run
    // where the scheduler's files are, so the scheduler is said again.
    fs::write(cfg.join("tlsctx/autorenew.json"), "{\"scheduler\": ").unwrap();
    let o = as_systemd();
    assert!(o.status.success(), "{}", transcript(&o));
    let rec = fs::read_to_string(cfg.join("tlsctx/autorenew.json")).unwrap();
    assert!(
        rec.contains("\"scheduler\": \"systemd user timer\"") && rec.contains("last_attempt"),
        "{rec}"
    );
    // The record says on, and no user manager can be asked here: said as
    // the record's word, not the scheduler's (attacker review).
    let st = ok(&s
        .tlsctx_cmd(&["autorenew", "status"])
        .env("DOCKER_CONFIG", &cfg)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap());
    assert!(
        st.contains("Automatic renewal is on")
            && st.contains("(as recorded at install; the scheduler could not be asked: no user manager in this session"),
        "{st}"
    );
    ok(&s
        .tlsctx_cmd(&["autorenew", "uninstall"])
        .env("DOCKER_CONFIG", &cfg)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap());
    assert!(!units.join(format!("{job}.timer")).exists());
}

/// The launchd agent and the Task Scheduler task, generated here and read
/// by the tools that can read them on Linux: Python's plistlib, and an XML
/// parser for the task (Wine's schtasks is in the cross-check's reach only
/// as far as it goes).
#[test]
fn launchd_plist_and_task_xml_read_back() {
    use docker_tlsctx::issuance::renewal::schedule;
    use docker_tlsctx::keystore::Choice;
    let exe = std::path::Path::new("/Applications/Docker Tools/docker-tlsctx");
    let cfg = std::path::Path::new("/Users/a&b/.docker");
    let plist = schedule::launchd_plist(exe, cfg, Choice::Os, std::path::Path::new("/tmp/l.log"));
    let check = r#"
import plistlib, sys
p = plistlib.loads(sys.stdin.buffer.read())
assert p["Label"].startswith("io.github.docker-tlsctx-renew-"), p
assert p["ProgramArguments"] == ["/Applications/Docker Tools/docker-tlsctx", "renew", "--due"], p
assert p["EnvironmentVariables"] == {"DOCKER_CONFIG": "/Users/a&b/.docker", "DOCKER_TLSCTX_KEYSTORE": "os"}, p
assert [c["Hour"] for c in p["StartCalendarInterval"]] == [3, 15], p
assert all(0 <= c["Minute"] < 60 for c in p["StartCalendarInterval"]), p
assert p["RunAtLoad"] is True and "StartInterval" not in p and "KeepAlive" not in p, p
import xml.etree.ElementTree as ET
t = ET.fromstring(sys.argv[1])
ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
assert t.find("t:Settings/t:StartWhenAvailable", ns).text == "true"
assert len(t.findall("t:Triggers/t:CalendarTrigger", ns)) == 2
args = t.find("t:Actions/t:Exec/t:Arguments", ns).text
assert args == '--config "/Users/a&b/.docker" --keystore os renew --due', args
print("ok")
"#;
    let task = schedule::task_xml(exe, cfg, Choice::Os).replacen("UTF-16", "UTF-8", 1);
    let mut c = Command::new(require("python3"));
    c.args(["-c", check, &task]);
    let o = with_stdin(c, &plist);
    assert!(o.status.success(), "{}", transcript(&o));
}

/// The systemd user manager runs what the unit folder holds: one that
/// another user owns and may write to is refused, nothing written
/// (attacker review: such a user replaced the service after install).
#[test]
fn autorenew_refuses_a_unit_folder_another_user_controls() {
    let s = Sandbox::new();
    let home = s.path().join("home");
    let units = home.join(".config/systemd/user");
    fs::create_dir_all(&units).unwrap();
    if !is_root() {
        assert!(std::env::var("CI").is_err(), "CI runs this as root");
        return;
    }
    Command::new("chown")
        .args(["-R", "65534"])
        .arg(home.join(".config"))
        .status()
        .unwrap();
    Command::new("chmod")
        .arg("0777")
        .arg(&units)
        .status()
        .unwrap();
    let o = s
        .tlsctx_cmd(&["autorenew", "install"])
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", transcript(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not safe to use"),
        "{}",
        transcript(&o)
    );
    assert_eq!(
        fs::read_dir(&units).unwrap().count(),
        0,
        "a unit was written"
    );
}

/// A link on the way to the unit folder that leads into a folder others may
/// write, and a unit folder not made yet below such a folder (an
/// attacker's review: only the last folder was checked for being a link,
/// the folders a link led through were not checked at all, and the refused
/// folders were made first): `autorenew install` and `agent install`
/// refuse before writing or running anything, and make nothing there.
#[test]
fn unit_folders_through_a_link_into_a_shared_folder_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let s = Sandbox::new();
    let shared = s.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    let target = shared.join("cfg");
    fs::create_dir(&target).unwrap();
    let home = s.path().join("home");
    fs::create_dir(&home).unwrap();
    std::os::unix::fs::symlink(&target, home.join(".config")).unwrap();
    for args in [["autorenew", "install"], ["agent", "install"]] {
        for config_home in [None, Some(shared.join("not-yet"))] {
            let mut c = s.tlsctx_cmd(&args);
            c.env("HOME", &home)
                .env_remove("DBUS_SESSION_BUS_ADDRESS")
                .env_remove("XDG_RUNTIME_DIR");
            match &config_home {
                Some(d) => c.env("XDG_CONFIG_HOME", d),
                None => c.env_remove("XDG_CONFIG_HOME"),
            };
            let o = c.output().unwrap();
            let e = String::from_utf8_lossy(&o.stderr);
            assert!(
                !o.status.success(),
                "{args:?} {config_home:?}: {}",
                transcript(&o)
            );
            assert!(
                e.contains("is not safe to use") && e.contains("others may write to it (mode 777)"),
                "{args:?} {config_home:?}: {e}"
            );
            assert!(
                !target.join("systemd").exists(),
                "{args:?}: made through the link"
            );
            assert!(
                !shared.join("not-yet").exists(),
                "{args:?}: made in the shared folder"
            );
        }
    }
    // A second review: a relative HOME (the dirs crate takes it) left the
    // folders above the current one unchecked; a `..` was resolved past
    // the folders the walk saw; a sticky folder such as /tmp was allowed
    // above the unit folder, which another user can make again once a
    // cleaner removed it.
    let sticky = s.path().join("sticky");
    fs::create_dir(&sticky).unwrap();
    fs::set_permissions(&sticky, fs::Permissions::from_mode(0o1777)).unwrap();
    fs::create_dir(shared.join("vh")).unwrap();
    let dotdot = home.join("..").join("shared").join("dd");
    let home_s = home.to_str().unwrap();
    let cases: [(&str, Option<PathBuf>, &str); 3] = [
        ("vh", None, "it is not an absolute path"),
        (home_s, Some(dotdot), "it has a .. in it"),
        (
            home_s,
            Some(sticky.join("cfg")),
            "others may write to it (mode 1777)",
        ),
    ];
    for args in [["autorenew", "install"], ["agent", "install"]] {
        for (home_env, config_home, why) in &cases {
            let mut c = s.tlsctx_cmd(&args);
            c.current_dir(&shared)
                .env("HOME", home_env)
                .env_remove("DBUS_SESSION_BUS_ADDRESS")
                .env_remove("XDG_RUNTIME_DIR");
            match config_home {
                Some(d) => c.env("XDG_CONFIG_HOME", d),
                None => c.env_remove("XDG_CONFIG_HOME"),
            };
            let o = c.output().unwrap();
            let e = String::from_utf8_lossy(&o.stderr);
            assert!(
                !o.status.success(),
                "{args:?} {home_env}: {}",
                transcript(&o)
            );
            assert!(e.contains(why), "{args:?} {home_env} {config_home:?}: {e}");
        }
        assert!(
            !shared.join("vh/.config").exists(),
            "{args:?}: made under a relative HOME"
        );
        assert!(!shared.join("dd").exists(), "{args:?}: made through ..");
        assert!(
            !sticky.join("cfg").exists(),
            "{args:?}: made in a sticky folder"
        );
    }
}
