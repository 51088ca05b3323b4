//! Guests: an interpreter or a family member joins a visit by a one-time link that expires; the
//! clinician lets them in; they see only the call.

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::{audit, log, require_clinician, visit_for};
use crate::Ctx;
use crate::access::{Actor, Principal};
use crate::compliance::AuditAction;
use crate::error::{DomainError, DomainResult};
use crate::identity::{Email, Role, optional_text, required_text};
use crate::ids::{AppointmentId, InviteId};
use crate::visits::{GuestRelation, Invite, InviteDelivery, Visit, VisitCounters};

/// A visit holds the patient, the clinician and at most two guests (a mesh of four browsers).
pub const MAX_GUESTS: usize = 2;
/// An invitation works at most this long after the visit's planned end.
pub const VALID_AFTER_END: SignedDuration = SignedDuration::from_hours(2);

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InviteInput {
    pub name: String,
    /// interpreter, family, caregiver or other
    pub relation: String,
    /// Where to email the link; left out, the link is shown to pass on.
    pub email: Option<String>,
}

/// Invites a guest: the visit's clinician or its patient. The caller makes the link's token and
/// passes its hash (only the hash is kept).
pub async fn invite(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    input: &InviteInput,
    token_hash: &str,
) -> DomainResult<Invite> {
    let (v, a) = visit_for(ctx, actor, id).await?;
    let by = match (&actor.principal, actor.role) {
        (Principal::User(user), Some(Role::Patient)) if actor.own_patient == Some(v.patient_id) => {
            *user
        }
        (Principal::User(user), Some(Role::Clinician)) if *user == v.clinician_id => *user,
        _ => {
            return Err(DomainError::Forbidden {
                action: "invite guests to this visit",
            });
        }
    };
    if v.state.is_over() {
        return Err(DomainError::invalid("appointment", "this visit has ended"));
    }
    let existing = ctx.store.list_invites(v.org_id, id).await?;
    let now = ctx.clock.now();
    if existing
        .iter()
        .filter(|i| i.status(now) != "expired")
        .count()
        >= MAX_GUESTS
    {
        return Err(DomainError::invalid(
            "name",
            format!("a visit can have at most {MAX_GUESTS} guests"),
        ));
    }
    let name = required_text("name", &input.name, 100)?;
    let relation = GuestRelation::parse("relation", &input.relation)?;
    let email = optional_text("email", input.email.as_deref(), 254)?
        .map(|e| Email::parse("email", &e))
        .transpose()?;
    let invite = Invite {
        id: InviteId::new(),
        appointment_id: id,
        org_id: v.org_id,
        name,
        relation,
        email,
        token_hash: token_hash.to_string(),
        created_by: by,
        created_at: now,
        expires_at: a
            .end_at
            .saturating_add(VALID_AFTER_END)
            .unwrap_or(a.end_at)
            .max(
                now.saturating_add(SignedDuration::from_hours(1))
                    .unwrap_or(now),
            ),
        delivery: InviteDelivery::LinkShown,
        used_at: None,
        session_hash: None,
        admitted_at: None,
    };
    let record = audit(
        ctx,
        actor,
        &v,
        AuditAction::GuestInvite,
        format!("{} invited ({})", invite.relation.as_str(), invite.id),
    );
    ctx.store.create_invite(&invite, record).await?;
    ctx.store
        .log_visit(
            &log(
                ctx,
                actor.audit_actor(),
                id,
                "guest_invited",
                Some(invite.relation.as_str().into()),
            ),
            VisitCounters::default(),
        )
        .await?;
    ctx.notifier.visit_changed(&v);
    Ok(invite)
}

/// Records how the link went out (emailed, or the email failed).
pub async fn delivered(
    ctx: Ctx<'_>,
    invite: &Invite,
    delivery: InviteDelivery,
) -> DomainResult<()> {
    ctx.store.set_invite_delivery(invite.id, delivery).await
}

