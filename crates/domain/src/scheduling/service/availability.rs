//! Clinicians' availability: weekly templates, leave and extra hours, and publishing slots from them.

use std::collections::HashMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::Deserialize;

use super::shared::{
    clinician, date_at, date_or, entry, may_manage_clinician, parse_instant, site_with_zone,
    zone_of,
};
use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::AuditAction;
use crate::error::{DomainError, DomainResult};
use crate::identity::{Site, User, optional_text};
use crate::ids::{ExceptionId, OrgId, SiteId, TemplateId, UserId};
use crate::scheduling::availability::{
    OVERLAP_HORIZON_DAYS, TemplateInput, Window, check_exception, extra_hours_window,
    first_overlap, format_time, plan_slots, template_windows, weekday_name,
};
use crate::scheduling::{
    Appointment, AppointmentQuery, AppointmentStatus, AvailabilityException, AvailabilityTemplate,
    ExceptionKind, ServiceLines,
};

/// Midnight at the start of `date` at a place.
pub(crate) fn start_of_day(date: Date, tz: &TimeZone) -> DomainResult<Timestamp> {
    crate::scheduling::availability::local_instant(date, jiff::civil::Time::midnight(), tz)
}

/// A clinician whose schedule the actor may change.
async fn managed_clinician(ctx: Ctx<'_>, actor: &Actor, id: UserId) -> DomainResult<User> {
    let org = actor.org()?;
    access::require(actor, Permission::ManageAvailability)?;
    let c = clinician(ctx, org, id).await?;
    if !may_manage_clinician(actor, &c) {
        return Err(DomainError::Forbidden {
            action: "change this clinician's availability",
        });
    }
    Ok(c)
}

/// Every site of the organization with its time zone.
async fn zones(ctx: Ctx<'_>, org: OrgId) -> DomainResult<HashMap<SiteId, (Site, TimeZone)>> {
    let mut map = HashMap::new();
    for site in ctx.store.list_sites(org).await? {
        let tz = zone_of(&site)?;
        map.insert(site.id, (site, tz));
    }
    Ok(map)
}

/// The windows of a clinician's templates and extra hours from `from` to `to`.
async fn windows_of(
    ctx: Ctx<'_>,
    org: OrgId,
    clinician: UserId,
    templates: &[AvailabilityTemplate],
    from: Date,
    to: Date,
    sites: &HashMap<SiteId, (Site, TimeZone)>,
) -> DomainResult<(Vec<Window>, Vec<(Timestamp, Timestamp)>)> {
    let mut windows = Vec::new();
    for t in templates {
        if let Some((_, tz)) = sites.get(&t.site_id) {
            windows.extend(template_windows(t, tz, from, to));
        }
    }
    let span_start = start_of_day(from, &TimeZone::UTC)?
        .saturating_sub(SignedDuration::from_hours(24))
        .unwrap_or(Timestamp::MIN);
    let span_end = start_of_day(to, &TimeZone::UTC)?
        .saturating_add(SignedDuration::from_hours(48))
        .unwrap_or(Timestamp::MAX);
    let mut leave = Vec::new();
    for e in ctx
        .store
        .list_exceptions(org, clinician, span_start, span_end)
        .await?
    {
        match e.kind {
            ExceptionKind::Leave => leave.push((e.start_at, e.end_at)),
            ExceptionKind::ExtraHours => windows.extend(extra_hours_window(&e)),
        }
    }
    Ok((windows, leave))
}

fn describe(w: &Window, sites: &HashMap<SiteId, (Site, TimeZone)>) -> String {
    match sites.get(&w.site_id) {
        Some((site, tz)) => {
            let start = w.start.to_zoned(tz.clone());
            let end = w.end.to_zoned(tz.clone());
            format!(
                "the hours at {} on {} {} {}-{}",
                site.name,
                weekday_name(start.weekday()),
                start.date(),
                format_time(start.time()),
                format_time(end.time())
            )
        }
        None => format!("other hours starting {}", w.start),
    }
}

