//! Pure rules of the program: the four-phase template, task dates and dependencies (no cycles,
//! nothing done before what it depends on), the readiness gate of a site's stage, the risk heat
//! map, and the digital share of patient meetings with its projection.

use std::collections::{HashMap, HashSet};

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan, tz::TimeZone};

use super::model::*;
use crate::error::{DomainError, DomainResult};
use crate::ids::{PhaseId, ProgramId, TaskId};

/// Weeks the template program spans.
pub const PROGRAM_WEEKS: i64 = 48;
/// Share of a site's clinicians and nurses who must be certified for the readiness item.
pub const CERTIFIED_SHARE_REQUIRED_PCT: i64 = 80;

/// The template: (phase, first week, last week, milestones and tasks as (title, kind, first
/// week, last week, depends on the items numbered here)).
type TemplateItem = (&'static str, TaskKind, i64, i64, &'static [usize]);
const TEMPLATE: [(&str, i64, i64, &[TemplateItem]); 4] = [
    (
        "Planning and design",
        1,
        12,
        &[
            (
                "Requirements and stakeholders",
                TaskKind::Milestone,
                1,
                4,
                &[],
            ),
            ("Governance roster named", TaskKind::Task, 1, 2, &[]),
            ("Clinical workflows designed", TaskKind::Task, 4, 10, &[0]),
            (
                "Security and compliance review",
                TaskKind::Milestone,
                8,
                12,
                &[0],
            ),
        ],
    ),
    (
        "Development and integration",
        13,
        24,
        &[
            ("Platform configuration", TaskKind::Milestone, 13, 18, &[2]),
            (
                "EHR integration (FHIR R4)",
                TaskKind::Milestone,
                15,
                24,
                &[4],
            ),
            (
                "Equipment tested at the pilot site",
                TaskKind::Task,
                18,
                22,
                &[4],
            ),
            ("Training delivery", TaskKind::Milestone, 19, 24, &[4]),
        ],
    ),
    (
        "Pilot launch and validation",
        25,
        36,
        &[
            ("Pilot go-live", TaskKind::Milestone, 25, 26, &[3, 5, 6, 7]),
            ("Pilot support and feedback", TaskKind::Task, 26, 34, &[8]),
            ("Pilot evaluation", TaskKind::Milestone, 34, 36, &[9]),
        ],
    ),
    (
        "Full-scale deployment",
        37,
        48,
        &[
            ("Enterprise rollout", TaskKind::Milestone, 37, 44, &[10]),
            ("Optimisation", TaskKind::Task, 42, 48, &[11]),
            ("Handover to operations", TaskKind::Milestone, 47, 48, &[11]),
        ],
    ),
];

fn week_start(start: Date, week: i64) -> Date {
    start.checked_add((7 * (week - 1)).days()).unwrap_or(start)
}

fn week_end(start: Date, week: i64) -> Date {
    start.checked_add((7 * week - 1).days()).unwrap_or(start)
}

/// The program's last day for a program starting on `starts_on`.
pub fn program_end(starts_on: Date) -> Date {
    week_end(starts_on, PROGRAM_WEEKS)
}

/// The four phases of the template with their milestones and tasks, dated from `starts_on`.
pub fn template(program: ProgramId, starts_on: Date, now: Timestamp) -> (Vec<Phase>, Vec<Task>) {
    let mut phases = Vec::new();
    let mut tasks: Vec<Task> = Vec::new();
    for (position, (name, first, last, items)) in TEMPLATE.iter().enumerate() {
        let phase = Phase {
            id: PhaseId::new(),
            program_id: program,
            position: position as i64 + 1,
            name: (*name).to_string(),
            starts_on: week_start(starts_on, *first),
            ends_on: week_end(starts_on, *last),
        };
        for (title, kind, from, to, deps) in items.iter() {
            let depends_on = deps
                .iter()
                .filter_map(|i| tasks.get(*i).map(|t| t.id))
                .collect();
            tasks.push(Task {
                id: TaskId::new(),
                program_id: program,
                phase_id: phase.id,
                kind: *kind,
                title: (*title).to_string(),
                owner_id: None,
                starts_on: week_start(starts_on, *from),
                due_on: week_end(starts_on, *to),
                status: TaskStatus::NotStarted,
                depends_on,
                updated_at: now,
            });
        }
        phases.push(phase);
    }
    (phases, tasks)
}

