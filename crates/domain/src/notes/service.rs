//! Use cases of notes: start, read, save a draft, sign, add a signed addendum, the unsigned
//! list, and the patient's after-visit summaries. Every read is audited like a patient read.

use super::model::{Addendum, Note, NoteEvent, NoteSections, NoteStatus, Signature, next};
use super::rules::{self, NoteInput, VisitRecord};
use super::summary::{AfterVisitSummary, summarize};
use crate::Ctx;
use crate::access::{Actor, PatientAccess, Permission};
use crate::compliance::{AuditAction, AuditEntry, Outcome};
use crate::error::{DomainError, DomainResult};
use crate::identity::service::patients::patient_access;
use crate::identity::{Patient, Role};
use crate::ids::{AddendumId, AppointmentId, NoteId, OrgId};
use crate::scheduling::Appointment;

/// A note with its addenda, and what the actor may do with it.
#[derive(Debug, Clone)]
pub struct NoteView {
    pub note: Note,
    pub addenda: Vec<Addendum>,
    /// The stored digest still matches the content (shown beside the signature).
    pub signature_matches: bool,
    pub can_edit: bool,
    pub can_sign: bool,
    /// Opened through emergency access.
    pub emergency: bool,
}

fn entry(ctx: Ctx<'_>, actor: &Actor, action: AuditAction, note: &Note) -> AuditEntry {
    AuditEntry::new(ctx.clock.now(), actor.audit_actor(), action, "Note")
        .org(note.org_id)
        .resource(note.id)
        .patient(note.patient_id)
        .from_ip(actor.source_ip.clone())
}

fn not_found() -> DomainError {
    DomainError::NotFound { resource: "note" }
}

/// The appointment, its patient, and how the actor may open the patient's record; a refusal
/// is audited before it returns.
async fn open_appointment(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    permission: Permission,
) -> DomainResult<(Appointment, Patient, PatientAccess)> {
    let org = actor.org()?;
    let appointment = ctx
        .store
        .get_appointment(org, id)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "appointment",
        })?;
    let patient = ctx
        .store
        .get_patient(org, appointment.patient_id)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "patient",
        })?;
    match patient_access(ctx, actor, &patient, permission).await {
        Ok(how) => Ok((appointment, patient, how)),
        Err(err @ DomainError::NotFound { .. }) => Err(err),
        Err(err) => {
            let denied = AuditEntry::new(
                ctx.clock.now(),
                actor.audit_actor(),
                AuditAction::NoteRead,
                "Note",
            )
            .org(org)
            .resource(id)
            .patient(patient.id)
            .from_ip(actor.source_ip.clone())
            .outcome(Outcome::Denied);
            ctx.store.record_audit(denied).await?;
            Err(err)
        }
    }
}

/// A patient reads only their own signed notes, through the summary; staff use the record.
fn staff_only(actor: &Actor) -> DomainResult<()> {
    if actor.role == Some(Role::Patient) {
        Err(not_found())
    } else {
        Ok(())
    }
}