/// The invitation behind a link if it can still be used, with its visit; nothing is used up.
/// What the page offering the Join button shows: mail scanners fetch links ahead of people.
pub async fn peek(ctx: Ctx<'_>, token_hash: &str) -> DomainResult<(Invite, Visit)> {
    let invite = ctx
        .store
        .invite_by_token(token_hash)
        .await?
        .ok_or_else(|| DomainError::InviteUnusable("this invitation link is not valid".into()))?;
    if invite.used_at.is_some() {
        return Err(DomainError::InviteUnusable(
            "this invitation link was used already: it works once, on one device; ask for a new one".into(),
        ));
    }
    if ctx.clock.now() >= invite.expires_at {
        return Err(DomainError::InviteUnusable(
            "this invitation link has expired; ask for a new one".into(),
        ));
    }
    let visit = ctx
        .store
        .get_visit(invite.org_id, invite.appointment_id)
        .await?
        .filter(|v| !v.state.is_over())
        .ok_or_else(|| DomainError::InviteUnusable("this visit has ended".into()))?;
    Ok((invite, visit))
}

/// A guest opens their link: it works once, before it expires, while the visit is not over. The
/// guest's browser gets a session of its own (its hash is bound to the invitation).
pub async fn open(ctx: Ctx<'_>, token_hash: &str, session_hash: &str) -> DomainResult<Invite> {
    let (invite, visit) = peek(ctx, token_hash).await?;
    let now = ctx.clock.now();
    let audit = crate::compliance::AuditEntry::new(
        now,
        crate::compliance::AuditActor::Guest { invite: invite.id },
        AuditAction::GuestJoin,
        "Encounter",
    )
    .org(invite.org_id)
    .resource(invite.appointment_id)
    .detail(format!(
        "{} opened the invitation",
        invite.relation.as_str()
    ));
    if !ctx
        .store
        .claim_invite(invite.id, session_hash, now, audit)
        .await?
    {
        return Err(DomainError::InviteUnusable(
            "this invitation link was used already; ask for a new one".into(),
        ));
    }
    let claimed = Invite {
        used_at: Some(now),
        session_hash: Some(session_hash.to_string()),
        ..invite
    };
    ctx.store
        .log_visit(
            &log(
                ctx,
                crate::compliance::AuditActor::Guest { invite: claimed.id },
                visit.appointment_id,
                "guest_joined",
                Some(claimed.relation.as_str().into()),
            ),
            VisitCounters::default(),
        )
        .await?;
    ctx.notifier.visit_changed(&visit);
    Ok(claimed)
}

/// The guest behind a guest session, if the invitation is still good.
pub async fn by_session(ctx: Ctx<'_>, session_hash: &str) -> DomainResult<Option<Invite>> {
    let found = ctx.store.invite_by_session(session_hash).await?;
    Ok(found.filter(|i| ctx.clock.now() < i.expires_at))
}

/// The clinician lets a waiting guest into the call.
pub async fn admit(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    invite: InviteId,
) -> DomainResult<Invite> {
    let (v, _) = visit_for(ctx, actor, id).await?;
    require_clinician(actor, &v, "let guests into this visit")?;
    let found = ctx
        .store
        .list_invites(v.org_id, id)
        .await?
        .into_iter()
        .find(|i| i.id == invite)
        .ok_or(DomainError::NotFound {
            resource: "invitation",
        })?;
    if found.used_at.is_none() {
        return Err(DomainError::invalid(
            "invite",
            "the guest has not opened their link yet",
        ));
    }
    let now: Timestamp = ctx.clock.now();
    let record = audit(
        ctx,
        actor,
        &v,
        AuditAction::GuestAdmit,
        format!("{} admitted ({})", found.relation.as_str(), found.id),
    );
    if !ctx.store.admit_guest(v.org_id, invite, now, record).await? {
        return Err(DomainError::conflict_on(
            "invite",
            "the guest is in the call already",
        ));
    }
    ctx.store
        .log_visit(
            &log(
                ctx,
                actor.audit_actor(),
                id,
                "guest_admitted",
                Some(found.relation.as_str().into()),
            ),
            VisitCounters::default(),
        )
        .await?;
    ctx.notifier.visit_changed(&v);
    Ok(Invite {
        admitted_at: Some(now),
        ..found
    })
}

/// A visit's invitations, for its participants and the site's staff.
pub async fn list(ctx: Ctx<'_>, actor: &Actor, id: AppointmentId) -> DomainResult<Vec<Invite>> {
    let (v, _) = visit_for(ctx, actor, id).await?;
    ctx.store.list_invites(v.org_id, id).await
}
