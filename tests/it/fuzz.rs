//! Bounded fuzzing inside the suite (SECURITY.md, "How it is tested"):
//! structure-aware mutations of valid inputs, from a fixed seed so every
//! run is the same, for what reads untrusted bytes: the credential helper's
//! standard input, the records and meta.json that ls and inspect read, and
//! the PEM and DER that `ca import` takes. A panic is a finding and fails
//! the test with the input that caused it; so is a secret echoed in an error.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use docker_tlsctx::credhelper::protocol::{handle, Helper};
use docker_tlsctx::credhelper::store::KeystoreHelper;
use docker_tlsctx::issuance::{renewal::health, Env};
use docker_tlsctx::keystore::memory::MemoryStore;
use docker_tlsctx::keystore::Choice;
use docker_tlsctx::pki;

/// xorshift64*: small, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that break parsers more often than random bytes do.
const TOKENS: &[&str] = &[
    "",
    "null",
    "[]",
    "{}",
    "\"\"",
    "\"../../x\"",
    "\"a/b\"",
    "0",
    "-1",
    "1e999",
    "18446744073709551616",
    "\"9999-12-31T23:59:59Z\"",
    "\"0000-01-01T00:00:00Z\"",
    "true",
    "\"\\u0000\"",
    "\"\\n\"",
    "\"é\"",
    "\"IP:300.1.1.1\"",
    "\"DNS:*.*\"",
    "\"rsa-1\"",
    "\"os\"",
    "\"memory\"",
    "-----BEGIN",
    "-----END PRIVATE KEY-----",
    "MII",
    "\u{2028}",
    "\"",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, rng.next() as u8),
            2 if !v.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.bytes());
            }
            4 if !v.is_empty() => {
                // Replace a quoted value with a token.
                let t = TOKENS[rng.below(TOKENS.len())];
                let end = (at + rng.below(24)).min(v.len());
                v.splice(at..end, t.bytes());
            }
            5 if v.len() > 2 => {
                let a = rng.below(v.len());
                let b = (a + rng.below(64)).min(v.len());
                let chunk = v[a..b].to_vec();
                v.splice(at..at, chunk);
            }
            _ => v.truncate(at),
        }
    }
    v
}

