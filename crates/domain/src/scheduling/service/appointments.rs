//! An appointment's life after booking: who may see it, and each step of its state machine
//! (confirm, check in, start, complete, cancel, no-show), each recorded with who and when.

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::shared::{
    VirtualVisit, check_virtual_visit, clinician, entry, event, patient_for, site_with_zone,
};
use crate::Ctx;
use crate::access::{self, Actor, Permission, Principal};
use crate::compliance::{AuditAction, AuditEntry};
use crate::error::{DomainError, DomainResult};
use crate::identity::{Role, UsState, optional_text};
use crate::ids::{AppointmentId, PatientId, SiteId, UserId};
use crate::scheduling::{
    Appointment, AppointmentAction, AppointmentEvent, AppointmentQuery, AppointmentStatus,
    StatusChange, state,
};

/// May the actor see this appointment? The patient; staff of its site; its clinician; an
/// organization administrator; an integration client with appointment rights.
pub(crate) fn may_see(actor: &Actor, a: &Appointment) -> bool {
    match (&actor.principal, actor.role) {
        (Principal::User(_), Some(Role::Patient)) => actor.own_patient == Some(a.patient_id),
        (Principal::User(_), Some(Role::OrgAdmin)) => true,
        (Principal::User(id), Some(_)) => {
            *id == a.clinician_id || actor.site_ids.contains(&a.site_id)
        }
        (Principal::User(_), None) => false,
        (Principal::Client(_) | Principal::Operator, _) => actor.in_org(a.org_id),
        // A join link opens its own appointment, nothing else of the patient's.
        (Principal::VisitLink { appointment, .. }, _) => {
            *appointment == a.id && actor.own_patient == Some(a.patient_id)
        }
    }
}

/// Loads an appointment the actor may act on with `permission` (patients always on their own).
pub(crate) async fn appointment_for(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    permission: Permission,
) -> DomainResult<Appointment> {
    let org = actor.org()?;
    if actor.role != Some(Role::Patient) {
        access::require(actor, permission)?;
    }
    let not_found = || DomainError::NotFound {
        resource: "appointment",
    };
    let a = ctx
        .store
        .get_appointment(org, id)
        .await?
        .ok_or_else(not_found)?;
    if !may_see(actor, &a) {
        return Err(match actor.role {
            Some(Role::Patient) | None => not_found(),
            Some(_) => DomainError::Forbidden {
                action: "see appointments of another site",
            },
        });
    }
    Ok(a)
}

/// Is `at` past the cancellation cut-off before the visit?
pub(crate) fn after_cutoff(ctx: Ctx<'_>, a: &Appointment, at: Timestamp) -> bool {
    let cutoff = SignedDuration::from_hours(ctx.scheduling.cancellation_cutoff_hours);
    a.start_at.duration_since(at) < cutoff
}

fn audit_for(
    ctx: Ctx<'_>,
    actor: &Actor,
    a: &Appointment,
    action: AuditAction,
    detail: String,
) -> AuditEntry {
    entry(ctx, actor, action, "Appointment", a.org_id)
        .resource(a.id)
        .patient(a.patient_id)
        .detail(detail)
}

/// One appointment and its history; the read is audited.
pub async fn get(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
) -> DomainResult<(Appointment, Vec<AppointmentEvent>)> {
    let a = appointment_for(ctx, actor, id, Permission::ReadAppointments).await?;
    let events = ctx.store.appointment_events(a.org_id, a.id).await?;
    ctx.store
        .record_audit(audit_for(
            ctx,
            actor,
            &a,
            AuditAction::AppointmentRead,
            "read".into(),
        ))
        .await?;
    Ok((a, events))
}

/// Filters of an appointment list as a client sends them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AppointmentListInput {
    pub patient_id: Option<String>,
    pub clinician_id: Option<String>,
    pub site_id: Option<String>,
    /// Appointments starting at or after this instant (RFC 3339).
    pub from: Option<String>,
    /// Appointments starting before this instant (RFC 3339).
    pub to: Option<String>,
    /// Comma-separated statuses.
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn opt<T: std::str::FromStr>(
    field: &str,
    raw: Option<&str>,
    what: &str,
) -> DomainResult<Option<T>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => raw
            .parse()
            .map(Some)
            .map_err(|_| DomainError::invalid(field, format!("must be {what}"))),
    }
}

