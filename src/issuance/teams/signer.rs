//! Who signs a CA's certificates (ARCHITECTURE.md, "Teams"): its key here
//! (`pki::Ca`), or a Vault/OpenBao mount (`issuer::Remote`). Every command
//! that issues takes a `&dyn Signer`, so `new`, `server`, `renew` and
//! `renew --due` work the same with either.

use time::OffsetDateTime;

use crate::error::Result;
use crate::pki::{Ca, KeyType, Leaf, Purpose, Role, San};

pub trait Signer {
    /// The CA's record name.
    fn name(&self) -> &str;
    /// The CA certificate (PEM) the context and bundles trust.
    fn cert_pem(&self) -> &str;
    fn issue_for(
        &self,
        purpose: Purpose,
        sans: &[San],
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf>;
    fn issue_client(
        &self,
        cn: &str,
        role: Role,
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf>;
    /// A client certificate for a key that exists (PKCS#8 DER).
    fn reissue_client(
        &self,
        cn: &str,
        role: Role,
        key_der: &[u8],
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf>;
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
    fn issue_for(
        &self,
        purpose: Purpose,
        sans: &[San],
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        Ca::issue_for(self, purpose, sans, key_type, days, now)
    }
    fn issue_client(
        &self,
        cn: &str,
        role: Role,
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        Ca::issue_client(self, cn, role, key_type, days, now)
    }
    fn reissue_client(
        &self,
        cn: &str,
        role: Role,
        key_der: &[u8],
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        Ca::reissue_client(self, cn, role, key_der, key_type, days, now)
    }
}
