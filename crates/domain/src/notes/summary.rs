//! The after-visit summary: what the patient reads of a signed note, in plain language.

use jiff::Timestamp;

use super::model::{Diagnosis, Note, NoteTemplate};
use crate::identity::Site;
use crate::ids::{AppointmentId, NoteId};
use crate::scheduling::Modality;

/// What a patient is told about a visit once its note is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterVisitSummary {
    pub note_id: NoteId,
    pub appointment_id: AppointmentId,
    /// When the visit was held (the call's start, the check-in, the planned start, or the signing).
    pub visit_at: Timestamp,
    pub clinician_name: String,
    pub site_name: String,
    /// The site's IANA time zone, for showing the visit's time.
    pub time_zone: String,
    /// "Video visit", "Phone (audio-only) visit"...
    pub how: &'static str,
    pub diagnoses: Vec<Diagnosis>,
    /// The clinician's instructions, as written for the patient.
    pub instructions: String,
    /// A sentence about the proposed follow-up, if any.
    pub follow_up: Option<String>,
    /// When to seek care sooner: the clinician's words, or the standard advice.
    pub warning_signs: String,
    /// How to reach the care team.
    pub contact: String,
    pub signed_at: Option<Timestamp>,
}

/// The advice every summary carries when the clinician wrote none of their own.
pub const STANDARD_WARNING_SIGNS: &str = "If your symptoms get worse, or you notice new ones such as trouble breathing, chest pain, \
fainting or confusion, call 911 or go to the nearest emergency department. For questions that \
can wait, send your care team a message.";

/// Added for behavioral health visits.
pub const CRISIS_LINE: &str = "If you have thoughts of harming yourself, call or text 988 (Suicide and Crisis Lifeline) at any time.";

/// The patient's summary of a signed note.
pub fn summarize(
    note: &Note,
    clinician_name: &str,
    site: Option<&Site>,
    reply_business_days: i64,
) -> AfterVisitSummary {
    let site_name = site.map_or("your clinic", |s| s.name.as_str());
    let sections = &note.sections;
    let mut warning_signs = if sections.warning_signs.trim().is_empty() {
        STANDARD_WARNING_SIGNS.to_string()
    } else {
        sections.warning_signs.clone()
    };
    if note.template == NoteTemplate::BehavioralHealth {
        warning_signs = format!("{warning_signs}\n{CRISIS_LINE}");
    }
    let follow_up = sections.follow_up.as_ref().map(|f| {
        let how = match f.modality {
            Modality::Video => "a video visit",
            Modality::AudioOnly => "a phone visit",
            Modality::InPerson => "a visit in person",
            Modality::AsyncEVisit => "an e-visit by message",
        };
        let when = match f.in_days {
            1 => "tomorrow".to_string(),
            7 => "in about a week".to_string(),
            14 => "in about two weeks".to_string(),
            d => format!("in about {d} days"),
        };
        let reason = if f.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", f.reason)
        };
        format!("Your clinician suggests {how} {when}{reason}. Book it from Appointments, or ask the front desk.")
    });
    let facts = &note.facts;
    AfterVisitSummary {
        note_id: note.id,
        appointment_id: note.appointment_id,
        visit_at: facts
            .call_started_at
            .or(facts.checked_in_at)
            .or(facts.planned_start)
            .or(note.signature.as_ref().map(|s| s.at))
            .unwrap_or(note.created_at),
        clinician_name: clinician_name.to_string(),
        site_name: site_name.to_string(),
        time_zone: site.map_or_else(|| "UTC".to_string(), |s| s.time_zone.as_str().to_string()),
        how: facts.modality_used.label(),
        diagnoses: note.diagnoses.clone(),
        instructions: sections.instructions.clone(),
        follow_up,
        warning_signs,
        contact: format!(
            "Send a message to your care team at {site_name} from Messages in your portal. We answer within {reply_business_days} business days; for anything urgent, call 911."
        ),
        signed_at: note.signature.as_ref().map(|s| s.at),
    }
}
