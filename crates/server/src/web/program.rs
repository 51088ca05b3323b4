//! The implementation program's pages for program managers: the home page (phase progress, late
//! milestones, top risks, site stages, certification coverage, adoption goals), the board, the
//! Gantt timeline, the risk register with its heat map, and the sites' rollout with the
//! readiness gate. Every form posts and redirects; a refused one comes back as typed, with every
//! problem beside its field and in a summary at the top. Nothing needs JavaScript.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use domain::DomainError;
use domain::program::service::{self as program, Overview, Plan, Rollout};
use domain::program::{PhaseProgress, SiteStage};

use crate::state::AppState;

use super::form::{Field, FormData, FormErrors, PageQuery, Select, choices};
use super::page::{PageError, PageResult, render, see_other};
use super::program_charts::{Gantt, gantt};
use super::session::{PageUser, check_csrf};
use super::shell::{NavLink, Section, Shell};

pub(super) fn tabs(current: &str) -> Vec<NavLink> {
    [
        ("/program", "Overview"),
        ("/program/board", "Board"),
        ("/program/timeline", "Timeline"),
        ("/program/risks", "Risks"),
        ("/program/sites", "Sites"),
    ]
    .into_iter()
    .map(|(href, label)| NavLink {
        href,
        label,
        current: href == current,
    })
    .collect()
}

#[derive(Debug, Deserialize)]
pub struct Notice {
    done: Option<String>,
}

impl Notice {
    pub(super) fn of(done: Option<String>) -> Self {
        Self { done }
    }
}

pub(super) fn notice(n: &Notice) -> Option<&'static str> {
    match n.done.as_deref() {
        Some("started") => Some("Program started from the template."),
        Some("task") => Some("Task saved."),
        Some("risk") => Some("Risk saved."),
        Some("stage") => Some("Site stage changed."),
        Some("override") => Some(
            "Site moved past its readiness gate. The override and its reason are in the audit trail.",
        ),
        Some("item") => Some("Checklist updated."),
        Some("evaluation") => Some("Pilot evaluation recorded."),
        Some("goal") => Some("Adoption goal added."),
        Some("roster") => Some("Governance roster updated."),
        _ => None,
    }
}

/// A program form sent back: what was typed and what was wrong. The page shows it again with
/// every field as typed, every problem beside its field and in the summary at the top, and the
/// status of the error table. `form` names the form; `scope` the row it belongs to (a risk's
/// review, a site's stage, a card's move), empty for a page's own form.
pub(super) struct SentBack {
    form: &'static str,
    scope: String,
    entered: FormData,
    errors: FormErrors,
    status: StatusCode,
}

impl SentBack {
    pub fn new(
        form: &'static str,
        scope: &str,
        entered: FormData,
        err: DomainError,
        labels: &[(&str, &str)],
    ) -> Result<Self, PageError> {
        let (errors, status) = FormErrors::refusal(err, labels)?;
        Ok(Self {
            form,
            scope: scope.to_string(),
            entered,
            errors: errors.scoped(scope),
            status,
        })
    }

    /// What one form shows: as sent back if it was this one, else `fresh` and no problems.
    pub fn values(
        sent: Option<&Self>,
        form: &str,
        scope: &str,
        fresh: impl FnOnce() -> FormData,
    ) -> (FormData, FormErrors) {
        match sent {
            Some(s) if s.form == form && s.scope == scope => (s.entered.clone(), s.errors.clone()),
            _ => (fresh(), FormErrors::default()),
        }
    }

    /// The summary at the top of the page.
    pub fn summary(sent: Option<&Self>) -> FormErrors {
        sent.map(|s| s.errors.clone()).unwrap_or_default()
    }

    /// The page's status: 200, or the refusal's.
    pub fn status(sent: Option<&Self>) -> StatusCode {
        sent.map_or(StatusCode::OK, |s| s.status)
    }
}

/// The problems of a form in a row (a table's or a card's), shown under it: each with the id
/// its field's `aria-describedby` names.
pub struct RowErrors(pub Vec<(String, String)>);

impl RowErrors {
    pub fn of(errors: &FormErrors) -> Self {
        Self(
            errors
                .items
                .iter()
                .map(|e| {
                    let id = e.target.trim_start_matches('#');
                    let id = if id.is_empty() {
                        String::new()
                    } else {
                        format!("{id}-error")
                    };
                    (id, e.message.clone())
                })
                .collect(),
        )
    }

