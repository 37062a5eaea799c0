//! The life of an identity after `new`: `ls`, `inspect`, `renew`, `check`,
//! `rm`, and the expiry warnings (on every command, and through Docker CLI
//! hooks after `docker context use` and `ls`).
//!
//! dockerd has no revocation and reads its certificate only at start, so
//! short lifetimes, visible expiry and one-command renewal are the safety net.

use std::io::IsTerminal;

use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::{ca, check_cancelled, check_client_days, client, date, print_json, table, Env};
use crate::check;
use crate::cli::{Format, HooksCommand, InspectArgs, LsArgs, LsFormat, RenewArgs, RmArgs};
use crate::context::{validate_context_name, NewContext};
use crate::error::{Error, Result};
use crate::fsio;
use crate::keystore;
use crate::pki::{self, CertInfo, KeyType};
use crate::state::IdentityRecord;

/// An identity's state, from ls's point of view.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "why")]
pub enum Health {
    Ok,
    RenewSoon,
    Expired,
    Broken(String),
}

impl Health {
    fn label(&self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::RenewSoon => "renew soon",
            Health::Expired => "expired",
            Health::Broken(_) => "broken",
        }
    }
}

/// Renewal is due once a third of the lifetime remains (DESIGN §4): 30 days
/// of a 90-day certificate, about four months of a 397-day one.
pub fn expiry(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Health {
    if now >= not_after {
        Health::Expired
    } else if (not_after - now) * 3 < (not_after - not_before) {
        Health::RenewSoon
    } else {
        Health::Ok
    }
}

/// Checks what Docker will use: the context exists, its TLS files are there,
/// the certificate is the recorded one and the key belongs to it. Reads
/// files only: no keychain, so `ls` stays fast with a thousand contexts.
pub fn health(env: &Env, rec: &IdentityRecord) -> Health {
    let Some(ctx) = rec.context.as_deref() else {
        return expiry(rec.not_before, rec.not_after, env.now);
    };
    let contexts = env.contexts();
    if !contexts.exists(ctx) {
        return Health::Broken(format!(
            "the Docker context is gone (restore it: docker tlsctx restore {ctx})"
        ));
    }
    let dir = contexts.tls_dir(ctx).join("docker");
    let read = |f: &str| std::fs::read_to_string(dir.join(f));
    let (Ok(cert), Ok(key), true) = (
        read("cert.pem"),
        read("key.pem"),
        dir.join("ca.pem").is_file(),
    ) else {
        return Health::Broken(format!(
            "TLS files are missing (restore them: docker tlsctx restore {ctx} --force)"
        ));
    };
    // The recorded certificate, byte for byte (both are written from the same text).
    let recorded =
        std::fs::read_to_string(env.state().identity_cert_path(&rec.name)).unwrap_or_default();
    if cert != recorded {
        return Health::Broken(format!("cert.pem is not the recorded certificate (restore it: docker tlsctx restore {ctx} --force)"));
    }
    // The key by its recorded hash; records without one get the full check.
    let key_ok = match &rec.key_pem_sha256 {
        Some(h) => *h == client::sha256_hex(key.as_bytes()),
        None => pki::parse_private_key_pem(&key)
            .ok()
            .and_then(|der| pki::key_matches_cert(&der, &cert).ok())
            .unwrap_or(false),
    };
    if !key_ok {
        return Health::Broken(format!(
            "key.pem does not belong to cert.pem (restore it: docker tlsctx restore {ctx} --force)"
        ));
    }
    expiry(rec.not_before, rec.not_after, env.now)
}

fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (not_after - now).whole_days()
}

/// One line per identity that needs attention, naming the command that fixes it.
pub fn expiry_warnings(env: &Env) -> Vec<String> {
    let Ok(entries) = env.state().expiry_entries() else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|(name, e)| {
            let days = days_left(e.not_after, env.now);
            let fix = match &e.context {
                Some(c) => format!("docker tlsctx renew {c}"),
                None => format!("docker tlsctx client {name} --force"),
            };
            match expiry(e.not_before, e.not_after, env.now) {
                Health::Expired => Some(format!(
                    "identity {name:?} expired on {}; renew it: {fix}",
                    date(e.not_after)
                )),
                Health::RenewSoon => Some(format!(
                    "identity {name:?} expires in {days} days ({}); renew it: {fix}",
                    date(e.not_after)
                )),
                _ => None,
            }
        })
        .collect()
}

