//! The storage port of scheduling. The store implements it for SQLite and PostgreSQL.
//!
//! Four small ports (availability, slots, appointments, the queue). Promises beyond those of `Store`:
//! - at most one appointment that is not cancelled holds a slot, enforced by the database
//!   (a unique index), so a race between two bookings has exactly one winner;
//! - `book` and `reschedule` refuse, in the same transaction as the write, an appointment that
//!   would overlap another of the same patient or clinician;
//! - `change_status` changes an appointment only if it is still in the expected status.

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;

use super::model::{
    Appointment, AppointmentEvent, AppointmentStatus, AvailabilityException, AvailabilityTemplate,
    QueueEntry, ServiceLine, Slot, SlotView, VisitType,
};
use crate::compliance::{AuditEntry, PatientConsent};
use crate::error::StoreResult;
use crate::identity::UsState;
use crate::ids::{
    AppointmentId, OrgId, PatientId, QueueEntryId, SiteId, SlotId, TemplateId, UserId, VisitTypeId,
};

/// Which open slots a search wants.
#[derive(Debug, Clone)]
pub struct SlotQuery {
    pub from: Timestamp,
    pub to: Timestamp,
    pub service_line: Option<ServiceLine>,
    /// Only slots at least this long (the visit type's duration).
    pub min_minutes: Option<i64>,
    pub clinician_id: Option<UserId>,
    pub site_id: Option<SiteId>,
    /// Only this slot (the confirm page reading the one slot picked, with the same criteria).
    pub slot_id: Option<SlotId>,
    /// Only clinicians holding a license in this state that is still valid on this date. The
    /// exact rule (valid on each slot's own date) is applied by the domain afterwards.
    pub licensed_in: Option<(UsState, Date)>,
    /// Only clinicians who speak this language.
    pub language: Option<String>,
    /// Leave out slots an appointment holds.
    pub open_only: bool,
    pub limit: i64,
}

/// Which appointments a list wants; every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct AppointmentQuery {
    pub patient_id: Option<PatientId>,
    pub clinician_id: Option<UserId>,
    pub site_ids: Option<Vec<SiteId>>,
    /// Appointments that start at or after this instant.
    pub from: Option<Timestamp>,
    /// Appointments that start before this instant.
    pub to: Option<Timestamp>,
    pub statuses: Option<Vec<AppointmentStatus>>,
    pub limit: i64,
    pub offset: i64,
}

/// A new appointment with what is written with it.
#[derive(Debug, Clone)]
pub struct NewBooking {
    pub appointment: Appointment,
    pub event: AppointmentEvent,
    /// Consent the patient gave while booking.
    pub consent: Option<PatientConsent>,
    pub audit: Vec<AuditEntry>,
}

/// An appointment moved to another slot (same status).
#[derive(Debug, Clone)]
pub struct Rescheduling {
    /// The appointment as it is after the move.
    pub appointment: Appointment,
    pub expected_status: AppointmentStatus,
    pub event: AppointmentEvent,
    /// Consent the patient gave while moving the visit.
    pub consent: Option<PatientConsent>,
    pub audit: Vec<AuditEntry>,
}

/// A change of status, applied only if the appointment is still `from`.
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub org_id: OrgId,
    pub appointment_id: AppointmentId,
    pub from: AppointmentStatus,
    pub to: AppointmentStatus,
    pub at: Timestamp,
    pub late_cancellation: bool,
    pub cancel_reason: Option<String>,
    /// At check-in: where the patient is now.
    pub patient_state: Option<UsState>,
    /// At completion: when the visit really ended.
    pub end_at: Option<Timestamp>,
    pub consent: Option<PatientConsent>,
    pub event: AppointmentEvent,
    pub audit: Vec<AuditEntry>,
}

/// A clinician taking a waiting patient: the entry is claimed and the visit created together.
#[derive(Debug, Clone)]
pub struct QueueTake {
    pub org_id: OrgId,
    pub entry_id: QueueEntryId,
    pub clinician_id: UserId,
    pub at: Timestamp,
    pub appointment: Appointment,
    pub event: AppointmentEvent,
    pub audit: Vec<AuditEntry>,
}

/// Visit types and clinicians' availability (weekly templates and exceptions).
#[async_trait]
pub trait AvailabilityStore: Send + Sync {
    // Visit types.
    async fn create_visit_type(&self, visit_type: &VisitType, audit: AuditEntry)
    -> StoreResult<()>;
    async fn update_visit_type(&self, visit_type: &VisitType, audit: AuditEntry)
    -> StoreResult<()>;
    async fn get_visit_type(&self, org: OrgId, id: VisitTypeId) -> StoreResult<Option<VisitType>>;
    async fn list_visit_types(&self, org: OrgId) -> StoreResult<Vec<VisitType>>;

