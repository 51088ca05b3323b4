//! The errors a use case can end in, and the one table that classifies them: each variant has one
//! status, one stable code and one kind, the same on every front door (the JSON API, the web
//! pages, and any later one). The server's answers are built from `DomainError::class`.
//!
//! | DomainError            | status | code                    | kind      |
//! |------------------------|--------|-------------------------|-----------|
//! | Invalid(field)         | 422    | validation_failed       | Field     |
//! | InvalidFields(fields)  | 422    | validation_failed       | Field     |
//! | NotFound               | 404    | not_found               | NotFound  |
//! | Forbidden              | 403    | forbidden               | Forbidden |
//! | BreakGlassRequired     | 403    | break_glass_required    | Forbidden |
//! | Conflict               | 409    | conflict                | Refusal   |
//! | BadCredentials         | 401    | invalid_credentials     | SignIn    |
//! | AccountLocked          | 423    | account_locked          | SignIn    |
//! | MfaRequired            | 401    | mfa_required            | SignIn    |
//! | BadMfaCode             | 401    | invalid_mfa_code        | SignIn    |
//! | TooManyAttempts        | 429    | too_many_attempts       | Refusal   |
//! | SlotTaken              | 409    | slot_taken              | Refusal   |
//! | SlotNotBookable        | 422    | slot_not_bookable       | Refusal   |
//! | ClinicianNotLicensed   | 422    | clinician_not_licensed  | Refusal   |
//! | ConsentRequired        | 422    | consent_required        | Refusal   |
//! | ClinicianNotCertified  | 422    | clinician_not_certified | Refusal   |
//! | PatientDoubleBooked    | 409    | patient_double_booked   | Refusal   |
//! | ClinicianBusy          | 409    | clinician_busy          | Refusal   |
//! | AvailabilityOverlap    | 409    | availability_overlap    | Refusal   |
//! | InvalidTransition      | 409    | invalid_transition      | Refusal   |
//! | CheckInNotOpen         | 422    | check_in_not_open       | Refusal   |
//! | InviteUnusable         | 410    | invite_unusable         | Gone      |
//! | Refused { rule }       | 409    | the rule                | Refusal   |
//! | Storage                | 500    | internal_error          | Internal  |
//! | Unavailable            | 503    | storage_unavailable     | Unavailable |
//!
//! 422 means "what you sent cannot be done as sent" (a field, or a rule about the request itself);
//! 409 means "the records as they are now refuse it" (someone else was first, a state forbids it).
//! 503 means "the database cannot do it right now" (its disk is full, it is read-only, or it
//! cannot be reached): nothing was changed, and the same request may succeed in a minute.

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
    /// Several fields failed at once (a form shows each beside its field); never empty.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidFields(Vec<FieldError>),
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
    /// The records as they are now refuse the change (a duplicate, a stale edit, a state that
    /// forbids it). `field` names the input it is about, when there is one.
    #[error("{}", conflict_text(field.as_deref(), message))]
    Conflict {
        field: Option<String>,
        message: String,
    },
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
    /// A rule of a record's life refuses the step (editing a signed note, an e-consult
    /// transition its state machine does not allow...). `rule` is the stable code clients see.
    #[error("{message}")]
    Refused { rule: &'static str, message: String },
    #[error("storage failure: {0}")]
    Storage(String),
    /// The database cannot take the request now (disk full, read-only, unreachable, busy past
    /// its timeout); nothing was changed. The detail is logged, never shown.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(FieldError::new(field, message))
    }

    /// The fields' problems as one error: one field is `Invalid`, more are `InvalidFields`.
    fn of_fields(mut fields: Vec<FieldError>) -> Self {
        if fields.len() == 1
            && let Some(one) = fields.pop()
        {
            return Self::Invalid(one);
        }
        Self::InvalidFields(fields)
    }

    /// The fields a validation error names (none for other errors).
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(f) => vec![f.clone()],
            Self::InvalidFields(fs) => fs.clone(),
            _ => Vec::new(),
        }
    }
}

/// Checks several fields at once and reports every one that fails, not only the first: a form
/// shows all its problems together. `(a, b, c).all_fields()?` gives the three values when each
/// is valid; otherwise one error naming every failed field. An error that is not about a field
/// (storage, permission) is returned as it is.
pub trait AllFields {
    type Values;
    fn all_fields(self) -> DomainResult<Self::Values>;
}

