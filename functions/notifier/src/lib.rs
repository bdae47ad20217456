//! The notifier: once an hour, one SNS message per key about to expire (7 days ahead, and
//! again 1 day ahead), so nobody learns of an expiry from an outage.
//!
//! Delivery is at least once. Each warning is claimed on the key (a conditional write only
//! one run wins), published, then marked sent; a crash between publishing and marking leaves
//! a claim that lapses after [`CLAIM_LEASE`], and a later run sends the warning again rather
//! than losing it. A failed publish drops the claim at once, so the next run retries. Which
//! key is due which warning is [`nico_keys::expiry`]'s decision; this crate only runs it and
//! writes the message.
//!
//! The message is built for subscription filter policies: its attributes `team_id`, `account`
//! and `kind` (`key.expiring`) let a team or a person subscribe to their own warnings only
//! (an unfiltered subscription sees every team's key names). The subject is fixed text: SNS
//! refuses subjects of 100 characters or more, and a name could be that long.

pub mod sns;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use nico_keys::expiry::{self, ExpiringKey, Warning};
use nico_keys::model::format_time;
use nico_keys::store::{BotStore, ExpiryStore, StoreError};
use nico_keys::{BotId, BotUser, Clock};
use serde_json::json;

pub use self::sns::{PublishError, Publisher, SnsPublisher, StdoutPublisher};

/// The message attribute `kind` of every expiry warning.
pub const KIND: &str = "key.expiring";

/// How long a run's claim on a warning holds: longer than a run may last (the function's
/// timeout is 300 s), so a live run never loses its claim, and short enough that a warning a
/// crashed run left behind goes out on the next hourly run.
pub const CLAIM_LEASE: TimeDelta = TimeDelta::minutes(10);

/// One message, as published: the subject, the JSON body and the filterable attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: &'static str,
    pub body: String,
    pub team_id: String,
    pub account: String,
    pub kind: &'static str,
}

