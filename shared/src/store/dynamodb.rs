//! The product store: one DynamoDB table, and the only module that knows the AWS SDK.
//!
//! # Item layout
//!
//! | item     | `pk`             | `sk`           | attributes                                                                                                              | `ttl` (epoch s)                    |
//! |----------|------------------|----------------|-------------------------------------------------------------------------------------------------------------------------|------------------------------------|
//! | bot user | `TEAM#<team_id>` | `BOT#<bot_id>` | `bot_id`, `team_id`, `name`, `created_at`, `created_by`, `key_version` (N); once deleted `deleted_at`, `deleted_by`      | `deleted_at` + retention, once deleted |
//! | API key  | `BOT#<bot_id>`   | `KEY#<key_id>` | `key_id`, `bot_id`, `team_id`, `name`, `hint`, `scopes` (SS), `secret_hash` (B), `created_at`, `created_by`, `expires_at`; `revoked_at`, `revoked_by`, `replaced_by`, `replaces`, `bot_deleted_at` when they apply | (`revoked_at` or else `expires_at`) + retention |
//!
//! Times are epoch milliseconds (N). There is no secondary index: every read is on the table
//! itself and can be strongly consistent.
//!
//! # Why this shape
//!
//! * **Verification is one `GetItem`.** The key's bot id and key id are both in the token, and
//!   together they are the key item's primary key.
//! * **A team only reaches its own bot users** because their items live in the team's
//!   partition; key items carry `team_id`, and every key operation checks it.
//! * **A bot user's keys are one partition**, read with a strongly consistent `Query`, so
//!   listing, counting and the deletion sweep see a key the moment it was written (an index
//!   would only be eventually consistent).
//! * **The bot user item serialises key changes.** Creating or rotating a key is a transaction
//!   that also updates the bot user item, on condition that it is not deleted (and, for a
//!   create, that `key_version` is still the one seen when the active keys were counted).
//!   Deleting a bot user updates the same item first. DynamoDB orders writes to one item, so
//!   either the create commits first, and the deletion's sweep (a strongly consistent query
//!   after the mark) finds and revokes the key, or the mark comes first and the create fails.
//!   Two creates counting at once cannot both pass the cap: the second one's `key_version`
//!   condition fails, and it counts again.
//! * **Revocation is one conditional `UpdateItem`** (`attribute_not_exists(revoked_at)`), so it
//!   happens once and can never be undone; its `ALL_OLD` return on a failed condition tells an
//!   idempotent repeat from a missing key without a second call.
//! * **TTL** purges keys a retention period after they expire or are revoked, and deleted bot
//!   users as long after deletion. DynamoDB deletes lazily, so reads never rely on it: status
//!   is always derived from `expires_at` and `revoked_at`.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, HttpClient, Region, RuntimeComponents, SharedHttpClient};
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
    Update,
};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpConnectorSettings, SharedHttpConnector};
use chrono::{DateTime, Utc};

use super::{BotStore, CredentialStore, KeyStore, Page, Rotation, StoreError, slots_held};
use crate::config::ConfigError;
use crate::ids::{BotId, KeyId};
use crate::model::{ApiKey, BotUser, Credential, Name, NewKey, Subject, TeamId};
use crate::scope::Scopes;
use crate::token::SecretHash;

/// The table's shape, the one definition the code creates tables from and the SAM template is
/// checked against.
pub mod table {
    pub const PARTITION_KEY: &str = "pk";
    pub const SORT_KEY: &str = "sk";
    /// Both keys are strings.
    pub const KEY_TYPE: &str = "S";
    pub const TTL_ATTRIBUTE: &str = "ttl";
    /// Global secondary indexes: none (see the module docs for why).
    pub const GLOBAL_SECONDARY_INDEXES: &[&str] = &[];
}

pub use aws_sdk_dynamodb::Client;

/// A client configured the standard SDK way: region, credentials and endpoint (including
/// `AWS_ENDPOINT_URL_DYNAMODB`) from the environment and the profile files, and the system's
/// root certificates.
pub async fn client_from_env() -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client(TrustStore::default()))
        .load()
        .await;
    Client::new(&config)
}

/// Time limits for every DynamoDB call, so a caller always gets an answer in bounded time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBudget {
    /// To open a connection (TCP + TLS).
    pub connect: Duration,
    /// For one attempt, from sending the request to reading the whole response.
    pub attempt: Duration,
    /// For the whole call, retries and back-off included.
    pub total: Duration,
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
}

