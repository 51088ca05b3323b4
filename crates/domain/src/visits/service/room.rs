//! Who may be in a visit's live room (its waiting room and its call), and as whom; what the room
//! reloads when the visit changes.

use jiff::SignedDuration;

use super::visit_for;
use crate::Ctx;
use crate::access::{Actor, Principal};
use crate::compliance::{AuditAction, AuditActor, AuditEntry};
use crate::error::{DomainError, DomainResult};
use crate::ids::{AppointmentId, OrgId};
use crate::visits::{Invite, LiveVisit, ParticipantRole, Visit, VisitState, estimate_wait_minutes};

/// Someone connecting to a visit: a signed-in person, or a guest holding an invitation.
#[derive(Debug, Clone)]
pub enum Who {
    Member(Actor),
    Guest(Invite),
}

impl Who {
    pub fn audit_actor(&self) -> AuditActor {
        match self {
            Who::Member(actor) => actor.audit_actor(),
            Who::Guest(invite) => AuditActor::Guest { invite: invite.id },
        }
    }
}

/// What entering a visit's room grants.
#[derive(Debug, Clone)]
pub struct Pass {
    pub visit: Visit,
    pub role: ParticipantRole,
    /// How the others see this participant.
    pub name: String,
    /// In the call (or may set it up); otherwise waiting to be let in.
    pub admitted: bool,
}

/// The pass of `who` for visit `id`: the patient, the visit's clinician, or an invited guest.
/// Staff who are neither see the visit in the waiting-room list, not in the call.
pub async fn enter(ctx: Ctx<'_>, who: &Who, id: AppointmentId) -> DomainResult<Pass> {
    match who {
        Who::Member(actor) => {
            let (visit, _) = visit_for(ctx, actor, id).await?;
            let (role, name) = match &actor.principal {
                Principal::User(user) if *user == visit.clinician_id => {
                    let c = ctx.store.get_user(visit.org_id, *user).await?;
                    (
                        ParticipantRole::Clinician,
                        c.map_or_else(|| "Clinician".into(), |c| c.display_name),
                    )
                }
                // The patient: signed in, or holding the join link of this visit.
                Principal::User(_) | Principal::VisitLink { .. }
                    if actor.own_patient == Some(visit.patient_id) =>
                {
                    let p = ctx
                        .store
                        .get_patient(visit.org_id, visit.patient_id)
                        .await?;
                    (
                        ParticipantRole::Patient,
                        p.map_or_else(|| "Patient".into(), |p| p.full_name()),
                    )
                }
                _ => {
                    return Err(DomainError::Forbidden {
                        action: "join this visit's call",
                    });
                }
            };
            let admitted = may_be_in_call(visit.state, role, false);
            Ok(Pass {
                visit,
                role,
                name,
                admitted,
            })
        }
        Who::Guest(held) => {
            if held.appointment_id != id || held.used_at.is_none() {
                return Err(DomainError::NotFound { resource: "visit" });
            }
            // The invitation as it is now (the clinician may have let the guest in meanwhile).
            let invite = ctx
                .store
                .list_invites(held.org_id, id)
                .await?
                .into_iter()
                .find(|i| i.id == held.id)
                .ok_or(DomainError::NotFound { resource: "visit" })?;
            let visit = ctx
                .store
                .get_visit(invite.org_id, id)
                .await?
                .ok_or(DomainError::NotFound { resource: "visit" })?;
            if visit.state.is_over() {
                return Err(DomainError::InviteUnusable(
                    "this visit has ended; the invitation no longer opens it".into(),
                ));
            }
            let admitted = may_be_in_call(
                visit.state,
                ParticipantRole::Guest,
                invite.admitted_at.is_some(),
            );
            Ok(Pass {
                visit,
                role: ParticipantRole::Guest,
                name: format!(
                    "{} ({})",
                    invite.name,
                    invite.relation.label().to_lowercase()
                ),
                admitted,
            })
        }
    }
}

/// Whether a participant may be in the call (see and signal the others) now: the clinician until
/// the visit is over; the patient once let in; a guest once let in themselves.
pub fn may_be_in_call(state: VisitState, role: ParticipantRole, guest_admitted: bool) -> bool {
    match role {
        ParticipantRole::Clinician => !state.is_over(),
        ParticipantRole::Patient => state.in_progress(),
        ParticipantRole::Guest => guest_admitted && state.in_progress(),
    }
}

/// Enters a visit's live room: the pass, and the access recorded in the audit trail (who opened
/// which patient's visit, when).
pub async fn join(ctx: Ctx<'_>, who: &Who, id: AppointmentId) -> DomainResult<Pass> {
    let pass = enter(ctx, who, id).await?;
    let entry = AuditEntry::new(
        ctx.clock.now(),
        who.audit_actor(),
        AuditAction::VisitRead,
        "Encounter",
    )
    .org(pass.visit.org_id)
    .resource(id)
    .patient(pass.visit.patient_id)
    .detail(format!("joined the visit as {}", pass.role.as_str()));
    let entry = match who {
        Who::Member(actor) => entry.from_ip(actor.source_ip.clone()),
        Who::Guest(_) => entry,
    };
    ctx.store.record_audit(entry).await?;
    Ok(pass)
}

/// The visit as its live room shows it: the visit, its invitations, and the wait while the
/// patient waits. `None` once the visit is gone.
///
/// No actor: the live room reads on behalf of the participants connected to it, each of whom
/// was let in (and audited) by [`join`], and it sends each only the view of their role.
pub async fn live_visit(
    ctx: Ctx<'_>,
    org: OrgId,
    id: AppointmentId,
) -> DomainResult<Option<LiveVisit>> {
    let Some(visit) = ctx.store.get_visit(org, id).await? else {
        return Ok(None);
    };
    let invites = ctx.store.list_invites(org, id).await?;
    let wait_minutes = match visit.state {
        VisitState::Waiting => Some(estimate_wait(ctx, &visit).await?),
        _ => None,
    };
    Ok(Some(LiveVisit {
        visit,
        invites,
        wait_minutes,
    }))
}

/// How long the patient of a waiting visit may still wait, in minutes (one query for the queue
/// ahead, one for the patient's own planned start).
pub async fn estimate_wait(ctx: Ctx<'_>, v: &Visit) -> DomainResult<i64> {
    let now = ctx.clock.now();
    let Some(own) = ctx
        .store
        .get_appointment(v.org_id, v.appointment_id)
        .await?
    else {
        return Ok(0);
    };
    // Visits checked in more than a day ago are not in anybody's queue any more.
    let since = now
        .checked_sub(SignedDuration::from_hours(24))
        .unwrap_or(now);
    let ahead = ctx.store.queue_ahead(v, since).await?;
    Ok(estimate_wait_minutes(now, own.start_at, &ahead))
}
