//! Telehealth consent: the organization's current text, publishing a new version, and a patient
//! agreeing to it.

use super::shared::entry;
use crate::Ctx;
use crate::access::{self, Actor, Permission, Principal};
use crate::compliance::{
    AuditAction, AuditEntry, ConsentDocument, ConsentMethod, PatientConsent, check_consent,
};
use crate::error::{DomainError, DomainResult};
use crate::identity::{Patient, Role};
use crate::ids::{ConsentId, OrgId, PatientId};

/// The text patients agree to now: the latest published version, or the built-in version 1.
pub async fn current(ctx: Ctx<'_>, org: OrgId) -> DomainResult<ConsentDocument> {
    Ok(match ctx.store.consent_document(org).await? {
        Some(doc) => doc,
        None => ConsentDocument::default_for(org, jiff::Timestamp::UNIX_EPOCH),
    })
}

/// Publishes a new version; every patient must agree again before their next virtual visit.
pub async fn publish(ctx: Ctx<'_>, actor: &Actor, text: &str) -> DomainResult<ConsentDocument> {
    let org = actor.org()?;
    access::require(actor, Permission::ConfigureScheduling)?;
    let doc = current(ctx, org).await?.next(text, ctx.clock.now())?;
    let audit = entry(ctx, actor, AuditAction::ConsentPublish, "Consent", org)
        .detail(format!("telehealth consent version {}", doc.version));
    ctx.store.publish_consent(&doc, audit).await?;
    Ok(doc)
}

/// The consent record to write when `version` is accepted for `patient` by `actor`; refuses a
/// version that is not the current one.
pub(crate) fn accept(
    ctx: Ctx<'_>,
    actor: &Actor,
    current: &ConsentDocument,
    patient: &Patient,
    version: i64,
) -> DomainResult<PatientConsent> {
    if version != current.version {
        return Err(DomainError::ConsentRequired(format!(
            "the consent you accepted (version {version}) is not the current one; read and accept version {}",
            current.version
        )));
    }
    Ok(PatientConsent {
        id: ConsentId::new(),
        org_id: patient.org_id,
        patient_id: patient.id,
        version,
        method: if actor.role == Some(Role::Patient) {
            ConsentMethod::Patient
        } else {
            ConsentMethod::RecordedByStaff
        },
        recorded_by: actor.user_id(),
        given_at: ctx.clock.now(),
    })
}

/// The audit entry of a consent given (by the patient, or recorded by staff).
pub(crate) fn given_audit(ctx: Ctx<'_>, actor: &Actor, c: &PatientConsent) -> AuditEntry {
    entry(ctx, actor, AuditAction::ConsentGiven, "Consent", c.org_id)
        .resource(c.id)
        .patient(c.patient_id)
        .detail(format!(
            "telehealth consent version {} ({})",
            c.version,
            c.method.as_str()
        ))
}

/// What the booking rules need about consent: already given, newly given now (to be written with
/// the booking), or refused.
pub(crate) async fn require_or_accept(
    ctx: Ctx<'_>,
    actor: &Actor,
    patient: &Patient,
    accepted_version: Option<i64>,
) -> DomainResult<Option<PatientConsent>> {
    let doc = current(ctx, patient.org_id).await?;
    let given = ctx
        .store
        .patient_consents(patient.org_id, patient.id)
        .await?;
    match check_consent(&doc, &given) {
        Ok(()) => Ok(None),
        Err(refusal) => match accepted_version {
            Some(version) => accept(ctx, actor, &doc, patient, version).map(Some),
            None => Err(refusal),
        },
    }
}

/// A patient (or staff recording their spoken agreement) accepts the current version.
pub async fn give(
    ctx: Ctx<'_>,
    actor: &Actor,
    patient_id: PatientId,
    version: i64,
) -> DomainResult<PatientConsent> {
    let org = actor.org()?;
    let patient = super::shared::patient_for(ctx, actor, org, patient_id).await?;
    let doc = current(ctx, org).await?;
    let consent = accept(ctx, actor, &doc, &patient, version)?;
    ctx.store
        .record_consent(&consent, given_audit(ctx, actor, &consent))
        .await?;
    Ok(consent)
}

/// The patient's consent status: the current text, and whether they agreed to it (an audited read).
pub async fn status(
    ctx: Ctx<'_>,
    actor: &Actor,
    patient_id: PatientId,
) -> DomainResult<(ConsentDocument, Vec<PatientConsent>)> {
    let org = actor.org()?;
    if matches!(actor.principal, Principal::User(_)) && actor.role != Some(Role::Patient) {
        access::require(actor, Permission::ReadAppointments)?;
    }
    let patient = super::shared::patient_for(ctx, actor, org, patient_id).await?;
    let doc = current(ctx, org).await?;
    let given = ctx.store.patient_consents(org, patient.id).await?;
    let audit = entry(ctx, actor, AuditAction::ConsentRead, "Consent", org).patient(patient.id);
    ctx.store.record_audit(audit).await?;
    Ok((doc, given))
}
