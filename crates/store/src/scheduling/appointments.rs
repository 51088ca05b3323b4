//! Appointments: booking and moving (write jobs run by the group-commit writer), status changes,
//! lists, reminders and calendar feeds.

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::ids::{AppointmentId, OrgId, UserId};
use domain::scheduling::{
    Appointment, AppointmentEvent, AppointmentQuery, AppointmentStatus, AppointmentStore,
    NewBooking, Rescheduling, StatusChange,
};
use domain::visits::VisitLogEntry;
use jiff::Timestamp;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::clash::{check_clash, insert_checked, is_refusal, slot_taken_or};
use super::{
    APPOINTMENT_COLUMNS, EVENT_COLUMNS, EVENTS, appointment_from_row, event_from_row, event_row,
    insert_event,
};
use crate::backend::Backend;
use crate::compliance::{CONSENTS, consent_row, insert_consent};
use crate::db::{self, Arg, DbResult, Filter, R};
use crate::sql_store::SqlStore;
use crate::visit_log;
use crate::writer::{Job, Later, Write};

/// A booking, as the writer runs it. A refusal happens before the first write (the conditional
/// insert writes nothing, a unique violation undoes its own statement), so it needs no savepoint
/// on either engine. Its event and consent are inserted with the whole batch's (fewer statements).
struct Book(NewBooking);

#[async_trait]
impl Write for Book {
    fn needs_savepoint(&self, _backend: Backend) -> bool {
        false
    }

    async fn write(
        self: Box<Self>,
        conn: &mut AnyConnection,
        backend: Backend,
        later: &mut Later,
    ) -> R<R<Vec<AuditEntry>>> {
        let b = self.0;
        match insert_checked(conn, backend, &b.appointment).await {
            Ok(()) => {}
            Err(refused) if is_refusal(&refused) => return Ok(Err(refused)),
            Err(failed) => return Err(failed),
        }
        later.insert(&EVENTS, event_row(&b.event));
        if let Some(c) = &b.consent {
            later.insert(&CONSENTS, consent_row(c));
        }
        Ok(Ok(b.audit))
    }
}

/// A move to another slot, as the writer runs it. On PostgreSQL a unique violation (the new slot
/// taken meanwhile) aborts the transaction, so there it runs in a savepoint; on SQLite a failed
/// statement is undone alone and the check comes before any write.
struct Reschedule(Rescheduling);

#[async_trait]
impl Write for Reschedule {
    fn needs_savepoint(&self, backend: Backend) -> bool {
        backend == Backend::Postgres
    }

    async fn write(
        self: Box<Self>,
        conn: &mut AnyConnection,
        backend: Backend,
        _later: &mut Later,
    ) -> R<R<Vec<AuditEntry>>> {
        let change = self.0;
        match reschedule_in(conn, backend, &change).await {
            Ok(()) => Ok(Ok(change.audit)),
            Err(refused) if is_refusal(&refused) => Ok(Err(refused)),
            Err(failed) => Err(failed),
        }
    }
}

/// Moves an appointment inside the writer's transaction (its audit entries are the writer's job).
async fn reschedule_in(conn: &mut AnyConnection, backend: Backend, change: &Rescheduling) -> R<()> {
    let a = &change.appointment;
    check_clash(conn, backend, a).await?;
    let done = sqlx::query(
        "UPDATE appointments SET clinician_id = $3, site_id = $4, slot_id = $5, start_at = $6, end_at = $7, \
         patient_state = $8, updated_at = $9 WHERE id = $1 AND org_id = $2 AND status = $10",
    )
    .bind(a.id.to_string())
    .bind(a.org_id.to_string())
    .bind(a.clinician_id.to_string())
    .bind(a.site_id.to_string())
    .bind(a.slot_id.map(|s| s.to_string()))
    .bind(a.start_at.as_microsecond())
    .bind(a.end_at.as_microsecond())
    .bind(a.patient_state.code())
    .bind(a.updated_at.as_microsecond())
    .bind(change.expected_status.as_str())
    .execute(&mut *conn)
    .await
    .map_err(slot_taken_or)?;
    if done.rows_affected() == 0 {
        return Err(DomainError::conflict_on(
            "status",
            "the appointment was changed by someone else meanwhile; reload it and try again",
        ));
    }
    insert_event(conn, &change.event).await?;
    if let Some(c) = &change.consent {
        insert_consent(conn, c).await?;
    }
    Ok(())
}

