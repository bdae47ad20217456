//! The product store: one DynamoDB table, and the only module that knows the AWS SDK.
//!
//! * [`client`]: how a client is built and how long its calls may take;
//! * [`table`]: the table's definition (the SAM template is checked against it);
//! * [`items`]: each item's attributes, declared once as a struct;
//! * `wire`: items to attribute maps and back, cancellation reasons, SDK errors;
//! * `bot_writes`: a bot user's changes made with the revocation of its keys, one transaction;
//! * this module: the store, which only reads and writes; what a read means is decided in
//!   [`crate::store`], the same way for both stores.
//!
//! # Why this shape
//!
//! * **Verification is one `GetItem`.** The key's bot id and key id are both in the token, and
//!   together they are the key item's primary key.
//! * **A team only reaches its own bot users** because their items live in the team's
//!   partition; key items carry `team_id`, and every key operation checks it.
//! * **A bot user's keys are one partition**, read with a strongly consistent `Query`, so
//!   listing, counting and a deletion see a key the moment it was written (an index would only
//!   be eventually consistent).
//! * **The bot user item serialises key changes.** Creating or rotating a key is a transaction
//!   that also updates the bot user item, on condition that it is not deleted (and, for a
//!   create, that `key_version` is still the one seen when the active keys were counted).
//!   Deleting a bot user is one transaction too (`bot_writes`): the bot user's mark, on
//!   condition that `key_version` is still the one seen when its keys were read, the
//!   revocation of every working key read, and the audit entry. DynamoDB orders writes to one
//!   item, so either the create commits first, and the deletion's condition fails and it reads
//!   again (finding the new key), or the mark comes first and the create fails. Two creates
//!   counting at once cannot both pass the cap: the second one's `key_version` condition
//!   fails, and it counts again.
//! * **Revocation is a transaction of two actions**: the key's conditional update
//!   (`attribute_not_exists(revoked_at)`), so it happens once and can never be undone, and its
//!   audit entry. The key is read first (its name goes into the entry, and a repeat is answered
//!   from it without writing); a lost race (`TransactionConflict`, a failed condition) reads
//!   again and decides again.
//! * **Every change writes its audit entry in its own transaction** (`audit`): a `Put` of
//!   one item in the team's `AUDIT#` partition, beside the change's other actions.
//! * **TTL** purges keys a retention period after they expire or are revoked, and deleted bot
//!   users as long after deletion. DynamoDB deletes lazily, so reads never rely on it: status
//!   is always derived from `expires_at` and `revoked_at`.

mod audit;
mod bot_writes;
pub mod client;
mod expiry;
pub mod items;
mod listing;
pub mod table;
mod wire;

use std::time::Duration;

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use self::bot_writes::{BotWrite, Revoke};
pub use self::client::{CallBudget, client_from_env, lambda_client, sdk_config_from_env};
use self::items::{
    BOT_PREFIX, BotItem, CredentialItem, ItemKey, KEY_PREFIX, KeyItem, bot_partition, credential_projection,
    team_partition,
};
pub use self::table::{create_table, table_exists};
use self::wire::{Cancelled, built, decode, encode, number, sdk, time_value, update_item};
use super::{
    BotChange, BotStore, CredentialStore, KeyRecord, KeyStore, Page, RaceHook, RacePoint, Revocable,
    Rotation, StoreError, check_cap, check_ceiling, check_change, listed_for, revocable, rotatable,
};
use crate::audit::{Entry, Origin, Revocation, reasons};
use crate::ids::{BotId, KeyId};
use crate::model::{ApiKey, BotUser, Credential, KeyUse, NewKey, Subject, TeamId};

pub use aws_sdk_dynamodb::Client;

/// How long audit entries are kept when nobody says otherwise (`AUDIT_RETENTION_DAYS`).
const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(400 * 86_400);

/// How often a key change retries after losing a race on the bot user item.
const MAX_ATTEMPTS: u32 = 8;

