//! Booking a visit: search open times, pick one, confirm it (agreeing to telehealth consent when
//! needed). Patients book for themselves; staff book or propose for a patient; the same pages
//! move an existing appointment to a new time.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use domain::identity::service::patients;
use domain::identity::{Patient, Role};
use domain::ids::AppointmentId;
use domain::scheduling::Appointment;
use domain::scheduling::service::appointments;
use domain::scheduling::service::booking::{
    self, BookingInput, OpenSlot, RescheduleInput, SlotSearchInput,
};
use domain::{DomainError, Permission, access};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::appointment_view::{Directory, language_name, state_choices, state_label};
use super::consent::{ConsentBox, accepted_version, consent_box, missing_consent};
use super::form::{Field, FormData, FormErrors, PageQuery, Select, Tick};
use super::page::{PageError, PageResult, capitalise, href, render, see_other};
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};
use super::when;

/// Days a search covers unless the patient says otherwise.
const DEFAULT_SEARCH_DAYS: i64 = 13;

/// What the search and confirm pages carry from one to the other (names as the domain spells them).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Choice {
    visit_type_id: Option<String>,
    patient_state: Option<String>,
    language: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Staff booking for this patient.
    patient: Option<String>,
    /// The appointment being moved.
    reschedule: Option<String>,
    /// The slot picked, with the day (at the site), site and clinician to find it again.
    slot: Option<String>,
    day: Option<String>,
    site: Option<String>,
    clinician: Option<String>,
}

fn text(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or_default().to_string()
}

impl Choice {
    fn from_form(form: &FormData) -> Self {
        let get = |name: &str| form.optional(name);
        Self {
            visit_type_id: get("visit_type_id"),
            patient_state: get("patient_state"),
            language: get("language"),
            from: get("from"),
            to: get("to"),
            patient: get("patient"),
            reschedule: get("reschedule"),
            slot: get("slot"),
            day: get("day"),
            site: get("site"),
            clinician: get("clinician"),
        }
    }

    /// The search criteria, as query pairs.
    fn search_pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("visit_type_id", text(&self.visit_type_id)),
            ("patient_state", text(&self.patient_state)),
            ("language", text(&self.language)),
            ("from", text(&self.from)),
            ("to", text(&self.to)),
            ("patient", text(&self.patient)),
            ("reschedule", text(&self.reschedule)),
        ]
    }

    /// The search again, to pick another time.
    fn search_href(&self) -> String {
        href("/book", &self.search_pairs())
    }

    /// Everything, as hidden fields of the confirm form.
    fn hidden(&self) -> Vec<(&'static str, String)> {
        let mut pairs = self.search_pairs();
        pairs.extend([
            ("slot", text(&self.slot)),
            ("day", text(&self.day)),
            ("site", text(&self.site)),
            ("clinician", text(&self.clinician)),
        ]);
        pairs.retain(|(_, v)| !v.is_empty());
        pairs
    }
}

/// Whom a booking is for, and the appointment it moves, if any.
struct Subject {
    patient: Patient,
    by_staff: bool,
    moving: Option<Appointment>,
}

impl Subject {
    fn section(&self) -> Section {
        if self.by_staff {
            Section::Patients
        } else if self.moving.is_some() {
            Section::MyAppointments
        } else {
            Section::Book
        }
    }
}

