//! The sites' rollout: each site's stage and readiness checklist, moving a site through the
//! gate, and the pilot's evaluation.

use askama::Template;
use axum::extract::{Path, State};

use domain::ids::SiteId;
use domain::program::service as program;
use domain::program::{Decision, SiteStage};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::form::{Field, FormData, FormErrors, PageQuery, Select, choices};
use super::page::{PageError, PageResult, render, see_other};
use super::program::{Notice, RowErrors, SentBack, SiteRow, notice, site_rows, tabs};
use super::session::{PageUser, check_csrf};
use super::shell::{NavLink, Section, Shell};

const LABELS: [(&str, &str); 6] = [
    ("stage", "Stage"),
    ("override_reason", "Override reason"),
    ("target_digital_pct", "Target digital share"),
    ("target_no_show_pct", "Highest acceptable no-show rate"),
    ("decision", "Decision"),
    ("notes", "Notes"),
];

/// A site's forms: its checklist's problems, the move to another stage, the pilot's decision.
pub struct SiteForms {
    pub checklist: RowErrors,
    pub stage: Select,
    pub override_reason: Field,
    pub stage_errors: RowErrors,
    pub target_digital_pct: Field,
    pub target_no_show_pct: Field,
    pub decision: Select,
    pub notes: Field,
    pub evaluation_errors: RowErrors,
}

pub struct SiteLine {
    pub row: SiteRow,
    pub forms: SiteForms,
}

#[derive(Template)]
#[template(path = "pages/program_sites.html")]
struct SitesPage {
    shell: Shell,
    tabs: Vec<NavLink>,
    errors: FormErrors,
    sites: Vec<SiteLine>,
}

fn site_forms(row: &SiteRow, stage: SiteStage, sent: Option<&SentBack>) -> SiteForms {
    let scope = row.id.as_str();
    let (_, checklist) = SentBack::values(sent, "item", scope, FormData::default);
    let (v, e) = SentBack::values(sent, "stage", scope, || {
        FormData::from_pairs(&[("stage", stage.as_str().to_string())])
    });
    let stage_form = (
        Select::new(
            "stage",
            "Move to stage",
            choices(SiteStage::ALL, SiteStage::as_str, SiteStage::label),
            v.get("stage"),
            None,
        )
        .scope(scope)
        .errors(&e),
        Field::new(
            "override_reason",
            "Override reason (only to move to pilot or live with open required items)",
            v.get("override_reason"),
        )
        .hint(&format!(
            "Open: {}. An override is recorded in the audit trail with its reason.",
            row.unmet.join("; ")
        ))
        .scope(scope)
        .errors(&e),
        RowErrors::general(&e),
    );
    let (v, e) = SentBack::values(sent, "evaluation", scope, || {
        FormData::from_pairs(&[
            ("target_digital_pct", "30".into()),
            ("target_no_show_pct", "10".into()),
        ])
    });
    let percent = |name: &str, label: &str| {
        Field::new(name, label, v.get(name))
            .inputmode("numeric")
            .scope(scope)
            .errors(&e)
    };
    SiteForms {
        checklist: RowErrors::of(&checklist),
        stage: stage_form.0,
        override_reason: stage_form.1,
        stage_errors: stage_form.2,
        target_digital_pct: percent("target_digital_pct", "Target digital share (%)"),
        target_no_show_pct: percent("target_no_show_pct", "Highest acceptable no-show rate (%)"),
        decision: Select::new(
            "decision",
            "Decision",
            choices(Decision::ALL, Decision::as_str, Decision::label),
            v.get("decision"),
            None,
        )
        .hint("Go: roll out to further sites. No go: fix what the pilot found first.")
        .scope(scope)
        .errors(&e),
        notes: Field::new("notes", "Notes", v.get("notes"))
            .optional()
            .scope(scope)
            .errors(&e),
        evaluation_errors: RowErrors::general(&e),
    }
}

async fn page(
    state: &AppState,
    me: &SignedIn,
    done: Option<&'static str>,
    sent: Option<&SentBack>,
) -> PageResult {
    let rollout = program::rollout(state.ctx(), &me.actor).await?;
    let sites = site_rows(&rollout)
        .into_iter()
        .zip(&rollout.sites)
        .map(|(row, s)| SiteLine {
            forms: site_forms(&row, s.rollout.stage, sent),
            row,
        })
        .collect();
    let page = SitesPage {
        shell: Shell::new(me, Section::Program).notice(done),
        tabs: tabs("/program/sites"),
        errors: SentBack::summary(sent),
        sites,
    };
    Ok(render(SentBack::status(sent), &page))
}

pub async fn sites(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(n): PageQuery<Notice>,
) -> PageResult {
    page(&state, &me, notice(&n), None).await
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
    let site = site_id(&id)?;
    let reason = form.optional("override_reason");
    match program::move_site(
        state.ctx(),
        &me.actor,
        site,
        form.get("stage"),
        reason.as_deref(),
    )
    .await
    {
        Ok(_) if reason.is_some() => Ok(see_other("/program/sites?done=override")),
        Ok(_) => Ok(see_other("/program/sites?done=stage")),
        Err(e) => {
            let sent = SentBack::new("stage", &site.to_string(), form, e, &LABELS)?;
            page(&state, &me, None, Some(&sent)).await
        }
    }
}

pub async fn set_item(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path((id, key)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let site = site_id(&id)?;
    let done = form.get("done") == "true";
    match program::set_readiness(state.ctx(), &me.actor, site, &key, done).await {
        Ok(_) => Ok(see_other("/program/sites?done=item")),
        Err(e) => {
            let sent = SentBack::new("item", &site.to_string(), form, e, &LABELS)?;
            page(&state, &me, None, Some(&sent)).await
        }
    }
}

pub async fn evaluate(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let site = site_id(&id)?;
    let pct = |name: &str| form.get(name).trim().parse::<i64>().unwrap_or(-1);
    match program::evaluate_pilot(
        state.ctx(),
        &me.actor,
        site,
        pct("target_digital_pct"),
        pct("target_no_show_pct"),
        form.get("decision"),
        form.get("notes"),
    )
    .await
    {
        Ok(_) => Ok(see_other("/program/sites?done=evaluation")),
        Err(e) => {
            let sent = SentBack::new("evaluation", &site.to_string(), form, e, &LABELS)?;
            page(&state, &me, None, Some(&sent)).await
        }
    }
}
