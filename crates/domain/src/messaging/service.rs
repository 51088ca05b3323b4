//! Use cases of messaging: start a thread, reply (or a staff-only note), open a thread (read
//! receipts), the site's inbox with its counts, a patient's threads, close, reopen, assign, and
//! download an attachment. Every read is audited like a patient read.

use jiff::tz::TimeZone;

use super::model::{Attachment, AttachmentMeta, Message, Thread, ThreadEvent, ThreadStatus, next};
use super::rules;
use super::store::{InboxCounts, InboxQuery, ThreadChange};
use crate::Ctx;
use crate::access::{Actor, PatientAccess, Permission};
use crate::compliance::{AuditAction, AuditEntry};
use crate::error::{DomainError, DomainResult};
use crate::identity::service::patients::patient_access;
use crate::identity::{Patient, Role};
use crate::ids::{AttachmentId, MessageId, OrgId, PatientId, SiteId, ThreadId, UserId};

/// A file as uploaded: its name and bytes, not yet checked.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// A new thread, as a front door sends it.
#[derive(Debug, Clone, Default)]
pub struct NewThread {
    /// Staff only: whom the thread is with (a patient writes about themself).
    pub patient_id: Option<String>,
    pub site_id: String,
    /// Blank: the site's care team.
    pub clinician_id: Option<String>,
    pub subject: String,
    pub body: String,
    pub files: Vec<Upload>,
}

/// A reply, as a front door sends it.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub body: String,
    /// Staff only: a note the patient never sees.
    pub staff_only: bool,
    pub files: Vec<Upload>,
}

/// A thread with what the actor may see of it.
#[derive(Debug, Clone)]
pub struct ThreadView {
    pub thread: Thread,
    pub messages: Vec<Message>,
    pub patient: Patient,
    pub emergency: bool,
}

/// A staff action on a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAction {
    Close,
    Reopen,
    Assign(Option<UserId>),
}

fn not_found() -> DomainError {
    DomainError::NotFound { resource: "thread" }
}

fn entry(ctx: Ctx<'_>, actor: &Actor, action: AuditAction, t: &Thread) -> AuditEntry {
    AuditEntry::new(ctx.clock.now(), actor.audit_actor(), action, "Thread")
        .org(t.org_id)
        .resource(t.id)
        .patient(t.patient_id)
        .from_ip(actor.source_ip.clone())
}

fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> DomainResult<T> {
    raw.trim()
        .parse()
        .map_err(|_| DomainError::invalid(field, "is not a valid id"))
}

/// Staff who work at the site, organization-wide roles, or the clinician a thread is for.
fn staff_reaches(actor: &Actor, site: SiteId, clinician: Option<UserId>) -> bool {
    actor.role == Some(Role::OrgAdmin)
        || actor.site_ids.contains(&site)
        || (clinician.is_some() && clinician == actor.user_id())
}

async fn site_zone(ctx: Ctx<'_>, org: OrgId, site: SiteId) -> DomainResult<TimeZone> {
    let site = ctx
        .store
        .get_site(org, site)
        .await?
        .ok_or_else(|| DomainError::invalid("site_id", "is not a site of this organization"))?;
    Ok(TimeZone::get(site.time_zone.as_str()).unwrap_or(TimeZone::UTC))
}

fn checked_files(
    ctx: Ctx<'_>,
    actor: &Actor,
    thread: &Thread,
    message: MessageId,
    uploads: &[Upload],
) -> DomainResult<(Vec<AttachmentMeta>, Vec<Attachment>)> {
    if uploads.len() > rules::MAX_FILES {
        return Err(DomainError::invalid(
            "files",
            format!("at most {} files on one message", rules::MAX_FILES),
        ));
    }
    let mut metas = Vec::with_capacity(uploads.len());
    let mut files = Vec::with_capacity(uploads.len());
    for (i, u) in uploads.iter().enumerate() {
        let meta = rules::check_attachment(
            &format!("files[{i}]"),
            &u.file_name,
            &u.bytes,
            ctx.clinical.attachment_max_bytes,
        )?;
        files.push(Attachment {
            meta: meta.clone(),
            org_id: thread.org_id,
            patient_id: thread.patient_id,
            owner_kind: "message",
            owner_id: message.to_string(),
            uploaded_by: actor.user_id().unwrap_or_default(),
            uploaded_at: ctx.clock.now(),
            bytes: u.bytes.clone(),
        });
        metas.push(meta);
    }
    Ok((metas, files))
}