/// Colour only on a terminal and never with NO_COLOR (no-color.org).
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn paint(h: &Health, text: &str, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    let code = match h {
        Health::Ok => "32",
        Health::RenewSoon => "33",
        Health::Expired | Health::Broken(_) => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[derive(Serialize)]
struct Row {
    name: String,
    host: Option<String>,
    ca: String,
    cn: String,
    #[serde(with = "time::serde::rfc3339")]
    not_after: OffsetDateTime,
    days_left: i64,
    key_type: String,
    keystore: String,
    #[serde(flatten)]
    health: Health,
}

pub fn run_ls(env: &Env, args: &LsArgs) -> Result<()> {
    let state = env.state();
    let ids = state.identities()?;
    let (ctx_ids, bundles): (Vec<_>, Vec<_>) = ids.into_iter().partition(|i| i.context.is_some());
    let row = |rec: &IdentityRecord| Row {
        name: rec.name.clone(),
        host: rec.host.clone(),
        ca: rec.ca.clone(),
        cn: rec.cn.clone(),
        not_after: rec.not_after,
        days_left: days_left(rec.not_after, env.now),
        key_type: rec.key_type.clone(),
        keystore: rec.keystore.clone(),
        health: health(env, rec),
    };
    let rows: Vec<Row> = ctx_ids.iter().map(row).collect();
    if args.quiet {
        for r in &rows {
            println!("{}", r.name);
        }
        return Ok(());
    }
    let servers = if args.all {
        state.servers()?
    } else {
        Vec::new()
    };
    let cas = if args.all { state.cas()? } else { Vec::new() };
    let bundle_rows: Vec<Row> = if args.all {
        bundles.iter().map(row).collect()
    } else {
        Vec::new()
    };
    if args.format == LsFormat::Json {
        let mut v = json!({ "contexts": rows });
        if args.all {
            let servers: Vec<_> = servers
                .iter()
                .map(|s| {
                    let mut j = serde_json::to_value(s).expect("json");
                    j["days_left"] = days_left(s.not_after, env.now).into();
                    j["state"] = expiry(s.not_before, s.not_after, env.now).label().into();
                    j
                })
                .collect();
            v["servers"] = servers.into();
            v["client_bundles"] = serde_json::to_value(&bundle_rows).expect("json");
            v["cas"] = serde_json::to_value(&cas).expect("json");
        }
        print_json(&v);
        return Ok(());
    }
    let on = colour();
    let state_cell = |h: &Health| {
        let text = match h {
            Health::Broken(why) => format!("broken: {why}"),
            other => other.label().to_string(),
        };
        paint(h, &text, on)
    };
    let lines: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.host.clone().unwrap_or_default(),
                r.ca.clone(),
                r.cn.clone(),
                date(r.not_after),
                r.days_left.to_string(),
                r.key_type.clone(),
                r.keystore.clone(),
                state_cell(&r.health),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "NAME",
                "HOST",
                "CA",
                "CLIENT CN",
                "NOT AFTER",
                "DAYS LEFT",
                "KEY TYPE",
                "KEYSTORE",
                "STATE"
            ],
            &lines
        )
    );
    if args.all {
        println!("\nSERVER BUNDLES");
        let lines: Vec<[String; 6]> = servers
            .iter()
            .map(|s| {
                let h = expiry(s.not_before, s.not_after, env.now);
                [
                    s.name.clone(),
                    s.sans.join(","),
                    s.ca.clone(),
                    date(s.not_after),
                    days_left(s.not_after, env.now).to_string(),
                    state_cell(&h),
                ]
            })
            .collect();
        print!(
            "{}",
            table(
                &["NAME", "SANS", "CA", "NOT AFTER", "DAYS LEFT", "STATE"],
                &lines
            )
        );
        println!("\nCLIENT BUNDLES");
        let lines: Vec<[String; 6]> = bundle_rows
            .iter()
            .map(|r| {
                [
                    r.name.clone(),
                    r.ca.clone(),
                    r.cn.clone(),
                    date(r.not_after),
                    r.days_left.to_string(),
                    state_cell(&r.health),
                ]
            })
            .collect();
        print!(
            "{}",
            table(
                &["NAME", "CA", "CLIENT CN", "NOT AFTER", "DAYS LEFT", "STATE"],
                &lines
            )
        );
        println!("\nCAS");
        let lines: Vec<[String; 5]> = cas
            .iter()
            .map(|c| {
                let h = expiry(c.created, c.not_after, env.now);
                [
                    c.name.clone(),
                    c.key_type.clone(),
                    date(c.not_after),
                    c.keystore.clone(),
                    state_cell(&h),
                ]
            })
            .collect();
        print!(
            "{}",
            table(
                &["NAME", "KEY TYPE", "NOT AFTER", "KEYSTORE", "STATE"],
                &lines
            )
        );
    }
    Ok(())
}

