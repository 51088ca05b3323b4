//! The on-demand queue: a patient without an appointment (urgent care) joins the queue for their
//! state and service line, sees their place and an estimated wait, and the next licensed, free
//! clinician takes them.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::booking::{opt_id, subject_patient};
use super::shared::{check_licensure, clinician, date_at, entry, event, site_with_zone};
use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::{AuditAction, check_clinician_licensed_in};
use crate::error::{DomainError, DomainResult};
use crate::identity::{Role, UsState, User, optional_text};
use crate::ids::{AppointmentId, QueueEntryId};
use crate::scheduling::{
    Appointment, AppointmentAction, AppointmentStatus, QueueEntry, QueueStatus, QueueTake,
    ServiceLine, SlotQuery, VisitType,
};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct JoinQueueInput {
    /// Staff add a patient; a patient joins themselves.
    pub patient_id: Option<String>,
    /// Where the patient is right now.
    pub patient_state: String,
    /// Default: urgent care.
    pub service_line: Option<String>,
    pub reason: Option<String>,
}

/// A waiting patient's place: how many are ahead, and the wait we expect.
#[derive(Debug, Clone)]
pub struct QueuePlace {
    pub entry: QueueEntry,
    /// 1 for the next patient to be taken; 0 once no longer waiting.
    pub position: i64,
    /// Clinicians licensed for the patient's state and on duty for the service line now, free or
    /// in a visit.
    pub clinicians_on_duty: i64,
    /// `None` when no clinician is on duty (the wait cannot be estimated).
    pub estimated_wait_minutes: Option<i64>,
}

/// The on-demand visit type of a service line: the first active virtual one.
async fn on_demand_visit_type(
    ctx: Ctx<'_>,
    org: crate::ids::OrgId,
    line: ServiceLine,
) -> DomainResult<VisitType> {
    let types = ctx.store.list_visit_types(org).await?;
    types
        .into_iter()
        .filter(|v| v.active && v.service_line == line && v.modality.is_virtual())
        .min_by_key(|v| v.created_at)
        .ok_or_else(|| {
            DomainError::invalid(
                "service_line",
                format!(
                    "{} is not offered on demand here",
                    line.label().to_lowercase()
                ),
            )
        })
}

pub async fn join(ctx: Ctx<'_>, actor: &Actor, input: &JoinQueueInput) -> DomainResult<QueuePlace> {
    let org = actor.org()?;
    if actor.role != Some(Role::Patient) {
        access::require(actor, Permission::ManageAppointments)?;
    }
    let named = opt_id("patient_id", input.patient_id.as_deref(), "patient")?;
    let patient = subject_patient(ctx, actor, org, named).await?;
    let patient_state = UsState::parse("patient_state", &input.patient_state)?;
    let line = match input.service_line.as_deref().map(str::trim) {
        None | Some("") => ServiceLine::UrgentCare,
        Some(raw) => ServiceLine::parse("service_line", raw)?,
    };
    let visit_type = on_demand_visit_type(ctx, org, line).await?;
    let reason = optional_text("reason", input.reason.as_deref(), 1000)?;
    if let Some(existing) = ctx.store.latest_queue_entry(org, patient.id).await?
        && existing.status == QueueStatus::Waiting
    {
        return Err(DomainError::conflict_on(
            "patient_id",
            "the patient is already waiting in the queue",
        ));
    }
    // Telehealth consent is needed before a clinician can take the patient.
    super::consent::require_or_accept(ctx, actor, &patient, None).await?;
    let entry_record = QueueEntry {
        id: QueueEntryId::new(),
        org_id: org,
        patient_id: patient.id,
        patient_state,
        service_line: line,
        visit_type_id: visit_type.id,
        reason,
        status: QueueStatus::Waiting,
        joined_at: ctx.clock.now(),
        taken_by: None,
        taken_at: None,
        appointment_id: None,
    };
    let audit = entry(ctx, actor, AuditAction::QueueJoin, "QueueEntry", org)
        .resource(entry_record.id)
        .patient(patient.id)
        .detail(format!("{} in {}", line.as_str(), patient_state.code()));
    ctx.store.join_queue(&entry_record, audit).await?;
    place_of(ctx, entry_record).await
}

