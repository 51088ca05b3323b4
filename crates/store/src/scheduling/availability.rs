//! Visit types and clinicians' availability: weekly templates and exceptions (leave withdraws the
//! slots it covers).

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::ids::{OrgId, TemplateId, UserId, VisitTypeId};
use domain::scheduling::availability::format_time;
use domain::scheduling::{
    AvailabilityException, AvailabilityStore, AvailabilityTemplate, ExceptionKind, VisitType,
};
use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::{
    EXCEPTION_COLUMNS, TEMPLATE_COLUMNS, VISIT_TYPE_COLUMNS, exception_from_row, template_from_row,
    visit_type_from_row,
};
use crate::db::{self, Arg, DbResult, Filter, R, write_error};
use crate::sql_store::SqlStore;

/// Marks slots withdrawn (booked ones too: the appointment stays, but the slot is never offered
/// again, even if that appointment is cancelled or moved).
async fn withdraw(conn: &mut AnyConnection, filter: Filter) -> R<u64> {
    let sql = format!(
        "UPDATE slots SET withdrawn = ${} {} ",
        filter.next(),
        filter.where_clause()
    );
    let mut args = filter.args;
    args.push(Arg::Flag(true));
    let done = db::bind_args(sqlx::query(AssertSqlSafe(sql)), args)
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(done.rows_affected())
}

