//! docker-tlsctx as a library: the binary (main.rs) is a thin dispatcher over
//! these modules, and the integration tests drive the keystores directly.
#![forbid(unsafe_code)]

pub mod check;
pub mod cli;
pub mod commands;
pub mod context;
pub mod credhelper;
pub mod error;
pub mod fsio;
pub mod keystore;
pub mod p12;
pub mod pki;
pub mod plugin;
pub mod state;
