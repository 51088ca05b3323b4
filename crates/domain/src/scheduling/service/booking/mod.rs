//! Finding an open slot and booking it, and moving a booking to another slot.
//!
//! The rules run on the server in this order, each with its own error: the slot exists and can be
//! booked (not withdrawn, not past, not beyond the horizon, long enough, for this service line),
//! it is free, the clinician is licensed where the patient will be (audited either way), holds a
//! telehealth certification, and the patient has consented to telehealth. The store then writes
//! the appointment in one transaction that refuses a taken slot (a unique index decides races)
//! and any overlap with the patient's or clinician's other visits.

use jiff::{SignedDuration, Timestamp};

use super::shared::{
    VirtualVisit, check_virtual_visit, clinician, entry, event, patient_for, site_with_zone,
};
use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::{AuditAction, AuditEntry, PatientConsent};
use crate::error::{DomainError, DomainResult};
use crate::identity::{Patient, Role, Site, UsState, User, optional_text};
use crate::ids::{AppointmentId, OrgId, PatientId, SlotId, UserId, VisitTypeId};
use crate::scheduling::{
    Appointment, AppointmentAction, AppointmentQuery, AppointmentStatus, NewBooking, PatientKind,
    Rescheduling, Slot, VisitType, state,
};

mod fields;
mod search;

pub use fields::{opt_date, opt_id, opt_language, opt_line, opt_state, parse_id};
pub use search::{MAX_SEARCH_DAYS, OpenSlot, SlotSearch, open_slot, search};

/// Which slot a request means: by id, or by clinician and start time.
#[derive(Debug, Clone, Copy)]
pub enum SlotRef {
    Id(SlotId),
    At { clinician: UserId, start: Timestamp },
}

impl SlotRef {
    pub fn parse(
        slot_id: Option<&str>,
        clinician_id: Option<&str>,
        start: Option<&str>,
    ) -> DomainResult<Self> {
        if let Some(id) = opt_id("slot_id", slot_id, "slot")? {
            return Ok(SlotRef::Id(id));
        }
        match (
            opt_id("clinician_id", clinician_id, "clinician")?,
            start.map(str::trim),
        ) {
            (Some(clinician), Some(raw)) if !raw.is_empty() => {
                let start = raw.parse::<Timestamp>().map_err(|_| {
                    DomainError::invalid(
                        "start",
                        format!(
                            "'{raw}' is not a time with an offset such as 2026-12-01T14:00:00Z"
                        ),
                    )
                })?;
                Ok(SlotRef::At { clinician, start })
            }
            _ => Err(DomainError::invalid(
                "slot_id",
                "name a slot: its slot_id, or clinician_id and start",
            )),
        }
    }
}

/// Where and when a visit would take place, with every rule checked.
pub(crate) struct Placement {
    pub slot: Slot,
    pub clinician: User,
    pub site: Site,
    pub start: Timestamp,
    pub end: Timestamp,
    pub patient_state: UsState,
    /// The licensure check's audit entry, written with the booking.
    pub checks: Vec<AuditEntry>,
    pub consent: Option<PatientConsent>,
}

/// The slot a request names, if it can still be booked: it exists, was not withdrawn, lies
/// ahead within the horizon, and nobody holds it. Checked first, so the common refusal of a busy
/// morning (the slot has just gone) costs one lookup.
pub(crate) async fn bookable_slot(
    ctx: Ctx<'_>,
    org: OrgId,
    slot_ref: SlotRef,
) -> DomainResult<Slot> {
    let now = ctx.clock.now();
    let view = match slot_ref {
        SlotRef::Id(id) => ctx
            .store
            .get_slot(org, id)
            .await?
            .ok_or(DomainError::NotFound { resource: "slot" })?,
        SlotRef::At { clinician, start } => ctx
            .store
            .find_slot(org, clinician, start)
            .await?
            .ok_or_else(|| {
                DomainError::SlotNotBookable(
                    "the clinician has no availability starting at that time".into(),
                )
            })?,
    };
    let slot = view.slot;
    if slot.withdrawn {
        return Err(DomainError::SlotNotBookable(
            "this time is no longer available: the clinician's availability changed".into(),
        ));
    }
    if slot.start_at <= now {
        return Err(DomainError::SlotNotBookable(
            "this slot is in the past".into(),
        ));
    }
    let horizon = SignedDuration::from_hours(24 * ctx.scheduling.booking_horizon_days);
    if slot.start_at.duration_since(now) > horizon {
        return Err(DomainError::SlotNotBookable(format!(
            "visits can be booked at most {} days ahead",
            ctx.scheduling.booking_horizon_days
        )));
    }
    if view.taken {
        return Err(DomainError::SlotTaken);
    }
    Ok(slot)
}

