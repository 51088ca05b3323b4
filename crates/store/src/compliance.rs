//! Emergency ("break-glass") access grants with their review by an auditor, and telehealth
//! consent: the published consent text and each patient's agreements (also written with bookings).

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::{
    AuditEntry, BreakGlassGrant, ComplianceStore, ConsentDocument, ConsentMethod, PatientConsent,
};
use domain::ids::{BreakGlassId, OrgId, PatientId, UserId};
use jiff::Timestamp;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::db::{self, Arg, DbResult, Insert, Query, R, write_error};
use crate::sql_store::SqlStore;

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

fn consent_from_row(row: &AnyRow) -> R<PatientConsent> {
    let method = db::text(row, "method")?;
    Ok(PatientConsent {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        patient_id: db::parsed(row, "patient_id")?,
        version: db::int(row, "version")?,
        method: ConsentMethod::parse(&method).ok_or_else(|| {
            DomainError::Storage(format!("stored consent method {method} is unknown"))
        })?,
        recorded_by: db::opt_parsed(row, "recorded_by")?,
        given_at: db::ts(row, "given_at")?,
    })
}

/// A patient's second agreement to a version is ignored (also within one statement).
pub(crate) const CONSENTS: Insert = Insert {
    into: "patient_consents (id, org_id, patient_id, version, method, recorded_by, given_at)",
    columns: 7,
    suffix: "ON CONFLICT (patient_id, version) DO NOTHING",
};

fn bind_consent<'q>(query: Query<'q>, c: &'q PatientConsent) -> Query<'q> {
    query
        .bind(c.id.to_string())
        .bind(c.org_id.to_string())
        .bind(c.patient_id.to_string())
        .bind(c.version)
        .bind(c.method.as_str())
        .bind(c.recorded_by.map(|u| u.to_string()))
        .bind(c.given_at.as_microsecond())
}

/// A consent as a row of [`CONSENTS`], for writes that insert a batch's consents together.
pub(crate) fn consent_row(c: &PatientConsent) -> Vec<Arg> {
    vec![
        Arg::Text(c.id.to_string()),
        Arg::Text(c.org_id.to_string()),
        Arg::Text(c.patient_id.to_string()),
        Arg::Int(c.version),
        Arg::Text(c.method.as_str().to_string()),
        c.recorded_by
            .map_or(Arg::Null, |u| Arg::Text(u.to_string())),
        Arg::Int(c.given_at.as_microsecond()),
    ]
}

/// Inserts a consent unless the patient already agreed to that version.
pub(crate) async fn insert_consent(conn: &mut AnyConnection, c: &PatientConsent) -> R<()> {
    db::insert_rows(conn, &CONSENTS, std::slice::from_ref(c), bind_consent)
        .await
        .db()?;
    Ok(())
}

#[async_trait]
impl ComplianceStore for SqlStore {
    async fn create_break_glass(&self, g: &BreakGlassGrant, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
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
            .map_err(|e| write_error(e, |_| DomainError::conflict_on("id", "this grant already exists")))?;
            Ok(())
        })
        .await
    }

    async fn active_break_glass(
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

    async fn list_break_glass(&self, org: OrgId, unreviewed_only: bool) -> R<Vec<BreakGlassGrant>> {
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

    async fn review_break_glass(
        &self,
        org: OrgId,
        id: BreakGlassId,
        reviewer: UserId,
        at: Timestamp,
        audit: AuditEntry,
    ) -> R<()> {
        self.audited(audit, async |tx| {
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
                        DomainError::conflict_on("id", "this emergency access was already reviewed")
                    }
                    None => DomainError::NotFound {
                        resource: "emergency access grant",
                    },
                });
            }
            Ok(())
        })
        .await
    }

    async fn consent_document(&self, org: OrgId) -> R<Option<ConsentDocument>> {
        if let Some(found) = self.caches.consent.get(&org) {
            return Ok(found);
        }
        let found = sqlx::query(
            "SELECT org_id, version, text, published_at FROM consent_documents WHERE org_id = $1 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(org.to_string())
        .fetch_optional(&self.reader)
        .await
        .db()?
        .map(|r| {
            Ok(ConsentDocument {
                org_id: db::parsed(&r, "org_id")?,
                version: db::int(&r, "version")?,
                text: db::text(&r, "text")?,
                published_at: db::ts(&r, "published_at")?,
            })
        })
        .transpose()?;
        self.caches.consent.put(org, found.clone());
        Ok(found)
    }

    async fn publish_consent(&self, doc: &ConsentDocument, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            sqlx::query("INSERT INTO consent_documents (org_id, version, text, published_at) VALUES ($1, $2, $3, $4)")
                .bind(doc.org_id.to_string())
                .bind(doc.version)
                .bind(doc.text.clone())
                .bind(doc.published_at.as_microsecond())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    write_error(e, |_| DomainError::conflict_on("text", "another version was published meanwhile; reload and try again"))
                })?;
            Ok(())
        })
        .await?;
        self.caches.consent.remove(&doc.org_id);
        Ok(())
    }

    async fn patient_consents(&self, org: OrgId, patient: PatientId) -> R<Vec<PatientConsent>> {
        if let Some(found) = self.caches.consents.get(&(org, patient)) {
            return Ok(found);
        }
        let rows = sqlx::query(
            "SELECT id, org_id, patient_id, version, method, recorded_by, given_at FROM patient_consents \
             WHERE org_id = $1 AND patient_id = $2 ORDER BY given_at, id",
        )
        .bind(org.to_string())
        .bind(patient.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        let found = rows.iter().map(consent_from_row).collect::<R<Vec<_>>>()?;
        self.caches.consents.put((org, patient), found.clone());
        Ok(found)
    }

    async fn record_consent(&self, consent: &PatientConsent, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            insert_consent(&mut *tx, consent).await?;
            Ok(())
        })
        .await?;
        self.caches
            .consents
            .remove(&(consent.org_id, consent.patient_id));
        Ok(())
    }
}
