//! Over 600 lines: one area's scenarios over a shared fixture (a dockerd, a host, a keyring); the
//! fixture's helpers would be split with them.
//!
//! Certificates as versioned swarm secrets against a real single-node
//! swarm: a dockerd of the test's own with our server bundle, `docker swarm
//! init`, services from an imported busybox image. Publish, rotate on live
//! services (one and two replicas, two services sharing a bundle), the
//! refusals that leave the old version in place and in use, and secret
//! data that never shows on any process's argv nor on disk.
//!
//! One test function: swarm makes host-wide objects (the docker_gwbridge
//! link), so two swarms at once on one machine would collide.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::common::dockerd::{free_port, stderr, Dockerd};
use crate::common::steps::Steps;
use crate::common::*;

/// What a swarm leaves on the host once dockerd is gone (seen here): an
/// nsfs mount under the exec root and the docker_gwbridge link. Declared
/// before the daemon, so it is dropped after it.
struct HostCleanup {
    exec_root: PathBuf,
}

impl Drop for HostCleanup {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.exec_root.join("netns/default"))
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", "docker_gwbridge"])
            .output();
    }
}

/// `docker swarm leave --force` before dockerd stops (declared after it).
struct SwarmMember<'a> {
    s: &'a Sandbox,
}

impl Drop for SwarmMember<'_> {
    fn drop(&mut self) {
        let _ = self
            .s
            .docker(&["--context", "d1", "swarm", "leave", "--force"]);
    }
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 of `path` inside every running task of `service`.
fn task_file_hashes(s: &Sandbox, service: &str, path: &str) -> Vec<String> {
    let dk = |args: &[&str]| {
        let mut all = vec!["--context", "d1"];
        all.extend_from_slice(args);
        ok(&s.docker(&all))
    };
    let tasks = dk(&[
        "service",
        "ps",
        "-q",
        "--filter",
        "desired-state=running",
        service,
    ]);
    let mut out = Vec::new();
    for task in tasks.split_whitespace() {
        let cid = dk(&[
            "inspect",
            "-f",
            "{{.Status.ContainerStatus.ContainerID}}",
            task,
        ]);
        let sum = dk(&["exec", cid.trim(), "/bin/busybox", "sha256sum", path]);
        out.push(sum.split_whitespace().next().unwrap().to_string());
    }
    out.sort();
    out
}

/// Every task of `web` (1 replica) and `web2` (2) sees `file` with this hash.
fn tasks_see(s: &Sandbox, file: &str, sha256: &str) {
    let path = format!("/run/secrets/{file}");
    assert_eq!(task_file_hashes(s, "web", &path), [sha256]);
    assert_eq!(task_file_hashes(s, "web2", &path), [sha256, sha256]);
}

fn secret_names(s: &Sandbox) -> BTreeSet<String> {
    ok(&s.docker(&["--context", "d1", "secret", "ls", "--format", "{{.Name}}"]))
        .lines()
        .map(str::to_string)
        .collect()
}

fn versions_of(s: &Sandbox, bundle: &str) -> Vec<serde_json::Value> {
    let out = ok(&s.tlsctx(&["swarm", "ls", "--context", "d1", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|x| x["bundle"] == bundle)
        .cloned()
        .collect()
}

fn v_set(names: &BTreeSet<String>, version: u32) -> bool {
    ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .all(|f| names.contains(&format!("web-{f}-v{version}")))
}

fn failed(o: &Output, want: &[&str]) {
    assert!(!o.status.success(), "succeeded: {}", transcript(o));
    let err = stderr(o);
    for w in want {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
}

/// Seconds of each "Moved service NAME … in N s" line.
fn move_times(out: &str) -> Vec<(String, f64)> {
    out.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Moved service ")?;
            let name = rest.split_whitespace().next()?.to_string();
            let secs = rest
                .rsplit_once(" in ")?
                .1
                .strip_suffix(" s")?
                .parse()
                .ok()?;
            Some((name, secs))
        })
        .collect()
}

/// Every file below `dir` holding one of the needles, skipping the folders
/// in `skip` and tmpfs mounts (memory, not disk: where swarm mounts secrets
/// into containers).
fn files_holding(
    dir: &Path,
    needles: &[String],
    skip: &[PathBuf],
    tmpfs: &[PathBuf],
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if skip.contains(&p) || tmpfs.contains(&p) {
            continue;
        }
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            out.extend(files_holding(&p, needles, skip, tmpfs));
        } else if m.is_file() && m.len() < 64 << 20 {
            if let Ok(b) = fs::read(&p) {
                let text = String::from_utf8_lossy(&b);
                if needles.iter().any(|n| text.contains(n.as_str())) {
                    out.push(p);
                }
            }
        }
    }
    out
}

