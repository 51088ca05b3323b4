//! `/api/v1/queue`: the on-demand (urgent care) queue.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use domain::ids::QueueEntryId;
use domain::scheduling::service::queue::{self, JoinQueueInput, QueuePlace};

use super::appointments::AppointmentResponse;
use crate::auth::actor::ApiActor;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct QueuePlaceResponse {
    pub entry_id: String,
    pub patient_id: String,
    /// waiting, taken or left
    pub status: String,
    pub patient_state: String,
    pub service_line: String,
    pub joined_at: String,
    /// 1 = next; 0 once no longer waiting.
    pub position: i64,
    pub clinicians_on_duty: i64,
    /// Unknown while no clinician is on duty.
    pub estimated_wait_minutes: Option<i64>,
    /// The visit, once a clinician took the patient.
    pub appointment_id: Option<String>,
}

impl From<QueuePlace> for QueuePlaceResponse {
    fn from(p: QueuePlace) -> Self {
        Self {
            entry_id: p.entry.id.to_string(),
            patient_id: p.entry.patient_id.to_string(),
            status: p.entry.status.as_str().into(),
            patient_state: p.entry.patient_state.code().into(),
            service_line: p.entry.service_line.as_str().into(),
            joined_at: p.entry.joined_at.to_string(),
            position: p.position,
            clinicians_on_duty: p.clinicians_on_duty,
            estimated_wait_minutes: p.estimated_wait_minutes,
            appointment_id: p.entry.appointment_id.map(|a| a.to_string()),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinQueueRequest {
    /// Staff add a patient; a patient joins themselves.
    pub patient_id: Option<String>,
    /// Where the patient is right now.
    #[schema(example = "NY")]
    pub patient_state: String,
    /// Default urgent_care.
    pub service_line: Option<String>,
    pub reason: Option<String>,
}

/// Join the queue for the next available clinician licensed in your state.
#[utoipa::path(post, path = "/api/v1/queue", tag = "scheduling",
    request_body = JoinQueueRequest,
    responses((status = 201, body = QueuePlaceResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "already waiting", body = ErrorBody),
        (status = 422, description = "consent_required or invalid input", body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn join(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<JoinQueueRequest>,
) -> ApiResult<(StatusCode, Json<QueuePlaceResponse>)> {
    let input = JoinQueueInput {
        patient_id: body.patient_id,
        patient_state: body.patient_state,
        service_line: body.service_line,
        reason: body.reason,
    };
    let place = queue::join(state.ctx(), &actor, &input).await?;
    Ok((StatusCode::CREATED, Json(place.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PlaceParams {
    /// Staff: whose place; a patient sees their own.
    pub patient_id: Option<String>,
}

/// The patient's place in the queue and the expected wait.
#[utoipa::path(get, path = "/api/v1/queue/me", tag = "scheduling", params(PlaceParams),
    responses((status = 200, body = QueuePlaceResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "never joined", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn my_place(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(p): ApiQuery<PlaceParams>,
) -> ApiResult<Json<QueuePlaceResponse>> {
    match queue::my_place(state.ctx(), &actor, p.patient_id.as_deref()).await? {
        Some(place) => Ok(Json(place.into())),
        None => Err(ApiError::not_found("queue entry")),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueList {
    pub waiting: Vec<QueuePlaceResponse>,
}

/// Everyone waiting, oldest first (staff). Audited.
#[utoipa::path(get, path = "/api/v1/queue", tag = "scheduling",
    responses((status = 200, body = QueueList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn waiting(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<QueueList>> {
    let places = queue::waiting(state.ctx(), &actor).await?;
    Ok(Json(QueueList {
        waiting: places.into_iter().map(Into::into).collect(),
    }))
}

/// Leave the queue.
#[utoipa::path(post, path = "/api/v1/queue/{id}/leave", tag = "scheduling",
    params(("id" = String, Path, description = "Queue entry id")),
    responses((status = 204, description = "left"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn leave(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<QueueEntryId>,
) -> ApiResult<StatusCode> {
    queue::leave(state.ctx(), &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TakeRequest {
    /// Only patients of this service line.
    pub service_line: Option<String>,
}

/// Clinicians: take the longest-waiting patient you are licensed to see. 204 when nobody waits.
#[utoipa::path(post, path = "/api/v1/queue/take", tag = "scheduling",
    request_body = TakeRequest,
    responses((status = 201, body = AppointmentResponse), (status = 204, description = "nobody is waiting"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "clinician_busy", body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn take(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<TakeRequest>,
) -> ApiResult<Response> {
    Ok(
        match queue::take_next(state.ctx(), &actor, body.service_line.as_deref()).await? {
            Some(visit) => {
                (StatusCode::CREATED, Json(AppointmentResponse::from(visit))).into_response()
            }
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}
