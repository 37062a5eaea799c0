//! One file per command, each parse → call → print: the arguments come
//! from cli.rs, the work from issuance/, the output from ui.rs. No command
//! imports another (tests/it/layers.rs checks it).

pub mod accept;
pub mod agent;
pub mod agent_adopt;
pub mod agent_install;
pub mod agent_uninstall;
pub mod authz;
pub mod autorenew_install;
pub mod autorenew_status;
pub mod autorenew_uninstall;
pub mod ca_export;
pub mod ca_import;
pub mod ca_init;
pub mod ca_issued;
pub mod ca_ls;
pub mod ca_rm;
pub mod cert;
pub mod cert_renew;
pub mod check;
pub mod client;
pub mod env;
pub mod export;
pub mod hooks;
pub mod inspect;
pub mod issuer_add;
pub mod keystore_status;
pub mod ls;
pub mod new;
pub mod renew;
pub mod renew_due;
pub mod request;
pub mod restore;
pub mod revoke;
pub mod rm;
pub mod server;
pub mod server_install;
pub mod server_renew;
pub mod sign;
pub mod swarm_ls;
pub mod swarm_prune;
pub mod swarm_publish;
pub mod swarm_rotate;
