//! A CA: made (`new_ca`), loaded (`Ca::load`), signing leaves for keys
//! made here or sent in a request, and CRLs.

use super::leaf::{LeafKey, LeafRequest, Profile};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};

use super::*;

/// A leaf certificate (server or client) and its key. A CA is a `NewCa`:
/// the two never mix, as rustls-cert-gen keeps `Ca` and `EndEntity` apart.
pub struct Leaf {
    pub cert_pem: String,
    pub key: KeyPair,
    pub serial_hex: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The lifetime asked for would have outlived the CA, so it ends with the
    /// CA instead (a verifier rejects the chain past that day anyway).
    pub clamped_to_ca: bool,
}

impl Leaf {
    /// PKCS#8 DER of the private key: what the keystore holds.
    pub fn key_der(&self) -> Vec<u8> {
        pkcs8_v1(self.key.serialize_der())
    }
    /// PKCS#8 PEM ("PRIVATE KEY"): what Docker and dockerd read
    /// (Go's tls.X509KeyPair accepts it for RSA, ECDSA and Ed25519).
    pub fn key_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.key_der())
    }
}

/// A certificate signed for a key that is not here (`sign`).
pub struct Signed {
    pub cert_pem: String,
    pub serial_hex: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub clamped_to_ca: bool,
}

/// A new self-signed CA certificate and its key, before it is stored.
pub struct NewCa {
    pub cert_pem: String,
    pub key: KeyPair,
    pub not_after: OffsetDateTime,
}

impl NewCa {
    /// PKCS#8 DER of the CA key: what the keystore holds.
    pub fn key_der(&self) -> Vec<u8> {
        pkcs8_v1(self.key.serialize_der())
    }
}

/// Random 16-byte positive serial (RFC 5280 §4.1.2.2 allows up to 20 octets).
/// rcgen's default serial is a hash of the key, so two certificates for the
/// same key (a renewal) would repeat it.
fn random_serial() -> (SerialNumber, String) {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random number generator failed");
    // Clear the sign bit (a DER INTEGER is signed) and set the next one so the
    // encoding keeps all 16 octets.
    b[0] = (b[0] & 0x7f) | 0x40;
    (SerialNumber::from_slice(&b), crate::text::hex(&b))
}

fn validity(params: &mut CertificateParams, now: OffsetDateTime, days: u32) {
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + Duration::days(days as i64);
}

/// A new self-signed CA: CA:TRUE with pathlen 0 (it signs leaves only),
/// keyCertSign + cRLSign, no EKU, SKI for the AKI of what it issues.
pub fn new_ca(cn: &str, key_type: KeyType, days: u32, now: OffsetDateTime) -> Result<NewCa> {
    let key = key_type.generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "docker-tlsctx");
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial().0);
    validity(&mut params, now, days);
    let cert = params.self_signed(&key)?;
    Ok(NewCa {
        cert_pem: cert.pem(),
        key,
        not_after: params.not_after,
    })
}

/// A loaded CA, ready to sign. Built only from a certificate and the key that
/// matches it; it knows its own name, for the errors it returns.
pub struct Ca {
    name: String,
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: String,
    pub not_after: OffsetDateTime,
}

