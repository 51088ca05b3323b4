//! Audit entries: who did what to which record, when and from where (sealed into the chain by
//! `chain.rs`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::identity::Role;
use crate::ids::{ClientId, InviteId, OrgId, PatientId, UserId, VisitLinkId};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditActor {
    User {
        id: UserId,
        role: Role,
    },
    Client {
        id: ClientId,
    },
    Operator,
    /// A sign-in attempt for an unknown account.
    Anonymous,
    /// A guest let into a visit by a one-time invitation.
    Guest {
        invite: InviteId,
    },
    /// A patient without an account, by the join link of their visit.
    VisitLink {
        link: VisitLinkId,
    },
}

impl AuditActor {
    pub fn kind(&self) -> &'static str {
        match self {
            AuditActor::User { .. } => "user",
            AuditActor::Client { .. } => "client",
            AuditActor::Operator => "operator",
            AuditActor::Anonymous => "anonymous",
            AuditActor::Guest { .. } => "guest",
            AuditActor::VisitLink { .. } => "visit_link",
        }
    }

    pub fn id(&self) -> Option<String> {
        match self {
            AuditActor::User { id, .. } => Some(id.to_string()),
            AuditActor::Client { id } => Some(id.to_string()),
            AuditActor::Guest { invite } => Some(invite.to_string()),
            AuditActor::VisitLink { link } => Some(link.to_string()),
            _ => None,
        }
    }

    pub fn role(&self) -> Option<Role> {
        match self {
            AuditActor::User { role, .. } => Some(*role),
            _ => None,
        }
    }
}

