//! `docker tlsctx new NAME --host tcp://HOST[:PORT]`.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::args::{Format, KeyTypeArg, P12Opts};
use crate::error::Result;
use crate::issuance::identities::new::{self, Created, P12Request, Request};
use crate::issuance::{install, Env};
use crate::text::{date, rfc3339};
use crate::ui;

pub fn run(env: &Env, args: &NewArgs) -> Result<()> {
    let req = Request {
        name: &args.name,
        host: &args.host,
        sans: &args.sans,
        server_dir: args.server_dir.clone(),
        no_server: args.no_server,
        cn: args.cn.as_deref(),
        ca: args.issuer.as_deref().unwrap_or(&args.ca),
        days: args.days,
        server_days: args.server_days,
        key_type: args.key_type.key_type,
        role: args.role,
        description: args.description.as_deref(),
        daemon_dir: &args.daemon_dir,
        authz: args.authz,
        use_it: args.use_it,
        force: args.force,
        p12: args.p12.as_ref().map(|p| P12Request {
            path: p.clone(),
            profile: args.p12_opts.p12_profile,
            password_stdin: args.p12_opts.password_stdin,
        }),
        keychain: args.p12_opts.keychain,
        keychain_only: args.keychain_only,
    };
    let c = new::run(env, &req, &ui::Spinner::default())?;
    for n in &c.notes {
        eprintln!("Note: {n}");
    }
    if let Some(s) = &c.server {
        ui::warn_if_clamped(
            c.server_clamped,
            s.not_after,
            "server",
            &c.ca.name,
            args.server_days,
        );
    }
    ui::warn_if_clamped(
        c.client_clamped,
        c.identity.not_after,
        "client",
        &c.ca.name,
        args.days,
    );
    if let Some(w) = &c.p12 {
        ui::report_p12(w, &c.identity.cn);
    }
    if let Some(login) = &c.keychain {
        ui::report_keychain(login, &c.identity.cn, &c.host);
    }
    match args.format {
        Format::Json => ui::print_json(&json!({
            "context": args.name,
            "host": c.host.url(),
            "current": args.use_it,
            "ca": { "name": c.ca.name, "created": c.created_ca, "not_after": rfc3339(c.ca.not_after), "keystore": c.ca.keystore },
            "server": c.server,
            "identity": c.identity,
        })),
        Format::Text => print_text(args, &c),
    }
    if let Some(ssh) = &args.ssh {
        // The context exists from here on; a failed install says how to
        // try again (`server install NAME`), the host keeps its old setup.
        let done = install::install(
            env,
            &args.name,
            &install::Options {
                ssh: Some(ssh),
                context: Some(&args.name),
                dry_run: false,
                yes: args.yes,
                force: false,
                confirm: &ui::ask_yes,
                progress: &ui::progress,
            },
        )
        .inspect_err(|_| {
            eprintln!(
                "The context {:?} and its server bundle were created; the host was not changed (or was restored). Once fixed: docker tlsctx server install {} --ssh {ssh}",
                args.name, args.name
            )
        })?;
        if args.format == Format::Text {
            ui::report_install(&done);
        }
    }
    Ok(())
}

fn print_text(args: &NewArgs, c: &Created) {
    if c.created_ca {
        println!(
            "Created CA {:?} ({}, valid until {}); its key is in {}.",
            c.ca.name,
            c.ca.key_type,
            date(c.ca.not_after),
            c.keystore
        );
    } else {
        println!(
            "Using CA {:?} (valid until {}).",
            c.ca.name,
            date(c.ca.not_after)
        );
    }
    if let Some(s) = &c.server {
        let sans: Vec<String> = s.sans.iter().map(ToString::to_string).collect();
        println!(
            "Issued server certificate for {} (valid until {}) in {}",
            sans.join(", "),
            date(s.not_after),
            s.dir.display()
        );
    }
    let id = &c.identity;
    println!(
        "Issued client identity {:?} (CN {}, {}, valid until {}).",
        id.name,
        id.cn,
        id.key_type,
        date(id.not_after)
    );
    let current = if args.use_it {
        " and made it the current context"
    } else {
        ""
    };
    println!(
        "Created context {:?} for {}{current}.",
        args.name,
        c.host.url()
    );
    if id.keychain_only {
        println!(
            "The client key is only in {}: Docker reaches the daemon through the agent, which loads it into memory.",
            c.keystore
        );
        println!(
            "\nStart it (or install it, started on first use: docker tlsctx agent install):\n  docker tlsctx agent {}",
            args.name
        );
    }
    if let (Some(s), None) = (&c.server, &args.ssh) {
        print!(
            "\n{}",
            ui::server_next_steps(
                &args.name,
                &s.dir,
                &args.daemon_dir,
                &c.host.name(),
                s.host.authz
            )
        );
    }
    if args.ssh.is_none() {
        println!("\nThen: docker --context {} version", args.name);
    }
}

