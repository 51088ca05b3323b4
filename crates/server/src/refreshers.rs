//! Refresher reminders: a month before a telehealth certification expires, its holder is
//! enrolled again in the course and emailed (when an SMTP server is configured).
//!
//! The enrolment is what matters and it is written first, once (the domain marks the
//! certification reminded in the same transaction); the email is the nudge, sent once and
//! logged if it fails, not retried: the person sees the refresher on their training page anyway.

use domain::DomainError;
use domain::training::service as training;

use crate::mail::Email;
use crate::state::AppState;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefresherRun {
    pub enrolled: u64,
    pub emailed: u64,
    pub email_failed: u64,
}

pub async fn send_due_once(state: &AppState) -> Result<RefresherRun, DomainError> {
    let mut run = RefresherRun::default();
    for (certification, enrolment) in training::run_refreshers_once(state.ctx()).await? {
        run.enrolled += 1;
        let Some(mailer) = &state.mailer else {
            continue;
        };
        let Some(user) = state
            .store
            .get_user(certification.org_id, certification.user_id)
            .await?
        else {
            continue;
        };
        let course = state
            .store
            .get_course(certification.org_id, certification.course_id)
            .await?
            .map(|c| c.title)
            .unwrap_or_else(|| "your certifying course".into());
        let link = state
            .config
            .public_url
            .as_deref()
            .map(|u| {
                format!(
                    "{}/training/enrolments/{}",
                    u.trim_end_matches('/'),
                    enrolment.id
                )
            })
            .unwrap_or_else(|| format!("/training/enrolments/{}", enrolment.id));
        let expires = certification.expires_at.strftime("%Y-%m-%d").to_string();
        let email = Email {
            to: user.email.as_str().to_string(),
            subject: format!("Your telehealth certification expires on {expires}"),
            text: format!(
                "Hello {},\n\nYour telehealth competency certification expires on {expires}. \
                 After that date you cannot be booked for, or host, video visits.\n\n\
                 You are enrolled in a refresher of \"{course}\": {link}\n",
                user.display_name
            ),
            calendar: None,
        };
        match mailer.send(&email).await {
            Ok(()) => run.emailed += 1,
            Err(problem) => {
                tracing::warn!(certification = %certification.id, %problem, "refresher email failed");
                run.email_failed += 1;
            }
        }
    }
    Ok(run)
}
