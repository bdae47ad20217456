//! Notices to the operator's topic (the one expiry warnings go to), with the attributes
//! subscription filter policies select on: `team_id`, `account`, `kind`.

use aws_sdk_sns::types::MessageAttributeValue;

use crate::{LeakNotice, Notify};

/// One line, short and generic: key names stay in the body, never in a subject.
const SUBJECT: &str = "A nico API key was found in public and revoked";
const KIND: &str = "key.leaked";

pub struct TopicNotices {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl TopicNotices {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String) -> Self {
        Self { client, topic_arn }
    }
}

fn attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data type is set")
}

impl Notify for TopicNotices {
    async fn leaked(&self, notice: &LeakNotice) -> Result<(), String> {
        let body = serde_json::json!({
            "kind": KIND,
            "notice": notice,
            "what_happened": "GitHub secret scanning found this key in public; it was revoked and no longer works.",
            "what_to_do": "Create a new key for the bot user, store it in a secret manager, and remove the leaked one from the repository and its history.",
        });
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(SUBJECT)
            .message(body.to_string())
            .message_attributes("kind", attribute(KIND))
            .message_attributes("team_id", attribute(&notice.team_id))
            .message_attributes("account", attribute(&notice.account))
            .send()
            .await
            .map(drop)
            .map_err(|e| aws_sdk_sns::error::DisplayErrorContext(e).to_string())
    }
}
