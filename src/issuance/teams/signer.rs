//! Who signs a CA's certificates (ARCHITECTURE.md, "Teams"): its key here
//! (`pki::Ca`), or a Vault/OpenBao mount (`issuer::Remote`). Every command
//! that issues takes a `&dyn Signer`, so `new`, `server`, `renew` and
//! `renew --due` work the same with either.

use crate::error::Result;
use crate::pki::{Ca, Leaf, LeafRequest};

pub trait Signer {
    /// The CA's record name.
    fn name(&self) -> &str;
    /// The CA certificate (PEM) the context and bundles trust.
    fn cert_pem(&self) -> &str;
    /// A certificate as `req` asks (issue 32: one request, whoever signs).
    fn sign(&self, req: &LeafRequest<'_>) -> Result<Leaf>;
    /// What the signer said along the way (an engine's warnings, a
    /// lifetime its role capped), for the command to print.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Signer for Ca {
    fn name(&self) -> &str {
        Ca::name(self)
    }
    fn cert_pem(&self) -> &str {
        &self.cert_pem
    }
    fn sign(&self, req: &LeafRequest<'_>) -> Result<Leaf> {
        Ca::sign(self, req)
    }
}
