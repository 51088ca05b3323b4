//! Courses, enrolments, tests, certifications and gate exceptions.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::identity::Role;
use crate::ids::{
    AssessmentId, CertificationId, CourseId, EnrolmentId, GateExceptionId, OrgId, UserId,
};

/// A course: modules to read, then a test. A certifying course issues the telehealth competency
/// certification to whoever passes its post-test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Course {
    pub id: CourseId,
    pub org_id: OrgId,
    pub title: String,
    pub summary: String,
    /// The roles enrolled automatically (the curriculum of each role is its courses).
    pub audience: Vec<Role>,
    pub modules: Vec<CourseModule>,
    pub questions: Vec<Question>,
    /// Share of right answers needed to pass the post-test, in percent.
    pub pass_mark_pct: i64,
    pub certifies: bool,
    /// How long a certification from this course lasts.
    pub validity_months: i64,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseModule {
    pub title: String,
    pub body: String,
    /// Further reading (an `https://` address), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// A multiple-choice question; `answer` is the index of the right choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub prompt: String,
    pub choices: Vec<String>,
    pub answer: usize,
}

named_values!(
    /// Why a person is enrolled in a course.
    EnrolmentReason, "an enrolment reason" {
        /// Enrolled because of the person's role.
        Role => ("role", "For your role"),
        /// Enrolled again after failing the post-test.
        Remedial => ("remedial", "Remedial"),
        /// Enrolled again before the certification expires.
        Refresher => ("refresher", "Refresher"),
    }
);

named_values!(
    /// Where an enrolment stands.
    EnrolmentStatus, "an enrolment status" {
        Enrolled => ("enrolled", "Not started"),
        InProgress => ("in_progress", "In progress"),
        Passed => ("passed", "Passed"),
        Failed => ("failed", "Not passed"),
    }
);

named_values!(
    /// The two tests of a course, drawn from its question bank.
    TestKind, "a test" {
        /// Taken before the modules: measures what the person knew; never fails anyone.
        Pre => ("pre", "Pre-test"),
        /// Taken after every module: passing it completes the course.
        Post => ("post", "Post-test"),
    }
);

impl EnrolmentStatus {
    pub fn is_open(self) -> bool {
        matches!(
            self,
            EnrolmentStatus::Enrolled | EnrolmentStatus::InProgress
        )
    }
}

/// One person's enrolment in one course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub id: EnrolmentId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub course_id: CourseId,
    pub reason: EnrolmentReason,
    pub status: EnrolmentStatus,
    /// Indexes of the modules the person marked as done, ascending.
    pub modules_done: Vec<usize>,
    pub pre_score_pct: Option<i64>,
    pub post_score_pct: Option<i64>,
    pub enrolled_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// A submitted test. Never changed once stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub id: AssessmentId,
    pub enrolment_id: EnrolmentId,
    pub kind: TestKind,
    pub answers: Vec<usize>,
    pub score_pct: i64,
    pub passed: bool,
    pub submitted_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certification {
    pub id: CertificationId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub course_id: CourseId,
    pub enrolment_id: EnrolmentId,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// When the refresher reminder went out.
    pub reminded_at: Option<Timestamp>,
}

impl Certification {
    pub fn valid_at(&self, at: Timestamp) -> bool {
        self.issued_at <= at && at < self.expires_at
    }
}

/// A program manager's written, time-limited leave for a clinician to take virtual visits
/// without a current certification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateException {
    pub id: GateExceptionId,
    pub org_id: OrgId,
    pub clinician_id: UserId,
    pub reason: String,
    pub granted_by: UserId,
    pub granted_at: Timestamp,
    pub until: Timestamp,
}

impl GateException {
    pub fn covers(&self, at: Timestamp) -> bool {
        self.granted_at <= at && at < self.until
    }
}

named_values!(
    /// A person's standing for the gate at one moment.
    CertificationStanding, "a certification standing" {
        Certified => ("certified", "Certified"),
        /// Certified, but the certification ends within the reminder window.
        Expiring => ("expiring", "Expires within 30 days"),
        /// Not certified, but an exception lets them take virtual visits.
        Excepted => ("exception", "Working under an exception"),
        Uncertified => ("uncertified", "Not certified"),
    }
);
