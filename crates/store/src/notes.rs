//! `NoteStore`: visit notes, their diagnoses and signed addenda.
//!
//! The facts and sections of a note and the text of an addendum are sealed (see `sealing.rs`);
//! diagnoses are stored as codes and described from the bundled ICD-10-CM list when read.
//! Saves and signatures are compare-and-set on `(status = 'draft', version)`: a stale tab or a
//! second signature finds nothing to change.

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::ids::{AppointmentId, NoteId, OrgId, PatientId, UserId};
use domain::notes::{
    Addendum, Diagnosis, Note, NoteSections, NoteStatus, NoteStore, NoteTemplate, Signature,
    TelehealthFacts, icd10,
};
use domain::store::StoreResult;
use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::db::{self, Arg, DbResult, R};
use crate::sql_store::SqlStore;

const COLUMNS: &str = "id, org_id, appointment_id, patient_id, clinician_id, site_id, template, status, facts, body, \
                       version, created_by, created_at, updated_by, updated_at, signed_by, signed_at, \
                       content_sha256, summary_notified_at, summary_read_at";

fn facts_place(id: NoteId) -> String {
    format!("notes.facts:{id}")
}

fn body_place(id: NoteId) -> String {
    format!("notes.body:{id}")
}

fn addendum_place(id: &str) -> String {
    format!("note_addenda.body:{id}")
}

/// The sealed parts of a note, ready to bind.
struct SealedNote {
    facts: String,
    body: String,
}

impl SqlStore {
    async fn seal_note(&self, note: &Note) -> R<SealedNote> {
        Ok(SealedNote {
            facts: self
                .seal(&facts_place(note.id), &db::json(&note.facts)?)
                .await?,
            body: self
                .seal(&body_place(note.id), &db::json(&note.sections)?)
                .await?,
        })
    }

    async fn note_from_row(&self, row: &AnyRow, diagnoses: Vec<Diagnosis>) -> R<Note> {
        let id: NoteId = db::parsed(row, "id")?;
        let facts = self
            .open(&facts_place(id), &db::text(row, "facts")?)
            .await?;
        let body = self.open(&body_place(id), &db::text(row, "body")?).await?;
        let unreadable =
            |col: &str| DomainError::Storage(format!("stored note {col} could not be read"));
        let facts: TelehealthFacts =
            serde_json::from_str(&facts).map_err(|_| unreadable("facts"))?;
        let sections: NoteSections = serde_json::from_str(&body).map_err(|_| unreadable("body"))?;
        let signature = match (
            db::opt_parsed::<UserId>(row, "signed_by")?,
            db::opt_ts(row, "signed_at")?,
            db::opt_text(row, "content_sha256")?,
        ) {
            (Some(by), Some(at), Some(sha256)) => Some(Signature { by, at, sha256 }),
            _ => None,
        };
        Ok(Note {
            id,
            org_id: db::parsed(row, "org_id")?,
            appointment_id: db::parsed(row, "appointment_id")?,
            patient_id: db::parsed(row, "patient_id")?,
            clinician_id: db::parsed(row, "clinician_id")?,
            site_id: db::parsed(row, "site_id")?,
            template: db::domain_value(row, "template", NoteTemplate::parse)?,
            status: db::domain_value(row, "status", NoteStatus::parse)?,
            facts,
            sections,
            diagnoses,
            version: db::int(row, "version")?,
            created_by: db::parsed(row, "created_by")?,
            created_at: db::ts(row, "created_at")?,
            updated_by: db::parsed(row, "updated_by")?,
            updated_at: db::ts(row, "updated_at")?,
            signature,
            summary_notified_at: db::opt_ts(row, "summary_notified_at")?,
            summary_read_at: db::opt_ts(row, "summary_read_at")?,
        })
    }

    /// Notes by a query on `notes` (its `SELECT {COLUMNS} FROM notes ...`), with their diagnoses.
    async fn query_notes(&self, sql: String, args: Vec<Arg>) -> R<Vec<Note>> {
        let sql = AssertSqlSafe(sql);
        let rows = db::bind_args(sqlx::query(sql), args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = rows.iter().map(|r| db::text(r, "id")).collect::<R<_>>()?;
        let mut diagnoses: std::collections::HashMap<String, Vec<Diagnosis>> =
            std::collections::HashMap::new();
        for chunk in ids.chunks(100) {
            let sql = AssertSqlSafe(format!(
                "SELECT note_id, code FROM note_diagnoses WHERE note_id IN ({}) ORDER BY note_id, position",
                db::placeholders(1, chunk.len())
            ));
            let args = chunk.iter().cloned().map(Arg::Text).collect();
            for row in db::bind_args(sqlx::query(sql), args)
                .fetch_all(&self.reader)
                .await
                .db()?
            {
                let code = db::text(&row, "code")?;
                let description = icd10::lookup(&code)
                    .map(|c| c.description.to_string())
                    .unwrap_or_default();
                diagnoses
                    .entry(db::text(&row, "note_id")?)
                    .or_default()
                    .push(Diagnosis { code, description });
            }
        }
        let mut notes = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = db::text(row, "id")?;
            notes.push(
                self.note_from_row(row, diagnoses.remove(&id).unwrap_or_default())
                    .await?,
            );
        }
        Ok(notes)
    }

