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
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    }
}
