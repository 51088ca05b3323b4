//! The visit's nurse: a nurse put on a visit is in the patient's care team for it (from a while
//! before the visit until a while after, as the clinician is), so they open the record without
//! emergency access.

use crate::Ctx;
use crate::access::{Actor, Permission};
use crate::compliance::AuditAction;
use crate::error::{DomainError, DomainResult};
use crate::identity::Role;
use crate::ids::{AppointmentId, UserId};
use crate::scheduling::service::appointments::appointment_for;
use crate::scheduling::service::shared::entry;
use crate::scheduling::{Appointment, AppointmentStatus};
use crate::visits::VisitStaff;

/// Puts a nurse on a visit. The visit's clinician and staff who manage the site's appointments
/// (front desk, administrators) may name any active nurse of the organization; a nurse may name
/// only themselves. A second time changes nothing.
pub async fn add_nurse(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    nurse: &str,
) -> DomainResult<Appointment> {
    let a = appointment_for(ctx, actor, id, Permission::ManageAppointments).await?;
    let nurse: UserId = nurse
        .trim()
        .parse()
        .map_err(|_| DomainError::invalid("nurse_id", "choose a nurse"))?;
    match actor.role {
        Some(Role::Clinician) if actor.user_id() != Some(a.clinician_id) => {
            return Err(DomainError::Forbidden {
                action: "name the nurse of another clinician's visit",
            });
        }
        Some(Role::Nurse) if actor.user_id() != Some(nurse) => {
            return Err(DomainError::Forbidden {
                action: "name another nurse on a visit",
            });
        }
        Some(Role::Patient) => {
            return Err(DomainError::Forbidden {
                action: "name the nurse of a visit",
            });
        }
        _ => {}
    }
    if a.status == AppointmentStatus::Cancelled {
        return Err(DomainError::refused(
            "visit_cancelled",
            "a cancelled visit has no care team",
        ));
    }
    let user = match ctx.store.get_user(a.org_id, nurse).await? {
        Some(u) if u.active && u.role == Role::Nurse => u,
        _ => {
            return Err(DomainError::invalid(
                "nurse_id",
                "is not an active nurse of the organization",
            ));
        }
    };
    let staff = VisitStaff {
        appointment_id: a.id,
        user_id: nurse,
        role: Role::Nurse,
        added_at: ctx.clock.now(),
    };
    let audit = entry(
        ctx,
        actor,
        AuditAction::CareTeamChange,
        "Appointment",
        a.org_id,
    )
    .resource(a.id)
    .patient(a.patient_id)
    .detail(format!("{} is the visit's nurse", user.display_name));
    ctx.store.add_visit_staff(a.org_id, &staff, audit).await?;
    Ok(a)
}

/// The staff on a visit besides its clinician (its nurse), with their names, for those who may
/// see the visit.
pub async fn list(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
) -> DomainResult<Vec<(VisitStaff, String)>> {
    let a = appointment_for(ctx, actor, id, Permission::ReadAppointments).await?;
    let mut named = Vec::new();
    for s in ctx.store.visit_staff(a.org_id, a.id).await? {
        let name = ctx
            .store
            .get_user(a.org_id, s.user_id)
            .await?
            .map_or_else(|| s.role.label().to_string(), |u| u.display_name);
        named.push((s, name));
    }
    Ok(named)
}

/// The organization's active nurses, by name: whom a visit's nurse may be.
pub async fn nurses(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<(UserId, String)>> {
    let org = actor.org()?;
    crate::access::require(actor, Permission::ManageAppointments)?;
    let mut all: Vec<(UserId, String)> = ctx
        .store
        .list_users(org, Some(Role::Nurse))
        .await?
        .into_iter()
        .filter(|u| u.active)
        .map(|u| (u.id, u.display_name))
        .collect();
    all.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(all)
}
