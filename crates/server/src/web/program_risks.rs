//! The program's risk register: the list with its heat map, adding and reviewing a risk, the
//! CSV export.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use domain::ids::RiskId;
use domain::program::service::{self as program, RiskInput};

use crate::state::AppState;

use super::form::{FormData, PageQuery};
use super::page::{PageError, PageResult, ok, see_other};
use super::program::{Notice, RiskRow, load, notice, problem_href, risk_rows, staff_choices, tabs};
use super::program_charts::{HeatMap, heat};
use super::session::{PageUser, check_csrf};
use super::shell::{NavLink, Section, Shell};

#[derive(Template)]
#[template(path = "pages/program_risks.html")]
struct RisksPage {
    shell: Shell,
    tabs: Vec<NavLink>,
    problem: Option<String>,
    risks: Vec<RiskRow>,
    heat: HeatMap,
    overdue: usize,
    categories: Vec<(&'static str, &'static str)>,
    statuses: Vec<(&'static str, &'static str)>,
    staff: Vec<(String, String)>,
}

pub async fn risks(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(n): PageQuery<Notice>,
) -> PageResult {
    let (o, users) = load(&state, &me).await?;
    let rows = risk_rows(&o, &users);
    let page = RisksPage {
        shell: Shell::new(&me, Section::Program).notice(notice(&n)),
        tabs: tabs("/program/risks"),
        problem: n.problem.clone(),
        overdue: rows.iter().filter(|r| r.overdue).count(),
        risks: rows,
        heat: heat(&o.risks),
        categories: domain::program::RiskCategory::ALL
            .iter()
            .map(|c| (c.as_str(), c.label()))
            .collect(),
        statuses: domain::program::RiskStatus::ALL
            .iter()
            .map(|c| (c.as_str(), c.label()))
            .collect(),
        staff: staff_choices(&users, false),
    };
    Ok(ok(&page))
}

fn risk_input(form: &FormData) -> RiskInput {
    RiskInput {
        title: form.get("title").into(),
        category: form.get("category").into(),
        likelihood: form.get("likelihood").trim().parse().unwrap_or(0),
        impact: form.get("impact").trim().parse().unwrap_or(0),
        owner_id: form.optional("owner_id"),
        mitigation: form.get("mitigation").into(),
        status: form.optional("status"),
        next_review_on: form.get("next_review_on").into(),
    }
}

pub async fn add_risk(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    match program::save_risk(state.ctx(), &me.actor, None, &risk_input(&form)).await {
        Ok(_) => Ok(see_other("/program/risks?done=risk")),
        Err(e) => problem_href("/program/risks", e),
    }
}

/// Reviews a risk: new status, ratings and next review date (the rest stays).
pub async fn review_risk(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id: RiskId = id.parse().map_err(|_| PageError::NotFound)?;
    let existing = program::risk(state.ctx(), &me.actor, id).await?;
    let input = RiskInput {
        likelihood: form
            .get("likelihood")
            .trim()
            .parse()
            .unwrap_or(existing.likelihood),
        impact: form.get("impact").trim().parse().unwrap_or(existing.impact),
        status: form.optional("status"),
        next_review_on: form.get("next_review_on").into(),
        ..RiskInput::from(&existing)
    };
    match program::save_risk(state.ctx(), &me.actor, Some(id), &input).await {
        Ok(_) => Ok(see_other("/program/risks?done=risk")),
        Err(e) => problem_href("/program/risks", e),
    }
}

pub async fn risks_csv(
    State(state): State<AppState>,
    PageUser(me): PageUser,
) -> Result<Response, PageError> {
    let (o, users) = load(&state, &me).await?;
    let mut out = super::csv_export::line(
        &[
            "title",
            "category",
            "likelihood",
            "impact",
            "score",
            "owner",
            "mitigation",
            "status",
            "next_review_on",
            "review_overdue",
        ]
        .map(String::from),
    );
    for r in risk_rows(&o, &users) {
        out.push_str(&super::csv_export::line(&[
            r.title,
            r.category.into(),
            r.likelihood.to_string(),
            r.impact.to_string(),
            r.score.to_string(),
            r.owner,
            r.mitigation,
            r.status.into(),
            r.review,
            r.overdue.to_string(),
        ]));
    }
    Ok(super::csv_export::download("risks.csv", out))
}