macro_rules! all_fields_for {
    ($($t:ident $v:ident),+) => {
        impl<$($t),+> AllFields for ($(DomainResult<$t>,)+) {
            type Values = ($($t,)+);
            fn all_fields(self) -> DomainResult<Self::Values> {
                let ($($v,)+) = self;
                let mut failed = Vec::new();
                $(
                    let $v = match $v {
                        Ok(value) => Some(value),
                        Err(err @ (DomainError::Invalid(_) | DomainError::InvalidFields(_))) => {
                            failed.extend(err.field_errors());
                            None
                        }
                        Err(other) => return Err(other),
                    };
                )+
                match ($($v,)+) {
                    ($(Some($v),)+) => Ok(($($v,)+)),
                    _ => Err(DomainError::of_fields(failed)),
                }
            }
        }
    };
}

all_fields_for!(A a, B b);
all_fields_for!(A a, B b, C c);
all_fields_for!(A a, B b, C c, D d);
all_fields_for!(A a, B b, C c, D d, E e);
all_fields_for!(A a, B b, C c, D d, E e, F f);
all_fields_for!(A a, B b, C c, D d, E e, F f, G g);
all_fields_for!(A a, B b, C c, D d, E e, F f, G g, H h);
all_fields_for!(A a, B b, C c, D d, E e, F f, G g, H h, I i);

impl DomainError {
    pub fn refused(rule: &'static str, message: impl Into<String>) -> Self {
        Self::Refused {
            rule,
            message: message.into(),
        }
    }

    /// A conflict with the records as they are, about no one field.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            field: None,
            message: message.into(),
        }
    }

    /// A conflict about one input (`email` already registered, `mrn` taken).
    pub fn conflict_on(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

fn conflict_text(field: Option<&str>, message: &str) -> String {
    match field {
        Some(field) => format!("{field}: {message}"),
        None => message.to_string(),
    }
}

/// What kind of answer an error is, whatever the front door: the web turns a `Field` error into
/// a message beside the field, a `Refusal` into a message at the top of the form, `SignIn` into
/// the sign-in page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A field of the request is wrong; the message says which and why.
    Field,
    /// A rule or the records as they are refuse the request; the message says what to do instead.
    Refusal,
    NotFound,
    Forbidden,
    /// Signing in failed or needs another step.
    SignIn,
    /// A link that opens nothing any more.
    Gone,
    /// Our fault; the detail is logged, never shown.
    Internal,
    /// The database cannot take the request right now; try again later. Logged, never detailed.
    Unavailable,
}

/// One row of the error table: the HTTP status, the stable code clients may branch on, the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorClass {
    pub status: u16,
    pub code: &'static str,
    pub kind: ErrorKind,
}

impl DomainError {
    /// The error table (see the module's documentation).
    pub fn class(&self) -> ErrorClass {
        use ErrorKind as K;
        let (status, code, kind) = match self {
            DomainError::Invalid(_) | DomainError::InvalidFields(_) => {
                (422, "validation_failed", K::Field)
            }
            DomainError::NotFound { .. } => (404, "not_found", K::NotFound),
            DomainError::Forbidden { .. } => (403, "forbidden", K::Forbidden),
            DomainError::BreakGlassRequired => (403, "break_glass_required", K::Forbidden),
            DomainError::Conflict { .. } => (409, "conflict", K::Refusal),
            DomainError::BadCredentials => (401, "invalid_credentials", K::SignIn),
            DomainError::AccountLocked => (423, "account_locked", K::SignIn),
            DomainError::MfaRequired => (401, "mfa_required", K::SignIn),
            DomainError::BadMfaCode => (401, "invalid_mfa_code", K::SignIn),
            DomainError::TooManyAttempts => (429, "too_many_attempts", K::Refusal),
            DomainError::SlotTaken => (409, "slot_taken", K::Refusal),
            DomainError::SlotNotBookable(_) => (422, "slot_not_bookable", K::Refusal),
            DomainError::ClinicianNotLicensed { .. } => (422, "clinician_not_licensed", K::Refusal),
            DomainError::ConsentRequired(_) => (422, "consent_required", K::Refusal),
            DomainError::ClinicianNotCertified => (422, "clinician_not_certified", K::Refusal),
            DomainError::PatientDoubleBooked => (409, "patient_double_booked", K::Refusal),
            DomainError::ClinicianBusy => (409, "clinician_busy", K::Refusal),
            DomainError::AvailabilityOverlap(_) => (409, "availability_overlap", K::Refusal),
            DomainError::InvalidTransition { .. } => (409, "invalid_transition", K::Refusal),
            DomainError::CheckInNotOpen(_) => (422, "check_in_not_open", K::Refusal),
            DomainError::InviteUnusable(_) => (410, "invite_unusable", K::Gone),
            DomainError::Refused { rule, .. } => (409, *rule, K::Refusal),
            DomainError::Storage(_) => (500, "internal_error", K::Internal),
            DomainError::Unavailable(_) => (503, "storage_unavailable", K::Unavailable),
        };
        ErrorClass { status, code, kind }
    }

