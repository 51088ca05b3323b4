//! The overlap rules a booking or move is checked against inside its transaction: the slot still
//! offered and free, no other visit of the same patient or clinician at the same time.

use domain::DomainError;
use domain::scheduling::{Appointment, MAX_VISIT_MINUTES};
use sqlx::{AnyConnection, AssertSqlSafe};

use super::APPOINTMENT_COLUMNS;
use crate::backend::Backend;
use crate::db::{self, DbResult, Query, R, is_unique_violation};

/// Statuses that hold a clinician's or patient's time (see `AppointmentStatus::occupies_time`).
const OCCUPYING: &str = "status NOT IN ('cancelled', 'no_show')";

/// The checks a booking or move makes inside its transaction, in one round trip.
struct Clash {
    slot_open: bool,
    slot_holders: i64,
    patient_overlaps: i64,
    clinician_overlaps: i64,
}

/// Appointments of `person` (`$who`) other than `$id` that overlap `[$start, $end)`. No visit is
/// longer than `MAX_VISIT_MINUTES`, so only those starting after `$lower` (= start minus that)
/// can overlap: the index scan stays a few rows wide however long a patient's history is.
fn overlapping(
    person: &str,
    who: usize,
    id: usize,
    start: usize,
    end: usize,
    lower: usize,
) -> String {
    format!(
        "SELECT 1 FROM appointments WHERE {person} = ${who} AND start_at > ${lower} AND start_at < ${end} \
         AND end_at > ${start} AND {OCCUPYING} AND id <> ${id}"
    )
}

/// The instant before which no appointment can reach `a`'s start.
fn look_back(a: &Appointment) -> i64 {
    a.start_at.as_microsecond() - MAX_VISIT_MINUTES * 60_000_000
}

async fn clash(conn: &mut AnyConnection, a: &Appointment) -> R<Clash> {
    let sql = AssertSqlSafe(format!(
        "SELECT \
           (SELECT COUNT(*) FROM slots WHERE id = $1 AND NOT withdrawn) AS slot_open, \
           (SELECT COUNT(*) FROM appointments WHERE slot_id = $1 AND status <> 'cancelled' AND id <> $2) AS slot_holders, \
           (SELECT COUNT(*) FROM ({}) p) AS patient_overlaps, \
           (SELECT COUNT(*) FROM ({}) c) AS clinician_overlaps",
        overlapping("patient_id", 3, 2, 4, 5, 7),
        overlapping("clinician_id", 6, 2, 4, 5, 7),
    ));
    let row = sqlx::query(sql)
        .bind(a.slot_id.map(|s| s.to_string()).unwrap_or_default())
        .bind(a.id.to_string())
        .bind(a.patient_id.to_string())
        .bind(a.start_at.as_microsecond())
        .bind(a.end_at.as_microsecond())
        .bind(a.clinician_id.to_string())
        .bind(look_back(a))
        .fetch_one(&mut *conn)
        .await
        .db()?;
    Ok(Clash {
        slot_open: db::int(&row, "slot_open")? > 0,
        slot_holders: db::int(&row, "slot_holders")?,
        patient_overlaps: db::int(&row, "patient_overlaps")?,
        clinician_overlaps: db::int(&row, "clinician_overlaps")?,
    })
}

/// On PostgreSQL several servers may book at once: take a transaction lock on the patient and on
/// the clinician (advisory locks keyed by their ids, both in one round trip), so overlap checks and
/// writes for one person happen one after the other. SQLite has one writer anyway.
async fn lock_people(conn: &mut AnyConnection, backend: Backend, a: &Appointment) -> R<()> {
    if backend == Backend::Postgres {
        sqlx::query(
            "SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), \
             pg_advisory_xact_lock(hashtextextended($2, 0))) AS locks",
        )
        .bind(format!("patient:{}", a.patient_id))
        .bind(format!("clinician:{}", a.clinician_id))
        .fetch_optional(&mut *conn)
        .await
        .db()?;
    }
    Ok(())
}

/// Refuses a write that would double-book a slot, a patient or a clinician.
pub(super) async fn check_clash(
    conn: &mut AnyConnection,
    backend: Backend,
    a: &Appointment,
) -> R<()> {
    lock_people(conn, backend, a).await?;
    explain_clash(conn, a).await
}

