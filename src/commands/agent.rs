//! `docker tlsctx agent [--foreground] [NAME…]`: serves keychain-only
//! contexts (src/agent/). Without --foreground it starts itself again in
//! the background, detached from the terminal, and returns once it listens.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;

use crate::agent::{self, Options};
use crate::docker::endpoint;
use crate::error::{Error, Result};
use crate::fsio;
use crate::issuance::Env;

pub fn run(env: Env, args: &AgentArgs) -> Result<()> {
    let names = agent::contexts(&env, &args.names)?;
    if names.is_empty() {
        println!("No keychain-only context to serve (docker tlsctx new NAME --host tcp://HOST --keychain-only makes one).");
        return Ok(());
    }
    migrate(&env, &names)?;
    if !args.foreground {
        return detach(&env, args, &names);
    }
    let opts = Options {
        max_connections: args.max_connections.max(1),
        idle: (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)),
        log: args.log,
    };
    agent::serve(env, &names, opts, |sockets| {
        for (n, s) in names.iter().zip(sockets) {
            eprintln!("agent: serving {n} on {}", endpoint::url_of(s));
        }
    })
}

/// Contexts an older version pointed elsewhere (v0.3's
/// `$XDG_RUNTIME_DIR/docker-tlsctx`, v0.2's /tmp folder) are moved to the
/// agent's endpoint now, as `agent adopt` does, under the lock other
/// writing commands take. Said once: afterwards they point there.
fn migrate(env: &Env, names: &[String]) -> Result<()> {
    let contexts = env.contexts();
    // What would move: contexts still keychain-only whose endpoint is not
    // the agent's. Looked at again under the lock (found by review: a
    // `new --force` holding the lock turned one into a plain context, which
    // a list made before the lock then moved back and stripped of its
    // key.pem).
    let moving = || -> Result<Vec<(&String, String, String)>> {
        let mut out = Vec::new();
        for n in names {
            let keychain_only = env.state().identity(n)?.is_some_and(|r| r.keychain_only);
            let url = endpoint::socket_url(&env.config_dir, n)?;
            match contexts.host(n)?.filter(|h| *h != url) {
                Some(old) if keychain_only => out.push((n, old, url)),
                _ => {}
            }
        }
        Ok(out)
    };
    if moving()?.is_empty() {
        return Ok(());
    }
    let _lock = crate::lock::acquire(&env.config_dir, || {
        eprintln!("Waiting for another docker-tlsctx command to finish...");
    })?;
    // As every writing command does first: finish or undo what a killed
    // one left (its journal would be overwritten otherwise).
    for note in crate::issuance::recover::run(env)? {
        eprintln!("Note: {note}");
    }
    for (n, old, url) in moving()? {
        crate::issuance::identities::agent::adopt(env, n)?;
        eprintln!(
            "agent: context {n} now points at {url}; it pointed at {}, a place that depended on the environment or that another user could make once it was gone",
            crate::text::one_line(&old)
        );
    }
    Ok(())
}

/// Starts `agent --foreground` in its own process group with its output in
/// `<socket folder>/agent.log` (0600), and waits until its sockets answer.
fn detach(env: &Env, args: &AgentArgs, names: &[String]) -> Result<()> {
    let dir = endpoint::create_socket_dir(&env.config_dir)?;
    let log_path = dir.join("agent.log");
    fsio::refuse_symlink(&log_path)?;
    let log = {
        let mut o = std::fs::OpenOptions::new();
        o.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, fsio::SECRET_FILE);
        o.open(&log_path).map_err(Error::io("open", &log_path))?
    };
    let exe = std::env::current_exe().map_err(Error::io("find", PathBuf::from("docker-tlsctx")))?;
    let mut c = Command::new(exe);
    c.args(["agent", "--foreground", "--log"])
        .arg("--idle-timeout")
        .arg(args.idle_timeout.to_string())
        .arg("--max-connections")
        .arg(args.max_connections.to_string())
        .args(names)
        .env("DOCKER_CONFIG", &env.config_dir)
        .env_remove("DOCKER_CLI_PLUGIN_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    // Its own process group, away from the terminal's Ctrl-C; on Windows
    // also without a console (DETACHED_PROCESS 0x8, CREATE_NEW_PROCESS_GROUP
    // 0x200: winbase.h).
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    #[cfg(windows)]
    std::os::windows::process::CommandExt::creation_flags(&mut c, 0x8 | 0x200);
    let mut child = c
        .spawn()
        .map_err(Error::io("start", PathBuf::from("docker-tlsctx agent")))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    // Windows: served by the child itself, at the new name it records
    // (endpoint::pipe_server); elsewhere the socket path is fixed and the
    // child refuses to start where another process listens.
    #[cfg(windows)]
    let child_pid = child.id();
    #[cfg(windows)]
    let up = |n: &String| endpoint::pipe_server(&env.config_dir, n) == Some(child_pid);
    #[cfg(not(windows))]
    let up = |n: &String| agent::serving(&env.config_dir, n);
    while !names.iter().all(up) {
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            let last = tail
                .lines()
                .rev()
                .find(|l| l.starts_with("Error"))
                .unwrap_or("");
            return Err(Error::AgentDidNotStart {
                what: format!("the agent stopped at once ({status}) {last}"),
                log: log_path.clone(),
                exited: true,
            });
        }
        if Instant::now() > deadline {
            return Err(Error::AgentDidNotStart {
                what: "the agent did not listen within 10 s".into(),
                log: log_path.clone(),
                exited: false,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for n in names {
        println!(
            "Serving {n} on {} (agent pid {})",
            endpoint::socket_url(&env.config_dir, n)?,
            child.id()
        );
    }
    println!("Log: {}", log_path.display());
    Ok(())
}

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// Contexts to serve [default: every keychain-only context]
    pub names: Vec<String>,
    /// Stay in the foreground (otherwise the agent detaches and logs to its folder)
    #[arg(long)]
    pub foreground: bool,
    /// Exit after this many seconds without a connection (0: never)
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub idle_timeout: u64,
    /// Connections served at once; more get an error at once
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections: usize,
    /// Log each connection on standard error
    #[arg(long)]
    pub log: bool,
}
