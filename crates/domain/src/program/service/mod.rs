//! Program use cases. Only program managers and organization administrators run the program;
//! every change is audited with who made it.

use jiff::SignedDuration;
use jiff::civil::Date;
use serde::Deserialize;

use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::AuditAction;
use crate::error::{AllFields, DomainError, DomainResult};
use crate::identity::{Role, required_text};
use crate::ids::{OrgId, PhaseId, ProgramId, RiskId, SiteId, TaskId, UserId};
use crate::program::*;
use crate::scheduling::service::shared::entry;

mod rollout;

pub use rollout::*;

/// A date as a program's form or request spells it; the error names the field.
pub fn parse_date(field: &str, raw: &str) -> DomainResult<Date> {
    raw.trim()
        .parse::<Date>()
        .map_err(|_| DomainError::invalid(field, "must be a date such as 2027-03-31"))
}

/// An id as a program's form or request spells it; the error names the field.
pub fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> DomainResult<T> {
    raw.trim()
        .parse()
        .map_err(|_| DomainError::invalid(field, "is not a valid id"))
}

fn org_of(actor: &Actor) -> DomainResult<OrgId> {
    let org = actor.org()?;
    access::require(actor, Permission::ManageProgram)?;
    Ok(org)
}

/// An active member of staff of the organization, or an error on `field`.
async fn staff_member(ctx: Ctx<'_>, org: OrgId, field: &str, id: UserId) -> DomainResult<UserId> {
    match ctx.store.get_user(org, id).await? {
        Some(u) if u.active && u.role != Role::Patient => Ok(id),
        _ => Err(DomainError::invalid(field, "is not a member of staff")),
    }
}

/// A site of the organization given by its id as typed (blank is none), or an error on `field`.
async fn optional_site(
    ctx: Ctx<'_>,
    org: OrgId,
    field: &str,
    raw: Option<&str>,
) -> DomainResult<Option<SiteId>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => {
            let id: SiteId = parse_id(field, raw)?;
            match ctx.store.get_site(org, id).await? {
                Some(_) => Ok(Some(id)),
                None => Err(DomainError::invalid(
                    field,
                    "is not a site of the organization",
                )),
            }
        }
    }
}

/// Free text, trimmed, of at most `max` characters (empty allowed).
fn at_most(field: &str, raw: &str, max: usize) -> DomainResult<String> {
    let text = raw.trim().to_string();
    if text.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(text)
}

async fn program_of(ctx: Ctx<'_>, org: OrgId) -> DomainResult<Program> {
    ctx.store
        .get_program(org)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "program",
        })
}

/// Starts the organization's program from the four-phase template.
pub async fn start(
    ctx: Ctx<'_>,
    actor: &Actor,
    name: &str,
    starts_on: &str,
) -> DomainResult<Program> {
    let org = org_of(actor)?;
    start_in(ctx, actor, org, name, starts_on).await
}

pub async fn start_in(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    name: &str,
    starts_on: &str,
) -> DomainResult<Program> {
    if !actor.in_org(org) {
        return Err(DomainError::NotFound {
            resource: "organization",
        });
    }
    access::require(actor, Permission::ManageProgram)?;
    let (name, starts_on) = (
        required_text("name", name, 120),
        parse_date("starts_on", starts_on),
    )
        .all_fields()?;
    let now = ctx.clock.now();
    let program = Program {
        id: ProgramId::new(),
        org_id: org,
        name,
        starts_on,
        ends_on: program_end(starts_on),
        created_at: now,
    };
    let (phases, tasks) = template(program.id, starts_on, now);
    let audit = entry(ctx, actor, AuditAction::ProgramChange, "Program", org)
        .resource(program.id)
        .detail(format!(
            "started from the template, {} to {}",
            program.starts_on, program.ends_on
        ));
    ctx.store
        .create_program(&program, &phases, &tasks, audit)
        .await?;
    Ok(program)
}

