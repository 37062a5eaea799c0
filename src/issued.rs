//! What an outside CA hands back (a Vault/OpenBao issuer's certificates and
//! CRLs), checked before anything of it is written, installed or trusted
//! (issue 30). An engine's role decides names, usages and lifetimes, and a
//! role set up too loosely (or an engine that is not what it claims) must
//! not give a daemon a CA certificate, a client identity the rights of a
//! server, or a CRL that leaves out the serial just revoked.
//!
//! Pure code: DER and a clock in, a reason out.

use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{parse_x509_certificate, CertificateRevocationList, FromDer};

use crate::pki::CLOCK_SKEW;

/// How far before its signing a certificate may start: Vault's and
/// OpenBao's `not_before_duration` defaults to 30 s (builtin/logical/pki
/// path_roles.go), ours to 5 minutes (pki::CLOCK_SKEW). A notBefore a week
/// back makes a certificate look two-thirds through its life, so every
/// command would say it is due.
pub const BACKDATE: Duration = Duration::hours(1);

/// What the certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A docker CLI's identity: clientAuth and nothing else.
    Client,
    /// A daemon's certificate: serverAuth and nothing else (our own CA
    /// issues exactly that; with clientAuth too it would be an identity
    /// the plugin reads as an admin).
    Server,
}

/// What was asked for.
pub struct Expect<'a> {
    pub usage: Usage,
    pub cn: &'a str,
    /// "DNS:name" / "IP:address", as `pki::CertInfo::sans` writes them.
    pub sans: &'a [String],
}

