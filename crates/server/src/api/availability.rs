//! `/api/v1/visit-types`, clinicians' availability (weekly hours, leave, extra hours) and
//! publishing slots from it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use domain::ids::{TemplateId, UserId, VisitTypeId};
use domain::scheduling::availability::{TemplateInput, format_time, weekday_name};
use domain::scheduling::service::availability::{self, ExceptionInput, PublishInput};
use domain::scheduling::service::visit_types::{self, VisitTypeInput};
use domain::scheduling::{AvailabilityException, AvailabilityTemplate, VisitType};

use super::appointments::AppointmentResponse;
use crate::auth::actor::ApiActor;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// A visit type as clients send it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitTypeRequest {
    #[schema(example = "Video follow-up")]
    pub name: String,
    /// primary_care, behavioral_health, urgent_care, specialist_consultation,
    /// chronic_care_follow_up, post_acute_check or wellness_screening
    #[schema(example = "primary_care")]
    pub service_line: String,
    /// video, audio_only, in_person or async_e_visit
    #[schema(example = "video")]
    pub modality: String,
    /// any (default), new or follow_up
    pub patient_kind: Option<String>,
    /// A multiple of 5 between 5 and 240.
    #[schema(example = 20)]
    pub duration_minutes: i64,
    /// Patients may book it themselves.
    #[serde(default)]
    pub patient_bookable: bool,
    /// Default true.
    pub active: Option<bool>,
}

