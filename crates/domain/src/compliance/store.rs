//! The storage ports of compliance: the hash-chained audit trail, emergency ("break-glass")
//! access and telehealth consent. The store implements them for SQLite and PostgreSQL.

use async_trait::async_trait;
use jiff::Timestamp;

use super::{
    AuditEntry, AuditQuery, AuditRecord, BreakGlassGrant, Checkpoint, ConsentDocument,
    PatientConsent,
};
use crate::error::StoreResult;
use crate::ids::{BreakGlassId, OrgId, PatientId, UserId};

/// The audit trail. Every write of another port records its entries in its own transaction;
/// this port appends entries on their own (reads of patient data) and lets auditors read.
#[async_trait]
pub trait AuditStore: Send + Sync {
    // Audit trail.
    /// Appends one entry on its own; durable when this returns.
    async fn record_audit(&self, entry: AuditEntry) -> StoreResult<()>;
    async fn search_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// Records with `seq > after_seq`, in order, at most `limit`: how verification pages through the chain.
    async fn audit_page(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>>;
    /// The last sequence number and hash the store has committed.
    async fn audit_head(&self) -> StoreResult<(i64, String)>;

    // Signed checkpoints of the chain's head.
    async fn record_checkpoint(&self, checkpoint: &Checkpoint) -> StoreResult<()>;
    /// Every stored checkpoint, by sequence.
    async fn audit_checkpoints(&self) -> StoreResult<Vec<Checkpoint>>;
    async fn latest_checkpoint(&self) -> StoreResult<Option<Checkpoint>>;
}

/// Emergency access grants and telehealth consent.
#[async_trait]
pub trait ComplianceStore: Send + Sync {
    // Emergency access.
    async fn create_break_glass(
        &self,
        grant: &BreakGlassGrant,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn active_break_glass(
        &self,
        user: UserId,
        patient: PatientId,
        now: Timestamp,
    ) -> StoreResult<Vec<BreakGlassGrant>>;
    async fn list_break_glass(
        &self,
        org: OrgId,
        unreviewed_only: bool,
    ) -> StoreResult<Vec<BreakGlassGrant>>;
    async fn review_break_glass(
        &self,
        org: OrgId,
        id: BreakGlassId,
        reviewer: UserId,
        at: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<()>;

    // Telehealth consent.
    /// The organization's latest published consent text, if it published one.
    async fn consent_document(&self, org: OrgId) -> StoreResult<Option<ConsentDocument>>;
    async fn publish_consent(&self, doc: &ConsentDocument, audit: AuditEntry) -> StoreResult<()>;
    async fn patient_consents(
        &self,
        org: OrgId,
        patient: PatientId,
    ) -> StoreResult<Vec<PatientConsent>>;
    async fn record_consent(&self, consent: &PatientConsent, audit: AuditEntry) -> StoreResult<()>;
}
