//! One request for a leaf certificate (issue 32): what it is for, whose
//! key, how long, from when. Every signer takes it, a CA here (`Ca::sign`)
//! and an issuer's engine (`issuance::teams::issuer`), so the parameter
//! list is written once.

use rcgen::KeyPair;
use time::OffsetDateTime;

use super::types::{KeyType, Purpose, Role, San};
use crate::error::{Error, Result};

/// What the certificate is for.
#[derive(Clone, Copy, Debug)]
pub enum Profile<'a> {
    /// A client identity: clientAuth, the CN names the person or job, the
    /// OU its role.
    Client { cn: &'a str, role: Role },
    /// The daemon's certificate or a service's: these SANs, the first also
    /// the CN.
    Service { purpose: Purpose, sans: &'a [San] },
}

/// Whose key the certificate is for.
#[derive(Clone, Copy, Debug)]
pub enum LeafKey<'a> {
    /// A new key of this type, made here and handed back in the `Leaf`.
    Generate(KeyType),
    /// A key that exists (PKCS#8 DER): a renewal without --rekey.
    Existing { der: &'a [u8], key_type: KeyType },
}

impl LeafKey<'_> {
    /// The key pair, made or read, and its type.
    pub fn key_pair(&self) -> Result<(KeyPair, KeyType)> {
        match *self {
            LeafKey::Generate(key_type) => Ok((key_type.generate()?, key_type)),
            LeafKey::Existing { der, key_type } => {
                let key = KeyPair::try_from(der)
                    .map_err(|e| Error::Crypto(format!("cannot read the client key: {e}")))?;
                Ok((key, key_type))
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LeafRequest<'a> {
    pub profile: Profile<'a>,
    pub key: LeafKey<'a>,
    pub days: u32,
    pub now: OffsetDateTime,
}

impl<'a> LeafRequest<'a> {
    pub fn client(
        cn: &'a str,
        role: Role,
        key: LeafKey<'a>,
        days: u32,
        now: OffsetDateTime,
    ) -> Self {
        LeafRequest {
            profile: Profile::Client { cn, role },
            key,
            days,
            now,
        }
    }

    pub fn service(
        purpose: Purpose,
        sans: &'a [San],
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Self {
        LeafRequest {
            profile: Profile::Service { purpose, sans },
            key: LeafKey::Generate(key_type),
            days,
            now,
        }
    }
}