    /// Only the problems about the form as a whole (for a form whose fields show their own).
    pub fn general(errors: &FormErrors) -> Self {
        let mut general = errors.clone();
        general.items.retain(|e| e.target.is_empty());
        Self::of(&general)
    }
}

pub struct PhaseRow {
    pub name: String,
    pub dates: String,
    pub done: usize,
    pub total: usize,
    pub percent: usize,
}

pub struct LateItem {
    pub title: String,
    pub due: String,
    pub kind: &'static str,
}

pub struct RiskRow {
    pub id: String,
    pub title: String,
    pub category: &'static str,
    pub likelihood: i64,
    pub impact: i64,
    pub score: i64,
    pub owner: String,
    pub mitigation: String,
    pub status: &'static str,
    pub review: String,
    pub overdue: bool,
}

pub struct SiteRow {
    pub id: String,
    pub name: String,
    pub stage: &'static str,
    /// Each stage its own badge colour (`badge-stage-pilot`...), beside its name.
    pub stage_class: String,
    pub certified: String,
    pub certified_pct: i64,
    pub ready: bool,
    pub unmet: Vec<String>,
    pub items: Vec<(String, String, bool, bool, bool)>,
    pub evaluations: Vec<String>,
    pub in_pilot: bool,
}

pub struct GoalRow {
    pub label: String,
    pub current: String,
    pub projected: String,
    pub on_track: bool,
    pub months: Vec<(String, String, usize, usize)>,
}

pub(super) fn user_name(
    users: &[domain::identity::User],
    id: Option<domain::ids::UserId>,
) -> String {
    id.and_then(|id| users.iter().find(|u| u.id == id))
        .map(|u| u.display_name.clone())
        .unwrap_or_else(|| "-".into())
}

pub(super) fn risk_rows(p: &Plan, users: &[domain::identity::User]) -> Vec<RiskRow> {
    p.risks
        .iter()
        .map(|r| RiskRow {
            id: r.id.to_string(),
            title: r.title.clone(),
            category: r.category.label(),
            likelihood: r.likelihood,
            impact: r.impact,
            score: r.score(),
            owner: user_name(users, r.owner_id),
            mitigation: r.mitigation.clone(),
            status: r.status.label(),
            review: r.next_review_on.to_string(),
            overdue: r.review_overdue(p.today),
        })
        .collect()
}

pub(super) fn site_rows(r: &Rollout) -> Vec<SiteRow> {
    r.sites
        .iter()
        .map(|s| {
            let unmet: Vec<String> = domain::program::unmet_items(&s.rollout.checklist)
                .into_iter()
                .map(String::from)
                .collect();
            SiteRow {
                id: s.site.id.to_string(),
                name: s.site.name.clone(),
                stage: s.rollout.stage.label(),
                stage_class: format!("badge-stage-{}", s.rollout.stage.as_str()),
                certified: format!("{} of {}", s.certified, s.trained_staff),
                certified_pct: s.certified_pct,
                ready: unmet.is_empty(),
                unmet,
                items: s
                    .rollout
                    .checklist
                    .iter()
                    .map(|i| {
                        let computed =
                            matches!(i.key.as_str(), "staff_certified" | "super_user_named");
                        (i.key.clone(), i.label.clone(), i.done, i.required, computed)
                    })
                    .collect(),
                evaluations: r
                    .evaluations
                    .iter()
                    .filter(|e| e.site_id == s.site.id)
                    .map(|e| {
                        format!(
                            "{}: {} — digital {}% (target {}%), no-shows {}% (target {}%){}",
                            e.decided_at.strftime("%Y-%m-%d"),
                            e.decision.label(),
                            e.measured_digital_pct,
                            e.target_digital_pct,
                            e.measured_no_show_pct,
                            e.target_no_show_pct,
                            if e.notes.is_empty() {
                                String::new()
                            } else {
                                format!(". {}", e.notes)
                            }
                        )
                    })
                    .collect(),
                in_pilot: s.rollout.stage == SiteStage::Pilot,
            }
        })
        .collect()
}