/// Adds weekly hours and publishes their slots for the booking horizon. Refused if they would
/// overlap the clinician's other hours at any site (compared in absolute time).
pub async fn add_template(
    ctx: Ctx<'_>,
    actor: &Actor,
    clinician_id: UserId,
    input: &TemplateInput,
) -> DomainResult<(AvailabilityTemplate, u64)> {
    let c = managed_clinician(ctx, actor, clinician_id).await?;
    let org = c.org_id;
    let fields = input.validate()?;
    let sites = zones(ctx, org).await?;
    let Some((site, tz)) = sites.get(&fields.site_id) else {
        return Err(DomainError::invalid(
            "site_id",
            "is not a site of this organization",
        ));
    };
    if !c.site_ids.contains(&site.id) {
        return Err(DomainError::invalid(
            "site_id",
            format!("{} does not work at {}", c.display_name, site.name),
        ));
    }
    let template = fields.into_template(org, c.id, ctx.clock.now());
    let today = date_at(ctx.clock.now(), tz);
    let from = template.valid_from.max(today);
    let to = from.saturating_add(OVERLAP_HORIZON_DAYS.days());
    let existing = ctx.store.list_templates(org, Some(c.id)).await?;
    let (others, _) = windows_of(ctx, org, c.id, &existing, from, to, &sites).await?;
    let mine = template_windows(&template, tz, from, to);
    if let Some((theirs, _)) = first_overlap(&others, &mine) {
        return Err(DomainError::AvailabilityOverlap(format!(
            "these hours overlap {}; a clinician cannot be in two places at once",
            describe(theirs, &sites)
        )));
    }
    let audit = entry(ctx, actor, AuditAction::AvailabilityChange, "Schedule", org)
        .resource(template.id)
        .detail(format!(
            "weekly {} {}-{} at {} for {}",
            weekday_name(template.weekday),
            format_time(template.start_time),
            format_time(template.end_time),
            site.name,
            c.id
        ));
    ctx.store.create_template(&template, audit).await?;
    let published = publish_for(ctx, actor, org, c.id, today, None).await?;
    Ok((template, published))
}

/// Ends weekly hours after `last_day` (inclusive) and withdraws their open slots after it. Booked
/// appointments stay; the front desk sees them and moves them.
pub async fn end_template(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: TemplateId,
    last_day: &str,
) -> DomainResult<(AvailabilityTemplate, u64)> {
    let org = actor.org()?;
    access::require(actor, Permission::ManageAvailability)?;
    let template = ctx
        .store
        .get_template(org, id)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "availability template",
        })?;
    managed_clinician(ctx, actor, template.clinician_id).await?;
    let (site, tz) = site_with_zone(ctx, org, template.site_id).await?;
    let today = date_at(ctx.clock.now(), &tz);
    let last = crate::identity::parse_date("last_day", last_day)?;
    let last = last.max(template.valid_from.saturating_sub(1.day()));
    if last < today.saturating_sub(1.day()) {
        return Err(DomainError::invalid("last_day", "must not be in the past"));
    }
    let withdraw_from = start_of_day(last.saturating_add(1.day()), &tz)?.max(ctx.clock.now());
    let audit = entry(ctx, actor, AuditAction::AvailabilityChange, "Schedule", org)
        .resource(template.id)
        .detail(format!("weekly hours at {} end after {last}", site.name));
    let withdrawn = ctx
        .store
        .end_template(org, id, last, withdraw_from, audit)
        .await?;
    Ok((
        AvailabilityTemplate {
            valid_until: Some(last),
            ..template
        },
        withdrawn,
    ))
}

/// Leave or extra hours as a client sends them. Times are local to the site (or to the
/// clinician's first site for leave) unless they carry an offset; a date alone means its midnight.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExceptionInput {
    pub kind: String,
    pub site_id: Option<String>,
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub slot_minutes: Option<i64>,
    #[serde(default)]
    pub buffer_minutes: Option<i64>,
    #[serde(default)]
    pub service_lines: Vec<String>,
    pub reason: Option<String>,
}

/// What adding an exception did.
#[derive(Debug, Clone)]
pub struct ExceptionOutcome {
    pub exception: AvailabilityException,
    /// Open slots withdrawn (leave).
    pub withdrawn: u64,
    /// Slots published (extra hours).
    pub published: u64,
    /// Appointments already booked inside the leave: to be moved by the clinic.
    pub affected: Vec<Appointment>,
}

