//! The API key format, and the only code that ever holds a raw key.
//!
//! ```text
//! nico_<bot id: 16>_<key id: 16>_<secret: 43><checksum: 6>      88 characters
//! ```
//!
//! * `nico_` makes a leaked key recognisable to secret scanners and to people.
//! * The bot and key ids are public. Together they are the key item's primary key, so checking
//!   a key is one `GetItem` with no index in between.
//! * The secret is 43 base62 characters from the OS CSPRNG: 256 bits. With that much entropy a
//!   plain SHA-256 is the right digest (a slow password hash protects guessable inputs; this
//!   one is not guessable) and keeps verification in the microseconds.
//! * The checksum is CRC32 over everything before it, in 6 fixed-width base62 characters. It
//!   turns away typos, truncations and most random probing without touching the database; a
//!   CRC detects every change of one character. It is not a MAC: the database decides.
//!
//! Only `[A-Za-z0-9_]` appear, so a double-click selects the whole key. Parsing looks at the
//! length first, so hostile input costs at most one pass over 88 bytes and no allocation.
//!
//! The raw key ([`RawKey`]), the secret and its digest ([`SecretHash`]) cannot be printed by
//! accident: none of them implements `Display` or `Serialize`, and their `Debug` is redacted.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{self, BotId, ID_LEN, KeyId};

/// The prefix every key starts with.
pub const PREFIX: &str = "nico_";
const SECRET_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
const BOT_AT: usize = PREFIX.len();
const KEY_AT: usize = BOT_AT + ID_LEN + 1;
const SECRET_AT: usize = KEY_AT + ID_LEN + 1;
const CHECKSUM_AT: usize = SECRET_AT + SECRET_LEN;
/// Length of every key.
pub const TOKEN_LEN: usize = CHECKSUM_AT + CHECKSUM_LEN;

/// Why a string was turned away before any database call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a nico API key")]
    Malformed,
    #[error("API key checksum does not match")]
    BadChecksum,
}

impl TokenError {
    /// A stable name for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadChecksum => "bad_checksum",
        }
    }
}

/// A whole API key, as handed to its owner exactly once.
pub struct RawKey(String);

impl RawKey {
    /// The key itself. Call this only to put it into the one response that returns it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RawKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawKey(<redacted>)")
    }
}

/// SHA-256 of a key's secret: what the store keeps instead of the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads a stored digest; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn of(secret: &[u8]) -> Self {
        Self(Sha256::digest(secret).into())
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

/// A key that passed the offline checks: well formed and with a matching checksum.
pub struct ParsedToken {
    bot_id: BotId,
    key_id: KeyId,
    secret: [u8; SECRET_LEN],
}

impl ParsedToken {
    pub fn bot_id(&self) -> BotId {
        self.bot_id
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Whether this key's secret is the one `stored` was made from, in constant time.
    pub fn matches(&self, stored: &SecretHash) -> bool {
        SecretHash::of(&self.secret).0.ct_eq(&stored.0).into()
    }
}

impl fmt::Debug for ParsedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("bot_id", &self.bot_id)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A newly generated key: the raw key for the owner, the rest for the store.
#[derive(Debug)]
pub struct IssuedKey {
    pub key_id: KeyId,
    pub raw: RawKey,
    pub hash: SecretHash,
    /// Recognisable, harmless: the prefix and the last four characters (checksum digits).
    pub hint: String,
}

impl IssuedKey {
    pub fn generate(bot_id: BotId, now: chrono::DateTime<chrono::Utc>) -> Self {
        let key_id = KeyId::generate(now);
        let mut secret = [0u8; SECRET_LEN];
        ids::fill_random_base62(&mut secret);
        let raw = assemble(bot_id, key_id, &secret);

        let hash = SecretHash::of(&raw[SECRET_AT..CHECKSUM_AT]);
        let raw = String::from_utf8(raw.to_vec()).expect("keys are ASCII");
        let hint = format!("{PREFIX}…{}", &raw[TOKEN_LEN - 4..]);
        Self { key_id, raw: RawKey(raw), hash, hint }
    }
}

/// A whole key from its parts (`secret`: base62 characters): prefix, ids, secret, checksum.
fn assemble(bot_id: BotId, key_id: KeyId, secret: &[u8; SECRET_LEN]) -> [u8; TOKEN_LEN] {
    let mut raw = [0u8; TOKEN_LEN];
    raw[..BOT_AT].copy_from_slice(PREFIX.as_bytes());
    raw[BOT_AT..KEY_AT - 1].copy_from_slice(bot_id.as_str().as_bytes());
    raw[KEY_AT - 1] = b'_';
    raw[KEY_AT..SECRET_AT - 1].copy_from_slice(key_id.as_str().as_bytes());
    raw[SECRET_AT - 1] = b'_';
    raw[SECRET_AT..CHECKSUM_AT].copy_from_slice(secret);
    let checksum = crc32fast::hash(&raw[..CHECKSUM_AT]);
    ids::encode_base62_fixed(u64::from(checksum), &mut raw[CHECKSUM_AT..]);
    raw
}

/// The key in an `Authorization` value: scheme `Bearer` (any case), blanks, then the key.
/// A bare key without the scheme is refused, as is any other scheme.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let key = rest.trim();
    (!key.is_empty()).then_some(key)
}