/// The telehealth facts of an appointment, from its visit record.
async fn facts(
    ctx: Ctx<'_>,
    appointment: &Appointment,
) -> DomainResult<super::model::TelehealthFacts> {
    let org = appointment.org_id;
    let visit = ctx.store.get_visit(org, appointment.id).await?;
    let (log, guests) = match &visit {
        Some(_) => (
            ctx.store.visit_log(org, appointment.id).await?,
            ctx.store.list_invites(org, appointment.id).await?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let site = ctx
        .store
        .get_site(org, appointment.site_id)
        .await?
        .ok_or(DomainError::NotFound { resource: "site" })?;
    let consents = ctx
        .store
        .patient_consents(org, appointment.patient_id)
        .await?;
    let consent = consents
        .iter()
        .filter(|c| c.given_at <= appointment.end_at)
        .max_by_key(|c| c.given_at);
    Ok(rules::facts_from(VisitRecord {
        appointment,
        visit: visit.as_ref(),
        log: &log,
        guests: &guests,
        site: &site,
        consent,
    }))
}

async fn view(
    ctx: Ctx<'_>,
    actor: &Actor,
    note: Note,
    how: PatientAccess,
) -> DomainResult<NoteView> {
    let addenda = ctx.store.addenda(note.org_id, note.id).await?;
    let can_edit = note.status == NoteStatus::Draft && rules::check_can_draft(actor.role).is_ok();
    let can_sign = rules::check_signer(&note, actor.user_id()).is_ok();
    let emergency = how == PatientAccess::BreakGlass;
    ctx.store
        .record_audit(entry(ctx, actor, AuditAction::NoteRead, &note).flagged(emergency))
        .await?;
    Ok(NoteView {
        signature_matches: rules::signature_matches(&note),
        note,
        addenda,
        can_edit,
        can_sign,
        emergency,
    })
}

/// Starts the note of an appointment (or returns the one it has): a draft from the service
/// line's template, with the telehealth facts of its visit.
pub async fn start(ctx: Ctx<'_>, actor: &Actor, id: AppointmentId) -> DomainResult<Note> {
    staff_only(actor)?;
    rules::check_can_draft(actor.role)?;
    let (appointment, _, _) = open_appointment(ctx, actor, id, Permission::WritePatient).await?;
    if let Some(existing) = ctx
        .store
        .note_for_appointment(appointment.org_id, id)
        .await?
    {
        return Ok(existing);
    }
    let user = actor.user_id().ok_or(DomainError::Forbidden {
        action: "write visit notes",
    })?;
    let now = ctx.clock.now();
    let note = Note {
        id: NoteId::new(),
        org_id: appointment.org_id,
        appointment_id: appointment.id,
        patient_id: appointment.patient_id,
        clinician_id: appointment.clinician_id,
        site_id: appointment.site_id,
        template: super::model::NoteTemplate::for_line(appointment.service_line),
        status: NoteStatus::Draft,
        facts: facts(ctx, &appointment).await?,
        sections: NoteSections::default(),
        diagnoses: Vec::new(),
        version: 1,
        created_by: user,
        created_at: now,
        updated_by: user,
        updated_at: now,
        signature: None,
        summary_notified_at: None,
        summary_read_at: None,
    };
    let audit = entry(ctx, actor, AuditAction::NoteWrite, &note).detail("started");
    match ctx.store.create_note(&note, audit).await {
        Ok(()) => Ok(note),
        // Two tabs started it at once: the other one won, and that note is the one.
        Err(DomainError::Conflict { .. }) => ctx
            .store
            .note_for_appointment(appointment.org_id, id)
            .await?
            .ok_or_else(not_found),
        Err(e) => Err(e),
    }
}

/// Loads a note and checks the actor may open its patient's record.
async fn load(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: NoteId,
    permission: Permission,
) -> DomainResult<(Note, PatientAccess)> {
    staff_only(actor)?;
    let org = actor.org()?;
    let note = ctx.store.get_note(org, id).await?.ok_or_else(not_found)?;
    let (_, _, how) = open_appointment(ctx, actor, note.appointment_id, permission).await?;
    Ok((note, how))
}

/// One note with its addenda; the read is audited.
pub async fn get(ctx: Ctx<'_>, actor: &Actor, id: NoteId) -> DomainResult<NoteView> {
    let (note, how) = load(ctx, actor, id, Permission::ReadPatient).await?;
    view(ctx, actor, note, how).await
}

/// The note of an appointment, if it has one; the read is audited.
pub async fn for_appointment(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
) -> DomainResult<Option<NoteView>> {
    staff_only(actor)?;
    let (appointment, _, how) = open_appointment(ctx, actor, id, Permission::ReadPatient).await?;
    match ctx
        .store
        .note_for_appointment(appointment.org_id, id)
        .await?
    {
        Some(note) => view(ctx, actor, note, how).await.map(Some),
        None => Ok(None),
    }
}

/// The draft with `input` applied and its facts refreshed from the visit record.
async fn revised(
    ctx: Ctx<'_>,
    actor: &Actor,
    note: &Note,
    input: &NoteInput,
) -> DomainResult<Note> {
    let draft = input.check(note.template)?;
    let org = note.org_id;
    let appointment = ctx
        .store
        .get_appointment(org, note.appointment_id)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "appointment",
        })?;
    let mut revised = note.clone();
    revised.sections = draft.sections;
    revised.diagnoses = draft.diagnoses;
    revised.facts = facts(ctx, &appointment).await?;
    revised.version = note.version + 1;
    revised.updated_at = ctx.clock.now();
    revised.updated_by = actor.user_id().unwrap_or(note.updated_by);
    Ok(revised)
}

/// Why a conditional write found nothing to change: signed meanwhile, or saved from elsewhere.
async fn stale(ctx: Ctx<'_>, note: &Note) -> DomainError {
    match ctx.store.get_note(note.org_id, note.id).await {
        Ok(Some(now)) if now.status == NoteStatus::Signed => {
            next(NoteStatus::Signed, NoteEvent::Save)
                .err()
                .unwrap_or_else(not_found)
        }
        _ => DomainError::refused(
            "note_changed",
            "the note was saved from somewhere else since you opened it; reload it and make your changes again",
        ),
    }
}