async fn subject(state: &AppState, me: &SignedIn, choice: &Choice) -> Result<Subject, PageError> {
    let ctx = state.ctx();
    let actor = &me.actor;
    let by_staff = actor.role != Some(Role::Patient);
    if by_staff {
        access::require(actor, Permission::ManageAppointments)?;
    }
    if let Some(raw) = choice
        .reschedule
        .as_deref()
        .filter(|r| !r.trim().is_empty())
    {
        let id: AppointmentId = raw.trim().parse().map_err(|_| PageError::NotFound)?;
        let (a, _) = appointments::get(ctx, actor, id).await?;
        let patient = patients::get(ctx, actor, a.patient_id).await?;
        return Ok(Subject {
            patient,
            by_staff,
            moving: Some(a),
        });
    }
    let id = if by_staff {
        let raw = choice
            .patient
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| {
                PageError::BadRequest(
                    "To book a visit for a patient, find them under Patients and choose “Book a visit” on their record."
                        .into(),
                )
            })?;
        raw.trim().parse().map_err(|_| PageError::NotFound)?
    } else {
        actor.own_patient.ok_or_else(|| {
            PageError::Forbidden(
                "Your account is not linked to a patient record yet. Ask your clinic to link it."
                    .into(),
            )
        })?
    };
    let patient = patients::get(ctx, actor, id).await?;
    Ok(Subject {
        patient,
        by_staff,
        moving: None,
    })
}

/// One open time in the results: a big link to its confirm page.
pub struct SlotChoice {
    pub href: String,
    pub time: String,
    pub zone: String,
    pub clinician: String,
    pub languages: String,
    pub site: String,
}

/// The open times of one day.
pub struct DayGroup {
    pub heading: String,
    pub slots: Vec<SlotChoice>,
}

pub struct SearchForm {
    pub visit_type: Select,
    /// Shown instead of the select when moving a visit (its type stays).
    pub fixed_visit_type: Option<String>,
    pub patient_state: Select,
    pub language: Select,
    pub from: Field,
    pub to: Field,
}

