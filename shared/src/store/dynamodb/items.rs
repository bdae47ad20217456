//! The table's items as typed structs: each kind of item's attributes are declared once, here,
//! and `serde_dynamo` turns a struct into DynamoDB's attribute map and back.
//!
//! | item     | `pk`             | `sk`           | struct      | `ttl` (epoch s)                              |
//! |----------|------------------|----------------|-------------|----------------------------------------------|
//! | bot user | `TEAM#<team_id>` | `BOT#<bot_id>` | [`BotItem`] | `deleted_at` + retention, once deleted        |
//! | API key  | `BOT#<bot_id>`   | `KEY#<key_id>` | [`KeyItem`] | (`revoked_at` or else `expires_at`) + retention |
//! | audit entry | `AUDIT#<team_id>` | `EVT#<event_id>` | [`EntryItem`] | `at` + audit retention   |
//!
//! Audit entries live in their team's own partition, never under a `BOT#` key: the
//! authorizer's IAM policy reaches every `BOT#` partition, and has no business reading the
//! trail; and an entry must outlive the keys and bot users it is about.
//!
//! Times are epoch milliseconds (N), scopes a string set (SS), the digest binary (B). The
//! authorizer reads a key item through the narrower [`CredentialItem`], whose fields are
//! exactly its projection ([`credential_projection`]), so the two cannot disagree.
//!
//! Stored values are trusted to be what the code wrote, but read back through the same
//! parsers as input (ids, team ids, subjects, scopes), so a corrupt item is an error, never a
//! wrong answer; names and scopes skip only the limits of today's configuration
//! ([`Name::from_stored`], [`Scopes::from_stored`]).

use std::collections::HashMap;
use std::sync::OnceLock;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::serde::{ts_milliseconds, ts_milliseconds_option};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::table;
use crate::audit::Entry;
use crate::expiry::ExpiringKey;
use crate::ids::{BotId, EventId, KeyId};
use crate::model::{ApiKey, BotUser, Credential, Name, NewKey, SourceIp, Subject, TeamId};
use crate::scope::Scopes;
use crate::store::KeyRecord;
use crate::token::SecretHash;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) const BOT_PREFIX: &str = "BOT#";
/// Every key item's partition key starts with this, and no other item's does: the authorizer's
/// IAM policy confines its reads to it (`dynamodb:LeadingKeys`).
pub const KEY_PARTITION_PREFIX: &str = BOT_PREFIX;
pub(super) const KEY_PREFIX: &str = "KEY#";
pub(super) const ENTRY_PREFIX: &str = "EVT#";

/// An item's primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ItemKey {
    pub pk: String,
    pub sk: String,
}

impl ItemKey {
    pub fn bot(team: &TeamId, bot: BotId) -> Self {
        Self { pk: format!("TEAM#{team}"), sk: format!("{BOT_PREFIX}{bot}") }
    }

    pub fn key(bot: BotId, key: KeyId) -> Self {
        Self { pk: bot_partition(bot), sk: format!("{KEY_PREFIX}{key}") }
    }

    pub fn entry(team: &TeamId, entry: EventId) -> Self {
        Self { pk: audit_partition(team), sk: format!("{ENTRY_PREFIX}{entry}") }
    }

    /// The key as the attribute map `GetItem`, `UpdateItem` and `ExclusiveStartKey` take.
    pub fn into_item(self) -> Item {
        HashMap::from([
            (table::PARTITION_KEY.to_owned(), AttributeValue::S(self.pk)),
            (table::SORT_KEY.to_owned(), AttributeValue::S(self.sk)),
        ])
    }
}

/// The partition holding a team's bot users.
pub(super) fn team_partition(team: &TeamId) -> String {
    format!("TEAM#{team}")
}

/// The partition holding a team's audit entries.
pub(super) fn audit_partition(team: &TeamId) -> String {
    format!("AUDIT#{team}")
}

