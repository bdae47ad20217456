//! Expiry warnings on DynamoDB: the due keys from the sparse expiry index, never a Scan, and
//! the claim and marker writes on key items, each one conditional `UpdateItem`.
//!
//! A run reads eight index partitions (today's bucket and the next seven days'), each a Query
//! on `expiry_bucket = day AND expires_at BETWEEN now AND now + 7 d`: its cost follows the
//! keys expiring that week, not the table's size. Only the backfill, an operator's one-off
//! command, scans.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeDelta, Utc};

use super::items::{BOT_PREFIX, ExpiringItem, ItemKey, KEY_PREFIX};
use super::wire::{decode, sdk, time_value};
use super::{DynamoStore, table};
use crate::expiry::{self, ExpiringKey, Warning};
use crate::store::{ExpiryStore, StoreError};

/// What makes a key worth a warning at all, re-checked by every write here.
const STILL_WORKING: &str = "attribute_exists(pk) AND attribute_not_exists(revoked_at) \
     AND attribute_not_exists(replaced_by) AND attribute_not_exists(bot_deleted_at) \
     AND attribute_not_exists(warned_1d_at) AND expires_at > :now";

impl DynamoStore {
    /// A conditional update of one key item: `Ok(false)` when its condition fails.
    async fn update_key_if(
        &self,
        key: &ExpiringKey,
        update: String,
        condition: String,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ItemKey::key(key.bot_id, key.id).into_item()))
            .update_expression(update)
            .condition_expression(condition);
        for (placeholder, name) in names {
            request = request.expression_attribute_names(*placeholder, *name);
        }
        for (placeholder, value) in values {
            request = request.expression_attribute_values(placeholder, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(sdk(other)),
            },
        }
    }
}

impl ExpiryStore for DynamoStore {
    async fn expiring_keys(
        &self,
        now: DateTime<Utc>,
        horizon: TimeDelta,
    ) -> Result<Vec<ExpiringKey>, StoreError> {
        let until = now.checked_add_signed(horizon).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut keys = Vec::new();
        for bucket in expiry::buckets(now, horizon) {
            let mut start = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(table::EXPIRY_INDEX)
                    .key_condition_expression("#bucket = :bucket AND #expires BETWEEN :from AND :until")
                    .expression_attribute_names("#bucket", table::EXPIRY_BUCKET_ATTRIBUTE)
                    .expression_attribute_names("#expires", table::EXPIRY_SORT_ATTRIBUTE)
                    .expression_attribute_values(":bucket", AttributeValue::S(bucket.clone()))
                    // `expires_at > now`: a key expiring at this very millisecond is expired.
                    .expression_attribute_values(":from", time_value(now + TimeDelta::milliseconds(1)))
                    .expression_attribute_values(":until", time_value(until))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(sdk)?;
                for item in output.items.unwrap_or_default() {
                    let key = ExpiringKey::from(decode::<ExpiringItem>(item)?);
                    // The index lags writes: a key revoked a moment ago may still be in it.
                    if key.revoked_at.is_none() && key.replaced_by.is_none() && key.warned_1d_at.is_none() {
                        keys.push(key);
                    }
                }
                match output.last_evaluated_key {
                    Some(last) => start = Some(last),
                    None => break,
                }
            }
        }
        Ok(keys)
    }

    async fn claim_warning(
        &self,
        key: &ExpiringKey,
        warning: Warning,
        claim: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.update_key_if(
            key,
            "SET warn_claim = :claim, warn_claim_until = :until".into(),
            format!(
                "{STILL_WORKING} AND attribute_not_exists(#marker) \
                 AND (attribute_not_exists(warn_claim_until) OR warn_claim_until < :now)"
            ),
            &[("#marker", warning.marker())],
            vec![
                (":claim", AttributeValue::S(claim.to_owned())),
                (":until", time_value(until)),
                (":now", time_value(now)),
            ],
        )
        .await
    }

    async fn mark_warned(
        &self,
        key: &ExpiringKey,
        warning: Warning,
        claim: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // The 1-day warning is the last: the key leaves the index with it.
        let leave = if warning == Warning::OneDay { ", expiry_bucket" } else { "" };
        self.update_key_if(
            key,
            format!("SET #marker = :now REMOVE warn_claim, warn_claim_until{leave}"),
            "attribute_exists(pk) AND warn_claim = :claim".into(),
            &[("#marker", warning.marker())],
            vec![(":claim", AttributeValue::S(claim.to_owned())), (":now", time_value(now))],
        )
        .await
    }

    async fn release_warning(&self, key: &ExpiringKey, claim: &str) -> Result<(), StoreError> {
        self.update_key_if(
            key,
            "REMOVE warn_claim, warn_claim_until".into(),
            "attribute_exists(pk) AND warn_claim = :claim".into(),
            &[],
            vec![(":claim", AttributeValue::S(claim.to_owned()))],
        )
        .await
        .map(drop)
    }

    async fn backfill_expiry_index(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let wanted = format!(
            "begins_with(pk, :bot) AND begins_with(sk, :key) AND attribute_not_exists(#bucket) AND {STILL_WORKING}"
        );
        let mut indexed = 0;
        let mut start = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(&wanted)
                .projection_expression("pk, sk, expires_at")
                .expression_attribute_names("#bucket", table::EXPIRY_BUCKET_ATTRIBUTE)
                .expression_attribute_values(":bot", AttributeValue::S(BOT_PREFIX.to_owned()))
                .expression_attribute_values(":key", AttributeValue::S(KEY_PREFIX.to_owned()))
                .expression_attribute_values(":now", time_value(now))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk)?;
            for mut item in output.items.unwrap_or_default() {
                let Some(AttributeValue::N(expires)) = item.remove(table::EXPIRY_SORT_ATTRIBUTE) else {
                    return Err(StoreError::unavailable("a key item without expires_at"));
                };
                let expires_at = expires
                    .parse()
                    .ok()
                    .and_then(DateTime::from_timestamp_millis)
                    .ok_or_else(|| StoreError::unavailable("a key item with an invalid expires_at"))?;
                let key: std::collections::HashMap<_, _> = item
                    .into_iter()
                    .filter(|(name, _)| name == table::PARTITION_KEY || name == table::SORT_KEY)
                    .collect();
                // The same test as the scan's filter, now on the item as it is: a key revoked
                // or rotated since is left out of the index.
                let written = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression("SET #bucket = :bucket")
                    .condition_expression(format!("attribute_not_exists(#bucket) AND {STILL_WORKING}"))
                    .expression_attribute_names("#bucket", table::EXPIRY_BUCKET_ATTRIBUTE)
                    .expression_attribute_values(":bucket", AttributeValue::S(expiry::bucket(expires_at)))
                    .expression_attribute_values(":now", time_value(now))
                    .send()
                    .await;
                match written {
                    Ok(_) => indexed += 1,
                    Err(e) => match e.into_service_error() {
                        UpdateItemError::ConditionalCheckFailedException(_) => {}
                        other => return Err(sdk(other)),
                    },
                }
            }
            match output.last_evaluated_key {
                Some(last) => start = Some(last),
                None => return Ok(indexed),
            }
        }
    }
}
