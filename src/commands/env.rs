//! `docker tlsctx env NAME`: DOCKER_HOST, DOCKER_TLS_VERIFY and
//! DOCKER_CERT_PATH for a context, in sh, fish or PowerShell syntax.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::error::{Error, Result};
use crate::issuance::Env;
use crate::names;

/// `env NAME`: the variables docker-machine's `env` printed, pointing at the
/// context's own TLS folder.
pub fn run(env: &Env, args: &EnvArgs) -> Result<()> {
    names::validate_context(&args.name)?;
    let contexts = env.contexts();
    let host = contexts
        .host(&args.name)?
        .ok_or_else(|| Error::ContextMissing(args.name.clone()))?;
    // What is printed is evaluated by a shell (`| source`, `|
    // Invoke-Expression`): only an endpoint this tool writes gets that far,
    // re-made from its parse, so a meta.json from elsewhere (`docker context
    // import`) cannot smuggle quotes PowerShell or fish would end a string
    // at (attacker review: U+201C, fish's `\'`).
    let host = if crate::docker::endpoint::socket_url(&env.config_dir, &args.name)
        .ok()
        .as_deref()
        == Some(host.as_str())
    {
        host
    } else {
        crate::docker::host::Host::parse(&host, true)
            .ok()
            .map(|h| h.url())
            .filter(|u| *u == host)
            .ok_or_else(|| Error::HostInvalid {
                host: crate::text::printable(&host),
                why: "the context's endpoint is neither tcp://HOST:PORT nor this context's agent endpoint, so it is not printed for a shell to evaluate".into(),
            })?
    };
    // The agent's endpoint: a unix socket, or on Windows a named pipe.
    if let Some(socket) = host
        .strip_prefix("unix://")
        .or_else(|| host.strip_prefix("npipe://"))
    {
        return keychain_only(args, &host, socket);
    }
    let cert_path: PathBuf = contexts.tls_dir(&args.name).join("docker");
    let cert_path = cert_path.display().to_string();
    let vars = [
        ("DOCKER_HOST", host.as_str()),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", cert_path.as_str()),
    ];
    let hostport = host.trim_start_matches("tcp://");
    let (comment_eval, curl) = match args.shell {
        Shell::Sh => (
            format!("eval \"$(docker tlsctx env {})\"", args.name),
            format!("curl --cacert \"$DOCKER_CERT_PATH/ca.pem\" --cert \"$DOCKER_CERT_PATH/cert.pem\" --key \"$DOCKER_CERT_PATH/key.pem\" https://{hostport}/_ping"),
        ),
        Shell::Fish => (
            format!("docker tlsctx env {} --shell fish | source", args.name),
            format!("curl --cacert \"$DOCKER_CERT_PATH/ca.pem\" --cert \"$DOCKER_CERT_PATH/cert.pem\" --key \"$DOCKER_CERT_PATH/key.pem\" https://{hostport}/_ping"),
        ),
        Shell::Powershell => (
            format!("& docker tlsctx env {} --shell powershell | Invoke-Expression", args.name),
            format!("curl.exe --cacert \"$Env:DOCKER_CERT_PATH\\ca.pem\" --cert \"$Env:DOCKER_CERT_PATH\\cert.pem\" --key \"$Env:DOCKER_CERT_PATH\\key.pem\" https://{hostport}/_ping"),
        ),
    };
    for (k, v) in vars {
        match args.shell {
            Shell::Sh => println!("export {k}={}", sh_quote(v)),
            Shell::Fish => println!("set -gx {k} {};", fish_quote(v)),
            Shell::Powershell => println!(
                "$Env:{k} = \"{}\"",
                v.replace('`', "``").replace('"', "`\"").replace('$', "`$")
            ),
        }
    }
    println!("# Run this command to configure your shell:");
    println!("# {comment_eval}");
    println!("# Reach the daemon with curl: {curl}");
    Ok(())
}

/// A keychain-only context: the agent's socket, and no TLS variables (with
/// DOCKER_TLS_VERIFY set Docker would try TLS on the socket itself).
fn keychain_only(args: &EnvArgs, host: &str, socket: &str) -> Result<()> {
    let (set, unset, eval, curl) = match args.shell {
        Shell::Sh => (
            format!("export DOCKER_HOST={}", sh_quote(host)),
            "unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH".to_string(),
            format!("eval \"$(docker tlsctx env {})\"", args.name),
            format!(
                "curl --unix-socket {} http://docker/_ping",
                sh_quote(socket)
            ),
        ),
        Shell::Fish => (
            format!("set -gx DOCKER_HOST {};", fish_quote(host)),
            "set -e DOCKER_TLS_VERIFY; set -e DOCKER_CERT_PATH;".to_string(),
            format!("docker tlsctx env {} --shell fish | source", args.name),
            format!(
                "curl --unix-socket {} http://docker/_ping",
                sh_quote(socket)
            ),
        ),
        Shell::Powershell => (
            format!(
                "$Env:DOCKER_HOST = \"{}\"",
                host.replace('`', "``")
                    .replace('"', "`\"")
                    .replace('$', "`$")
            ),
            "Remove-Item Env:DOCKER_TLS_VERIFY, Env:DOCKER_CERT_PATH -ErrorAction SilentlyContinue"
                .to_string(),
            format!(
                "& docker tlsctx env {} --shell powershell | Invoke-Expression",
                args.name
            ),
            format!("curl.exe --unix-socket \"{socket}\" http://docker/_ping"),
        ),
    };
    println!("{set}");
    println!("{unset}");
    println!("# Run this command to configure your shell:");
    println!("# {eval}");
    if host.starts_with("npipe://") {
        // curl has no named-pipe transport.
        println!(
            "# The agent serves this context (docker tlsctx agent {}) on a named pipe; reach the daemon with docker version",
            args.name
        );
    } else {
        println!("# The agent serves this context (docker tlsctx agent {}); reach the daemon with curl: {curl}", args.name);
    }
    Ok(())
}

/// Single quotes for fish, where `\\` and `\'` are escapes inside them too
/// (fish's "Quotes"): both escaped.
fn fish_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Single quotes for sh: nothing inside is special but the quote itself.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[derive(Args, Debug)]
pub struct EnvArgs {
    /// Name of the context
    pub name: String,
    /// Shell syntax
    #[arg(long, value_enum, default_value_t = Shell::Sh)]
    pub shell: Shell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Sh,
    Fish,
    Powershell,
}
