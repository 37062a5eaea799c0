//! The import graph of src/ (ARCHITECTURE.md, "Layers"): a module imports
//! only from its own layer or below, no command imports another, and there
//! is no cycle. It reads `crate::…` and `super::…` paths as text, which is
//! all it takes in a crate that names its modules that way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules by layer, lowest first.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves",
        &[
            "environment",
            "error",
            "text",
            "names",
            "fsio",
            "lock",
            "sys",
            "http1",
            "interrupt",
            "proc",
        ],
    ),
    ("pure code", &["pki", "csr", "p12", "issued"]),
    (
        "adapters",
        &[
            "docker",
            "keystore",
            "state",
            "probe",
            "ssh",
            "tls_client",
            "vault",
        ],
    ),
    ("issuance", &["issuance"]),
    ("interface", &["args", "explain", "ui"]),
    (
        "front ends",
        &[
            "cli",
            "commands",
            "complete",
            "credhelper",
            "authz",
            "agent",
        ],
    ),
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&top))
}

/// `src/docker/context.rs` → ["docker", "context"]; mod.rs and lib.rs name their folder.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments and without its `#[cfg(test)]` module
/// (unit tests may reach anything).
fn code(text: &str) -> String {
    let body = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    body.lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.starts_with("//")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module a file refers to, as a path of names ("docker::context").
fn imports(module: &[String], code: &str) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    // The leading `a::b::c` of `s`: lower-case names joined by `::`.
    let ident = |s: &str| -> Vec<String> {
        let mut parts = Vec::new();
        let mut rest = s;
        loop {
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            parts.push(rest[..end].to_string());
            match rest[end..].strip_prefix("::") {
                Some(r) => rest = r,
                None => break,
            }
        }
        parts
    };
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        out.insert(ident(after));
        rest = after;
    }
    let mut rest = code;
    while let Some(i) = rest.find("super::") {
        let after = &rest[i + "super::".len()..];
        // `super` of a file module is its parent folder's module.
        let mut base = module.to_vec();
        base.pop();
        base.extend(ident(after));
        out.insert(base);
        rest = after;
    }
    // `use crate::{a, b::c}` groups.
    let mut rest = code;
    while let Some(i) = rest.find("use crate::{") {
        let after = &rest[i + "use crate::{".len()..];
        let group = &after[..after.find("};").unwrap_or(after.len())];
        for item in group.split(',') {
            let item = item.trim();
            if !item.is_empty() {
                out.insert(ident(item));
            }
        }
        rest = after;
    }
    out.into_iter().filter(|p| !p.is_empty()).collect()
}

