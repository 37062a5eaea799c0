//! Docker's name rule (docker/cli cli/context/store/store.go
//! `restrictedNamePattern`), used for contexts and for our CA, server and
//! identity names too, since every one of them becomes a file name.

use crate::error::{Error, Result};

/// Names become file names (`identities/NAME.json`, a key file's temporary
/// `.NAME.key.tmp-PID-RANDOM`): 255 bytes is the limit of most file systems,
/// and 128 leaves room for every suffix this tool adds.
pub const MAX_LEN: usize = 128;

/// `^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$`, at most `MAX_LEN` characters.
pub fn is_valid(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b.len() <= MAX_LEN
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.+-".contains(c))
}

/// Swarm names are at most 64 characters (swarmkit's "invalid name, only
/// 64 [a-zA-Z0-9-_.] characters allowed"); `-cert.pem-v` and five digits
/// take 16 of them.
pub const MAX_PREFIX: usize = 48;

/// Swarm's name rule for a secrets prefix: [a-zA-Z0-9-_.], starting and
/// ending with a letter or digit (swarmkit's own error text says so).
pub fn is_swarm_prefix(prefix: &str) -> bool {
    let b = prefix.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_PREFIX
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// Docker's `ValidateContextName`, with its error texts.
pub fn validate_context(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::ContextNameEmpty);
    }
    if name == "default" {
        return Err(Error::ContextNameReserved);
    }
    check_len("context", name)?;
    if !is_valid(name) {
        return Err(Error::ContextNameInvalid(name.into()));
    }
    Ok(())
}

/// A CA, server bundle or client identity name.
pub fn validate(what: &'static str, name: &str) -> Result<()> {
    check_len(what, name)?;
    if is_valid(name) {
        Ok(())
    } else {
        Err(Error::NameInvalid {
            what,
            name: name.into(),
        })
    }
}

fn check_len(what: &'static str, name: &str) -> Result<()> {
    if name.len() > MAX_LEN {
        return Err(Error::NameTooLong {
            what,
            len: name.len(),
            max: MAX_LEN,
        });
    }
    Ok(())
}

/// A certificate subject's common name given by the user: printable (a
/// newline would forge a second line in every listing), at most 64
/// characters (RFC 5280 ub-common-name).
pub fn validate_cn(cn: &str) -> Result<()> {
    if cn.trim().is_empty() {
        return Err(Error::CnInvalid("it is empty".into()));
    }
    if cn.chars().any(char::is_control) {
        return Err(Error::CnInvalid("it contains a control character".into()));
    }
    // Invisible and direction-changing characters (Unicode format
    // characters) make one CN look like another in logs and listings.
    if cn.chars().any(is_invisible) {
        return Err(Error::CnInvalid(
            "it contains an invisible or direction-changing character".into(),
        ));
    }
    // Beyond ASCII, only characters UTS #39's General Security Profile
    // allows in identifiers: letters and marks of scripts in use, not
    // format characters (U+13430, U+FFF9), separators (U+2028) or blanks
    // that show as nothing (U+2800), which the list above cannot all name
    // (found by review).
    if let Some(c) = cn.chars().find(|c| {
        !c.is_ascii() && !unicode_security::GeneralSecurityProfile::identifier_allowed(*c)
    }) {
        return Err(Error::CnInvalid(format!(
            "it contains U+{:04X}, which is not a letter or mark in common use (Unicode UTS #39)",
            c as u32
        )));
    }
    if cn.trim() != cn {
        return Err(Error::CnInvalid("it starts or ends with a space".into()));
    }
    // One spelling per name: "é" written as e + U+0301 (NFD) looks the same
    // as "é" (NFC) but compares different, so two people could hold what
    // reads as one CN. Requests from other tools may be decomposed: the
    // signer gives the composed form with --cn.
    if !unicode_normalization::is_nfc(cn) {
        let nfc: String = unicode_normalization::UnicodeNormalization::nfc(cn).collect();
        return Err(Error::CnInvalid(format!(
            "it is not in Unicode's composed form (NFC); write it as {nfc:?}"
        )));
    }
    if cn.chars().count() > 64 {
        return Err(Error::CnInvalid(format!(
            "it is {} characters long",
            cn.chars().count()
        )));
    }
    Ok(())
}