    async fn one_note(&self, sql: String, args: Vec<Arg>) -> R<Option<Note>> {
        Ok(self.query_notes(sql, args).await?.pop())
    }
}

async fn write_diagnoses(
    conn: &mut sqlx::AnyConnection,
    note: NoteId,
    diagnoses: &[Diagnosis],
) -> R<()> {
    sqlx::query("DELETE FROM note_diagnoses WHERE note_id = $1")
        .bind(note.to_string())
        .execute(&mut *conn)
        .await
        .db()?;
    for (i, d) in diagnoses.iter().enumerate() {
        sqlx::query("INSERT INTO note_diagnoses (note_id, position, code) VALUES ($1, $2, $3)")
            .bind(note.to_string())
            .bind(i as i64)
            .bind(d.code.clone())
            .execute(&mut *conn)
            .await
            .db()?;
    }
    Ok(())
}

#[async_trait]
impl NoteStore for SqlStore {
    async fn create_note(&self, note: &Note, audit: AuditEntry) -> StoreResult<()> {
        let sealed = self.seal_note(note).await?;
        self.audited(audit, async |tx| {
            let sql = AssertSqlSafe(format!(
                "INSERT INTO notes ({COLUMNS}) VALUES ({})",
                db::placeholders(1, 20)
            ));
            let signature = note.signature.as_ref();
            sqlx::query(sql)
                .bind(note.id.to_string())
                .bind(note.org_id.to_string())
                .bind(note.appointment_id.to_string())
                .bind(note.patient_id.to_string())
                .bind(note.clinician_id.to_string())
                .bind(note.site_id.to_string())
                .bind(note.template.as_str())
                .bind(note.status.as_str())
                .bind(sealed.facts)
                .bind(sealed.body)
                .bind(note.version)
                .bind(note.created_by.to_string())
                .bind(note.created_at.as_microsecond())
                .bind(note.updated_by.to_string())
                .bind(note.updated_at.as_microsecond())
                .bind(signature.map(|s| s.by.to_string()))
                .bind(signature.map(|s| s.at.as_microsecond()))
                .bind(signature.map(|s| s.sha256.clone()))
                .bind(note.summary_notified_at.map(|t| t.as_microsecond()))
                .bind(note.summary_read_at.map(|t| t.as_microsecond()))
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    db::write_error(e, |_| {
                        DomainError::conflict_on(
                            "appointment_id",
                            "this appointment already has a note",
                        )
                    })
                })?;
            write_diagnoses(tx, note.id, &note.diagnoses).await?;

            Ok(())
        })
        .await
    }

    async fn get_note(&self, org: OrgId, id: NoteId) -> StoreResult<Option<Note>> {
        self.one_note(
            format!("SELECT {COLUMNS} FROM notes WHERE org_id = $1 AND id = $2"),
            vec![Arg::Text(org.to_string()), Arg::Text(id.to_string())],
        )
        .await
    }

    async fn note_for_appointment(
        &self,
        org: OrgId,
        appointment: AppointmentId,
    ) -> StoreResult<Option<Note>> {
        self.one_note(
            format!("SELECT {COLUMNS} FROM notes WHERE org_id = $1 AND appointment_id = $2"),
            vec![
                Arg::Text(org.to_string()),
                Arg::Text(appointment.to_string()),
            ],
        )
        .await
    }

    async fn save_note(
        &self,
        note: &Note,
        expected_version: i64,
        audit: AuditEntry,
    ) -> StoreResult<bool> {
        let sealed = self.seal_note(note).await?;
        let signature = note.signature.as_ref();
        self.audited_if(audit, async |tx| {
            let changed = sqlx::query(
            "UPDATE notes SET status = $3, facts = $4, body = $5, version = $6, updated_by = $7, \
             updated_at = $8, signed_by = $9, signed_at = $10, content_sha256 = $11 \
             WHERE org_id = $1 AND id = $2 AND status = 'draft' AND version = $12",
        )
        .bind(note.org_id.to_string())
        .bind(note.id.to_string())
        .bind(note.status.as_str())
        .bind(sealed.facts)
        .bind(sealed.body)
        .bind(note.version)
        .bind(note.updated_by.to_string())
        .bind(note.updated_at.as_microsecond())
        .bind(signature.map(|s| s.by.to_string()))
        .bind(signature.map(|s| s.at.as_microsecond()))
        .bind(signature.map(|s| s.sha256.clone()))
        .bind(expected_version)
        .execute(&mut *tx)
        .await
        .db()?;
            if changed.rows_affected() == 0 {
                return Ok(false);
            }
            write_diagnoses(tx, note.id, &note.diagnoses).await?;

            Ok(true)
        })
        .await
    }

    async fn add_addendum(&self, a: &Addendum, audit: AuditEntry) -> StoreResult<bool> {
        let id = a.id.to_string();
        let body = self.seal(&addendum_place(&id), &a.text).await?;
        self.audited_if(audit, async |tx| {
        let added = sqlx::query(
            "INSERT INTO note_addenda (id, note_id, org_id, body, signed_by, signed_at, content_sha256) \
             SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS \
               (SELECT 1 FROM notes WHERE id = $2 AND org_id = $3 AND status = 'signed')",
        )
        .bind(id)
        .bind(a.note_id.to_string())
        .bind(a.org_id.to_string())
        .bind(body)
        .bind(a.signature.by.to_string())
        .bind(a.signature.at.as_microsecond())
        .bind(a.signature.sha256.clone())
        .execute(&mut *tx)
        .await
        .db()?;
        if added.rows_affected() == 0 {
            return Ok(false);
        }

        Ok(true)
        })
        .await
    }

    async fn addenda(&self, org: OrgId, note: NoteId) -> StoreResult<Vec<Addendum>> {
        let rows = sqlx::query(
            "SELECT id, note_id, org_id, body, signed_by, signed_at, content_sha256 FROM note_addenda \
             WHERE org_id = $1 AND note_id = $2 ORDER BY signed_at, id",
        )
        .bind(org.to_string())
        .bind(note.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = db::text(row, "id")?;
            out.push(Addendum {
                text: self
                    .open(&addendum_place(&id), &db::text(row, "body")?)
                    .await?,
                id: db::parsed(row, "id")?,
                note_id: db::parsed(row, "note_id")?,
                org_id: db::parsed(row, "org_id")?,
                signature: Signature {
                    by: db::parsed(row, "signed_by")?,
                    at: db::ts(row, "signed_at")?,
                    sha256: db::text(row, "content_sha256")?,
                },
            });
        }
        Ok(out)
    }

    async fn unsigned_notes(
        &self,
        org: OrgId,
        clinician: UserId,
        before: Timestamp,
    ) -> StoreResult<Vec<Note>> {
        self.query_notes(
            format!(
                "SELECT {COLUMNS} FROM notes WHERE org_id = $1 AND clinician_id = $2 \
                 AND status = 'draft' AND created_at < $3 ORDER BY created_at LIMIT 200"
            ),
            vec![
                Arg::Text(org.to_string()),
                Arg::Text(clinician.to_string()),
                Arg::Int(before.as_microsecond()),
            ],
        )
        .await
    }

    async fn patient_notes(
        &self,
        org: OrgId,
        patient: PatientId,
        signed_only: bool,
    ) -> StoreResult<Vec<Note>> {
        let signed = if signed_only {
            " AND status = 'signed'"
        } else {
            ""
        };
        self.query_notes(
            format!(
                "SELECT {COLUMNS} FROM notes WHERE org_id = $1 AND patient_id = $2{signed} \
                 ORDER BY created_at DESC LIMIT 200"
            ),
            vec![Arg::Text(org.to_string()), Arg::Text(patient.to_string())],
        )
        .await
    }

    async fn summaries_to_notify(&self, limit: i64) -> StoreResult<Vec<Note>> {
        self.query_notes(
            format!(
                "SELECT {COLUMNS} FROM notes WHERE status = 'signed' AND summary_notified_at IS NULL \
                 ORDER BY signed_at LIMIT $1"
            ),
            vec![Arg::Int(limit.clamp(1, 500))],
        )
        .await
    }

    async fn mark_summary(
        &self,
        org: OrgId,
        note: NoteId,
        notified_at: Option<Timestamp>,
        read_at: Option<Timestamp>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE notes SET summary_notified_at = COALESCE(summary_notified_at, $3), \
             summary_read_at = COALESCE(summary_read_at, $4) WHERE org_id = $1 AND id = $2",
        )
        .bind(org.to_string())
        .bind(note.to_string())
        .bind(notified_at.map(|t| t.as_microsecond()))
        .bind(read_at.map(|t| t.as_microsecond()))
        .execute(&self.writer)
        .await
        .db()?;
        Ok(())
    }
}
