//! Names on scheduling screens: clinicians as patients and staff see them, and the patients
//! behind appointments the actor may already see.

use std::collections::HashMap;

use super::shared::{entry, may_manage_clinician};
use crate::Ctx;
use crate::access::{self, Actor, Permission, Principal};
use crate::compliance::AuditAction;
use crate::error::DomainResult;
use crate::identity::{Patient, Role};
use crate::ids::{PatientId, SiteId, UserId};
use crate::scheduling::Appointment;

/// What anyone who books or reads appointments may know about a clinician.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicianCard {
    pub id: UserId,
    pub name: String,
    pub languages: Vec<String>,
    pub site_ids: Vec<SiteId>,
}

/// Active clinicians of the organization, by name. Not patient data, so not audited; the slot
/// search shows the same names.
pub async fn clinicians(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<ClinicianCard>> {
    let org = actor.org()?;
    // A patient by join link sees their clinician's name on their visit's pages too.
    let by_link = matches!(actor.principal, Principal::VisitLink { .. });
    if !by_link && access::require(actor, Permission::SearchSlots).is_err() {
        access::require(actor, Permission::ReadAppointments)?;
    }
    let mut cards: Vec<ClinicianCard> = ctx
        .store
        .list_users(org, Some(Role::Clinician))
        .await?
        .into_iter()
        .filter(|u| u.active)
        .map(|u| ClinicianCard {
            id: u.id,
            name: u.display_name,
            languages: u.clinician.map(|p| p.languages).unwrap_or_default(),
            site_ids: u.site_ids,
        })
        .collect();
    cards.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cards)
}

/// The clinicians whose availability the actor may change: themselves, those sharing a site
/// with front desk and site administrators, everyone for organization administrators.
pub async fn schedulable_clinicians(
    ctx: Ctx<'_>,
    actor: &Actor,
) -> DomainResult<Vec<ClinicianCard>> {
    let org = actor.org()?;
    access::require(actor, Permission::ManageAvailability)?;
    let mut cards: Vec<ClinicianCard> = ctx
        .store
        .list_users(org, Some(Role::Clinician))
        .await?
        .into_iter()
        .filter(|u| u.active && may_manage_clinician(actor, u))
        .map(|u| ClinicianCard {
            id: u.id,
            name: u.display_name,
            languages: u.clinician.map(|p| p.languages).unwrap_or_default(),
            site_ids: u.site_ids,
        })
        .collect();
    cards.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cards)
}

/// The patients of appointments, for a list that shows who each visit is with. Only appointments
/// the actor may see count (the rule of opening one); the names shown are audited as one list.
pub async fn patients_of(
    ctx: Ctx<'_>,
    actor: &Actor,
    appointments: &[Appointment],
) -> DomainResult<HashMap<PatientId, Patient>> {
    let org = actor.org()?;
    access::require(actor, Permission::ReadAppointments)?;
    let mut found = HashMap::new();
    for a in appointments {
        if a.org_id != org
            || found.contains_key(&a.patient_id)
            || !super::appointments::may_see(actor, a)
        {
            continue;
        }
        if let Some(p) = ctx.store.get_patient(org, a.patient_id).await? {
            found.insert(p.id, p);
        }
    }
    if !found.is_empty() {
        let mut audit = entry(ctx, actor, AuditAction::PatientList, "Patient", org).detail(
            format!("{} patients named with their appointments", found.len()),
        );
        if let [only] = found.keys().copied().collect::<Vec<_>>().as_slice() {
            audit = audit.patient(*only);
        }
        ctx.store.record_audit(audit).await?;
    }
    Ok(found)
}
