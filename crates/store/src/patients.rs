//! Patient records, unique by MRN within an organization, and the staff patient list.

use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::identity::{Address, Email, Patient, PatientQuery, Sex, UsState};
use domain::ids::{OrgId, PatientId};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use async_trait::async_trait;
use domain::identity::PatientStore;

use sqlx::AnyConnection;

use crate::backend::Backend;
use crate::db::{self, DbResult, R, write_error};
use crate::sql_store::SqlStore;
use crate::writer::{Job, Later, Write};

const COLUMNS: &str = "id, org_id, mrn, given_name, family_name, birth_date, sex, email, phone, address_line1, \
                       address_line2, city, state, postal_code, preferred_language, primary_site_id, created_at, \
                       updated_at";

fn patient_from_row(row: &AnyRow) -> R<Patient> {
    Ok(Patient {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        mrn: db::text(row, "mrn")?,
        given_name: db::text(row, "given_name")?,
        family_name: db::text(row, "family_name")?,
        birth_date: db::date(row, "birth_date")?,
        sex: db::domain_value(row, "sex", Sex::parse)?,
        email: db::opt_text(row, "email")?
            .map(|e| Email::parse("email", &e))
            .transpose()?,
        phone: db::opt_text(row, "phone")?,
        address: Address {
            line1: db::text(row, "address_line1")?,
            line2: db::opt_text(row, "address_line2")?,
            city: db::text(row, "city")?,
            state: db::domain_value(row, "state", UsState::parse)?,
            postal_code: db::text(row, "postal_code")?,
        },
        preferred_language: db::text(row, "preferred_language")?,
        primary_site_id: db::parsed(row, "primary_site_id")?,
        created_at: db::ts(row, "created_at")?,
        updated_at: db::ts(row, "updated_at")?,
    })
}

fn mrn_conflict(p: &Patient) -> impl FnOnce(&str) -> DomainError {
    let mrn = p.mrn.clone();
    move |described| {
        if described.contains("mrn") {
            DomainError::conflict_on(
                "mrn",
                format!("MRN {mrn} already exists in this organization"),
            )
        } else {
            DomainError::conflict_on("id", "this patient already exists")
        }
    }
}

/// Escapes `LIKE` wildcards so user text matches literally (with `ESCAPE '\'`).
fn like_prefix(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

const UPDATE_PATIENT: &str = "UPDATE patients SET mrn = $3, given_name = $4, family_name = $5, \
    birth_date = $6, sex = $7, email = $8, phone = $9, address_line1 = $10, address_line2 = $11, city = $12, \
    state = $13, postal_code = $14, preferred_language = $15, primary_site_id = $16, updated_at = $17 \
    WHERE id = $1 AND org_id = $2";

/// Binds `$1` id, `$2` organization and `$3`..`$16` the patient's fields, in `COLUMNS` order:
/// the one place that knows how a patient's fields map to columns for a write.
fn bind_identity_and_fields<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    p: &Patient,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(p.id.to_string())
        .bind(p.org_id.to_string())
        .bind(p.mrn.clone())
        .bind(p.given_name.clone())
        .bind(p.family_name.clone())
        .bind(p.birth_date.to_string())
        .bind(p.sex.as_str())
        .bind(p.email.as_ref().map(|e| e.as_str().to_string()))
        .bind(p.phone.clone())
        .bind(p.address.line1.clone())
        .bind(p.address.line2.clone())
        .bind(p.address.city.clone())
        .bind(p.address.state.code())
        .bind(p.address.postal_code.clone())
        .bind(p.preferred_language.clone())
        .bind(p.primary_site_id.to_string())
}

/// A new patient, as the group-commit writer runs it. A refusal (the MRN taken, an unknown site)
/// is a failed statement: SQLite undoes it alone, PostgreSQL needs a savepoint.
struct CreatePatient {
    patient: Patient,
    audit: AuditEntry,
}

#[async_trait]
impl Write for CreatePatient {
    fn needs_savepoint(&self, backend: Backend) -> bool {
        backend == Backend::Postgres
    }