fn cert_json(info: &CertInfo) -> serde_json::Value {
    json!({
        "subject": info.subject,
        "issuer": info.issuer,
        "serial": info.serial_hex,
        "sans": info.sans,
        "eku": info.ekus,
        "not_before": super::rfc3339(info.not_before),
        "not_after": super::rfc3339(info.not_after),
        "sha256": info.sha256,
        "key_type": info.key_type,
    })
}

pub fn run_inspect(env: &Env, args: &InspectArgs) -> Result<()> {
    validate_context_name(&args.name)?;
    let state = env.state();
    let rec = state
        .identity(&args.name)?
        .ok_or_else(|| Error::IdentityNotFound(args.name.clone()))?;
    let client = CertInfo::from_pem(&fsio::read_to_string(
        &state.identity_cert_path(&args.name),
    )?)?;
    let (ca_rec, ca_pem) = state
        .ca(&rec.ca)?
        .ok_or_else(|| Error::CaNotFound(rec.ca.clone()))?;
    let ca = CertInfo::from_pem(&ca_pem)?;
    let server = match state.server(&args.name)? {
        Some(s) => Some((
            CertInfo::from_pem(&fsio::read_to_string(&s.dir.join("server-cert.pem"))?)?,
            s,
        )),
        None => None,
    };
    let h = health(env, &rec);
    let mut v = json!({
        "name": rec.name,
        "context": rec.context,
        "host": rec.host,
        "state": h,
        "client": cert_json(&client),
        "client_key": { "keystore": rec.keystore, "account": client::account(&rec.name) },
        "ca": cert_json(&ca),
        "ca_key": { "name": ca_rec.name, "keystore": ca_rec.keystore, "account": ca::account(&ca_rec.name) },
    });
    if let Some((info, s)) = &server {
        v["server"] = cert_json(info);
        v["server"]["bundle"] = s.dir.display().to_string().into();
        v["server_key"] =
            json!({ "keystore": s.keystore, "account": super::server::account(&s.name) });
    }
    if args.format == Format::Json {
        print_json(&v);
        return Ok(());
    }
    println!(
        "Context:   {}",
        rec.context.as_deref().unwrap_or("(client bundle)")
    );
    println!("Host:      {}", rec.host.as_deref().unwrap_or("-"));
    println!(
        "State:     {}",
        match &h {
            Health::Broken(w) => format!("broken: {w}"),
            o => o.label().into(),
        }
    );
    let section = |title: &str, i: &CertInfo, key: String| {
        println!("\n{title}");
        println!("  Subject:     {}", i.subject);
        println!("  Issuer:      {}", i.issuer);
        println!("  Serial:      {}", i.serial_hex);
        if !i.sans.is_empty() {
            println!("  SANs:        {}", i.sans.join(", "));
        }
        println!(
            "  EKU:         {}",
            if i.ekus.is_empty() {
                "(none)".into()
            } else {
                i.ekus.join(", ")
            }
        );
        println!("  Not before:  {}", super::rfc3339(i.not_before));
        println!(
            "  Not after:   {} ({} days left)",
            super::rfc3339(i.not_after),
            days_left(i.not_after, env.now)
        );
        println!("  SHA-256:     {}", i.sha256);
        println!("  Key:         {} in the {key}", i.key_type);
    };
    section(
        "Client certificate",
        &client,
        format!("{} keystore ({})", rec.keystore, client::account(&rec.name)),
    );
    section(
        "CA",
        &ca,
        format!(
            "{} keystore ({})",
            ca_rec.keystore,
            ca::account(&ca_rec.name)
        ),
    );
    if let Some((info, s)) = &server {
        section(
            &format!("Server certificate ({})", s.dir.display()),
            info,
            format!(
                "{} keystore ({})",
                s.keystore,
                super::server::account(&s.name)
            ),
        );
    }
    Ok(())
}

