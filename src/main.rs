//! One binary, two names (ARCHITECTURE.md): `docker-tlsctx`, a Docker CLI
//! plugin, and `docker-credential-tlsctx`, a Docker credential helper.
//! `main` only dispatches, prints errors and picks exit codes.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Parser;

use docker_tlsctx::cli::{
    AuthzCommand, AutorenewCommand, CaCommand, CertAction, Cli, Command, KeystoreCommand,
    ServerAction, SwarmCommand,
};
use docker_tlsctx::docker::{hooks, plugin};
use docker_tlsctx::error::Result;
use docker_tlsctx::interrupt::Cancel;
use docker_tlsctx::issuance::{recover, renewal::health, Env};
use docker_tlsctx::{commands, complete, credhelper, fsio, interrupt, keystore, lock};

fn main() {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_default();
    // file_stem, so `docker-credential-tlsctx.exe` dispatches too.
    let stem = Path::new(&argv0)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned());
    if stem.as_deref() == Some(credhelper::NAME) {
        let args: Vec<String> = argv.map(|a| a.to_string_lossy().into_owned()).collect();
        let code = credhelper::serve(&args);
        interrupt::settle(SETTLE);
        std::process::exit(code);
    }
    let args: Vec<OsString> = argv.collect();
    // The hot path: Docker asks every plugin for this on `docker --help`,
    // `docker info` and before each run. No disk, keychain or network here.
    if args.len() == 1 && args[0] == plugin::METADATA_SUBCOMMAND {
        std::process::exit(plugin::print_metadata());
    }
    // Docker's shell completion asks `__complete tlsctx ARGS… TO_COMPLETE`
    // (complete.rs): reads what `ls` reads, nothing more.
    if let Some(first) = args.first().and_then(|a| a.to_str()) {
        if first == complete::COMPLETE || first == complete::COMPLETE_NO_DESC {
            let mut words: Vec<String> = args[1..]
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            if words.first().is_some_and(|w| w == plugin::PLUGIN_NAME) {
                words.remove(0);
            }
            let config = fsio::docker_config_dir(None);
            print!(
                "{}",
                complete::answer(&config, &words, first == complete::COMPLETE)
            );
            std::process::exit(0);
        }
    }
    // After a hooked docker command (`docker tlsctx hooks enable`): our hints.
    // Docker 28.2.2 runs `docker-tlsctx tlsctx docker-cli-plugin-hooks JSON`
    // (observed), with the plugin word first.
    let hook_at = usize::from(args.first().is_some_and(|a| a == plugin::PLUGIN_NAME));
    if args
        .get(hook_at)
        .is_some_and(|a| a == plugin::HOOKS_SUBCOMMAND)
    {
        let config = fsio::docker_config_dir(None);
        let Ok(env) = Env::from_process(&config, keystore::Choice::File, Cancel::new()) else {
            std::process::exit(0);
        };
        let mut lines = health::expiry_warnings(&env);
        lines.extend(health::not_installed_warnings(&env));
        if !lines.is_empty() {
            lines.push(health::autorenew_note(&env));
        }
        println!("{}", hooks::response(&lines));
        std::process::exit(0);
    }
    let code = run(plugin::parse_argv(args));
    interrupt::settle(SETTLE);
    std::process::exit(code);
}

/// How long an exit waits for a keychain call still in flight on another
/// thread (one whose deadline passed): gnome-keyring-daemon must not see
/// us vanish during it (crate::interrupt); a call that hangs for good does
/// not keep us.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// `docker tlsctx ls | head` closes our stdout early. Rust ignores SIGPIPE
/// and println! then panics; a shell tool should end quietly instead, with
/// the status a SIGPIPE would give (128 + 13). Resetting SIGPIPE would need
/// unsafe code, which this crate forbids.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn run(inv: plugin::Invocation) -> i32 {
    quiet_broken_pipe();
    let mut clap_args: Vec<OsString> = vec!["docker tlsctx".into()];
    if inv.help {
        clap_args.push("--help".into());
    }
    clap_args.extend(inv.args);
    let mut cli = match Cli::try_parse_from(clap_args) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // `docker -c CTX tlsctx swarm …` means that context's swarm.
    if let (Command::Swarm(s), Some(ctx)) = (&mut cli.command, inv.context) {
        s.target().context.get_or_insert(ctx);
    }
    let cancel = Cancel::new();
    plugin::install_cancellation(&cancel);
    match dispatch(cli, inv.config, cancel) {
        Ok(()) => 0,
        Err(e) => {
            let (what, next) = docker_tlsctx::explain::explain(&e);
            eprintln!("Error: {what}");
            if let Some(h) = next {
                eprintln!("Hint: {h}");
            }
            e.exit_code()
        }
    }
}

/// Whether a command changes the configuration (and so takes the lock).
/// Readers never wait.
fn writes(command: &Command) -> bool {
    !matches!(
        command,
        Command::Ls(_)
            | Command::Inspect(_)
            | Command::Check(_)
            | Command::Env(_)
            | Command::Keystore(KeystoreCommand::Status(_))
            | Command::Ca(CaCommand::Ls(_))
            | Command::Ca(CaCommand::Issued(_))
            | Command::Authz(_)
            | Command::Swarm(SwarmCommand::Ls(_))
            | Command::Autorenew(AutorenewCommand::Status(_))
    ) && !matches!(command, Command::Revoke(a) if a.list)
        // The agent only reads, for as long as it runs; `agent adopt` writes.
        && !matches!(command, Command::Agent(a) if a.action.is_none())
}