/// The partition holding a bot user's keys.
pub(super) fn bot_partition(bot: BotId) -> String {
    format!("{BOT_PREFIX}{bot}")
}

/// A bot user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct BotItem {
    pub pk: String,
    pub sk: String,
    pub bot_id: BotId,
    pub team_id: TeamId,
    #[serde(with = "stored_name")]
    pub name: Name,
    /// Absent on bot users stored before accounts existed: they are their creator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Subject>,
    /// The scope ceiling; absent on bot users stored before ceilings existed.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "stored_scopes_opt")]
    pub scopes: Option<Scopes>,
    #[serde(with = "ts_milliseconds")]
    pub created_at: DateTime<Utc>,
    pub created_by: Subject,
    /// Bumped by every change to the bot user's keys: a create is conditional on the version
    /// it counted the keys at, which serialises the active-key cap.
    pub key_version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "ts_milliseconds_option")]
    pub deleted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<Subject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl BotItem {
    pub fn new(bot: &BotUser) -> Self {
        let ItemKey { pk, sk } = ItemKey::bot(&bot.team_id, bot.id);
        Self {
            pk,
            sk,
            bot_id: bot.id,
            team_id: bot.team_id.clone(),
            name: bot.name.clone(),
            account: Some(bot.account.clone()),
            scopes: bot.scopes.clone(),
            created_at: bot.created_at,
            created_by: bot.created_by.clone(),
            key_version: 0,
            deleted_at: None,
            deleted_by: None,
            ttl: None,
        }
    }
}

impl From<BotItem> for BotUser {
    fn from(item: BotItem) -> Self {
        Self {
            id: item.bot_id,
            team_id: item.team_id,
            name: item.name,
            // Read-time default for bot users stored before accounts existed.
            account: item.account.unwrap_or_else(|| item.created_by.clone()),
            scopes: item.scopes,
            created_at: item.created_at,
            created_by: item.created_by,
            deleted_at: item.deleted_at,
        }
    }
}

/// An API key: the owner's view, the digest of its secret, and the store's bookkeeping.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct KeyItem {
    pub pk: String,
    pub sk: String,
    pub key_id: KeyId,
    pub bot_id: BotId,
    pub team_id: TeamId,
    #[serde(with = "stored_name")]
    pub name: Name,
    pub hint: String,
    #[serde(with = "stored_scopes")]
    pub scopes: Scopes,
    #[serde(with = "digest")]
    pub secret_hash: SecretHash,
    #[serde(with = "ts_milliseconds")]
    pub created_at: DateTime<Utc>,
    pub created_by: Subject,
    #[serde(with = "ts_milliseconds")]
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "ts_milliseconds_option")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<Subject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<KeyId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<KeyId>,
    /// Written by the authorizer only ([`LAST_USED_ATTRIBUTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "ts_milliseconds_option")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_ip: Option<String>,
    /// Set on every key of a bot user by its deletion.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "ts_milliseconds_option")]
    pub bot_deleted_at: Option<DateTime<Utc>>,
    pub ttl: i64,
    /// The expiry index's partition key ([`table::EXPIRY_INDEX`]), while the key may still
    /// need a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_bucket: Option<String>,
}

impl KeyItem {
    /// A new key's item; `ttl` is when the table may purge it.
    pub fn new(new: &NewKey, ttl: i64) -> Self {
        let key = &new.key;
        let ItemKey { pk, sk } = ItemKey::key(key.bot_id, key.id);
        Self {
            pk,
            sk,
            key_id: key.id,
            bot_id: key.bot_id,
            team_id: key.team_id.clone(),
            name: key.name.clone(),
            hint: key.hint.clone(),
            scopes: key.scopes.clone(),
            secret_hash: new.hash.clone(),
            created_at: key.created_at,
            created_by: key.created_by.clone(),
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
            revoked_by: key.revoked_by.clone(),
            revoked_reason: key.revoked_reason.clone(),
            replaced_by: key.replaced_by,
            replaces: key.replaces,
            last_used_at: None,
            last_used_ip: None,
            bot_deleted_at: None,
            ttl,
            expiry_bucket: Some(crate::expiry::bucket(key.expires_at)),
        }
    }
}