impl CallBudget {
    /// The authorizer's budget. API Gateway gives an authorizer 10 s; this one answers (or
    /// fails) within 2.5 s whatever DynamoDB does. An in-region `GetItem` takes single-digit
    /// milliseconds and a new TLS connection tens, so 400 ms to connect and 700 ms per attempt
    /// leave ample room for a slow moment, and three attempts ride out a throttle or a dropped
    /// connection, while the total cap keeps the worst case far from API Gateway's limit.
    pub const AUTHORIZER: Self = Self {
        connect: Duration::from_millis(400),
        attempt: Duration::from_millis(700),
        total: Duration::from_millis(2_500),
        max_attempts: 3,
    };

    /// The management API's budget: more patient (a bot user's deletion makes many calls),
    /// still well inside API Gateway's 30 s integration timeout.
    pub const MANAGEMENT: Self = Self {
        connect: Duration::from_secs(1),
        attempt: Duration::from_secs(2),
        total: Duration::from_secs(5),
        max_attempts: 3,
    };

    fn timeouts(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.total)
            .build()
    }

    fn retries(self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(Duration::from_millis(20))
            .with_max_backoff(Duration::from_millis(200))
    }
}

/// A client for a Lambda function, within `budget`, configured from what Lambda puts in every
/// function's environment and nothing else, so it is ready in microseconds:
///
/// * region: `AWS_REGION` (or `AWS_DEFAULT_REGION`);
/// * credentials: the execution role's, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
///   `AWS_SESSION_TOKEN` (read by the SDK's own environment provider);
/// * endpoint: `AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`, else DynamoDB's regional
///   endpoint;
/// * trust: the roots of Amazon Trust Services, which every AWS endpoint's certificate chains
///   to, built in; with `SSL_CERT_FILE` set, that bundle instead.
///
/// Unlike [`client_from_env`] it builds no provider chain and reads no profile file (in
/// Lambda the chains settle on these same variables, after about 0.3 ms of setting up), and it
/// does not read the system's root certificates (2 ms or more). Its HTTP client is built by the
/// first request rather than at start-up. Figures: `bench/README.md`.
pub fn lambda_client(budget: CallBudget) -> Result<Client, ConfigError> {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).ok_or_else(|| ConfigError {
        name: "AWS_REGION",
        problem: "not set (Lambda always sets it)".into(),
    })?;
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        if var(name).is_none() {
            return Err(ConfigError { name, problem: "not set (Lambda always sets it)".into() });
        }
    }
    let trust = match var("SSL_CERT_FILE") {
        Some(_) => TrustStore::default(),
        None => TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS),
    };
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .http_client(OnFirstUse(https_client(trust)))
        .timeout_config(budget.timeouts())
        .retry_config(budget.retries());
    if let Some(endpoint) = var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| var("AWS_ENDPOINT_URL")) {
        config = config.endpoint_url(endpoint);
    }
    Ok(Client::from_conf(config.build()))
}

/// Amazon Root CA 1 to 4 and Starfield Services Root CA G2 (as in Mozilla's list): the roots
/// of every AWS service endpoint's certificate.
const AMAZON_TRUST_SERVICES_ROOTS: &[u8] = include_bytes!("amazon-trust-services-roots.pem");

/// The SDK's hyper client over rustls with *ring* rather than its default aws-lc: 2 MB smaller
/// and as quick, with the same TLS versions and cipher suites (the SDK restricts both), but
/// without aws-lc's post-quantum key exchange.
fn https_client(trust: TrustStore) -> SharedHttpClient {
    let tls =
        TlsContext::builder().with_trust_store(trust).build().expect("a TLS context with no custom names");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .tls_context(tls)
        .build_https()
}

/// An HTTP client that builds its connector (and its TLS configuration) when the first request
/// needs it. The SDK's own client builds one when the SDK client is created only to check it
/// can, throws it away, and builds the one it uses on the first request: twice the work, once
/// at start-up.
#[derive(Debug)]
struct OnFirstUse(SharedHttpClient);

impl HttpClient for OnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// How often a key change retries after losing a race on the bot user item.
const MAX_ATTEMPTS: u32 = 8;