/// Appointments the actor may see, by start time; the list is audited.
pub async fn list(
    ctx: Ctx<'_>,
    actor: &Actor,
    input: &AppointmentListInput,
) -> DomainResult<Vec<Appointment>> {
    let org = actor.org()?;
    let mut query = AppointmentQuery {
        patient_id: opt::<PatientId>(
            "patient_id",
            input.patient_id.as_deref(),
            "the id of a patient",
        )?,
        clinician_id: opt::<UserId>(
            "clinician_id",
            input.clinician_id.as_deref(),
            "the id of a clinician",
        )?,
        site_ids: opt::<SiteId>("site_id", input.site_id.as_deref(), "the id of a site")?
            .map(|s| vec![s]),
        from: opt::<Timestamp>(
            "from",
            input.from.as_deref(),
            "a time such as 2026-12-01T00:00:00Z",
        )?,
        to: opt::<Timestamp>(
            "to",
            input.to.as_deref(),
            "a time such as 2026-12-08T00:00:00Z",
        )?,
        statuses: match input.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(
                raw.split(',')
                    .map(|s| AppointmentStatus::parse("status", s))
                    .collect::<DomainResult<Vec<_>>>()?,
            ),
        },
        limit: input.limit.unwrap_or(200).clamp(1, 1000),
        offset: input.offset.unwrap_or(0).max(0),
    };
    match (&actor.principal, actor.role) {
        (Principal::User(_), Some(Role::Patient)) => {
            let own = actor.own_patient.ok_or(DomainError::Forbidden {
                action: "see appointments without a patient record",
            })?;
            if query.patient_id.is_some_and(|p| p != own) {
                return Err(DomainError::NotFound {
                    resource: "patient",
                });
            }
            query.patient_id = Some(own);
        }
        (Principal::User(me), Some(role)) => {
            access::require(actor, Permission::ReadAppointments)?;
            let own_calendar = role == Role::Clinician && query.clinician_id == Some(*me);
            if role != Role::OrgAdmin && !own_calendar {
                // Staff see their own sites' appointments (a clinician also their own anywhere).
                let sites = match &query.site_ids {
                    Some(wanted) if wanted.iter().all(|s| actor.site_ids.contains(s)) => {
                        wanted.clone()
                    }
                    Some(_) => {
                        return Err(DomainError::Forbidden {
                            action: "see appointments of another site",
                        });
                    }
                    None => actor.site_ids.clone(),
                };
                query.site_ids = Some(sites);
            }
        }
        (Principal::User(_), None) => {
            return Err(DomainError::Forbidden {
                action: "see appointments",
            });
        }
        _ => access::require(actor, Permission::ReadAppointments)?,
    }
    if query.site_ids.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let found = ctx.store.list_appointments(org, &query).await?;
    let mut audit = entry(ctx, actor, AuditAction::AppointmentList, "Appointment", org)
        .detail(format!("{} results", found.len()));
    if let Some(p) = query.patient_id {
        audit = audit.patient(p);
    }
    ctx.store.record_audit(audit).await?;
    Ok(found)
}

/// Applies one step of the state machine with its record; `patch` adds what the step changes.
async fn apply(
    ctx: Ctx<'_>,
    actor: &Actor,
    a: &Appointment,
    action: AuditAction,
    step: AppointmentAction,
    detail: Option<String>,
    patch: impl FnOnce(&mut StatusChange),
) -> DomainResult<Appointment> {
    let to = state::next(a.status, step)?;
    let now = ctx.clock.now();
    let note = detail.clone().unwrap_or_default();
    let mut change = StatusChange {
        org_id: a.org_id,
        appointment_id: a.id,
        from: a.status,
        to,
        at: now,
        late_cancellation: false,
        cancel_reason: None,
        patient_state: None,
        end_at: None,
        consent: None,
        event: event(ctx, actor, a.id, step, Some(a.status), to, detail),
        audit: vec![audit_for(
            ctx,
            actor,
            a,
            action,
            format!(
                "{} {} -> {}{}{}",
                step.as_str(),
                a.status,
                to,
                if note.is_empty() { "" } else { ": " },
                note
            ),
        )],
    };
    patch(&mut change);
    let mut after = a.clone();
    after.status = to;
    after.updated_at = now;
    after.late_cancellation |= change.late_cancellation;
    if change.cancel_reason.is_some() {
        after.cancel_reason.clone_from(&change.cancel_reason);
    }
    if let Some(state) = change.patient_state {
        after.patient_state = state;
    }
    if let Some(end) = change.end_at {
        after.end_at = end;
    }
    if !ctx.store.change_status(change).await? {
        return Err(DomainError::conflict_on(
            "status",
            "the appointment was changed by someone else meanwhile; reload it and try again",
        ));
    }
    Ok(after)
}

