//! The team flow: a request for someone else's CA, signing it, and Vault/OpenBao issuers; the `Signer` every issuing command takes.

pub mod issuer;
pub mod request;
pub mod sign;
pub mod signer;
