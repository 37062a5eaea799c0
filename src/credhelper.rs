//! `docker-credential-tlsctx`: Docker's credential-helper protocol
//! (docker/docker-credential-helpers v0.9, credentials/credentials.go) over
//! our keystores. `handle` takes streams and a store, so the protocol is
//! tested in memory; only `main` touches argv, stdin, stdout and exit codes.
//!
//! Registry credentials live in their own keystore namespace
//! (service `docker-tlsctx-registry`, folder `tlsctx/registry/`): `list`
//! can never return a TLS key, which matters because Docker's legacy build
//! path sends every listed credential to the daemon.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Error as TlsctxError;
use crate::fsio;
use crate::keystore::{self, KeyStore, Namespace};

/// The helper's name, as Docker finds it: `docker-credential-` + credsStore.
pub const NAME: &str = "docker-credential-tlsctx";
/// `version` prints `NAME (PACKAGE) VERSION`, as the reference helpers do.
pub const PACKAGE: &str = "github.com/docker-tlsctx/docker-tlsctx";

/// Strings Docker matches on (credentials/error.go): keep them exact.
pub const ERR_NOT_FOUND: &str = "credentials not found in native keychain";
pub const ERR_MISSING_URL: &str = "no credentials server URL";
pub const ERR_MISSING_USERNAME: &str = "no credentials username";

/// Docker sends a few hundred bytes; more than this is not a credential.
pub const MAX_INPUT: u64 = 1024 * 1024;

pub fn usage() -> String {
    format!("Usage: {NAME} <store|get|erase|list|version>")
}

/// The protocol's JSON object, field names as Docker sends them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Credentials {
    #[serde(rename = "ServerURL", default)]
    pub server_url: String,
    #[serde(rename = "Username", default)]
    pub username: String,
    #[serde(rename = "Secret", default)]
    pub secret: String,
}

/// What a store offers the protocol (the reference's `Helper` interface).
pub trait Helper {
    fn add(&mut self, c: &Credentials) -> Result<(), String>;
    /// `(username, secret)`, or `Err(ERR_NOT_FOUND)`.
    fn get(&self, server_url: &str) -> Result<(String, String), String>;
    fn delete(&mut self, server_url: &str) -> Result<(), String>;
    /// ServerURL → Username, for every stored credential.
    fn list(&self) -> Result<BTreeMap<String, String>, String>;
}

/// Runs one action. Errors are the message the helper prints on stdout.
pub fn handle(
    helper: &mut dyn Helper,
    action: &str,
    input: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<(), String> {
    match action {
        "store" => {
            let text = read_input(input)?;
            let creds: Credentials = serde_json::from_str(&text)
                .map_err(|e| format!("invalid credentials JSON on standard input: {e}"))?;
            if creds.server_url.is_empty() {
                return Err(ERR_MISSING_URL.into());
            }
            if creds.username.is_empty() {
                return Err(ERR_MISSING_USERNAME.into());
            }
            helper.add(&creds)
        }
        "get" => {
            let url = read_input(input)?.trim().to_string();
            if url.is_empty() {
                return Err(ERR_MISSING_URL.into());
            }
            let (username, secret) = helper.get(&url)?;
            let c = Credentials {
                server_url: url,
                username,
                secret,
            };
            write_json(out, &c)
        }
        "erase" => {
            let url = read_input(input)?.trim().to_string();
            if url.is_empty() {
                return Err(ERR_MISSING_URL.into());
            }
            helper.delete(&url)
        }
        "list" => write_json(out, &helper.list()?),
        "version" => writeln!(out, "{NAME} ({PACKAGE}) {}", env!("CARGO_PKG_VERSION"))
            .map_err(|e| e.to_string()),
        other => Err(format!("{NAME}: unknown action: {other}")),
    }
}

fn read_input(input: &mut dyn Read) -> Result<String, String> {
    let mut buf = Vec::new();
    input
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(format!(
            "standard input is larger than {MAX_INPUT} bytes; nothing was stored"
        ));
    }
    String::from_utf8(buf).map_err(|_| "standard input is not UTF-8 text".to_string())
}

/// JSON as Go's json.Encoder writes it: compact, newline-terminated, with
/// <, >, & and U+2028/U+2029 escaped (encoding/json's HTML-safe default).
/// Those characters only occur inside strings here, so escaping the text is safe.
fn write_json<T: Serialize>(out: &mut dyn Write, v: &T) -> Result<(), String> {
    let s = serde_json::to_string(v).map_err(|e| e.to_string())?;
    let s = s
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    writeln!(out, "{s}").map_err(|e| e.to_string())
}