/// Who asks for a cancellation and why.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CancelInput {
    pub reason: Option<String>,
    /// Staff only: the clinic cancels (the clinician is ill...), not the patient; never "late".
    #[serde(default)]
    pub by_clinic: bool,
}

/// Cancels an upcoming (or waiting) appointment and frees its slot. A cancellation on the
/// patient's side after the cut-off is recorded as late.
pub async fn cancel(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    input: &CancelInput,
) -> DomainResult<Appointment> {
    let a = appointment_for(ctx, actor, id, Permission::ManageAppointments).await?;
    let reason = optional_text("reason", input.reason.as_deref(), 500)?;
    let by_clinic = input.by_clinic && actor.role != Some(Role::Patient);
    let late = !by_clinic && after_cutoff(ctx, &a, ctx.clock.now());
    let detail = match (&reason, late, by_clinic) {
        (_, _, true) => Some(format!(
            "by the clinic{}",
            reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )),
        (Some(r), true, _) => Some(format!("late cancellation: {r}")),
        (None, true, _) => Some("late cancellation".into()),
        (r, false, _) => r.clone(),
    };
    let cancelled = apply(
        ctx,
        actor,
        &a,
        AuditAction::AppointmentChange,
        AppointmentAction::Cancel,
        detail,
        |c| {
            c.late_cancellation = late;
            c.cancel_reason = reason;
        },
    )
    .await?;
    // A patient waiting for this visit leaves the waiting room at once (the store cancelled the
    // visit with the appointment).
    if let Some(v) = ctx.store.get_visit(a.org_id, a.id).await? {
        ctx.notifier.visit_changed(&v);
    }
    Ok(cancelled)
}

/// The patient (or staff for them) confirms a proposed appointment; the rules run again.
pub async fn confirm(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    consent_version: Option<i64>,
) -> DomainResult<Appointment> {
    let a = appointment_for(ctx, actor, id, Permission::ManageAppointments).await?;
    state::next(a.status, AppointmentAction::Confirm)?;
    let (extra_audit, consent) = recheck(ctx, actor, &a, a.patient_state, consent_version).await?;
    apply(
        ctx,
        actor,
        &a,
        AuditAction::AppointmentChange,
        AppointmentAction::Confirm,
        None,
        |c| {
            c.audit.extend(extra_audit);
            c.consent = consent;
        },
    )
    .await
}

/// The booking rules that are checked again later: licensure for where the patient is now,
/// competency, and consent (virtual visits only). Returns the audit entries and new consent.
pub(crate) async fn recheck(
    ctx: Ctx<'_>,
    actor: &Actor,
    a: &Appointment,
    patient_state: UsState,
    consent_version: Option<i64>,
) -> DomainResult<(Vec<AuditEntry>, Option<crate::compliance::PatientConsent>)> {
    if !a.modality.is_virtual() {
        return Ok((Vec::new(), None));
    }
    let patient = patient_for(ctx, actor, a.org_id, a.patient_id).await?;
    let clinician = clinician(ctx, a.org_id, a.clinician_id).await?;
    let (_, tz) = site_with_zone(ctx, a.org_id, a.site_id).await?;
    let visit = VirtualVisit {
        clinician: &clinician,
        patient: &patient,
        patient_state,
        start: a.start_at,
        tz: &tz,
    };
    let (check, consent) = check_virtual_visit(ctx, actor, visit, consent_version).await?;
    let mut audit = vec![check];
    if let Some(c) = &consent {
        audit.push(super::consent::given_audit(ctx, actor, c));
    }
    Ok((audit, consent))
}

/// Check-in is open from the window before the start until the planned end.
pub(crate) fn check_in_open(ctx: Ctx<'_>, a: &Appointment) -> DomainResult<()> {
    let now = ctx.clock.now();
    let window = SignedDuration::from_mins(ctx.scheduling.check_in_window_minutes);
    if now < a.start_at.saturating_sub(window).unwrap_or(a.start_at) {
        return Err(DomainError::CheckInNotOpen(format!(
            "check-in opens {} minutes before the visit",
            ctx.scheduling.check_in_window_minutes
        )));
    }
    if now >= a.end_at {
        return Err(DomainError::CheckInNotOpen(
            "the time of this visit has passed; book a new one".into(),
        ));
    }
    Ok(())
}

/// The appointment as stored now.
pub(crate) async fn reload(ctx: Ctx<'_>, a: &Appointment) -> DomainResult<Appointment> {
    ctx.store
        .get_appointment(a.org_id, a.id)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "appointment",
        })
}

