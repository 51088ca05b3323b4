//! Emails that tell a patient something new is waiting in the portal (an after-visit summary,
//! a reply): never what it is about, so no health information leaves the server by email.

use domain::DomainError;
use domain::messaging::service as messaging;
use domain::notes::service as notes;

use crate::mail::Email;
use crate::state::AppState;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NoticeRun {
    pub emailed: u64,
    /// The patient has no email address on record.
    pub no_address: u64,
    pub failed: u64,
}

/// The email for "something new in your portal", with the page to sign in to.
pub fn portal_email(state: &AppState, to: &str, given_name: &str, page: &str) -> Email {
    Email {
        to: to.to_string(),
        subject: "You have something new in your patient portal".into(),
        text: format!(
            "Hello {given_name},\n\nThere is something new for you in your Telemed patient portal. \
             Sign in to read it: {}{page}\n\nFor your privacy this email does not say what it is about.\n",
            state.config.public_base()
        ),
        calendar: None,
    }
}

/// Tells patients whose visit notes were signed that their summary is ready. Without an SMTP
/// server nothing is sent and nothing is marked, so the notices go out once one is configured.
pub async fn send_summary_notices_once(state: &AppState) -> Result<NoticeRun, DomainError> {
    let mut run = NoticeRun::default();
    let Some(mailer) = &state.mailer else {
        return Ok(run);
    };
    for notice in notes::pending_summary_notices(state.ctx(), 100).await? {
        let emailed = match &notice.patient.email {
            Some(address) => {
                let email = portal_email(
                    state,
                    address.as_str(),
                    &notice.patient.given_name,
                    "/summaries",
                );
                match mailer.send(&email).await {
                    Ok(()) => {
                        run.emailed += 1;
                        true
                    }
                    Err(problem) => {
                        // Tried once, like reminders: the summary is in the portal regardless.
                        tracing::warn!(note = %notice.note.id, %problem, "summary notice failed");
                        run.failed += 1;
                        false
                    }
                }
            }
            None => {
                run.no_address += 1;
                false
            }
        };
        notes::summary_notified(state.ctx(), &notice, emailed).await?;
    }
    Ok(run)
}

/// Tells patients that a reply waits on one of their threads (once per unread batch: a new
/// reply after they were told tells them again). Off without an SMTP server, like summaries.
pub async fn send_reply_notices_once(state: &AppState) -> Result<NoticeRun, DomainError> {
    let mut run = NoticeRun::default();
    let Some(mailer) = &state.mailer else {
        return Ok(run);
    };
    for notice in messaging::pending_reply_notices(state.ctx(), 100).await? {
        let emailed = match &notice.patient.email {
            Some(address) => {
                let email = portal_email(
                    state,
                    address.as_str(),
                    &notice.patient.given_name,
                    "/messages",
                );
                match mailer.send(&email).await {
                    Ok(()) => {
                        run.emailed += 1;
                        true
                    }
                    Err(problem) => {
                        tracing::warn!(thread = %notice.thread.id, %problem, "reply notice failed");
                        run.failed += 1;
                        false
                    }
                }
            }
            None => {
                run.no_address += 1;
                false
            }
        };
        messaging::reply_notified(state.ctx(), &notice, emailed).await?;
    }
    Ok(run)
}
