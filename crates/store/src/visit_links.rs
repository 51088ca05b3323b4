//! `VisitLinkStore`: patients' join links. A new link replaces the appointment's earlier ones in
//! the transaction that stores it; a link is opened by one conditional UPDATE, so it works once
//! whatever the number of servers.

use async_trait::async_trait;
use domain::compliance::AuditEntry;
use domain::identity::Email;
use domain::ids::{AppointmentId, OrgId, VisitLinkId};
use domain::store::StoreResult;
use domain::visits::{InviteDelivery, VisitLink, VisitLinkStore};
use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::db::{self, Arg, DbResult, R};
use crate::sql_store::SqlStore;

const COLUMNS: &str = "id, org_id, appointment_id, patient_id, token_hash, email, delivery, created_by, \
                       created_at, expires_at, used_at, session_hash, revoked_at";

fn link_from_row(row: &AnyRow) -> R<VisitLink> {
    Ok(VisitLink {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        appointment_id: db::parsed(row, "appointment_id")?,
        patient_id: db::parsed(row, "patient_id")?,
        token_hash: db::text(row, "token_hash")?,
        email: match db::opt_text(row, "email")? {
            Some(e) => Some(Email::parse("email", &e)?),
            None => None,
        },
        delivery: db::domain_value(row, "delivery", InviteDelivery::parse)?,
        created_by: db::parsed(row, "created_by")?,
        created_at: db::ts(row, "created_at")?,
        expires_at: db::ts(row, "expires_at")?,
        used_at: db::opt_ts(row, "used_at")?,
        session_hash: db::opt_text(row, "session_hash")?,
        revoked_at: db::opt_ts(row, "revoked_at")?,
    })
}

impl SqlStore {
    async fn fetch_visit_links(&self, condition: &str, args: Vec<Arg>) -> R<Vec<VisitLink>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM visit_links WHERE {condition} ORDER BY created_at DESC, id DESC"
        );
        let rows = db::bind_args(sqlx::query(AssertSqlSafe(sql)), args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(link_from_row).collect()
    }
}

#[async_trait]
impl VisitLinkStore for SqlStore {
    async fn create_visit_link(&self, l: &VisitLink, audit: AuditEntry) -> StoreResult<()> {
        self.audited(audit, async |tx| {
            sqlx::query(
                "UPDATE visit_links SET revoked_at = $3 \
                 WHERE org_id = $1 AND appointment_id = $2 AND revoked_at IS NULL",
            )
            .bind(l.org_id.to_string())
            .bind(l.appointment_id.to_string())
            .bind(l.created_at.as_microsecond())
            .execute(&mut *tx)
            .await
            .db()?;
            let sql = AssertSqlSafe(format!(
                "INSERT INTO visit_links ({COLUMNS}) VALUES ({})",
                db::placeholders(1, 13)
            ));
            sqlx::query(sql)
                .bind(l.id.to_string())
                .bind(l.org_id.to_string())
                .bind(l.appointment_id.to_string())
                .bind(l.patient_id.to_string())
                .bind(l.token_hash.clone())
                .bind(l.email.as_ref().map(|e| e.as_str().to_string()))
                .bind(l.delivery.as_str())
                .bind(l.created_by.to_string())
                .bind(l.created_at.as_microsecond())
                .bind(l.expires_at.as_microsecond())
                .bind(l.used_at.map(|t| t.as_microsecond()))
                .bind(l.session_hash.clone())
                .bind(l.revoked_at.map(|t| t.as_microsecond()))
                .execute(&mut *tx)
                .await
                .db()?;
            Ok(())
        })
        .await
    }

    async fn set_visit_link_delivery(
        &self,
        id: VisitLinkId,
        delivery: InviteDelivery,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE visit_links SET delivery = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(delivery.as_str())
            .execute(&self.writer)
            .await
            .db()?;
        Ok(())
    }

    async fn visit_link_by_token(&self, token_hash: &str) -> StoreResult<Option<VisitLink>> {
        Ok(self
            .fetch_visit_links("token_hash = $1", vec![Arg::Text(token_hash.to_string())])
            .await?
            .pop())
    }

    async fn visit_link_by_session(&self, session_hash: &str) -> StoreResult<Option<VisitLink>> {
        Ok(self
            .fetch_visit_links(
                "session_hash = $1",
                vec![Arg::Text(session_hash.to_string())],
            )
            .await?
            .pop())
    }

    async fn claim_visit_link(
        &self,
        id: VisitLinkId,
        session_hash: &str,
        at: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<bool> {
        self.audited_if(audit, async |tx| {
            let done = sqlx::query(
                "UPDATE visit_links SET used_at = $2, session_hash = $3 \
                 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(id.to_string())
            .bind(at.as_microsecond())
            .bind(session_hash.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    async fn list_visit_links(
        &self,
        org: OrgId,
        appointment: AppointmentId,
    ) -> StoreResult<Vec<VisitLink>> {
        self.fetch_visit_links(
            "org_id = $1 AND appointment_id = $2",
            vec![
                Arg::Text(org.to_string()),
                Arg::Text(appointment.to_string()),
            ],
        )
        .await
    }
}