type Item = HashMap<String, AttributeValue>;

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
        .attribute_definitions(attribute(table::PARTITION_KEY).map_err(built)?)
        .attribute_definitions(attribute(table::SORT_KEY).map_err(built)?)
        .key_schema(key(table::PARTITION_KEY, KeyType::Hash).map_err(built)?)
        .key_schema(key(table::SORT_KEY, KeyType::Range).map_err(built)?)
        .send()
        .await
        .map_err(sdk)?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(table::TTL_ATTRIBUTE)
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

/// The DynamoDB implementation of [`super::Store`].
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: Duration,
}

impl DynamoStore {
    /// `retention` is how long expired or revoked keys and deleted bot users stay readable
    /// before the table's TTL purges them.
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        Self { client, table: table.into(), retention }
    }

    fn purge_at(&self, from: DateTime<Utc>) -> AttributeValue {
        let seconds =
            from.timestamp().saturating_add(i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX));
        AttributeValue::N(seconds.to_string())
    }

    async fn get(
        &self,
        (pk, sk): (String, String),
        projection: Option<&str>,
    ) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(table::PARTITION_KEY, AttributeValue::S(pk))
            .key(table::SORT_KEY, AttributeValue::S(sk))
            .consistent_read(true)
            .set_projection_expression(projection.map(str::to_owned))
            .send()
            .await
            .map_err(sdk)?;
        Ok(output.item)
    }

    async fn bot_item(&self, team: &TeamId, bot: BotId) -> Result<BotUser, StoreError> {
        let item = self.get(bot_key(team, bot), None).await?.ok_or(StoreError::BotNotFound)?;
        parse_bot(&item)
    }

    /// The bot user, if it exists in `team` and is not deleted.
    async fn live_bot(&self, team: &TeamId, bot: BotId) -> Result<(BotUser, Item), StoreError> {
        let item = self.get(bot_key(team, bot), None).await?.ok_or(StoreError::BotNotFound)?;
        let parsed = parse_bot(&item)?;
        if parsed.deleted_at.is_some() {
            return Err(StoreError::BotDeleted);
        }
        Ok((parsed, item))
    }

    /// One page of items in a partition, strongly consistent, starting after `after` (an `sk`).
    async fn query_page(
        &self,
        pk: &str,
        sk_prefix: &str,
        after: Option<String>,
        limit: Option<i32>,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let start = after.map(|sk| {
            HashMap::from([
                (table::PARTITION_KEY.to_owned(), AttributeValue::S(pk.to_owned())),
                (table::SORT_KEY.to_owned(), AttributeValue::S(sk)),
            ])
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
            .set_exclusive_start_key(start)
            .set_limit(limit)
            .send()
            .await
            .map_err(sdk)?;
        let more = output.last_evaluated_key.is_some();
        Ok((output.items.unwrap_or_default(), more))
    }

    /// Every key of a bot user, strongly consistent, following pages to the end.
    async fn all_keys(&self, bot: BotId) -> Result<Vec<Item>, StoreError> {
        let pk = bot_pk(bot);
        let mut items = Vec::new();
        let mut after = None;
        loop {
            let (page, more) = self.query_page(&pk, "KEY#", after, None).await?;
            after = page.last().map(|item| item_str(item, table::SORT_KEY).map(str::to_owned)).transpose()?;
            items.extend(page);
            if !more || after.is_none() {
                return Ok(items);
            }
        }
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<Option<String>>>, StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Ok(())),
            Err(e) => match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => Ok(Err(cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|reason| reason.code().map(str::to_owned))
                    .collect())),
                other => Err(sdk(other)),
            },
        }
    }

    /// Revokes (or, if already revoked, just marks) one key during a bot user's deletion.
    async fn sweep_key(&self, item: &Item, by: &Subject, now: DateTime<Utc>) -> Result<(), StoreError> {
        let key = parse_key(item)?;
        let key_ref = key_key(key.bot_id, key.id);
        if key.revoked_at.is_none() {
            let revoked = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(primary_key(key_ref.clone())))
                .update_expression(
                    "SET revoked_at = :now, revoked_by = :by, bot_deleted_at = :now, #ttl = :ttl",
                )
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
                .expression_attribute_names("#ttl", table::TTL_ATTRIBUTE)
                .expression_attribute_values(":now", time_value(now))
                .expression_attribute_values(":by", AttributeValue::S(by.as_str().to_owned()))
                .expression_attribute_values(":ttl", self.purge_at(now))
                .send()
                .await;
            match revoked {
                Ok(_) => return Ok(()),
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(sdk(e)),
            }
        }
        // Already revoked (before, or just now by someone else): only record the deletion.
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(key_ref)))
            .update_expression("SET bot_deleted_at = if_not_exists(bot_deleted_at, :now)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", time_value(now))
            .send()
            .await;
        match marked {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()), // purged by TTL meanwhile
            Err(e) => Err(sdk(e)),
        }
    }
}

