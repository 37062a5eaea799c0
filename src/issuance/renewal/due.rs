//! When a certificate is due for renewal: once 2/3 of its lifetime has
//! passed (1/2 for lifetimes under 10 days), the rule step renews by
//! (`command/ca/renew.go`: 2/3), and certbot 4 and cert-manager reach from
//! the other side (1/3 of the lifetime left). Deterministic: the scheduler
//! adds the jitter, not the command.

use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};

/// `--before`: the default rule, a time left (`30d`, `12h`, `90m`), or a
/// share of the lifetime left (`33%`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Before {
    Rule,
    Left(Duration),
    Percent(u8),
}

impl Before {
    pub fn parse(s: &str) -> Result<Before> {
        let bad = || Error::BeforeInvalid(s.into());
        if let Some(p) = s.strip_suffix('%') {
            let n: u8 = p.parse().map_err(|_| bad())?;
            if n == 0 || n >= 100 {
                return Err(bad());
            }
            return Ok(Before::Percent(n));
        }
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let n: i64 = num.parse().map_err(|_| bad())?;
        // At most 10 years in any unit, checked before a Duration is built
        // (a huge count would overflow it).
        let per_day = match unit {
            "d" => 1,
            "h" => 24,
            "m" => 24 * 60,
            _ => return Err(bad()),
        };
        if n > 3650 * per_day {
            return Err(bad());
        }
        let d = match unit {
            "d" => Duration::days(n),
            "h" => Duration::hours(n),
            "m" => Duration::minutes(n),
            _ => return Err(bad()),
        };
        // At most 10 years: no certificate here lives longer (a CA's cap).
        if n == 0 || d > Duration::days(3650) {
            return Err(bad());
        }
        Ok(Before::Left(d))
    }
}

/// The lifetime under which the rule renews at half-time: a short-lived
/// certificate renewed at 2/3 would leave too little room for a failed try.
const SHORT: Duration = Duration::days(10);

/// The moment a certificate valid from `not_before` to `not_after` is due.
pub fn due_at(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    before: Before,
) -> OffsetDateTime {
    let life = not_after - not_before;
    match before {
        Before::Rule if life < SHORT => not_before + life / 2,
        Before::Rule => not_before + life * 2 / 3,
        Before::Left(d) => not_after - d,
        Before::Percent(p) => not_after - life * i32::from(p) / 100,
    }
}

pub fn is_due(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
    before: Before,
) -> bool {
    now >= due_at(not_before, not_after, before)
}

/// The lifetime in whole days, for a renewal that keeps it (notBefore is 5
/// minutes in the past, so a 90-day certificate counts 90).
pub fn lifetime_days(not_before: OffsetDateTime, not_after: OffsetDateTime) -> u32 {
    u32::try_from((not_after - not_before).whole_days())
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        let nb = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        let na = nb + Duration::days(90);
        assert_eq!(due_at(nb, na, Before::Rule), nb + Duration::days(60));
        assert!(!is_due(nb, na, nb + Duration::days(59), Before::Rule));
        assert!(is_due(nb, na, nb + Duration::days(60), Before::Rule));
        // Short lifetimes at half-time.
        let short = nb + Duration::days(6);
        assert_eq!(due_at(nb, short, Before::Rule), nb + Duration::days(3));
        assert_eq!(
            due_at(nb, na, Before::parse("30d").unwrap()),
            nb + Duration::days(60)
        );
        assert_eq!(
            due_at(nb, na, Before::parse("50%").unwrap()),
            nb + Duration::days(45)
        );
        assert_eq!(lifetime_days(nb - Duration::minutes(5), na), 90);
        for bad in [
            "",
            "%",
            "0%",
            "100%",
            "30",
            "30w",
            "-3d",
            "0d",
            "99999d",
            "d",
            "106751991167301d",
            "2562047788015216h",
            "153722867280912931m",
        ] {
            assert!(Before::parse(bad).is_err(), "{bad:?}");
        }
    }
}
