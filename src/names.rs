//! Docker's name rule (docker/cli cli/context/store/store.go
//! `restrictedNamePattern`), used for contexts and for our CA, server and
//! identity names too, since every one of them becomes a file name.

use crate::error::{Error, Result};

/// `^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$`.
pub fn is_valid(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.+-".contains(c))
}

/// Docker's `ValidateContextName`, with its error texts.
pub fn validate_context(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::ContextNameEmpty);
    }
    if name == "default" {
        return Err(Error::ContextNameReserved);
    }
    if !is_valid(name) {
        return Err(Error::ContextNameInvalid(name.into()));
    }
    Ok(())
}

/// A CA, server bundle or client identity name.
pub fn validate(what: &'static str, name: &str) -> Result<()> {
    if is_valid(name) {
        Ok(())
    } else {
        Err(Error::NameInvalid {
            what,
            name: name.into(),
        })
    }
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
        for bad in ["-ab", ".ab", "a/b", "a b", "ü1", "ab\n"] {
            assert!(validate_context(bad).is_err(), "{bad:?}");
        }
    }
}
