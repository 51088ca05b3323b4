//! The storage port of messaging, and the notifier through which the domain tells staff who
//! have an inbox open that a thread changed. Bodies, subjects and files are sealed by the store.

use async_trait::async_trait;
use jiff::Timestamp;

use super::model::{Attachment, Message, Thread, ThreadStatus};
use crate::compliance::AuditEntry;
use crate::ids::{AttachmentId, MessageId, OrgId, PatientId, SiteId, ThreadId, UserId};
use crate::store::StoreResult;

/// Which threads an inbox page shows.
#[derive(Debug, Clone, Default)]
pub struct InboxQuery {
    pub site_id: Option<SiteId>,
    pub status: Option<ThreadStatus>,
    /// Without a status: leave closed threads out (the inbox's default view).
    pub not_closed: bool,
    /// Only threads assigned to this person.
    pub assigned_to: Option<UserId>,
    /// Only threads with messages no staff member has read.
    pub unread_only: bool,
    /// Only threads whose reply is overdue at this instant.
    pub overdue_at: Option<Timestamp>,
    /// Threads whose last message is older than this (the next page).
    pub before: Option<Timestamp>,
    pub limit: i64,
}

/// The counts at the top of a site's inbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxCounts {
    pub unread: i64,
    pub overdue: i64,
}

/// A thread's new state after a message or a staff action, written only if it is still `from`.
#[derive(Debug, Clone)]
pub struct ThreadChange {
    pub org_id: OrgId,
    pub thread_id: ThreadId,
    pub from: ThreadStatus,
    pub to: ThreadStatus,
    pub assigned_to: Option<UserId>,
    pub reply_due_at: Option<Timestamp>,
    pub last_message_at: Timestamp,
}

#[async_trait]
pub trait MessagingStore: Send + Sync {
    /// A new thread with its first message and files, in one transaction.
    async fn create_thread(
        &self,
        thread: &Thread,
        first: &Message,
        files: &[Attachment],
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// Adds a message (and files) and applies `change` in one transaction; false if the
    /// thread was no longer in `change.from` (nothing written).
    async fn add_message(
        &self,
        message: &Message,
        files: &[Attachment],
        change: &ThreadChange,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
    /// A staff action (close, reopen, assign); false if no longer in `change.from`.
    async fn change_thread(&self, change: &ThreadChange, audit: AuditEntry) -> StoreResult<bool>;
    async fn get_thread(&self, org: OrgId, id: ThreadId) -> StoreResult<Option<Thread>>;
    /// Oldest first; staff-only notes only when asked for.
    async fn thread_messages(
        &self,
        org: OrgId,
        id: ThreadId,
        with_staff_notes: bool,
    ) -> StoreResult<Vec<Message>>;
    /// Marks the other side's messages read (read receipts) and clears this side's unread count.
    async fn mark_read(
        &self,
        org: OrgId,
        id: ThreadId,
        by_patient: bool,
        reader: UserId,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Newest activity first.
    async fn inbox(&self, org: OrgId, query: &InboxQuery) -> StoreResult<Vec<Thread>>;
    async fn inbox_counts(
        &self,
        org: OrgId,
        site: SiteId,
        now: Timestamp,
    ) -> StoreResult<InboxCounts>;
    async fn patient_threads(&self, org: OrgId, patient: PatientId) -> StoreResult<Vec<Thread>>;
    async fn get_attachment(&self, org: OrgId, id: AttachmentId)
    -> StoreResult<Option<Attachment>>;
    async fn thread_of_message(
        &self,
        org: OrgId,
        message: MessageId,
    ) -> StoreResult<Option<ThreadId>>;
    /// Sites where the patient had an appointment (not cancelled).
    async fn patient_visit_sites(&self, org: OrgId, patient: PatientId)
    -> StoreResult<Vec<SiteId>>;
    /// Clinicians the patient had an appointment with (not cancelled).
    async fn clinicians_seen(&self, org: OrgId, patient: PatientId) -> StoreResult<Vec<UserId>>;
    /// Threads (of every organization) with messages the patient has not read and was not yet
    /// emailed about, oldest first.
    async fn threads_to_notify(&self, limit: i64) -> StoreResult<Vec<Thread>>;
    /// The patient was told (or could not be) at `at`; audited in the same transaction.
    async fn mark_thread_notified(
        &self,
        org: OrgId,
        id: ThreadId,
        at: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<()>;
}

/// Tells the staff screens of a site that a thread changed (a new message, an assignment).
pub trait InboxNotifier: Send + Sync {
    fn thread_changed(&self, thread: &Thread);
}

/// Tells nobody (the command line, tests of the domain alone).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoInboxOpen;

impl InboxNotifier for NoInboxOpen {
    fn thread_changed(&self, _thread: &Thread) {}
}
