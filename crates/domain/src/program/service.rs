//! Program use cases. Only program managers and organization administrators run the program;
//! every change is audited with who made it.

use std::collections::HashSet;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::AuditAction;
use crate::error::{DomainError, DomainResult};
use crate::identity::{Role, Site, required_text};
use crate::ids::{EvaluationId, GoalId, OrgId, PhaseId, ProgramId, RiskId, SiteId, TaskId, UserId};
use crate::program::*;
use crate::scheduling::service::shared::entry;

fn parse_date(field: &str, raw: &str) -> DomainResult<Date> {
    raw.trim()
        .parse::<Date>()
        .map_err(|_| DomainError::invalid(field, "must be a date such as 2027-03-31"))
}

fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> DomainResult<T> {
    raw.trim()
        .parse()
        .map_err(|_| DomainError::invalid(field, "is not a valid id"))
}

fn org_of(actor: &Actor) -> DomainResult<OrgId> {
    let org = actor.org()?;
    access::require(actor, Permission::ManageProgram)?;
    Ok(org)
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
    let name = required_text("name", name, 120)?;
    let starts_on = parse_date("starts_on", starts_on)?;
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

/// A task as a program manager writes it (all fields; an update sends them all again).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TaskInput {
    pub phase_id: String,
    pub title: String,
    /// milestone or task
    pub kind: String,
    pub owner_id: Option<String>,
    pub starts_on: String,
    pub due_on: String,
    /// not_started when blank
    pub status: Option<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

struct TaskFields {
    phase_id: PhaseId,
    title: String,
    kind: TaskKind,
    owner_id: Option<UserId>,
    starts_on: Date,
    due_on: Date,
    status: TaskStatus,
    depends_on: Vec<TaskId>,
}

async fn task_fields(
    ctx: Ctx<'_>,
    org: OrgId,
    program: &Program,
    input: &TaskInput,
) -> DomainResult<TaskFields> {
    let title = required_text("title", &input.title, 200)?;
    let kind = TaskKind::parse("kind", &input.kind)?;
    let phase_id: PhaseId = parse_id("phase_id", &input.phase_id)?;
    if !ctx
        .store
        .list_phases(program)
        .await?
        .iter()
        .any(|p| p.id == phase_id)
    {
        return Err(DomainError::invalid(
            "phase_id",
            "is not a phase of the program",
        ));
    }
    let owner_id = match input.owner_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let id: UserId = parse_id("owner_id", raw)?;
            match ctx.store.get_user(org, id).await? {
                Some(u) if u.active && u.role != Role::Patient => Some(id),
                _ => return Err(DomainError::invalid("owner_id", "is not a member of staff")),
            }
        }
    };
    let starts_on = parse_date("starts_on", &input.starts_on)?;
    let due_on = parse_date("due_on", &input.due_on)?;
    check_task_dates(program, starts_on, due_on)?;
    let status = match input.status.as_deref().map(str::trim) {
        None | Some("") => TaskStatus::NotStarted,
        Some(raw) => TaskStatus::parse("status", raw)?,
    };
    let mut depends_on = Vec::new();
    for raw in &input.depends_on {
        let id: TaskId = parse_id("depends_on", raw)?;
        if !depends_on.contains(&id) {
            depends_on.push(id);
        }
    }
    Ok(TaskFields {
        phase_id,
        title,
        kind,
        owner_id,
        starts_on,
        due_on,
        status,
        depends_on,
    })
}

