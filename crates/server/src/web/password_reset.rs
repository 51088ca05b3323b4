//! A forgotten password: `/signin/forgot` asks for the address and emails a one-time link;
//! `/signin/reset/{token}` sets a new password with it. The answer to a request is the same
//! whether or not an account exists, and the email goes out in the background so the time
//! taken does not tell either. Staff keep their authenticator: they sign in with it afterwards.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use domain::DomainError;
use domain::identity::service::account;
use domain::identity::{ResetPolicy, User};

use crate::auth::actor::ClientIp;
use crate::auth::{secrets, sessions};
use crate::mail::Email;
use crate::state::AppState;

use super::form::{Field, FormData, FormErrors};
use super::page::{PageError, PageResult, render, see_other, with_cookie};
use super::signin::{CSRF_COOKIE, csrf_cookie};

#[derive(Template)]
#[template(path = "pages/signin_forgot.html")]
struct ForgotPage {
    csrf: String,
    errors: FormErrors,
    email: Field,
    /// The request was taken: say what happens next, whatever the address.
    sent: bool,
}

impl ForgotPage {
    fn new(csrf: String, email: &str, errors: FormErrors) -> Self {
        Self {
            csrf,
            email: Field::new("email", "Email address", email)
                .kind("email")
                .autocomplete("username")
                .hint("The address you sign in with.")
                .errors(&errors),
            errors,
            sent: false,
        }
    }
}

fn fresh(
    state: &AppState,
    page: impl FnOnce(String) -> ForgotPage,
    status: StatusCode,
) -> Response {
    let token = secrets::random_token();
    with_cookie(
        render(status, &page(token.clone())),
        &csrf_cookie(state, &token),
    )
}

pub(super) fn form_cookie_ok(headers: &HeaderMap, form: &FormData) -> Option<String> {
    let cookie = sessions::cookie_value(headers, CSRF_COOKIE).unwrap_or_default();
    (!cookie.is_empty() && secrets::constant_time_eq(&cookie, form.get("csrf"))).then_some(cookie)
}

pub async fn forgot_form(State(state): State<AppState>) -> Response {
    fresh(
        &state,
        |csrf| ForgotPage::new(csrf, "", FormErrors::default()),
        StatusCode::OK,
    )
}

/// The page a reset link opens.
pub(super) fn reset_link(state: &AppState, token: &str) -> String {
    format!("{}/signin/reset/{token}", state.config.public_base())
}

/// The reset email: the link and how long it lasts, nothing about the account or its care.
fn reset_email(state: &AppState, to: &str, token: &str, minutes: i64) -> Email {
    Email {
        to: to.to_string(),
        subject: "Reset your Telemed password".into(),
        text: format!(
            "Someone (we hope you) asked to reset the password of the Telemed account for this \
             address.\n\nTo choose a new password, open this link within {minutes} minutes:\n{}\n\n\
             The link works once. If you did not ask, ignore this email: your password stays as it is.\n",
            reset_link(state, token)
        ),
        calendar: None,
    }
}

/// Emails `user` the link of `token` in the background (the answer does not wait for the mail
/// server, so its timing says nothing). `false` when this server sends no email.
pub(super) fn send_reset_link(
    state: &AppState,
    user: &User,
    token: &str,
    policy: ResetPolicy,
) -> bool {
    let Some(mailer) = &state.mailer else {
        return false;
    };
    let email = reset_email(state, user.email.as_str(), token, policy.lifetime.as_mins());
    let mailer = mailer.clone();
    let id = user.id;
    tokio::spawn(async move {
        if let Err(problem) = mailer.send(&email).await {
            tracing::warn!(user = %id, %problem, "password reset email failed");
        }
    });
    true
}