/// `renew NAME`: a new client certificate from the same CA, the same key
/// unless `--rekey`. The context is swapped in one rename (context.rs), so
/// until then the old identity keeps working, and after a failure it still does.
pub fn run_renew(env: &Env, args: &RenewArgs) -> Result<()> {
    validate_context_name(&args.name)?;
    check_client_days(args.days)?;
    let state = env.state();
    let rec = state
        .identity(&args.name)?
        .ok_or_else(|| Error::IdentityNotFound(args.name.clone()))?;
    let (Some(ctx), Some(host)) = (rec.context.clone(), rec.host.clone()) else {
        return Err(Error::IdentityNotFound(args.name.clone()));
    };
    let (ca_rec, signer) = ca::load(env, &rec.ca)?;
    let ks = keystore::open_recorded(&rec.keystore, &env.config_dir)?;
    let account = client::account(&args.name);
    let kt: KeyType = rec.key_type.parse().map_err(|e: String| Error::Corrupt {
        path: state.identity_cert_path(&args.name),
        why: e,
    })?;
    let issued = if args.rekey {
        client::issue(env, &signer, &ca_rec.name, &rec.cn, kt, args.days)?
    } else {
        let key = ks.get(&account)?.ok_or_else(|| Error::KeyMissing {
            what: format!("identity {:?}", args.name),
            backend: rec.keystore.clone(),
            fix: format!(
                "renew with a new key: docker tlsctx renew {} --rekey",
                args.name
            ),
        })?;
        let issued = signer.reissue_client(&rec.cn, &key, kt, args.days, env.now, &ca_rec.name)?;
        super::warn_if_clamped(&issued, "client", &ca_rec.name, args.days);
        issued
    };
    check_cancelled()?;
    let contexts = env.contexts();
    // What Docker uses now, to put back if a later step fails.
    let old_dir = contexts.tls_dir(&ctx).join("docker");
    let old: Option<Vec<String>> = ["cert.pem", "key.pem", "ca.pem"]
        .iter()
        .map(|f| std::fs::read_to_string(old_dir.join(f)).ok())
        .collect();
    let key_pem = issued.key_pem();
    contexts.write(
        &NewContext {
            name: &ctx,
            description: rec.description.as_deref(),
            host: &host,
            ca_pem: &signer.cert_pem,
            cert_pem: &issued.cert_pem,
            key_pem: &key_pem,
        },
        true,
        check_cancelled,
    )?;
    if args.rekey {
        if let Err(e) = ks.set(&account, &issued.key_der()) {
            // The keystore must keep matching the context: put the old files back.
            if let Some(o) = &old {
                let _ = contexts.write(
                    &NewContext {
                        name: &ctx,
                        description: rec.description.as_deref(),
                        host: &host,
                        ca_pem: &o[2],
                        cert_pem: &o[0],
                        key_pem: &o[1],
                    },
                    true,
                    || Ok(()),
                );
            }
            return Err(e);
        }
    }
    let mut new_rec = rec.clone();
    new_rec.key_pem_sha256 = Some(client::sha256_hex(key_pem.as_bytes()));
    new_rec.serial = issued.serial_hex.clone();
    new_rec.not_before = issued.not_before;
    new_rec.not_after = issued.not_after;
    state.write_identity(&new_rec, &issued.cert_pem)?;
    println!(
        "Renewed {:?}: new client certificate (serial {}, {}) valid until {} (was {}).",
        args.name,
        &new_rec.serial[..8],
        if args.rekey { "new key" } else { "same key" },
        date(new_rec.not_after),
        date(rec.not_after)
    );
    Ok(())
}