impl BotStore for DynamoStore {
    async fn create_bot(&self, bot: &BotUser) -> Result<(), StoreError> {
        let mut item = primary_key(bot_key(&bot.team_id, bot.id));
        item.insert("bot_id".into(), AttributeValue::S(bot.id.to_string()));
        item.insert("team_id".into(), AttributeValue::S(bot.team_id.to_string()));
        item.insert("name".into(), AttributeValue::S(bot.name.as_str().to_owned()));
        item.insert("created_at".into(), time_value(bot.created_at));
        item.insert("created_by".into(), AttributeValue::S(bot.created_by.to_string()));
        item.insert("key_version".into(), AttributeValue::N("0".into()));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(StoreError::Contention)
            }
            Err(e) => Err(sdk(e)),
        }
    }

    async fn get_bot(&self, team: &TeamId, bot: BotId) -> Result<BotUser, StoreError> {
        self.bot_item(team, bot).await
    }

    async fn list_bots(
        &self,
        team: &TeamId,
        after: Option<BotId>,
        limit: usize,
    ) -> Result<Page<BotUser>, StoreError> {
        let pk = team_pk(team);
        let mut after = after.map(|id| format!("BOT#{id}"));
        let mut items = Vec::new();
        // Deleted bot users stay as tombstones until their TTL; skip them, and keep reading
        // until the page is full and one more live bot user proves there is a next page.
        loop {
            let (page, more) = self.query_page(&pk, "BOT#", after.clone(), Some(100)).await?;
            for item in &page {
                let bot = parse_bot(item)?;
                if bot.deleted_at.is_none() {
                    if items.len() == limit {
                        return Ok(Page { items, more: true });
                    }
                    items.push(bot);
                }
            }
            match page.last() {
                Some(last) if more => after = Some(item_str(last, table::SORT_KEY)?.to_owned()),
                _ => return Ok(Page { items, more: false }),
            }
        }
    }

    async fn delete_bot(
        &self,
        team: &TeamId,
        bot: BotId,
        by: &Subject,
        now: DateTime<Utc>,
    ) -> Result<BotUser, StoreError> {
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(bot_key(team, bot))))
            .update_expression(
                "SET deleted_at = if_not_exists(deleted_at, :now), deleted_by = if_not_exists(deleted_by, :by), \
                 #ttl = if_not_exists(#ttl, :ttl) ADD key_version :one",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#ttl", table::TTL_ATTRIBUTE)
            .expression_attribute_values(":now", time_value(now))
            .expression_attribute_values(":by", AttributeValue::S(by.to_string()))
            .expression_attribute_values(":ttl", self.purge_at(now))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let deleted = match marked {
            Ok(output) => parse_bot(&output.attributes.unwrap_or_default())?,
            Err(e) if is_condition_failure(&e) => return Err(StoreError::BotNotFound),
            Err(e) => return Err(sdk(e)),
        };
        // From here on no key can be created or rotated for this bot user; sweep what exists.
        for item in self.all_keys(bot).await? {
            if !item.contains_key("bot_deleted_at") {
                self.sweep_key(&item, by, now).await?;
            }
        }
        Ok(deleted)
    }
}