#[async_trait]
impl AvailabilityStore for SqlStore {
    async fn create_visit_type(&self, v: &VisitType, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let sql = AssertSqlSafe(format!(
                "INSERT INTO visit_types ({VISIT_TYPE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ));
            sqlx::query(sql)
                .bind(v.id.to_string())
                .bind(v.org_id.to_string())
                .bind(v.name.clone())
                .bind(v.service_line.as_str())
                .bind(v.modality.as_str())
                .bind(v.patient_kind.as_str())
                .bind(v.duration_minutes)
                .bind(v.patient_bookable)
                .bind(v.active)
                .bind(v.created_at.as_microsecond())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    write_error(e, |_| {
                        DomainError::conflict_on("name", format!("a visit type named {} already exists", v.name))
                    })
                })?;
            Ok(())
        })
        .await?;
        self.caches.visit_types.remove(&v.org_id);
        Ok(())
    }

    async fn update_visit_type(&self, v: &VisitType, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let done = sqlx::query(
                "UPDATE visit_types SET name = $3, service_line = $4, modality = $5, patient_kind = $6, \
                 duration_minutes = $7, patient_bookable = $8, active = $9 WHERE id = $1 AND org_id = $2",
            )
            .bind(v.id.to_string())
            .bind(v.org_id.to_string())
            .bind(v.name.clone())
            .bind(v.service_line.as_str())
            .bind(v.modality.as_str())
            .bind(v.patient_kind.as_str())
            .bind(v.duration_minutes)
            .bind(v.patient_bookable)
            .bind(v.active)
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(e, |_| DomainError::conflict_on("name", format!("a visit type named {} already exists", v.name))))?;
            if done.rows_affected() == 0 {
                return Err(DomainError::NotFound {
                    resource: "visit type",
                });
            }
            Ok(())
        })
        .await?;
        self.caches.visit_types.remove(&v.org_id);
        Ok(())
    }

    /// From the organization's (cached) list: organizations offer a few dozen visit types.
    async fn get_visit_type(&self, org: OrgId, id: VisitTypeId) -> R<Option<VisitType>> {
        Ok(self
            .list_visit_types(org)
            .await?
            .into_iter()
            .find(|v| v.id == id))
    }

    async fn list_visit_types(&self, org: OrgId) -> R<Vec<VisitType>> {
        if let Some(found) = self.caches.visit_types.get(&org) {
            return Ok(found);
        }
        let sql = AssertSqlSafe(format!(
            "SELECT {VISIT_TYPE_COLUMNS} FROM visit_types WHERE org_id = $1 ORDER BY service_line, name, id"
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        let found = rows
            .iter()
            .map(visit_type_from_row)
            .collect::<R<Vec<_>>>()?;
        self.caches.visit_types.put(org, found.clone());
        Ok(found)
    }

    async fn create_template(&self, t: &AvailabilityTemplate, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let sql = AssertSqlSafe(format!(
                "INSERT INTO availability_templates ({TEMPLATE_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ));
            sqlx::query(sql)
                .bind(t.id.to_string())
                .bind(t.org_id.to_string())
                .bind(t.clinician_id.to_string())
                .bind(t.site_id.to_string())
                .bind(i64::from(t.weekday.to_monday_one_offset()))
                .bind(format_time(t.start_time))
                .bind(format_time(t.end_time))
                .bind(t.slot_minutes)
                .bind(t.buffer_minutes)
                .bind(t.service_lines.bits())
                .bind(t.valid_from.to_string())
                .bind(t.valid_until.map(|d| d.to_string()))
                .bind(t.created_at.as_microsecond())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    write_error(e, |_| {
                        DomainError::conflict_on("id", "this template already exists")
                    })
                })?;
            Ok(())
        })
        .await
    }

    async fn get_template(&self, org: OrgId, id: TemplateId) -> R<Option<AvailabilityTemplate>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {TEMPLATE_COLUMNS} FROM availability_templates WHERE org_id = $1 AND id = $2"
        ));
        let row = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.as_ref().map(template_from_row).transpose()
    }

    async fn list_templates(
        &self,
        org: OrgId,
        clinician: Option<UserId>,
    ) -> R<Vec<AvailabilityTemplate>> {
        let mut filter = Filter::default();
        filter.push("org_id = ?", Arg::Text(org.to_string()));
        if let Some(c) = clinician {
            filter.push("clinician_id = ?", Arg::Text(c.to_string()));
        }
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM availability_templates {} ORDER BY clinician_id, weekday, start_time, id",
            filter.where_clause()
        );
        let rows = db::bind_args(sqlx::query(AssertSqlSafe(sql)), filter.args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(template_from_row).collect()
    }

    async fn clinicians_with_templates(&self, on: Date) -> R<Vec<(OrgId, UserId)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT org_id, clinician_id FROM availability_templates \
             WHERE valid_until IS NULL OR valid_until >= $1 ORDER BY org_id, clinician_id",
        )
        .bind(on.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        rows.iter()
            .map(|r| Ok((db::parsed(r, "org_id")?, db::parsed(r, "clinician_id")?)))
            .collect()
    }

    async fn end_template(
        &self,
        org: OrgId,
        id: TemplateId,
        last_day: Date,
        withdraw_from: Timestamp,
        audit: AuditEntry,
    ) -> R<u64> {
        let withdrawn = self
            .audited(audit, async |tx| {
                let done = sqlx::query(
                "UPDATE availability_templates SET valid_until = $3 WHERE org_id = $1 AND id = $2",
            )
            .bind(org.to_string())
            .bind(id.to_string())
            .bind(last_day.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
                if done.rows_affected() == 0 {
                    return Err(DomainError::NotFound {
                        resource: "availability template",
                    });
                }
                let mut filter = Filter::default();
                filter.push("template_id = ?", Arg::Text(id.to_string()));
                filter.push("start_at >= ?", Arg::Int(withdraw_from.as_microsecond()));
                filter.raw("NOT withdrawn");
                let withdrawn = withdraw(&mut *tx, filter).await?;
                Ok(withdrawn)
            })
            .await?;
        self.caches.taken_slots.clear();
        Ok(withdrawn)
    }

    async fn create_exception(&self, e: &AvailabilityException, audit: AuditEntry) -> R<u64> {
        let withdrawn = self
            .audited(audit, async |tx| {
                let sql = AssertSqlSafe(format!(
                    "INSERT INTO availability_exceptions ({EXCEPTION_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                ));
                sqlx::query(sql)
                    .bind(e.id.to_string())
                    .bind(e.org_id.to_string())
                    .bind(e.clinician_id.to_string())
                    .bind(e.kind.as_str())
                    .bind(e.site_id.map(|s| s.to_string()))
                    .bind(e.start_at.as_microsecond())
                    .bind(e.end_at.as_microsecond())
                    .bind(e.slot_minutes)
                    .bind(e.buffer_minutes)
                    .bind(e.service_lines.bits())
                    .bind(e.reason.clone())
                    .bind(e.created_at.as_microsecond())
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| {
                        write_error(err, |_| {
                            DomainError::conflict_on("id", "this exception already exists")
                        })
                    })?;
                let withdrawn = if e.kind == ExceptionKind::Leave {
                    let mut filter = Filter::default();
                    filter.push("clinician_id = ?", Arg::Text(e.clinician_id.to_string()));
                    filter.push("start_at < ?", Arg::Int(e.end_at.as_microsecond()));
                    filter.push("end_at > ?", Arg::Int(e.start_at.as_microsecond()));
                    filter.raw("NOT withdrawn");
                    withdraw(&mut *tx, filter).await?
                } else {
                    0
                };
                Ok(withdrawn)
            })
            .await?;
        self.caches.taken_slots.clear();
        Ok(withdrawn)
    }

    async fn list_exceptions(
        &self,
        org: OrgId,
        clinician: UserId,
        from: Timestamp,
        to: Timestamp,
    ) -> R<Vec<AvailabilityException>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {EXCEPTION_COLUMNS} FROM availability_exceptions \
             WHERE org_id = $1 AND clinician_id = $2 AND start_at < $4 AND end_at > $3 ORDER BY start_at, id"
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .bind(clinician.to_string())
            .bind(from.as_microsecond())
            .bind(to.as_microsecond())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(exception_from_row).collect()
    }
}
