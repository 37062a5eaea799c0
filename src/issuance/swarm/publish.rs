//! A bundle's certificate as versioned swarm secrets (ARCHITECTURE.md,
//! "Swarm"): publish a version, move services to the next one, prune what
//! no service uses. Swarm secrets are immutable (only labels change) and
//! one in use cannot be removed, so a rotation adds a version, updates the
//! services and only then removes the old one.
//!
//! Secret names are `<prefix>-<file>-v<N>` with file `ca.pem`, `cert.pem`
//! or `key.pem`; N grows and is never reused (the highest N seen in the
//! swarm or recorded in `tlsctx/swarm/<cluster>.json`, plus one).

use std::collections::{BTreeMap, BTreeSet};

use crate::docker::swarm::{Docker, Mount, Secret, Service};
use crate::error::{Error, Result};
use crate::fsio;
use crate::issuance::Env;
use crate::pki::{self, CertInfo};
use crate::state::{ServerRecord, SwarmRotation};
use crate::text;

/// Label keys (reverse DNS of the project's home, as Docker asks of labels).
pub const LABEL_TOOL: &str = "io.github.docker-tlsctx.tool";
pub const LABEL_BUNDLE: &str = "io.github.docker-tlsctx.bundle";
pub const LABEL_PREFIX: &str = "io.github.docker-tlsctx.prefix";
pub const LABEL_FILE: &str = "io.github.docker-tlsctx.file";
pub const LABEL_VERSION: &str = "io.github.docker-tlsctx.version";
pub const LABEL_NOT_AFTER: &str = "io.github.docker-tlsctx.not-after";
pub const LABEL_SHA256: &str = "io.github.docker-tlsctx.sha256";

/// The three secrets of a version, in the order they are created.
pub const FILES: [File; 3] = [File::Ca, File::Cert, File::Key];

pub use crate::names::MAX_PREFIX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum File {
    Ca,
    Cert,
    Key,
}

impl File {
    pub fn as_str(self) -> &'static str {
        match self {
            File::Ca => "ca.pem",
            File::Cert => "cert.pem",
            File::Key => "key.pem",
        }
    }

    fn parse(s: &str) -> Option<File> {
        FILES.into_iter().find(|f| f.as_str() == s)
    }
}

/// `<prefix>-<file>-v<N>`.
pub fn secret_name(prefix: &str, file: File, version: u32) -> String {
    format!("{prefix}-{}-v{version}", file.as_str())
}

/// The file and version of a secret named by `secret_name` for `prefix`.
pub fn parse_name(prefix: &str, name: &str) -> Option<(File, u32)> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let (file, version) = rest.rsplit_once("-v")?;
    if version.is_empty()
        || !version.bytes().all(|b| b.is_ascii_digit())
        || version.starts_with('0')
    {
        return None;
    }
    Some((File::parse(file)?, version.parse().ok()?))
}

/// Swarm's name rule for the prefix (names::is_swarm_prefix).
pub fn validate_prefix(prefix: &str) -> Result<()> {
    if crate::names::is_swarm_prefix(prefix) {
        Ok(())
    } else {
        Err(Error::PrefixInvalid(prefix.into()))
    }
}

/// One published version of a bundle under one prefix.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Version {
    pub bundle: String,
    pub prefix: String,
    pub version: u32,
    /// The secrets of this version that exist (all three unless a publish
    /// was cut short).
    pub secrets: Vec<String>,
    pub complete: bool,
    pub not_after: Option<String>,
    pub sha256: Option<String>,
    /// Services whose spec mounts one of its secrets.
    pub services: Vec<String>,
    /// Not the newest version of its prefix, and no service uses it.
    pub prunable: bool,
}

