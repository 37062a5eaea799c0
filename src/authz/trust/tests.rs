//! Unit tests of the module beside them (kept apart so the code reads on its own).

use super::*;
use crate::pki::{self, KeyType, Revoked};

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

struct World {
    dir: tempfile::TempDir,
    ca: pki::Ca,
    admin: String,
    admin_serial: String,
    ro: String,
    other_crl: String,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let new = pki::new_ca("t", KeyType::EcdsaP256, 30, now()).unwrap();
    let ca = pki::Ca::load("t", &new.cert_pem, &new.key_der()).unwrap();
    std::fs::write(dir.path().join("ca.pem"), &new.cert_pem).unwrap();
    let admin = ca
        .issue_client("al", Role::Admin, KeyType::EcdsaP256, 10, now())
        .unwrap();
    let ro = ca
        .issue_client("bo", Role::ReadOnly, KeyType::EcdsaP256, 10, now())
        .unwrap();
    // Another CA of the same name: same subject, another key.
    let other = pki::new_ca("t", KeyType::EcdsaP256, 30, now()).unwrap();
    let other = pki::Ca::load("t", &other.cert_pem, &other.key_der()).unwrap();
    let other_crl = other
        .crl(&[], 1, now(), now() + ::time::Duration::days(30))
        .unwrap();
    World {
        dir,
        ca,
        admin_serial: admin.serial_hex.clone(),
        admin: admin.cert_pem,
        ro: ro.cert_pem,
        other_crl,
    }
}

fn denied(v: Verdict, want: &str) {
    match v {
        Verdict::Deny { msg, .. } => {
            let msg = msg.to_string();
            assert!(msg.contains(want), "{want:?} not in {msg:?}")
        }
        other => panic!("{other:?} where {want:?} was expected"),
    }
}

#[test]
fn roles_revocation_and_bad_crls() {
    let w = world();
    let t = Trust::open(w.dir.path()).unwrap();
    let at = now() + ::time::Duration::hours(1);
    assert_eq!(
        t.check(None, "POST", "/containers/create", at),
        Verdict::Local
    );
    assert!(matches!(
        t.check(Some(&w.admin), "POST", "/v1.47/containers/create", at),
        Verdict::Allow {
            role: Role::Admin,
            ..
        }
    ));
    assert!(matches!(
        t.check(Some(&w.ro), "GET", "/v1.47/containers/json", at),
        Verdict::Allow {
            role: Role::ReadOnly,
            ..
        }
    ));
    denied(
        t.check(Some(&w.ro), "POST", "/v1.47/containers/x/exec", at),
        "bo has role read-only, and POST /containers/x/exec changes the engine",
    );
    // Revoked: the next request sees the new file.
    let crl =
        w.ca.crl(
            &[Revoked {
                serial_hex: w.admin_serial.clone(),
                at,
                reason: None,
            }],
            1,
            at,
            at + ::time::Duration::days(30),
        )
        .unwrap();
    std::fs::write(w.dir.path().join("crl.pem"), &crl).unwrap();
    denied(t.check(Some(&w.admin), "GET", "/_ping", at), "is revoked");
    assert!(matches!(
        t.check(Some(&w.ro), "GET", "/_ping", at),
        Verdict::Allow { .. }
    ));
    // Past its nextUpdate: refused, whoever asks.
    denied(
        t.check(
            Some(&w.ro),
            "GET",
            "/_ping",
            at + ::time::Duration::days(31),
        ),
        "expired on",
    );
    // Another CA's CRL (same name, other key), a truncated one: closed.
    std::fs::write(w.dir.path().join("crl.pem"), format!("{}\n", w.other_crl)).unwrap();
    denied(
        t.check(Some(&w.ro), "GET", "/_ping", at),
        "was not issued by this bundle's CA",
    );
    std::fs::write(w.dir.path().join("crl.pem"), &crl[..crl.len() / 2]).unwrap();
    denied(t.check(Some(&w.ro), "GET", "/_ping", at), "is damaged");
    // No CRL once one was accepted: refused, not un-revoked.
    std::fs::remove_file(w.dir.path().join("crl.pem")).unwrap();
    denied(t.check(Some(&w.admin), "GET", "/_ping", at), "is missing");
    denied(t.check(Some(&w.ro), "GET", "/_ping", at), "is missing");
    // A certificate from another CA.
    let stranger = pki::new_ca("s", KeyType::EcdsaP256, 30, now()).unwrap();
    let stranger = pki::Ca::load("s", &stranger.cert_pem, &stranger.key_der()).unwrap();
    let mallory = stranger
        .issue_client("al", Role::Admin, KeyType::EcdsaP256, 10, now())
        .unwrap();
    denied(
        t.check(Some(&mallory.cert_pem), "GET", "/_ping", at),
        "is not from this bundle's CA",
    );
}

