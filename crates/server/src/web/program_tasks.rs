//! The program's tasks: the board (a column per status), adding a task, a task's own page and
//! its one-click status change, the CSV export.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use domain::error::{AllFields, DomainResult};
use domain::identity::required_text;
use domain::identity::service::org;
use domain::ids::TaskId;
use domain::program::service::{self as program, Plan, TaskCommand};
use domain::program::{Task, TaskFilter, TaskKind, TaskStatus};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::form::{Checkboxes, Field, FormData, FormErrors, PageQuery, Select, choices};
use super::page::{PageError, PageResult, render, see_other};
use super::program::{Notice, RowErrors, SentBack, load, notice, staff_choices, tabs, user_name};
use super::session::{PageUser, check_csrf};
use super::shell::{NavLink, Section, Shell};

const LABELS: [(&str, &str); 8] = [
    ("title", "Title"),
    ("kind", "Kind"),
    ("phase_id", "Phase"),
    ("owner_id", "Owner"),
    ("starts_on", "Starts on"),
    ("due_on", "Due on"),
    ("status", "Status"),
    ("depends_on", "Waits for"),
];

pub struct Card {
    pub id: String,
    pub title: String,
    pub kind: &'static str,
    pub due: String,
    pub owner: String,
    pub late: bool,
    pub depends: String,
    /// The card's one-click move to another column.
    pub status: Select,
    pub errors: RowErrors,
}

pub struct Column {
    pub label: &'static str,
    /// The status a card dropped here moves to.
    pub status: &'static str,
    pub cards: Vec<Card>,
}