pub async fn add_task(ctx: Ctx<'_>, actor: &Actor, input: &TaskInput) -> DomainResult<Task> {
    let org = org_of(actor)?;
    let program = program_of(ctx, org).await?;
    let f = task_fields(ctx, org, &program, input).await?;
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
    input: &TaskInput,
) -> DomainResult<Task> {
    let org = org_of(actor)?;
    let program = program_of(ctx, org).await?;
    let existing = ctx
        .store
        .get_task(org, id)
        .await?
        .ok_or(DomainError::NotFound { resource: "task" })?;
    let f = task_fields(ctx, org, &program, input).await?;
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
            return Err(DomainError::Conflict(format!(
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
        return Err(DomainError::Conflict(
            "the task changed meanwhile; reload it".into(),
        ));
    }
    Ok(task)
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
    let role = GovernanceRole::parse("role", role)?;
    let user_id: UserId = parse_id("user_id", user_id)?;
    let user = match ctx.store.get_user(org, user_id).await? {
        Some(u) if u.active && u.role != Role::Patient => u,
        _ => return Err(DomainError::invalid("user_id", "is not a member of staff")),
    };
    let site_id = match site_id.map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let id: SiteId = parse_id("site_id", raw)?;
            if ctx.store.get_site(org, id).await?.is_none() {
                return Err(DomainError::invalid(
                    "site_id",
                    "is not a site of the organization",
                ));
            }
            Some(id)
        }
    };
    if matches!(
        role,
        GovernanceRole::ClinicalChampion | GovernanceRole::SuperUser
    ) && site_id.is_none()
    {
        return Err(DomainError::invalid(
            "site_id",
            "clinical champions and super-users are named per site",
        ));
    }
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

/// Adds a risk (`id` None) or rewrites one.
pub async fn save_risk(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: Option<RiskId>,
    input: &RiskInput,
) -> DomainResult<Risk> {
    let org = org_of(actor)?;
    let title = required_text("title", &input.title, 200)?;
    let category = RiskCategory::parse("category", &input.category)?;
    check_rating("likelihood", input.likelihood)?;
    check_rating("impact", input.impact)?;
    let mitigation = input.mitigation.trim().to_string();
    if mitigation.chars().count() > 2000 {
        return Err(DomainError::invalid(
            "mitigation",
            "must be at most 2000 characters",
        ));
    }
    let owner_id = match input.owner_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let uid: UserId = parse_id("owner_id", raw)?;
            match ctx.store.get_user(org, uid).await? {
                Some(u) if u.active && u.role != Role::Patient => Some(uid),
                _ => return Err(DomainError::invalid("owner_id", "is not a member of staff")),
            }
        }
    };
    let status = match input.status.as_deref().map(str::trim) {
        None | Some("") => RiskStatus::Open,
        Some(raw) => RiskStatus::parse("status", raw)?,
    };
    let next_review_on = parse_date("next_review_on", &input.next_review_on)?;
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

/// A site's rollout with the computed readiness items filled in.
#[derive(Debug, Clone)]
pub struct SiteReadiness {
    pub site: Site,
    pub rollout: SiteRollout,
    /// Share of the site's clinicians and nurses with a current certification.
    pub certified_pct: i64,
    pub certified: usize,
    pub trained_staff: usize,
    /// Stored rollout's `updated_at`, for the compare-and-set; `None` if never written.
    pub stored_at: Option<Timestamp>,
}

