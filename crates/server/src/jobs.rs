//! Background jobs. Each exposes a `*_once` function so tests drive it with a fixed clock, without
//! sleeping; `run_forever` calls them on a timer.

use std::time::Duration;

use jiff::SignedDuration;

use domain::scheduling::service::jobs as scheduling;

use crate::reminders::{self, ReminderRun};
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

/// Marks booked visits not checked in within the grace period as no-shows.
pub async fn mark_no_shows_once(state: &AppState) -> Result<u64, domain::DomainError> {
    scheduling::mark_no_shows_once(state.ctx()).await
}

/// Emails the reminders due now.
pub async fn send_reminders_once(state: &AppState) -> Result<ReminderRun, domain::DomainError> {
    reminders::send_due_once(state).await
}

/// Enrols holders of certifications expiring within the month in a refresher, and emails them.
pub async fn send_refreshers_once(
    state: &AppState,
) -> Result<crate::refreshers::RefresherRun, domain::DomainError> {
    crate::refreshers::send_due_once(state).await
}

/// Publishes every clinician's slots to the end of the booking horizon.
pub async fn publish_slots_once(state: &AppState) -> Result<u64, domain::DomainError> {
    scheduling::publish_horizon_once(state.ctx()).await
}

/// How many job ticks between two slot publications (hourly at the default one-minute tick).
fn publish_every(interval_seconds: u64) -> u64 {
    (3600 / interval_seconds.max(1)).max(1)
}

pub async fn run_forever(state: AppState) {
    if state.mailer.is_none() {
        tracing::info!("reminder emails are off: set TELEMED_SMTP_URL to send them");
    }
    let interval = state.config.job_interval_seconds;
    // The first run waits one interval: a server that just started has nothing due yet, and tests
    // that drive the jobs themselves are not raced by it.
    let period = Duration::from_secs(interval);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        if let Err(e) = expire_sessions_once(&state).await {
            tracing::warn!(error = %e, "session expiry job failed");
        }
        match mark_no_shows_once(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "visits marked no-show"),
            Err(e) => tracing::warn!(error = %e, "no-show job failed"),
        }
        match send_reminders_once(&state).await {
            Ok(run) if run == ReminderRun::default() => {}
            Ok(run) => tracing::info!(
                sent = run.sent,
                failed = run.failed,
                skipped = run.skipped,
                "reminders"
            ),
            Err(e) => tracing::warn!(error = %e, "reminder job failed"),
        }
        match send_refreshers_once(&state).await {
            Ok(run) if run.enrolled == 0 => {}
            Ok(run) => tracing::info!(
                enrolled = run.enrolled,
                emailed = run.emailed,
                failed = run.email_failed,
                "certification refreshers"
            ),
            Err(e) => tracing::warn!(error = %e, "refresher job failed"),
        }
        match crate::notices::send_summary_notices_once(&state).await {
            Ok(run) if run == crate::notices::NoticeRun::default() => {}
            Ok(run) => tracing::info!(
                emailed = run.emailed,
                no_address = run.no_address,
                failed = run.failed,
                "summary notices"
            ),
            Err(e) => tracing::warn!(error = %e, "summary notice job failed"),
        }
        if ticks.is_multiple_of(publish_every(interval)) {
            match publish_slots_once(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = n, "slots published"),
                Err(e) => tracing::warn!(error = %e, "slot publishing job failed"),
            }
        }
        ticks = ticks.wrapping_add(1);
    }
}
