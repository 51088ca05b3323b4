//! How scheduling pages show appointments: with names instead of ids, times in the site's zone,
//! and status labels people use ("Late cancellation", "No-show").

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use domain::Actor;
use domain::compliance::AuditActor;
use domain::identity::service::org;
use domain::identity::{Patient, Role, Site, UsState};
use domain::ids::{PatientId, SiteId, UserId, VisitTypeId};
use domain::scheduling::service::directory::{self, ClinicianCard};
use domain::scheduling::service::visit_types;
use domain::scheduling::{Appointment, AppointmentEvent, AppointmentStatus, VisitType};

use crate::state::AppState;

use super::page::PageError;
use super::when;

/// The names and places a scheduling page needs, loaded once per request.
pub struct Directory {
    sites: Vec<(Site, TimeZone)>,
    clinicians: HashMap<UserId, ClinicianCard>,
    visit_types: HashMap<VisitTypeId, VisitType>,
    patients: HashMap<PatientId, Patient>,
}

impl Directory {
    /// Sites with their zones, clinicians and visit types of the actor's organization.
    pub async fn load(state: &AppState, actor: &Actor) -> Result<Self, PageError> {
        let ctx = state.ctx();
        let mut sites = Vec::new();
        for site in org::list_sites(ctx, actor, actor.org()?).await? {
            let tz = TimeZone::get(site.time_zone.as_str()).unwrap_or(TimeZone::UTC);
            sites.push((site, tz));
        }
        let clinicians = directory::clinicians(ctx, actor)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let visit_types = visit_types::list(ctx, actor)
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        Ok(Self {
            sites,
            clinicians,
            visit_types,
            patients: HashMap::new(),
        })
    }

    /// Adds the patients of these appointments (for staff: who each visit is with).
    pub async fn with_patients(
        mut self,
        state: &AppState,
        actor: &Actor,
        appointments: &[Appointment],
    ) -> Result<Self, PageError> {
        if actor.role != Some(Role::Patient) && !appointments.is_empty() {
            self.patients = directory::patients_of(state.ctx(), actor, appointments).await?;
        }
        Ok(self)
    }

    pub fn sites(&self) -> impl Iterator<Item = &Site> {
        self.sites.iter().map(|(s, _)| s)
    }

    pub fn site(&self, id: SiteId) -> Option<&Site> {
        self.sites.iter().find(|(s, _)| s.id == id).map(|(s, _)| s)
    }

    pub fn site_name(&self, id: SiteId) -> String {
        self.site(id)
            .map_or_else(|| "Unknown site".to_string(), |s| s.name.clone())
    }

    /// The time zone of a site; the organization's first site's for an unknown one.
    pub fn zone(&self, id: SiteId) -> TimeZone {
        self.sites
            .iter()
            .find(|(s, _)| s.id == id)
            .map_or_else(|| self.home_zone(), |(_, tz)| tz.clone())
    }

    /// The zone dates mean when no site is named: the organization's first site's.
    pub fn home_zone(&self) -> TimeZone {
        self.sites
            .first()
            .map_or(TimeZone::UTC, |(_, tz)| tz.clone())
    }

