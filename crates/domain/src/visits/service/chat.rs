//! Saying something in a visit's chat: only those in the call may, and every line is kept with
//! the visit's record (audited in the same transaction) before the others see it.

use super::room::{Who, enter};
use crate::Ctx;
use crate::compliance::{AuditAction, AuditEntry};
use crate::error::{DomainError, DomainResult};
use crate::ids::{AppointmentId, ChatLineId};
use crate::visits::ChatLine;
use crate::visits::chat::MAX_CHAT_CHARS;

/// Keeps one line of the visit's chat from `who` and returns it, ready to send to the call.
pub async fn say(ctx: Ctx<'_>, who: &Who, id: AppointmentId, text: &str) -> DomainResult<ChatLine> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DomainError::invalid(
            "text",
            "a chat message cannot be empty",
        ));
    }
    if text.chars().count() > MAX_CHAT_CHARS {
        return Err(DomainError::invalid(
            "text",
            format!("chat messages are limited to {MAX_CHAT_CHARS} characters"),
        ));
    }
    let pass = enter(ctx, who, id).await?;
    if !pass.admitted {
        return Err(DomainError::Conflict {
            field: None,
            message: "chat opens once the clinician lets you in".into(),
        });
    }
    let line = ChatLine {
        id: ChatLineId::new(),
        org_id: pass.visit.org_id,
        appointment_id: id,
        at: ctx.clock.now(),
        role: pass.role,
        name: pass.name,
        text: text.to_string(),
    };
    let audit = AuditEntry::new(
        line.at,
        who.audit_actor(),
        AuditAction::ChatSend,
        "Encounter",
    )
    .org(line.org_id)
    .resource(id)
    .patient(pass.visit.patient_id);
    let audit = match who {
        Who::Member(actor) => audit.from_ip(actor.source_ip.clone()),
        Who::Guest(_) => audit,
    };
    ctx.store.add_chat_line(&line, audit).await?;
    Ok(line)
}
