//! The auditor's view: search the trail, and review emergency access.

use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::{
    AuditAction, AuditEntry, AuditNames, AuditRecord, AuditResults, AuditSearch, BreakGlassGrant,
};
use crate::error::{AllFields, DomainError, DomainResult};
use crate::identity::store::ClientRecord;
use crate::identity::{PatientQuery, User};
use crate::ids::{BreakGlassId, OrgId, PatientId};

/// Searches within the actor's organization, naming the people the records mention; the search
/// itself is audited (it reveals who saw whom, and the names of the patients shown).
pub async fn search(
    ctx: Ctx<'_>,
    actor: &Actor,
    search: AuditSearch,
    export: bool,
) -> DomainResult<AuditResults> {
    let org = actor.org()?;
    access::require(actor, Permission::ReadAudit)?;
    let mut people = People::new(ctx, org);
    let AuditSearch {
        mut query,
        who,
        patient,
    } = search;
    let (who_ids, patient_ids) = (
        people.actors_matching(who.as_deref()).await,
        people.patients_matching(patient.as_deref()).await,
    )
        .all_fields()?;
    query.actor_ids.extend(who_ids);
    query.patient_ids.extend(patient_ids);
    query.org_id = Some(org);
    query.limit = query.limit.clamp(1, if export { 100_000 } else { 500 });
    query.offset = query.offset.max(0);
    let records = ctx.store.search_audit(&query).await?;
    let names = people.names_in(&records).await?;
    let action = if export {
        AuditAction::AuditExport
    } else {
        AuditAction::AuditSearch
    };
    let mut audit = AuditEntry::new(ctx.clock.now(), actor.audit_actor(), action, "AuditEvent")
        .org(org)
        .from_ip(actor.source_ip.clone())
        .detail(format!(
            "{} records; names of {} patients shown",
            records.len(),
            names.patients.len()
        ));
    if let [one] = query.patient_ids.as_slice() {
        audit.patient_id = Some(*one);
    }
    ctx.store.record_audit(audit).await?;
    Ok(AuditResults { records, names })
}

/// The organization's users, clients and patients as the auditor's search needs them: each list
/// read at most once per search.
struct People<'a> {
    ctx: Ctx<'a>,
    org: OrgId,
    users: Option<Vec<User>>,
    clients: Option<Vec<ClientRecord>>,
}

/// Patients a name search may match: more means the auditor should type more of the name.
const PATIENT_MATCHES: i64 = 500;

impl<'a> People<'a> {
    fn new(ctx: Ctx<'a>, org: OrgId) -> Self {
        Self {
            ctx,
            org,
            users: None,
            clients: None,
        }
    }

    async fn users(&mut self) -> DomainResult<&[User]> {
        if self.users.is_none() {
            self.users = Some(self.ctx.store.list_users(self.org, None).await?);
        }
        Ok(self.users.as_deref().unwrap_or_default())
    }

    async fn clients(&mut self) -> DomainResult<&[ClientRecord]> {
        if self.clients.is_none() {
            self.clients = Some(self.ctx.store.list_clients(self.org).await?);
        }
        Ok(self.clients.as_deref().unwrap_or_default())
    }