/// The offline checks: shape, alphabet and checksum. Never panics, never allocates.
pub fn parse(input: &str) -> Result<ParsedToken, TokenError> {
    let bytes: &[u8; TOKEN_LEN] = input.as_bytes().try_into().map_err(|_| TokenError::Malformed)?;
    let shape_ok = bytes.starts_with(PREFIX.as_bytes())
        && bytes[KEY_AT - 1] == b'_'
        && bytes[SECRET_AT - 1] == b'_'
        && bytes[BOT_AT..KEY_AT - 1].iter().all(|&b| ids::is_base62(b))
        && bytes[KEY_AT..SECRET_AT - 1].iter().all(|&b| ids::is_base62(b))
        && bytes[SECRET_AT..].iter().all(|&b| ids::is_base62(b));
    if !shape_ok {
        return Err(TokenError::Malformed);
    }
    let written = bytes[CHECKSUM_AT..]
        .iter()
        .try_fold(0u64, |acc, &b| Some(acc * 62 + ids::base62_value(b)?))
        .ok_or(TokenError::Malformed)?;
    if written != u64::from(crc32fast::hash(&bytes[..CHECKSUM_AT])) {
        return Err(TokenError::BadChecksum);
    }
    let id = |range: std::ops::Range<usize>| std::str::from_utf8(&bytes[range]).unwrap_or("");
    Ok(ParsedToken {
        bot_id: BotId::parse(id(BOT_AT..KEY_AT - 1)).map_err(|_| TokenError::Malformed)?,
        key_id: KeyId::parse(id(KEY_AT..SECRET_AT - 1)).map_err(|_| TokenError::Malformed)?,
        secret: bytes[SECRET_AT..CHECKSUM_AT].try_into().map_err(|_| TokenError::Malformed)?,
    })
}

