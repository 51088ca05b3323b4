//! The reminder job: emails patients before their visits, with the visit as an `.ics` file and
//! the link to join or manage it. Each reminder is claimed in the database first, so it goes out
//! once even with several servers.

use domain::DomainError;
use domain::access::Actor;
use domain::compliance::{AuditAction, AuditEntry, Outcome};
use domain::identity::{Patient, Site, User};
use domain::scheduling::service::jobs::{DueReminder, due_reminders};
use domain::scheduling::{Appointment, Modality, VisitType};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::ics::{IcsEvent, calendar};
use crate::mail::Email;
use crate::state::AppState;

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReminderRun {
    pub sent: u64,
    pub failed: u64,
    /// Patients without an email address.
    pub skipped: u64,
}

/// The place and people a reminder talks about.
struct Visit {
    appointment: Appointment,
    patient: Patient,
    clinician: User,
    site: Site,
    zone: TimeZone,
    visit_type: Option<VisitType>,
}

/// "Tue 3 Dec 2026 at 09:30 EST"
pub fn when(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone())
        .strftime("%a %-d %b %Y at %H:%M %Z")
        .to_string()
}

fn kind_of_visit(modality: Modality) -> &'static str {
    match modality {
        Modality::Video => "video visit",
        Modality::AudioOnly => "phone visit",
        Modality::InPerson => "visit",
        Modality::AsyncEVisit => "e-visit",
    }
}

/// The calendar entry of a visit, as patients and clinicians see it (no clinical details).
pub fn visit_event(state: &AppState, a: &Appointment, clinician: &str, site: &Site) -> IcsEvent {
    let link = format!("{}/appointments/{}", state.config.public_base(), a.id);
    let location = if a.modality == Modality::InPerson {
        site.name.clone()
    } else {
        format!("{} (online, Telemed)", a.modality.label())
    };
    IcsEvent {
        uid: format!("{}@telemed", a.id),
        start: a.start_at,
        end: a.end_at,
        summary: format!("{} with {clinician}", a.modality.label()),
        description: format!(
            "{}. Join or manage the visit in Telemed: {link}",
            a.service_line.label()
        ),
        location,
        url: Some(link),
        cancelled: a.status == domain::scheduling::AppointmentStatus::Cancelled,
    }
}

fn compose(state: &AppState, v: &Visit, to: &str) -> Email {
    let a = &v.appointment;
    let kind = kind_of_visit(a.modality);
    let at = when(a.start_at, &v.zone);
    let link = format!("{}/appointments/{}", state.config.public_base(), a.id);
    let place = if a.modality == Modality::InPerson {
        format!(" at {}", v.site.name)
    } else {
        String::new()
    };
    // The visit type's own name, when it says more than the kind of visit does.
    let what = v
        .visit_type
        .as_ref()
        .filter(|t| !t.name.eq_ignore_ascii_case(kind))
        .map(|t| format!(" ({})", t.name))
        .unwrap_or_default();
    let text = format!(
        "Hello {},\n\nThis is a reminder of your {kind}{what} with {}{place} on {at}.\n\n\
         Join or manage your visit: {link}\n\n\
         If you cannot make it, please cancel or move the visit at least {} hours before, so someone \
         else can have the time.\n\nIn an emergency, call 911.\n",
        v.patient.given_name, v.clinician.display_name, state.config.cancellation_cutoff_hours
    );
    Email {
        to: to.to_string(),
        subject: format!("Reminder: your {kind} on {at}"),
        text,
        calendar: Some(calendar(
            "Telemed visit",
            &[visit_event(state, a, &v.clinician.display_name, &v.site)],
            state.clock.now(),
        )),
    }
}

async fn load(state: &AppState, a: Appointment) -> Result<Option<Visit>, DomainError> {
    let store = &state.store;
    let (Some(patient), Some(clinician), Some(site)) = (
        store.get_patient(a.org_id, a.patient_id).await?,
        store.get_user(a.org_id, a.clinician_id).await?,
        store.get_site(a.org_id, a.site_id).await?,
    ) else {
        return Ok(None);
    };
    let zone = TimeZone::get(site.time_zone.as_str()).unwrap_or(TimeZone::UTC);
    let visit_type = store.get_visit_type(a.org_id, a.visit_type_id).await?;
    Ok(Some(Visit {
        appointment: a,
        patient,
        clinician,
        site,
        zone,
        visit_type,
    }))
}

fn audit(state: &AppState, r: &DueReminder, outcome: Outcome, detail: &str) -> AuditEntry {
    let a = &r.appointment;
    AuditEntry::new(
        state.clock.now(),
        Actor::operator().audit_actor(),
        AuditAction::ReminderSent,
        "Appointment",
    )
    .org(a.org_id)
    .resource(a.id)
    .patient(a.patient_id)
    .outcome(outcome)
    .detail(format!("{} minutes before: {detail}", r.offset_minutes))
}

/// Sends the reminders due now. Without an SMTP server configured it does nothing.
pub async fn send_due_once(state: &AppState) -> Result<ReminderRun, DomainError> {
    let mut run = ReminderRun::default();
    let Some(mailer) = &state.mailer else {
        return Ok(run);
    };
    for due in due_reminders(state.ctx(), &state.config.reminder_offsets.0).await? {
        let a = &due.appointment;
        if !state
            .store
            .claim_reminder(a.id, due.offset_minutes, state.clock.now())
            .await?
        {
            continue;
        }
        let Some(visit) = load(state, a.clone()).await? else {
            state
                .store
                .finish_reminder(a.id, due.offset_minutes, None)
                .await?;
            continue;
        };
        let Some(to) = visit.patient.email.as_ref().map(|e| e.as_str().to_string()) else {
            // Nothing to send to: recorded as done, so it is not retried every minute.
            let entry = audit(state, &due, Outcome::Failure, "no email address on file");
            state
                .store
                .finish_reminder(a.id, due.offset_minutes, Some(entry))
                .await?;
            run.skipped += 1;
            continue;
        };
        match mailer.send(&compose(state, &visit, &to)).await {
            Ok(()) => {
                let entry = audit(
                    state,
                    &due,
                    Outcome::Success,
                    "emailed with the visit's calendar file",
                );
                state
                    .store
                    .finish_reminder(a.id, due.offset_minutes, Some(entry))
                    .await?;
                run.sent += 1;
            }
            Err(problem) => {
                tracing::warn!(appointment = %a.id, %problem, "reminder email failed; will retry");
                state
                    .store
                    .finish_reminder(a.id, due.offset_minutes, None)
                    .await?;
                run.failed += 1;
            }
        }
    }
    Ok(run)
}