impl KeyStore for DynamoStore {
    async fn create_key(&self, new: &NewKey, max_active: u32, now: DateTime<Utc>) -> Result<(), StoreError> {
        let key = &new.key;
        for attempt in 0..MAX_ATTEMPTS {
            backoff(attempt).await;
            let (_, bot_item) = self.live_bot(&key.team_id, key.bot_id).await?;
            let version = item_str_n(&bot_item, "key_version")?.to_owned();
            let keys =
                self.all_keys(key.bot_id).await?.iter().map(parse_key).collect::<Result<Vec<_>, _>>()?;
            if slots_held(&keys, now) >= max_active as usize {
                return Err(StoreError::ActiveKeyLimit { limit: max_active });
            }
            let claim = Update::builder()
                .table_name(&self.table)
                .set_key(Some(primary_key(bot_key(&key.team_id, key.bot_id))))
                .update_expression("ADD key_version :one")
                .condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(deleted_at) AND key_version = :seen",
                )
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":seen", AttributeValue::N(version))
                .build()
                .map_err(built)?;
            let put = self.put_new_key(new)?;
            match self.transact(vec![update_item(claim), put]).await? {
                Ok(()) => return Ok(()),
                Err(reasons) if is_failed(reasons.get(1)) => return Err(StoreError::Contention),
                // Lost a race on the bot user item: count again (and notice a deletion).
                Err(reasons) if reasons.iter().any(retryable) => continue,
                Err(reasons) => {
                    return Err(StoreError::unavailable(format!("create key cancelled: {reasons:?}")));
                }
            }
        }
        Err(StoreError::Contention)
    }

    async fn get_key(&self, team: &TeamId, bot: BotId, key: KeyId) -> Result<ApiKey, StoreError> {
        let (bot_user, key_item) =
            tokio::try_join!(self.live_bot(team, bot), self.get(key_key(bot, key), None))?;
        let key_item = key_item.ok_or(StoreError::KeyNotFound)?;
        let parsed = parse_key(&key_item)?;
        if parsed.team_id != bot_user.0.team_id {
            return Err(StoreError::KeyNotFound);
        }
        Ok(parsed)
    }

    async fn list_keys(
        &self,
        team: &TeamId,
        bot: BotId,
        after: Option<KeyId>,
        limit: usize,
    ) -> Result<Page<ApiKey>, StoreError> {
        self.live_bot(team, bot).await?;
        let page_size = i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX);
        let (items, _) = self
            .query_page(&bot_pk(bot), "KEY#", after.map(|id| format!("KEY#{id}")), Some(page_size))
            .await?;
        let items = items.iter().map(parse_key).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, limit))
    }

    async fn revoke_key(
        &self,
        team: &TeamId,
        bot: BotId,
        key: KeyId,
        by: &Subject,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, StoreError> {
        let revoked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(key_key(bot, key))))
            .update_expression("SET revoked_at = :now, revoked_by = :by, #ttl = :ttl")
            .condition_expression(
                "attribute_exists(pk) AND team_id = :team AND attribute_not_exists(revoked_at) \
                 AND attribute_not_exists(bot_deleted_at)",
            )
            .expression_attribute_names("#ttl", table::TTL_ATTRIBUTE)
            .expression_attribute_values(":now", time_value(now))
            .expression_attribute_values(":by", AttributeValue::S(by.to_string()))
            .expression_attribute_values(":ttl", self.purge_at(now))
            .expression_attribute_values(":team", AttributeValue::S(team.to_string()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match revoked {
            Ok(output) => parse_key(&output.attributes.unwrap_or_default()),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let old = failed.item().ok_or(StoreError::KeyNotFound)?;
                    let old_key = parse_key(old)?;
                    if &old_key.team_id != team {
                        Err(StoreError::KeyNotFound)
                    } else if old.contains_key("bot_deleted_at") {
                        Err(StoreError::BotDeleted)
                    } else if old_key.revoked_at.is_some() {
                        Ok(old_key)
                    } else {
                        Err(StoreError::Contention)
                    }
                }
                other => Err(sdk(other)),
            },
        }
    }

    async fn rotate_key(
        &self,
        team: &TeamId,
        old: KeyId,
        replacement: &NewKey,
        deadline: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rotation, StoreError> {
        let bot = replacement.key.bot_id;
        for attempt in 0..MAX_ATTEMPTS {
            backoff(attempt).await;
            let touch_bot = Update::builder()
                .table_name(&self.table)
                .set_key(Some(primary_key(bot_key(team, bot))))
                .update_expression("ADD key_version :one")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleted_at)")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .build()
                .map_err(built)?;
            let retire_old = Update::builder()
                .table_name(&self.table)
                .set_key(Some(primary_key(key_key(bot, old))))
                .update_expression("SET expires_at = :deadline, replaced_by = :new, #ttl = :ttl")
                .condition_expression(
                    "attribute_exists(pk) AND team_id = :team AND attribute_not_exists(revoked_at) \
                     AND attribute_not_exists(replaced_by) AND attribute_not_exists(bot_deleted_at) \
                     AND expires_at > :now AND expires_at >= :deadline",
                )
                .expression_attribute_names("#ttl", table::TTL_ATTRIBUTE)
                .expression_attribute_values(":deadline", time_value(deadline))
                .expression_attribute_values(":new", AttributeValue::S(replacement.key.id.to_string()))
                .expression_attribute_values(":ttl", self.purge_at(deadline))
                .expression_attribute_values(":team", AttributeValue::S(team.to_string()))
                .expression_attribute_values(":now", time_value(now))
                .build()
                .map_err(built)?;
            let put = self.put_new_key(replacement)?;
            match self.transact(vec![update_item(touch_bot), update_item(retire_old), put]).await? {
                Ok(()) => {
                    let old =
                        parse_key(&self.get(key_key(bot, old), None).await?.ok_or(StoreError::KeyNotFound)?)?;
                    return Ok(Rotation { old, new: replacement.key.clone() });
                }
                Err(reasons) if is_failed(reasons.first()) => {
                    self.live_bot(team, bot).await?;
                    return Err(StoreError::Contention);
                }
                Err(reasons) if is_failed(reasons.get(1)) => {
                    return Err(self.why_not_rotatable(team, bot, old, now).await);
                }
                Err(reasons) if reasons.iter().any(retryable) => continue,
                Err(reasons) => {
                    return Err(StoreError::unavailable(format!("rotate key cancelled: {reasons:?}")));
                }
            }
        }
        Err(StoreError::Contention)
    }
}

