//! An appointment's check-in, start and completion, whatever its modality. A video visit's take
//! the visit's path (check-in opens its waiting room, starting lets the waiting patient in,
//! completing ends the call for everyone); the others are scheduling's steps. The dispatch lives
//! here because visits may use scheduling, never the reverse.

use serde::Deserialize;

use crate::Ctx;
use crate::access::{Actor, Permission};
use crate::error::DomainResult;
use crate::ids::AppointmentId;
use crate::scheduling::service::appointments::{
    appointment_for, check_in_in_person, complete_without_call, reload, start_without_visit,
};
use crate::scheduling::{Appointment, AppointmentAction, state};
use crate::visits::{QuestionnaireInput, VisitOutcome};

/// What check-in asks: where the patient is right now.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckInInput {
    pub patient_state: String,
    pub consent_version: Option<i64>,
    /// Virtual visits: where exactly the patient is (for an emergency).
    #[serde(default)]
    pub location: Option<String>,
    /// Virtual visits: the service line's pre-visit questionnaire.
    #[serde(default)]
    pub questionnaire: QuestionnaireInput,
}

/// Check-in, within the window before the start: licensure is checked again against where the
/// patient is now, and consent and the clinician's certification again.
pub async fn check_in(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: AppointmentId,
    input: &CheckInInput,
) -> DomainResult<Appointment> {
    let a = appointment_for(ctx, actor, id, Permission::ManageAppointments).await?;
    if a.modality.is_virtual() {
        // A virtual visit's check-in opens its waiting room.
        let visit_input = super::check_in::VisitCheckInInput {
            patient_state: input.patient_state.clone(),
            location: input
                .location
                .clone()
                .filter(|l| !l.trim().is_empty())
                .unwrap_or_else(|| "not given at check-in".into()),
            consent_version: input.consent_version,
            questionnaire: input.questionnaire.clone(),
        };
        super::check_in::check_in(ctx, actor, id, &visit_input).await?;
        return reload(ctx, &a).await;
    }
    check_in_in_person(ctx, actor, &a, &input.patient_state, input.consent_version).await
}

/// The clinician (or staff) starts the visit of a checked-in patient.
pub async fn start(ctx: Ctx<'_>, actor: &Actor, id: AppointmentId) -> DomainResult<Appointment> {
    let a = appointment_for(ctx, actor, id, Permission::ManageAppointments).await?;
    state::next(a.status, AppointmentAction::Start)?;
    if let Some(v) = ctx.store.get_visit(a.org_id, a.id).await? {
        // Starting a virtual visit lets the waiting patient in.
        super::call::admit_visit(ctx, actor, &v, &a).await?;
        return reload(ctx, &a).await;
    }
    start_without_visit(ctx, actor, &a).await
}

/// Ends a visit; an early end frees the rest of the clinician's time.
pub async fn complete(ctx: Ctx<'_>, actor: &Actor, id: AppointmentId) -> DomainResult<Appointment> {
    let a = appointment_for(ctx, actor, id, Permission::ManageAppointments).await?;
    if let Some(v) = ctx.store.get_visit(a.org_id, a.id).await?
        && v.state.in_progress()
    {
        // Completing a virtual visit ends its call for everyone.
        super::call::end_visit(ctx, actor, &v, &a, VisitOutcome::Completed).await?;
        return reload(ctx, &a).await;
    }
    complete_without_call(ctx, actor, &a).await
}
