//! What the plan and the plugin's part of it are made of: a file to write,
//! or pre-flight's refusal.

use crate::error::InstallNext;

/// Pre-flight said no: what it found, what to do.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub what: String,
    pub next: InstallNext,
}

pub fn refuse(what: impl Into<String>, next: impl Into<InstallNext>) -> Refusal {
    Refusal {
        what: what.into(),
        next: next.into(),
    }
}

/// One file the install writes.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub dest: String,
    pub mode: u32,
    pub before: Option<String>,
    pub content: Vec<u8>,
    /// Never printed (the server key).
    pub secret: bool,
    /// Pre-flight read this file (`before` is what it saw, None: absent),
    /// and the host's script refuses to go on if it changed since.
    pub read_before: bool,
}
