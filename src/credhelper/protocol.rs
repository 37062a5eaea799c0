//! Docker's credential-helper protocol (docker/docker-credential-helpers
//! v0.9, credentials/credentials.go) over any `Helper`: `handle` takes
//! streams, so the protocol is tested in memory.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

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

pub fn version_line() -> String {
    format!("{NAME} ({PACKAGE}) {}", env!("CARGO_PKG_VERSION"))
}

/// What went wrong, as the one line the helper prints on stdout.
#[derive(Debug)]
pub enum CredError {
    NotFound,
    MissingUrl,
    MissingUsername,
    /// Standard input that is not a credential (too large, not UTF-8, not JSON).
    BadInput(String),
    /// A server URL the reference helpers refuse too (registryurl/parse.go).
    BadUrl(String),
    UnknownAction(String),
    /// The keystore failed: its situation (crate::error) and fix (crate::explain).
    Keystore(crate::error::Error),
    /// Our index or a stored credential cannot be read.
    Damaged(String),
}

impl fmt::Display for CredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredError::NotFound => f.write_str(ERR_NOT_FOUND),
            CredError::MissingUrl => f.write_str(ERR_MISSING_URL),
            CredError::MissingUsername => f.write_str(ERR_MISSING_USERNAME),
            CredError::BadInput(why) | CredError::BadUrl(why) | CredError::Damaged(why) => {
                f.write_str(why)
            }
            CredError::UnknownAction(a) => write!(f, "{NAME}: unknown action: {a}"),
            CredError::Keystore(e) => match crate::explain::explain(e) {
                (what, Some(h)) => write!(f, "{what} ({h})"),
                (what, None) => f.write_str(&what),
            },
        }
    }
}

impl std::error::Error for CredError {}

impl From<crate::error::Error> for CredError {
    fn from(e: crate::error::Error) -> Self {
        CredError::Keystore(e)
    }
}

pub type CredResult<T> = std::result::Result<T, CredError>;

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
    fn add(&mut self, c: &Credentials) -> CredResult<()>;
    /// `(username, secret)`, or `Err(NotFound)`.
    fn get(&self, server_url: &str) -> CredResult<(String, String)>;
    fn delete(&mut self, server_url: &str) -> CredResult<()>;
    /// ServerURL → Username, for every stored credential.
    fn list(&self) -> CredResult<BTreeMap<String, String>>;
}

/// Whether `action` needs a store (`version` and unknown actions do not).
pub fn needs_store(action: &str) -> bool {
    matches!(action, "store" | "get" | "erase" | "list")
}

/// Runs one action that needs a store.
pub fn handle(
    helper: &mut dyn Helper,
    action: &str,
    input: &mut dyn Read,
    out: &mut dyn Write,
) -> CredResult<()> {
    match action {
        "store" => {
            let text = read_input(input)?;
            // serde's message can quote the input (a secret): say where, not what.
            let creds: Credentials = serde_json::from_str(&text).map_err(|e| {
                CredError::BadInput(format!(
                    "invalid credentials JSON on standard input (line {}, column {}); expected {{\"ServerURL\":…,\"Username\":…,\"Secret\":…}}",
                    e.line(),
                    e.column()
                ))
            })?;
            if creds.server_url.is_empty() {
                return Err(CredError::MissingUrl);
            }
            if creds.username.is_empty() {
                return Err(CredError::MissingUsername);
            }
            helper.add(&creds)
        }
        "get" => {
            let url = read_input(input)?.trim().to_string();
            if url.is_empty() {
                return Err(CredError::MissingUrl);
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
                return Err(CredError::MissingUrl);
            }
            helper.delete(&url)
        }
        "list" => write_json(out, &helper.list()?),
        other => Err(CredError::UnknownAction(other.into())),
    }
}

fn read_input(input: &mut dyn Read) -> CredResult<String> {
    let mut buf = Vec::new();
    input
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| CredError::BadInput(format!("cannot read standard input: {e}")))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(CredError::BadInput(format!(
            "standard input is larger than {MAX_INPUT} bytes; nothing was stored"
        )));
    }
    String::from_utf8(buf)
        .map_err(|_| CredError::BadInput("standard input is not UTF-8 text".into()))
}

/// JSON as Go's json.Encoder writes it: compact, newline-terminated, with
/// <, >, & and U+2028/U+2029 escaped (encoding/json's HTML-safe default).
/// Those characters only occur inside strings here, so escaping the text is safe.
fn write_json<T: Serialize>(out: &mut dyn Write, v: &T) -> CredResult<()> {
    let s = serde_json::to_string(v).map_err(|e| CredError::BadInput(e.to_string()))?;
    let s = s
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    writeln!(out, "{s}").map_err(|e| CredError::BadInput(e.to_string()))
}
