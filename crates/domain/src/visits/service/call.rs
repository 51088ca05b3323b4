//! The call's life: the clinician admits the patient, media connects (and drops, and comes back),
//! a participant switches to audio only, the browsers report connection quality, the clinician
//! ends the visit. Every change is told to everyone watching.

use super::room::{Who, enter};
use super::{audit, log, require_clinician, visit_for};
use crate::Ctx;
use crate::access::Actor;
use crate::compliance::{AuditAction, AuditActor, AuditEntry};
use crate::error::{DomainError, DomainResult};
use crate::ids::AppointmentId;
use crate::scheduling::service::shared::event;
use crate::scheduling::{
    Appointment, AppointmentAction, AppointmentStatus, state as appointment_state,
};
use crate::visits::{
    AppointmentStep, ParticipantRole, QualitySample, Visit, VisitChange, VisitCounters, VisitEvent,
    VisitOutcome, VisitState, next,
};

/// The appointment's steps that go with a visit moving to `to`: admitting starts the
/// appointment, ending completes it.
fn appointment_steps(
    ctx: Ctx<'_>,
    actor: &Actor,
    a: &Appointment,
    to: VisitState,
) -> DomainResult<Vec<AppointmentStep>> {
    let mut wanted = Vec::new();
    match to {
        VisitState::Admitted if a.status == AppointmentStatus::CheckedIn => {
            wanted.push(AppointmentAction::Start);
        }
        VisitState::Ended => {
            if a.status == AppointmentStatus::CheckedIn {
                wanted.push(AppointmentAction::Start);
            }
            wanted.push(AppointmentAction::Complete);
        }
        _ => {}
    }
    let now = ctx.clock.now();
    let mut steps = Vec::new();
    let mut status = a.status;
    for action in wanted {
        let next_status = appointment_state::next(status, action)?;
        steps.push(AppointmentStep {
            from: status,
            to: next_status,
            event: event(
                ctx,
                actor,
                a.id,
                action,
                Some(status),
                next_status,
                Some("by the visit".into()),
            ),
            end_at: (action == AppointmentAction::Complete && now < a.end_at)
                .then(|| now.max(a.start_at)),
        });
        status = next_status;
    }
    Ok(steps)
}

/// What happens to a visit, and how its log names it.
struct Happening {
    event: VisitEvent,
    /// The log's `kind` (`admitted`, `dropped`...).
    kind: &'static str,
    detail: Option<String>,
}

impl Happening {
    fn new(event: VisitEvent, kind: &'static str, detail: Option<String>) -> Self {
        Self {
            event,
            kind,
            detail,
        }
    }
}

/// Applies what happened to the visit with its record, or says the visit changed meanwhile.
/// `recorded_as` is who the log and the audit trail name (a guest acts with no actor of their own).
async fn change(
    ctx: Ctx<'_>,
    actor: &Actor,
    recorded_as: AuditActor,
    v: &Visit,
    a: &Appointment,
    what: Happening,
) -> DomainResult<Visit> {
    let Happening {
        event: visit_event,
        kind,
        detail,
    } = what;
    let to = next(v.state, visit_event)?;
    let now = ctx.clock.now();
    let outcome = match visit_event {
        VisitEvent::End(o) => Some(o),
        _ => None,
    };
    let change = VisitChange {
        org_id: v.org_id,
        appointment_id: v.appointment_id,
        from: v.state,
        to,
        at: now,
        outcome,
        appointment: appointment_steps(ctx, actor, a, to)?,
        log: log(
            ctx,
            recorded_as.clone(),
            v.appointment_id,
            kind,
            detail.clone(),
        ),
        audit: vec![AuditEntry {
            actor: recorded_as,
            ..audit(
                ctx,
                actor,
                v,
                AuditAction::VisitChange,
                format!(
                    "{} {} -> {}{}",
                    visit_event.name(),
                    v.state,
                    to,
                    detail.map(|d| format!(": {d}")).unwrap_or_default()
                ),
            )
        }],
    };
    if !ctx.store.change_visit(change).await? {
        return Err(DomainError::conflict_on(
            "state",
            "the visit changed meanwhile; reload it",
        ));
    }
    let after = ctx
        .store
        .get_visit(v.org_id, v.appointment_id)
        .await?
        .ok_or(DomainError::NotFound { resource: "visit" })?;
    ctx.notifier.visit_changed(&after);
    Ok(after)
}

/// The clinician lets the waiting patient in (which starts the appointment). There is no "ask to
/// join" for the patient to forget: their screen follows at once.
pub async fn admit(ctx: Ctx<'_>, actor: &Actor, id: AppointmentId) -> DomainResult<Visit> {
    let (v, a) = visit_for(ctx, actor, id).await?;
    require_clinician(actor, &v, "let the patient into this visit")?;
    admit_visit(ctx, actor, &v, &a).await
}

