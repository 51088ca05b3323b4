//! Training storage: courses with the roles they are for, enrolments, submitted tests,
//! certifications and gate exceptions.
//!
//! A submitted test is written with everything it leads to (the enrolment's new state, a
//! certification, a remedial enrolment, the audit entries) in one transaction, guarded twice:
//! the enrolment must still be as read (compare-and-set) and a test is unique per enrolment and
//! kind, so a double submission writes nothing.

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::identity::Role;
use domain::ids::{CourseId, EnrolmentId, OrgId, UserId};
use domain::training::*;
use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::db::{self, Arg, DbResult, Filter, Insert, R, write_error};
use crate::sql_store::SqlStore;

const COURSE_ROLES: Insert = Insert {
    into: "training_course_roles (course_id, role)",
    columns: 2,
    suffix: "",
};

const COURSE_COLUMNS: &str = "id, org_id, title, summary, modules, questions, pass_mark_pct, certifies, \
                              validity_months, created_at";
const ENROLMENT_COLUMNS: &str = "id, org_id, user_id, course_id, reason, status, modules_done, pre_score_pct, \
                                 post_score_pct, enrolled_at, completed_at";
const ASSESSMENT_COLUMNS: &str = "id, enrolment_id, kind, answers, score_pct, passed, submitted_at";
const CERTIFICATION_COLUMNS: &str =
    "id, org_id, user_id, course_id, enrolment_id, issued_at, expires_at, reminded_at";
const EXCEPTION_COLUMNS: &str = "id, org_id, clinician_id, reason, granted_by, granted_at, ends_at";

fn course_from_row(row: &AnyRow, audience: Vec<Role>) -> R<Course> {
    Ok(Course {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        title: db::text(row, "title")?,
        summary: db::text(row, "summary")?,
        audience,
        modules: db::from_json(row, "modules")?,
        questions: db::from_json(row, "questions")?,
        pass_mark_pct: db::int(row, "pass_mark_pct")?,
        certifies: db::flag(row, "certifies")?,
        validity_months: db::int(row, "validity_months")?,
        created_at: db::ts(row, "created_at")?,
    })
}

fn enrolment_from_row(row: &AnyRow) -> R<Enrolment> {
    Ok(Enrolment {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        user_id: db::parsed(row, "user_id")?,
        course_id: db::parsed(row, "course_id")?,
        reason: db::domain_value(row, "reason", EnrolmentReason::parse)?,
        status: db::domain_value(row, "status", EnrolmentStatus::parse)?,
        modules_done: db::from_json(row, "modules_done")?,
        pre_score_pct: db::opt_int(row, "pre_score_pct")?,
        post_score_pct: db::opt_int(row, "post_score_pct")?,
        enrolled_at: db::ts(row, "enrolled_at")?,
        completed_at: db::opt_ts(row, "completed_at")?,
    })
}

fn assessment_from_row(row: &AnyRow) -> R<Assessment> {
    Ok(Assessment {
        id: db::parsed(row, "id")?,
        enrolment_id: db::parsed(row, "enrolment_id")?,
        kind: db::domain_value(row, "kind", TestKind::parse)?,
        answers: db::from_json(row, "answers")?,
        score_pct: db::int(row, "score_pct")?,
        passed: db::flag(row, "passed")?,
        submitted_at: db::ts(row, "submitted_at")?,
    })
}

fn certification_from_row(row: &AnyRow) -> R<Certification> {
    Ok(Certification {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        user_id: db::parsed(row, "user_id")?,
        course_id: db::parsed(row, "course_id")?,
        enrolment_id: db::parsed(row, "enrolment_id")?,
        issued_at: db::ts(row, "issued_at")?,
        expires_at: db::ts(row, "expires_at")?,
        reminded_at: db::opt_ts(row, "reminded_at")?,
    })
}

fn exception_from_row(row: &AnyRow) -> R<GateException> {
    Ok(GateException {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        clinician_id: db::parsed(row, "clinician_id")?,
        reason: db::text(row, "reason")?,
        granted_by: db::parsed(row, "granted_by")?,
        granted_at: db::ts(row, "granted_at")?,
        until: db::ts(row, "ends_at")?,
    })
}

