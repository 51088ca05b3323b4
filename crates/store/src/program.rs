//! Program storage: the program with its phases and tasks, the roster, risks, site rollouts,
//! pilot evaluations, adoption goals, and the counts of meetings that goals are measured by.

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::ids::{OrgId, SiteId, TaskId};
use domain::program::*;
use domain::scheduling::Modality;
use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::db::{self, Arg, DbResult, Filter, Insert, R, write_error};
use crate::sql_store::SqlStore;

const PROGRAM_COLUMNS: &str = "id, org_id, name, starts_on, ends_on, created_at";
const PHASE_COLUMNS: &str = "id, program_id, position, name, starts_on, ends_on";
const PHASES: Insert = Insert {
    into: "program_phases (id, program_id, position, name, starts_on, ends_on)",
    columns: 6,
    suffix: "",
};
const TASK_COLUMNS: &str = "id, program_id, phase_id, kind, title, owner_id, starts_on, due_on, status, depends_on, updated_at";
const RISK_COLUMNS: &str = "id, org_id, title, category, likelihood, impact, owner_id, mitigation, status, \
                            next_review_on, updated_at";
const EVALUATION_COLUMNS: &str = "id, org_id, site_id, target_digital_pct, measured_digital_pct, \
                                  target_no_show_pct, measured_no_show_pct, decision, notes, decided_by, decided_at";

fn program_from_row(row: &AnyRow) -> R<Program> {
    Ok(Program {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        name: db::text(row, "name")?,
        starts_on: db::date(row, "starts_on")?,
        ends_on: db::date(row, "ends_on")?,
        created_at: db::ts(row, "created_at")?,
    })
}

fn phase_from_row(row: &AnyRow) -> R<Phase> {
    Ok(Phase {
        id: db::parsed(row, "id")?,
        program_id: db::parsed(row, "program_id")?,
        position: db::int(row, "position")?,
        name: db::text(row, "name")?,
        starts_on: db::date(row, "starts_on")?,
        ends_on: db::date(row, "ends_on")?,
    })
}

fn task_from_row(row: &AnyRow) -> R<Task> {
    Ok(Task {
        id: db::parsed(row, "id")?,
        program_id: db::parsed(row, "program_id")?,
        phase_id: db::parsed(row, "phase_id")?,
        kind: db::domain_value(row, "kind", TaskKind::parse)?,
        title: db::text(row, "title")?,
        owner_id: db::opt_parsed(row, "owner_id")?,
        starts_on: db::date(row, "starts_on")?,
        due_on: db::date(row, "due_on")?,
        status: db::domain_value(row, "status", TaskStatus::parse)?,
        depends_on: db::from_json(row, "depends_on")?,
        updated_at: db::ts(row, "updated_at")?,
    })
}

fn risk_from_row(row: &AnyRow) -> R<Risk> {
    Ok(Risk {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        title: db::text(row, "title")?,
        category: db::domain_value(row, "category", RiskCategory::parse)?,
        likelihood: db::int(row, "likelihood")?,
        impact: db::int(row, "impact")?,
        owner_id: db::opt_parsed(row, "owner_id")?,
        mitigation: db::text(row, "mitigation")?,
        status: db::domain_value(row, "status", RiskStatus::parse)?,
        next_review_on: db::date(row, "next_review_on")?,
        updated_at: db::ts(row, "updated_at")?,
    })
}

fn evaluation_from_row(row: &AnyRow) -> R<PilotEvaluation> {
    Ok(PilotEvaluation {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        site_id: db::parsed(row, "site_id")?,
        target_digital_pct: db::int(row, "target_digital_pct")?,
        measured_digital_pct: db::int(row, "measured_digital_pct")?,
        target_no_show_pct: db::int(row, "target_no_show_pct")?,
        measured_no_show_pct: db::int(row, "measured_no_show_pct")?,
        decision: db::domain_value(row, "decision", Decision::parse)?,
        notes: db::text(row, "notes")?,
        decided_by: db::parsed(row, "decided_by")?,
        decided_at: db::ts(row, "decided_at")?,
    })
}

fn day(d: Date) -> String {
    d.to_string()
}

fn task_args(t: &Task) -> R<Vec<Arg>> {
    Ok(vec![
        Arg::Text(t.id.to_string()),
        Arg::Text(t.program_id.to_string()),
        Arg::Text(t.phase_id.to_string()),
        Arg::Text(t.kind.as_str().into()),
        Arg::Text(t.title.clone()),
        match t.owner_id {
            Some(o) => Arg::Text(o.to_string()),
            None => Arg::Null,
        },
        Arg::Text(day(t.starts_on)),
        Arg::Text(day(t.due_on)),
        Arg::Text(t.status.as_str().into()),
        Arg::Text(db::json(&t.depends_on)?),
        Arg::Int(t.updated_at.as_microsecond()),
    ])
}

