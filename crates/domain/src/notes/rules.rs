//! The rules of notes: what a draft may hold, the telehealth facts taken from the visit record,
//! the digest a signature covers, who may write and who may sign.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::icd10;
use super::model::{
    Diagnosis, FollowUp, Note, NoteParticipant, NoteSections, NoteTemplate, TelehealthFacts,
    TriageAcuity, TriageDisposition,
};
use crate::compliance::PatientConsent;
use crate::error::DomainError;
use crate::identity::{Role, Site};
use crate::ids::{AppointmentId, PatientId, UserId};
use crate::scheduling::{Appointment, Modality};
use crate::visits::{Invite, Visit, VisitLogEntry, phq9_severity};

/// The longest section a note takes (characters); a long history fits many times over.
pub const MAX_SECTION: usize = 20_000;
/// At most this many diagnoses on one note.
pub const MAX_DIAGNOSES: usize = 12;

/// Free text that may span lines: trimmed, bounded, without control characters other than
/// line breaks and tabs.
pub fn long_text(field: &str, raw: &str, max: usize) -> Result<String, DomainError> {
    let value = raw.trim().replace("\r\n", "\n");
    if value.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value)
}

/// A draft as a front door sends it, not yet checked.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NoteInput {
    #[serde(default)]
    pub subjective: String,
    #[serde(default)]
    pub objective: String,
    #[serde(default)]
    pub assessment: String,
    #[serde(default)]
    pub plan: String,
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub warning_signs: String,
    #[serde(default)]
    pub risk_assessment: String,
    #[serde(default)]
    pub acuity: Option<String>,
    #[serde(default)]
    pub disposition: Option<String>,
    /// ICD-10-CM codes, in order of importance.
    #[serde(default)]
    pub diagnoses: Vec<String>,
    /// Days until a proposed follow-up; blank for none.
    #[serde(default)]
    pub follow_up_days: Option<String>,
    #[serde(default)]
    pub follow_up_modality: Option<String>,
    #[serde(default)]
    pub follow_up_reason: Option<String>,
}

/// A checked draft: its sections and diagnoses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteDraft {
    pub sections: NoteSections,
    pub diagnoses: Vec<Diagnosis>,
}

fn blank_to_none(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl NoteInput {
    /// Checks every field; the template decides which blocks may be filled.
    pub fn check(&self, template: NoteTemplate) -> Result<NoteDraft, DomainError> {
        let text = |field: &str, raw: &str| long_text(field, raw, MAX_SECTION);
        let urgent = template == NoteTemplate::UrgentCare;
        let acuity = blank_to_none(&self.acuity)
            .map(|raw| TriageAcuity::parse("acuity", raw))
            .transpose()?;
        let disposition = blank_to_none(&self.disposition)
            .map(|raw| TriageDisposition::parse("disposition", raw))
            .transpose()?;
        if !urgent && (acuity.is_some() || disposition.is_some()) {
            return Err(DomainError::invalid(
                "acuity",
                "the triage block belongs to urgent-care notes",
            ));
        }
        let risk_assessment = text("risk_assessment", &self.risk_assessment)?;
        if template != NoteTemplate::BehavioralHealth && !risk_assessment.is_empty() {
            return Err(DomainError::invalid(
                "risk_assessment",
                "the risk assessment belongs to behavioral health notes",
            ));
        }
        let follow_up = match blank_to_none(&self.follow_up_days) {
            None => None,
            Some(raw) => {
                let in_days = raw.parse::<i64>().ok().filter(|d| (1..=365).contains(d));
                let Some(in_days) = in_days else {
                    return Err(DomainError::invalid(
                        "follow_up_days",
                        "must be a number of days from 1 to 365",
                    ));
                };
                let modality = match blank_to_none(&self.follow_up_modality) {
                    Some(raw) => Modality::parse("follow_up_modality", raw)?,
                    None => Modality::Video,
                };
                let reason = crate::identity::optional_text(
                    "follow_up_reason",
                    self.follow_up_reason.as_deref(),
                    200,
                )?
                .unwrap_or_default();
                Some(FollowUp {
                    in_days,
                    modality,
                    reason,
                })
            }
        };
        Ok(NoteDraft {
            sections: NoteSections {
                subjective: text("subjective", &self.subjective)?,
                objective: text("objective", &self.objective)?,
                assessment: text("assessment", &self.assessment)?,
                plan: text("plan", &self.plan)?,
                instructions: text("instructions", &self.instructions)?,
                warning_signs: text("warning_signs", &self.warning_signs)?,
                risk_assessment,
                acuity,
                disposition,
                follow_up,
            },
            diagnoses: check_diagnoses(&self.diagnoses)?,
        })
    }
}

/// Each code must be a billable ICD-10-CM code of the bundled release; blanks are skipped,
/// repeats refused.
pub fn check_diagnoses(raw: &[String]) -> Result<Vec<Diagnosis>, DomainError> {
    let mut out: Vec<Diagnosis> = Vec::new();
    for (i, code) in raw.iter().enumerate() {
        if code.trim().is_empty() {
            continue;
        }
        let field = format!("diagnoses[{i}]");
        let found = icd10::check_billable(&field, code)?;
        if out.iter().any(|d| d.code == found.code) {
            return Err(DomainError::invalid(
                field,
                format!("{} is already on the note", found.code),
            ));
        }
        out.push(Diagnosis {
            code: found.code.to_string(),
            description: found.description.to_string(),
        });
    }
    if out.len() > MAX_DIAGNOSES {
        return Err(DomainError::invalid(
            "diagnoses",
            format!("at most {MAX_DIAGNOSES} diagnoses"),
        ));
    }
    Ok(out)
}

/// What the visit record says, gathered by the use case for [`facts_from`].
#[derive(Debug, Clone, Copy)]
pub struct VisitRecord<'a> {
    pub appointment: &'a Appointment,
    pub visit: Option<&'a Visit>,
    pub log: &'a [VisitLogEntry],
    pub guests: &'a [Invite],
    pub site: &'a Site,
    /// The consent in force for the visit (the latest the patient gave before it).
    pub consent: Option<&'a PatientConsent>,
}

