//! Where warnings go: an SNS topic in AWS, standard output on a laptop. Behind a trait so the
//! local runner prints what it would send; the crate's only AWS SDK besides the store's.

use std::future::Future;
use std::io::Write;

use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::Message;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publishing failed: {0}")]
    Failed(String),
}

pub trait Publisher: Send + Sync {
    fn publish(&self, message: &Message) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// Publishes to an SNS topic, with the filterable message attributes.
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self { client, topic_arn: topic_arn.into() }
    }

    /// A client from the environment (region, credentials, `AWS_ENDPOINT_URL_SNS`), on the
    /// workspace's HTTP client.
    pub async fn from_env(topic_arn: impl Into<String>) -> Self {
        let config = nico_keys::store::dynamodb::sdk_config_from_env().await;
        Self::new(Client::new(&config), topic_arn)
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, PublishError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| PublishError::Failed(e.to_string()))
}

impl Publisher for SnsPublisher {
    async fn publish(&self, message: &Message) -> Result<(), PublishError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(message.subject)
            .message(&message.body)
            .message_attributes("team_id", attribute(&message.team_id)?)
            .message_attributes("account", attribute(&message.account)?)
            .message_attributes("kind", attribute(message.kind)?)
            .send()
            .await
            .map_err(|e| PublishError::Failed(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

/// Prints each message as one JSON line on standard output (the local runner without a topic).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdoutPublisher;

impl Publisher for StdoutPublisher {
    async fn publish(&self, message: &Message) -> Result<(), PublishError> {
        let line = serde_json::json!({
            "would_publish": {
                "subject": message.subject,
                "attributes": { "team_id": message.team_id, "account": message.account, "kind": message.kind },
                "message": serde_json::from_str::<serde_json::Value>(&message.body).unwrap_or_default(),
            }
        });
        writeln!(std::io::stdout().lock(), "{line}").map_err(|e| PublishError::Failed(e.to_string()))
    }
}
