//! Visit notes: the note of one appointment, its telehealth facts, the sections the clinician
//! writes, its diagnoses, its signature and signed addenda; and the note's state machine.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::identity::UsState;
use crate::ids::{AddendumId, AppointmentId, NoteId, OrgId, PatientId, SiteId, UserId};
use crate::scheduling::{Modality, ServiceLine};

named_values!(
    /// Where a note stands: a draft anyone on the visit's team may change, or signed and locked.
    NoteStatus, "a note status" {
        Draft => ("draft", "Draft"),
        Signed => ("signed", "Signed"),
    }
);

named_values!(
    /// The shape of a note, chosen from the visit's service line.
    NoteTemplate, "a note template" {
        /// Subjective, objective, assessment, plan.
        Soap => ("soap", "SOAP note"),
        /// SOAP with the PHQ-9 score from the check-in questionnaire and a risk assessment.
        BehavioralHealth => ("behavioral_health", "Behavioral health note"),
        /// SOAP with a triage block (acuity and disposition).
        UrgentCare => ("urgent_care", "Urgent care note"),
    }
);

impl NoteTemplate {
    /// SOAP unless the service line has its own template.
    pub fn for_line(line: ServiceLine) -> Self {
        match line {
            ServiceLine::BehavioralHealth => NoteTemplate::BehavioralHealth,
            ServiceLine::UrgentCare => NoteTemplate::UrgentCare,
            _ => NoteTemplate::Soap,
        }
    }
}

named_values!(
    /// How urgent the problem is, judged by the urgent-care clinician.
    TriageAcuity, "a triage acuity" {
        Emergent => ("emergent", "Emergent: needs emergency care now"),
        Urgent => ("urgent", "Urgent: needs care within hours"),
        LessUrgent => ("less_urgent", "Less urgent: care within a day or two"),
        NonUrgent => ("non_urgent", "Non-urgent: self-care or routine follow-up"),
    }
);

named_values!(
    /// Where the urgent-care patient goes next.
    TriageDisposition, "a triage disposition" {
        HomeCare => ("home_care", "Home care with instructions"),
        PrimaryCare => ("primary_care", "Follow up with primary care"),
        InPersonUrgentCare => ("in_person_urgent_care", "In-person urgent care today"),
        EmergencyDepartment => ("emergency_department", "Emergency department now"),
    }
);

/// Someone besides the patient and the clinician who took part in the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteParticipant {
    pub name: String,
    /// "Interpreter", "Family member"...
    pub relation: String,
}

/// How and where the visit was held, copied from the visit record when the note is started and
/// refreshed from it until signing; nobody types over them. Payers and auditors look for these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelehealthFacts {
    /// As booked.
    pub modality: Modality,
    /// What the call actually used: audio-only if it switched at any point.
    pub modality_used: Modality,
    /// When the call first switched to audio-only.
    pub audio_only_since: Option<Timestamp>,
    /// The state the patient said they were in at check-in (licensure).
    pub patient_state: Option<UsState>,
    pub clinician_site: String,
    pub clinician_site_state: UsState,
    pub participants: Vec<NoteParticipant>,
    /// The version of the telehealth consent the patient agreed to, and when.
    pub consent_version: Option<i64>,
    pub consent_given_at: Option<Timestamp>,
    /// When the appointment was planned to start.
    pub planned_start: Option<Timestamp>,
    pub checked_in_at: Option<Timestamp>,
    pub call_started_at: Option<Timestamp>,
    pub call_ended_at: Option<Timestamp>,
    pub call_minutes: Option<i64>,
    /// The PHQ-9 total from the check-in questionnaire (behavioral health).
    pub phq9_score: Option<i64>,
    pub phq9_severity: Option<String>,
}

/// A follow-up the plan proposes; the front desk or the patient books it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    /// In how many days (1 to 365).
    pub in_days: i64,
    pub modality: Modality,
    pub reason: String,
}

/// What the clinician (or the nurse drafting) writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteSections {
    pub subjective: String,
    pub objective: String,
    pub assessment: String,
    pub plan: String,
    /// For the patient, in plain words: what to do now (goes into the after-visit summary).
    pub instructions: String,
    /// For the patient: which signs mean they should seek care sooner.
    pub warning_signs: String,
    /// Behavioral health: suicide and self-harm risk assessment.
    pub risk_assessment: String,
    /// Urgent care: the triage block.
    pub acuity: Option<TriageAcuity>,
    pub disposition: Option<TriageDisposition>,
    pub follow_up: Option<FollowUp>,
}

