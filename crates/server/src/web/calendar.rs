//! A clinician's calendar: their visits and open times for a day or a week.

use askama::Template;
use axum::extract::State;
use jiff::ToSpan;
use jiff::civil::Date;
use serde::Deserialize;

use domain::identity::Role;
use domain::ids::UserId;
use domain::scheduling::service::appointments::{self, AppointmentListInput};
use domain::scheduling::service::booking::{self, SlotSearch};
use domain::{DomainError, Permission, access};

use crate::state::AppState;

use super::appointment_view::Directory;
use super::form::{PageQuery, Select};
use super::page::{PageError, PageResult, href, ok};
use super::session::PageUser;
use super::shell::{Section, Shell};
use super::when;

/// A visit or an open time on the calendar.
pub struct CalendarItem {
    pub time: String,
    pub end_time: String,
    pub title: String,
    pub detail: String,
    /// Visits link to their page; open times have none.
    pub href: Option<String>,
    pub status: &'static str,
    pub status_class: &'static str,
    pub open: bool,
}

/// The day and week switch.
pub struct ViewLink {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

pub struct CalendarDay {
    pub heading: String,
    pub today: bool,
    pub items: Vec<CalendarItem>,
}

#[derive(Template)]
#[template(path = "pages/schedule.html")]
struct SchedulePage {
    shell: Shell,
    heading: String,
    range: String,
    week: bool,
    views: Vec<ViewLink>,
    prev_href: String,
    next_href: String,
    today_href: Option<String>,
    availability_href: String,
    clinician: Option<Select>,
    /// No calendar until a clinician is chosen.
    chosen: bool,
    /// A clinician looking at their own schedule, who may subscribe a calendar app to it.
    own: bool,
    days: Vec<CalendarDay>,
    zone_note: String,
}

#[derive(Debug, Deserialize)]
pub struct ScheduleParams {
    view: Option<String>,
    date: Option<String>,
    clinician: Option<String>,
}

/// The statuses a calendar shows: cancelled visits free their time, which shows as open again.
const SHOWN: &str = "proposed,booked,checked_in,in_visit,completed,no_show";

pub async fn schedule(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<ScheduleParams>,
) -> PageResult {
    let actor = &me.actor;
    access::require(actor, Permission::ReadAppointments)?;
    if me.user.role == Role::Patient {
        return Err(PageError::NotFound);
    }
    let dir = Directory::load(&state, actor).await?;
    let named = params
        .clinician
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let clinician: Option<UserId> = match named {
        Some(raw) => Some(raw.parse().map_err(|_| PageError::NotFound)?),
        None if me.user.role == Role::Clinician => Some(me.user.id),
        None => None,
    };
    let own = clinician == Some(me.user.id);
    let picker = (!own).then(|| {
        Select::new(
            "clinician",
            "Clinician",
            dir.clinicians()
                .iter()
                .map(|c| (c.id.to_string(), c.name.clone())),
            &clinician.map(|c| c.to_string()).unwrap_or_default(),
            Some("Choose a clinician…"),
        )
    });
    let week = params.view.as_deref() != Some("day");
    let view = if week { "week" } else { "day" };
    let tz = match clinician {
        Some(c) => dir.clinician_zone(c),
        None => dir.home_zone(),
    };
    let now = state.clock.now();
    let today = when::date_at(now, &tz);
    let date = when::date_param(params.date.as_deref(), today);
    let (first, count) = if week {
        (when::monday_of(date), 7)
    } else {
        (date, 1)
    };
    let last = first.saturating_add((count - 1).days());
    let clinician_param = named.map(str::to_string).unwrap_or_default();
    let link = |view: &str, d: Date| {
        href(
            "/schedule",
            &[
                ("view", view.to_string()),
                ("date", d.to_string()),
                ("clinician", clinician_param.clone()),
            ],
        )
    };
    let step = if week { 7 } else { 1 };
    let name = clinician.map(|c| dir.clinician_name(c));

    let mut days: Vec<(Date, CalendarDay)> = (0..count)
        .map(|i| {
            let d = first.saturating_add(i.days());
            (
                d,
                CalendarDay {
                    heading: if week {
                        when::short_day(d)
                    } else {
                        when::day_heading(d)
                    },
                    today: d == today,
                    items: Vec::new(),
                },
            )
        })
        .collect();

    if let Some(c) = clinician {
        let back = link(view, date);
        let mut items = visit_items(&state, actor, dir, c, (first, count), &tz, &back).await?;
        // Open times still ahead: the search offers only future slots.
        if last >= today {
            items.extend(open_items(&state, actor, c, first.max(today), last).await?);
        }
        for (date, item) in items {
            if let Some((_, day)) = days.iter_mut().find(|(d, _)| *d == date) {
                day.items.push(item);
            }
        }
        for (_, day) in &mut days {
            day.items.sort_by(|a, b| a.time.cmp(&b.time));
        }
    }

    let heading = match (&name, own) {
        (_, true) => "My schedule".to_string(),
        (Some(n), false) => format!("Schedule of {n}"),
        (None, false) => "Clinicians' schedules".to_string(),
    };
    let range = if week {
        format!(
            "Week of {} to {}",
            when::short_day(first),
            when::short_day(last)
        )
    } else {
        when::day_heading(first)
    };
    let views = vec![
        ViewLink {
            href: link("day", date),
            label: "Day",
            current: !week,
        },
        ViewLink {
            href: link("week", date),
            label: "Week",
            current: week,
        },
    ];
    Ok(ok(&SchedulePage {
        shell: Shell::new(
            &me,
            if own {
                Section::Schedule
            } else {
                Section::FrontDesk
            },
        ),
        heading,
        range,
        week,
        views,
        prev_href: link(view, date.saturating_sub(step.days())),
        next_href: link(view, date.saturating_add(step.days())),
        today_href: (!(first..=last).contains(&today)).then(|| link(view, today)),
        availability_href: href(
            "/schedule/availability",
            &[("clinician", clinician_param.clone())],
        ),
        clinician: picker,
        chosen: clinician.is_some(),
        own: own && me.user.role == Role::Clinician,
        days: days.into_iter().map(|(_, d)| d).collect(),
        zone_note: format!(
            "Times are shown in each clinic's time zone ({}).",
            when::zone_abbreviation(now, &tz)
        ),
    }))
}

/// The clinician's visits over `days` (first day, how many), each with its day at its site.
async fn visit_items(
    state: &AppState,
    actor: &domain::Actor,
    dir: Directory,
    clinician: UserId,
    days: (Date, i64),
    tz: &jiff::tz::TimeZone,
    back: &str,
) -> Result<Vec<(Date, CalendarItem)>, PageError> {
    let (from, to) = when::days_span(days.0, days.1, tz);
    let input = AppointmentListInput {
        clinician_id: Some(clinician.to_string()),
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        status: Some(SHOWN.to_string()),
        limit: Some(500),
        ..AppointmentListInput::default()
    };
    let visits = appointments::list(state.ctx(), actor, &input).await?;
    let dir = dir.with_patients(state, actor, &visits).await?;
    Ok(visits
        .iter()
        .map(|a| {
            let s = dir.summary(a);
            let item = CalendarItem {
                time: s.time.clone(),
                end_time: s.end_time.clone(),
                title: s.patient.clone(),
                detail: format!("{} · {} · {}", s.visit_type, s.modality, s.site),
                href: Some(href(&s.href, &[("back", back.to_string())])),
                status: s.status,
                status_class: s.status_class,
                open: false,
            };
            (s.date, item)
        })
        .collect())
}

/// The clinician's open times from `first` to `last`, each with its day at its site.
async fn open_items(
    state: &AppState,
    actor: &domain::Actor,
    clinician: UserId,
    first: Date,
    last: Date,
) -> Result<Vec<(Date, CalendarItem)>, PageError> {
    let input = SlotSearch {
        clinician_id: Some(clinician),
        from: Some(first),
        to: Some(last),
        limit: Some(500),
        ..SlotSearch::default()
    };
    let open = match booking::search(state.ctx(), actor, &input).await {
        Ok(found) => found,
        // Dates the search refuses (beyond the booking horizon) simply have no open times.
        Err(DomainError::Invalid(_)) => Vec::new(),
        Err(other) => return Err(other.into()),
    };
    Ok(open
        .into_iter()
        .map(|o| {
            let item = CalendarItem {
                time: when::clock(o.slot.start_at, &o.time_zone),
                end_time: when::clock(o.slot.end_at, &o.time_zone),
                title: "Open time".into(),
                detail: o.site.name.clone(),
                href: None,
                status: "Open",
                status_class: "badge-open",
                open: true,
            };
            (when::date_at(o.slot.start_at, &o.time_zone), item)
        })
        .collect())
}

#[derive(Template)]
#[template(path = "pages/calendar_feed.html")]
struct CalendarFeedPage {
    shell: Shell,
    url: String,
}

/// A new private calendar link for the clinician signed in, shown this once (only its hash is
/// kept); the previous link stops working.
pub async fn new_feed(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: super::form::FormData,
) -> PageResult {
    super::session::check_csrf(&me.session.csrf_token, &form)?;
    let url = crate::api::calendar::issue_feed(&state, &me.actor).await?;
    Ok(ok(&CalendarFeedPage {
        shell: Shell::new(&me, Section::Schedule),
        url,
    }))
}