fn dispatch(cli: Cli, config: Option<PathBuf>, cancel: Cancel) -> Result<()> {
    let keystore_choice = match cli.keystore {
        Some(c) => c,
        None => keystore::Choice::from_env()?,
    };
    let env = Env::from_process(
        &fsio::docker_config_dir(config.as_deref()),
        keystore_choice,
        cancel,
    )?;
    // One lock for every command that writes (ARCHITECTURE.md, "One lock,
    // one transaction"), held until the command returns; then what a killed
    // command left is finished or undone before this one starts.
    let _lock = if writes(&cli.command) {
        let lock = lock::acquire(&env.config_dir, || {
            eprintln!("Waiting for another docker-tlsctx command to finish...");
        })?;
        for note in recover::run(&env)? {
            eprintln!("Note: {note}");
        }
        Some(lock)
    } else {
        None
    };
    // Identities that need attention, one line each, whatever the command
    // (ls and inspect show it in their output too).
    let mut warnings = health::expiry_warnings(&env);
    warnings.extend(health::not_installed_warnings(&env));
    for w in &warnings {
        eprintln!("Warning: {w}");
    }
    if !warnings.is_empty() {
        eprintln!("{}", health::autorenew_note(&env));
    }
    match &cli.command {
        Command::New(a) => commands::new::run(&env, a),
        Command::Ca(CaCommand::Init(a)) => commands::ca_init::run(&env, a),
        Command::Ca(CaCommand::Import(a)) => commands::ca_import::run(&env, a),
        Command::Ca(CaCommand::Export(a)) => commands::ca_export::run(&env, a),
        Command::Ca(CaCommand::Ls(a)) => commands::ca_ls::run(&env, a.format),
        Command::Ca(CaCommand::Rm(a)) => commands::ca_rm::run(&env, a),
        Command::Ca(CaCommand::Issued(a)) => commands::ca_issued::run(&env, a),
        Command::Issuer(docker_tlsctx::cli::IssuerCommand::Add(a)) => {
            commands::issuer_add::run(&env, a)
        }
        Command::Request(a) => commands::request::run(&env, a),
        Command::Sign(a) => commands::sign::run(&env, a),
        Command::Accept(a) => commands::accept::run(&env, a),
        Command::Server(s) => match &s.action {
            Some(ServerAction::Renew(a)) => commands::server_renew::run(&env, a),
            Some(ServerAction::Install(a)) => commands::server_install::run(&env, a),
            None => commands::server::run(&env, &s.issue),
        },
        Command::Ls(a) => commands::ls::run(&env, a),
        Command::Inspect(a) => commands::inspect::run(&env, a),
        Command::Renew(a) if a.due => commands::renew_due::run(&env, a),
        Command::Renew(a) => commands::renew::run(&env, a),
        Command::Autorenew(AutorenewCommand::Install) => commands::autorenew_install::run(&env),
        Command::Autorenew(AutorenewCommand::Uninstall) => commands::autorenew_uninstall::run(&env),
        Command::Autorenew(AutorenewCommand::Status(f)) => {
            commands::autorenew_status::run(&env, f.format)
        }
        Command::Check(a) => commands::check::run(&env, &a.name),
        Command::Rm(a) => commands::rm::run(&env, a),
        Command::Hooks(a) => commands::hooks::run(&env, a),
        Command::Client(a) => commands::client::run(&env, a),
        Command::Restore(a) => commands::restore::run(&env, a),
        Command::Revoke(a) => commands::revoke::run(&env, a),
        Command::Authz(AuthzCommand::Serve(a)) => commands::authz::run(&env, a),
        Command::Export(a) => commands::export::run(&env, a),
        Command::Env(a) => commands::env::run(&env, a),
        Command::Keystore(KeystoreCommand::Status(a)) => {
            commands::keystore_status::run(&env, a.format)
        }
        Command::Cert(c) => match &c.action {
            Some(CertAction::Renew(a)) => commands::cert_renew::run(&env, a),
            None => commands::cert::run(&env, &c.issue),
        },
        Command::Swarm(SwarmCommand::Publish(a)) => commands::swarm_publish::run(&env, a),
        Command::Swarm(SwarmCommand::Rotate(a)) => commands::swarm_rotate::run(&env, a),
        Command::Swarm(SwarmCommand::Ls(a)) => commands::swarm_ls::run(&env, a),
        Command::Swarm(SwarmCommand::Prune(a)) => commands::swarm_prune::run(&env, a),
        Command::Agent(a) => match &a.action {
            Some(docker_tlsctx::cli::AgentAction::Adopt(n)) => {
                commands::agent_adopt::run(&env, &n.name)
            }
            Some(docker_tlsctx::cli::AgentAction::Install) => commands::agent_install::run(&env),
            Some(docker_tlsctx::cli::AgentAction::Uninstall) => commands::agent_uninstall::run(),
            None => commands::agent::run(env, &a.serve),
        },
    }
}