#[derive(Args, Debug)]
pub struct NewArgs {
    /// Name of the Docker context to create
    pub name: String,
    /// The daemon's address: tcp://HOST[:PORT] (port 2376 by default)
    #[arg(long, value_name = "URL")]
    pub host: String,
    /// Extra name or address on the server certificate (repeatable)
    #[arg(long = "san", value_name = "VALUE")]
    pub sans: Vec<String>,
    /// Where to write the server bundle [default: $DOCKER_CONFIG/tlsctx/servers/NAME]
    #[arg(long, value_name = "DIR")]
    pub server_dir: Option<PathBuf>,
    /// Skip the server bundle (the daemon already has one from this CA)
    #[arg(long, conflicts_with_all = ["server_dir", "sans", "server_days", "daemon_dir", "authz"])]
    pub no_server: bool,
    /// Common name of the client certificate [default: NAME-client]
    #[arg(long)]
    pub cn: Option<String>,
    /// CA that signs the certificates
    #[arg(long, default_value = "default")]
    pub ca: String,
    /// Sign through this Vault/OpenBao issuer (docker tlsctx issuer add) instead of a CA here
    #[arg(long, value_name = "NAME", conflicts_with = "ca")]
    pub issuer: Option<String>,
    /// Client certificate lifetime in days
    #[arg(long, default_value_t = crate::pki::CLIENT_DAYS)]
    pub days: u32,
    /// Server certificate lifetime in days (at most 825: Apple's rule)
    #[arg(long, default_value_t = crate::pki::SERVER_DAYS)]
    pub server_days: u32,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// What the identity may do where dockerd runs the tlsctx-authz plugin: admin, read-only (GET and HEAD only; no exec, attach or archive download), or viewer (lists and versions only)
    #[arg(long, value_name = "ROLE", default_value = "admin")]
    pub role: crate::pki::Role,
    /// Context description (shown by docker context ls)
    #[arg(long)]
    pub description: Option<String>,
    /// Folder on the daemon host where daemon.json points for the TLS files
    #[arg(long, value_name = "DIR", default_value = "/etc/docker/tls")]
    pub daemon_dir: String,
    /// Also make dockerd ask the tlsctx-authz plugin (revocation, roles): daemon.json names it and the bundle gets its systemd unit
    #[arg(long)]
    pub authz: bool,
    /// Make it the current context, as docker context use does
    #[arg(long = "use")]
    pub use_it: bool,
    /// Replace an existing context, identity or server bundle of that name
    #[arg(long)]
    pub force: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the client identity as PKCS#12 to FILE
    #[arg(long, value_name = "FILE")]
    pub p12: Option<PathBuf>,
    #[command(flatten)]
    pub p12_opts: P12Opts,
    /// Keep the client key in the keystore only: no key.pem; the context points Docker at the agent's socket (docker tlsctx agent)
    #[arg(long)]
    pub keychain_only: bool,
    /// Then install the server bundle on the Docker host over SSH: [USER@]HOST[:PORT] (docker tlsctx server install)
    #[arg(long, value_name = "TARGET", conflicts_with = "no_server")]
    pub ssh: Option<String>,
    /// With --ssh: confirm a restart that stops running containers or a swarm manager
    #[arg(long, requires = "ssh")]
    pub yes: bool,
}
