//! The storage ports of identity: organizations, sites, users and their credentials; patients;
//! sign-in sessions and integration clients. The store implements them for SQLite and PostgreSQL.
//!
//! The promises of every port (see `crate::store`) hold: a write that takes an `AuditEntry`
//! records it in the same transaction; lookups of tenant data are scoped by organization.

use async_trait::async_trait;
use jiff::Timestamp;

use super::{Credentials, Organization, Patient, PatientQuery, Role, Site, User};
use crate::compliance::AuditEntry;
use crate::error::StoreResult;
use crate::ids::{ClientId, OrgId, PatientId, SiteId, UserId};

/// A new user with their secrets already hashed by the caller.
#[derive(Clone)]
pub struct NewUser {
    pub user: User,
    pub password_hash: String,
    /// A TOTP secret handed over by the operator: stored as already confirmed (`totp_confirmed = true`).
    /// `None`: the user enrols an authenticator at first sign-in.
    pub totp_secret: Option<String>,
}

/// A server-side session. Only the SHA-256 of the cookie value is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: String,
    pub user_id: UserId,
    pub org_id: OrgId,
    /// Password checked, second factor still to come.
    pub mfa_pending: bool,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub source_ip: Option<String>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub id: ClientId,
    pub org_id: OrgId,
    pub name: String,
    /// SHA-256 of the client secret (a random 256-bit value, so no slow hash is needed).
    pub secret_hash: String,
    pub scopes: String,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A bearer token. Only the SHA-256 of the token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub token_hash: String,
    pub client_id: ClientId,
    pub org_id: OrgId,
    pub scopes: String,
    pub expires_at: Timestamp,
}

/// Result of trying to use a recovery code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryCodeUse {
    Accepted,
    Unknown,
}

/// Organizations, sites, users and sign-in credentials.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    // Organizations and sites.
    async fn create_org(&self, org: &Organization, audit: AuditEntry) -> StoreResult<()>;
    async fn get_org(&self, id: OrgId) -> StoreResult<Option<Organization>>;
    async fn find_org_by_name(&self, name: &str) -> StoreResult<Option<Organization>>;
    async fn create_site(&self, site: &Site, audit: AuditEntry) -> StoreResult<()>;
    async fn list_sites(&self, org: OrgId) -> StoreResult<Vec<Site>>;
    async fn get_site(&self, org: OrgId, id: SiteId) -> StoreResult<Option<Site>>;
    /// Renames a site or corrects its state or time zone.
    async fn update_site(&self, site: &Site, audit: AuditEntry) -> StoreResult<()>;

    // Users and credentials.
    async fn create_user(&self, new: &NewUser, audit: AuditEntry) -> StoreResult<()>;
    async fn get_user(&self, org: OrgId, id: UserId) -> StoreResult<Option<User>>;
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self, org: OrgId, role: Option<Role>) -> StoreResult<Vec<User>>;
    async fn update_user(&self, user: &User, audit: AuditEntry) -> StoreResult<()>;
    async fn get_credentials(&self, user: UserId) -> StoreResult<Option<Credentials>>;
    /// Counts a failed password or code; locks the account until `lock_until` once `failed_attempts` reaches the limit.
    async fn record_failed_sign_in(
        &self,
        user: UserId,
        max_attempts: i64,
        lock_until: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<Credentials>;
    async fn record_successful_sign_in(&self, user: UserId, audit: AuditEntry) -> StoreResult<()>;
    /// Stores a new (unconfirmed) TOTP secret, replacing any earlier one.
    async fn set_totp_secret(&self, user: UserId, secret: &str, confirmed: bool)
    -> StoreResult<()>;
    /// Confirms enrolment and stores the hashes of fresh recovery codes, replacing old ones.
    async fn confirm_totp(
        &self,
        user: UserId,
        recovery_code_hashes: &[String],
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// Remembers the time step of an accepted code; false when that step (or a later one) was already used.
    async fn claim_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool>;
    async fn use_recovery_code(
        &self,
        user: UserId,
        code_hash: &str,
        audit: AuditEntry,
    ) -> StoreResult<RecoveryCodeUse>;
    async fn set_password_hash(&self, user: UserId, password_hash: &str) -> StoreResult<()>;
    /// Clears a user's authenticator and recovery codes and ends their sessions: they enrol a
    /// new authenticator at their next sign-in.
    async fn reset_second_factor(&self, user: UserId, audit: AuditEntry) -> StoreResult<()>;
}

/// Patient records.
#[async_trait]
pub trait PatientStore: Send + Sync {
    // Patients.
    async fn create_patient(&self, patient: &Patient, audit: AuditEntry) -> StoreResult<()>;
    async fn update_patient(&self, patient: &Patient, audit: AuditEntry) -> StoreResult<()>;
    async fn get_patient(&self, org: OrgId, id: PatientId) -> StoreResult<Option<Patient>>;
    async fn list_patients(&self, org: OrgId, query: &PatientQuery) -> StoreResult<Vec<Patient>>;
    async fn count_patients(&self, org: OrgId) -> StoreResult<i64>;
}

/// Server-side sessions, integration clients and their bearer tokens.
#[async_trait]
pub trait SessionStore: Send + Sync {
    // Sessions.
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()>;
    async fn get_session(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>>;
    /// The session and its account (with sites, without the clinician profile) in one lookup.
    async fn get_session_account(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(SessionRecord, User)>>;
    async fn touch_session(&self, token_hash: &str, at: Timestamp) -> StoreResult<()>;
    /// Replaces a pending session by a full one (new token, so a fixed session id cannot be reused).
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    async fn delete_sessions_before(
        &self,
        idle_cutoff: Timestamp,
        absolute_cutoff: Timestamp,
    ) -> StoreResult<u64>;

    // Integration clients and their tokens.
    async fn create_client(&self, client: &ClientRecord, audit: AuditEntry) -> StoreResult<()>;
    async fn get_client(&self, id: ClientId) -> StoreResult<Option<ClientRecord>>;
    async fn list_clients(&self, org: OrgId) -> StoreResult<Vec<ClientRecord>>;
    async fn create_token(&self, token: &TokenRecord, audit: AuditEntry) -> StoreResult<()>;
    async fn get_token(&self, token_hash: &str) -> StoreResult<Option<TokenRecord>>;
}

/// A person's own account: password changes and emailed reset links.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_password_reset(
        &self,
        reset: &super::PasswordReset,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn get_password_reset(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<super::PasswordReset>>;
    /// Links sent to `user` since `since`.
    async fn count_password_resets(&self, user: UserId, since: Timestamp) -> StoreResult<i64>;
    /// Uses the link, if it is still unused and not expired at `now`: sets the password, lifts
    /// a lockout, ends every session of the account and voids its other links, with the audit
    /// entry, in one transaction. False (and nothing written) when the link was no longer usable.
    async fn use_password_reset(
        &self,
        token_hash: &str,
        now: Timestamp,
        password_hash: &str,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
    /// Sets a new password and ends the account's other sessions (all but `keep_session`).
    async fn change_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep_session: Option<&str>,
        audit: AuditEntry,
    ) -> StoreResult<()>;
}
