//! Checking in for a video visit: where the patient is now (licensure and emergencies), consent if
//! not on file, the service line's questionnaire, and a device check (camera, microphone,
//! connection) that the page's script runs. Without the script the form still submits.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::SignedDuration;

use domain::DomainError;
use domain::ids::AppointmentId;
use domain::scheduling::service::appointments;
use domain::scheduling::{Appointment, AppointmentStatus};
use domain::visits::service::steps::{self, CheckInInput};
use domain::visits::{PHQ9_CHOICES, PHQ9_ITEMS, QuestionnaireInput, QuestionnaireKind};

use crate::auth::secrets::random_token;
use crate::signaling::ice;
use crate::state::AppState;

use super::appointment_view::{Directory, state_choices, state_label};
use super::consent::{ConsentBox, accepted_version, consent_box, missing_consent};
use super::form::{Field, FormData, FormErrors, Radios, Select};
use super::page::{PageError, PageResult, capitalise, render, see_other, status_of};
use super::session::check_csrf;
use super::shell::{Section, Shell};
use super::visit_link::Attendee;
use super::when;

/// The questionnaire as form fields; which are shown depends on the service line.
pub struct Questionnaire {
    pub title: &'static str,
    pub intro: &'static str,
    /// PHQ-9: one group of radio buttons per item.
    pub phq9: Vec<Radios>,
    pub phq9_error: Option<String>,
    pub complaint: Option<Field>,
    pub days: Option<Field>,
    /// Urgent care: yes/no questions (fever, chest pain, trouble breathing).
    pub yes_no: Vec<Radios>,
    pub pain: Option<Select>,
    pub notes: Field,
}

pub struct CheckInForm {
    pub action: String,
    pub patient_state: Select,
    pub location: Field,
    pub consent: Option<ConsentBox>,
    pub questionnaire: Questionnaire,
}

#[derive(Template)]
#[template(path = "pages/visit_check_in.html")]
struct CheckInPage {
    /// The portal's frame; none for a patient who came by join link.
    shell: Option<Shell>,
    csrf: String,
    heading: String,
    when: String,
    clinician: String,
    staff: bool,
    errors: FormErrors,
    form: Option<CheckInForm>,
    /// Why there is no form: not open yet (and when it opens), or nothing to check in for.
    closed: Option<String>,
    back_href: String,
    /// The ICE servers for the connection check, as JSON (TURN credentials minted for it).
    ice_servers: String,
    ice_policy: &'static str,
}

fn parse_id(raw: &str) -> Result<AppointmentId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

const YES_NO: [(&str, &str); 3] = [
    ("fever", "Do you have a fever?"),
    ("chest_pain", "Do you have chest pain?"),
    ("trouble_breathing", "Do you have trouble breathing?"),
];

const LABELS: [(&str, &str); 8] = [
    ("patient_state", "The state"),
    ("location", "Where you are"),
    ("phq9", "The questionnaire"),
    ("complaint", "What brings you in"),
    ("days", "How many days"),
    ("pain", "Pain"),
    ("notes", "Anything else"),
    ("status", "The visit"),
];

fn questionnaire(kind: QuestionnaireKind, form: &FormData, errors: &FormErrors) -> Questionnaire {
    let mut q = Questionnaire {
        title: "Before your visit",
        intro: "",
        phq9: Vec::new(),
        phq9_error: None,
        complaint: None,
        days: None,
        yes_no: Vec::new(),
        pain: None,
        notes: Field::new(
            "notes",
            "Anything else the clinician should know",
            form.get("notes"),
        )
        .kind("textarea")
        .optional()
        .errors(errors),
    };
    match kind {
        QuestionnaireKind::Phq9 => {
            q.title = "How you have been feeling (PHQ-9)";
            q.intro = "Over the last two weeks, how often have you been bothered by each of the following?";
            q.phq9 = PHQ9_ITEMS
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let name = format!("phq9_{i}");
                    Radios::new(
                        &name,
                        &format!("{}. {item}", i + 1),
                        PHQ9_CHOICES
                            .iter()
                            .enumerate()
                            .map(|(v, label)| (v.to_string(), (*label).to_string())),
                        form.get(&name),
                    )
                })
                .collect();
            q.phq9_error = errors
                .items
                .iter()
                .find(|e| e.field.starts_with("phq9"))
                .map(|e| e.message.clone());
        }
        QuestionnaireKind::UrgentSymptoms => {
            q.title = "Your symptoms";
            q.complaint = Some(
                Field::new(
                    "complaint",
                    "What brings you in today?",
                    form.get("complaint"),
                )
                .kind("textarea")
                .errors(errors),
            );
            q.days = Some(
                Field::new("days", "For how many days?", form.get("days"))
                    .inputmode("numeric")
                    .optional()
                    .errors(errors),
            );
            q.yes_no = YES_NO
                .iter()
                .map(|(name, legend)| {
                    Radios::new(
                        name,
                        legend,
                        [
                            ("yes".to_string(), "Yes".to_string()),
                            ("no".to_string(), "No".to_string()),
                        ],
                        form.get(name),
                    )
                })
                .collect();
            q.pain = Some(
                Select::new(
                    "pain",
                    "How bad is your pain? (0 none, 10 worst)",
                    (0..=10).map(|p| (p.to_string(), p.to_string())),
                    form.get("pain"),
                    Some("Choose"),
                )
                .optional()
                .errors(errors),
            );
        }
        QuestionnaireKind::ReasonOnly => {
            q.intro = "Tell the clinician anything that will help them prepare.";
        }
    }
    q
}

