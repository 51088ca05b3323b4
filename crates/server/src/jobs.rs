//! Background jobs. Each exposes `run_once` so tests drive it without sleeping.

use std::time::Duration;

use jiff::SignedDuration;

use crate::state::AppState;

/// Deletes sessions past their idle or absolute limit.
pub async fn expire_sessions_once(state: &AppState) -> Result<u64, domain::DomainError> {
    let now = state.clock.now();
    let idle = now
        .saturating_sub(SignedDuration::from_mins(state.config.session_idle_minutes))
        .unwrap_or(now);
    let absolute = now
        .saturating_sub(SignedDuration::from_hours(
            state.config.session_absolute_hours,
        ))
        .unwrap_or(now);
    state.store.delete_sessions_before(idle, absolute).await
}

pub async fn run_forever(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = expire_sessions_once(&state).await {
            tracing::warn!(error = %e, "session expiry job failed");
        }
    }
}
