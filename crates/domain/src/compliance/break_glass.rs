//! Emergency access: a clinician opens a record outside their care team, with a reason, for a short time.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::ids::{BreakGlassId, OrgId, PatientId, UserId};

/// How long a grant lasts unless configured otherwise.
pub const DEFAULT_BREAK_GLASS_MINUTES: i64 = 60;
/// Reasons shorter than this are refused: "x" is not a justification.
pub const MIN_REASON_CHARS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlassGrant {
    pub id: BreakGlassId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub patient_id: PatientId,
    pub reason: String,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
    pub reviewed_by: Option<UserId>,
    pub reviewed_at: Option<Timestamp>,
}

impl BreakGlassGrant {
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.granted_at <= now && now < self.expires_at
    }
}

/// Validates the reason and builds the grant.
pub fn grant(
    org_id: OrgId,
    user_id: UserId,
    patient_id: PatientId,
    reason: &str,
    now: Timestamp,
    minutes: i64,
) -> Result<BreakGlassGrant, DomainError> {
    let reason = reason.trim();
    if reason.chars().count() < MIN_REASON_CHARS {
        return Err(DomainError::invalid(
            "reason",
            format!(
                "emergency access needs a written reason of at least {MIN_REASON_CHARS} characters"
            ),
        ));
    }
    if reason.chars().count() > 1000 {
        return Err(DomainError::invalid(
            "reason",
            "must be at most 1000 characters",
        ));
    }
    let expires_at = now
        .checked_add(SignedDuration::from_mins(minutes))
        .map_err(|_| DomainError::invalid("minutes", "is out of range"))?;
    Ok(BreakGlassGrant {
        id: BreakGlassId::new(),
        org_id,
        user_id,
        patient_id,
        reason: reason.to_string(),
        granted_at: now,
        expires_at,
        reviewed_by: None,
        reviewed_at: None,
    })
}
