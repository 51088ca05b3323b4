//! `CareTeamStore`: the visit's staff besides its clinician, and a staff member's appointments
//! with a patient (what puts them in the patient's care team).

use async_trait::async_trait;
use domain::access::CareLink;
use domain::compliance::AuditEntry;
use domain::identity::Role;
use domain::ids::{AppointmentId, OrgId, PatientId, UserId};
use domain::store::StoreResult;
use domain::visits::{CareTeamStore, VisitStaff};

use crate::db::{self, DbResult};
use crate::sql_store::SqlStore;

#[async_trait]
impl CareTeamStore for SqlStore {
    async fn care_links(
        &self,
        org: OrgId,
        user: UserId,
        patient: PatientId,
    ) -> StoreResult<Vec<CareLink>> {
        // Cancelled appointments tie nobody to the patient; a no-show still does (follow-up).
        let rows = sqlx::query(
            "SELECT start_at, end_at FROM appointments \
             WHERE org_id = $1 AND patient_id = $2 AND status <> 'cancelled' \
               AND (clinician_id = $3 OR id IN (SELECT appointment_id FROM visit_staff WHERE user_id = $3))",
        )
        .bind(org.to_string())
        .bind(patient.to_string())
        .bind(user.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        rows.iter()
            .map(|row| {
                Ok(CareLink {
                    user_id: user,
                    patient_id: patient,
                    start_at: db::ts(row, "start_at")?,
                    end_at: db::ts(row, "end_at")?,
                })
            })
            .collect()
    }

    async fn add_visit_staff(
        &self,
        org: OrgId,
        staff: &VisitStaff,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        self.audited_if(audit, async |tx| {
            let done = sqlx::query(
                "INSERT INTO visit_staff (appointment_id, user_id, org_id, role, added_at) \
             SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS \
               (SELECT 1 FROM visit_staff WHERE appointment_id = $1 AND user_id = $2)",
            )
            .bind(staff.appointment_id.to_string())
            .bind(staff.user_id.to_string())
            .bind(org.to_string())
            .bind(staff.role.as_str())
            .bind(staff.added_at.as_microsecond())
            .execute(&mut *tx)
            .await
            .db()?;
            // A second time writes nothing and is not recorded again.
            Ok(done.rows_affected() > 0)
        })
        .await?;
        Ok(())
    }

    async fn visit_staff(
        &self,
        org: OrgId,
        appointment: AppointmentId,
    ) -> StoreResult<Vec<VisitStaff>> {
        let rows = sqlx::query(
            "SELECT appointment_id, user_id, role, added_at FROM visit_staff \
             WHERE org_id = $1 AND appointment_id = $2 ORDER BY added_at",
        )
        .bind(org.to_string())
        .bind(appointment.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        rows.iter()
            .map(|row| {
                Ok(VisitStaff {
                    appointment_id: db::parsed(row, "appointment_id")?,
                    user_id: db::parsed(row, "user_id")?,
                    role: db::domain_value(row, "role", Role::parse)?,
                    added_at: db::ts(row, "added_at")?,
                })
            })
            .collect()
    }
}
