//! Records read back are trusted only as far as their names go.

use super::*;

/// A record read back is trusted only as far as its names go: every name
/// in it must be valid, and its own name must be the one its file is named
/// after (a record never turns into a path of its own choosing).
pub(super) trait Checked {
    fn check(&self, expected: &str) -> std::result::Result<(), String>;
}

pub(super) fn check_name(field: &str, value: &str) -> std::result::Result<(), String> {
    if crate::names::is_valid(value) {
        Ok(())
    } else {
        Err(format!("its {field} {value:?} is not a valid name"))
    }
}

pub(super) fn check_own(value: &str, expected: &str) -> std::result::Result<(), String> {
    check_name("name", value)?;
    if value != expected {
        return Err(format!(
            "it names itself {value:?}, but its file belongs to {expected:?}"
        ));
    }
    Ok(())
}

impl Checked for CaRecord {
    fn check(&self, expected: &str) -> std::result::Result<(), String> {
        check_own(&self.name, expected)
    }
}

impl Checked for IdentityRecord {
    fn check(&self, expected: &str) -> std::result::Result<(), String> {
        check_own(&self.name, expected)?;
        check_name("ca", &self.ca)?;
        if let Some(c) = &self.context {
            check_name("context", c)?;
        }
        Ok(())
    }
}

impl Checked for ServerRecord {
    fn check(&self, expected: &str) -> std::result::Result<(), String> {
        check_own(&self.name, expected)?;
        check_name("ca", &self.ca)?;
        if let Some(s) = &self.renewal.swarm {
            // Words that reach `docker` on its command line: the same rules
            // as when they were typed.
            if !crate::names::is_swarm_prefix(&s.prefix) {
                return Err(format!(
                    "its swarm prefix {:?} is not a valid name",
                    s.prefix
                ));
            }
            check_name("swarm cluster ID", &s.cluster)?;
            if let Some(c) = &s.context {
                check_name("context", c)?;
            }
        }
        Ok(())
    }
}

impl Checked for ExpiryIndex {
    fn check(&self, _: &str) -> std::result::Result<(), String> {
        Ok(())
    }
}