/// The DynamoDB implementation of [`super::Store`].
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: Duration,
    race_hook: Option<RaceHook>,
    audit_retention: Duration,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore").field("table", &self.table).finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// `retention` is how long expired or revoked keys and deleted bot users stay readable
    /// before the table's TTL purges them.
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
            race_hook: None,
            audit_retention: DEFAULT_AUDIT_RETENTION,
        }
    }

    /// The same store, keeping audit entries `retention` after their change (default 400 days).
    pub fn with_audit_retention(mut self, retention: Duration) -> Self {
        self.audit_retention = retention;
        self
    }

    /// The same store, running `hook` at each [`RacePoint`] (for tests).
    pub fn with_race_hook(mut self, hook: RaceHook) -> Self {
        self.race_hook = Some(hook);
        self
    }

    async fn race_point(&self, point: RacePoint) {
        if let Some(hook) = &self.race_hook {
            hook(point).await;
        }
    }

    /// The TTL (epoch seconds) of an item whose life ended at `from`.
    fn purge_at(&self, from: DateTime<Utc>) -> i64 {
        from.timestamp().saturating_add(i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        key: ItemKey,
        projection: Option<&str>,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.into_item()))
            .consistent_read(true)
            .set_projection_expression(projection.map(str::to_owned))
            .send()
            .await
            .map_err(sdk)?;
        output.item.map(decode).transpose()
    }

    async fn key_record(&self, bot: BotId, key: KeyId) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.get::<KeyItem>(ItemKey::key(bot, key), None).await?.map(KeyRecord::from))
    }

    /// The bot user, if it exists in `team` and is not deleted.
    async fn live_bot(&self, team: &TeamId, bot: BotId) -> Result<BotItem, StoreError> {
        let item: BotItem = self.get(ItemKey::bot(team, bot), None).await?.ok_or(StoreError::BotNotFound)?;
        if item.deleted_at.is_some() {
            return Err(StoreError::BotDeleted);
        }
        Ok(item)
    }

    /// One page of the `keys` of a partition, strongly consistent, starting after `after` (an
    /// `sk`). Returns the items and where the next page starts, if DynamoDB says there is one.
    pub(super) async fn query_page<T: DeserializeOwned>(
        &self,
        pk: &str,
        keys: SortKeys<'_>,
        after: Option<String>,
        limit: Option<i32>,
    ) -> Result<(Vec<T>, Option<String>), StoreError> {
        let start = after.map(|sk| ItemKey { pk: pk.to_owned(), sk }.into_item());
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()));
        let query = match keys {
            SortKeys::Prefix(prefix) => query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned())),
            SortKeys::NewestBetween(low, high) => query
                .scan_index_forward(false)
                .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
                .expression_attribute_values(":low", AttributeValue::S(low.to_owned()))
                .expression_attribute_values(":high", AttributeValue::S(high.to_owned())),
        };
        let output = query.set_exclusive_start_key(start).set_limit(limit).send().await.map_err(sdk)?;
        page_of(output)
    }

    /// Every key of a bot user, strongly consistent, following pages to the end.
    async fn all_keys(&self, bot: BotId) -> Result<Vec<KeyRecord>, StoreError> {
        let pk = bot_partition(bot);
        let mut records = Vec::new();
        let mut after = None;
        loop {
            let (page, next) =
                self.query_page::<KeyItem>(&pk, SortKeys::Prefix(KEY_PREFIX), after, None).await?;
            records.extend(page.into_iter().map(KeyRecord::from));
            match next {
                Some(sk) => after = Some(sk),
                None => return Ok(records),
            }
        }
    }

    /// Runs a transaction; a cancelled one answers why each action did not happen.
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<Cancelled>>, StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Ok(())),
            Err(e) => match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    Ok(Err(cancelled.cancellation_reasons().iter().map(Cancelled::of).collect()))
                }
                other => Err(sdk(other)),
            },
        }
    }

    fn put_new_key(&self, new: &NewKey) -> Result<TransactWriteItem, StoreError> {
        let item = encode(KeyItem::new(new, self.purge_at(new.key.expires_at)))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(built)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// One key's revocation, as `revoke_key_by` sends it in its transaction: on condition that
    /// the key is the team's, not revoked and not its deleted bot user's. It touches only
    /// [`items::KEY_REVOCATION_ATTRIBUTES`] (what the leak-report function's IAM policy allows)
    /// and asks for nothing back.
    fn key_revocation(
        &self,
        team: &TeamId,
        bot: BotId,
        key: KeyId,
        by: &Subject,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Update, StoreError> {
        let mut set = "SET revoked_at = :now, revoked_by = :by, #ttl = :ttl".to_owned();
        if reason.is_some() {
            set.push_str(", revoked_reason = :reason");
        }
        // A revoked key leaves the expiry index (`expiry`): it will never be warned about.
        set.push_str(" REMOVE expiry_bucket");
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(ItemKey::key(bot, key).into_item()))
            .update_expression(set)
            .condition_expression(
                "attribute_exists(pk) AND team_id = :team AND attribute_not_exists(revoked_at) \
                 AND attribute_not_exists(bot_deleted_at)",
            )
            .expression_attribute_names("#ttl", table::TTL_ATTRIBUTE)
            .expression_attribute_values(":now", time_value(now))
            .expression_attribute_values(":by", AttributeValue::S(by.to_string()))
            .expression_attribute_values(":ttl", number(self.purge_at(now)))
            .expression_attribute_values(":team", AttributeValue::S(team.to_string()));
        if let Some(reason) = reason {
            update = update.expression_attribute_values(":reason", AttributeValue::S(reason.to_owned()));
        }
        update.build().map_err(built)
    }

    /// The authorizer's last-used write, as sent: built from [`items::LAST_USED_ATTRIBUTES`]
    /// alone (what its IAM policy allows), on condition that the stored use is older than the
    /// window, returning nothing (`ReturnValues` `NONE`). Without an address the stored one is
    /// removed, so a time is never shown with another use's address.
    fn last_used_update(&self, bot: BotId, key: KeyId, used: &KeyUse) -> UpdateItemFluentBuilder {
        let [pk, _, at, ip] = items::LAST_USED_ATTRIBUTES;
        let set = match used.ip {
            Some(_) => format!("SET {at} = :at, {ip} = :ip"),
            None => format!("SET {at} = :at REMOVE {ip}"),
        };
        let mut values = std::collections::HashMap::from([
            (":at".to_owned(), time_value(used.at)),
            (":stale".to_owned(), time_value(used.stale_before())),
        ]);
        if let Some(address) = used.ip {
            values.insert(":ip".to_owned(), AttributeValue::S(address.to_string()));
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ItemKey::key(bot, key).into_item()))
            .update_expression(set)
            .condition_expression(format!(
                "attribute_exists({pk}) AND (attribute_not_exists({at}) OR {at} < :stale)"
            ))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::None)
    }
}