/// Runs `f` on `n` mutations of the seeds; returns the number of executions.
fn fuzz(name: &str, seeds: &[Vec<u8>], n: usize, mut f: impl FnMut(&[u8])) -> usize {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    for i in 0..n {
        let seed = &seeds[i % seeds.len()];
        let input = if i < seeds.len() {
            seed.clone()
        } else {
            mutate(&mut rng, seed)
        };
        if catch_unwind(AssertUnwindSafe(|| f(&input))).is_err() {
            panic!(
                "{name}: finding after {i} executions; input: {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
    println!("{name}: {n} executions, no findings");
    n
}

#[test]
fn credential_helper_input() {
    let seeds: Vec<Vec<u8>> = [
        r#"{"ServerURL":"https://registry.example.com:5000/v2","Username":"alice","Secret":"SECRETMARK"}"#,
        r#"{"ServerURL":"registry.example.com","Username":"<token>","Secret":"SECRETMARK&<>"}"#,
        "https://registry.example.com:5000\n",
        r#""SECRETMARK""#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut helper = KeystoreHelper::new(
        Box::new(MemoryStore::default()),
        dir.path().join("index.json"),
    );
    let mut i = 0usize;
    fuzz("credential helper stdin", &seeds, 20_000, |input| {
        let action = ["store", "get", "erase", "list"][i % 4];
        i += 1;
        let mut out = Vec::new();
        if let Err(e) = handle(&mut helper, action, &mut &input[..], &mut out) {
            let msg = e.to_string();
            assert!(
                !msg.contains("SECRETMARK"),
                "{action}: the error echoes the secret: {msg}"
            );
            assert!(!msg.contains('\n'), "{action}: a multi-line error: {msg:?}");
        }
        let _ = helper.list();
    });
}

fn sandbox_with_records() -> (tempfile::TempDir, Env) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg");
    std::fs::create_dir(&cfg).unwrap();
    let bin = env!("CARGO_BIN_EXE_docker-tlsctx");
    let o = std::process::Command::new(bin)
        .args(["new", "prod", "--host", "tcp://10.0.0.1:2376"])
        .env("DOCKER_CONFIG", &cfg)
        .env("DOCKER_TLSCTX_KEYSTORE", "file")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let env = Env::from_process(&cfg, Choice::File, Default::default()).unwrap();
    (dir, env)
}

fn read_seed(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// What ls, inspect and the expiry warnings read, with one file damaged
/// at a time.
#[test]
fn records_and_meta_json() {
    let (_dir, env) = sandbox_with_records();
    let cfg = env.config_dir.clone();
    let files = [
        cfg.join("tlsctx/identities/prod.json"),
        cfg.join("tlsctx/cas/default/ca.json"),
        cfg.join("tlsctx/servers/prod/server.json"),
        cfg.join("tlsctx/expiry-index.json"),
        cfg.join("contexts/meta")
            .join(docker_tlsctx::docker::context::context_id("prod"))
            .join("meta.json"),
    ];
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| read_seed(p)).collect();
    let mut i = 0usize;
    fuzz("records and meta.json", &seeds, 6_000, |input| {
        let file = &files[i % files.len()];
        i += 1;
        std::fs::write(file, input).unwrap();
        let state = env.state();
        if let Ok((ids, _damaged)) = state.identities_checked() {
            for rec in &ids {
                let _ = health::health(&env, rec);
            }
        }
        let _ = state.cas();
        let _ = state.servers();
        let _ = state.identity("prod");
        let _ = state.server("prod");
        let _ = health::expiry_warnings(&env);
        let _ = env.contexts().host("prod");
        // Put the good file back for the next one.
        std::fs::write(file, &seeds[(i - 1) % files.len()]).unwrap();
    });
}

/// What `ca import` parses: keys in PKCS#8, PKCS#1 and SEC1 PEM, and
/// certificates, with the base64 and the DER inside both mutated.
#[test]
fn pem_and_der_for_ca_import() {
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let ca = pki::new_ca("fuzz CA", pki::KeyType::EcdsaP256, 30, now).unwrap();
    let rsa = pki::new_ca("fuzz RSA", pki::KeyType::Rsa2048, 30, now).unwrap();
    let key_pem = pki::pem_encode("PRIVATE KEY", &ca.key_der());
    let seeds: Vec<Vec<u8>> = vec![
        ca.cert_pem.clone().into_bytes(),
        key_pem.clone().into_bytes(),
        rsa.cert_pem.clone().into_bytes(),
        pki::pem_encode("EC PRIVATE KEY", &ca.key_der()[..40]).into_bytes(),
    ];
    let n = fuzz("PEM text", &seeds, 20_000, |input| {
        let text = String::from_utf8_lossy(input);
        let _ = pki::parse_private_key_pem(&text);
        if let Ok(info) = pki::CertInfo::from_pem(&text) {
            let _ = info.key_type;
        }
        let _ = pki::key_matches_cert(&ca.key_der(), &text);
        let _ = pki::Ca::load("f", &text, &ca.key_der());
    });
    // The DER inside, mutated, re-wrapped as valid PEM.
    let ders: Vec<Vec<u8>> = vec![
        x509_parser::pem::parse_x509_pem(ca.cert_pem.as_bytes())
            .unwrap()
            .1
            .contents,
        ca.key_der(),
        rsa.key_der(),
    ];
    let m = fuzz("DER inside PEM", &ders, 20_000, |der| {
        let cert = pki::pem_encode("CERTIFICATE", der);
        let _ = pki::CertInfo::from_pem(&cert);
        let _ = pki::CertInfo::from_der(der);
        let _ = pki::key_matches_cert(der, &ca.cert_pem);
        let _ = pki::Ca::load("f", &ca.cert_pem, der);
        let _ = pki::parse_private_key_pem(&pki::pem_encode("PRIVATE KEY", der));
        let _ = pki::parse_private_key_pem(&pki::pem_encode("RSA PRIVATE KEY", der));
    });
    assert_eq!(n + m, 40_000);
}

/// The authorization plugin's input (issue 19): AuthZReq bodies mutated
/// from real ones. No panic; a body that does not parse strictly is never
/// allowed; a read-only identity is never allowed what changes the engine.
#[cfg(unix)]
#[test]
fn authz_request_bodies() {
    use base64::Engine;
    use docker_tlsctx::authz::{parse_request, respond, trust::Trust};
    use docker_tlsctx::pki::{KeyType, Role};
    let now = time::OffsetDateTime::now_utc();
    let dir = tempfile::tempdir().unwrap();
    let new = pki::new_ca("f", KeyType::EcdsaP256, 30, now).unwrap();
    std::fs::write(dir.path().join("ca.pem"), &new.cert_pem).unwrap();
    let ca = pki::Ca::load("f", &new.cert_pem, &new.key_der()).unwrap();
    let b64 = |role| {
        let leaf = ca
            .issue_client("x", role, KeyType::EcdsaP256, 2, now)
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode(leaf.cert_pem)
    };
    let (ro, admin) = (b64(Role::ReadOnly), b64(Role::Admin));
    let trust = Trust::open(dir.path()).unwrap();
    let seeds: Vec<Vec<u8>> = [
        format!(r#"{{"User":"x","UserAuthNMethod":"TLS","RequestMethod":"GET","RequestUri":"/v1.41/containers/json","RequestHeaders":{{"Accept":"*/*"}},"RequestPeerCertificates":["{ro}"]}}"#),
        format!(r#"{{"User":"x","UserAuthNMethod":"TLS","RequestMethod":"POST","RequestUri":"/v1.41/containers/create","RequestBody":"e30=","RequestPeerCertificates":["{ro}"]}}"#),
        format!(r#"{{"User":"x","UserAuthNMethod":"TLS","RequestMethod":"GET","RequestUri":"/v1.41/containers/c1/archive?path=/","RequestPeerCertificates":["{ro}"]}}"#),
        format!(r#"{{"User":"x","UserAuthNMethod":"TLS","RequestMethod":"POST","RequestUri":"/v1.41/containers/create","RequestPeerCertificates":["{admin}"]}}"#),
        r#"{"RequestMethod":"GET","RequestUri":"/_ping"}"#.to_string(),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("authz request bodies", &seeds, 20_000, |input| {
        let answer = respond("/AuthZPlugin.AuthZReq", input, &trust, false);
        let allowed = answer.contains(r#""Allow":true"#);
        match parse_request(input) {
            Err(_) => assert!(!allowed, "an unreadable body was allowed: {answer}"),
            Ok(req) if allowed => {
                let ro_cert = req
                    .peer_certificates
                    .as_ref()
                    .is_some_and(|c| c.first() == Some(&ro));
                if ro_cert {
                    assert!(
                        req.method == "GET" || req.method == "HEAD",
                        "read-only allowed {} {}",
                        req.method,
                        req.uri
                    );
                }
            }
            Ok(_) => {}
        }
        let _ = respond("/AuthZPlugin.AuthZRes", input, &trust, false);
    });
}

/// Spellings of every route read-only must never reach: percent-encoding
/// of random characters (either hex case), absolute-form targets with random
/// schemes and authorities, version prefixes, names holding slashes. Every
/// one is refused; the same spellings of a plain read are allowed whenever
/// they normalize.
#[cfg(unix)]
#[test]
fn authz_route_spellings() {
    use docker_tlsctx::authz::policy::decide;
    use docker_tlsctx::authz::route::{normalize, Access, ROUTES};
    use docker_tlsctx::pki::Role;
    let mut rng = Rng(0x5eed_0019);
    let names = ["c1", "a/b", "json", "archive", "x%y", "é", "get", "-"];
    let spell = |rng: &mut Rng, template: &str| -> String {
        // Fill the variables.
        let mut path = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            path.push_str(&rest[..open]);
            let close = rest.find('}').unwrap();
            let any = rest[open..close].contains(":.");
            let mut n = names[rng.below(names.len())];
            if !any && n.contains('/') {
                n = "c1";
            }
            path.push_str(n);
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        // Encode some characters, in either case.
        let mut enc = String::new();
        for ch in path.chars() {
            if ch != '/' && rng.below(3) == 0 {
                let mut b = [0u8; 4];
                for byte in ch.encode_utf8(&mut b).bytes() {
                    if rng.below(2) == 0 {
                        enc.push_str(&format!("%{byte:02X}"));
                    } else {
                        enc.push_str(&format!("%{byte:02x}"));
                    }
                }
            } else if ch == '%' {
                enc.push_str("%25");
            } else {
                enc.push(ch);
            }
        }
        let versioned = match rng.below(3) {
            0 => enc,
            1 => format!("/v1.41{enc}"),
            _ => format!("/v{}.{}{enc}", rng.below(2), rng.below(50)),
        };
        let target = match rng.below(4) {
            0 => format!(
                "{}://{}{versioned}",
                ["http", "HTTP", "https", "unix", "x+y"][rng.below(5)],
                ["x", "127.0.0.1:2376", "a@b", ""][rng.below(4)]
            ),
            1 => format!("http:{versioned}"),
            _ => versioned,
        };
        if rng.below(2) == 0 {
            format!("{target}?path=/&x=%2F")
        } else {
            target
        }
    };
    let mut n = 0;
    for _ in 0..400 {
        for r in ROUTES {
            let target = spell(&mut rng, r.template);
            let got = decide(Role::ReadOnly, r.method, &target);
            match r.access {
                Access::Never(_) => assert!(
                    got.is_err(),
                    "{} {target} (route {}) was allowed",
                    r.method,
                    r.template
                ),
                Access::ReadWithoutQuery(_) if target.contains('?') => assert!(
                    got.is_err(),
                    "{} {target} (route {}) was allowed with a query",
                    r.method,
                    r.template
                ),
                Access::Read | Access::ReadWithoutQuery(_) => {
                    if normalize(&target).is_ok() {
                        assert_eq!(got, Ok(()), "{} {target} (route {})", r.method, r.template);
                    }
                }
            }
            for m in ["POST", "PUT", "DELETE", "OPTIONS", "get", "GET ", "PATCH"] {
                assert!(decide(Role::ReadOnly, m, &target).is_err(), "{m} {target}");
            }
            n += 8;
        }
    }
    println!("authz route spellings: {n} decisions, no findings");
}

/// The one HTTP reader (plugin requests, `check`'s responses) on mutated
/// input: no panic, and it ends.
#[test]
fn http_framing() {
    use docker_tlsctx::http1::Reader;
    let seeds: Vec<Vec<u8>> = [
        "POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: plugin\r\nContent-Length: 2\r\n\r\n{}",
        "POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "POST /Plugin.Activate HTTP/1.1\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("http request framing", &seeds, 20_000, |input| {
        let mut r = Reader::new(input);
        for _ in 0..input.len() + 2 {
            match r.next_request() {
                Ok(Some(req)) => assert!(req.body.len() <= input.len()),
                Ok(None) | Err(_) => return,
            }
        }
        panic!("the reader did not end");
    });
    let seeds: Vec<Vec<u8>> = [
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "HTTP/1.0 200 OK\r\n\r\n{\"Version\":\"27.0\"}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("http response framing", &seeds, 20_000, |input| {
        if let Ok(resp) = Reader::with_limit(input, 1 << 20).response() {
            assert!(resp.body.len() <= input.len());
        }
    });
}
