//! `docker tlsctx autorenew uninstall`.

use crate::error::Result;
use crate::issuance::{renewal::schedule, Env};

pub fn run(env: &Env) -> Result<()> {
    let done = schedule::uninstall(&env.config_dir)?;
    let state = env.state();
    if let Some(mut a) = state.autorenew().ok().flatten() {
        a.scheduler = None;
        state.write_autorenew(&a)?;
    }
    for f in &done.files {
        println!("Removed {}", f.display());
    }
    for n in &done.next {
        println!("Could not run (run it in your login session): {n}");
    }
    println!("Automatic renewal is off; docker tlsctx renew --due still renews what is due when you run it.");
    Ok(())
}