async fn insert_task(conn: &mut AnyConnection, t: &Task) -> R<()> {
    let sql = AssertSqlSafe(format!(
        "INSERT INTO program_tasks ({TASK_COLUMNS}) VALUES ({})",
        db::placeholders(1, 11)
    ));
    db::bind_args(sqlx::query(sql), task_args(t)?)
        .execute(conn)
        .await
        .db()?;
    Ok(())
}

#[async_trait]
impl ProgramStore for SqlStore {
    async fn create_program(
        &self,
        p: &Program,
        phases: &[Phase],
        tasks: &[Task],
        audit: AuditEntry,
    ) -> R<()> {
        self.audited(audit, async |tx| {
            let sql = AssertSqlSafe(format!(
                "INSERT INTO programs ({PROGRAM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            ));
            sqlx::query(sql)
                .bind(p.id.to_string())
                .bind(p.org_id.to_string())
                .bind(p.name.clone())
                .bind(day(p.starts_on))
                .bind(day(p.ends_on))
                .bind(p.created_at.as_microsecond())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    write_error(e, |_| {
                        DomainError::conflict("the organization already has a program")
                    })
                })?;
            db::insert_rows(&mut *tx, &PHASES, phases, |q, ph| {
                q.bind(ph.id.to_string())
                    .bind(ph.program_id.to_string())
                    .bind(ph.position)
                    .bind(ph.name.as_str())
                    .bind(day(ph.starts_on))
                    .bind(day(ph.ends_on))
            })
            .await
            .db()?;
            for t in tasks {
                insert_task(&mut *tx, t).await?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn get_program(&self, org: OrgId) -> R<Option<Program>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {PROGRAM_COLUMNS} FROM programs WHERE org_id = $1"
        ));
        let row = sqlx::query(sql)
            .bind(org.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.as_ref().map(program_from_row).transpose()
    }

    async fn list_phases(&self, p: &Program) -> R<Vec<Phase>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {PHASE_COLUMNS} FROM program_phases WHERE program_id = $1 ORDER BY position"
        ));
        let rows = sqlx::query(sql)
            .bind(p.id.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(phase_from_row).collect()
    }

