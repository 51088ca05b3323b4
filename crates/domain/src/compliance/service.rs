//! The auditor's view: search the trail, and review emergency access.

use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::{AuditAction, AuditEntry, AuditQuery, AuditRecord, BreakGlassGrant};
use crate::error::DomainResult;
use crate::ids::BreakGlassId;

/// Searches within the actor's organization; the search itself is audited (it reveals who saw whom).
pub async fn search(
    ctx: Ctx<'_>,
    actor: &Actor,
    mut query: AuditQuery,
    export: bool,
) -> DomainResult<Vec<AuditRecord>> {
    let org = actor.org()?;
    access::require(actor, Permission::ReadAudit)?;
    query.org_id = Some(org);
    query.limit = query.limit.clamp(1, if export { 100_000 } else { 500 });
    query.offset = query.offset.max(0);
    let records = ctx.store.search_audit(&query).await?;
    let action = if export {
        AuditAction::AuditExport
    } else {
        AuditAction::AuditSearch
    };
    let mut audit = AuditEntry::new(ctx.clock.now(), actor.audit_actor(), action, "AuditEvent")
        .org(org)
        .from_ip(actor.source_ip.clone())
        .detail(format!("{} records", records.len()));
    audit.patient_id = query.patient_id;
    ctx.store.record_audit(audit).await?;
    Ok(records)
}

pub async fn list_break_glass(
    ctx: Ctx<'_>,
    actor: &Actor,
    unreviewed_only: bool,
) -> DomainResult<Vec<BreakGlassGrant>> {
    let org = actor.org()?;
    access::require(actor, Permission::ReviewBreakGlass)?;
    ctx.store.list_break_glass(org, unreviewed_only).await
}

/// Marks an emergency access as reviewed, with the reviewer's finding ("confirmed with the
/// ED rota: covering Dr. Baker"), which goes into the audit trail with the review.
pub async fn review_break_glass(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: BreakGlassId,
    comment: &str,
) -> DomainResult<()> {
    let org = actor.org()?;
    access::require(actor, Permission::ReviewBreakGlass)?;
    let comment = crate::identity::required_text("comment", comment, 1000)?;
    let reviewer = actor
        .user_id()
        .ok_or(crate::error::DomainError::Forbidden {
            action: "review emergency access",
        })?;
    let now = ctx.clock.now();
    let audit = AuditEntry::new(
        now,
        actor.audit_actor(),
        AuditAction::BreakGlassReviewed,
        "BreakGlass",
    )
    .org(org)
    .resource(id)
    .detail(format!("reviewed: {comment}"))
    .from_ip(actor.source_ip.clone());
    ctx.store
        .review_break_glass(org, id, reviewer, now, audit)
        .await
}

/// What a full walk of the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub checked: u64,
    pub head_seq: i64,
}

/// Walks the whole audit chain in pages and names the first record that breaks it.
pub async fn verify_chain(
    store: &dyn crate::store::Store,
) -> DomainResult<Result<ChainReport, crate::compliance::ChainBreak>> {
    let mut verifier = crate::compliance::ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.audit_page(after, 5_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for record in &page {
            if let Err(broken) = verifier.check(record) {
                return Ok(Err(broken));
            }
        }
    }
    let (head_seq, head_hash) = store.audit_head().await?;
    Ok(verifier.finish(head_seq, &head_hash).map(|()| ChainReport {
        checked: verifier.checked,
        head_seq,
    }))
}