fn goal_rows(o: &Overview) -> Vec<GoalRow> {
    o.goals
        .iter()
        .map(|(g, p)| {
            let place = g
                .site_id
                .and_then(|id| o.rollout.sites.iter().find(|s| s.site.id == id))
                .map(|s| s.site.name.clone())
                .unwrap_or_else(|| "the organization".into());
            GoalRow {
                label: format!(
                    "{}% of patient meetings digital by {} ({place})",
                    g.target_pct, g.by
                ),
                current: p
                    .current_pct
                    .map(|c| format!("{c:.0}%"))
                    .unwrap_or_else(|| "no meetings yet".into()),
                projected: p
                    .projected_pct
                    .map(|c| format!("{c:.0}%"))
                    .unwrap_or_else(|| "not enough months yet".into()),
                on_track: p.on_track,
                months: p
                    .months
                    .iter()
                    .rev()
                    .take(6)
                    .rev()
                    .map(|m| {
                        (
                            m.month.strftime("%b %Y").to_string(),
                            format!("{:.0}%", m.pct()),
                            m.digital,
                            m.total,
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

const LABELS: [(&str, &str); 7] = [
    ("name", "Name"),
    ("starts_on", "Week 1 starts on"),
    ("target_pct", "Share of patient meetings digital"),
    ("by", "By"),
    ("site_id", "Site"),
    ("user_id", "Person"),
    ("role", "Role"),
];

/// The overview's forms: starting the program, adding a goal, naming someone on the roster.
pub struct HomeForms {
    pub name: Field,
    pub starts_on: Field,
    pub target_pct: Field,
    pub by: Field,
    pub goal_site: Select,
    pub person: Select,
    pub role: Select,
    pub roster_site: Select,
}

fn home_forms(
    sent: Option<&SentBack>,
    staff: Vec<(String, String)>,
    sites: Vec<(String, String)>,
) -> HomeForms {
    let (s, se) = SentBack::values(sent, "start", "", || {
        FormData::from_pairs(&[("name", "Telehealth rollout".into())])
    });
    let (g, ge) = SentBack::values(sent, "goal", "goal", || {
        FormData::from_pairs(&[("target_pct", "30".into())])
    });
    let (r, re) = SentBack::values(sent, "roster", "roster", FormData::default);
    HomeForms {
        name: Field::new("name", "Name", s.get("name")).errors(&se),
        starts_on: Field::new("starts_on", "Week 1 starts on", s.get("starts_on"))
            .kind("date")
            .errors(&se),
        target_pct: Field::new(
            "target_pct",
            "Share of patient meetings digital (%)",
            g.get("target_pct"),
        )
        .inputmode("numeric")
        .scope("goal")
        .errors(&ge),
        by: Field::new("by", "By", g.get("by"))
            .kind("date")
            .scope("goal")
            .errors(&ge),
        goal_site: Select::new(
            "site_id",
            "For",
            sites.clone(),
            g.get("site_id"),
            Some("The whole organization"),
        )
        .scope("goal")
        .errors(&ge),
        person: Select::new("user_id", "Person", staff, r.get("user_id"), None)
            .scope("roster")
            .errors(&re),
        role: Select::new(
            "role",
            "Role",
            choices(
                domain::program::GovernanceRole::ALL,
                domain::program::GovernanceRole::as_str,
                domain::program::GovernanceRole::label,
            ),
            r.get("role"),
            None,
        )
        .scope("roster")
        .errors(&re),
        roster_site: Select::new("site_id", "Site", sites, r.get("site_id"), Some("None"))
            .hint("Clinical champions and super-users are named per site.")
            .scope("roster")
            .errors(&re),
    }
}

#[derive(Template)]
#[template(path = "pages/program.html")]
struct HomePage {
    shell: Shell,
    tabs: Vec<NavLink>,
    errors: FormErrors,
    started: bool,
    name: String,
    dates: String,
    phases: Vec<PhaseRow>,
    late: Vec<LateItem>,
    top_risks: Vec<RiskRow>,
    sites: Vec<SiteRow>,
    goals: Vec<GoalRow>,
    roster: Vec<(String, String, String)>,
    forms: HomeForms,
}

/// The plan (no rollout, no goals: the pages that need them ask for them) and the staff's names.
pub(super) async fn load(
    state: &AppState,
    me: &crate::auth::actor::SignedIn,
) -> Result<(Plan, Vec<domain::identity::User>), PageError> {
    let p = program::plan(state.ctx(), &me.actor).await?;
    let users = program::staff(state.ctx(), &me.actor).await?;
    Ok((p, users))
}

/// Staff who may own a task or a risk, or be named on the roster: (id, label).
pub(super) fn staff_choices(
    users: &[domain::identity::User],
    with_role: bool,
) -> Vec<(String, String)> {
    users
        .iter()
        .filter(|u| u.active && u.role != domain::identity::Role::Patient)
        .map(|u| {
            let label = if with_role {
                format!("{} ({})", u.display_name, u.role.label())
            } else {
                u.display_name.clone()
            };
            (u.id.to_string(), label)
        })
        .collect()
}

pub async fn home(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(n): PageQuery<Notice>,
) -> PageResult {
    home_page(&state, &me, notice(&n), None).await
}

async fn home_page(
    state: &AppState,
    me: &crate::auth::actor::SignedIn,
    done: Option<&'static str>,
    sent: Option<&SentBack>,
) -> PageResult {
    let o = program::overview(state.ctx(), &me.actor).await?;
    let users = program::staff(state.ctx(), &me.actor).await?;
    let plan = &o.plan;
    let phases = plan
        .phases
        .iter()
        .map(|p| {
            let progress = PhaseProgress::of(p.id, &plan.tasks);
            PhaseRow {
                name: p.name.clone(),
                dates: format!("{} to {}", p.starts_on, p.ends_on),
                done: progress.done,
                total: progress.total,
                percent: progress.percent(),
            }
        })
        .collect();
    let late = plan
        .tasks
        .iter()
        .filter(|t| t.is_late(plan.today))
        .map(|t| LateItem {
            title: t.title.clone(),
            due: t.due_on.to_string(),
            kind: t.kind.label(),
        })
        .collect();
    let mut top_risks = risk_rows(plan, &users);
    top_risks.retain(|r| r.status != "Closed");
    top_risks.truncate(5);
    let roster = plan
        .roster
        .iter()
        .map(|e| {
            let site = e
                .site_id
                .and_then(|id| o.rollout.sites.iter().find(|s| s.site.id == id))
                .map(|s| s.site.name.clone())
                .unwrap_or_default();
            (
                e.role.label().to_string(),
                user_name(&users, Some(e.user_id)),
                site,
            )
        })
        .collect();
    let site_choices = o
        .rollout
        .sites
        .iter()
        .map(|s| (s.site.id.to_string(), s.site.name.clone()))
        .collect();
    let page = HomePage {
        shell: Shell::new(me, Section::Program).notice(done),
        tabs: tabs("/program"),
        errors: SentBack::summary(sent),
        started: plan.program.is_some(),
        name: plan
            .program
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        dates: plan
            .program
            .as_ref()
            .map(|p| format!("{} to {}", p.starts_on, p.ends_on))
            .unwrap_or_default(),
        phases,
        late,
        top_risks,
        sites: site_rows(&o.rollout),
        goals: goal_rows(&o),
        roster,
        forms: home_forms(sent, staff_choices(&users, true), site_choices),
    };
    Ok(render(SentBack::status(sent), &page))
}

pub async fn start(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    match program::start(
        state.ctx(),
        &me.actor,
        form.get("name"),
        form.get("starts_on"),
    )
    .await
    {
        Ok(_) => Ok(see_other("/program?done=started")),
        Err(e) => {
            let sent = SentBack::new("start", "", form, e, &LABELS)?;
            home_page(&state, &me, None, Some(&sent)).await
        }
    }
}

pub async fn add_goal(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    // Not a number: 0, which the use case refuses on its field.
    let target = form.get("target_pct").trim().parse::<i64>().unwrap_or(0);
    match program::add_goal(
        state.ctx(),
        &me.actor,
        form.optional("site_id").as_deref(),
        target,
        form.get("by"),
    )
    .await
    {
        Ok(_) => Ok(see_other("/program?done=goal")),
        Err(e) => {
            let sent = SentBack::new("goal", "goal", form, e, &LABELS)?;
            home_page(&state, &me, None, Some(&sent)).await
        }
    }
}

pub async fn set_roster(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    match program::set_roster(
        state.ctx(),
        &me.actor,
        form.get("user_id"),
        form.get("role"),
        form.optional("site_id").as_deref(),
    )
    .await
    {
        Ok(_) => Ok(see_other("/program?done=roster")),
        Err(e) => {
            let sent = SentBack::new("roster", "roster", form, e, &LABELS)?;
            home_page(&state, &me, None, Some(&sent)).await
        }
    }
}

#[derive(Template)]
#[template(path = "pages/program_timeline.html")]
struct TimelinePage {
    shell: Shell,
    tabs: Vec<NavLink>,
    gantt: Option<Gantt>,
}

pub async fn timeline(State(state): State<AppState>, PageUser(me): PageUser) -> PageResult {
    let (o, _) = load(&state, &me).await?;
    let chart = o
        .program
        .as_ref()
        .map(|p| gantt(p.starts_on, p.ends_on, &o.phases, &o.tasks, o.today));
    Ok(super::page::ok(&TimelinePage {
        shell: Shell::new(&me, Section::Program),
        tabs: tabs("/program/timeline"),
        gantt: chart,
    }))
}