    pub fn clinicians(&self) -> Vec<&ClinicianCard> {
        let mut all: Vec<&ClinicianCard> = self.clinicians.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn clinician_name(&self, id: UserId) -> String {
        self.clinicians
            .get(&id)
            .map_or_else(|| "A clinician".to_string(), |c| c.name.clone())
    }

    /// The zone a clinician's calendar is read in: that of the first site they work at.
    pub fn clinician_zone(&self, id: UserId) -> TimeZone {
        match self.clinicians.get(&id).and_then(|c| c.site_ids.first()) {
            Some(site) => self.zone(*site),
            None => self.home_zone(),
        }
    }

    pub fn visit_type(&self, id: VisitTypeId) -> Option<&VisitType> {
        self.visit_types.get(&id)
    }

    /// Visit types that can be booked now, by name.
    pub fn active_visit_types(&self) -> Vec<&VisitType> {
        let mut all: Vec<&VisitType> = self.visit_types.values().filter(|v| v.active).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The visit type's name, or what the appointment itself says about the visit.
    pub fn visit_type_name(&self, a: &Appointment) -> String {
        match self.visit_types.get(&a.visit_type_id) {
            Some(v) => v.name.clone(),
            None => format!("{} ({})", a.service_line.label(), a.modality.label()),
        }
    }

    pub fn patient(&self, id: PatientId) -> Option<&Patient> {
        self.patients.get(&id)
    }

    /// The end of the time booked: the start and the visit type's length. A visit that ends
    /// early frees the rest of its time, so the appointment's own end moves up to when it ended.
    pub fn booked_end(&self, a: &Appointment) -> jiff::Timestamp {
        self.visit_types
            .get(&a.visit_type_id)
            .filter(|_| !a.on_demand())
            .and_then(|t| {
                a.start_at
                    .checked_add(jiff::SignedDuration::from_mins(t.duration_minutes))
                    .ok()
            })
            .map_or(a.end_at, |end| end.max(a.end_at))
    }

    /// A short line about an appointment, for lists and calendars.
    pub fn summary(&self, a: &Appointment) -> AppointmentSummary {
        let tz = self.zone(a.site_id);
        let patient = self.patients.get(&a.patient_id);
        AppointmentSummary {
            href: format!("/appointments/{}", a.id),
            when: when::when(a.start_at, &tz),
            time: when::clock(a.start_at, &tz),
            end_time: when::clock(self.booked_end(a), &tz),
            zone: when::zone_abbreviation(a.start_at, &tz),
            date: when::date_at(a.start_at, &tz),
            clinician: self.clinician_name(a.clinician_id),
            visit_type: self.visit_type_name(a),
            modality: a.modality.label(),
            site: self.site_name(a.site_id),
            patient: patient.map_or_else(
                || "Patient record not available".to_string(),
                |p| format!("{}, {}", p.family_name, p.given_name),
            ),
            patient_mrn: patient.map(|p| p.mrn.clone()).unwrap_or_default(),
            patient_href: format!("/patients/{}", a.patient_id),
            status: status_label(a),
            status_class: status_class(a),
        }
    }
}

/// One appointment as a line in a list.
#[derive(Debug, Clone)]
pub struct AppointmentSummary {
    pub href: String,
    pub when: String,
    pub time: String,
    pub end_time: String,
    pub zone: String,
    pub date: Date,
    pub clinician: String,
    pub visit_type: String,
    pub modality: &'static str,
    pub site: String,
    pub patient: String,
    pub patient_mrn: String,
    pub patient_href: String,
    pub status: &'static str,
    pub status_class: &'static str,
}

/// The status as people say it; a patient's late cancellation is named as such.
pub fn status_label(a: &Appointment) -> &'static str {
    if a.status == AppointmentStatus::Cancelled && a.late_cancellation {
        "Late cancellation"
    } else {
        a.status.label()
    }
}

/// The badge colour of a status (a class name in the stylesheet).
pub fn status_class(a: &Appointment) -> &'static str {
    match a.status {
        AppointmentStatus::Cancelled if a.late_cancellation => "badge-late",
        AppointmentStatus::Proposed => "badge-proposed",
        AppointmentStatus::Booked => "badge-booked",
        AppointmentStatus::CheckedIn | AppointmentStatus::InVisit => "badge-ok",
        AppointmentStatus::Completed => "badge-done",
        AppointmentStatus::Cancelled => "badge-cancelled",
        AppointmentStatus::NoShow => "badge-off",
    }
}

/// Has the visit not happened yet (or is it happening)?
pub fn is_ahead(a: &Appointment, now: Timestamp) -> bool {
    matches!(
        a.status,
        AppointmentStatus::Proposed
            | AppointmentStatus::Booked
            | AppointmentStatus::CheckedIn
            | AppointmentStatus::InVisit
    ) && a.end_at > now
}

/// One line of an appointment's history.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub when: String,
    pub what: &'static str,
    pub who: String,
    pub detail: String,
}

impl Directory {
    /// Who did something, as the reader knows them: "You", a clinician's name, or a role.
    pub fn who(&self, actor: &AuditActor, me: &Actor) -> String {
        match actor {
            AuditActor::User { id, .. } if me.user_id() == Some(*id) => "You".into(),
            AuditActor::User { id, role } => match (self.clinicians.get(id), role) {
                (Some(c), _) => c.name.clone(),
                (None, Role::Patient) => "The patient".into(),
                (None, role) => role.label().into(),
            },
            AuditActor::Client { .. } => "A connected system".into(),
            AuditActor::Operator => "Telemed (automatic)".into(),
            AuditActor::Anonymous => "Unknown".into(),
            AuditActor::Guest { .. } => "A guest".into(),
            AuditActor::VisitLink { .. } => "The patient (by join link)".into(),
        }
    }

    pub fn event_row(&self, e: &AppointmentEvent, tz: &TimeZone, me: &Actor) -> EventRow {
        EventRow {
            when: when::when(e.at, tz),
            what: e.action.label(),
            who: self.who(&e.actor, me),
            detail: e
                .detail
                .as_deref()
                .map(|d| readable_times(d, tz))
                .unwrap_or_default(),
        }
    }
}