/// What happened, as a stable dotted name (`patient.read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    #[serde(rename = "patient.read")]
    PatientRead,
    #[serde(rename = "patient.list")]
    PatientList,
    #[serde(rename = "patient.create")]
    PatientCreate,
    #[serde(rename = "patient.update")]
    PatientUpdate,
    #[serde(rename = "sign_in.success")]
    SignInSuccess,
    #[serde(rename = "sign_in.failure")]
    SignInFailure,
    #[serde(rename = "sign_in.locked")]
    SignInLocked,
    #[serde(rename = "mfa.success")]
    MfaSuccess,
    #[serde(rename = "mfa.failure")]
    MfaFailure,
    #[serde(rename = "mfa.enrolled")]
    MfaEnrolled,
    #[serde(rename = "mfa.recovery_code_used")]
    RecoveryCodeUsed,
    /// An administrator cleared someone's authenticator: they enrol again at next sign-in.
    #[serde(rename = "mfa.reset")]
    MfaReset,
    #[serde(rename = "sign_out")]
    SignOut,
    #[serde(rename = "token.issued")]
    TokenIssued,
    #[serde(rename = "token.refused")]
    TokenRefused,
    #[serde(rename = "break_glass.granted")]
    BreakGlassGranted,
    #[serde(rename = "break_glass.reviewed")]
    BreakGlassReviewed,
    #[serde(rename = "org.create")]
    OrgCreate,
    #[serde(rename = "site.create")]
    SiteCreate,
    #[serde(rename = "site.update")]
    SiteUpdate,
    #[serde(rename = "user.create")]
    UserCreate,
    #[serde(rename = "user.update")]
    UserUpdate,
    #[serde(rename = "client.create")]
    ClientCreate,
    #[serde(rename = "audit.search")]
    AuditSearch,
    #[serde(rename = "audit.export")]
    AuditExport,
    #[serde(rename = "visit_type.create")]
    VisitTypeCreate,
    #[serde(rename = "visit_type.update")]
    VisitTypeUpdate,
    #[serde(rename = "availability.change")]
    AvailabilityChange,
    #[serde(rename = "slots.publish")]
    SlotsPublish,
    #[serde(rename = "appointment.create")]
    AppointmentCreate,
    #[serde(rename = "appointment.change")]
    AppointmentChange,
    #[serde(rename = "appointment.read")]
    AppointmentRead,
    #[serde(rename = "appointment.list")]
    AppointmentList,
    #[serde(rename = "licensure.check")]
    LicensureCheck,
    #[serde(rename = "consent.given")]
    ConsentGiven,
    #[serde(rename = "consent.publish")]
    ConsentPublish,
    #[serde(rename = "queue.join")]
    QueueJoin,
    #[serde(rename = "queue.leave")]
    QueueLeave,
    #[serde(rename = "queue.read")]
    QueueRead,
    #[serde(rename = "reminder.sent")]
    ReminderSent,
    #[serde(rename = "calendar_feed.issued")]
    CalendarFeedIssued,
    #[serde(rename = "calendar_feed.read")]
    CalendarFeedRead,
    #[serde(rename = "visit.change")]
    VisitChange,
    #[serde(rename = "visit.read")]
    VisitRead,
    #[serde(rename = "chat.send")]
    ChatSend,
    #[serde(rename = "guest.invite")]
    GuestInvite,
    #[serde(rename = "guest.join")]
    GuestJoin,
    #[serde(rename = "guest.admit")]
    GuestAdmit,
    #[serde(rename = "visit_link.issue")]
    VisitLinkIssue,
    #[serde(rename = "visit_link.use")]
    VisitLinkUse,
    #[serde(rename = "escalation.raised")]
    EscalationRaised,
    #[serde(rename = "escalation.acknowledged")]
    EscalationAcknowledged,
    #[serde(rename = "training.course_create")]
    CourseCreate,
    #[serde(rename = "training.progress")]
    TrainingProgress,
    #[serde(rename = "training.assessment")]
    AssessmentSubmitted,
    #[serde(rename = "certification.issued")]
    CertificationIssued,
    #[serde(rename = "certification.reminder")]
    CertificationReminder,
    #[serde(rename = "certification.exception_granted")]
    GateExceptionGranted,
    #[serde(rename = "training.read")]
    TrainingRead,
    #[serde(rename = "program.change")]
    ProgramChange,
    #[serde(rename = "risk.change")]
    RiskChange,
    #[serde(rename = "site.stage_change")]
    SiteStageChange,
    #[serde(rename = "site.gate_override")]
    SiteGateOverride,
    #[serde(rename = "site.pilot_evaluated")]
    PilotEvaluated,
    #[serde(rename = "goal.create")]
    GoalCreate,
    #[serde(rename = "consent.read")]
    ConsentRead,
    #[serde(rename = "user.read")]
    UserRead,
    #[serde(rename = "user.list")]
    UserList,
    #[serde(rename = "note.read")]
    NoteRead,
    #[serde(rename = "note.write")]
    NoteWrite,
    #[serde(rename = "note.sign")]
    NoteSign,
    #[serde(rename = "note.addendum")]
    NoteAddendum,
    #[serde(rename = "note.list")]
    NoteList,
    #[serde(rename = "summary.read")]
    SummaryRead,
    #[serde(rename = "summary.notified")]
    SummaryNotified,
    #[serde(rename = "care_team.change")]
    CareTeamChange,
    #[serde(rename = "thread.read")]
    ThreadRead,
    #[serde(rename = "thread.list")]
    ThreadList,
    #[serde(rename = "thread.change")]
    ThreadChange,
    #[serde(rename = "message.send")]
    MessageSend,
    #[serde(rename = "attachment.read")]
    AttachmentRead,
    #[serde(rename = "econsult.read")]
    EconsultRead,
    #[serde(rename = "econsult.change")]
    EconsultChange,
    #[serde(rename = "keys.rotate")]
    KeysRotate,
    #[serde(rename = "password.changed")]
    PasswordChanged,
    #[serde(rename = "password_reset.requested")]
    PasswordResetRequested,
    #[serde(rename = "password_reset.completed")]
    PasswordResetCompleted,
}