/// A registry URL as the reference helpers read it (registryurl/parse.go):
/// a missing scheme means https, only http and https are allowed, the query
/// is dropped, the path is cleaned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryUrl {
    pub scheme: String,
    pub host: String,
    pub port: String,
    pub path: String,
}

impl RegistryUrl {
    pub fn parse(raw: &str) -> Result<RegistryUrl, String> {
        let (scheme, rest) = match raw.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("".into(), raw.strip_prefix("//").unwrap_or(raw)),
        };
        if !scheme.is_empty() && scheme != "https" && scheme != "http" {
            return Err(format!("unsupported scheme: {scheme}"));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let path = tail.split(['?', '#']).next().unwrap_or("");
        let authority = authority
            .rsplit_once('@')
            .map(|(_, h)| h)
            .unwrap_or(authority);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("missing ']' in host {authority:?}"))?;
            (
                h.to_string(),
                after.strip_prefix(':').unwrap_or(after).to_string(),
            )
        } else {
            // Go's url.Parse: the text after the last colon is the port and
            // must be digits ("https://::1:8080" is host ::1, port 8080).
            match authority.rsplit_once(':') {
                Some((h, p)) => {
                    if !p.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(format!("invalid port \":{p}\" after host"));
                    }
                    (h.to_string(), p.to_string())
                }
                None => (authority.to_string(), String::new()),
            }
        };
        if host.is_empty() {
            return Err("no hostname in URL".into());
        }
        Ok(RegistryUrl {
            scheme: if scheme.is_empty() {
                "https".into()
            } else {
                scheme
            },
            host: host.to_ascii_lowercase(),
            port,
            path: clean_path(path),
        })
    }

    /// One string per credential: the keystore account and index key.
    pub fn key(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let port = if self.port.is_empty() {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        format!("{}://{host}{port}{}", self.scheme, self.path)
    }

    /// Whether a read of `self` finds a credential stored for `stored`: the
    /// scheme and host must match; a read without port or path matches any
    /// (osxkeychain_test.go TestOSXKeychainHelperRetrieveAliases/Strict).
    pub fn finds(&self, stored: &RegistryUrl) -> bool {
        self.scheme == stored.scheme
            && self.host == stored.host
            && (self.port.is_empty() || self.port == stored.port)
            && (self.path.is_empty() || self.path == stored.path)
    }
}

/// Go's path.Clean for a URL path; "" and "/" both mean "no path".
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("/{}", parts.join("/"))
    }
}

/// The index entry of one credential (no secret): what `list` and alias
/// lookups need, since keychains cannot enumerate portably.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct IndexEntry {
    server_url: String,
    username: String,
}

/// The real helper: secrets in a keystore, an index beside them.
pub struct KeystoreHelper {
    store: Box<dyn KeyStore>,
    index_path: PathBuf,
}

impl KeystoreHelper {
    pub fn new(store: Box<dyn KeyStore>, index_path: PathBuf) -> KeystoreHelper {
        KeystoreHelper { store, index_path }
    }

    fn index(&self) -> Result<BTreeMap<String, IndexEntry>, String> {
        match std::fs::read(&self.index_path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| format!("{} is damaged: {e}", self.index_path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(format!("cannot read {}: {e}", self.index_path.display())),
        }
    }

    fn save_index(&self, index: &BTreeMap<String, IndexEntry>) -> Result<(), String> {
        let dir = self.index_path.parent().expect("index has a folder");
        fsio::create_dir_all(dir, fsio::SECRET_DIR).map_err(|e| e.to_string())?;
        let mut bytes = serde_json::to_vec_pretty(index).expect("index serializes");
        bytes.push(b'\n');
        // 0600: registry user names are not secrets, but nobody else's business.
        fsio::write_atomic(&self.index_path, &bytes, fsio::SECRET_FILE).map_err(|e| e.to_string())
    }

    fn load(&self, key: &str) -> Result<Option<Credentials>, String> {
        match self.store.get(key).map_err(|e| keystore_message(&e))? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| format!("stored credential for {key} is damaged: {e}")),
        }
    }
}

/// A keystore failure as one line on stdout: the situation and the fix.
fn keystore_message(e: &TlsctxError) -> String {
    match e.hint() {
        Some(h) => format!("{e} ({h})"),
        None => e.to_string(),
    }
}

