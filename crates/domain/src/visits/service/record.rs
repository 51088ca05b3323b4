//! A visit's record (times, waiting, duration, modality used, quality, drops, outcome) and the
//! waiting room as staff and clinicians see it.

use jiff::SignedDuration;

use super::{audit, visit_for};
use crate::Ctx;
use crate::access::{self, Actor, Permission, Principal};
use crate::compliance::AuditAction;
use crate::error::{DomainError, DomainResult};
use crate::identity::{Patient, Role};
use crate::ids::{AppointmentId, SiteId, UserId};
use crate::scheduling::Appointment;
use crate::scheduling::service::shared::entry;
use crate::visits::{
    ChatLine, Escalation, Invite, QualitySummary, Visit, VisitLogEntry, VisitQuery, VisitState,
};

/// Everything recorded about one visit.
#[derive(Debug, Clone)]
pub struct VisitRecord {
    pub visit: Visit,
    pub appointment: Appointment,
    pub log: Vec<VisitLogEntry>,
    pub quality: QualitySummary,
    pub invites: Vec<Invite>,
    pub escalations: Vec<Escalation>,
    /// What the people in the call typed to each other.
    pub chat: Vec<ChatLine>,
}

/// A visit's record; the read is audited.
pub async fn get(ctx: Ctx<'_>, actor: &Actor, id: AppointmentId) -> DomainResult<VisitRecord> {
    let (visit, appointment) = visit_for(ctx, actor, id).await?;
    let log = ctx.store.visit_log(visit.org_id, id).await?;
    let quality = QualitySummary::of(&ctx.store.quality(visit.org_id, id).await?);
    let invites = ctx.store.list_invites(visit.org_id, id).await?;
    let escalations = ctx.store.visit_escalations(visit.org_id, id).await?;
    let chat = ctx.store.visit_chat(visit.org_id, id).await?;
    ctx.store
        .record_audit(audit(
            ctx,
            actor,
            &visit,
            AuditAction::VisitRead,
            "record".into(),
        ))
        .await?;
    Ok(VisitRecord {
        visit,
        appointment,
        log,
        quality,
        invites,
        escalations,
        chat,
    })
}

/// One patient in the waiting-room list.
#[derive(Debug, Clone)]
pub struct WaitingEntry {
    pub visit: Visit,
    pub appointment: Appointment,
    pub patient: Option<Patient>,
    /// Guests invited (and whether they opened their link).
    pub invites: Vec<Invite>,
}

/// Which waiting room: a site's, or a clinician's (default: the clinician's own, or the staff
/// member's sites).
#[derive(Debug, Clone, Default)]
pub struct WaitingRoomFilter {
    pub site_id: Option<SiteId>,
    pub clinician_id: Option<UserId>,
}

/// Patients checked in and not yet done (waiting, or in a call), oldest first; the list is audited.
pub async fn waiting_room(
    ctx: Ctx<'_>,
    actor: &Actor,
    filter: &WaitingRoomFilter,
) -> DomainResult<Vec<WaitingEntry>> {
    let org = actor.org()?;
    access::require(actor, Permission::ReadAppointments)?;
    if actor.role == Some(Role::Patient) {
        return Err(DomainError::Forbidden {
            action: "see the waiting room",
        });
    }
    let mut query = VisitQuery {
        site_ids: filter.site_id.map(|s| vec![s]),
        clinician_id: filter.clinician_id,
        states: Some(vec![
            VisitState::Waiting,
            VisitState::Admitted,
            VisitState::InCall,
            VisitState::Reconnecting,
        ]),
        since: ctx
            .clock
            .now()
            .checked_sub(SignedDuration::from_hours(24))
            .ok(),
        limit: 500,
    };
    if let (Principal::User(me), Some(role)) = (&actor.principal, actor.role)
        && role != Role::OrgAdmin
    {
        let own_clinician = role == Role::Clinician && query.clinician_id.is_none_or(|c| c == *me);
        if own_clinician && filter.site_id.is_none() {
            query.clinician_id = Some(*me);
        } else {
            let sites = match &query.site_ids {
                Some(wanted) if wanted.iter().all(|s| actor.site_ids.contains(s)) => wanted.clone(),
                Some(_) => {
                    return Err(DomainError::Forbidden {
                        action: "see another site's waiting room",
                    });
                }
                None => actor.site_ids.clone(),
            };
            query.site_ids = Some(sites);
        }
    }
    let visits = ctx.store.list_visits(org, &query).await?;
    let mut entries = Vec::with_capacity(visits.len());
    for v in visits {
        let Some(appointment) = ctx.store.get_appointment(org, v.appointment_id).await? else {
            continue;
        };
        let patient = ctx.store.get_patient(org, v.patient_id).await?;
        let invites = ctx.store.list_invites(org, v.appointment_id).await?;
        entries.push(WaitingEntry {
            visit: v,
            appointment,
            patient,
            invites,
        });
    }
    let audit = entry(ctx, actor, AuditAction::AppointmentList, "Encounter", org)
        .detail(format!("waiting room: {} visits", entries.len()));
    ctx.store.record_audit(audit).await?;
    Ok(entries)
}

/// The signed-in patient's own visits still open (waiting, or in a call they can come back to):
/// where "return to your visit" leads. Leaving a visit never ends it, so the way back must always
/// be offered.
pub async fn open_for_patient(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<Visit>> {
    if actor.own_patient.is_none() {
        return Ok(Vec::new());
    }
    let input = crate::scheduling::service::appointments::AppointmentListInput {
        status: Some("checked_in,in_visit".into()),
        limit: Some(20),
        ..Default::default()
    };
    let appointments = crate::scheduling::service::appointments::list(ctx, actor, &input).await?;
    let mut open = Vec::new();
    for a in appointments.iter().filter(|a| a.modality.is_virtual()) {
        if let Some(v) = ctx.store.get_visit(a.org_id, a.id).await?
            && !v.state.is_over()
        {
            open.push(v);
        }
    }
    Ok(open)
}

/// The visit opened for an appointment the actor may see, if there is one (an appointment taken
/// from the urgent-care queue, or an in-person one, has none).
pub async fn find(ctx: Ctx<'_>, actor: &Actor, id: AppointmentId) -> DomainResult<Option<Visit>> {
    match visit_for(ctx, actor, id).await {
        Ok((visit, _)) => Ok(Some(visit)),
        Err(DomainError::NotFound { resource: "visit" }) => Ok(None),
        Err(other) => Err(other),
    }
}
