//! Telehealth consent: the organization's versioned text and each patient's agreement to it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use domain::compliance::{ConsentDocument, PatientConsent};
use domain::ids::PatientId;
use domain::scheduling::service::consent;

use crate::auth::actor::ApiActor;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentTextResponse {
    pub version: i64,
    pub text: String,
    pub published_at: String,
}

impl From<ConsentDocument> for ConsentTextResponse {
    fn from(d: ConsentDocument) -> Self {
        Self {
            version: d.version,
            text: d.text,
            published_at: d.published_at.to_string(),
        }
    }
}

/// The telehealth consent text patients agree to now.
#[utoipa::path(get, path = "/api/v1/consent/telehealth", tag = "scheduling",
    responses((status = 200, body = ConsentTextResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn current_text(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<ConsentTextResponse>> {
    let org = actor.org()?;
    Ok(Json(consent::current(state.ctx(), org).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentTextRequest {
    /// The new text (at least 40 characters).
    pub text: String,
}

/// Publish a new version of the consent text; patients agree again before their next virtual visit.
#[utoipa::path(post, path = "/api/v1/consent/telehealth", tag = "scheduling",
    request_body = ConsentTextRequest,
    responses((status = 201, body = ConsentTextResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn publish_text(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<ConsentTextRequest>,
) -> ApiResult<(StatusCode, Json<ConsentTextResponse>)> {
    let doc = consent::publish(state.ctx(), &actor, &body.text).await?;
    Ok((StatusCode::CREATED, Json(doc.into())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientConsentResponse {
    pub id: String,
    pub version: i64,
    /// patient or recorded_by_staff
    pub method: String,
    pub recorded_by: Option<String>,
    pub given_at: String,
}

impl From<PatientConsent> for PatientConsentResponse {
    fn from(c: PatientConsent) -> Self {
        Self {
            id: c.id.to_string(),
            version: c.version,
            method: c.method.as_str().into(),
            recorded_by: c.recorded_by.map(|u| u.to_string()),
            given_at: c.given_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentStatusResponse {
    pub current_version: i64,
    /// The patient agreed to the current version.
    pub consented: bool,
    pub consents: Vec<PatientConsentResponse>,
}

/// Whether a patient has agreed to the current telehealth consent.
#[utoipa::path(get, path = "/api/v1/patients/{id}/consent", tag = "scheduling",
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, body = ConsentStatusResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn patient_status(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<PatientId>,
) -> ApiResult<Json<ConsentStatusResponse>> {
    let (doc, given) = consent::status(state.ctx(), &actor, id).await?;
    Ok(Json(ConsentStatusResponse {
        current_version: doc.version,
        consented: given.iter().any(|c| c.version == doc.version),
        consents: given.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiveConsentRequest {
    /// The version read and accepted (must be the current one).
    pub version: i64,
}

/// Record the patient's agreement (the patient, or staff recording a spoken agreement).
#[utoipa::path(post, path = "/api/v1/patients/{id}/consent", tag = "scheduling",
    params(("id" = String, Path, description = "Patient id")),
    request_body = GiveConsentRequest,
    responses((status = 201, body = PatientConsentResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn give(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(body): ApiJson<GiveConsentRequest>,
) -> ApiResult<(StatusCode, Json<PatientConsentResponse>)> {
    let given = consent::give(state.ctx(), &actor, id, body.version).await?;
    Ok((StatusCode::CREATED, Json(given.into())))
}