/// Every form in which a key must never be shown, each named: the raw key, its secret, and the
/// secret's SHA-256 digest (what the store keeps) in lower- and upper-case hex and in base64
/// (DynamoDB's wire form of a binary attribute). The base64 form is unpadded, so a search for
/// it finds a padded rendering too. One definition for every leak search (the tests' log
/// scanner, the fuzz targets), so they look for the same things; `None` for a string of
/// another length than a key's.
pub fn leak_forms(raw: &str) -> Option<[(&'static str, String); 5]> {
    let secret = raw.get(SECRET_AT..CHECKSUM_AT).filter(|_| raw.len() == TOKEN_LEN)?;
    let digest = Sha256::digest(secret.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Some([
        ("raw key", raw.to_owned()),
        ("secret", secret.to_owned()),
        ("digest in upper-case hex", hex.to_uppercase()),
        ("digest in hex", hex),
        ("digest in base64", STANDARD_NO_PAD.encode(digest)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use chrono::Utc;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn issue() -> IssuedKey {
        IssuedKey::generate(BotId::generate(Utc::now()), Utc::now())
    }

    #[test]
    fn a_generated_key_has_the_documented_shape() {
        let key = issue();
        let raw = key.raw.expose();
        assert_eq!(raw.len(), TOKEN_LEN);
        assert_eq!(TOKEN_LEN, 88);
        assert!(raw.starts_with("nico_"));
        assert!(raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        assert_eq!(raw.matches('_').count(), 3);
        assert_eq!(&raw[KEY_AT..SECRET_AT - 1], key.key_id.as_str());
        assert!(key.hint.starts_with("nico_…") && raw.ends_with(&key.hint[key.hint.len() - 4..]));
    }

    #[test]
    fn the_leak_forms_are_the_key_its_secret_and_its_stored_digest_in_hex_and_base64() {
        let key = issue();
        let raw = key.raw.expose();
        let forms = leak_forms(raw).unwrap();
        let texts: Vec<&str> = forms.iter().map(|(_, form)| form.as_str()).collect();
        let hex: String = key.hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let base64 = STANDARD.encode(key.hash.as_bytes()).trim_end_matches('=').to_owned();
        let expected = [raw, &raw[SECRET_AT..CHECKSUM_AT], &hex.to_uppercase(), &hex, &base64];
        assert_eq!(texts, expected);
        assert!(leak_forms(&raw[1..]).is_none() && leak_forms(&format!("{raw}x")).is_none());
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_required() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("BEARER\tabc"), Some("abc"));
        assert_eq!(bearer("abc"), None);
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer(""), None);
    }

    #[test]
    fn a_generated_key_parses_and_matches_its_hash() {
        let key = issue();
        let parsed = parse(key.raw.expose()).unwrap();
        assert_eq!(parsed.key_id(), key.key_id);
        assert!(parsed.matches(&key.hash));
    }

    #[test]
    fn another_keys_hash_does_not_match() {
        let parsed = parse(issue().raw.expose()).unwrap();
        assert!(!parsed.matches(&issue().hash));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let key = issue();
        let raw = key.raw.expose();
        let parsed = parse(raw).unwrap();
        let secret = &raw[SECRET_AT..CHECKSUM_AT];
        for printed in [format!("{key:?}"), format!("{parsed:?}"), format!("{:?}", key.hash)] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[test]
    fn hostile_inputs_are_malformed_not_panics() {
        let key = issue();
        let raw = key.raw.expose();
        let mut wrong_prefix = raw.to_string();
        wrong_prefix.replace_range(0..4, "NICO");
        let multibyte = format!("{}é", &raw[..TOKEN_LEN - 2]);
        for input in [
            "",
            "nico_",
            "Bearer",
            &"a".repeat(TOKEN_LEN),
            &"_".repeat(TOKEN_LEN),
            &wrong_prefix,
            &multibyte,
            &"x".repeat(1 << 20),
        ] {
            assert_eq!(parse(input).err(), Some(TokenError::Malformed), "{input:.40}");
        }
    }

    #[test]
    fn a_million_keys_share_no_id_and_no_secret() {
        let mut ids = HashSet::with_capacity(1_000_000);
        let mut secrets = HashSet::with_capacity(1_000_000);
        let bot = BotId::generate(Utc::now());
        for _ in 0..1_000_000 {
            let mut raw = [0u8; TOKEN_LEN];
            raw.copy_from_slice(IssuedKey::generate(bot, Utc::now()).raw.expose().as_bytes());
            let key_id: [u8; ID_LEN] = raw[KEY_AT..SECRET_AT - 1].try_into().unwrap();
            let secret: [u8; SECRET_LEN] = raw[SECRET_AT..CHECKSUM_AT].try_into().unwrap();
            assert!(ids.insert(key_id), "duplicate key id");
            assert!(secrets.insert(secret), "duplicate secret");
        }
    }

    /// A key assembled the way [`IssuedKey::generate`] assembles one, from generated parts: the
    /// ids and the secret are the strategy's, so shrinking finds the smallest failing key.
    fn generated_key() -> impl Strategy<Value = String> {
        ("[0-9A-Za-z]{16}", "[0-9A-Za-z]{16}", "[0-9A-Za-z]{43}").prop_map(|(bot, key, secret)| {
            let secret: [u8; SECRET_LEN] = secret.as_bytes().try_into().unwrap();
            let raw = assemble(BotId::parse(&bot).unwrap(), KeyId::parse(&key).unwrap(), &secret);
            String::from_utf8(raw.to_vec()).unwrap()
        })
    }

    /// Strings with the prefix and the length of a key, made of base62 and the characters
    /// nearest to it (`_`, `-`, `.`, `~`, space, `/`, `+`, `=`), `_` mostly where a key has
    /// one, and half of them with the checksum their first 82 characters call for.
    fn near_miss_key() -> impl Strategy<Value = String> {
        let part = |len: usize| {
            prop::collection::vec(
                prop::strategy::Union::new_weighted(vec![
                    (200, "[0-9A-Za-z]".boxed()),
                    (1, "[-_.~ /+=]".boxed()),
                ]),
                len,
            )
        };
        let separator = prop::strategy::Union::new_weighted(vec![
            (9, Just("_".to_owned()).boxed()),
            (1, "[-.0-9a-z]".boxed()),
        ]);
        (
            part(ID_LEN),
            separator.clone(),
            part(ID_LEN),
            separator,
            part(SECRET_LEN + CHECKSUM_LEN),
            any::<bool>(),
        )
            .prop_map(|(bot, sep1, key, sep2, rest, fix_checksum)| {
                let mut raw =
                    format!("{PREFIX}{}{sep1}{}{sep2}{}", bot.concat(), key.concat(), rest.concat());
                if fix_checksum {
                    let mut digits = [0u8; CHECKSUM_LEN];
                    ids::encode_base62_fixed(
                        u64::from(crc32fast::hash(&raw.as_bytes()[..CHECKSUM_AT])),
                        &mut digits,
                    );
                    raw.replace_range(CHECKSUM_AT.., std::str::from_utf8(&digits).unwrap());
                }
                raw
            })
    }

    /// The format, written out again independently of [`parse`].
    fn reference_verdict(input: &str) -> Result<(), TokenError> {
        let b = input.as_bytes();
        let base62 = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_alphanumeric);
        let shaped = b.len() == 88
            && input.starts_with("nico_")
            && b[21] == b'_'
            && b[38] == b'_'
            && base62(5..21)
            && base62(22..38)
            && base62(39..88);
        if !shaped {
            return Err(TokenError::Malformed);
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            _ => c - b'a' + 36,
        };
        let written = b[82..].iter().fold(0u64, |acc, &c| acc * 62 + u64::from(digit(c)));
        if written == u64::from(crc32fast::hash(&b[..82])) { Ok(()) } else { Err(TokenError::BadChecksum) }
    }

    proptest! {
        #[test]
        fn any_generated_key_parses_into_its_parts(raw in generated_key()) {
            let parsed = parse(&raw).unwrap();
            prop_assert_eq!(parsed.bot_id().to_string(), &raw[BOT_AT..KEY_AT - 1]);
            prop_assert_eq!(parsed.key_id().to_string(), &raw[KEY_AT..SECRET_AT - 1]);
            prop_assert!(parsed.matches(&SecretHash::of(&raw.as_bytes()[SECRET_AT..CHECKSUM_AT])));
        }

        #[test]
        fn near_miss_keys_are_judged_as_the_format_says(raw in near_miss_key()) {
            prop_assert_eq!(raw.len(), TOKEN_LEN);
            prop_assert!(raw.starts_with(PREFIX));
            prop_assert_eq!(parse(&raw).map(|_| ()), reference_verdict(&raw));
        }

        #[test]
        fn changing_any_one_character_is_caught_offline(
            raw in generated_key(),
            position in 0..TOKEN_LEN,
            replacement in prop::sample::select(
                b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-.~ ".to_vec()
            ),
        ) {
            let mut bytes = raw.clone().into_bytes();
            prop_assume!(bytes[position] != replacement);
            bytes[position] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(parse(&changed).is_err());
        }

        #[test]
        fn truncating_a_key_is_caught_offline(raw in generated_key(), keep in 0..TOKEN_LEN) {
            prop_assert_eq!(parse(&raw[..keep]).err(), Some(TokenError::Malformed));
        }

        #[test]
        fn extending_a_key_is_caught_offline(raw in generated_key(), extra in "[A-Za-z0-9_]{1,16}") {
            prop_assert_eq!(parse(&format!("{raw}{extra}")).err(), Some(TokenError::Malformed));
            prop_assert_eq!(parse(&format!("{extra}{raw}")).err(), Some(TokenError::Malformed));
        }

        #[test]
        fn arbitrary_strings_never_panic(input in ".{0,200}") {
            let _ = parse(&input);
        }
    }
}