/// A task as a program manager writes it, parsed (all fields; an update sends them all again).
/// The JSON API builds it with `TryFrom`, the web from its form, and a status change from the
/// task itself; the use case checks it against the program (its phases, staff, dates and tasks).
#[derive(Debug, Clone)]
pub struct TaskCommand {
    pub phase_id: PhaseId,
    /// As typed: the use case trims it and checks its length.
    pub title: String,
    pub kind: TaskKind,
    pub owner_id: Option<UserId>,
    pub starts_on: Date,
    pub due_on: Date,
    pub status: TaskStatus,
    pub depends_on: Vec<TaskId>,
}

impl TaskCommand {
    /// A status as a form or request spells it; blank is "not started".
    pub fn parse_status(raw: Option<&str>) -> DomainResult<TaskStatus> {
        match raw.map(str::trim) {
            None | Some("") => Ok(TaskStatus::NotStarted),
            Some(raw) => TaskStatus::parse("status", raw),
        }
    }

    /// The owner as a client spells their id; blank is nobody.
    pub fn parse_owner(raw: Option<&str>) -> DomainResult<Option<UserId>> {
        match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => parse_id("owner_id", raw).map(Some),
        }
    }

    /// The tasks it depends on, as ids spelled by a client.
    pub fn parse_depends_on(raw: &[String]) -> DomainResult<Vec<TaskId>> {
        raw.iter().map(|r| parse_id("depends_on", r)).collect()
    }
}

/// The command checked against the program: a title, a phase of this program, an owner who is
/// staff, dates within the program, each dependency once.
async fn checked(
    ctx: Ctx<'_>,
    org: OrgId,
    program: &Program,
    input: &TaskCommand,
) -> DomainResult<TaskCommand> {
    let phase = if ctx
        .store
        .list_phases(program)
        .await?
        .iter()
        .any(|p| p.id == input.phase_id)
    {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "phase_id",
            "is not a phase of the program",
        ))
    };
    let owner = match input.owner_id {
        Some(id) => staff_member(ctx, org, "owner_id", id).await.map(Some),
        None => Ok(None),
    };
    let (title, (), _, ()) = (
        required_text("title", &input.title, 200),
        phase,
        owner,
        check_task_dates(program, input.starts_on, input.due_on),
    )
        .all_fields()?;
    let mut depends_on = Vec::new();
    for id in &input.depends_on {
        if !depends_on.contains(id) {
            depends_on.push(*id);
        }
    }
    Ok(TaskCommand {
        title,
        depends_on,
        ..input.clone()
    })
}

pub async fn add_task(ctx: Ctx<'_>, actor: &Actor, input: &TaskCommand) -> DomainResult<Task> {
    let org = org_of(actor)?;
    let program = program_of(ctx, org).await?;
    let f = checked(ctx, org, &program, input).await?;
    let tasks = ctx.store.list_tasks(&program).await?;
    let id = TaskId::new();
    check_dependencies(&tasks, id, &f.depends_on)?;
    if f.status == TaskStatus::Done {
        check_can_finish(&tasks, &f.depends_on)?;
    }
    let task = Task {
        id,
        program_id: program.id,
        phase_id: f.phase_id,
        kind: f.kind,
        title: f.title,
        owner_id: f.owner_id,
        starts_on: f.starts_on,
        due_on: f.due_on,
        status: f.status,
        depends_on: f.depends_on,
        updated_at: ctx.clock.now(),
    };
    let audit = entry(ctx, actor, AuditAction::ProgramChange, "Task", org)
        .resource(task.id)
        .detail(format!("added: {}", task.title));
    ctx.store.create_task(&task, audit).await?;
    Ok(task)
}

