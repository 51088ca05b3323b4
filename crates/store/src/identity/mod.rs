//! Organizations, sites, users with their sites and clinician profiles, and sign-in credentials.

use std::collections::HashMap;

use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::identity::{
    ClinicianProfile, Credentials, Organization, Role, Site, StateLicense, UsState, User,
};
use domain::identity::{IdentityStore, NewUser, RecoveryCodeUse};
use domain::ids::{OrgId, SiteId, UserId};
use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

use async_trait::async_trait;

use crate::db::{self, DbResult, R, write_error};
use crate::sql_store::SqlStore;

mod rows;

pub(crate) use rows::user_from_row;
use rows::*;

impl SqlStore {
    /// Fills in sites and clinician profiles for users of one organization.
    async fn complete_users(&self, org: OrgId, mut users: Vec<User>) -> R<Vec<User>> {
        if users.is_empty() {
            return Ok(users);
        }
        let org_id = org.to_string();
        let index: HashMap<UserId, usize> =
            users.iter().enumerate().map(|(i, u)| (u.id, i)).collect();
        let sites = sqlx::query(
            "SELECT us.user_id, us.site_id FROM user_sites us JOIN users u ON u.id = us.user_id \
             WHERE u.org_id = $1 ORDER BY us.user_id, us.site_id",
        )
        .bind(org_id.clone())
        .fetch_all(&self.reader)
        .await
        .db()?;
        for row in &sites {
            if let Some(&i) = index.get(&db::parsed::<UserId>(row, "user_id")?) {
                users[i].site_ids.push(db::parsed(row, "site_id")?);
            }
        }
        let profiles = sqlx::query(
            "SELECT p.user_id, p.npi, p.specialties FROM clinician_profiles p JOIN users u ON u.id = p.user_id \
             WHERE u.org_id = $1",
        )
        .bind(org_id.clone())
        .fetch_all(&self.reader)
        .await
        .db()?;
        for row in &profiles {
            if let Some(&i) = index.get(&db::parsed::<UserId>(row, "user_id")?) {
                let specialties: Vec<String> = serde_json::from_str(&db::text(row, "specialties")?)
                    .map_err(|e| {
                        DomainError::Storage(format!("stored specialties could not be read: {e}"))
                    })?;
                users[i].clinician = Some(ClinicianProfile {
                    npi: db::text(row, "npi")?,
                    specialties,
                    languages: Vec::new(),
                    licenses: Vec::new(),
                });
            }
        }
        let languages = sqlx::query(
            "SELECT cl.user_id, cl.language FROM clinician_languages cl JOIN users u ON u.id = cl.user_id \
             WHERE u.org_id = $1 ORDER BY cl.user_id, cl.language",
        )
        .bind(org_id.clone())
        .fetch_all(&self.reader)
        .await
        .db()?;
        for row in &languages {
            if let Some(&i) = index.get(&db::parsed::<UserId>(row, "user_id")?)
                && let Some(profile) = users[i].clinician.as_mut()
            {
                profile.languages.push(db::text(row, "language")?);
            }
        }
        let licenses = sqlx::query(
            "SELECT l.user_id, l.state, l.number, l.expires_on FROM clinician_licenses l \
             JOIN users u ON u.id = l.user_id WHERE u.org_id = $1 ORDER BY l.user_id, l.state, l.number",
        )
        .bind(org_id)
        .fetch_all(&self.reader)
        .await
        .db()?;
        for row in &licenses {
            if let Some(&i) = index.get(&db::parsed::<UserId>(row, "user_id")?)
                && let Some(profile) = users[i].clinician.as_mut()
            {
                profile.licenses.push(StateLicense {
                    state: db::domain_value(row, "state", UsState::parse)?,
                    number: db::text(row, "number")?,
                    expires_on: db::date(row, "expires_on")?,
                });
            }
        }
        Ok(users)
    }

    /// `SELECT` of one user with, in the same row, their sites, clinician profile and languages
    /// (lists folded into comma-separated text): one round trip instead of one per table.
    fn single_user_sql(&self, condition: &str) -> String {
        let fold = |column: &str, table: &str| self.backend.fold_for_user(column, table);
        format!(
            "SELECT u.id, u.org_id, u.email, u.display_name, u.role, u.active, u.patient_id, u.created_at, \
             {} AS site_list, p.npi, p.specialties, {} AS language_list \
             FROM users u LEFT JOIN clinician_profiles p ON p.user_id = u.id WHERE {condition}",
            fold("site_id", "user_sites"),
            fold("language", "clinician_languages"),
        )
    }

