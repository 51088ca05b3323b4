//! The program board's filters: which milestones and tasks a board shows.

use jiff::civil::Date;

use super::model::Task;
use crate::ids::{PhaseId, SiteId, UserId};

/// The board's filters: a task shows when it matches every filter given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub phase: Option<PhaseId>,
    pub owner: Option<UserId>,
    /// A task belongs to the sites its owner works at.
    pub site: Option<SiteId>,
    pub late_only: bool,
}

impl TaskFilter {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `owner_sites`: the sites the task's owner works at (none without an owner).
    pub fn matches(&self, task: &Task, today: Date, owner_sites: &[SiteId]) -> bool {
        self.phase.is_none_or(|p| task.phase_id == p)
            && self.owner.is_none_or(|o| task.owner_id == Some(o))
            && self.site.is_none_or(|s| owner_sites.contains(&s))
            && (!self.late_only || task.is_late(today))
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::ids::{ProgramId, TaskId};
    use crate::program::{TaskKind, TaskStatus};

    #[test]
    fn a_task_filter_matches_phase_owner_owners_site_and_lateness_together() {
        let today = jiff::civil::date(2027, 3, 1);
        let phase = PhaseId::new();
        let owner = UserId::new();
        let site = SiteId::new();
        let task = Task {
            id: TaskId::new(),
            program_id: ProgramId::new(),
            phase_id: phase,
            kind: TaskKind::Task,
            title: "Train the pilot staff".into(),
            owner_id: Some(owner),
            starts_on: jiff::civil::date(2027, 1, 1),
            due_on: jiff::civil::date(2027, 2, 1),
            status: TaskStatus::InProgress,
            depends_on: Vec::new(),
            updated_at: Timestamp::UNIX_EPOCH,
        };
        let all = TaskFilter {
            phase: Some(phase),
            owner: Some(owner),
            site: Some(site),
            late_only: true,
        };
        assert!(TaskFilter::default().is_empty());
        assert!(TaskFilter::default().matches(&task, today, &[]));
        assert!(all.matches(&task, today, &[site]));
        assert!(!all.matches(&task, today, &[]), "the owner works elsewhere");
        let other_phase = TaskFilter {
            phase: Some(PhaseId::new()),
            ..all.clone()
        };
        assert!(!other_phase.matches(&task, today, &[site]));
        let done = Task {
            status: TaskStatus::Done,
            ..task.clone()
        };
        assert!(
            !all.matches(&done, today, &[site]),
            "a done task is not late"
        );
        let unowned = Task {
            owner_id: None,
            ..task
        };
        assert!(!all.matches(&unowned, today, &[site]));
    }
}
