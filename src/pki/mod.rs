//! Issuance on rcgen: inputs and `now` in, certificates and keys out; no I/O.
//!
//! The profiles follow what Go's crypto/x509 (used by both the docker CLI and
//! dockerd through go-connections) checks: SANs, never a CN fallback; EKU on
//! leaves, none on the CA because EKU constraints nest down the chain.
//!
//! One module per concern (issue 32): `types` (key types, roles, purposes,
//! SANs), `keys`, `ca` (signing and CRLs), `inspect` (reading certificates
//! back); the CSR a request sends is written by the csr module.

mod ca;
mod inspect;
mod keys;
mod leaf;
mod types;

pub use ca::*;
pub use inspect::*;
pub use keys::*;
pub use leaf::*;
pub use types::*;

use time::Duration;

/// CA default lifetime: 10 years (ARCHITECTURE.md, "Numbers and where they come from").
pub const CA_DAYS: u32 = 3650;
/// Server default: 397 days, the CA/Browser Forum limit and well below
/// Apple's 825-day rule for TLS server certificates (support.apple.com/HT210176),
/// which applies to user-added roots too.
pub const SERVER_DAYS: u32 = 397;
/// Apple's 825-day rule: macOS and iOS reject TLS server certificates valid longer.
pub const SERVER_MAX_DAYS: u32 = 825;
/// Client default: 90 days. dockerd has no revocation list, so the lifetime
/// is the only limit on a leaked key; renewal is one command.
pub const CLIENT_DAYS: u32 = 90;
/// Ceiling for CA and client lifetimes (10 years).
pub const MAX_DAYS: u32 = 3650;
/// notBefore is set this far in the past so a client whose clock is a little
/// behind the issuer's still accepts a fresh certificate.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use ::time::OffsetDateTime;
    use rcgen::KeyPair;
    use x509_parser::extensions::GeneralName;
    use x509_parser::oid_registry;
    use x509_parser::prelude::*;

    fn now() -> OffsetDateTime {
        // A fixed clock: the tests do not depend on when they run.
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn parse(pem_text: &str) -> Vec<u8> {
        let (_, pem) = parse_x509_pem(pem_text.as_bytes()).unwrap();
        pem.contents
    }

    #[test]
    fn san_parsing() {
        assert_eq!(
            San::parse("203.0.113.7"),
            Some(San::Ip("203.0.113.7".parse().unwrap()))
        );
        assert_eq!(
            San::parse("[2001:db8::1]"),
            Some(San::Ip("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            San::parse("Docker.Example.com."),
            Some(San::Dns("docker.example.com".into()))
        );
        assert_eq!(
            San::parse("*.example.com"),
            Some(San::Dns("*.example.com".into()))
        );
        for bad in [
            "",
            "-a.com",
            "a..b",
            "under_score.com",
            "300.1.1.1",
            "a b",
            "x.*.com",
            &"a".repeat(64),
        ] {
            assert_eq!(San::parse(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn key_type_names_round_trip() {
        for k in KeyType::ALL {
            assert_eq!(k.as_str().parse::<KeyType>().unwrap(), k);
        }
        let err = "dsa".parse::<KeyType>().unwrap_err();
        assert!(
            err.contains("ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096"),
            "{err}"
        );
    }

    #[test]
    fn ca_server_client_profiles() {
        let ca = new_ca("test CA", KeyType::EcdsaP256, CA_DAYS, now()).unwrap();
        let der = parse(&ca.cert_pem);
        let (_, c) = X509Certificate::from_der(&der).unwrap();
        let bc = c.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && bc.value.ca && bc.value.path_len_constraint == Some(0));
        let ku = c.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign());
        assert!(
            c.extended_key_usage().unwrap().is_none(),
            "a CA must not carry an EKU"
        );
        assert!(c.validity().not_before.to_datetime() < now());
        assert_eq!(
            c.validity().not_after.to_datetime(),
            now() + Duration::days(3650)
        );
        let ski = match c
            .get_extension_unique(&oid_registry::OID_X509_EXT_SUBJECT_KEY_IDENTIFIER)
            .unwrap()
            .unwrap()
            .parsed_extension()
        {
            ParsedExtension::SubjectKeyIdentifier(k) => k.0.to_vec(),
            other => panic!("{other:?}"),
        };

        let signer = Ca::load("t", &ca.cert_pem, &ca.key_der()).unwrap();
        let sans = [
            San::Ip("127.0.0.1".parse().unwrap()),
            San::Dns("docker.example.com".into()),
        ];
        let server = signer
            .issue_server(&sans, KeyType::EcdsaP256, 397, now())
            .unwrap();
        let der = parse(&server.cert_pem);
        let (_, s) = X509Certificate::from_der(&der).unwrap();
        assert!(s.verify_signature(Some(c.public_key())).is_ok());
        let eku = s.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        let names: Vec<String> = s
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|g| match g {
                GeneralName::DNSName(d) => format!("DNS:{d}"),
                GeneralName::IPAddress(ip) => format!("IP:{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["IP:[127, 0, 0, 1]", "DNS:docker.example.com"]);
        let aki = match s
            .get_extension_unique(&oid_registry::OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER)
            .unwrap()
            .unwrap()
            .parsed_extension()
        {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().unwrap().0.to_vec()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(aki, ski, "AKI of a leaf must be the SKI of its CA");
        assert!(!s.basic_constraints().unwrap().unwrap().value.ca);

        let client = signer
            .issue_client("alice", Role::Admin, KeyType::Ed25519, 90, now())
            .unwrap();
        let der = parse(&client.cert_pem);
        let (_, cl) = X509Certificate::from_der(&der).unwrap();
        assert!(cl.verify_signature(Some(c.public_key())).is_ok());
        let eku = cl.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert_eq!(
            CertInfo::from_pem(&client.cert_pem).unwrap().subject_cn,
            "alice"
        );
    }

    #[test]
    fn serials_are_random_and_positive() {
        let ca = new_ca("c", KeyType::EcdsaP256, 10, now()).unwrap();
        let signer = Ca::load("t", &ca.cert_pem, &ca.key_der()).unwrap();
        let a = signer
            .issue_client("x", Role::Admin, KeyType::EcdsaP256, 1, now())
            .unwrap();
        let b = signer
            .issue_client("x", Role::Admin, KeyType::EcdsaP256, 1, now())
            .unwrap();
        assert_ne!(a.serial_hex, b.serial_hex);
        let info = CertInfo::from_pem(&a.cert_pem).unwrap();
        assert_eq!(info.serial_hex, a.serial_hex);
        assert_eq!(info.serial_hex.len(), 32);
    }

    #[test]
    fn a_key_that_does_not_match_is_refused() {
        let ca = new_ca("c", KeyType::EcdsaP256, 10, now()).unwrap();
        let other = KeyType::EcdsaP256.generate().unwrap();
        let err = Ca::load("t", &ca.cert_pem, &other.serialize_der())
            .err()
            .unwrap();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn leaves_end_with_their_ca() {
        let ca = new_ca("c", KeyType::EcdsaP256, 30, now()).unwrap();
        let signer = Ca::load("t", &ca.cert_pem, &ca.key_der()).unwrap();
        let leaf = signer
            .issue_client("x", Role::Admin, KeyType::EcdsaP256, 31, now())
            .unwrap();
        assert!(leaf.clamped_to_ca);
        assert_eq!(leaf.not_after, ca.not_after);
        assert_eq!(
            CertInfo::from_pem(&leaf.cert_pem).unwrap().not_after,
            ca.not_after
        );
        let leaf = signer
            .issue_client("x", Role::Admin, KeyType::EcdsaP256, 29, now())
            .unwrap();
        assert!(!leaf.clamped_to_ca);
        // An expired CA issues nothing.
        let later = now() + Duration::days(31);
        let err = signer
            .issue_client("x", Role::Admin, KeyType::EcdsaP256, 1, later)
            .err()
            .unwrap();
        assert!(matches!(err, Error::CaExpired { .. }), "{err}");
    }

    #[test]
    fn every_key_type_signs_and_reloads() {
        for kt in [KeyType::EcdsaP384, KeyType::Ed25519, KeyType::Rsa2048] {
            let ca = new_ca("c", kt, 10, now()).unwrap();
            let signer = Ca::load("t", &ca.cert_pem, &ca.key_der()).unwrap();
            let leaf = signer.issue_client("x", Role::Admin, kt, 1, now()).unwrap();
            assert!(
                leaf.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"),
                "{kt}"
            );
            // What the keystore holds loads back into a signing key.
            KeyPair::try_from(leaf.key_der().as_slice()).unwrap();
        }
        // Ed25519 comes out as PKCS#8 v1 (RFC 8410 §7): 48 bytes, version 0.
        let ed = new_ca("c", KeyType::Ed25519, 10, now()).unwrap();
        assert_eq!(ed.key_der().len(), 48);
        assert_eq!(ed.key_der()[4], 0);
        let signer = Ca::load("t", &ed.cert_pem, &ed.key_der()).unwrap();
        signer
            .issue_client("x", Role::Admin, KeyType::Ed25519, 1, now())
            .unwrap();
    }

    #[test]
    fn role_claims_are_read_exactly() {
        let read =
            |ous: &[&str]| RoleClaim::read(&ous.iter().map(|o| Some(*o)).collect::<Vec<_>>(), 1, 0);
        assert_eq!(read(&[]), RoleClaim::Unmarked);
        // Anything but v0.2's bare CN needs a role.
        assert!(matches!(read(&["ops"]), RoleClaim::Ambiguous(_)));
        assert!(matches!(
            RoleClaim::read(&[], 1, 1),
            RoleClaim::Ambiguous(_)
        ));
        assert!(matches!(
            RoleClaim::read(&[], 0, 0),
            RoleClaim::Ambiguous(_)
        ));
        assert_eq!(read(&["role:read-only"]), RoleClaim::Client(Role::ReadOnly));
        assert_eq!(read(&["ops", "role:admin"]), RoleClaim::Client(Role::Admin));
        assert_eq!(read(&["role:service"]), RoleClaim::Service);
        for odd in [
            &["role:Read-Only"][..],
            &["role: read-only"],
            &[" role:read-only"],
            &["Role:admin"],
            &["role:read-only "],
            &["role:root"],
            &["role"],
            &["role:admin", "role:read-only"],
            &["role:read-only", "role:read-only"],
            &["ROLES:x"],
            &["\u{200b}role:read-only"],
            &["r\u{43e}le:read-only"],
            &["my-role"],
        ] {
            assert!(
                matches!(read(odd), RoleClaim::Ambiguous(_)),
                "{odd:?}: {:?}",
                read(odd)
            );
        }
        assert!(matches!(
            RoleClaim::read(&[None], 1, 0),
            RoleClaim::Ambiguous(_)
        ));
        assert!(matches!(
            RoleClaim::read(&[Some("role:read-only")], 2, 0),
            RoleClaim::Ambiguous(_)
        ));
    }

    #[test]
    fn roles_ride_in_the_subject_and_crls_list_serials() {
        let ca = new_ca("c", KeyType::EcdsaP256, 30, now()).unwrap();
        let signer = Ca::load("c", &ca.cert_pem, &ca.key_der()).unwrap();
        let ro = signer
            .issue_client("bob", Role::ReadOnly, KeyType::EcdsaP256, 1, now())
            .unwrap();
        let info = CertInfo::from_pem(&ro.cert_pem).unwrap();
        assert_eq!(info.role, Role::ReadOnly);
        assert!(
            info.subject.contains("OU=role:read-only"),
            "{}",
            info.subject
        );
        let admin = signer
            .issue_client("al", Role::Admin, KeyType::EcdsaP256, 1, now())
            .unwrap();
        let info = CertInfo::from_pem(&admin.cert_pem).unwrap();
        assert_eq!(info.role, Role::Admin);
        assert_eq!(info.role_claim, RoleClaim::Client(Role::Admin));
        assert!(
            info.subject.contains("OU=role:admin"),
            "admin is written: {}",
            info.subject
        );
        // A service certificate says so; the daemon's own says nothing.
        let san = San::parse("svc.example").unwrap();
        for (purpose, claim) in [
            (Purpose::Service, RoleClaim::Service),
            (Purpose::ServiceClient, RoleClaim::Service),
            (Purpose::Daemon, RoleClaim::Unmarked),
        ] {
            let leaf = signer
                .issue_for(
                    purpose,
                    std::slice::from_ref(&san),
                    KeyType::EcdsaP256,
                    1,
                    now(),
                )
                .unwrap();
            assert_eq!(
                CertInfo::from_pem(&leaf.cert_pem).unwrap().role_claim,
                claim
            );
        }
        let crl = signer
            .crl(
                &[Revoked {
                    serial_hex: ro.serial_hex.clone(),
                    at: now(),
                    reason: Some(rcgen::RevocationReason::KeyCompromise),
                }],
                1,
                now(),
                now() + Duration::days(30),
            )
            .unwrap();
        let (_, pem) = parse_x509_pem(crl.as_bytes()).unwrap();
        let (_, parsed) =
            x509_parser::revocation_list::CertificateRevocationList::from_der(&pem.contents)
                .unwrap();
        let serials: Vec<String> = parsed
            .iter_revoked_certificates()
            .map(|r| crate::text::hex(r.raw_serial()))
            .collect();
        assert_eq!(serials, std::slice::from_ref(&ro.serial_hex));
    }
}
