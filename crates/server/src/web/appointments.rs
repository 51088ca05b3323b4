//! Appointments: a patient's list (upcoming and past), one appointment with its history, and the
//! steps of its life: confirm, check in, start, complete, cancel, mark no-show.

use askama::Template;
use axum::extract::{Path, State};
use jiff::SignedDuration;
use serde::Deserialize;

use domain::identity::Role;
use domain::identity::service::patients;
use domain::ids::{AppointmentId, PatientId};
use domain::scheduling::service::appointments::{self, AppointmentListInput, CancelInput};
use domain::scheduling::{Appointment, AppointmentStatus};
use domain::visits::service::steps::{self, CheckInInput};
use domain::{DomainError, Permission, access};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::appointment_view::{
    AppointmentSummary, Directory, EventRow, is_ahead, state_choices, state_label, status_class,
    status_label,
};
use super::consent::{ConsentBox, accepted_version, consent_box, missing_consent};
use super::form::{Field, FormData, FormErrors, Outcome, PageQuery, Radios, Select};
use super::page::{PageError, PageResult, ok, render, see_other, status_of};
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};
use super::when;

#[derive(Template)]
#[template(path = "pages/appointments.html")]
struct ListPage {
    shell: Shell,
    heading: String,
    book_href: String,
    upcoming: Vec<AppointmentSummary>,
    past: Vec<AppointmentSummary>,
    staff: bool,
    return_visits: Vec<super::visit::ReturnLink>,
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    patient: Option<String>,
}

/// A patient's own appointments; staff see a patient's with `?patient=ID`.
pub async fn list(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<ListParams>,
) -> PageResult {
    let actor = &me.actor;
    let staff = me.user.role != Role::Patient;
    let (patient_id, heading, book_href) = if staff {
        let raw = params
            .patient
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .ok_or(PageError::NotFound)?;
        let id: PatientId = raw.trim().parse().map_err(|_| PageError::NotFound)?;
        let patient = patients::get(state.ctx(), actor, id).await?;
        (
            Some(id.to_string()),
            format!("Appointments of {}", patient.full_name()),
            format!("/book?patient={id}"),
        )
    } else {
        (None, "My appointments".to_string(), "/book".to_string())
    };
    let input = AppointmentListInput {
        patient_id,
        limit: Some(500),
        ..AppointmentListInput::default()
    };
    let found = appointments::list(state.ctx(), actor, &input).await?;
    let return_visits = super::visit::return_links(&state, actor).await?;
    let dir = Directory::load(&state, actor).await?;
    let now = state.clock.now();
    let (ahead, behind): (Vec<&Appointment>, Vec<&Appointment>) =
        found.iter().partition(|a| is_ahead(a, now));
    let upcoming = ahead.into_iter().map(|a| dir.summary(a)).collect();
    // The most recent past visit first.
    let past = behind.into_iter().rev().map(|a| dir.summary(a)).collect();
    Ok(ok(&ListPage {
        shell: Shell::new(
            &me,
            if staff {
                Section::Patients
            } else {
                Section::MyAppointments
            },
        ),
        heading,
        book_href,
        upcoming,
        past,
        staff,
        return_visits,
    }))
}

/// A detail line of the appointment page.
pub struct Detail {
    pub label: &'static str,
    pub value: String,
}

pub struct CancelForm {
    pub action: String,
    pub reason: Field,
    /// Staff say who cancels; the clinic's cancellations never count against the patient.
    pub cancelled_by: Option<Radios>,
    pub late_warning: Option<String>,
}

pub struct CheckInForm {
    pub action: String,
    pub patient_state: Select,
    pub consent: Option<ConsentBox>,
}

pub struct ConfirmForm {
    pub action: String,
    pub consent: Option<ConsentBox>,
}

/// The way to a video visit's check-in or its live page.
pub struct VideoLink {
    pub href: String,
    pub label: &'static str,
}

/// A one-button step (start, complete, mark no-show).
pub struct StepButton {
    pub action: String,
    pub label: &'static str,
    pub warning: bool,
}

