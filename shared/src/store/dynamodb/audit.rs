//! The audit trail in the table: each change's entry is one more `Put` in the change's own
//! transaction, into the team's `AUDIT#` partition; a listing is a strongly consistent `Query`
//! of that partition, newest first, between the cursor and `since`.
//!
//! Cost: an entry is a few hundred bytes (a deletion's grows by about 100 bytes per key it
//! revokes), so writing it adds 2 write units to its transaction (transactional writes cost
//! twice, per started KB). A page reads at most [`MAX_ENTRIES_PER_PAGE`] entries, in query
//! calls of at most `limit + 1` entries: strongly consistent reads cost 1 read unit per started
//! 4 KB of each call, so an unfiltered page of 20 events is about 3 read units, and a page whose
//! filters match little costs at most about 15 read units per 200 small entries read.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::items::{ENTRY_PREFIX, EntryItem, audit_partition};
use super::wire::{built, encode};
use super::{DynamoStore, SortKeys};
use crate::audit::{AuditPage, AuditQuery, Entry, EventRef, MAX_ENTRIES_PER_PAGE, PageBuilder};
use crate::ids::EventId;
use crate::model::TeamId;
use crate::store::{AuditStore, StoreError};

impl DynamoStore {
    /// The transaction action that stores `entry`, kept for the audit retention after it.
    pub(super) fn put_entry(&self, entry: &Entry) -> Result<TransactWriteItem, StoreError> {
        let ttl = entry
            .at
            .timestamp()
            .saturating_add(i64::try_from(self.audit_retention.as_secs()).unwrap_or(i64::MAX));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(encode(EntryItem::new(entry, ttl))?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(built)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

impl AuditStore for DynamoStore {
    async fn list_events(
        &self,
        team: &TeamId,
        query: &AuditQuery,
        after: Option<EventRef>,
        limit: usize,
    ) -> Result<AuditPage, StoreError> {
        let bound = |id: Option<EventId>, otherwise: &str| match id {
            Some(id) => format!("{ENTRY_PREFIX}{id}"),
            None => format!("{ENTRY_PREFIX}{otherwise}"),
        };
        // From the cursor's entry, inclusive (the rest of its events may follow), down to `since`.
        let high = bound(after.map(|after| after.entry), "~");
        let low = bound(query.lowest_entry(), "");
        let mut builder = PageBuilder::new(query, after, limit);
        let pk = audit_partition(team);
        let mut after_sk = None;
        loop {
            let wanted = i32::try_from(builder.wanted().min(MAX_ENTRIES_PER_PAGE)).unwrap_or(100);
            let keys = SortKeys::NewestBetween(&low, &high);
            let (items, next) = self.query_page::<EntryItem>(&pk, keys, after_sk, Some(wanted)).await?;
            for EntryItem { entry, .. } in items {
                if !builder.offer(&entry) {
                    return Ok(builder.finish(false));
                }
            }
            match next {
                Some(sk) => after_sk = Some(sk),
                None => return Ok(builder.finish(true)),
            }
        }
    }
}