/// Clinicians on duty for a queue now: licensed for the state today, with a slot of the service
/// line running now, whether free or in another visit (a busy clinician takes the next patient
/// when their visit ends, so "nobody is on duty" is said only when it is true).
async fn on_duty(
    ctx: Ctx<'_>,
    org: crate::ids::OrgId,
    state: UsState,
    line: ServiceLine,
) -> DomainResult<Vec<User>> {
    let now = ctx.clock.now();
    let query = SlotQuery {
        from: now
            .saturating_sub(SignedDuration::from_hours(4))
            .unwrap_or(now),
        to: now
            .saturating_add(SignedDuration::from_secs(1))
            .unwrap_or(now),
        service_line: Some(line),
        min_minutes: None,
        clinician_id: None,
        site_id: None,
        slot_id: None,
        licensed_in: None,
        language: None,
        open_only: false,
        limit: 1000,
    };
    let mut ids = Vec::new();
    for view in ctx.store.search_slots(org, &query).await? {
        if view.slot.start_at <= now
            && now < view.slot.end_at
            && !ids.contains(&view.slot.clinician_id)
        {
            ids.push(view.slot.clinician_id);
        }
    }
    let today = date_at(now, &jiff::tz::TimeZone::UTC);
    let mut clinicians = Vec::new();
    for id in ids {
        if let Ok(c) = clinician(ctx, org, id).await {
            let licenses = c
                .clinician
                .as_ref()
                .map(|p| p.licenses.as_slice())
                .unwrap_or(&[]);
            if check_clinician_licensed_in(licenses, state, today).is_ok() {
                clinicians.push(c);
            }
        }
    }
    Ok(clinicians)
}

/// Position and estimated wait of an entry.
async fn place_of(ctx: Ctx<'_>, entry_record: QueueEntry) -> DomainResult<QueuePlace> {
    if entry_record.status != QueueStatus::Waiting {
        return Ok(QueuePlace {
            entry: entry_record,
            position: 0,
            clinicians_on_duty: 0,
            estimated_wait_minutes: None,
        });
    }
    let waiting = ctx.store.waiting_queue(entry_record.org_id).await?;
    let position = waiting
        .iter()
        .filter(|e| {
            e.patient_state == entry_record.patient_state
                && e.service_line == entry_record.service_line
        })
        .take_while(|e| e.id != entry_record.id)
        .count() as i64
        + 1;
    let on_duty = on_duty(
        ctx,
        entry_record.org_id,
        entry_record.patient_state,
        entry_record.service_line,
    )
    .await?
    .len() as i64;
    let visit_minutes = ctx
        .store
        .get_visit_type(entry_record.org_id, entry_record.visit_type_id)
        .await?
        .map_or(15, |v| v.duration_minutes);
    // Each clinician on duty takes one patient per visit length; a patient whose turn comes with
    // the first free clinician waits about half a visit.
    let estimated_wait_minutes = (on_duty > 0).then(|| {
        let rounds = (position - 1) / on_duty;
        rounds * visit_minutes + visit_minutes / 2
    });
    Ok(QueuePlace {
        entry: entry_record,
        position,
        clinicians_on_duty: on_duty,
        estimated_wait_minutes,
    })
}

/// The patient's current place in the queue (their latest entry), if they ever joined.
pub async fn my_place(
    ctx: Ctx<'_>,
    actor: &Actor,
    patient_id: Option<&str>,
) -> DomainResult<Option<QueuePlace>> {
    let org = actor.org()?;
    if actor.role != Some(Role::Patient) {
        access::require(actor, Permission::ReadAppointments)?;
    }
    let named = opt_id("patient_id", patient_id, "patient")?;
    let patient = subject_patient(ctx, actor, org, named).await?;
    match ctx.store.latest_queue_entry(org, patient.id).await? {
        Some(e) => place_of(ctx, e).await.map(Some),
        None => Ok(None),
    }
}

/// Leaves the queue (the patient, or staff for them).
pub async fn leave(ctx: Ctx<'_>, actor: &Actor, id: QueueEntryId) -> DomainResult<QueueEntry> {
    let org = actor.org()?;
    let e = ctx
        .store
        .get_queue_entry(org, id)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "queue entry",
        })?;
    if actor.role == Some(Role::Patient) {
        if actor.own_patient != Some(e.patient_id) {
            return Err(DomainError::NotFound {
                resource: "queue entry",
            });
        }
    } else {
        access::require(actor, Permission::ManageAppointments)?;
    }
    let audit = entry(ctx, actor, AuditAction::QueueLeave, "QueueEntry", org)
        .resource(e.id)
        .patient(e.patient_id);
    if !ctx.store.leave_queue(org, id, audit).await? {
        return Err(DomainError::conflict_on(
            "status",
            "the patient is no longer waiting in the queue",
        ));
    }
    Ok(QueueEntry {
        status: QueueStatus::Left,
        ..e
    })
}