pub async fn update_task(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: TaskId,
    input: &TaskCommand,
) -> DomainResult<Task> {
    let org = org_of(actor)?;
    let program = program_of(ctx, org).await?;
    let existing = ctx
        .store
        .get_task(org, id)
        .await?
        .ok_or(DomainError::NotFound { resource: "task" })?;
    let f = checked(ctx, org, &program, input).await?;
    let tasks = ctx.store.list_tasks(&program).await?;
    check_dependencies(&tasks, id, &f.depends_on)?;
    if f.status == TaskStatus::Done {
        check_can_finish(&tasks, &f.depends_on)?;
    }
    // A task others depend on cannot leave "done" while they are done.
    if existing.status == TaskStatus::Done && f.status != TaskStatus::Done {
        let waiting: Vec<&str> = tasks
            .iter()
            .filter(|t| t.depends_on.contains(&id) && t.status == TaskStatus::Done)
            .map(|t| t.title.as_str())
            .collect();
        if !waiting.is_empty() {
            return Err(DomainError::conflict(format!(
                "done tasks depend on this one: {}",
                waiting.join(", ")
            )));
        }
    }
    let task = Task {
        phase_id: f.phase_id,
        kind: f.kind,
        title: f.title,
        owner_id: f.owner_id,
        starts_on: f.starts_on,
        due_on: f.due_on,
        status: f.status,
        depends_on: f.depends_on,
        updated_at: ctx.clock.now().max(
            existing
                .updated_at
                .checked_add(SignedDuration::from_micros(1))
                .unwrap_or(existing.updated_at),
        ),
        ..existing.clone()
    };
    let audit = entry(ctx, actor, AuditAction::ProgramChange, "Task", org)
        .resource(task.id)
        .detail(format!("{}: {}", task.title, task.status.as_str()));
    if !ctx
        .store
        .update_task(&task, existing.updated_at, audit)
        .await?
    {
        return Err(DomainError::conflict(
            "the task changed meanwhile; reload it",
        ));
    }
    Ok(task)
}

/// Moves a task to another status, everything else unchanged (the board's one-click change).
pub async fn set_task_status(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: TaskId,
    status: &str,
) -> DomainResult<Task> {
    let org = org_of(actor)?;
    let task = ctx
        .store
        .get_task(org, id)
        .await?
        .ok_or(DomainError::NotFound { resource: "task" })?;
    let input = TaskCommand {
        status: TaskStatus::parse("status", status)?,
        ..TaskCommand::from(&task)
    };
    update_task(ctx, actor, id, &input).await
}

impl From<&Task> for TaskCommand {
    fn from(t: &Task) -> Self {
        TaskCommand {
            phase_id: t.phase_id,
            title: t.title.clone(),
            kind: t.kind,
            owner_id: t.owner_id,
            starts_on: t.starts_on,
            due_on: t.due_on,
            status: t.status,
            depends_on: t.depends_on.clone(),
        }
    }
}

