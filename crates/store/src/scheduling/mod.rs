//! Scheduling storage: visit types and availability, slots, appointments with their events,
//! reminders and calendar feeds, and the on-demand queue, one file per port. This file holds what
//! they share: the column lists and row decoders, and the appointment event's INSERT.
//!
//! Double booking is impossible by construction: `appointments_one_per_slot` is a unique index
//! over the slot of every appointment that is not cancelled, so of two bookings racing for a slot
//! the database lets exactly one commit. Bookings and moves run in the group-commit writer as
//! write jobs (`appointments.rs`), with the overlap checks (`clash.rs`) in the same transaction.

pub(crate) mod appointments;
mod availability;
mod clash;
mod queue;
mod slots;

use domain::DomainError;
use domain::identity::UsState;
use domain::scheduling::availability::parse_time;
use domain::scheduling::{
    Appointment, AppointmentAction, AppointmentEvent, AppointmentStatus, AvailabilityException,
    AvailabilityTemplate, ExceptionKind, Modality, PatientKind, QueueEntry, QueueStatus,
    ServiceLine, ServiceLines, Slot, SlotView, VisitType,
};
use jiff::civil::Weekday;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::db::{self, Arg, DbResult, Insert, Query, R};

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

/// The appointment events' INSERT (see `EVENT_COLUMNS`).
pub(crate) const EVENTS: Insert = Insert {
    into: "appointment_events (id, appointment_id, at, action, from_status, to_status, actor_kind, actor_id, \
           actor_role, detail)",
    columns: 10,
    suffix: "",
};

fn bind_event<'q>(query: Query<'q>, e: &'q AppointmentEvent) -> Query<'q> {
    query
        .bind(e.id.to_string())
        .bind(e.appointment_id.to_string())
        .bind(e.at.as_microsecond())
        .bind(e.action.as_str())
        .bind(e.from_status.map(|s| s.as_str()))
        .bind(e.to_status.as_str())
        .bind(e.actor.kind())
        .bind(e.actor.id())
        .bind(e.actor.role().map(|r| r.as_str()))
        .bind(e.detail.as_deref())
}

/// An event as a row of [`EVENTS`], for writes that insert a batch's events together.
pub(crate) fn event_row(e: &AppointmentEvent) -> Vec<Arg> {
    let text = |v: Option<String>| v.map_or(Arg::Null, Arg::Text);
    vec![
        Arg::Text(e.id.to_string()),
        Arg::Text(e.appointment_id.to_string()),
        Arg::Int(e.at.as_microsecond()),
        Arg::Text(e.action.as_str().to_string()),
        text(e.from_status.map(|s| s.as_str().to_string())),
        Arg::Text(e.to_status.as_str().to_string()),
        Arg::Text(e.actor.kind().to_string()),
        text(e.actor.id()),
        text(e.actor.role().map(|r| r.as_str().to_string())),
        text(e.detail.clone()),
    ]
}

pub(crate) async fn insert_event(conn: &mut AnyConnection, e: &AppointmentEvent) -> R<()> {
    db::insert_rows(conn, &EVENTS, std::slice::from_ref(e), bind_event)
        .await
        .db()?;
    Ok(())
}