/// Every layering problem of the tree under `src`, one line each.
fn problems_in(src: &Path) -> Vec<String> {
    let src = src.to_path_buf();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    // File-level graph for the cycle check: module path → modules it uses.
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut known: BTreeSet<Vec<String>> = BTreeSet::new();
    for f in &files {
        known.insert(module_path(&src, f));
    }
    for f in &files {
        let module = module_path(&src, f);
        let name = f.strip_prefix(&src).unwrap().display().to_string();
        if name == "main.rs" || name == "lib.rs" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let top = &module[0];
        let Some(mine) = layer_of(top) else {
            problems.push(format!(
                "{name}: module {top} has no layer in tests/it/layers.rs"
            ));
            continue;
        };
        for target in imports(&module, &code(&text)) {
            // Resolve to the longest known module prefix (an item's path ends in a type).
            let resolved = (1..=target.len())
                .rev()
                .map(|n| target[..n].to_vec())
                .find(|p| known.contains(p));
            let Some(resolved) = resolved else { continue };
            if resolved == module || module.starts_with(&resolved) {
                continue; // itself, or its parent's re-exports
            }
            let Some(theirs) = layer_of(&resolved[0]) else {
                continue;
            };
            if theirs > mine {
                problems.push(format!(
                    "{name} ({}) imports {} ({}), a layer above it",
                    LAYERS[mine].0,
                    resolved.join("::"),
                    LAYERS[theirs].0
                ));
            }
            if module[0] == "commands"
                && resolved[0] == "commands"
                && resolved.len() > 1
                && module.len() > 1
            {
                problems.push(format!(
                    "{name} imports the command {}: share it through issuance or ui instead",
                    resolved.join("::")
                ));
            }
            graph.entry(module.clone()).or_default().insert(resolved);
        }
    }
    // Cycles, by depth-first search over the file graph.
    fn visit(
        n: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
        cycles: &mut Vec<String>,
    ) {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m).copied().unwrap_or(0) {
                0 => visit(m, graph, state, stack, cycles),
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap();
                    let names: Vec<String> = stack[at..].iter().map(|p| p.join("::")).collect();
                    cycles.push(format!(
                        "import cycle: {} -> {}",
                        names.join(" -> "),
                        m.join("::")
                    ));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for n in graph.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            visit(n, &graph, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    problems.extend(cycles);
    problems
}

#[test]
fn imports_flow_one_way_and_commands_stand_alone() {
    let problems = problems_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_finds_what_it_is_there_to_find() {
    // A small tree with one of each fault: an upward import, a command
    // importing another, a cycle, and a top-level module with no layer.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |p: &str, text: &str| {
        let path = src.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "lib.rs",
        "pub mod error;\npub mod commands;\npub mod docker;\n",
    );
    write(
        "error.rs",
        "use crate::commands::ls;\n// use crate::commands::new; in a comment counts for nothing\n",
    );
    write("commands/mod.rs", "pub mod ls;\npub mod new;\n");
    write(
        "commands/ls.rs",
        "use crate::{error::Error, commands::new::Thing};\n",
    );
    write(
        "commands/new.rs",
        "pub struct Thing;\n#[cfg(test)]\nmod tests {\n    use crate::commands::ls;\n}\n",
    );
    write("docker/mod.rs", "pub mod a;\npub mod b;\n");
    write("docker/a.rs", "use super::b::B;\npub struct A;\n");
    write("docker/b.rs", "use crate::docker::a::A;\npub struct B;\n");
    write("stray.rs", "");
    let problems = problems_in(src).join("\n");
    for want in [
        "error.rs (leaves) imports commands::ls (front ends), a layer above it",
        "commands/ls.rs imports the command commands::new",
        "import cycle: docker::a -> docker::b -> docker::a",
        "stray.rs: module stray has no layer",
    ] {
        assert!(problems.contains(want), "missing {want:?} in:\n{problems}");
    }
    // ls uses error and error uses ls: that upward arrow also closes a cycle.
    assert!(problems.contains("import cycle: commands::ls -> error -> commands::ls"));
    assert_eq!(problems.lines().count(), 5, "{problems}");
}

/// Issue 32: what to do next, and the commands and flags that say it,
/// belong to the interface (src/explain.rs, beside the CLI's definitions);
/// the leaf error type only says what happened, so renaming a flag never
/// edits the lowest layer.
#[test]
fn hints_commands_and_flags_live_with_the_interface() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src/error"), &mut files);
    assert!(!files.is_empty());
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let flag = |l: &str| {
        l.match_indices("--")
            .any(|(i, _)| l[i + 2..].starts_with(|c: char| c.is_ascii_lowercase()))
    };
    let found: Vec<String> = code(&text)
        .lines()
        .filter(|l| l.contains("docker tlsctx") || l.contains("docker context") || flag(l))
        .map(|l| l.trim().to_string())
        .collect();
    assert!(
        found.is_empty(),
        "src/error/ names commands or flags (they belong in src/explain.rs):\n{}",
        found.join("\n")
    );
    // And the interface has them: the check above is not vacuous.
    let explain = std::fs::read_to_string(root.join("src/explain.rs")).unwrap();
    assert!(explain.contains("docker tlsctx") && flag(&explain));
}

/// Issue 32: no source file passes 600 lines unless its header says why
/// in one line (`//! Over 600 lines: …`), so a drawer file is a decision
/// someone wrote down, not an accident.
#[test]
fn no_source_file_passes_600_lines_without_a_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    files.sort();
    let mut long = Vec::new();
    let mut unexplained = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let n = text.lines().count();
        if n <= 600 {
            continue;
        }
        let shown = f.strip_prefix(root).unwrap().display().to_string();
        long.push(format!("{shown} ({n})"));
        let reason = text.lines().take(20).find_map(|l| {
            l.strip_prefix("//! Over 600 lines: ")
                .filter(|r| r.trim().len() > 10)
        });
        if reason.is_none() {
            unexplained.push(format!("{shown}: {n} lines"));
        }
    }
    assert!(
        unexplained.is_empty(),
        "split these files by concern, or say in their header why not (//! Over 600 lines: REASON):\n{}",
        unexplained.join("\n")
    );
    println!(
        "files over 600 lines, each with its reason: {}",
        long.join(", ")
    );
}

