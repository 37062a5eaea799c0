//! Which Engine API route a request reaches, decided the way dockerd decides
//! it, so the policy never judges a spelling dockerd reads differently.
//!
//! dockerd gives the plugin the raw request target (`RequestUri`) but routes
//! on something else (moby `api/server/server.go`, gorilla/mux, Go's
//! net/http; ARCHITECTURE.md, "Roles and revocation"):
//! - Go's server accepts an absolute-form target (`GET http://x/v1.41/…`,
//!   RFC 9112 §3.2.2) and routes on its path alone;
//! - the router matches the **percent-decoded** path (no `UseEncodedPath`),
//!   so `/containers/c1/%61rchive` is the archive route;
//! - a path that `path.Clean` would change (`//`, `/./`, `/../`) is
//!   answered with a redirect, never routed;
//! - every route is registered twice, bare and under `/v{version:[0-9.]+}`;
//! - variables written `{name:.*}` match any text, slashes included; a bare
//!   `{id}` matches one segment (`[^/]+`, gorilla's default).
//!
//! [`normalize`] reduces a target to the path the router matches, or says
//! why it cannot; [`matching`] lists every route of [`ROUTES`] that path
//! reaches. The policy denies what cannot be normalized and what reaches no
//! listed route, and a path that reaches both an allowed and a refused route
//! is refused: whichever gorilla picks, the answer is safe.

