//! The Docker CLI plugin protocol (docker/cli cli-plugins/): metadata, the
//! argv Docker hands us, and the cancellation socket.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::interrupt::Cancel;

/// The subcommand Docker calls before listing or running a plugin
/// (cli-plugins/metadata/metadata.go `MetadataSubcommandName`).
pub const METADATA_SUBCOMMAND: &str = "docker-cli-plugin-metadata";
/// What Docker runs after a hooked command (cli-plugins/manager/hooks.go):
/// `docker-tlsctx tlsctx docker-cli-plugin-hooks '{"RootCmd":…,"Flags":…}'`.
pub const HOOKS_SUBCOMMAND: &str = "docker-cli-plugin-hooks";
/// The word after Docker's global flags: our plugin's name.
pub const PLUGIN_NAME: &str = "tlsctx";

/// Embedded at build time: answering costs no disk, keychain or network
/// access. the test `metadata_is_what_docker_expects` below keeps its Version equal
/// to Cargo.toml's.
pub const METADATA: &str = include_str!("../../plugin-metadata");

/// Prints the metadata. A closed pipe (Docker stopped reading) is not an error.
pub fn print_metadata() -> i32 {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", METADATA.trim_end()).and_then(|_| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(_) => 1,
    }
}

/// What Docker's global flags told us, and the words meant for us.
#[derive(Debug, Default, PartialEq)]
pub struct Invocation {
    /// `--config DIR`: Docker does not export DOCKER_CONFIG to plugins.
    pub config: Option<PathBuf>,
    /// `-c/--context CTX` before `tlsctx`: the swarm commands' default.
    pub context: Option<String>,
    /// Our own argv after `tlsctx` (or all of it, run standalone).
    pub args: Vec<OsString>,
    /// `docker help tlsctx` arrives as `help tlsctx`.
    pub help: bool,
}

/// Docker's global flags that take a value (docker/cli cli/flags/options.go).
const VALUE_FLAGS: &[&str] = &[
    "--config",
    "-c",
    "--context",
    "-l",
    "--log-level",
    "-H",
    "--host",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
];
/// Docker's global flags without a value.
const BOOL_FLAGS: &[&str] = &["-D", "--debug", "--tls", "--tlsverify"];

/// Splits Docker's argv (`--config /x -c prod tlsctx new web`, observed with
/// Docker CLI 28.2.2) into Docker's part and ours. Run standalone
/// (`docker-tlsctx new web`), there is no `tlsctx` word and every word is ours.
pub fn parse_argv(argv: Vec<OsString>) -> Invocation {
    let mut inv = Invocation::default();
    let mut i = 0;
    while i < argv.len() {
        let arg = argv[i].to_string_lossy().into_owned();
        if arg == PLUGIN_NAME {
            inv.args = argv[i + 1..].to_vec();
            return inv;
        }
        if arg == "help" && argv.get(i + 1).is_some_and(|a| a == PLUGIN_NAME) {
            inv.help = true;
            inv.args = argv[i + 2..].to_vec();
            return inv;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if VALUE_FLAGS.contains(&flag.as_str()) {
            let value = match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    argv.get(i).map(|v| v.to_string_lossy().into_owned())
                }
            };
            if flag == "--config" {
                inv.config = value.map(PathBuf::from);
            } else if flag == "-c" || flag == "--context" {
                inv.context = value;
            }
        } else if BOOL_FLAGS.contains(&flag.as_str()) {
            // Accepted and ignored: `--tlsverify=true` and friends too.
        } else {
            break;
        }
        i += 1;
    }
    // No `tlsctx` word: standalone use. Docker's global flags seen so far
    // (e.g. `--config`) still apply; the rest is ours.
    inv.args = argv[i..].to_vec();
    inv
}

/// Makes SIGINT/SIGTERM and the plugin socket's EOF set the cancel flag, which
/// commands check before they commit anything. A second SIGINT ends the
/// process (staged files are in a temp folder, never half a context), once
/// a keychain call in flight has returned (crate::interrupt).
pub fn install_cancellation(cancel: &Cancel) {
    let flag = cancel.flag();
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        for sig in [SIGINT, SIGTERM] {
            let _ = signal_hook::flag::register(sig, flag.clone());
        }
        // The second signal is handled on a thread of its own, where it can
        // wait for a held call; without one (no thread), at once as before.
        match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
            Ok(mut signals) => {
                std::thread::spawn(move || {
                    for (seen, _) in signals.forever().enumerate() {
                        if seen == 0 {
                            crate::interrupt::first_signal();
                        } else {
                            crate::interrupt::second_signal();
                        }
                    }
                });
            }
            Err(_) => {
                for sig in [SIGINT, SIGTERM] {
                    let _ =
                        signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone());
                }
            }
        }
    }
    if let Some(addr) = crate::environment::var_os(crate::environment::Var::CliPluginSocket) {
        watch_socket(addr.to_string_lossy().into_owned(), flag);
    }
}

/// Connects to Docker's socket and reads it in the background; EOF means the
/// CLI is exiting (cli-plugins/socket/socket.go closes the connection on
/// SIGINT/SIGTERM). A socket that is missing or fails is ignored: it only
/// makes us cancel sooner.
fn watch_socket(addr: String, flag: Arc<AtomicBool>) {
    #[cfg(unix)]
    {
        let stream = connect(&addr);
        if let Ok(mut stream) = stream {
            use std::io::Read;
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => continue,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => return,
                    }
                }
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (addr, flag);
}

#[cfg(unix)]
fn connect(addr: &str) -> std::io::Result<std::os::unix::net::UnixStream> {
    use std::os::unix::net::UnixStream;
    // `@name` is an abstract socket on Linux (socket.go listens with `@` + name).
    #[cfg(target_os = "linux")]
    if let Some(name) = addr.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let sa = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        return UnixStream::connect_addr(&sa);
    }
    UnixStream::connect(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(words: &str) -> Invocation {
        parse_argv(words.split_whitespace().map(OsString::from).collect())
    }

    fn args(i: &Invocation) -> Vec<String> {
        i.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn docker_global_flags_are_stripped() {
        let i = inv("--config /x -c prod tlsctx new web");
        assert_eq!(i.config, Some(PathBuf::from("/x")));
        assert_eq!(args(&i), ["new", "web"]);
        let i = inv("--config=/y -D --tlsverify -H tcp://h:1 --log-level=debug tlsctx ls");
        assert_eq!(i.config, Some(PathBuf::from("/y")));
        assert_eq!(args(&i), ["ls"]);
    }

    #[test]
    fn help_and_standalone() {
        let i = inv("help tlsctx");
        assert!(i.help && i.args.is_empty());
        let i = inv("new web --host tcp://h");
        assert_eq!(args(&i), ["new", "web", "--host", "tcp://h"]);
        assert_eq!(i.config, None);
        // The word tlsctx later on is an argument, not our name.
        let i = inv("new tlsctx --host tcp://h");
        assert_eq!(args(&i), ["new", "tlsctx", "--host", "tcp://h"]);
    }

    #[test]
    fn metadata_is_what_docker_expects() {
        let v: serde_json::Value = serde_json::from_str(METADATA).unwrap();
        // Docker 28.2.2 rejects any other schema version.
        assert_eq!(v["SchemaVersion"], "0.1.0");
        assert_eq!(
            v["Version"],
            env!("CARGO_PKG_VERSION"),
            "plugin-metadata Version must equal Cargo.toml's"
        );
        assert!(v["Vendor"].as_str().is_some_and(|s| !s.is_empty()));
    }
}