    // Availability.
    async fn create_template(
        &self,
        template: &AvailabilityTemplate,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn get_template(
        &self,
        org: OrgId,
        id: TemplateId,
    ) -> StoreResult<Option<AvailabilityTemplate>>;
    /// Templates of a clinician (or of every clinician), oldest first.
    async fn list_templates(
        &self,
        org: OrgId,
        clinician: Option<UserId>,
    ) -> StoreResult<Vec<AvailabilityTemplate>>;
    /// Every (organization, clinician) with a template still in force on `on`: the publishing job's list.
    async fn clinicians_with_templates(&self, on: Date) -> StoreResult<Vec<(OrgId, UserId)>>;
    /// Ends a template after `last_day` and withdraws its open slots from `withdraw_from` on;
    /// returns how many slots were withdrawn.
    async fn end_template(
        &self,
        org: OrgId,
        id: TemplateId,
        last_day: Date,
        withdraw_from: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<u64>;
    /// Saves an exception; leave also withdraws the clinician's open slots it touches (returned).
    async fn create_exception(
        &self,
        exception: &AvailabilityException,
        audit: AuditEntry,
    ) -> StoreResult<u64>;
    /// Exceptions of a clinician that touch `[from, to)`.
    async fn list_exceptions(
        &self,
        org: OrgId,
        clinician: UserId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<AvailabilityException>>;
}

/// The slots published from availability.
#[async_trait]
pub trait SlotStore: Send + Sync {
    // Slots.
    /// Inserts slots, skipping any whose clinician already has a slot starting at the same instant;
    /// returns how many were new.
    async fn publish_slots(&self, slots: &[Slot], audit: AuditEntry) -> StoreResult<u64>;
    async fn get_slot(&self, org: OrgId, id: SlotId) -> StoreResult<Option<SlotView>>;
    async fn find_slot(
        &self,
        org: OrgId,
        clinician: UserId,
        start: Timestamp,
    ) -> StoreResult<Option<SlotView>>;
    /// Slots that are not withdrawn, by start time.
    async fn search_slots(&self, org: OrgId, query: &SlotQuery) -> StoreResult<Vec<SlotView>>;
}

/// Appointments, their events and reminders, and clinicians' calendar feeds.
#[async_trait]
pub trait AppointmentStore: Send + Sync {
    // Appointments.
    async fn book(&self, booking: NewBooking) -> StoreResult<()>;
    async fn reschedule(&self, change: Rescheduling) -> StoreResult<()>;
    /// False when the appointment was no longer in `change.from` (nothing written).
    async fn change_status(&self, change: StatusChange) -> StoreResult<bool>;
    async fn get_appointment(
        &self,
        org: OrgId,
        id: AppointmentId,
    ) -> StoreResult<Option<Appointment>>;
    async fn list_appointments(
        &self,
        org: OrgId,
        query: &AppointmentQuery,
    ) -> StoreResult<Vec<Appointment>>;
    async fn appointment_events(
        &self,
        org: OrgId,
        id: AppointmentId,
    ) -> StoreResult<Vec<AppointmentEvent>>;
    /// Booked appointments of every organization that started before `started_before`.
    async fn overdue_booked(
        &self,
        started_before: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<Appointment>>;
    /// Booked appointments of every organization starting in `[from, to)`.
    async fn booked_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<Appointment>>;
    /// Claims the reminder `offset_minutes` before an appointment; false if already claimed.
    async fn claim_reminder(
        &self,
        appointment: AppointmentId,
        offset_minutes: i64,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Records how a claimed reminder went: sent (with its audit entry), or failed (claim released
    /// so the next run tries again).
    async fn finish_reminder(
        &self,
        appointment: AppointmentId,
        offset_minutes: i64,
        sent: Option<AuditEntry>,
    ) -> StoreResult<()>;

    // Calendar feeds.
    /// Replaces the clinician's feed token (only its hash is stored).
    async fn set_calendar_feed(
        &self,
        org: OrgId,
        user: UserId,
        token_hash: &str,
        at: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn calendar_feed_owner(&self, token_hash: &str) -> StoreResult<Option<(OrgId, UserId)>>;
}

/// The on-demand queue.
#[async_trait]
pub trait QueueStore: Send + Sync {
    // The on-demand queue.
    async fn join_queue(&self, entry: &QueueEntry, audit: AuditEntry) -> StoreResult<()>;
    async fn get_queue_entry(
        &self,
        org: OrgId,
        id: QueueEntryId,
    ) -> StoreResult<Option<QueueEntry>>;
    /// The patient's latest entry (waiting or not).
    async fn latest_queue_entry(
        &self,
        org: OrgId,
        patient: PatientId,
    ) -> StoreResult<Option<QueueEntry>>;
    /// Waiting entries, oldest first.
    async fn waiting_queue(&self, org: OrgId) -> StoreResult<Vec<QueueEntry>>;
    /// False when the entry was no longer waiting.
    async fn leave_queue(
        &self,
        org: OrgId,
        id: QueueEntryId,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
    /// False when the entry was no longer waiting (someone else took it): nothing written.
    async fn take_from_queue(&self, take: QueueTake) -> StoreResult<bool>;
    /// Average minutes from joining to being taken, over entries taken since `since`.
    async fn average_queue_wait(
        &self,
        org: OrgId,
        service_line: ServiceLine,
        since: Timestamp,
    ) -> StoreResult<Option<f64>>;
}