/// Runs the remaining booking rules for `patient` in `slot` and says where the visit would be.
pub(crate) async fn place(
    ctx: Ctx<'_>,
    actor: &Actor,
    patient: &Patient,
    visit_type: &VisitType,
    slot: Slot,
    patient_state: UsState,
    consent_version: Option<i64>,
) -> DomainResult<Placement> {
    let org = patient.org_id;
    if !slot.service_lines.contains(visit_type.service_line) {
        return Err(DomainError::SlotNotBookable(format!(
            "this slot is not open for {}",
            visit_type.service_line.label().to_lowercase()
        )));
    }
    if visit_type.duration_minutes > slot.minutes() {
        return Err(DomainError::SlotNotBookable(format!(
            "a {}-minute visit does not fit in this {}-minute slot",
            visit_type.duration_minutes,
            slot.minutes()
        )));
    }
    let clinician = match clinician(ctx, org, slot.clinician_id).await {
        Ok(c) => c,
        Err(DomainError::NotFound { .. }) => {
            return Err(DomainError::SlotNotBookable(
                "the clinician no longer takes appointments".into(),
            ));
        }
        Err(e) => return Err(e),
    };
    let (site, tz) = site_with_zone(ctx, org, slot.site_id).await?;
    let end = slot
        .start_at
        .checked_add(SignedDuration::from_mins(visit_type.duration_minutes))
        .map_err(|_| DomainError::SlotNotBookable("the visit would end out of range".into()))?;
    let mut checks = Vec::new();
    let mut consent = None;
    let patient_state = if visit_type.modality.is_virtual() {
        let visit = VirtualVisit {
            clinician: &clinician,
            patient,
            patient_state,
            start: slot.start_at,
            tz: &tz,
        };
        let (check, given) = check_virtual_visit(ctx, actor, visit, consent_version).await?;
        checks.push(check);
        consent = given;
        patient_state
    } else {
        site.state
    };
    Ok(Placement {
        start: slot.start_at,
        end,
        slot,
        clinician,
        site,
        patient_state,
        checks,
        consent,
    })
}

/// A booking, parsed: what `book` takes. Each front door builds it from its own request with
/// `TryFrom` (the JSON API) or from its form (the web), naming the field of any bad value.
#[derive(Debug, Clone)]
pub struct BookCommand {
    pub slot: SlotRef,
    pub visit_type_id: VisitTypeId,
    /// Staff and integrations book for a patient; a patient books for themselves.
    pub patient_id: Option<PatientId>,
    /// Where the patient will be during the visit; default: the state of their address.
    pub patient_state: Option<UsState>,
    /// As typed: the use case trims it and checks its length.
    pub reason: Option<String>,
    /// The consent version the patient accepts while booking, if they have not consented yet.
    pub consent_version: Option<i64>,
    /// Staff only: hold the slot as a proposal that the patient confirms.
    pub propose: bool,
}

impl BookCommand {
    /// A booking of this slot for this visit type, nothing else said.
    pub fn new(slot: SlotRef, visit_type_id: VisitTypeId) -> Self {
        Self {
            slot,
            visit_type_id,
            patient_id: None,
            patient_state: None,
            reason: None,
            consent_version: None,
            propose: false,
        }
    }
}

