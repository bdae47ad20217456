//! The table's definition: the one place the code creates tables from, and what
//! `infra/template.yaml` is checked against (`tests/`), so the two cannot drift.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::wire::{built, sdk};
use crate::store::StoreError;

pub const PARTITION_KEY: &str = "pk";
pub const SORT_KEY: &str = "sk";
/// Both keys are strings.
pub const KEY_TYPE: &str = "S";
pub const TTL_ATTRIBUTE: &str = "ttl";
/// Global secondary indexes: none. Every read is on the table itself and can be strongly
/// consistent; an index could miss a key written a moment ago.
pub const GLOBAL_SECONDARY_INDEXES: &[&str] = &[];

/// Creates the table with on-demand capacity and TTL on, as the SAM template declares it.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let attribute = |name: &str| {
        AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
    };
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