/// Opens the patient of a thread for staff: the site (or the thread's clinician) and the
/// per-record rule.
async fn staff_access(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    patient: PatientId,
    site: SiteId,
    clinician: Option<UserId>,
    permission: Permission,
) -> DomainResult<(Patient, PatientAccess)> {
    let patient = ctx
        .store
        .get_patient(org, patient)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "patient",
        })?;
    let how = patient_access(ctx, actor, &patient, permission).await?;
    if !staff_reaches(actor, site, clinician) && how != PatientAccess::BreakGlass {
        return Err(DomainError::Forbidden {
            action: "read another site's messages",
        });
    }
    Ok((patient, how))
}

/// Starts a thread: a patient writing to their care team, or staff writing to a patient.
pub async fn start(ctx: Ctx<'_>, actor: &Actor, input: &NewThread) -> DomainResult<Thread> {
    let org = actor.org()?;
    let author = actor.user_id().ok_or(DomainError::Forbidden {
        action: "send messages",
    })?;
    let site: SiteId = parse_id("site_id", &input.site_id)?;
    let clinician: Option<UserId> = match input.clinician_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(parse_id("clinician_id", raw)?),
    };
    let from_patient = actor.role == Some(Role::Patient);
    let patient_id = if from_patient {
        let own = actor.own_patient.ok_or(DomainError::Forbidden {
            action: "send messages without a patient record",
        })?;
        let patient = ctx
            .store
            .get_patient(org, own)
            .await?
            .ok_or_else(not_found)?;
        let mut sites = ctx.store.patient_visit_sites(org, own).await?;
        sites.push(patient.primary_site_id);
        let seen = ctx.store.clinicians_seen(org, own).await?;
        rules::check_patient_recipient(site, clinician, &sites, &seen)?;
        own
    } else {
        let raw = input.patient_id.as_deref().unwrap_or_default();
        let patient: PatientId = parse_id("patient_id", raw)?;
        staff_access(
            ctx,
            actor,
            org,
            patient,
            site,
            clinician,
            Permission::WritePatient,
        )
        .await?;
        patient
    };
    let subject = rules::check_subject(&input.subject)?;
    let body = rules::check_body(&input.body, !input.files.is_empty())?;
    let now = ctx.clock.now();
    let tz = site_zone(ctx, org, site).await?;
    let mut thread = Thread {
        id: ThreadId::new(),
        org_id: org,
        site_id: site,
        patient_id,
        clinician_id: clinician,
        subject,
        status: if from_patient {
            ThreadStatus::Open
        } else {
            ThreadStatus::WaitingOnPatient
        },
        assigned_to: None,
        created_by: author,
        created_at: now,
        last_message_at: now,
        reply_due_at: from_patient
            .then(|| rules::reply_due(now, &tz, ctx.clinical.reply_business_days)),
        staff_unread: i64::from(from_patient),
        patient_unread: i64::from(!from_patient),
        message_count: 1,
    };
    if !from_patient {
        thread.assigned_to = Some(author);
    }
    let message_id = MessageId::new();
    let (attachments, files) = checked_files(ctx, actor, &thread, message_id, &input.files)?;
    let first = Message {
        id: message_id,
        thread_id: thread.id,
        org_id: org,
        author_id: author,
        from_patient,
        staff_only: false,
        body,
        sent_at: now,
        read_at: None,
        read_by: None,
        attachments,
    };
    let audit = entry(ctx, actor, AuditAction::MessageSend, &thread).detail("thread started");
    ctx.store
        .create_thread(&thread, &first, &files, audit)
        .await?;
    ctx.inbox.thread_changed(&thread);
    Ok(thread)
}

/// Loads a thread the actor may open; for a patient only their own.
async fn load(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: ThreadId,
    permission: Permission,
) -> DomainResult<(Thread, Patient, PatientAccess)> {
    let org = actor.org()?;
    let thread = ctx.store.get_thread(org, id).await?.ok_or_else(not_found)?;
    if actor.role == Some(Role::Patient) {
        if actor.own_patient != Some(thread.patient_id) {
            return Err(not_found());
        }
        let patient = ctx
            .store
            .get_patient(org, thread.patient_id)
            .await?
            .ok_or_else(not_found)?;
        return Ok((thread, patient, PatientAccess::Normal));
    }
    let (patient, how) = staff_access(
        ctx,
        actor,
        org,
        thread.patient_id,
        thread.site_id,
        thread.clinician_id,
        permission,
    )
    .await?;
    Ok((thread, patient, how))
}