/// Groups our secrets (those with LABEL_BUNDLE) into versions and says who
/// uses each. Pure, so it is tested in memory.
pub fn versions(secrets: &[Secret], services: &[Service]) -> Vec<Version> {
    let mut by: BTreeMap<(String, String, u32), Version> = BTreeMap::new();
    for s in secrets {
        let (Some(bundle), Some(prefix)) = (s.labels.get(LABEL_BUNDLE), s.labels.get(LABEL_PREFIX))
        else {
            continue;
        };
        let Some((file, version)) = parse_name(prefix, &s.name) else {
            continue;
        };
        let v = by
            .entry((bundle.clone(), prefix.clone(), version))
            .or_insert_with(|| Version {
                bundle: bundle.clone(),
                prefix: prefix.clone(),
                version,
                secrets: Vec::new(),
                complete: false,
                not_after: None,
                sha256: None,
                services: Vec::new(),
                prunable: false,
            });
        v.secrets.push(s.name.clone());
        if file == File::Cert {
            v.not_after = s.labels.get(LABEL_NOT_AFTER).cloned();
            v.sha256 = s.labels.get(LABEL_SHA256).cloned();
        }
        for svc in services {
            if svc.mounts.iter().any(|m| m.secret_name == s.name) && !v.services.contains(&svc.name)
            {
                v.services.push(svc.name.clone());
            }
        }
    }
    let mut newest: BTreeMap<(String, String), u32> = BTreeMap::new();
    for (bundle, prefix, n) in by.keys() {
        let e = newest.entry((bundle.clone(), prefix.clone())).or_default();
        *e = (*e).max(*n);
    }
    by.into_values()
        .map(|mut v| {
            v.secrets.sort();
            v.services.sort();
            v.complete = v.secrets.len() == FILES.len();
            let is_newest = newest[&(v.bundle.clone(), v.prefix.clone())] == v.version;
            v.prunable = !is_newest && v.services.is_empty();
            v
        })
        .collect()
}

/// The highest version any secret of `prefix` has in the swarm, ours or not.
fn highest_in_swarm(prefix: &str, secrets: &[Secret]) -> u32 {
    secrets
        .iter()
        .filter_map(|s| parse_name(prefix, &s.name))
        .map(|(_, n)| n)
        .max()
        .unwrap_or(0)
}

/// What `swarm publish` made.
#[derive(Debug, Clone)]
pub struct Published {
    pub bundle: String,
    pub prefix: String,
    pub version: u32,
    pub secrets: Vec<String>,
    pub not_after: time::OffsetDateTime,
    pub sha256: String,
    /// The certificate's serial (hex, as records keep it).
    pub serial: String,
    /// The swarm's cluster ID.
    pub cluster: String,
}

/// The bundle's three files, read from its folder and checked to belong
/// together (the certificate is the record's, the key is the
/// certificate's), so a damaged bundle is never published.
fn material(env: &Env, rec: &ServerRecord) -> Result<(CertInfo, [Vec<u8>; 3])> {
    let dir = env.state().server_dir(rec);
    let key_path = dir.join(rec.key_file());
    fsio::refuse_symlink(&key_path)?;
    let ca = fsio::read_to_string(&dir.join("ca.pem"))?;
    let cert = fsio::read_to_string(&dir.join(rec.cert_file()))?;
    let key = fsio::read_to_string(&key_path)?;
    let info = CertInfo::from_pem(&cert)?;
    let corrupt = |why: &str| Error::Corrupt {
        path: dir.clone(),
        why: format!(
            "{why}; re-issue it with docker tlsctx server renew {}",
            rec.name
        ),
    };
    if info.serial_hex != rec.serial {
        return Err(corrupt("its certificate is not the one its record names"));
    }
    let der = pki::parse_private_key_pem(&key).map_err(|_| corrupt("its key file holds no key"))?;
    if !pki::key_matches_cert(&der, &cert)? {
        return Err(corrupt("its key does not match its certificate"));
    }
    Ok((info, [ca.into_bytes(), cert.into_bytes(), key.into_bytes()]))
}

pub(super) fn bundle_record(env: &Env, name: &str) -> Result<ServerRecord> {
    crate::names::validate("bundle", name)?;
    env.state()
        .server(name)?
        .ok_or_else(|| Error::ServerNotFound(name.into()))
}

