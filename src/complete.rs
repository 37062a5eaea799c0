//! Shell completion through Docker's own scripts (ARCHITECTURE.md,
//! "Completion"): `docker completion bash|zsh|fish` asks a plugin with
//! cobra's protocol, `docker-tlsctx __complete tlsctx ARGS… TO_COMPLETE`
//! (docker/cli#4094; Docker CLI 28.2.2 observed). The answer is one
//! candidate per line, optionally `TAB description`, then `:DIRECTIVE`
//! (cobra's ShellCompDirective bits). `__completeNoDesc` asks for the same
//! without descriptions.
//!
//! Commands and flags come from the clap definition itself, so completion
//! cannot drift from what parses. Values come from what `ls` reads (the
//! expiry index, the CA and server records): no keystore, no network.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::state::State;

/// cobra's `completionCmdName` and `completionCmdNoDescFlagName` forms.
pub const COMPLETE: &str = "__complete";
pub const COMPLETE_NO_DESC: &str = "__completeNoDesc";

/// cobra's ShellCompDirective bits (cobra/completions.go).
const DEFAULT: u32 = 0;
const NO_FILE_COMP: u32 = 4;

/// What to offer for a value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Values {
    Contexts,
    Identities,
    Cas,
    Issuers,
    Daemons,
    Services,
    Bundles,
    Files,
    Fixed(&'static [&'static str]),
    Nothing,
}

const KEY_TYPES: &[&str] = &[
    "ecdsa-p256",
    "ecdsa-p384",
    "ed25519",
    "rsa-2048",
    "rsa-3072",
    "rsa-4096",
];
const ROLES: &[&str] = &["admin", "read-only", "viewer"];

/// The values of a flag, by its long name, wherever it appears.
fn flag_values(long: &str) -> Option<Values> {
    Some(match long {
        "ca" => Values::Cas,
        "issuer" => Values::Issuers,
        "key-type" => Values::Fixed(KEY_TYPES),
        "role" => Values::Fixed(ROLES),
        "context" => Values::Contexts,
        "p12" | "out" | "cert" | "key" | "ca-file" | "server-dir" | "bundle" | "socket"
        | "state-dir" | "dir" => Values::Files,
        _ => return None,
    })
}

/// The values of a command's positional argument, by its command path.
fn positional_values(path: &[String]) -> Values {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["renew"]
        | ["inspect"]
        | ["check"]
        | ["rm"]
        | ["export"]
        | ["env"]
        | ["restore"]
        | ["agent", "adopt"] => Values::Contexts,
        ["revoke"] => Values::Identities,
        ["ca", "rm"] => Values::Cas,
        ["server", "renew"] | ["server", "install"] => Values::Daemons,
        ["cert", "renew"] => Values::Services,
        ["swarm", "publish"] | ["swarm", "rotate"] | ["swarm", "prune"] => Values::Bundles,
        ["sign"] | ["accept"] => Values::Files,
        ["agent"] => Values::Contexts,
        _ => Values::Nothing,
    }
}

