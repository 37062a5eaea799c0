//! `docker tlsctx new NAME --host tcp://HOST[:PORT]`.

use serde_json::json;

use crate::cli::{Format, NewArgs};
use crate::error::Result;
use crate::issuance::install;
use crate::issuance::new::{self, Created, P12Request, Request};
use crate::issuance::Env;
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
                s.authz
            )
        );
    }
    if args.ssh.is_none() {
        println!("\nThen: docker --context {} version", args.name);
    }
}
