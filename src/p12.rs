//! PKCS#12 (RFC 7292) encoding: key, certificate and CA chain in, bytes out.
//!
//! Two profiles (ARCHITECTURE.md, "Numbers and where they come from"):
//! - `legacy` (default): pbeWithSHAAnd3-KeyTripleDES-CBC for the key and the
//!   certificate bags, HMAC-SHA1 MAC, 2048 iterations. The one format macOS
//!   Keychain imports on every version: files written with AES and a SHA-256
//!   MAC (OpenSSL 3's default) fail there with "MAC verification failed
//!   during PKCS12 import (wrong password?)".
//! - `modern`: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and a SHA-256 MAC.
//!
//! Both bags carry the friendly name and a localKeyID (the SHA-1 of the
//! certificate, as OpenSSL writes it), which is how Keychain pairs the key
//! with its certificate into an identity.

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
use des::TdesEde3;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Legacy,
    Modern,
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "legacy" => Ok(Profile::Legacy),
            "modern" => Ok(Profile::Modern),
            _ => Err(format!("unknown PKCS#12 profile {s:?}; choose legacy (imports everywhere, macOS included) or modern (AES-256, SHA-256)")),
        }
    }
}

/// Iterations of the legacy profile: OpenSSL's default (PKCS12_DEFAULT_ITER),
/// which every importer accepts.
pub const LEGACY_ITERATIONS: u32 = 2048;
/// PBKDF2 iterations of the modern profile: Java's keytool default for PBES2
/// (java.security keystore.pkcs12.keyPbeIterationCount = 10000).
pub const MODERN_ITERATIONS: u32 = 10_000;

// Object identifiers (RFC 7292 Appendix D, RFC 8018, RFC 5652, NIST).
const OID_DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 1];
const OID_ENCRYPTED_DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 6];
const OID_SHROUDED_KEY_BAG: &[u64] = &[1, 2, 840, 113549, 1, 12, 10, 1, 2];
const OID_CERT_BAG: &[u64] = &[1, 2, 840, 113549, 1, 12, 10, 1, 3];
const OID_X509_CERT: &[u64] = &[1, 2, 840, 113549, 1, 9, 22, 1];
const OID_FRIENDLY_NAME: &[u64] = &[1, 2, 840, 113549, 1, 9, 20];
const OID_LOCAL_KEY_ID: &[u64] = &[1, 2, 840, 113549, 1, 9, 21];
const OID_PBE_SHA1_3DES: &[u64] = &[1, 2, 840, 113549, 1, 12, 1, 3];
const OID_PBES2: &[u64] = &[1, 2, 840, 113549, 1, 5, 13];
const OID_PBKDF2: &[u64] = &[1, 2, 840, 113549, 1, 5, 12];
const OID_HMAC_SHA256: &[u64] = &[1, 2, 840, 113549, 2, 9];
const OID_AES256_CBC: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 1, 42];
const OID_SHA1: &[u64] = &[1, 3, 14, 3, 2, 26];
const OID_SHA256: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 2, 1];

/// What goes into the file.
pub struct Identity<'a> {
    /// PKCS#8 DER of the private key.
    pub key_pkcs8: &'a [u8],
    /// DER of the client certificate.
    pub cert: &'a [u8],
    /// DER of the CA certificates above it.
    pub chain: &'a [Vec<u8>],
    pub friendly_name: &'a str,
}