impl Helper for KeystoreHelper {
    fn add(&mut self, c: &Credentials) -> Result<(), String> {
        let url = RegistryUrl::parse(&c.server_url)?;
        let key = url.key();
        let blob = serde_json::to_vec(c).expect("credentials serialize");
        self.store
            .set(&key, &blob)
            .map_err(|e| keystore_message(&e))?;
        let mut index = self.index()?;
        index.insert(
            key,
            IndexEntry {
                server_url: c.server_url.clone(),
                username: c.username.clone(),
            },
        );
        self.save_index(&index)
    }

    fn get(&self, server_url: &str) -> Result<(String, String), String> {
        let url = RegistryUrl::parse(server_url)?;
        let mut candidates = vec![url.key()];
        // Less specific reads (no port, no path) find a stored credential too.
        for k in self.index()?.keys() {
            if !candidates.contains(k)
                && RegistryUrl::parse(k).is_ok_and(|stored| url.finds(&stored))
            {
                candidates.push(k.clone());
            }
        }
        for k in candidates {
            if let Some(c) = self.load(&k)? {
                return Ok((c.username, c.secret));
            }
        }
        Err(ERR_NOT_FOUND.into())
    }

    fn delete(&mut self, server_url: &str) -> Result<(), String> {
        let key = RegistryUrl::parse(server_url)?.key();
        // A missing entry is not an error: docker-credential-secretservice
        // exits 0 too, so `docker logout` can clean config.json regardless.
        self.store.delete(&key).map_err(|e| keystore_message(&e))?;
        let mut index = self.index()?;
        if index.remove(&key).is_some() {
            self.save_index(&index)?;
        }
        Ok(())
    }

    fn list(&self) -> Result<BTreeMap<String, String>, String> {
        Ok(self
            .index()?
            .into_values()
            .map(|e| (e.server_url, e.username))
            .collect())
    }
}