/// `swarm publish NAME`: the next version of the bundle's CA, certificate
/// and key as secrets. The version number is recorded before the first
/// secret is made, so not even a publish cut short reuses it; a failure
/// removes the secrets this call made.
pub fn publish(env: &Env, docker: &Docker, name: &str, prefix: Option<&str>) -> Result<Published> {
    let rec = bundle_record(env, name)?;
    let prefix = prefix.unwrap_or(name);
    validate_prefix(prefix)?;
    let (info, data) = material(env, &rec)?;
    for (f, d) in FILES.iter().zip(&data) {
        if d.len() > crate::docker::swarm::MAX_SECRET_SIZE {
            return Err(Error::SecretTooLarge {
                name: f.as_str().into(),
                size: d.len(),
            });
        }
    }
    let cluster = docker.require_manager()?;
    let secrets = docker.secrets()?;
    let state = env.state();
    let mut counters = state.swarm_versions(&cluster)?;
    let last = counters.last.get(prefix).copied().unwrap_or(0);
    let version = last.max(highest_in_swarm(prefix, &secrets)) + 1;
    counters.last.insert(prefix.into(), version);
    state.write_swarm_versions(&cluster, &counters)?;
    let labels = |file: File| {
        vec![
            (
                LABEL_TOOL.to_string(),
                format!("docker-tlsctx {}", env!("CARGO_PKG_VERSION")),
            ),
            (LABEL_BUNDLE.to_string(), name.to_string()),
            (LABEL_PREFIX.to_string(), prefix.to_string()),
            (LABEL_FILE.to_string(), file.as_str().to_string()),
            (LABEL_VERSION.to_string(), version.to_string()),
            (LABEL_NOT_AFTER.to_string(), text::rfc3339(info.not_after)),
            (LABEL_SHA256.to_string(), info.sha256.clone()),
        ]
    };
    let mut made: Vec<String> = Vec::new();
    for (file, bytes) in FILES.iter().zip(&data) {
        let secret = secret_name(prefix, *file, version);
        // A cancellation between two secrets, or during one, leaves no
        // incomplete version behind (issue 19: it left them).
        let created = env
            .check_cancelled()
            .and_then(|()| docker.create_secret(&secret, &labels(*file), bytes));
        if let Err(e) = created {
            let cleanup = docker.for_cleanup(std::time::Duration::from_secs(20));
            // The one being created may exist already if docker finished.
            for m in made.iter().chain(std::iter::once(&secret)) {
                let _ = cleanup.remove_secret(m);
            }
            return Err(e);
        }
        made.push(secret);
    }
    Ok(Published {
        bundle: name.into(),
        prefix: prefix.into(),
        version,
        secrets: made,
        not_after: info.not_after,
        sha256: info.sha256,
        serial: info.serial_hex,
        cluster,
    })
}

/// `swarm publish --rotate-on-renew` (Some) or `--no-rotate-on-renew`
/// (None): what `renew --due` does with the bundle's next renewals.
pub fn set_rotate_on_renew(env: &Env, name: &str, rotation: Option<SwarmRotation>) -> Result<()> {
    let mut rec = bundle_record(env, name)?;
    if rec.renewal.swarm != rotation {
        rec.renewal.swarm = rotation;
        env.state().write_server(&rec)?;
    }
    Ok(())
}

/// Where `--target-*` put each file (names under /run/secrets/).
#[derive(Debug, Default, Clone)]
pub struct Targets {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub ca: Option<String>,
}

impl Targets {
    fn get(&self, f: File) -> Option<&String> {
        match f {
            File::Ca => self.ca.as_ref(),
            File::Cert => self.cert.as_ref(),
            File::Key => self.key.as_ref(),
        }
    }
}

/// One service's move: the secrets it drops and the mounts it gains.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    pub service: String,
    pub remove: Vec<String>,
    pub add: Vec<Mount>,
    /// The version it is on before the move (None: none of ours).
    pub from: Option<u32>,
}

