//! Client identities and the CAs that sign them: create, issue, load, remove, revoke, export, and what the agent serves.

pub mod agent;
pub mod ca;
pub mod client;
pub mod export;
pub mod identity;
pub mod new;
pub mod remove;
pub mod revoke;
