//! What surrounds the threads: whom a patient may write to, the inbox page with the names it
//! shows, and the emails telling a patient that a reply waits in the portal (never what it says).

use std::collections::HashMap;

use super::staff_reaches;
use crate::Ctx;
use crate::access::{Actor, Permission};
use crate::compliance::{AuditAction, AuditActor, AuditEntry};
use crate::error::{DomainError, DomainResult};
use crate::identity::{Patient, Role, Site, User};
use crate::ids::{PatientId, UserId};
use crate::messaging::model::Thread;
use crate::messaging::store::{InboxCounts, InboxQuery};

/// Where a patient may write: the care teams of the sites that care for them, and the
/// clinicians who saw them.
#[derive(Debug, Clone, Default)]
pub struct Recipients {
    pub sites: Vec<Site>,
    /// `(clinician, their name, the site they work at first)`.
    pub clinicians: Vec<(UserId, String)>,
}

/// The signed-in patient's possible recipients (not patient data of anyone else: not audited).
pub async fn recipients(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Recipients> {
    let (Some(Role::Patient), Some(own)) = (actor.role, actor.own_patient) else {
        return Err(DomainError::Forbidden {
            action: "write to a care team as a patient",
        });
    };
    let org = actor.org()?;
    let patient = ctx
        .store
        .get_patient(org, own)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "patient",
        })?;
    let mut site_ids = ctx.store.patient_visit_sites(org, own).await?;
    site_ids.insert(0, patient.primary_site_id);
    let mut sites = Vec::new();
    for id in site_ids {
        if sites.iter().any(|s: &Site| s.id == id) {
            continue;
        }
        if let Some(site) = ctx.store.get_site(org, id).await? {
            sites.push(site);
        }
    }
    let mut clinicians = Vec::new();
    for id in ctx.store.clinicians_seen(org, own).await? {
        if let Some(user) = ctx.store.get_user(org, id).await?
            && user.active
        {
            clinicians.push((user.id, user.display_name));
        }
    }
    clinicians.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(Recipients { sites, clinicians })
}

/// One page of a site's inbox: the threads, the counts, and the people they name.
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    pub threads: Vec<Thread>,
    pub counts: InboxCounts,
    pub patients: HashMap<PatientId, Patient>,
    /// Staff named on the page (assigned), and the site's staff to assign to.
    pub staff: Vec<User>,
}

impl Inbox {
    pub fn patient_name(&self, id: PatientId) -> String {
        self.patients
            .get(&id)
            .map_or_else(|| "A patient".to_string(), Patient::full_name)
    }

    pub fn staff_name(&self, id: UserId) -> String {
        self.staff
            .iter()
            .find(|u| u.id == id)
            .map_or_else(|| "A colleague".to_string(), |u| u.display_name.clone())
    }
}

/// A site's inbox page and its counts, with the patients' names; audited as one list read.
pub async fn inbox(ctx: Ctx<'_>, actor: &Actor, mut query: InboxQuery) -> DomainResult<Inbox> {
    let org = actor.org()?;
    crate::access::require(actor, Permission::ListPatients)?;
    let site = query
        .site_id
        .ok_or_else(|| DomainError::invalid("site_id", "choose a site"))?;
    if !staff_reaches(actor, site, None) {
        return Err(DomainError::Forbidden {
            action: "read another site's messages",
        });
    }
    query.limit = query.limit.clamp(1, 100);
    let now = ctx.clock.now();
    let threads = ctx.store.inbox(org, &query).await?;
    let counts = ctx.store.inbox_counts(org, site, now).await?;
    let mut patients = HashMap::new();
    for t in &threads {
        if patients.contains_key(&t.patient_id) {
            continue;
        }
        if let Some(p) = ctx.store.get_patient(org, t.patient_id).await? {
            patients.insert(p.id, p);
        }
    }
    let audit = AuditEntry::new(now, actor.audit_actor(), AuditAction::ThreadList, "Thread")
        .org(org)
        .resource(site)
        .from_ip(actor.source_ip.clone())
        .detail(format!(
            "{} threads, {} patients named",
            threads.len(),
            patients.len()
        ));
    ctx.store.record_audit(audit).await?;
    let staff = ctx
        .store
        .list_users(org, None)
        .await?
        .into_iter()
        .filter(|u| {
            u.active
                && u.role != Role::Patient
                && (u.site_ids.contains(&site) || u.role == Role::OrgAdmin)
        })
        .collect();
    Ok(Inbox {
        threads,
        counts,
        patients,
        staff,
    })
}

/// A thread with a reply the patient has not read and has not been emailed about.
#[derive(Debug, Clone)]
pub struct ReplyNotice {
    pub thread: Thread,
    pub patient: Patient,
}

/// The replies to tell patients about (the notice job); at most `limit`.
pub async fn pending_reply_notices(ctx: Ctx<'_>, limit: i64) -> DomainResult<Vec<ReplyNotice>> {
    let threads = ctx.store.threads_to_notify(limit).await?;
    let mut out = Vec::with_capacity(threads.len());
    for thread in threads {
        if let Some(patient) = ctx
            .store
            .get_patient(thread.org_id, thread.patient_id)
            .await?
        {
            out.push(ReplyNotice { thread, patient });
        }
    }
    Ok(out)
}

/// Records that the patient was told (or could not be: no email address), audited.
pub async fn reply_notified(ctx: Ctx<'_>, notice: &ReplyNotice, emailed: bool) -> DomainResult<()> {
    let t = &notice.thread;
    let audit = AuditEntry::new(
        ctx.clock.now(),
        AuditActor::Operator,
        AuditAction::ThreadChange,
        "Thread",
    )
    .org(t.org_id)
    .resource(t.id)
    .patient(t.patient_id)
    .detail(if emailed {
        "patient emailed that a reply waits"
    } else {
        "reply notice: no email address"
    });
    ctx.store
        .mark_thread_notified(t.org_id, t.id, ctx.clock.now(), audit)
        .await
}