    /// A user from a `single_user_sql` row; clinicians' licenses take one more lookup.
    async fn user_with_details(&self, row: &AnyRow) -> R<User> {
        let mut user = user_from_row(row)?;
        let list = |col: &str| -> R<Vec<String>> {
            let mut items: Vec<String> = db::opt_text(row, col)?
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            items.sort();
            Ok(items)
        };
        user.site_ids = list("site_list")?
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|_| DomainError::Storage("a stored site id could not be read".into()))
            })
            .collect::<R<_>>()?;
        let Some(npi) = db::opt_text(row, "npi")? else {
            return Ok(user);
        };
        let specialties: Vec<String> = serde_json::from_str(
            &db::opt_text(row, "specialties")?.unwrap_or_default(),
        )
        .map_err(|e| DomainError::Storage(format!("stored specialties could not be read: {e}")))?;
        let licenses = sqlx::query(
            "SELECT state, number, expires_on FROM clinician_licenses WHERE user_id = $1 ORDER BY state, number",
        )
        .bind(user.id.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?
        .iter()
        .map(|r| {
            Ok(StateLicense {
                state: db::domain_value(r, "state", UsState::parse)?,
                number: db::text(r, "number")?,
                expires_on: db::date(r, "expires_on")?,
            })
        })
        .collect::<R<_>>()?;
        user.clinician = Some(ClinicianProfile {
            npi,
            specialties,
            languages: list("language_list")?,
            licenses,
        });
        Ok(user)
    }

    async fn credentials_on(conn: &mut AnyConnection, user: UserId) -> R<Option<Credentials>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials c JOIN users u ON u.id = c.user_id WHERE c.user_id = $1"
        ));
        let row = sqlx::query(sql)
            .bind(user.to_string())
            .fetch_optional(&mut *conn)
            .await
            .db()?;
        row.as_ref().map(credentials_from_row).transpose()
    }
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn create_org(&self, org: &Organization, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(org.id.to_string())
                .bind(org.name.clone())
                .bind(org.created_at.as_microsecond())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    write_error(e, |d| {
                        if d.contains("name") {
                            DomainError::conflict_on(
                                "name",
                                format!("an organization named {} already exists", org.name),
                            )
                        } else {
                            DomainError::conflict_on("id", "this organization already exists")
                        }
                    })
                })?;
            Ok(())
        })
        .await
    }

    async fn get_org(&self, id: OrgId) -> R<Option<Organization>> {
        let row = sqlx::query("SELECT id, name, created_at FROM organizations WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.as_ref().map(org_from_row).transpose()
    }

    async fn find_org_by_name(&self, name: &str) -> R<Option<Organization>> {
        let row = sqlx::query("SELECT id, name, created_at FROM organizations WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.as_ref().map(org_from_row).transpose()
    }

    async fn create_site(&self, site: &Site, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            sqlx::query(
                "INSERT INTO sites (id, org_id, name, state, time_zone, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(site.id.to_string())
            .bind(site.org_id.to_string())
            .bind(site.name.clone())
            .bind(site.state.code())
            .bind(site.time_zone.as_str().to_string())
            .bind(site.created_at.as_microsecond())
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(e, |_| DomainError::conflict_on("id", "this site already exists")))?;
            Ok(())
        })
        .await?;
        self.caches.sites.remove(&site.org_id);
        Ok(())
    }

    async fn update_site(&self, site: &Site, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let done = sqlx::query(
                "UPDATE sites SET name = $3, state = $4, time_zone = $5 WHERE org_id = $1 AND id = $2",
            )
            .bind(site.org_id.to_string())
            .bind(site.id.to_string())
            .bind(site.name.clone())
            .bind(site.state.code())
            .bind(site.time_zone.as_str().to_string())
            .execute(&mut *tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Err(DomainError::NotFound { resource: "site" });
            }
            Ok(())
        })
        .await?;
        self.caches.sites.remove(&site.org_id);
        Ok(())
    }

    async fn list_sites(&self, org: OrgId) -> R<Vec<Site>> {
        if let Some(sites) = self.caches.sites.get(&org) {
            return Ok(sites);
        }
        let rows = sqlx::query(
            "SELECT id, org_id, name, state, time_zone, created_at FROM sites WHERE org_id = $1 ORDER BY name, id",
        )
        .bind(org.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        let sites = rows.iter().map(site_from_row).collect::<R<Vec<_>>>()?;
        self.caches.sites.put(org, sites.clone());
        Ok(sites)
    }

    /// One site, from the organization's (cached) list: organizations have a handful of sites.
    async fn get_site(&self, org: OrgId, id: SiteId) -> R<Option<Site>> {
        Ok(self.list_sites(org).await?.into_iter().find(|s| s.id == id))
    }

    async fn create_user(&self, new: &NewUser, audit: AuditEntry) -> R<()> {
        let user = &new.user;
        self.audited(audit, async |tx| {
            let sql = AssertSqlSafe(format!(
                "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ));
            sqlx::query(sql)
                .bind(user.id.to_string())
                .bind(user.org_id.to_string())
                .bind(user.email.as_str().to_string())
                .bind(user.display_name.clone())
                .bind(user.role.as_str())
                .bind(user.active)
                .bind(user.patient_id.map(|p| p.to_string()))
                .bind(user.created_at.as_microsecond())
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(e, email_conflict(&user.email)))?;
            write_user_details(&mut *tx, user).await?;
            sqlx::query(
                "INSERT INTO credentials (user_id, password_hash, totp_secret, totp_confirmed, failed_attempts) \
                 VALUES ($1, $2, $3, $4, 0)",
            )
            .bind(user.id.to_string())
            .bind(new.password_hash.clone())
            .bind(new.totp_secret.clone())
            // A secret handed over by the operator counts as enrolled; otherwise the user enrols at first sign-in.
            .bind(new.totp_secret.is_some())
            .execute(&mut *tx)
            .await
            .db()?;
            Ok(())
        })
        .await
    }

    async fn get_user(&self, org: OrgId, id: UserId) -> R<Option<User>> {
        if let Some(user) = self.caches.users.get(&id).filter(|u| u.org_id == org) {
            return Ok(Some(user));
        }
        let sql = AssertSqlSafe(self.single_user_sql("u.org_id = $1 AND u.id = $2"));
        let row = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        match row {
            Some(row) => {
                let user = self.user_with_details(&row).await?;
                self.caches.users.put(id, user.clone());
                Ok(Some(user))
            }
            None => Ok(None),
        }
    }

    async fn find_user_by_email(&self, email: &str) -> R<Option<User>> {
        // Emails are stored normalised (see `Email::parse`), so compare the same way.
        let email = email.trim().to_ascii_lowercase();
        let sql = AssertSqlSafe(self.single_user_sql("u.email = $1"));
        let row = sqlx::query(sql)
            .bind(email)
            .fetch_optional(&self.reader)
            .await
            .db()?;
        match row {
            Some(row) => Ok(Some(self.user_with_details(&row).await?)),
            None => Ok(None),
        }
    }

    async fn list_users(&self, org: OrgId, role: Option<Role>) -> R<Vec<User>> {
        let rows = match role {
            Some(role) => {
                let sql = AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE org_id = $1 AND role = $2 ORDER BY display_name, id"
                ));
                sqlx::query(sql).bind(org.to_string()).bind(role.as_str()).fetch_all(&self.reader).await
            }
            None => {
                let sql = AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE org_id = $1 ORDER BY display_name, id"
                ));
                sqlx::query(sql).bind(org.to_string()).fetch_all(&self.reader).await
            }
        }
        .db()?;
        let users = rows.iter().map(user_from_row).collect::<R<Vec<_>>>()?;
        self.complete_users(org, users).await
    }

    async fn update_user(&self, user: &User, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let done = sqlx::query(
                "UPDATE users SET email = $3, display_name = $4, role = $5, active = $6, patient_id = $7 \
                 WHERE org_id = $1 AND id = $2",
            )
            .bind(user.org_id.to_string())
            .bind(user.id.to_string())
            .bind(user.email.as_str().to_string())
            .bind(user.display_name.clone())
            .bind(user.role.as_str())
            .bind(user.active)
            .bind(user.patient_id.map(|p| p.to_string()))
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(e, email_conflict(&user.email)))?;
            if done.rows_affected() == 0 {
                return Err(DomainError::NotFound { resource: "user" });
            }
            write_user_details(&mut *tx, user).await?;
            Ok(())
        })
        .await?;
        // Sessions carry the account (role, sites, active): the next request must see the change.
        self.caches.forget_user(user.id);
        Ok(())
    }

    async fn get_credentials(&self, user: UserId) -> R<Option<Credentials>> {
        let mut conn = self.reader.acquire().await.db()?;
        Self::credentials_on(&mut conn, user).await
    }

    async fn record_failed_sign_in(
        &self,
        user: UserId,
        max_attempts: i64,
        lock_until: Timestamp,
        audit: AuditEntry,
    ) -> R<Credentials> {
        let credentials = self
            .audited(audit, async |tx| {
                // One statement, so concurrent failures each count.
                let done = sqlx::query(
                    "UPDATE credentials SET failed_attempts = failed_attempts + 1, \
                 locked_until = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE locked_until END \
                 WHERE user_id = $1",
                )
                .bind(user.to_string())
                .bind(max_attempts)
                .bind(lock_until.as_microsecond())
                .execute(&mut *tx)
                .await
                .db()?;
                if done.rows_affected() == 0 {
                    return Err(DomainError::NotFound { resource: "user" });
                }
                let credentials = Self::credentials_on(&mut *tx, user)
                    .await?
                    .ok_or(DomainError::NotFound { resource: "user" })?;
                Ok(credentials)
            })
            .await?;
        Ok(credentials)
    }

    async fn record_successful_sign_in(&self, user: UserId, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let done = sqlx::query(
                "UPDATE credentials SET failed_attempts = 0, locked_until = NULL WHERE user_id = $1",
            )
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Err(DomainError::NotFound { resource: "user" });
            }
            Ok(())
        })
        .await
    }

    async fn reset_second_factor(&self, user: UserId, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let id = user.to_string();
            let done = sqlx::query(
                "UPDATE credentials SET totp_secret = NULL, totp_confirmed = $2, last_totp_step = NULL \
                 WHERE user_id = $1",
            )
            .bind(id.clone())
            .bind(false)
            .execute(&mut *tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Err(DomainError::NotFound { resource: "user" });
            }
            for sql in [
                "DELETE FROM recovery_codes WHERE user_id = $1",
                "DELETE FROM sessions WHERE user_id = $1",
            ] {
                sqlx::query(sql)
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await
                    .db()?;
            }
            Ok(())
        })
        .await?;
        self.caches.forget_user(user);
        Ok(())
    }

    async fn set_totp_secret(&self, user: UserId, secret: &str, confirmed: bool) -> R<()> {
        let done = sqlx::query(
            "UPDATE credentials SET totp_secret = $2, totp_confirmed = $3 WHERE user_id = $1",
        )
        .bind(user.to_string())
        .bind(secret.to_string())
        .bind(confirmed)
        .execute(&self.writer)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Err(DomainError::NotFound { resource: "user" });
        }
        Ok(())
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        recovery_code_hashes: &[String],
        audit: AuditEntry,
    ) -> R<()> {
        self.audited(audit, async |tx| {
            let id = user.to_string();
            let done = sqlx::query("UPDATE credentials SET totp_confirmed = $2 WHERE user_id = $1")
                .bind(id.clone())
                .bind(true)
                .execute(&mut *tx)
                .await
                .db()?;
            if done.rows_affected() == 0 {
                return Err(DomainError::NotFound { resource: "user" });
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(id.clone())
                .execute(&mut *tx)
                .await
                .db()?;
            db::insert_rows(
                &mut *tx,
                &RECOVERY_CODES,
                recovery_code_hashes,
                |q, hash| q.bind(id.clone()).bind(hash.as_str()),
            )
            .await
            .map_err(|e| {
                write_error(e, |_| {
                    DomainError::conflict_on("recovery_codes", "the same code is listed twice")
                })
            })?;
            Ok(())
        })
        .await
    }

    async fn claim_totp_step(&self, user: UserId, step: i64) -> R<bool> {
        // The condition and the write are one statement, so two requests racing with the same
        // code cannot both succeed.
        let done = sqlx::query(
            "UPDATE credentials SET last_totp_step = $2 \
             WHERE user_id = $1 AND (last_totp_step IS NULL OR last_totp_step < $2)",
        )
        .bind(user.to_string())
        .bind(step)
        .execute(&self.writer)
        .await
        .db()?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        code_hash: &str,
        audit: AuditEntry,
    ) -> R<RecoveryCodeUse> {
        let at = audit.at.as_microsecond();
        // Nothing changed when the code is unknown or used; the caller audits the refusal itself.
        let accepted = self
            .audited_if(audit, async |tx| {
                let done = sqlx::query(
                    "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                )
                .bind(user.to_string())
                .bind(code_hash.to_string())
                .bind(at)
                .execute(&mut *tx)
                .await
                .db()?;
                Ok(done.rows_affected() > 0)
            })
            .await?;
        Ok(if accepted {
            RecoveryCodeUse::Accepted
        } else {
            RecoveryCodeUse::Unknown
        })
    }

    async fn set_password_hash(&self, user: UserId, password_hash: &str) -> R<()> {
        let done = sqlx::query("UPDATE credentials SET password_hash = $2 WHERE user_id = $1")
            .bind(user.to_string())
            .bind(password_hash.to_string())
            .execute(&self.writer)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Err(DomainError::NotFound { resource: "user" });
        }
        Ok(())
    }
}
