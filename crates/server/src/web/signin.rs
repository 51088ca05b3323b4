//! Signing in (password, then a one-time code or authenticator enrolment for staff) and signing out.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use domain::DomainError;
use domain::identity::User;

use crate::auth::actor::{ClientIp, CurrentSession, SessionState};
use crate::auth::{secrets, sessions, signin, totp};
use crate::state::AppState;

use super::form::{Field, FormData, FormErrors, PageQuery};
use super::page::{PageError, PageResult, render, see_other, with_cookie};
use super::session::check_csrf;

/// The cookie that carries the sign-in form's CSRF token before there is a session.
pub const CSRF_COOKIE: &str = "telemed_csrf";

pub fn csrf_cookie(state: &AppState, token: &str) -> String {
    let secure = if state.config.tls() { "; Secure" } else { "" };
    format!("{CSRF_COOKIE}={token}; Path=/signin; HttpOnly; SameSite=Strict{secure}")
}

fn session_cookie(state: &AppState, token: &str) -> String {
    sessions::cookie(state, token)
}

#[derive(Template)]
#[template(path = "pages/signin.html")]
struct SignInPage {
    csrf: String,
    notice: Option<&'static str>,
    errors: FormErrors,
    email: Field,
    password: Field,
}

impl SignInPage {
    fn new(csrf: String, email: &str, errors: FormErrors) -> Self {
        Self {
            csrf,
            notice: None,
            email: Field::new("email", "Email address", email)
                .kind("email")
                .autocomplete("username")
                .errors(&errors),
            password: Field::new("password", "Password", "")
                .kind("password")
                .autocomplete("current-password")
                .errors(&errors),
            errors,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SignInParams {
    expired: Option<String>,
    locked: Option<String>,
    signed_out: Option<String>,
    reset: Option<String>,
}

/// The sign-in form. A fresh CSRF token goes into a strict cookie and the form.
pub async fn form(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    PageQuery(params): PageQuery<SignInParams>,
) -> Response {
    if let SessionState::Full(_) = session {
        return see_other("/app");
    }
    let token = secrets::random_token();
    let mut page = SignInPage::new(token.clone(), "", FormErrors::default());
    page.notice = if params.locked.is_some() {
        Some(LOCKED)
    } else if params.expired.is_some() {
        Some("Your session expired. Please sign in again.")
    } else if params.signed_out.is_some() {
        Some("You have signed out.")
    } else if params.reset.is_some() {
        Some("Your password has been changed. Sign in with the new one.")
    } else {
        None
    };
    with_cookie(render(StatusCode::OK, &page), &csrf_cookie(&state, &token))
}

const LOCKED: &str = "This account is locked after too many failed attempts. Try again later, or ask your administrator.";

/// Checks the password; patients are signed in, staff go on to their second factor.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    form: FormData,
) -> PageResult {
    let email = form.get("email").trim().to_string();
    let cookie = sessions::cookie_value(&headers, CSRF_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !secrets::constant_time_eq(&cookie, form.get("csrf")) {
        let token = secrets::random_token();
        let mut errors = FormErrors::default();
        errors.form("The sign-in form expired. Please try again.");
        let page = SignInPage::new(token.clone(), &email, errors);
        return Ok(with_cookie(
            render(StatusCode::FORBIDDEN, &page),
            &csrf_cookie(&state, &token),
        ));
    }
    let mut errors = FormErrors::default();
    if email.is_empty() {
        errors.field("email", "Enter your email address.");
    }
    if form.get("password").is_empty() {
        errors.field("password", "Enter your password.");
    }
    if !errors.is_empty() {
        let page = SignInPage::new(cookie, &email, errors);
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let (user, next) =
        match signin::password(&state, &email, form.get("password"), ip.clone()).await {
            Ok(found) => found,
            Err(DomainError::BadCredentials) => {
                let mut errors = FormErrors::default();
                errors.form("The email address or password is incorrect.");
                let page = SignInPage::new(cookie, &email, errors);
                return Ok(render(StatusCode::UNAUTHORIZED, &page));
            }
            Err(DomainError::AccountLocked) => {
                let mut errors = FormErrors::default();
                errors.form(LOCKED);
                let page = SignInPage::new(cookie, &email, errors);
                return Ok(render(StatusCode::LOCKED, &page));
            }
            Err(err @ DomainError::TooManyAttempts) => {
                let mut errors = FormErrors::default();
                errors.form(err.to_string());
                let page = SignInPage::new(cookie, &email, errors);
                return Ok(render(StatusCode::TOO_MANY_REQUESTS, &page));
            }
            Err(other) => return Err(other.into()),
        };
    // A half-finished earlier sign-in in this browser is replaced, not left lying around.
    if let Some(old) = sessions::token_from_headers(&headers) {
        sessions::end(&state, &old).await?;
    }
    let pending = next != signin::Next::SignedIn;
    let (token, _) = sessions::start(&state, &user, pending, ip).await?;
    let to = match next {
        signin::Next::SignedIn => "/app",
        signin::Next::Code => "/signin/code",
        signin::Next::Enrol => "/signin/enrol",
    };
    Ok(with_cookie(see_other(to), &session_cookie(&state, &token)))
}

/// The half-signed-in person: password accepted, second factor outstanding.
struct Pending {
    csrf: String,
    user: User,
}

fn pending(session: SessionState) -> Result<Pending, PageError> {
    match session {
        SessionState::Pending(record, user) => Ok(Pending {
            csrf: record.csrf_token,
            user: *user,
        }),
        SessionState::Full(_) => Err(PageError::Redirect("/app".into())),
        SessionState::Expired => Err(PageError::Redirect("/signin?expired=1".into())),
        SessionState::None => Err(PageError::Redirect("/signin".into())),
    }
}

/// Replaces the pending session by a full one (a new token, so the old cookie is worth nothing).
async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    ip: Option<String>,
) -> Result<String, PageError> {
    if let Some(old) = sessions::token_from_headers(headers) {
        sessions::end(state, &old).await?;
    }
    let (token, _) = sessions::start(state, user, false, ip).await?;
    Ok(session_cookie(state, &token))
}

#[derive(Template)]
#[template(path = "pages/signin_code.html")]
struct CodePage {
    csrf: String,
    errors: FormErrors,
    code: Field,
}

impl CodePage {
    fn new(csrf: String, errors: FormErrors) -> Self {
        Self {
            csrf,
            code: Field::new("code", "Code", "")
                .autocomplete("one-time-code")
                .inputmode("numeric")
                .hint("The six-digit code from your authenticator app, or one of your recovery codes.")
                .errors(&errors),
            errors,
        }
    }
}

pub async fn code_form(CurrentSession(session): CurrentSession) -> PageResult {
    let pending = pending(session)?;
    Ok(render(
        StatusCode::OK,
        &CodePage::new(pending.csrf, FormErrors::default()),
    ))
}

/// Checks the one-time (or recovery) code and completes the sign-in.
pub async fn code_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    CurrentSession(session): CurrentSession,
    form: FormData,
) -> PageResult {
    let pending = pending(session)?;
    check_csrf(&pending.csrf, &form)?;
    let code = form.get("code").trim();
    if code.is_empty() {
        let mut errors = FormErrors::default();
        errors.field("code", "Enter the code from your authenticator app.");
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &CodePage::new(pending.csrf, errors),
        ));
    }
    match signin::second_factor(&state, &pending.user, code, ip.clone()).await {
        Ok(()) => {
            let cookie = complete(&state, &headers, &pending.user, ip).await?;
            Ok(with_cookie(see_other("/app"), &cookie))
        }
        Err(DomainError::BadMfaCode) => {
            let mut errors = FormErrors::default();
            errors.field(
                "code",
                "That code is not right. Codes change every 30 seconds; enter the current one.",
            );
            Ok(render(
                StatusCode::UNAUTHORIZED,
                &CodePage::new(pending.csrf, errors),
            ))
        }
        Err(err @ DomainError::TooManyAttempts) => {
            let mut errors = FormErrors::default();
            errors.form(err.to_string());
            Ok(render(
                StatusCode::TOO_MANY_REQUESTS,
                &CodePage::new(pending.csrf, errors),
            ))
        }
        Err(DomainError::AccountLocked) => locked(&state, &headers).await,
        Err(DomainError::MfaRequired) => Ok(see_other("/signin/enrol")),
        Err(other) => Err(other.into()),
    }
}