impl BotStore for DynamoStore {
    async fn create_bot_by(&self, bot: &BotUser, origin: &Origin) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(encode(BotItem::new(bot))?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(built)?;
        let actions = vec![
            TransactWriteItem::builder().put(put).build(),
            self.put_entry(&Entry::bot_created(bot, origin))?,
        ];
        // The SDK retries a transaction with the same client token, which DynamoDB answers with
        // the first success; a failed condition means the fresh id is taken, as unlikely as two
        // racing writers, and answered the same way.
        match self.transact(actions).await? {
            Ok(()) => Ok(()),
            Err(reasons) => {
                Cancelled::retry_or_fail(&reasons, None, "create bot user")?;
                Err(StoreError::Contention)
            }
        }
    }

    async fn get_bot(&self, team: &TeamId, bot: BotId) -> Result<BotUser, StoreError> {
        let item: BotItem = self.get(ItemKey::bot(team, bot), None).await?.ok_or(StoreError::BotNotFound)?;
        Ok(item.into())
    }

    async fn list_bots(
        &self,
        team: &TeamId,
        account: Option<&Subject>,
        after: Option<BotId>,
        limit: usize,
    ) -> Result<Page<BotUser>, StoreError> {
        let pk = team_partition(team);
        let mut after = after.map(|id| format!("{BOT_PREFIX}{id}"));
        let mut items = Vec::new();
        // Deleted bot users stay as tombstones until their TTL; skip them, and keep reading
        // until the page is full and one more live bot user proves there is a next page.
        loop {
            let (page, next) =
                self.query_page::<BotItem>(&pk, SortKeys::Prefix(BOT_PREFIX), after, Some(100)).await?;
            for bot in page.into_iter().map(BotUser::from).filter(|bot| listed_for(bot, account)) {
                if items.len() == limit {
                    return Ok(Page { items, more: true });
                }
                items.push(bot);
            }
            match next {
                Some(sk) => after = Some(sk),
                None => return Ok(Page { items, more: false }),
            }
        }
    }