/// A diagnosis on a note: a billable ICD-10-CM code and its description from the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub code: String,
    pub description: String,
}

/// The signature of a note or an addendum: who, when, and the SHA-256 of what was signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub by: UserId,
    pub at: Timestamp,
    pub sha256: String,
}

/// The note of one appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: NoteId,
    pub org_id: OrgId,
    pub appointment_id: AppointmentId,
    pub patient_id: PatientId,
    /// The visit's clinician: the only one who may sign.
    pub clinician_id: UserId,
    pub site_id: SiteId,
    pub template: NoteTemplate,
    pub status: NoteStatus,
    pub facts: TelehealthFacts,
    pub sections: NoteSections,
    pub diagnoses: Vec<Diagnosis>,
    /// Counts saves; a save names the version it edited, so a stale tab cannot overwrite.
    pub version: i64,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub updated_by: UserId,
    pub updated_at: Timestamp,
    pub signature: Option<Signature>,
    /// When the patient was told the after-visit summary is ready, and first opened it.
    pub summary_notified_at: Option<Timestamp>,
    pub summary_read_at: Option<Timestamp>,
}

/// A signed addition to a signed note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addendum {
    pub id: AddendumId,
    pub note_id: NoteId,
    pub org_id: OrgId,
    pub text: String,
    pub signature: Signature,
}

/// What can happen to a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteEvent {
    Save,
    Sign,
    Addend,
}

impl NoteEvent {
    pub const ALL: [NoteEvent; 3] = [NoteEvent::Save, NoteEvent::Sign, NoteEvent::Addend];
}

/// The note's state machine: drafts are saved and signed once; a signed note takes addenda only.
pub fn next(status: NoteStatus, event: NoteEvent) -> Result<NoteStatus, DomainError> {
    match (status, event) {
        (NoteStatus::Draft, NoteEvent::Save) => Ok(NoteStatus::Draft),
        (NoteStatus::Draft, NoteEvent::Sign) => Ok(NoteStatus::Signed),
        (NoteStatus::Signed, NoteEvent::Addend) => Ok(NoteStatus::Signed),
        (NoteStatus::Signed, NoteEvent::Save) => Err(DomainError::refused(
            "note_signed",
            "the note is signed and cannot be changed; add a signed addendum instead",
        )),
        (NoteStatus::Signed, NoteEvent::Sign) => Err(DomainError::refused(
            "note_signed",
            "the note is already signed",
        )),
        (NoteStatus::Draft, NoteEvent::Addend) => Err(DomainError::refused(
            "note_not_signed",
            "addenda are added to signed notes; edit the draft instead",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_and_event_has_one_answer() {
        use NoteEvent as E;
        use NoteStatus as S;
        let expected = [
            (S::Draft, E::Save, Some(S::Draft)),
            (S::Draft, E::Sign, Some(S::Signed)),
            (S::Draft, E::Addend, None),
            (S::Signed, E::Save, None),
            (S::Signed, E::Sign, None),
            (S::Signed, E::Addend, Some(S::Signed)),
        ];
        let mut seen = 0;
        for status in NoteStatus::ALL {
            for event in NoteEvent::ALL {
                let row = expected
                    .iter()
                    .find(|(s, e, _)| s == status && *e == event)
                    .expect("row");
                assert_eq!(next(*status, event).ok(), row.2, "{status:?} {event:?}");
                seen += 1;
            }
        }
        assert_eq!(seen, expected.len());
    }

    #[test]
    fn refusals_name_their_rule() {
        let Err(DomainError::Refused { rule, .. }) = next(NoteStatus::Signed, NoteEvent::Save)
        else {
            panic!("a signed note must refuse a save");
        };
        assert_eq!(rule, "note_signed");
    }

    #[test]
    fn templates_follow_the_service_line() {
        assert_eq!(
            NoteTemplate::for_line(ServiceLine::BehavioralHealth),
            NoteTemplate::BehavioralHealth
        );
        assert_eq!(
            NoteTemplate::for_line(ServiceLine::UrgentCare),
            NoteTemplate::UrgentCare
        );
        assert_eq!(
            NoteTemplate::for_line(ServiceLine::PrimaryCare),
            NoteTemplate::Soap
        );
    }
}
