//! The table's definition: the one place the code creates tables from, and what
//! `infra/template.yaml` is checked against (`tests/`), so the two cannot drift.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::wire::{built, sdk};
use crate::store::StoreError;

pub const PARTITION_KEY: &str = "pk";
pub const SORT_KEY: &str = "sk";
/// Both keys are strings.
pub const KEY_TYPE: &str = "S";
pub const TTL_ATTRIBUTE: &str = "ttl";
/// Global secondary indexes: the expiry index only. Every read on a request path is on the
/// table itself and strongly consistent (an index could miss a key written a moment ago); the
/// notifier's hourly search tolerates that lag, and re-checks each key with a conditional write.
pub const GLOBAL_SECONDARY_INDEXES: &[&str] = &[EXPIRY_INDEX];

/// The sparse index of keys that may still need an expiry warning: partition `expiry_bucket`
/// (the UTC day the key expires, written on create, removed on revocation, rotation and the
/// last warning), sort `expires_at`. Only key items carry the bucket, so nothing else is in it.
pub const EXPIRY_INDEX: &str = "expiry";
pub const EXPIRY_BUCKET_ATTRIBUTE: &str = "expiry_bucket";
pub const EXPIRY_SORT_ATTRIBUTE: &str = "expires_at";
/// `expiry_bucket` is a string, `expires_at` a number (epoch milliseconds).
pub const EXPIRY_BUCKET_TYPE: &str = "S";
pub const EXPIRY_SORT_TYPE: &str = "N";
/// What the notifier's `UpdateItem`s on key items (claim, mark, release) set, remove or check:
/// its IAM policy allows exactly these (`store::dynamodb::expiry` writes them).
pub const NOTIFIER_UPDATE_ATTRIBUTES: &[&str] = &[
    PARTITION_KEY,
    SORT_KEY,
    "expires_at",
    "revoked_at",
    "replaced_by",
    "bot_deleted_at",
    EXPIRY_BUCKET_ATTRIBUTE,
    "warned_7d_at",
    "warned_1d_at",
    "warn_claim",
    "warn_claim_until",
];

/// Creates the table with on-demand capacity and TTL on, as the SAM template declares it.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let typed =
        |name: &str, kind| AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build();
    let attribute = |name: &str| typed(name, ScalarAttributeType::S);
    let key =
        |name: &str, key_type| KeySchemaElement::builder().attribute_name(name).key_type(key_type).build();
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(PARTITION_KEY).map_err(built)?)
        .attribute_definitions(attribute(SORT_KEY).map_err(built)?)
        .key_schema(key(PARTITION_KEY, KeyType::Hash).map_err(built)?)
        .key_schema(key(SORT_KEY, KeyType::Range).map_err(built)?)
        .attribute_definitions(attribute(EXPIRY_BUCKET_ATTRIBUTE).map_err(built)?)
        .attribute_definitions(typed(EXPIRY_SORT_ATTRIBUTE, ScalarAttributeType::N).map_err(built)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(EXPIRY_INDEX)
                .key_schema(key(EXPIRY_BUCKET_ATTRIBUTE, KeyType::Hash).map_err(built)?)
                .key_schema(key(EXPIRY_SORT_ATTRIBUTE, KeyType::Range).map_err(built)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .set_non_key_attributes(Some(
                            super::items::expiry_index_attributes().iter().map(|a| (*a).to_owned()).collect(),
                        ))
                        .build(),
                )
                .build()
                .map_err(built)?,
        )
        .send()
        .await
        .map_err(sdk)?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build()
                .map_err(built)?,
        )
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// Whether a table exists (for the local runner's "create if missing").
pub async fn table_exists(client: &Client, name: &str) -> Result<bool, StoreError> {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(false),
        Err(e) => Err(sdk(e)),
    }
}
