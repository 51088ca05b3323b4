//! Emergencies during a visit, and alerts for the site's staff (emergencies, check-ins stopped by
//! the licensure rule).

use super::{audit, log, require_clinician, visit_for};
use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::AuditAction;
use crate::error::{DomainError, DomainResult};
use crate::identity::{Role, required_text};
use crate::ids::{AppointmentId, EscalationId};
use crate::scheduling::service::shared::entry;
use crate::visits::{Escalation, EscalationKind, VisitCounters};

/// The clinician raises an emergency: the time, where the patient said they are, and why are
/// recorded, and the site's staff are alerted at once.
pub async fn raise_emergency(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    reason: &str,
) -> DomainResult<Escalation> {
    let (v, _) = visit_for(ctx, actor, id).await?;
    require_clinician(actor, &v, "raise an emergency for this visit")?;
    let reason = required_text("reason", reason, 1000)?;
    let escalation = Escalation {
        id: EscalationId::new(),
        kind: EscalationKind::Emergency,
        appointment_id: id,
        org_id: v.org_id,
        site_id: v.site_id,
        raised_by: actor.user_id(),
        raised_at: ctx.clock.now(),
        location_state: v.location_state,
        location_text: v.location_text.clone(),
        reason,
        acknowledged_by: None,
        acknowledged_at: None,
    };
    let record = audit(
        ctx,
        actor,
        &v,
        AuditAction::EscalationRaised,
        format!("emergency {}", escalation.id),
    )
    .flagged(true);
    ctx.store.create_escalation(&escalation, record).await?;
    ctx.store
        .log_visit(
            &log(ctx, actor.audit_actor(), id, "escalation", None),
            VisitCounters::default(),
        )
        .await?;
    ctx.notifier.alert_raised(&escalation);
    Ok(escalation)
}

/// Alerts nobody acknowledged at the actor's sites (every site for organization administrators).
pub async fn open(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<Escalation>> {
    let org = actor.org()?;
    access::require(actor, Permission::ReadAppointments)?;
    if actor.role == Some(Role::Patient) {
        return Err(DomainError::Forbidden {
            action: "see alerts",
        });
    }
    let sites = if actor.role == Some(Role::OrgAdmin) || actor.role.is_none() {
        ctx.store
            .list_sites(org)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect()
    } else {
        actor.site_ids.clone()
    };
    ctx.store.open_escalations(org, &sites).await
}

/// A staff member of the site acknowledges an alert (they are handling it).
pub async fn acknowledge(ctx: Ctx<'_>, actor: &Actor, id: EscalationId) -> DomainResult<()> {
    let org = actor.org()?;
    let me = actor.user_id().ok_or(DomainError::Forbidden {
        action: "acknowledge alerts",
    })?;
    let mine = open(ctx, actor).await?;
    let Some(alert) = mine.into_iter().find(|e| e.id == id) else {
        return Err(DomainError::NotFound { resource: "alert" });
    };
    let record = entry(
        ctx,
        actor,
        AuditAction::EscalationAcknowledged,
        "Encounter",
        org,
    )
    .resource(alert.appointment_id)
    .detail(format!("{} {}", alert.kind.as_str(), alert.id));
    if !ctx
        .store
        .acknowledge_escalation(org, id, me, ctx.clock.now(), record)
        .await?
    {
        return Err(DomainError::conflict_on(
            "alert",
            "someone acknowledged it already",
        ));
    }
    Ok(())
}
