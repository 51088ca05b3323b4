//! The program's risk register: the list with its heat map, adding and reviewing a risk, the
//! CSV export.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use domain::ids::RiskId;
use domain::program::service::{self as program, RiskInput};
use domain::program::{RiskCategory, RiskStatus};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::form::{Field, FormData, FormErrors, PageQuery, Select, choices};
use super::page::{PageError, PageResult, render, see_other};
use super::program::{
    Notice, RiskRow, RowErrors, SentBack, load, notice, risk_rows, staff_choices, tabs,
};
use super::program_charts::{HeatMap, heat};
use super::session::{PageUser, check_csrf};
use super::shell::{NavLink, Section, Shell};

const LABELS: [(&str, &str); 8] = [
    ("title", "Risk"),
    ("category", "Category"),
    ("likelihood", "Likelihood"),
    ("impact", "Impact"),
    ("owner_id", "Owner"),
    ("mitigation", "Mitigation"),
    ("status", "Status"),
    ("next_review_on", "Next review"),
];

/// The form that adds a risk.
pub struct RiskForm {
    pub title: Field,
    pub category: Select,
    pub likelihood: Field,
    pub impact: Field,
    pub owner_id: Select,
    pub mitigation: Field,
    pub next_review_on: Field,
}

/// A risk's review in its row: new ratings, status and next review date.
pub struct ReviewForm {
    pub likelihood: Field,
    pub impact: Field,
    pub status: Select,
    pub next_review_on: Field,
    pub errors: RowErrors,
}

pub struct RiskLine {
    pub row: RiskRow,
    pub review: ReviewForm,
}

#[derive(Template)]
#[template(path = "pages/program_risks.html")]
struct RisksPage {
    shell: Shell,
    tabs: Vec<NavLink>,
    errors: FormErrors,
    risks: Vec<RiskLine>,
    heat: HeatMap,
    overdue: usize,
    form: RiskForm,
}

fn risk_form(v: &FormData, e: &FormErrors, staff: Vec<(String, String)>) -> RiskForm {
    let number = |name: &str, label: &str| {
        Field::new(name, label, v.get(name))
            .inputmode("numeric")
            .hint("From 1 (low) to 5 (high).")
            .errors(e)
    };
    RiskForm {
        title: Field::new("title", "Risk", v.get("title")).errors(e),
        category: Select::new(
            "category",
            "Category",
            choices(RiskCategory::ALL, RiskCategory::as_str, RiskCategory::label),
            v.get("category"),
            None,
        )
        .errors(e),
        likelihood: number("likelihood", "Likelihood"),
        impact: number("impact", "Impact"),
        owner_id: Select::new(
            "owner_id",
            "Owner",
            staff,
            v.get("owner_id"),
            Some("Nobody yet"),
        )
        .errors(e),
        mitigation: Field::new("mitigation", "Mitigation", v.get("mitigation"))
            .optional()
            .errors(e),
        next_review_on: Field::new("next_review_on", "Next review", v.get("next_review_on"))
            .kind("date")
            .errors(e),
    }
}

fn review_form(scope: &str, v: &FormData, e: &FormErrors) -> ReviewForm {
    let rating = |name: &str, label: &str| {
        Field::new(name, label, v.get(name))
            .inputmode("numeric")
            .scope(scope)
            .errors(e)
    };
    ReviewForm {
        likelihood: rating("likelihood", "Likelihood"),
        impact: rating("impact", "Impact"),
        status: Select::new(
            "status",
            "Status",
            choices(RiskStatus::ALL, RiskStatus::as_str, RiskStatus::label),
            v.get("status"),
            None,
        )
        .scope(scope)
        .errors(e),
        next_review_on: Field::new("next_review_on", "Next review", v.get("next_review_on"))
            .kind("date")
            .scope(scope)
            .errors(e),
        errors: RowErrors::of(e),
    }
}

async fn page(
    state: &AppState,
    me: &SignedIn,
    done: Option<&'static str>,
    sent: Option<&SentBack>,
) -> PageResult {
    let (o, users) = load(state, me).await?;
    let risks: Vec<RiskLine> = risk_rows(&o, &users)
        .into_iter()
        .zip(&o.risks)
        .map(|(row, r)| {
            let (v, e) = SentBack::values(sent, "review", &row.id, || {
                FormData::from_pairs(&[
                    ("likelihood", r.likelihood.to_string()),
                    ("impact", r.impact.to_string()),
                    ("status", r.status.as_str().to_string()),
                    ("next_review_on", r.next_review_on.to_string()),
                ])
            });
            let review = review_form(&row.id, &v, &e);
            RiskLine { row, review }
        })
        .collect();
    let (v, e) = SentBack::values(sent, "risk", "", FormData::default);
    let page = RisksPage {
        shell: Shell::new(me, Section::Program).notice(done),
        tabs: tabs("/program/risks"),
        errors: SentBack::summary(sent),
        overdue: risks.iter().filter(|r| r.row.overdue).count(),
        risks,
        heat: heat(&o.risks),
        form: risk_form(&v, &e, staff_choices(&users, false)),
    };
    Ok(render(SentBack::status(sent), &page))
}

pub async fn risks(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(n): PageQuery<Notice>,
) -> PageResult {
    page(&state, &me, notice(&n), None).await
}

/// A rating as typed: a number, else 0, which the use case refuses on its field.
fn rating(form: &FormData, name: &str) -> i64 {
    form.get(name).trim().parse().unwrap_or(0)
}

pub(super) fn risk_input(form: &FormData) -> RiskInput {
    RiskInput {
        title: form.get("title").into(),
        category: form.get("category").into(),
        likelihood: rating(form, "likelihood"),
        impact: rating(form, "impact"),
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
        Err(e) => {
            let sent = SentBack::new("risk", "", form, e, &LABELS)?;
            page(&state, &me, None, Some(&sent)).await
        }
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
        likelihood: rating(&form, "likelihood"),
        impact: rating(&form, "impact"),
        status: form.optional("status"),
        next_review_on: form.get("next_review_on").into(),
        ..RiskInput::from(&existing)
    };
    match program::save_risk(state.ctx(), &me.actor, Some(id), &input).await {
        Ok(_) => Ok(see_other("/program/risks?done=risk")),
        Err(e) => {
            let sent = SentBack::new("review", &id.to_string(), form, e, &LABELS)?;
            page(&state, &me, None, Some(&sent)).await
        }
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