/// Options with a state folder of the test's own (kept alive by the
/// returned TempDir).
fn with_state() -> (tempfile::TempDir, Options) {
    let state = tempfile::tempdir().unwrap();
    let options = Options {
        require_role: false,
        state_dir: Some(state.path().join("authz")),
    };
    (state, options)
}

fn crl_of(w: &World, serials: &[&str], number: u64) -> String {
    let at = now() + ::time::Duration::hours(1);
    let revoked: Vec<Revoked> = serials
        .iter()
        .map(|s| Revoked {
            serial_hex: s.to_string(),
            at,
            reason: None,
        })
        .collect();
    w.ca.crl(&revoked, number, at, at + ::time::Duration::days(30))
        .unwrap()
}

#[test]
fn an_older_crl_or_a_missing_required_one_is_refused() {
    let w = world();
    let (state, options) = with_state();
    let at = now() + ::time::Duration::hours(2);
    let crl = |path: &str| std::fs::write(w.dir.path().join("crl.pem"), path).unwrap();
    // No CRL and none required: nothing is revoked.
    let t = Trust::with_options(w.dir.path(), options.clone()).unwrap();
    assert!(matches!(
        t.check(Some(&w.admin), "GET", "/_ping", at),
        Verdict::Allow { .. }
    ));
    let one = crl_of(&w, &[], 1);
    let two = crl_of(&w, &[&w.admin_serial], 2);
    crl(&two);
    denied(t.check(Some(&w.admin), "GET", "/_ping", at), "is revoked");
    // Number 1 put back: refused, and by a plugin started afresh too
    // (the number outlives the process in the state folder).
    crl(&one);
    denied(
        t.check(Some(&w.admin), "GET", "/_ping", at),
        "older than number 2",
    );
    drop(t);
    let t = Trust::with_options(w.dir.path(), options.clone()).unwrap();
    denied(
        t.check(Some(&w.ro), "GET", "/_ping", at),
        "older than number 2",
    );
    crl(&two);
    assert!(matches!(
        t.check(Some(&w.ro), "GET", "/_ping", at),
        Verdict::Allow { .. }
    ));
    std::fs::remove_file(w.dir.path().join("crl.pem")).unwrap();
    denied(
        t.check(Some(&w.ro), "GET", "/_ping", at),
        "CRL number 2 was accepted before",
    );
    // A plugin with no memory of it: the bundle's marker says it.
    let fresh = Trust::open(w.dir.path()).unwrap();
    assert!(matches!(
        fresh.check(Some(&w.ro), "GET", "/_ping", at),
        Verdict::Allow { .. }
    ));
    std::fs::write(w.dir.path().join(CRL_REQUIRED), "").unwrap();
    denied(
        fresh.check(Some(&w.ro), "GET", "/_ping", at),
        "the bundle's crl-required says so",
    );
    // A damaged state file fails closed.
    std::fs::write(w.dir.path().join("crl.pem"), &two).unwrap();
    for f in std::fs::read_dir(state.path().join("authz")).unwrap() {
        std::fs::write(f.unwrap().path(), "{").unwrap();
    }
    let t = Trust::with_options(w.dir.path(), options).unwrap();
    denied(t.check(Some(&w.ro), "GET", "/_ping", at), "is damaged");
}

#[test]
fn roles_fail_closed() {
    let w = world();
    let at = now() + ::time::Duration::hours(1);
    let t = Trust::open(w.dir.path()).unwrap();
    let strict = Trust::with_options(
        w.dir.path(),
        Options {
            require_role: true,
            state_dir: None,
        },
    )
    .unwrap();
    let odd = |ous: &[&str], cns: &[&str], sans: &[&str]| {
        let sans: Vec<pki::San> = sans.iter().map(|s| pki::San::parse(s).unwrap()).collect();
        w.ca.issue_odd_client(ous, cns, &sans, now())
            .unwrap()
            .cert_pem
    };
    // Two OUs or two CNs: rcgen writes one of each type, so those are
    // in RoleClaim's own test and, made by openssl, in tests/it/authz.rs.
    for (ous, cns, want) in [
        (&["role:Read-Only"][..], &["x"][..], "cannot be read"),
        (&["role: read-only"], &["x"], "cannot be read"),
        (&["role:root"], &["x"], "is not a role"),
        (&["role:service"], &["svc"], "is a service certificate"),
    ] {
        let pem = odd(ous, cns, &[]);
        denied(t.check(Some(&pem), "GET", "/_ping", at), want);
    }
    // A v0.2 service certificate: no role OU, a SAN.
    let svc = odd(&[], &["svc.example"], &["svc.example"]);
    denied(
        t.check(Some(&svc), "GET", "/_ping", at),
        "a service certificate from before",
    );
    // A v0.2 admin client: no role OU, no SAN. Admin, unless roles are required.
    let legacy = odd(&[], &["old"], &[]);
    assert!(matches!(
        t.check(Some(&legacy), "POST", "/containers/create", at),
        Verdict::Allow {
            role: Role::Admin,
            ..
        }
    ));
    denied(
        strict.check(Some(&legacy), "GET", "/_ping", at),
        "--role admin",
    );
    assert!(matches!(
        strict.check(Some(&w.admin), "POST", "/containers/create", at),
        Verdict::Allow {
            role: Role::Admin,
            ..
        }
    ));
}