/// A task's dates lie within the program, the start not after the due date.
pub fn check_task_dates(program: &Program, starts_on: Date, due_on: Date) -> DomainResult<()> {
    for (field, d) in [("starts_on", starts_on), ("due_on", due_on)] {
        if d < program.starts_on || d > program.ends_on {
            return Err(DomainError::invalid(
                field,
                format!(
                    "must lie within the program ({} to {})",
                    program.starts_on, program.ends_on
                ),
            ));
        }
    }
    if starts_on > due_on {
        return Err(DomainError::invalid(
            "due_on",
            "must not be before the start",
        ));
    }
    Ok(())
}

/// `task` may depend on `depends_on` in the program's `tasks`: each exists, and no chain of
/// dependencies leads back to `task`.
pub fn check_dependencies(tasks: &[Task], task: TaskId, depends_on: &[TaskId]) -> DomainResult<()> {
    let known: HashSet<TaskId> = tasks.iter().map(|t| t.id).collect();
    for d in depends_on {
        if *d == task {
            return Err(DomainError::invalid(
                "depends_on",
                "a task cannot depend on itself",
            ));
        }
        if !known.contains(d) {
            return Err(DomainError::invalid(
                "depends_on",
                format!("{d} is not a task of this program"),
            ));
        }
    }
    // The graph as it would be, then a walk from each new dependency looking for `task`.
    let mut edges: HashMap<TaskId, Vec<TaskId>> =
        tasks.iter().map(|t| (t.id, t.depends_on.clone())).collect();
    edges.insert(task, depends_on.to_vec());
    let mut stack: Vec<TaskId> = depends_on.to_vec();
    let mut seen = HashSet::new();
    while let Some(current) = stack.pop() {
        if current == task {
            return Err(DomainError::invalid(
                "depends_on",
                "these dependencies would make a cycle: a task would wait for itself".to_string(),
            ));
        }
        if seen.insert(current)
            && let Some(next) = edges.get(&current)
        {
            stack.extend(next.iter().copied());
        }
    }
    Ok(())
}

/// A task is marked done only once everything it depends on is done.
pub fn check_can_finish(tasks: &[Task], depends_on: &[TaskId]) -> DomainResult<()> {
    let open: Vec<&str> = tasks
        .iter()
        .filter(|t| depends_on.contains(&t.id) && t.status != TaskStatus::Done)
        .map(|t| t.title.as_str())
        .collect();
    if open.is_empty() {
        Ok(())
    } else {
        Err(DomainError::conflict(format!(
            "this task depends on work not done yet: {}",
            open.join(", ")
        )))
    }
}

/// The checklist every site starts with. `staff_certified` and `super_user_named` are computed
/// from training records and the roster; the others are ticked by the program manager.
pub fn default_checklist() -> Vec<ReadinessItem> {
    [
        (
            "equipment_tested",
            "Cameras, headsets and connections tested in every room",
            true,
        ),
        (
            "staff_certified",
            "At least 80% of clinicians and nurses certified for telehealth",
            true,
        ),
        (
            "workflows_configured",
            "Visit types, consent and check-in workflows configured",
            true,
        ),
        ("super_user_named", "A super-user named for the site", true),
        (
            "patient_information_ready",
            "Patient information (leaflets, web page, reminders) ready",
            true,
        ),
        (
            "support_rota",
            "Support rota for the first weeks agreed",
            false,
        ),
    ]
    .into_iter()
    .map(|(key, label, required)| ReadinessItem {
        key: key.into(),
        label: label.into(),
        required,
        done: false,
    })
    .collect()
}

/// The required items not done, by label.
pub fn unmet_items(checklist: &[ReadinessItem]) -> Vec<&str> {
    checklist
        .iter()
        .filter(|i| i.required && !i.done)
        .map(|i| i.label.as_str())
        .collect()
}

/// Moving a site to pilot or live needs every required item done, unless the program manager
/// overrides the gate with a written reason.
pub fn check_stage_move(
    to: SiteStage,
    checklist: &[ReadinessItem],
    override_reason: Option<&str>,
) -> DomainResult<()> {
    if !matches!(to, SiteStage::Pilot | SiteStage::Live) {
        return Ok(());
    }
    let unmet = unmet_items(checklist);
    if unmet.is_empty() {
        return Ok(());
    }
    match override_reason.map(str::trim) {
        Some(reason) if reason.chars().count() >= 10 => Ok(()),
        Some(_) => Err(DomainError::invalid(
            "override_reason",
            "an override needs a written reason of at least 10 characters",
        )),
        None => Err(DomainError::conflict(format!(
            "the site is not ready for {}: {} not done",
            to.label().to_lowercase(),
            unmet.join("; ")
        ))),
    }
}

