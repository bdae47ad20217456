//! Writes to a bot user with the revocation of its keys: deletion, re-assignment, re-scoping,
//! revoke-keys. Each is one transaction (at most 100 actions: the bot user item, its working
//! keys, which the cap keeps at 98 or fewer, and the change's audit entry), conditioned on the
//! bot user's `key_version` so a key created or rotated meanwhile makes it read again.

use aws_sdk_dynamodb::types::{AttributeValue, Update};
use chrono::{DateTime, Utc};

use super::items::{BotItem, ItemKey};
use super::wire::{Cancelled, built, number, time_value, update_item};
use super::{DynamoStore, MAX_ATTEMPTS, backoff, table};
use crate::audit::{Entry, Origin, reasons};
use crate::ids::BotId;
use crate::model::{ApiKey, BotUser, TeamId};
use crate::store::{MAX_WORKING_KEYS, RacePoint, StoreError};

/// Which keys a write to a bot user revokes with it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Revoke {
    None,
    /// Every working key, for this fixed reason.
    Working(&'static str),
    /// Every working key, marked as revoked by the bot user's deletion.
    ForDeletion,
}

/// One write to a bot user item, made in one transaction with the revocations it asks for.
pub(super) struct BotWrite {
    /// `SET` clauses (`#name` and `#ttl` stand for those attributes; `:now`, `:by`, `:ttl` are
    /// always bound), beside `ADD key_version :one`.
    pub set: Vec<&'static str>,
    pub values: Vec<(&'static str, AttributeValue)>,
    pub revoke: Revoke,
    /// The bot user as the write leaves it: what the caller is answered once the transaction
    /// commits, without a second read that could fail after the change happened.
    pub after: BotUser,
}

impl DynamoStore {
    /// Reads a bot user and its keys, asks `plan` what to write (`None`: nothing), and writes
    /// it in one transaction: the bot user item, on condition that it is not deleted and that
    /// no key was created or rotated since the read (`key_version`), with the revocation of
    /// every working key if asked. All of it happens, or none (a lost race reads again).
    /// Returns the bot user as it is afterwards and how many keys were revoked. `audit` gives
    /// the change's audit entry from the bot user as read and the keys revoked (`None`: the
    /// change changes nothing worth recording).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn write_bot(
        &self,
        team: &TeamId,
        bot: BotId,
        origin: &Origin,
        now: DateTime<Utc>,
        point: RacePoint,
        audit: impl Fn(&BotUser, &[&ApiKey]) -> Option<Entry>,
        plan: impl Fn(&BotItem, &[ApiKey]) -> Result<Option<BotWrite>, StoreError>,
    ) -> Result<(BotUser, usize), StoreError> {
        let by = &origin.actor;
        for attempt in 0..MAX_ATTEMPTS {
            backoff(attempt).await;
            let item: BotItem =
                self.get(ItemKey::bot(team, bot), None).await?.ok_or(StoreError::BotNotFound)?;
            let keys: Vec<ApiKey> = self.all_keys(bot).await?.into_iter().map(|record| record.key).collect();
            let Some(write) = plan(&item, &keys)? else {
                return Ok((item.into(), 0));
            };
            let working: Vec<&ApiKey> = match write.revoke {
                Revoke::None => Vec::new(),
                Revoke::Working(_) | Revoke::ForDeletion => {
                    keys.iter().filter(|key| key.is_working(now)).collect()
                }
            };
            if working.len() > MAX_WORKING_KEYS as usize {
                return Err(StoreError::unavailable("more working keys than one transaction can revoke"));
            }
            self.race_point(point).await;
            let ttl = number(self.purge_at(now));
            let mut set = write.set.join(", ");
            if !set.is_empty() {
                set = format!("SET {set} ");
            }
            let mut mark = Update::builder()
                .table_name(&self.table)
                .set_key(Some(ItemKey::bot(team, bot).into_item()))
                .update_expression(format!("{set}ADD key_version :one"))
                .condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(deleted_at) AND key_version = :seen",
                )
                .expression_attribute_values(":one", number(1))
                .expression_attribute_values(":seen", number(item.key_version));
            for clause in &write.set {
                for (placeholder, value) in [
                    (":now", time_value(now)),
                    (":by", AttributeValue::S(by.to_string())),
                    (":ttl", ttl.clone()),
                ] {
                    if clause.contains(placeholder) {
                        mark = mark.expression_attribute_values(placeholder, value);
                    }
                }
                for (placeholder, name) in [("#name", "name"), ("#ttl", table::TTL_ATTRIBUTE)] {
                    if clause.contains(placeholder) {
                        mark = mark.expression_attribute_names(placeholder, name);
                    }
                }
            }
            for (placeholder, value) in write.values {
                mark = mark.expression_attribute_values(placeholder, value);
            }
            let mut actions = vec![update_item(mark.build().map_err(built)?)];
            let (revocation, reason) = match write.revoke {
                Revoke::ForDeletion => (
                    "SET revoked_at = :now, revoked_by = :by, revoked_reason = :reason, bot_deleted_at = :now, #ttl = :ttl REMOVE expiry_bucket",
                    reasons::BOT_DELETED,
                ),
                Revoke::Working(reason) => {
                    // Revoked keys leave the expiry index (`expiry`).
                    (
                        "SET revoked_at = :now, revoked_by = :by, revoked_reason = :reason, #ttl = :ttl REMOVE expiry_bucket",
                        reason,
                    )
                }
                Revoke::None => ("", ""),
            };
            for key in &working {
                let revoke = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(ItemKey::key(bot, key.id).into_item()))
                    .update_expression(revocation)
                    .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
                    .expression_attribute_names("#ttl", table::TTL_ATTRIBUTE)
                    .expression_attribute_values(":now", time_value(now))
                    .expression_attribute_values(":by", AttributeValue::S(by.to_string()))
                    .expression_attribute_values(":ttl", ttl.clone())
                    .expression_attribute_values(":reason", AttributeValue::S(reason.to_owned()))
                    .build()
                    .map_err(built)?;
                actions.push(update_item(revoke));
            }
            if let Some(entry) = audit(&BotUser::from(item.clone()), &working) {
                actions.push(self.put_entry(&entry)?);
            }
            match self.transact(actions).await? {
                Ok(()) => return Ok((write.after, working.len())),
                // Lost a race on the bot user or a key: read again.
                Err(reasons) => Cancelled::retry_or_fail(&reasons, None, "bot user change")?,
            }
        }
        Err(StoreError::Contention)
    }
}