/// What the read-only role may do with a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A read of the engine's state.
    Read,
    /// A read only without a query string: with one, it is refused for
    /// this reason (`top?ps_args=…` has dockerd run ps as root with the
    /// caller's options, which show every process's environment).
    ReadWithoutQuery(&'static str),
    /// Never, for this reason (shown in the denial).
    Never(&'static str),
}

/// One GET or HEAD route of the Engine API.
#[derive(Debug)]
pub struct Route {
    pub method: &'static str,
    pub template: &'static str,
    pub access: Access,
}

pub const FILES: &str = "reads files out of a container";
pub const IMAGE: &str = "reads image layers out of the engine";
pub const ATTACH: &str = "attaches to a container's input and output";
pub const SWARM_KEYS: &str = "reveals the swarm's join tokens";
pub const UNLOCK: &str = "reveals the swarm's unlock key";
pub const SECRETS: &str = "reads swarm secrets";
pub const CONFIGS: &str = "reads swarm configs and their data";
pub const CONNECTS: &str = "makes the daemon connect to a registry";
pub const PS_ARGS: &str =
    "with a query has dockerd run ps with the caller's options (ps e shows every process's environment)";
pub const DEBUG: &str = "reads the daemon's memory and command line (debug endpoints)";
pub const CHECKPOINT: &str = "is the experimental checkpoint API, not a read of state";

/// What the viewer role may use of the read-only routes: versions, and the
/// lists whose items carry no secrets a user may keep in them. Left out:
/// inspect of anything, logs, stats, top, changes, events; `/info` (proxy
/// settings, labels, registry configuration); the lists of volumes (each
/// item carries its driver options: a CIFS `o=username=…,password=…`),
/// services and tasks (each carries its spec, environment included) and
/// plugins (their settings' environment).
pub const VIEWER: &[(&str, &str)] = &[
    ("GET", "/_ping"),
    ("HEAD", "/_ping"),
    ("GET", "/version"),
    ("GET", "/containers/json"),
    ("GET", "/images/json"),
    ("GET", "/networks"),
    ("GET", "/nodes"),
];

/// Every GET and HEAD route of moby's `api/server/router` (v20.10.24) and
/// `daemon/server/router` (master, 2026): system, container, image,
/// network, volume, swarm, plugin, distribution, checkpoint, debug; session,
/// build and grpc have none. Everything else a
/// read-only identity asks for is refused by method or as unknown.
pub const ROUTES: &[Route] = &[
    r("GET", "/_ping", Access::Read),
    r("HEAD", "/_ping", Access::Read),
    r("GET", "/events", Access::Read),
    r("GET", "/info", Access::Read),
    r("GET", "/version", Access::Read),
    r("GET", "/system/df", Access::Read),
    // container/container.go
    r("GET", "/containers/json", Access::Read),
    r("GET", "/containers/{name:.*}/export", Access::Never(FILES)),
    r("GET", "/containers/{name:.*}/changes", Access::Read),
    r("GET", "/containers/{name:.*}/json", Access::Read),
    r(
        "GET",
        "/containers/{name:.*}/top",
        Access::ReadWithoutQuery(PS_ARGS),
    ),
    r("GET", "/containers/{name:.*}/logs", Access::Read),
    r("GET", "/containers/{name:.*}/stats", Access::Read),
    r(
        "GET",
        "/containers/{name:.*}/attach/ws",
        Access::Never(ATTACH),
    ),
    r("GET", "/exec/{id:.*}/json", Access::Read),
    r("GET", "/containers/{name:.*}/archive", Access::Never(FILES)),
    r(
        "HEAD",
        "/containers/{name:.*}/archive",
        Access::Never(FILES),
    ),
    // checkpoint/checkpoint.go
    r(
        "GET",
        "/containers/{name:.*}/checkpoints",
        Access::Never(CHECKPOINT),
    ),
    // image/image.go
    r("GET", "/images/json", Access::Read),
    r("GET", "/images/search", Access::Never(CONNECTS)),
    r("GET", "/images/get", Access::Never(IMAGE)),
    r("GET", "/images/{name:.*}/get", Access::Never(IMAGE)),
    r("GET", "/images/{name:.*}/history", Access::Read),
    r("GET", "/images/{name:.*}/json", Access::Read),
    r("GET", "/images/{name:.*}/attestations", Access::Read),
    // network/network.go
    r("GET", "/networks", Access::Read),
    r("GET", "/networks/", Access::Read),
    r("GET", "/networks/{id:.+}", Access::Read),
    // volume/volume.go
    r("GET", "/volumes", Access::Read),
    r("GET", "/volumes/{name:.*}", Access::Read),
    // swarm/cluster.go
    r("GET", "/swarm", Access::Never(SWARM_KEYS)),
    r("GET", "/swarm/unlockkey", Access::Never(UNLOCK)),
    r("GET", "/nodes", Access::Read),
    r("GET", "/nodes/{id}", Access::Read),
    r("GET", "/services", Access::Read),
    r("GET", "/services/{id}", Access::Read),
    r("GET", "/services/{id}/logs", Access::Read),
    r("GET", "/tasks", Access::Read),
    r("GET", "/tasks/{id}", Access::Read),
    r("GET", "/tasks/{id}/logs", Access::Read),
    r("GET", "/secrets", Access::Never(SECRETS)),
    r("GET", "/secrets/{id}", Access::Never(SECRETS)),
    r("GET", "/configs", Access::Never(CONFIGS)),
    r("GET", "/configs/{id}", Access::Never(CONFIGS)),
    // plugin/plugin.go
    r("GET", "/plugins", Access::Read),
    r("GET", "/plugins/{name:.*}/json", Access::Read),
    r("GET", "/plugins/privileges", Access::Never(CONNECTS)),
    // distribution/distribution.go
    r(
        "GET",
        "/distribution/{name:.*}/json",
        Access::Never(CONNECTS),
    ),
    // debug/debug.go: /debug/vars and /debug/pprof/… (any method in 20.10)
    r("GET", "/debug/{path:.*}", Access::Never(DEBUG)),
];

const fn r(method: &'static str, template: &'static str, access: Access) -> Route {
    Route {
        method,
        template,
        access,
    }
}

/// The path dockerd's router matches for a request target, without its
/// `/vX.Y` prefix; an error says why it cannot be classified.
pub fn normalize(target: &str) -> Result<String, String> {
    if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("the request target is empty or holds spaces or control bytes".into());
    }
    // Go's url.ParseRequestURI: the query starts at the first '?', and a
    // '#' is part of the path.
    let raw = target.split('?').next().unwrap_or("");
    let raw_path = if raw.starts_with('/') {
        raw
    } else {
        absolute_form_path(raw)?
    };
    let path = percent_decode(raw_path)?;
    if path.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err("the decoded path holds control bytes".into());
    }
    if !path.starts_with('/') {
        return Err("the path does not start with '/'".into());
    }
    // gorilla/mux answers a path that path.Clean changes with a redirect
    // (mux.go, cleanPath), so such a path never reaches a route.
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    if segments
        .iter()
        .enumerate()
        .any(|(i, s)| *s == "." || *s == ".." || (s.is_empty() && i != last))
    {
        return Err("the path has empty, '.' or '..' segments".into());
    }
    Ok(strip_version(&path).to_string())
}

/// The path of an absolute-form target (`scheme://authority/path` or
/// `scheme:/path`), as Go's url.Parse splits it.
fn absolute_form_path(raw: &str) -> Result<&str, String> {
    let not_a_target = || format!("{raw:?} is neither a path nor an absolute URL");
    let colon = raw.find(':').ok_or_else(not_a_target)?;
    let scheme = &raw[..colon];
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return Err(not_a_target());
    }
    let rest = &raw[colon + 1..];
    if let Some(after) = rest.strip_prefix("//") {
        // An authority with no path has the empty path, which no route has.
        return Ok(after.find('/').map_or("", |i| &after[i..]));
    }
    if rest.starts_with('/') {
        return Ok(rest);
    }
    Err(not_a_target())
}