impl From<KeyItem> for KeyRecord {
    fn from(item: KeyItem) -> Self {
        Self {
            bot_deleted: item.bot_deleted_at.is_some(),
            key: ApiKey {
                id: item.key_id,
                bot_id: item.bot_id,
                team_id: item.team_id,
                name: item.name,
                hint: item.hint,
                scopes: item.scopes,
                created_at: item.created_at,
                created_by: item.created_by,
                expires_at: item.expires_at,
                revoked_at: item.revoked_at,
                revoked_by: item.revoked_by,
                revoked_reason: item.revoked_reason,
                replaced_by: item.replaced_by,
                replaces: item.replaces,
                last_used_at: item.last_used_at,
                // Written only from a parsed address; anything else reads as unknown.
                last_used_ip: item.last_used_ip.as_deref().and_then(SourceIp::parse),
            },
        }
    }
}

/// An audit entry, whole, as one nested map; never updated after it is written.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EntryItem {
    pub pk: String,
    pub sk: String,
    pub entry: Entry,
    pub ttl: i64,
}

impl EntryItem {
    pub fn new(entry: &Entry, ttl: i64) -> Self {
        let ItemKey { pk, sk } = ItemKey::entry(&entry.team_id, entry.id);
        Self { pk, sk, entry: entry.clone(), ttl }
    }
}

/// The part of a key item verification reads: the authorizer's whole projection.
#[derive(Debug, Deserialize)]
pub(super) struct CredentialItem {
    team_id: TeamId,
    #[serde(with = "stored_scopes")]
    scopes: Scopes,
    #[serde(with = "ts_milliseconds")]
    expires_at: DateTime<Utc>,
    #[serde(default, with = "ts_milliseconds_option")]
    revoked_at: Option<DateTime<Utc>>,
    #[serde(with = "digest")]
    secret_hash: SecretHash,
    #[serde(default, with = "ts_milliseconds_option")]
    last_used_at: Option<DateTime<Utc>>,
}

impl From<CredentialItem> for Credential {
    fn from(item: CredentialItem) -> Self {
        Self {
            team_id: item.team_id,
            scopes: item.scopes,
            expires_at: item.expires_at,
            revoked_at: item.revoked_at,
            hash: item.secret_hash,
            last_used_at: item.last_used_at,
        }
    }
}

/// The attributes verification reads, as a projection expression: the fields of
/// [`CredentialItem`], computed once.
pub fn credential_projection() -> &'static str {
    static PROJECTION: OnceLock<String> = OnceLock::new();
    PROJECTION.get_or_init(|| credential_attributes().join(", "))
}

/// The attributes verification reads (the authorizer's IAM policy may allow exactly these).
pub fn credential_attributes() -> &'static [&'static str] {
    serde_aux::serde_introspection::serde_introspect::<CredentialItem>()
}

/// A key item as the expiry index holds it (no digest, no scopes): the notifier's reads.
#[derive(Debug, Deserialize)]
pub(super) struct ExpiringItem {
    key_id: KeyId,
    bot_id: BotId,
    team_id: TeamId,
    #[serde(with = "stored_name")]
    name: Name,
    hint: String,
    #[serde(with = "ts_milliseconds")]
    created_at: DateTime<Utc>,
    #[serde(with = "ts_milliseconds")]
    expires_at: DateTime<Utc>,
    #[serde(default, with = "ts_milliseconds_option")]
    revoked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    replaced_by: Option<KeyId>,
    #[serde(default, with = "ts_milliseconds_option")]
    warned_7d_at: Option<DateTime<Utc>>,
    #[serde(default, with = "ts_milliseconds_option")]
    warned_1d_at: Option<DateTime<Utc>>,
}