/// Saves a draft. `version` is the version the writer edited: an older one is refused.
pub async fn save(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: NoteId,
    version: i64,
    input: &NoteInput,
) -> DomainResult<Note> {
    rules::check_can_draft(actor.role)?;
    let (note, how) = load(ctx, actor, id, Permission::WritePatient).await?;
    next(note.status, NoteEvent::Save)?;
    let revised = revised(ctx, actor, &note, input).await?;
    let audit = entry(ctx, actor, AuditAction::NoteWrite, &revised)
        .flagged(how == PatientAccess::BreakGlass)
        .detail("draft saved");
    if ctx.store.save_note(&revised, version, audit).await? {
        Ok(revised)
    } else {
        Err(stale(ctx, &note).await)
    }
}

/// Signs the note (with the form's last changes, when given): locks it and records who, when
/// and the SHA-256 of what was signed. Only the visit's clinician signs.
pub async fn sign(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: NoteId,
    version: i64,
    input: Option<&NoteInput>,
) -> DomainResult<Note> {
    let (note, _) = load(ctx, actor, id, Permission::WritePatient).await?;
    rules::check_signer(&note, actor.user_id())?;
    next(note.status, NoteEvent::Sign)?;
    let mut signed = match input {
        Some(input) => revised(ctx, actor, &note, input).await?,
        None => {
            let mut same = note.clone();
            same.version += 1;
            same
        }
    };
    if signed.diagnoses.is_empty() {
        return Err(DomainError::invalid(
            "diagnoses",
            "a note is signed with at least one diagnosis",
        ));
    }
    let now = ctx.clock.now();
    let by = note.clinician_id;
    signed.status = NoteStatus::Signed;
    signed.updated_at = now;
    signed.updated_by = by;
    signed.signature = Some(Signature {
        by,
        at: now,
        sha256: rules::note_digest(&signed, by, now),
    });
    let audit = entry(ctx, actor, AuditAction::NoteSign, &signed);
    if ctx.store.save_note(&signed, version, audit).await? {
        Ok(signed)
    } else {
        Err(stale(ctx, &note).await)
    }
}

/// Adds a signed addendum to a signed note.
pub async fn addend(ctx: Ctx<'_>, actor: &Actor, id: NoteId, text: &str) -> DomainResult<Addendum> {
    let (note, _) = load(ctx, actor, id, Permission::WritePatient).await?;
    rules::check_signer(&note, actor.user_id())?;
    next(note.status, NoteEvent::Addend)?;
    let text = rules::long_text("text", text, rules::MAX_SECTION)?;
    if text.is_empty() {
        return Err(DomainError::invalid("text", "write the addendum"));
    }
    let now = ctx.clock.now();
    let note_sha = note
        .signature
        .as_ref()
        .map(|s| s.sha256.clone())
        .unwrap_or_default();
    let addendum = Addendum {
        id: AddendumId::new(),
        note_id: note.id,
        org_id: note.org_id,
        signature: Signature {
            by: note.clinician_id,
            at: now,
            sha256: rules::addendum_digest(&note_sha, &text, note.clinician_id, now),
        },
        text,
    };
    let audit = entry(ctx, actor, AuditAction::NoteAddendum, &note);
    if ctx.store.add_addendum(&addendum, audit).await? {
        Ok(addendum)
    } else {
        Err(next(NoteStatus::Draft, NoteEvent::Addend)
            .err()
            .unwrap_or_else(not_found))
    }
}