impl AuditAction {
    pub const ALL: [AuditAction; 87] = [
        AuditAction::PatientRead,
        AuditAction::PatientList,
        AuditAction::PatientCreate,
        AuditAction::PatientUpdate,
        AuditAction::SignInSuccess,
        AuditAction::SignInFailure,
        AuditAction::SignInLocked,
        AuditAction::MfaSuccess,
        AuditAction::MfaFailure,
        AuditAction::MfaEnrolled,
        AuditAction::RecoveryCodeUsed,
        AuditAction::MfaReset,
        AuditAction::SignOut,
        AuditAction::TokenIssued,
        AuditAction::TokenRefused,
        AuditAction::BreakGlassGranted,
        AuditAction::BreakGlassReviewed,
        AuditAction::OrgCreate,
        AuditAction::SiteCreate,
        AuditAction::SiteUpdate,
        AuditAction::UserCreate,
        AuditAction::UserUpdate,
        AuditAction::ClientCreate,
        AuditAction::AuditSearch,
        AuditAction::AuditExport,
        AuditAction::VisitTypeCreate,
        AuditAction::VisitTypeUpdate,
        AuditAction::AvailabilityChange,
        AuditAction::SlotsPublish,
        AuditAction::AppointmentCreate,
        AuditAction::AppointmentChange,
        AuditAction::AppointmentRead,
        AuditAction::AppointmentList,
        AuditAction::LicensureCheck,
        AuditAction::ConsentGiven,
        AuditAction::ConsentPublish,
        AuditAction::QueueJoin,
        AuditAction::QueueLeave,
        AuditAction::QueueRead,
        AuditAction::ReminderSent,
        AuditAction::CalendarFeedIssued,
        AuditAction::CalendarFeedRead,
        AuditAction::VisitChange,
        AuditAction::VisitRead,
        AuditAction::ChatSend,
        AuditAction::GuestInvite,
        AuditAction::GuestJoin,
        AuditAction::GuestAdmit,
        AuditAction::VisitLinkIssue,
        AuditAction::VisitLinkUse,
        AuditAction::EscalationRaised,
        AuditAction::EscalationAcknowledged,
        AuditAction::CourseCreate,
        AuditAction::TrainingProgress,
        AuditAction::AssessmentSubmitted,
        AuditAction::CertificationIssued,
        AuditAction::CertificationReminder,
        AuditAction::GateExceptionGranted,
        AuditAction::TrainingRead,
        AuditAction::ProgramChange,
        AuditAction::RiskChange,
        AuditAction::SiteStageChange,
        AuditAction::SiteGateOverride,
        AuditAction::PilotEvaluated,
        AuditAction::GoalCreate,
        AuditAction::ConsentRead,
        AuditAction::UserRead,
        AuditAction::UserList,
        AuditAction::NoteRead,
        AuditAction::NoteWrite,
        AuditAction::NoteSign,
        AuditAction::NoteAddendum,
        AuditAction::NoteList,
        AuditAction::SummaryRead,
        AuditAction::SummaryNotified,
        AuditAction::CareTeamChange,
        AuditAction::ThreadRead,
        AuditAction::ThreadList,
        AuditAction::ThreadChange,
        AuditAction::MessageSend,
        AuditAction::AttachmentRead,
        AuditAction::EconsultRead,
        AuditAction::EconsultChange,
        AuditAction::KeysRotate,
        AuditAction::PasswordChanged,
        AuditAction::PasswordResetRequested,
        AuditAction::PasswordResetCompleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::PatientRead => "patient.read",
            AuditAction::PatientList => "patient.list",
            AuditAction::PatientCreate => "patient.create",
            AuditAction::PatientUpdate => "patient.update",
            AuditAction::SignInSuccess => "sign_in.success",
            AuditAction::SignInFailure => "sign_in.failure",
            AuditAction::SignInLocked => "sign_in.locked",
            AuditAction::MfaSuccess => "mfa.success",
            AuditAction::MfaFailure => "mfa.failure",
            AuditAction::MfaEnrolled => "mfa.enrolled",
            AuditAction::RecoveryCodeUsed => "mfa.recovery_code_used",
            AuditAction::MfaReset => "mfa.reset",
            AuditAction::SignOut => "sign_out",
            AuditAction::TokenIssued => "token.issued",
            AuditAction::TokenRefused => "token.refused",
            AuditAction::BreakGlassGranted => "break_glass.granted",
            AuditAction::BreakGlassReviewed => "break_glass.reviewed",
            AuditAction::OrgCreate => "org.create",
            AuditAction::SiteCreate => "site.create",
            AuditAction::SiteUpdate => "site.update",
            AuditAction::UserCreate => "user.create",
            AuditAction::UserUpdate => "user.update",
            AuditAction::ClientCreate => "client.create",
            AuditAction::AuditSearch => "audit.search",
            AuditAction::AuditExport => "audit.export",
            AuditAction::VisitTypeCreate => "visit_type.create",
            AuditAction::VisitTypeUpdate => "visit_type.update",
            AuditAction::AvailabilityChange => "availability.change",
            AuditAction::SlotsPublish => "slots.publish",
            AuditAction::AppointmentCreate => "appointment.create",
            AuditAction::AppointmentChange => "appointment.change",
            AuditAction::AppointmentRead => "appointment.read",
            AuditAction::AppointmentList => "appointment.list",
            AuditAction::LicensureCheck => "licensure.check",
            AuditAction::ConsentGiven => "consent.given",
            AuditAction::ConsentPublish => "consent.publish",
            AuditAction::QueueJoin => "queue.join",
            AuditAction::QueueLeave => "queue.leave",
            AuditAction::QueueRead => "queue.read",
            AuditAction::ReminderSent => "reminder.sent",
            AuditAction::CalendarFeedIssued => "calendar_feed.issued",
            AuditAction::CalendarFeedRead => "calendar_feed.read",
            AuditAction::VisitChange => "visit.change",
            AuditAction::VisitRead => "visit.read",
            AuditAction::ChatSend => "chat.send",
            AuditAction::GuestInvite => "guest.invite",
            AuditAction::GuestJoin => "guest.join",
            AuditAction::GuestAdmit => "guest.admit",
            AuditAction::VisitLinkIssue => "visit_link.issue",
            AuditAction::VisitLinkUse => "visit_link.use",
            AuditAction::EscalationRaised => "escalation.raised",
            AuditAction::EscalationAcknowledged => "escalation.acknowledged",
            AuditAction::CourseCreate => "training.course_create",
            AuditAction::TrainingProgress => "training.progress",
            AuditAction::AssessmentSubmitted => "training.assessment",
            AuditAction::CertificationIssued => "certification.issued",
            AuditAction::CertificationReminder => "certification.reminder",
            AuditAction::GateExceptionGranted => "certification.exception_granted",
            AuditAction::TrainingRead => "training.read",
            AuditAction::ProgramChange => "program.change",
            AuditAction::RiskChange => "risk.change",
            AuditAction::SiteStageChange => "site.stage_change",
            AuditAction::SiteGateOverride => "site.gate_override",
            AuditAction::PilotEvaluated => "site.pilot_evaluated",
            AuditAction::GoalCreate => "goal.create",
            AuditAction::ConsentRead => "consent.read",
            AuditAction::UserRead => "user.read",
            AuditAction::UserList => "user.list",
            AuditAction::NoteRead => "note.read",
            AuditAction::NoteWrite => "note.write",
            AuditAction::NoteSign => "note.sign",
            AuditAction::NoteAddendum => "note.addendum",
            AuditAction::NoteList => "note.list",
            AuditAction::SummaryRead => "summary.read",
            AuditAction::SummaryNotified => "summary.notified",
            AuditAction::CareTeamChange => "care_team.change",
            AuditAction::ThreadRead => "thread.read",
            AuditAction::ThreadList => "thread.list",
            AuditAction::ThreadChange => "thread.change",
            AuditAction::MessageSend => "message.send",
            AuditAction::AttachmentRead => "attachment.read",
            AuditAction::EconsultRead => "econsult.read",
            AuditAction::EconsultChange => "econsult.change",
            AuditAction::KeysRotate => "keys.rotate",
            AuditAction::PasswordChanged => "password.changed",
            AuditAction::PasswordResetRequested => "password_reset.requested",
            AuditAction::PasswordResetCompleted => "password_reset.completed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }

    /// Reads of a list that pages poll (the waiting room every second, a calendar app every
    /// few minutes): the same one again within [`REPEAT_WINDOW`] is counted, not chained anew.
    pub fn is_list_read(self) -> bool {
        matches!(
            self,
            AuditAction::PatientList
                | AuditAction::AppointmentList
                | AuditAction::QueueRead
                | AuditAction::CalendarFeedRead
                | AuditAction::UserList
                | AuditAction::NoteList
                | AuditAction::ThreadList
        )
    }
}

/// How long identical list reads by the same person count against the first one's record. The
/// first read of a window is chained as usual; every later one within it adds one to that
/// record's count, durably, before its answer leaves (none is dropped).
pub const REPEAT_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Outcome::Success, Outcome::Denied, Outcome::Failure]
            .into_iter()
            .find(|o| o.as_str() == raw)
    }
}

