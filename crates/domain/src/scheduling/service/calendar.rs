//! A clinician's private calendar feed (iCalendar): a secret link their calendar app polls.
//!
//! The feed shows when and how each visit takes place, never who the patient is: calendar apps
//! copy what they fetch to other companies' servers.

use jiff::SignedDuration;

use super::shared::{clinician, entry, is_self};
use crate::Ctx;
use crate::access::Actor;
use crate::compliance::{AuditAction, AuditActor, AuditEntry};
use crate::error::{DomainError, DomainResult};
use crate::identity::{Role, Site, User};
use crate::scheduling::{Appointment, AppointmentQuery, AppointmentStatus};

/// Stores a new feed token's hash for the clinician signed in (the old link stops working).
/// The front door makes the token and shows it once.
pub async fn issue(ctx: Ctx<'_>, actor: &Actor, token_hash: &str) -> DomainResult<()> {
    let org = actor.org()?;
    let me = actor.user_id().ok_or(DomainError::Forbidden {
        action: "have a calendar feed",
    })?;
    if actor.role != Some(Role::Clinician) || !is_self(actor, me) {
        return Err(DomainError::Forbidden {
            action: "have a calendar feed",
        });
    }
    let audit = entry(ctx, actor, AuditAction::CalendarFeedIssued, "Schedule", org).resource(me);
    ctx.store
        .set_calendar_feed(org, me, token_hash, ctx.clock.now(), audit)
        .await
}

/// What a feed holds: the clinician, their sites, and their visits from a week back to the horizon.
pub struct Feed {
    pub clinician: User,
    pub sites: Vec<Site>,
    pub appointments: Vec<Appointment>,
}

/// The feed behind a token hash; an unknown token is "not found". The fetch is audited.
pub async fn feed(ctx: Ctx<'_>, token_hash: &str) -> DomainResult<Feed> {
    let (org, user) =
        ctx.store
            .calendar_feed_owner(token_hash)
            .await?
            .ok_or(DomainError::NotFound {
                resource: "calendar",
            })?;
    let c = clinician(ctx, org, user).await?;
    let now = ctx.clock.now();
    let query = AppointmentQuery {
        clinician_id: Some(c.id),
        from: now.saturating_sub(SignedDuration::from_hours(24 * 7)).ok(),
        to: now
            .saturating_add(SignedDuration::from_hours(
                24 * ctx.scheduling.booking_horizon_days,
            ))
            .ok(),
        statuses: Some(vec![
            AppointmentStatus::Proposed,
            AppointmentStatus::Booked,
            AppointmentStatus::CheckedIn,
            AppointmentStatus::InVisit,
            AppointmentStatus::Completed,
        ]),
        limit: 1000,
        ..AppointmentQuery::default()
    };
    let appointments = ctx.store.list_appointments(org, &query).await?;
    let audit = AuditEntry::new(
        now,
        AuditActor::User {
            id: c.id,
            role: Role::Clinician,
        },
        AuditAction::CalendarFeedRead,
        "Schedule",
    )
    .org(org)
    .resource(c.id)
    .detail(format!("{} visits, no patient details", appointments.len()));
    ctx.store.record_audit(audit).await?;
    let sites = ctx.store.list_sites(org).await?;
    Ok(Feed {
        clinician: c,
        sites,
        appointments,
    })
}