pub fn run_check(env: &Env, name: &str) -> Result<()> {
    validate_context_name(name)?;
    let contexts = env.contexts();
    let host = contexts
        .host(name)?
        .ok_or_else(|| Error::ContextMissing(name.into()))?;
    let parsed = super::Host::parse(&host, true)?;
    let dir = contexts.tls_dir(name).join("docker");
    let read = |f: &str| fsio::read_to_string(&dir.join(f));
    let (ca_pem, cert_pem, key_pem) = (read("ca.pem")?, read("cert.pem")?, read("key.pem")?);
    let hostname = parsed.name();
    let started = std::time::Instant::now();
    let outcome = check::probe(&check::Material {
        host: &hostname,
        port: parsed.port,
        ca_pem: &ca_pem,
        cert_pem: &cert_pem,
        key_pem: &key_pem,
    });
    let took = started.elapsed().as_millis();
    let hp = format!("{hostname}:{}", parsed.port);
    let fail = |what: String, fix: String| Err(Error::CheckFailed { what, fix });
    match outcome {
        check::Outcome::Ok { version, api_version } => {
            let client = CertInfo::from_pem(&cert_pem)?;
            println!("ok: {host} answered with Docker Engine {version} (API {api_version}) in {took} ms");
            println!("client certificate valid until {} ({} days left)", date(client.not_after), days_left(client.not_after, env.now));
            Ok(())
        }
        check::Outcome::ServerCertExpired { not_after } => fail(
            format!("the daemon's server certificate expired on {not_after}"),
            format!("renew it (docker tlsctx server renew {name}), copy the new files to the host and restart dockerd"),
        ),
        check::Outcome::ServerCertNotYetValid { not_before } => fail(
            format!("the daemon's server certificate is not valid before {not_before}"),
            "check the clocks of this machine and of the daemon host (NTP)".into(),
        ),
        check::Outcome::HostNotInSans { host: h, sans } => fail(
            format!("{h} is not covered by the daemon's server certificate (it covers: {})", sans.join(", ")),
            format!("add it: docker tlsctx server renew {name} --add-san {h}, then copy the bundle and restart dockerd; or use a host name the certificate covers"),
        ),
        check::Outcome::UnknownAuthority { issuer } => fail(
            format!("the daemon at {hp} presents a certificate from another CA ({issuer})"),
            "this context trusts a different CA than the daemon uses: install this context's server bundle on the daemon, or import the daemon's CA (docker tlsctx ca import) and issue the context from it".into(),
        ),
        check::Outcome::ClientCertRefused { alert } => fail(
            format!("the daemon at {hp} refused this context's client certificate (TLS alert {alert})"),
            "the daemon trusts another CA, or the certificate expired: compare with docker tlsctx inspect, renew with docker tlsctx renew".into(),
        ),
        check::Outcome::PlainHttp => fail(
            format!("{hp} speaks plain HTTP, not TLS: the daemon there is open to anyone who can reach it"),
            "configure dockerd with --tlsverify (install the server bundle: docker tlsctx server ...), and use port 2376; never expose 2375".into(),
        ),
        check::Outcome::NotTls { detail } => fail(format!("{hp} does not speak TLS ({detail})"), "check the port: dockerd's TLS port is usually 2376".into()),
        check::Outcome::ConnectionRefused => fail(
            format!("connection refused by {hp}: nothing listens there"),
            "start dockerd on the host, and check that its daemon.json hosts include tcp://0.0.0.0:PORT".into(),
        ),
        check::Outcome::TimedOut => fail(
            format!("no answer from {hp} within {} s", check::TIMEOUT.as_secs()),
            "check the address, the host's firewall and any security group for the port".into(),
        ),
        check::Outcome::Other(why) => fail(why, "run docker --context NAME version for Docker's own message".into()),
    }
}

