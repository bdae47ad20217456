//! Crossing to the SDK: items to attribute maps and back, plain values, why a transaction was
//! cancelled, and SDK errors as the store's one unexpected error.

use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::items::Item;
use crate::store::StoreError;

/// Why one action of a cancelled transaction did not happen (DynamoDB's cancellation codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cancelled {
    /// This action was fine; another one cancelled the transaction.
    NotThis,
    ConditionFailed,
    /// Another write to the same item was in flight.
    Conflict,
    Other(String),
}

impl Cancelled {
    pub(super) fn of(reason: &CancellationReason) -> Self {
        match reason.code() {
            None | Some("None") => Self::NotThis,
            Some("ConditionalCheckFailed") => Self::ConditionFailed,
            Some("TransactionConflict") => Self::Conflict,
            Some(other) => Self::Other(other.to_owned()),
        }
    }

    /// A lost race: worth reading again and retrying.
    pub(super) fn is_race(&self) -> bool {
        matches!(self, Self::ConditionFailed | Self::Conflict)
    }

    /// What a cancelled transaction means: `Ok` to read again and retry (a race was lost),
    /// else the answer. `put_at` is the position of the action that put a new key, whose
    /// failed condition means the new id is taken.
    pub(super) fn retry_or_fail(
        reasons: &[Self],
        put_at: Option<usize>,
        what: &str,
    ) -> Result<(), StoreError> {
        if put_at.and_then(|at| reasons.get(at)) == Some(&Self::ConditionFailed) {
            return Err(StoreError::Contention);
        }
        if reasons.iter().any(Self::is_race) {
            return Ok(());
        }
        Err(StoreError::unavailable(format!("{what} cancelled: {reasons:?}")))
    }
}

pub(super) fn encode<T: Serialize>(item: T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(item).map_err(StoreError::unavailable)
}

/// A stored item as its struct; a missing or mistyped attribute is an error, never a default.
/// The error names the attribute, never its value (which could be a digest).
pub(super) fn decode<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    let item = serde_dynamo::AttributeValue::from(AttributeValue::M(item));
    serde_path_to_error::deserialize(serde_dynamo::Deserializer::from_attribute_value(item)).map_err(|e| {
        StoreError::unavailable(format!("stored item has a missing or invalid {:?}", e.path().to_string()))
    })
}

pub(super) fn update_item(update: Update) -> TransactWriteItem {
    TransactWriteItem::builder().update(update).build()
}

pub(super) fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn time_value(at: DateTime<Utc>) -> AttributeValue {
    number(at.timestamp_millis())
}

pub(super) fn sdk<E: std::error::Error + Send + Sync + 'static>(error: E) -> StoreError {
    StoreError::unavailable(DisplayErrorContext(&error).to_string())
}

pub(super) fn built(error: BuildError) -> StoreError {
    StoreError::unavailable(error)
}
