//! The storage port of notes. Free text (sections, facts, addenda) is sealed by the store.

use async_trait::async_trait;
use jiff::Timestamp;

use super::model::{Addendum, Note};
use crate::compliance::AuditEntry;
use crate::ids::{AppointmentId, NoteId, OrgId, PatientId, UserId};
use crate::store::StoreResult;

#[async_trait]
pub trait NoteStore: Send + Sync {
    /// A second note for the same appointment is a `Conflict` naming `appointment_id`.
    async fn create_note(&self, note: &Note, audit: AuditEntry) -> StoreResult<()>;
    async fn get_note(&self, org: OrgId, id: NoteId) -> StoreResult<Option<Note>>;
    async fn note_for_appointment(
        &self,
        org: OrgId,
        appointment: AppointmentId,
    ) -> StoreResult<Option<Note>>;
    /// Writes a draft (facts, sections, diagnoses, version, updated_*) only if the stored note
    /// is still a draft at `expected_version`; false otherwise (nothing written). Signing goes
    /// through here too: a note with a signature is stored signed.
    async fn save_note(
        &self,
        note: &Note,
        expected_version: i64,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
    /// Adds a signed addendum; false (nothing written) if the note is not signed.
    async fn add_addendum(&self, addendum: &Addendum, audit: AuditEntry) -> StoreResult<bool>;
    async fn addenda(&self, org: OrgId, note: NoteId) -> StoreResult<Vec<Addendum>>;
    /// A clinician's drafts created before `before`, oldest first.
    async fn unsigned_notes(
        &self,
        org: OrgId,
        clinician: UserId,
        before: Timestamp,
    ) -> StoreResult<Vec<Note>>;
    /// A patient's notes, newest first; only signed ones when `signed_only`.
    async fn patient_notes(
        &self,
        org: OrgId,
        patient: PatientId,
        signed_only: bool,
    ) -> StoreResult<Vec<Note>>;
    /// Signed notes whose patient has not been told of the summary yet, oldest first.
    async fn summaries_to_notify(&self, limit: i64) -> StoreResult<Vec<Note>>;
    /// Records when the patient was told of the summary, or first opened it (kept if set).
    async fn mark_summary(
        &self,
        org: OrgId,
        note: NoteId,
        notified_at: Option<Timestamp>,
        read_at: Option<Timestamp>,
    ) -> StoreResult<()>;
}
