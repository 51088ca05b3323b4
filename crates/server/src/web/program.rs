//! The implementation program's pages for program managers: the home page (phase progress, late
//! milestones, top risks, site stages, certification coverage, adoption goals), the board, the
//! Gantt timeline, the risk register with its heat map, and the sites' rollout with the
//! readiness gate. Every form posts and redirects; nothing needs JavaScript.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use domain::DomainError;
use domain::ids::{RiskId, SiteId, TaskId};
use domain::program::service::{self as program, Overview, Plan, RiskInput, Rollout, TaskInput};
use domain::program::{SiteStage, Task, TaskStatus};

use crate::state::AppState;

use super::form::{FormData, PageQuery};
use super::page::{PageError, PageResult, ok, see_other};
use super::program_charts::{Gantt, HeatMap, gantt, heat};
use super::session::{PageUser, check_csrf};
use super::shell::{NavLink, Section, Shell};

fn tabs(current: &str) -> Vec<NavLink> {
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
    problem: Option<String>,
}

fn notice(n: &Notice) -> Option<&'static str> {
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
fn problem_href(path: &str, err: DomainError) -> Result<Response, PageError> {
    let message = match err {
        DomainError::Invalid(field) => field.to_string(),
        DomainError::Conflict(m) => m,
        other => return Err(other.into()),
    };
    Ok(see_other(&super::page::href(path, &[("problem", message)])))
}

