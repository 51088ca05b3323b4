//! Extractors that turn a request's bearer token or session cookie into the acting `Actor`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};

use domain::access::{Actor, Principal};
use domain::identity::User;
use domain::store::SessionRecord;

use super::{oauth, secrets, sessions};
use crate::error::ApiError;
use crate::state::AppState;

/// The peer address. Proxy headers are not trusted: they are trivially forged.
pub fn client_ip(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

pub fn actor_for_user(user: &User, ip: Option<String>) -> Actor {
    Actor {
        principal: Principal::User(user.id),
        org_id: Some(user.org_id),
        role: Some(user.role),
        site_ids: user.site_ids.clone(),
        own_patient: user.patient_id,
        scopes: Vec::new(),
        source_ip: ip,
    }
}

/// A signed-in person: their session (for its CSRF token), account, and actor.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: SessionRecord,
    /// The account, with its sites but without the clinician profile (use `users::get` for that).
    pub user: User,
    pub actor: Actor,
}

/// What a session cookie amounts to, if anything.
pub enum SessionState {
    None,
    Expired,
    /// Password accepted; second factor outstanding.
    Pending(Box<SessionRecord>, Box<User>),
    Full(Box<SignedIn>),
}

pub async fn session_state(parts: &Parts, state: &AppState) -> Result<SessionState, ApiError> {
    let Some(token) = sessions::token_from_headers(&parts.headers) else {
        return Ok(SessionState::None);
    };
    let (session, user) = match sessions::load(state, &token).await? {
        Ok(found) => found,
        Err(sessions::SessionProblem::Expired) => return Ok(SessionState::Expired),
        Err(sessions::SessionProblem::Missing) => return Ok(SessionState::None),
    };
    if !user.active {
        state.store.delete_session(&session.token_hash).await?;
        return Ok(SessionState::None);
    }
    if session.mfa_pending {
        return Ok(SessionState::Pending(Box::new(session), Box::new(user)));
    }
    let actor = actor_for_user(&user, client_ip(parts));
    Ok(SessionState::Full(Box::new(SignedIn {
        session,
        user,
        actor,
    })))
}

/// The caller of a JSON API route: a bearer token, or a full session (with the CSRF header on writes).
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts);
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request("the Authorization header must be 'Bearer <token>'")
                })?;
            return match oauth::actor_for_token(state, token, ip).await? {
                Some(actor) => Ok(Self(actor)),
                None => Err(ApiError::new(
                    axum::http::StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "the bearer token is unknown or has expired",
                )),
            };
        }
        match session_state(parts, state).await? {
            SessionState::Full(signed_in) => {
                let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
                if !safe {
                    let sent = parts
                        .headers
                        .get("x-csrf-token")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if !secrets::constant_time_eq(sent, &signed_in.session.csrf_token) {
                        return Err(ApiError::csrf());
                    }
                }
                Ok(Self(signed_in.actor))
            }
            SessionState::Expired => Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "session_expired",
                "the session has expired; sign in again",
            )),
            SessionState::Pending(..) => Err(domain::DomainError::MfaRequired.into()),
            SessionState::None => Err(ApiError::unauthenticated()),
        }
    }
}

/// The caller's address, if the server knows it.
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(parts)))
    }
}

/// Whatever the session cookie amounts to; never rejects.
pub struct CurrentSession(pub SessionState);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(session_state(parts, state).await?))
    }
}
