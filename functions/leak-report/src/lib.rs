//! GitHub's secret-scanning partner endpoint: GitHub finds strings matching our key format in
//! public code and posts them here; every one that is a real key of ours is revoked at once.
//!
//! The order of checks is the security property: the body's size (before reading it), then
//! GitHub's signature over the raw bytes (before parsing them or touching the table). An
//! unsigned or mis-signed request changes nothing and learns nothing but `401`.
//!
//! A report is idempotent: revoking a revoked key changes nothing, so when a batch runs out
//! of time GitHub's retry finishes it. Its own function and role keep this public endpoint
//! from holding the management API's rights.

pub mod config;
pub mod fetch;
pub mod keyring;
pub mod signature;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use nico_keys::audit::{MAX_REASON_CHARS, Reason, Revocation, SystemActor};
use nico_keys::flush::Flusher;
use nico_keys::model::format_time;
use nico_keys::store::{BotStore, CredentialStore, KeyStore, StoreError};
use nico_keys::{Clock, token};
use notifier::{Message, Publisher};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keyring::{KeyRing, KeySource};
use crate::signature::SignatureError;

/// The route GitHub posts to (public: the signature is the check).
pub const PATH: &str = "/v1/secret-scanning/github";

/// The largest report read (GitHub batches stay far below it).
pub const MAX_BODY: usize = 1024 * 1024;
/// The most tokens one report may carry.
pub const MAX_ENTRIES: usize = 1_000;
/// Reports revoke this many keys at a time: enough to finish 1,000 well inside GitHub's time
/// limit, few enough not to burst the table.
const CONCURRENCY: usize = 16;
/// GitHub gives up after about 30 s; past this budget the answer is 503 and GitHub retries.
const BATCH_BUDGET: Duration = Duration::from_secs(25);

const IDENTIFIER_HEADER: &str = "github-public-key-identifier";
const SIGNATURE_HEADER: &str = "github-public-key-signature";

