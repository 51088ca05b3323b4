//! The records of scheduling: visit types, availability, slots, appointments, the on-demand queue.

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use serde::{Deserialize, Serialize};

use crate::compliance::AuditActor;
use crate::error::DomainError;
use crate::identity::UsState;
use crate::ids::{
    AppointmentEventId, AppointmentId, ExceptionId, OrgId, PatientId, QueueEntryId, SiteId, SlotId,
    TemplateId, UserId, VisitTypeId,
};

named_values!(
    /// The clinical service a visit belongs to.
    ServiceLine, "a service line" {
        PrimaryCare => ("primary_care", "Primary care"),
        BehavioralHealth => ("behavioral_health", "Behavioral health"),
        UrgentCare => ("urgent_care", "Urgent care"),
        SpecialistConsultation => ("specialist_consultation", "Specialist consultation"),
        ChronicCareFollowUp => ("chronic_care_follow_up", "Chronic-care follow-up"),
        PostAcuteCheck => ("post_acute_check", "Post-acute check"),
        WellnessScreening => ("wellness_screening", "Wellness screening"),
    }
);

named_values!(
    /// How patient and clinician meet.
    Modality, "a modality" {
        Video => ("video", "Video visit"),
        AudioOnly => ("audio_only", "Phone (audio-only) visit"),
        InPerson => ("in_person", "In-person visit"),
        AsyncEVisit => ("async_e_visit", "E-visit (messages, no call)"),
    }
);

impl Modality {
    /// Care at a distance: telehealth consent and interstate licensure apply.
    pub fn is_virtual(self) -> bool {
        self != Modality::InPerson
    }
}

named_values!(
    /// Whom a visit type is for: new patients need longer first visits.
    PatientKind, "a patient kind" {
        Any => ("any", "Any patient"),
        New => ("new", "New patients"),
        FollowUp => ("follow_up", "Returning patients"),
    }
);

/// No visit is longer: visit types are at most this long, and overlap checks look back this far.
pub const MAX_VISIT_MINUTES: i64 = 240;

/// A set of service lines, stored as a bit mask so the database can filter slots by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServiceLines(u32);

impl ServiceLines {
    fn bit(line: ServiceLine) -> u32 {
        let index = ServiceLine::ALL
            .iter()
            .position(|l| *l == line)
            .unwrap_or_default();
        1 << index
    }

    pub fn of(lines: &[ServiceLine]) -> Self {
        Self(lines.iter().fold(0, |acc, l| acc | Self::bit(*l)))
    }

    pub fn contains(self, line: ServiceLine) -> bool {
        self.0 & Self::bit(line) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn lines(self) -> Vec<ServiceLine> {
        ServiceLine::ALL
            .iter()
            .copied()
            .filter(|l| self.contains(*l))
            .collect()
    }

    /// The mask as stored; only the bits of known service lines survive a round trip.
    pub fn bits(self) -> i64 {
        i64::from(self.0)
    }

    pub fn from_bits(bits: i64) -> Self {
        let known = (1u32 << ServiceLine::ALL.len()) - 1;
        Self(u32::try_from(bits).unwrap_or_default() & known)
    }

    /// The mask with only `line`: how a search asks for one service line.
    pub fn bit_of(line: ServiceLine) -> i64 {
        i64::from(Self::bit(line))
    }

    /// A non-empty list of service line names; repeats are harmless.
    pub fn parse_list(field: &str, raw: &[String]) -> Result<Self, DomainError> {
        let mut lines = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            lines.push(ServiceLine::parse(&format!("{field}[{i}]"), r)?);
        }
        if lines.is_empty() {
            return Err(DomainError::invalid(
                field,
                "name at least one service line",
            ));
        }
        Ok(Self::of(&lines))
    }
}

/// Something an organization offers to book: "Video follow-up, primary care, 20 minutes".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitType {
    pub id: VisitTypeId,
    pub org_id: OrgId,
    pub name: String,
    pub service_line: ServiceLine,
    pub modality: Modality,
    pub patient_kind: PatientKind,
    pub duration_minutes: i64,
    /// Patients may book it themselves; otherwise only staff book it.
    pub patient_bookable: bool,
    /// Retired visit types stay for the appointments that used them, but cannot be booked.
    pub active: bool,
    pub created_at: Timestamp,
}

/// A clinician's recurring weekly hours at one site, in the site's local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityTemplate {
    pub id: TemplateId,
    pub org_id: OrgId,
    pub clinician_id: UserId,
    pub site_id: SiteId,
    pub weekday: Weekday,
    /// Local wall-clock times at the site: 09:00 stays 09:00 across daylight-saving changes.
    pub start_time: Time,
    pub end_time: Time,
    pub slot_minutes: i64,
    /// Free minutes after each slot (notes, a break) before the next one starts.
    pub buffer_minutes: i64,
    pub service_lines: ServiceLines,
    pub valid_from: Date,
    /// Last day the template applies, inclusive; `None` means until further notice.
    pub valid_until: Option<Date>,
    pub created_at: Timestamp,
}

named_values!(
    /// What a one-off availability change does.
    ExceptionKind, "an exception kind" {
        Leave => ("leave", "Leave (no visits)"),
        ExtraHours => ("extra_hours", "Extra hours"),
    }
);

