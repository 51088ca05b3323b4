//! Scheduling use cases: visit types, availability and slots, booking and the appointment's life,
//! telehealth consent, the on-demand queue, calendar feeds, and the jobs that run on a clock.

pub mod appointments;
pub mod availability;
pub mod booking;
pub mod calendar;
pub mod consent;
pub mod directory;
pub mod jobs;
pub mod queue;
pub mod visit_types;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::Ctx;
use crate::access::{Actor, Principal};
use crate::compliance::{AuditAction, AuditEntry};
use crate::error::{DomainError, DomainResult};
use crate::identity::{Role, Site, User};
use crate::ids::{OrgId, SiteId, UserId};

/// An audit entry for a scheduling action of `actor` in `org`.
pub(crate) fn entry(
    ctx: Ctx<'_>,
    actor: &Actor,
    action: AuditAction,
    resource_type: &str,
    org: OrgId,
) -> AuditEntry {
    AuditEntry::new(ctx.clock.now(), actor.audit_actor(), action, resource_type)
        .org(org)
        .from_ip(actor.source_ip.clone())
}

/// An active clinician of the organization, or "clinician not found".
pub(crate) async fn clinician(ctx: Ctx<'_>, org: OrgId, id: UserId) -> DomainResult<User> {
    match ctx.store.get_user(org, id).await? {
        Some(user) if user.role == Role::Clinician && user.active => Ok(user),
        _ => Err(DomainError::NotFound {
            resource: "clinician",
        }),
    }
}

/// A site of the organization with its time zone.
pub(crate) async fn site_with_zone(
    ctx: Ctx<'_>,
    org: OrgId,
    id: SiteId,
) -> DomainResult<(Site, TimeZone)> {
    let site = ctx
        .store
        .get_site(org, id)
        .await?
        .ok_or(DomainError::NotFound { resource: "site" })?;
    let tz = zone_of(&site)?;
    Ok((site, tz))
}

pub(crate) fn zone_of(site: &Site) -> DomainResult<TimeZone> {
    TimeZone::get(site.time_zone.as_str()).map_err(|e| {
        DomainError::Storage(format!(
            "the time zone {} of a site is unknown here: {e}",
            site.time_zone.as_str()
        ))
    })
}

/// The calendar date of an instant at a place.
pub(crate) fn date_at(at: Timestamp, tz: &TimeZone) -> Date {
    at.to_zoned(tz.clone()).date()
}

/// Is the actor the clinician themselves?
pub(crate) fn is_self(actor: &Actor, user: UserId) -> bool {
    matches!(actor.principal, Principal::User(id) if id == user)
}

/// May the actor look after this clinician's schedule? Themselves; staff of a site the
/// clinician works at; organization administrators and integration clients anywhere.
pub(crate) fn may_manage_clinician(actor: &Actor, clinician: &User) -> bool {
    match (&actor.principal, actor.role) {
        (Principal::User(_), Some(Role::OrgAdmin)) => true,
        (Principal::User(id), Some(Role::Clinician)) => *id == clinician.id,
        (Principal::User(_), Some(Role::FrontDesk | Role::SiteAdmin)) => clinician
            .site_ids
            .iter()
            .any(|s| actor.site_ids.contains(s)),
        (Principal::User(_), _) => false,
        (Principal::Client(_) | Principal::Operator, _) => true,
    }
}

/// A date `YYYY-MM-DD`, or today when blank.
pub(crate) fn date_or(field: &str, raw: Option<&str>, default: Date) -> DomainResult<Date> {
    match raw.map(str::trim) {
        None | Some("") => Ok(default),
        Some(raw) => crate::identity::parse_date(field, raw),
    }
}

/// An instant: an RFC 3339 timestamp with an offset (`2026-12-24T14:00:00Z`), or a local date and
/// time (`2026-12-24T09:00`) or a date alone (its midnight) at `tz`.
pub(crate) fn parse_instant(field: &str, raw: &str, tz: &TimeZone) -> DomainResult<Timestamp> {
    let raw = raw.trim();
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Ok(ts);
    }
    let civil = raw.parse::<jiff::civil::DateTime>().or_else(|_| {
        raw.parse::<Date>()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
    });
    match civil {
        Ok(dt) => dt.to_zoned(tz.clone()).map(|z| z.timestamp()).map_err(|_| {
            DomainError::invalid(
                field,
                format!("'{raw}' cannot be placed in the site's time zone"),
            )
        }),
        Err(_) => Err(DomainError::invalid(
            field,
            format!(
                "'{raw}' is not a time such as 2026-12-24T09:00 (local to the site), 2026-12-24, or 2026-12-24T14:00:00Z"
            ),
        )),
    }
}