/// Whether `cert_der` was signed by `ca_der`: only then is a refused
/// certificate the engine's to revoke (revoking another CA's serial there
/// could revoke a certificate of ours that happens to share it).
pub fn signed_by(cert_der: &[u8], ca_der: &[u8]) -> bool {
    let (Ok((_, cert)), Ok((_, ca))) = (
        parse_x509_certificate(cert_der),
        parse_x509_certificate(ca_der),
    ) else {
        return false;
    };
    cert.issuer().as_raw() == ca.subject().as_raw()
        && cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// Checks a certificate the engine signed for us: from the recorded CA,
/// not a CA, exactly the usage, CN and SANs asked for, valid now and not
/// backdated. Returns the reason it is refused.
pub fn check_leaf(
    cert_der: &[u8],
    ca_der: &[u8],
    want: &Expect<'_>,
    now: OffsetDateTime,
) -> Result<(), String> {
    let (_, cert) =
        parse_x509_certificate(cert_der).map_err(|e| format!("it cannot be read ({e})"))?;
    if !signed_by(cert_der, ca_der) {
        return Err("it was not signed by the recorded CA".into());
    }
    let info = crate::pki::CertInfo::from_der(cert_der).map_err(|e| e.to_string())?;
    if info.is_ca {
        return Err("it is a CA certificate (CA:TRUE)".into());
    }
    if let Some(ext) = cert.extensions().iter().find(|e| e.critical && !known(e)) {
        return Err(format!(
            "it has a critical extension {} that is not understood (Go refuses such a certificate)",
            ext.oid.to_id_string()
        ));
    }
    if let Ok(Some(ku)) = cert.key_usage() {
        if ku.value.key_cert_sign() || ku.value.crl_sign() {
            return Err("its key usage allows signing certificates or CRLs".into());
        }
    }
    let eku = match cert.extended_key_usage() {
        Ok(Some(e)) => e.value,
        Ok(None) => return Err("it has no extended key usage (good for any use)".into()),
        Err(e) => return Err(format!("its extended key usage cannot be read ({e})")),
    };
    let extra = eku.any
        || eku.code_signing
        || eku.email_protection
        || eku.time_stamping
        || eku.ocsp_signing
        || !eku.other.is_empty();
    let (name, ok) = match want.usage {
        Usage::Client => ("clientAuth", eku.client_auth && !eku.server_auth && !extra),
        Usage::Server => ("serverAuth", eku.server_auth && !eku.client_auth && !extra),
    };
    if !ok {
        let mut had: Vec<&str> = Vec::new();
        for (on, n) in [
            (eku.server_auth, "serverAuth"),
            (eku.client_auth, "clientAuth"),
            (eku.any, "anyExtendedKeyUsage"),
            (eku.code_signing, "codeSigning"),
            (eku.email_protection, "emailProtection"),
            (eku.time_stamping, "timeStamping"),
            (eku.ocsp_signing, "OCSPSigning"),
            (!eku.other.is_empty(), "other usages"),
        ] {
            if on {
                had.push(n);
            }
        }
        return Err(format!(
            "its extended key usage is {}, not {name} alone",
            if had.is_empty() {
                "empty".to_string()
            } else {
                had.join(", ")
            }
        ));
    }
    if cert.subject().iter_common_name().count() != 1 || info.subject_cn != want.cn {
        return Err(format!(
            "its CN is {:?}, not the {:?} asked for",
            crate::text::one_line(&info.subject_cn),
            want.cn
        ));
    }
    let mut got: Vec<&str> = info.sans.iter().map(String::as_str).collect();
    let mut asked: Vec<&str> = want.sans.iter().map(String::as_str).collect();
    got.sort_unstable();
    got.dedup();
    asked.sort_unstable();
    asked.dedup();
    if got != asked {
        let more: Vec<String> = got
            .iter()
            .filter(|s| !asked.contains(s))
            .map(|s| crate::text::one_line(s))
            .collect();
        let less: Vec<&str> = asked.iter().filter(|s| !got.contains(s)).copied().collect();
        return Err(match (more.is_empty(), less.is_empty()) {
            (false, _) => format!("it names {} too, which were not asked for", more.join(", ")),
            _ => format!("it lacks {}", less.join(", ")),
        });
    }
    if info.not_before > now + CLOCK_SKEW {
        return Err("it is not valid yet (compare the engine's clock with this one)".into());
    }
    if info.not_before < now - BACKDATE {
        return Err(format!(
            "it is backdated to {} (more than an hour before it was signed)",
            crate::text::date(info.not_before)
        ));
    }
    if info.not_after <= now {
        return Err("it has already expired".into());
    }
    Ok(())
}

/// Why an engine's CRL is not put in place.
#[derive(Debug, PartialEq, Eq)]
pub enum CrlProblem {
    /// Not a CRL of the recorded CA, or expired: never written.
    Bad(String),
    /// A good CRL that does not list these serials yet (an engine that
    /// rebuilds its CRL on a schedule, OpenBao's `auto_rebuild`).
    Missing(Vec<String>),
}

/// Checks a CRL an engine returned: one PEM `X509 CRL` block, issued and
/// signed by the recorded CA, a complete CRL (not a delta) with no
/// critical extension we do not know, not past its nextUpdate (the plugin
/// would refuse it), listing every serial of `must_list` (lower-case hex).
/// Returns the CRL as we write PEM: the engine's text is never passed on
/// (found by review: text that one PEM reader accepts and the plugin's
/// refuses, a prefix before `-----BEGIN` or a vertical tab in the base64,
/// locked everyone out).
pub fn check_crl(
    pem_text: &str,
    ca_der: &[u8],
    must_list: &[String],
    now: OffsetDateTime,
) -> Result<String, CrlProblem> {
    let bad = |s: String| CrlProblem::Bad(s);
    let blocks = ::pem::parse_many(pem_text).map_err(|e| bad(format!("it is not PEM ({e})")))?;
    let block = match blocks.as_slice() {
        [one] => one,
        [] => return Err(bad("it is not PEM".into())),
        more => {
            return Err(bad(format!(
                "it holds {} PEM blocks, not one CRL",
                more.len()
            )))
        }
    };
    if block.tag() != "X509 CRL" {
        return Err(bad(format!(
            "it holds a {} block, not an X509 CRL",
            crate::text::one_line(block.tag())
        )));
    }
    let (rest, crl) = CertificateRevocationList::from_der(block.contents())
        .map_err(|e| bad(format!("it cannot be read ({e})")))?;
    if !rest.is_empty() {
        return Err(bad("it has bytes after the CRL".into()));
    }
    let (_, ca) =
        parse_x509_certificate(ca_der).map_err(|e| bad(format!("the CA cannot be read ({e})")))?;
    if crl.issuer().as_raw() != ca.subject().as_raw()
        || crl.verify_signature(ca.public_key()).is_err()
    {
        return Err(bad("it was not issued by the recorded CA".into()));
    }
    let t = now.unix_timestamp();
    if crl.last_update().timestamp() > t + CLOCK_SKEW.whole_seconds() {
        return Err(bad(
            "it is dated in the future (compare the engine's clock with this one)".into(),
        ));
    }
    if crl.next_update().is_some_and(|n| n.timestamp() <= t) {
        return Err(bad("it is past its nextUpdate".into()));
    }
    for ext in crl.extensions() {
        // 2.5.29.27, RFC 5280 §5.2.4: a delta CRL lists only what changed.
        if ext.oid.to_id_string() == "2.5.29.27" {
            return Err(bad("it is a delta CRL, not a complete one".into()));
        }
        if ext.critical && !known(ext) {
            return Err(bad(format!(
                "it has a critical extension {} that is not understood",
                ext.oid.to_id_string()
            )));
        }
    }
    let listed: Vec<String> = crl
        .iter_revoked_certificates()
        .map(|r| crate::text::hex(r.raw_serial()))
        .collect();
    let missing: Vec<String> = must_list
        .iter()
        .filter(|s| !listed.iter().any(|l| l.eq_ignore_ascii_case(s)))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(::pem::encode(&::pem::Pem::new(
            "X509 CRL",
            block.contents().to_vec(),
        )))
    } else {
        Err(CrlProblem::Missing(missing))
    }
}