impl Ca {
    pub fn load(name: &str, cert_pem: &str, key_der: &[u8]) -> Result<Ca> {
        let key = KeyPair::try_from(key_der)
            .map_err(|e| Error::Crypto(format!("cannot read the CA key: {e}")))?;
        let info = CertInfo::from_pem(cert_pem)?;
        // rcgen signs with any key it is given: check the pairing ourselves, or
        // we would issue certificates that no verifier can chain to this CA.
        if info.spki_der != key.subject_public_key_info() {
            return Err(Error::Crypto(
                "the CA key does not match the CA certificate".into(),
            ));
        }
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Ca {
            name: name.to_string(),
            issuer,
            cert_pem: cert_pem.to_string(),
            not_after: info.not_after,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Days from `now` until this CA expires (rounded down).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }

    fn check_alive(&self, now: OffsetDateTime) -> Result<()> {
        if self.not_after <= now {
            return Err(Error::CaExpired {
                ca: self.name.clone(),
                on: self.not_after,
            });
        }
        Ok(())
    }

    /// A client certificate with any subject, for tests of readers that
    /// must refuse what we never issue (odd role OUs, two CNs, SANs): the
    /// plugin's, which is built on Unix only.
    #[cfg(all(test, unix))]
    pub(crate) fn issue_odd_client(
        &self,
        ous: &[&str],
        cns: &[&str],
        sans: &[San],
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        for ou in ous {
            dn.push(DnType::OrganizationalUnitName, *ou);
        }
        for cn in cns {
            dn.push(DnType::CommonName, *cn);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<_>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign_params(params, &LeafKey::Generate(KeyType::EcdsaP256), 10, now)
    }

    /// The one path every certificate of ours takes (issue 32): the CA is
    /// checked alive first (an RSA-4096 key takes a second to find out
    /// nothing), then the key made or read, then signed.
    fn sign_params(
        &self,
        params: CertificateParams,
        key: &LeafKey<'_>,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        self.check_alive(now)?;
        let (key, key_type) = key.key_pair()?;
        self.sign_leaf(params, key, key_type, days, now)
    }

    /// A certificate as `req` asks: the `Signer` path of a CA here.
    pub fn sign(&self, req: &LeafRequest<'_>) -> Result<Leaf> {
        let params = match req.profile {
            Profile::Client { cn, role } => client_params(cn, role),
            Profile::Service { purpose, sans } => service_params(purpose, sans)?,
        };
        self.sign_params(params, &req.key, req.days, req.now)
    }

    /// Signs `params` for `key`; callers have checked that the CA is alive.
    fn sign_leaf(
        &self,
        params: CertificateParams,
        key: KeyPair,
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        let s = self.sign_public(params, &key, key_type.is_rsa(), days, now)?;
        Ok(Leaf {
            cert_pem: s.cert_pem,
            key,
            serial_hex: s.serial_hex,
            not_before: s.not_before,
            not_after: s.not_after,
            clamped_to_ca: s.clamped_to_ca,
        })
    }

    /// A client certificate for a public key whose private key is
    /// elsewhere (`sign`: a request's). Built from policy only: the CN and
    /// role the signer chose, clientAuth, this CA's profile; nothing of the
    /// request but its key (ARCHITECTURE.md, "Teams").
    pub fn sign_client_key(
        &self,
        cn: &str,
        role: Role,
        spki_der: &[u8],
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Signed> {
        self.check_alive(now)?;
        let key = rcgen::SubjectPublicKeyInfo::from_der(spki_der)
            .map_err(|e| Error::Crypto(format!("cannot use the request's key: {e}")))?;
        let is_rsa = key_name(spki_der).starts_with("rsa-");
        self.sign_public(client_params(cn, role), &key, is_rsa, days, now)
    }

    fn sign_public(
        &self,
        mut params: CertificateParams,
        key: &impl PublicKeyData,
        is_rsa: bool,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Signed> {
        let (serial, serial_hex) = random_serial();
        params.serial_number = Some(serial);
        params.use_authority_key_identifier_extension = true;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if is_rsa {
            // TLS 1.2 RSA key exchange needs it; the openssl recipe sets it too.
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        validity(&mut params, now, days);
        let clamped_to_ca = params.not_after > self.not_after;
        if clamped_to_ca {
            params.not_after = self.not_after;
        }
        let cert = params.signed_by(key, &self.issuer)?;
        Ok(Signed {
            cert_pem: cert.pem(),
            serial_hex,
            not_before: params.not_before,
            not_after: params.not_after,
            clamped_to_ca,
        })
    }

    /// The daemon's certificate: every name and address clients use, as SANs
    /// (Go ignores the CN since 1.15), EKU serverAuth.
    pub fn issue_server(
        &self,
        sans: &[San],
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        self.issue_for(Purpose::Daemon, sans, key_type, days, now)
    }

    /// A certificate for `purpose` with these SANs (the first is also the
    /// CN): serverAuth for the daemon and for services behind it (an nginx
    /// or registry site), clientAuth for a service that is a TLS client.
    pub fn issue_for(
        &self,
        purpose: Purpose,
        sans: &[San],
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        self.sign(&LeafRequest::service(purpose, sans, key_type, days, now))
    }

    /// A client identity: EKU clientAuth, the CN names the person or job,
    /// the OU its role.
    pub fn issue_client(
        &self,
        cn: &str,
        role: Role,
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        self.sign(&LeafRequest::client(
            cn,
            role,
            LeafKey::Generate(key_type),
            days,
            now,
        ))
    }

    /// A client certificate for a key that already exists (renewal without
    /// --rekey): `key_der` is its PKCS#8 DER.
    pub fn reissue_client(
        &self,
        cn: &str,
        role: Role,
        key_der: &[u8],
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        let key = LeafKey::Existing {
            der: key_der,
            key_type,
        };
        self.sign(&LeafRequest::client(cn, role, key, days, now))
    }
}

impl Ca {
    /// An X.509 CRL (RFC 5280 §5) of `revoked`, signed by this CA, in PEM:
    /// the format dockerd's authorization plugin here, nginx, HAProxy and
    /// ghostunnel read. `number` must grow with each CRL of this CA.
    pub fn crl(
        &self,
        revoked: &[Revoked],
        number: u64,
        now: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String> {
        let revoked_certs = revoked
            .iter()
            .map(|r| {
                let bytes = (0..r.serial_hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&r.serial_hex[i..i + 2], 16))
                    .collect::<std::result::Result<Vec<u8>, _>>()
                    .map_err(|_| Error::Crypto(format!("serial {:?} is not hex", r.serial_hex)))?;
                Ok(rcgen::RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&bytes),
                    revocation_time: r.at,
                    reason_code: r.reason,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let params = rcgen::CertificateRevocationListParams {
            this_update: now - CLOCK_SKEW,
            next_update,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }
}

/// The daemon's or a service's subject, SANs and usage. A service
/// certificate says so in its OU, and the plugin refuses it at the Engine
/// API; the daemon's own certificate needs nothing (serverAuth only:
/// dockerd refuses it as a client certificate).
fn service_params(purpose: Purpose, sans: &[San]) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    if purpose != Purpose::Daemon {
        dn.push(DnType::OrganizationalUnitName, SERVICE_OU);
    }
    if let Some(first) = sans.first() {
        dn.push(DnType::CommonName, first.host());
    }
    params.distinguished_name = dn;
    params.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<_>>()?;
    params.extended_key_usages = vec![purpose.eku()];
    Ok(params)
}

fn client_params(cn: &str, role: Role) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    // Every role is written, admin included: the plugin can then refuse
    // certificates without one (`authz serve --require-role`), which is how
    // a CA's older admin certificates are retired (ARCHITECTURE.md, "Roles
    // and revocation").
    dn.push(DnType::OrganizationalUnitName, role.ou());
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params
}
