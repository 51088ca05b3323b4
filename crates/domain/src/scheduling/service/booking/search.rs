//! Searching open slots: the slots a patient may book, with the clinician and site to choose by.

use std::collections::HashMap;

use jiff::SignedDuration;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::super::shared::{date_at, site_with_zone, zone_of};
use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::check_clinician_licensed_in;
use crate::error::{DomainError, DomainResult};
use crate::identity::{Role, Site, UsState, User};
use crate::ids::{OrgId, SiteId, SlotId, UserId, VisitTypeId};
use crate::scheduling::{ServiceLine, Slot, SlotQuery};

/// What a slot search asks for, parsed; every field may be left out. The JSON API builds it with
/// `TryFrom` from its query parameters, the web from its form, each with the parsers of
/// [`fields`](super::fields), and a page that knows its values (the calendar) fills it in directly.
#[derive(Debug, Clone, Default)]
pub struct SlotSearch {
    pub visit_type_id: Option<VisitTypeId>,
    /// Ignored when a visit type is given (its own line is used).
    pub service_line: Option<ServiceLine>,
    /// Where the patient will be: only clinicians licensed there are shown.
    pub patient_state: Option<UsState>,
    /// The language the patient prefers, a tag lower-cased (`opt_language`): a preference, not
    /// a filter. Every open time is found; those with a clinician who speaks it come first.
    pub language: Option<String>,
    /// First day (default today).
    pub from: Option<Date>,
    /// Last day, inclusive (default two weeks on).
    pub to: Option<Date>,
    pub site_id: Option<SiteId>,
    pub clinician_id: Option<UserId>,
    /// At most this many (1 to 500, default 100).
    pub limit: Option<i64>,
}

/// An open slot with what a patient needs to choose it.
#[derive(Debug, Clone)]
pub struct OpenSlot {
    pub slot: Slot,
    pub clinician_name: String,
    pub clinician_languages: Vec<String>,
    /// Whether the clinician speaks the language asked for; `None` when none was asked.
    /// `Some(false)`: an interpreter can join the visit.
    pub speaks_language: Option<bool>,
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

/// Open slots that the actor may book, soonest first; with a language asked for, those of
/// clinicians who speak it first (each part soonest first).
pub async fn search(
    ctx: Ctx<'_>,
    actor: &Actor,
    input: &SlotSearch,
) -> DomainResult<Vec<OpenSlot>> {
    find(ctx, actor, input, None).await
}

/// The one slot picked from a search, if it is still open to the actor under the same
/// criteria (the confirm page reads it again rather than trusting the form).
pub async fn open_slot(
    ctx: Ctx<'_>,
    actor: &Actor,
    input: &SlotSearch,
    slot_id: SlotId,
) -> DomainResult<Option<OpenSlot>> {
    Ok(find(ctx, actor, input, Some(slot_id))
        .await?
        .into_iter()
        .next())
}

async fn find(
    ctx: Ctx<'_>,
    actor: &Actor,
    input: &SlotSearch,
    slot_id: Option<SlotId>,
) -> DomainResult<Vec<OpenSlot>> {
    let org = actor.org()?;
    access::require(actor, Permission::SearchSlots)?;
    let visit_type = match input.visit_type_id {
        Some(id) => Some(super::super::visit_types::get(ctx, actor, id).await?),
        None => None,
    };
    let service_line = visit_type
        .as_ref()
        .map(|v| v.service_line)
        .or(input.service_line);
    let mut patient_state = input.patient_state;
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
    let language = input.language.clone();
    let (site_id, clinician_id) = (input.site_id, input.clinician_id);
    let tz = search_zone(ctx, org, site_id).await?;
    let now = ctx.clock.now();
    let today = date_at(now, &tz);
    let from = input.from.unwrap_or(today).max(today);
    let to = input
        .to
        .unwrap_or_else(|| from.saturating_add(jiff::Span::new().days(13)));
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
    let limit = if slot_id.is_some() {
        1
    } else {
        input.limit.unwrap_or(100).clamp(1, 500)
    };
    let query = SlotQuery {
        from: start,
        to: end,
        service_line,
        min_minutes: visit_type.as_ref().map(|v| v.duration_minutes),
        clinician_id,
        site_id,
        slot_id,
        licensed_in: patient_state.map(|s| (s, from)),
        language: None,
        open_only: true,
        limit,
    };
    if start >= end {
        return Ok(Vec::new());
    }
    let mut found = ctx.store.search_slots(org, &query).await?;
    if let Some(language) = &language
        && slot_id.is_none()
    {
        // The speakers' own search, so that their times are not cut off by the limit when
        // other clinicians' times come sooner.
        let theirs = ctx
            .store
            .search_slots(
                org,
                &SlotQuery {
                    language: Some(language.clone()),
                    ..query.clone()
                },
            )
            .await?;
        let ids: std::collections::HashSet<SlotId> = theirs.iter().map(|v| v.slot.id).collect();
        found.retain(|v| !ids.contains(&v.slot.id));
        found = theirs.into_iter().chain(found).collect();
    }
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
        let clinician_languages = c
            .clinician
            .as_ref()
            .map(|p| p.languages.clone())
            .unwrap_or_default();
        open.push(OpenSlot {
            clinician_name: c.display_name.clone(),
            speaks_language: language.as_ref().map(|l| clinician_languages.contains(l)),
            clinician_languages,
            site: site.clone(),
            time_zone: tz.clone(),
            slot,
        });
    }
    // Speakers first, each part soonest first (the store's order); at most the limit.
    open.sort_by_key(|o| o.speaks_language == Some(false));
    open.truncate(usize::try_from(limit).unwrap_or(1));
    Ok(open)
}
