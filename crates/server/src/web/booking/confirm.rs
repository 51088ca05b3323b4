//! The confirm page: the time picked with its details, consent and reason, and the submits that
//! book it or move an appointment to it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use domain::DomainError;
use domain::identity::Role;
use domain::ids::{AppointmentId, SlotId};
use domain::scheduling::service::booking::{
    self, BookCommand, OpenSlot, RescheduleCommand, SlotRef, opt_id, opt_state, parse_id,
};

use crate::auth::actor::SignedIn;
use crate::state::AppState;
use crate::web::appointment_view::{Directory, state_label};
use crate::web::consent::{ConsentBox, accepted_version, consent_box, missing_consent};
use crate::web::form::{Field, FormData, FormErrors, PageQuery, Tick};
use crate::web::page::{PageError, PageResult, capitalise, render, see_other};
use crate::web::session::{PageUser, check_csrf};
use crate::web::shell::Section;
use crate::web::shell::Shell;
use crate::web::when;

use super::{Choice, subject, text, unavailable};

/// "New York (NY)" for a state the form sent, or what was sent when it is not a state.
fn state_name_of(raw: &str) -> String {
    domain::identity::UsState::parse("patient_state", raw)
        .map_or_else(|_| raw.to_string(), state_label)
}

/// A line of the visit's details on the confirm page.
pub struct Detail {
    pub label: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "pages/book_confirm.html")]