/// The telehealth facts of a visit, from its record alone.
pub fn facts_from(record: VisitRecord<'_>) -> TelehealthFacts {
    let visit = record.visit;
    let audio_only_since = record
        .log
        .iter()
        .filter(|e| e.kind == "audio_only")
        .map(|e| e.at)
        .min();
    let questionnaire = visit.and_then(|v| v.questionnaire.as_ref());
    let phq9_score = questionnaire
        .filter(|q| !q.phq9.is_empty())
        .and_then(|q| q.score);
    TelehealthFacts {
        modality: record.appointment.modality,
        modality_used: visit.map_or(record.appointment.modality, Visit::modality_used),
        audio_only_since,
        patient_state: visit
            .map(|v| v.location_state)
            .or(Some(record.appointment.patient_state)),
        clinician_site: record.site.name.clone(),
        clinician_site_state: record.site.state,
        participants: record
            .guests
            .iter()
            .filter(|g| g.admitted_at.is_some())
            .map(|g| NoteParticipant {
                name: g.name.clone(),
                relation: g.relation.label().to_string(),
            })
            .collect(),
        consent_version: record.consent.map(|c| c.version),
        consent_given_at: record.consent.map(|c| c.given_at),
        planned_start: Some(record.appointment.start_at),
        checked_in_at: visit.map(|v| v.checked_in_at),
        call_started_at: visit.and_then(|v| v.started_at),
        call_ended_at: visit.and_then(|v| v.ended_at),
        call_minutes: visit.and_then(Visit::call_minutes),
        phq9_score,
        phq9_severity: phq9_score.map(|s| phq9_severity(s).to_string()),
    }
}

/// Exactly what a signature covers, in a fixed order: the visit, the facts, the sections and the
/// diagnoses, the signer and the time. Serialized as JSON of this struct, whose field order is fixed.
#[derive(Serialize)]
struct Signed<'a> {
    appointment_id: AppointmentId,
    patient_id: PatientId,
    template: &'a str,
    facts: &'a TelehealthFacts,
    sections: &'a NoteSections,
    diagnoses: &'a [Diagnosis],
    signed_by: UserId,
    signed_at: Timestamp,
}

