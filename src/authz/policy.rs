//! What a role may do: pure decisions over Docker Engine API requests
//! (ARCHITECTURE.md, "Roles and revocation").
//!
//! - `admin`: everything.
//! - `read-only`: an allow-list. GET or HEAD only, on a route of
//!   [`route::ROUTES`] marked `Read`, matched on the path dockerd itself
//!   routes ([`route::normalize`]). Anything else is refused: other methods,
//!   targets that cannot be normalized, paths that reach no listed route,
//!   and paths that reach a route marked `Never` (container files, image
//!   tarballs, attach, swarm tokens, unlock key, secrets, configs, and
//!   routes that make the daemon connect out).
//!
//! Service certificates (`OU=role:service`) never get here: trust.rs
//! refuses them, and every certificate whose role it cannot read.

use super::route::{self, Access};
use crate::pki::Role;

/// Why a request is refused, or `Ok` when it is allowed.
pub fn decide(role: Role, method: &str, uri: &str) -> Result<(), String> {
    match role {
        Role::Admin => Ok(()),
        Role::ReadOnly => read_only(method, uri),
        Role::Viewer => viewer(method, uri),
    }
}

/// The viewer role: what read-only may do, and of that only the routes in
/// [`route::VIEWER`] (lists whose items carry no environment, driver or
/// plugin options, and versions), every route the path reaches being one.
fn viewer(method: &str, uri: &str) -> Result<(), String> {
    let (path, routes) = read_only_routes(method, uri)?;
    match routes
        .iter()
        .find(|r| !route::VIEWER.contains(&(r.method, r.template)))
    {
        None if !routes.is_empty() => Ok(()),
        None => Err(format!("{method} {path} is not a route the viewer role may use")),
        Some(r) => Err(format!(
            "{method} {path} is {} {}, which the viewer role may not use (lists and versions only: inspect, logs and other reads can show secrets)",
            r.method,
            display_template(r.template)
        )),
    }
}

fn read_only(method: &str, uri: &str) -> Result<(), String> {
    read_only_routes(method, uri).map(|_| ())
}

/// The read-only decision, and when it allows: the routed path and every
/// route it reaches (the viewer decides on them next).
fn read_only_routes(
    method: &str,
    uri: &str,
) -> Result<(String, Vec<&'static route::Route>), String> {
    let path = route::normalize(uri)
        .map_err(|why| format!("{method} {} cannot be classified ({why})", shown(uri)))?;
    // Exact spelling: gorilla/mux compares methods as sent.
    if method != "GET" && method != "HEAD" {
        return Err(format!("{method} {path} changes the engine"));
    }
    let routes = route::matching(method, &path);
    // Go's url.ParseRequestURI: the query is what follows the first '?'.
    let has_query = uri.split_once('?').is_some_and(|(_, q)| !q.is_empty());
    if let Some(never) = routes.iter().find_map(|r| match r.access {
        Access::Never(why) => Some((r, why)),
        Access::ReadWithoutQuery(why) if has_query => Some((r, why)),
        Access::Read | Access::ReadWithoutQuery(_) => None,
    }) {
        let (r, why) = never;
        return Err(format!(
            "{method} {path} is {} {}, which {why}",
            r.method,
            display_template(r.template)
        ));
    }
    if routes.is_empty() {
        return Err(format!(
            "{method} {path} is not a route the read-only role may use"
        ));
    }
    Ok((path, routes))
}

/// `/containers/{name:.*}/json` as users read it: `/containers/{name}/json`.
fn display_template(t: &str) -> String {
    t.replace(":.*}", "}")
}