/// Every site with its stage and checklist (computed items from training and the roster).
pub async fn sites(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<SiteReadiness>> {
    let org = org_of(actor)?;
    let now = ctx.clock.now();
    let stored = ctx.store.list_rollouts(org).await?;
    let roster = match ctx.store.get_program(org).await? {
        Some(p) => ctx.store.list_roster(&p).await?,
        None => Vec::new(),
    };
    let users = ctx.store.list_users(org, None).await?;
    // Certified now: a certification valid today (an exception lets someone work, but does not
    // count as certified).
    let certified_now: HashSet<UserId> = ctx
        .store
        .list_certifications(org, None)
        .await?
        .iter()
        .filter(|c| c.valid_at(now))
        .map(|c| c.user_id)
        .collect();
    let mut out = Vec::new();
    for site in ctx.store.list_sites(org).await? {
        let found = stored.iter().find(|r| r.site_id == site.id);
        let mut rollout = found.cloned().unwrap_or_else(|| SiteRollout {
            site_id: site.id,
            org_id: org,
            stage: SiteStage::NotStarted,
            checklist: default_checklist(),
            updated_at: now,
        });
        let staff: Vec<_> = users
            .iter()
            .filter(|u| {
                u.active
                    && u.site_ids.contains(&site.id)
                    && matches!(u.role, Role::Clinician | Role::Nurse)
            })
            .collect();
        let certified = staff
            .iter()
            .filter(|u| certified_now.contains(&u.id))
            .count();
        let certified_pct = (certified as i64 * 100)
            .checked_div(staff.len() as i64)
            .unwrap_or(0);
        let super_user = roster
            .iter()
            .any(|e| e.role == GovernanceRole::SuperUser && e.site_id == Some(site.id));
        for item in &mut rollout.checklist {
            match item.key.as_str() {
                "staff_certified" => {
                    item.done = !staff.is_empty() && certified_pct >= CERTIFIED_SHARE_REQUIRED_PCT
                }
                "super_user_named" => item.done = super_user,
                _ => {}
            }
        }
        out.push(SiteReadiness {
            site,
            rollout,
            certified_pct,
            certified,
            trained_staff: staff.len(),
            stored_at: found.map(|r| r.updated_at),
        });
    }
    Ok(out)
}

async fn site_readiness(ctx: Ctx<'_>, actor: &Actor, site: SiteId) -> DomainResult<SiteReadiness> {
    sites(ctx, actor)
        .await?
        .into_iter()
        .find(|s| s.site.id == site)
        .ok_or(DomainError::NotFound { resource: "site" })
}

fn next_stamp(now: Timestamp, previous: Option<Timestamp>) -> Timestamp {
    match previous {
        Some(p) if p >= now => p.checked_add(SignedDuration::from_micros(1)).unwrap_or(p),
        _ => now,
    }
}

/// Ticks or unticks a checklist item the program manager owns (computed items cannot be set).
pub async fn set_readiness(
    ctx: Ctx<'_>,
    actor: &Actor,
    site: SiteId,
    key: &str,
    done: bool,
) -> DomainResult<SiteRollout> {
    let org = org_of(actor)?;
    let current = site_readiness(ctx, actor, site).await?;
    if matches!(key, "staff_certified" | "super_user_named") {
        return Err(DomainError::invalid(
            "item",
            "this item follows training records and the roster; it cannot be ticked by hand",
        ));
    }
    let mut rollout = current.rollout.clone();
    let item = rollout
        .checklist
        .iter_mut()
        .find(|i| i.key == key)
        .ok_or_else(|| {
            DomainError::invalid("item", format!("'{key}' is not an item of the checklist"))
        })?;
    item.done = done;
    rollout.updated_at = next_stamp(ctx.clock.now(), current.stored_at);
    let audit = entry(ctx, actor, AuditAction::SiteStageChange, "Site", org)
        .resource(site)
        .detail(format!("{key}: {}", if done { "done" } else { "not done" }));
    if !ctx
        .store
        .save_rollout(&rollout, current.stored_at, audit)
        .await?
    {
        return Err(DomainError::Conflict(
            "the site's rollout changed meanwhile; reload it".into(),
        ));
    }
    Ok(rollout)
}

/// Moves a site to another stage (and returns its readiness as it now is). Pilot and live wait for the required readiness items, unless
/// the program manager overrides the gate with a written reason (audited as an override).
pub async fn move_site(
    ctx: Ctx<'_>,
    actor: &Actor,
    site: SiteId,
    to: &str,
    override_reason: Option<&str>,
) -> DomainResult<SiteReadiness> {
    let org = org_of(actor)?;
    let to = SiteStage::parse("stage", to)?;
    let current = site_readiness(ctx, actor, site).await?;
    let reason = override_reason.map(str::trim).filter(|r| !r.is_empty());
    check_stage_move(to, &current.rollout.checklist, reason)?;
    let unmet: Vec<String> = unmet_items(&current.rollout.checklist)
        .into_iter()
        .map(String::from)
        .collect();
    let overridden = matches!(to, SiteStage::Pilot | SiteStage::Live) && !unmet.is_empty();
    let mut rollout = current.rollout.clone();
    let from = rollout.stage;
    rollout.stage = to;
    rollout.updated_at = next_stamp(ctx.clock.now(), current.stored_at);
    let audit = if overridden {
        entry(ctx, actor, AuditAction::SiteGateOverride, "Site", org)
            .resource(site)
            .detail(format!(
                "{} to {} with unmet items ({}): {}",
                from.as_str(),
                to.as_str(),
                unmet.join("; "),
                reason.unwrap_or_default()
            ))
    } else {
        entry(ctx, actor, AuditAction::SiteStageChange, "Site", org)
            .resource(site)
            .detail(format!("{} to {}", from.as_str(), to.as_str()))
    };
    if !ctx
        .store
        .save_rollout(&rollout, current.stored_at, audit)
        .await?
    {
        return Err(DomainError::Conflict(
            "the site's rollout changed meanwhile; reload it".into(),
        ));
    }
    Ok(SiteReadiness {
        stored_at: Some(rollout.updated_at),
        rollout,
        ..current
    })
}

/// The site's measured figures over the last `days`: digital share of meetings held, and the
/// no-show rate, in percent.
pub async fn measured(
    ctx: Ctx<'_>,
    org: OrgId,
    site: SiteId,
    days: i64,
) -> DomainResult<(i64, i64)> {
    let now = ctx.clock.now();
    let from = now
        .checked_sub(SignedDuration::from_hours(24 * days))
        .unwrap_or(now);
    let meetings = ctx.store.meetings(org, Some(site), from, now).await?;
    let digital = meetings.iter().filter(|m| m.digital).count() as i64;
    let digital_pct = (digital * 100)
        .checked_div(meetings.len() as i64)
        .unwrap_or(0);
    let (no_shows, held) = ctx.store.attendance(org, site, from, now).await?;
    let no_show_pct = (no_shows as i64 * 100)
        .checked_div((no_shows + held) as i64)
        .unwrap_or(0);
    Ok((digital_pct, no_show_pct))
}

/// Records a pilot evaluation: the site's measured figures (last 90 days) against the targets,
/// and the go / no-go decision. Only a site in pilot is evaluated.
pub async fn evaluate_pilot(
    ctx: Ctx<'_>,
    actor: &Actor,
    site: SiteId,
    target_digital_pct: i64,
    target_no_show_pct: i64,
    decision: &str,
    notes: &str,
) -> DomainResult<PilotEvaluation> {
    let org = org_of(actor)?;
    let decided_by = actor.user_id().ok_or(DomainError::Forbidden {
        action: "decide on a pilot",
    })?;
    for (field, v) in [
        ("target_digital_pct", target_digital_pct),
        ("target_no_show_pct", target_no_show_pct),
    ] {
        if !(0..=100).contains(&v) {
            return Err(DomainError::invalid(field, "must be between 0 and 100"));
        }
    }
    let decision = Decision::parse("decision", decision)?;
    let notes = notes.trim().to_string();
    if notes.chars().count() > 2000 {
        return Err(DomainError::invalid(
            "notes",
            "must be at most 2000 characters",
        ));
    }
    let current = site_readiness(ctx, actor, site).await?;
    if current.rollout.stage != SiteStage::Pilot {
        return Err(DomainError::Conflict(format!(
            "only a site in pilot is evaluated; {} is {}",
            current.site.name,
            current.rollout.stage.label().to_lowercase()
        )));
    }
    let (measured_digital_pct, measured_no_show_pct) = measured(ctx, org, site, 90).await?;
    let evaluation = PilotEvaluation {
        id: EvaluationId::new(),
        org_id: org,
        site_id: site,
        target_digital_pct,
        measured_digital_pct,
        target_no_show_pct,
        measured_no_show_pct,
        decision,
        notes,
        decided_by,
        decided_at: ctx.clock.now(),
    };
    let audit = entry(ctx, actor, AuditAction::PilotEvaluated, "Site", org)
        .resource(site)
        .detail(format!(
            "{}: digital {}% (target {}%), no-shows {}% (target {}%)",
            decision.as_str(),
            measured_digital_pct,
            target_digital_pct,
            measured_no_show_pct,
            target_no_show_pct
        ));
    ctx.store.record_evaluation(&evaluation, audit).await?;
    Ok(evaluation)
}

pub async fn add_goal(
    ctx: Ctx<'_>,
    actor: &Actor,
    site: Option<&str>,
    target_pct: i64,
    by: &str,
) -> DomainResult<AdoptionGoal> {
    let org = org_of(actor)?;
    if !(1..=100).contains(&target_pct) {
        return Err(DomainError::invalid(
            "target_pct",
            "must be between 1 and 100",
        ));
    }
    let by = parse_date("by", by)?;
    let today = ctx.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date();
    if by <= today {
        return Err(DomainError::invalid("by", "must be in the future"));
    }
    let site_id = match site.map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let id: SiteId = parse_id("site_id", raw)?;
            if ctx.store.get_site(org, id).await?.is_none() {
                return Err(DomainError::invalid(
                    "site_id",
                    "is not a site of the organization",
                ));
            }
            Some(id)
        }
    };
    let goal = AdoptionGoal {
        id: GoalId::new(),
        org_id: org,
        site_id,
        target_pct,
        by,
        created_at: ctx.clock.now(),
    };
    let audit = entry(ctx, actor, AuditAction::GoalCreate, "Goal", org)
        .resource(goal.id)
        .detail(format!("{}% digital by {}", goal.target_pct, goal.by));
    ctx.store.create_goal(&goal, audit).await?;
    Ok(goal)
}