/// The SHA-256 (hex) a note's signature carries.
pub fn note_digest(note: &Note, signed_by: UserId, signed_at: Timestamp) -> String {
    let signed = Signed {
        appointment_id: note.appointment_id,
        patient_id: note.patient_id,
        template: note.template.as_str(),
        facts: &note.facts,
        sections: &note.sections,
        diagnoses: &note.diagnoses,
        signed_by,
        signed_at,
    };
    // Serializing plain structs of strings and numbers cannot fail.
    let json = serde_json::to_vec(&signed).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

/// The SHA-256 of an addendum: the note's own digest, the text, the signer and the time.
pub fn addendum_digest(note_sha256: &str, text: &str, by: UserId, at: Timestamp) -> String {
    let mut hash = Sha256::new();
    for part in [
        note_sha256,
        text,
        &by.to_string(),
        &at.as_microsecond().to_string(),
    ] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// True when the stored signature still matches the note's content.
pub fn signature_matches(note: &Note) -> bool {
    note.signature
        .as_ref()
        .is_some_and(|s| note_digest(note, s.by, s.at) == s.sha256)
}

/// Clinicians and nurses write drafts.
pub fn check_can_draft(role: Option<Role>) -> Result<(), DomainError> {
    match role {
        Some(Role::Clinician | Role::Nurse) => Ok(()),
        _ => Err(DomainError::Forbidden {
            action: "write visit notes",
        }),
    }
}

/// Only the visit's clinician signs its note (and its addenda).
pub fn check_signer(note: &Note, user: Option<UserId>) -> Result<(), DomainError> {
    if user == Some(note.clinician_id) {
        Ok(())
    } else {
        Err(DomainError::refused(
            "not_note_signer",
            "only the visit's clinician can sign this note",
        ))
    }
}

/// A draft older than `max_hours` is overdue for signing.
pub fn unsigned_overdue(note: &Note, now: Timestamp, max_hours: i64) -> bool {
    note.signature.is_none() && now.duration_since(note.created_at).as_hours() >= max_hours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keep_line_breaks_and_refuse_other_control_characters() {
        assert_eq!(
            long_text("plan", " a\r\nb ", 10).ok().as_deref(),
            Some("a\nb")
        );
        assert!(long_text("plan", "a\u{7}b", 10).is_err());
        let err = long_text("plan", &"x".repeat(11), 10)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("plan:"), "{err}");
    }

    #[test]
    fn diagnoses_must_be_billable_and_not_repeated() {
        let ok = check_diagnoses(&["j06.9".into(), "".into(), "F41.1".into()]).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].code, "J06.9");
        let err = check_diagnoses(&["J06.9".into(), "J069".into()])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("diagnoses[1]"), "{err}");
        let err = check_diagnoses(&["E11".into()]).unwrap_err().to_string();
        assert!(err.contains("not a billable code"), "{err}");
    }

    #[test]
    fn template_blocks_belong_to_their_template() {
        let input = NoteInput {
            acuity: Some("urgent".into()),
            ..NoteInput::default()
        };
        assert!(input.check(NoteTemplate::UrgentCare).is_ok());
        let err = input.check(NoteTemplate::Soap).unwrap_err().to_string();
        assert!(err.starts_with("acuity"), "{err}");
        let input = NoteInput {
            risk_assessment: "Denies intent or plan.".into(),
            ..NoteInput::default()
        };
        assert!(input.check(NoteTemplate::BehavioralHealth).is_ok());
        assert!(input.check(NoteTemplate::Soap).is_err());
    }

    #[test]
    fn a_follow_up_needs_a_sensible_number_of_days() {
        let mut input = NoteInput {
            follow_up_days: Some("14".into()),
            ..NoteInput::default()
        };
        let draft = input.check(NoteTemplate::Soap).unwrap();
        assert_eq!(draft.sections.follow_up.map(|f| f.in_days), Some(14));
        input.follow_up_days = Some("0".into());
        let err = input.check(NoteTemplate::Soap).unwrap_err().to_string();
        assert!(err.starts_with("follow_up_days"), "{err}");
    }

    #[test]
    fn addendum_digests_change_with_every_part() {
        let by = UserId::new();
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        let a = addendum_digest("abc", "text", by, at);
        assert_eq!(a.len(), 64);
        assert_ne!(a, addendum_digest("abd", "text", by, at));
        assert_ne!(a, addendum_digest("abc", "texu", by, at));
        assert_ne!(a, addendum_digest("abc", "text", UserId::new(), at));
        // Length prefixes: moving a character between parts changes the digest.
        assert_ne!(addendum_digest("ab", "ctext", by, at), a);
    }
}
