//! Completion through Docker's own path (issue 23): the real docker CLI
//! asks the installed plugin (`docker __complete tlsctx …`), and bash's
//! script from `docker completion bash` (with the bash-completion
//! package's helpers) turns that into COMPREPLY.

use std::process::Command;

use crate::common::*;

/// The real docker CLI with DOCKER_CONFIG in the environment: Docker
/// passes neither `--config` nor DOCKER_CONFIG to a plugin's completion,
/// so the environment is how a user's own folder reaches it.
fn docker(s: &Sandbox, args: &[&str]) -> std::process::Output {
    Command::new(require("docker"))
        .args(args)
        .env("DOCKER_CONFIG", s.cfg())
        // Completion opens no keystore: an OS keystore that cannot
        // answer here changes nothing.
        .env("DOCKER_TLSCTX_KEYSTORE", "os")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap()
}

/// The candidates without their descriptions.
fn names(out: &str) -> Vec<&str> {
    out.lines().map(|l| l.split('\t').next().unwrap()).collect()
}

fn sandbox_with_names() -> Sandbox {
    let s = Sandbox::new();
    install_plugin(&s);
    ok(&s.tlsctx(&["new", "prod", "--host", "tcp://10.0.0.1:2376"]));
    ok(&s.tlsctx(&[
        "new",
        "staging",
        "--host",
        "tcp://10.0.0.2:2376",
        "--no-server",
    ]));
    ok(&s.tlsctx(&["client", "ci-job"]));
    ok(&s.tlsctx(&["ca", "init", "--name", "team"]));
    ok(&s.tlsctx(&["cert", "web", "--san", "web.local"]));
    s
}

#[test]
fn the_docker_cli_completes_our_commands_and_names() {
    let s = sandbox_with_names();
    // Context names for renew, with descriptions; no files.
    let out = ok(&docker(&s, &["__complete", "tlsctx", "renew", ""]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("prod\tcontext, until "), "{out}");
    assert!(lines[1].starts_with("staging\tcontext, until "), "{out}");
    assert_eq!(lines.last(), Some(&":4"), "{out}");
    assert!(
        !out.contains("ci-job"),
        "a client bundle is not a context: {out}"
    );
    // revoke takes client bundles too. Docker asks `__complete` even for
    // its own `__completeNoDesc`; asked directly, ours leaves them out.
    let out = ok(&docker(&s, &["__complete", "tlsctx", "revoke", ""]));
    assert_eq!(names(&out), ["ci-job", "prod", "staging", ":4"]);
    let out = ok(&s.tlsctx(&["__completeNoDesc", "tlsctx", "revoke", ""]));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["ci-job", "prod", "staging", ":4"]
    );
    // Subcommands, by prefix.
    let out = ok(&docker(&s, &["__complete", "tlsctx", "re"]));
    assert_eq!(names(&out), ["renew", "restore", "revoke", "request", ":4"]);
    // CA names for --ca; bundle names for server renew and cert renew.
    let out = ok(&docker(
        &s,
        &["__complete", "tlsctx", "client", "x", "--ca", ""],
    ));
    assert!(
        out.starts_with("default\t") && out.contains("\nteam\t"),
        "{out}"
    );
    let out = ok(&docker(
        &s,
        &["__complete", "tlsctx", "server", "renew", ""],
    ));
    assert_eq!(names(&out), ["prod", ":4"]);
    let out = ok(&docker(&s, &["__complete", "tlsctx", "cert", "renew", ""]));
    assert_eq!(names(&out), ["web", ":4"]);
    // Files where a file goes: the shell's own completion (directive 0).
    let out = ok(&docker(
        &s,
        &["__complete", "tlsctx", "export", "prod", "--p12", ""],
    ));
    assert_eq!(out.trim(), ":0");
}

#[test]
fn bash_completes_through_dockers_own_script() {
    let s = sandbox_with_names();
    let script = s.path().join("docker.bash");
    std::fs::write(&script, ok(&docker(&s, &["completion", "bash"]))).unwrap();
    let helpers = std::path::Path::new("/usr/share/bash-completion/bash_completion");
    assert!(
        helpers.exists(),
        "bash-completion is not installed (scripts/test.sh installs it)"
    );
    let complete = |line: &str| {
        let o = Command::new(require("bash"))
            .arg("-c")
            .arg(
                r#"source /usr/share/bash-completion/bash_completion
source "$SCRIPT"
compopt() { :; }   # only inside a real completion
COMP_LINE="$LINE"; COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
__start_docker docker "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}""#,
            )
            .env("SCRIPT", &script)
            .env("LINE", line)
            .env("DOCKER_CONFIG", s.cfg())
            .env("DOCKER_TLSCTX_KEYSTORE", "file")
            .output()
            .unwrap();
        ok(&o).lines().map(str::to_string).collect::<Vec<String>>()
    };
    assert_eq!(complete("docker tlsctx renew "), ["prod", "staging"]);
    assert_eq!(complete("docker tlsctx renew st"), ["staging"]);
    assert_eq!(
        complete("docker tlsctx re"),
        ["renew", "restore", "revoke", "request"]
    );
    assert_eq!(
        complete("docker tlsctx new x --role "),
        ["admin", "read-only", "viewer"]
    );
    assert_eq!(
        complete("docker tlsctx swarm "),
        ["publish", "rotate", "ls", "prune"]
    );
}
