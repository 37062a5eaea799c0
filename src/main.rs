//! One binary, two names (DESIGN §1): `docker-tlsctx`, a Docker CLI plugin,
//! and `docker-credential-tlsctx`, a Docker credential helper. `main` only
//! dispatches, prints errors and picks exit codes.
#![forbid(unsafe_code)]

use docker_tlsctx::{commands, credhelper, fsio, keystore, plugin};

use std::ffi::OsString;
use std::path::Path;

use clap::Parser;

use docker_tlsctx::cli::{CaCommand, Cli, Command, KeystoreCommand};
use docker_tlsctx::error::Result;

use docker_tlsctx::credhelper::NAME as CREDHELPER_NAME;

fn main() {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_default();
    // file_stem, so `docker-credential-tlsctx.exe` dispatches too.
    let stem = Path::new(&argv0)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned());
    if stem.as_deref() == Some(CREDHELPER_NAME) {
        let args: Vec<String> = argv.map(|a| a.to_string_lossy().into_owned()).collect();
        std::process::exit(credhelper::main(&args));
    }
    let args: Vec<OsString> = argv.collect();
    // The hot path: Docker asks every plugin for this on `docker --help`,
    // `docker info` and before each run. No disk, keychain or network here.
    if args.len() == 1 && args[0] == plugin::METADATA_SUBCOMMAND {
        std::process::exit(plugin::print_metadata());
    }
    // After a hooked docker command (`docker tlsctx hooks enable`): our hints.
    // Docker 28.2.2 runs `docker-tlsctx tlsctx docker-cli-plugin-hooks JSON`
    // (observed), with the plugin word first.
    let hook_at = usize::from(args.first().is_some_and(|a| a == plugin::PLUGIN_NAME));
    if args
        .get(hook_at)
        .is_some_and(|a| a == plugin::HOOKS_SUBCOMMAND)
    {
        let env = match env_for(None, keystore::Choice::File) {
            Ok(env) => env,
            Err(_) => std::process::exit(0),
        };
        println!("{}", commands::lifecycle::hook_response(&env));
        std::process::exit(0);
    }
    std::process::exit(run(plugin::parse_argv(args)));
}

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
    let cli = match Cli::try_parse_from(clap_args) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    plugin::install_cancellation();
    match dispatch(cli, inv.config) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            if let Some(h) = e.hint() {
                eprintln!("Hint: {h}");
            }
            e.exit_code()
        }
    }
}

/// The clock: DOCKER_TLSCTX_NOW (RFC 3339) stands in for the system clock,
/// so tests can issue certificates that are nearly expired or expired and
/// a host with a wrong clock can still issue usable ones.
fn env_for(
    config: Option<&std::path::Path>,
    keystore_choice: keystore::Choice,
) -> Result<commands::Env> {
    let now = match std::env::var("DOCKER_TLSCTX_NOW") {
        Ok(v) if !v.is_empty() => {
            time::OffsetDateTime::parse(&v, &time::format_description::well_known::Rfc3339)
                .map_err(|e| docker_tlsctx::error::Error::BadClock(format!("{v:?}: {e}")))?
        }
        _ => time::OffsetDateTime::now_utc(),
    };
    Ok(commands::Env {
        config_dir: fsio::docker_config_dir(config),
        keystore_choice,
        now,
    })
}

fn dispatch(cli: Cli, config: Option<std::path::PathBuf>) -> Result<()> {
    let keystore_choice = match cli.keystore {
        Some(c) => c,
        None => keystore::Choice::from_env()?,
    };
    let env = env_for(config.as_deref(), keystore_choice)?;
    // Identities that need attention, one line each, whatever the command
    // (ls and inspect show it in their output too).
    for w in commands::lifecycle::expiry_warnings(&env) {
        eprintln!("Warning: {w}");
    }
    match &cli.command {
        Command::New(a) => commands::new::run(&env, a),
        Command::Ca(CaCommand::Init(a)) => commands::ca::run_init(&env, a),
        Command::Server(a) => commands::server::run_cmd(&env, a),
        Command::Ls(a) => commands::lifecycle::run_ls(&env, a),
        Command::Inspect(a) => commands::lifecycle::run_inspect(&env, a),
        Command::Renew(a) => commands::lifecycle::run_renew(&env, a),
        Command::Check(a) => commands::lifecycle::run_check(&env, &a.name),
        Command::Rm(a) => commands::lifecycle::run_rm(&env, a),
        Command::Hooks(a) => commands::lifecycle::run_hooks(&env, a),
        Command::Client(a) => commands::client::run(&env, a),
        Command::Restore(a) => commands::restore::run(&env, a),
        Command::Export(a) => commands::export::run_export(&env, a),
        Command::Env(a) => commands::export::run_env(&env, a),
        Command::Keystore(KeystoreCommand::Status(a)) => {
            commands::keystore_status::run_status(&env, a.format)
        }
        Command::Ca(CaCommand::Import(a)) => commands::ca::run_import(&env, a),
        Command::Ca(CaCommand::Export(a)) => commands::ca::run_export(&env, a),
        Command::Ca(CaCommand::Ls(a)) => commands::ca::run_ls(&env, a.format),
        Command::Ca(CaCommand::Rm(a)) => commands::ca::run_rm(&env, a),
    }
}