#[derive(Template)]
#[template(path = "pages/appointment.html")]
struct AppointmentPage {
    shell: Shell,
    heading: String,
    when: String,
    status: &'static str,
    status_class: &'static str,
    errors: FormErrors,
    details: Vec<Detail>,
    history: Vec<EventRow>,
    back: String,
    back_href: String,
    back_label: &'static str,
    confirm: Option<ConfirmForm>,
    check_in: Option<CheckInForm>,
    check_in_opens: Option<String>,
    /// A video visit is checked in on its own page, and joined from its own page.
    video: Option<VideoLink>,
    /// Staff send a patient without an account a join link from here.
    join_link_href: Option<String>,
    steps: Vec<StepButton>,
    /// Staff put a nurse on the visit (a nurse, themselves), which brings them into the
    /// patient's care team for it.
    nurse: Option<super::visit_nurse::NurseForm>,
    reschedule_href: Option<String>,
    cancel: Option<CancelForm>,
}

#[derive(Debug, Deserialize)]
pub struct ShowParams {
    done: Option<String>,
    pub(super) back: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "booked" => "The visit is booked.",
        "proposed" => "The time is proposed. The patient confirms it from their appointments.",
        "rescheduled" => "The visit has moved to its new time.",
        "confirmed" => "The visit is confirmed.",
        "cancelled" => "The visit is cancelled.",
        "checked_in" => "Checked in. The clinician will start the visit shortly.",
        "started" => "The visit has started.",
        "completed" => "The visit is complete.",
        "no_show" => "The visit is marked as a no-show.",
        "taken" => "You took this patient from the queue. They are checked in and waiting for you.",
        "nurse" => "The nurse is on the visit and can open the patient's record for it.",
        _ => return None,
    })
}

/// Only our own pages are places to return to after an action, never another site. A return
/// address ends up in a `Location` header, so one that is not plainly ours (another origin, a
/// control character, an encoded line break) is refused before the action runs: blank means
/// "none", anything else that is not ours is a bad request.
pub fn return_address(raw: &str) -> Result<Option<String>, PageError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let ours = ["/front-desk", "/schedule", "/appointments"]
        .iter()
        .any(|p| raw.starts_with(p));
    let plain = raw
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '\\' && c != '"' && c != '<' && c != '>');
    if ours && plain && !raw.contains("//") {
        Ok(Some(raw.to_string()))
    } else {
        Err(PageError::BadRequest(
            "The return address is not a page of this site.".into(),
        ))
    }
}

/// What was typed on the page's forms, kept when one comes back with errors.
#[derive(Default)]
struct Entered {
    reason: String,
    cancelled_by: String,
    patient_state: String,
    consent: bool,
}

fn parse_id(raw: &str) -> Result<AppointmentId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

