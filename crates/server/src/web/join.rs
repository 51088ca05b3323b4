//! A guest's invitation link, `/join/{token}`. Opening it (GET) only shows whom it is for and a
//! Join button: mail scanners fetch links ahead of people, and a link that works once must not be
//! used up by them. Joining (POST) claims the invitation, gives this browser a guest session of
//! its own, and leads to the call. A used, expired or finished one answers 410 with a clear page.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

use domain::visits::service::guests;

use crate::auth::secrets::{random_token, sha256_hex};
use crate::signaling::connection::GUEST_COOKIE;
use crate::state::AppState;

use super::page::{PageError, PageResult, ok, see_other, with_cookie};

#[derive(Template)]
#[template(path = "pages/join.html")]
struct JoinPage {
    name: String,
    relation: String,
    action: String,
}

/// `GET /join/{token}`: whom the link is for, and the Join button. Nothing is used up.
pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> PageResult {
    // A used, expired or finished invitation is `InviteUnusable`: the 410 page.
    let (invite, _) = guests::peek(state.ctx(), &sha256_hex(&token)).await?;
    Ok(ok(&JoinPage {
        name: invite.name.clone(),
        relation: invite.relation.label().to_lowercase(),
        action: format!("/join/{token}"),
    }))
}

/// A join must come from our own page (the token in the address is what grants it; this stops
/// another site from pushing a browser into a call). Browsers say where a form came from in
/// `Sec-Fetch-Site`; our `no-referrer` policy makes their `Origin` "null", so that is only checked
/// when it names a site.
pub(super) fn from_our_page(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match header("origin") {
        None | Some("null") => true,
        Some(origin) => origin.split_once("://").map(|(_, rest)| rest) == header("host"),
    }
}

/// `POST /join/{token}`: uses the link (once) and opens the call in this browser.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> PageResult {
    if !from_our_page(&headers) {
        return Err(PageError::Csrf);
    }
    let session = random_token();
    // A used, expired or finished invitation is `InviteUnusable`: the 410 page.
    let invite = guests::open(state.ctx(), &sha256_hex(&token), &sha256_hex(&session)).await?;
    let cookie =
        crate::auth::sessions::visit_cookie(&state, GUEST_COOKIE, &session, invite.expires_at);
    Ok(with_cookie(
        see_other(&format!("/visits/{}", invite.appointment_id)),
        &cookie,
    ))
}
