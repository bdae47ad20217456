//! Identifiers and the base62 alphabet they share with the token format.
//!
//! Ids are 16 base62 characters: 8 encode the creation time in milliseconds and 8 are drawn
//! from the OS CSPRNG. The time prefix makes a bot user's keys (and a team's bot users) list
//! in creation order straight from the table's sort key; the random part (47 bits) keeps two
//! ids created in the same millisecond apart, and every write that introduces an id is
//! conditional on it being new, so even a collision could never overwrite anything.
//!
//! Base62 (digits and ASCII letters) is what a double-click selects whole, needs no escaping in
//! a URL path, a DynamoDB key or a header, and is what the token's parts are made of.

use std::fmt;

use chrono::{DateTime, Utc};

/// Digits, then upper case, then lower case: ASCII order, so fixed-width base62 numbers sort
/// the same as the numbers they encode.
pub(crate) const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of a bot user or key id.
pub const ID_LEN: usize = 16;
const TIME_CHARS: usize = 8;

pub(crate) fn is_base62(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
}

/// The value of one base62 digit, `None` for any other byte.
pub(crate) fn base62_value(byte: u8) -> Option<u64> {
    let value = match byte {
        b'0'..=b'9' => byte - b'0',
        b'A'..=b'Z' => byte - b'A' + 10,
        b'a'..=b'z' => byte - b'a' + 36,
        _ => return None,
    };
    Some(u64::from(value))
}

/// Writes `value` as fixed-width base62 into `out`, most significant digit first.
pub(crate) fn encode_base62_fixed(mut value: u64, out: &mut [u8]) {
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
}

/// Fills `out` with base62 characters drawn uniformly from the OS CSPRNG.
///
/// Rejection sampling: a byte below 248 (= 4 × 62) maps to `byte % 62` without bias; the rest
/// are thrown away, so each character carries log2(62) ≈ 5.95 bits.
pub(crate) fn fill_random_base62(out: &mut [u8]) {
    let mut pool = [0u8; 64];
    let mut filled = 0;
    while filled < out.len() {
        getrandom::fill(&mut pool).expect("the OS random number generator failed");
        for &byte in pool.iter().filter(|&&b| b < 248) {
            if filled == out.len() {
                break;
            }
            out[filled] = BASE62[usize::from(byte % 62)];
            filled += 1;
        }
    }
}

/// Why a string is not an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be {ID_LEN} letters or digits")]
pub struct InvalidId;

fn parse_id(input: &str) -> Result<[u8; ID_LEN], InvalidId> {
    let bytes: [u8; ID_LEN] = input.as_bytes().try_into().map_err(|_| InvalidId)?;
    if bytes.iter().all(|&b| is_base62(b)) { Ok(bytes) } else { Err(InvalidId) }
}

fn generate_id(now: DateTime<Utc>) -> [u8; ID_LEN] {
    let mut id = [0u8; ID_LEN];
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    encode_base62_fixed(millis, &mut id[..TIME_CHARS]);
    fill_random_base62(&mut id[TIME_CHARS..]);
    id
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; ID_LEN]);

        impl $name {
            /// A fresh id, ordered after every id generated in an earlier millisecond.
            pub fn generate(now: DateTime<Utc>) -> Self {
                Self(generate_id(now))
            }

            /// The only way in from outside: exactly [`ID_LEN`] base62 characters.
            pub fn parse(input: &str) -> Result<Self, InvalidId> {
                parse_id(input).map(Self)
            }

            pub fn as_str(&self) -> &str {
                std::str::from_utf8(&self.0).expect("ids hold ASCII only")
            }

            /// The lowest id of the millisecond `at`: every id generated then or later sorts
            /// at or after it (a range query's bound).
            pub fn first_at(at: DateTime<Utc>) -> Self {
                let mut id = [b'0'; ID_LEN];
                encode_base62_fixed(u64::try_from(at.timestamp_millis()).unwrap_or(0), &mut id[..TIME_CHARS]);
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        /// Parsed like any id from outside; the error never quotes the input.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A bot user's id: public, appears in URLs and in its keys.
    BotId
);
id_type!(
    /// An API key's id: public, the part of the token that names the key.
    KeyId
);
id_type!(
    /// An audit entry's id: entries list newest first by it.
    EventId
);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_round_trip_through_parse() {
        let id = KeyId::generate(Utc::now());
        assert_eq!(KeyId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn ids_sort_by_creation_millisecond() {
        let earlier = Utc.timestamp_millis_opt(1_800_000_000_000).unwrap();
        let later = Utc.timestamp_millis_opt(1_800_000_000_001).unwrap();
        for _ in 0..100 {
            assert!(BotId::generate(earlier) < BotId::generate(later));
        }
    }

    #[test]
    fn wrong_length_or_characters_are_not_ids() {
        for bad in ["", "short", "0123456789abcdefg", "0123456789abcde-", "0123456789abcdé"] {
            assert_eq!(BotId::parse(bad), Err(InvalidId), "{bad:?}");
        }
    }

    #[test]
    fn base62_digits_decode_to_their_position() {
        for (position, &digit) in BASE62.iter().enumerate() {
            assert_eq!(base62_value(digit), Some(position as u64));
        }
        assert_eq!(base62_value(b'_'), None);
    }

    #[test]
    fn random_base62_uses_the_whole_alphabet() {
        let mut seen = std::collections::HashSet::new();
        let mut buf = [0u8; 4096];
        fill_random_base62(&mut buf);
        seen.extend(buf);
        assert_eq!(seen.len(), 62);
    }
}