    async fn delete_bot_by(
        &self,
        team: &TeamId,
        bot: BotId,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<BotUser, StoreError> {
        let audit = |bot: &BotUser, revoked: &[&ApiKey]| Some(Entry::bot_deleted(bot, revoked, origin, now));
        let (deleted, _) = self
            .write_bot(team, bot, origin, now, RacePoint::Delete, audit, |item, _| {
                if item.deleted_at.is_some() {
                    return Ok(None); // deleted before, all at once: nothing left to do
                }
                Ok(Some(BotWrite {
                    set: vec!["deleted_at = :now", "deleted_by = :by", "#ttl = :ttl"],
                    values: Vec::new(),
                    revoke: Revoke::ForDeletion,
                    after: BotUser { deleted_at: Some(now), ..BotUser::from(item.clone()) },
                }))
            })
            .await?;
        Ok(deleted)
    }

    async fn update_bot_by(
        &self,
        team: &TeamId,
        bot: BotId,
        change: &BotChange,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<(BotUser, usize), StoreError> {
        let audit =
            |bot: &BotUser, revoked: &[&ApiKey]| Entry::bot_updated(bot, change, revoked, origin, now);
        self.write_bot(team, bot, origin, now, RacePoint::Update, audit, |item, keys| {
            let current = BotUser::from(item.clone());
            check_change(&current, change, keys, now)?;
            let mut set = Vec::new();
            let mut values = Vec::new();
            if let Some(name) = &change.name {
                set.push("#name = :name");
                values.push((":name", AttributeValue::S(name.as_str().to_owned())));
            }
            if let Some(account) = &change.account {
                set.push("account = :account");
                values.push((":account", AttributeValue::S(account.to_string())));
            }
            if let Some(scopes) = &change.scopes {
                set.push("scopes = :scopes");
                values.push((":scopes", AttributeValue::Ss(scopes.iter().map(|s| s.to_string()).collect())));
            }
            let reassigned = change.account.as_ref().is_some_and(|account| account != &current.account);
            let reason = if reassigned { reasons::REASSIGNED } else { reasons::REVOKE_KEYS };
            let revoke = if change.revoke_keys { Revoke::Working(reason) } else { Revoke::None };
            Ok(Some(BotWrite { set, values, revoke, after: change.applied_to(current) }))
        })
        .await
    }
}

impl KeyStore for DynamoStore {
    async fn create_key_by(
        &self,
        new: &NewKey,
        max_active: u32,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = &new.key;
        for attempt in 0..MAX_ATTEMPTS {
            backoff(attempt).await;
            let bot = self.live_bot(&key.team_id, key.bot_id).await?;
            check_ceiling(bot.scopes.as_ref(), &key.scopes)?;
            let keys = self.all_keys(key.bot_id).await?;
            check_cap(keys.iter().map(|record| &record.key), max_active, now, None)?;
            self.race_point(RacePoint::Create).await;
            let claim = Update::builder()
                .table_name(&self.table)
                .set_key(Some(ItemKey::bot(&key.team_id, key.bot_id).into_item()))
                .update_expression("ADD key_version :one")
                .condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(deleted_at) AND key_version = :seen",
                )
                .expression_attribute_values(":one", number(1))
                .expression_attribute_values(":seen", number(bot.key_version))
                .build()
                .map_err(built)?;
            let entry = Entry::key_created(&BotUser::from(bot), key, origin);
            match self
                .transact(vec![update_item(claim), self.put_new_key(new)?, self.put_entry(&entry)?])
                .await?
            {
                Ok(()) => return Ok(()),
                // Lost a race on the bot user item: count again (and notice a deletion).
                Err(reasons) => Cancelled::retry_or_fail(&reasons, Some(1), "create key")?,
            }
        }
        Err(StoreError::Contention)
    }

    async fn get_key(&self, team: &TeamId, bot: BotId, key: KeyId) -> Result<ApiKey, StoreError> {
        let (_, record) = tokio::try_join!(self.live_bot(team, bot), self.key_record(bot, key))?;
        record.map(|record| record.key).filter(|key| &key.team_id == team).ok_or(StoreError::KeyNotFound)
    }

    async fn list_keys(
        &self,
        team: &TeamId,
        bot: BotId,
        after: Option<KeyId>,
        limit: usize,
    ) -> Result<Page<ApiKey>, StoreError> {
        self.live_bot(team, bot).await?;
        let pk = bot_partition(bot);
        let wanted = limit.saturating_add(1);
        let mut after = after.map(|id| format!("{KEY_PREFIX}{id}"));
        let mut keys = Vec::with_capacity(wanted.min(101));
        // A query page ends at `Limit` items or at 1 MB, whichever comes first: follow
        // `LastEvaluatedKey` until one item past the page proves there is more, or the end.
        loop {
            let page_size = i32::try_from(wanted - keys.len()).unwrap_or(i32::MAX);
            let (items, next) =
                self.query_page::<KeyItem>(&pk, SortKeys::Prefix(KEY_PREFIX), after, Some(page_size)).await?;
            keys.extend(items.into_iter().map(|item| KeyRecord::from(item).key));
            match next {
                Some(sk) if keys.len() < wanted => after = Some(sk),
                _ => return Ok(Page::from_overfetch(keys, limit)),
            }
        }
    }

    async fn revoke_key_by(
        &self,
        team: &TeamId,
        bot: BotId,
        key: KeyId,
        revocation: &Revocation,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, StoreError> {
        let by = &revocation.origin.actor;
        let reason = revocation.reason.as_ref().map(|reason| reason.as_str().to_owned());
        for attempt in 0..MAX_ATTEMPTS {
            backoff(attempt).await;
            // A deleted bot user's keys are all refused already; its deletion revoked the
            // working ones, and the rest (revoked or expired) must stay as the deletion left them.
            let (bot_item, found) = tokio::try_join!(self.live_bot(team, bot), self.key_record(bot, key))?;
            let current = match revocable(found.clone(), team)? {
                Revocable::AlreadyRevoked(key) => return Ok(*key),
                Revocable::Yes => found.ok_or(StoreError::KeyNotFound)?.key,
            };
            self.race_point(RacePoint::Revoke).await;
            let update = self.key_revocation(team, bot, key, by, reason.as_deref(), now)?;
            let entry = Entry::key_revoked(&BotUser::from(bot_item), &current, revocation, now);
            match self.transact(vec![update_item(update), self.put_entry(&entry)?]).await? {
                Ok(()) => {
                    let mut revoked = current;
                    revoked.revoked_at = Some(now);
                    revoked.revoked_by = Some(by.clone());
                    revoked.revoked_reason = reason;
                    return Ok(revoked);
                }
                // Revoked meanwhile, or lost a race on the key: read again, decide again.
                Err(reasons) => Cancelled::retry_or_fail(&reasons, Some(1), "revoke key")?,
            }
        }
        Err(StoreError::Contention)
    }

    async fn rotate_key_by(
        &self,
        team: &TeamId,
        old: KeyId,
        replacement: &NewKey,
        deadline: DateTime<Utc>,
        max_active: u32,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<Rotation, StoreError> {
        let bot = replacement.key.bot_id;
        for attempt in 0..MAX_ATTEMPTS {
            backoff(attempt).await;
            let bot_item = self.live_bot(team, bot).await?;
            let keys = self.all_keys(bot).await?;
            let current = keys.iter().find(|record| record.key.id == old).cloned();
            rotatable(current, team, deadline, now)?;
            let retiring_now = (deadline <= now).then_some(old);
            check_cap(keys.iter().map(|record| &record.key), max_active, now, retiring_now)?;
            self.race_point(RacePoint::Rotate).await;
            let claim = Update::builder()
                .table_name(&self.table)
                .set_key(Some(ItemKey::bot(team, bot).into_item()))
                .update_expression("ADD key_version :one")
                .condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(deleted_at) AND key_version = :seen",
                )
                .expression_attribute_values(":one", number(1))
                .expression_attribute_values(":seen", number(bot_item.key_version))
                .build()
                .map_err(built)?;
            let retire_old = Update::builder()
                .table_name(&self.table)
                .set_key(Some(ItemKey::key(bot, old).into_item()))
                // A rotated-out key leaves the expiry index: its deadline is the grace period's.
                .update_expression(
                    "SET expires_at = :deadline, replaced_by = :new, #ttl = :ttl REMOVE expiry_bucket",
                )
                .condition_expression(
                    "attribute_exists(pk) AND team_id = :team AND attribute_not_exists(revoked_at) \
                     AND attribute_not_exists(replaced_by) AND attribute_not_exists(bot_deleted_at) \
                     AND expires_at > :now AND expires_at >= :deadline",
                )
                .expression_attribute_names("#ttl", table::TTL_ATTRIBUTE)
                .expression_attribute_values(":deadline", time_value(deadline))
                .expression_attribute_values(":new", AttributeValue::S(replacement.key.id.to_string()))
                .expression_attribute_values(":ttl", number(self.purge_at(deadline)))
                .expression_attribute_values(":team", AttributeValue::S(team.to_string()))
                .expression_attribute_values(":now", time_value(now))
                .build()
                .map_err(built)?;
            let put = self.put_new_key(replacement)?;
            let old_key =
                &keys.iter().find(|record| record.key.id == old).ok_or(StoreError::KeyNotFound)?.key;
            let entry =
                Entry::key_rotated(&BotUser::from(bot_item.clone()), old_key, &replacement.key, origin);
            let actions = vec![update_item(claim), update_item(retire_old), put, self.put_entry(&entry)?];
            match self.transact(actions).await? {
                Ok(()) => {
                    let old = old_key.rotated_out(replacement.key.id, deadline);
                    return Ok(Rotation { old, new: replacement.key.clone() });
                }
                // Lost a race on the bot user or the old key: read again, decide again.
                Err(reasons) => Cancelled::retry_or_fail(&reasons, Some(2), "rotate key")?,
            }
        }
        Err(StoreError::Contention)
    }

    async fn list_team_keys(
        &self,
        team: &TeamId,
        query: &super::KeyQuery,
        before: Option<KeyId>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<super::KeyListing, StoreError> {
        self.team_keys(team, query, before, limit, now).await
    }
}

impl CredentialStore for DynamoStore {
    async fn credential(&self, bot: BotId, key: KeyId) -> Result<Option<Credential>, StoreError> {
        let item: Option<CredentialItem> =
            self.get(ItemKey::key(bot, key), Some(credential_projection())).await?;
        Ok(item.map(Credential::from))
    }

    async fn record_use(&self, bot: BotId, key: KeyId, used: &KeyUse) -> Result<bool, StoreError> {
        // One attempt: the caller's budget is smaller than a retry's backoff would need.
        let one_attempt = aws_sdk_dynamodb::config::Builder::new()
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled());
        match self.last_used_update(bot, key, used).customize().config_override(one_attempt).send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(sdk(other)),
            },
        }
    }
}