/// Issue 32: every environment variable is read in src/environment.rs and
/// listed in README.md's "Environment" table; a read anywhere else, or a
/// variable the table lacks, fails here.
#[test]
fn environment_variables_are_read_in_one_place_and_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut elsewhere = Vec::new();
    for f in &files {
        if f.ends_with("src/environment.rs") {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for l in code(&text).lines() {
            if l.contains("env::var(") || l.contains("env::var_os(") || l.contains("env::vars(") {
                elsewhere.push(format!(
                    "{}: {}",
                    f.strip_prefix(root).unwrap().display(),
                    l.trim()
                ));
            }
        }
    }
    assert!(
        elsewhere.is_empty(),
        "environment variables read outside src/environment.rs:\n{}",
        elsewhere.join("\n")
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let table = readme
        .split("### Environment")
        .nth(1)
        .and_then(|t| t.split("\n### ").next())
        .expect("README.md has an Environment section");
    let listed: std::collections::BTreeSet<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    let named: std::collections::BTreeSet<&str> = docker_tlsctx::environment::Var::ALL
        .iter()
        .map(|v| v.name())
        .collect();
    assert_eq!(
        listed, named,
        "README.md's Environment table and src/environment.rs differ"
    );
}

/// Below the interface, what a user should run next is a fact for `explain`
/// to word, not a `docker tlsctx …` line (issue 32). The files listed still
/// write some themselves: each may lose lines, none may gain one, and no
/// other file may start (issue 34 rewrites these hints and warnings as it
/// makes each one work when followed).
const COMMANDS_BELOW_THE_INTERFACE: &[(&str, usize)] = &[
    ("src/csr.rs", 1),
    ("src/docker/endpoint.rs", 1),
    ("src/issuance/identities/identity.rs", 1),
    ("src/issuance/renewal/health.rs", 7),
    ("src/issuance/renewal/renew_due.rs", 11),
    ("src/issuance/swarm/publish.rs", 1),
    ("src/tls_client.rs", 6),
];

#[test]
fn lower_layers_name_no_command_outside_a_shrinking_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let interface = LAYERS.iter().position(|(n, _)| *n == "interface").unwrap();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = std::collections::BTreeMap::new();
    for f in &files {
        let module = module_path(&src, f);
        let Some(layer) = module.first().and_then(|m| layer_of(m)) else {
            continue;
        };
        if layer >= interface {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        // A unit or plist's own header says which command wrote it: that
        // is the file's content, not a hint.
        let n = code(&text)
            .lines()
            .filter(|l| l.contains("docker tlsctx ") && !l.contains("Written by docker tlsctx"))
            .count();
        if n > 0 {
            let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            found.insert(rel, n);
        }
    }
    let allowed: std::collections::BTreeMap<String, usize> = COMMANDS_BELOW_THE_INTERFACE
        .iter()
        .map(|(f, n)| (f.to_string(), *n))
        .collect();
    let mut over = Vec::new();
    for (f, n) in &found {
        let may = allowed.get(f).copied().unwrap_or(0);
        if *n > may {
            over.push(format!(
                "{f}: {n} lines name a docker tlsctx command (at most {may})"
            ));
        }
    }
    assert!(
        over.is_empty(),
        "a way out that names a command belongs in src/explain.rs, reached through a cause the lower layer returns:\n{}",
        over.join("\n")
    );
    // The list only shrinks: a file that improved lowers its number.
    let stale: Vec<String> = allowed
        .iter()
        .filter(|(f, n)| found.get(*f).copied().unwrap_or(0) < **n)
        .map(|(f, n)| {
            format!(
                "{f}: listed at {n}, now {}",
                found.get(f).copied().unwrap_or(0)
            )
        })
        .collect();
    assert!(
        stale.is_empty(),
        "lower the numbers in COMMANDS_BELOW_THE_INTERFACE:\n{}",
        stale.join("\n")
    );
}

/// The scenarios' step runner (tests/it/common/steps.rs) reports every
/// failed check, not the first, and a failed setup ends the scenario.
#[test]
fn a_scenarios_steps_report_every_failed_check() {
    use crate::common::steps::Steps;
    let run = |f: fn(&mut Steps)| {
        std::panic::catch_unwind(move || {
            let mut s = Steps::new("example");
            f(&mut s);
            s.done();
        })
        .map_err(|p| p.downcast_ref::<String>().cloned().unwrap_or_default())
    };
    assert!(run(|s| {
        s.setup("make", || ());
        s.check("look", || ());
    })
    .is_ok());
    let e = run(|s| {
        s.check("first", || panic!("one"));
        s.check("second", || ());
        s.check("third", || panic!("three"));
    })
    .unwrap_err();
    assert!(
        e.contains("2 step(s) failed, 1 passed")
            && e.contains("--- first:\none")
            && e.contains("--- third:\nthree"),
        "{e}"
    );
    let e = run(|s| {
        s.check("first", || panic!("one"));
        s.setup("build", || panic!("broken"));
        s.check("never", || unreachable!());
    })
    .unwrap_err();
    assert!(
        e.contains("--- first:")
            && e.contains("--- build:\nbroken")
            && e.contains("not run")
            && !e.contains("never"),
        "{e}"
    );
}