/// The organization's staff accounts, disabled ones too (they may still own a task or a risk):
/// the names the program's pages show and the people they offer to choose from.
pub async fn staff(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<crate::identity::User>> {
    let org = org_of(actor)?;
    let mut users = ctx.store.list_users(org, None).await?;
    users.retain(|u| u.role != Role::Patient);
    Ok(users)
}

pub async fn set_roster(
    ctx: Ctx<'_>,
    actor: &Actor,
    user_id: &str,
    role: &str,
    site_id: Option<&str>,
) -> DomainResult<RosterEntry> {
    let org = org_of(actor)?;
    let program = program_of(ctx, org).await?;
    let user = match parse_id::<UserId>("user_id", user_id) {
        Ok(id) => match ctx.store.get_user(org, id).await? {
            Some(u) if u.active && u.role != Role::Patient => Ok(u),
            _ => Err(DomainError::invalid("user_id", "is not a member of staff")),
        },
        Err(e) => Err(e),
    };
    let role = GovernanceRole::parse("role", role);
    let site_id = match optional_site(ctx, org, "site_id", site_id).await {
        Ok(None)
            if matches!(
                role,
                Ok(GovernanceRole::ClinicalChampion | GovernanceRole::SuperUser)
            ) =>
        {
            Err(DomainError::invalid(
                "site_id",
                "clinical champions and super-users are named per site",
            ))
        }
        other => other,
    };
    let (user, role, site_id) = (user, role, site_id).all_fields()?;
    let user_id = user.id;
    let entry_ = RosterEntry {
        program_id: program.id,
        user_id,
        role,
        site_id,
    };
    let audit = entry(ctx, actor, AuditAction::ProgramChange, "Program", org)
        .resource(program.id)
        .detail(format!("{} named {}", user.display_name, role.label()));
    ctx.store.set_roster(&entry_, audit).await?;
    Ok(entry_)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RiskInput {
    pub title: String,
    pub category: String,
    pub likelihood: i64,
    pub impact: i64,
    pub owner_id: Option<String>,
    #[serde(default)]
    pub mitigation: String,
    /// open when blank
    pub status: Option<String>,
    pub next_review_on: String,
}

/// One risk of the register.
pub async fn risk(ctx: Ctx<'_>, actor: &Actor, id: RiskId) -> DomainResult<Risk> {
    let org = org_of(actor)?;
    ctx.store
        .list_risks(org)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(DomainError::NotFound { resource: "risk" })
}

impl From<&Risk> for RiskInput {
    fn from(r: &Risk) -> Self {
        RiskInput {
            title: r.title.clone(),
            category: r.category.as_str().into(),
            likelihood: r.likelihood,
            impact: r.impact,
            owner_id: r.owner_id.map(|o| o.to_string()),
            mitigation: r.mitigation.clone(),
            status: Some(r.status.as_str().into()),
            next_review_on: r.next_review_on.to_string(),
        }
    }
}

/// Adds a risk (`id` None) or rewrites one.
pub async fn save_risk(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: Option<RiskId>,
    input: &RiskInput,
) -> DomainResult<Risk> {
    let org = org_of(actor)?;
    let owner_id = match input.owner_id.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => match parse_id::<UserId>("owner_id", raw) {
            Ok(uid) => staff_member(ctx, org, "owner_id", uid).await.map(Some),
            Err(e) => Err(e),
        },
    };
    let status = match input.status.as_deref().map(str::trim) {
        None | Some("") => Ok(RiskStatus::Open),
        Some(raw) => RiskStatus::parse("status", raw),
    };
    let (title, category, (), (), mitigation, owner_id, status, next_review_on) = (
        required_text("title", &input.title, 200),
        RiskCategory::parse("category", &input.category),
        check_rating("likelihood", input.likelihood),
        check_rating("impact", input.impact),
        at_most("mitigation", &input.mitigation, 2000),
        owner_id,
        status,
        parse_date("next_review_on", &input.next_review_on),
    )
        .all_fields()?;
    let id = match id {
        Some(id) => {
            if !ctx.store.list_risks(org).await?.iter().any(|r| r.id == id) {
                return Err(DomainError::NotFound { resource: "risk" });
            }
            id
        }
        None => RiskId::new(),
    };
    let risk = Risk {
        id,
        org_id: org,
        title,
        category,
        likelihood: input.likelihood,
        impact: input.impact,
        owner_id,
        mitigation,
        status,
        next_review_on,
        updated_at: ctx.clock.now(),
    };
    let audit = entry(ctx, actor, AuditAction::RiskChange, "Risk", org)
        .resource(risk.id)
        .detail(format!(
            "{} (score {}, {})",
            risk.title,
            risk.score(),
            risk.status.as_str()
        ));
    ctx.store.save_risk(&risk, audit).await?;
    Ok(risk)
}

/// The plan: the program, its phases and tasks, the roster and the risks (what the board, the
/// timeline, the risk register and their exports show).
#[derive(Debug, Clone)]
pub struct Plan {
    pub program: Option<Program>,
    pub phases: Vec<Phase>,
    pub tasks: Vec<Task>,
    pub roster: Vec<RosterEntry>,
    pub risks: Vec<Risk>,
    pub today: Date,
}

pub async fn plan(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Plan> {
    let org = org_of(actor)?;
    let program = ctx.store.get_program(org).await?;
    let (phases, tasks, roster) = match &program {
        Some(p) => (
            ctx.store.list_phases(p).await?,
            ctx.store.list_tasks(p).await?,
            ctx.store.list_roster(p).await?,
        ),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    Ok(Plan {
        program,
        phases,
        tasks,
        roster,
        risks: ctx.store.list_risks(org).await?,
        today: ctx.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date(),
    })
}
