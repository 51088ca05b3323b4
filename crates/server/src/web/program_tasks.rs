//! The program's tasks: the board (a column per status), adding a task, a task's own page and
//! its one-click status change, the CSV export.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use domain::error::DomainResult;
use domain::ids::TaskId;
use domain::program::service::{self as program, TaskCommand};
use domain::program::{TaskKind, TaskStatus};

use crate::state::AppState;

use super::form::{FormData, PageQuery};
use super::page::{PageError, PageResult, ok, see_other};
use super::program::{Notice, load, notice, problem_href, staff_choices, tabs, user_name};
use super::session::{PageUser, check_csrf};
use super::shell::{NavLink, Section, Shell};

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

/// The task a form describes (the new-task form has no status: a new task is not started).
fn task_command(form: &FormData, with_status: bool) -> DomainResult<TaskCommand> {
    Ok(TaskCommand {
        phase_id: program::parse_id("phase_id", form.get("phase_id"))?,
        title: form.get("title").into(),
        kind: TaskKind::parse("kind", form.get("kind"))?,
        owner_id: TaskCommand::parse_owner(Some(form.get("owner_id")))?,
        starts_on: program::parse_date("starts_on", form.get("starts_on"))?,
        due_on: program::parse_date("due_on", form.get("due_on"))?,
        status: if with_status {
            TaskCommand::parse_status(form.optional("status").as_deref())?
        } else {
            TaskStatus::NotStarted
        },
        depends_on: TaskCommand::parse_depends_on(&form.all("depends_on"))?,
    })
}

pub async fn add_task(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let input = match task_command(&form, false) {
        Ok(input) => input,
        Err(e) => return problem_href("/program/board", e),
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
    let back = format!("/program/tasks/{id}");
    let input = match task_command(&form, true) {
        Ok(input) => input,
        Err(e) => return problem_href(&back, e),
    };
    match program::update_task(state.ctx(), &me.actor, id, &input).await {
        Ok(_) => Ok(see_other(&format!("{back}?done=task"))),
        Err(e) => problem_href(&back, e),
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
