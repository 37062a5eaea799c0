//! Unit tests of the module beside them (kept apart so the code reads on its own).

use super::*;

fn w(s: &str) -> Vec<String> {
    words(s)
}

const BUNDLE: Bundle<'static> = Bundle {
    tls_dir: "/etc/docker/tls",
    port: 2376,
    authz: false,
    ca_pem: "CA",
    cert_pem: "CERT",
    key_pem: "KEY",
    crl_pem: None,
    plugin_exe: None,
};

#[test]
fn exec_start_of_packaged_units() {
    // docker-ce's docker.service.
    let ce = "# /lib/systemd/system/docker.service\n[Service]\nType=notify\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock\nExecReload=/bin/kill -s HUP $MAINPID\n";
    let f = split_flags(&w(&exec_start(ce).unwrap()));
    assert_eq!(f.hosts, ["fd://"]);
    assert_eq!(
        crate::issuance::server::drop_in(&f.kept)
            .lines()
            .last()
            .unwrap(),
        "ExecStart=/usr/bin/dockerd --containerd=/run/containerd/containerd.sock"
    );
    // Debian's docker.io keeps $DOCKER_OPTS.
    let deb = "[Service]\nEnvironmentFile=-/etc/default/docker\nExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS\n";
    let f = split_flags(&w(&exec_start(deb).unwrap()));
    assert_eq!(f.kept, ["/usr/sbin/dockerd", "$DOCKER_OPTS"]);
    // A custom unit with a drop-in that already resets ExecStart, and
    // every spelling of -H.
    let custom = "[Service]\nExecStart=/opt/bin/dockerd -H fd://\n# /etc/systemd/system/docker.service.d/override.conf\n[Service]\nExecStart=\nExecStart=/opt/bin/dockerd --debug \\\n  -H=unix:///run/d.sock -Htcp://127.0.0.1:2375 --host tcp://10.0.0.1:2375 --host=fd:// --data-root /srv/docker\n";
    let f = split_flags(&w(&exec_start(custom).unwrap()));
    assert_eq!(
        f.hosts,
        [
            "unix:///run/d.sock",
            "tcp://127.0.0.1:2375",
            "tcp://10.0.0.1:2375",
            "fd://"
        ]
    );
    assert_eq!(
        f.kept.join(" "),
        "/opt/bin/dockerd --debug --data-root /srv/docker"
    );
    assert_eq!(exec_start("[Service]\nExecStart=\n"), None);
}

#[test]
fn daemon_json_is_merged() {
    let cur = r#"{"registry-mirrors": ["https://m.example"], "hosts": ["unix:///var/run/docker.sock", "tcp://127.0.0.1:2375"], "log-driver": "journald"}"#;
    let out = merge_daemon_json(Some(cur), DAEMON_JSON, &BUNDLE, &[]).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["registry-mirrors"][0], "https://m.example");
    assert_eq!(v["log-driver"], "journald");
    assert_eq!(
        v["hosts"],
        json!([
            "unix:///var/run/docker.sock",
            "tcp://127.0.0.1:2375",
            "tcp://0.0.0.0:2376"
        ])
    );
    assert_eq!(v["tlskey"], "/etc/docker/tls/server-key.pem");
    // Order of the user's keys kept (preserve_order).
    assert!(out.find("registry-mirrors").unwrap() < out.find("log-driver").unwrap());
    // -H fd:// moves as it is (issue 31: rewritten to the local
    // socket, it cost the host socket activation and, after a
    // rollback, its local socket), and no unix:// is added beside it:
    // docker.socket owns /run/docker.sock.
    let out = merge_daemon_json(None, DAEMON_JSON, &BUNDLE, &["fd://".into()]).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hosts"], json!(["fd://", "tcp://0.0.0.0:2376"]));
    // A host v0.3 installed (unix:// where the unit said fd://) gets
    // fd:// back, and the unix:// entry for docker.socket's path goes.
    let v03 =
        r#"{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"], "tlsverify": true}"#;
    let up = merge_daemon_json(Some(v03), DAEMON_JSON, &BUNDLE, &["fd://".into()]).unwrap();
    let v: Value = serde_json::from_str(&up).unwrap();
    assert_eq!(v["hosts"], json!(["tcp://0.0.0.0:2376", "fd://"]));
    // Installing twice changes nothing the second time.
    assert_eq!(
        merge_daemon_json(Some(&out), DAEMON_JSON, &BUNDLE, &[]).unwrap(),
        out
    );
}

#[test]
fn the_packaged_command_is_read_past_our_own_drop_in() {
    let unit = "# /lib/systemd/system/docker.service\n[Service]\nExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS\n\n# /etc/systemd/system/docker.service.d/zz-docker-tlsctx.conf\n[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd $DOCKER_OPTS\n";
    assert_eq!(exec_start(unit).unwrap(), "/usr/sbin/dockerd $DOCKER_OPTS");
    assert_eq!(
        exec_start(&without_our_drop_in(unit)).unwrap(),
        "/usr/sbin/dockerd -H fd:// $DOCKER_OPTS"
    );
}

#[test]
fn damaged_daemon_json_names_line_and_column() {
    let r = merge_daemon_json(
        Some("{\n  \"debug\": true,\n  oops\n}"),
        DAEMON_JSON,
        &BUNDLE,
        &[],
    )
    .unwrap_err();
    assert!(r.what.contains("line 3, column 3"), "{}", r.what);
    assert!(merge_daemon_json(Some("[1]"), DAEMON_JSON, &BUNDLE, &[]).is_err());
    assert!(merge_daemon_json(Some(r#"{"hosts": "tcp://x"}"#), DAEMON_JSON, &BUNDLE, &[]).is_err());
}

#[test]
fn docker_opts_forms() {
    let f = "# Docker Upstart and SysVinit configuration file\n#DOCKER_OPTS=\"--dns 8.8.8.8\"\nDOCKER_OPTS=\"--bridge none -H tcp://127.0.0.1:2375\"\n";
    let (i, q, v) = docker_opts(f).unwrap();
    assert_eq!(
        (i, q, v.as_str()),
        (2, '"', "--bridge none -H tcp://127.0.0.1:2375")
    );
    assert_eq!(
        docker_opts("DOCKER_OPTS=--debug # x\n").unwrap().2,
        "--debug"
    );
    assert_eq!(docker_opts("export DOCKER_OPTS='-D'\n").unwrap().1, '\'');
    assert!(docker_opts("DOCKER_OPTS=\"a\" \"b\"\n").is_none());
}

#[test]
fn diff_marks_changes() {
    assert_eq!(diff("a\nb\nc\n", "a\nc\nd\n"), "  a\n- b\n  c\n+ d\n");
}