/// A request target as a message may show it: its path, at most 200 bytes,
/// control bytes escaped.
fn shown(uri: &str) -> String {
    let p = uri.split('?').next().unwrap_or("");
    let mut s: String = p.escape_debug().collect();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// The path a log line shows for a request: the routed path when the target
/// normalizes, otherwise the raw target, escaped.
pub fn log_path(uri: &str) -> String {
    route::normalize(uri).unwrap_or_else(|_| shown(uri))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::route::{
        ATTACH, CONFIGS, CONNECTS, FILES, IMAGE, SECRETS, SWARM_KEYS, UNLOCK,
    };

    #[test]
    fn read_only_reads_state_and_nothing_else() {
        let ro = Role::ReadOnly;
        for (m, u) in [
            ("GET", "/_ping"),
            ("HEAD", "/_ping"),
            ("GET", "/v1.47/version"),
            ("GET", "/v1.47/containers/json?all=1"),
            ("GET", "/v1.47/containers/abc/json"),
            ("GET", "/v1.47/containers/abc/logs?stdout=1"),
            ("GET", "/v1.47/images/json"),
            ("GET", "/v1.47/images/busybox/json"),
            ("GET", "/v1.47/images/library/busybox:1/json"),
            ("GET", "/v1.47/info"),
            ("GET", "/v1.47/containers/c1/top"),
            ("GET", "/v1.47/networks"),
        ] {
            assert_eq!(decide(ro, m, u), Ok(()), "{m} {u}");
        }
        for (m, u, want) in [
            ("POST", "/v1.47/containers/create", "changes the engine"),
            ("POST", "/v1.47/containers/abc/exec", "changes the engine"),
            ("get", "/v1.47/containers/json", "changes the engine"),
            ("OPTIONS", "/v1.47/containers/json", "changes the engine"),
            ("DELETE", "/v1.47/containers/abc", "changes the engine"),
            ("HEAD", "/v1.47/containers/abc/archive?path=/etc", FILES),
            ("GET", "/v1.47/containers/abc/archive?path=/etc", FILES),
            ("GET", "/v1.47/containers/c1/%61rchive?path=/etc", FILES),
            ("GET", "http://x/v1.41/containers/c1/export", FILES),
            ("GET", "/v1.47/containers/abc/attach/ws", ATTACH),
            ("GET", "/v1.47/images/get?names=x", IMAGE),
            ("GET", "/v1.47/images/busybox/get", IMAGE),
            ("GET", "/v1.47/configs/abc", CONFIGS),
            ("GET", "/v1.47/swarm/unlockkey", UNLOCK),
            ("GET", "/v1.47/swarm", SWARM_KEYS),
            ("GET", "/v1.47/secrets", SECRETS),
            (
                "GET",
                "/v1.47/distribution/registry.example/x/json",
                CONNECTS,
            ),
            ("GET", "/v1.47/images/search?term=x", CONNECTS),
            ("GET", "/v1.47/nope", "is not a route"),
            ("GET", "/v1.47/containers/c1/top?ps_args=auxe", "ps e shows"),
            (
                "GET",
                "http://x/v1.47/containers/c1/%74op?ps_args=e",
                "ps e shows",
            ),
            ("GET", "/v1.47/Containers/json", "is not a route"),
            ("GET", "/v1.47/containers/json/", "is not a route"),
            (
                "GET",
                "/v1.47/containers/x/../../swarm",
                "cannot be classified",
            ),
        ] {
            let got = decide(ro, m, u);
            assert!(
                got.as_ref().is_err_and(|e| e.contains(want)),
                "{m} {u}: {got:?}, wanted {want:?}"
            );
        }
        assert_eq!(
            decide(Role::Admin, "POST", "/v1.47/containers/create"),
            Ok(())
        );
    }

    /// Issue 30: a viewer sees lists and versions; what read-only reads
    /// beyond that (environment in inspect, volume driver options, logging
    /// driver tokens, logs) it does not.
    #[test]
    fn viewer_sees_lists_and_versions_only() {
        let v = Role::Viewer;
        for (m, u) in [
            ("GET", "/_ping"),
            ("HEAD", "/_ping"),
            ("GET", "/v1.47/version"),
            ("GET", "/v1.47/containers/json?all=1"),
            ("GET", "/v1.47/images/json"),
            ("GET", "/v1.47/networks"),
            ("GET", "/v1.47/nodes"),
        ] {
            assert_eq!(decide(v, m, u), Ok(()), "{m} {u}");
        }
        for (m, u) in [
            ("GET", "/v1.47/containers/c1/json"),
            ("GET", "/v1.47/containers/c1/logs?stdout=1"),
            ("HEAD", "/v1.47/containers/c1/archive?path=/"),
            ("GET", "/v1.47/volumes"),
            ("GET", "/v1.47/volumes/v1"),
            ("GET", "/v1.47/services"),
            ("GET", "/v1.47/tasks"),
            ("GET", "/v1.47/plugins"),
            ("GET", "/v1.47/info"),
            ("GET", "/v1.47/events"),
            ("GET", "/v1.47/images/busybox/json"),
            ("GET", "/v1.47/containers/c1/top"),
            ("POST", "/v1.47/containers/create"),
            ("GET", "/v1.47/swarm"),
        ] {
            assert!(decide(v, m, u).is_err(), "{m} {u} was allowed");
        }
    }
}
