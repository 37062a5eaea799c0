//! How records write the types of `pki` (issue 32: a record's format lives
//! with the records, not in the pure layer): as the strings v0.1 wrote
//! ("ecdsa-p256", "read-only", "IP:127.0.0.1"), so existing stores read
//! back. One macro for the five, which were five hand-written pairs.

use crate::pki::{KeyKind, KeyType, Purpose, Role, San};

/// `Serialize` as `to(self)`, `Deserialize` through `from(text)`; the
/// error text of `from` is what serde reports for a damaged record.
macro_rules! as_string {
    ($t:ty, $to:expr, $from:expr) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let to: fn(&$t) -> String = $to;
                s.serialize_str(&to(self))
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let from: fn(&str) -> Result<$t, String> = $from;
                from(&<String as serde::Deserialize>::deserialize(d)?)
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}

as_string!(KeyType, |k| k.as_str().into(), |s| s.parse());

// An imported CA's key may be one we do not make (RSA-8192, brainpool):
// kept by its name.
as_string!(KeyKind, |k| k.to_string(), |s| Ok(KeyKind::from_name(s)));

as_string!(Role, |r| r.as_str().into(), |s| s.parse());

as_string!(Purpose, |p| p.as_str().into(), |s| {
    [Purpose::Daemon, Purpose::Service, Purpose::ServiceClient]
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| format!("unknown purpose {s:?}"))
});

// "IP:…"/"DNS:…"; a bare address or name (hand-edited) reads too.
as_string!(San, |s| s.to_string(), |text| {
    let bare = text
        .strip_prefix("IP:")
        .or_else(|| text.strip_prefix("DNS:"))
        .unwrap_or(text);
    San::parse(bare).ok_or_else(|| format!("{text:?} is not a SAN"))
});

#[cfg(test)]
mod tests {
    use super::*;

    /// The strings v0.1 wrote read back, and are written the same.
    #[test]
    fn v0_1_strings_round_trip() {
        for text in [
            r#""ecdsa-p256""#,
            r#""rsa-4096""#,
            r#""read-only""#,
            r#""service-client""#,
            r#""IP:127.0.0.1""#,
            r#""DNS:docker.example.com""#,
        ] {
            let again = |v: serde_json::Value| serde_json::to_string(&v).unwrap();
            let back = match text {
                t if t.contains("ecdsa") || t.contains("rsa") => again(
                    serde_json::to_value(serde_json::from_str::<KeyType>(t).unwrap()).unwrap(),
                ),
                t if t.contains("read") => {
                    again(serde_json::to_value(serde_json::from_str::<Role>(t).unwrap()).unwrap())
                }
                t if t.contains("service") => again(
                    serde_json::to_value(serde_json::from_str::<Purpose>(t).unwrap()).unwrap(),
                ),
                t => again(serde_json::to_value(serde_json::from_str::<San>(t).unwrap()).unwrap()),
            };
            assert_eq!(back, text);
        }
        let other: KeyKind = serde_json::from_str(r#""brainpoolP384r1""#).unwrap();
        assert_eq!(
            serde_json::to_string(&other).unwrap(),
            r#""brainpoolP384r1""#
        );
        assert!(serde_json::from_str::<Role>(r#""root""#).is_err());
        assert!(serde_json::from_str::<San>(r#""IP:not an address!""#).is_err());
    }

    /// A server.json as v0.3 wrote it, every optional field present, reads
    /// into the record split by feature (OnHost, OnRenewal) and is written
    /// back with the same keys and values at the top level.
    #[test]
    fn a_v0_3_server_record_reads_and_writes_back_the_same() {
        let v03 = r#"{"name":"prod","dir":"/home/a/.docker/tlsctx/servers/prod","ca":"default",
            "sans":["IP:203.0.113.7","DNS:docker.example.com"],"serial":"0a1b","key_type":"ecdsa-p256",
            "port":2376,"not_before":"2026-01-01T00:00:00Z","not_after":"2027-02-02T00:00:00Z",
            "keystore":"file","authz":true,"purpose":"service","ssh":"admin@203.0.113.7:2222",
            "installed":"0a1b","exec":["systemctl","reload","nginx"],
            "swarm":{"prefix":"web","context":"prod","cluster":"abc123","rotated":"0a1b"}}"#;
        let rec: crate::state::ServerRecord = serde_json::from_str(v03).unwrap();
        assert!(rec.host.authz);
        assert_eq!(rec.host.ssh.as_deref(), Some("admin@203.0.113.7:2222"));
        assert_eq!(rec.renewal.swarm.as_ref().unwrap().cluster, "abc123");
        let back = serde_json::to_value(&rec).unwrap();
        let want: serde_json::Value = serde_json::from_str(v03).unwrap();
        assert_eq!(back, want);
        // A daemon bundle with none of them writes none of them, as before.
        let bare = r#"{"name":"p","dir":"/d","ca":"default","sans":[],"serial":"01",
            "key_type":"rsa-2048","port":2376,"not_before":"2026-01-01T00:00:00Z",
            "not_after":"2027-01-01T00:00:00Z","keystore":"os"}"#;
        let rec: crate::state::ServerRecord = serde_json::from_str(bare).unwrap();
        let back = serde_json::to_value(&rec).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(bare).unwrap()
        );
    }
}
