//! Rendering pages, and the error pages (403, 404, 500 and friends) every handler can end in.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::{DomainError, ErrorKind};

use crate::error::ApiError;

/// Renders a template with a status; a template failure becomes the 500 page.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            PageError::Internal.into_response()
        }
    }
}

/// `render` with 200 OK.
pub fn ok(page: &impl Template) -> Response {
    render(StatusCode::OK, page)
}

/// A redirect after a form (303: the browser follows with GET).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A page address with query parameters; blank values are left out.
pub fn href(path: &str, pairs: &[(&str, String)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    match serde_urlencoded::to_string(&kept) {
        Ok(query) if !query.is_empty() => format!("{path}?{query}"),
        _ => path.to_string(),
    }
}

/// Adds a `Set-Cookie` header to a response.
pub fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage {
    title: &'static str,
    message: String,
}

/// How a page request can fail. Internal detail is logged where it happens, never shown.
#[derive(Debug)]
pub enum PageError {
    NotFound,
    Forbidden(String),
    /// The form's CSRF token was missing or wrong.
    Csrf,
    BadRequest(String),
    /// A use case refused the request, with the status of the error table and its sentence.
    Refused(StatusCode, String),
    /// A link that no longer opens anything (a guest's invitation used, expired, or for a visit
    /// that is over).
    Gone(String),
    Internal,
    /// The database cannot take the request right now (full, read-only, unreachable).
    Unavailable,
    Redirect(String),
}

pub type PageResult = Result<Response, PageError>;

impl From<DomainError> for PageError {
    /// The page for an error not shown inside a form: its status from the error table.
    fn from(err: DomainError) -> Self {
        let status = status_of(&err);
        match err.class().kind {
            ErrorKind::NotFound => Self::NotFound,
            ErrorKind::Forbidden => Self::Forbidden(match err {
                DomainError::Forbidden { action } => {
                    format!("You do not have permission to {action}.")
                }
                _ => "This patient is outside your care team. Open the record to request \
                      emergency access."
                    .into(),
            }),
            ErrorKind::Field => Self::Refused(status, err.to_string()),
            // The message says what to do instead.
            ErrorKind::Refusal => Self::Refused(status, capitalise(&err.to_string())),
            ErrorKind::Gone => Self::Gone(capitalise(&err.to_string())),
            ErrorKind::SignIn => match err {
                DomainError::MfaRequired | DomainError::BadMfaCode => {
                    Self::Redirect("/signin/code".into())
                }
                _ => Self::Redirect("/signin".into()),
            },
            ErrorKind::Internal => {
                tracing::error!(detail = %err, "storage failure");
                Self::Internal
            }
            ErrorKind::Unavailable => {
                tracing::error!(detail = %err, "page refused: storage unavailable");
                Self::Unavailable
            }
        }
    }
}

/// The status the error table gives a use case's error.
pub fn status_of(err: &DomainError) -> StatusCode {
    StatusCode::from_u16(err.class().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// "the slot..." becomes "The slot...", and a full stop is added.
pub fn capitalise(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        match err.status {
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::FORBIDDEN => Self::Forbidden(err.message),
            StatusCode::GONE => Self::Gone(err.message),
            StatusCode::BAD_REQUEST => Self::BadRequest(err.message),
            s if s.is_client_error() => Self::Refused(s, err.message),
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable,
            // The API error type has already logged the detail.
            _ => Self::Internal,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::Redirect(to) => return see_other(&to),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "The page or record you asked for does not exist, or you cannot see it. \
                 Check the address, or go back to the start."
                    .to_string(),
            ),
            PageError::Forbidden(message) => (StatusCode::FORBIDDEN, "Not allowed", message),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "The form has expired",
                "The form you sent has expired or did not come from this site. \
                 Go back, reload the page and try again."
                    .to_string(),
            ),
            PageError::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                "Something is wrong with the request",
                message,
            ),
            PageError::Refused(status, message) => (status, "This could not be done", message),
            PageError::Gone(message) => (StatusCode::GONE, "This link no longer works", message),
            PageError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Not saved: please try again in a minute",
                "The service cannot save or open records right now. Nothing was changed. \
                 Please try again in a minute."
                    .to_string(),
            ),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sorry, something went wrong",
                "We could not complete your request. Nothing you did caused this. \
                 Please try again in a moment."
                    .to_string(),
            ),
        };
        let unavailable = status == StatusCode::SERVICE_UNAVAILABLE;
        let page = ErrorPage { title, message };
        let mut response = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "error page rendering failed");
                (status, title).into_response()
            }
        };
        if unavailable {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(crate::error::RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> (StatusCode, String) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn a_storage_failure_shows_the_500_page_without_its_detail() {
        let err = PageError::from(DomainError::Storage("disk full at /var/db/secret".into()));
        let (status, html) = body(err.into_response()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(html.contains("Sorry, something went wrong"));
        assert!(!html.contains("disk full") && !html.contains("/var/db"));
    }

    #[tokio::test]
    async fn not_found_and_forbidden_render_their_pages() {
        let (status, html) = body(PageError::NotFound.into_response()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(html.contains("Page not found"));
        let forbidden = PageError::from(DomainError::Forbidden {
            action: "manage sites",
        });
        let (status, html) = body(forbidden.into_response()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(html.contains("You do not have permission to manage sites."));
    }
}
