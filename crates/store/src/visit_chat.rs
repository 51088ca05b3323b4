//! `VisitChatStore`: a visit's chat lines, their text sealed at rest (see `sealing.rs`).

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::ids::{AppointmentId, OrgId};
use domain::store::StoreResult;
use domain::visits::{ChatLine, ParticipantRole, VisitChatStore};

use crate::db::{self, DbResult};
use crate::sql_store::SqlStore;

/// Where a line's text is bound, so a sealed value copied to another row does not open.
fn place(id: &str) -> String {
    format!("visit_chat.body:{id}")
}

#[async_trait]
impl VisitChatStore for SqlStore {
    async fn add_chat_line(&self, line: &ChatLine, audit: AuditEntry) -> StoreResult<()> {
        let id = line.id.to_string();
        let body = self.seal(&place(&id), &line.text).await?;
        self.audited(audit, async |tx| {
            sqlx::query(
                "INSERT INTO visit_chat (id, appointment_id, org_id, at, role, name, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(line.appointment_id.to_string())
            .bind(line.org_id.to_string())
            .bind(line.at.as_microsecond())
            .bind(line.role.as_str())
            .bind(line.name.clone())
            .bind(body)
            .execute(&mut *tx)
            .await
            .db()?;
            Ok(())
        })
        .await
    }

    async fn visit_chat(
        &self,
        org: OrgId,
        appointment: AppointmentId,
    ) -> StoreResult<Vec<ChatLine>> {
        let rows = sqlx::query(
            "SELECT id, appointment_id, org_id, at, role, name, body FROM visit_chat \
             WHERE org_id = $1 AND appointment_id = $2 ORDER BY at, id",
        )
        .bind(org.to_string())
        .bind(appointment.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        let mut lines = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = db::text(row, "id")?;
            let role = db::text(row, "role")?;
            lines.push(ChatLine {
                org_id: db::parsed(row, "org_id")?,
                appointment_id: db::parsed(row, "appointment_id")?,
                at: db::ts(row, "at")?,
                role: ParticipantRole::parse(&role).ok_or_else(|| {
                    DomainError::Storage(format!("chat line {id} has an unknown role"))
                })?,
                name: db::text(row, "name")?,
                text: self.open(&place(&id), &db::text(row, "body")?).await?,
                id: db::parsed(row, "id")?,
            });
        }
        Ok(lines)
    }
}
