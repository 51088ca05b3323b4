//! `/api/v1/session`: sign in with a password and a one-time code, who am I, sign out.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use domain::DomainError;
use domain::compliance::{AuditAction, AuditActor, AuditEntry};

use crate::auth::actor::{ApiActor, ClientIp, CurrentSession, SessionState};
use crate::auth::{sessions, signin};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// Six-digit code from the authenticator app, or a recovery code.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// `signed_in`, `mfa_required` (send a code), or `enrolment_required` (enrol in the web app first).
    pub status: String,
    /// Send this as `X-CSRF-Token` on every write made with the session cookie.
    pub csrf_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub organization_id: Option<String>,
    pub role: Option<String>,
    pub patient_id: Option<String>,
}

fn with_cookie(state: &AppState, token: &str, body: SessionResponse) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&sessions::cookie(state, token)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Sign in with email and password. Staff then send a one-time code to `/api/v1/session/code`.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = SignInRequest,
    responses((status = 200, body = SessionResponse), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 423, description = "account locked", body = ErrorBody)))]
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<SignInRequest>,
) -> ApiResult<Response> {
    let (user, next) = signin::password(&state, &body.email, &body.password, ip.clone()).await?;
    let (token, session) =
        sessions::start(&state, &user, next != signin::Next::SignedIn, ip).await?;
    let status = match next {
        signin::Next::SignedIn => "signed_in",
        signin::Next::Code => "mfa_required",
        signin::Next::Enrol => "enrolment_required",
    };
    Ok(with_cookie(
        &state,
        &token,
        SessionResponse {
            status: status.into(),
            csrf_token: session.csrf_token,
        },
    ))
}

/// Second step for staff: a one-time code (or recovery code). Replaces the half-session by a full one.
#[utoipa::path(post, path = "/api/v1/session/code", tag = "session", request_body = CodeRequest,
    responses((status = 200, body = SessionResponse), (status = 401, body = ErrorBody), (status = 423, body = ErrorBody)))]
pub async fn second_factor(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CurrentSession(session): CurrentSession,
    ApiJson(body): ApiJson<CodeRequest>,
) -> ApiResult<Response> {
    let SessionState::Pending(pending, user) = session else {
        return Err(ApiError::unauthenticated());
    };
    signin::second_factor(&state, &user, &body.code, ip.clone()).await?;
    state.store.delete_session(&pending.token_hash).await?;
    let (token, session) = sessions::start(&state, &user, false, ip).await?;
    Ok(with_cookie(
        &state,
        &token,
        SessionResponse {
            status: "signed_in".into(),
            csrf_token: session.csrf_token,
        },
    ))
}

/// Who the caller is.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn me(ApiActor(actor): ApiActor) -> Json<MeResponse> {
    let (user_id, client_id) = match actor.principal {
        domain::Principal::User(id) => (Some(id.to_string()), None),
        domain::Principal::Client(id) => (None, Some(id.to_string())),
        // Never reached: the API knows no join link's session.
        domain::Principal::Operator | domain::Principal::VisitLink { .. } => (None, None),
    };
    Json(MeResponse {
        user_id,
        client_id,
        organization_id: actor.org_id.map(|o| o.to_string()),
        role: actor.role.map(|r| r.as_str().to_string()),
        patient_id: actor.own_patient.map(|p| p.to_string()),
    })
}

/// Sign out: ends the session on the server and clears the cookie.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "signed out"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiActor(actor): ApiActor,
) -> ApiResult<Response> {
    let token = sessions::token_from_headers(&headers).ok_or_else(ApiError::unauthenticated)?;
    sessions::end(&state, &token).await?;
    if let (Some(user), Some(org)) = (actor.user_id(), actor.org_id) {
        let role = actor.role.ok_or(DomainError::MfaRequired)?;
        let audit = AuditEntry::new(
            state.clock.now(),
            AuditActor::User { id: user, role },
            AuditAction::SignOut,
            "User",
        )
        .org(org)
        .resource(user)
        .from_ip(actor.source_ip.clone());
        state.store.record_audit(audit).await?;
    }
    let mut response = axum::http::StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&sessions::clear_cookie(&state)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}
