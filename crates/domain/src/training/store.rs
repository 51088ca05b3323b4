//! The storage port of training and certification.

use async_trait::async_trait;
use jiff::Timestamp;

use super::model::*;
use super::rules::TestOutcome;
use crate::compliance::AuditEntry;
use crate::error::StoreResult;
use crate::identity::Role;
use crate::ids::{CourseId, EnrolmentId, OrgId, UserId};

/// Filters for enrolments; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct EnrolmentQuery {
    pub user_id: Option<UserId>,
    pub course_id: Option<CourseId>,
}

#[async_trait]
pub trait TrainingStore: Send + Sync {
    /// Stores the course and enrols, in the same transaction, every active user of its audience.
    async fn create_course(&self, course: &Course, audit: AuditEntry) -> StoreResult<()>;
    async fn get_course(&self, org: OrgId, id: CourseId) -> StoreResult<Option<Course>>;
    async fn list_courses(&self, org: OrgId) -> StoreResult<Vec<Course>>;
    /// Whether the organization has a certifying course for `role` (the gate applies only then).
    async fn has_certifying_course(&self, org: OrgId, role: Role) -> StoreResult<bool>;
    /// Enrols every active user of the organization in each course of their role they have
    /// never been enrolled in; returns how many enrolments were made.
    async fn enrol_by_role(&self, org: OrgId, at: Timestamp) -> StoreResult<u64>;
    async fn get_enrolment(&self, org: OrgId, id: EnrolmentId) -> StoreResult<Option<Enrolment>>;
    /// Oldest first.
    async fn list_enrolments(
        &self,
        org: OrgId,
        query: &EnrolmentQuery,
    ) -> StoreResult<Vec<Enrolment>>;
    /// Writes `next` if the enrolment still has `expected`'s modules and scores (false if not:
    /// someone else changed it meanwhile; nothing written).
    async fn update_enrolment(
        &self,
        expected: &Enrolment,
        next: &Enrolment,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
    /// Stores a submitted test with everything it leads to, in one transaction; false (nothing
    /// written) when the enrolment is no longer as read (the test was submitted meanwhile).
    async fn record_test(
        &self,
        expected: &Enrolment,
        outcome: &TestOutcome,
        audit: Vec<AuditEntry>,
    ) -> StoreResult<bool>;
    async fn list_assessments(
        &self,
        org: OrgId,
        enrolment: EnrolmentId,
    ) -> StoreResult<Vec<Assessment>>;
    /// Newest first; `None`: everyone's.
    async fn list_certifications(
        &self,
        org: OrgId,
        user: Option<UserId>,
    ) -> StoreResult<Vec<Certification>>;
    /// Certifications valid at `now` that end before `before` and were not reminded yet.
    async fn certifications_to_remind(
        &self,
        now: Timestamp,
        before: Timestamp,
    ) -> StoreResult<Vec<Certification>>;
    /// Marks the reminder sent and, if given, stores the refresher enrolment; false if another
    /// run reminded it first (nothing written).
    async fn mark_reminded(
        &self,
        certification: &Certification,
        at: Timestamp,
        refresher: Option<&Enrolment>,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
    async fn grant_exception(
        &self,
        exception: &GateException,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// Newest first; `None`: everyone's.
    async fn list_gate_exceptions(
        &self,
        org: OrgId,
        clinician: Option<UserId>,
    ) -> StoreResult<Vec<GateException>>;
}
