//! Output helpers for the commands, in one place: tables, JSON, colour, the
//! key-generation spinner, and texts more than one command prints.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use time::OffsetDateTime;

use crate::docker::host::Host;
use crate::issuance::renewal::health::Health;
use crate::issuance::Progress;
use crate::pki::KeyType;
use crate::state::ServerRecord;
use crate::text::date;

/// Left-aligned columns separated by three spaces, as `docker context ls`.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut width = header.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == N {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}   "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

/// Prints JSON on stdout, pretty, newline-terminated.
pub fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("json"));
}

/// Colour only on a terminal and never with NO_COLOR (no-color.org).
pub fn colour() -> bool {
    std::io::stdout().is_terminal()
        && crate::environment::var_os(crate::environment::Var::NoColor).is_none_or(|v| v.is_empty())
}

/// A health state as a table cell: the label (with the reason when broken),
/// green, yellow or red when `on`.
pub fn state_cell(h: &Health, on: bool) -> String {
    let text = h.describe();
    if !on {
        return text;
    }
    let code = match h {
        Health::Ok => "32",
        Health::RenewSoon => "33",
        Health::Expired | Health::Revoked | Health::Broken(_) => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Shows a spinner on stderr while an RSA key is generated (RSA-4096 takes
/// about a second), on a terminal only.
#[derive(Default)]
pub struct Spinner {
    running: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

impl Progress for Spinner {
    fn started(&self, key_type: KeyType, what: &str) {
        if !key_type.is_rsa() || !std::io::stderr().is_terminal() {
            return;
        }
        let done = Arc::new(AtomicBool::new(false));
        let label = format!("Generating {key_type} key for {what} ");
        let flag = done.clone();
        let handle = std::thread::spawn(move || {
            let frames = ['|', '/', '-', '\\'];
            let mut i = 0;
            while !flag.load(Ordering::Relaxed) {
                eprint!("\r{label}{}", frames[i % 4]);
                let _ = std::io::stderr().flush();
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            eprint!("\r\x1b[2K");
        });
        *self.running.lock().expect("spinner lock") = Some((done, handle));
    }

    fn finished(&self) {
        if let Some((done, handle)) = self.running.lock().expect("spinner lock").take() {
            done.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}

/// One warning line when a certificate was cut short to end with its CA.
pub fn warn_if_clamped(clamped: bool, not_after: OffsetDateTime, what: &str, ca: &str, days: u32) {
    if clamped {
        eprintln!(
            "Warning: the {what} certificate ends on {} with CA {ca:?}, sooner than the {days} days asked for; plan a new CA before then.",
            date(not_after)
        );
    }
}

/// What every renewal prints first (`renew`, `server renew`, `cert renew`;
/// issue 32: written once): the signer's notes, and a lifetime the CA cut
/// short.
pub fn renewal_notes(
    notes: &[String],
    clamped: bool,
    not_after: OffsetDateTime,
    what: &str,
    ca: &str,
    days: u32,
) {
    for n in notes {
        eprintln!("Note: {n}");
    }
    warn_if_clamped(clamped, not_after, what, ca, days);
}

/// `server renew` and `cert renew`: the bundle renewed, in one line.
pub fn bundle_renewed(noun: &str, before: &ServerRecord, after: &ServerRecord) {
    let sans: Vec<String> = after.sans.iter().map(ToString::to_string).collect();
    println!(
        "Renewed {noun} {:?} for {} (valid until {}, was {}) in {}",
        after.name,
        sans.join(", "),
        date(after.not_after),
        date(before.not_after),
        after.dir.display()
    );
}

/// The steps for the daemon host, printed after `new`, `server` and `server
/// renew`: `server install` first (it is what the steps by hand do, verified
/// and rolled back on failure), then the same by hand, with the drop-in
/// under the name `server install` gives it.
pub fn server_next_steps(
    name: &str,
    dir: &Path,
    daemon_dir: &str,
    host: &str,
    authz: bool,
) -> String {
    let d = dir.display();
    let t = daemon_dir.trim_end_matches('/');
    let drop_in = crate::state::DROP_IN_FILE;
    let first = format!(
        "Next, install it on the Docker host {host} over SSH (checked, and undone if dockerd fails):\n\
         \x20 docker tlsctx server install {name} --ssh USER@{host}\n\
         Or by hand, where systemd starts dockerd:\n"
    );
    if !authz {
        return format!(
            "{first}\
             \x20 1. copy {d}/{{ca.pem,server-cert.pem,server-key.pem}} to {t}/ (keep server-key.pem mode 0600, owner root)\n\
             \x20 2. merge {d}/daemon.json into /etc/docker/daemon.json\n\
             \x20 3. copy {d}/{drop_in} to /etc/systemd/system/docker.service.d/\n\
             \x20 4. sudo systemctl daemon-reload && sudo systemctl restart docker\n"
        );
    }
    // dockerd refuses every request while a configured plugin is down: the
    // plugin runs before dockerd is restarted with it.
    format!(
        "{first}\
         \x20 1. copy {d}/{{ca.pem,server-cert.pem,server-key.pem}} to {t}/ (keep server-key.pem mode 0600, owner root), and crl.pem too once something is revoked\n\
         \x20 2. install docker-tlsctx as /usr/local/bin/docker-tlsctx and copy {d}/tlsctx-authz.service to /etc/systemd/system/\n\
         \x20 3. sudo systemctl daemon-reload && sudo systemctl enable --now tlsctx-authz\n\
         \x20 4. merge {d}/daemon.json into /etc/docker/daemon.json (it names the plugin tlsctx-authz)\n\
         \x20 5. copy {d}/{drop_in} to /etc/systemd/system/docker.service.d/\n\
         \x20 6. sudo systemctl daemon-reload && sudo systemctl restart docker\n"
    )
}

/// What `--p12` wrote, on stderr: the file, its profile, and a generated
/// password shown once.
pub fn report_p12(w: &crate::issuance::identities::export::P12Written, friendly: &str) {
    let profile = match w.profile {
        crate::p12::Profile::Legacy => "legacy: 3DES, SHA-1 MAC",
        crate::p12::Profile::Modern => "modern: AES-256, SHA-256 MAC",
    };
    eprintln!(
        "Wrote {} (PKCS#12, {profile}, friendly name {friendly:?}, mode 0600).",
        w.path.display()
    );
    if let Some(pw) = &w.generated_password {
        eprintln!(
            "Password for {} (shown once, stored nowhere): {pw}",
            w.path.display()
        );
    }
}

/// What `--keychain` did, on stderr.
pub fn report_keychain(login: &Path, friendly: &str, host: &Host) {
    let which = if login.ends_with("login.keychain-db") {
        "the login keychain"
    } else {
        "the keychain"
    };
    eprintln!(
        "Imported identity {friendly:?} into {which} ({}).",
        login.display()
    );
    eprintln!(
        "curl uses it by name: curl --cert {friendly:?} https://{}/_ping",
        host.authority()
    );
}

/// A line of progress on stderr, said while a long step goes on.
pub fn progress(line: &str) {
    eprintln!("{line}");
}

/// Asks a yes/no question on the terminal (stderr, then a line of stdin);
/// false when stdin is not a terminal, so scripts must say --yes.
pub fn ask_yes(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question}. Go ahead? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok()
        && matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// What `server install` (and `new --ssh`, `server renew --install`) did,
/// or would do with --dry-run.
pub fn report_install(i: &crate::issuance::install::Installed) {
    use crate::issuance::install::plan;
    for n in &i.notes {
        eprintln!("Note: {n}.");
    }
    if i.dry_run {
        let f = &i.facts;
        println!("Plan for {} on {} (nothing was changed):", i.name, i.target);
        println!(
            "  dockerd:  {} ({}); restarted with: {}",
            f.dockerd.as_deref().unwrap_or("?"),
            f.version.as_deref().unwrap_or("version unknown"),
            i.plan.restart
        );
        println!("  started:  {}", i.plan.start_command);
        println!("  files:");
        for (d, mode) in &i.plan.dirs {
            println!("    {d}/ (folder, {mode:04o} if new)");
        }
        for c in &i.plan.files {
            let what = if c.secret {
                "the server key".to_string()
            } else if c.before.is_some() {
                "replaced, backed up".into()
            } else {
                format!("{} bytes", c.content.len())
            };
            println!("    {} ({:04o}, root): {what}", c.dest, c.mode);
        }
        for c in &i.plan.files {
            if c.dest == plan::DROP_IN {
                println!("  {}:", c.dest);
                for l in String::from_utf8_lossy(&c.content).lines() {
                    println!("    {l}");
                }
            } else if !c.secret && (c.dest == plan::DAEMON_JSON || c.before.is_some()) {
                println!("  {} change:", c.dest);
                let after = String::from_utf8_lossy(&c.content);
                for l in plan::diff(c.before.as_deref().unwrap_or(""), &after).lines() {
                    println!("    {l}");
                }
            }
        }
        if i.plan.reload == ":" {
            println!("  then: {}", i.plan.restart);
        } else {
            println!("  then: {}; {}", i.plan.reload, i.plan.restart);
        }
        println!(
            "  verify: the local socket, then a mutual-TLS call to {} as context {:?}; roll back on failure",
            i.address, i.context
        );
        return;
    }
    println!(
        "Installed server bundle {:?} on {}: dockerd {} answers on {} to context {:?} (restart {:.1} s, {:.1} s in all).",
        i.name,
        i.target,
        i.version,
        i.address,
        i.context,
        i.restart.as_secs_f64(),
        i.total.as_secs_f64()
    );
}