/// The board's filter form.
pub struct Filters {
    pub phase: Select,
    pub owner: Select,
    pub site: Select,
    pub late: bool,
    pub active: bool,
    /// The filters as a query string, carried by each card's move form.
    pub query: String,
    /// "Showing 4 of 31 milestones and tasks."
    pub showing: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct BoardParams {
    done: Option<String>,
    phase: Option<String>,
    owner: Option<String>,
    site: Option<String>,
    late: Option<String>,
}

/// A filter as the board's query string (only the filters: ids and a flag, nothing else a
/// form could smuggle into the address a move returns to).
fn filter_query(f: &TaskFilter) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(p) = f.phase {
        pairs.push(("phase", p.to_string()));
    }
    if let Some(o) = f.owner {
        pairs.push(("owner", o.to_string()));
    }
    if let Some(s) = f.site {
        pairs.push(("site", s.to_string()));
    }
    if f.late_only {
        pairs.push(("late", "true".into()));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

impl BoardParams {
    /// The filters a form carried (the board's query string), as the board reads them.
    fn from_form(form: &FormData) -> TaskFilter {
        serde_urlencoded::from_str::<BoardParams>(form.get("filters"))
            .map(|p| p.filter())
            .unwrap_or_default()
    }

    /// The filters asked for; a value that names nothing (an old link) means "any".
    fn filter(&self) -> TaskFilter {
        fn id<T: std::str::FromStr>(raw: &Option<String>) -> Option<T> {
            raw.as_deref().and_then(|r| r.trim().parse().ok())
        }
        TaskFilter {
            phase: id(&self.phase),
            owner: id(&self.owner),
            site: id(&self.site),
            late_only: self.late.as_deref() == Some("true"),
        }
    }
}

/// A task's fields, for adding one (no status: a new task is not started) or changing one.
pub struct TaskForm {
    pub title: Field,
    pub kind: Select,
    pub phase_id: Select,
    pub owner_id: Select,
    pub starts_on: Field,
    pub due_on: Field,
    pub status: Option<Select>,
    pub depends_on: Checkboxes,
}

fn task_form(
    v: &FormData,
    e: &FormErrors,
    o: &Plan,
    users: &[domain::identity::User],
    editing: Option<TaskId>,
) -> TaskForm {
    let others = o
        .tasks
        .iter()
        .filter(|t| Some(t.id) != editing)
        .map(|t| (t.id.to_string(), t.title.clone()));
    TaskForm {
        title: Field::new("title", "Title", v.get("title")).errors(e),
        kind: Select::new(
            "kind",
            "Kind",
            choices(TaskKind::ALL, TaskKind::as_str, TaskKind::label),
            v.get("kind"),
            None,
        )
        .errors(e),
        phase_id: Select::new(
            "phase_id",
            "Phase",
            o.phases.iter().map(|p| (p.id.to_string(), p.name.clone())),
            v.get("phase_id"),
            None,
        )
        .errors(e),
        owner_id: Select::new(
            "owner_id",
            "Owner",
            staff_choices(users, false),
            v.get("owner_id"),
            Some("Nobody yet"),
        )
        .errors(e),
        starts_on: Field::new("starts_on", "Starts on", v.get("starts_on"))
            .kind("date")
            .errors(e),
        due_on: Field::new("due_on", "Due on", v.get("due_on"))
            .kind("date")
            .errors(e),
        status: editing.map(|_| {
            Select::new(
                "status",
                "Status",
                choices(TaskStatus::ALL, TaskStatus::as_str, TaskStatus::label),
                v.get("status"),
                None,
            )
            .errors(e)
        }),
        depends_on: Checkboxes::new("depends_on", "Waits for", others, &v.all("depends_on"))
            .hint("It cannot be done before these; a choice that would make a task wait for itself is refused.")
            .when_empty("There are no other tasks yet.")
            .errors(e),
    }
}

fn values_of(t: &Task) -> FormData {
    let mut pairs = vec![
        ("title".to_string(), t.title.clone()),
        ("kind".into(), t.kind.as_str().into()),
        ("phase_id".into(), t.phase_id.to_string()),
        (
            "owner_id".into(),
            t.owner_id.map(|o| o.to_string()).unwrap_or_default(),
        ),
        ("starts_on".into(), t.starts_on.to_string()),
        ("due_on".into(), t.due_on.to_string()),
        ("status".into(), t.status.as_str().into()),
    ];
    pairs.extend(
        t.depends_on
            .iter()
            .map(|d| ("depends_on".into(), d.to_string())),
    );
    FormData::from_owned(pairs)
}

#[derive(Template)]
#[template(path = "pages/program_board.html")]
struct BoardPage {
    shell: Shell,
    tabs: Vec<NavLink>,
    errors: FormErrors,
    started: bool,
    filters: Filters,
    columns: Vec<Column>,
    form: TaskForm,
}

async fn board_page(
    state: &AppState,
    me: &SignedIn,
    done: Option<&'static str>,
    sent: Option<&SentBack>,
    filter: &TaskFilter,
) -> PageResult {
    let (o, users) = load(state, me).await?;
    let sites = org::list_sites(state.ctx(), &me.actor, me.actor.org()?).await?;
    let owner_sites = |t: &Task| {
        t.owner_id
            .and_then(|o| users.iter().find(|u| u.id == o))
            .map(|u| u.site_ids.clone())
            .unwrap_or_default()
    };
    let shown: Vec<&Task> = o
        .tasks
        .iter()
        .filter(|t| filter.matches(t, o.today, &owner_sites(t)))
        .collect();
    let any = |id: Option<String>| id.unwrap_or_default();
    let filters = Filters {
        phase: Select::new(
            "phase",
            "Phase",
            o.phases.iter().map(|p| (p.id.to_string(), p.name.clone())),
            &any(filter.phase.map(|p| p.to_string())),
            Some("Any phase"),
        )
        .optional(),
        owner: Select::new(
            "owner",
            "Owner",
            staff_choices(&users, false),
            &any(filter.owner.map(|o| o.to_string())),
            Some("Anyone"),
        )
        .optional(),
        site: Select::new(
            "site",
            "Owner's site",
            sites.iter().map(|s| (s.id.to_string(), s.name.clone())),
            &any(filter.site.map(|s| s.to_string())),
            Some("Any site"),
        )
        .optional(),
        late: filter.late_only,
        active: !filter.is_empty(),
        query: filter_query(filter),
        showing: format!(
            "Showing {} of {} milestones and tasks.",
            shown.len(),
            o.tasks.len()
        ),
    };
    let title_of = |id: &TaskId| {
        o.tasks
            .iter()
            .find(|t| t.id == *id)
            .map(|t| t.title.clone())
            .unwrap_or_default()
    };
    let card = |t: &Task| {
        let id = t.id.to_string();
        let (v, e) = SentBack::values(sent, "move", &id, || {
            FormData::from_pairs(&[("status", t.status.as_str().to_string())])
        });
        Card {
            title: t.title.clone(),
            kind: t.kind.label(),
            due: t.due_on.to_string(),
            owner: user_name(&users, t.owner_id),
            late: t.is_late(o.today),
            depends: t
                .depends_on
                .iter()
                .map(&title_of)
                .collect::<Vec<_>>()
                .join(", "),
            status: Select::new(
                "status",
                &format!("Status of {}", t.title),
                choices(TaskStatus::ALL, TaskStatus::as_str, TaskStatus::label),
                v.get("status"),
                None,
            )
            .scope(&id)
            .errors(&e),
            errors: RowErrors::of(&e),
            id,
        }
    };
    let columns = TaskStatus::ALL
        .iter()
        .map(|status| Column {
            label: status.label(),
            status: status.as_str(),
            cards: shown
                .iter()
                .filter(|t| t.status == *status)
                .map(|t| card(t))
                .collect(),
        })
        .collect();
    let (v, e) = SentBack::values(sent, "task", "", FormData::default);
    let page = BoardPage {
        shell: Shell::new(me, Section::Program).notice(done),
        tabs: tabs("/program/board"),
        errors: SentBack::summary(sent),
        started: o.program.is_some(),
        filters,
        columns,
        form: task_form(&v, &e, &o, &users, None),
    };
    Ok(render(SentBack::status(sent), &page))
}

pub async fn board(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<BoardParams>,
) -> PageResult {
    let done = notice(&Notice::of(params.done.clone()));
    board_page(&state, &me, done, None, &params.filter()).await
}

/// The task a form describes, every field checked (the new-task form has no status: a new
/// task is not started); the use case then checks it against the program.
pub(super) fn task_command(form: &FormData, with_status: bool) -> DomainResult<TaskCommand> {
    let status = if with_status {
        TaskCommand::parse_status(form.optional("status").as_deref())
    } else {
        Ok(TaskStatus::NotStarted)
    };
    let (phase_id, _, kind, owner_id, starts_on, due_on, status, depends_on) = (
        program::parse_id("phase_id", form.get("phase_id")),
        required_text("title", form.get("title"), 200),
        TaskKind::parse("kind", form.get("kind")),
        TaskCommand::parse_owner(Some(form.get("owner_id"))),
        program::parse_date("starts_on", form.get("starts_on")),
        program::parse_date("due_on", form.get("due_on")),
        status,
        TaskCommand::parse_depends_on(&form.all("depends_on")),
    )
        .all_fields()?;
    Ok(TaskCommand {
        phase_id,
        title: form.get("title").into(),
        kind,
        owner_id,
        starts_on,
        due_on,
        status,
        depends_on,
    })
}

pub async fn add_task(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let added = match task_command(&form, false) {
        Ok(input) => program::add_task(state.ctx(), &me.actor, &input).await,
        Err(e) => Err(e),
    };
    match added {
        Ok(_) => Ok(see_other("/program/board?done=task")),
        Err(e) => {
            let sent = SentBack::new("task", "", form, e, &LABELS)?;
            board_page(&state, &me, None, Some(&sent), &TaskFilter::default()).await
        }
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
    // Back to the board as it was filtered.
    let filter = BoardParams::from_form(&form);
    match program::set_task_status(state.ctx(), &me.actor, id, form.get("status")).await {
        Ok(_) => {
            let query = filter_query(&filter);
            let sep = if query.is_empty() { "" } else { "&" };
            Ok(see_other(&format!("/program/board?{query}{sep}done=task")))
        }
        Err(e) => {
            let sent = SentBack::new("move", &id.to_string(), form, e, &LABELS)?;
            board_page(&state, &me, None, Some(&sent), &filter).await
        }
    }
}

#[derive(Template)]
#[template(path = "pages/program_task.html")]
struct TaskPage {
    shell: Shell,
    tabs: Vec<NavLink>,
    errors: FormErrors,
    id: String,
    title: String,
    form: TaskForm,
}

async fn task_page(
    state: &AppState,
    me: &SignedIn,
    id: TaskId,
    done: Option<&'static str>,
    sent: Option<&SentBack>,
) -> PageResult {
    let (o, users) = load(state, me).await?;
    let t = o
        .tasks
        .iter()
        .find(|t| t.id == id)
        .ok_or(PageError::NotFound)?;
    let (v, e) = SentBack::values(sent, "task", "", || values_of(t));
    let page = TaskPage {
        shell: Shell::new(me, Section::Program).notice(done),
        tabs: tabs("/program/board"),
        errors: SentBack::summary(sent),
        id: t.id.to_string(),
        title: t.title.clone(),
        form: task_form(&v, &e, &o, &users, Some(id)),
    };
    Ok(render(SentBack::status(sent), &page))
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
    task_page(&state, &me, id, notice(&n), None).await
}

pub async fn update_task(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id: TaskId = id.parse().map_err(|_| PageError::NotFound)?;
    let updated = match task_command(&form, true) {
        Ok(input) => program::update_task(state.ctx(), &me.actor, id, &input).await,
        Err(e) => Err(e),
    };
    match updated {
        Ok(_) => Ok(see_other(&format!("/program/tasks/{id}?done=task"))),
        Err(e) => {
            let sent = SentBack::new("task", "", form, e, &LABELS)?;
            task_page(&state, &me, id, None, Some(&sent)).await
        }
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