/// The warning about `key` of `bot`, at `now`.
pub fn message(warning: Warning, key: &ExpiringKey, bot: &BotUser, now: DateTime<Utc>) -> Message {
    let rotate = format!("/v1/bots/{}/keys/{}/rotate", key.bot_id, key.id);
    let body = json!({
        "kind": KIND,
        "warning": warning.label(),
        "team_id": key.team_id.as_str(),
        "account": bot.account.as_str(),
        "bot": { "id": key.bot_id.as_str(), "name": bot.name.as_str() },
        "key": {
            "id": key.id.as_str(),
            "name": key.name.as_str(),
            "hint": key.hint,
            "expires_at": format_time(key.expires_at),
        },
        "expires_in_seconds": (key.expires_at - now).num_seconds().max(0),
        "rotate": {
            "how": "Rotate the key before it expires: open the bot user's Security page and choose \
                    Rotate, or call the rotate endpoint below. The new key is shown once; the old \
                    one keeps working for the rotation grace period, so deploy the new one meanwhile.",
            "method": "POST",
            "path": rotate,
        },
    });
    Message {
        subject: warning.subject(),
        body: body.to_string(),
        team_id: key.team_id.to_string(),
        account: bot.account.to_string(),
        kind: KIND,
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Keys the index returned for the coming week.
    pub candidates: usize,
    /// Warnings published (and marked).
    pub sent: usize,
    /// Warnings another run held, or that stopped being due since the index was read.
    pub skipped: usize,
    /// Warnings that could not be published; the next run sends them.
    pub failed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Some warnings could not be published: the run fails (so it shows in the function's
    /// errors), and the next run sends them.
    #[error("{failed} of {due} warnings could not be published")]
    Incomplete { failed: usize, due: usize },
}

/// Runs warnings from a store to a publisher.
pub struct Notifier<S, P> {
    store: S,
    publisher: P,
    clock: Arc<dyn Clock>,
}

impl<S: ExpiryStore + BotStore, P: Publisher> Notifier<S, P> {
    pub fn new(store: S, publisher: P, clock: Arc<dyn Clock>) -> Self {
        Self { store, publisher, clock }
    }

    /// One run: every warning due now, each claimed, published and marked.
    pub async fn run(&self) -> Result<Report, StoreError> {
        let now = self.clock.now();
        let claim = run_id();
        let until = now + CLAIM_LEASE;
        let candidates = self.store.expiring_keys(now, expiry::HORIZON).await?;
        let mut report = Report { candidates: candidates.len(), ..Report::default() };
        let mut bots: HashMap<BotId, BotUser> = HashMap::new();
        for key in &candidates {
            let Some(warning) = expiry::due(key, now) else { continue };
            if !self.store.claim_warning(key, warning, &claim, now, until).await? {
                report.skipped += 1;
                continue;
            }
            let bot = match bots.get(&key.bot_id) {
                Some(bot) => bot.clone(),
                None => match self.store.get_bot(&key.team_id, key.bot_id).await {
                    Ok(bot) => bots.entry(key.bot_id).or_insert(bot).clone(),
                    Err(e) => {
                        self.store.release_warning(key, &claim).await?;
                        return Err(e);
                    }
                },
            };
            if bot.deleted_at.is_some() {
                self.store.release_warning(key, &claim).await?;
                report.skipped += 1;
                continue;
            }
            let message = message(warning, key, &bot, now);
            if let Err(e) = self.publisher.publish(&message).await {
                tracing::error!(error = %e, bot_id = %key.bot_id, key_id = %key.id, warning = warning.label(), "publish failed");
                self.store.release_warning(key, &claim).await?;
                report.failed += 1;
                continue;
            }
            if !self.store.mark_warned(key, warning, &claim, now).await? {
                // The claim lapsed and another run took it: that run sends it again.
                tracing::warn!(bot_id = %key.bot_id, key_id = %key.id, "claim lapsed before the mark");
            }
            tracing::info!(bot_id = %key.bot_id, key_id = %key.id, warning = warning.label(), "warning sent");
            report.sent += 1;
        }
        Ok(report)
    }

    /// The Lambda handler: the scheduled event's content does not matter, only that it came.
    pub async fn handle(&self) -> Result<Report, NotifierError> {
        let report = self.run().await?;
        tracing::info!(?report, "notifier run");
        if report.failed > 0 {
            return Err(NotifierError::Incomplete {
                failed: report.failed,
                due: report.failed + report.sent,
            });
        }
        Ok(report)
    }
}

/// A fresh id for one run's claims.
fn run_id() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use nico_keys::{KeyId, Name, Subject, TeamId};

    #[test]
    fn a_message_names_the_key_and_how_to_rotate_it_and_carries_the_filter_attributes() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let team = TeamId::parse("team-a").unwrap();
        let bot = BotUser {
            id: BotId::generate(now),
            team_id: team.clone(),
            name: Name::parse("ci bot", 100).unwrap(),
            account: Subject::parse("alice").unwrap(),
            scopes: None,
            created_at: now,
            created_by: Subject::parse("owner").unwrap(),
            deleted_at: None,
        };
        let key = ExpiringKey {
            id: KeyId::generate(now),
            bot_id: bot.id,
            team_id: team,
            name: Name::parse(&"x".repeat(100), 100).unwrap(),
            hint: "nico_…abcd".into(),
            created_at: now - TimeDelta::days(30),
            expires_at: now + TimeDelta::days(6),
            revoked_at: None,
            replaced_by: None,
            warned_7d_at: None,
            warned_1d_at: None,
        };
        let m = message(Warning::SevenDays, &key, &bot, now);
        assert_eq!((m.team_id.as_str(), m.account.as_str(), m.kind), ("team-a", "alice", "key.expiring"));
        assert!(m.subject.len() < 100 && !m.subject.contains(key.name.as_str()));
        let body: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(body["key"]["name"], key.name.as_str());
        assert_eq!(body["key"]["hint"], "nico_…abcd");
        assert_eq!(body["bot"]["name"], "ci bot");
        assert_eq!(body["expires_in_seconds"], 6 * 86_400);
        assert_eq!(body["rotate"]["path"], format!("/v1/bots/{}/keys/{}/rotate", bot.id, key.id));
    }
}
