//! Program, phases, tasks, roster, risks, site rollout, evaluations and goals.

use jiff::Timestamp;
use jiff::civil::Date;

use crate::ids::{EvaluationId, GoalId, OrgId, PhaseId, ProgramId, RiskId, SiteId, TaskId, UserId};

named_values!(TaskKind, "a task kind" {
    Milestone => ("milestone", "Milestone"),
    Task => ("task", "Task"),
});
named_values!(TaskStatus, "a task status" {
    NotStarted => ("not_started", "Not started"),
    InProgress => ("in_progress", "In progress"),
    Blocked => ("blocked", "Blocked"),
    Done => ("done", "Done"),
});
named_values!(GovernanceRole, "a governance role" {
    ExecutiveSponsor => ("executive_sponsor", "Executive sponsor"),
    ProgramManager => ("program_manager", "Program manager"),
    ClinicalChampion => ("clinical_champion", "Clinical champion"),
    SuperUser => ("super_user", "Super-user"),
    ComplianceOfficer => ("compliance_officer", "Compliance officer"),
    TrainingLead => ("training_lead", "Training lead"),
});
named_values!(RiskCategory, "a risk category" {
    Technical => ("technical", "Technical"),
    Operational => ("operational", "Operational"),
    Financial => ("financial", "Financial"),
    Regulatory => ("regulatory", "Regulatory"),
    Adoption => ("adoption", "Adoption"),
});
named_values!(RiskStatus, "a risk status" {
    Open => ("open", "Open"),
    Mitigating => ("mitigating", "Mitigating"),
    Closed => ("closed", "Closed"),
});
named_values!(SiteStage, "a site stage" {
    NotStarted => ("not_started", "Not started"),
    Preparing => ("preparing", "Preparing"),
    Pilot => ("pilot", "Pilot"),
    Live => ("live", "Live"),
    Optimising => ("optimising", "Optimising"),
});
named_values!(Decision, "a decision" {
    Go => ("go", "Go"),
    NoGo => ("no_go", "No go"),
});

/// The organization's implementation program (one per organization).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub id: ProgramId,
    pub org_id: OrgId,
    pub name: String,
    /// Week 1 starts on this day; the template spans 48 weeks.
    pub starts_on: Date,
    pub ends_on: Date,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub id: PhaseId,
    pub program_id: ProgramId,
    pub position: i64,
    pub name: String,
    pub starts_on: Date,
    pub ends_on: Date,
}

/// A milestone or a task of a phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: TaskId,
    pub program_id: ProgramId,
    pub phase_id: PhaseId,
    pub kind: TaskKind,
    pub title: String,
    pub owner_id: Option<UserId>,
    pub starts_on: Date,
    pub due_on: Date,
    pub status: TaskStatus,
    /// Tasks that must be done before this one can be.
    pub depends_on: Vec<TaskId>,
    pub updated_at: Timestamp,
}

impl Task {
    pub fn is_late(&self, today: Date) -> bool {
        self.status != TaskStatus::Done && self.due_on < today
    }
}

/// How far a phase has come: its tasks and milestones done, of all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseProgress {
    pub done: usize,
    pub total: usize,
}

impl PhaseProgress {
    /// The tasks of `phase` among `tasks`, and how many are done.
    pub fn of(phase: PhaseId, tasks: &[Task]) -> Self {
        let mine = tasks.iter().filter(|t| t.phase_id == phase);
        Self {
            done: mine
                .clone()
                .filter(|t| t.status == TaskStatus::Done)
                .count(),
            total: mine.count(),
        }
    }

    /// Done as a whole percentage, rounded down; a phase with no tasks is at 0.
    pub fn percent(self) -> usize {
        (self.done * 100).checked_div(self.total).unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub program_id: ProgramId,
    pub user_id: UserId,
    pub role: GovernanceRole,
    /// For clinical champions and super-users: their site.
    pub site_id: Option<SiteId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Risk {
    pub id: RiskId,
    pub org_id: OrgId,
    pub title: String,
    pub category: RiskCategory,
    /// 1 (rare) to 5 (almost certain).
    pub likelihood: i64,
    /// 1 (negligible) to 5 (severe).
    pub impact: i64,
    pub owner_id: Option<UserId>,
    pub mitigation: String,
    pub status: RiskStatus,
    pub next_review_on: Date,
    pub updated_at: Timestamp,
}

impl Risk {
    pub fn score(&self) -> i64 {
        self.likelihood * self.impact
    }

    pub fn review_overdue(&self, today: Date) -> bool {
        self.status != RiskStatus::Closed && self.next_review_on < today
    }
}

/// One item of a site's readiness checklist.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadinessItem {
    pub key: String,
    pub label: String,
    /// Required before the site may move to pilot or live.
    pub required: bool,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRollout {
    pub site_id: SiteId,
    pub org_id: OrgId,
    pub stage: SiteStage,
    pub checklist: Vec<ReadinessItem>,
    pub updated_at: Timestamp,
}

/// A pilot site's measured figures against its targets, and the decision taken on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PilotEvaluation {
    pub id: EvaluationId,
    pub org_id: OrgId,
    pub site_id: SiteId,
    pub target_digital_pct: i64,
    pub measured_digital_pct: i64,
    pub target_no_show_pct: i64,
    pub measured_no_show_pct: i64,
    pub decision: Decision,
    pub notes: String,
    pub decided_by: UserId,
    pub decided_at: Timestamp,
}

/// "`target_pct`% of patient meetings digital by `by`", for the organization or one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptionGoal {
    pub id: GoalId,
    pub org_id: OrgId,
    pub site_id: Option<SiteId>,
    pub target_pct: i64,
    pub by: Date,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(phase: PhaseId, status: TaskStatus) -> Task {
        Task {
            id: TaskId::new(),
            program_id: ProgramId::new(),
            phase_id: phase,
            kind: TaskKind::Task,
            title: "Train the front desk".into(),
            owner_id: None,
            starts_on: jiff::civil::date(2027, 1, 4),
            due_on: jiff::civil::date(2027, 1, 29),
            status,
            depends_on: Vec::new(),
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_phase_counts_only_its_own_tasks_and_an_empty_phase_is_at_zero() {
        let (pilot, scale, empty) = (PhaseId::new(), PhaseId::new(), PhaseId::new());
        let tasks = [
            task(pilot, TaskStatus::Done),
            task(pilot, TaskStatus::Done),
            task(pilot, TaskStatus::InProgress),
            task(scale, TaskStatus::Done),
        ];
        let p = PhaseProgress::of(pilot, &tasks);
        assert_eq!((p.done, p.total, p.percent()), (2, 3, 66));
        assert_eq!(PhaseProgress::of(scale, &tasks).percent(), 100);
        let none = PhaseProgress::of(empty, &tasks);
        assert_eq!((none.done, none.total, none.percent()), (0, 0, 0));
    }
}
