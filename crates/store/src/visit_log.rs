//! A visit's log (who did what, when) as rows: written by visits and by an appointment's
//! cancellation, read by visits.

use domain::identity::Role;
use domain::visits::VisitLogEntry;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::db::{self, DbResult, Insert, Query, R};

pub(crate) const COLUMNS: &str =
    "id, appointment_id, at, kind, actor_kind, actor_id, actor_role, detail";

const VISIT_LOG: Insert = Insert {
    into: "visit_log (id, appointment_id, at, kind, actor_kind, actor_id, actor_role, detail)",
    columns: 8,
    suffix: "",
};

fn bind_entry<'q>(query: Query<'q>, e: &'q VisitLogEntry) -> Query<'q> {
    query
        .bind(e.id.to_string())
        .bind(e.appointment_id.to_string())
        .bind(e.at.as_microsecond())
        .bind(e.kind.as_str())
        .bind(e.actor.kind())
        .bind(e.actor.id())
        .bind(e.actor.role().map(Role::as_str))
        .bind(e.detail.as_deref())
}

pub(crate) async fn insert(conn: &mut AnyConnection, e: &VisitLogEntry) -> R<()> {
    db::insert_rows(conn, &VISIT_LOG, std::slice::from_ref(e), bind_entry)
        .await
        .db()?;
    Ok(())
}

pub(crate) fn from_row(row: &AnyRow) -> R<VisitLogEntry> {
    Ok(VisitLogEntry {
        id: db::parsed(row, "id")?,
        appointment_id: db::parsed(row, "appointment_id")?,
        at: db::ts(row, "at")?,
        kind: db::text(row, "kind")?,
        actor: db::actor(row)?,
        detail: db::opt_text(row, "detail")?,
    })
}