pub async fn add_exception(
    ctx: Ctx<'_>,
    actor: &Actor,
    clinician_id: UserId,
    input: &ExceptionInput,
) -> DomainResult<ExceptionOutcome> {
    let c = managed_clinician(ctx, actor, clinician_id).await?;
    let org = c.org_id;
    let kind = ExceptionKind::parse("kind", &input.kind)?;
    let sites = zones(ctx, org).await?;
    let site_id: Option<SiteId> = match input.site_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(
            raw.parse()
                .map_err(|_| DomainError::invalid("site_id", "must be the id of a site"))?,
        ),
    };
    let zone_site = site_id.or_else(|| c.site_ids.first().copied());
    let tz = match zone_site.and_then(|s| sites.get(&s)) {
        Some((_, tz)) => tz.clone(),
        None if site_id.is_some() => {
            return Err(DomainError::invalid(
                "site_id",
                "is not a site of this organization",
            ));
        }
        None => TimeZone::UTC,
    };
    if let Some(s) = site_id
        && !c.site_ids.contains(&s)
    {
        return Err(DomainError::invalid(
            "site_id",
            "the clinician does not work at this site",
        ));
    }
    let mut end = parse_instant("end", &input.end, &tz)?;
    if input.end.trim().len() == 10 {
        // A date alone as the end means "through that day".
        end = end
            .saturating_add(SignedDuration::from_hours(24))
            .unwrap_or(end);
    }
    let exception = AvailabilityException {
        id: ExceptionId::new(),
        org_id: org,
        clinician_id: c.id,
        kind,
        site_id: if kind == ExceptionKind::ExtraHours {
            site_id
        } else {
            None
        },
        start_at: parse_instant("start", &input.start, &tz)?,
        end_at: end,
        slot_minutes: input.slot_minutes.unwrap_or(30),
        buffer_minutes: input.buffer_minutes.unwrap_or(0),
        service_lines: if kind == ExceptionKind::ExtraHours {
            ServiceLines::parse_list("service_lines", &input.service_lines)?
        } else {
            ServiceLines::default()
        },
        reason: optional_text("reason", input.reason.as_deref(), 500)?,
        created_at: ctx.clock.now(),
    };
    check_exception(&exception)?;
    if exception.end_at <= ctx.clock.now() {
        return Err(DomainError::invalid("end", "must be in the future"));
    }
    if let Some(window) = extra_hours_window(&exception) {
        let from = date_at(exception.start_at, &tz).saturating_sub(1.day());
        let to = date_at(exception.end_at, &tz).saturating_add(1.day());
        let templates = ctx.store.list_templates(org, Some(c.id)).await?;
        let (others, _) = windows_of(ctx, org, c.id, &templates, from, to, &sites).await?;
        if let Some((theirs, _)) = first_overlap(&others, std::slice::from_ref(&window)) {
            return Err(DomainError::AvailabilityOverlap(format!(
                "these extra hours overlap {}",
                describe(theirs, &sites)
            )));
        }
    }
    let affected = if kind == ExceptionKind::Leave {
        let query = AppointmentQuery {
            clinician_id: Some(c.id),
            from: Some(
                exception
                    .start_at
                    .saturating_sub(SignedDuration::from_hours(24))
                    .unwrap_or(exception.start_at),
            ),
            to: Some(exception.end_at),
            statuses: Some(vec![AppointmentStatus::Proposed, AppointmentStatus::Booked]),
            limit: 1000,
            ..AppointmentQuery::default()
        };
        ctx.store
            .list_appointments(org, &query)
            .await?
            .into_iter()
            .filter(|a| a.start_at < exception.end_at && exception.start_at < a.end_at)
            .collect()
    } else {
        Vec::new()
    };
    let audit = entry(ctx, actor, AuditAction::AvailabilityChange, "Schedule", org)
        .resource(exception.id)
        .detail(format!(
            "{} for {} from {} to {}",
            kind.as_str(),
            c.id,
            exception.start_at,
            exception.end_at
        ));
    let withdrawn = ctx.store.create_exception(&exception, audit).await?;
    let published = if kind == ExceptionKind::ExtraHours {
        publish_for(
            ctx,
            actor,
            org,
            c.id,
            date_at(exception.start_at, &tz),
            Some(date_at(exception.end_at, &tz)),
        )
        .await?
    } else {
        0
    };
    Ok(ExceptionOutcome {
        exception,
        withdrawn,
        published,
        affected,
    })
}