/// The patient a request is about: the patient themselves, or the one staff name.
pub(crate) async fn subject_patient(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    named: Option<PatientId>,
) -> DomainResult<Patient> {
    let id = match (actor.role, named, actor.own_patient) {
        (Some(Role::Patient), None, Some(own)) => own,
        (Some(Role::Patient), Some(id), _) => id,
        (Some(Role::Patient), None, None) => {
            return Err(DomainError::Forbidden {
                action: "book without a patient record",
            });
        }
        (_, Some(id), _) => id,
        (_, None, _) => {
            return Err(DomainError::invalid(
                "patient_id",
                "name the patient the appointment is for",
            ));
        }
    };
    patient_for(ctx, actor, org, id).await
}

/// Audit entries for a consent given along the way.
fn consent_audit(
    ctx: Ctx<'_>,
    actor: &Actor,
    consent: &Option<PatientConsent>,
) -> Option<AuditEntry> {
    consent
        .as_ref()
        .map(|c| super::consent::given_audit(ctx, actor, c))
}

/// How far back a completed visit makes a patient a returning one (the usual billing rule: seen in
/// the last three years).
pub const RETURNING_WITHIN_DAYS: i64 = 3 * 365;

/// New-patient visit types are for patients not seen in the last three years, follow-up ones for
/// patients who were; `any` is for everyone.
async fn check_patient_kind(
    ctx: Ctx<'_>,
    visit_type: &VisitType,
    patient: &Patient,
) -> DomainResult<()> {
    if visit_type.patient_kind == PatientKind::Any {
        return Ok(());
    }
    let now = ctx.clock.now();
    let query = AppointmentQuery {
        patient_id: Some(patient.id),
        from: now
            .checked_sub(SignedDuration::from_hours(24 * RETURNING_WITHIN_DAYS))
            .ok(),
        statuses: Some(vec![AppointmentStatus::Completed]),
        limit: 1,
        ..AppointmentQuery::default()
    };
    let returning = !ctx
        .store
        .list_appointments(patient.org_id, &query)
        .await?
        .is_empty();
    match (visit_type.patient_kind, returning) {
        (PatientKind::New, true) => Err(DomainError::invalid(
            "visit_type_id",
            "this visit type is for new patients, and the patient was seen in the last three years; choose a follow-up visit",
        )),
        (PatientKind::FollowUp, false) => Err(DomainError::invalid(
            "visit_type_id",
            "this visit type is for returning patients, and the patient has not been seen in the last three years; choose a new-patient visit",
        )),
        _ => Ok(()),
    }
}

/// Books (or, for staff, proposes) an appointment in a slot.
pub async fn book(ctx: Ctx<'_>, actor: &Actor, input: &BookCommand) -> DomainResult<Appointment> {
    let org = actor.org()?;
    let is_patient = actor.role == Some(Role::Patient);
    if is_patient {
        access::require(actor, Permission::SearchSlots)?;
        if input.propose {
            return Err(DomainError::invalid(
                "propose",
                "only staff propose appointments; book the slot instead",
            ));
        }
    } else {
        access::require(actor, Permission::ManageAppointments)?;
    }
    let slot = bookable_slot(ctx, org, input.slot).await?;
    let visit_type = super::visit_types::get(ctx, actor, input.visit_type_id).await?;
    if !visit_type.active {
        return Err(DomainError::invalid(
            "visit_type_id",
            "this visit type is no longer offered",
        ));
    }
    let reason = optional_text("reason", input.reason.as_deref(), 1000)?;
    let patient = subject_patient(ctx, actor, org, input.patient_id).await?;
    check_patient_kind(ctx, &visit_type, &patient).await?;
    let patient_state = input.patient_state.unwrap_or(patient.address.state);
    let placed = place(
        ctx,
        actor,
        &patient,
        &visit_type,
        slot,
        patient_state,
        input.consent_version,
    )
    .await?;
    let now = ctx.clock.now();
    let (status, action) = if input.propose {
        (AppointmentStatus::Proposed, AppointmentAction::Propose)
    } else {
        (AppointmentStatus::Booked, AppointmentAction::Book)
    };
    let appointment = Appointment {
        id: AppointmentId::new(),
        org_id: org,
        patient_id: patient.id,
        clinician_id: placed.clinician.id,
        site_id: placed.site.id,
        slot_id: Some(placed.slot.id),
        visit_type_id: visit_type.id,
        service_line: visit_type.service_line,
        modality: visit_type.modality,
        start_at: placed.start,
        end_at: placed.end,
        patient_state: placed.patient_state,
        status,
        reason,
        late_cancellation: false,
        cancel_reason: None,
        created_at: now,
        updated_at: now,
    };
    let mut audit = placed.checks;
    audit.extend(consent_audit(ctx, actor, &placed.consent));
    audit.push(
        entry(
            ctx,
            actor,
            AuditAction::AppointmentCreate,
            "Appointment",
            org,
        )
        .resource(appointment.id)
        .patient(patient.id)
        .detail(format!(
            "{} {} {} at {}",
            action.as_str(),
            visit_type.modality.as_str(),
            visit_type.service_line.as_str(),
            placed.start
        )),
    );
    let booking = NewBooking {
        event: event(ctx, actor, appointment.id, action, None, status, None),
        appointment: appointment.clone(),
        consent: placed.consent,
        audit,
    };
    ctx.store.book(booking).await?;
    Ok(appointment)
}