/// Likelihood and impact are 1 to 5.
pub fn check_rating(field: &str, value: i64) -> DomainResult<()> {
    if (1..=5).contains(&value) {
        Ok(())
    } else {
        Err(DomainError::invalid(field, "must be between 1 and 5"))
    }
}

/// Open risks counted per cell: `cells[likelihood - 1][impact - 1]`.
pub fn heat_map(risks: &[Risk]) -> [[usize; 5]; 5] {
    let mut cells = [[0usize; 5]; 5];
    for r in risks.iter().filter(|r| r.status != RiskStatus::Closed) {
        if let (Ok(l), Ok(i)) = (
            usize::try_from(r.likelihood - 1),
            usize::try_from(r.impact - 1),
        ) && l < 5
            && i < 5
        {
            cells[l][i] += 1;
        }
    }
    cells
}

/// A patient meeting that took place: when, and whether it was virtual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meeting {
    pub at: Timestamp,
    pub digital: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonthShare {
    /// The first day of the month.
    pub month: Date,
    pub digital: usize,
    pub total: usize,
}

impl MonthShare {
    pub fn pct(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.digital as f64 * 100.0 / self.total as f64
        }
    }
}

/// Meetings counted per calendar month (in `tz`), oldest first; months without meetings are
/// left out.
pub fn digital_share_by_month(meetings: &[Meeting], tz: &TimeZone) -> Vec<MonthShare> {
    let mut months: Vec<MonthShare> = Vec::new();
    let mut sorted: Vec<Meeting> = meetings.to_vec();
    sorted.sort_by_key(|m| m.at);
    for m in sorted {
        let d = m.at.to_zoned(tz.clone()).date();
        let month = d.first_of_month();
        match months.last_mut() {
            Some(last) if last.month == month => {
                last.total += 1;
                last.digital += usize::from(m.digital);
            }
            _ => months.push(MonthShare {
                month,
                digital: usize::from(m.digital),
                total: 1,
            }),
        }
    }
    months
}

fn month_index(d: Date) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month()) - 1
}

/// The share expected in the month of `by`, from a least-squares line through the monthly
/// shares; `None` with fewer than two months of data.
pub fn projected_pct(months: &[MonthShare], by: Date) -> Option<f64> {
    if months.len() < 2 {
        return None;
    }
    let xs: Vec<f64> = months.iter().map(|m| month_index(m.month) as f64).collect();
    let ys: Vec<f64> = months.iter().map(MonthShare::pct).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    let projected = my + slope * (month_index(by) as f64 - mx);
    Some(projected.clamp(0.0, 100.0))
}

/// Goal progress: the latest month's share, the projection and whether it reaches the target.
#[derive(Debug, Clone, PartialEq)]
pub struct GoalProgress {
    pub months: Vec<MonthShare>,
    pub current_pct: Option<f64>,
    pub projected_pct: Option<f64>,
    pub on_track: bool,
}

pub fn goal_progress(goal: &AdoptionGoal, meetings: &[Meeting], tz: &TimeZone) -> GoalProgress {
    let months = digital_share_by_month(meetings, tz);
    let current_pct = months.last().map(MonthShare::pct);
    let projected = projected_pct(&months, goal.by);
    let target = goal.target_pct as f64;
    let on_track = match (projected, current_pct) {
        (_, Some(c)) if c >= target => true,
        (Some(p), _) => p >= target,
        _ => false,
    };
    GoalProgress {
        months,
        current_pct,
        projected_pct: projected,
        on_track,
    }
}

#[cfg(test)]
mod tests {

