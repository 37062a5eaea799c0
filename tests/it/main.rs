//! The integration tests, one binary (issue 32: 22 binaries each linked
//! the whole crate, aws-lc included, which was a large part of a cold CI),
//! one module per area, as ripgrep and cargo lay theirs out. Run an area
//! with `cargo test --test it AREA::`; `scripts/test.sh` runs the areas one
//! after the other, so that one daemon-heavy group runs at a time, as the
//! separate binaries did.

// The areas hosted CI also runs on macOS and Windows (layers, fuzz) build
// everywhere; the rest drive unix peers (dockerd, sshd, Secret Service)
// and build on Unix only, as their binaries did.
#[cfg(unix)]
#[macro_use]
#[cfg(unix)]
mod common;

#[cfg(unix)]
mod agent;
#[cfg(unix)]
mod authz;
#[cfg(unix)]
mod cancel;
#[cfg(unix)]
mod cli;
#[cfg(unix)]
mod complete;
#[cfg(unix)]
mod credhelper;
#[cfg(unix)]
mod docker;
#[cfg(unix)]
mod faults;
mod fuzz;
#[cfg(unix)]
mod hints;
#[cfg(unix)]
mod import;
#[cfg(unix)]
mod install;
#[cfg(unix)]
mod issuer;
#[cfg(unix)]
mod keychain;
mod layers;
#[cfg(unix)]
mod lifecycle;
#[cfg(unix)]
mod openssl;
#[cfg(unix)]
mod p12;
#[cfg(unix)]
mod renew_due;
#[cfg(unix)]
mod swarm;
#[cfg(unix)]
mod teams;
#[cfg(unix)]
mod trust;