    async fn list_tasks(&self, p: &Program) -> R<Vec<Task>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM program_tasks WHERE program_id = $1 ORDER BY starts_on, due_on, id"
        ));
        let rows = sqlx::query(sql)
            .bind(p.id.to_string())
            .fetch_all(&self.writer)
            .await
            .db()?;
        rows.iter().map(task_from_row).collect()
    }

    async fn create_task(&self, t: &Task, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            insert_task(&mut *tx, t).await?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn update_task(
        &self,
        t: &Task,
        expected_updated_at: Timestamp,
        audit: AuditEntry,
    ) -> R<bool> {
        self.audited_if(audit, async |tx| {
            let mut args = task_args(t)?;
            // id and program stay; the rest is set, if nobody changed the task meanwhile.
            let id = args.remove(0);
            let program = args.remove(0);
            args.push(id);
            args.push(program);
            args.push(Arg::Int(expected_updated_at.as_microsecond()));
            let changed = db::bind_args(
                sqlx::query(
                    "UPDATE program_tasks SET phase_id = $1, kind = $2, title = $3, owner_id = $4, starts_on = $5, \
                     due_on = $6, status = $7, depends_on = $8, updated_at = $9 \
                     WHERE id = $10 AND program_id = $11 AND updated_at = $12",
                ),
                args,
            )
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
            if changed == 0 {
                return Ok(false);
            }
            Ok(true)
        })
        .await
    }

    async fn get_task(&self, org: OrgId, id: TaskId) -> R<Option<Task>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {} FROM program_tasks t JOIN programs p ON p.id = t.program_id WHERE p.org_id = $1 AND t.id = $2",
            TASK_COLUMNS
                .split(", ")
                .map(|c| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let row = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.writer)
            .await
            .db()?;
        row.as_ref().map(task_from_row).transpose()
    }

    async fn set_roster(&self, e: &RosterEntry, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            sqlx::query(
                "DELETE FROM program_roster WHERE program_id = $1 AND user_id = $2 AND role = $3",
            )
            .bind(e.program_id.to_string())
            .bind(e.user_id.to_string())
            .bind(e.role.as_str())
            .execute(&mut *tx)
            .await
            .db()?;
            sqlx::query("INSERT INTO program_roster (program_id, user_id, role, site_id) VALUES ($1, $2, $3, $4)")
                .bind(e.program_id.to_string())
                .bind(e.user_id.to_string())
                .bind(e.role.as_str())
                .bind(e.site_id.map(|s| s.to_string()))
                .execute(&mut *tx)
                .await
                .db()?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn list_roster(&self, p: &Program) -> R<Vec<RosterEntry>> {
        let rows = sqlx::query("SELECT program_id, user_id, role, site_id FROM program_roster WHERE program_id = $1 ORDER BY role, user_id")
            .bind(p.id.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter()
            .map(|row| {
                Ok(RosterEntry {
                    program_id: db::parsed(row, "program_id")?,
                    user_id: db::parsed(row, "user_id")?,
                    role: db::domain_value(row, "role", GovernanceRole::parse)?,
                    site_id: db::opt_parsed(row, "site_id")?,
                })
            })
            .collect()
    }

    async fn save_risk(&self, r: &Risk, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            sqlx::query("DELETE FROM risks WHERE id = $1 AND org_id = $2")
                .bind(r.id.to_string())
                .bind(r.org_id.to_string())
                .execute(&mut *tx)
                .await
                .db()?;
            let sql = AssertSqlSafe(format!(
                "INSERT INTO risks ({RISK_COLUMNS}) VALUES ({})",
                db::placeholders(1, 11)
            ));
            sqlx::query(sql)
                .bind(r.id.to_string())
                .bind(r.org_id.to_string())
                .bind(r.title.clone())
                .bind(r.category.as_str())
                .bind(r.likelihood)
                .bind(r.impact)
                .bind(r.owner_id.map(|o| o.to_string()))
                .bind(r.mitigation.clone())
                .bind(r.status.as_str())
                .bind(day(r.next_review_on))
                .bind(r.updated_at.as_microsecond())
                .execute(&mut *tx)
                .await
                .db()?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn list_risks(&self, org: OrgId) -> R<Vec<Risk>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {RISK_COLUMNS} FROM risks WHERE org_id = $1 ORDER BY likelihood * impact DESC, next_review_on, id"
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(risk_from_row).collect()
    }

    async fn list_rollouts(&self, org: OrgId) -> R<Vec<SiteRollout>> {
        let rows = sqlx::query("SELECT site_id, org_id, stage, checklist, updated_at FROM site_rollouts WHERE org_id = $1")
            .bind(org.to_string())
            .fetch_all(&self.writer)
            .await
            .db()?;
        rows.iter()
            .map(|row| {
                Ok(SiteRollout {
                    site_id: db::parsed(row, "site_id")?,
                    org_id: db::parsed(row, "org_id")?,
                    stage: db::domain_value(row, "stage", SiteStage::parse)?,
                    checklist: db::from_json(row, "checklist")?,
                    updated_at: db::ts(row, "updated_at")?,
                })
            })
            .collect()
    }

    async fn save_rollout(
        &self,
        r: &SiteRollout,
        expected: Option<Timestamp>,
        audit: AuditEntry,
    ) -> R<bool> {
        self.audited_if(audit, async |tx| {
            let changed = match expected {
                None => {
                    let inserted = sqlx::query(
                        "INSERT INTO site_rollouts (site_id, org_id, stage, checklist, updated_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(r.site_id.to_string())
                    .bind(r.org_id.to_string())
                    .bind(r.stage.as_str())
                    .bind(db::json(&r.checklist)?)
                    .bind(r.updated_at.as_microsecond())
                    .execute(&mut *tx)
                    .await;
                    match inserted {
                        Ok(done) => done.rows_affected(),
                        Err(e) if db::is_unique_violation(&e) => 0,
                        Err(e) => return Err(db::storage(e)),
                    }
                }
                Some(at) => sqlx::query(
                    "UPDATE site_rollouts SET stage = $1, checklist = $2, updated_at = $3 \
                     WHERE site_id = $4 AND org_id = $5 AND updated_at = $6",
                )
                .bind(r.stage.as_str())
                .bind(db::json(&r.checklist)?)
                .bind(r.updated_at.as_microsecond())
                .bind(r.site_id.to_string())
                .bind(r.org_id.to_string())
                .bind(at.as_microsecond())
                .execute(&mut *tx)
                .await
                .db()?
                .rows_affected(),
            };
            if changed == 0 {
                return Ok(false);
            }
            Ok(true)
        })
        .await
    }

    async fn record_evaluation(&self, e: &PilotEvaluation, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let sql = AssertSqlSafe(format!(
                "INSERT INTO pilot_evaluations ({EVALUATION_COLUMNS}) VALUES ({})",
                db::placeholders(1, 11)
            ));
            sqlx::query(sql)
                .bind(e.id.to_string())
                .bind(e.org_id.to_string())
                .bind(e.site_id.to_string())
                .bind(e.target_digital_pct)
                .bind(e.measured_digital_pct)
                .bind(e.target_no_show_pct)
                .bind(e.measured_no_show_pct)
                .bind(e.decision.as_str())
                .bind(e.notes.clone())
                .bind(e.decided_by.to_string())
                .bind(e.decided_at.as_microsecond())
                .execute(&mut *tx)
                .await
                .db()?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn list_evaluations(&self, org: OrgId, site: Option<SiteId>) -> R<Vec<PilotEvaluation>> {
        let mut filter = Filter::default();
        filter.push("org_id = ?", Arg::Text(org.to_string()));
        if let Some(s) = site {
            filter.push("site_id = ?", Arg::Text(s.to_string()));
        }
        let sql = AssertSqlSafe(format!(
            "SELECT {EVALUATION_COLUMNS} FROM pilot_evaluations {} ORDER BY decided_at DESC, id",
            filter.where_clause()
        ));
        let rows = db::bind_args(sqlx::query(sql), filter.args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(evaluation_from_row).collect()
    }

    async fn create_goal(&self, g: &AdoptionGoal, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            sqlx::query("INSERT INTO adoption_goals (id, org_id, site_id, target_pct, by_date, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(g.id.to_string())
                .bind(g.org_id.to_string())
                .bind(g.site_id.map(|s| s.to_string()))
                .bind(g.target_pct)
                .bind(day(g.by))
                .bind(g.created_at.as_microsecond())
                .execute(&mut *tx)
                .await
                .db()?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn list_goals(&self, org: OrgId) -> R<Vec<AdoptionGoal>> {
        let rows = sqlx::query("SELECT id, org_id, site_id, target_pct, by_date, created_at FROM adoption_goals WHERE org_id = $1 ORDER BY by_date, id")
            .bind(org.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter()
            .map(|row| {
                Ok(AdoptionGoal {
                    id: db::parsed(row, "id")?,
                    org_id: db::parsed(row, "org_id")?,
                    site_id: db::opt_parsed(row, "site_id")?,
                    target_pct: db::int(row, "target_pct")?,
                    by: db::date(row, "by_date")?,
                    created_at: db::ts(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn meetings(
        &self,
        org: OrgId,
        site: Option<SiteId>,
        from: Timestamp,
        to: Timestamp,
    ) -> R<Vec<Meeting>> {
        let mut filter = Filter::default();
        filter.push("org_id = ?", Arg::Text(org.to_string()));
        if let Some(s) = site {
            filter.push("site_id = ?", Arg::Text(s.to_string()));
        }
        filter.raw("status = 'completed'");
        filter.push("start_at >= ?", Arg::Int(from.as_microsecond()));
        filter.push("start_at < ?", Arg::Int(to.as_microsecond()));
        let sql = AssertSqlSafe(format!(
            "SELECT start_at, modality FROM appointments {}",
            filter.where_clause()
        ));
        let rows = db::bind_args(sqlx::query(sql), filter.args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter()
            .map(|row| {
                Ok(Meeting {
                    at: db::ts(row, "start_at")?,
                    digital: db::domain_value(row, "modality", Modality::parse)?.is_virtual(),
                })
            })
            .collect()
    }

    async fn attendance(
        &self,
        org: OrgId,
        site: SiteId,
        from: Timestamp,
        to: Timestamp,
    ) -> R<(u64, u64)> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM appointments WHERE org_id = $1 AND site_id = $2 \
             AND start_at >= $3 AND start_at < $4 AND status IN ('completed', 'no_show') GROUP BY status",
        )
        .bind(org.to_string())
        .bind(site.to_string())
        .bind(from.as_microsecond())
        .bind(to.as_microsecond())
        .fetch_all(&self.reader)
        .await
        .db()?;
        let (mut no_shows, mut held) = (0u64, 0u64);
        for row in &rows {
            let n = u64::try_from(db::int(row, "n")?).unwrap_or(0);
            if db::text(row, "status")? == "no_show" {
                no_shows = n
            } else {
                held = n
            }
        }
        Ok((no_shows, held))
    }
}
