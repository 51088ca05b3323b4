//! `/api/v1/patients`: create, list, read, change, and emergency access.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use domain::identity::service::patients::{self, PatientInput};
use domain::identity::{Patient, PatientQuery};
use domain::ids::PatientId;

use crate::auth::actor::ApiActor;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

/// A patient as clients send it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientRequest {
    /// Medical record number, unique within the organization.
    #[schema(example = "MRN-000123")]
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    /// `YYYY-MM-DD`
    #[schema(example = "1980-04-12")]
    pub birth_date: String,
    /// female, male, other or unknown
    #[schema(example = "female")]
    pub sex: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: AddressBody,
    /// A language tag such as `en` or `es-US`.
    #[schema(example = "en")]
    pub preferred_language: String,
    /// The clinic that cares for the patient.
    pub primary_site_id: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    /// Two-letter US state code.
    #[schema(example = "NY")]
    pub state: String,
    #[schema(example = "10001")]
    pub postal_code: String,
}

impl From<PatientRequest> for PatientInput {
    fn from(r: PatientRequest) -> Self {
        PatientInput {
            mrn: r.mrn,
            given_name: r.given_name,
            family_name: r.family_name,
            birth_date: r.birth_date,
            sex: r.sex,
            email: r.email,
            phone: r.phone,
            address_line1: r.address.line1,
            address_line2: r.address.line2,
            city: r.address.city,
            state: r.address.state,
            postal_code: r.address.postal_code,
            preferred_language: r.preferred_language,
            primary_site_id: r.primary_site_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientResponse {
    pub id: String,
    pub organization_id: String,
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: String,
    pub sex: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: AddressBody,
    pub preferred_language: String,
    pub primary_site_id: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Patient> for PatientResponse {
    fn from(p: Patient) -> Self {
        Self {
            id: p.id.to_string(),
            organization_id: p.org_id.to_string(),
            mrn: p.mrn,
            given_name: p.given_name,
            family_name: p.family_name,
            birth_date: p.birth_date.to_string(),
            sex: p.sex.as_str().to_string(),
            email: p.email.map(|e| e.to_string()),
            phone: p.phone,
            address: AddressBody {
                line1: p.address.line1,
                line2: p.address.line2,
                city: p.address.city,
                state: p.address.state.code().to_string(),
                postal_code: p.address.postal_code,
            },
            preferred_language: p.preferred_language,
            primary_site_id: p.primary_site_id.to_string(),
            created_at: p.created_at.to_string(),
            updated_at: p.updated_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientList {
    pub patients: Vec<PatientResponse>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Start of a family name, given name or MRN.
    pub q: Option<String>,
    /// 1 to 200; default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// Why the record must be opened now (at least 10 characters).
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BreakGlassResponse {
    pub id: String,
    pub patient_id: String,
    pub expires_at: String,
}

/// Register a patient.
#[utoipa::path(post, path = "/api/v1/patients", tag = "patients",
    request_body = PatientRequest,
    responses(
        (status = 201, body = PatientResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "MRN already used in this organization", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_patient(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<PatientRequest>,
) -> ApiResult<(StatusCode, Json<PatientResponse>)> {
    let org = actor.org()?;
    let patient = patients::create(state.ctx(), &actor, org, &body.into()).await?;
    Ok((StatusCode::CREATED, Json(patient.into())))
}

/// List the patients the caller may see.
#[utoipa::path(get, path = "/api/v1/patients", tag = "patients", params(ListParams),
    responses((status = 200, body = PatientList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_patients(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<PatientList>> {
    let query = PatientQuery {
        text: params.q.filter(|q| !q.trim().is_empty()),
        limit: params.limit.unwrap_or(50),
        offset: params.offset.unwrap_or(0),
        ..PatientQuery::default()
    };
    let found = patients::list(state.ctx(), &actor, query).await?;
    Ok(Json(PatientList {
        patients: found.into_iter().map(Into::into).collect(),
    }))
}

/// Read one patient. Every read is recorded in the audit trail before the answer is sent.
#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients",
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, body = PatientResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get_patient(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<PatientId>,
) -> ApiResult<Json<PatientResponse>> {
    Ok(Json(patients::get(state.ctx(), &actor, id).await?.into()))
}

/// Replace a patient's details.
#[utoipa::path(put, path = "/api/v1/patients/{id}", tag = "patients",
    params(("id" = String, Path, description = "Patient id")),
    request_body = PatientRequest,
    responses((status = 200, body = PatientResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn update_patient(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(body): ApiJson<PatientRequest>,
) -> ApiResult<Json<PatientResponse>> {
    Ok(Json(
        patients::update(state.ctx(), &actor, id, &body.into())
            .await?
            .into(),
    ))
}

/// Emergency access: open a record outside your care team, with a written reason. Flagged for review.
#[utoipa::path(post, path = "/api/v1/patients/{id}/break-glass", tag = "patients",
    params(("id" = String, Path, description = "Patient id")),
    request_body = BreakGlassRequest,
    responses((status = 201, body = BreakGlassResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn break_glass(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(body): ApiJson<BreakGlassRequest>,
) -> ApiResult<(StatusCode, Json<BreakGlassResponse>)> {
    let grant = patients::break_glass(state.ctx(), &actor, id, &body.reason).await?;
    Ok((
        StatusCode::CREATED,
        Json(BreakGlassResponse {
            id: grant.id.to_string(),
            patient_id: grant.patient_id.to_string(),
            expires_at: grant.expires_at.to_string(),
        }),
    ))
}
