//! Typed ids: a `PatientId` can never be passed where a `UserId` is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random id. Version 7 keeps ids roughly time-ordered, which indexes like.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(
    /// An organization: the tenant boundary.
    OrgId
);
typed_id!(
    /// A site (clinic) of an organization.
    SiteId
);
typed_id!(
    /// A person who signs in: staff or patient.
    UserId
);
typed_id!(
    /// A patient's record (a patient may exist without a sign-in).
    PatientId
);
typed_id!(
    /// An integration client (OAuth 2.0 client credentials).
    ClientId
);
typed_id!(
    /// An emergency ("break-glass") access grant.
    BreakGlassId
);
typed_id!(
    /// A kind of visit an organization offers (modality, duration, service line).
    VisitTypeId
);
typed_id!(
    /// A weekly recurring availability template of a clinician at a site.
    TemplateId
);
typed_id!(
    /// A one-off change to a clinician's availability: leave, or extra hours.
    ExceptionId
);
typed_id!(
    /// A bookable period of a clinician's time, published from their availability.
    SlotId
);
typed_id!(
    /// An appointment of a patient with a clinician.
    AppointmentId
);
typed_id!(
    /// One recorded change of an appointment's state.
    AppointmentEventId
);
typed_id!(
    /// A patient's consent, as given (to one version of a consent text).
    ConsentId
);
typed_id!(
    /// A patient waiting in the on-demand queue.
    QueueEntryId
);
typed_id!(
    /// A one-time link inviting a guest (interpreter, family member) into a visit.
    InviteId
);
typed_id!(
    /// A patient's one-time link into their own video visit, for a patient without an account.
    VisitLinkId
);
typed_id!(
    /// One recorded happening of a visit (a drop, a switch to audio, a guest joining).
    VisitEventId
);
typed_id!(
    /// An emergency raised during a visit.
    EscalationId
);
typed_id!(
    /// A training course: modules to read and a test to pass.
    CourseId
);
typed_id!(
    /// A staff member's enrolment in a course.
    EnrolmentId
);
typed_id!(
    /// One submitted test (pre-test or post-test) of an enrolment.
    AssessmentId
);
typed_id!(
    /// A telehealth competency certification issued on passing a certifying course.
    CertificationId
);
typed_id!(
    /// A program manager's time-limited leave for an uncertified clinician to take virtual visits.
    GateExceptionId
);
typed_id!(
    /// An organization's implementation program.
    ProgramId
);
typed_id!(
    /// A phase of the program (planning, development, pilot, full-scale).
    PhaseId
);
typed_id!(
    /// A milestone or task of the program.
    TaskId
);
typed_id!(
    /// A risk of the register.
    RiskId
);
typed_id!(
    /// An adoption goal ("30% of patient meetings digital by ...").
    GoalId
);
typed_id!(
    /// A pilot evaluation: measured figures against targets, and the go / no-go decision.
    EvaluationId
);
typed_id!(
    /// The note of one visit or appointment.
    NoteId
);
typed_id!(
    /// A signed addendum to a signed note.
    AddendumId
);
typed_id!(
    /// A secure-messaging thread between a patient and a care team.
    ThreadId
);
typed_id!(
    /// One message of a thread.
    MessageId
);
typed_id!(
    /// A file attached to a message or an e-consult.
    AttachmentId
);
typed_id!(
    /// An e-consult or a second-opinion request.
    EconsultId
);
typed_id!(
    /// One line of a visit's chat.
    ChatLineId
);