struct ConfirmPage {
    shell: Shell,
    heading: String,
    errors: FormErrors,
    action: String,
    hidden: Vec<(&'static str, String)>,
    details: Vec<Detail>,
    consent: Option<ConsentBox>,
    reason: Option<Field>,
    propose: Option<Tick>,
    submit_label: &'static str,
    back_href: String,
}

/// Finds the picked slot again with the same criteria; `None` when it is no longer open to them.
async fn find_slot(
    state: &AppState,
    me: &SignedIn,
    choice: &Choice,
) -> Result<Option<OpenSlot>, PageError> {
    let Ok(wanted) = text(&choice.slot).trim().parse::<SlotId>() else {
        return Ok(None);
    };
    let found = async {
        booking::open_slot(state.ctx(), &me.actor, &choice.search_for_pick()?, wanted).await
    };
    match found.await {
        Ok(found) => Ok(found),
        // A day now past, or criteria edited by hand: the slot cannot be offered.
        Err(DomainError::Invalid(_)) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// What was typed or ticked on the confirm form, kept when it comes back with errors.
#[derive(Default)]
struct Entered {
    reason: String,
    consent: bool,
    propose: bool,
}

async fn confirm_page(
    state: &AppState,
    me: &SignedIn,
    choice: &Choice,
    entered: &Entered,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let who = subject(state, me, choice).await?;
    let Some(open) = find_slot(state, me, choice).await? else {
        return unavailable(
            me,
            who.section(),
            "This time is no longer available. Someone may have just booked it, or the clinician's hours changed. Please choose another time."
                .into(),
            choice,
        );
    };
    let actor = &me.actor;
    let dir = Directory::load(state, actor).await?;
    let visit_type = match &who.moving {
        Some(a) => dir.visit_type(a.visit_type_id).cloned(),
        None => choice
            .visit_type_id
            .as_deref()
            .and_then(|id| id.trim().parse().ok())
            .and_then(|id| dir.visit_type(id).cloned()),
    };
    let visit_type = visit_type.ok_or(PageError::NotFound)?;
    let tz = &open.time_zone;
    let virtual_visit = visit_type.modality.is_virtual();
    let mut details = vec![
        Detail {
            label: "When",
            value: when::when(open.slot.start_at, tz),
        },
        Detail {
            label: "Length",
            value: when::minutes(visit_type.duration_minutes),
        },
        Detail {
            label: "Type of visit",
            value: format!("{} ({})", visit_type.name, visit_type.modality.label()),
        },
        Detail {
            label: "Clinician",
            value: open.clinician_name.clone(),
        },
        Detail {
            label: if virtual_visit { "Clinic" } else { "Where" },
            value: format!("{}, {}", open.site.name, open.site.state.code()),
        },
    ];
    if virtual_visit {
        details.push(Detail {
            label: if who.by_staff {
                "The patient will be in"
            } else {
                "You will be in"
            },
            value: state_name_of(&text(&choice.patient_state)),
        });
    }
    if who.by_staff {
        details.insert(
            0,
            Detail {
                label: "Patient",
                value: format!("{} (MRN {})", who.patient.full_name(), who.patient.mrn),
            },
        );
    }
    if let Some(a) = &who.moving {
        details.push(Detail {
            label: "Instead of",
            value: when::when(a.start_at, &dir.zone(a.site_id)),
        });
    }
    let consent = if virtual_visit {
        consent_box(state, actor, who.patient.id, entered.consent, &errors).await?
    } else {
        None
    };
    let (heading, action, submit_label) = match (&who.moving, who.by_staff) {
        (Some(a), _) => (
            "Move the visit to this time?".to_string(),
            format!("/appointments/{}/reschedule", a.id),
            "Move the visit",
        ),
        (None, true) => (
            format!("Book this visit for {}?", who.patient.full_name()),
            "/book/confirm".to_string(),
            "Book the visit",
        ),
        (None, false) => (
            "Book this visit?".to_string(),
            "/book/confirm".to_string(),
            "Book my visit",
        ),
    };
    let reason = who.moving.is_none().then(|| {
        Field::new(
            "reason",
            if who.by_staff {
                "Reason for the visit"
            } else {
                "What would you like help with?"
            },
            entered.reason.clone(),
        )
        .kind("textarea")
        .optional()
        .hint("A few words for the clinician. Up to 1000 characters.")
        .errors(&errors)
    });
    let propose = (who.by_staff && who.moving.is_none()).then(|| {
        Tick::new(
            "propose",
            "true",
            "Propose this time: the patient confirms it before it is booked",
            entered.propose,
        )
        .hint("The time is held for the patient; it appears in their appointments to confirm.")
    });
    let page = ConfirmPage {
        shell: Shell::new(me, who.section()),
        heading,
        errors,
        action,
        hidden: choice.hidden(),
        details,
        consent,
        reason,
        propose,
        submit_label,
        back_href: choice.search_href(),
    };
    Ok(render(status, &page))
}

/// The details of the time picked, with consent and a reason to give, and the button that books it.
pub async fn confirm_form(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(choice): PageQuery<Choice>,
) -> PageResult {
    confirm_page(
        &state,
        &me,
        &choice,
        &Entered::default(),
        FormErrors::default(),
        StatusCode::OK,
    )
    .await
}

const CONFIRM_LABELS: [(&str, &str); 3] = [
    ("reason", "The reason"),
    ("patient_state", "The state"),
    ("visit_type_id", "The type of visit"),
];

/// What a refused booking means for the page: the time is gone (pick another), or the form needs
/// fixing.
enum Refusal {
    TimeGone(String),
    Form(FormErrors),
}

fn refusal(err: DomainError, staff: bool) -> Result<Refusal, PageError> {
    match err {
        DomainError::ConsentRequired(_) => {
            let mut errors = FormErrors::default();
            missing_consent(&mut errors, staff);
            Ok(Refusal::Form(errors))
        }
        err if err.refuses_the_time() => Ok(Refusal::TimeGone(capitalise(&err.to_string()))),
        other => FormErrors::from_domain(other, &CONFIRM_LABELS).map(Refusal::Form),
    }
}

/// Books the slot, then shows the appointment.
pub async fn confirm_submit(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let choice = Choice::from_form(&form);
    let staff = me.user.role != Role::Patient;
    let propose = staff && form.get("propose") == "true";
    let command = || -> Result<BookCommand, DomainError> {
        Ok(BookCommand {
            visit_type_id: parse_id("visit_type_id", &text(&choice.visit_type_id), "visit type")?,
            slot: SlotRef::parse(choice.slot.as_deref(), None, None)?,
            patient_id: match staff {
                true => opt_id("patient_id", choice.patient.as_deref(), "patient")?,
                false => None,
            },
            patient_state: opt_state("patient_state", choice.patient_state.as_deref())?,
            reason: form.optional("reason"),
            consent_version: accepted_version(&form),
            propose,
        })
    };
    let booked = match command() {
        Ok(command) => booking::book(state.ctx(), &me.actor, &command).await,
        Err(err) => Err(err),
    };
    match booked {
        Ok(a) => Ok(see_other(&format!(
            "/appointments/{}?done={}",
            a.id,
            if propose { "proposed" } else { "booked" }
        ))),
        Err(err) => {
            let section = if staff {
                Section::Patients
            } else {
                Section::Book
            };
            match refusal(err, staff)? {
                Refusal::TimeGone(message) => unavailable(&me, section, message, &choice),
                Refusal::Form(errors) => {
                    let entered = Entered {
                        reason: form.get("reason").to_string(),
                        consent: accepted_version(&form).is_some(),
                        propose,
                    };
                    confirm_page(
                        &state,
                        &me,
                        &choice,
                        &entered,
                        errors,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await
                }
            }
        }
    }
}

/// Moves an appointment to the slot picked, then shows it.
pub async fn reschedule_submit(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id: AppointmentId = raw.parse().map_err(|_| PageError::NotFound)?;
    let mut choice = Choice::from_form(&form);
    choice.reschedule = Some(id.to_string());
    let staff = me.user.role != Role::Patient;
    let command = || -> Result<RescheduleCommand, DomainError> {
        Ok(RescheduleCommand {
            slot: SlotRef::parse(choice.slot.as_deref(), None, None)?,
            patient_state: opt_state("patient_state", choice.patient_state.as_deref())?,
            consent_version: accepted_version(&form),
        })
    };
    let moved = match command() {
        Ok(command) => booking::reschedule(state.ctx(), &me.actor, id, &command).await,
        Err(err) => Err(err),
    };
    match moved {
        Ok(_) => Ok(see_other(&format!("/appointments/{id}?done=rescheduled"))),
        Err(err) => {
            let section = if staff {
                Section::Patients
            } else {
                Section::MyAppointments
            };
            match refusal(err, staff)? {
                Refusal::TimeGone(message) => unavailable(&me, section, message, &choice),
                Refusal::Form(errors) => {
                    let entered = Entered {
                        consent: accepted_version(&form).is_some(),
                        ..Entered::default()
                    };
                    confirm_page(
                        &state,
                        &me,
                        &choice,
                        &entered,
                        errors,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await
                }
            }
        }
    }
}