/// A clinician's weekly hours and their upcoming exceptions.
pub async fn list(
    ctx: Ctx<'_>,
    actor: &Actor,
    clinician_id: UserId,
) -> DomainResult<(Vec<AvailabilityTemplate>, Vec<AvailabilityException>)> {
    let org = actor.org()?;
    let c = clinician(ctx, org, clinician_id).await?;
    if !may_manage_clinician(actor, &c) && !super::shared::is_self(actor, c.id) {
        access::require(actor, Permission::ManageAvailability)?;
        return Err(DomainError::Forbidden {
            action: "see this clinician's availability",
        });
    }
    let templates = ctx.store.list_templates(org, Some(c.id)).await?;
    let now = ctx.clock.now();
    let until = now
        .saturating_add(SignedDuration::from_hours(24 * 366))
        .unwrap_or(now);
    let exceptions = ctx.store.list_exceptions(org, c.id, now, until).await?;
    Ok((templates, exceptions))
}

/// What to publish.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PublishInput {
    /// One clinician; every clinician with weekly hours when left out.
    pub clinician_id: Option<String>,
    /// First day (default today).
    pub from: Option<String>,
    /// Last day (default the end of the booking horizon).
    pub to: Option<String>,
}

/// Publishes slots from availability; already published slots are kept as they are.
pub async fn publish(ctx: Ctx<'_>, actor: &Actor, input: &PublishInput) -> DomainResult<u64> {
    let org = actor.org()?;
    access::require(actor, Permission::ManageAvailability)?;
    let clinicians: Vec<UserId> = match input.clinician_id.as_deref().map(str::trim) {
        Some(raw) if !raw.is_empty() => {
            let id = raw.parse().map_err(|_| {
                DomainError::invalid("clinician_id", "must be the id of a clinician")
            })?;
            vec![managed_clinician(ctx, actor, id).await?.id]
        }
        _ => {
            let mut ids: Vec<UserId> = Vec::new();
            for t in ctx.store.list_templates(org, None).await? {
                if !ids.contains(&t.clinician_id) {
                    ids.push(t.clinician_id);
                }
            }
            let mut allowed = Vec::new();
            for id in ids {
                if let Ok(c) = clinician(ctx, org, id).await
                    && may_manage_clinician(actor, &c)
                {
                    allowed.push(c.id);
                }
            }
            allowed
        }
    };
    let today = date_at(ctx.clock.now(), &TimeZone::UTC);
    let from = date_or("from", input.from.as_deref(), today)?;
    let to = match input.to.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(crate::identity::parse_date("to", raw)?),
    };
    if to.is_some_and(|t| t < from) {
        return Err(DomainError::invalid("to", "must not be before from"));
    }
    let mut total = 0;
    for c in clinicians {
        total += publish_for(ctx, actor, org, c, from, to).await?;
    }
    Ok(total)
}

/// Publishes one clinician's slots from `from` to `to` (default: the booking horizon).
pub(crate) async fn publish_for(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    clinician: UserId,
    from: Date,
    to: Option<Date>,
) -> DomainResult<u64> {
    let now = ctx.clock.now();
    let horizon_end =
        date_at(now, &TimeZone::UTC).saturating_add(ctx.scheduling.booking_horizon_days.days());
    let to = to.unwrap_or(horizon_end).min(horizon_end);
    if to < from {
        return Ok(0);
    }
    let sites = zones(ctx, org).await?;
    let templates = ctx.store.list_templates(org, Some(clinician)).await?;
    let (windows, leave) = windows_of(ctx, org, clinician, &templates, from, to, &sites).await?;
    let slots = plan_slots(org, clinician, &windows, &leave, now, now);
    if slots.is_empty() {
        return Ok(0);
    }
    let audit = entry(ctx, actor, AuditAction::SlotsPublish, "Slot", org)
        .resource(clinician)
        .detail(format!(
            "{} slots from {from} to {to} considered",
            slots.len()
        ));
    ctx.store.publish_slots(&slots, audit).await
}