/// The rule an appointment breaks, read in the caller's transaction (`Ok` when none).
async fn explain_clash(conn: &mut AnyConnection, a: &Appointment) -> R<()> {
    let c = clash(conn, a).await?;
    if a.slot_id.is_some() && !c.slot_open {
        return Err(DomainError::SlotNotBookable(
            "this time is no longer available: the clinician's availability changed".into(),
        ));
    }
    if c.slot_holders > 0 {
        return Err(DomainError::SlotTaken);
    }
    // The clinician first: when they are busy no patient can be given to them, whereas a patient
    // who is busy is one the urgent-care queue passes over for the next.
    if c.clinician_overlaps > 0 {
        return Err(DomainError::ClinicianBusy);
    }
    if c.patient_overlaps > 0 {
        return Err(DomainError::PatientDoubleBooked);
    }
    Ok(())
}

pub(super) fn slot_taken_or(err: sqlx::Error) -> DomainError {
    if is_unique_violation(&err) {
        DomainError::SlotTaken
    } else {
        db::storage(err)
    }
}

/// Inserts the appointment unless it clashes: its slot withdrawn, taken (the unique index, with
/// `ON CONFLICT DO NOTHING`, so a race never aborts the transaction), or another visit of the
/// patient or clinician overlapping. One statement: the checks and the write cannot be
/// interleaved. Returns whether it was inserted.
async fn insert_if_free(conn: &mut AnyConnection, a: &Appointment) -> R<bool> {
    let sql = AssertSqlSafe(format!(
        "INSERT INTO appointments ({APPOINTMENT_COLUMNS}) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18 \
         WHERE ($6 IS NULL OR EXISTS (SELECT 1 FROM slots WHERE id = $6 AND NOT withdrawn)) \
         AND NOT EXISTS ({}) AND NOT EXISTS ({}) ON CONFLICT DO NOTHING",
        overlapping("patient_id", 3, 1, 10, 11, 19),
        overlapping("clinician_id", 4, 1, 10, 11, 19),
    ));
    let done = bind_appointment(sqlx::query(sql), a)
        .bind(look_back(a))
        .execute(&mut *conn)
        .await
        .map_err(slot_taken_or)?;
    Ok(done.rows_affected() > 0)
}

/// Binds `$1`..`$18`, an appointment's columns in `APPOINTMENT_COLUMNS` order.
fn bind_appointment<'q>(query: Query<'q>, a: &Appointment) -> Query<'q> {
    query
        .bind(a.id.to_string())
        .bind(a.org_id.to_string())
        .bind(a.patient_id.to_string())
        .bind(a.clinician_id.to_string())
        .bind(a.site_id.to_string())
        .bind(a.slot_id.map(|s| s.to_string()))
        .bind(a.visit_type_id.to_string())
        .bind(a.service_line.as_str())
        .bind(a.modality.as_str())
        .bind(a.start_at.as_microsecond())
        .bind(a.end_at.as_microsecond())
        .bind(a.patient_state.code())
        .bind(a.status.as_str())
        .bind(a.reason.clone())
        .bind(a.late_cancellation)
        .bind(a.cancel_reason.clone())
        .bind(a.created_at.as_microsecond())
        .bind(a.updated_at.as_microsecond())
}

/// Inserts a new appointment if nothing clashes, or says what does.
pub(super) async fn insert_checked(
    conn: &mut AnyConnection,
    backend: Backend,
    a: &Appointment,
) -> R<()> {
    lock_people(conn, backend, a).await?;
    if insert_if_free(conn, a).await? {
        return Ok(());
    }
    explain_clash(conn, a).await?;
    // Nothing clashes now, so the slot went between the two statements: it is taken.
    Err(DomainError::SlotTaken)
}

/// True for the refusals a booking can meet in the writer: the database's verdict on this one
/// booking, raised before it wrote anything (so nothing needs undoing, and the batch goes on).
pub(super) fn is_refusal(err: &DomainError) -> bool {
    matches!(
        err,
        DomainError::SlotTaken
            | DomainError::SlotNotBookable(_)
            | DomainError::PatientDoubleBooked
            | DomainError::ClinicianBusy
            | DomainError::Conflict { .. }
    )
}