pub async fn forgot_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    form: FormData,
) -> PageResult {
    let email = form.get("email").trim().to_string();
    let Some(csrf) = form_cookie_ok(&headers, &form) else {
        let mut errors = FormErrors::default();
        errors.form("The form expired. Please try again.");
        return Ok(fresh(
            &state,
            |csrf| ForgotPage::new(csrf, &email, errors),
            StatusCode::FORBIDDEN,
        ));
    };
    if email.is_empty() || !email.contains('@') {
        let mut errors = FormErrors::default();
        errors.field("email", "Enter the email address you sign in with.");
        let page = ForgotPage::new(csrf, &email, errors);
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    // One address may not send links to many accounts (nor flood one inbox).
    if let Some(ip) = &ip
        && !state.sign_in_throttle.allow(
            &format!("reset {ip}"),
            state.clock.now(),
            state.config.sign_in_attempts_per_minute,
        )
    {
        let mut errors = FormErrors::default();
        errors.form(DomainError::TooManyAttempts.to_string());
        let page = ForgotPage::new(csrf, &email, errors);
        return Ok(render(StatusCode::TOO_MANY_REQUESTS, &page));
    }
    let token = secrets::random_token();
    let policy = ResetPolicy::default();
    let found = account::request_password_reset(
        state.ctx(),
        &email,
        &secrets::sha256_hex(&token),
        ip,
        policy,
    )
    .await?;
    if let Some(user) = found
        && !send_reset_link(&state, &user, &token, policy)
    {
        tracing::warn!(
            user = %user.id,
            "a password reset was asked for but no SMTP server is configured"
        );
    }
    let mut page = ForgotPage::new(csrf, &email, FormErrors::default());
    page.sent = true;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "pages/signin_reset.html")]
struct ResetPage {
    csrf: String,
    action: String,
    errors: FormErrors,
    new_password: Field,
    confirm_password: Field,
}

impl ResetPage {
    fn new(csrf: String, token: &str, errors: FormErrors) -> Self {
        let field = |name: &str, label: &str| {
            Field::new(name, label, "")
                .kind("password")
                .autocomplete("new-password")
                .errors(&errors)
        };
        Self {
            csrf,
            action: format!("/signin/reset/{token}"),
            new_password: field("new_password", "New password")
                .hint("At least 12 characters. A few unrelated words make a good one."),
            confirm_password: field("confirm_password", "New password again"),
            errors,
        }
    }
}

/// Tokens are 43 characters of URL-safe base64; anything else is not a link we sent.
fn token_hash(raw: &str) -> Result<String, PageError> {
    let plausible = (20..=100).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plausible {
        Ok(secrets::sha256_hex(raw))
    } else {
        Err(PageError::Gone(super::page::capitalise(
            domain::identity::LINK_UNUSABLE,
        )))
    }
}

/// The new-password form, for a link that still works. Opening it does not use the link
/// (mail scanners open links); only the POST does.
pub async fn reset_form(State(state): State<AppState>, Path(token): Path<String>) -> PageResult {
    account::check_password_reset(state.ctx(), &token_hash(&token)?).await?;
    let csrf = secrets::random_token();
    Ok(with_cookie(
        render(
            StatusCode::OK,
            &ResetPage::new(csrf.clone(), &token, FormErrors::default()),
        ),
        &csrf_cookie(&state, &csrf),
    ))
}

const LABELS: [(&str, &str); 2] = [
    ("new_password", "New password"),
    ("confirm_password", "New password again"),
];

pub async fn reset_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    form: FormData,
) -> PageResult {
    let hash = token_hash(&token)?;
    let Some(csrf) = form_cookie_ok(&headers, &form) else {
        return Err(PageError::Csrf);
    };
    let state2 = state.clone();
    let new = form.get("new_password").to_string();
    let confirm = form.get("confirm_password").to_string();
    // Argon2 is slow on purpose: off the async threads.
    let done = tokio::task::spawn_blocking(move || {
        tokio::runtime::Handle::current().block_on(account::complete_password_reset(
            state2.ctx(),
            &state2,
            &hash,
            &new,
            &confirm,
            ip,
        ))
    })
    .await
    .map_err(|_| PageError::Internal)?;
    match done {
        Ok(_) => Ok(see_other("/signin?reset=1")),
        Err(err @ DomainError::Invalid(_)) => {
            let errors = FormErrors::from_domain(err, &LABELS)?;
            Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ResetPage::new(csrf, &token, errors),
            ))
        }
        Err(other) => Err(other.into()),
    }
}