impl From<ExpiringItem> for ExpiringKey {
    fn from(item: ExpiringItem) -> Self {
        Self {
            id: item.key_id,
            bot_id: item.bot_id,
            team_id: item.team_id,
            name: item.name,
            hint: item.hint,
            created_at: item.created_at,
            expires_at: item.expires_at,
            revoked_at: item.revoked_at,
            replaced_by: item.replaced_by,
            warned_7d_at: item.warned_7d_at,
            warned_1d_at: item.warned_1d_at,
        }
    }
}

/// The attributes the expiry index projects besides its keys: the fields of [`ExpiringItem`]
/// but its sort key (the template is checked against this list).
pub fn expiry_index_attributes() -> &'static [&'static str] {
    static ATTRIBUTES: OnceLock<Vec<&'static str>> = OnceLock::new();
    ATTRIBUTES.get_or_init(|| {
        serde_aux::serde_introspection::serde_introspect::<ExpiringItem>()
            .iter()
            .copied()
            .filter(|name| *name != table::EXPIRY_SORT_ATTRIBUTE)
            .collect()
    })
}

/// The attributes the authorizer's last-used write touches: the key, and those its update and
/// its condition name. The store builds that write from this list, and the authorizer's IAM
/// policy allows `UpdateItem` on exactly these (`dynamodb:Attributes`; the infra test holds
/// the template to this list).
pub const LAST_USED_ATTRIBUTES: [&str; 4] =
    [table::PARTITION_KEY, table::SORT_KEY, "last_used_at", "last_used_ip"];

/// The attributes one key's revocation touches (the store's `revoke_key_by`, which the
/// management API and the leak reports share): the key, what it sets and removes, and what its
/// condition checks. The leak-report function's IAM policy allows `UpdateItem` on exactly these
/// (`dynamodb:Attributes`; the infra test holds the template to this list, the store's tests
/// hold the write to it).
pub const KEY_REVOCATION_ATTRIBUTES: [&str; 9] = [
    table::PARTITION_KEY,
    table::SORT_KEY,
    "team_id",
    "revoked_at",
    "revoked_by",
    "revoked_reason",
    table::TTL_ATTRIBUTE,
    table::EXPIRY_BUCKET_ATTRIBUTE,
    "bot_deleted_at",
];

/// Names as stored: read back without today's length limit.
mod stored_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::model::Name;

    pub fn serialize<S: Serializer>(name: &Name, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(name.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        Name::from_stored(String::deserialize(d)?)
            .map_err(|_| serde::de::Error::custom("invalid stored name"))
    }
}

/// Scopes as a DynamoDB string set, read back without consulting today's catalogue.
mod stored_scopes {
    use serde::{Deserializer, Serializer};

    use crate::scope::Scopes;