/// Encodes `id` protected by `password` (never empty: macOS 15 cannot import
/// a PKCS#12 with an empty password).
pub fn encode(id: &Identity<'_>, password: &str, profile: Profile) -> Vec<u8> {
    assert!(!password.is_empty(), "callers refuse empty passwords");
    let local_key_id = Sha1::digest(id.cert).to_vec();
    let attrs = |with_id: bool| {
        let mut a = vec![attribute(OID_FRIENDLY_NAME, &bmp_string(id.friendly_name))];
        if with_id {
            a.push(attribute(OID_LOCAL_KEY_ID, &octet_string(&local_key_id)));
        }
        set(&a.concat())
    };

    // Certificate bags: the client certificate (paired by localKeyID), then the chain.
    let mut cert_bags = vec![safe_bag(
        OID_CERT_BAG,
        &cert_bag(id.cert),
        Some(&attrs(true)),
    )];
    for ca in id.chain {
        cert_bags.push(safe_bag(OID_CERT_BAG, &cert_bag(ca), None));
    }
    let certs_plain = sequence(&cert_bags.concat());
    let (certs_alg, certs_cipher) = encrypt(&certs_plain, password, profile);
    let certs_info = content_info(
        OID_ENCRYPTED_DATA,
        &sequence(
            &[
                integer(0),
                sequence(&[oid(OID_DATA), certs_alg, implicit_octets(0, &certs_cipher)].concat()),
            ]
            .concat(),
        ),
    );

    // The key, as a pkcs8ShroudedKeyBag inside plain data (as OpenSSL does).
    let (key_alg, key_cipher) = encrypt(id.key_pkcs8, password, profile);
    let shrouded = sequence(&[key_alg, octet_string(&key_cipher)].concat());
    let key_bags = sequence(&safe_bag(
        OID_SHROUDED_KEY_BAG,
        &shrouded,
        Some(&attrs(true)),
    ));
    let keys_info = content_info(OID_DATA, &octet_string(&key_bags));

    let auth_safe = sequence(&[certs_info, keys_info].concat());
    let mac = mac_data(&auth_safe, password, profile);
    sequence(
        &[
            integer(3),
            content_info(OID_DATA, &octet_string(&auth_safe)),
            mac,
        ]
        .concat(),
    )
}

/// Encrypts with the profile's scheme; returns (AlgorithmIdentifier DER, ciphertext).
fn encrypt(plain: &[u8], password: &str, profile: Profile) -> (Vec<u8>, Vec<u8>) {
    match profile {
        Profile::Legacy => {
            let salt = random::<8>();
            let pw = bmp_password(password);
            let key = pkcs12_kdf::<Sha1>(&pw, &salt, 1, LEGACY_ITERATIONS, 24);
            let iv = pkcs12_kdf::<Sha1>(&pw, &salt, 2, LEGACY_ITERATIONS, 8);
            let enc = cbc::Encryptor::<TdesEde3>::new_from_slices(&key, &iv)
                .expect("3DES key and IV sizes");
            let cipher = enc.encrypt_padded_vec::<Pkcs7>(plain);
            let params = sequence(&[octet_string(&salt), integer(LEGACY_ITERATIONS)].concat());
            (sequence(&[oid(OID_PBE_SHA1_3DES), params].concat()), cipher)
        }
        Profile::Modern => {
            let salt = random::<16>();
            let iv = random::<16>();
            let mut key = [0u8; 32];
            // PBES2 takes the password as its UTF-8 bytes (RFC 8018 §3; OpenSSL does the same).
            pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, MODERN_ITERATIONS, &mut key);
            let enc = cbc::Encryptor::<Aes256>::new_from_slices(&key, &iv)
                .expect("AES-256 key and IV sizes");
            let cipher = enc.encrypt_padded_vec::<Pkcs7>(plain);
            let prf = sequence(&[oid(OID_HMAC_SHA256), null()].concat());
            let kdf_params =
                sequence(&[octet_string(&salt), integer(MODERN_ITERATIONS), prf].concat());
            let kdf = sequence(&[oid(OID_PBKDF2), kdf_params].concat());
            let scheme = sequence(&[oid(OID_AES256_CBC), octet_string(&iv)].concat());
            let params = sequence(&[kdf, scheme].concat());
            (sequence(&[oid(OID_PBES2), params].concat()), cipher)
        }
    }
}

