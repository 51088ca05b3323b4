//! The signed-in person behind a page request, and the CSRF check every form post passes.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::auth::actor::{SessionState, SignedIn, session_state};
use crate::auth::{secrets, sessions};
use crate::state::AppState;

use super::form::FormData;
use super::page::{PageError, see_other, with_cookie};

/// A fully signed-in user. Without one, the request is sent to the right step of signing in.
pub struct PageUser(pub SignedIn);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match session_state(parts, state).await {
            Ok(SessionState::Full(signed_in)) => Ok(Self(*signed_in)),
            Ok(SessionState::Pending(..)) => Err(see_other("/signin/code")),
            Ok(SessionState::Expired) => Err(expired(state)),
            // A cookie the server no longer knows is a session that ended: say so.
            Ok(SessionState::None) if sessions::token_from_headers(&parts.headers).is_some() => {
                Err(expired(state))
            }
            Ok(SessionState::None) => Err(see_other("/signin")),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

fn expired(state: &AppState) -> Response {
    with_cookie(
        see_other("/signin?expired=1"),
        &sessions::clear_cookie(state),
    )
}

/// The hidden `csrf` field must match the session's token.
pub fn check_csrf(expected: &str, form: &FormData) -> Result<(), PageError> {
    let sent = form.get("csrf");
    if !sent.is_empty() && secrets::constant_time_eq(sent, expected) {
        Ok(())
    } else {
        Err(PageError::Csrf)
    }
}