/// A note with instants written for machines ("from 2026-12-03T14:00:00Z to ...") with each
/// instant as people read it at the site.
pub fn readable_times(note: &str, tz: &TimeZone) -> String {
    note.split(' ')
        .map(|word| {
            let bare = word.trim_end_matches([',', ';', ')']);
            match bare.parse::<Timestamp>() {
                Ok(at) => format!("{}{}", when::when(at, tz), &word[bare.len()..]),
                Err(_) => word.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The states as choices of a select, such as ("NY", "New York (NY)"), in the order of their
/// names: people look for "New York", not for a postal code.
pub fn state_choices() -> impl Iterator<Item = (String, String)> {
    let mut all: Vec<(String, String)> = UsState::all()
        .iter()
        .map(|code| (code.to_string(), format!("{} ({code})", state_name(code))))
        .collect();
    all.sort_by(|a, b| a.1.cmp(&b.1));
    all.into_iter()
}

/// The name of a state or territory, by its postal code.
pub fn state_name(code: &str) -> &'static str {
    match code {
        "AL" => "Alabama",
        "AK" => "Alaska",
        "AZ" => "Arizona",
        "AR" => "Arkansas",
        "CA" => "California",
        "CO" => "Colorado",
        "CT" => "Connecticut",
        "DE" => "Delaware",
        "DC" => "District of Columbia",
        "FL" => "Florida",
        "GA" => "Georgia",
        "HI" => "Hawaii",
        "ID" => "Idaho",
        "IL" => "Illinois",
        "IN" => "Indiana",
        "IA" => "Iowa",
        "KS" => "Kansas",
        "KY" => "Kentucky",
        "LA" => "Louisiana",
        "ME" => "Maine",
        "MD" => "Maryland",
        "MA" => "Massachusetts",
        "MI" => "Michigan",
        "MN" => "Minnesota",
        "MS" => "Mississippi",
        "MO" => "Missouri",
        "MT" => "Montana",
        "NE" => "Nebraska",
        "NV" => "Nevada",
        "NH" => "New Hampshire",
        "NJ" => "New Jersey",
        "NM" => "New Mexico",
        "NY" => "New York",
        "NC" => "North Carolina",
        "ND" => "North Dakota",
        "OH" => "Ohio",
        "OK" => "Oklahoma",
        "OR" => "Oregon",
        "PA" => "Pennsylvania",
        "RI" => "Rhode Island",
        "SC" => "South Carolina",
        "SD" => "South Dakota",
        "TN" => "Tennessee",
        "TX" => "Texas",
        "UT" => "Utah",
        "VT" => "Vermont",
        "VA" => "Virginia",
        "WA" => "Washington",
        "WV" => "West Virginia",
        "WI" => "Wisconsin",
        "WY" => "Wyoming",
        "PR" => "Puerto Rico",
        "GU" => "Guam",
        "VI" => "U.S. Virgin Islands",
        "AS" => "American Samoa",
        "MP" => "Northern Mariana Islands",
        _ => "Unknown state",
    }
}

/// "New York (NY)".
pub fn state_label(state: UsState) -> String {
    format!("{} ({})", state_name(state.code()), state.code())
}

/// The languages offered in a choice of language, with `current` among them even when it is
/// not a common one.
pub fn language_choices(current: &str) -> Vec<(String, String)> {
    const COMMON: [&str; 17] = [
        "en", "es", "zh", "vi", "ko", "tl", "ru", "ar", "ht", "fr", "pt", "de", "it", "pl", "hi",
        "ja", "ase",
    ];
    let mut all: Vec<(String, String)> = COMMON
        .iter()
        .map(|tag| (tag.to_string(), language_name(tag)))
        .collect();
    let current = current.trim().to_ascii_lowercase();
    if !current.is_empty() && !all.iter().any(|(tag, _)| *tag == current) {
        all.push((current.clone(), language_name(&current)));
    }
    all
}

/// A language tag as a name people know; the tag itself when it is not a common one.
pub fn language_name(tag: &str) -> String {
    let name = match tag.split('-').next().unwrap_or(tag) {
        "en" => "English",
        "es" => "Spanish",
        "zh" => "Chinese",
        "vi" => "Vietnamese",
        "ko" => "Korean",
        "tl" => "Tagalog",
        "ru" => "Russian",
        "ar" => "Arabic",
        "ht" => "Haitian Creole",
        "fr" => "French",
        "pt" => "Portuguese",
        "de" => "German",
        "it" => "Italian",
        "pl" => "Polish",
        "hi" => "Hindi",
        "ja" => "Japanese",
        "asl" | "ase" => "American Sign Language",
        _ => return tag.to_string(),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_code_has_a_name() {
        for code in UsState::all() {
            assert_ne!(state_name(code), "Unknown state", "{code}");
        }
        assert_eq!(state_choices().count(), UsState::all().len());
    }

    #[test]
    fn instants_in_notes_read_in_the_sites_zone() {
        let tz = TimeZone::get("America/New_York").unwrap();
        assert_eq!(
            readable_times(
                "from 2024-12-03T14:00:00Z to 2024-12-03T14:30:00Z (late)",
                &tz
            ),
            "from Tue 3 Dec, 09:00 (EST) to Tue 3 Dec, 09:30 (EST) (late)"
        );
        assert_eq!(readable_times("patient in NY", &tz), "patient in NY");
    }
}
