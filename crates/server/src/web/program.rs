//! The implementation program's pages for program managers: the home page (phase progress, late
//! milestones, top risks, site stages, certification coverage, adoption goals), the board, the
//! Gantt timeline, the risk register with its heat map, and the sites' rollout with the
//! readiness gate. Every form posts and redirects; nothing needs JavaScript.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use domain::DomainError;
use domain::program::service::{self as program, Overview, Plan, Rollout};
use domain::program::{PhaseProgress, SiteStage};

use crate::state::AppState;

use super::form::{FormData, PageQuery};
use super::page::{PageError, PageResult, ok, see_other};
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
    pub problem: Option<String>,
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

/// A refusal shown at the top of the page after the redirect (the domain's own sentence).
pub(super) fn problem_href(path: &str, err: DomainError) -> Result<Response, PageError> {
    let message = match err {
        DomainError::Invalid(field) => field.to_string(),
        err @ DomainError::Conflict { .. } => err.to_string(),
        other => return Err(other.into()),
    };
    Ok(see_other(&super::page::href(path, &[("problem", message)])))
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

#[derive(Template)]
#[template(path = "pages/program.html")]
struct HomePage {
    shell: Shell,
    tabs: Vec<NavLink>,
    problem: Option<String>,
    started: bool,
    name: String,
    dates: String,
    phases: Vec<PhaseRow>,
    late: Vec<LateItem>,
    top_risks: Vec<RiskRow>,
    sites: Vec<SiteRow>,
    goals: Vec<GoalRow>,
    roster: Vec<(String, String, String)>,
    staff: Vec<(String, String)>,
    site_choices: Vec<(String, String)>,
    roles: Vec<(&'static str, &'static str)>,
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
    let page = HomePage {
        shell: Shell::new(&me, Section::Program).notice(notice(&n)),
        tabs: tabs("/program"),
        problem: n.problem.clone(),
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
        staff: staff_choices(&users, true),
        site_choices: o
            .rollout
            .sites
            .iter()
            .map(|s| (s.site.id.to_string(), s.site.name.clone()))
            .collect(),
        roles: domain::program::GovernanceRole::ALL
            .iter()
            .map(|r| (r.as_str(), r.label()))
            .collect(),
    };
    Ok(ok(&page))
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
        Err(e) => problem_href("/program", e),
    }
}

pub async fn add_goal(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
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
        Err(e) => problem_href("/program", e),
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
        Err(e) => problem_href("/program", e),
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
    Ok(ok(&TimelinePage {
        shell: Shell::new(&me, Section::Program),
        tabs: tabs("/program/timeline"),
        gantt: chart,
    }))
}