/// The answer to `__complete ARGS… TO_COMPLETE`, as lines.
pub fn answer(config_dir: &Path, words: &[String], descriptions: bool) -> String {
    let (done, to_complete) = match words.split_last() {
        Some((last, rest)) => (rest, last.as_str()),
        None => (&[][..], ""),
    };
    let root = Cli::command();
    let mut cmd = &root;
    let mut path: Vec<String> = Vec::new();
    let mut positionals = 0usize;
    let mut pending_value: Option<Values> = None;
    let mut after_double_dash = false;
    for w in done {
        if pending_value.take().is_some() {
            continue;
        }
        if w == "--" {
            after_double_dash = true;
            continue;
        }
        if !after_double_dash && w.starts_with("--") && w.len() > 2 {
            let (name, inline) = match w[2..].split_once('=') {
                Some((n, _)) => (n, true),
                None => (&w[2..], false),
            };
            if !inline && takes_value(cmd, &root, name) {
                pending_value = Some(flag_values(name).unwrap_or(Values::Nothing));
            }
            continue;
        }
        if !after_double_dash && w.starts_with('-') && w.len() > 1 {
            continue;
        }
        match cmd.find_subcommand(w) {
            Some(sub) if positionals == 0 => {
                cmd = sub;
                path.push(w.clone());
            }
            _ => positionals += 1,
        }
    }
    let mut lines: Vec<String> = Vec::new();
    let directive;
    if let Some(values) = pending_value {
        directive = push_values(&mut lines, config_dir, values, to_complete, descriptions);
    } else if to_complete.starts_with('-') && !after_double_dash {
        if let Some((name, _)) = to_complete
            .strip_prefix("--")
            .and_then(|r| r.split_once('='))
        {
            // `--flag=VAL`: cobra completes the value with the prefix kept.
            let values = flag_values(name).unwrap_or(Values::Nothing);
            let mut vals = Vec::new();
            let prefix = format!("--{name}=");
            let d = push_values(
                &mut vals,
                config_dir,
                values,
                &to_complete[prefix.len()..],
                descriptions,
            );
            lines.extend(vals.into_iter().map(|v| format!("{prefix}{v}")));
            directive = d;
        } else {
            for a in cmd
                .get_arguments()
                .chain(root.get_arguments().filter(|a| a.is_global_set()))
            {
                if a.is_hide_set() {
                    continue;
                }
                if let Some(l) = a.get_long() {
                    let flag = format!("--{l}");
                    if flag.starts_with(to_complete)
                        && !lines
                            .iter()
                            .any(|x| x.starts_with(&format!("{flag}\t")) || *x == flag)
                    {
                        lines.push(candidate(
                            &flag,
                            a.get_help().map(|h| h.to_string()),
                            descriptions,
                        ));
                    }
                }
            }
            directive = NO_FILE_COMP;
        }
    } else {
        let mut d = NO_FILE_COMP;
        if positionals == 0 {
            for s in cmd.get_subcommands() {
                if s.is_hide_set() || s.get_name() == "help" {
                    continue;
                }
                if s.get_name().starts_with(to_complete) {
                    lines.push(candidate(
                        s.get_name(),
                        s.get_about().map(|h| h.to_string()),
                        descriptions,
                    ));
                }
            }
        }
        let takes_positional = cmd.get_arguments().any(|a| a.is_positional());
        if takes_positional {
            d = push_values(
                &mut lines,
                config_dir,
                positional_values(&path),
                to_complete,
                descriptions,
            );
        }
        directive = d;
    }
    lines.push(format!(":{directive}"));
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn takes_value(cmd: &clap::Command, root: &clap::Command, long: &str) -> bool {
    cmd.get_arguments()
        .chain(root.get_arguments())
        .find(|a| a.get_long() == Some(long))
        .is_some_and(|a| a.get_action().takes_values())
}

fn candidate(value: &str, help: Option<String>, descriptions: bool) -> String {
    match help {
        Some(h) if descriptions => {
            // One line per candidate: the first line of the help, no tabs.
            let h = h.lines().next().unwrap_or("").replace('\t', " ");
            format!("{value}\t{h}")
        }
        _ => value.to_string(),
    }
}

/// Adds the values that start with `prefix`; returns the directive.
fn push_values(
    lines: &mut Vec<String>,
    config_dir: &Path,
    values: Values,
    prefix: &str,
    descriptions: bool,
) -> u32 {
    let state = State::new(config_dir);
    let mut add = |name: &str, help: Option<String>| {
        // Only names that print as themselves: a record's name is checked
        // when read, but a candidate with a newline would be two.
        if name.starts_with(prefix) && !name.chars().any(char::is_control) {
            lines.push(candidate(name, help, descriptions));
        }
    };
    match values {
        Values::Files => return DEFAULT,
        Values::Nothing => {}
        Values::Fixed(all) => all.iter().for_each(|v| add(v, None)),
        Values::Contexts | Values::Identities => {
            for (name, e) in state.expiry_entries().unwrap_or_default() {
                if values == Values::Contexts && e.context.is_none() {
                    continue;
                }
                let kind = if e.context.is_some() {
                    "context"
                } else {
                    "client bundle"
                };
                add(
                    &name,
                    Some(format!("{kind}, until {}", crate::text::date(e.not_after))),
                );
            }
        }
        Values::Cas | Values::Issuers => {
            for c in state.cas().unwrap_or_default() {
                if values == Values::Issuers && c.issuer.is_none() {
                    continue;
                }
                add(&c.name, Some(crate::text::one_line(&c.cn)));
            }
        }
        Values::Daemons | Values::Services | Values::Bundles => {
            for r in state.servers().unwrap_or_default() {
                let daemon = r.purpose.is_daemon();
                if (values == Values::Daemons && !daemon) || (values == Values::Services && daemon)
                {
                    continue;
                }
                let kind = if daemon {
                    "server bundle"
                } else {
                    "service certificate"
                };
                add(
                    &r.name,
                    Some(format!("{kind}, until {}", crate::text::date(r.not_after))),
                );
            }
        }
    }
    NO_FILE_COMP
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    fn lines(out: &str) -> Vec<&str> {
        out.lines().collect()
    }

    #[test]
    fn commands_flags_and_fixed_values() {
        let dir = std::env::temp_dir().join("tlsctx-complete-none");
        let out = answer(&dir, &words(&[""]), true);
        assert!(out.contains("renew\t"), "{out}");
        assert!(!out.contains("\nhelp"), "{out}");
        assert!(out.ends_with(":4\n"), "{out}");
        let out = answer(&dir, &words(&["re"]), false);
        assert_eq!(lines(&out), ["renew", "restore", "revoke", "request", ":4"]);
        let out = answer(&dir, &words(&["new", "x", "--key-type", ""]), false);
        assert_eq!(lines(&out)[..3], ["ecdsa-p256", "ecdsa-p384", "ed25519"]);
        let out = answer(&dir, &words(&["new", "x", "--ro"]), false);
        assert_eq!(lines(&out), ["--role", ":4"]);
        let out = answer(&dir, &words(&["export", "x", "--p12", ""]), false);
        assert_eq!(lines(&out), [":0"], "files: the shell's own completion");
        let out = answer(&dir, &words(&["new", "x", "--role="]), false);
        assert_eq!(
            lines(&out),
            ["--role=admin", "--role=read-only", "--role=viewer", ":4"]
        );
        // A subcommand's subcommands; the global --keystore flag too.
        let out = answer(&dir, &words(&["swarm", ""]), false);
        assert_eq!(lines(&out), ["publish", "rotate", "ls", "prune", ":4"]);
        let out = answer(&dir, &words(&["ls", "--k"]), false);
        assert_eq!(lines(&out), ["--keystore", ":4"]);
    }
}