impl DynamoStore {
    fn put_new_key(&self, new: &NewKey) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.key_item(new)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(built)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn key_item(&self, new: &NewKey) -> Item {
        let key = &new.key;
        let mut item = primary_key(key_key(key.bot_id, key.id));
        let mut put = |name: &str, value| item.insert(name.to_owned(), value);
        put("key_id", AttributeValue::S(key.id.to_string()));
        put("bot_id", AttributeValue::S(key.bot_id.to_string()));
        put("team_id", AttributeValue::S(key.team_id.to_string()));
        put("name", AttributeValue::S(key.name.as_str().to_owned()));
        put("hint", AttributeValue::S(key.hint.clone()));
        put("scopes", AttributeValue::Ss(key.scopes.iter().map(|s| s.as_str().to_owned()).collect()));
        put("secret_hash", AttributeValue::B(Blob::new(new.hash.as_bytes().to_vec())));
        put("created_at", time_value(key.created_at));
        put("created_by", AttributeValue::S(key.created_by.to_string()));
        put("expires_at", time_value(key.expires_at));
        if let Some(replaces) = key.replaces {
            put("replaces", AttributeValue::S(replaces.to_string()));
        }
        put(table::TTL_ATTRIBUTE, self.purge_at(key.expires_at));
        item
    }

    /// After a rotation's condition on the old key failed: the most useful reason.
    async fn why_not_rotatable(
        &self,
        team: &TeamId,
        bot: BotId,
        old: KeyId,
        now: DateTime<Utc>,
    ) -> StoreError {
        let item = match self.get(key_key(bot, old), None).await {
            Ok(Some(item)) => item,
            Ok(None) => return StoreError::KeyNotFound,
            Err(e) => return e,
        };
        match parse_key(&item) {
            Ok(key) if &key.team_id != team => StoreError::KeyNotFound,
            Ok(_) if item.contains_key("bot_deleted_at") => StoreError::BotDeleted,
            Ok(key) if key.revoked_at.is_some() => StoreError::KeyRevoked,
            Ok(key) if key.replaced_by.is_some() => StoreError::KeyAlreadyRotated,
            Ok(key) if key.expires_at <= now => StoreError::KeyExpired,
            Ok(_) => StoreError::Contention,
            Err(e) => e,
        }
    }
}

impl CredentialStore for DynamoStore {
    async fn credential(&self, bot: BotId, key: KeyId) -> Result<Option<Credential>, StoreError> {
        let projection = "team_id, scopes, expires_at, revoked_at, secret_hash";
        let Some(item) = self.get(key_key(bot, key), Some(projection)).await? else {
            return Ok(None);
        };
        Ok(Some(Credential {
            team_id: parse_with(&item, "team_id", TeamId::parse)?,
            scopes: item_scopes(&item)?,
            expires_at: item_time(&item, "expires_at")?,
            revoked_at: item_opt_time(&item, "revoked_at")?,
            hash: item_hash(&item)?,
        }))
    }
}

fn team_pk(team: &TeamId) -> String {
    format!("TEAM#{team}")
}