/// Ends the pending session of a locked account and says why.
async fn locked(state: &AppState, headers: &HeaderMap) -> PageResult {
    if let Some(token) = sessions::token_from_headers(headers) {
        sessions::end(state, &token).await?;
    }
    Ok(with_cookie(
        see_other("/signin?locked=1"),
        &sessions::clear_cookie(state),
    ))
}

#[derive(Template)]
#[template(path = "pages/signin_enrol.html")]
struct EnrolPage {
    csrf: String,
    errors: FormErrors,
    code: Field,
    /// `data:image/svg+xml;base64,...` of the QR code.
    qr_data_url: String,
    /// The secret in groups of four, for typing in by hand.
    secret_groups: String,
    account: String,
}

async fn enrol_page(
    state: &AppState,
    pending: Pending,
    errors: FormErrors,
) -> Result<EnrolPage, PageError> {
    let secret = match signin::enrolment_secret(state, &pending.user).await {
        Ok(secret) => secret,
        // Already enrolled: the code page is the way on.
        Err(DomainError::Forbidden { .. }) => {
            return Err(PageError::Redirect("/signin/code".into()));
        }
        Err(other) => return Err(other.into()),
    };
    let account = pending.user.email.to_string();
    let svg = totp::otpauth_uri(&secret, &account)
        .and_then(|uri| totp::qr_svg(&uri))
        .ok_or_else(|| {
            tracing::error!("could not build the enrolment QR code");
            PageError::Internal
        })?;
    Ok(EnrolPage {
        csrf: pending.csrf,
        code: Field::new("code", "Code from your app", "")
            .autocomplete("one-time-code")
            .inputmode("numeric")
            .hint("After adding the account, enter the six-digit code your app shows.")
            .errors(&errors),
        errors,
        qr_data_url: format!(
            "data:image/svg+xml;base64,{}",
            STANDARD.encode(svg.as_bytes())
        ),
        secret_groups: group_secret(&secret),
        account,
    })
}

