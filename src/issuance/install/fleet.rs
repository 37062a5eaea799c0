//! `server install --all`: the bundles with a recorded target, grouped by
//! host, installed in parallel across hosts.

use crate::error::{Error, InstallNext, Result};

use super::*;

/// The bundles `server install --all` reaches: those with a recorded
/// target (with `authz_only`, those whose daemon runs the plugin), grouped
/// by host: bundles of one host are installed one after the other, since
/// they share its daemon.json.
pub fn fleet(env: &Env, authz_only: bool) -> Result<Vec<Vec<String>>> {
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in env.state().servers()? {
        if !(r.purpose.is_daemon() && (r.host.authz || !authz_only)) {
            continue;
        }
        let Some(ssh) = &r.host.ssh else { continue };
        let key = Target::parse(ssh)
            .map(|t| format!("{}:{}", t.host.to_ascii_lowercase(), t.port.unwrap_or(22)))
            .unwrap_or_else(|_| ssh.clone());
        groups.entry(key).or_default().push(r.name);
    }
    let mut groups: Vec<Vec<String>> = groups.into_values().collect();
    for g in &mut groups {
        g.sort();
    }
    if groups.is_empty() {
        return Err(Error::InstallRefused {
            host: "any host".into(),
            what: "no server bundle has a recorded SSH target".into(),
            next: InstallNext::InstallOneFirst,
        });
    }
    Ok(groups)
}

/// Runs `f` for each name, `parallel` groups at a time, a group's names
/// one after the other. Each host has its own session and journal, so one
/// failing neither stops nor touches the others; `done` hears each as it
/// ends.
#[allow(clippy::type_complexity)]
pub fn in_parallel<T: Send>(
    groups: Vec<Vec<String>>,
    parallel: usize,
    f: &(dyn Fn(&str) -> Result<T> + Sync),
    done: &(dyn Fn(&str, &Result<T>) + Sync),
) -> Vec<(String, Result<T>)> {
    let workers = parallel.clamp(1, groups.len().max(1));
    let queue = std::sync::Mutex::new(groups.into_iter());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let Some(group) = queue.lock().expect("queue").next() else {
                    break;
                };
                for name in group {
                    let r = f(&name);
                    done(&name, &r);
                    results.lock().expect("results").push((name, r));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by(|a, b| a.0.cmp(&b.0));
    results
}