    #![allow(clippy::unwrap_used)]

    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_template_has_four_phases_over_48_weeks_with_their_milestones() {
        let (phases, tasks) =
            template(ProgramId::new(), d("2026-01-05"), t("2026-01-01T00:00:00Z"));
        let names: Vec<&str> = phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Planning and design",
                "Development and integration",
                "Pilot launch and validation",
                "Full-scale deployment"
            ]
        );
        assert_eq!(
            (phases[0].starts_on, phases[0].ends_on),
            (d("2026-01-05"), d("2026-03-29")),
            "weeks 1-12"
        );
        assert_eq!(phases[1].starts_on, d("2026-03-30"), "week 13");
        assert_eq!(phases[3].ends_on, program_end(d("2026-01-05")));
        assert_eq!(
            program_end(d("2026-01-05")),
            d("2026-12-06"),
            "week 48 ends 336 days later"
        );
        for title in [
            "Requirements and stakeholders",
            "Platform configuration",
            "EHR integration (FHIR R4)",
            "Security and compliance review",
            "Training delivery",
            "Pilot go-live",
            "Pilot evaluation",
            "Enterprise rollout",
            "Optimisation",
        ] {
            assert!(tasks.iter().any(|t| t.title == title), "{title}");
        }
        let go_live = tasks.iter().find(|t| t.title == "Pilot go-live").unwrap();
        assert_eq!(go_live.depends_on.len(), 4);
        // Every task lies in its phase, and the template's own graph has no cycle.
        for task in &tasks {
            let phase = phases.iter().find(|p| p.id == task.phase_id).unwrap();
            assert!(
                phase.starts_on <= task.starts_on && task.due_on <= phase.ends_on,
                "{}",
                task.title
            );
            check_dependencies(&tasks, task.id, &task.depends_on).unwrap();
        }
    }

    #[test]
    fn a_dependency_that_closes_a_cycle_is_refused() {
        let (_, tasks) = template(ProgramId::new(), d("2026-01-05"), t("2026-01-01T00:00:00Z"));
        let requirements = tasks[0].id;
        let evaluation = tasks
            .iter()
            .find(|t| t.title == "Pilot evaluation")
            .unwrap()
            .id;
        // Requirements would wait for the pilot evaluation, which waits (through the chain) for them.
        let err = check_dependencies(&tasks, requirements, &[evaluation]).unwrap_err();
        assert!(err.to_string().contains("cycle"), "{err}");
        assert!(check_dependencies(&tasks, requirements, &[requirements]).is_err());
        assert!(
            check_dependencies(&tasks, requirements, &[TaskId::new()]).is_err(),
            "unknown task"
        );
        assert!(check_dependencies(&tasks, evaluation, &[requirements]).is_ok());
    }

    #[test]
    fn nothing_is_done_before_what_it_depends_on() {
        let (_, mut tasks) = template(ProgramId::new(), d("2026-01-05"), t("2026-01-01T00:00:00Z"));
        let workflows = tasks[2].clone();
        let err = check_can_finish(&tasks, &workflows.depends_on).unwrap_err();
        assert!(
            err.to_string().contains("Requirements and stakeholders"),
            "{err}"
        );
        tasks[0].status = TaskStatus::Done;
        check_can_finish(&tasks, &workflows.depends_on).unwrap();
    }

    #[test]
    fn task_dates_stay_within_the_program() {
        let program = Program {
            id: ProgramId::new(),
            org_id: crate::ids::OrgId::new(),
            name: "P".into(),
            starts_on: d("2026-01-05"),
            ends_on: d("2026-12-06"),
            created_at: t("2026-01-01T00:00:00Z"),
        };
        assert!(check_task_dates(&program, d("2026-02-01"), d("2026-03-01")).is_ok());
        assert!(
            check_task_dates(&program, d("2025-12-31"), d("2026-03-01"))
                .unwrap_err()
                .to_string()
                .contains("starts_on")
        );
        assert!(
            check_task_dates(&program, d("2026-02-01"), d("2027-01-01"))
                .unwrap_err()
                .to_string()
                .contains("due_on")
        );
        assert!(check_task_dates(&program, d("2026-03-01"), d("2026-02-01")).is_err());
    }

    #[test]
    fn pilot_and_live_wait_for_the_required_items_unless_overridden_with_a_reason() {
        let mut checklist = default_checklist();
        assert!(check_stage_move(SiteStage::Preparing, &checklist, None).is_ok());
        let err = check_stage_move(SiteStage::Pilot, &checklist, None).unwrap_err();
        assert!(
            matches!(err, DomainError::Conflict { .. })
                && err.to_string().contains("not ready for pilot"),
            "{err}"
        );
        assert!(check_stage_move(SiteStage::Live, &checklist, Some("too short")).is_err());
        assert!(
            check_stage_move(
                SiteStage::Live,
                &checklist,
                Some("Board decision of 3 March: go live with paper fallback")
            )
            .is_ok()
        );
        for item in checklist.iter_mut().filter(|i| i.required) {
            item.done = true;
        }
        assert!(
            check_stage_move(SiteStage::Pilot, &checklist, None).is_ok(),
            "the optional item does not hold it back"
        );
    }

    #[test]
    fn the_heat_map_counts_open_risks_by_likelihood_and_impact() {
        let risk = |l, i, status| Risk {
            id: crate::ids::RiskId::new(),
            org_id: crate::ids::OrgId::new(),
            title: "r".into(),
            category: RiskCategory::Technical,
            likelihood: l,
            impact: i,
            owner_id: None,
            mitigation: String::new(),
            status,
            next_review_on: d("2026-01-01"),
            updated_at: t("2026-01-01T00:00:00Z"),
        };
        let risks = [
            risk(5, 4, RiskStatus::Open),
            risk(5, 4, RiskStatus::Mitigating),
            risk(1, 1, RiskStatus::Open),
            risk(3, 3, RiskStatus::Closed),
        ];
        let cells = heat_map(&risks);
        assert_eq!(cells[4][3], 2);
        assert_eq!(cells[0][0], 1);
        assert_eq!(cells[2][2], 0, "closed risks leave the map");
        assert_eq!(cells.iter().flatten().sum::<usize>(), 3);
        assert_eq!(risks[0].score(), 20);
        assert!(
            risks[0].review_overdue(d("2026-01-02")) && !risks[3].review_overdue(d("2026-01-02"))
        );
    }

    /// Hand-counted: January 1 digital of 4 (25%), February 2 of 4 (50%), March 3 of 4 (75%).
    fn fixture() -> Vec<Meeting> {
        let mut m = Vec::new();
        for (month, digital) in [("01", 1), ("02", 2), ("03", 3)] {
            for i in 0..4 {
                m.push(Meeting {
                    at: t(&format!("2026-{month}-1{i}T15:00:00Z")),
                    digital: i < digital,
                });
            }
        }
        m
    }

    #[test]
    fn the_digital_share_is_counted_per_month_and_projected_along_its_trend() {
        let tz = TimeZone::UTC;
        let months = digital_share_by_month(&fixture(), &tz);
        let shares: Vec<(Date, usize, usize)> = months
            .iter()
            .map(|m| (m.month, m.digital, m.total))
            .collect();
        assert_eq!(
            shares,
            [
                (d("2026-01-01"), 1, 4),
                (d("2026-02-01"), 2, 4),
                (d("2026-03-01"), 3, 4)
            ]
        );
        assert_eq!(months[1].pct(), 50.0);
        // +25 points a month: April 100% (capped), and back in time the line is at 0 in December.
        assert_eq!(projected_pct(&months, d("2026-04-15")), Some(100.0));
        assert_eq!(projected_pct(&months, d("2025-12-01")), Some(0.0));
        assert_eq!(
            projected_pct(&months[..1], d("2026-04-15")),
            None,
            "one month is no trend"
        );
        let goal = |target| AdoptionGoal {
            id: crate::ids::GoalId::new(),
            org_id: crate::ids::OrgId::new(),
            site_id: None,
            target_pct: target,
            by: d("2026-03-31"),
            created_at: t("2026-01-01T00:00:00Z"),
        };
        let p = goal_progress(&goal(30), &fixture(), &tz);
        assert_eq!((p.current_pct, p.on_track), (Some(75.0), true));
        let p = goal_progress(&goal(80), &fixture(), &tz);
        assert_eq!(
            (p.projected_pct, p.on_track),
            (Some(75.0), false),
            "March projected at 75%"
        );
    }

    #[test]
    fn a_meeting_counts_in_the_month_of_the_organizations_time_zone() {
        // 03:00 UTC on March 1 is still February in New York.
        let tz = TimeZone::get("America/New_York").unwrap();
        let months = digital_share_by_month(
            &[Meeting {
                at: t("2026-03-01T03:00:00Z"),
                digital: true,
            }],
            &tz,
        );
        assert_eq!(months[0].month, d("2026-02-01"));
    }
}