/// MacData: HMAC over the AuthenticatedSafe with a key from the PKCS#12 KDF (ID 3).
fn mac_data(auth_safe: &[u8], password: &str, profile: Profile) -> Vec<u8> {
    let salt = random::<8>();
    let pw = bmp_password(password);
    let (alg, digest) = match profile {
        Profile::Legacy => {
            let key = pkcs12_kdf::<Sha1>(&pw, &salt, 3, LEGACY_ITERATIONS, 20);
            let mut m = <Hmac<Sha1> as KeyInit>::new_from_slice(&key).expect("HMAC takes any key");
            m.update(auth_safe);
            (OID_SHA1, m.finalize().into_bytes().to_vec())
        }
        Profile::Modern => {
            let key = pkcs12_kdf::<Sha256>(&pw, &salt, 3, LEGACY_ITERATIONS, 32);
            let mut m =
                <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC takes any key");
            m.update(auth_safe);
            (OID_SHA256, m.finalize().into_bytes().to_vec())
        }
    };
    let digest_info = sequence(
        &[
            sequence(&[oid(alg), null()].concat()),
            octet_string(&digest),
        ]
        .concat(),
    );
    sequence(&[digest_info, octet_string(&salt), integer(LEGACY_ITERATIONS)].concat())
}

/// The password as PKCS#12 wants it for its own KDF: BMPString (UTF-16BE)
/// with a terminating NUL (RFC 7292 Appendix B.1).
fn bmp_password(password: &str) -> Vec<u8> {
    let mut out: Vec<u8> = password
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    out.extend_from_slice(&[0, 0]);
    out
}

/// RFC 7292 Appendix B.2: the PKCS#12 key derivation function.
fn pkcs12_kdf<D: Digest + sha2::digest::block_api::BlockSizeUser>(
    password: &[u8],
    salt: &[u8],
    id: u8,
    iterations: u32,
    n: usize,
) -> Vec<u8> {
    let v = <D as sha2::digest::block_api::BlockSizeUser>::block_size();
    let u = <D as Digest>::output_size();
    let fill = |s: &[u8]| -> Vec<u8> {
        if s.is_empty() {
            return Vec::new();
        }
        let len = v * s.len().div_ceil(v);
        (0..len).map(|i| s[i % s.len()]).collect()
    };
    let mut i_block = [fill(salt), fill(password)].concat();
    let d = vec![id; v];
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut a = D::new()
            .chain_update(&d)
            .chain_update(&i_block)
            .finalize()
            .to_vec();
        for _ in 1..iterations {
            a = D::digest(&a).to_vec();
        }
        out.extend_from_slice(&a[..u.min(n - out.len())]);
        if out.len() >= n {
            break;
        }
        // I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I.
        let b: Vec<u8> = (0..v).map(|k| a[k % u]).collect();
        for chunk in i_block.chunks_mut(v) {
            let mut carry = 1u16;
            for k in (0..v).rev() {
                let sum = chunk[k] as u16 + b[k] as u16 + carry;
                chunk[k] = sum as u8;
                carry = sum >> 8;
            }
        }
    }
    out
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the OS random number generator failed");
    b
}

// --- A minimal DER writer: just what the structures above need. ---

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn sequence(content: &[u8]) -> Vec<u8> {
    tlv(0x30, content)
}

fn set(content: &[u8]) -> Vec<u8> {
    tlv(0x31, content)
}

fn octet_string(content: &[u8]) -> Vec<u8> {
    tlv(0x04, content)
}

fn null() -> Vec<u8> {
    vec![0x05, 0x00]
}

fn integer(v: u32) -> Vec<u8> {
    let mut bytes: Vec<u8> = v
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        bytes.insert(0, 0); // zero, or keep it positive
    }
    tlv(0x02, &bytes)
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        body.extend(groups.into_iter().rev());
    }
    tlv(0x06, &body)
}

fn bmp_string(s: &str) -> Vec<u8> {
    let body: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    tlv(0x1e, &body)
}

/// `[n] EXPLICIT`
fn explicit(n: u8, content: &[u8]) -> Vec<u8> {
    tlv(0xa0 | n, content)
}