async fn show_page(
    state: &AppState,
    me: &SignedIn,
    id: AppointmentId,
    back: Option<String>,
    outcome: Outcome<'_, Entered>,
) -> PageResult {
    let Outcome {
        entered,
        errors,
        done,
        status,
    } = outcome;
    let actor = &me.actor;
    let ctx = state.ctx();
    let (a, events) = appointments::get(ctx, actor, id).await?;
    let dir = Directory::load(state, actor)
        .await?
        .with_patients(state, actor, std::slice::from_ref(&a))
        .await?;
    let staff = me.user.role != Role::Patient;
    let tz = dir.zone(a.site_id);
    let now = state.clock.now();
    let policy = ctx.scheduling;

    let mut details = Vec::new();
    if staff {
        details.push(Detail {
            label: "Patient",
            value: match dir.patient(a.patient_id) {
                Some(p) => format!("{} (MRN {})", p.full_name(), p.mrn),
                None => "Patient record not available to you".into(),
            },
        });
    }
    details.extend([
        Detail {
            label: "When",
            value: when::span(a.start_at, dir.booked_end(&a), &tz),
        },
        Detail {
            label: "Type of visit",
            value: dir.visit_type_name(&a),
        },
        Detail {
            label: "How",
            value: a.modality.label().to_string(),
        },
        Detail {
            label: "Clinician",
            value: dir.clinician_name(a.clinician_id),
        },
        Detail {
            label: "Clinic",
            value: dir.site_name(a.site_id),
        },
    ]);
    if a.modality.is_virtual() {
        details.push(Detail {
            label: if staff {
                "The patient will be in"
            } else {
                "You will be in"
            },
            value: state_label(a.patient_state),
        });
    }
    if let Some(reason) = &a.reason {
        details.push(Detail {
            label: "Reason for the visit",
            value: reason.clone(),
        });
    }
    if let Some(reason) = &a.cancel_reason {
        details.push(Detail {
            label: "Reason for cancelling",
            value: reason.clone(),
        });
    }

    let on_visit = if staff {
        domain::visits::service::staff::list(ctx, actor, id).await?
    } else {
        Vec::new()
    };
    if staff {
        details.push(Detail {
            label: "Nurse",
            value: if on_visit.is_empty() {
                "None named".to_string()
            } else {
                on_visit
                    .iter()
                    .map(|(_, name)| name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        });
    }

    let path = format!("/appointments/{id}");
    let back = return_address(back.as_deref().unwrap_or_default())?;
    let (back_href, back_label) = match &back {
        Some(b) if b.starts_with("/front-desk") => (b.clone(), "Back to the front desk"),
        Some(b) if b.starts_with("/schedule") => (b.clone(), "Back to the schedule"),
        _ if staff => (
            format!("/appointments?patient={}", a.patient_id),
            "All appointments of this patient",
        ),
        _ => ("/appointments".to_string(), "Back to my appointments"),
    };

    let confirm = if a.status == AppointmentStatus::Proposed {
        Some(ConfirmForm {
            action: format!("{path}/confirm"),
            consent: if a.modality.is_virtual() {
                consent_box(state, actor, a.patient_id, entered.consent, &errors).await?
            } else {
                None
            },
        })
    } else {
        None
    };

    let window = SignedDuration::from_mins(policy.check_in_window_minutes);
    let opens = a.start_at.saturating_sub(window).unwrap_or(a.start_at);
    let booked = a.status == AppointmentStatus::Booked;
    let video_visit =
        a.modality.is_virtual() && a.modality != domain::scheduling::Modality::AsyncEVisit;
    let video = if !video_visit {
        None
    } else if booked && now >= opens && now < a.end_at {
        Some(VideoLink {
            href: format!("/visits/{id}/check-in"),
            label: if staff {
                "Check the patient in"
            } else {
                "Check in for your video visit"
            },
        })
    } else if matches!(
        a.status,
        AppointmentStatus::CheckedIn | AppointmentStatus::InVisit
    ) && domain::visits::service::record::find(ctx, actor, id)
        .await?
        .is_some()
    {
        Some(VideoLink {
            href: format!("/visits/{id}"),
            label: if staff {
                "Open the video visit"
            } else {
                "Return to your visit"
            },
        })
    } else {
        None
    };
    let check_in = if booked && now >= opens && now < a.end_at && !video_visit {
        let current = if entered.patient_state.is_empty() {
            a.patient_state.code().to_string()
        } else {
            entered.patient_state.clone()
        };
        Some(CheckInForm {
            action: format!("{path}/check-in"),
            patient_state: Select::new(
                "patient_state",
                if staff {
                    "State the patient is in right now"
                } else {
                    "State you are in right now"
                },
                state_choices(),
                &current,
                None,
            )
            .hint("The clinician must be licensed where the patient is during the visit.")
            .errors(&errors),
            consent: if a.modality.is_virtual() {
                consent_box(state, actor, a.patient_id, entered.consent, &errors).await?
            } else {
                None
            },
        })
    } else {
        None
    };
    let check_in_opens =
        (booked && now < opens).then(|| format!("Check-in opens at {}.", when::when(opens, &tz)));

    let nurse = super::visit_nurse::form(state, me, &a, &path, &on_visit, &errors).await?;
    let mut steps = Vec::new();
    if staff && access::require(actor, Permission::ManageAppointments).is_ok() {
        match a.status {
            AppointmentStatus::CheckedIn => steps.push(StepButton {
                action: format!("{path}/start"),
                label: "Start the visit",
                warning: false,
            }),
            AppointmentStatus::InVisit => steps.push(StepButton {
                action: format!("{path}/complete"),
                label: "End the visit",
                warning: false,
            }),
            AppointmentStatus::Booked if now >= a.start_at => steps.push(StepButton {
                action: format!("{path}/no-show"),
                label: "Mark as no-show",
                warning: true,
            }),
            _ => {}
        }
    }

    let reschedule_href = (a.status.is_upcoming() && a.slot_id.is_some() && a.start_at > now)
        .then(|| format!("/book?reschedule={id}"));

    let cancellable = matches!(
        a.status,
        AppointmentStatus::Proposed | AppointmentStatus::Booked | AppointmentStatus::CheckedIn
    );
    let late = a.start_at.duration_since(now)
        < SignedDuration::from_hours(policy.cancellation_cutoff_hours);
    let cancel = cancellable.then(|| {
        let hours = policy.cancellation_cutoff_hours;
        let late_warning = late.then(|| {
            if staff {
                format!(
                    "The visit starts in less than {hours} hours. If the patient cancels now, it is recorded as a late cancellation; a cancellation by the clinic is not."
                )
            } else {
                format!(
                    "Your visit starts in less than {hours} hours. If you cancel now, it is recorded as a late cancellation."
                )
            }
        });
        CancelForm {
            action: format!("{path}/cancel"),
            reason: Field::new(
                "reason",
                if staff {
                    "Reason for cancelling"
                } else {
                    "Why are you cancelling?"
                },
                entered.reason.clone(),
            )
            .kind("textarea")
            .optional()
            .errors(&errors),
            cancelled_by: staff.then(|| {
                Radios::new(
                    "cancelled_by",
                    "Who is cancelling?",
                    [
                        (
                            "patient".to_string(),
                            "The patient asked to cancel".to_string(),
                        ),
                        (
                            "clinic".to_string(),
                            "The clinic cancels (not counted against the patient)".to_string(),
                        ),
                    ],
                    if entered.cancelled_by.is_empty() {
                        "patient"
                    } else {
                        &entered.cancelled_by
                    },
                )
                .errors(&errors)
            }),
            late_warning,
        }
    });

    let history = events
        .iter()
        .map(|e| dir.event_row(e, &tz, actor))
        .collect();
    let page = AppointmentPage {
        shell: Shell::new(
            me,
            match (&back, staff) {
                (Some(b), _) if b.starts_with("/front-desk") => Section::FrontDesk,
                (Some(b), _) if b.starts_with("/schedule") => Section::Schedule,
                (_, true) if me.user.role == Role::Clinician => Section::Schedule,
                (_, true) => Section::FrontDesk,
                (_, false) => Section::MyAppointments,
            },
        )
        .notice(notice(done)),
        heading: dir.visit_type_name(&a),
        when: when::when(a.start_at, &tz),
        status: status_label(&a),
        status_class: status_class(&a),
        errors,
        details,
        history,
        back: back.unwrap_or_default(),
        back_href,
        back_label,
        confirm,
        check_in,
        check_in_opens,
        video,
        join_link_href: (staff && access::require(actor, Permission::ManageAppointments).is_ok())
            .then(|| domain::visits::visit_link::check_may_issue(&a, now).ok())
            .flatten()
            .map(|()| format!("{path}/join-link")),
        steps,
        nurse,
        reschedule_href,
        cancel,
    };
    Ok(render(status, &page))
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    PageQuery(params): PageQuery<ShowParams>,
) -> PageResult {
    let id = parse_id(&raw)?;
    let blank = Entered::default();
    let outcome = Outcome::fresh(&blank, params.done.as_deref());
    show_page(&state, &me, id, params.back, outcome).await
}

const LABELS: [(&str, &str); 4] = [
    ("nurse_id", "Nurse for this visit"),
    ("reason", "The reason"),
    ("patient_state", "The state"),
    ("status", "The visit"),
];

/// After a step: back where the person came from, or to the appointment, with a notice.
fn after_step(id: AppointmentId, back: Option<String>, done: &str) -> PageResult {
    let to = match back {
        Some(back) => {
            let joiner = if back.contains('?') { '&' } else { '?' };
            format!("{back}{joiner}done={done}")
        }
        None => format!("/appointments/{id}?done={done}"),
    };
    Ok(see_other(&to))
}

/// A refused step shown on the appointment page: what went wrong, and the form as it was.
async fn refused(
    state: &AppState,
    me: &SignedIn,
    id: AppointmentId,
    form: &FormData,
    err: DomainError,
) -> PageResult {
    let staff = me.user.role != Role::Patient;
    let (errors, status) = match err {
        DomainError::ConsentRequired(_) => {
            let mut errors = FormErrors::default();
            missing_consent(&mut errors, staff);
            (errors, status_of(&err))
        }
        other => FormErrors::refusal(other, &LABELS)?,
    };
    let entered = Entered {
        reason: form.get("reason").to_string(),
        cancelled_by: form.get("cancelled_by").to_string(),
        patient_state: form.get("patient_state").to_string(),
        consent: accepted_version(form).is_some(),
    };
    let back = return_address(form.get("back"))?;
    show_page(
        state,
        me,
        id,
        back,
        Outcome::refused(&entered, errors, status),
    )
    .await
}

/// One step's handler: check the token, run the step, then go back or show what went wrong.
macro_rules! step {
    ($name:ident, $done:literal, |$ctx:ident, $actor:ident, $id:ident, $form:ident| $call:expr) => {
        pub async fn $name(
            State(state): State<AppState>,
            PageUser(me): PageUser,
            Path(raw): Path<String>,
            $form: FormData,
        ) -> PageResult {
            check_csrf(&me.session.csrf_token, &$form)?;
            let $id = parse_id(&raw)?;
            // Checked before the step: a bad address must not leave the step done and a 400 behind.
            let back = return_address($form.get("back"))?;
            let $ctx = state.ctx();
            let $actor = &me.actor;
            let outcome: Result<Appointment, DomainError> = $call.await;
            match outcome {
                Ok(_) => after_step($id, back, $done),
                Err(err) => refused(&state, &me, $id, &$form, err).await,
            }
        }
    };
}

step!(cancel, "cancelled", |ctx, actor, id, form| {
    let input = CancelInput {
        reason: form.optional("reason"),
        by_clinic: form.get("cancelled_by") == "clinic",
    };
    async move { appointments::cancel(ctx, actor, id, &input).await }
});

step!(check_in, "checked_in", |ctx, actor, id, form| {
    let input = CheckInInput {
        patient_state: form.get("patient_state").to_string(),
        consent_version: accepted_version(&form),
        location: form.optional("location"),
        questionnaire: Default::default(),
    };
    async move { steps::check_in(ctx, actor, id, &input).await }
});

step!(confirm, "confirmed", |ctx, actor, id, form| {
    appointments::confirm(ctx, actor, id, accepted_version(&form))
});

step!(start, "started", |ctx, actor, id, form| {
    steps::start(ctx, actor, id)
});

step!(complete, "completed", |ctx, actor, id, form| {
    steps::complete(ctx, actor, id)
});

step!(no_show, "no_show", |ctx, actor, id, form| {
    appointments::mark_no_show(ctx, actor, id)
});

step!(add_nurse, "nurse", |ctx, actor, id, form| {
    let nurse = form.get("nurse_id").to_string();
    async move { domain::visits::service::staff::add_nurse(ctx, actor, id, &nurse).await }
});
