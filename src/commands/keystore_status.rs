//! `docker tlsctx keystore status`: which keystore answers, where the keys
//! are, and what to fix when none does.

use serde_json::json;

use crate::args::Format;
use crate::error::Result;
use crate::issuance::Env;
use crate::keystore::{self, file::FileStore, os::OsStore, Backend, Choice, KeyStore};
use crate::ui::print_json;

pub fn run(env: &Env, format: Format) -> Result<()> {
    let os = OsStore::connect(keystore::KEYS_SERVICE);
    let file = FileStore::new(&env.config_dir);
    let state = env.state();
    let cas = state.cas()?;
    let ids = state.identities()?;
    let count = |backend: Backend| {
        cas.iter().filter(|c| c.keystore == backend).count()
            + ids.iter().filter(|i| i.keystore == backend).count()
    };
    let selected = match (env.keystore_choice, &os) {
        (Choice::File, _) => "file",
        (Choice::Os, _) | (Choice::Auto, Ok(_)) => "os",
        (Choice::Auto, Err(_)) => "file",
    };
    let choice = match env.keystore_choice {
        Choice::Auto => "auto",
        Choice::Os => "os",
        Choice::File => "file",
    };
    match format {
        Format::Json => print_json(&json!({
            "choice": choice,
            "selected": selected,
            "os": match &os {
                Ok(s) => json!({ "available": true, "name": s.describe(), "keys": count(Backend::Os) }),
                Err(e) => json!({ "available": false, "error": e.to_string(), "fix": crate::explain::hint(e) }),
            },
            "file": { "path": file.root(), "keys": count(Backend::File) },
        })),
        Format::Text => {
            println!("Keystore choice: {choice} (--keystore or DOCKER_TLSCTX_KEYSTORE); new keys go to: {selected}");
            match &os {
                Ok(s) => println!(
                    "OS keychain: available, {}; {} recorded keys",
                    s.describe(),
                    count(Backend::Os)
                ),
                Err(e) => {
                    println!("OS keychain: not available: {e}");
                    if let Some(h) = crate::explain::hint(e) {
                        println!("  fix: {h}");
                    }
                }
            }
            println!(
                "File keystore: {}; {} recorded keys",
                file.root().display(),
                count(Backend::File)
            );
        }
    }
    // `--keystore os` with no keychain is a failure worth an exit code.
    match (env.keystore_choice, os) {
        (Choice::Os, Err(e)) => Err(e),
        _ => Ok(()),
    }
}