/// Replies on a thread (or adds a staff-only note).
pub async fn reply(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: ThreadId,
    input: &Reply,
) -> DomainResult<Message> {
    let (thread, _, how) = load(ctx, actor, id, Permission::WritePatient).await?;
    let author = actor.user_id().ok_or(DomainError::Forbidden {
        action: "send messages",
    })?;
    let from_patient = actor.role == Some(Role::Patient);
    if from_patient && input.staff_only {
        return Err(DomainError::invalid(
            "staff_only",
            "patients cannot write staff-only notes",
        ));
    }
    let event = match (from_patient, input.staff_only) {
        (true, _) => ThreadEvent::PatientWrites,
        (false, true) => ThreadEvent::StaffNote,
        (false, false) => ThreadEvent::StaffReplies,
    };
    let to = next(thread.status, event)?;
    let body = rules::check_body(&input.body, !input.files.is_empty())?;
    let now = ctx.clock.now();
    let reply_due_at = match event {
        // The oldest unanswered message sets the target.
        ThreadEvent::PatientWrites => match thread.reply_due_at {
            Some(due) => Some(due),
            None => {
                let tz = site_zone(ctx, thread.org_id, thread.site_id).await?;
                Some(rules::reply_due(now, &tz, ctx.clinical.reply_business_days))
            }
        },
        ThreadEvent::StaffReplies => None,
        _ => thread.reply_due_at,
    };
    let message_id = MessageId::new();
    let (attachments, files) = checked_files(ctx, actor, &thread, message_id, &input.files)?;
    let message = Message {
        id: message_id,
        thread_id: thread.id,
        org_id: thread.org_id,
        author_id: author,
        from_patient,
        staff_only: input.staff_only,
        body,
        sent_at: now,
        read_at: None,
        read_by: None,
        attachments,
    };
    let change = ThreadChange {
        org_id: thread.org_id,
        thread_id: thread.id,
        from: thread.status,
        to,
        // Whoever answers first takes an unassigned thread.
        assigned_to: thread.assigned_to.or((!from_patient).then_some(author)),
        reply_due_at,
        last_message_at: now,
    };
    let audit = entry(ctx, actor, AuditAction::MessageSend, &thread)
        .flagged(how == PatientAccess::BreakGlass)
        .detail(if input.staff_only {
            "staff note"
        } else {
            "message"
        });
    if !ctx
        .store
        .add_message(&message, &files, &change, audit)
        .await?
    {
        return Err(DomainError::refused(
            "thread_changed",
            "the thread changed while you were writing; reload it and send again",
        ));
    }
    if let Some(updated) = ctx.store.get_thread(thread.org_id, thread.id).await? {
        ctx.inbox.thread_changed(&updated);
    }
    Ok(message)
}

/// Opens a thread: its messages (staff notes for staff only), marks them read; audited.
pub async fn open(ctx: Ctx<'_>, actor: &Actor, id: ThreadId) -> DomainResult<ThreadView> {
    let (mut thread, patient, how) = load(ctx, actor, id, Permission::ReadPatient).await?;
    let by_patient = actor.role == Some(Role::Patient);
    let mut messages = ctx
        .store
        .thread_messages(thread.org_id, id, !by_patient)
        .await?;
    let emergency = how == PatientAccess::BreakGlass;
    ctx.store
        .record_audit(entry(ctx, actor, AuditAction::ThreadRead, &thread).flagged(emergency))
        .await?;
    let unread = if by_patient {
        thread.patient_unread
    } else {
        thread.staff_unread
    };
    // Someone reading through emergency access leaves no read receipt: they are not the team.
    if unread > 0
        && !emergency
        && let Some(reader) = actor.user_id()
    {
        let now = ctx.clock.now();
        ctx.store
            .mark_read(thread.org_id, id, by_patient, reader, now)
            .await?;
        for m in messages
            .iter_mut()
            .filter(|m| m.from_patient != by_patient && m.read_at.is_none() && !m.staff_only)
        {
            m.read_at = Some(now);
            m.read_by = Some(reader);
        }
        if by_patient {
            thread.patient_unread = 0;
        } else {
            thread.staff_unread = 0;
            ctx.inbox.thread_changed(&thread);
        }
    }
    Ok(ThreadView {
        thread,
        messages,
        patient,
        emergency,
    })
}

