//! Virtual visit use cases: check-in and the waiting room, the call's life, guests, emergencies,
//! the visit's record, who may take part in a visit's live room, and patients' join links.

pub mod alerts;
pub mod call;
pub mod chat;
pub mod check_in;
pub mod guests;
pub mod record;
pub mod room;
pub mod staff;
pub mod steps;
pub mod visit_link;

use crate::Ctx;
use crate::access::{Actor, Permission, Principal};
use crate::compliance::{AuditAction, AuditActor, AuditEntry};
use crate::error::{DomainError, DomainResult};
use crate::identity::Role;
use crate::ids::{AppointmentId, VisitEventId};
use crate::scheduling::Appointment;
use crate::scheduling::service::shared::entry;
use crate::visits::{Visit, VisitLogEntry};

/// A log entry of a visit, by `actor`.
pub(crate) fn log(
    ctx: Ctx<'_>,
    actor: AuditActor,
    id: AppointmentId,
    kind: &str,
    detail: Option<String>,
) -> VisitLogEntry {
    VisitLogEntry {
        id: VisitEventId::new(),
        appointment_id: id,
        at: ctx.clock.now(),
        kind: kind.to_string(),
        actor,
        detail,
    }
}

/// The audit entry of a change to a visit (patient data: who saw whom, when).
pub(crate) fn audit(
    ctx: Ctx<'_>,
    actor: &Actor,
    v: &Visit,
    action: AuditAction,
    detail: String,
) -> AuditEntry {
    entry(ctx, actor, action, "Encounter", v.org_id)
        .resource(v.appointment_id)
        .patient(v.patient_id)
        .detail(detail)
}

/// Loads a visit the actor may see: the patient's own, the clinician's, staff of its site, an
/// organization administrator, an integration client with appointment rights.
pub(crate) async fn visit_for(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
) -> DomainResult<(Visit, Appointment)> {
    let appointment = crate::scheduling::service::appointments::appointment_for(
        ctx,
        actor,
        id,
        Permission::ReadAppointments,
    )
    .await?;
    let visit = ctx
        .store
        .get_visit(appointment.org_id, id)
        .await?
        .ok_or(DomainError::NotFound { resource: "visit" })?;
    Ok((visit, appointment))
}

/// The visit's own clinician (or, for the operator and integrations, anyone allowed).
pub(crate) fn is_visit_clinician(actor: &Actor, v: &Visit) -> bool {
    match (&actor.principal, actor.role) {
        (Principal::User(id), Some(Role::Clinician)) => *id == v.clinician_id,
        (Principal::Operator, _) => true,
        _ => false,
    }
}

/// Refuses anyone but the visit's clinician.
pub(crate) fn require_clinician(
    actor: &Actor,
    v: &Visit,
    action: &'static str,
) -> DomainResult<()> {
    if is_visit_clinician(actor, v) {
        Ok(())
    } else {
        Err(DomainError::Forbidden { action })
    }
}