/// Moves an appointment from `c.from` to `c.to` with its event and consent, inside the caller's
/// transaction (which records `c.audit`); false if it was no longer in `c.from`, and then the
/// caller rolls back. Cancelling an appointment whose patient is in the waiting room cancels the
/// visit with it.
pub(crate) async fn apply_status_change(conn: &mut AnyConnection, c: &StatusChange) -> R<bool> {
    let done = sqlx::query(
        "UPDATE appointments SET status = $3, updated_at = $4, \
         late_cancellation = $5, cancel_reason = COALESCE($6, cancel_reason), \
         patient_state = COALESCE($7, patient_state), end_at = COALESCE($8, end_at) \
         WHERE id = $1 AND org_id = $2 AND status = $9",
    )
    .bind(c.appointment_id.to_string())
    .bind(c.org_id.to_string())
    .bind(c.to.as_str())
    .bind(c.at.as_microsecond())
    .bind(c.late_cancellation)
    .bind(c.cancel_reason.clone())
    .bind(c.patient_state.map(|s| s.code()))
    .bind(c.end_at.map(|t| t.as_microsecond()))
    .bind(c.from.as_str())
    .execute(&mut *conn)
    .await
    .db()?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    insert_event(conn, &c.event).await?;
    if let Some(consent) = &c.consent {
        insert_consent(conn, consent).await?;
    }
    if c.to == AppointmentStatus::Cancelled {
        cancel_open_visit(conn, c).await?;
    }
    Ok(true)
}

/// Cancels the visit of an appointment being cancelled, if the patient is waiting or about to be
/// let in (inside the appointment's transaction), and logs who cancelled it.
async fn cancel_open_visit(conn: &mut AnyConnection, c: &StatusChange) -> R<()> {
    let done = sqlx::query(
        "UPDATE visits SET state = 'cancelled', ended_at = $3, updated_at = $3 \
         WHERE appointment_id = $1 AND org_id = $2 AND state IN ('waiting', 'admitted')",
    )
    .bind(c.appointment_id.to_string())
    .bind(c.org_id.to_string())
    .bind(c.at.as_microsecond())
    .execute(&mut *conn)
    .await
    .db()?;
    if done.rows_affected() > 0 {
        let entry = VisitLogEntry {
            id: domain::ids::VisitEventId::new(),
            appointment_id: c.appointment_id,
            at: c.at,
            kind: "cancelled".into(),
            actor: c.event.actor.clone(),
            detail: c.cancel_reason.clone(),
        };
        visit_log::insert(conn, &entry).await?;
    }
    Ok(())
}

impl SqlStore {
    async fn query_appointments(&self, sql: String, args: Vec<Arg>) -> R<Vec<Appointment>> {
        let rows = db::bind_args(sqlx::query(AssertSqlSafe(sql)), args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(appointment_from_row).collect()
    }

    /// Forgets what a committed status change made stale.
    pub(crate) fn after_status_change(&self, c: &StatusChange) {
        if let Some(consent) = &c.consent {
            self.caches
                .consents
                .remove(&(consent.org_id, consent.patient_id));
        }
        if c.to == AppointmentStatus::Cancelled {
            // Its slot is free again.
            self.caches.taken_slots.clear();
        }
    }
}

#[async_trait]
impl AppointmentStore for SqlStore {
    async fn book(&self, booking: NewBooking) -> R<()> {
        let consented = booking.consent.as_ref().map(|c| (c.org_id, c.patient_id));
        let started = std::time::Instant::now();
        let result = self.group_commit(Job::Write(Box::new(Book(booking)))).await;
        tracing::debug!(
            micros = started.elapsed().as_micros() as u64,
            "booking committed"
        );
        if let Some(key) = consented {
            self.caches.consents.remove(&key);
        }
        result
    }

    async fn reschedule(&self, change: Rescheduling) -> R<()> {
        let consented = change.consent.as_ref().map(|c| (c.org_id, c.patient_id));
        let result = self
            .group_commit(Job::Write(Box::new(Reschedule(change))))
            .await;
        if let Some(key) = consented {
            self.caches.consents.remove(&key);
        }
        result?;
        // The old slot is free again.
        self.caches.taken_slots.clear();
        Ok(())
    }

    async fn change_status(&self, c: StatusChange) -> R<bool> {
        let changed = self
            .audited_if(c.audit.clone(), async |tx| {
                apply_status_change(tx, &c).await
            })
            .await?;
        if changed {
            self.after_status_change(&c);
        }
        Ok(changed)
    }

    async fn get_appointment(&self, org: OrgId, id: AppointmentId) -> R<Option<Appointment>> {
        let sql =
            format!("SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE org_id = $1 AND id = $2");
        Ok(self
            .query_appointments(
                sql,
                vec![Arg::Text(org.to_string()), Arg::Text(id.to_string())],
            )
            .await?
            .pop())
    }