/// A site's inbox page and its counts; audited as a list read.
pub async fn inbox(
    ctx: Ctx<'_>,
    actor: &Actor,
    mut query: InboxQuery,
) -> DomainResult<(Vec<Thread>, InboxCounts)> {
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
    let audit = AuditEntry::new(now, actor.audit_actor(), AuditAction::ThreadList, "Thread")
        .org(org)
        .resource(site)
        .from_ip(actor.source_ip.clone())
        .detail(format!("{} threads", threads.len()));
    ctx.store.record_audit(audit).await?;
    Ok((threads, counts))
}

/// The signed-in patient's threads, newest activity first.
pub async fn my_threads(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<Thread>> {
    let (Some(Role::Patient), Some(patient)) = (actor.role, actor.own_patient) else {
        return Err(DomainError::Forbidden {
            action: "read your own messages",
        });
    };
    let org = actor.org()?;
    let threads = ctx.store.patient_threads(org, patient).await?;
    let audit = AuditEntry::new(
        ctx.clock.now(),
        actor.audit_actor(),
        AuditAction::ThreadList,
        "Thread",
    )
    .org(org)
    .patient(patient)
    .from_ip(actor.source_ip.clone())
    .detail(format!("{} threads", threads.len()));
    ctx.store.record_audit(audit).await?;
    Ok(threads)
}

/// Close, reopen or assign a thread (staff).
pub async fn act(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: ThreadId,
    action: ThreadAction,
) -> DomainResult<Thread> {
    if actor.role == Some(Role::Patient) {
        return Err(not_found());
    }
    let (thread, _, _) = load(ctx, actor, id, Permission::WritePatient).await?;
    let mut change = ThreadChange {
        org_id: thread.org_id,
        thread_id: thread.id,
        from: thread.status,
        to: thread.status,
        assigned_to: thread.assigned_to,
        reply_due_at: thread.reply_due_at,
        last_message_at: thread.last_message_at,
    };
    let detail = match action {
        ThreadAction::Close => {
            change.to = next(thread.status, ThreadEvent::Close)?;
            // A closed thread waits for nobody.
            change.reply_due_at = None;
            "closed".to_string()
        }
        ThreadAction::Reopen => {
            change.to = next(thread.status, ThreadEvent::Reopen)?;
            "reopened".to_string()
        }
        ThreadAction::Assign(to) => {
            if let Some(user) = to {
                let person = ctx.store.get_user(thread.org_id, user).await?;
                let works_there = person.is_some_and(|u| {
                    u.role != Role::Patient
                        && (u.site_ids.contains(&thread.site_id) || u.role == Role::OrgAdmin)
                });
                if !works_there {
                    return Err(DomainError::invalid(
                        "assigned_to",
                        "is not a staff member of the thread's site",
                    ));
                }
            }
            change.assigned_to = to;
            "assigned".to_string()
        }
    };
    let audit = entry(ctx, actor, AuditAction::ThreadChange, &thread).detail(detail);
    if !ctx.store.change_thread(&change, audit).await? {
        return Err(DomainError::refused(
            "thread_changed",
            "the thread changed meanwhile; reload it",
        ));
    }
    let updated = ctx
        .store
        .get_thread(thread.org_id, id)
        .await?
        .ok_or_else(not_found)?;
    ctx.inbox.thread_changed(&updated);
    Ok(updated)
}

/// One attachment's bytes, for someone who may open its thread; audited.
pub async fn attachment(ctx: Ctx<'_>, actor: &Actor, id: AttachmentId) -> DomainResult<Attachment> {
    let org = actor.org()?;
    let file = ctx
        .store
        .get_attachment(org, id)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "attachment",
        })?;
    // Reached through its message's thread: whoever may open the thread may open the file.
    let message: MessageId = parse_id("id", &file.owner_id)?;
    let thread = ctx
        .store
        .thread_of_message(org, message)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "attachment",
        })?;
    let (thread, _, how) = load(ctx, actor, thread, Permission::ReadPatient).await?;
    if actor.role == Some(Role::Patient) {
        let visible = ctx
            .store
            .thread_messages(org, thread.id, false)
            .await?
            .iter()
            .any(|m| m.id == message);
        if !visible {
            return Err(DomainError::NotFound {
                resource: "attachment",
            });
        }
    }
    let audit = AuditEntry::new(
        ctx.clock.now(),
        actor.audit_actor(),
        AuditAction::AttachmentRead,
        "Attachment",
    )
    .org(org)
    .resource(id)
    .patient(file.patient_id)
    .from_ip(actor.source_ip.clone())
    .flagged(how == PatientAccess::BreakGlass);
    ctx.store.record_audit(audit).await?;
    Ok(file)
}
