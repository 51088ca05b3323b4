//! The patient's after-visit summaries in the browser: `/summaries` and a printable page each.

use askama::Template;
use axum::extract::{Path, State};
use jiff::tz::TimeZone;

use domain::identity::Role;
use domain::notes::service as notes;
use domain::notes::summary::AfterVisitSummary;

use crate::state::AppState;

use super::notes::parse_note;
use super::page::{PageResult, ok};
use super::session::PageUser;
use super::shell::{Section, Shell};
use super::when;

pub struct SummaryRow {
    pub href: String,
    pub when: String,
    pub clinician: String,
    pub how: &'static str,
    pub new: bool,
}

#[derive(Template)]
#[template(path = "pages/summaries.html")]
struct SummariesPage {
    shell: Shell,
    rows: Vec<SummaryRow>,
}

#[derive(Template)]
#[template(path = "pages/summary.html")]
struct SummaryPage {
    shell: Shell,
    s: AfterVisitSummary,
    when: String,
    back_href: &'static str,
}

fn zone_of(s: &AfterVisitSummary) -> TimeZone {
    TimeZone::get(&s.time_zone).unwrap_or(TimeZone::UTC)
}

/// `GET /summaries`: the patient's after-visit summaries.
pub async fn summaries(State(state): State<AppState>, PageUser(me): PageUser) -> PageResult {
    let list = notes::my_summaries(state.ctx(), &me.actor).await?;
    Ok(ok(&SummariesPage {
        shell: Shell::new(&me, Section::Summaries),
        rows: list
            .into_iter()
            .map(|(s, read)| SummaryRow {
                href: format!("/summaries/{}", s.note_id),
                when: when::when(s.visit_at, &zone_of(&s)),
                clinician: s.clinician_name,
                how: s.how,
                new: !read,
            })
            .collect(),
    }))
}

/// `GET /summaries/{id}`: one summary, printable.
pub async fn summary(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
) -> PageResult {
    let id = parse_note(&raw)?;
    let s = notes::summary(state.ctx(), &me.actor, id).await?;
    Ok(ok(&SummaryPage {
        shell: Shell::new(&me, Section::Summaries),
        when: when::when(s.visit_at, &zone_of(&s)),
        s,
        back_href: if me.user.role == Role::Patient {
            "/summaries"
        } else {
            "/app"
        },
    }))
}
