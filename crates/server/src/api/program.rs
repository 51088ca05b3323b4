//! `/api/v1/program`, `/api/v1/risks`, `/api/v1/sites/{id}/rollout`, `/api/v1/goals`: the
//! implementation program for program managers and organization administrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use domain::DomainError;
use domain::ids::{RiskId, SiteId, TaskId};
use domain::program::service::{self as program, Overview, RiskInput, TaskCommand};
use domain::program::{AdoptionGoal, GoalProgress, Risk, SiteRollout, Task, TaskKind};

use crate::auth::actor::ApiActor;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    #[schema(example = "Telehealth rollout")]
    pub name: String,
    /// The first day of week 1 (the template spans 48 weeks).
    #[schema(example = "2027-01-04")]
    pub starts_on: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramResponse {
    pub id: String,
    pub name: String,
    pub starts_on: String,
    pub ends_on: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhaseResponse {
    pub id: String,
    pub position: i64,
    pub name: String,
    pub starts_on: String,
    pub ends_on: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskResponse {
    pub id: String,
    pub phase_id: String,
    /// milestone or task
    pub kind: String,
    pub title: String,
    pub owner_id: Option<String>,
    pub starts_on: String,
    pub due_on: String,
    /// not_started, in_progress, blocked or done
    pub status: String,
    pub depends_on: Vec<String>,
    pub late: bool,
}

fn task_response(t: &Task, today: jiff::civil::Date) -> TaskResponse {
    TaskResponse {
        id: t.id.to_string(),
        phase_id: t.phase_id.to_string(),
        kind: t.kind.as_str().into(),
        title: t.title.clone(),
        owner_id: t.owner_id.map(|o| o.to_string()),
        starts_on: t.starts_on.to_string(),
        due_on: t.due_on.to_string(),
        status: t.status.as_str().into(),
        depends_on: t.depends_on.iter().map(ToString::to_string).collect(),
        late: t.is_late(today),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RiskResponse {
    pub id: String,
    pub title: String,
    pub category: String,
    pub likelihood: i64,
    pub impact: i64,
    pub score: i64,
    pub owner_id: Option<String>,
    pub mitigation: String,
    pub status: String,
    pub next_review_on: String,
    pub review_overdue: bool,
}

fn risk_response(r: &Risk, today: jiff::civil::Date) -> RiskResponse {
    RiskResponse {
        id: r.id.to_string(),
        title: r.title.clone(),
        category: r.category.as_str().into(),
        likelihood: r.likelihood,
        impact: r.impact,
        score: r.score(),
        owner_id: r.owner_id.map(|o| o.to_string()),
        mitigation: r.mitigation.clone(),
        status: r.status.as_str().into(),
        next_review_on: r.next_review_on.to_string(),
        review_overdue: r.review_overdue(today),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessItemResponse {
    pub key: String,
    pub label: String,
    pub required: bool,
    pub done: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteRolloutResponse {
    pub site_id: String,
    pub site_name: String,
    /// not_started, preparing, pilot, live or optimising
    pub stage: String,
    pub certified_pct: i64,
    pub checklist: Vec<ReadinessItemResponse>,
}

fn rollout_response(r: &SiteRollout, name: &str, certified_pct: i64) -> SiteRolloutResponse {
    SiteRolloutResponse {
        site_id: r.site_id.to_string(),
        site_name: name.into(),
        stage: r.stage.as_str().into(),
        certified_pct,
        checklist: r
            .checklist
            .iter()
            .map(|i| ReadinessItemResponse {
                key: i.key.clone(),
                label: i.label.clone(),
                required: i.required,
                done: i.done,
            })
            .collect(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonthShareResponse {
    /// The first day of the month.
    pub month: String,
    pub digital: usize,
    pub total: usize,
    pub digital_pct: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GoalResponse {
    pub id: String,
    pub site_id: Option<String>,
    pub target_pct: i64,
    pub by: String,
    pub current_pct: Option<f64>,
    pub projected_pct: Option<f64>,
    pub on_track: bool,
    pub months: Vec<MonthShareResponse>,
}

fn goal_response(g: &AdoptionGoal, p: &GoalProgress) -> GoalResponse {
    GoalResponse {
        id: g.id.to_string(),
        site_id: g.site_id.map(|s| s.to_string()),
        target_pct: g.target_pct,
        by: g.by.to_string(),
        current_pct: p.current_pct,
        projected_pct: p.projected_pct,
        on_track: p.on_track,
        months: p
            .months
            .iter()
            .map(|m| MonthShareResponse {
                month: m.month.to_string(),
                digital: m.digital,
                total: m.total,
                digital_pct: m.pct(),
            })
            .collect(),
    }
}

/// The whole program as the program manager's home page shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewResponse {
    pub program: Option<ProgramResponse>,
    pub phases: Vec<PhaseResponse>,
    pub tasks: Vec<TaskResponse>,
    pub risks: Vec<RiskResponse>,
    pub sites: Vec<SiteRolloutResponse>,
    pub goals: Vec<GoalResponse>,
}

fn overview_response(o: &Overview) -> OverviewResponse {
    let plan = &o.plan;
    OverviewResponse {
        program: plan.program.as_ref().map(|p| ProgramResponse {
            id: p.id.to_string(),
            name: p.name.clone(),
            starts_on: p.starts_on.to_string(),
            ends_on: p.ends_on.to_string(),
        }),
        phases: plan
            .phases
            .iter()
            .map(|p| PhaseResponse {
                id: p.id.to_string(),
                position: p.position,
                name: p.name.clone(),
                starts_on: p.starts_on.to_string(),
                ends_on: p.ends_on.to_string(),
            })
            .collect(),
        tasks: plan
            .tasks
            .iter()
            .map(|t| task_response(t, plan.today))
            .collect(),
        risks: plan
            .risks
            .iter()
            .map(|r| risk_response(r, plan.today))
            .collect(),
        sites: o
            .rollout
            .sites
            .iter()
            .map(|s| rollout_response(&s.rollout, &s.site.name, s.certified_pct))
            .collect(),
        goals: o.goals.iter().map(|(g, p)| goal_response(g, p)).collect(),
    }
}

/// The program: phases, tasks (late flagged), risks, sites with their readiness, goals.
#[utoipa::path(get, path = "/api/v1/program", tag = "program",
    responses((status = 200, body = OverviewResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn program_overview(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<OverviewResponse>> {
    let o = program::overview(state.ctx(), &actor).await?;
    Ok(Json(overview_response(&o)))
}

/// Start the organization's program from the four-phase template.
#[utoipa::path(post, path = "/api/v1/program", tag = "program",
    request_body = StartRequest,
    responses((status = 201, body = ProgramResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn start_program(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<StartRequest>,
) -> ApiResult<(StatusCode, Json<ProgramResponse>)> {
    let p = program::start(state.ctx(), &actor, &body.name, &body.starts_on).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProgramResponse {
            id: p.id.to_string(),
            name: p.name,
            starts_on: p.starts_on.to_string(),
            ends_on: p.ends_on.to_string(),
        }),
    ))
}

/// A milestone or task as written (every field, also on update).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRequest {
    pub phase_id: String,
    pub title: String,
    /// milestone or task
    #[schema(example = "task")]
    pub kind: String,
    pub owner_id: Option<String>,
    #[schema(example = "2027-02-01")]
    pub starts_on: String,
    #[schema(example = "2027-02-28")]
    pub due_on: String,
    /// not_started (default), in_progress, blocked or done
    pub status: Option<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

impl TryFrom<TaskRequest> for TaskCommand {
    type Error = DomainError;

    /// Parses each field into the domain's command; an error names the field.
    fn try_from(r: TaskRequest) -> Result<Self, DomainError> {
        Ok(TaskCommand {
            phase_id: program::parse_id("phase_id", &r.phase_id)?,
            title: r.title,
            kind: TaskKind::parse("kind", &r.kind)?,
            owner_id: TaskCommand::parse_owner(r.owner_id.as_deref())?,
            starts_on: program::parse_date("starts_on", &r.starts_on)?,
            due_on: program::parse_date("due_on", &r.due_on)?,
            status: TaskCommand::parse_status(r.status.as_deref())?,
            depends_on: TaskCommand::parse_depends_on(&r.depends_on)?,
        })
    }
}

fn today(state: &AppState) -> jiff::civil::Date {
    state.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// Add a milestone or task; dates within the program, dependencies without cycles.
#[utoipa::path(post, path = "/api/v1/program/tasks", tag = "program",
    request_body = TaskRequest,
    responses((status = 201, body = TaskResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn add_task(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<TaskRequest>,
) -> ApiResult<(StatusCode, Json<TaskResponse>)> {
    let t = program::add_task(state.ctx(), &actor, &body.try_into()?).await?;
    Ok((StatusCode::CREATED, Json(task_response(&t, today(&state)))))
}

/// Change a task; a dependency that closes a cycle, or "done" before its dependencies, is refused.
#[utoipa::path(put, path = "/api/v1/program/tasks/{id}", tag = "program",
    params(("id" = String, Path, description = "Task id")),
    request_body = TaskRequest,
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn update_task(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<TaskId>,
    ApiJson(body): ApiJson<TaskRequest>,
) -> ApiResult<Json<TaskResponse>> {
    let t = program::update_task(state.ctx(), &actor, id, &body.try_into()?).await?;
    Ok(Json(task_response(&t, today(&state))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskRequest {
    pub title: String,
    /// technical, operational, financial, regulatory or adoption
    #[schema(example = "adoption")]
    pub category: String,
    #[schema(minimum = 1, maximum = 5)]
    pub likelihood: i64,
    #[schema(minimum = 1, maximum = 5)]
    pub impact: i64,
    pub owner_id: Option<String>,
    #[serde(default)]
    pub mitigation: String,
    /// open (default), mitigating or closed
    pub status: Option<String>,
    #[schema(example = "2027-01-15")]
    pub next_review_on: String,
}

impl From<RiskRequest> for RiskInput {
    fn from(r: RiskRequest) -> Self {
        RiskInput {
            title: r.title,
            category: r.category,
            likelihood: r.likelihood,
            impact: r.impact,
            owner_id: r.owner_id,
            mitigation: r.mitigation,
            status: r.status,
            next_review_on: r.next_review_on,
        }
    }
}

/// Add a risk to the register.
#[utoipa::path(post, path = "/api/v1/risks", tag = "program",
    request_body = RiskRequest,
    responses((status = 201, body = RiskResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn add_risk(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<RiskRequest>,
) -> ApiResult<(StatusCode, Json<RiskResponse>)> {
    let r = program::save_risk(state.ctx(), &actor, None, &body.into()).await?;
    Ok((StatusCode::CREATED, Json(risk_response(&r, today(&state)))))
}

/// Rewrite a risk (a review: new ratings, status, next review date).
#[utoipa::path(put, path = "/api/v1/risks/{id}", tag = "program",
    params(("id" = String, Path, description = "Risk id")),
    request_body = RiskRequest,
    responses((status = 200, body = RiskResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn update_risk(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<RiskId>,
    ApiJson(body): ApiJson<RiskRequest>,
) -> ApiResult<Json<RiskResponse>> {
    let r = program::save_risk(state.ctx(), &actor, Some(id), &body.into()).await?;
    Ok(Json(risk_response(&r, today(&state))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageRequest {
    /// not_started, preparing, pilot, live or optimising
    #[schema(example = "pilot")]
    pub stage: String,
    /// Needed (at least 10 characters) to move to pilot or live with required items open; audited.
    pub override_reason: Option<String>,
}

/// Move a site to another rollout stage (pilot and live wait for the readiness checklist).
#[utoipa::path(post, path = "/api/v1/sites/{id}/rollout/stage", tag = "program",
    params(("id" = String, Path, description = "Site id")),
    request_body = StageRequest,
    responses((status = 200, body = SiteRolloutResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn move_site(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<SiteId>,
    ApiJson(body): ApiJson<StageRequest>,
) -> ApiResult<Json<SiteRolloutResponse>> {
    let moved = program::move_site(
        state.ctx(),
        &actor,
        id,
        &body.stage,
        body.override_reason.as_deref(),
    )
    .await?;
    Ok(Json(rollout_response(
        &moved.rollout,
        &moved.site.name,
        moved.certified_pct,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalRequest {
    /// The organization's goal when left out.
    pub site_id: Option<String>,
    #[schema(example = 30, minimum = 1, maximum = 100)]
    pub target_pct: i64,
    #[schema(example = "2028-11-30")]
    pub by: String,
}

/// Add an adoption goal: a share of patient meetings digital by a date.
#[utoipa::path(post, path = "/api/v1/goals", tag = "program",
    request_body = GoalRequest,
    responses((status = 201, body = GoalResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn add_goal(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<GoalRequest>,
) -> ApiResult<(StatusCode, Json<GoalResponse>)> {
    let ctx = state.ctx();
    let g = program::add_goal(
        ctx,
        &actor,
        body.site_id.as_deref(),
        body.target_pct,
        &body.by,
    )
    .await?;
    let p = program::goal_progress_of(ctx, &g).await?;
    Ok((StatusCode::CREATED, Json(goal_response(&g, &p))))
}
