//! The errors a use case can end in. The server maps each variant to one HTTP status and code.

use thiserror::Error;

/// One field that failed validation, named as the client spelled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Debug, Error)]
pub enum DomainError {
    #[error("{0}")]
    Invalid(FieldError),
    /// The resource does not exist, or exists in another organization (we never say which).
    #[error("{resource} not found")]
    NotFound { resource: &'static str },
    #[error("you do not have permission to {action}")]
    Forbidden { action: &'static str },
    /// Same organization, but outside the actor's care relationship: emergency access can open it.
    #[error(
        "this patient is outside your care team; request emergency access with a reason to open the record"
    )]
    BreakGlassRequired,
    #[error("{0}")]
    Conflict(String),
    #[error("email or password is incorrect")]
    BadCredentials,
    #[error("the account is locked after repeated failed sign-ins; try again later")]
    AccountLocked,
    #[error("a second factor is required")]
    MfaRequired,
    #[error("the one-time code is incorrect")]
    BadMfaCode,
    /// Too many sign-in attempts from one address in a short time.
    #[error("too many sign-in attempts from your address; wait a minute and try again")]
    TooManyAttempts,
    /// Someone else booked the slot first (the database decided).
    #[error("this slot has just been booked by someone else; choose another time")]
    SlotTaken,
    /// The slot cannot be booked: in the past, withdrawn, too short for the visit type...
    #[error("{0}")]
    SlotNotBookable(String),
    /// Interstate licensure: the clinician holds no license valid on the visit date in that state.
    #[error(
        "the clinician is not licensed in {state} on the visit date; choose a clinician licensed where you will be during the visit"
    )]
    ClinicianNotLicensed { state: &'static str },
    #[error("{0}")]
    ConsentRequired(String),
    /// The clinician holds no current telehealth competency certification.
    #[error(
        "the clinician does not hold a current telehealth certification and cannot take virtual visits"
    )]
    ClinicianNotCertified,
    #[error("the patient already has an appointment at that time")]
    PatientDoubleBooked,
    #[error("the clinician already has a visit at that time")]
    ClinicianBusy,
    /// Availability that would give a clinician two places to be at once.
    #[error("{0}")]
    AvailabilityOverlap(String),
    /// The appointment's state machine refuses this step.
    #[error("an appointment that is {from} cannot be changed by '{action}'")]
    InvalidTransition {
        from: &'static str,
        action: &'static str,
    },
    /// Check-in is only open shortly before the visit.
    #[error("{0}")]
    CheckInNotOpen(String),
    /// A guest's invitation link that expired, was used already, or whose visit is over.
    #[error("{0}")]
    InviteUnusable(String),
    #[error("storage failure: {0}")]
    Storage(String),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(FieldError::new(field, message))
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

/// What storage ports return.
pub type StoreResult<T> = Result<T, DomainError>;
