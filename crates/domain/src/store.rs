//! The storage port. `store` implements it on SQLite and PostgreSQL; the domain never sees SQL.
//!
//! Rules every implementation keeps:
//! - a method that writes and takes an `AuditEntry` writes both in one transaction, or neither;
//! - `record_audit` returns only once the entry is durable (implementations may group-commit);
//! - every lookup of tenant data is scoped by organization;
//! - a unique-constraint violation comes back as `DomainError::Conflict` with a message naming the field.

use async_trait::async_trait;

pub use crate::error::StoreResult;
pub use crate::identity::{ClientRecord, NewUser, RecoveryCodeUse, SessionRecord, TokenRecord};

/// Every area's storage port by name: `use domain::store::prelude::*` brings them all into scope
/// (needed only to call them on a concrete store type; on `dyn Store` they are callable as they are).
pub mod prelude {
    pub use super::Store;
    pub use crate::compliance::{AuditStore, ComplianceStore};
    pub use crate::identity::{AccountStore, IdentityStore, PatientStore, SessionStore};
    pub use crate::messaging::MessagingStore;
    pub use crate::notes::NoteStore;
    pub use crate::program::ProgramStore;
    pub use crate::scheduling::{AppointmentStore, AvailabilityStore, QueueStore, SlotStore};
    pub use crate::training::TrainingStore;
    pub use crate::visits::{CareTeamStore, VisitChatStore, VisitLinkStore, VisitStore};
}

/// Every storage port of the domain; `Store` is the one object front doors hold. It is the sum of
/// the areas' small ports (each declared in its area's `store.rs`) and adds only what concerns the
/// database as a whole.
#[async_trait]
pub trait Store:
    prelude::IdentityStore
    + prelude::PatientStore
    + prelude::SessionStore
    + prelude::AccountStore
    + prelude::AuditStore
    + prelude::ComplianceStore
    + prelude::AvailabilityStore
    + prelude::SlotStore
    + prelude::AppointmentStore
    + prelude::QueueStore
    + prelude::VisitStore
    + prelude::VisitLinkStore
    + prelude::CareTeamStore
    + prelude::VisitChatStore
    + prelude::NoteStore
    + prelude::MessagingStore
    + prelude::TrainingStore
    + prelude::ProgramStore
    + Send
    + Sync
{
    /// "sqlite" or "postgres", for logs and `/readyz`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;

    /// Copies the whole database to a file (SQLite: `VACUUM INTO`); refused where the backend has its own tools.
    async fn backup_to(&self, path: &str) -> StoreResult<()>;
}