    async fn write(
        self: Box<Self>,
        conn: &mut AnyConnection,
        _backend: Backend,
        _later: &mut Later,
    ) -> R<R<Vec<AuditEntry>>> {
        let p = &self.patient;
        let sql = AssertSqlSafe(format!(
            "INSERT INTO patients ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16, $17, $18)"
        ));
        let inserted = bind_identity_and_fields(sqlx::query(sql), p)
            .bind(p.created_at.as_microsecond())
            .bind(p.updated_at.as_microsecond())
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(e, mrn_conflict(p)));
        match inserted {
            Ok(_) => Ok(Ok(vec![self.audit])),
            Err(refused @ (DomainError::Conflict { .. } | DomainError::Invalid { .. })) => {
                Ok(Err(refused))
            }
            Err(failed) => Err(failed),
        }
    }
}

#[async_trait]
impl PatientStore for SqlStore {
    async fn create_patient(&self, p: &Patient, audit: AuditEntry) -> R<()> {
        // Group-committed like a read's audit entry: one commit (one fsync) for many creations.
        let create = CreatePatient {
            patient: p.clone(),
            audit,
        };
        self.group_commit(Job::Write(Box::new(create))).await
    }

    async fn update_patient(&self, p: &Patient, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let done = bind_identity_and_fields(sqlx::query(UPDATE_PATIENT), p)
                .bind(p.updated_at.as_microsecond())
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(e, mrn_conflict(p)))?;
            if done.rows_affected() == 0 {
                return Err(DomainError::NotFound {
                    resource: "patient",
                });
            }
            Ok(())
        })
        .await?;
        self.caches.patients.remove(&p.id);
        Ok(())
    }

    async fn get_patient(&self, org: OrgId, id: PatientId) -> R<Option<Patient>> {
        if let Some(found) = self.caches.patients.get(&id).filter(|p| p.org_id == org) {
            return Ok(Some(found));
        }
        let sql = AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM patients WHERE org_id = $1 AND id = $2"
        ));
        let row = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        let found = row.as_ref().map(patient_from_row).transpose()?;
        if let Some(patient) = &found {
            self.caches.patients.put(id, patient.clone());
        }
        Ok(found)
    }

    async fn list_patients(&self, org: OrgId, q: &PatientQuery) -> R<Vec<Patient>> {
        let mut conditions = vec!["org_id = $1".to_string()];
        let mut binds = vec![org.to_string()];
        if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let n = binds.len() + 1;
            let like = self.backend.ilike();
            conditions.push(format!(
                "(family_name {like} ${n} ESCAPE '\\' OR given_name {like} ${n} ESCAPE '\\' OR mrn {like} ${n} ESCAPE '\\')"
            ));
            binds.push(like_prefix(text));
        }
        if let Some(sites) = &q.site_ids {
            if sites.is_empty() {
                return Ok(Vec::new());
            }
            conditions.push(format!(
                "primary_site_id IN ({})",
                db::placeholders(binds.len() + 1, sites.len())
            ));
            binds.extend(sites.iter().map(|s| s.to_string()));
        }
        if let Some(ids) = &q.ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            conditions.push(format!(
                "id IN ({})",
                db::placeholders(binds.len() + 1, ids.len())
            ));
            binds.extend(ids.iter().map(|p| p.to_string()));
        }
        let n = binds.len();
        let sql = format!(
            "SELECT {COLUMNS} FROM patients WHERE {} ORDER BY family_name, given_name, id LIMIT ${} OFFSET ${}",
            conditions.join(" AND "),
            n + 1,
            n + 2
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            query = query.bind(b);
        }
        let limit = if q.limit <= 0 { 100 } else { q.limit };
        let rows = query
            .bind(limit)
            .bind(q.offset.max(0))
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(patient_from_row).collect()
    }

    async fn count_patients(&self, org: OrgId) -> R<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM patients WHERE org_id = $1")
            .bind(org.to_string())
            .fetch_one(&self.reader)
            .await
            .db()?;
        row.try_get::<i64, _>("n").db()
    }
}