fn group_secret(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn enrol_form(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> PageResult {
    let pending = pending(session)?;
    let page = enrol_page(&state, pending, FormErrors::default()).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "pages/signin_recovery.html")]
struct RecoveryCodesPage {
    codes: Vec<String>,
}

/// Confirms the authenticator with a first code, completes the sign-in, and shows recovery codes once.
pub async fn enrol_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    CurrentSession(session): CurrentSession,
    form: FormData,
) -> PageResult {
    let pending = pending(session)?;
    check_csrf(&pending.csrf, &form)?;
    let code = form.get("code").trim().to_string();
    let mut errors = FormErrors::default();
    if code.is_empty() {
        errors.field(
            "code",
            "Enter the six-digit code from your authenticator app.",
        );
        let page = enrol_page(&state, pending, errors).await?;
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    match signin::confirm_enrolment(&state, &pending.user, &code, ip.clone()).await {
        Ok(codes) => {
            let cookie = complete(&state, &headers, &pending.user, ip).await?;
            // The codes exist only in this response: it is rendered, not redirected to.
            Ok(with_cookie(
                render(StatusCode::OK, &RecoveryCodesPage { codes }),
                &cookie,
            ))
        }
        Err(DomainError::BadMfaCode) => {
            errors.field(
                "code",
                "That code is not right. Check the time on your phone and enter the current code.",
            );
            let page = enrol_page(&state, pending, errors).await?;
            Ok(render(StatusCode::UNAUTHORIZED, &page))
        }
        Err(DomainError::AccountLocked) => locked(&state, &headers).await,
        Err(DomainError::Forbidden { .. }) => Ok(see_other("/signin/code")),
        Err(other) => Err(other.into()),
    }
}

/// Ends the session (full or half-finished), records it, and clears the cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    CurrentSession(session): CurrentSession,
    form: FormData,
) -> PageResult {
    let (csrf, user) = match session {
        SessionState::Full(signed_in) => (signed_in.session.csrf_token, Some(signed_in.user)),
        SessionState::Pending(record, _) => (record.csrf_token, None),
        SessionState::None | SessionState::Expired => {
            return Ok(with_cookie(
                see_other("/signin"),
                &sessions::clear_cookie(&state),
            ));
        }
    };
    check_csrf(&csrf, &form)?;
    if let Some(token) = sessions::token_from_headers(&headers) {
        sessions::end(&state, &token).await?;
    }
    if let Some(user) = user {
        signin::record_sign_out(&state, &user, ip).await?;
    }
    Ok(with_cookie(
        see_other("/signin?signed_out=1"),
        &sessions::clear_cookie(&state),
    )
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_grouped_for_reading() {
        assert_eq!(group_secret("ABCDEFGHIJ"), "ABCD EFGH IJ");
    }
}