/// Every waiting patient of the organization, oldest first, with their place; the list is audited.
pub async fn waiting(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<QueuePlace>> {
    let org = actor.org()?;
    access::require(actor, Permission::ReadAppointments)?;
    if actor.role == Some(Role::Patient) {
        return Err(DomainError::Forbidden {
            action: "see the queue",
        });
    }
    let entries = ctx.store.waiting_queue(org).await?;
    let mut counts: HashMap<(UsState, ServiceLine), i64> = HashMap::new();
    let places = entries
        .into_iter()
        .map(|e| {
            let n = counts.entry((e.patient_state, e.service_line)).or_insert(0);
            *n += 1;
            QueuePlace {
                position: *n,
                clinicians_on_duty: 0,
                estimated_wait_minutes: None,
                entry: e,
            }
        })
        .collect::<Vec<_>>();
    let audit = entry(ctx, actor, AuditAction::QueueRead, "QueueEntry", org)
        .detail(format!("{} waiting", places.len()));
    ctx.store.record_audit(audit).await?;
    Ok(places)
}

/// The clinician takes the longest-waiting patient they may see (licensed for the patient's state
/// today, of the service line if named). Returns the visit created, or `None` if nobody waits.
pub async fn take_next(
    ctx: Ctx<'_>,
    actor: &Actor,
    service_line: Option<&str>,
) -> DomainResult<Option<Appointment>> {
    let org = actor.org()?;
    access::require(actor, Permission::TakeFromQueue)?;
    let me = actor.user_id().ok_or(DomainError::Forbidden {
        action: "take patients from the queue",
    })?;
    let line = match service_line.map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(ServiceLine::parse("service_line", raw)?),
    };
    let c = clinician(ctx, org, me).await?;
    let site_id = *c.site_ids.first().ok_or_else(|| {
        DomainError::invalid(
            "site_id",
            "you work at no site; ask an administrator to add you to one",
        )
    })?;
    let (_, tz) = site_with_zone(ctx, org, site_id).await?;
    let now = ctx.clock.now();
    let today = date_at(now, &tz);
    ctx.competency.check_virtual_visit(&c, now).await?;
    let licenses = c
        .clinician
        .as_ref()
        .map(|p| p.licenses.clone())
        .unwrap_or_default();
    for e in ctx.store.waiting_queue(org).await? {
        if line.is_some_and(|l| l != e.service_line) {
            continue;
        }
        if check_clinician_licensed_in(&licenses, e.patient_state, today).is_err() {
            continue;
        }
        let Some(visit_type) = ctx.store.get_visit_type(org, e.visit_type_id).await? else {
            continue;
        };
        let patient = match ctx.store.get_patient(org, e.patient_id).await? {
            Some(p) => p,
            None => continue,
        };
        let check = check_licensure(ctx, actor, &c, &patient, e.patient_state, today).await?;
        let appointment = Appointment {
            id: AppointmentId::new(),
            org_id: org,
            patient_id: e.patient_id,
            clinician_id: c.id,
            site_id,
            slot_id: None,
            visit_type_id: visit_type.id,
            service_line: visit_type.service_line,
            modality: visit_type.modality,
            start_at: now,
            end_at: now
                .checked_add(SignedDuration::from_mins(visit_type.duration_minutes))
                .unwrap_or(now),
            patient_state: e.patient_state,
            status: AppointmentStatus::CheckedIn,
            reason: e.reason.clone(),
            late_cancellation: false,
            cancel_reason: None,
            created_at: now,
            updated_at: now,
        };
        let take = QueueTake {
            org_id: org,
            entry_id: e.id,
            clinician_id: c.id,
            at: now,
            event: event(
                ctx,
                actor,
                appointment.id,
                AppointmentAction::TakeFromQueue,
                None,
                AppointmentStatus::CheckedIn,
                Some(format!(
                    "waited {} minutes",
                    now.duration_since(e.joined_at).as_mins()
                )),
            ),
            audit: vec![
                check,
                entry(
                    ctx,
                    actor,
                    AuditAction::AppointmentCreate,
                    "Appointment",
                    org,
                )
                .resource(appointment.id)
                .patient(e.patient_id)
                .detail(format!("take_from_queue {}", e.service_line.as_str())),
            ],
            appointment: appointment.clone(),
        };
        match ctx.store.take_from_queue(take).await {
            Ok(true) => return Ok(Some(appointment)),
            // Someone else took this patient first: try the next one.
            Ok(false) => {}
            // This patient has a visit of their own at this time (booked while waiting): they
            // keep their place, and the clinician gets the next patient who is free.
            Err(DomainError::PatientDoubleBooked) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// The average wait recently, for the front desk's queue view.
pub async fn recent_average_wait(
    ctx: Ctx<'_>,
    actor: &Actor,
    line: ServiceLine,
) -> DomainResult<Option<f64>> {
    let org = actor.org()?;
    access::require(actor, Permission::ReadAppointments)?;
    let since: Timestamp = ctx
        .clock
        .now()
        .saturating_sub(SignedDuration::from_hours(24 * 7))
        .unwrap_or(Timestamp::UNIX_EPOCH);
    ctx.store.average_queue_wait(org, line, since).await
}