    /// The ids of the users and clients `typed` names: an id as it is, or everyone whose name or
    /// email contains it.
    async fn actors_matching(&mut self, typed: Option<&str>) -> DomainResult<Vec<String>> {
        let Some(typed) = typed.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Vec::new());
        };
        if typed.parse::<uuid::Uuid>().is_ok() {
            return Ok(vec![typed.to_string()]);
        }
        let needle = typed.to_lowercase();
        let mut ids: Vec<String> = self
            .users()
            .await?
            .iter()
            .filter(|u| {
                u.display_name.to_lowercase().contains(&needle)
                    || u.email.as_str().to_lowercase().contains(&needle)
            })
            .map(|u| u.id.to_string())
            .collect();
        ids.extend(
            self.clients()
                .await?
                .iter()
                .filter(|c| c.name.to_lowercase().contains(&needle))
                .map(|c| c.id.to_string()),
        );
        if ids.is_empty() {
            return Err(DomainError::invalid(
                "user",
                format!(
                    "no user or client of your organization has '{typed}' in their name or email"
                ),
            ));
        }
        Ok(ids)
    }

    /// The patients `typed` names: an id as it is, or every patient each of whose words starts
    /// their given name, family name or MRN ("ana lop" finds Ana Lopez).
    async fn patients_matching(&mut self, typed: Option<&str>) -> DomainResult<Vec<PatientId>> {
        let Some(typed) = typed.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Vec::new());
        };
        if let Ok(id) = typed.parse::<PatientId>() {
            return Ok(vec![id]);
        }
        let ids: Vec<PatientId> = crate::identity::service::patients::matching(
            self.ctx,
            self.org,
            typed,
            PATIENT_MATCHES,
        )
        .await?
        .iter()
        .map(|p| p.id)
        .collect();
        if ids.is_empty() {
            return Err(DomainError::invalid(
                "patient",
                format!("no patient's name or MRN starts with '{typed}'"),
            ));
        }
        Ok(ids)
    }

    /// The names of everyone the records mention.
    async fn names_in(&mut self, records: &[AuditRecord]) -> DomainResult<AuditNames> {
        let mut names = AuditNames::default();
        if records.iter().any(|r| r.entry.actor.kind() == "user") {
            for u in self.users().await? {
                names
                    .actors
                    .insert(u.id.to_string(), u.display_name.clone());
            }
        }
        if records.iter().any(|r| r.entry.actor.kind() == "client") {
            for c in self.clients().await? {
                names.actors.insert(c.id.to_string(), c.name.clone());
            }
        }
        let mut patients: Vec<PatientId> =
            records.iter().filter_map(|r| r.entry.patient_id).collect();
        patients.sort_unstable();
        patients.dedup();
        self.name_patients(&patients, &mut names).await?;
        Ok(names)
    }

    /// Adds the names of `patients` (of this organization) to `names`.
    async fn name_patients(
        &self,
        patients: &[PatientId],
        names: &mut AuditNames,
    ) -> DomainResult<()> {
        for chunk in patients.chunks(PATIENT_MATCHES as usize) {
            let query = PatientQuery {
                ids: Some(chunk.to_vec()),
                limit: chunk.len() as i64,
                ..PatientQuery::default()
            };
            for p in self.ctx.store.list_patients(self.org, &query).await? {
                names.patients.insert(p.id, p.full_name());
            }
        }
        Ok(())
    }
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

/// The names of the people emergency access grants name (who used it, whose record), for the
/// reviewer's page; showing patients' names is recorded in the audit trail.
pub async fn break_glass_names(
    ctx: Ctx<'_>,
    actor: &Actor,
    grants: &[BreakGlassGrant],
) -> DomainResult<AuditNames> {
    let org = actor.org()?;
    access::require(actor, Permission::ReviewBreakGlass)?;
    let mut names = AuditNames::default();
    if grants.is_empty() {
        return Ok(names);
    }
    let mut people = People::new(ctx, org);
    for u in people.users().await? {
        names
            .actors
            .insert(u.id.to_string(), u.display_name.clone());
    }
    let mut patients: Vec<PatientId> = grants.iter().map(|g| g.patient_id).collect();
    patients.sort_unstable();
    patients.dedup();
    people.name_patients(&patients, &mut names).await?;
    let audit = AuditEntry::new(
        ctx.clock.now(),
        actor.audit_actor(),
        AuditAction::PatientList,
        "BreakGlass",
    )
    .org(org)
    .from_ip(actor.source_ip.clone())
    .detail(format!(
        "names of {} patients shown for emergency access review",
        names.patients.len()
    ));
    ctx.store.record_audit(audit).await?;
    Ok(names)
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