    async fn list_appointments(&self, org: OrgId, q: &AppointmentQuery) -> R<Vec<Appointment>> {
        let mut f = Filter::default();
        f.push("org_id = ?", Arg::Text(org.to_string()));
        if let Some(p) = q.patient_id {
            f.push("patient_id = ?", Arg::Text(p.to_string()));
        }
        if let Some(c) = q.clinician_id {
            f.push("clinician_id = ?", Arg::Text(c.to_string()));
        }
        if let Some(sites) = &q.site_ids {
            if sites.is_empty() {
                return Ok(Vec::new());
            }
            f.any_of("site_id", sites.iter().map(ToString::to_string).collect());
        }
        if let Some(from) = q.from {
            f.push("start_at >= ?", Arg::Int(from.as_microsecond()));
        }
        if let Some(to) = q.to {
            f.push("start_at < ?", Arg::Int(to.as_microsecond()));
        }
        if let Some(statuses) = &q.statuses {
            if statuses.is_empty() {
                return Ok(Vec::new());
            }
            f.any_of(
                "status",
                statuses.iter().map(|s| s.as_str().to_string()).collect(),
            );
        }
        let n = f.next();
        let sql = format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointments {} ORDER BY start_at, id LIMIT ${n} OFFSET ${}",
            f.where_clause(),
            n + 1
        );
        let mut args = f.args;
        args.push(Arg::Int(if q.limit <= 0 { 200 } else { q.limit }));
        args.push(Arg::Int(q.offset.max(0)));
        self.query_appointments(sql, args).await
    }

    async fn appointment_events(&self, org: OrgId, id: AppointmentId) -> R<Vec<AppointmentEvent>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM appointment_events WHERE appointment_id = $2 \
             AND appointment_id IN (SELECT id FROM appointments WHERE org_id = $1) ORDER BY at, id"
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(event_from_row).collect()
    }

    async fn overdue_booked(&self, started_before: Timestamp, limit: i64) -> R<Vec<Appointment>> {
        let sql = format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE status = 'booked' AND start_at < $1 \
             ORDER BY start_at, id LIMIT $2"
        );
        self.query_appointments(
            sql,
            vec![Arg::Int(started_before.as_microsecond()), Arg::Int(limit)],
        )
        .await
    }

    async fn booked_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: i64,
    ) -> R<Vec<Appointment>> {
        let sql = format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE status = 'booked' AND start_at >= $1 \
             AND start_at < $2 ORDER BY start_at, id LIMIT $3"
        );
        self.query_appointments(
            sql,
            vec![
                Arg::Int(from.as_microsecond()),
                Arg::Int(to.as_microsecond()),
                Arg::Int(limit),
            ],
        )
        .await
    }

    async fn claim_reminder(
        &self,
        appointment: AppointmentId,
        offset_minutes: i64,
        at: Timestamp,
    ) -> R<bool> {
        // A claim whose sender died without finishing is taken over after ten minutes.
        let stale = at
            .saturating_sub(jiff::SignedDuration::from_mins(10))
            .unwrap_or(at);
        let done = sqlx::query(
            "INSERT INTO reminders_sent (appointment_id, offset_minutes, claimed_at, sent) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (appointment_id, offset_minutes) DO UPDATE SET claimed_at = excluded.claimed_at \
             WHERE NOT reminders_sent.sent AND reminders_sent.claimed_at < $5",
        )
        .bind(appointment.to_string())
        .bind(offset_minutes)
        .bind(at.as_microsecond())
        .bind(false)
        .bind(stale.as_microsecond())
        .execute(&self.writer)
        .await
        .db()?;
        Ok(done.rows_affected() > 0)
    }

    async fn finish_reminder(
        &self,
        appointment: AppointmentId,
        offset_minutes: i64,
        sent: Option<AuditEntry>,
    ) -> R<()> {
        match sent {
            Some(audit) => {
                self.audited(audit, async |tx| {
                    sqlx::query(
                        "UPDATE reminders_sent SET sent = $3 WHERE appointment_id = $1 AND offset_minutes = $2",
                    )
                    .bind(appointment.to_string())
                    .bind(offset_minutes)
                    .bind(true)
                    .execute(&mut *tx)
                    .await
                    .db()?;
                    Ok(())
                })
                .await
            }
            None => {
                sqlx::query(
                    "DELETE FROM reminders_sent WHERE appointment_id = $1 AND offset_minutes = $2",
                )
                .bind(appointment.to_string())
                .bind(offset_minutes)
                .execute(&self.writer)
                .await
                .db()?;
                Ok(())
            }
        }
    }

    async fn set_calendar_feed(
        &self,
        org: OrgId,
        user: UserId,
        token_hash: &str,
        at: Timestamp,
        audit: AuditEntry,
    ) -> R<()> {
        self.audited(audit, async |tx| {
            sqlx::query(
                "INSERT INTO calendar_feeds (user_id, org_id, token_hash, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
            )
            .bind(user.to_string())
            .bind(org.to_string())
            .bind(token_hash.to_string())
            .bind(at.as_microsecond())
            .execute(&mut *tx)
            .await
            .db()?;
            Ok(())
        })
        .await
    }

    async fn calendar_feed_owner(&self, token_hash: &str) -> R<Option<(OrgId, UserId)>> {
        let row = sqlx::query("SELECT org_id, user_id FROM calendar_feeds WHERE token_hash = $1")
            .bind(token_hash.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.map(|r| Ok((db::parsed(&r, "org_id")?, db::parsed(&r, "user_id")?)))
            .transpose()
    }
}
