//! Join links: the front desk or the clinician sends a patient without a portal account a
//! one-time link into their video visit; the patient opens it and checks in as that visit's
//! patient, with no account and access to that one visit only. Every link sent and every link
//! opened is in the audit trail.

use serde::Deserialize;

use crate::Ctx;
use crate::access::{Actor, Permission, Principal};
use crate::compliance::{AuditAction, AuditActor, AuditEntry};
use crate::error::{DomainError, DomainResult};
use crate::identity::{Email, Role, optional_text};
use crate::ids::{AppointmentId, VisitLinkId};
use crate::scheduling::Appointment;
use crate::scheduling::service::appointments::appointment_for;
use crate::scheduling::service::shared::entry;
use crate::visits::InviteDelivery;
use crate::visits::visit_link::{
    VisitLink, check_bound, check_may_issue, check_usable, link_actor, link_expiry, session_valid,
};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct VisitLinkInput {
    /// Where to email the link; left out, the link is shown to pass on (by text message).
    pub email: Option<String>,
}

/// Sends a new join link for appointment `id` (staff who manage the appointment: its site's front
/// desk, its clinician...). It replaces the appointment's earlier links. The caller makes the
/// token and passes its hash; only the hash is kept.
pub async fn issue(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    input: &VisitLinkInput,
    token_hash: &str,
) -> DomainResult<VisitLink> {
    let by = match (&actor.principal, actor.role) {
        (Principal::User(user), Some(role)) if role != Role::Patient => *user,
        _ => {
            return Err(DomainError::Forbidden {
                action: "send join links",
            });
        }
    };
    let a = appointment_for(ctx, actor, id, Permission::ManageAppointments).await?;
    let now = ctx.clock.now();
    check_may_issue(&a, now)?;
    let email = optional_text("email", input.email.as_deref(), 254)?
        .map(|e| Email::parse("email", &e))
        .transpose()?;
    let link = VisitLink {
        id: VisitLinkId::new(),
        org_id: a.org_id,
        appointment_id: a.id,
        patient_id: a.patient_id,
        token_hash: token_hash.to_string(),
        delivery: InviteDelivery::LinkShown,
        email,
        created_by: by,
        created_at: now,
        expires_at: link_expiry(&a),
        used_at: None,
        session_hash: None,
        revoked_at: None,
    };
    let audit = entry(
        ctx,
        actor,
        AuditAction::VisitLinkIssue,
        "Encounter",
        a.org_id,
    )
    .resource(a.id)
    .patient(a.patient_id)
    .detail(format!(
        "join link {} sent ({}); earlier links replaced",
        link.id,
        if link.email.is_some() {
            "by email"
        } else {
            "shown to pass on"
        }
    ));
    ctx.store.create_visit_link(&link, audit).await?;
    Ok(link)
}

/// Records how the link went out (emailed, or the email failed).
pub async fn delivered(
    ctx: Ctx<'_>,
    link: &VisitLink,
    delivery: InviteDelivery,
) -> DomainResult<()> {
    ctx.store.set_visit_link_delivery(link.id, delivery).await
}

/// The link behind a token if it can still be opened, with its appointment; nothing is used up.
/// What the page offering the Continue button shows: mail scanners fetch links ahead of people.
pub async fn peek(ctx: Ctx<'_>, token_hash: &str) -> DomainResult<(VisitLink, Appointment)> {
    let link = ctx
        .store
        .visit_link_by_token(token_hash)
        .await?
        .ok_or_else(|| DomainError::InviteUnusable("this visit link is not valid".into()))?;
    check_usable(&link, ctx.clock.now())?;
    let a = ctx
        .store
        .get_appointment(link.org_id, link.appointment_id)
        .await?
        .ok_or_else(|| DomainError::InviteUnusable("this visit is no longer booked".into()))?;
    if check_may_issue(&a, ctx.clock.now()).is_err() {
        return Err(DomainError::InviteUnusable(format!(
            "this visit is {}: the link no longer opens it",
            a.status.label().to_lowercase()
        )));
    }
    Ok((link, a))
}

/// The patient opens their link: it works once, before it expires, unless replaced. Their browser
/// gets a session of its own (its hash is bound to the link), valid for this visit only.
pub async fn open(ctx: Ctx<'_>, token_hash: &str, session_hash: &str) -> DomainResult<VisitLink> {
    let (link, a) = peek(ctx, token_hash).await?;
    let now = ctx.clock.now();
    let audit = AuditEntry::new(
        now,
        AuditActor::VisitLink { link: link.id },
        AuditAction::VisitLinkUse,
        "Encounter",
    )
    .org(a.org_id)
    .resource(a.id)
    .patient(a.patient_id)
    .detail(format!("join link {} opened by the patient", link.id));
    if !ctx
        .store
        .claim_visit_link(link.id, session_hash, now, audit)
        .await?
    {
        return Err(DomainError::InviteUnusable(
            "this link was used already: it works once, on one device; ask the clinic for a new one"
                .into(),
        ));
    }
    Ok(VisitLink {
        used_at: Some(now),
        session_hash: Some(session_hash.to_string()),
        ..link
    })
}

/// The link behind a session and its actor (the patient, on that link's appointment only):
/// `None` when the session is unknown, expired or replaced. Front doors also check the
/// appointment they are asked for with [`bound_to`]; the domain's `may_see` refuses any other.
pub async fn session_actor(
    ctx: Ctx<'_>,
    session_hash: &str,
    source_ip: Option<String>,
) -> DomainResult<Option<(VisitLink, Actor)>> {
    let Some(link) = ctx.store.visit_link_by_session(session_hash).await? else {
        return Ok(None);
    };
    if !session_valid(&link, ctx.clock.now()) {
        return Ok(None);
    }
    let actor = link_actor(&link, source_ip);
    Ok(Some((link, actor)))
}

/// Refuses a link's session on any appointment but its own ("not found").
pub fn bound_to(link: &VisitLink, id: AppointmentId) -> DomainResult<()> {
    check_bound(link, id)
}

/// An appointment's links with where each stands, for the staff who may send one.
pub async fn list(ctx: Ctx<'_>, actor: &Actor, id: AppointmentId) -> DomainResult<Vec<VisitLink>> {
    if actor.role == Some(Role::Patient) {
        return Ok(Vec::new());
    }
    let a = appointment_for(ctx, actor, id, Permission::ManageAppointments).await?;
    ctx.store.list_visit_links(a.org_id, a.id).await
}
