//! Where the host's apply script is (issue 32: a type, not bare strings):
//! what it writes to `$W/state` with `say` (script.rs), in the order an
//! install moves through them. Text that is none of these (an older or a
//! hostile host) is no state: nothing waits for it, and messages do not
//! print it.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostState {
    BackingUp,
    Applying,
    /// Up with the new configuration, waiting for this side's confirmation.
    Waiting,
    Committed,
    RollingBack,
    /// The old configuration serves again.
    RolledBack,
    /// The old files are back, but dockerd does not start with them either.
    Down,
    /// The old files could not be put back.
    Broken,
    /// The script refused before changing anything.
    Refused,
}

impl HostState {
    const ALL: [HostState; 9] = [
        HostState::BackingUp,
        HostState::Applying,
        HostState::Waiting,
        HostState::Committed,
        HostState::RollingBack,
        HostState::RolledBack,
        HostState::Down,
        HostState::Broken,
        HostState::Refused,
    ];

    /// The word script.rs writes.
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::BackingUp => "backing-up",
            HostState::Applying => "applying",
            HostState::Waiting => "waiting",
            HostState::Committed => "committed",
            HostState::RollingBack => "rolling-back",
            HostState::RolledBack => "rolled-back",
            HostState::Down => "down",
            HostState::Broken => "broken",
            HostState::Refused => "refused",
        }
    }

    /// The state a journal line names, or None for anything else.
    pub fn parse(text: &str) -> Option<HostState> {
        let text = text.trim();
        HostState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The ends after a rollback: the files are from before the install.
    pub const AFTER_ROLLBACK: [HostState; 3] =
        [HostState::RolledBack, HostState::Down, HostState::Broken];
}

impl fmt::Display for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every word the script says is a state, and nothing else is.
    #[test]
    fn the_script_says_exactly_these() {
        // Each `say WORD` of the script's source, ended by a newline or `;`.
        let script = include_str!("script.rs");
        let mut said: Vec<&str> = script
            .match_indices("say ")
            .filter_map(|(i, _)| {
                let rest = &script[i + 4..];
                let end = rest.find(|c: char| !(c.is_ascii_lowercase() || c == '-'))?;
                (end > 0 && matches!(&rest[end..end + 1], "\n" | ";")).then(|| &rest[..end])
            })
            .collect();
        said.sort();
        said.dedup();
        let mut ours: Vec<&str> = HostState::ALL.iter().map(|s| s.as_str()).collect();
        ours.sort();
        assert_eq!(said, ours);
        assert_eq!(HostState::parse(" waiting\n"), Some(HostState::Waiting));
        assert_eq!(HostState::parse("waiting\u{1b}[2J"), None);
        assert_eq!(HostState::parse(""), None);
    }
}