    /// True when the refusal is about the time chosen (taken, no longer bookable, the clinician
    /// busy, unlicensed or uncertified for it): another time may do.
    pub fn refuses_the_time(&self) -> bool {
        matches!(
            self,
            DomainError::SlotTaken
                | DomainError::SlotNotBookable(_)
                | DomainError::PatientDoubleBooked
                | DomainError::ClinicianBusy
                | DomainError::ClinicianNotLicensed { .. }
                | DomainError::ClinicianNotCertified
        )
    }

    /// The message a person may read: the error's own sentence, except for our own failures,
    /// whose detail stays in the log.
    pub fn public_message(&self) -> String {
        match self {
            DomainError::Storage(_) => "an internal error occurred".to_string(),
            DomainError::Unavailable(_) => UNAVAILABLE.to_string(),
            other => other.to_string(),
        }
    }
}

/// What a person reads when the database cannot take their request.
pub const UNAVAILABLE: &str = "the service cannot reach or write to its database right now; nothing was changed, try again in a minute";

pub type DomainResult<T> = Result<T, DomainError>;

/// What storage ports return.
pub type StoreResult<T> = Result<T, DomainError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failed_field_is_reported_and_other_errors_pass_through() {
        let two = (
            Ok::<_, DomainError>(1),
            Err::<i32, _>(DomainError::invalid(
                "likelihood",
                "must be between 1 and 5",
            )),
            Err::<i32, _>(DomainError::invalid("title", "must not be empty")),
        )
            .all_fields();
        let fields: Vec<String> = match &two {
            Err(e @ DomainError::InvalidFields(_)) => {
                e.field_errors().into_iter().map(|f| f.field).collect()
            }
            other => panic!("expected two field errors, got {other:?}"),
        };
        assert_eq!(fields, ["likelihood", "title"]);
        assert_eq!(two.unwrap_err().class().status, 422);
        let one = (
            Ok::<_, DomainError>(1),
            Err::<i32, _>(DomainError::invalid("by", "must be in the future")),
        )
            .all_fields();
        assert!(matches!(one, Err(DomainError::Invalid(f)) if f.field == "by"));
        let storage = (
            Err::<i32, _>(DomainError::invalid("by", "must be in the future")),
            Err::<i32, _>(DomainError::Storage("disk".into())),
        )
            .all_fields();
        assert!(matches!(storage, Err(DomainError::Storage(_))));
        assert_eq!(
            (Ok::<_, DomainError>(1), Ok::<_, DomainError>("a"))
                .all_fields()
                .ok(),
            Some((1, "a"))
        );
    }

    #[test]
    fn a_conflict_about_a_field_names_it_and_one_about_none_does_not() {
        let on = DomainError::conflict_on("email", "ann@example.org is already registered");
        assert_eq!(
            on.to_string(),
            "email: ann@example.org is already registered"
        );
        assert_eq!(DomainError::conflict("reload it").to_string(), "reload it");
    }

    /// Every refusal a booking can meet, with the status the table gives it: the same answer on
    /// every front door.
    #[test]
    fn the_table_classifies_refusals_and_keeps_internal_detail_private() {
        let cases = [
            (DomainError::SlotTaken, 409, "slot_taken"),
            (DomainError::ClinicianBusy, 409, "clinician_busy"),
            (
                DomainError::PatientDoubleBooked,
                409,
                "patient_double_booked",
            ),
            (
                DomainError::SlotNotBookable("past".into()),
                422,
                "slot_not_bookable",
            ),
            (
                DomainError::ConsentRequired("consent".into()),
                422,
                "consent_required",
            ),
            (
                DomainError::ClinicianNotCertified,
                422,
                "clinician_not_certified",
            ),
            (
                DomainError::CheckInNotOpen("later".into()),
                422,
                "check_in_not_open",
            ),
            (
                DomainError::refused("note_signed", "signed"),
                409,
                "note_signed",
            ),
            (DomainError::conflict("stale"), 409, "conflict"),
        ];
        for (err, status, code) in cases {
            let class = err.class();
            assert_eq!((class.status, class.code), (status, code), "{err:?}");
            assert_eq!(class.kind, ErrorKind::Refusal, "{err:?}");
        }
        let field = DomainError::invalid("email", "is not an address").class();
        assert_eq!((field.status, field.kind), (422, ErrorKind::Field));
        let storage = DomainError::Storage("disk full at /var/lib".into());
        assert_eq!(storage.class().status, 500);
        assert!(!storage.public_message().contains("disk"));
        let unavailable = DomainError::Unavailable("SQLITE_FULL on /var/lib".into());
        let class = unavailable.class();
        assert_eq!(
            (class.status, class.code, class.kind),
            (503, "storage_unavailable", ErrorKind::Unavailable)
        );
        assert!(!unavailable.public_message().contains("SQLITE"));
    }
}
