//! Every `docker tlsctx …` command a message, hint or next step names
//! parses with our own CLI definition (a hint once named `agent stop`,
//! which does not exist). Placeholders (NAME, `{name}`, `…`) stand for a
//! value; `[optional parts]` are left out; `A|B` takes A.

use std::path::Path;

use clap::Parser;
use docker_tlsctx::cli::Cli;

/// A value a flag accepts, for a placeholder after it.
fn sample(flag: &str) -> &'static str {
    match flag {
        "--key-type" => "ecdsa-p256",
        "--role" => "admin",
        "--days" | "--server-days" | "--parallel" | "--timeout" | "--port" => "2",
        "--reason" => "superseded",
        "--format" => "json",
        "--shell" => "sh",
        "--p12-profile" => "legacy",
        "--before" => "30d",
        "--auth" => "token",
        "--keystore" => "file",
        "--host" => "tcp://203.0.113.7:2376",
        _ => "x1",
    }
}

fn is_placeholder(w: &str) -> bool {
    w == "…"
        || w == "..."
        || w.contains('{')
        || (w.len() > 1
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c == '-' || c.is_ascii_digit())
            && w.chars().any(|c| c.is_ascii_uppercase()))
}

/// Removes `[…]` groups (optional parts), keeping nesting in mind.
fn drop_optional(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The words a text gives after `docker tlsctx `, up to where the
/// sentence obviously resumes; each with whether it was a placeholder.
fn words_of(rest: &str) -> Vec<(String, bool)> {
    let mut end = rest.len();
    for stop in [
        "\"", ")", ";", ", ", " (", " <", " | ", "-->", ": ", "`", "\\n", " or ", " then ",
    ] {
        if let Some(i) = rest.find(stop) {
            end = end.min(i);
        }
    }
    let text = drop_optional(&rest[..end]);
    let mut words: Vec<(String, bool)> = Vec::new();
    for w in text.split_whitespace() {
        let w = w.trim_end_matches(['.', ',']);
        if w.is_empty() {
            continue;
        }
        let w = w.split('|').next().unwrap_or(w);
        // The flag a FlagNeedsDue hint names.
        if w == "{flag}" {
            words.push(("--dry-run".to_string(), false));
            continue;
        }
        if w == "…" || w == "..." {
            // "more of the same": a flag's value, else nothing (command_of).
            words.push(("…".to_string(), true));
            continue;
        }
        if is_placeholder(w) {
            let prev = words.last().map(|(p, _)| p.as_str()).unwrap_or("");
            words.push((sample(prev).to_string(), true));
        } else {
            words.push((w.to_string(), false));
        }
    }
    words
}

/// Walks the words through our command tree: subcommands must exist,
/// flags must exist (and get their value), and a literal word where no
/// subcommand is expected is where prose begins. Returns the command's
/// words, or why it names something that does not exist.
fn command_of(rest: &str) -> Result<Vec<String>, String> {
    use clap::CommandFactory;
    let root = Cli::command();
    let mut cmd = &root;
    let mut out = Vec::new();
    let mut it = words_of(rest).into_iter().peekable();
    let mut positionals = 0usize;
    while let Some((w, placeholder)) = it.next() {
        if let Some(flag) = w.strip_prefix("--") {
            let name = flag.split('=').next().unwrap_or(flag);
            let arg = cmd
                .get_arguments()
                .chain(root.get_arguments())
                .find(|a| a.get_long() == Some(name))
                .ok_or_else(|| format!("no flag --{name} on {:?}", cmd.get_name()))?;
            out.push(w.clone());
            if arg.get_action().takes_values() && !flag.contains('=') {
                match it.next() {
                    Some((v, _)) if v != "…" => out.push(v),
                    _ => out.push(sample(&w).to_string()),
                }
            }
            continue;
        }
        if w.starts_with('-') {
            out.push(w);
            continue;
        }
        if w == "…" {
            continue;
        }
        let has_subcommands = cmd.get_subcommands().next().is_some();
        if !placeholder && has_subcommands && positionals == 0 {
            match cmd.find_subcommand(&w) {
                Some(sub) => {
                    cmd = sub;
                    out.push(w);
                    continue;
                }
                None => return Err(format!("no command {w:?} under {:?}", cmd.get_name())),
            }
        }
        let slots = cmd.get_arguments().filter(|a| a.is_positional()).count();
        if placeholder && positionals < slots.max(1) {
            positionals += 1;
            out.push(w);
            continue;
        }
        // A literal word where no subcommand is expected: prose.
        break;
    }
    Ok(out)
}

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
}

#[test]
fn every_command_a_hint_names_parses() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut checked = 0;
    let mut bad = Vec::new();
    for (path, text) in &files {
        for (n, line) in text.lines().enumerate() {
            // Comments describe; strings are what users read.
            if line.trim_start().starts_with("//") {
                continue;
            }
            let mut rest = line;
            while let Some(i) = rest.find("docker tlsctx ") {
                rest = &rest[i + "docker tlsctx ".len()..];
                let words = match command_of(rest) {
                    Ok(w) => w,
                    Err(why) => {
                        bad.push(format!(
                            "{path}:{}: docker tlsctx {}: {why}",
                            n + 1,
                            rest.chars().take(50).collect::<String>()
                        ));
                        continue;
                    }
                };
                if words.is_empty() {
                    continue;
                }
                checked += 1;
                let mut argv = vec!["docker tlsctx".to_string()];
                argv.extend(words.iter().cloned());
                if let Err(e) = Cli::try_parse_from(&argv) {
                    use clap::error::ErrorKind;
                    // A mention ("see docker tlsctx inspect") or an
                    // abbreviation ("issuer add … --force") leaves out what
                    // is required; anything else is a wrong command.
                    if !matches!(
                        e.kind(),
                        ErrorKind::DisplayHelp
                            | ErrorKind::DisplayVersion
                            | ErrorKind::MissingRequiredArgument
                    ) {
                        bad.push(format!(
                            "{path}:{}: docker tlsctx {}: {}",
                            n + 1,
                            words.join(" "),
                            e.kind()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} hints found: the scan is broken"
    );
    assert!(
        bad.is_empty(),
        "{} of {checked} do not parse:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn the_scan_catches_a_command_that_does_not_exist() {
    assert!(command_of("agent stop, or kill the process)").is_err());
    assert!(command_of("renew --dew").is_err());
    assert_eq!(
        command_of("server install {name} --ssh [USER@]HOST[:PORT]\"").unwrap(),
        ["server", "install", "x1", "--ssh", "x1"]
    );
    assert_eq!(
        command_of("revoke --list shows them").unwrap(),
        ["revoke", "--list"]
    );
}