/// Check-in of an in-person visit, within the window before the start: licensure is checked
/// again against where the patient is now, and consent and the clinician's certification again.
/// (A video visit's check-in opens its waiting room: `visits::service::steps::check_in`.)
pub(crate) async fn check_in_in_person(
    ctx: Ctx<'_>,
    actor: &Actor,
    a: &Appointment,
    patient_state: &str,
    consent_version: Option<i64>,
) -> DomainResult<Appointment> {
    state::next(a.status, AppointmentAction::CheckIn)?;
    check_in_open(ctx, a)?;
    let patient_state = UsState::parse("patient_state", patient_state)?;
    let (extra_audit, consent) = recheck(ctx, actor, a, patient_state, consent_version).await?;
    apply(
        ctx,
        actor,
        a,
        AuditAction::AppointmentChange,
        AppointmentAction::CheckIn,
        Some(format!("patient in {}", patient_state.code())),
        |c| {
            c.patient_state = Some(patient_state);
            c.audit.extend(extra_audit);
            c.consent = consent;
        },
    )
    .await
}

/// Starts a visit that has no video visit open (in person, or virtual without a check-in): a
/// virtual one still needs the clinician's certification.
pub(crate) async fn start_without_visit(
    ctx: Ctx<'_>,
    actor: &Actor,
    a: &Appointment,
) -> DomainResult<Appointment> {
    if a.modality.is_virtual() {
        let clinician = clinician(ctx, a.org_id, a.clinician_id).await?;
        ctx.competency
            .check_virtual_visit(&clinician, ctx.clock.now())
            .await?;
    }
    apply(
        ctx,
        actor,
        a,
        AuditAction::AppointmentChange,
        AppointmentAction::Start,
        None,
        |_| {},
    )
    .await
}

/// Ends a visit whose call is not in progress; an early end frees the rest of the clinician's
/// time.
pub(crate) async fn complete_without_call(
    ctx: Ctx<'_>,
    actor: &Actor,
    a: &Appointment,
) -> DomainResult<Appointment> {
    let now = ctx.clock.now();
    apply(
        ctx,
        actor,
        a,
        AuditAction::AppointmentChange,
        AppointmentAction::Complete,
        None,
        |c| {
            if now < a.end_at {
                c.end_at = Some(now.max(a.start_at));
            }
        },
    )
    .await
}

/// Staff mark a booked appointment as a no-show once its start has passed.
pub async fn mark_no_show(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
) -> DomainResult<Appointment> {
    if actor.role == Some(Role::Patient) {
        return Err(DomainError::Forbidden {
            action: "mark a visit as missed",
        });
    }
    let a = appointment_for(ctx, actor, id, Permission::ManageAppointments).await?;
    state::next(a.status, AppointmentAction::MarkNoShow)?;
    if ctx.clock.now() < a.start_at {
        return Err(DomainError::invalid(
            "status",
            "a visit can be marked as missed only after its start time",
        ));
    }
    apply(
        ctx,
        actor,
        &a,
        AuditAction::AppointmentChange,
        AppointmentAction::MarkNoShow,
        None,
        |_| {},
    )
    .await
}

/// The no-show rule the job applies: booked, never checked in, and past its grace period.
pub fn is_overdue(
    policy: &crate::scheduling::SchedulingPolicy,
    a: &Appointment,
    now: Timestamp,
) -> bool {
    a.status == AppointmentStatus::Booked
        && now.duration_since(a.start_at) >= SignedDuration::from_mins(policy.no_show_grace_minutes)
}

/// For the job: marks one overdue appointment as a no-show as the system. False when it changed
/// meanwhile (checked in at the last moment).
pub(crate) async fn mark_overdue(ctx: Ctx<'_>, a: &Appointment) -> DomainResult<bool> {
    let system = Actor::operator();
    let to = state::next(a.status, AppointmentAction::MarkNoShow)?;
    let change = StatusChange {
        org_id: a.org_id,
        appointment_id: a.id,
        from: a.status,
        to,
        at: ctx.clock.now(),
        late_cancellation: false,
        cancel_reason: None,
        patient_state: None,
        end_at: None,
        consent: None,
        event: event(
            ctx,
            &system,
            a.id,
            AppointmentAction::MarkNoShow,
            Some(a.status),
            to,
            Some(format!(
                "not checked in {} minutes after the start",
                ctx.scheduling.no_show_grace_minutes
            )),
        ),
        audit: vec![audit_for(
            ctx,
            &system,
            a,
            AuditAction::AppointmentChange,
            "mark_no_show by the no-show job".into(),
        )],
    };
    ctx.store.change_status(change).await
}