/// Entry point under the name `docker-credential-tlsctx`.
pub fn main(args: &[String]) -> i32 {
    let mut stdout = std::io::stdout().lock();
    if args.len() != 1 {
        let _ = writeln!(stdout, "{}", usage());
        return 1;
    }
    match args[0].as_str() {
        "--help" | "-h" => {
            let _ = writeln!(stdout, "{}", usage());
            return 0;
        }
        "--version" | "-v" => {
            let _ = writeln!(stdout, "{NAME} ({PACKAGE}) {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        _ => {}
    }
    let action = args[0].as_str();
    let result = match action {
        // These need no keystore: answer them without touching the keychain.
        "version" => handle(
            &mut NoStore,
            action,
            &mut std::io::stdin().lock(),
            &mut stdout,
        ),
        "store" | "get" | "erase" | "list" => open_helper()
            .and_then(|mut h| handle(&mut h, action, &mut std::io::stdin().lock(), &mut stdout)),
        _ => handle(&mut NoStore, action, &mut std::io::empty(), &mut stdout),
    };
    match result {
        Ok(()) => 0,
        Err(msg) => {
            let _ = writeln!(stdout, "{msg}");
            1
        }
    }
}

fn open_helper() -> Result<KeystoreHelper, String> {
    let config = fsio::docker_config_dir(None);
    let choice = keystore::Choice::from_env().map_err(|e| keystore_message(&e))?;
    let store = keystore::open_in(choice, &config, Namespace::Registry)
        .map_err(|e| keystore_message(&e))?;
    Ok(KeystoreHelper::new(
        store,
        config.join("tlsctx/registry-index.json"),
    ))
}

/// For actions that never reach a store.
struct NoStore;

impl Helper for NoStore {
    fn add(&mut self, _: &Credentials) -> Result<(), String> {
        unreachable!("store needs a keystore")
    }
    fn get(&self, _: &str) -> Result<(String, String), String> {
        unreachable!("get needs a keystore")
    }
    fn delete(&mut self, _: &str) -> Result<(), String> {
        unreachable!("erase needs a keystore")
    }
    fn list(&self) -> Result<BTreeMap<String, String>, String> {
        unreachable!("list needs a keystore")
    }
}

#[cfg(test)]
mod tests {
    //! The protocol in memory, mirroring docker-credential-helpers'
    //! credentials_test.go and the keychain backends' URL tests.
    use super::*;
    use crate::keystore::memory::MemoryStore;

    fn helper() -> (KeystoreHelper, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let h = KeystoreHelper::new(
            Box::new(MemoryStore::default()),
            dir.path().join("index.json"),
        );
        (h, dir)
    }

    fn run(h: &mut dyn Helper, action: &str, input: &str) -> (Result<(), String>, String) {
        let mut out = Vec::new();
        let r = handle(h, action, &mut input.as_bytes(), &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    fn store(h: &mut dyn Helper, url: &str, user: &str, secret: &str) {
        let body =
            serde_json::json!({"ServerURL": url, "Username": user, "Secret": secret}).to_string();
        let (r, out) = run(h, "store", &body);
        r.unwrap();
        assert_eq!(out, "");
    }

    #[test]
    fn store_get_erase_round_trip() {
        let (mut h, _d) = helper();
        store(&mut h, "https://index.docker.io/v1/", "foo", "bar");
        let (r, out) = run(&mut h, "get", "https://index.docker.io/v1/\n");
        r.unwrap();
        assert_eq!(out, "{\"ServerURL\":\"https://index.docker.io/v1/\",\"Username\":\"foo\",\"Secret\":\"bar\"}\n");
        let (r, _) = run(&mut h, "erase", "https://index.docker.io/v1/");
        r.unwrap();
        let (r, out) = run(&mut h, "get", "https://index.docker.io/v1/");
        assert_eq!(r.unwrap_err(), ERR_NOT_FOUND);
        assert_eq!(out, "");
    }

    #[test]
    fn identity_tokens_and_html_characters_round_trip() {
        let (mut h, _d) = helper();
        store(&mut h, "registry.example.com", "<token>", "a&b<c>");
        let (r, out) = run(&mut h, "get", "registry.example.com");
        r.unwrap();
        // Go's encoder escapes <, > and & (and Docker decodes them back).
        assert_eq!(out, "{\"ServerURL\":\"registry.example.com\",\"Username\":\"\\u003ctoken\\u003e\",\"Secret\":\"a\\u0026b\\u003cc\\u003e\"}\n");
        let c: Credentials = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (c.username.as_str(), c.secret.as_str()),
            ("<token>", "a&b<c>")
        );
    }

    #[test]
    fn missing_fields_are_the_reference_errors() {
        let (mut h, _d) = helper();
        assert_eq!(
            run(&mut h, "store", r#"{"Username":"u","Secret":"s"}"#)
                .0
                .unwrap_err(),
            "no credentials server URL"
        );
        assert_eq!(
            run(&mut h, "store", r#"{"ServerURL":"h","Secret":"s"}"#)
                .0
                .unwrap_err(),
            "no credentials username"
        );
        assert_eq!(
            run(&mut h, "get", "").0.unwrap_err(),
            "no credentials server URL"
        );
        assert_eq!(
            run(&mut h, "get", "  \n").0.unwrap_err(),
            "no credentials server URL"
        );
        assert_eq!(
            run(&mut h, "erase", "").0.unwrap_err(),
            "no credentials server URL"
        );
        assert_eq!(
            run(&mut h, "frobnicate", "").0.unwrap_err(),
            "docker-credential-tlsctx: unknown action: frobnicate"
        );
        assert!(run(&mut h, "list", "").1 == "{}\n");
    }

    #[test]
    fn erase_of_a_missing_entry_succeeds_and_get_is_not_found() {
        let (mut h, _d) = helper();
        run(&mut h, "erase", "https://nothing.invalid").0.unwrap();
        assert_eq!(
            run(&mut h, "get", "https://nothing.invalid").0.unwrap_err(),
            ERR_NOT_FOUND
        );
    }

    #[test]
    fn list_returns_urls_and_users() {
        let (mut h, _d) = helper();
        store(&mut h, "https://a.example.com", "alice", "1");
        store(&mut h, "b.example.com:5000", "bob", "2");
        let (r, out) = run(&mut h, "list", "");
        r.unwrap();
        assert_eq!(
            out,
            "{\"b.example.com:5000\":\"bob\",\"https://a.example.com\":\"alice\"}\n"
        );
        run(&mut h, "erase", "https://a.example.com").0.unwrap();
        assert_eq!(
            run(&mut h, "list", "").1,
            "{\"b.example.com:5000\":\"bob\"}\n"
        );
    }

    #[test]
    fn bounded_and_invalid_input_store_nothing() {
        let (mut h, _d) = helper();
        let big = format!(
            "{{\"ServerURL\":\"h.example.com\",\"Username\":\"u\",\"Secret\":\"{}\"}}",
            "x".repeat(MAX_INPUT as usize)
        );
        assert!(run(&mut h, "store", &big)
            .0
            .unwrap_err()
            .contains("larger than"));
        assert!(run(&mut h, "store", "not json")
            .0
            .unwrap_err()
            .contains("invalid credentials JSON"));
        assert_eq!(run(&mut h, "list", "").1, "{}\n");
    }

    #[test]
    fn url_parsing_follows_registryurl() {
        let p = |s: &str| RegistryUrl::parse(s).map(|u| u.key());
        assert_eq!(p("foobar.docker.io").unwrap(), "https://foobar.docker.io");
        assert_eq!(
            p("foobar.docker.io:2376").unwrap(),
            "https://foobar.docker.io:2376"
        );
        assert_eq!(
            p("//foobar.docker.io:2376").unwrap(),
            "https://foobar.docker.io:2376"
        );
        assert_eq!(
            p("http://foobar.docker.io:2376").unwrap(),
            "http://foobar.docker.io:2376"
        );
        assert_eq!(
            p("https://foobar.docker.io:2376/some/path").unwrap(),
            "https://foobar.docker.io:2376/some/path"
        );
        assert_eq!(
            p("https://foobar.docker.io:2376/some/other/path?foo=bar").unwrap(),
            "https://foobar.docker.io:2376/some/other/path"
        );
        assert_eq!(
            p("https://::1:8080//////location/../../hello").unwrap(),
            "https://[::1]:8080/hello"
        );
        assert_eq!(p("/foobar.docker.io").unwrap_err(), "no hostname in URL");
        assert_eq!(
            p("ftp://foobar.docker.io:2376").unwrap_err(),
            "unsupported scheme: ftp"
        );
    }

    #[test]
    fn aliases_and_strict_matches() {
        // osxkeychain_test.go TestOSXKeychainHelperRetrieveAliases.
        for (stored, read) in [
            (
                "https://foobar.example.com:2376",
                "https://foobar.example.com",
            ),
            ("https://foobar.example.com:2376", "foobar.example.com"),
            (
                "https://foobar.example.com:1234/one/two",
                "https://foobar.example.com:1234",
            ),
            ("https://h:2376", "https://h:2376"),
        ] {
            let (mut h, _d) = helper();
            store(&mut h, stored, "hello", "world");
            assert!(
                run(&mut h, "get", read).0.is_ok(),
                "{stored} must be found as {read}"
            );
        }
        // ... and TestOSXKeychainHelperRetrieveStrict.
        for (stored, read) in [
            (
                "https://foobar.example.com:2376",
                "http://foobar.example.com:2376",
            ),
            (
                "http://foobar.example.com:2376",
                "https://foobar.example.com:2376",
            ),
            ("http://foobar.example.com", "foobar.example.com:5678"),
            (
                "https://foobar.example.com:1234",
                "https://foobar.example.com:5678",
            ),
            (
                "https://foobar.example.com:1234/one/two",
                "https://foobar.example.com:1234/five/six",
            ),
            ("https://h:2376", "http://h:2376"),
        ] {
            let (mut h, _d) = helper();
            store(&mut h, stored, "hello", "world");
            assert_eq!(
                run(&mut h, "get", read).0.unwrap_err(),
                ERR_NOT_FOUND,
                "{stored} must not be found as {read}"
            );
        }
        // TestOSXKeychainHelperStoreRetrieve: each URL reads back what it stored.
        let (mut h, _d) = helper();
        let urls = [
            "foobar.example.com",
            "foobar.example.com:2376",
            "//foobar.example.com:2376",
            "https://foobar.example.com:2376",
            "http://foobar.example.com:2376",
            "https://foobar.example.com:2376/some/path",
            "https://foobar.example.com:2376/some/other/path",
            "https://foobar.example.com:2376/some/other/path?foo=bar",
            "https://::1:8080//////location/../../hello",
        ];
        for (i, u) in urls.iter().enumerate() {
            store(&mut h, u, &format!("user-{i}"), &format!("secret-{i}"));
            let (r, out) = run(&mut h, "get", u);
            r.unwrap();
            let c: Credentials = serde_json::from_str(&out).unwrap();
            assert_eq!(
                (c.username, c.secret),
                (format!("user-{i}"), format!("secret-{i}")),
                "{u}"
            );
        }
    }

    #[test]
    fn tls_keys_never_show_up_in_list() {
        // Same backing store for both namespaces would be a bug; the helper
        // only ever sees registry accounts (URLs) in its index.
        let (mut h, _d) = helper();
        h.store.set("ca/default", b"key material").unwrap();
        store(&mut h, "registry.example.com", "u", "s");
        assert_eq!(
            run(&mut h, "list", "").1,
            "{\"registry.example.com\":\"u\"}\n"
        );
    }
}
