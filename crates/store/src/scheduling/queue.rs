//! The on-demand queue: patients waiting for the next clinician, and a clinician taking one (the
//! entry claimed and the visit created in one transaction).

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::ids::{OrgId, PatientId, QueueEntryId};
use domain::scheduling::{QueueEntry, QueueStore, QueueTake, ServiceLine};
use jiff::Timestamp;
use sqlx::AssertSqlSafe;

use super::clash::insert_checked;
use super::{QUEUE_COLUMNS, insert_event, queue_from_row};
use crate::db::{self, DbResult, R, write_error};
use crate::sql_store::SqlStore;

#[async_trait]
impl QueueStore for SqlStore {
    async fn join_queue(&self, e: &QueueEntry, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let sql = AssertSqlSafe(format!(
                "INSERT INTO queue_entries ({QUEUE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ));
            sqlx::query(sql)
                .bind(e.id.to_string())
                .bind(e.org_id.to_string())
                .bind(e.patient_id.to_string())
                .bind(e.patient_state.code())
                .bind(e.service_line.as_str())
                .bind(e.visit_type_id.to_string())
                .bind(e.reason.clone())
                .bind(e.status.as_str())
                .bind(e.joined_at.as_microsecond())
                .bind(e.taken_by.map(|u| u.to_string()))
                .bind(e.taken_at.map(|t| t.as_microsecond()))
                .bind(e.appointment_id.map(|a| a.to_string()))
                .execute(&mut *tx)
                .await
                .map_err(|err| {
                    write_error(err, |_| {
                        DomainError::conflict_on("patient_id", "the patient is already waiting in the queue")
                    })
                })?;
            Ok(())
        })
        .await
    }

    async fn get_queue_entry(&self, org: OrgId, id: QueueEntryId) -> R<Option<QueueEntry>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {QUEUE_COLUMNS} FROM queue_entries WHERE org_id = $1 AND id = $2"
        ));
        let row = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.as_ref().map(queue_from_row).transpose()
    }

    async fn latest_queue_entry(&self, org: OrgId, patient: PatientId) -> R<Option<QueueEntry>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {QUEUE_COLUMNS} FROM queue_entries WHERE org_id = $1 AND patient_id = $2 \
             ORDER BY joined_at DESC, id DESC LIMIT 1"
        ));
        let row = sqlx::query(sql)
            .bind(org.to_string())
            .bind(patient.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.as_ref().map(queue_from_row).transpose()
    }

    async fn waiting_queue(&self, org: OrgId) -> R<Vec<QueueEntry>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {QUEUE_COLUMNS} FROM queue_entries WHERE org_id = $1 AND status = 'waiting' ORDER BY joined_at, id"
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(queue_from_row).collect()
    }

    async fn leave_queue(&self, org: OrgId, id: QueueEntryId, audit: AuditEntry) -> R<bool> {
        self.audited_if(audit, async |tx| {
            let done = sqlx::query("UPDATE queue_entries SET status = 'left' WHERE org_id = $1 AND id = $2 AND status = 'waiting'")
                .bind(org.to_string())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .db()?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            Ok(true)
        })
        .await
    }

    async fn take_from_queue(&self, take: QueueTake) -> R<bool> {
        self.audited_if(take.audit, async |tx| {
            insert_checked(&mut *tx, self.backend, &take.appointment).await?;
            let done = sqlx::query(
                "UPDATE queue_entries SET status = 'taken', taken_by = $3, taken_at = $4, appointment_id = $5 \
                 WHERE org_id = $1 AND id = $2 AND status = 'waiting'",
            )
            .bind(take.org_id.to_string())
            .bind(take.entry_id.to_string())
            .bind(take.clinician_id.to_string())
            .bind(take.at.as_microsecond())
            .bind(take.appointment.id.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                // Rolled back, the appointment with it.
                return Ok(false);
            }
            insert_event(&mut *tx, &take.event).await?;
            Ok(true)
        })
        .await
    }

    async fn average_queue_wait(
        &self,
        org: OrgId,
        service_line: ServiceLine,
        since: Timestamp,
    ) -> R<Option<f64>> {
        let row = sqlx::query(
            "SELECT CAST(AVG(taken_at - joined_at) AS DOUBLE PRECISION) AS wait FROM queue_entries \
             WHERE org_id = $1 AND service_line = $2 AND status = 'taken' AND taken_at >= $3",
        )
        .bind(org.to_string())
        .bind(service_line.as_str())
        .bind(since.as_microsecond())
        .fetch_one(&self.reader)
        .await
        .db()?;
        Ok(db::float(&row, "wait")?.map(|micros| micros / 60_000_000.0))
    }
}
