//! Clinicians' private calendar feeds: a secret link (issued here) their calendar app polls.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use domain::scheduling::service::calendar;

use crate::auth::actor::ApiActor;
use crate::auth::secrets::{random_token, sha256_hex};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::reminders::visit_event;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeedResponse {
    /// Shown once: add it to a calendar app as a subscription. A new link replaces the old one.
    pub url: String,
}

/// Clinicians: a new private link to their visits as an iCalendar feed (the old one stops working).
#[utoipa::path(post, path = "/api/v1/me/calendar-feed", tag = "scheduling",
    responses((status = 201, body = CalendarFeedResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn issue(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<(StatusCode, Json<CalendarFeedResponse>)> {
    let url = issue_feed(&state, &actor).await?;
    Ok((StatusCode::CREATED, Json(CalendarFeedResponse { url })))
}

/// Makes a token, stores its hash, and returns the feed's address.
pub async fn issue_feed(
    state: &AppState,
    actor: &domain::Actor,
) -> Result<String, domain::DomainError> {
    let token = random_token();
    calendar::issue(state.ctx(), actor, &sha256_hex(&token)).await?;
    Ok(format!(
        "{}/calendar/{token}.ics",
        state.config.public_base()
    ))
}

/// The feed itself: the token in the address is the credential. Visits only, never patient details.
#[utoipa::path(get, path = "/calendar/{file}", tag = "scheduling",
    params(("file" = String, Path, description = "TOKEN.ics")),
    responses((status = 200, description = "text/calendar", content_type = "text/calendar"),
        (status = 404, body = ErrorBody)))]
pub async fn feed(
    State(state): State<AppState>,
    ApiPath(file): ApiPath<String>,
) -> ApiResult<Response> {
    let token = file.strip_suffix(".ics").unwrap_or(&file);
    if token.is_empty() || token.len() > 200 {
        return Err(ApiError::not_found("calendar"));
    }
    let feed = calendar::feed(state.ctx(), &sha256_hex(token)).await?;
    let events: Vec<_> = feed
        .appointments
        .iter()
        .filter_map(|a| {
            let site = feed.sites.iter().find(|s| s.id == a.site_id)?;
            Some(visit_event(&state, a, &feed.clinician.display_name, site))
        })
        .collect();
    let body = crate::ics::calendar(
        &format!("Telemed: {}", feed.clinician.display_name),
        &events,
        state.clock.now(),
    );
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    Ok(response)
}
