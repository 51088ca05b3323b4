//! Checking in for a virtual visit: where the patient is now (licensure is checked again against
//! that state; a mismatch stops check-in and alerts the site's staff), telehealth consent, the
//! service line's questionnaire. Check-in opens the visit: the patient is in the waiting room.

use serde::Deserialize;

use super::log;
use crate::Ctx;
use crate::access::{Actor, Permission};
use crate::compliance::{AuditAction, AuditEntry};
use crate::error::{DomainError, DomainResult};
use crate::identity::{UsState, required_text};
use crate::ids::{AppointmentId, EscalationId};
use crate::scheduling::service::appointments::{appointment_for, check_in_open, recheck};
use crate::scheduling::service::shared::entry;
use crate::scheduling::service::shared::event;
use crate::scheduling::{AppointmentAction, StatusChange, state as appointment_state};
use crate::visits::{
    Escalation, EscalationKind, QuestionnaireInput, QuestionnaireKind, Visit, VisitState,
};

/// What a patient (or staff for them) says at check-in.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VisitCheckInInput {
    /// The state the patient is in right now.
    pub patient_state: String,
    /// Where exactly (an address, or a description such as "home, 12 Elm St, Albany"): what an
    /// emergency team would need.
    pub location: String,
    pub consent_version: Option<i64>,
    #[serde(default)]
    pub questionnaire: QuestionnaireInput,
}

/// Checks in for a virtual visit and opens it: the patient waits for the clinician to let them in.
pub async fn check_in(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    input: &VisitCheckInInput,
) -> DomainResult<Visit> {
    let a = appointment_for(ctx, actor, id, Permission::ManageAppointments).await?;
    if !a.modality.is_virtual() {
        return Err(DomainError::invalid(
            "appointment",
            "this is an in-person visit: check in at the clinic's front desk",
        ));
    }
    appointment_state::next(a.status, AppointmentAction::CheckIn)?;
    check_in_open(ctx, &a)?;
    let patient_state = UsState::parse("patient_state", &input.patient_state)?;
    let location = required_text("location", &input.location, 300)?;
    let questionnaire = input
        .questionnaire
        .check(QuestionnaireKind::for_line(a.service_line))?;
    let (checks, consent) =
        match recheck(ctx, actor, &a, patient_state, input.consent_version).await {
            Ok(done) => done,
            Err(refusal @ DomainError::ClinicianNotLicensed { .. }) => {
                // The patient is somewhere the clinician may not see them: staff must act now
                // (another clinician, another time).
                let alert = Escalation {
                    id: EscalationId::new(),
                    kind: EscalationKind::LicensureMismatch,
                    appointment_id: a.id,
                    org_id: a.org_id,
                    site_id: a.site_id,
                    raised_by: actor.user_id(),
                    raised_at: ctx.clock.now(),
                    location_state: patient_state,
                    location_text: location.clone(),
                    reason: format!(
                        "the patient checked in from {}, where the clinician holds no license",
                        patient_state.code()
                    ),
                    acknowledged_by: None,
                    acknowledged_at: None,
                };
                let audit = entry(
                    ctx,
                    actor,
                    AuditAction::EscalationRaised,
                    "Encounter",
                    a.org_id,
                )
                .resource(a.id)
                .patient(a.patient_id)
                .detail(format!(
                    "licensure mismatch: patient in {}",
                    patient_state.code()
                ));
                ctx.store.create_escalation(&alert, audit).await?;
                ctx.notifier.alert_raised(&alert);
                return Err(refusal);
            }
            Err(other) => return Err(other),
        };
    let now = ctx.clock.now();
    let visit = Visit {
        appointment_id: a.id,
        org_id: a.org_id,
        site_id: a.site_id,
        clinician_id: a.clinician_id,
        patient_id: a.patient_id,
        state: VisitState::Waiting,
        outcome: None,
        modality: a.modality,
        audio_only: a.modality == crate::scheduling::Modality::AudioOnly,
        audio_only_used: a.modality == crate::scheduling::Modality::AudioOnly,
        location_state: patient_state,
        location_text: location,
        questionnaire: Some(questionnaire),
        checked_in_at: now,
        admitted_at: None,
        started_at: None,
        ended_at: None,
        drops: 0,
        updated_at: now,
    };
    let to = appointment_state::next(a.status, AppointmentAction::CheckIn)?;
    let mut audit: Vec<AuditEntry> = checks;
    audit.push(
        entry(
            ctx,
            actor,
            AuditAction::AppointmentChange,
            "Appointment",
            a.org_id,
        )
        .resource(a.id)
        .patient(a.patient_id)
        .detail(format!(
            "check_in {} -> {to}: patient in {}, waiting room opened",
            a.status,
            patient_state.code()
        )),
    );
    let change = StatusChange {
        org_id: a.org_id,
        appointment_id: a.id,
        from: a.status,
        to,
        at: now,
        late_cancellation: false,
        cancel_reason: None,
        patient_state: Some(patient_state),
        end_at: None,
        consent,
        event: event(
            ctx,
            actor,
            a.id,
            AppointmentAction::CheckIn,
            Some(a.status),
            to,
            Some(format!("patient in {}", patient_state.code())),
        ),
        audit,
    };
    let opened = log(ctx, actor.audit_actor(), a.id, "checked_in", None);
    if !ctx.store.open_visit(change, &visit, opened).await? {
        return Err(DomainError::conflict_on(
            "status",
            "the appointment was changed by someone else meanwhile; reload it and try again",
        ));
    }
    ctx.notifier.visit_changed(&visit);
    Ok(visit)
}