/// One event to record. The store gives it a sequence number and chains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub org_id: Option<OrgId>,
    pub actor: AuditActor,
    pub action: AuditAction,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub patient_id: Option<PatientId>,
    pub source_ip: Option<String>,
    pub outcome: Outcome,
    /// Set for access through emergency access: an auditor must review it.
    pub flagged: bool,
    /// A short note such as the break-glass reason. Never a copy of patient data.
    pub detail: Option<String>,
}

impl AuditEntry {
    pub fn new(at: Timestamp, actor: AuditActor, action: AuditAction, resource_type: &str) -> Self {
        Self {
            at,
            org_id: None,
            actor,
            action,
            resource_type: resource_type.to_string(),
            resource_id: None,
            patient_id: None,
            source_ip: None,
            outcome: Outcome::Success,
            flagged: false,
            detail: None,
        }
    }

    pub fn org(mut self, org: OrgId) -> Self {
        self.org_id = Some(org);
        self
    }

    pub fn resource(mut self, id: impl ToString) -> Self {
        self.resource_id = Some(id.to_string());
        self
    }

    pub fn patient(mut self, patient: PatientId) -> Self {
        self.patient_id = Some(patient);
        self
    }

    pub fn from_ip(mut self, ip: Option<String>) -> Self {
        self.source_ip = ip;
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn flagged(mut self, flagged: bool) -> Self {
        self.flagged = flagged;
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// What makes two entries "the same read again": everything but the time. `None` for an
    /// entry that is always chained on its own (a write, a refusal, a flagged access, a read of
    /// one record).
    pub fn repeat_key(&self) -> Option<RepeatKey> {
        (self.action.is_list_read() && self.outcome == Outcome::Success && !self.flagged).then(
            || RepeatKey {
                org_id: self.org_id,
                actor: self.actor.clone(),
                action: self.action,
                resource_type: self.resource_type.clone(),
                resource_id: self.resource_id.clone(),
                patient_id: self.patient_id,
                source_ip: self.source_ip.clone(),
                detail: self.detail.clone(),
            },
        )
    }
}

/// An entry without its time: see [`AuditEntry::repeat_key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepeatKey {
    org_id: Option<OrgId>,
    actor: AuditActor,
    action: AuditAction,
    resource_type: String,
    resource_id: Option<String>,
    patient_id: Option<PatientId>,
    source_ip: Option<String>,
    detail: Option<String>,
}

/// Filters for the auditor's search.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub org_id: Option<OrgId>,
    /// Entries by any of these users or clients (ids); empty: anyone.
    pub actor_ids: Vec<String>,
    /// Entries about any of these patients; empty: any patient or none.
    pub patient_ids: Vec<PatientId>,
    pub action: Option<AuditAction>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub flagged_only: bool,
    pub limit: i64,
    pub offset: i64,
}
