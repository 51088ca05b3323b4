//! The storage port of the program.

use async_trait::async_trait;
use jiff::Timestamp;

use super::model::*;
use crate::compliance::AuditEntry;
use crate::error::StoreResult;
use crate::ids::{OrgId, SiteId, TaskId};

#[async_trait]
pub trait ProgramStore: Send + Sync {
    /// Writes a new program with its phases and tasks; `Conflict` if the organization has one.
    async fn create_program(
        &self,
        program: &Program,
        phases: &[Phase],
        tasks: &[Task],
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn get_program(&self, org: OrgId) -> StoreResult<Option<Program>>;
    async fn list_phases(&self, program: &Program) -> StoreResult<Vec<Phase>>;
    async fn list_tasks(&self, program: &Program) -> StoreResult<Vec<Task>>;
    async fn create_task(&self, task: &Task, audit: AuditEntry) -> StoreResult<()>;
    /// Writes `next` if the task was not changed since `expected_updated_at` (false otherwise).
    async fn update_task(
        &self,
        next: &Task,
        expected_updated_at: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
    async fn get_task(&self, org: OrgId, id: TaskId) -> StoreResult<Option<Task>>;
    async fn set_roster(&self, entry: &RosterEntry, audit: AuditEntry) -> StoreResult<()>;
    async fn list_roster(&self, program: &Program) -> StoreResult<Vec<RosterEntry>>;
    async fn save_risk(&self, risk: &Risk, audit: AuditEntry) -> StoreResult<()>;
    async fn list_risks(&self, org: OrgId) -> StoreResult<Vec<Risk>>;
    /// The stored rollout of each site that has one.
    async fn list_rollouts(&self, org: OrgId) -> StoreResult<Vec<SiteRollout>>;
    /// Writes the site's rollout if it is still as last read (`expected_updated_at`, `None` for
    /// a site never written); false otherwise.
    async fn save_rollout(
        &self,
        rollout: &SiteRollout,
        expected_updated_at: Option<Timestamp>,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
    async fn record_evaluation(
        &self,
        evaluation: &PilotEvaluation,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn list_evaluations(
        &self,
        org: OrgId,
        site: Option<SiteId>,
    ) -> StoreResult<Vec<PilotEvaluation>>;
    async fn create_goal(&self, goal: &AdoptionGoal, audit: AuditEntry) -> StoreResult<()>;
    async fn list_goals(&self, org: OrgId) -> StoreResult<Vec<AdoptionGoal>>;
    /// Appointments that took place (completed) from `from`, with their virtual flag, for the
    /// organization or one site.
    async fn meetings(
        &self,
        org: OrgId,
        site: Option<SiteId>,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<super::Meeting>>;
    /// No-shows and meetings held at a site in a period: (no_shows, held).
    async fn attendance(
        &self,
        org: OrgId,
        site: SiteId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<(u64, u64)>;
}
