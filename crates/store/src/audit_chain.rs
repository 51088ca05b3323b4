//! The hash-chained audit trail's statements: appending sealed records inside the caller's
//! transaction, and reading records back. Every write of the trail goes through [`append`].

use domain::DomainError;
use domain::compliance::{AuditAction, AuditEntry, AuditRecord, Outcome, seal};
use domain::identity::Role;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::backend::Backend;
use crate::db::{self, DbResult, Insert, Query, R};

/// The columns of `audit_log`, in the order [`append`] binds them.
pub(crate) const COLUMNS: &str = "seq, at, org_id, actor_kind, actor_id, actor_role, action, resource_type, resource_id, \
                       patient_id, source_ip, outcome, flagged, detail, prev_hash, hash";

const AUDIT_LOG: Insert = Insert {
    into: "audit_log (seq, at, org_id, actor_kind, actor_id, actor_role, action, resource_type, resource_id, \
           patient_id, source_ip, outcome, flagged, detail, prev_hash, hash)",
    columns: 16,
    suffix: "",
};

/// Appends entries to the chain inside the caller's transaction, and returns the sequence number
/// of the first (the others follow it in order). On PostgreSQL the head row is locked, so
/// concurrent appenders queue; on SQLite the single writer connection serialises them.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    backend: Backend,
    entries: Vec<AuditEntry>,
) -> R<i64> {
    if entries.is_empty() {
        return Ok(0);
    }
    let head_sql = AssertSqlSafe(format!(
        "SELECT last_seq, last_hash FROM audit_head WHERE id = 1{}",
        backend.for_update()
    ));
    let head = sqlx::query(head_sql).fetch_one(&mut *conn).await.db()?;
    let (mut seq, mut hash) = (db::int(&head, "last_seq")?, db::text(&head, "last_hash")?);
    let first = seq + 1;
    let mut records = Vec::with_capacity(entries.len());
    for entry in entries {
        let record = seal(seq, &hash, entry);
        seq = record.seq;
        hash.clone_from(&record.hash);
        records.push(record);
    }
    db::insert_rows(conn, &AUDIT_LOG, &records, bind_record)
        .await
        .db()?;
    sqlx::query("UPDATE audit_head SET last_seq = $1, last_hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(hash)
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(first)
}

fn bind_record<'q>(query: Query<'q>, r: &'q AuditRecord) -> Query<'q> {
    let e = &r.entry;
    query
        .bind(r.seq)
        .bind(e.at.as_microsecond())
        .bind(e.org_id.map(|o| o.to_string()))
        .bind(e.actor.kind())
        .bind(e.actor.id())
        .bind(e.actor.role().map(Role::as_str))
        .bind(e.action.as_str())
        .bind(e.resource_type.as_str())
        .bind(e.resource_id.as_deref())
        .bind(e.patient_id.map(|p| p.to_string()))
        .bind(e.source_ip.as_deref())
        .bind(e.outcome.as_str())
        .bind(e.flagged)
        .bind(e.detail.as_deref())
        .bind(r.prev_hash.as_str())
        .bind(r.hash.as_str())
}

/// A record read back from `audit_log` (selected with [`COLUMNS`]), or an error naming it: a value
/// that does not decode was written by someone other than the server (which only writes values it
/// can read back), so the record was tampered with.
pub(crate) fn record_from_row(row: &AnyRow) -> R<AuditRecord> {
    decode_record(row).map_err(|e| {
        let seq = db::int(row, "seq")
            .map_or_else(|_| "with an unreadable number".into(), |s| s.to_string());
        let why = match e {
            DomainError::Storage(why) => why,
            other => other.to_string(),
        };
        tracing::error!(seq, "audit record cannot be read");
        DomainError::Storage(format!(
            "audit record {seq} was altered outside the server: {why}"
        ))
    })
}

fn decode_record(row: &AnyRow) -> R<AuditRecord> {
    let actor = db::actor(row)?;
    let action =
        AuditAction::parse(&db::text(row, "action")?).ok_or_else(|| unreadable("action"))?;
    let outcome =
        Outcome::parse(&db::text(row, "outcome")?).ok_or_else(|| unreadable("outcome"))?;
    let entry = AuditEntry {
        at: db::ts(row, "at")?,
        org_id: db::opt_parsed(row, "org_id")?,
        actor,
        action,
        resource_type: db::text(row, "resource_type")?,
        resource_id: db::opt_text(row, "resource_id")?,
        patient_id: db::opt_parsed(row, "patient_id")?,
        source_ip: db::opt_text(row, "source_ip")?,
        outcome,
        flagged: db::flag(row, "flagged")?,
        detail: db::opt_text(row, "detail")?,
    };
    Ok(AuditRecord {
        seq: db::int(row, "seq")?,
        entry,
        prev_hash: db::text(row, "prev_hash")?,
        hash: db::text(row, "hash")?,
        repeated: None,
    })
}

fn unreadable(column: &str) -> DomainError {
    tracing::error!(column, "audit record holds an unknown value");
    DomainError::Storage(format!("an audit record holds an unknown {column}"))
}