/// Where to move an appointment, parsed (as `BookCommand`).
#[derive(Debug, Clone)]
pub struct RescheduleCommand {
    pub slot: SlotRef,
    /// Where the patient will be; default: as before.
    pub patient_state: Option<UsState>,
    pub consent_version: Option<i64>,
}

/// Moves an upcoming appointment to another slot, with every booking rule checked again. A patient
/// moving their visit after the cancellation cut-off is recorded as late.
pub async fn reschedule(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    input: &RescheduleCommand,
) -> DomainResult<Appointment> {
    let old = super::appointments::appointment_for(ctx, actor, id, Permission::ManageAppointments)
        .await?;
    state::can_reschedule(old.status)?;
    let slot_ref = input.slot;
    if let (SlotRef::Id(new), Some(current)) = (slot_ref, old.slot_id)
        && new == current
    {
        return Err(DomainError::SlotNotBookable(
            "the appointment is already in this slot".into(),
        ));
    }
    let visit_type = ctx
        .store
        .get_visit_type(old.org_id, old.visit_type_id)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "visit type",
        })?;
    let patient = patient_for(ctx, actor, old.org_id, old.patient_id).await?;
    let patient_state = input.patient_state.unwrap_or(old.patient_state);
    let slot = bookable_slot(ctx, old.org_id, slot_ref).await?;
    let placed = place(
        ctx,
        actor,
        &patient,
        &visit_type,
        slot,
        patient_state,
        input.consent_version,
    )
    .await?;
    let now = ctx.clock.now();
    let late = super::appointments::after_cutoff(ctx, &old, now);
    let moved = Appointment {
        clinician_id: placed.clinician.id,
        site_id: placed.site.id,
        slot_id: Some(placed.slot.id),
        start_at: placed.start,
        end_at: placed.end,
        patient_state: placed.patient_state,
        updated_at: now,
        ..old.clone()
    };
    let detail = format!(
        "from {} to {}{}",
        old.start_at,
        moved.start_at,
        if late {
            " (after the cancellation cut-off)"
        } else {
            ""
        }
    );
    let mut audit = placed.checks;
    audit.extend(consent_audit(ctx, actor, &placed.consent));
    audit.push(
        entry(
            ctx,
            actor,
            AuditAction::AppointmentChange,
            "Appointment",
            old.org_id,
        )
        .resource(id)
        .patient(old.patient_id)
        .detail(format!("reschedule {detail}")),
    );
    let change = Rescheduling {
        event: event(
            ctx,
            actor,
            id,
            AppointmentAction::Reschedule,
            Some(old.status),
            old.status,
            Some(detail),
        ),
        appointment: moved.clone(),
        expected_status: old.status,
        consent: placed.consent,
        audit,
    };
    ctx.store.reschedule(change).await?;
    Ok(moved)
}