async fn insert_enrolment(conn: &mut AnyConnection, e: &Enrolment) -> R<()> {
    let sql = AssertSqlSafe(format!(
        "INSERT INTO training_enrolments ({ENROLMENT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ));
    sqlx::query(sql)
        .bind(e.id.to_string())
        .bind(e.org_id.to_string())
        .bind(e.user_id.to_string())
        .bind(e.course_id.to_string())
        .bind(e.reason.as_str())
        .bind(e.status.as_str())
        .bind(db::json(&e.modules_done)?)
        .bind(e.pre_score_pct)
        .bind(e.post_score_pct)
        .bind(e.enrolled_at.as_microsecond())
        .bind(e.completed_at.map(|t| t.as_microsecond()))
        .execute(conn)
        .await
        .db()?;
    Ok(())
}

/// The (user, course) pairs of `org` still waiting for their enrolment by role.
const MISSING_ENROLMENTS: &str = "SELECT u.id AS user_id, r.course_id FROM users u \
     JOIN training_course_roles r ON r.role = u.role \
     JOIN training_courses c ON c.id = r.course_id AND c.org_id = u.org_id \
     WHERE u.org_id = $1 AND u.active \
     AND NOT EXISTS (SELECT 1 FROM training_enrolments e \
         WHERE e.user_id = u.id AND e.course_id = r.course_id AND e.reason = 'role')";

/// Enrols every active user of `org` whose role a course is for, in each such course they were
/// never enrolled in by role. Ids are made here, so the pairs are read first (in the same
/// transaction); the unique index makes a concurrent run harmless.
async fn enrol_missing(conn: &mut AnyConnection, org: OrgId, at: Timestamp) -> R<u64> {
    let rows = sqlx::query(MISSING_ENROLMENTS)
        .bind(org.to_string())
        .fetch_all(&mut *conn)
        .await
        .db()?;
    let mut made = 0;
    for row in &rows {
        let user_id: UserId = db::parsed(row, "user_id")?;
        let course_id: CourseId = db::parsed(row, "course_id")?;
        let sql = AssertSqlSafe(format!(
            "INSERT INTO training_enrolments ({ENROLMENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, 'role', 'enrolled', '[]', NULL, NULL, $5, NULL) ON CONFLICT DO NOTHING"
        ));
        made += sqlx::query(sql)
            .bind(EnrolmentId::new().to_string())
            .bind(org.to_string())
            .bind(user_id.to_string())
            .bind(course_id.to_string())
            .bind(at.as_microsecond())
            .execute(&mut *conn)
            .await
            .db()?
            .rows_affected();
    }
    Ok(made)
}

impl SqlStore {
    async fn audiences(&self, org: OrgId) -> R<Vec<(CourseId, Role)>> {
        let rows = sqlx::query(
            "SELECT r.course_id, r.role FROM training_course_roles r \
             JOIN training_courses c ON c.id = r.course_id WHERE c.org_id = $1 ORDER BY r.role",
        )
        .bind(org.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        rows.iter()
            .map(|row| {
                Ok((
                    db::parsed(row, "course_id")?,
                    db::domain_value(row, "role", Role::parse)?,
                ))
            })
            .collect()
    }
}

#[async_trait]
impl TrainingStore for SqlStore {
    async fn create_course(&self, c: &Course, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let sql = AssertSqlSafe(format!(
                "INSERT INTO training_courses ({COURSE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ));
            sqlx::query(sql)
                .bind(c.id.to_string())
                .bind(c.org_id.to_string())
                .bind(c.title.clone())
                .bind(c.summary.clone())
                .bind(db::json(&c.modules)?)
                .bind(db::json(&c.questions)?)
                .bind(c.pass_mark_pct)
                .bind(c.certifies)
                .bind(c.validity_months)
                .bind(c.created_at.as_microsecond())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    write_error(e, |_| {
                        DomainError::conflict_on("title", format!("a course named {} already exists", c.title))
                    })
                })?;
            db::insert_rows(&mut *tx, &COURSE_ROLES, &c.audience, |q, role| {
                q.bind(c.id.to_string()).bind(role.as_str())
            })
            .await
            .db()?;
            enrol_missing(&mut *tx, c.org_id, c.created_at).await?;
            Ok(())
        })
        .await?;
        self.caches.certifying.clear();
        Ok(())
    }

    async fn get_course(&self, org: OrgId, id: CourseId) -> R<Option<Course>> {
        Ok(self
            .list_courses(org)
            .await?
            .into_iter()
            .find(|c| c.id == id))
    }

    async fn list_courses(&self, org: OrgId) -> R<Vec<Course>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {COURSE_COLUMNS} FROM training_courses WHERE org_id = $1 ORDER BY title"
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        let audiences = self.audiences(org).await?;
        rows.iter()
            .map(|row| {
                let id: CourseId = db::parsed(row, "id")?;
                let audience = audiences
                    .iter()
                    .filter(|(c, _)| *c == id)
                    .map(|(_, r)| *r)
                    .collect();
                course_from_row(row, audience)
            })
            .collect()
    }

    async fn has_certifying_course(&self, org: OrgId, role: Role) -> R<bool> {
        if let Some(known) = self.caches.certifying.get(&(org, role)) {
            return Ok(known);
        }
        let found = sqlx::query(
            "SELECT 1 AS found FROM training_courses c JOIN training_course_roles r ON r.course_id = c.id \
             WHERE c.org_id = $1 AND r.role = $2 AND c.certifies LIMIT 1",
        )
        .bind(org.to_string())
        .bind(role.as_str())
        .fetch_optional(&self.reader)
        .await
        .db()?
        .is_some();
        self.caches.certifying.put((org, role), found);
        Ok(found)
    }

    async fn enrol_by_role(&self, org: OrgId, at: Timestamp) -> R<u64> {
        // Asked at every training page: a read answers "nothing to do" without the writer.
        let waiting = sqlx::query(MISSING_ENROLMENTS)
            .bind(org.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        if waiting.is_none() {
            return Ok(0);
        }
        self.unaudited(async |tx| enrol_missing(tx, org, at).await)
            .await
    }

    async fn get_enrolment(&self, org: OrgId, id: EnrolmentId) -> R<Option<Enrolment>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {ENROLMENT_COLUMNS} FROM training_enrolments WHERE org_id = $1 AND id = $2"
        ));
        let row = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.writer)
            .await
            .db()?;
        row.as_ref().map(enrolment_from_row).transpose()
    }

    async fn list_enrolments(&self, org: OrgId, q: &EnrolmentQuery) -> R<Vec<Enrolment>> {
        let mut filter = Filter::default();
        filter.push("org_id = ?", Arg::Text(org.to_string()));
        if let Some(user) = q.user_id {
            filter.push("user_id = ?", Arg::Text(user.to_string()));
        }
        if let Some(course) = q.course_id {
            filter.push("course_id = ?", Arg::Text(course.to_string()));
        }
        let sql = AssertSqlSafe(format!(
            "SELECT {ENROLMENT_COLUMNS} FROM training_enrolments {} ORDER BY enrolled_at, id",
            filter.where_clause()
        ));
        let rows = db::bind_args(sqlx::query(sql), filter.args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(enrolment_from_row).collect()
    }

    async fn update_enrolment(
        &self,
        expected: &Enrolment,
        next: &Enrolment,
        audit: AuditEntry,
    ) -> R<bool> {
        self.audited_if(audit, async |tx| {
            if !swap_enrolment(&mut *tx, expected, next).await? {
                return Ok(false);
            }
            Ok(true)
        })
        .await
    }

    async fn record_test(
        &self,
        expected: &Enrolment,
        o: &TestOutcome,
        audit: Vec<AuditEntry>,
    ) -> R<bool> {
        self.audited_if(audit, async |tx| {
            if !swap_enrolment(&mut *tx, expected, &o.enrolment).await? {
                return Ok(false);
            }
            let a = &o.assessment;
            let sql = AssertSqlSafe(format!(
                "INSERT INTO training_assessments ({ASSESSMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ));
            let inserted = sqlx::query(sql)
                .bind(a.id.to_string())
                .bind(a.enrolment_id.to_string())
                .bind(a.kind.as_str())
                .bind(db::json(&a.answers)?)
                .bind(a.score_pct)
                .bind(a.passed)
                .bind(a.submitted_at.as_microsecond())
                .execute(&mut *tx)
                .await;
            match inserted {
                Ok(_) => {}
                Err(e) if db::is_unique_violation(&e) => return Ok(false),
                Err(e) => return Err(db::storage(e)),
            }
            if let Some(c) = &o.certification {
                let sql = AssertSqlSafe(format!(
                    "INSERT INTO certifications ({CERTIFICATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ));
                sqlx::query(sql)
                    .bind(c.id.to_string())
                    .bind(c.org_id.to_string())
                    .bind(c.user_id.to_string())
                    .bind(c.course_id.to_string())
                    .bind(c.enrolment_id.to_string())
                    .bind(c.issued_at.as_microsecond())
                    .bind(c.expires_at.as_microsecond())
                    .bind(c.reminded_at.map(|t| t.as_microsecond()))
                    .execute(&mut *tx)
                    .await
                    .db()?;
            }
            if let Some(remedial) = &o.remedial {
                insert_enrolment(&mut *tx, remedial).await?;
            }
            Ok(true)
        })
        .await
    }

    async fn list_assessments(&self, org: OrgId, enrolment: EnrolmentId) -> R<Vec<Assessment>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {} FROM training_assessments a JOIN training_enrolments e ON e.id = a.enrolment_id \
             WHERE e.org_id = $1 AND a.enrolment_id = $2 ORDER BY a.submitted_at",
            ASSESSMENT_COLUMNS
                .split(", ")
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .bind(enrolment.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(assessment_from_row).collect()
    }

    async fn list_certifications(&self, org: OrgId, user: Option<UserId>) -> R<Vec<Certification>> {
        let mut filter = Filter::default();
        filter.push("org_id = ?", Arg::Text(org.to_string()));
        if let Some(user) = user {
            filter.push("user_id = ?", Arg::Text(user.to_string()));
        }
        let sql = AssertSqlSafe(format!(
            "SELECT {CERTIFICATION_COLUMNS} FROM certifications {} ORDER BY issued_at DESC, id",
            filter.where_clause()
        ));
        let rows = db::bind_args(sqlx::query(sql), filter.args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(certification_from_row).collect()
    }

    async fn certifications_to_remind(
        &self,
        now: Timestamp,
        before: Timestamp,
    ) -> R<Vec<Certification>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {CERTIFICATION_COLUMNS} FROM certifications \
             WHERE expires_at > $1 AND expires_at <= $2 AND reminded_at IS NULL ORDER BY expires_at LIMIT 500"
        ));
        let rows = sqlx::query(sql)
            .bind(now.as_microsecond())
            .bind(before.as_microsecond())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(certification_from_row).collect()
    }

    async fn mark_reminded(
        &self,
        c: &Certification,
        at: Timestamp,
        refresher: Option<&Enrolment>,
        audit: AuditEntry,
    ) -> R<bool> {
        self.audited_if(audit, async |tx| {
            let changed = sqlx::query(
                "UPDATE certifications SET reminded_at = $1 WHERE id = $2 AND reminded_at IS NULL",
            )
            .bind(at.as_microsecond())
            .bind(c.id.to_string())
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
            if changed == 0 {
                return Ok(false);
            }
            if let Some(e) = refresher {
                insert_enrolment(&mut *tx, e).await?;
            }
            Ok(true)
        })
        .await
    }

    async fn grant_exception(&self, e: &GateException, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let sql = AssertSqlSafe(format!(
                "INSERT INTO certification_exceptions ({EXCEPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ));
            sqlx::query(sql)
                .bind(e.id.to_string())
                .bind(e.org_id.to_string())
                .bind(e.clinician_id.to_string())
                .bind(e.reason.clone())
                .bind(e.granted_by.to_string())
                .bind(e.granted_at.as_microsecond())
                .bind(e.until.as_microsecond())
                .execute(&mut *tx)
                .await
                .db()?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn list_gate_exceptions(
        &self,
        org: OrgId,
        clinician: Option<UserId>,
    ) -> R<Vec<GateException>> {
        let mut filter = Filter::default();
        filter.push("org_id = ?", Arg::Text(org.to_string()));
        if let Some(c) = clinician {
            filter.push("clinician_id = ?", Arg::Text(c.to_string()));
        }
        let sql = AssertSqlSafe(format!(
            "SELECT {EXCEPTION_COLUMNS} FROM certification_exceptions {} ORDER BY granted_at DESC, id",
            filter.where_clause()
        ));
        let rows = db::bind_args(sqlx::query(sql), filter.args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(exception_from_row).collect()
    }
}

/// Compare-and-set of an enrolment's progress: written only if it is still as `expected`.
async fn swap_enrolment(
    conn: &mut AnyConnection,
    expected: &Enrolment,
    next: &Enrolment,
) -> R<bool> {
    let changed = sqlx::query(
        "UPDATE training_enrolments SET status = $1, modules_done = $2, pre_score_pct = $3, \
         post_score_pct = $4, completed_at = $5 \
         WHERE id = $6 AND status = $7 AND modules_done = $8 \
         AND COALESCE(pre_score_pct, -1) = $9 AND COALESCE(post_score_pct, -1) = $10",
    )
    .bind(next.status.as_str())
    .bind(db::json(&next.modules_done)?)
    .bind(next.pre_score_pct)
    .bind(next.post_score_pct)
    .bind(next.completed_at.map(|t| t.as_microsecond()))
    .bind(expected.id.to_string())
    .bind(expected.status.as_str())
    .bind(db::json(&expected.modules_done)?)
    .bind(expected.pre_score_pct.unwrap_or(-1))
    .bind(expected.post_score_pct.unwrap_or(-1))
    .execute(conn)
    .await
    .db()?
    .rows_affected();
    Ok(changed == 1)
}
