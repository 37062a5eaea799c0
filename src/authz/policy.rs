//! What a role may do: pure decisions over Docker Engine API requests.
//!
//! `read-only` may read: GET and HEAD only, and not these, which read out
//! data rather than state (ARCHITECTURE.md, "Roles"):
//! - `/containers/{id}/archive` (`docker cp` out of a container; HEAD is its stat)
//! - `/containers/{id}/export` (the container's file system)
//! - `/containers/{id}/attach/ws` (attach over a WebSocket: a GET)
//! - `/images/get`, `/images/{name}/get` (`docker save`: layers, baked-in secrets)
//! - `/configs` (swarm configs carry their data)
//! - `/swarm/unlockkey` (the key that unlocks a locked swarm)
//!
//! Logs (`/containers/{id}/logs`) stay readable: they are what a read-only
//! operator is for. Everything that changes state (POST, PUT, DELETE: run,
//! exec, attach, rm, build, pull, volume and network changes) is admin's.

use crate::pki::Role;

/// Why a request is refused, or `Ok` when it is allowed.
pub fn decide(role: Role, method: &str, uri: &str) -> Result<(), String> {
    if role == Role::Admin {
        return Ok(());
    }
    let path = api_path(uri);
    if method != "GET" && method != "HEAD" {
        return Err(format!("{method} {path} changes the engine"));
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let reveals = matches!(
        parts.as_slice(),
        ["containers", _, "archive" | "export"]
            | ["containers", _, "attach", "ws"]
            | ["images", "get"]
            | ["images", .., "get"]
            | ["configs", ..]
            | ["swarm", "unlockkey"]
    );
    if reveals {
        return Err(format!("{method} {path} reads data out of the engine"));
    }
    Ok(())
}

/// The API path without its version prefix (`/v1.47/containers/json?all=1`
/// is `/containers/json`).
pub fn api_path(uri: &str) -> &str {
    let path = uri.split('?').next().unwrap_or("");
    match path.strip_prefix("/v") {
        Some(rest) => match rest.find('/') {
            Some(i) if rest[..i].chars().all(|c| c.is_ascii_digit() || c == '.') => &rest[i..],
            _ => path,
        },
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("GET", "/v1.47/info"),
            ("GET", "/v1.47/networks"),
        ] {
            assert_eq!(decide(ro, m, u), Ok(()), "{m} {u}");
        }
        for (m, u) in [
            ("POST", "/v1.47/containers/create"),
            ("POST", "/v1.47/containers/abc/exec"),
            ("POST", "/v1.47/exec/x/start"),
            ("POST", "/v1.47/containers/abc/attach?stream=1"),
            ("DELETE", "/v1.47/containers/abc"),
            ("PUT", "/v1.47/containers/abc/archive?path=/"),
            ("HEAD", "/v1.47/containers/abc/archive?path=/etc"),
            ("GET", "/v1.47/containers/abc/archive?path=/etc"),
            ("GET", "/v1.47/containers/abc/export"),
            ("GET", "/v1.47/containers/abc/attach/ws"),
            ("GET", "/v1.47/images/get?names=x"),
            ("GET", "/v1.47/images/busybox/get"),
            ("GET", "/v1.47/configs/abc"),
            ("GET", "/v1.47/swarm/unlockkey"),
            ("POST", "/v1.47/build"),
        ] {
            assert!(decide(ro, m, u).is_err(), "{m} {u} must be refused");
        }
        assert_eq!(
            decide(Role::Admin, "POST", "/v1.47/containers/create"),
            Ok(())
        );
        assert_eq!(api_path("/containers/json"), "/containers/json");
        assert_eq!(api_path("/version?x=1"), "/version");
    }
}