/// Progress of a goal: monthly digital share over the last 24 months, the projection to its
/// date, on track or not. Months are counted in UTC.
pub async fn goal_progress_of(ctx: Ctx<'_>, goal: &AdoptionGoal) -> DomainResult<GoalProgress> {
    let now = ctx.clock.now();
    let from = now
        .checked_sub(SignedDuration::from_hours(24 * 731))
        .unwrap_or(now);
    let meetings = ctx
        .store
        .meetings(goal.org_id, goal.site_id, from, now)
        .await?;
    Ok(goal_progress(goal, &meetings, &jiff::tz::TimeZone::UTC))
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

/// The sites' rollout: stages, readiness and pilot evaluations (newest first).
#[derive(Debug, Clone)]
pub struct Rollout {
    pub sites: Vec<SiteReadiness>,
    pub evaluations: Vec<PilotEvaluation>,
}

pub async fn rollout(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Rollout> {
    let org = org_of(actor)?;
    Ok(Rollout {
        sites: sites(ctx, actor).await?,
        evaluations: ctx.store.list_evaluations(org, None).await?,
    })
}

/// What the program manager's home page shows: the plan, the rollout, and the adoption goals
/// with their progress (the one view that reads the meetings behind the goals).
#[derive(Debug, Clone)]
pub struct Overview {
    pub plan: Plan,
    pub rollout: Rollout,
    pub goals: Vec<(AdoptionGoal, GoalProgress)>,
}

pub async fn overview(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Overview> {
    let org = org_of(actor)?;
    let mut goals = Vec::new();
    for g in ctx.store.list_goals(org).await? {
        let progress = goal_progress_of(ctx, &g).await?;
        goals.push((g, progress));
    }
    Ok(Overview {
        plan: plan(ctx, actor).await?,
        rollout: rollout(ctx, actor).await?,
        goals,
    })
}
