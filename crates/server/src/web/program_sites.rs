//! The sites' rollout: each site's stage and readiness checklist, moving a site through the
//! gate, and the pilot's evaluation.

use askama::Template;
use axum::extract::{Path, State};

use domain::ids::SiteId;
use domain::program::SiteStage;
use domain::program::service as program;

use crate::state::AppState;

use super::form::{FormData, PageQuery};
use super::page::{PageError, PageResult, ok, see_other};
use super::program::{Notice, SiteRow, notice, problem_href, site_rows, tabs};
use super::session::{PageUser, check_csrf};
use super::shell::{NavLink, Section, Shell};

#[derive(Template)]
#[template(path = "pages/program_sites.html")]
struct SitesPage {
    shell: Shell,
    tabs: Vec<NavLink>,
    problem: Option<String>,
    sites: Vec<SiteRow>,
    stages: Vec<(&'static str, &'static str)>,
}

pub async fn sites(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(n): PageQuery<Notice>,
) -> PageResult {
    let rollout = program::rollout(state.ctx(), &me.actor).await?;
    let page = SitesPage {
        shell: Shell::new(&me, Section::Program).notice(notice(&n)),
        tabs: tabs("/program/sites"),
        problem: n.problem.clone(),
        sites: site_rows(&rollout),
        stages: SiteStage::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
    };
    Ok(ok(&page))
}

fn site_id(raw: &str) -> Result<SiteId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

pub async fn move_site(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let reason = form.optional("override_reason");
    match program::move_site(
        state.ctx(),
        &me.actor,
        site_id(&id)?,
        form.get("stage"),
        reason.as_deref(),
    )
    .await
    {
        Ok(_) if reason.is_some() => Ok(see_other("/program/sites?done=override")),
        Ok(_) => Ok(see_other("/program/sites?done=stage")),
        Err(e) => problem_href("/program/sites", e),
    }
}

pub async fn set_item(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path((id, key)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let done = form.get("done") == "true";
    match program::set_readiness(state.ctx(), &me.actor, site_id(&id)?, &key, done).await {
        Ok(_) => Ok(see_other("/program/sites?done=item")),
        Err(e) => problem_href("/program/sites", e),
    }
}

pub async fn evaluate(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let pct = |name: &str| form.get(name).trim().parse::<i64>().unwrap_or(-1);
    match program::evaluate_pilot(
        state.ctx(),
        &me.actor,
        site_id(&id)?,
        pct("target_digital_pct"),
        pct("target_no_show_pct"),
        form.get("decision"),
        form.get("notes"),
    )
    .await
    {
        Ok(_) => Ok(see_other("/program/sites?done=evaluation")),
        Err(e) => problem_href("/program/sites", e),
    }
}
