//! `/api/v1/sites` and `/api/v1/users`: what administrators manage.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use domain::identity::service::org::{self, SiteInput};
use domain::identity::service::users::{self, LicenseInput, UserInput};
use domain::identity::{Role, Site, User};
use domain::ids::UserId;

use crate::auth::actor::ApiActor;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteRequest {
    pub name: String,
    /// Two-letter US state code.
    #[schema(example = "NY")]
    pub state: String,
    /// IANA time zone.
    #[schema(example = "America/New_York")]
    pub time_zone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteResponse {
    pub id: String,
    pub name: String,
    pub state: String,
    pub time_zone: String,
}

impl From<Site> for SiteResponse {
    fn from(s: Site) -> Self {
        Self {
            id: s.id.to_string(),
            name: s.name,
            state: s.state.code().into(),
            time_zone: s.time_zone.as_str().into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteList {
    pub sites: Vec<SiteResponse>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseBody {
    pub state: String,
    pub number: String,
    /// `YYYY-MM-DD`
    pub expires_on: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    pub email: String,
    pub display_name: String,
    /// patient, clinician, nurse, front_desk, site_admin, org_admin, program_manager or auditor
    pub role: String,
    /// At least 12 characters. Staff enrol an authenticator at their first sign-in.
    pub password: String,
    #[serde(default)]
    pub site_ids: Vec<String>,
    /// For a patient account: the patient record it opens.
    pub patient_id: Option<String>,
    /// Clinicians: 10-digit NPI.
    pub npi: Option<String>,
    #[serde(default)]
    pub specialties: Vec<String>,
    #[serde(default)]
    pub licenses: Vec<LicenseBody>,
    /// Clinicians: languages they hold visits in (`en`, `es`); English when left out.
    #[serde(default)]
    pub languages: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub site_ids: Vec<String>,
    pub patient_id: Option<String>,
    pub npi: Option<String>,
    pub specialties: Vec<String>,
    pub languages: Vec<String>,
    pub licenses: Vec<LicenseBody>,
    pub active: bool,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        let clinician = u.clinician.unwrap_or_default();
        Self {
            id: u.id.to_string(),
            email: u.email.to_string(),
            display_name: u.display_name,
            role: u.role.as_str().into(),
            site_ids: u.site_ids.iter().map(ToString::to_string).collect(),
            patient_id: u.patient_id.map(|p| p.to_string()),
            npi: Some(clinician.npi).filter(|n| !n.is_empty()),
            specialties: clinician.specialties,
            languages: clinician.languages,
            licenses: clinician
                .licenses
                .into_iter()
                .map(|l| LicenseBody {
                    state: l.state.code().into(),
                    number: l.number,
                    expires_on: l.expires_on.to_string(),
                })
                .collect(),
            active: u.active,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserResponse>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserListParams {
    /// Only users with this role.
    pub role: Option<String>,
}

/// Sites (clinics) of the caller's organization.
#[utoipa::path(get, path = "/api/v1/sites", tag = "admin",
    responses((status = 200, body = SiteList), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_sites(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<SiteList>> {
    let sites = org::list_sites(state.ctx(), &actor, actor.org()?).await?;
    Ok(Json(SiteList {
        sites: sites.into_iter().map(Into::into).collect(),
    }))
}

/// Add a site (organization administrators).
#[utoipa::path(post, path = "/api/v1/sites", tag = "admin", request_body = SiteRequest,
    responses((status = 201, body = SiteResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn create_site(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<SiteRequest>,
) -> ApiResult<(StatusCode, Json<SiteResponse>)> {
    let input = SiteInput {
        name: body.name,
        state: body.state,
        time_zone: body.time_zone,
    };
    let site = org::create_site(state.ctx(), &actor, actor.org()?, &input).await?;
    Ok((StatusCode::CREATED, Json(site.into())))
}

/// Users of the organization (site administrators see their sites' users).
#[utoipa::path(get, path = "/api/v1/users", tag = "admin", params(UserListParams),
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(params): ApiQuery<UserListParams>,
) -> ApiResult<Json<UserList>> {
    let role = params
        .role
        .as_deref()
        .map(|r| Role::parse("role", r))
        .transpose()?;
    let found = users::list(state.ctx(), &actor, role).await?;
    Ok(Json(UserList {
        users: found.into_iter().map(Into::into).collect(),
    }))
}

/// Create a user. Staff enrol their authenticator at first sign-in.
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = UserRequest,
    responses((status = 201, body = UserResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<UserRequest>,
) -> ApiResult<(StatusCode, Json<UserResponse>)> {
    let input = UserInput {
        email: body.email,
        display_name: body.display_name,
        role: body.role,
        password: body.password,
        site_ids: body.site_ids,
        patient_id: body.patient_id,
        npi: body.npi,
        specialties: body.specialties,
        languages: body.languages,
        licenses: body
            .licenses
            .into_iter()
            .map(|l| LicenseInput {
                state: l.state,
                number: l.number,
                expires_on: l.expires_on,
            })
            .collect(),
    };
    let org = actor.org()?;
    let created = users::create(state.ctx(), &state, &actor, org, &input, false).await?;
    Ok((StatusCode::CREATED, Json(created.user.into())))
}

/// One user: yourself, or anyone in your organization if you manage users.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "admin",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn get_user(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<UserResponse>> {
    Ok(Json(users::get(state.ctx(), &actor, id).await?.into()))
}
