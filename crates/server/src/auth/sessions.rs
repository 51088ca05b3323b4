//! Server-side sessions: the cookie holds a random token, the database holds its hash.

use jiff::{SignedDuration, Timestamp};

use domain::DomainError;
use domain::identity::User;
use domain::store::SessionRecord;

use super::secrets::{random_token, sha256_hex};
use crate::state::AppState;

pub const COOKIE: &str = "telemed_session";
/// Password checked, code not yet: this half-session lives only this long.
pub const PENDING_MINUTES: i64 = 10;

/// Starts a session and returns the cookie value (the only copy of the token).
pub async fn start(
    state: &AppState,
    user: &User,
    mfa_pending: bool,
    ip: Option<String>,
) -> Result<(String, SessionRecord), DomainError> {
    let token = random_token();
    let now = state.clock.now();
    let record = SessionRecord {
        token_hash: sha256_hex(&token),
        user_id: user.id,
        org_id: user.org_id,
        mfa_pending,
        csrf_token: random_token(),
        created_at: now,
        last_seen_at: now,
        source_ip: ip,
    };
    state.store.create_session(&record).await?;
    Ok((token, record))
}

/// Why a presented session was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionProblem {
    Missing,
    Expired,
}

/// Loads a session and its account by the cookie token (one lookup), ending the session if the
/// idle or absolute limit has passed. The account comes without its clinician profile.
pub async fn load(
    state: &AppState,
    token: &str,
) -> Result<Result<(SessionRecord, User), SessionProblem>, DomainError> {
    let hash = sha256_hex(token);
    let Some((session, user)) = state.store.get_session_account(&hash).await? else {
        return Ok(Err(SessionProblem::Missing));
    };
    let now = state.clock.now();
    let idle = SignedDuration::from_mins(state.config.session_idle_minutes);
    let absolute = if session.mfa_pending {
        SignedDuration::from_mins(PENDING_MINUTES)
    } else {
        SignedDuration::from_hours(state.config.session_absolute_hours)
    };
    if expired(session.last_seen_at, idle, now) || expired(session.created_at, absolute, now) {
        state.store.delete_session(&hash).await?;
        return Ok(Err(SessionProblem::Expired));
    }
    if now.duration_since(session.last_seen_at) >= touch_interval(idle) {
        state.store.touch_session(&hash, now).await?;
    }
    Ok(Ok((session, user)))
}

/// How stale `last_seen_at` may grow before a request refreshes it. Writing on every request
/// would turn reads into writes; a quarter of the idle limit (at most a minute) keeps activity
/// sliding the deadline whatever the limit, losing at most a quarter of it.
fn touch_interval(idle: SignedDuration) -> SignedDuration {
    (idle / 4).min(SignedDuration::from_mins(1))
}

fn expired(since: Timestamp, limit: SignedDuration, now: Timestamp) -> bool {
    now.duration_since(since) >= limit
}

pub async fn end(state: &AppState, token: &str) -> Result<(), DomainError> {
    end_hashed(state, &sha256_hex(token)).await
}

/// Ends the session whose token's hash (as the session record keeps it) is given.
pub async fn end_hashed(state: &AppState, token_hash: &str) -> Result<(), DomainError> {
    state.store.delete_session(token_hash).await
}

fn secure(state: &AppState) -> &'static str {
    if state.config.tls() { "; Secure" } else { "" }
}

/// The `Set-Cookie` value: HttpOnly always, Secure under TLS, SameSite=Lax so links into the app work.
pub fn cookie(state: &AppState, token: &str) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{}",
        secure(state)
    )
}

pub fn clear_cookie(state: &AppState) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        secure(state)
    )
}

/// The cookie of a session bound to one visit (a guest's invitation, a patient's join link),
/// kept by the browser until the link's own expiry (a minute at least).
pub fn visit_cookie(state: &AppState, name: &str, session: &str, expires_at: Timestamp) -> String {
    let max_age = expires_at
        .duration_since(state.clock.now())
        .as_secs()
        .max(60);
    format!(
        "{name}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        secure(state)
    )
}

/// Reads our cookie from a `Cookie` header.
pub fn token_from_headers(headers: &axum::http::HeaderMap) -> Option<String> {
    cookie_value(headers, COOKIE)
}

pub fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_touch_interval_is_a_quarter_of_a_short_idle_limit_and_at_most_a_minute() {
        assert_eq!(
            touch_interval(SignedDuration::from_mins(1)),
            SignedDuration::from_secs(15)
        );
        assert_eq!(
            touch_interval(SignedDuration::from_mins(30)),
            SignedDuration::from_mins(1)
        );
    }
}
