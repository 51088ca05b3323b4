//! Telehealth consent: a versioned text the organization publishes, and each patient's agreement
//! to a version of it. A new version needs new agreement.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::identity::required_text;
use crate::ids::{ConsentId, OrgId, PatientId, UserId};

/// The text every organization starts with, as version 1, until it publishes its own.
pub const DEFAULT_TELEHEALTH_CONSENT: &str = "I agree to receive care by video, phone or secure \
messages (telehealth). I understand that: a telehealth visit has limits, and my clinician may ask me \
to come in person; my information is protected as in an in-person visit, and the visit is not \
recorded; I should join from a private place, and tell my clinician where I am at the start of \
each visit; in an emergency I call 911 instead; I may refuse or withdraw this consent at any time \
without losing access to in-person care; and telehealth visits are billed like other visits.";

/// One published version of an organization's telehealth consent text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentDocument {
    pub org_id: OrgId,
    pub version: i64,
    pub text: String,
    pub published_at: Timestamp,
}

impl ConsentDocument {
    /// Version 1, the built-in text, for an organization that has published none.
    pub fn default_for(org_id: OrgId, since: Timestamp) -> Self {
        Self {
            org_id,
            version: 1,
            text: DEFAULT_TELEHEALTH_CONSENT.to_string(),
            published_at: since,
        }
    }

    /// The next version with a new text (checked: long enough to say something).
    pub fn next(&self, text: &str, at: Timestamp) -> Result<Self, DomainError> {
        let text = required_text("text", text, 20_000)?;
        if text.chars().count() < 40 {
            return Err(DomainError::invalid(
                "text",
                "must be at least 40 characters: the consent text patients read and agree to",
            ));
        }
        Ok(Self {
            org_id: self.org_id,
            version: self.version + 1,
            text,
            published_at: at,
        })
    }
}

/// How consent was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    /// The patient agreed themselves, signed in.
    Patient,
    /// Staff recorded the patient's spoken agreement (for example by phone).
    RecordedByStaff,
}

impl ConsentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentMethod::Patient => "patient",
            ConsentMethod::RecordedByStaff => "recorded_by_staff",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "patient" => Some(ConsentMethod::Patient),
            "recorded_by_staff" => Some(ConsentMethod::RecordedByStaff),
            _ => None,
        }
    }
}

/// A patient's agreement to one version of the telehealth consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientConsent {
    pub id: ConsentId,
    pub org_id: OrgId,
    pub patient_id: PatientId,
    pub version: i64,
    pub method: ConsentMethod,
    /// The account that gave or recorded it.
    pub recorded_by: Option<UserId>,
    pub given_at: Timestamp,
}

/// Has the patient agreed to the current version?
pub fn check_consent(
    current: &ConsentDocument,
    consents: &[PatientConsent],
) -> Result<(), DomainError> {
    if consents.iter().any(|c| c.version == current.version) {
        return Ok(());
    }
    let message = if consents.is_empty() {
        format!(
            "the patient has not consented to telehealth; read and accept the telehealth consent (version {}) to book a virtual visit",
            current.version
        )
    } else {
        format!(
            "the telehealth consent has changed since the patient last agreed; read and accept version {} to book a virtual visit",
            current.version
        )
    };
    Err(DomainError::ConsentRequired(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(version: i64) -> PatientConsent {
        PatientConsent {
            id: ConsentId::new(),
            org_id: OrgId::new(),
            patient_id: PatientId::new(),
            version,
            method: ConsentMethod::Patient,
            recorded_by: None,
            given_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn consent_to_the_current_version_is_needed() {
        let v1 = ConsentDocument::default_for(OrgId::new(), Timestamp::UNIX_EPOCH);
        assert!(matches!(
            check_consent(&v1, &[]),
            Err(DomainError::ConsentRequired(_))
        ));
        assert!(check_consent(&v1, &[consent(1)]).is_ok());
        let v2 = v1
            .next(
                &"A new consent text that is long enough to be real.".repeat(2),
                Timestamp::UNIX_EPOCH,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v2.version, 2);
        let refused = check_consent(&v2, &[consent(1)]);
        assert!(
            matches!(&refused, Err(DomainError::ConsentRequired(m)) if m.contains("changed")),
            "{refused:?}"
        );
        assert!(check_consent(&v2, &[consent(1), consent(2)]).is_ok());
    }

    #[test]
    fn a_new_version_needs_a_real_text() {
        let v1 = ConsentDocument::default_for(OrgId::new(), Timestamp::UNIX_EPOCH);
        assert!(v1.next("ok", Timestamp::UNIX_EPOCH).is_err());
        assert!(v1.next("   ", Timestamp::UNIX_EPOCH).is_err());
    }
}
