//! A visit's chat: what the people in the call type to each other, kept with the visit's record
//! (the consent tells the patient so). The store seals the text at rest.

use async_trait::async_trait;
use jiff::Timestamp;

use super::ParticipantRole;
use crate::compliance::AuditEntry;
use crate::ids::{AppointmentId, ChatLineId, OrgId};
use crate::store::StoreResult;

/// Characters one line may hold.
pub const MAX_CHAT_CHARS: usize = 2000;

/// One line of a visit's chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    pub id: ChatLineId,
    pub org_id: OrgId,
    pub appointment_id: AppointmentId,
    pub at: Timestamp,
    pub role: ParticipantRole,
    /// The sender as the others saw them in the call.
    pub name: String,
    pub text: String,
}

#[async_trait]
pub trait VisitChatStore: Send + Sync {
    /// Keeps one line, with its audit entry in the same transaction.
    async fn add_chat_line(&self, line: &ChatLine, audit: AuditEntry) -> StoreResult<()>;
    /// The visit's chat, oldest first.
    async fn visit_chat(
        &self,
        org: OrgId,
        appointment: AppointmentId,
    ) -> StoreResult<Vec<ChatLine>>;
}