/// Leave (removes availability) or extra hours (adds it), for a stretch of absolute time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityException {
    pub id: ExceptionId,
    pub org_id: OrgId,
    pub clinician_id: UserId,
    pub kind: ExceptionKind,
    /// Where extra hours are worked; `None` for leave (which applies at every site).
    pub site_id: Option<SiteId>,
    pub start_at: Timestamp,
    pub end_at: Timestamp,
    /// For extra hours: how they are cut into slots.
    pub slot_minutes: i64,
    pub buffer_minutes: i64,
    pub service_lines: ServiceLines,
    pub reason: Option<String>,
    pub created_at: Timestamp,
}

/// A bookable stretch of a clinician's time at a site. Slots of one clinician never overlap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub id: SlotId,
    pub org_id: OrgId,
    pub clinician_id: UserId,
    pub site_id: SiteId,
    pub start_at: Timestamp,
    pub end_at: Timestamp,
    pub service_lines: ServiceLines,
    /// Where the slot came from: a weekly template, or extra hours.
    pub template_id: Option<TemplateId>,
    pub exception_id: Option<ExceptionId>,
    /// Set when leave or an ended template took the slot away; it stays for the record.
    pub withdrawn: bool,
    pub created_at: Timestamp,
}

impl Slot {
    pub fn minutes(&self) -> i64 {
        self.end_at.duration_since(self.start_at).as_mins()
    }
}

/// A slot and whether an appointment holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotView {
    pub slot: Slot,
    pub taken: bool,
}

named_values!(
    /// Where an appointment is in its life. Changes only through `state::next`.
    AppointmentStatus, "an appointment status" {
        Proposed => ("proposed", "Proposed"),
        Booked => ("booked", "Booked"),
        CheckedIn => ("checked_in", "Checked in"),
        InVisit => ("in_visit", "In visit"),
        Completed => ("completed", "Completed"),
        Cancelled => ("cancelled", "Cancelled"),
        NoShow => ("no_show", "No-show"),
    }
);

impl AppointmentStatus {
    /// Statuses that still lie ahead of the visit: they can be moved or cancelled.
    pub fn is_upcoming(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Proposed | AppointmentStatus::Booked
        )
    }

    /// Statuses whose time is (or was) really spent: they count for overlap.
    pub fn occupies_time(self) -> bool {
        !matches!(
            self,
            AppointmentStatus::Cancelled | AppointmentStatus::NoShow
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    pub id: AppointmentId,
    pub org_id: OrgId,
    pub patient_id: PatientId,
    pub clinician_id: UserId,
    pub site_id: SiteId,
    /// `None` for an on-demand visit taken from the queue.
    pub slot_id: Option<SlotId>,
    pub visit_type_id: VisitTypeId,
    pub service_line: ServiceLine,
    pub modality: Modality,
    pub start_at: Timestamp,
    pub end_at: Timestamp,
    /// Where the patient will be during the visit: the state whose license the clinician needs.
    pub patient_state: UsState,
    pub status: AppointmentStatus,
    /// The patient's reason for the visit, in their words.
    pub reason: Option<String>,
    /// Cancelled by the patient after the cancellation cut-off.
    pub late_cancellation: bool,
    pub cancel_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Appointment {
    pub fn on_demand(&self) -> bool {
        self.slot_id.is_none()
    }
}

named_values!(
    /// What was done to an appointment; each event records one.
    AppointmentAction, "an appointment action" {
        Propose => ("propose", "Proposed"),
        Book => ("book", "Booked"),
        Confirm => ("confirm", "Confirmed"),
        Reschedule => ("reschedule", "Rescheduled"),
        CheckIn => ("check_in", "Checked in"),
        Start => ("start", "Visit started"),
        Complete => ("complete", "Visit completed"),
        Cancel => ("cancel", "Cancelled"),
        MarkNoShow => ("mark_no_show", "Marked no-show"),
        TakeFromQueue => ("take_from_queue", "Taken from the on-demand queue"),
    }
);

/// One change of an appointment: who, when, from which state to which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentEvent {
    pub id: AppointmentEventId,
    pub appointment_id: AppointmentId,
    pub at: Timestamp,
    pub action: AppointmentAction,
    /// `None` when the appointment was created by this event.
    pub from_status: Option<AppointmentStatus>,
    pub to_status: AppointmentStatus,
    pub actor: AuditActor,
    /// A short note: the old time of a reschedule, a cancellation reason. Never clinical content.
    pub detail: Option<String>,
}

named_values!(
    /// Where a patient's place in the on-demand queue stands.
    QueueStatus, "a queue status" {
        Waiting => ("waiting", "Waiting"),
        Taken => ("taken", "With a clinician"),
        Left => ("left", "Left the queue"),
    }
);

/// A patient waiting for the next available clinician (urgent care without appointment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub id: QueueEntryId,
    pub org_id: OrgId,
    pub patient_id: PatientId,
    /// The state the patient is in now: only clinicians licensed there may take them.
    pub patient_state: UsState,
    pub service_line: ServiceLine,
    pub visit_type_id: VisitTypeId,
    pub reason: Option<String>,
    pub status: QueueStatus,
    pub joined_at: Timestamp,
    pub taken_by: Option<UserId>,
    pub taken_at: Option<Timestamp>,
    pub appointment_id: Option<AppointmentId>,
}
