//! `docker tlsctx autorenew install`: the OS's scheduler runs `renew --due`.

use crate::error::Result;
use crate::issuance::{renewal::schedule, Env};

pub fn run(env: &Env) -> Result<()> {
    let done = schedule::install(&env.config_dir, env.keystore_choice)?;
    let state = env.state();
    // "On" only once the scheduler took the job: files alone run nothing.
    let enabled = done.next.is_empty();
    let mut a = state.autorenew().ok().flatten().unwrap_or_default();
    a.scheduler = enabled.then(|| done.scheduler.into());
    state.write_autorenew(&a)?;
    for f in &done.files {
        println!("Wrote {}", f.display());
    }
    for (cmd, ok) in &done.ran {
        println!("{} {cmd}", if *ok { "Ran" } else { "Could not run" });
    }
    // What the timer does only once it is on (issue 31: said before "not
    // on", it read as a promise).
    if enabled {
        println!(
            "The {} runs docker tlsctx renew --due at {:02}:00 and {:02}:00 (within an hour, fixed per machine), and at the next start after a missed run.",
            done.scheduler,
            schedule::HOURS[0],
            schedule::HOURS[1]
        );
    } else {
        println!("\nAutomatic renewal is not on yet: the scheduler could not be reached from here. In your login session, run:");
        for n in &done.next {
            println!("  {n}");
        }
        println!("then docker tlsctx autorenew install again, so that the tools record it as on.");
    }
    if cfg!(target_os = "linux") {
        println!("\nOn a server, user timers run while you are logged out only with: loginctl enable-linger $USER");
    }
    Ok(())
}
