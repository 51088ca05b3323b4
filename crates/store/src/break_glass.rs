//! Emergency ("break-glass") access grants and their review by an auditor.

use domain::DomainError;
use domain::compliance::{AuditEntry, BreakGlassGrant};
use domain::ids::{BreakGlassId, OrgId, PatientId, UserId};
use jiff::Timestamp;
use sqlx::any::AnyRow;

use crate::audit;
use crate::db::{self, DbResult, R, SqlStore, write_error};

const COLUMNS: &str = "SELECT id, org_id, user_id, patient_id, reason, granted_at, expires_at, reviewed_by, reviewed_at FROM break_glass_grants";

fn grant_from_row(row: &AnyRow) -> R<BreakGlassGrant> {
    Ok(BreakGlassGrant {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        user_id: db::parsed(row, "user_id")?,
        patient_id: db::parsed(row, "patient_id")?,
        reason: db::text(row, "reason")?,
        granted_at: db::ts(row, "granted_at")?,
        expires_at: db::ts(row, "expires_at")?,
        reviewed_by: db::opt_parsed(row, "reviewed_by")?,
        reviewed_at: db::opt_ts(row, "reviewed_at")?,
    })
}

impl SqlStore {
    pub(crate) async fn create_break_glass(&self, g: &BreakGlassGrant, audit: AuditEntry) -> R<()> {
        let mut tx = self.writer.begin().await.db()?;
        sqlx::query(
            "INSERT INTO break_glass_grants (id, org_id, user_id, patient_id, reason, granted_at, expires_at, \
             reviewed_by, reviewed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(g.id.to_string())
        .bind(g.org_id.to_string())
        .bind(g.user_id.to_string())
        .bind(g.patient_id.to_string())
        .bind(g.reason.clone())
        .bind(g.granted_at.as_microsecond())
        .bind(g.expires_at.as_microsecond())
        .bind(g.reviewed_by.map(|u| u.to_string()))
        .bind(g.reviewed_at.map(|t| t.as_microsecond()))
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error(e, |_| "id: this grant already exists".into()))?;
        audit::append(&mut tx, self.backend, vec![audit]).await?;
        tx.commit().await.db()
    }

    pub(crate) async fn active_break_glass(
        &self,
        user: UserId,
        patient: PatientId,
        now: Timestamp,
    ) -> R<Vec<BreakGlassGrant>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{COLUMNS} WHERE user_id = $1 AND patient_id = $2 AND granted_at <= $3 AND expires_at > $3 \
             ORDER BY granted_at DESC"
        )))
        .bind(user.to_string())
        .bind(patient.to_string())
        .bind(now.as_microsecond())
        .fetch_all(&self.reader)
        .await
        .db()?;
        rows.iter().map(grant_from_row).collect()
    }

    pub(crate) async fn list_break_glass(
        &self,
        org: OrgId,
        unreviewed_only: bool,
    ) -> R<Vec<BreakGlassGrant>> {
        let filter = if unreviewed_only {
            " AND reviewed_at IS NULL"
        } else {
            ""
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{COLUMNS} WHERE org_id = $1{filter} ORDER BY granted_at DESC, id"
        )))
        .bind(org.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        rows.iter().map(grant_from_row).collect()
    }

    pub(crate) async fn review_break_glass(
        &self,
        org: OrgId,
        id: BreakGlassId,
        reviewer: UserId,
        at: Timestamp,
        audit: AuditEntry,
    ) -> R<()> {
        let mut tx = self.writer.begin().await.db()?;
        // The first review stands: a second one must not overwrite who reviewed and when.
        let done = sqlx::query(
            "UPDATE break_glass_grants SET reviewed_by = $3, reviewed_at = $4 \
             WHERE org_id = $1 AND id = $2 AND reviewed_at IS NULL",
        )
        .bind(org.to_string())
        .bind(id.to_string())
        .bind(reviewer.to_string())
        .bind(at.as_microsecond())
        .execute(&mut *tx)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            let exists =
                sqlx::query("SELECT id FROM break_glass_grants WHERE org_id = $1 AND id = $2")
                    .bind(org.to_string())
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .db()?;
            return Err(match exists {
                Some(_) => {
                    DomainError::Conflict("id: this emergency access was already reviewed".into())
                }
                None => DomainError::NotFound {
                    resource: "emergency access grant",
                },
            });
        }
        audit::append(&mut tx, self.backend, vec![audit]).await?;
        tx.commit().await.db()
    }
}