/// Admits without the clinician check: for staff starting the appointment on the clinician's behalf.
pub(crate) async fn admit_visit(
    ctx: Ctx<'_>,
    actor: &Actor,
    v: &Visit,
    a: &Appointment,
) -> DomainResult<Visit> {
    let clinician =
        crate::scheduling::service::shared::clinician(ctx, v.org_id, v.clinician_id).await?;
    ctx.competency
        .check_virtual_visit(&clinician, ctx.clock.now())
        .await?;
    change(
        ctx,
        actor,
        actor.audit_actor(),
        v,
        a,
        Happening::new(VisitEvent::Admit, "admitted", None),
    )
    .await
}

/// The clinician ends the visit, saying how it ended (which completes the appointment).
pub async fn end(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    outcome: VisitOutcome,
) -> DomainResult<Visit> {
    let (v, a) = visit_for(ctx, actor, id).await?;
    require_clinician(actor, &v, "end this visit")?;
    end_visit(ctx, actor, &v, &a, outcome).await
}

pub(crate) async fn end_visit(
    ctx: Ctx<'_>,
    actor: &Actor,
    v: &Visit,
    a: &Appointment,
    outcome: VisitOutcome,
) -> DomainResult<Visit> {
    change(
        ctx,
        actor,
        actor.audit_actor(),
        v,
        a,
        Happening::new(
            VisitEvent::End(outcome),
            "ended",
            Some(outcome.as_str().to_string()),
        ),
    )
    .await
}

/// A member's actor, or for a guest an actor of the visit's organization with no rights of its
/// own (what a guest does is recorded under the guest's invitation).
fn acting(who: &Who) -> Actor {
    match who {
        Who::Member(actor) => actor.clone(),
        Who::Guest(invite) => Actor {
            org_id: Some(invite.org_id),
            ..Actor::operator()
        },
    }
}

/// A participant's browser reports that media flows: the call is on (again).
pub async fn connected(ctx: Ctx<'_>, who: &Who, id: AppointmentId) -> DomainResult<Visit> {
    let pass = enter(ctx, who, id).await?;
    let v = pass.visit;
    match v.state {
        VisitState::Admitted | VisitState::Reconnecting => {
            let actor = acting(who);
            let a = appointment_of(ctx, &v).await?;
            let kind = if v.state == VisitState::Admitted {
                "connected"
            } else {
                "reconnected"
            };
            change(
                ctx,
                &actor,
                who.audit_actor(),
                &v,
                &a,
                Happening::new(VisitEvent::Connect, kind, Some(pass.role.as_str().into())),
            )
            .await
        }
        _ => Ok(v),
    }
}

/// A participant's connection was lost (a closed tab, a network drop). The visit goes on: they can
/// come back, and the call is set up again.
pub async fn dropped(ctx: Ctx<'_>, who: &Who, id: AppointmentId) -> DomainResult<Visit> {
    let pass = enter(ctx, who, id).await?;
    let v = pass.visit;
    if v.state == VisitState::InCall {
        let actor = acting(who);
        let a = appointment_of(ctx, &v).await?;
        return change(
            ctx,
            &actor,
            who.audit_actor(),
            &v,
            &a,
            Happening::new(VisitEvent::Drop, "dropped", Some(pass.role.as_str().into())),
        )
        .await;
    }
    Ok(v)
}

/// A participant switches the call to audio only (a poor connection, or by choice), or back.
pub async fn set_audio_only(
    ctx: Ctx<'_>,
    who: &Who,
    id: AppointmentId,
    audio_only: bool,
) -> DomainResult<Visit> {
    let pass = enter(ctx, who, id).await?;
    if !pass.admitted {
        return Err(DomainError::Forbidden {
            action: "change the call before being let in",
        });
    }
    let entry = log(
        ctx,
        who.audit_actor(),
        id,
        if audio_only { "audio_only" } else { "video" },
        Some(pass.role.as_str().into()),
    );
    let counters = VisitCounters {
        drop: false,
        audio_only: Some(audio_only),
    };
    ctx.store.log_visit(&entry, counters).await?;
    let after = ctx
        .store
        .get_visit(pass.visit.org_id, id)
        .await?
        .ok_or(DomainError::NotFound { resource: "visit" })?;
    ctx.notifier.visit_changed(&after);
    Ok(after)
}

/// Quality reports from a participant's browser (round trip, loss, bitrate, frames decoded).
pub async fn report_quality(
    ctx: Ctx<'_>,
    who: &Who,
    id: AppointmentId,
    mut samples: Vec<QualitySample>,
) -> DomainResult<()> {
    let pass = enter(ctx, who, id).await?;
    if samples.len() > 20 {
        return Err(DomainError::invalid(
            "samples",
            "send at most 20 samples at a time",
        ));
    }
    let now = ctx.clock.now();
    for s in &mut samples {
        s.check()?;
        // The server's clock and the participant's role, whatever the browser said.
        s.appointment_id = id;
        s.role = pass.role;
        s.at = now;
    }
    ctx.store.record_quality(&samples).await
}

async fn appointment_of(ctx: Ctx<'_>, v: &Visit) -> DomainResult<Appointment> {
    ctx.store
        .get_appointment(v.org_id, v.appointment_id)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "appointment",
        })
}

/// Patients and guests see the call; only the clinician ends it.
pub fn may_end(role: ParticipantRole) -> bool {
    role == ParticipantRole::Clinician
}
