//! The demo organization's schedule: visit types, clinicians' weekly hours at their clinics (slots
//! published for the booking horizon), telehealth consent for some patients, and upcoming visits
//! so calendars and the front desk have something to show.

use domain::DomainError;
use domain::access::Actor;
use domain::identity::{Organization, Patient, Role, User};
use domain::ids::{SiteId, VisitTypeId};
use domain::scheduling::availability::TemplateInput;
use domain::scheduling::service::booking::{self, BookCommand, SlotRef};
use domain::scheduling::service::visit_types::{self, VisitTypeInput};
use domain::scheduling::service::{availability, consent};
use domain::scheduling::{SlotQuery, VisitType};
use jiff::SignedDuration;

use crate::state::AppState;

/// (name, service line, modality, minutes, patient kind, patients may book it)
const VISIT_TYPES: [(&str, &str, &str, i64, &str, bool); 10] = [
    (
        "Primary care video visit",
        "primary_care",
        "video",
        20,
        "any",
        true,
    ),
    (
        "New patient video visit",
        "primary_care",
        "video",
        40,
        "new",
        true,
    ),
    (
        "Primary care phone visit",
        "primary_care",
        "audio_only",
        20,
        "any",
        true,
    ),
    ("Clinic visit", "primary_care", "in_person", 20, "any", true),
    (
        "Therapy session",
        "behavioral_health",
        "video",
        50,
        "follow_up",
        true,
    ),
    (
        "Urgent care video",
        "urgent_care",
        "video",
        15,
        "any",
        false,
    ),
    (
        "Diabetes check-in",
        "chronic_care_follow_up",
        "video",
        20,
        "follow_up",
        true,
    ),
    (
        "After-discharge check",
        "post_acute_check",
        "video",
        20,
        "any",
        false,
    ),
    (
        "Annual wellness screening",
        "wellness_screening",
        "video",
        30,
        "any",
        true,
    ),
    (
        "Cardiology consultation",
        "specialist_consultation",
        "video",
        40,
        "any",
        false,
    ),
];

/// Weekly hours: (clinician email, site index, weekdays, start, end, slot, buffer, service lines)
type Hours = (
    &'static str,
    usize,
    &'static [&'static str],
    &'static str,
    &'static str,
    i64,
    i64,
    &'static [&'static str],
);

const HOURS: [Hours; 5] = [
    (
        "dr.adams@riverside.example",
        0,
        &["monday", "wednesday", "friday"],
        "09:00",
        "12:00",
        20,
        0,
        &[
            "primary_care",
            "chronic_care_follow_up",
            "wellness_screening",
            "post_acute_check",
        ],
    ),
    (
        "dr.adams@riverside.example",
        1,
        &["tuesday", "thursday"],
        "13:00",
        "16:00",
        40,
        0,
        &[
            "primary_care",
            "chronic_care_follow_up",
            "wellness_screening",
        ],
    ),
    (
        "dr.baker@riverside.example",
        0,
        &["monday", "tuesday", "wednesday", "thursday", "friday"],
        "13:00",
        "17:00",
        20,
        0,
        &["primary_care", "urgent_care", "specialist_consultation"],
    ),
    (
        "dr.baker@riverside.example",
        2,
        &["saturday"],
        "09:00",
        "12:00",
        40,
        0,
        &["primary_care", "urgent_care", "specialist_consultation"],
    ),
    (
        "dr.chen@riverside.example",
        2,
        &["monday", "tuesday", "wednesday", "thursday"],
        "10:00",
        "16:00",
        50,
        10,
        &["behavioral_health"],
    ),
];

/// Seeds the schedule of the demo organization (called once, right after the organization).
pub async fn seed(
    state: &AppState,
    org: &Organization,
    site_ids: &[SiteId],
    patients: &[Patient],
) -> Result<(), DomainError> {
    let ctx = state.ctx();
    let operator = Actor {
        org_id: Some(org.id),
        ..Actor::operator()
    };
    let mut types: Vec<VisitType> = Vec::new();
    for (name, line, modality, minutes, kind, bookable) in VISIT_TYPES {
        let input = VisitTypeInput {
            name: name.into(),
            service_line: line.into(),
            modality: modality.into(),
            patient_kind: Some(kind.into()),
            duration_minutes: minutes,
            patient_bookable: bookable,
            active: None,
        };
        types.push(visit_types::create_in(ctx, &operator, org.id, &input).await?);
    }
    let clinicians: Vec<User> = state
        .store
        .list_users(org.id, Some(Role::Clinician))
        .await?;
    let today = state.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date();
    for (email, site, days, start, end, slot, buffer, lines) in HOURS {
        let Some(c) = clinicians.iter().find(|c| c.email.as_str() == email) else {
            continue;
        };
        for day in days {
            let input = TemplateInput {
                site_id: site_ids[site].to_string(),
                weekday: (*day).into(),
                start_time: start.into(),
                end_time: end.into(),
                slot_minutes: slot,
                buffer_minutes: buffer,
                service_lines: lines.iter().map(|l| (*l).to_string()).collect(),
                valid_from: today.to_string(),
                valid_until: None,
            };
            availability::add_template(ctx, &operator, c.id, &input).await?;
        }
    }
    // Half the patients have agreed to telehealth already; the others meet the consent step.
    let version = consent::current(ctx, org.id).await?.version;
    for p in patients.iter().step_by(2) {
        consent::give(ctx, &operator, p.id, version).await?;
    }
    book_upcoming(state, &operator, org, &types, patients).await
}

/// A dozen upcoming video visits over the next days, as the front desk would book them.
async fn book_upcoming(
    state: &AppState,
    operator: &Actor,
    org: &Organization,
    types: &[VisitType],
    patients: &[Patient],
) -> Result<(), DomainError> {
    let ctx = state.ctx();
    let video: VisitTypeId = types
        .iter()
        .find(|t| t.name == "Primary care video visit")
        .map(|t| t.id)
        .ok_or(DomainError::NotFound {
            resource: "visit type",
        })?;
    let now = state.clock.now();
    let query = SlotQuery {
        from: now
            .saturating_add(SignedDuration::from_hours(2))
            .unwrap_or(now),
        to: now
            .saturating_add(SignedDuration::from_hours(24 * 10))
            .unwrap_or(now),
        service_line: Some(domain::scheduling::ServiceLine::PrimaryCare),
        min_minutes: Some(20),
        clinician_id: None,
        site_id: None,
        slot_id: None,
        licensed_in: None,
        language: None,
        open_only: true,
        limit: 400,
    };
    let slots = state.store.search_slots(org.id, &query).await?;
    let mut booked = 0;
    for (i, p) in patients.iter().step_by(2).enumerate() {
        // Every third slot, so the calendars show open and booked times side by side.
        let Some(view) = slots.get(i * 3) else {
            break;
        };
        let input = BookCommand {
            patient_id: Some(p.id),
            reason: Some("Follow-up".into()),
            ..BookCommand::new(SlotRef::Id(view.slot.id), video)
        };
        // A clinician not licensed in the patient's state is skipped: the rules hold in the demo too.
        match booking::book(ctx, operator, &input).await {
            Ok(_) => booked += 1,
            Err(
                DomainError::ClinicianNotLicensed { .. }
                | DomainError::ClinicianNotCertified
                | DomainError::PatientDoubleBooked,
            ) => {}
            Err(e) => return Err(e),
        }
        if booked == 12 {
            break;
        }
    }
    Ok(())
}