/// The answers as the domain reads them. A number that does not parse is sent as -1, so the
/// domain's message about the range is the one shown.
pub(super) fn questionnaire_input(form: &FormData, kind: QuestionnaireKind) -> QuestionnaireInput {
    let number = |name: &str| form.optional(name).map(|v| v.parse::<i64>().unwrap_or(-1));
    let yes_no = |name: &str| match form.get(name) {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    QuestionnaireInput {
        phq9: if kind == QuestionnaireKind::Phq9 {
            (0..PHQ9_ITEMS.len())
                .filter_map(|i| number(&format!("phq9_{i}")))
                .collect()
        } else {
            Vec::new()
        },
        complaint: form.optional("complaint"),
        days: number("days"),
        fever: yes_no("fever"),
        chest_pain: yes_no("chest_pain"),
        trouble_breathing: yes_no("trouble_breathing"),
        pain: number("pain"),
        notes: form.optional("notes"),
    }
}

/// When check-in opens for an appointment.
fn opens_at(state: &AppState, a: &Appointment) -> jiff::Timestamp {
    let window = SignedDuration::from_mins(state.config.check_in_window_minutes);
    a.start_at.saturating_sub(window).unwrap_or(a.start_at)
}

async fn page(
    state: &AppState,
    me: &Attendee,
    id: AppointmentId,
    form: &FormData,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    me.check_visit(id)?;
    let actor = me.actor();
    let (a, _) = appointments::get(state.ctx(), actor, id).await?;
    if !a.modality.is_virtual() {
        return Ok(see_other(&format!("/appointments/{id}")));
    }
    if matches!(
        a.status,
        AppointmentStatus::CheckedIn | AppointmentStatus::InVisit
    ) {
        return Ok(see_other(&format!("/visits/{id}")));
    }
    let staff = me.staff();
    let dir = Directory::load(state, actor).await?;
    let tz = dir.zone(a.site_id);
    let now = state.clock.now();
    let opens = opens_at(state, &a);
    let closed = match a.status {
        AppointmentStatus::Booked if now < opens => Some(format!(
            "Check-in opens at {}, {} minutes before the visit. Come back then.",
            when::when(opens, &tz),
            state.config.check_in_window_minutes
        )),
        AppointmentStatus::Booked if now >= a.end_at => {
            Some("The time of this visit has passed. Book a new one.".to_string())
        }
        AppointmentStatus::Booked => None,
        AppointmentStatus::Proposed => {
            Some("Confirm the time of this visit first, on its appointment page.".to_string())
        }
        other => Some(format!(
            "This visit is {}: there is nothing to check in for.",
            other.label().to_lowercase()
        )),
    };
    let form_view = if closed.is_none() {
        let current = match form.get("patient_state") {
            "" => a.patient_state.code().to_string(),
            chosen => chosen.to_string(),
        };
        Some(CheckInForm {
            action: format!("/visits/{id}/check-in"),
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
            .hint(&format!(
                "The clinician must be licensed where {} during the visit (booked for {}).",
                if staff { "the patient is" } else { "you are" },
                state_label(a.patient_state)
            ))
            .errors(&errors),
            location: Field::new(
                "location",
                if staff {
                    "Where exactly is the patient?"
                } else {
                    "Where exactly are you?"
                },
                form.get("location"),
            )
            .kind("textarea")
            .autocomplete("street-address")
            .hint("An address, or a description such as \"home, 12 Elm St, Albany\". If there is an emergency during the visit, this is where help is sent.")
            .errors(&errors),
            consent: consent_box(
                state,
                actor,
                a.patient_id,
                accepted_version(form).is_some(),
                &errors,
            )
            .await?,
            questionnaire: questionnaire(
                QuestionnaireKind::for_line(a.service_line),
                form,
                &errors,
            ),
        })
    } else {
        None
    };
    let label = format!("check-{}", &random_token()[..12]);
    let ice_servers = serde_json::to_string(&ice::ice_servers(&state.config, &label, now))
        .unwrap_or_else(|_| "[]".into());
    Ok(render(
        status,
        &CheckInPage {
            shell: me.shell(if staff {
                Section::WaitingRoom
            } else {
                Section::MyAppointments
            }),
            csrf: me.csrf().to_string(),
            heading: dir.visit_type_name(&a),
            when: when::when(a.start_at, &tz),
            clinician: dir.clinician_name(a.clinician_id),
            staff,
            errors,
            form: form_view,
            closed,
            back_href: if matches!(me, Attendee::Linked(_)) {
                String::new()
            } else {
                format!("/appointments/{id}")
            },
            ice_servers,
            ice_policy: if state.config.ice_relay_only {
                "relay"
            } else {
                "all"
            },
        },
    ))
}

/// `GET /visits/{id}/check-in`.
pub async fn form(
    State(state): State<AppState>,
    me: Attendee,
    Path(raw): Path<String>,
) -> PageResult {
    let id = parse_id(&raw)?;
    page(
        &state,
        &me,
        id,
        &FormData::default(),
        FormErrors::default(),
        StatusCode::OK,
    )
    .await
}

/// `POST /visits/{id}/check-in`: checks in and opens the waiting room.
pub async fn submit(
    State(state): State<AppState>,
    me: Attendee,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(me.csrf(), &form)?;
    let id = parse_id(&raw)?;
    me.check_visit(id)?;
    let staff = me.staff();
    let mut errors = FormErrors::default();
    let Some(location) = form.optional("location") else {
        errors.field(
            "location",
            if staff {
                "Say where the patient is: an address or a description. It is where help is sent in an emergency."
            } else {
                "Say where you are: an address or a description. It is where help is sent in an emergency."
            },
        );
        return page(
            &state,
            &me,
            id,
            &form,
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let ctx = state.ctx();
    let (a, _) = appointments::get(ctx, me.actor(), id).await?;
    let input = CheckInInput {
        patient_state: form.get("patient_state").to_string(),
        consent_version: accepted_version(&form),
        location: Some(location),
        questionnaire: questionnaire_input(&form, QuestionnaireKind::for_line(a.service_line)),
    };
    let err = match steps::check_in(ctx, me.actor(), id, &input).await {
        Ok(_) => return Ok(see_other(&format!("/visits/{id}"))),
        Err(err) => err,
    };
    let status = status_of(&err);
    match err {
        DomainError::ConsentRequired(_) => missing_consent(&mut errors, staff),
        DomainError::ClinicianNotLicensed { state: code } => {
            let dir = Directory::load(&state, me.actor()).await?;
            let who = dir.clinician_name(a.clinician_id);
            errors.form(if staff {
                format!(
                    "{who} is not licensed in {}, where the patient is now, so this video visit cannot go ahead there. The clinic's staff have been alerted: arrange another clinician or another time with the patient.",
                    super::appointment_view::state_name(code)
                )
            } else {
                format!(
                    "{who} is not licensed in {}, where you are now, so this video visit cannot go ahead there. The clinic's staff have been alerted and will contact you to arrange another clinician or another time. If you chose the wrong state, correct it and check in again.",
                    super::appointment_view::state_name(code)
                )
            });
        }
        DomainError::CheckInNotOpen(message) => {
            let dir = Directory::load(&state, me.actor()).await?;
            let tz = dir.zone(a.site_id);
            let opens = opens_at(&state, &a);
            if state.clock.now() < opens {
                errors.form(format!(
                    "Check-in is not open yet: it opens at {}.",
                    when::when(opens, &tz)
                ));
            } else {
                errors.form(capitalise(&message));
            }
        }
        other => errors = FormErrors::refusal(other, &LABELS)?.0,
    }
    page(&state, &me, id, &form, errors, status).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phq9_answers_are_read_in_order_and_gaps_leave_them_short() {
        let form = FormData::from_pairs(
            &(0..9)
                .map(|i| {
                    (
                        [
                            "phq9_0", "phq9_1", "phq9_2", "phq9_3", "phq9_4", "phq9_5", "phq9_6",
                            "phq9_7", "phq9_8",
                        ][i],
                        (i % 4).to_string(),
                    )
                })
                .collect::<Vec<_>>(),
        );
        let input = questionnaire_input(&form, QuestionnaireKind::Phq9);
        assert_eq!(input.phq9, vec![0, 1, 2, 3, 0, 1, 2, 3, 0]);
        let short = FormData::from_pairs(&[("phq9_0", "1".into())]);
        assert_eq!(
            questionnaire_input(&short, QuestionnaireKind::Phq9)
                .phq9
                .len(),
            1
        );
        let urgent = FormData::from_pairs(&[
            ("complaint", "cough".into()),
            ("fever", "yes".into()),
            ("chest_pain", "no".into()),
            ("pain", "x".into()),
        ]);
        let input = questionnaire_input(&urgent, QuestionnaireKind::UrgentSymptoms);
        assert_eq!(input.fever, Some(true));
        assert_eq!(input.chest_pain, Some(false));
        assert_eq!(input.trouble_breathing, None);
        assert_eq!(input.pain, Some(-1));
        assert!(input.phq9.is_empty());
    }
}
