//! An SNS topic on moto with an SQS queue subscribed: what the notifier published is what
//! arrives in the queue, read back as a subscriber would see it.

use std::collections::BTreeMap;

use nico_keys::BotId;
use serde_json::Value;

/// The endpoint moto serves SNS and SQS on; the same loopback rules as DynamoDB's.
fn endpoint(variable: &str) -> String {
    let endpoint = std::env::var(variable).unwrap_or_default();
    assert!(
        !endpoint.is_empty(),
        "{variable} is not set: the notifier tests need moto's SNS and SQS. Run them with ./scripts/test, \
         which points it at the moto it starts (see README.md)."
    );
    let host = endpoint.trim_start_matches("http://");
    assert!(
        host.starts_with("127.0.0.1:") || host.starts_with("localhost:"),
        "{variable}={endpoint} is not a loopback address; refusing to run tests against it"
    );
    endpoint
}

/// A message as it arrived in the queue.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub subject: String,
    pub body: Value,
    pub attributes: BTreeMap<String, String>,
}

/// A fresh topic and a queue subscribed to it (with a filter policy, if given).
pub struct Inbox {
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub topic_arn: String,
    queue_url: String,
}

impl Inbox {
    pub async fn new() -> Self {
        let config = nico_keys::store::dynamodb::sdk_config_from_env().await;
        endpoint("AWS_ENDPOINT_URL_SNS");
        endpoint("AWS_ENDPOINT_URL_SQS");
        let sns = aws_sdk_sns::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let name = format!("expiry-{}", BotId::generate(chrono::Utc::now()));
        let topic_arn =
            sns.create_topic().name(&name).send().await.expect("create topic").topic_arn.expect("arn");
        let mut inbox = Self { sns, sqs, topic_arn, queue_url: String::new() };
        inbox.queue_url = inbox.subscribe_queue(&name, None).await;
        inbox
    }

    /// Another queue on the same topic, receiving only what `filter_policy` lets through.
    pub async fn filtered(&self, filter_policy: &str) -> Inbox {
        let name = format!("filtered-{}", BotId::generate(chrono::Utc::now()));
        let mut other = Self {
            sns: self.sns.clone(),
            sqs: self.sqs.clone(),
            topic_arn: self.topic_arn.clone(),
            queue_url: String::new(),
        };
        other.queue_url = other.subscribe_queue(&name, Some(filter_policy)).await;
        other
    }

    async fn subscribe_queue(&self, name: &str, filter_policy: Option<&str>) -> String {
        let url = self
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("url");
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes");
        let arn = attributes
            .attributes
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
            .expect("queue ARN");
        let mut subscribe = self.sns.subscribe().topic_arn(&self.topic_arn).protocol("sqs").endpoint(arn);
        if let Some(policy) = filter_policy {
            subscribe = subscribe.attributes("FilterPolicy", policy);
        }
        subscribe.send().await.expect("subscribe");
        url
    }

    /// Everything delivered since the last call, emptying the queue.
    pub async fn drain(&self) -> Vec<Delivered> {
        let mut delivered = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive");
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return delivered;
            }
            for message in messages {
                let envelope: Value =
                    serde_json::from_str(message.body().expect("body")).expect("SNS envelope");
                let attributes = envelope["MessageAttributes"]
                    .as_object()
                    .map(|all| {
                        all.iter()
                            .map(|(k, v)| (k.clone(), v["Value"].as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                delivered.push(Delivered {
                    subject: envelope["Subject"].as_str().unwrap_or_default().to_owned(),
                    body: serde_json::from_str(envelope["Message"].as_str().expect("Message"))
                        .expect("JSON body"),
                    attributes,
                });
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().expect("receipt"))
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}