/// Go's url.PathUnescape: `%XX` with two hex digits, anything else an error
/// (Go's server answers 400). Bytes that are not UTF-8 are refused too: no
/// Engine route needs them.
fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or("a '%' escape is cut short")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "a '%' escape is not hex")?;
            let v = u8::from_str_radix(hex, 16)
                .ok()
                .filter(|_| hex.bytes().all(|c| c.is_ascii_hexdigit()))
                .ok_or("a '%' escape is not hex")?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the decoded path is not UTF-8".into())
}

/// `/v1.41/containers/json` → `/containers/json`: moby registers each route
/// also under `/v{version:[0-9.]+}` (api/server/server.go).
fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if end > 0 && rest[end..].starts_with('/') {
            return &rest[end..];
        }
    }
    path
}

/// Every route of the table a request with this method and normalized path
/// reaches. HEAD is judged with the GET routes too: a refusal of either
/// applies.
pub fn matching(method: &str, path: &str) -> Vec<&'static Route> {
    ROUTES
        .iter()
        .filter(|r| r.method == method || (method == "HEAD" && r.method == "GET"))
        .filter(|r| template_matches(r.template, path))
        .collect()
}

/// gorilla/mux's match of one template: literal text, `{x}` one or more
/// characters without '/', `{x:.+}` one or more of any, `{x:.*}` any text.
pub fn template_matches(template: &str, path: &str) -> bool {
    match template.find('{') {
        None => template == path,
        Some(open) => {
            let (lit, rest) = template.split_at(open);
            let Some(path) = path.strip_prefix(lit) else {
                return false;
            };
            let close = rest.find('}').expect("templates close their variables");
            let var = &rest[..close];
            let slashes = var.ends_with(":.*") || var.ends_with(":.+");
            let empty = var.ends_with(":.*");
            let after = &rest[close + 1..];
            // Try every length the variable could take; paths are short.
            (0..=path.len())
                .filter(|&n| path.is_char_boundary(n))
                .filter(|&n| empty || n > 0)
                .filter(|&n| slashes || !path[..n].contains('/'))
                .any(|n| template_matches(after, &path[n..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_as_dockerd_routes() {
        for (target, want) in [
            ("/v1.41/containers/json?all=1", "/containers/json"),
            (
                "/containers/c1/%61rchive?path=/etc",
                "/containers/c1/archive",
            ),
            (
                "http://x/v1.41/containers/c1/export",
                "/containers/c1/export",
            ),
            ("HTTP://x:1/v1.41/_ping", "/_ping"),
            ("unix:/v1.24/swarm", "/swarm"),
            ("/v1.41/containers/a%2Fb/json", "/containers/a/b/json"),
            ("/volumes", "/volumes"),
            ("/v/containers/json", "/v/containers/json"),
            ("/networks/", "/networks/"),
            ("/containers/x/json#/archive", "/containers/x/json#/archive"),
        ] {
            assert_eq!(normalize(target).as_deref(), Ok(want), "{target}");
        }
        for bad in [
            "",
            "*",
            "x",
            "http:opaque",
            "1http://x/_ping",
            "/a//b",
            "/containers/x/../archive",
            "/containers/x/%2e%2e/archive",
            "/containers/x/./json",
            "/containers/%zz/json",
            "/containers/%4",
            "/containers/%00/json",
            "/containers/%ff/json",
            "/containers/a b/json",
            "%2Fcontainers/json",
            "http://x",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?} was normalized");
        }
    }

    #[test]
    fn templates_match_like_gorilla() {
        assert!(template_matches(
            "/containers/{name:.*}/json",
            "/containers/a/b/json"
        ));
        assert!(template_matches(
            "/containers/{name:.*}/archive",
            "/containers/x/json/archive"
        ));
        assert!(!template_matches(
            "/containers/{name:.*}/json",
            "/containers/json"
        ));
        assert!(template_matches("/nodes/{id}", "/nodes/abc"));
        assert!(!template_matches("/nodes/{id}", "/nodes/a/b"));
        assert!(!template_matches("/nodes/{id}", "/nodes/"));
        assert!(!template_matches("/networks/{id:.+}", "/networks/"));
        assert!(template_matches("/networks/{id:.+}", "/networks/a/b"));
        assert!(template_matches("/exec/{id:.*}/json", "/exec/é/json"));
    }
}