/// Plans `svc`'s move to `version`: every mount of a secret of `prefix`
/// is replaced by the same file of the new version at the same target,
/// uid, gid and mode; a `--target-*` flag names (or renames) a file's
/// target. Pure, so it is tested in memory.
pub fn plan_move(svc: &Service, prefix: &str, version: u32, targets: &Targets) -> Option<Move> {
    let mut remove = BTreeSet::new();
    let mut keep: BTreeMap<File, Vec<Mount>> = BTreeMap::new();
    let mut from = None;
    for m in &svc.mounts {
        if let Some((file, n)) = parse_name(prefix, &m.secret_name) {
            remove.insert(m.secret_name.clone());
            keep.entry(file).or_default().push(m.clone());
            from = Some(from.map_or(n, |f: u32| f.max(n)));
        }
    }
    let mut add = Vec::new();
    for file in FILES {
        let source = secret_name(prefix, file, version);
        match (targets.get(file), keep.get(&file)) {
            (Some(t), old) => {
                // The owner and mode it had, or Docker's defaults (root,
                // 0444) with the key readable by its owner only.
                let base = old.and_then(|o| o.first());
                add.push(Mount {
                    secret_name: source,
                    target: t.clone(),
                    uid: base.map_or("0".into(), |b| b.uid.clone()),
                    gid: base.map_or("0".into(), |b| b.gid.clone()),
                    mode: base.map_or(if file == File::Key { 0o400 } else { 0o444 }, |b| b.mode),
                });
            }
            (None, Some(old)) => {
                for o in old {
                    add.push(Mount {
                        secret_name: source.clone(),
                        ..o.clone()
                    });
                }
            }
            (None, None) => {}
        }
    }
    if add.is_empty() {
        return None;
    }
    Some(Move {
        service: svc.name.clone(),
        remove: remove.into_iter().collect(),
        add,
        from,
    })
}

/// `swarm ls`: every version of every bundle in the swarm.
pub fn list(docker: &Docker) -> Result<Vec<Version>> {
    docker.require_manager()?;
    Ok(versions(&docker.secrets()?, &docker.services()?))
}

