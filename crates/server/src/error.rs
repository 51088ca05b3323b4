//! One error type for every front door, and the one table that maps it to HTTP.
//!
//! | DomainError            | status | code                  |
//! |------------------------|--------|-----------------------|
//! | Invalid(field)         | 422    | validation_failed     |
//! | NotFound               | 404    | not_found             |
//! | Forbidden              | 403    | forbidden             |
//! | BreakGlassRequired     | 403    | break_glass_required  |
//! | Conflict               | 409    | conflict              |
//! | BadCredentials         | 401    | invalid_credentials   |
//! | AccountLocked          | 423    | account_locked        |
//! | MfaRequired            | 401    | mfa_required          |
//! | BadMfaCode             | 401    | invalid_mfa_code      |
//! | TooManyAttempts        | 429    | too_many_attempts     |
//! | SlotTaken              | 409    | slot_taken            |
//! | SlotNotBookable        | 422    | slot_not_bookable     |
//! | ClinicianNotLicensed   | 422    | clinician_not_licensed (the message names the state) |
//! | ConsentRequired        | 422    | consent_required      |
//! | ClinicianNotCertified  | 422    | clinician_not_certified |
//! | PatientDoubleBooked    | 409    | patient_double_booked |
//! | ClinicianBusy          | 409    | clinician_busy        |
//! | AvailabilityOverlap    | 409    | availability_overlap  |
//! | InvalidTransition      | 409    | invalid_transition    |
//! | CheckInNotOpen         | 422    | check_in_not_open     |
//! | InviteUnusable         | 410    | invite_unusable       |
//! | Storage                | 500    | internal_error        |
//!
//! Besides these: malformed requests answer 400 `bad_request`, oversize bodies 413 `payload_too_large`,
//! a missing or expired sign-in 401 `unauthenticated`, a missing CSRF token 403 `csrf_failed`.
//! Internal detail is logged, never returned.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::DomainError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, safe to branch on.
    pub code: String,
    /// A sentence for people; may change between versions.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in or present a valid bearer token",
        )
    }

    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "the form has expired or did not come from this site; reload and try again",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        let (status, code) = match &err {
            DomainError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            DomainError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            DomainError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            DomainError::BreakGlassRequired => (StatusCode::FORBIDDEN, "break_glass_required"),
            DomainError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            DomainError::BadCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            DomainError::AccountLocked => (StatusCode::LOCKED, "account_locked"),
            DomainError::MfaRequired => (StatusCode::UNAUTHORIZED, "mfa_required"),
            DomainError::BadMfaCode => (StatusCode::UNAUTHORIZED, "invalid_mfa_code"),
            DomainError::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            DomainError::SlotTaken => (StatusCode::CONFLICT, "slot_taken"),
            DomainError::SlotNotBookable(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "slot_not_bookable")
            }
            DomainError::ClinicianNotLicensed { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "clinician_not_licensed")
            }
            DomainError::ConsentRequired(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "consent_required")
            }
            DomainError::ClinicianNotCertified => {
                (StatusCode::UNPROCESSABLE_ENTITY, "clinician_not_certified")
            }
            DomainError::PatientDoubleBooked => (StatusCode::CONFLICT, "patient_double_booked"),
            DomainError::ClinicianBusy => (StatusCode::CONFLICT, "clinician_busy"),
            DomainError::AvailabilityOverlap(_) => (StatusCode::CONFLICT, "availability_overlap"),
            DomainError::InvalidTransition { .. } => (StatusCode::CONFLICT, "invalid_transition"),
            DomainError::CheckInNotOpen(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "check_in_not_open")
            }
            DomainError::InviteUnusable(_) => (StatusCode::GONE, "invite_unusable"),
            DomainError::Refused { rule, .. } => (StatusCode::CONFLICT, *rule),
            DomainError::Storage(detail) => {
                tracing::error!(%detail, "storage failure");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "an internal error occurred",
                );
            }
        };
        Self::new(status, code, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
