//! Geometry of the program's two charts, drawn as SVG by their templates: the Gantt timeline
//! (phases and tasks as bars on a day scale, today's line, late items marked) and the 5×5 risk
//! heat map. Numbers only here; the markup lives in `templates/partials/`.

use jiff::civil::Date;

use domain::program::{Phase, Risk, Task, TaskKind, TaskStatus, heat_map};

pub const GANTT_WIDTH: i64 = 960;
const LABEL_WIDTH: i64 = 300;
const ROW_HEIGHT: i64 = 24;
const TOP: i64 = 28;

pub struct GanttRow {
    pub y: i64,
    pub text_y: i64,
    pub label: String,
    pub x: i64,
    pub width: i64,
    /// "phase", "milestone" or "task", plus " late" or " done".
    pub class: String,
    pub milestone: bool,
    /// Diamond points for milestones (at the due date).
    pub diamond: String,
    pub title: String,
}

pub struct GanttTick {
    pub x: i64,
    pub label: String,
}

pub struct Gantt {
    pub width: i64,
    pub height: i64,
    pub label_width: i64,
    pub rows: Vec<GanttRow>,
    pub ticks: Vec<GanttTick>,
    /// Today's line, when today is within the program.
    pub today_x: Option<i64>,
    pub late: usize,
}

fn days_between(a: Date, b: Date) -> i64 {
    a.until(b).map(|s| i64::from(s.get_days())).unwrap_or(0)
}

pub fn gantt(start: Date, end: Date, phases: &[Phase], tasks: &[Task], today: Date) -> Gantt {
    let span = days_between(start, end).max(1) + 1;
    let scale = |d: Date| {
        LABEL_WIDTH
            + days_between(start, d).clamp(0, span) * (GANTT_WIDTH - LABEL_WIDTH - 10) / span
    };
    let mut rows = Vec::new();
    let mut y = TOP;
    let mut late = 0;
    for phase in phases {
        let (x, x_end) = (
            scale(phase.starts_on),
            scale(phase.ends_on.tomorrow().unwrap_or(phase.ends_on)),
        );
        rows.push(GanttRow {
            y,
            text_y: y + 16,
            label: phase.name.clone(),
            x,
            width: (x_end - x).max(2),
            class: "phase".into(),
            milestone: false,
            diamond: String::new(),
            title: format!("{}: {} to {}", phase.name, phase.starts_on, phase.ends_on),
        });
        y += ROW_HEIGHT;
        for task in tasks.iter().filter(|t| t.phase_id == phase.id) {
            let is_late = task.is_late(today);
            late += usize::from(is_late);
            let (x, x_end) = (
                scale(task.starts_on),
                scale(task.due_on.tomorrow().unwrap_or(task.due_on)),
            );
            let milestone = task.kind == TaskKind::Milestone;
            let state = if is_late {
                " late"
            } else if task.status == TaskStatus::Done {
                " done"
            } else {
                ""
            };
            let (cx, cy) = (x_end, y + ROW_HEIGHT / 2);
            rows.push(GanttRow {
                y: y + 5,
                text_y: y + 16,
                label: task.title.clone(),
                x,
                width: (x_end - x).max(2),
                class: format!("{}{state}", if milestone { "milestone" } else { "task" }),
                milestone,
                diamond: format!(
                    "{},{} {},{} {},{} {},{}",
                    cx,
                    cy - 7,
                    cx + 7,
                    cy,
                    cx,
                    cy + 7,
                    cx - 7,
                    cy
                ),
                title: format!(
                    "{}: {} to {}, {}{}",
                    task.title,
                    task.starts_on,
                    task.due_on,
                    task.status.label().to_lowercase(),
                    if is_late { ", late" } else { "" }
                ),
            });
            y += ROW_HEIGHT;
        }
    }
    // A tick at the first day of every second month.
    let mut ticks = Vec::new();
    let mut month = start.first_of_month();
    while month <= end {
        if month >= start {
            ticks.push(GanttTick {
                x: scale(month),
                label: month.strftime("%b %Y").to_string(),
            });
        }
        month = month
            .checked_add(jiff::Span::new().months(2))
            .unwrap_or(end.tomorrow().unwrap_or(end));
    }
    Gantt {
        width: GANTT_WIDTH,
        height: y + 8,
        label_width: LABEL_WIDTH,
        rows,
        ticks,
        today_x: (start <= today && today <= end).then(|| scale(today)),
        late,
    }
}

pub struct HeatCell {
    pub x: i64,
    pub y: i64,
    pub count: usize,
    pub class: &'static str,
    pub label: String,
}

pub struct HeatMap {
    pub cells: Vec<HeatCell>,
    /// (impact, x of its column's centre).
    pub impact_axis: Vec<(i64, i64)>,
    /// (likelihood, y of its row's centre).
    pub likelihood_axis: Vec<(i64, i64)>,
}

const CELL: i64 = 56;
const HEAT_LEFT: i64 = 70;

/// Cells with likelihood upward (5 at the top) and impact to the right, coloured by score.
pub fn heat(risks: &[Risk]) -> HeatMap {
    let counts = heat_map(risks);
    let mut cells = Vec::new();
    for likelihood in 1..=5i64 {
        for impact in 1..=5i64 {
            let count = counts[(likelihood - 1) as usize][(impact - 1) as usize];
            let score = likelihood * impact;
            cells.push(HeatCell {
                x: HEAT_LEFT + (impact - 1) * CELL,
                y: 10 + (5 - likelihood) * CELL,
                count,
                class: match score {
                    15.. => "heat-high",
                    8..=14 => "heat-medium",
                    _ => "heat-low",
                },
                label: format!("likelihood {likelihood}, impact {impact}: {count} open risk(s)"),
            });
        }
    }
    HeatMap {
        cells,
        impact_axis: (1..=5)
            .map(|n| (n, HEAT_LEFT + (n - 1) * CELL + CELL / 2))
            .collect(),
        likelihood_axis: (1..=5)
            .map(|n| (n, 10 + (5 - n) * CELL + CELL / 2 + 5))
            .collect(),
    }
}
