//! `POST /oauth/token`: the OAuth 2.0 client credentials grant (RFC 6749 §4.4), client_secret_basic.
//!
//! Errors here use RFC 6749's own body (`{"error": "invalid_client", ...}`), as OAuth clients expect.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::oauth::{TokenError, issue_token};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    pub grant_type: Option<String>,
    /// Space-separated SMART scopes such as `system/Patient.read`; default: all the client may have.
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub scope: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    pub error: String,
    pub error_description: String,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(OAuthError {
            error: error.into(),
            error_description: description.into(),
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"telemed\""),
        );
    }
    response
}

/// 429 with `Retry-After` in whole seconds (rounded up, so a client never retries too early).
fn too_many_attempts(wait: jiff::SignedDuration) -> Response {
    let seconds = wait.as_secs() + i64::from(wait.subsec_nanos() > 0);
    let mut response = oauth_error(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        &format!("too many failed attempts; retry after {seconds} seconds"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// Credentials from `Authorization: Basic base64(client_id:client_secret)` (each form-urlencoded, RFC 6749 §2.3.1).
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((
        urlencoding::decode(id).ok()?.into_owned(),
        urlencoding::decode(secret).ok()?.into_owned(),
    ))
}

/// Exchange client credentials for a short-lived bearer token.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenResponse), (status = 400, body = OAuthError), (status = 401, body = OAuthError),
        (status = 429, body = OAuthError, description = "Too many failed attempts for this client id or from this address; see Retry-After")),
    security(("client_basic" = [])))]
pub async fn token(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let ip = crate::auth::actor::client_ip(&parts);
    let bytes = match axum::body::to_bytes(body, state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return oauth_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "the request body is too large",
            );
        }
    };
    let form: TokenRequest = match serde_urlencoded::from_bytes(&bytes) {
        Ok(f) => f,
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("malformed form body: {e}"),
            );
        }
    };
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            );
        }
    }
    let Some((client_id, secret)) = basic_credentials(&parts.headers) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "authenticate with HTTP Basic (client_secret_basic)",
        );
    };
    // Both keys are checked before the secret, so a right guess inside a blocked minute is
    // refused like a wrong one and tells the guesser nothing.
    let now = state.clock.now();
    let limit = state.config.token_failures_per_minute;
    let keys = [
        format!("client:{client_id}"),
        format!("address:{}", ip.as_deref().unwrap_or("unknown")),
    ];
    let wait = keys
        .iter()
        .filter_map(|key| state.token_throttle.blocked(key, now, limit))
        .max();
    if let Some(wait) = wait {
        return too_many_attempts(wait);
    }
    match issue_token(&state, &client_id, &secret, form.scope.as_deref(), ip).await {
        Ok(issued) => {
            let mut response = Json(TokenResponse {
                access_token: issued.access_token,
                token_type: "Bearer".into(),
                expires_in: issued.expires_in,
                scope: issued.scope,
            })
            .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(TokenError::InvalidClient) => {
            for key in &keys {
                state.token_throttle.count(key, now);
            }
            oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client or wrong secret",
            )
        }
        Err(TokenError::InvalidScope(why)) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &why)
        }
        Err(TokenError::Internal) => oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the token could not be issued",
        ),
    }
}