/// An extension x509-parser parsed (Go and OpenSSL refuse a certificate
/// or CRL with a critical extension they do not know, RFC 5280 §4.2).
fn known(ext: &x509_parser::extensions::X509Extension<'_>) -> bool {
    !matches!(
        ext.parsed_extension(),
        x509_parser::extensions::ParsedExtension::UnsupportedExtension { .. }
            | x509_parser::extensions::ParsedExtension::ParseError { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{self, KeyType, Role, San};

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn der(pem_text: &str) -> Vec<u8> {
        ::pem::parse(pem_text).unwrap().contents().to_vec()
    }

    #[test]
    fn our_own_certificates_pass_and_the_wrong_usage_does_not() {
        let new = pki::new_ca("t", KeyType::EcdsaP256, 30, now()).unwrap();
        let ca = pki::Ca::load("t", &new.cert_pem, &new.key_der()).unwrap();
        let ca_der = der(&new.cert_pem);
        let client = ca
            .issue_client("al", Role::Admin, KeyType::EcdsaP256, 10, now())
            .unwrap();
        let c = der(&client.cert_pem);
        let want = Expect {
            usage: Usage::Client,
            cn: "al",
            sans: &[],
        };
        assert_eq!(check_leaf(&c, &ca_der, &want, now()), Ok(()));
        let server = Expect {
            usage: Usage::Server,
            ..want
        };
        assert!(check_leaf(&c, &ca_der, &server, now())
            .unwrap_err()
            .contains("not serverAuth alone"));
        let other = Expect { cn: "bo", ..want };
        assert!(check_leaf(&c, &ca_der, &other, now())
            .unwrap_err()
            .contains("its CN is"));
        // Signed an hour and a half ago: backdated.
        assert!(
            check_leaf(&c, &ca_der, &want, now() + Duration::minutes(90))
                .unwrap_err()
                .contains("backdated")
        );
        // The CA itself is not a leaf, and another CA's leaf is not ours.
        assert!(check_leaf(&ca_der, &ca_der, &want, now()).is_err());
        let other_ca = pki::new_ca("t", KeyType::EcdsaP256, 30, now()).unwrap();
        assert!(!signed_by(&c, &der(&other_ca.cert_pem)));
        assert!(check_leaf(&c, &der(&other_ca.cert_pem), &want, now())
            .unwrap_err()
            .contains("not signed by the recorded CA"));

        let sans = [San::parse("d.example").unwrap()];
        let daemon = ca
            .issue_server(&sans, KeyType::EcdsaP256, 10, now())
            .unwrap();
        let d = der(&daemon.cert_pem);
        let names = vec!["DNS:d.example".to_string()];
        let want = Expect {
            usage: Usage::Server,
            cn: "d.example",
            sans: &names,
        };
        assert_eq!(check_leaf(&d, &ca_der, &want, now()), Ok(()));
        let fewer: Vec<String> = Vec::new();
        assert!(check_leaf(
            &d,
            &ca_der,
            &Expect {
                sans: &fewer,
                ..want
            },
            now()
        )
        .unwrap_err()
        .contains("not asked for"));
    }

    #[test]
    fn a_crl_must_be_the_cas_current_and_list_the_serial() {
        let new = pki::new_ca("t", KeyType::EcdsaP256, 30, now()).unwrap();
        let ca = pki::Ca::load("t", &new.cert_pem, &new.key_der()).unwrap();
        let ca_der = der(&new.cert_pem);
        let revoked = [pki::Revoked {
            serial_hex: "4a0b".into(),
            at: now(),
            reason: None,
        }];
        let crl = ca
            .crl(&revoked, 2, now(), now() + Duration::days(7))
            .unwrap();
        let written = check_crl(&crl, &ca_der, &["4a0b".into()], now()).unwrap();
        assert_eq!(
            ::pem::parse(&written).unwrap().contents(),
            ::pem::parse(&crl).unwrap().contents()
        );
        // Text before the block: the CRL we write is ours, not the engine's.
        let prefixed = format!("x{crl}");
        let written = check_crl(&prefixed, &ca_der, &["4a0b".into()], now()).unwrap();
        assert!(written.starts_with("-----BEGIN X509 CRL-----"));
        assert_eq!(
            check_crl(&crl, &ca_der, &["4a0b".into(), "77".into()], now()),
            Err(CrlProblem::Missing(vec!["77".into()]))
        );
        assert!(matches!(
            check_crl(&crl, &ca_der, &[], now() + Duration::days(8)),
            Err(CrlProblem::Bad(_))
        ));
        let other = pki::new_ca("t", KeyType::EcdsaP256, 30, now()).unwrap();
        assert!(matches!(
            check_crl(&crl, &der(&other.cert_pem), &[], now()),
            Err(CrlProblem::Bad(w)) if w.contains("not issued by the recorded CA")
        ));
        for junk in ["not a crl", &new.cert_pem, &format!("{crl}{crl}")] {
            assert!(
                matches!(
                    check_crl(junk, &ca_der, &[], now()),
                    Err(CrlProblem::Bad(_))
                ),
                "{junk}"
            );
        }
    }
}
