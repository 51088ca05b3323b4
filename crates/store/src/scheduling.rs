//! Scheduling storage: visit types, availability, slots, appointments and their events, consent,
//! the on-demand queue, reminders and calendar feeds.
//!
//! Double booking is impossible by construction: `appointments_one_per_slot` is a unique index
//! over the slot of every appointment that is not cancelled, so of two bookings racing for a slot
//! the database lets exactly one commit. Bookings and moves run in the group-commit writer
//! (`audit.rs`), each in its own savepoint, with the overlap checks in the same transaction.

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::{AuditEntry, ConsentDocument, ConsentMethod, PatientConsent};
use domain::identity::{Role, UsState};
use domain::ids::{
    AppointmentId, OrgId, PatientId, QueueEntryId, SlotId, TemplateId, UserId, VisitTypeId,
};
use domain::scheduling::availability::{format_time, parse_time};
use domain::scheduling::{
    Appointment, AppointmentAction, AppointmentEvent, AppointmentQuery, AppointmentStatus,
    AvailabilityException, AvailabilityTemplate, ExceptionKind, MAX_VISIT_MINUTES, Modality,
    NewBooking, PatientKind, QueueEntry, QueueStatus, QueueTake, Rescheduling, SchedulingStore,
    ServiceLine, ServiceLines, Slot, SlotQuery, SlotView, StatusChange, VisitType,
};
use domain::store::StoreResult;
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::audit::{self, Work};
use crate::connect::Backend;
use crate::db::{self, Arg, DbResult, Filter, R, SqlStore, is_unique_violation, write_error};

const VISIT_TYPE_COLUMNS: &str = "id, org_id, name, service_line, modality, patient_kind, duration_minutes, \
                                  patient_bookable, active, created_at";
const TEMPLATE_COLUMNS: &str = "id, org_id, clinician_id, site_id, weekday, start_time, end_time, slot_minutes, \
                                buffer_minutes, service_lines, valid_from, valid_until, created_at";
const EXCEPTION_COLUMNS: &str = "id, org_id, clinician_id, kind, site_id, start_at, end_at, slot_minutes, \
                                 buffer_minutes, service_lines, reason, created_at";
const SLOT_COLUMNS: &str = "s.id, s.org_id, s.clinician_id, s.site_id, s.start_at, s.end_at, s.service_lines, \
                            s.template_id, s.exception_id, s.withdrawn, s.created_at";
/// Whether a live appointment holds slot `s`.
const SLOT_TAKEN: &str =
    "EXISTS (SELECT 1 FROM appointments a WHERE a.slot_id = s.id AND a.status <> 'cancelled')";
const APPOINTMENT_COLUMNS: &str = "id, org_id, patient_id, clinician_id, site_id, slot_id, visit_type_id, \
                                   service_line, modality, start_at, end_at, patient_state, status, reason, \
                                   late_cancellation, cancel_reason, created_at, updated_at";
const EVENT_COLUMNS: &str = "id, appointment_id, at, action, from_status, to_status, actor_kind, actor_id, actor_role, detail";
const QUEUE_COLUMNS: &str = "id, org_id, patient_id, patient_state, service_line, visit_type_id, reason, status, \
                             joined_at, taken_by, taken_at, appointment_id";
fn value<T>(row: &AnyRow, col: &str, parse: fn(&str, &str) -> R<T>) -> R<T> {
    db::domain_value(row, col, parse)
}

fn visit_type_from_row(row: &AnyRow) -> R<VisitType> {
    Ok(VisitType {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        name: db::text(row, "name")?,
        service_line: value(row, "service_line", ServiceLine::parse)?,
        modality: value(row, "modality", Modality::parse)?,
        patient_kind: value(row, "patient_kind", PatientKind::parse)?,
        duration_minutes: db::int(row, "duration_minutes")?,
        patient_bookable: db::flag(row, "patient_bookable")?,
        active: db::flag(row, "active")?,
        created_at: db::ts(row, "created_at")?,
    })
}

fn weekday_from(row: &AnyRow) -> R<Weekday> {
    let n = db::int(row, "weekday")?;
    i8::try_from(n)
        .ok()
        .and_then(|n| Weekday::from_monday_one_offset(n).ok())
        .ok_or_else(|| DomainError::Storage(format!("stored weekday {n} is out of range")))
}