/// One entry of a report. GitHub may add fields; they are ignored.
#[derive(Deserialize)]
struct Reported {
    token: String,
    #[serde(rename = "type")]
    token_type: String,
    url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Label {
    TruePositive,
    FalsePositive,
}

/// GitHub's feedback format: the token only as its SHA-256.
#[derive(Serialize)]
struct Feedback {
    token_hash: String,
    token_type: String,
    label: Label,
}

/// The notice's subject: one line, short and generic (key names stay in the body).
const SUBJECT: &str = "A Nico API key was found in public and revoked";
/// The `kind` attribute subscribers filter on.
pub const KIND: &str = "key.leaked";

#[derive(Debug, thiserror::Error)]
enum ReportError {
    #[error("report larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("no GitHub signature headers")]
    Unsigned,
    #[error("bad signature: {0}")]
    Signature(SignatureError),
    #[error("not a report")]
    Unreadable,
    #[error("more than {MAX_ENTRIES} entries")]
    TooMany,
    #[error("batch not finished within {BATCH_BUDGET:?}")]
    OutOfTime,
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl ReportError {
    /// The one place a failure becomes an answer; internal errors are never echoed.
    fn response(&self) -> Response<Body> {
        let (status, message) = match self {
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "report too large"),
            Self::Unsigned | Self::Signature(_) => (StatusCode::UNAUTHORIZED, "signature required"),
            Self::Unreadable => (StatusCode::BAD_REQUEST, "body must be a JSON array of reported tokens"),
            Self::TooMany => (StatusCode::BAD_REQUEST, "at most 1000 tokens per report"),
            Self::OutOfTime => (StatusCode::SERVICE_UNAVAILABLE, "try again"),
            Self::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        };
        json(status, &serde_json::json!({ "message": message }))
    }
}

pub struct LeakReport<S, F, N> {
    store: S,
    keys: KeyRing<F>,
    notify: N,
    clock: Arc<dyn Clock>,
    /// API Gateway's authorizer caches, flushed once per report that revoked (as every
    /// revocation path does; `FLUSH_AUTHORIZER_CACHES`).
    flusher: Option<Arc<dyn Flusher>>,
}

impl<S, F, N> LeakReport<S, F, N>
where
    S: BotStore + KeyStore + CredentialStore,
    F: KeySource,
    N: Publisher,
{
    pub fn new(store: S, keys: KeyRing<F>, notify: N, clock: Arc<dyn Clock>) -> Self {
        Self { store, keys, notify, clock, flusher: None }
    }

    pub fn with_flusher(mut self, flusher: Arc<dyn Flusher>) -> Self {
        self.flusher = Some(flusher);
        self
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        match self.answer(&request).await {
            Ok(feedback) => json(StatusCode::OK, &feedback),
            Err(error) => {
                match &error {
                    ReportError::Store(_) | ReportError::OutOfTime => {
                        tracing::error!(%error, "leak report failed; GitHub will retry");
                    }
                    _ => tracing::warn!(%error, "leak report refused"),
                }
                error.response()
            }
        }
    }

    async fn answer(&self, request: &Request) -> Result<Vec<Feedback>, ReportError> {
        let body: &[u8] = request.body().as_ref();
        if body.len() > MAX_BODY {
            return Err(ReportError::TooLarge);
        }
        let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
        let (Some(identifier), Some(signature)) = (header(IDENTIFIER_HEADER), header(SIGNATURE_HEADER))
        else {
            return Err(ReportError::Unsigned);
        };
        self.keys.verify(identifier, signature, body).await.map_err(ReportError::Signature)?;
        let entries: Vec<Reported> = serde_json::from_slice(body).map_err(|_| ReportError::Unreadable)?;
        if entries.len() > MAX_ENTRIES {
            return Err(ReportError::TooMany);
        }
        let labels = tokio::time::timeout(BATCH_BUDGET, self.judge_all(&entries))
            .await
            .map_err(|_| ReportError::OutOfTime)??;
        let positives = labels.values().filter(|label| **label == Label::TruePositive).count();
        // One flush per report, also when its keys were revoked already: GitHub's retry of a
        // report whose flush failed flushes again. A failed flush is logged by the flusher; the
        // revocations stand and GitHub needs no other answer.
        if let (Some(flusher), true) = (&self.flusher, positives > 0) {
            flusher.flush().await;
        }
        tracing::info!(entries = entries.len(), true_positives = positives, "leak report answered");
        Ok(entries
            .iter()
            .map(|entry| Feedback {
                token_hash: sha256_hex(&entry.token),
                token_type: entry.token_type.clone(),
                label: labels[entry.token.as_str()],
            })
            .collect())
    }

    /// Each distinct token once, a bounded number at a time. (Owned strings in the stream: a
    /// borrowing closure there is not general enough for the Lambda runtime's `Send` bound.)
    async fn judge_all(&self, entries: &[Reported]) -> Result<HashMap<String, Label>, ReportError> {
        let mut distinct: HashMap<String, Option<String>> = HashMap::new();
        for entry in entries {
            distinct.entry(entry.token.clone()).or_insert_with(|| entry.url.clone());
        }
        let now = self.clock.now();
        stream::iter(distinct)
            .map(|(token, url)| async move {
                let label = self.judge(&token, url.as_deref(), now).await?;
                Ok((token, label))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await
    }

    /// A token is ours when it parses, its key exists and its secret matches; then it is
    /// revoked (again, harmlessly, if it already was).
    async fn judge(&self, token: &str, url: Option<&str>, now: DateTime<Utc>) -> Result<Label, ReportError> {
        let Ok(parsed) = token::parse(token) else {
            return Ok(Label::FalsePositive);
        };
        let (bot, key) = (parsed.bot_id(), parsed.key_id());
        let Some(credential) = self.store.credential(bot, key).await? else {
            return Ok(Label::FalsePositive);
        };
        if !parsed.matches(&credential.hash) {
            return Ok(Label::FalsePositive);
        }
        let reason = url.map(|url| format!("found in public by GitHub secret scanning: {url}"));
        let reason = reason.as_deref().and_then(|text| Reason::parse(&shorten(text)).ok().flatten());
        let revocation = Revocation::system(SystemActor::SecretScanning, reason);
        let revoked = match self.store.revoke_key_by(&credential.team_id, bot, key, &revocation, now).await {
            Ok(revoked) => revoked,
            // Gone with its bot user or purged: nothing left to revoke.
            Err(StoreError::BotDeleted | StoreError::KeyNotFound) => return Ok(Label::TruePositive),
            Err(error) => return Err(error.into()),
        };
        tracing::warn!(team_id = %credential.team_id, bot_id = %bot, key_id = %key, "leaked key revoked");
        if credential.revoked_at.is_none() {
            self.tell_holder(&revoked, url).await;
        }
        Ok(Label::TruePositive)
    }

    /// Best effort: the revocation stands whatever happens here.
    async fn tell_holder(&self, key: &nico_keys::ApiKey, url: Option<&str>) {
        let bot = match self.store.get_bot(&key.team_id, key.bot_id).await {
            Ok(bot) => bot,
            Err(error) => {
                tracing::error!(%error, key_id = %key.id, "no notice for a leaked key: bot user unreadable");
                return;
            }
        };
        let body = serde_json::json!({
            "kind": KIND,
            "team_id": key.team_id.as_str(),
            "account": bot.account.as_str(),
            "bot": {"id": bot.id.to_string(), "name": bot.name.as_str()},
            "key": {"id": key.id.to_string(), "name": key.name.as_str(), "hint": key.hint},
            "revoked_at": key.revoked_at.map(format_time),
            "found_at": url,
            "what_happened": "GitHub secret scanning found this key in public code; it was revoked and no longer works.",
            "what_to_do": "Create a new key for the bot user, keep it in a secret manager, and remove the leaked one from the repository and its history.",
        });
        let message = Message {
            subject: SUBJECT,
            body: body.to_string(),
            team_id: key.team_id.to_string(),
            account: bot.account.to_string(),
            kind: KIND,
        };
        if let Err(error) = self.notify.publish(&message).await {
            tracing::error!(%error, key_id = %key.id, "notice of a leaked key not sent");
        }
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(MAX_REASON_CHARS).collect()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

fn json(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