impl From<VisitTypeRequest> for VisitTypeInput {
    fn from(r: VisitTypeRequest) -> Self {
        Self {
            name: r.name,
            service_line: r.service_line,
            modality: r.modality,
            patient_kind: r.patient_kind,
            duration_minutes: r.duration_minutes,
            patient_bookable: r.patient_bookable,
            active: r.active,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitTypeResponse {
    pub id: String,
    pub name: String,
    pub service_line: String,
    pub modality: String,
    pub patient_kind: String,
    pub duration_minutes: i64,
    pub patient_bookable: bool,
    pub active: bool,
}

impl From<VisitType> for VisitTypeResponse {
    fn from(v: VisitType) -> Self {
        Self {
            id: v.id.to_string(),
            name: v.name,
            service_line: v.service_line.as_str().into(),
            modality: v.modality.as_str().into(),
            patient_kind: v.patient_kind.as_str().into(),
            duration_minutes: v.duration_minutes,
            patient_bookable: v.patient_bookable,
            active: v.active,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitTypeList {
    pub visit_types: Vec<VisitTypeResponse>,
}

/// Visit types: patients see the ones they may book; staff see all.
#[utoipa::path(get, path = "/api/v1/visit-types", tag = "scheduling",
    responses((status = 200, body = VisitTypeList), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_visit_types(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<VisitTypeList>> {
    let found = visit_types::list(state.ctx(), &actor).await?;
    Ok(Json(VisitTypeList {
        visit_types: found.into_iter().map(Into::into).collect(),
    }))
}

/// Add a visit type (organization administrators).
#[utoipa::path(post, path = "/api/v1/visit-types", tag = "scheduling",
    request_body = VisitTypeRequest,
    responses((status = 201, body = VisitTypeResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn create_visit_type(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<VisitTypeRequest>,
) -> ApiResult<(StatusCode, Json<VisitTypeResponse>)> {
    let created = visit_types::create(state.ctx(), &actor, &body.into()).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Change a visit type; appointments already booked keep their length and modality.
#[utoipa::path(put, path = "/api/v1/visit-types/{id}", tag = "scheduling",
    params(("id" = String, Path, description = "Visit type id")),
    request_body = VisitTypeRequest,
    responses((status = 200, body = VisitTypeResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn update_visit_type(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<VisitTypeId>,
    ApiJson(body): ApiJson<VisitTypeRequest>,
) -> ApiResult<Json<VisitTypeResponse>> {
    let updated = visit_types::update(state.ctx(), &actor, id, &body.into()).await?;
    Ok(Json(updated.into()))
}

/// Weekly hours as clients send them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub site_id: String,
    /// monday ... sunday (or 1 ... 7)
    #[schema(example = "monday")]
    pub weekday: String,
    /// Local time at the site, `HH:MM`.
    #[schema(example = "09:00")]
    pub start_time: String,
    #[schema(example = "12:00")]
    pub end_time: String,
    #[schema(example = 30)]
    pub slot_minutes: i64,
    #[serde(default)]
    pub buffer_minutes: i64,
    #[schema(example = json!(["primary_care"]))]
    pub service_lines: Vec<String>,
    /// `YYYY-MM-DD`
    pub valid_from: String,
    /// Last day, inclusive; open-ended when left out.
    pub valid_until: Option<String>,
}

impl From<TemplateRequest> for TemplateInput {
    fn from(r: TemplateRequest) -> Self {
        Self {
            site_id: r.site_id,
            weekday: r.weekday,
            start_time: r.start_time,
            end_time: r.end_time,
            slot_minutes: r.slot_minutes,
            buffer_minutes: r.buffer_minutes,
            service_lines: r.service_lines,
            valid_from: r.valid_from,
            valid_until: r.valid_until,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateResponse {
    pub id: String,
    pub clinician_id: String,
    pub site_id: String,
    pub weekday: String,
    pub start_time: String,
    pub end_time: String,
    pub slot_minutes: i64,
    pub buffer_minutes: i64,
    pub service_lines: Vec<String>,
    pub valid_from: String,
    pub valid_until: Option<String>,
}

impl From<AvailabilityTemplate> for TemplateResponse {
    fn from(t: AvailabilityTemplate) -> Self {
        Self {
            id: t.id.to_string(),
            clinician_id: t.clinician_id.to_string(),
            site_id: t.site_id.to_string(),
            weekday: weekday_name(t.weekday).into(),
            start_time: format_time(t.start_time),
            end_time: format_time(t.end_time),
            slot_minutes: t.slot_minutes,
            buffer_minutes: t.buffer_minutes,
            service_lines: t
                .service_lines
                .lines()
                .iter()
                .map(|l| l.as_str().to_string())
                .collect(),
            valid_from: t.valid_from.to_string(),
            valid_until: t.valid_until.map(|d| d.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExceptionResponse {
    pub id: String,
    pub clinician_id: String,
    /// leave or extra_hours
    pub kind: String,
    pub site_id: Option<String>,
    pub start: String,
    pub end: String,
    pub slot_minutes: i64,
    pub buffer_minutes: i64,
    pub service_lines: Vec<String>,
    pub reason: Option<String>,
}

impl From<AvailabilityException> for ExceptionResponse {
    fn from(e: AvailabilityException) -> Self {
        Self {
            id: e.id.to_string(),
            clinician_id: e.clinician_id.to_string(),
            kind: e.kind.as_str().into(),
            site_id: e.site_id.map(|s| s.to_string()),
            start: e.start_at.to_string(),
            end: e.end_at.to_string(),
            slot_minutes: e.slot_minutes,
            buffer_minutes: e.buffer_minutes,
            service_lines: e
                .service_lines
                .lines()
                .iter()
                .map(|l| l.as_str().to_string())
                .collect(),
            reason: e.reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityResponse {
    pub templates: Vec<TemplateResponse>,
    /// Leave and extra hours from now on.
    pub exceptions: Vec<ExceptionResponse>,
}

/// A clinician's weekly hours and upcoming leave and extra hours.
#[utoipa::path(get, path = "/api/v1/clinicians/{id}/availability", tag = "scheduling",
    params(("id" = String, Path, description = "Clinician (user) id")),
    responses((status = 200, body = AvailabilityResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get_availability(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<AvailabilityResponse>> {
    let (templates, exceptions) = availability::list(state.ctx(), &actor, id).await?;
    Ok(Json(AvailabilityResponse {
        templates: templates.into_iter().map(Into::into).collect(),
        exceptions: exceptions.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateCreated {
    pub template: TemplateResponse,
    /// Slots published from it for the booking horizon.
    pub published: u64,
}

/// Add weekly hours; their slots are published at once. Hours that would overlap the clinician's
/// other hours at any site are refused (409 availability_overlap).
#[utoipa::path(post, path = "/api/v1/clinicians/{id}/availability/templates", tag = "scheduling",
    params(("id" = String, Path, description = "Clinician (user) id")),
    request_body = TemplateRequest,
    responses((status = 201, body = TemplateCreated), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "overlaps other hours", body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_template(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(body): ApiJson<TemplateRequest>,
) -> ApiResult<(StatusCode, Json<TemplateCreated>)> {
    let (template, published) =
        availability::add_template(state.ctx(), &actor, id, &body.into()).await?;
    Ok((
        StatusCode::CREATED,
        Json(TemplateCreated {
            template: template.into(),
            published,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndTemplateRequest {
    /// The last day the hours apply (`YYYY-MM-DD`).
    pub last_day: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateEnded {
    pub template: TemplateResponse,
    /// Slots after the last day taken off the calendar (booked visits stay until moved).
    pub withdrawn: u64,
}

/// End weekly hours after a day.
#[utoipa::path(post, path = "/api/v1/availability/templates/{id}/end", tag = "scheduling",
    params(("id" = String, Path, description = "Template id")),
    request_body = EndTemplateRequest,
    responses((status = 200, body = TemplateEnded), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn end_template(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<TemplateId>,
    ApiJson(body): ApiJson<EndTemplateRequest>,
) -> ApiResult<Json<TemplateEnded>> {
    let (template, withdrawn) =
        availability::end_template(state.ctx(), &actor, id, &body.last_day).await?;
    Ok(Json(TemplateEnded {
        template: template.into(),
        withdrawn,
    }))
}

/// Leave or extra hours.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionRequest {
    /// leave or extra_hours
    #[schema(example = "leave")]
    pub kind: String,
    /// Extra hours: where they are worked. Also the time zone of local times.
    pub site_id: Option<String>,
    /// `2026-12-24T09:00` (local to the site), `2026-12-24` (its midnight) or an RFC 3339 time.
    #[schema(example = "2026-12-24")]
    pub start: String,
    /// A date alone means "through that day".
    #[schema(example = "2026-12-26")]
    pub end: String,
    /// Extra hours: slot length (default 30).
    pub slot_minutes: Option<i64>,
    pub buffer_minutes: Option<i64>,
    #[serde(default)]
    pub service_lines: Vec<String>,
    pub reason: Option<String>,
}

impl From<ExceptionRequest> for ExceptionInput {
    fn from(r: ExceptionRequest) -> Self {
        Self {
            kind: r.kind,
            site_id: r.site_id,
            start: r.start,
            end: r.end,
            slot_minutes: r.slot_minutes,
            buffer_minutes: r.buffer_minutes,
            service_lines: r.service_lines,
            reason: r.reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExceptionCreated {
    pub exception: ExceptionResponse,
    /// Leave: slots taken off the calendar.
    pub withdrawn: u64,
    /// Extra hours: slots published.
    pub published: u64,
    /// Leave: visits already booked inside it, for the clinic to move.
    pub affected_appointments: Vec<AppointmentResponse>,
}

/// Add leave (withdraws the slots it touches) or extra hours (publishes slots).
#[utoipa::path(post, path = "/api/v1/clinicians/{id}/availability/exceptions", tag = "scheduling",
    params(("id" = String, Path, description = "Clinician (user) id")),
    request_body = ExceptionRequest,
    responses((status = 201, body = ExceptionCreated), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "extra hours overlap other hours", body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_exception(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(body): ApiJson<ExceptionRequest>,
) -> ApiResult<(StatusCode, Json<ExceptionCreated>)> {
    let outcome = availability::add_exception(state.ctx(), &actor, id, &body.into()).await?;
    Ok((
        StatusCode::CREATED,
        Json(ExceptionCreated {
            exception: outcome.exception.into(),
            withdrawn: outcome.withdrawn,
            published: outcome.published,
            affected_appointments: outcome.affected.into_iter().map(Into::into).collect(),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// One clinician; all you manage when left out.
    pub clinician_id: Option<String>,
    /// First day (`YYYY-MM-DD`, default today).
    pub from: Option<String>,
    /// Last day (default: the end of the booking horizon).
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Published {
    /// New slots; slots published before are left as they are.
    pub published: u64,
}

/// Publish slots from availability (the server also does this daily, and whenever hours change).
#[utoipa::path(post, path = "/api/v1/slots/publish", tag = "scheduling",
    request_body = PublishRequest,
    responses((status = 200, body = Published), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn publish_slots(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<PublishRequest>,
) -> ApiResult<Json<Published>> {
    let input = PublishInput {
        clinician_id: body.clinician_id,
        from: body.from,
        to: body.to,
    };
    let published = availability::publish(state.ctx(), &actor, &input).await?;
    Ok(Json(Published { published }))
}