fn template_from_row(row: &AnyRow) -> R<AvailabilityTemplate> {
    Ok(AvailabilityTemplate {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        clinician_id: db::parsed(row, "clinician_id")?,
        site_id: db::parsed(row, "site_id")?,
        weekday: weekday_from(row)?,
        start_time: value(row, "start_time", parse_time)?,
        end_time: value(row, "end_time", parse_time)?,
        slot_minutes: db::int(row, "slot_minutes")?,
        buffer_minutes: db::int(row, "buffer_minutes")?,
        service_lines: ServiceLines::from_bits(db::int(row, "service_lines")?),
        valid_from: db::date(row, "valid_from")?,
        valid_until: db::opt_date(row, "valid_until")?,
        created_at: db::ts(row, "created_at")?,
    })
}

fn exception_from_row(row: &AnyRow) -> R<AvailabilityException> {
    Ok(AvailabilityException {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        clinician_id: db::parsed(row, "clinician_id")?,
        kind: value(row, "kind", ExceptionKind::parse)?,
        site_id: db::opt_parsed(row, "site_id")?,
        start_at: db::ts(row, "start_at")?,
        end_at: db::ts(row, "end_at")?,
        slot_minutes: db::int(row, "slot_minutes")?,
        buffer_minutes: db::int(row, "buffer_minutes")?,
        service_lines: ServiceLines::from_bits(db::int(row, "service_lines")?),
        reason: db::opt_text(row, "reason")?,
        created_at: db::ts(row, "created_at")?,
    })
}

fn slot_view_from_row(row: &AnyRow) -> R<SlotView> {
    Ok(SlotView {
        slot: Slot {
            id: db::parsed(row, "id")?,
            org_id: db::parsed(row, "org_id")?,
            clinician_id: db::parsed(row, "clinician_id")?,
            site_id: db::parsed(row, "site_id")?,
            start_at: db::ts(row, "start_at")?,
            end_at: db::ts(row, "end_at")?,
            service_lines: ServiceLines::from_bits(db::int(row, "service_lines")?),
            template_id: db::opt_parsed(row, "template_id")?,
            exception_id: db::opt_parsed(row, "exception_id")?,
            withdrawn: db::flag(row, "withdrawn")?,
            created_at: db::ts(row, "created_at")?,
        },
        taken: db::flag(row, "taken")?,
    })
}

fn appointment_from_row(row: &AnyRow) -> R<Appointment> {
    Ok(Appointment {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        patient_id: db::parsed(row, "patient_id")?,
        clinician_id: db::parsed(row, "clinician_id")?,
        site_id: db::parsed(row, "site_id")?,
        slot_id: db::opt_parsed(row, "slot_id")?,
        visit_type_id: db::parsed(row, "visit_type_id")?,
        service_line: value(row, "service_line", ServiceLine::parse)?,
        modality: value(row, "modality", Modality::parse)?,
        start_at: db::ts(row, "start_at")?,
        end_at: db::ts(row, "end_at")?,
        patient_state: value(row, "patient_state", UsState::parse)?,
        status: value(row, "status", AppointmentStatus::parse)?,
        reason: db::opt_text(row, "reason")?,
        late_cancellation: db::flag(row, "late_cancellation")?,
        cancel_reason: db::opt_text(row, "cancel_reason")?,
        created_at: db::ts(row, "created_at")?,
        updated_at: db::ts(row, "updated_at")?,
    })
}

fn event_from_row(row: &AnyRow) -> R<AppointmentEvent> {
    let actor = db::actor(row)?;
    Ok(AppointmentEvent {
        id: db::parsed(row, "id")?,
        appointment_id: db::parsed(row, "appointment_id")?,
        at: db::ts(row, "at")?,
        action: value(row, "action", AppointmentAction::parse)?,
        from_status: match db::opt_text(row, "from_status")? {
            Some(s) => Some(AppointmentStatus::parse("from_status", &s)?),
            None => None,
        },
        to_status: value(row, "to_status", AppointmentStatus::parse)?,
        actor,
        detail: db::opt_text(row, "detail")?,
    })
}

fn consent_from_row(row: &AnyRow) -> R<PatientConsent> {
    let method = db::text(row, "method")?;
    Ok(PatientConsent {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        patient_id: db::parsed(row, "patient_id")?,
        version: db::int(row, "version")?,
        method: ConsentMethod::parse(&method).ok_or_else(|| {
            DomainError::Storage(format!("stored consent method {method} is unknown"))
        })?,
        recorded_by: db::opt_parsed(row, "recorded_by")?,
        given_at: db::ts(row, "given_at")?,
    })
}

