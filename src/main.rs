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
    std::process::exit(run(plugin::parse_argv(args)));
}

fn run(inv: plugin::Invocation) -> i32 {
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

fn dispatch(cli: Cli, config: Option<std::path::PathBuf>) -> Result<()> {
    let keystore_choice = match cli.keystore {
        Some(c) => c,
        None => keystore::Choice::from_env()?,
    };
    let env = commands::Env {
        config_dir: fsio::docker_config_dir(config.as_deref()),
        keystore_choice,
        now: time::OffsetDateTime::now_utc(),
    };
    match &cli.command {
        Command::New(a) => commands::new::run(&env, a),
        Command::Ca(CaCommand::Init(a)) => commands::ca::run_init(&env, a),
        Command::Server(a) => commands::server::run(&env, a),
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