pub fn run_rm(env: &Env, args: &RmArgs) -> Result<()> {
    validate_context_name(&args.name)?;
    let state = env.state();
    let contexts = env.contexts();
    let rec = state.identity(&args.name)?;
    if rec.is_none() && !contexts.exists(&args.name) {
        return Err(Error::ContextMissing(args.name.clone()));
    }
    let current = contexts.current()?.as_deref() == Some(args.name.as_str());
    if current && !args.force {
        return Err(Error::ContextInUse(args.name.clone()));
    }
    check_cancelled()?;
    // Docker first: from here on Docker no longer offers the context.
    contexts.remove(&args.name)?;
    if current {
        contexts.clear_current()?;
    }
    let mut removed = vec![format!("context {:?}", args.name)];
    if let Some(rec) = rec {
        let ks = keystore::open_recorded(&rec.keystore, &env.config_dir)?;
        ks.delete(&client::account(&args.name))?;
        state.remove_identity(&args.name)?;
        removed.push(format!(
            "identity record and client key ({} keystore)",
            rec.keystore
        ));
    }
    if let Some(s) = state.server(&args.name)? {
        let ks = keystore::open_recorded(&s.keystore, &env.config_dir)?;
        ks.delete(&super::server::account(&s.name))?;
        state.remove_server(&s)?;
        removed.push(format!("server bundle {} and its key", s.dir.display()));
    }
    println!("Removed {}.", removed.join(", "));
    Ok(())
}

/// `hooks enable|disable`: config.json's `features.hooks` and
/// `plugins.tlsctx.hooks` (docker/cli cli-plugins/manager/hooks.go reads
/// them), every other key kept.
pub fn run_hooks(env: &Env, cmd: &HooksCommand) -> Result<()> {
    let contexts = env.contexts();
    contexts.edit_config(|doc| match cmd {
        HooksCommand::Enable => {
            let features = doc.entry("features").or_insert_with(|| json!({}));
            if let Some(f) = features.as_object_mut() {
                f.insert("hooks".into(), "true".into());
            }
            let plugins = doc.entry("plugins").or_insert_with(|| json!({}));
            if let Some(p) = plugins.as_object_mut() {
                let ours = p
                    .entry(crate::plugin::PLUGIN_NAME)
                    .or_insert_with(|| json!({}));
                if let Some(o) = ours.as_object_mut() {
                    o.insert("hooks".into(), HOOKED_COMMANDS.into());
                }
            }
        }
        HooksCommand::Disable => {
            if let Some(p) = doc.get_mut("plugins").and_then(|p| p.as_object_mut()) {
                if let Some(o) = p
                    .get_mut(crate::plugin::PLUGIN_NAME)
                    .and_then(|o| o.as_object_mut())
                {
                    o.remove("hooks");
                }
            }
        }
    })?;
    match cmd {
        HooksCommand::Enable => println!(
            "Docker will show expiry hints after: {}",
            HOOKED_COMMANDS.replace(',', ", ")
        ),
        HooksCommand::Disable => println!("Expiry hints after docker commands are off."),
    }
    Ok(())
}

/// The commands after which Docker asks us for hints.
pub const HOOKED_COMMANDS: &str = "context use,context ls";

/// `docker-cli-plugin-hooks <json>`: the hint lines for Docker to print
/// under "What's next". Reads only our records: it runs after every hooked
/// docker command. The template must not contain Go template braces.
pub fn hook_response(env: &Env) -> String {
    let lines = expiry_warnings(env);
    let template = lines
        .iter()
        .map(|l| l.replace("{{", "{ {"))
        .collect::<Vec<_>>()
        .join("\n");
    json!({ "Type": 0, "Template": template }).to_string()
}