#[derive(Template)]
#[template(path = "pages/book_search.html")]
struct SearchPage {
    shell: Shell,
    heading: String,
    intro: String,
    errors: FormErrors,
    form: SearchForm,
    hidden: Vec<(&'static str, String)>,
    searched: bool,
    result_count: String,
    days: Vec<DayGroup>,
    no_visit_types: bool,
}

const SEARCH_LABELS: [(&str, &str); 5] = [
    ("visit_type_id", "Type of visit"),
    ("patient_state", "The state you will be in"),
    ("language", "Language"),
    ("from", "From"),
    ("to", "To"),
];

fn group_by_day(found: &[OpenSlot], choice: &Choice, dir: &Directory) -> Vec<DayGroup> {
    let mut days: Vec<(jiff::civil::Date, DayGroup)> = Vec::new();
    for open in found {
        let tz = &open.time_zone;
        let date = when::date_at(open.slot.start_at, tz);
        let picked = Choice {
            slot: Some(open.slot.id.to_string()),
            day: Some(date.to_string()),
            site: Some(open.slot.site_id.to_string()),
            clinician: Some(open.slot.clinician_id.to_string()),
            ..choice.clone()
        };
        let slot = SlotChoice {
            href: href("/book/confirm", &picked.hidden()),
            time: when::clock(open.slot.start_at, tz),
            zone: when::zone_abbreviation(open.slot.start_at, tz),
            clinician: open.clinician_name.clone(),
            languages: open
                .clinician_languages
                .iter()
                .map(|l| language_name(l))
                .collect::<Vec<_>>()
                .join(", "),
            site: dir.site_name(open.slot.site_id),
        };
        match days.last_mut() {
            Some((d, group)) if *d == date => group.slots.push(slot),
            _ => days.push((
                date,
                DayGroup {
                    heading: when::day_heading(date),
                    slots: vec![slot],
                },
            )),
        }
    }
    days.into_iter().map(|(_, g)| g).collect()
}

/// The search form, and the open times when a search was made.
pub async fn search(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(mut choice): PageQuery<Choice>,
) -> PageResult {
    let who = subject(&state, &me, &choice).await?;
    let actor = &me.actor;
    let dir = Directory::load(&state, actor).await?;
    let first_visit = choice.visit_type_id.is_none() && choice.from.is_none();
    if let Some(a) = &who.moving {
        choice.visit_type_id = Some(a.visit_type_id.to_string());
        if first_visit {
            choice.patient_state = Some(a.patient_state.code().to_string());
        }
    }
    let languages = spoken_languages(&dir);
    if first_visit {
        // Defaults from the patient's record: where they live, the language they prefer.
        if choice.patient_state.is_none() {
            choice.patient_state = Some(who.patient.address.state.code().to_string());
        }
        let preferred = who.patient.preferred_language.to_ascii_lowercase();
        if languages.contains(&preferred) {
            choice.language = Some(preferred);
        }
    }
    let tz = dir.home_zone();
    let today = when::date_at(state.clock.now(), &tz);
    if choice.from.as_deref().is_none_or(|f| f.trim().is_empty()) {
        choice.from = Some(today.to_string());
    }
    if choice.to.as_deref().is_none_or(|t| t.trim().is_empty()) {
        let from = when::date_param(choice.from.as_deref(), today);
        choice.to = Some(
            from.saturating_add(jiff::Span::new().days(DEFAULT_SEARCH_DAYS))
                .to_string(),
        );
    }
    let searched = choice
        .visit_type_id
        .as_deref()
        .is_some_and(|v| !v.trim().is_empty());
    let mut errors = FormErrors::default();
    if !searched && !first_visit && who.moving.is_none() {
        errors.field("visit_type_id", "Choose the type of visit.");
    }
    let mut days = Vec::new();
    let mut count = 0;
    if searched {
        let input = SlotSearchInput {
            visit_type_id: choice.visit_type_id.clone(),
            patient_state: choice.patient_state.clone(),
            language: choice.language.clone(),
            from: choice.from.clone(),
            to: choice.to.clone(),
            limit: Some(300),
            ..SlotSearchInput::default()
        };
        match booking::search(state.ctx(), actor, &input).await {
            Ok(found) => {
                count = found.len();
                days = group_by_day(&found, &choice, &dir);
            }
            Err(err) => errors = FormErrors::from_domain(err, &SEARCH_LABELS)?,
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = search_page(
        &me, &who, &dir, &choice, &languages, errors, searched, days, count,
    );
    Ok(render(status, &page))
}

/// Languages some clinician of the organization holds visits in.
fn spoken_languages(dir: &Directory) -> Vec<String> {
    let mut all: Vec<String> = dir
        .clinicians()
        .iter()
        .flat_map(|c| c.languages.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    all
}

#[allow(clippy::too_many_arguments)]
fn search_page(
    me: &SignedIn,
    who: &Subject,
    dir: &Directory,
    choice: &Choice,
    languages: &[String],
    errors: FormErrors,
    searched: bool,
    days: Vec<DayGroup>,
    count: usize,
) -> SearchPage {
    let name = who.patient.full_name();
    let (heading, intro) = match (&who.moving, who.by_staff) {
        (Some(a), _) => (
            "Choose a new time".to_string(),
            format!(
                "The visit is now on {}. Pick a new time below; the old one is freed when you confirm.",
                when::when(a.start_at, &dir.zone(a.site_id))
            ),
        ),
        (None, true) => (
            format!("Book a visit for {name}"),
            "Search open times, then confirm one with the patient.".to_string(),
        ),
        (None, false) => (
            "Book a visit".to_string(),
            "Choose the type of visit and when you are free. We show the clinicians who can see you."
                .to_string(),
        ),
    };
    let visit_types = dir.active_visit_types();
    let current_type = text(&choice.visit_type_id);
    let fixed_visit_type = who.moving.as_ref().map(|a| dir.visit_type_name(a));
    let form = SearchForm {
        visit_type: Select::new(
            "visit_type_id",
            "Type of visit",
            visit_types.iter().map(|v| {
                (
                    v.id.to_string(),
                    format!(
                        "{} ({}, {})",
                        v.name,
                        v.modality.label(),
                        when::minutes(v.duration_minutes)
                    ),
                )
            }),
            &current_type,
            Some("Choose…"),
        )
        .errors(&errors),
        fixed_visit_type,
        patient_state: Select::new(
            "patient_state",
            if who.by_staff {
                "State the patient will be in during the visit"
            } else {
                "State you will be in during the visit"
            },
            state_choices(),
            &text(&choice.patient_state).to_ascii_uppercase(),
            None,
        )
        .hint("By law, a clinician must be licensed where the patient is during a video or phone visit.")
        .errors(&errors),
        language: Select::new(
            "language",
            "Language of the visit",
            languages.iter().map(|l| (l.clone(), language_name(l))),
            &text(&choice.language),
            Some("Any language"),
        )
        .optional()
        .errors(&errors),
        from: Field::new("from", "From", text(&choice.from))
            .kind("date")
            .errors(&errors),
        to: Field::new("to", "To", text(&choice.to))
            .kind("date")
            .errors(&errors),
    };
    let mut hidden = vec![
        ("patient", text(&choice.patient)),
        ("reschedule", text(&choice.reschedule)),
    ];
    if who.moving.is_some() {
        hidden.push(("visit_type_id", current_type));
    }
    hidden.retain(|(_, v)| !v.is_empty());
    let result_count = match count {
        0 => "No open times match. Try other dates, any language, or another type of visit."
            .to_string(),
        1 => "1 open time.".to_string(),
        n => format!("{n} open times."),
    };
    SearchPage {
        shell: Shell::new(me, who.section()),
        heading,
        intro,
        form,
        hidden,
        searched: searched && errors.is_empty(),
        errors,
        result_count,
        days,
        no_visit_types: visit_types.is_empty(),
    }
}

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

#[derive(Template)]
#[template(path = "pages/book_unavailable.html")]
struct UnavailablePage {
    shell: Shell,
    message: String,
    back_href: String,
}

fn unavailable(me: &SignedIn, section: Section, message: String, choice: &Choice) -> PageResult {
    let page = UnavailablePage {
        shell: Shell::new(me, section),
        message,
        back_href: choice.search_href(),
    };
    Ok(render(StatusCode::CONFLICT, &page))
}

/// Finds the picked slot again with the same criteria; `None` when it is no longer open to them.
async fn find_slot(
    state: &AppState,
    me: &SignedIn,
    choice: &Choice,
) -> Result<Option<OpenSlot>, PageError> {
    let wanted = text(&choice.slot);
    if wanted.is_empty() {
        return Ok(None);
    }
    let input = SlotSearchInput {
        visit_type_id: choice.visit_type_id.clone(),
        patient_state: choice.patient_state.clone(),
        from: choice.day.clone(),
        to: choice.day.clone(),
        site_id: choice.site.clone(),
        clinician_id: choice.clinician.clone(),
        limit: Some(500),
        ..SlotSearchInput::default()
    };
    match booking::search(state.ctx(), &me.actor, &input).await {
        Ok(found) => Ok(found.into_iter().find(|o| o.slot.id.to_string() == wanted)),
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
        err @ (DomainError::SlotTaken
        | DomainError::SlotNotBookable(_)
        | DomainError::PatientDoubleBooked
        | DomainError::ClinicianBusy
        | DomainError::ClinicianNotLicensed { .. }
        | DomainError::ClinicianNotCertified) => {
            Ok(Refusal::TimeGone(capitalise(&err.to_string())))
        }
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
    let input = BookingInput {
        slot_id: choice.slot.clone(),
        visit_type_id: text(&choice.visit_type_id),
        patient_id: if staff { choice.patient.clone() } else { None },
        patient_state: choice.patient_state.clone(),
        reason: form.optional("reason"),
        consent_version: accepted_version(&form),
        propose,
        ..BookingInput::default()
    };
    match booking::book(state.ctx(), &me.actor, &input).await {
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
    let input = RescheduleInput {
        slot_id: choice.slot.clone(),
        patient_state: choice.patient_state.clone(),
        consent_version: accepted_version(&form),
        ..RescheduleInput::default()
    };
    match booking::reschedule(state.ctx(), &me.actor, id, &input).await {
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
