//! "All my keys" on DynamoDB: the caller's visible bot users read strongly consistent from the
//! team's partition on every page, then each one's key partition newest first, a few at a time.
//! Why this shape, and the reads per page: [`crate::store::listing`].

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::items::{BOT_PREFIX, BotItem, ItemKey, KEY_PREFIX, KeyItem, bot_partition, team_partition};
use super::{DynamoStore, SortKeys};
use crate::ids::{BotId, KeyId};
use crate::model::{ApiKey, BotUser, TeamId};
use crate::store::listing::{KeyListing, KeyQuery, PARTITIONS_IN_FLIGHT, PartitionRead, merge_newest_first};
use crate::store::{KeyRecord, StoreError, listed_for};

impl DynamoStore {
    pub(super) async fn team_keys(
        &self,
        team: &TeamId,
        query: &KeyQuery,
        before: Option<KeyId>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<KeyListing, StoreError> {
        let bots = self.visible_bots(team, query).await?;
        let mut reads = Vec::with_capacity(bots.len());
        let mut pending = bots.into_iter();
        let mut in_flight = JoinSet::new();
        loop {
            while in_flight.len() < PARTITIONS_IN_FLIGHT
                && let Some(bot) = pending.next()
            {
                let store = self.clone();
                in_flight.spawn(async move {
                    let (keys, more) = store.newest_keys(bot.id, before, limit).await?;
                    Ok::<_, StoreError>(PartitionRead { bot, keys, more })
                });
            }
            match in_flight.join_next().await {
                Some(joined) => reads.push(joined.map_err(StoreError::unavailable)??),
                None => break,
            }
        }
        Ok(merge_newest_first(reads, &query.filter, limit, now))
    }

    /// The live bot users of `team` the query may see, read strongly consistent.
    async fn visible_bots(&self, team: &TeamId, query: &KeyQuery) -> Result<Vec<BotUser>, StoreError> {
        let account = query.account.as_ref();
        if let Some(bot) = query.bot {
            let item: Option<BotItem> = self.get(ItemKey::bot(team, bot), None).await?;
            return Ok(item.map(BotUser::from).filter(|bot| listed_for(bot, account)).into_iter().collect());
        }
        let pk = team_partition(team);
        let mut bots = Vec::new();
        let mut after = None;
        loop {
            let (page, next) =
                self.query_page::<BotItem>(&pk, SortKeys::Prefix(BOT_PREFIX), after, None).await?;
            bots.extend(page.into_iter().map(BotUser::from).filter(|bot| listed_for(bot, account)));
            match next {
                Some(sk) => after = Some(sk),
                None => return Ok(bots),
            }
        }
    }

    /// At most `limit` keys of a bot user older than `before`, newest first, strongly
    /// consistent; and whether older ones may remain.
    async fn newest_keys(
        &self,
        bot: BotId,
        before: Option<KeyId>,
        limit: usize,
    ) -> Result<(Vec<ApiKey>, bool), StoreError> {
        let pk = bot_partition(bot);
        // Key item sort keys are `KEY#` and 16 base62 characters, all below `~`.
        let upper = before.map_or_else(|| format!("{KEY_PREFIX}~"), |id| format!("{KEY_PREFIX}{id}"));
        let mut after = None;
        loop {
            let limit = Some(i32::try_from(limit).unwrap_or(i32::MAX));
            let keys = SortKeys::NewestBetween(KEY_PREFIX, &upper);
            let (items, next) = self.query_page::<KeyItem>(&pk, keys, after, limit).await?;
            let keys: Vec<ApiKey> = items
                .into_iter()
                .map(|item| KeyRecord::from(item).key)
                .filter(|key| Some(key.id) != before)
                .collect();
            after = next;
            // An empty page that says "more" (only the cursor's own item was read) reads on.
            if !keys.is_empty() || after.is_none() {
                return Ok((keys, after.is_some()));
            }
        }
    }
}
