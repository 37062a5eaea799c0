//! Text forms shared by every layer: dates as users read them, RFC 3339 as
//! the JSON outputs and records write them, and lower-case hex.

use time::OffsetDateTime;

/// `2027-01-31`: how every message and table shows a day.
pub fn date(t: OffsetDateTime) -> String {
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

/// RFC 3339, as the JSON outputs and records write times.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

pub fn hex(bytes: &[u8]) -> String {
    // A table, not `format!("{b:02x}")` per byte: `ls` hashes three names
    // and files per context, and formatting was a third of its time.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(data))
}

pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("the OS random number generator failed");
    hex(&b)
}

/// Text for an XML element or attribute (a plist, a Task Scheduler task).
pub fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A command line split into words as a POSIX shell would split a simple
/// one (spaces; '…' and "…" quoting; a backslash escaping the next
/// character outside single quotes), with no expansion: `--exec` runs no
/// shell unless its words name one.
/// The error says why (the caller names the flag).
pub fn split_words(line: &str) -> Result<Vec<String>, &'static str> {
    let bad = |why: &'static str| why;
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = cur.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(bad("a ' is not closed")),
                    }
                }
            }
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => w.push(chars.next().ok_or_else(|| bad("it ends with \\"))?),
                        Some(c) => w.push(c),
                        None => return Err(bad("a \" is not closed")),
                    }
                }
            }
            '\\' => cur
                .get_or_insert_with(String::new)
                .push(chars.next().ok_or_else(|| bad("it ends with \\"))?),
            c if c.is_control() => return Err(bad("it holds a control character")),
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = cur {
        words.push(w);
    }
    if words.is_empty() {
        return Err(bad("it is empty"));
    }
    Ok(words)
}

/// Characters that change how the text around them is shown rather than
/// showing themselves: C0 and C1 controls (ESC, CSI: a terminal's escape
/// sequences), the bidirectional controls that reorder a line (Unicode
/// UAX #9: LRM, RLM, ALM, LRE..RLO, LRI..PDI; the "Trojan Source" trick),
/// zero-width characters and the line and paragraph separators.
fn harmful(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Text from elsewhere (a host, a request, a certificate), safe to print:
/// control, bidi and zero-width characters shown as `?`, line breaks kept.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if harmful(c) && c != '\n' { '?' } else { c })
        .collect()
}

/// The same on one line: line breaks shown as `?` too (a field of a
/// request shown in a list must not start a line of its own).
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if harmful(c) { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_hex() {
        let t = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(date(t), "2027-01-15");
        assert_eq!(rfc3339(t), "2027-01-15T08:00:00Z");
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(random_hex(6).len(), 12);
        assert_eq!(
            split_words(r#"sh -c 'systemctl reload nginx' "a b" c\ d"#).unwrap(),
            ["sh", "-c", "systemctl reload nginx", "a b", "c d"]
        );
        assert!(split_words("'open").is_err() && split_words("  ").is_err());
    }

    #[test]
    fn text_from_elsewhere_cannot_redraw_the_terminal() {
        let evil = "CA\n  SHA-256 00ff\u{1b}[2K\u{9b}1A\u{202e}gnp.exe\u{2066}\u{200b}\u{2028}x";
        let one = one_line(evil);
        assert!(one.chars().all(|c| !harmful(c)), "{one:?}");
        assert_eq!(one, "CA?  SHA-256 00ff?[2K?1A?gnp.exe???x");
        assert_eq!(printable("a\nb\u{1b}"), "a\nb?");
    }
}
