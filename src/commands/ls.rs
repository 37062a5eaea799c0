//! `docker tlsctx ls [--all]`: every managed context with expiry and state;
//! `--all` adds server bundles, client bundles and CAs.

use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::docker::host::Host;
use crate::error::{Error, Result};
use crate::issuance::renewal::health::{self, days_left, expiry, health_with, Health};
use crate::issuance::Env;
use crate::keystore::Backend;
use crate::pki::KeyType;
use crate::state::{IdentityRecord, ServerRecord};
use crate::text::date;
use crate::ui;

#[derive(Serialize)]
struct Row {
    name: String,
    host: Option<Host>,
    ca: String,
    cn: String,
    #[serde(with = "time::serde::rfc3339")]
    not_after: OffsetDateTime,
    days_left: i64,
    key_type: KeyType,
    keystore: Backend,
    /// Keychain-only: whether the agent serves it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
    #[serde(flatten)]
    health: Health,
}

pub fn run(env: &Env, args: &LsArgs) -> Result<()> {
    let state = env.state();
    // A damaged record is one broken row; every other identity still shows.
    let (ids, damaged) = state.identities_checked()?;
    let damaged: Vec<(String, String)> = damaged
        .iter()
        .map(|e| {
            let name = match e {
                Error::Corrupt { path, .. } => path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let (what, fix) = crate::explain::explain(e);
            (name, format!("{what} ({})", fix.unwrap_or_default()))
        })
        .collect();
    let (ctx_ids, bundles): (Vec<_>, Vec<_>) = ids.into_iter().partition(|i| i.context.is_some());
    let revoked = health::revoked_set(env);
    let row = |rec: &IdentityRecord| Row {
        name: rec.name.clone(),
        host: rec.host.clone(),
        ca: rec.ca.clone(),
        cn: rec.cn.clone(),
        not_after: rec.not_after,
        days_left: days_left(rec.not_after, env.now),
        key_type: rec.key_type,
        keystore: rec.keystore,
        agent: rec
            .keychain_only
            .then(|| crate::docker::endpoint::agent_state(&env.config_dir, &rec.name).to_string()),
        health: health_with(env, rec, &|ca, serial| {
            revoked.contains(&(ca.to_string(), serial.to_string()))
        }),
    };
    let rows: Vec<Row> = ctx_ids.iter().map(row).collect();
    if args.quiet {
        for r in &rows {
            println!("{}", r.name);
        }
        for (name, _) in &damaged {
            println!("{name}");
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
    // Requests made here and not accepted yet (`request`): no certificate,
    // a key in the keystore.
    let pending: Vec<_> = state
        .requests()?
        .into_iter()
        .filter(|p| !p.renewal)
        .collect();
    if args.format == LsFormat::Json {
        let mut v = json!({ "contexts": rows });
        if !pending.is_empty() {
            v["pending"] = pending
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "host": p.host.url(),
                        "cn": p.cn,
                        "role": p.role.map(|r| r.as_str()),
                        "spki_sha256": p.spki_sha256,
                        "created": crate::text::rfc3339(p.created),
                        "state": "pending",
                    })
                })
                .collect::<Vec<_>>()
                .into();
        }
        if !damaged.is_empty() {
            v["damaged"] = damaged
                .iter()
                .map(|(name, why)| json!({ "name": name, "state": "broken", "why": why }))
                .collect::<Vec<_>>()
                .into();
        }
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
        ui::print_json(&v);
        return Ok(());
    }
    let on = ui::colour();
    let broken = Health::Broken(String::new());
    let mut lines: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                match (r.host.as_ref().map(Host::url), r.agent.as_deref()) {
                    (Some(h), Some(a)) => format!("{h} (agent: {a})"),
                    (h, _) => h.unwrap_or_default(),
                },
                r.ca.clone(),
                crate::text::one_line(&r.cn),
                date(r.not_after),
                r.days_left.to_string(),
                r.key_type.to_string(),
                r.keystore.to_string(),
                ui::state_cell(&r.health, on),
            ]
        })
        .collect();
    for p in &pending {
        lines.push([
            p.name.clone(),
            p.host.url(),
            String::new(),
            crate::text::one_line(&p.cn),
            String::new(),
            String::new(),
            p.key_type.to_string(),
            p.keystore.to_string(),
            format!(
                "pending since {}: docker tlsctx accept RESPONSE",
                date(p.created)
            ),
        ]);
    }
    for (name, why) in &damaged {
        let cell = ui::state_cell(&broken, on).replacen("broken: ", &format!("broken: {why}"), 1);
        lines.push([
            name.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            cell,
        ]);
    }
    print!(
        "{}",
        ui::table(
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
        let (daemons, services): (Vec<_>, Vec<_>) =
            servers.iter().partition(|s| s.purpose.is_daemon());
        // NAME, SANS, CA, NOT AFTER, DAYS LEFT, STATE of a bundle.
        let cells = |s: &ServerRecord| {
            let h = expiry(s.not_before, s.not_after, env.now);
            let sans: Vec<String> = s.sans.iter().map(ToString::to_string).collect();
            [
                s.name.clone(),
                sans.join(","),
                s.ca.clone(),
                date(s.not_after),
                days_left(s.not_after, env.now).to_string(),
                ui::state_cell(&h, on),
            ]
        };
        let lines: Vec<[String; 6]> = daemons.iter().map(|s| cells(s)).collect();
        print!(
            "{}",
            ui::table(
                &["NAME", "SANS", "CA", "NOT AFTER", "DAYS LEFT", "STATE"],
                &lines
            )
        );
        // Only when there are some, so a listing without `cert` is as before.
        if !services.is_empty() {
            println!("\nSERVICE CERTIFICATES");
            let lines: Vec<[String; 7]> = services
                .iter()
                .map(|s| {
                    let [name, sans, ca, until, left, state] = cells(s);
                    [name, s.purpose.to_string(), sans, ca, until, left, state]
                })
                .collect();
            print!(
                "{}",
                ui::table(
                    &[
                        "NAME",
                        "KIND",
                        "SANS",
                        "CA",
                        "NOT AFTER",
                        "DAYS LEFT",
                        "STATE"
                    ],
                    &lines
                )
            );
        }
        println!("\nCLIENT BUNDLES");
        let lines: Vec<[String; 6]> = bundle_rows
            .iter()
            .map(|r| {
                [
                    r.name.clone(),
                    r.ca.clone(),
                    crate::text::one_line(&r.cn),
                    date(r.not_after),
                    r.days_left.to_string(),
                    ui::state_cell(&r.health, on),
                ]
            })
            .collect();
        print!(
            "{}",
            ui::table(
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
                    c.key_type.to_string(),
                    date(c.not_after),
                    c.keystore.to_string(),
                    ui::state_cell(&h, on),
                ]
            })
            .collect();
        print!(
            "{}",
            ui::table(
                &["NAME", "KEY TYPE", "NOT AFTER", "KEYSTORE", "STATE"],
                &lines
            )
        );
    }
    // One line once automatic renewal was set up or has run.
    if let Some(a) = env.state().autorenew().ok().flatten() {
        println!(
            "\n{}",
            crate::issuance::renewal::renew_due::status_line(
                Some(&a),
                // Windows: the record only. `ls` that started schtasks
                // under Wine did not end (twice in the Wine end-to-end run,
                // never when run by hand); `autorenew status` asks it.
                (!cfg!(windows))
                    .then(|| crate::issuance::renewal::schedule::query(&env.config_dir))
                    .as_ref(),
                env.now
            )
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = LsFormat::Table)]
    pub format: LsFormat,
    /// Only the context names
    #[arg(long, short)]
    pub quiet: bool,
    /// Also list server bundles, client bundles and CAs
    #[arg(long, short)]
    pub all: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LsFormat {
    Table,
    Json,
}
