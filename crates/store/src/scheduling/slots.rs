//! The slots published from availability: publishing, lookups (with a cache of slots seen taken)
//! and the open-slot search.

use async_trait::async_trait;
use domain::compliance::AuditEntry;
use domain::ids::{OrgId, SlotId, UserId};
use domain::scheduling::{ServiceLines, Slot, SlotQuery, SlotStore, SlotView};
use jiff::Timestamp;
use sqlx::AssertSqlSafe;

use super::{SLOT_COLUMNS, SLOT_TAKEN, slot_view_from_row};
use crate::db::{self, Arg, DbResult, Filter, Insert, Query, R};
use crate::sql_store::{Outcome, SqlStore};

/// A clinician has at most one slot starting at an instant: publishing again skips those.
const SLOTS: Insert = Insert {
    into: "slots (id, org_id, clinician_id, site_id, start_at, end_at, service_lines, template_id, exception_id, \
           withdrawn, created_at)",
    columns: 11,
    suffix: "ON CONFLICT (clinician_id, start_at) DO NOTHING",
};

fn bind_slot<'q>(query: Query<'q>, s: &'q Slot) -> Query<'q> {
    query
        .bind(s.id.to_string())
        .bind(s.org_id.to_string())
        .bind(s.clinician_id.to_string())
        .bind(s.site_id.to_string())
        .bind(s.start_at.as_microsecond())
        .bind(s.end_at.as_microsecond())
        .bind(s.service_lines.bits())
        .bind(s.template_id.map(|t| t.to_string()))
        .bind(s.exception_id.map(|e| e.to_string()))
        .bind(s.withdrawn)
        .bind(s.created_at.as_microsecond())
}

impl SqlStore {
    async fn slot_where(&self, condition: &str, args: Vec<Arg>) -> R<Option<SlotView>> {
        let sql =
            format!("SELECT {SLOT_COLUMNS}, {SLOT_TAKEN} AS taken FROM slots s WHERE {condition}");
        let row = db::bind_args(sqlx::query(AssertSqlSafe(sql)), args)
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.as_ref().map(slot_view_from_row).transpose()
    }
}

#[async_trait]
impl SlotStore for SqlStore {
    async fn publish_slots(&self, slots: &[Slot], audit: AuditEntry) -> R<u64> {
        self.transaction(async |tx| {
            let added = db::insert_rows(tx, &SLOTS, slots, bind_slot).await.db()?;
            // Publishing again what exists already writes nothing and records nothing.
            let entries = if added > 0 {
                vec![AuditEntry {
                    detail: Some(format!(
                        "{added} new; {}",
                        audit.detail.clone().unwrap_or_default()
                    )),
                    ..audit
                }]
            } else {
                Vec::new()
            };
            Ok(Outcome::Commit(added, entries))
        })
        .await
    }

    async fn get_slot(&self, org: OrgId, id: SlotId) -> R<Option<SlotView>> {
        // A slot seen taken a moment ago is still taken: answering from memory keeps the flood of
        // refusals on a busy morning off the database (a cancellation here clears the entry).
        if let Some(view) = self.caches.taken_slots.get(&id)
            && view.slot.org_id == org
        {
            return Ok(Some(view));
        }
        let found = self
            .slot_where(
                "s.org_id = $1 AND s.id = $2",
                vec![Arg::Text(org.to_string()), Arg::Text(id.to_string())],
            )
            .await?;
        if let Some(view) = found.as_ref().filter(|v| v.taken) {
            self.caches.taken_slots.put(id, view.clone());
        }
        Ok(found)
    }

    async fn find_slot(
        &self,
        org: OrgId,
        clinician: UserId,
        start: Timestamp,
    ) -> R<Option<SlotView>> {
        self.slot_where(
            "s.org_id = $1 AND s.clinician_id = $2 AND s.start_at = $3",
            vec![
                Arg::Text(org.to_string()),
                Arg::Text(clinician.to_string()),
                Arg::Int(start.as_microsecond()),
            ],
        )
        .await
    }

    async fn search_slots(&self, org: OrgId, q: &SlotQuery) -> R<Vec<SlotView>> {
        let mut f = Filter::default();
        f.push("s.org_id = ?", Arg::Text(org.to_string()));
        f.raw("NOT s.withdrawn");
        f.push("s.start_at >= ?", Arg::Int(q.from.as_microsecond()));
        f.push("s.start_at < ?", Arg::Int(q.to.as_microsecond()));
        if let Some(line) = q.service_line {
            f.push(
                "(s.service_lines & ?) <> 0",
                Arg::Int(ServiceLines::bit_of(line)),
            );
        }
        if let Some(minutes) = q.min_minutes {
            f.push("s.end_at - s.start_at >= ?", Arg::Int(minutes * 60_000_000));
        }
        if let Some(c) = q.clinician_id {
            f.push("s.clinician_id = ?", Arg::Text(c.to_string()));
        }
        if let Some(slot) = q.slot_id {
            f.push("s.id = ?", Arg::Text(slot.to_string()));
        }
        if let Some(site) = q.site_id {
            f.push("s.site_id = ?", Arg::Text(site.to_string()));
        }
        if let Some((state, on)) = q.licensed_in {
            let (a, b) = (f.next(), f.next() + 1);
            f.args.push(Arg::Text(state.code().to_string()));
            f.args.push(Arg::Text(on.to_string()));
            f.raw(&format!(
                "s.clinician_id IN (SELECT l.user_id FROM clinician_licenses l WHERE l.state = ${a} AND l.expires_on >= ${b})"
            ));
        }
        if let Some(language) = &q.language {
            f.push(
                "s.clinician_id IN (SELECT cl.user_id FROM clinician_languages cl WHERE cl.language = ?)",
                Arg::Text(language.clone()),
            );
        }
        if q.open_only {
            f.raw(&format!("NOT {SLOT_TAKEN}"));
        }
        let n = f.next();
        let sql = format!(
            "SELECT {SLOT_COLUMNS}, {SLOT_TAKEN} AS taken FROM slots s {} ORDER BY s.start_at, s.clinician_id LIMIT ${n}",
            f.where_clause()
        );
        let mut args = f.args;
        args.push(Arg::Int(q.limit.clamp(1, 5000)));
        let rows = db::bind_args(sqlx::query(AssertSqlSafe(sql)), args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(slot_view_from_row).collect()
    }
}