fn queue_from_row(row: &AnyRow) -> R<QueueEntry> {
    Ok(QueueEntry {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        patient_id: db::parsed(row, "patient_id")?,
        patient_state: value(row, "patient_state", UsState::parse)?,
        service_line: value(row, "service_line", ServiceLine::parse)?,
        visit_type_id: db::parsed(row, "visit_type_id")?,
        reason: db::opt_text(row, "reason")?,
        status: value(row, "status", QueueStatus::parse)?,
        joined_at: db::ts(row, "joined_at")?,
        taken_by: db::opt_parsed(row, "taken_by")?,
        taken_at: db::opt_ts(row, "taken_at")?,
        appointment_id: db::opt_parsed(row, "appointment_id")?,
    })
}

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
async fn check_clash(conn: &mut AnyConnection, backend: Backend, a: &Appointment) -> R<()> {
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
    if c.patient_overlaps > 0 {
        return Err(DomainError::PatientDoubleBooked);
    }
    if c.clinician_overlaps > 0 {
        return Err(DomainError::ClinicianBusy);
    }
    Ok(())
}

fn slot_taken_or(err: sqlx::Error) -> DomainError {
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
fn bind_appointment<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    a: &Appointment,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
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

pub(crate) async fn insert_event(conn: &mut AnyConnection, e: &AppointmentEvent) -> R<()> {
    insert_events(conn, &[e]).await
}

/// Inserts events, many rows per statement.
async fn insert_events(conn: &mut AnyConnection, events: &[&AppointmentEvent]) -> R<()> {
    const COLUMNS: usize = 10;
    for chunk in db::fixed_chunks(events) {
        let rows = (0..chunk.len())
            .map(|r| format!("({})", db::placeholders(r * COLUMNS + 1, COLUMNS)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = AssertSqlSafe(format!(
            "INSERT INTO appointment_events ({EVENT_COLUMNS}) VALUES {rows}"
        ));
        let mut query = sqlx::query(sql);
        for e in chunk {
            query = query
                .bind(e.id.to_string())
                .bind(e.appointment_id.to_string())
                .bind(e.at.as_microsecond())
                .bind(e.action.as_str())
                .bind(e.from_status.map(|s| s.as_str()))
                .bind(e.to_status.as_str())
                .bind(e.actor.kind())
                .bind(e.actor.id())
                .bind(e.actor.role().map(Role::as_str))
                .bind(e.detail.clone());
        }
        query.execute(&mut *conn).await.db()?;
    }
    Ok(())
}

/// Inserts a consent unless the patient already agreed to that version.
async fn insert_consent(conn: &mut AnyConnection, c: &PatientConsent) -> R<()> {
    insert_consents(conn, &[c]).await
}

/// Inserts consents, many rows per statement; a patient's second agreement to a version is
/// ignored (also within one statement).
async fn insert_consents(conn: &mut AnyConnection, consents: &[&PatientConsent]) -> R<()> {
    const COLUMNS: usize = 7;
    for chunk in db::fixed_chunks(consents) {
        let rows = (0..chunk.len())
            .map(|r| format!("({})", db::placeholders(r * COLUMNS + 1, COLUMNS)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = AssertSqlSafe(format!(
            "INSERT INTO patient_consents (id, org_id, patient_id, version, method, recorded_by, given_at) \
             VALUES {rows} ON CONFLICT (patient_id, version) DO NOTHING"
        ));
        let mut query = sqlx::query(sql);
        for c in chunk {
            query = query
                .bind(c.id.to_string())
                .bind(c.org_id.to_string())
                .bind(c.patient_id.to_string())
                .bind(c.version)
                .bind(c.method.as_str())
                .bind(c.recorded_by.map(|u| u.to_string()))
                .bind(c.given_at.as_microsecond());
        }
        query.execute(&mut *conn).await.db()?;
    }
    Ok(())
}

/// Inserts a new appointment if nothing clashes, or says what does.
async fn insert_checked(conn: &mut AnyConnection, backend: Backend, a: &Appointment) -> R<()> {
    lock_people(conn, backend, a).await?;
    if insert_if_free(conn, a).await? {
        return Ok(());
    }
    explain_clash(conn, a).await?;
    // Nothing clashes now, so the slot went between the two statements: it is taken.
    Err(DomainError::SlotTaken)
}

/// True for the refusals a booking can meet in the writer: the database's verdict on this one
/// booking, raised before it wrote anything (so nothing needs undoing).
pub(crate) fn is_refusal(err: &DomainError) -> bool {
    matches!(
        err,
        DomainError::SlotTaken
            | DomainError::SlotNotBookable(_)
            | DomainError::PatientDoubleBooked
            | DomainError::ClinicianBusy
            | DomainError::Conflict(_)
    )
}

/// Writes a booking inside the group-commit writer's transaction (audit entries are its job).
/// A refusal happens before the first write (the conditional insert writes nothing, a unique
/// violation undoes its own statement), so on SQLite no savepoint is needed around it.
/// Its event and consent follow for the whole batch in `write_booked` (fewer statements).
pub(crate) async fn book_in(conn: &mut AnyConnection, backend: Backend, b: &NewBooking) -> R<()> {
    insert_checked(conn, backend, &b.appointment).await
}

/// The events and consents of the bookings a batch accepted, written together.
pub(crate) async fn write_booked(conn: &mut AnyConnection, booked: &[&NewBooking]) -> R<()> {
    let events: Vec<&AppointmentEvent> = booked.iter().map(|b| &b.event).collect();
    insert_events(conn, &events).await?;
    let consents: Vec<&PatientConsent> = booked.iter().filter_map(|b| b.consent.as_ref()).collect();
    insert_consents(conn, &consents).await
}

/// Moves an appointment inside the group-commit writer's transaction.
pub(crate) async fn reschedule_in(
    conn: &mut AnyConnection,
    backend: Backend,
    change: &Rescheduling,
) -> R<()> {
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
        return Err(DomainError::Conflict(
            "status: the appointment was changed by someone else meanwhile; reload it and try again".into(),
        ));
    }
    insert_event(conn, &change.event).await?;
    if let Some(c) = &change.consent {
        insert_consent(conn, c).await?;
    }
    Ok(())
}

/// Marks slots withdrawn (booked ones too: the appointment stays, but the slot is never offered
/// again, even if that appointment is cancelled or moved).
async fn withdraw(conn: &mut AnyConnection, filter: Filter) -> R<u64> {
    let sql = format!(
        "UPDATE slots SET withdrawn = ${} {} ",
        filter.next(),
        filter.where_clause()
    );
    let mut args = filter.args;
    args.push(Arg::Flag(true));
    let done = db::bind_args(sqlx::query(AssertSqlSafe(sql)), args)
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(done.rows_affected())
}

impl SqlStore {
    async fn query_appointments(&self, sql: String, args: Vec<Arg>) -> R<Vec<Appointment>> {
        let rows = db::bind_args(sqlx::query(AssertSqlSafe(sql)), args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(appointment_from_row).collect()
    }

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

/// Moves an appointment from `c.from` to `c.to` with its event, consent and audit, inside the
/// caller's transaction; false (nothing written) if it was no longer in `c.from`. Cancelling an
/// appointment whose patient is in the waiting room cancels the visit with it.
pub(crate) async fn apply_status_change(
    conn: &mut AnyConnection,
    backend: Backend,
    c: &StatusChange,
) -> R<bool> {
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
        crate::visits::cancel_open_visit(conn, c).await?;
    }
    audit::append(conn, backend, c.audit.clone()).await?;
    Ok(true)
}

impl SqlStore {
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
impl SchedulingStore for SqlStore {
    async fn create_visit_type(&self, v: &VisitType, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.db()?;
        let sql = AssertSqlSafe(format!(
            "INSERT INTO visit_types ({VISIT_TYPE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ));
        sqlx::query(sql)
            .bind(v.id.to_string())
            .bind(v.org_id.to_string())
            .bind(v.name.clone())
            .bind(v.service_line.as_str())
            .bind(v.modality.as_str())
            .bind(v.patient_kind.as_str())
            .bind(v.duration_minutes)
            .bind(v.patient_bookable)
            .bind(v.active)
            .bind(v.created_at.as_microsecond())
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                write_error(e, |_| {
                    format!("name: a visit type named {} already exists", v.name)
                })
            })?;
        audit::append(&mut tx, self.backend, vec![audit]).await?;
        tx.commit().await.db()?;
        self.caches.visit_types.remove(&v.org_id);
        Ok(())
    }

    async fn update_visit_type(&self, v: &VisitType, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.db()?;
        let done = sqlx::query(
            "UPDATE visit_types SET name = $3, service_line = $4, modality = $5, patient_kind = $6, \
             duration_minutes = $7, patient_bookable = $8, active = $9 WHERE id = $1 AND org_id = $2",
        )
        .bind(v.id.to_string())
        .bind(v.org_id.to_string())
        .bind(v.name.clone())
        .bind(v.service_line.as_str())
        .bind(v.modality.as_str())
        .bind(v.patient_kind.as_str())
        .bind(v.duration_minutes)
        .bind(v.patient_bookable)
        .bind(v.active)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error(e, |_| format!("name: a visit type named {} already exists", v.name)))?;
        if done.rows_affected() == 0 {
            return Err(DomainError::NotFound {
                resource: "visit type",
            });
        }
        audit::append(&mut tx, self.backend, vec![audit]).await?;
        tx.commit().await.db()?;
        self.caches.visit_types.remove(&v.org_id);
        Ok(())
    }

    /// From the organization's (cached) list: organizations offer a few dozen visit types.
    async fn get_visit_type(&self, org: OrgId, id: VisitTypeId) -> StoreResult<Option<VisitType>> {
        Ok(self
            .list_visit_types(org)
            .await?
            .into_iter()
            .find(|v| v.id == id))
    }

    async fn list_visit_types(&self, org: OrgId) -> StoreResult<Vec<VisitType>> {
        if let Some(found) = self.caches.visit_types.get(&org) {
            return Ok(found);
        }
        let sql = AssertSqlSafe(format!(
            "SELECT {VISIT_TYPE_COLUMNS} FROM visit_types WHERE org_id = $1 ORDER BY service_line, name, id"
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        let found = rows
            .iter()
            .map(visit_type_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        self.caches.visit_types.put(org, found.clone());
        Ok(found)
    }

    async fn create_template(
        &self,
        t: &AvailabilityTemplate,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.db()?;
        let sql = AssertSqlSafe(format!(
            "INSERT INTO availability_templates ({TEMPLATE_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ));
        sqlx::query(sql)
            .bind(t.id.to_string())
            .bind(t.org_id.to_string())
            .bind(t.clinician_id.to_string())
            .bind(t.site_id.to_string())
            .bind(i64::from(t.weekday.to_monday_one_offset()))
            .bind(format_time(t.start_time))
            .bind(format_time(t.end_time))
            .bind(t.slot_minutes)
            .bind(t.buffer_minutes)
            .bind(t.service_lines.bits())
            .bind(t.valid_from.to_string())
            .bind(t.valid_until.map(|d| d.to_string()))
            .bind(t.created_at.as_microsecond())
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(e, |_| "id: this template already exists".into()))?;
        audit::append(&mut tx, self.backend, vec![audit]).await?;
        tx.commit().await.db()
    }

    async fn get_template(
        &self,
        org: OrgId,
        id: TemplateId,
    ) -> StoreResult<Option<AvailabilityTemplate>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {TEMPLATE_COLUMNS} FROM availability_templates WHERE org_id = $1 AND id = $2"
        ));
        let row = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.as_ref().map(template_from_row).transpose()
    }

    async fn list_templates(
        &self,
        org: OrgId,
        clinician: Option<UserId>,
    ) -> StoreResult<Vec<AvailabilityTemplate>> {
        let mut filter = Filter::default();
        filter.push("org_id = ?", Arg::Text(org.to_string()));
        if let Some(c) = clinician {
            filter.push("clinician_id = ?", Arg::Text(c.to_string()));
        }
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM availability_templates {} ORDER BY clinician_id, weekday, start_time, id",
            filter.where_clause()
        );
        let rows = db::bind_args(sqlx::query(AssertSqlSafe(sql)), filter.args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(template_from_row).collect()
    }

    async fn clinicians_with_templates(&self, on: Date) -> StoreResult<Vec<(OrgId, UserId)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT org_id, clinician_id FROM availability_templates \
             WHERE valid_until IS NULL OR valid_until >= $1 ORDER BY org_id, clinician_id",
        )
        .bind(on.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        rows.iter()
            .map(|r| Ok((db::parsed(r, "org_id")?, db::parsed(r, "clinician_id")?)))
            .collect()
    }

    async fn end_template(
        &self,
        org: OrgId,
        id: TemplateId,
        last_day: Date,
        withdraw_from: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<u64> {
        let mut tx = self.writer.begin().await.db()?;
        let done = sqlx::query(
            "UPDATE availability_templates SET valid_until = $3 WHERE org_id = $1 AND id = $2",
        )
        .bind(org.to_string())
        .bind(id.to_string())
        .bind(last_day.to_string())
        .execute(&mut *tx)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Err(DomainError::NotFound {
                resource: "availability template",
            });
        }
        let mut filter = Filter::default();
        filter.push("template_id = ?", Arg::Text(id.to_string()));
        filter.push("start_at >= ?", Arg::Int(withdraw_from.as_microsecond()));
        filter.raw("NOT withdrawn");
        let withdrawn = withdraw(&mut tx, filter).await?;
        audit::append(&mut tx, self.backend, vec![audit]).await?;
        tx.commit().await.db()?;
        self.caches.taken_slots.clear();
        Ok(withdrawn)
    }

    async fn create_exception(
        &self,
        e: &AvailabilityException,
        audit: AuditEntry,
    ) -> StoreResult<u64> {
        let mut tx = self.writer.begin().await.db()?;
        let sql = AssertSqlSafe(format!(
            "INSERT INTO availability_exceptions ({EXCEPTION_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ));
        sqlx::query(sql)
            .bind(e.id.to_string())
            .bind(e.org_id.to_string())
            .bind(e.clinician_id.to_string())
            .bind(e.kind.as_str())
            .bind(e.site_id.map(|s| s.to_string()))
            .bind(e.start_at.as_microsecond())
            .bind(e.end_at.as_microsecond())
            .bind(e.slot_minutes)
            .bind(e.buffer_minutes)
            .bind(e.service_lines.bits())
            .bind(e.reason.clone())
            .bind(e.created_at.as_microsecond())
            .execute(&mut *tx)
            .await
            .map_err(|err| write_error(err, |_| "id: this exception already exists".into()))?;
        let withdrawn = if e.kind == ExceptionKind::Leave {
            let mut filter = Filter::default();
            filter.push("clinician_id = ?", Arg::Text(e.clinician_id.to_string()));
            filter.push("start_at < ?", Arg::Int(e.end_at.as_microsecond()));
            filter.push("end_at > ?", Arg::Int(e.start_at.as_microsecond()));
            filter.raw("NOT withdrawn");
            withdraw(&mut tx, filter).await?
        } else {
            0
        };
        audit::append(&mut tx, self.backend, vec![audit]).await?;
        tx.commit().await.db()?;
        self.caches.taken_slots.clear();
        Ok(withdrawn)
    }

    async fn list_exceptions(
        &self,
        org: OrgId,
        clinician: UserId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<AvailabilityException>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {EXCEPTION_COLUMNS} FROM availability_exceptions \
             WHERE org_id = $1 AND clinician_id = $2 AND start_at < $4 AND end_at > $3 ORDER BY start_at, id"
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .bind(clinician.to_string())
            .bind(from.as_microsecond())
            .bind(to.as_microsecond())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(exception_from_row).collect()
    }

    async fn publish_slots(&self, slots: &[Slot], audit: AuditEntry) -> StoreResult<u64> {
        const COLUMNS: usize = 11;
        let mut tx = self.writer.begin().await.db()?;
        let mut added = 0;
        for chunk in db::fixed_chunks(slots) {
            let rows = (0..chunk.len())
                .map(|r| format!("({})", db::placeholders(r * COLUMNS + 1, COLUMNS)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = AssertSqlSafe(format!(
                "INSERT INTO slots (id, org_id, clinician_id, site_id, start_at, end_at, service_lines, template_id, \
                 exception_id, withdrawn, created_at) VALUES {rows} ON CONFLICT (clinician_id, start_at) DO NOTHING"
            ));
            let mut query = sqlx::query(sql);
            for s in chunk {
                query = query
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
                    .bind(s.created_at.as_microsecond());
            }
            added += query.execute(&mut *tx).await.db()?.rows_affected();
        }
        if added > 0 {
            let audit = AuditEntry {
                detail: Some(format!(
                    "{added} new; {}",
                    audit.detail.clone().unwrap_or_default()
                )),
                ..audit
            };
            audit::append(&mut tx, self.backend, vec![audit]).await?;
        }
        tx.commit().await.db()?;
        Ok(added)
    }

    async fn get_slot(&self, org: OrgId, id: SlotId) -> StoreResult<Option<SlotView>> {
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
    ) -> StoreResult<Option<SlotView>> {
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

    async fn search_slots(&self, org: OrgId, q: &SlotQuery) -> StoreResult<Vec<SlotView>> {
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

    async fn book(&self, booking: NewBooking) -> StoreResult<()> {
        let consented = booking.consent.as_ref().map(|c| (c.org_id, c.patient_id));
        let started = std::time::Instant::now();
        let result = self.group_commit(Work::Book(Box::new(booking))).await;
        tracing::debug!(
            micros = started.elapsed().as_micros() as u64,
            "booking committed"
        );
        if let Some(key) = consented {
            self.caches.consents.remove(&key);
        }
        result
    }

    async fn reschedule(&self, change: Rescheduling) -> StoreResult<()> {
        let consented = change.consent.as_ref().map(|c| (c.org_id, c.patient_id));
        let result = self.group_commit(Work::Reschedule(Box::new(change))).await;
        if let Some(key) = consented {
            self.caches.consents.remove(&key);
        }
        result?;
        // The old slot is free again.
        self.caches.taken_slots.clear();
        Ok(())
    }

    async fn change_status(&self, c: StatusChange) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await.db()?;
        if !apply_status_change(&mut tx, self.backend, &c).await? {
            return Ok(false);
        }
        tx.commit().await.db()?;
        self.after_status_change(&c);
        Ok(true)
    }

    async fn get_appointment(
        &self,
        org: OrgId,
        id: AppointmentId,
    ) -> StoreResult<Option<Appointment>> {
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

    async fn list_appointments(
        &self,
        org: OrgId,
        q: &AppointmentQuery,
    ) -> StoreResult<Vec<Appointment>> {
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

    async fn appointment_events(
        &self,
        org: OrgId,
        id: AppointmentId,
    ) -> StoreResult<Vec<AppointmentEvent>> {
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

    async fn overdue_booked(
        &self,
        started_before: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<Appointment>> {
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
    ) -> StoreResult<Vec<Appointment>> {
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
    ) -> StoreResult<bool> {
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
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.db()?;
        match sent {
            Some(audit) => {
                sqlx::query("UPDATE reminders_sent SET sent = $3 WHERE appointment_id = $1 AND offset_minutes = $2")
                    .bind(appointment.to_string())
                    .bind(offset_minutes)
                    .bind(true)
                    .execute(&mut *tx)
                    .await
                    .db()?;
                audit::append(&mut tx, self.backend, vec![audit]).await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM reminders_sent WHERE appointment_id = $1 AND offset_minutes = $2",
                )
                .bind(appointment.to_string())
                .bind(offset_minutes)
                .execute(&mut *tx)
                .await
                .db()?;
            }
        }
        tx.commit().await.db()
    }

    async fn consent_document(&self, org: OrgId) -> StoreResult<Option<ConsentDocument>> {
        if let Some(found) = self.caches.consent.get(&org) {
            return Ok(found);
        }
        let found = sqlx::query(
            "SELECT org_id, version, text, published_at FROM consent_documents WHERE org_id = $1 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(org.to_string())
        .fetch_optional(&self.reader)
        .await
        .db()?
        .map(|r| {
            Ok(ConsentDocument {
                org_id: db::parsed(&r, "org_id")?,
                version: db::int(&r, "version")?,
                text: db::text(&r, "text")?,
                published_at: db::ts(&r, "published_at")?,
            })
        })
        .transpose()?;
        self.caches.consent.put(org, found.clone());
        Ok(found)
    }

    async fn publish_consent(&self, doc: &ConsentDocument, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.db()?;
        sqlx::query("INSERT INTO consent_documents (org_id, version, text, published_at) VALUES ($1, $2, $3, $4)")
            .bind(doc.org_id.to_string())
            .bind(doc.version)
            .bind(doc.text.clone())
            .bind(doc.published_at.as_microsecond())
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                write_error(e, |_| "text: another version was published meanwhile; reload and try again".into())
            })?;
        audit::append(&mut tx, self.backend, vec![audit]).await?;
        tx.commit().await.db()?;
        self.caches.consent.remove(&doc.org_id);
        Ok(())
    }

    async fn patient_consents(
        &self,
        org: OrgId,
        patient: PatientId,
    ) -> StoreResult<Vec<PatientConsent>> {
        if let Some(found) = self.caches.consents.get(&(org, patient)) {
            return Ok(found);
        }
        let rows = sqlx::query(
            "SELECT id, org_id, patient_id, version, method, recorded_by, given_at FROM patient_consents \
             WHERE org_id = $1 AND patient_id = $2 ORDER BY given_at, id",
        )
        .bind(org.to_string())
        .bind(patient.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        let found = rows
            .iter()
            .map(consent_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        self.caches.consents.put((org, patient), found.clone());
        Ok(found)
    }

    async fn record_consent(&self, consent: &PatientConsent, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.db()?;
        insert_consent(&mut tx, consent).await?;
        audit::append(&mut tx, self.backend, vec![audit]).await?;
        tx.commit().await.db()?;
        self.caches
            .consents
            .remove(&(consent.org_id, consent.patient_id));
        Ok(())
    }

    async fn join_queue(&self, e: &QueueEntry, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.db()?;
        let sql = AssertSqlSafe(format!(
            "INSERT INTO queue_entries ({QUEUE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ));
        sqlx::query(sql)
            .bind(e.id.to_string())
            .bind(e.org_id.to_string())
            .bind(e.patient_id.to_string())
            .bind(e.patient_state.code())
            .bind(e.service_line.as_str())
            .bind(e.visit_type_id.to_string())
            .bind(e.reason.clone())
            .bind(e.status.as_str())
            .bind(e.joined_at.as_microsecond())
            .bind(e.taken_by.map(|u| u.to_string()))
            .bind(e.taken_at.map(|t| t.as_microsecond()))
            .bind(e.appointment_id.map(|a| a.to_string()))
            .execute(&mut *tx)
            .await
            .map_err(|err| {
                write_error(err, |_| {
                    "patient_id: the patient is already waiting in the queue".into()
                })
            })?;
        audit::append(&mut tx, self.backend, vec![audit]).await?;
        tx.commit().await.db()
    }

    async fn get_queue_entry(
        &self,
        org: OrgId,
        id: QueueEntryId,
    ) -> StoreResult<Option<QueueEntry>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {QUEUE_COLUMNS} FROM queue_entries WHERE org_id = $1 AND id = $2"
        ));
        let row = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.as_ref().map(queue_from_row).transpose()
    }

    async fn latest_queue_entry(
        &self,
        org: OrgId,
        patient: PatientId,
    ) -> StoreResult<Option<QueueEntry>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {QUEUE_COLUMNS} FROM queue_entries WHERE org_id = $1 AND patient_id = $2 \
             ORDER BY joined_at DESC, id DESC LIMIT 1"
        ));
        let row = sqlx::query(sql)
            .bind(org.to_string())
            .bind(patient.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.as_ref().map(queue_from_row).transpose()
    }

    async fn waiting_queue(&self, org: OrgId) -> StoreResult<Vec<QueueEntry>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {QUEUE_COLUMNS} FROM queue_entries WHERE org_id = $1 AND status = 'waiting' ORDER BY joined_at, id"
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(queue_from_row).collect()
    }

    async fn leave_queue(
        &self,
        org: OrgId,
        id: QueueEntryId,
        audit: AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await.db()?;
        let done = sqlx::query("UPDATE queue_entries SET status = 'left' WHERE org_id = $1 AND id = $2 AND status = 'waiting'")
            .bind(org.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, self.backend, vec![audit]).await?;
        tx.commit().await.db()?;
        Ok(true)
    }

    async fn take_from_queue(&self, take: QueueTake) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await.db()?;
        insert_checked(&mut tx, self.backend, &take.appointment).await?;
        let done = sqlx::query(
            "UPDATE queue_entries SET status = 'taken', taken_by = $3, taken_at = $4, appointment_id = $5 \
             WHERE org_id = $1 AND id = $2 AND status = 'waiting'",
        )
        .bind(take.org_id.to_string())
        .bind(take.entry_id.to_string())
        .bind(take.clinician_id.to_string())
        .bind(take.at.as_microsecond())
        .bind(take.appointment.id.to_string())
        .execute(&mut *tx)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            // Dropping the transaction rolls the appointment back.
            return Ok(false);
        }
        insert_event(&mut tx, &take.event).await?;
        audit::append(&mut tx, self.backend, take.audit).await?;
        tx.commit().await.db()?;
        Ok(true)
    }

    async fn average_queue_wait(
        &self,
        org: OrgId,
        service_line: ServiceLine,
        since: Timestamp,
    ) -> StoreResult<Option<f64>> {
        let row = sqlx::query(
            "SELECT CAST(AVG(taken_at - joined_at) AS DOUBLE PRECISION) AS wait FROM queue_entries \
             WHERE org_id = $1 AND service_line = $2 AND status = 'taken' AND taken_at >= $3",
        )
        .bind(org.to_string())
        .bind(service_line.as_str())
        .bind(since.as_microsecond())
        .fetch_one(&self.reader)
        .await
        .db()?;
        Ok(db::float(&row, "wait")?.map(|micros| micros / 60_000_000.0))
    }

    async fn set_calendar_feed(
        &self,
        org: OrgId,
        user: UserId,
        token_hash: &str,
        at: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.db()?;
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
        audit::append(&mut tx, self.backend, vec![audit]).await?;
        tx.commit().await.db()
    }

    async fn calendar_feed_owner(&self, token_hash: &str) -> StoreResult<Option<(OrgId, UserId)>> {
        let row = sqlx::query("SELECT org_id, user_id FROM calendar_feeds WHERE token_hash = $1")
            .bind(token_hash.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.map(|r| Ok((db::parsed(&r, "org_id")?, db::parsed(&r, "user_id")?)))
            .transpose()
    }
}