    pub fn serialize<S: Serializer>(scopes: &Scopes, s: S) -> Result<S::Ok, S::Error> {
        serde_dynamo::string_set::serialize(scopes, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Scopes, D::Error> {
        let stored: Vec<String> = serde_dynamo::string_set::deserialize(d)?;
        Scopes::from_stored(stored).map_err(|_| serde::de::Error::custom("invalid stored scopes"))
    }
}

/// An optional scope set (absent when `None`; used with `skip_serializing_if`).
mod stored_scopes_opt {
    use serde::{Deserializer, Serializer};

    use crate::scope::Scopes;

    pub fn serialize<S: Serializer>(scopes: &Option<Scopes>, s: S) -> Result<S::Ok, S::Error> {
        match scopes {
            Some(scopes) => super::stored_scopes::serialize(scopes, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Scopes>, D::Error> {
        super::stored_scopes::deserialize(d).map(Some)
    }
}

/// The secret's digest as a binary attribute. The digest has no `Serialize` of its own, so it
/// can be written only here, into the one attribute that holds it.
mod digest {
    use std::fmt;

    use serde::de::{Error, Visitor};
    use serde::{Deserializer, Serializer};

    use crate::token::SecretHash;

    pub fn serialize<S: Serializer>(hash: &SecretHash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(hash.as_bytes())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretHash, D::Error> {
        struct Bytes;
        impl Visitor<'_> for Bytes {
            type Value = SecretHash;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-byte digest")
            }

            fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<SecretHash, E> {
                SecretHash::from_slice(bytes).ok_or_else(|| E::custom("stored digest is not 32 bytes"))
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Expiry;
    use crate::scope::ScopeCatalog;
    use chrono::TimeDelta;

    fn new_key() -> NewKey {
        let now = crate::model::truncate_to_millis(Utc::now());
        let catalog = ScopeCatalog::parse("projects:read,projects:write").unwrap();
        let expiry =
            Expiry::at(now + TimeDelta::days(1), now, std::time::Duration::from_secs(86_400)).unwrap();
        NewKey::issue(
            &TeamId::parse("team-a").unwrap(),
            BotId::generate(now),
            Name::parse("deploy", 100).unwrap(),
            Scopes::parse(["projects:write", "projects:read"], &catalog).unwrap(),
            expiry,
            &Subject::parse("owner-1").unwrap(),
            now,
        )
        .0
    }

    #[test]
    fn a_key_item_has_the_documented_attribute_types_and_reads_back_as_it_was_written() {
        let new = new_key();
        let item: Item = serde_dynamo::to_item(KeyItem::new(&new, 42)).unwrap();
        assert!(matches!(&item["scopes"], AttributeValue::Ss(set) if set.len() == 2));
        assert!(
            matches!(&item["secret_hash"], AttributeValue::B(blob) if blob.as_ref() == new.hash.as_bytes())
        );
        assert_eq!(item["expires_at"], AttributeValue::N(new.key.expires_at.timestamp_millis().to_string()));
        assert_eq!(item[table::TTL_ATTRIBUTE], AttributeValue::N("42".into()));
        assert_eq!(item[table::PARTITION_KEY], AttributeValue::S(format!("BOT#{}", new.key.bot_id)));
        assert_eq!(
            item[table::EXPIRY_BUCKET_ATTRIBUTE],
            AttributeValue::S(crate::expiry::bucket(new.key.expires_at)),
            "a new key is in the expiry index"
        );
        for absent in [
            "revoked_at",
            "revoked_by",
            "revoked_reason",
            "replaced_by",
            "replaces",
            "bot_deleted_at",
            "last_used_at",
            "last_used_ip",
        ] {
            assert!(!item.contains_key(absent), "{absent} is written only once it applies");
        }

        let record = KeyRecord::from(serde_dynamo::from_item::<_, KeyItem>(item.clone()).unwrap());
        assert_eq!(record.key, new.key);
        assert!(!record.bot_deleted);
        let credential: Credential = serde_dynamo::from_item::<_, CredentialItem>(item).unwrap().into();
        assert_eq!(credential.hash, new.hash);
    }

    #[test]
    fn the_credential_projection_names_what_verification_reads_and_no_more() {
        assert_eq!(
            credential_projection(),
            "team_id, scopes, expires_at, revoked_at, secret_hash, last_used_at"
        );
    }

    #[test]
    fn the_attribute_lists_of_iam_policies_name_key_item_attributes() {
        let declared = serde_aux::serde_introspection::serde_introspect::<KeyItem>();
        for name in LAST_USED_ATTRIBUTES.iter().chain(&KEY_REVOCATION_ATTRIBUTES) {
            assert!(declared.contains(name), "{name} is not an attribute of a key item");
        }
    }

    #[test]
    fn a_corrupt_item_is_an_error_not_a_value() {
        let mut item: Item = serde_dynamo::to_item(KeyItem::new(&new_key(), 42)).unwrap();
        item.insert(
            "secret_hash".into(),
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![1, 2, 3])),
        );
        assert!(serde_dynamo::from_item::<_, CredentialItem>(item.clone()).is_err());
        item.remove("secret_hash");
        assert!(serde_dynamo::from_item::<_, KeyItem>(item).is_err());
    }
}