pub struct PhaseProgress {
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

fn user_name(users: &[domain::identity::User], id: Option<domain::ids::UserId>) -> String {
    id.and_then(|id| users.iter().find(|u| u.id == id))
        .map(|u| u.display_name.clone())
        .unwrap_or_else(|| "-".into())
}

fn risk_rows(p: &Plan, users: &[domain::identity::User]) -> Vec<RiskRow> {
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

fn site_rows(r: &Rollout) -> Vec<SiteRow> {
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
    phases: Vec<PhaseProgress>,
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
async fn load(
    state: &AppState,
    me: &crate::auth::actor::SignedIn,
) -> Result<(Plan, Vec<domain::identity::User>), PageError> {
    let p = program::plan(state.ctx(), &me.actor).await?;
    let users = program::staff(state.ctx(), &me.actor).await?;
    Ok((p, users))
}

/// Staff who may own a task or a risk, or be named on the roster: (id, label).
fn staff_choices(users: &[domain::identity::User], with_role: bool) -> Vec<(String, String)> {
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
            let mine: Vec<&Task> = plan.tasks.iter().filter(|t| t.phase_id == p.id).collect();
            let done = mine.iter().filter(|t| t.status == TaskStatus::Done).count();
            PhaseProgress {
                name: p.name.clone(),
                dates: format!("{} to {}", p.starts_on, p.ends_on),
                done,
                total: mine.len(),
                percent: (done * 100).checked_div(mine.len()).unwrap_or(0),
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

pub struct Card {
    pub id: String,
    pub title: String,
    pub kind: &'static str,
    pub due: String,
    pub owner: String,
    pub late: bool,
    pub status: &'static str,
    pub depends: String,
}

pub struct Column {
    pub label: &'static str,
    pub cards: Vec<Card>,
}

#[derive(Template)]
#[template(path = "pages/program_board.html")]
struct BoardPage {
    shell: Shell,
    tabs: Vec<NavLink>,
    problem: Option<String>,
    started: bool,
    columns: Vec<Column>,
    statuses: Vec<(&'static str, &'static str)>,
    phases: Vec<(String, String)>,
    tasks: Vec<(String, String)>,
    staff: Vec<(String, String)>,
}

pub async fn board(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(n): PageQuery<Notice>,
) -> PageResult {
    let (o, users) = load(&state, &me).await?;
    let title_of = |id: &TaskId| {
        o.tasks
            .iter()
            .find(|t| t.id == *id)
            .map(|t| t.title.clone())
            .unwrap_or_default()
    };
    let columns = TaskStatus::ALL
        .iter()
        .map(|status| Column {
            label: status.label(),
            cards: o
                .tasks
                .iter()
                .filter(|t| t.status == *status)
                .map(|t| Card {
                    id: t.id.to_string(),
                    title: t.title.clone(),
                    kind: t.kind.label(),
                    due: t.due_on.to_string(),
                    owner: user_name(&users, t.owner_id),
                    late: t.is_late(o.today),
                    status: t.status.as_str(),
                    depends: t
                        .depends_on
                        .iter()
                        .map(&title_of)
                        .collect::<Vec<_>>()
                        .join(", "),
                })
                .collect(),
        })
        .collect();
    let page = BoardPage {
        shell: Shell::new(&me, Section::Program).notice(notice(&n)),
        tabs: tabs("/program/board"),
        problem: n.problem.clone(),
        started: o.program.is_some(),
        columns,
        statuses: TaskStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
        phases: o
            .phases
            .iter()
            .map(|p| (p.id.to_string(), p.name.clone()))
            .collect(),
        tasks: o
            .tasks
            .iter()
            .map(|t| (t.id.to_string(), t.title.clone()))
            .collect(),
        staff: staff_choices(&users, false),
    };
    Ok(ok(&page))
}

pub async fn add_task(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let input = TaskInput {
        phase_id: form.get("phase_id").into(),
        title: form.get("title").into(),
        kind: form.get("kind").into(),
        owner_id: form.optional("owner_id"),
        starts_on: form.get("starts_on").into(),
        due_on: form.get("due_on").into(),
        status: None,
        depends_on: form.all("depends_on"),
    };
    match program::add_task(state.ctx(), &me.actor, &input).await {
        Ok(_) => Ok(see_other("/program/board?done=task")),
        Err(e) => problem_href("/program/board", e),
    }
}

/// Changes a task's status (the board's per-card form); the rest of the task stays.
pub async fn set_task_status(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id: TaskId = id.parse().map_err(|_| PageError::NotFound)?;
    match program::set_task_status(state.ctx(), &me.actor, id, form.get("status")).await {
        Ok(_) => Ok(see_other("/program/board?done=task")),
        Err(e) => problem_href("/program/board", e),
    }
}

#[derive(Template)]
#[template(path = "pages/program_task.html")]
struct TaskPage {
    shell: Shell,
    tabs: Vec<NavLink>,
    problem: Option<String>,
    id: String,
    title: String,
    kind: String,
    phase_id: String,
    owner_id: String,
    starts_on: String,
    due_on: String,
    status: String,
    depends_on: Vec<String>,
    statuses: Vec<(&'static str, &'static str)>,
    phases: Vec<(String, String)>,
    others: Vec<(String, String)>,
    staff: Vec<(String, String)>,
}

/// A task's own page: every field editable (title, kind, phase, owner, dates, status, what it
/// waits for).
pub async fn task(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(id): Path<String>,
    PageQuery(n): PageQuery<Notice>,
) -> PageResult {
    let id: TaskId = id.parse().map_err(|_| PageError::NotFound)?;
    let (o, users) = load(&state, &me).await?;
    let t = o
        .tasks
        .iter()
        .find(|t| t.id == id)
        .ok_or(PageError::NotFound)?;
    let page = TaskPage {
        shell: Shell::new(&me, Section::Program).notice(notice(&n)),
        tabs: tabs("/program/board"),
        problem: n.problem.clone(),
        id: t.id.to_string(),
        title: t.title.clone(),
        kind: t.kind.as_str().into(),
        phase_id: t.phase_id.to_string(),
        owner_id: t.owner_id.map(|o| o.to_string()).unwrap_or_default(),
        starts_on: t.starts_on.to_string(),
        due_on: t.due_on.to_string(),
        status: t.status.as_str().into(),
        depends_on: t.depends_on.iter().map(ToString::to_string).collect(),
        statuses: TaskStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
        phases: o
            .phases
            .iter()
            .map(|p| (p.id.to_string(), p.name.clone()))
            .collect(),
        others: o
            .tasks
            .iter()
            .filter(|x| x.id != id)
            .map(|x| (x.id.to_string(), x.title.clone()))
            .collect(),
        staff: staff_choices(&users, false),
    };
    Ok(ok(&page))
}

pub async fn update_task(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id: TaskId = id.parse().map_err(|_| PageError::NotFound)?;
    let input = TaskInput {
        phase_id: form.get("phase_id").into(),
        title: form.get("title").into(),
        kind: form.get("kind").into(),
        owner_id: form.optional("owner_id"),
        starts_on: form.get("starts_on").into(),
        due_on: form.get("due_on").into(),
        status: form.optional("status"),
        depends_on: form.all("depends_on"),
    };
    let back = format!("/program/tasks/{id}");
    match program::update_task(state.ctx(), &me.actor, id, &input).await {
        Ok(_) => Ok(see_other(&format!("{back}?done=task"))),
        Err(e) => problem_href(&back, e),
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

pub async fn tasks_csv(
    State(state): State<AppState>,
    PageUser(me): PageUser,
) -> Result<Response, PageError> {
    let (o, users) = load(&state, &me).await?;
    let mut out = super::csv_export::line(
        &[
            "phase",
            "kind",
            "title",
            "owner",
            "starts_on",
            "due_on",
            "status",
            "late",
            "depends_on",
        ]
        .map(String::from),
    );
    for t in &o.tasks {
        let phase = o
            .phases
            .iter()
            .find(|p| p.id == t.phase_id)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let deps = t
            .depends_on
            .iter()
            .filter_map(|d| o.tasks.iter().find(|x| x.id == *d))
            .map(|x| x.title.clone())
            .collect::<Vec<_>>()
            .join("; ");
        out.push_str(&super::csv_export::line(&[
            phase,
            t.kind.as_str().into(),
            t.title.clone(),
            user_name(&users, t.owner_id),
            t.starts_on.to_string(),
            t.due_on.to_string(),
            t.status.as_str().into(),
            t.is_late(o.today).to_string(),
            deps,
        ]));
    }
    Ok(super::csv_export::download("program-tasks.csv", out))
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