/// Unicode's format characters that show as nothing (or reorder what
/// follows): soft hyphen, zero-width and joiners, bidi marks, embeddings,
/// overrides and isolates, word joiner and invisible operators, BOM.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{E0000}'..='\u{E0FFF}')
}

/// How CNs are compared when one must not pass for another: case,
/// surrounding spaces, the way a letter is composed (NFC) and letters of
/// other scripts that look the same (Cyrillic "о" for Latin "o", "1" for
/// "l": the UTS #39 confusable skeleton) do not tell people apart.
pub fn cn_key(cn: &str) -> String {
    // The skeleton first, then case, then the skeleton again: lowercasing
    // first turned "I" (whose skeleton is "l") into "i", so "aIice" passed
    // for a CN other than "alice" (found by review), and Cyrillic capitals
    // became lowercase letters with skeletons of their own.
    let nfc: String = unicode_normalization::UnicodeNormalization::nfc(cn.trim()).collect();
    let once: String = unicode_security::skeleton(&nfc).collect();
    unicode_security::skeleton(&once.to_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule_and_texts() {
        for ok in ["prod", "p2", "a.b", "web_1+x-y", "0a"] {
            validate_context(ok).unwrap();
        }
        assert_eq!(
            validate_context("").unwrap_err().to_string(),
            "context name cannot be empty"
        );
        assert_eq!(
            validate_context("default").unwrap_err().to_string(),
            "\"default\" is a reserved context name"
        );
        // Docker 28.2.2's exact text for `docker context create a`.
        assert_eq!(
            validate_context("a").unwrap_err().to_string(),
            "context name \"a\" is invalid, names are validated against regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\""
        );
        for bad in ["-ab", ".ab", "a/b", "a b", "ü1", "ab\n", "../x", ".."] {
            assert!(validate_context(bad).is_err(), "{bad:?}");
        }
        validate_context(&"a".repeat(128)).unwrap();
        assert!(matches!(
            validate_context(&"a".repeat(129)),
            Err(Error::NameTooLong { .. })
        ));
        assert!(validate_cn("Alice Example").is_ok());
        for bad in ["a\nb", "", "tab\there", &"x".repeat(65)] {
            assert!(validate_cn(bad).is_err(), "{bad:?}");
        }
    }

    /// Issue 30: CNs that differ by script (Cyrillic о) or normalization
    /// (NFC é against NFD e + U+0301) were signed as different people.
    #[test]
    fn look_alike_cns_are_one_and_decomposed_ones_refused() {
        assert_eq!(cn_key("bob"), cn_key("b\u{043e}b"));
        // Found by review: capital I against l, Cyrillic capitals.
        assert_eq!(cn_key("alice"), cn_key("aIice"));
        assert_eq!(cn_key("carol"), cn_key("CAROI"));
        assert_eq!(cn_key("bob"), cn_key("\u{412}\u{41e}\u{412}"));
        for bad in [
            "bob\u{2800}",
            "bo\u{13430}b",
            "bob\u{fff9}",
            "bob\u{605}",
            "bo\u{2028}b",
        ] {
            assert!(validate_cn(bad).is_err(), "{bad:?}");
        }
        validate_cn("Zo\u{eb} M\u{fc}ller-\u{41f}\u{435}\u{442}\u{440}\u{43e}\u{432}").unwrap();
        assert_eq!(cn_key("Bob "), cn_key("bob"));
        assert_eq!(cn_key("ren\u{e9}"), cn_key("rene\u{301}"));
        assert_ne!(cn_key("bob"), cn_key("rob"));
        assert_ne!(cn_key("ci-job-1"), cn_key("ci-job-2"));
        validate_cn("ren\u{e9}").unwrap();
        let e = validate_cn("rene\u{301}").unwrap_err().to_string();
        assert!(e.contains("NFC") && e.contains("ren\u{e9}"), "{e}");
    }
}