/// Spreads retries after a lost race: nothing before the first attempt, then a few
/// milliseconds, growing, with jitter so racing writers do not collide again in step.
async fn backoff(attempt: u32) {
    if attempt > 0 {
        let mut jitter = [0u8; 1];
        let _ = getrandom::fill(&mut jitter);
        let millis = u64::from(attempt) * 5 + u64::from(jitter[0] % 10);
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
}

/// Which items of a partition a query reads, in which order.
#[derive(Clone, Copy)]
pub(super) enum SortKeys<'a> {
    /// Those whose sort key starts with this, lowest first.
    Prefix(&'a str),
    /// Those whose sort key lies between these two (both included), highest first.
    NewestBetween(&'a str, &'a str),
}

/// A query's items, decoded, and the sort key of the last one read if DynamoDB says there is
/// more.
fn page_of<T: DeserializeOwned>(output: QueryOutput) -> Result<(Vec<T>, Option<String>), StoreError> {
    let next = match output.last_evaluated_key {
        Some(mut last) => match last.remove(table::SORT_KEY) {
            Some(AttributeValue::S(sk)) => Some(sk),
            _ => return Err(StoreError::unavailable("a query's LastEvaluatedKey has no sort key")),
        },
        None => None,
    };
    let items = output.items.unwrap_or_default().into_iter().map(decode).collect::<Result<_, _>>()?;
    Ok((items, next))
}

#[cfg(test)]
mod tests {
    //! The writes whose IAM policies list the attributes they may touch (`dynamodb:Attributes`
    //! counts the key and every attribute the update and its condition name), read as they are
    //! sent: a write naming one more attribute than its list would be refused in AWS on every
    //! call, and moto checks no IAM, so only these tests would notice.

    use std::collections::{BTreeSet, HashMap};

    use aws_sdk_dynamodb::config::{BehaviorVersion, Region};

    use super::*;
    use crate::model::SourceIp;

    /// The top-level attributes an expression names, `#placeholders` resolved through `names`.
    fn attributes_named(expression: &str, names: Option<&HashMap<String, String>>) -> BTreeSet<String> {
        const WORDS: [&str; 17] = [
            "SET",
            "REMOVE",
            "ADD",
            "DELETE",
            "AND",
            "OR",
            "NOT",
            "BETWEEN",
            "IN",
            "attribute_exists",
            "attribute_not_exists",
            "attribute_type",
            "begins_with",
            "contains",
            "size",
            "if_not_exists",
            "list_append",
        ];
        expression
            .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '#' | ':' | '.' | '[' | ']')))
            .filter(|token| !token.is_empty() && !token.starts_with(':'))
            .map(|path| path.split(['.', '[']).next().unwrap_or(path))
            .filter(|token| !WORDS.iter().any(|word| word.eq_ignore_ascii_case(token)))
            .map(|token| {
                if !token.starts_with('#') {
                    return token.to_owned();
                }
                let name = names.and_then(|names| names.get(token));
                name.unwrap_or_else(|| panic!("{token} is not bound in {expression}")).clone()
            })
            .collect()
    }

    /// A store whose client is never sent anything: these tests only build requests.
    fn offline_store() -> DynamoStore {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build();
        DynamoStore::new(Client::from_conf(config), "keys", Duration::from_secs(86_400))
    }

    fn listed(attributes: &[&str]) -> BTreeSet<String> {
        attributes.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn the_attribute_reader_finds_paths_placeholders_and_conditions() {
        let names = HashMap::from([("#t".to_owned(), "ttl".to_owned())]);
        assert_eq!(
            attributes_named("SET a = :x, #t = :y REMOVE b.c[0] ADD n :one", Some(&names)),
            listed(&["a", "ttl", "b", "n"])
        );
        assert_eq!(
            attributes_named("attribute_exists(pk) AND (attribute_not_exists(x) OR x < :y)", None),
            listed(&["pk", "x"])
        );
    }

    #[test]
    fn the_last_used_write_names_exactly_its_listed_attributes_and_returns_nothing() {
        let store = offline_store();
        let now = Utc::now();
        let (bot, key) = (BotId::generate(now), KeyId::generate(now));
        let mut named = BTreeSet::new();
        for ip in [SourceIp::parse("203.0.113.7"), None] {
            let used = KeyUse { at: now, ip, window: Duration::from_secs(900) };
            let update = store.last_used_update(bot, key, &used);
            let names = update.get_expression_attribute_names().as_ref();
            named.extend(update.get_key().as_ref().expect("a key").keys().cloned());
            named.extend(attributes_named(
                update.get_update_expression().as_deref().expect("an update"),
                names,
            ));
            named.extend(attributes_named(
                update.get_condition_expression().as_deref().expect("a condition"),
                names,
            ));
            assert_eq!(update.get_return_values(), &Some(ReturnValue::None), "{ip:?}");
        }
        assert_eq!(named, listed(&items::LAST_USED_ATTRIBUTES));
    }

    #[test]
    fn a_key_revocation_names_exactly_its_listed_attributes_and_asks_for_nothing_back() {
        let store = offline_store();
        let now = Utc::now();
        let team = TeamId::parse("team-a").unwrap();
        let by = Subject::parse("owner-1").unwrap();
        let mut named = BTreeSet::new();
        for reason in [Some("found in public"), None] {
            let update = store
                .key_revocation(&team, BotId::generate(now), KeyId::generate(now), &by, reason, now)
                .unwrap();
            let names = update.expression_attribute_names();
            named.extend(update.key().keys().cloned());
            named.extend(attributes_named(update.update_expression(), names));
            named.extend(attributes_named(update.condition_expression().expect("a condition"), names));
            assert!(update.return_values_on_condition_check_failure().is_none(), "{reason:?}");
        }
        assert_eq!(named, listed(&items::KEY_REVOCATION_ATTRIBUTES));
    }
}
