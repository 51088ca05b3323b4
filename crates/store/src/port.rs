//! `domain::Store` for [`SqlStore`]: each method delegates to the module of its area, where the SQL lives.

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::{AuditEntry, AuditQuery, AuditRecord, BreakGlassGrant};
use domain::identity::{Credentials, Organization, Patient, PatientQuery, Role, Site, User};
use domain::ids::{BreakGlassId, ClientId, OrgId, PatientId, SiteId, UserId};
use domain::store::{
    ClientRecord, NewUser, RecoveryCodeUse, SessionRecord, Store, StoreResult, TokenRecord,
};
use jiff::Timestamp;

use crate::connect::Backend;
use crate::db::{DbResult, SqlStore};

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.db()?;
        Ok(())
    }

    async fn create_org(&self, org: &Organization, audit: AuditEntry) -> StoreResult<()> {
        SqlStore::create_org(self, org, audit).await
    }
    async fn get_org(&self, id: OrgId) -> StoreResult<Option<Organization>> {
        SqlStore::get_org(self, id).await
    }
    async fn find_org_by_name(&self, name: &str) -> StoreResult<Option<Organization>> {
        SqlStore::find_org_by_name(self, name).await
    }
    async fn create_site(&self, site: &Site, audit: AuditEntry) -> StoreResult<()> {
        SqlStore::create_site(self, site, audit).await
    }
    async fn list_sites(&self, org: OrgId) -> StoreResult<Vec<Site>> {
        SqlStore::list_sites(self, org).await
    }
    async fn get_site(&self, org: OrgId, id: SiteId) -> StoreResult<Option<Site>> {
        SqlStore::get_site(self, org, id).await
    }

    async fn create_user(&self, new: &NewUser, audit: AuditEntry) -> StoreResult<()> {
        SqlStore::create_user(self, new, audit).await
    }
    async fn get_user(&self, org: OrgId, id: UserId) -> StoreResult<Option<User>> {
        SqlStore::get_user(self, org, id).await
    }
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        SqlStore::find_user_by_email(self, email).await
    }
    async fn list_users(&self, org: OrgId, role: Option<Role>) -> StoreResult<Vec<User>> {
        SqlStore::list_users(self, org, role).await
    }
    async fn update_user(&self, user: &User, audit: AuditEntry) -> StoreResult<()> {
        SqlStore::update_user(self, user, audit).await
    }
    async fn get_credentials(&self, user: UserId) -> StoreResult<Option<Credentials>> {
        SqlStore::get_credentials(self, user).await
    }
    async fn record_failed_sign_in(
        &self,
        user: UserId,
        max_attempts: i64,
        lock_until: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<Credentials> {
        SqlStore::record_failed_sign_in(self, user, max_attempts, lock_until, audit).await
    }
    async fn record_successful_sign_in(&self, user: UserId, audit: AuditEntry) -> StoreResult<()> {
        SqlStore::record_successful_sign_in(self, user, audit).await
    }
    async fn set_totp_secret(
        &self,
        user: UserId,
        secret: &str,
        confirmed: bool,
    ) -> StoreResult<()> {
        SqlStore::set_totp_secret(self, user, secret, confirmed).await
    }
    async fn confirm_totp(
        &self,
        user: UserId,
        recovery_code_hashes: &[String],
        audit: AuditEntry,
    ) -> StoreResult<()> {
        SqlStore::confirm_totp(self, user, recovery_code_hashes, audit).await
    }
    async fn claim_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool> {
        SqlStore::claim_totp_step(self, user, step).await
    }
    async fn use_recovery_code(
        &self,
        user: UserId,
        code_hash: &str,
        audit: AuditEntry,
    ) -> StoreResult<RecoveryCodeUse> {
        SqlStore::use_recovery_code(self, user, code_hash, audit).await
    }
    async fn set_password_hash(&self, user: UserId, password_hash: &str) -> StoreResult<()> {
        SqlStore::set_password_hash(self, user, password_hash).await
    }

    async fn create_patient(&self, patient: &Patient, audit: AuditEntry) -> StoreResult<()> {
        SqlStore::create_patient(self, patient, audit).await
    }
    async fn update_patient(&self, patient: &Patient, audit: AuditEntry) -> StoreResult<()> {
        SqlStore::update_patient(self, patient, audit).await
    }
    async fn get_patient(&self, org: OrgId, id: PatientId) -> StoreResult<Option<Patient>> {
        SqlStore::get_patient(self, org, id).await
    }
    async fn list_patients(&self, org: OrgId, query: &PatientQuery) -> StoreResult<Vec<Patient>> {
        SqlStore::list_patients(self, org, query).await
    }
    async fn count_patients(&self, org: OrgId) -> StoreResult<i64> {
        SqlStore::count_patients(self, org).await
    }

    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        SqlStore::create_session(self, session).await
    }
    async fn get_session(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>> {
        SqlStore::get_session(self, token_hash).await
    }
    async fn get_session_account(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(SessionRecord, User)>> {
        SqlStore::get_session_account(self, token_hash).await
    }
    async fn touch_session(&self, token_hash: &str, at: Timestamp) -> StoreResult<()> {
        SqlStore::touch_session(self, token_hash, at).await
    }
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        SqlStore::delete_session(self, token_hash).await
    }
    async fn delete_sessions_before(
        &self,
        idle_cutoff: Timestamp,
        absolute_cutoff: Timestamp,
    ) -> StoreResult<u64> {
        SqlStore::delete_sessions_before(self, idle_cutoff, absolute_cutoff).await
    }

    async fn create_client(&self, client: &ClientRecord, audit: AuditEntry) -> StoreResult<()> {
        SqlStore::create_client(self, client, audit).await
    }
    async fn get_client(&self, id: ClientId) -> StoreResult<Option<ClientRecord>> {
        SqlStore::get_client(self, id).await
    }
    async fn list_clients(&self, org: OrgId) -> StoreResult<Vec<ClientRecord>> {
        SqlStore::list_clients(self, org).await
    }
    async fn create_token(&self, token: &TokenRecord, audit: AuditEntry) -> StoreResult<()> {
        SqlStore::create_token(self, token, audit).await
    }
    async fn get_token(&self, token_hash: &str) -> StoreResult<Option<TokenRecord>> {
        SqlStore::get_token(self, token_hash).await
    }

    async fn create_break_glass(
        &self,
        grant: &BreakGlassGrant,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        SqlStore::create_break_glass(self, grant, audit).await
    }
    async fn active_break_glass(
        &self,
        user: UserId,
        patient: PatientId,
        now: Timestamp,
    ) -> StoreResult<Vec<BreakGlassGrant>> {
        SqlStore::active_break_glass(self, user, patient, now).await
    }
    async fn list_break_glass(
        &self,
        org: OrgId,
        unreviewed_only: bool,
    ) -> StoreResult<Vec<BreakGlassGrant>> {
        SqlStore::list_break_glass(self, org, unreviewed_only).await
    }
    async fn review_break_glass(
        &self,
        org: OrgId,
        id: BreakGlassId,
        reviewer: UserId,
        at: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        SqlStore::review_break_glass(self, org, id, reviewer, at, audit).await
    }

    async fn record_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        SqlStore::record_audit(self, entry).await
    }
    async fn search_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        SqlStore::search_audit(self, query).await
    }
    async fn audit_page(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        SqlStore::audit_page(self, after_seq, limit).await
    }
    async fn audit_head(&self) -> StoreResult<(i64, String)> {
        SqlStore::audit_head(self).await
    }

    async fn backup_to(&self, path: &str) -> StoreResult<()> {
        match self.backend {
            Backend::Postgres => Err(DomainError::invalid(
                "path",
                "the PostgreSQL store is backed up with the database's own tools: use pg_dump (or continuous archiving)",
            )),
            Backend::Sqlite => {
                // VACUUM INTO would also refuse, but with a less helpful message.
                if std::path::Path::new(path).exists() {
                    return Err(DomainError::invalid(
                        "path",
                        format!("{path} already exists; choose a new file"),
                    ));
                }
                // A consistent snapshot from a read-only connection: writers carry on meanwhile.
                sqlx::query("VACUUM INTO $1")
                    .bind(path.to_string())
                    .execute(&self.reader)
                    .await
                    .db()?;
                Ok(())
            }
        }
    }
}