/// Found by review: the remembered number was dropped when ca.pem was
/// touched, and a state file removed while the plugin ran was not
/// written again, so CRL 1 came back after CRL 2.
#[test]
fn the_crl_number_survives_a_touched_ca_and_a_lost_state_file() {
    let w = world();
    let (state, options) = with_state();
    let at = now() + ::time::Duration::hours(2);
    let t = Trust::with_options(w.dir.path(), options).unwrap();
    let crl = |text: &str| std::fs::write(w.dir.path().join("crl.pem"), text).unwrap();
    crl(&crl_of(&w, &[&w.admin_serial], 2));
    denied(t.check(Some(&w.admin), "GET", "/_ping", at), "is revoked");
    for f in std::fs::read_dir(state.path().join("authz")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    crl(&format!("{}\n", crl_of(&w, &[&w.admin_serial], 2)));
    denied(t.check(Some(&w.admin), "GET", "/_ping", at), "is revoked");
    assert_eq!(
        std::fs::read_dir(state.path().join("authz"))
            .unwrap()
            .count(),
        1
    );
    let ca = std::fs::read(w.dir.path().join("ca.pem")).unwrap();
    std::fs::write(w.dir.path().join("ca.pem"), [&ca[..], b"\n"].concat()).unwrap();
    crl(&crl_of(&w, &[], 1));
    denied(
        t.check(Some(&w.admin), "GET", "/_ping", at),
        "older than number 2",
    );
}

/// Issue 30: an expired CRL, refused, still raised the rollback
/// counter, so the current CRL (a lower number) was refused after it.
#[test]
fn an_expired_crl_does_not_raise_the_rollback_counter() {
    let w = world();
    let (_state, options) = with_state();
    let at = now() + ::time::Duration::days(2);
    let expired =
        w.ca.crl(&[], 7, now(), now() + ::time::Duration::days(1))
            .unwrap();
    let current =
        w.ca.crl(&[], 3, at, at + ::time::Duration::days(30))
            .unwrap();
    let t = Trust::with_options(w.dir.path(), options).unwrap();
    std::fs::write(w.dir.path().join("crl.pem"), &expired).unwrap();
    denied(t.check(Some(&w.ro), "GET", "/_ping", at), "expired on");
    std::fs::write(w.dir.path().join("crl.pem"), &current).unwrap();
    assert!(matches!(
        t.check(Some(&w.ro), "GET", "/_ping", at),
        Verdict::Allow { .. }
    ));
}

/// Issue 30: a FIFO as crl.pem hung every TLS request while holding
/// the lock they need, and /dev/zero grew until memory ran out. Both
/// are refused at once, and requests go on being answered.
#[test]
fn a_fifo_or_an_endless_crl_is_refused_without_hanging() {
    let w = world();
    let t = Trust::open(w.dir.path()).unwrap();
    let at = now() + ::time::Duration::hours(1);
    let crl = w.dir.path().join("crl.pem");
    let fifo = std::process::Command::new("mkfifo")
        .arg(&crl)
        .status()
        .unwrap();
    assert!(fifo.success());
    let started = std::time::Instant::now();
    denied(
        t.check(Some(&w.ro), "GET", "/_ping", at),
        "not a regular file",
    );
    std::fs::remove_file(&crl).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &crl).unwrap();
    denied(
        t.check(Some(&w.ro), "GET", "/_ping", at),
        "not a regular file",
    );
    std::fs::remove_file(&crl).unwrap();
    // A regular file past the bound.
    let f = std::fs::File::create(&crl).unwrap();
    f.set_len(MAX_CRL + 1).unwrap();
    denied(t.check(Some(&w.ro), "GET", "/_ping", at), "larger than");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    std::fs::write(&crl, crl_of(&w, &[], 1)).unwrap();
    assert!(matches!(
        t.check(Some(&w.ro), "GET", "/_ping", at),
        Verdict::Allow { .. }
    ));
}