/// The actor's own drafts older than the policy's limit (for their home page).
pub async fn unsigned(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<Note>> {
    let (Some(user), Some(Role::Clinician)) = (actor.user_id(), actor.role) else {
        return Ok(Vec::new());
    };
    let org = actor.org()?;
    let before = ctx
        .clock
        .now()
        .saturating_sub(jiff::SignedDuration::from_hours(
            ctx.clinical.unsigned_note_hours,
        ))
        .unwrap_or(ctx.clock.now());
    let notes = ctx.store.unsigned_notes(org, user, before).await?;
    if !notes.is_empty() {
        let audit = AuditEntry::new(
            ctx.clock.now(),
            actor.audit_actor(),
            AuditAction::NoteList,
            "Note",
        )
        .org(org)
        .from_ip(actor.source_ip.clone())
        .detail(format!("{} unsigned notes", notes.len()));
        ctx.store.record_audit(audit).await?;
    }
    Ok(notes)
}

async fn summary_of(ctx: Ctx<'_>, org: OrgId, note: &Note) -> DomainResult<AfterVisitSummary> {
    let clinician = ctx.store.get_user(org, note.clinician_id).await?;
    let site = ctx.store.get_site(org, note.site_id).await?;
    Ok(summarize(
        note,
        clinician
            .as_ref()
            .map_or("your clinician", |u| u.display_name.as_str()),
        site.as_ref(),
        ctx.clinical.reply_business_days,
    ))
}

/// The after-visit summary of a signed note: for the patient it is about, or for staff who
/// may open the record. A patient's first reading is recorded.
pub async fn summary(ctx: Ctx<'_>, actor: &Actor, id: NoteId) -> DomainResult<AfterVisitSummary> {
    let org = actor.org()?;
    let note = ctx.store.get_note(org, id).await?.ok_or_else(not_found)?;
    let mut flagged = false;
    if actor.role == Some(Role::Patient) {
        if actor.own_patient != Some(note.patient_id) || note.status != NoteStatus::Signed {
            return Err(not_found());
        }
    } else {
        let (_, _, how) =
            open_appointment(ctx, actor, note.appointment_id, Permission::ReadPatient).await?;
        flagged = how == PatientAccess::BreakGlass;
        if note.status != NoteStatus::Signed {
            return Err(DomainError::refused(
                "note_not_signed",
                "the summary is made when the note is signed",
            ));
        }
    }
    let summary = summary_of(ctx, org, &note).await?;
    ctx.store
        .record_audit(entry(ctx, actor, AuditAction::SummaryRead, &note).flagged(flagged))
        .await?;
    if actor.role == Some(Role::Patient) && note.summary_read_at.is_none() {
        ctx.store
            .mark_summary(org, note.id, None, Some(ctx.clock.now()))
            .await?;
    }
    Ok(summary)
}

/// A patient's after-visit summaries, newest first, with whether each was read.
pub async fn my_summaries(
    ctx: Ctx<'_>,
    actor: &Actor,
) -> DomainResult<Vec<(AfterVisitSummary, bool)>> {
    let (Some(Role::Patient), Some(patient)) = (actor.role, actor.own_patient) else {
        return Err(DomainError::Forbidden {
            action: "read your own visit summaries",
        });
    };
    let org = actor.org()?;
    let notes = ctx.store.patient_notes(org, patient, true).await?;
    let mut out = Vec::with_capacity(notes.len());
    for note in &notes {
        out.push((
            summary_of(ctx, org, note).await?,
            note.summary_read_at.is_some(),
        ));
    }
    let audit = AuditEntry::new(
        ctx.clock.now(),
        actor.audit_actor(),
        AuditAction::NoteList,
        "Note",
    )
    .org(org)
    .patient(patient)
    .from_ip(actor.source_ip.clone())
    .detail(format!("{} summaries", out.len()));
    ctx.store.record_audit(audit).await?;
    Ok(out)
}

/// A patient to tell that a summary is ready (the email says nothing else).
#[derive(Debug, Clone)]
pub struct SummaryNotice {
    pub note: Note,
    pub patient: Patient,
}

/// The job's side: signed notes whose patients have not been told yet.
pub async fn pending_summary_notices(ctx: Ctx<'_>, limit: i64) -> DomainResult<Vec<SummaryNotice>> {
    let notes = ctx.store.summaries_to_notify(limit).await?;
    let mut out = Vec::with_capacity(notes.len());
    for note in notes {
        if let Some(patient) = ctx.store.get_patient(note.org_id, note.patient_id).await? {
            out.push(SummaryNotice { note, patient });
        }
    }
    Ok(out)
}

/// Records that the patient was told (or could not be: no email address), audited.
pub async fn summary_notified(
    ctx: Ctx<'_>,
    notice: &SummaryNotice,
    emailed: bool,
) -> DomainResult<()> {
    let note = &notice.note;
    let audit = AuditEntry::new(
        ctx.clock.now(),
        crate::compliance::AuditActor::Operator,
        AuditAction::SummaryNotified,
        "Note",
    )
    .org(note.org_id)
    .resource(note.id)
    .patient(note.patient_id)
    .detail(if emailed {
        "emailed"
    } else {
        "no email address"
    });
    ctx.store
        .mark_summary(note.org_id, note.id, Some(ctx.clock.now()), None)
        .await?;
    ctx.store.record_audit(audit).await
}