/// `swarm prune NAME`: removes the versions of NAME no service uses,
/// keeping each prefix's newest. Returns the secrets removed.
pub fn prune(docker: &Docker, name: &str) -> Result<Vec<String>> {
    crate::names::validate("bundle", name)?;
    let all = list(docker)?;
    let mut removed = Vec::new();
    for v in all.iter().filter(|v| v.bundle == name && v.prunable) {
        for s in &v.secrets {
            docker.remove_secret(s)?;
            removed.push(s.clone());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(prefix: &str, file: File, v: u32) -> Secret {
        let mut labels = BTreeMap::new();
        labels.insert(LABEL_BUNDLE.into(), "web".into());
        labels.insert(LABEL_PREFIX.into(), prefix.into());
        labels.insert(LABEL_SHA256.into(), format!("fp{v}"));
        Secret {
            id: format!("id-{v}-{}", file.as_str()),
            name: secret_name(prefix, file, v),
            labels,
        }
    }

    fn mount(name: &str, target: &str, mode: u32) -> Mount {
        Mount {
            secret_name: name.into(),
            target: target.into(),
            uid: "101".into(),
            gid: "101".into(),
            mode,
        }
    }

    fn service(name: &str, mounts: Vec<Mount>) -> Service {
        Service {
            id: format!("id-{name}"),
            name: name.into(),
            replicas: Some(1),
            mounts,
            previous_mounts: Vec::new(),
            update: None,
            update_order: "start-first".into(),
            update_parallelism: 1,
        }
    }

    #[test]
    fn names_round_trip_and_refuse_look_alikes() {
        assert_eq!(secret_name("web", File::Key, 12), "web-key.pem-v12");
        assert_eq!(parse_name("web", "web-key.pem-v12"), Some((File::Key, 12)));
        assert_eq!(parse_name("web", "web-ca.pem-v1"), Some((File::Ca, 1)));
        for other in [
            "web2-key.pem-v1",
            "web-key.pem-v",
            "web-key.pem-v01",
            "web-key-v1",
            "web-key.pem-vx",
            "api-cert.pem-v1",
        ] {
            assert_eq!(parse_name("web", other), None, "{other}");
        }
        // A prefix that is itself "web-cert.pem"-like does not confuse it.
        assert_eq!(parse_name("a.b", "a.b-cert.pem-v3"), Some((File::Cert, 3)));
    }

    #[test]
    fn prefixes_follow_swarm_rules() {
        for ok in ["web", "a.b_c-d", "W3"] {
            validate_prefix(ok).unwrap();
        }
        for bad in [
            "",
            "a+b",
            "-web",
            "web.",
            "a b",
            &"x".repeat(MAX_PREFIX + 1),
        ] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
        // The longest prefix still gives a name swarm accepts (at most 64).
        assert!(secret_name(&"x".repeat(MAX_PREFIX), File::Cert, 99_999).len() <= 64);
    }

    #[test]
    fn versions_group_and_say_what_can_go() {
        let mut secrets = Vec::new();
        for v in 1..=3 {
            for f in FILES {
                secrets.push(secret("web", f, v));
            }
        }
        // A publish cut short left v4 with its CA only; a foreign secret
        // without our labels is not listed.
        secrets.push(secret("web", File::Ca, 4));
        secrets.push(Secret {
            id: "x".into(),
            name: "web-cert.pem-v9".into(),
            labels: BTreeMap::new(),
        });
        let svcs = vec![
            service("a", vec![mount("web-cert.pem-v2", "cert.pem", 0o444)]),
            service("b", vec![mount("web-key.pem-v3", "key.pem", 0o400)]),
        ];
        let vs = versions(&secrets, &svcs);
        let by: Vec<(u32, bool, bool, Vec<String>)> = vs
            .iter()
            .map(|v| (v.version, v.complete, v.prunable, v.services.clone()))
            .collect();
        assert_eq!(
            by,
            [
                (1, true, true, vec![]),
                (2, true, false, vec!["a".to_string()]),
                (3, true, false, vec!["b".to_string()]),
                (4, false, false, vec![]),
            ]
        );
        assert_eq!(vs[1].sha256.as_deref(), Some("fp2"));
        assert_eq!(highest_in_swarm("web", &secrets), 9);
    }

    #[test]
    fn a_move_keeps_targets_owner_and_mode() {
        let svc = service(
            "web",
            vec![
                mount("web-cert.pem-v1", "site.crt", 0o444),
                mount("web-key.pem-v1", "site.key", 0o400),
                mount("other", "other", 0o444),
            ],
        );
        let mv = plan_move(&svc, "web", 2, &Targets::default()).unwrap();
        assert_eq!(mv.from, Some(1));
        assert_eq!(mv.remove, ["web-cert.pem-v1", "web-key.pem-v1"]);
        assert_eq!(
            mv.add,
            [
                mount("web-cert.pem-v2", "site.crt", 0o444),
                mount("web-key.pem-v2", "site.key", 0o400)
            ]
        );
        // --target-ca adds the CA too; --target-cert renames the target.
        let t = Targets {
            ca: Some("ca.pem".into()),
            cert: Some("tls.crt".into()),
            key: None,
        };
        let mv = plan_move(&svc, "web", 2, &t).unwrap();
        let targets: Vec<&str> = mv.add.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(targets, ["ca.pem", "tls.crt", "site.key"]);
        assert_eq!(mv.add[0].mode, 0o444);
        assert_eq!(mv.add[0].uid, "0");
        assert_eq!(mv.add[1].uid, "101");
    }

    #[test]
    fn a_service_without_our_secrets_needs_targets() {
        let svc = service("api", vec![mount("other", "x", 0o444)]);
        assert_eq!(plan_move(&svc, "web", 2, &Targets::default()), None);
        let t = Targets {
            key: Some("k".into()),
            ..Targets::default()
        };
        let mv = plan_move(&svc, "web", 2, &t).unwrap();
        assert_eq!(mv.from, None);
        assert!(mv.remove.is_empty());
        assert_eq!(
            mv.add,
            [Mount {
                uid: "0".into(),
                gid: "0".into(),
                ..mount("web-key.pem-v2", "k", 0o400)
            }]
        );
    }
}
