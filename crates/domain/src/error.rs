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
    #[error("storage failure: {0}")]
    Storage(String),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(FieldError::new(field, message))
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
