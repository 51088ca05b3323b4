//! The front desk: one day's appointments at one of the user's sites, with check-in, no-show and
//! cancel at hand.

use askama::Template;
use axum::extract::State;
use jiff::{SignedDuration, ToSpan};
use serde::Deserialize;

use domain::identity::Role;
use domain::ids::SiteId;
use domain::scheduling::AppointmentStatus;
use domain::scheduling::service::appointments::{self, AppointmentListInput};
use domain::{Permission, access};

use crate::state::AppState;

use super::appointment_view::{AppointmentSummary, Directory, state_choices};
use super::form::{PageQuery, Select};
use super::page::{PageError, PageResult, href, ok};
use super::session::PageUser;
use super::shell::{Section, Shell};
use super::when;

/// One visit of the day, with the actions that fit its status now.
pub struct DeskRow {
    pub visit: AppointmentSummary,
    /// Check-in (the patient's state now, preset to where they said they would be).
    pub check_in: Option<(String, Select)>,
    pub no_show_action: Option<String>,
    pub cancel_href: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/front_desk.html")]
struct FrontDeskPage {
    shell: Shell,
    site_name: String,
    site: Select,
    date: String,
    day_heading: String,
    prev_href: String,
    next_href: String,
    today_href: Option<String>,
    back: String,
    rows: Vec<DeskRow>,
    summary: String,
}

#[derive(Debug, Deserialize)]
pub struct DeskParams {
    site: Option<String>,
    date: Option<String>,
    done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "checked_in" => "Checked in.",
        "no_show" => "Marked as a no-show.",
        "cancelled" => "The visit is cancelled.",
        _ => return None,
    })
}

pub async fn day(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<DeskParams>,
) -> PageResult {
    let actor = &me.actor;
    access::require(actor, Permission::ManageAppointments)?;
    if me.user.role == Role::Patient {
        return Err(PageError::NotFound);
    }
    let dir = Directory::load(&state, actor).await?;
    // The desk works at the user's own sites; an organization administrator at any.
    let mine: Vec<(SiteId, String)> = dir
        .sites()
        .filter(|s| me.user.role == Role::OrgAdmin || actor.site_ids.contains(&s.id))
        .map(|s| (s.id, s.name.clone()))
        .collect();
    let wanted = params.site.as_deref().map(str::trim).unwrap_or_default();
    let (site_id, site_name) = match mine.iter().find(|(id, _)| id.to_string() == wanted) {
        Some(found) => found.clone(),
        None if !wanted.is_empty() => {
            return Err(PageError::Forbidden(
                "You do not work at that site. Choose one of your sites.".into(),
            ));
        }
        None => mine.first().cloned().ok_or_else(|| {
            PageError::Forbidden(
                "You work at no site yet. Ask an administrator to add you to one.".into(),
            )
        })?,
    };
    let tz = dir.zone(site_id);
    let now = state.clock.now();
    let today = when::date_at(now, &tz);
    let date = when::date_param(params.date.as_deref(), today);
    let (from, to) = when::days_span(date, 1, &tz);
    let input = AppointmentListInput {
        site_id: Some(site_id.to_string()),
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        limit: Some(500),
        ..AppointmentListInput::default()
    };
    let found = appointments::list(state.ctx(), actor, &input).await?;
    let dir = dir.with_patients(&state, actor, &found).await?;
    let day_href = |d: jiff::civil::Date| {
        href(
            "/front-desk",
            &[("site", site_id.to_string()), ("date", d.to_string())],
        )
    };
    let back = day_href(date);
    let window = SignedDuration::from_mins(state.ctx().scheduling.check_in_window_minutes);
    let rows: Vec<DeskRow> = found
        .iter()
        .map(|a| {
            let path = format!("/appointments/{}", a.id);
            let booked = a.status == AppointmentStatus::Booked;
            let opens = a.start_at.saturating_sub(window).unwrap_or(a.start_at);
            let check_in = (booked && now >= opens && now < a.end_at).then(|| {
                let mut select = Select::new(
                    "patient_state",
                    "State the patient is in now",
                    state_choices(),
                    a.patient_state.code(),
                    None,
                );
                select.id = format!("f-patient_state-{}", a.id);
                (format!("{path}/check-in"), select)
            });
            let mut visit = dir.summary(a);
            visit.href = href(&path, &[("back", back.clone())]);
            DeskRow {
                check_in,
                no_show_action: (booked && now >= a.start_at).then(|| format!("{path}/no-show")),
                cancel_href: matches!(
                    a.status,
                    AppointmentStatus::Proposed
                        | AppointmentStatus::Booked
                        | AppointmentStatus::CheckedIn
                )
                .then(|| format!("{}#cancel", visit.href)),
                visit,
            }
        })
        .collect();
    let no_shows = found
        .iter()
        .filter(|a| a.status == AppointmentStatus::NoShow)
        .count();
    let waiting = found
        .iter()
        .filter(|a| a.status == AppointmentStatus::CheckedIn)
        .count();
    let summary = match rows.len() {
        0 => "No visits on this day.".to_string(),
        n => format!(
            "{n} {} · {waiting} checked in and waiting · {no_shows} no-show{}",
            if n == 1 { "visit" } else { "visits" },
            if no_shows == 1 { "" } else { "s" }
        ),
    };
    Ok(ok(&FrontDeskPage {
        shell: Shell::new(&me, Section::FrontDesk).notice(notice(params.done.as_deref())),
        site: Select::new(
            "site",
            "Site",
            mine.iter().map(|(id, name)| (id.to_string(), name.clone())),
            &site_id.to_string(),
            None,
        ),
        site_name,
        date: date.to_string(),
        day_heading: when::day_heading(date),
        prev_href: day_href(date.saturating_sub(1.day())),
        next_href: day_href(date.saturating_add(1.day())),
        today_href: (date != today).then(|| day_href(today)),
        back,
        rows,
        summary,
    }))
}
