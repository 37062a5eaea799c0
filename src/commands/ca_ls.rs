//! `docker tlsctx ca ls`: every CA, its expiry, keystore and identities.

use crate::args::Format;
use crate::error::Result;
use crate::issuance::{identities::ca, Env};
use crate::text::date;
use crate::ui;

pub fn run(env: &Env, format: Format) -> Result<()> {
    let cas = ca::list(env)?;
    match format {
        Format::Json => {
            let v: Vec<_> = cas
                .iter()
                .map(|(c, n)| {
                    let mut j = serde_json::to_value(c).expect("json");
                    j["identities"] = (*n).into();
                    j
                })
                .collect();
            ui::print_json(&serde_json::Value::Array(v));
        }
        Format::Text => {
            let rows: Vec<[String; 6]> = cas
                .iter()
                .map(|(c, n)| {
                    [
                        c.name.clone(),
                        c.key_type.to_string(),
                        date(c.not_after),
                        (c.not_after - env.now).whole_days().to_string(),
                        c.keystore.to_string(),
                        n.to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                ui::table(
                    &[
                        "NAME",
                        "KEY TYPE",
                        "NOT AFTER",
                        "DAYS LEFT",
                        "KEYSTORE",
                        "IDENTITIES"
                    ],
                    &rows
                )
            );
        }
    }
    Ok(())
}
