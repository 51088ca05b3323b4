//! The audit trail's port: entries appended on their own through the group-commit writer (reads
//! of patient data), and the auditor's queries. The chain itself is `audit_chain.rs`.

use async_trait::async_trait;
use domain::compliance::{AuditEntry, AuditQuery, AuditRecord, AuditStore, Checkpoint, Repeated};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::audit_chain::{COLUMNS, record_from_row};
use crate::db::{self, Arg, DbResult, Filter, R};
use crate::sql_store::SqlStore;
use crate::writer::Job;

/// A non-positive limit means "a screenful", not "nothing".
fn page_size(limit: i64) -> i64 {
    if limit <= 0 { 100 } else { limit }
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn record_audit(&self, entry: AuditEntry) -> R<()> {
        self.group_commit(Job::Audit(entry)).await
    }

    async fn search_audit(&self, q: &AuditQuery) -> R<Vec<AuditRecord>> {
        let mut f = Filter::default();
        if let Some(org) = q.org_id {
            f.push("org_id = ?", Arg::Text(org.to_string()));
        }
        if !q.actor_ids.is_empty() {
            f.any_of("actor_id", q.actor_ids.clone());
        }
        if !q.patient_ids.is_empty() {
            f.any_of(
                "patient_id",
                q.patient_ids.iter().map(ToString::to_string).collect(),
            );
        }
        if let Some(action) = q.action {
            f.push("action = ?", Arg::Text(action.as_str().to_string()));
        }
        if let Some(from) = q.from {
            f.push("at >= ?", Arg::Int(from.as_microsecond()));
        }
        if let Some(to) = q.to {
            f.push("at < ?", Arg::Int(to.as_microsecond()));
        }
        if q.flagged_only {
            f.push("flagged = ?", Arg::Flag(true));
        }
        let n = f.next();
        // The page of records first, then their repeat counts joined to that page only.
        let sql = format!(
            "SELECT {COLUMNS}, r.times AS repeat_times, r.last_at AS repeat_last_at \
             FROM (SELECT {COLUMNS} FROM audit_log {} ORDER BY seq DESC LIMIT ${n} OFFSET ${}) AS page \
             LEFT JOIN audit_repeats r USING (seq) ORDER BY seq DESC",
            f.where_clause(),
            n + 1
        );
        let mut args = f.args;
        args.push(Arg::Int(page_size(q.limit)));
        args.push(Arg::Int(q.offset.max(0)));
        let rows = db::bind_args(sqlx::query(AssertSqlSafe(sql)), args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter()
            .map(|row| {
                let mut record = record_from_row(row)?;
                if let Some(times) = db::opt_int(row, "repeat_times")? {
                    record.repeated = Some(Repeated {
                        times,
                        last_at: db::ts(row, "repeat_last_at")?,
                    });
                }
                Ok(record)
            })
            .collect()
    }

    async fn audit_page(&self, after_seq: i64, limit: i64) -> R<Vec<AuditRecord>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ));
        let rows = sqlx::query(sql)
            .bind(after_seq)
            .bind(page_size(limit))
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(record_from_row).collect()
    }

    async fn audit_head(&self) -> R<(i64, String)> {
        let row = sqlx::query("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.reader)
            .await
            .db()?;
        Ok((db::int(&row, "last_seq")?, db::text(&row, "last_hash")?))
    }

    async fn record_checkpoint(&self, cp: &Checkpoint) -> R<()> {
        self.unaudited(async |tx| {
            sqlx::query(
                "INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
            )
            .bind(cp.seq)
            .bind(&cp.hash)
            .bind(cp.at.as_microsecond())
            .bind(&cp.key_id)
            .bind(&cp.signature)
            .execute(&mut *tx)
            .await
            .db()?;
            Ok(())
        })
        .await
    }

    async fn audit_checkpoints(&self) -> R<Vec<Checkpoint>> {
        let rows = sqlx::query(
            "SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq",
        )
        .fetch_all(&self.reader)
        .await
        .db()?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    async fn latest_checkpoint(&self) -> R<Option<Checkpoint>> {
        let row = sqlx::query(
            "SELECT seq, hash, at, key_id, signature FROM audit_checkpoints \
             ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&self.reader)
        .await
        .db()?;
        row.as_ref().map(checkpoint_from_row).transpose()
    }
}

fn checkpoint_from_row(row: &AnyRow) -> R<Checkpoint> {
    Ok(Checkpoint {
        seq: db::int(row, "seq")?,
        hash: db::text(row, "hash")?,
        at: db::ts(row, "at")?,
        key_id: db::text(row, "key_id")?,
        signature: db::text(row, "signature")?,
    })
}