/// `[n] IMPLICIT OCTET STRING`
fn implicit_octets(n: u8, content: &[u8]) -> Vec<u8> {
    tlv(0x80 | n, content)
}

fn content_info(content_type: &[u64], content: &[u8]) -> Vec<u8> {
    sequence(&[oid(content_type), explicit(0, content)].concat())
}

fn attribute(attr_type: &[u64], value: &[u8]) -> Vec<u8> {
    sequence(&[oid(attr_type), set(value)].concat())
}

fn safe_bag(bag_type: &[u64], value: &[u8], attributes: Option<&[u8]>) -> Vec<u8> {
    let mut body = [oid(bag_type), explicit(0, value)].concat();
    if let Some(a) = attributes {
        body.extend_from_slice(a);
    }
    sequence(&body)
}

fn cert_bag(der: &[u8]) -> Vec<u8> {
    sequence(&[oid(OID_X509_CERT), explicit(0, &octet_string(der))].concat())
}

/// A strong password to show once: 24 characters from a 56-letter alphabet
/// without look-alikes (0/O, 1/l/I), about 139 bits.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(24);
    while out.len() < 24 {
        for b in random::<32>() {
            // Rejection sampling keeps every letter equally likely.
            let limit = 256 - 256 % ALPHABET.len();
            if (b as usize) < limit && out.len() < 24 {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_primitives() {
        assert_eq!(integer(0), [2, 1, 0]);
        assert_eq!(integer(3), [2, 1, 3]);
        assert_eq!(integer(2048), [2, 2, 8, 0]);
        assert_eq!(integer(128), [2, 2, 0, 128]);
        assert_eq!(oid(OID_SHA1), [6, 5, 0x2b, 14, 3, 2, 26]);
        assert_eq!(
            oid(OID_DATA),
            [6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 7, 1]
        );
        assert_eq!(tlv(4, &[0u8; 200])[..3], [4, 0x81, 200]);
        assert_eq!(tlv(4, &[0u8; 300])[..4], [4, 0x82, 1, 44]);
        assert_eq!(bmp_password("ab"), [0, b'a', 0, b'b', 0, 0]);
    }

    #[test]
    fn pkcs12_kdf_matches_openssl() {
        // Expected values from OpenSSL 3.0.19:
        //   openssl kdf -keylen N -kdfopt digest:D -kdfopt hexpass:0073006D006500670000
        //     -kdfopt hexsalt:0A58CF64530D823F -kdfopt iter:I -kdfopt id:ID PKCS12KDF
        // (password "smeg" as BMPString, the vector of OpenSSL's and BouncyCastle's tests).
        let pw = bmp_password("smeg");
        let salt = [0x0a, 0x58, 0xcf, 0x64, 0x53, 0x0d, 0x82, 0x3f];
        let hex = |v: Vec<u8>| crate::text::hex(&v);
        assert_eq!(
            hex(pkcs12_kdf::<Sha1>(&pw, &salt, 1, 1, 24)),
            "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3"
        );
        assert_eq!(
            hex(pkcs12_kdf::<Sha256>(&pw, &salt, 3, 2048, 32)),
            "e4388cd88983083b1d1552867406cb3426e16cbcf4358c7bf5a97cdb2a11db46"
        );
        // 100 bytes: five SHA-1 blocks, so the I-block update runs too.
        assert_eq!(
            hex(pkcs12_kdf::<Sha1>(&pw, &salt, 2, 3, 100)),
            "1608fe14fe18d633f8f502dd898cd298c3170c97ce0b790197b5dfd01d83cf278384bf5afeb4a369cfd717dde1c00c4162c23ff194c190ee5fdf613e6820ae4402ce15db3ded71dffe6e0155eaec09122cbe2a482af27925bec88fbe9b21da62e9f55ecc"
        );
    }

    #[test]
    fn passwords_are_strong_and_varied() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() && !"0O1lI".contains(c)));
    }
}
