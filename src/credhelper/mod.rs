//! `docker-credential-tlsctx`: Docker's credential-helper protocol
//! (protocol.rs) over our keystores (store.rs), registry URLs matched as the
//! reference helpers do (url.rs). Only `serve` touches argv, stdin, stdout
//! and exit codes.
//!
//! Registry credentials live in their own keystore namespace
//! (service `docker-tlsctx-registry`, folder `tlsctx/registry/`): `list`
//! can never return a TLS key, which matters because Docker's legacy build
//! path sends every listed credential to the daemon.

pub mod protocol;
pub mod store;
pub mod url;

use std::io::Write;

use crate::fsio;
use crate::keystore::{self, Namespace};
use crate::lock;
use protocol::{handle, needs_store, usage, version_line, CredError, CredResult};
use store::KeystoreHelper;

pub use protocol::NAME;

/// Entry point under the name `docker-credential-tlsctx`.
pub fn serve(args: &[String]) -> i32 {
    let mut stdout = std::io::stdout().lock();
    if args.len() != 1 {
        let _ = writeln!(stdout, "{}", usage());
        return 1;
    }
    let action = args[0].as_str();
    let result = match action {
        "--help" | "-h" => {
            let _ = writeln!(stdout, "{}", usage());
            return 0;
        }
        // These need no keystore: answer them without touching the keychain.
        "--version" | "-v" | "version" => {
            let _ = writeln!(stdout, "{}", version_line());
            return 0;
        }
        a if needs_store(a) => open_helper().and_then(|mut h| {
            // store and erase rewrite the index: one at a time, under the
            // lock every writing command takes (50 parallel `store`s lost
            // entries without it). A reader takes it only to settle a
            // change that a killed store or erase left.
            let _lock = if matches!(a, "store" | "erase") || h.unsettled() {
                let lock = lock::acquire(&fsio::docker_config_dir(None), || {})?;
                h.settle()?;
                Some(lock)
            } else {
                None
            };
            handle(&mut h, action, &mut std::io::stdin().lock(), &mut stdout)
        }),
        other => Err(CredError::UnknownAction(other.into())),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(stdout, "{e}");
            1
        }
    }
}

fn open_helper() -> CredResult<KeystoreHelper> {
    let config = fsio::docker_config_dir(None);
    let choice = keystore::Choice::from_env()?;
    let store = keystore::open_in(choice, &config, Namespace::Registry)?;
    Ok(KeystoreHelper::new(
        store,
        config.join("tlsctx/registry-index.json"),
    ))
}

#[cfg(test)]
mod tests {
    //! The protocol in memory, mirroring docker-credential-helpers'
    //! credentials_test.go and the keychain backends' URL tests.
    use super::protocol::*;
    use super::store::KeystoreHelper;
    use super::url::RegistryUrl;
    use crate::keystore::memory::MemoryStore;
    use crate::keystore::Account;

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
        let r = handle(h, action, &mut input.as_bytes(), &mut out).map_err(|e| e.to_string());
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
        let p = |s: &str| {
            RegistryUrl::parse(s)
                .map(|u| u.key())
                .map_err(|e| e.to_string())
        };
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
        h.store
            .set(&Account::Ca("default".into()), b"key material")
            .unwrap();
        store(&mut h, "registry.example.com", "u", "s");
        assert_eq!(
            run(&mut h, "list", "").1,
            "{\"registry.example.com\":\"u\"}\n"
        );
    }
}
