//! `docker tlsctx agent uninstall`.

use crate::agent::units;
use crate::error::Result;

pub fn run() -> Result<()> {
    let done = units::uninstall()?;
    if done.files.is_empty() {
        println!("Nothing to remove: agent install wrote nothing here.");
    }
    for f in &done.files {
        println!("Removed {}", f.display());
    }
    println!("\nTo stop what is running:");
    for n in &done.next {
        println!("  {n}");
    }
    Ok(())
}
