//! Searching open slots: the slots a patient may book, with the clinician and site to choose by.

use std::collections::HashMap;

use jiff::SignedDuration;
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::super::shared::{date_at, date_or, site_with_zone, zone_of};
use super::opt_id;
use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::check_clinician_licensed_in;
use crate::error::{DomainError, DomainResult};
use crate::identity::{Role, Site, UsState, User};
use crate::ids::{OrgId, SiteId, UserId};
use crate::scheduling::{ServiceLine, Slot, SlotQuery};

/// What a slot search asks for; every field may be left out.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlotSearchInput {
    pub visit_type_id: Option<String>,
    pub service_line: Option<String>,
    /// Where the patient will be: only clinicians licensed there are shown.
    pub patient_state: Option<String>,
    pub language: Option<String>,
    /// First day, `YYYY-MM-DD` (default today).
    pub from: Option<String>,
    /// Last day, inclusive (default two weeks on).
    pub to: Option<String>,
    pub site_id: Option<String>,
    pub clinician_id: Option<String>,
    pub limit: Option<i64>,
}

/// An open slot with what a patient needs to choose it.
#[derive(Debug, Clone)]
pub struct OpenSlot {
    pub slot: Slot,
    pub clinician_name: String,
    pub clinician_languages: Vec<String>,
    pub site: Site,
    pub time_zone: TimeZone,
}

/// Days a search may span at most.
pub const MAX_SEARCH_DAYS: i64 = 62;

/// The time zone dates in a search mean: the site's, or the organization's first site's.
async fn search_zone(ctx: Ctx<'_>, org: OrgId, site: Option<SiteId>) -> DomainResult<TimeZone> {
    if let Some(site) = site {
        return Ok(site_with_zone(ctx, org, site).await?.1);
    }
    match ctx.store.list_sites(org).await?.first() {
        Some(site) => zone_of(site),
        None => Ok(TimeZone::UTC),
    }
}

/// Open slots that the actor may book, soonest first.
pub async fn search(
    ctx: Ctx<'_>,
    actor: &Actor,
    input: &SlotSearchInput,
) -> DomainResult<Vec<OpenSlot>> {
    let org = actor.org()?;
    access::require(actor, Permission::SearchSlots)?;
    let visit_type = match opt_id(
        "visit_type_id",
        input.visit_type_id.as_deref(),
        "visit type",
    )? {
        Some(id) => Some(super::super::visit_types::get(ctx, actor, id).await?),
        None => None,
    };
    let service_line = match (&visit_type, input.service_line.as_deref().map(str::trim)) {
        (Some(v), _) => Some(v.service_line),
        (None, None | Some("")) => None,
        (None, Some(raw)) => Some(ServiceLine::parse("service_line", raw)?),
    };
    let mut patient_state = match input.patient_state.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(UsState::parse("patient_state", raw)?),
    };
    // A patient is shown only clinicians licensed where they live, unless they say otherwise.
    if patient_state.is_none()
        && actor.role == Some(Role::Patient)
        && let Some(own) = actor.own_patient
        && let Some(p) = ctx.store.get_patient(org, own).await?
    {
        patient_state = Some(p.address.state);
    }
    if visit_type
        .as_ref()
        .is_some_and(|v| !v.modality.is_virtual())
    {
        // In person, the patient is at the clinic: the clinic's own license covers it.
        patient_state = None;
    }
    let language = input
        .language
        .as_deref()
        .filter(|l| !l.trim().is_empty())
        .map(|l| crate::identity::parse_language("language", l))
        .transpose()?;
    let site_id: Option<SiteId> = opt_id("site_id", input.site_id.as_deref(), "site")?;
    let clinician_id: Option<UserId> =
        opt_id("clinician_id", input.clinician_id.as_deref(), "clinician")?;
    let tz = search_zone(ctx, org, site_id).await?;
    let now = ctx.clock.now();
    let today = date_at(now, &tz);
    let from = date_or("from", input.from.as_deref(), today)?.max(today);
    let to = date_or(
        "to",
        input.to.as_deref(),
        from.saturating_add(jiff::Span::new().days(13)),
    )?;
    if to < from {
        return Err(DomainError::invalid("to", "must not be before from"));
    }
    if (to - from).get_days() >= MAX_SEARCH_DAYS as i32 {
        return Err(DomainError::invalid(
            "to",
            format!("a search may span at most {MAX_SEARCH_DAYS} days"),
        ));
    }
    let start = super::super::availability::start_of_day(from, &tz)?.max(now);
    let end = super::super::availability::start_of_day(
        to.saturating_add(jiff::Span::new().days(1)),
        &tz,
    )?
    .min(
        now.saturating_add(SignedDuration::from_hours(
            24 * ctx.scheduling.booking_horizon_days,
        ))
        .unwrap_or(now),
    );
    let limit = input.limit.unwrap_or(100).clamp(1, 500);
    let query = SlotQuery {
        from: start,
        to: end,
        service_line,
        min_minutes: visit_type.as_ref().map(|v| v.duration_minutes),
        clinician_id,
        site_id,
        licensed_in: patient_state.map(|s| (s, from)),
        language,
        open_only: true,
        limit,
    };
    if start >= end {
        return Ok(Vec::new());
    }
    let found = ctx.store.search_slots(org, &query).await?;
    let clinicians: HashMap<UserId, User> = ctx
        .store
        .list_users(org, Some(Role::Clinician))
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let mut sites: HashMap<SiteId, (Site, TimeZone)> = HashMap::new();
    for site in ctx.store.list_sites(org).await? {
        let tz = zone_of(&site)?;
        sites.insert(site.id, (site, tz));
    }
    let mut open = Vec::with_capacity(found.len());
    for view in found {
        let slot = view.slot;
        let (Some(c), Some((site, tz))) =
            (clinicians.get(&slot.clinician_id), sites.get(&slot.site_id))
        else {
            continue;
        };
        if !c.active {
            continue;
        }
        if let Some(state) = patient_state {
            let licenses = c
                .clinician
                .as_ref()
                .map(|p| p.licenses.as_slice())
                .unwrap_or(&[]);
            if check_clinician_licensed_in(licenses, state, date_at(slot.start_at, tz)).is_err() {
                continue;
            }
        }
        open.push(OpenSlot {
            clinician_name: c.display_name.clone(),
            clinician_languages: c
                .clinician
                .as_ref()
                .map(|p| p.languages.clone())
                .unwrap_or_default(),
            site: site.clone(),
            time_zone: tz.clone(),
            slot,
        });
    }
    Ok(open)
}
