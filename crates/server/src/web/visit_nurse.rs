//! The visit's nurse on the appointment page: who may name one, and the form.

use domain::access::{self, Permission};
use domain::identity::Role;
use domain::scheduling::{Appointment, AppointmentStatus};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::form::{FormErrors, Select};
use super::page::PageError;

pub struct NurseForm {
    pub action: String,
    /// "The visit's nurse", or "Another nurse" once one is on the visit.
    pub heading: &'static str,
    /// A choice of nurses; `None` when a nurse names themselves with one button.
    pub nurse: Option<Select>,
    /// The nurse's own id, for the one-button form.
    pub own_id: String,
}

/// The form that names the visit's nurse, for those who may: the visit's clinician and staff who
/// manage appointments choose a nurse; a nurse names themselves. None once the visit is over.
pub async fn form(
    state: &AppState,
    me: &SignedIn,
    a: &Appointment,
    path: &str,
    on_visit: &[(domain::visits::VisitStaff, String)],
    errors: &FormErrors,
) -> Result<Option<NurseForm>, PageError> {
    let role = me.user.role;
    let open = !matches!(
        a.status,
        AppointmentStatus::Cancelled | AppointmentStatus::Completed | AppointmentStatus::NoShow
    );
    let may = match role {
        Role::Clinician => a.clinician_id == me.user.id,
        Role::Nurse => !on_visit.iter().any(|(s, _)| s.user_id == me.user.id),
        Role::FrontDesk | Role::SiteAdmin | Role::OrgAdmin => true,
        _ => false,
    };
    if !open || !may || access::require(&me.actor, Permission::ManageAppointments).is_err() {
        return Ok(None);
    }
    let action = format!("{path}/nurse");
    let heading = if on_visit.iter().any(|(s, _)| s.role == Role::Nurse) {
        "Another nurse"
    } else {
        "The visit's nurse"
    };
    if role == Role::Nurse {
        return Ok(Some(NurseForm {
            action,
            heading,
            nurse: None,
            own_id: me.user.id.to_string(),
        }));
    }
    let nurses = domain::visits::service::staff::nurses(state.ctx(), &me.actor).await?;
    let nurses: Vec<(String, String)> = nurses
        .into_iter()
        .filter(|(id, _)| !on_visit.iter().any(|(s, _)| s.user_id == *id))
        .map(|(id, name)| (id.to_string(), name))
        .collect();
    if nurses.is_empty() {
        return Ok(None);
    }
    Ok(Some(NurseForm {
        action,
        heading,
        nurse: Some(
            Select::new(
                "nurse_id",
                "Nurse for this visit",
                nurses,
                "",
                Some("Choose…"),
            )
            .hint("They can open the patient's record for this visit, as the clinician can.")
            .errors(errors),
        ),
        own_id: String::new(),
    }))
}