fn bot_pk(bot: BotId) -> String {
    format!("BOT#{bot}")
}

fn bot_key(team: &TeamId, bot: BotId) -> (String, String) {
    (team_pk(team), format!("BOT#{bot}"))
}

fn key_key(bot: BotId, key: KeyId) -> (String, String) {
    (bot_pk(bot), format!("KEY#{key}"))
}

fn primary_key((pk, sk): (String, String)) -> Item {
    HashMap::from([
        (table::PARTITION_KEY.to_owned(), AttributeValue::S(pk)),
        (table::SORT_KEY.to_owned(), AttributeValue::S(sk)),
    ])
}

fn update_item(update: Update) -> TransactWriteItem {
    TransactWriteItem::builder().update(update).build()
}

fn time_value(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(at.timestamp_millis().to_string())
}

fn is_failed(code: Option<&Option<String>>) -> bool {
    matches!(code, Some(Some(code)) if code == "ConditionalCheckFailed")
}

fn retryable(code: &Option<String>) -> bool {
    matches!(code, Some(code) if code == "ConditionalCheckFailed" || code == "TransactionConflict")
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

fn is_condition_failure<R>(error: &aws_sdk_dynamodb::error::SdkError<UpdateItemError, R>) -> bool {
    error.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception)
}

fn sdk<E: std::error::Error + Send + Sync + 'static>(error: E) -> StoreError {
    StoreError::unavailable(DisplayErrorContext(&error).to_string())
}

fn built(error: BuildError) -> StoreError {
    StoreError::unavailable(error)
}

fn corrupt(attribute: &str) -> StoreError {
    StoreError::unavailable(format!("stored item has a missing or invalid {attribute:?}"))
}

fn item_str<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(corrupt(name)),
    }
}

fn item_str_n<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => Ok(value),
        _ => Err(corrupt(name)),
    }
}

fn parse_with<T, E>(
    item: &Item,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    parse(item_str(item, name)?).map_err(|_| corrupt(name))
}

fn item_opt<T, E>(
    item: &Item,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    item.get(name).map(|_| parse_with(item, name, parse)).transpose()
}

fn item_time(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    item_str_n(item, name)?
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| corrupt(name))
}

fn item_opt_time(item: &Item, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    item.get(name).map(|_| item_time(item, name)).transpose()
}

fn item_scopes(item: &Item) -> Result<Scopes, StoreError> {
    match item.get("scopes") {
        Some(AttributeValue::Ss(scopes)) => {
            Scopes::from_stored(scopes.iter().cloned()).map_err(|_| corrupt("scopes"))
        }
        _ => Err(corrupt("scopes")),
    }
}

fn item_hash(item: &Item) -> Result<SecretHash, StoreError> {
    match item.get("secret_hash") {
        Some(AttributeValue::B(blob)) => {
            SecretHash::from_slice(blob.as_ref()).ok_or_else(|| corrupt("secret_hash"))
        }
        _ => Err(corrupt("secret_hash")),
    }
}

fn parse_bot(item: &Item) -> Result<BotUser, StoreError> {
    Ok(BotUser {
        id: parse_with(item, "bot_id", BotId::parse)?,
        team_id: parse_with(item, "team_id", TeamId::parse)?,
        name: parse_with(item, "name", |s| Name::parse(s, usize::MAX))?,
        created_at: item_time(item, "created_at")?,
        created_by: parse_with(item, "created_by", Subject::parse)?,
        deleted_at: item_opt_time(item, "deleted_at")?,
    })
}

fn parse_key(item: &Item) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: parse_with(item, "key_id", KeyId::parse)?,
        bot_id: parse_with(item, "bot_id", BotId::parse)?,
        team_id: parse_with(item, "team_id", TeamId::parse)?,
        name: parse_with(item, "name", |s| Name::parse(s, usize::MAX))?,
        hint: item_str(item, "hint")?.to_owned(),
        scopes: item_scopes(item)?,
        created_at: item_time(item, "created_at")?,
        created_by: parse_with(item, "created_by", Subject::parse)?,
        expires_at: item_time(item, "expires_at")?,
        revoked_at: item_opt_time(item, "revoked_at")?,
        revoked_by: item_opt(item, "revoked_by", Subject::parse)?,
        replaced_by: item_opt(item, "replaced_by", KeyId::parse)?,
        replaces: item_opt(item, "replaces", KeyId::parse)?,
    })
}
