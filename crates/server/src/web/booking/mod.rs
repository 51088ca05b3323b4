//! Booking a visit: search open times, pick one, confirm it (agreeing to telehealth consent when
//! needed). Patients book for themselves; staff book or propose for a patient; the same pages
//! move an existing appointment to a new time.

use askama::Template;
use axum::http::StatusCode;
use serde::Deserialize;

use domain::error::DomainResult;
use domain::identity::service::patients;
use domain::identity::{Patient, Role};
use domain::ids::AppointmentId;
use domain::scheduling::Appointment;
use domain::scheduling::service::appointments;
use domain::scheduling::service::booking::{SlotSearch, opt_date, opt_id, opt_language, opt_state};
use domain::{Permission, access};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::form::FormData;
use super::page::{PageError, PageResult, href, render};
use super::shell::{Section, Shell};

mod confirm;
mod search;

pub use confirm::{confirm_form, confirm_submit, reschedule_submit};
pub use search::search;

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
    pub(in crate::web) fn from_form(form: &FormData) -> Self {
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

    /// The search the criteria ask for; an error names the field.
    pub(in crate::web) fn search(&self) -> DomainResult<SlotSearch> {
        Ok(SlotSearch {
            visit_type_id: opt_id("visit_type_id", self.visit_type_id.as_deref(), "visit type")?,
            patient_state: opt_state("patient_state", self.patient_state.as_deref())?,
            language: opt_language("language", self.language.as_deref())?,
            from: opt_date("from", self.from.as_deref())?,
            to: opt_date("to", self.to.as_deref())?,
            limit: Some(300),
            ..SlotSearch::default()
        })
    }

    /// The search that finds the picked slot again: its day, site and clinician.
    fn search_for_pick(&self) -> DomainResult<SlotSearch> {
        let day = opt_date("day", self.day.as_deref())?;
        Ok(SlotSearch {
            visit_type_id: opt_id("visit_type_id", self.visit_type_id.as_deref(), "visit type")?,
            patient_state: opt_state("patient_state", self.patient_state.as_deref())?,
            from: day,
            to: day,
            site_id: opt_id("site", self.site.as_deref(), "site")?,
            clinician_id: opt_id("clinician", self.clinician.as_deref(), "clinician")?,
            ..SlotSearch::default()
        })
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