fn tmpfs_mounts() -> Vec<PathBuf> {
    fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"tmpfs")).then(|| PathBuf::from(f[1]))
        })
        .collect()
}

#[test]
fn certificates_rotate_on_live_services() {
    assert!(
        is_root(),
        "dockerd and swarm need root; run the suite as root (CI does)"
    );
    require("busybox");
    require("ip");
    let s = Sandbox::new();
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    ok(&s.tlsctx(&["new", "d1", "--host", &host]));
    let daemon_bundle = s.cfg().join("tlsctx/servers/d1");
    let dir = s.path().join("d");
    fs::create_dir(&dir).unwrap();
    let _cleanup = HostCleanup {
        exec_root: dir.join("exec"),
    };
    let _daemon = Dockerd::start(&dir, &daemon_bundle, port);
    let dk = |args: &[&str]| {
        let mut all = vec!["--context", "d1"];
        all.extend_from_slice(args);
        s.docker(&all)
    };
    let tlsctx_in = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--context", "d1"]);
        s.tlsctx(&all)
    };

    ok(&s.tlsctx(&["cert", "web", "--san", "web.local", "--san", "127.0.0.1"]));
    let web = s.cfg().join("tlsctx/servers/web");
    let read = |f: &str| fs::read_to_string(web.join(f)).unwrap();
    let mut steps = Steps::new("certificates_rotate_on_live_services");

    steps.check(
        "before swarm init, publish says this is no manager and makes nothing",
        || {
            failed(
                &tlsctx_in(&["swarm", "publish", "web"]),
                &[
                    "is not a swarm manager (swarm state: inactive)",
                    "docker swarm init",
                ],
            );
        },
    );
    steps.check("without docker on PATH, swarm ls says so", || {
        let mut c = s.tlsctx_cmd(&["swarm", "ls"]);
        c.env("PATH", "/nonexistent");
        failed(
            &c.output().unwrap(),
            &["the docker CLI was not found on PATH"],
        );
    });

    let (_member, image) = steps.setup("a one-node swarm with an imported busybox image", || {
        let swarm_port = free_port().to_string();
        ok(&dk(&[
            "swarm",
            "init",
            "--advertise-addr",
            "127.0.0.1",
            "--listen-addr",
            &format!("127.0.0.1:{swarm_port}"),
        ]));
        // Made at once: a later failure here still leaves the swarm.
        let member = SwarmMember { s: &s };
        (member, import_busybox(&s, "d1"))
    });

    // Every key this test publishes, as it would leak; on argv, the
    // certificate's lines too (its first lines are shared with every
    // certificate of the CA, so on disk only keys are looked for).
    let mut needles: Vec<String> = body_lines(&read("key.pem"));
    let mut on_argv = needles.clone();
    on_argv.extend(body_lines(&read("cert.pem")));
    let sampler = ArgvSampler::start();

    steps.setup(
        "publish makes version 1, labelled with its bundle, version and fingerprint",
        || {
            let out = ok(&tlsctx_in(&["swarm", "publish", "web"]));
            assert!(out.contains("as version 1"), "{out}");
            let names = secret_names(&s);
            assert!(v_set(&names, 1), "{names:?}");
            let labels: serde_json::Value = serde_json::from_str(&ok(&dk(&[
                "secret",
                "inspect",
                "--format",
                "{{json .Spec.Labels}}",
                "web-cert.pem-v1",
            ])))
            .unwrap();
            let fp = openssl_ok(&[
                "x509",
                "-noout",
                "-fingerprint",
                "-sha256",
                "-in",
                web.join("cert.pem").to_str().unwrap(),
            ]);
            let fp = fp
                .trim()
                .rsplit('=')
                .next()
                .unwrap()
                .replace(':', "")
                .to_lowercase();
            assert_eq!(labels["io.github.docker-tlsctx.sha256"], fp.as_str());
            assert_eq!(labels["io.github.docker-tlsctx.bundle"], "web");
            assert_eq!(labels["io.github.docker-tlsctx.version"], "1");
            assert!(labels["io.github.docker-tlsctx.tool"]
                .as_str()
                .unwrap()
                .starts_with("docker-tlsctx "));
        },
    );

    // Services from the imported image, with the bundle's secrets.
    let create = |name: &str, replicas: &str, extra: &[&str], cmd: &[&str]| {
        let mut args = vec![
            "service",
            "create",
            "--quiet",
            "--detach=false",
            "--name",
            name,
            "--replicas",
            replicas,
            "--network",
            "host",
            "--init",
            "--update-order",
            "start-first",
            "--update-monitor",
            "1s",
            "--rollback-monitor",
            "1s",
        ];
        args.extend_from_slice(extra);
        args.push(&image);
        args.extend_from_slice(cmd);
        ok(&dk(&args));
    };
    let secrets_v = |v: u32| {
        vec![
            format!("source=web-cert.pem-v{v},target=cert.pem"),
            format!("source=web-key.pem-v{v},target=key.pem,mode=0400"),
            format!("source=web-ca.pem-v{v},target=ca.pem"),
        ]
    };
    let sleep = ["/bin/busybox", "sleep", "1000000"];
    let cert_v1 = steps.setup("two services on v1, of one replica and of two", || {
        let v1 = secrets_v(1);
        let mut extra = Vec::new();
        for m in &v1 {
            extra.extend(["--secret", m.as_str()]);
        }
        create("web", "1", &extra, &sleep);
        create("web2", "2", &extra, &sleep);
        let cert_v1 = sha256_hex(read("cert.pem").as_bytes());
        let key_v1 = sha256_hex(read("key.pem").as_bytes());
        tasks_see(&s, "cert.pem", &cert_v1);
        tasks_see(&s, "key.pem", &key_v1);
        cert_v1
    });

    // The bundle's certificate serial, as OpenSSL reads it.
    let serial = || {
        openssl_ok(&[
            "x509",
            "-noout",
            "-serial",
            "-in",
            web.join("cert.pem").to_str().unwrap(),
        ])
    };
    let (serial_v2, cert_v2, names) = steps.setup(
        "rotate moves both services to v2 in their running tasks and removes v1",
        || {
            let serial_v1 = serial();
            let o = tlsctx_in(&[
                "swarm",
                "rotate",
                "web",
                "--service",
                "web",
                "--service",
                "web2",
            ]);
            let out = ok(&o);
            assert!(out.contains("published version 2"), "{out}");
            let times = move_times(&out);
            assert_eq!(times.len(), 2, "{out}");
            eprintln!("rotation times (web: 1 replica, web2: 2 replicas): {times:?}");
            assert!(stderr(&o).contains("web: completed"), "{}", stderr(&o));
            needles.extend(body_lines(&read("key.pem")));
            on_argv.extend(body_lines(&read("key.pem")));
            on_argv.extend(body_lines(&read("cert.pem")));
            let serial_v2 = serial();
            assert_ne!(serial_v1, serial_v2);
            let cert_v2 = sha256_hex(read("cert.pem").as_bytes());
            assert_ne!(cert_v1, cert_v2);
            tasks_see(&s, "cert.pem", &cert_v2);
            tasks_see(&s, "key.pem", &sha256_hex(read("key.pem").as_bytes()));
            let names = secret_names(&s);
            assert!(
                v_set(&names, 2) && !names.iter().any(|n| n.ends_with("-v1")),
                "{names:?}"
            );
            let vs = versions_of(&s, "web");
            assert_eq!(vs.len(), 1, "{vs:?}");
            assert_eq!(vs[0]["version"], 2);
            assert_eq!(vs[0]["services"], serde_json::json!(["web", "web2"]));
            assert_eq!(vs[0]["prunable"], false);
            (serial_v2, cert_v2, names)
        },
    );
    steps.check("rotate keeps each secret's target, owner and mode", || {
        let mounts: serde_json::Value = serde_json::from_str(&ok(&dk(&[
            "service",
            "inspect",
            "--format",
            "{{json .Spec.TaskTemplate.ContainerSpec.Secrets}}",
            "web",
        ])))
        .unwrap();
        let mut got: Vec<(String, String, u64)> = mounts
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["SecretName"].as_str().unwrap().to_string(),
                    m["File"]["Name"].as_str().unwrap().to_string(),
                    m["File"]["Mode"].as_u64().unwrap(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("web-ca.pem-v2".to_string(), "ca.pem".to_string(), 0o444),
                ("web-cert.pem-v2".to_string(), "cert.pem".to_string(), 0o444),
                ("web-key.pem-v2".to_string(), "key.pem".to_string(), 0o400),
            ]
        );
    });
    steps.check(
        "a service that does not exist changes nothing, not even the certificate",
        || {
            failed(
                &tlsctx_in(&[
                    "swarm",
                    "rotate",
                    "web",
                    "--service",
                    "web",
                    "--service",
                    "nope",
                ]),
                &["service \"nope\" does not exist; nothing was changed"],
            );
            assert_eq!(serial_v2, serial());
            assert_eq!(secret_names(&s), names);
        },
    );
    steps.check(
        "a service with none of the bundle's secrets and no --target-* is refused",
        || {
            create("other", "1", &[], &sleep);
            let o = tlsctx_in(&["swarm", "rotate", "web", "--service", "other"]);
            ok(&dk(&["service", "rm", "other"]));
            failed(
                &o,
                &["uses none of the secrets of \"web\"", "--target-cert"],
            );
            assert_eq!(secret_names(&s), names);
        },
    );

    // A service whose update fails (its tasks accept only the v2
    // certificate): rolled back to v2, which stays, in use; v3 goes again.
    steps.setup("a service whose update fails is rolled back to v2, which stays in use, and v3 goes", || {
    let fp_env = format!("FP={cert_v2}");
    let v2 = secrets_v(2);
    // Stop-first, Docker's default (the last --update-order wins): rotate
    // says that its one task stops while it moves.
    let mut extra = vec!["--env", fp_env.as_str(), "--update-order", "stop-first"];
    for m in &v2 {
        extra.extend(["--secret", m.as_str()]);
    }
    create(
        "strict",
        "1",
        &extra,
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "test \"$(/bin/busybox sha256sum /run/secrets/cert.pem | /bin/busybox cut -c1-64)\" = \"$FP\" && exec /bin/busybox sleep 1000000",
        ],
    );
    let t = Instant::now();
    let o = tlsctx_in(&[
        "swarm",
        "rotate",
        "web",
        "--service",
        "strict",
        "--timeout",
        "120",
    ]);
    failed(
        &o,
        &[
            "Note: service strict updates stop-first with every task at once",
            "the rotation did not complete",
            "strict: its update failed",
            "strict on v2",
        ],
    );
    eprintln!(
        "failed rotation rolled back in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    needles.extend(body_lines(&read("key.pem")));
    on_argv.extend(body_lines(&read("key.pem")));
    on_argv.extend(body_lines(&read("cert.pem")));
    let names = secret_names(&s);
    assert!(v_set(&names, 2), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with("-v3")), "{names:?}");
    assert_eq!(
        task_file_hashes(&s, "strict", "/run/secrets/cert.pem"),
        vec![cert_v2.clone()]
    );
    assert_eq!(
        task_file_hashes(&s, "web", "/run/secrets/cert.pem"),
        vec![cert_v2.clone()]
    );
    let vs = versions_of(&s, "web");
    assert_eq!(vs.len(), 1, "{vs:?}");
    assert_eq!(
        vs[0]["services"],
        serde_json::json!(["strict", "web", "web2"])
    );
    });

    // The next version is 4: 3 was used by the failed rotation, and a name
    // is never used twice. Prune keeps what is in use and the newest.
    steps.setup(
        "the next version is 4, and prune keeps what is in use and the newest",
        || {
            let out = ok(&tlsctx_in(&["swarm", "publish", "web"]));
            assert!(out.contains("as version 4"), "{out}");
            needles.extend(body_lines(&read("key.pem")));
            on_argv.extend(body_lines(&read("key.pem")));
            on_argv.extend(body_lines(&read("cert.pem")));
            let out = ok(&tlsctx_in(&["swarm", "prune", "web"]));
            assert!(out.contains("Nothing to prune"), "{out}");
            ok(&dk(&["service", "rm", "strict", "web", "web2"]));
            // Swarm drops a removed service's hold on its secrets at once.
            let vs = versions_of(&s, "web");
            let prunable: Vec<(u64, bool)> = vs
                .iter()
                .map(|v| {
                    (
                        v["version"].as_u64().unwrap(),
                        v["prunable"].as_bool().unwrap(),
                    )
                })
                .collect();
            assert_eq!(prunable, [(2, true), (4, false)]);
            let out = ok(&tlsctx_in(&["swarm", "prune", "web"]));
            assert_eq!(out.lines().count(), 3, "{out}");
            let names = secret_names(&s);
            assert!(
                v_set(&names, 4) && !names.iter().any(|n| n.ends_with("-v2")),
                "{names:?}"
            );
        },
    );

    // The sampler saw the `docker secret create` calls that carried them.
    steps.check("no key or certificate was on any process's argv", || {
        let (found, creates) = sampler.finish(&on_argv, "secret create");
        assert!(found.is_empty(), "secret data on argv: {found:?}");
        // 12 in all: 3 per publish, v1 and v4 by hand, v2 and v3 inside the
        // two rotations that got that far; a sample can miss a short one.
        assert!(
            creates >= 3,
            "the sampler saw {creates} `docker secret create` calls"
        );
        eprintln!("argv sampler saw {creates} docker secret create calls");
    });

    // dockerd's own folder is walked too, but not its tmpfs mounts
    // (swarm's in-memory secrets).
    steps.check("no key is on disk outside the bundle folder", || {
        let hits = files_holding(
            Path::new("/tmp"),
            &needles,
            std::slice::from_ref(&web),
            &tmpfs_mounts(),
        );
        assert!(hits.is_empty(), "secret data on disk: {hits:?}");
    });

    // Issue 19: interruptions. A 2-replica stop-first service whose updates
    // take a while (4 s monitor), on the newest version.
    steps.setup("a slow two-replica stop-first service on v4", || {
        let v4 = secrets_v(4);
        let mut extra = vec!["--update-order", "stop-first", "--update-monitor", "4s"];
        for m in &v4 {
            extra.extend(["--secret", m.as_str()]);
        }
        create("slow", "2", &extra, &sleep);
    });
    let rotate_slow = |timeout: &str| {
        let mut c = s.tlsctx_cmd(&[
            "swarm",
            "rotate",
            "web",
            "--service",
            "slow",
            "--context",
            "d1",
            "--timeout",
            timeout,
        ]);
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    };
    let interrupt = |pid: u32| {
        ok(&Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .output()
            .unwrap());
    };

    // 1. Ctrl-C while a secret is being created: the incomplete version
    //    goes, and the error says the bundle was renewed (it said "nothing
    //    was changed", and the incomplete secrets stayed).
    // A docker that hangs in `secret create` where a test says so.
    let shim = s.path().join("shim");
    fs::create_dir(&shim).unwrap();
    let path = format!("{}:{}", shim.display(), std::env::var("PATH").unwrap());
    steps.setup("Ctrl-C while a secret is created removes the incomplete version and says the bundle was renewed", || {
    let mark = s.path().join("creating");
    fs::write(
        shim.join("docker"),
        format!(
            "#!/bin/sh\ncase \"$*\" in *'secret create'*-cert.pem-v*) touch {}; exec sleep 60;; esac\nexec {} \"$@\"\n",
            mark.display(),
            require("docker").display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(shim.join("docker"))
        .status()
        .unwrap();
    let mut c = rotate_slow("120");
    c.env("PATH", &path);
    let child = c.spawn().unwrap();
    let t = Instant::now();
    while !mark.exists() {
        assert!(
            t.elapsed().as_secs() < 60,
            "the shim was never asked to create"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    interrupt(child.id());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", transcript(&o));
    assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
    failed(
        &o,
        &[
            "the rotation was cancelled",
            "\"web\" was renewed",
            "slow on v4",
        ],
    );
    let names = secret_names(&s);
    assert!(!names.iter().any(|n| n.ends_with("-v5")), "{names:?}");
    });

    // 2. Ctrl-C while the update converges: the wait stops at once and the
    //    error says where the service is (swarm goes on with its update).
    steps.setup(
        "Ctrl-C while the update converges stops the wait at once and says where the service is",
        || {
            let mut child = rotate_slow("120").spawn().unwrap();
            let err = child.stderr.take().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            let reader = std::thread::spawn(move || {
                use std::io::BufRead;
                let mut all = String::new();
                for line in std::io::BufReader::new(err).lines() {
                    let line = line.unwrap();
                    if line.starts_with("slow: updating") {
                        let _ = tx.send(());
                    }
                    all.push_str(&line);
                    all.push('\n');
                }
                all
            });
            rx.recv_timeout(std::time::Duration::from_secs(60))
                .expect("the update never showed as updating");
            let t = Instant::now();
            interrupt(child.id());
            let status = child.wait().unwrap();
            let err = reader.join().unwrap();
            assert_eq!(status.code(), Some(130), "{err}");
            assert!(t.elapsed().as_secs() < 3, "{:?}: {err}", t.elapsed());
            assert!(
                err.contains("the rotation was cancelled")
                    && err.contains("slow on v6 (swarm: updating)"),
                "{err}"
            );
        },
    );

    // 3. Rotating again while that update still runs: it waits for it
    //    (updating on top of it took a stop-first service to 0 tasks),
    //    then moves the service.
    steps.setup(
        "rotating again during that update waits for it, then moves the service",
        || {
            let o = rotate_slow("120").output().unwrap();
            let out = ok(&o);
            let err = stderr(&o);
            assert!(err.contains("service slow is still being updated"), "{err}");
            assert!(out.contains("Moved service slow from v6 to v7"), "{out}");
            let cert_v7 = sha256_hex(read("cert.pem").as_bytes());
            assert_eq!(
                task_file_hashes(&s, "slow", "/run/secrets/cert.pem"),
                vec![cert_v7.clone(), cert_v7]
            );
        },
    );

    // 4. A hung dockerd (SIGSTOP): --timeout bounds each docker call, so
    //    the rotation ends (it held a --timeout 5 rotation for 26 s, and a
    //    hung dockerd would hold it and the lock forever).
    steps.check("with dockerd hung, --timeout ends the rotation", || {
        let pid = _daemon.pid().to_string();
        ok(&Command::new("kill").args(["-STOP", &pid]).output().unwrap());
        let t = Instant::now();
        let o = rotate_slow("3").output().unwrap();
        let took = t.elapsed();
        ok(&Command::new("kill").args(["-CONT", &pid]).output().unwrap());
        failed(&o, &["did not finish within 3 s"]);
        assert!(took.as_secs() < 10, "{took:?}");
    });
    ok(&dk(&["service", "rm", "slow"]));

    // 5. `--rotate-on-renew`: renew --due publishes each renewal and moves
    //    the services using the secrets (renewal issue). A 2-day
    //    certificate with --before 3d is the one item due, in real time,
    //    so dockerd accepts what is renewed.
    let api = s.cfg().join("tlsctx/servers/api");
    let api_cert = || sha256_hex(&fs::read(api.join("cert.pem")).unwrap());
    // No --context: the one recorded at publish time is used.
    let due = |extra: &[&str]| {
        let mut args = vec!["renew", "--due"];
        args.extend_from_slice(extra);
        s.tlsctx(&args)
    };
    steps.setup(
        "a 2-day bundle published with --rotate-on-renew, and a service on its v1",
        || {
            ok(&s.tlsctx(&["cert", "api", "--san", "api.local", "--days", "2"]));
            let out = ok(&tlsctx_in(&[
                "swarm",
                "publish",
                "api",
                "--rotate-on-renew",
            ]));
            assert!(
                out.contains("Each renewal by docker tlsctx renew --due"),
                "{out}"
            );
            let mut extra = Vec::new();
            let api_v1 = [
                "source=api-cert.pem-v1,target=cert.pem".to_string(),
                "source=api-key.pem-v1,target=key.pem,mode=0400".to_string(),
                "source=api-ca.pem-v1,target=ca.pem".to_string(),
            ];
            for m in &api_v1 {
                extra.extend(["--secret", m.as_str()]);
            }
            create("api", "1", &extra, &sleep);
        },
    );
    steps.setup(
        "renew --due renews the one due item, publishes it as v2 and moves its service",
        || {
            let o = due(&["--before", "3d"]);
            ok(&o);
            let err = stderr(&o);
            assert!(
                err.contains("service certificate \"api\": renewed"),
                "{err}"
            );
            assert!(
                err.contains("published as swarm secrets version 2 and moved api to it"),
                "{err}"
            );
            assert!(!err.contains("web"), "only api was due: {err}");
            let api_v2 = api_cert();
            assert_eq!(
                task_file_hashes(&s, "api", "/run/secrets/cert.pem"),
                vec![api_v2.clone()]
            );
            let names = secret_names(&s);
            assert!(
                !names
                    .iter()
                    .any(|n| n.starts_with("api-") && n.ends_with("-v1")),
                "v1 is removed once unused: {names:?}"
            );
        },
    );

    let api_v3 = steps.setup(
        "renewed by hand since, the next run (nothing due) moves the services",
        || {
            ok(&s.tlsctx(&["cert", "renew", "api", "--days", "2"]));
            let api_v3 = api_cert();
            let o = due(&[]);
            ok(&o);
            let err = stderr(&o);
            assert!(
                err.contains("renewed earlier") && err.contains("moved api to it"),
                "{err}"
            );
            assert_eq!(api_cert(), api_v3, "not renewed again");
            assert_eq!(
                task_file_hashes(&s, "api", "/run/secrets/cert.pem"),
                vec![api_v3.clone()]
            );
            api_v3
        },
    );
    // Killed (SIGKILL, the process group) while publishing: the bundle is
    // renewed, its services are not moved; the next run, with nothing
    // due, publishes again, moves them, and removes the half version.
    let api_v3 = steps.setup("killed while publishing, the next run publishes again, moves the service and removes the half version", || {
    let mark = s.path().join("creating-api");
    fs::write(
        shim.join("docker"),
        format!(
            "#!/bin/sh\ncase \"$*\" in *'secret create'*api-cert.pem-v*) touch {}; exec sleep 60;; esac\nexec {} \"$@\"\n",
            mark.display(),
            require("docker").display()
        ),
    )
    .unwrap();
    let mut c = s.tlsctx_cmd(&["renew", "--due", "--before", "3d"]);
    c.env("PATH", &path);
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let mut child = c.spawn().unwrap();
    let t = Instant::now();
    while !mark.exists() {
        assert!(t.elapsed().as_secs() < 60, "never reached the publish");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    ok(&Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .output()
        .unwrap());
    let _ = child.wait();
    let api_v4 = api_cert();
    assert_ne!(api_v4, api_v3, "renewed before the kill");
    assert_eq!(
        task_file_hashes(&s, "api", "/run/secrets/cert.pem"),
        vec![api_v3.clone()],
        "not moved before the kill"
    );
    let o = due(&[]);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("renewed earlier") && err.contains("moved api to it"),
        "{err}"
    );
    assert_eq!(api_cert(), api_v4, "not renewed again");
    assert_eq!(
        task_file_hashes(&s, "api", "/run/secrets/cert.pem"),
        vec![api_v4.clone()]
    );
    let api_names: Vec<String> = secret_names(&s)
        .into_iter()
        .filter(|n| n.starts_with("api-"))
        .collect();
    assert_eq!(
        api_names.len(),
        3,
        "one complete version left: {api_names:?}"
    );
    api_v4
    });

    steps.check("converged, a second run does nothing", || {
        let o = due(&[]);
        ok(&o);
        assert!(stderr(&o).contains("Nothing is due."), "{}", stderr(&o));
    });

    // Another swarm than the one it was published to (a DOCKER_HOST then,
    // a context now): refused, nothing renewed, nothing published.
    steps.check(
        "another swarm than the one published to is refused, and nothing renewed or published",
        || {
            let rec_path = api.join("server.json");
            let rec = fs::read_to_string(&rec_path).unwrap();
            let mut v: serde_json::Value = serde_json::from_str(&rec).unwrap();
            v["swarm"]["cluster"] = "0therclusterid0000000000a".into();
            fs::write(&rec_path, v.to_string()).unwrap();
            let before_names = secret_names(&s);
            let o = due(&["--before", "3d"]);
            // Put back before anything is asserted: the next step uses the record.
            fs::write(&rec_path, rec).unwrap();
            failed(
                &o,
                &["is not the one \"api\" was published to with --rotate-on-renew"],
            );
            assert_eq!(api_cert(), api_v3);
            assert_eq!(secret_names(&s), before_names);
        },
    );

    steps.check(
        "with --no-rotate-on-renew, renewals are reported only",
        || {
            ok(&tlsctx_in(&[
                "swarm",
                "publish",
                "api",
                "--no-rotate-on-renew",
            ]));
            let o = due(&["--before", "3d"]);
            ok(&o);
            let err = stderr(&o);
            assert!(
                err.contains("it is published as swarm secrets: move its services"),
                "{err}"
            );
            assert_eq!(
                task_file_hashes(&s, "api", "/run/secrets/cert.pem"),
                vec![api_v3]
            );
        },
    );
    ok(&dk(&["service", "rm", "api"]));
    steps.done();
}

#[test]
fn secrets_over_swarms_limit_are_refused_before_any_call() {
    let s = Sandbox::new();
    ok(&s.tlsctx(&["ca", "init"]));
    // 15,000 names of 32 bytes: a certificate of about 650 KB in PEM,
    // over swarm's 500 KiB (512,000 bytes) for a secret.
    let sans: Vec<String> = (0..15_000)
        .map(|i| format!("host-{i:05}.swarm-limit.example"))
        .collect();
    let mut args = vec!["cert", "big"];
    for n in &sans {
        args.extend(["--san", n.as_str()]);
    }
    ok(&s.tlsctx(&args));
    // A context that points nowhere: the size is checked before docker is.
    let o = s.tlsctx(&["swarm", "publish", "big", "--context", "nonexistent"]);
    failed(&o, &["swarm secrets are limited to 500 KiB (512000 bytes)"]);
    assert!(!stderr(&o).contains("nonexistent"), "{}", stderr(&o));
}
