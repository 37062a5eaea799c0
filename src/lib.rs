//! docker-tlsctx as a library: the binary (main.rs) is a thin dispatcher over
//! these modules, and the integration tests drive the keystores directly.
//! The layers, lowest first, and what each may import: ARCHITECTURE.md.
// Denied, not forbidden: src/sys/ holds the one module per OS that may
// (ARCHITECTURE.md, "Unsafe code").
#![deny(unsafe_code)]

// Leaves: std and crates only (error may use text).
pub mod environment;
pub mod error;
pub mod fsio;
pub mod http1;
pub mod interrupt;
pub mod lock;
pub mod names;
pub mod proc;
pub mod sys;
pub mod text;
// Pure code: no I/O.
pub mod csr;
pub mod issued;
pub mod p12;
pub mod pki;
// Adapters: Docker, the keystores, our records, the TLS probe.
pub mod docker;
pub mod keystore;
pub mod probe;
pub mod ssh;
pub mod state;
pub mod tls_client;
pub mod vault;
// Issuance: the operations commands are made of.
pub mod issuance;
// The user interface: clap definitions and output helpers.
pub mod args;
pub mod cli;
pub mod explain;
pub mod ui;
// Front ends: one file per command; the credential helper.
pub mod agent;
#[cfg(unix)]
pub mod authz;
pub mod commands;
pub mod complete;
pub mod credhelper;
