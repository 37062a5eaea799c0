//! What Docker defines and we speak: the context store, config.json, host
//! addresses, the CLI plugin protocol and its hooks, swarm through the CLI.

pub mod config;
pub mod context;
pub mod endpoint;
pub mod hooks;
pub mod host;
pub mod plugin;
pub mod swarm;
