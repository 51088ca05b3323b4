//! Visit types: what an organization offers to book.

use serde::Deserialize;

use super::shared::entry;
use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::AuditAction;
use crate::error::{DomainError, DomainResult};
use crate::identity::{Role, required_text};
use crate::ids::{OrgId, VisitTypeId};
use crate::scheduling::{Modality, PatientKind, ServiceLine, VisitType};

/// Visit lengths accepted, in minutes.
pub const DURATION_MINUTES: std::ops::RangeInclusive<i64> =
    5..=crate::scheduling::MAX_VISIT_MINUTES;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct VisitTypeInput {
    pub name: String,
    pub service_line: String,
    pub modality: String,
    /// `any` when blank.
    pub patient_kind: Option<String>,
    pub duration_minutes: i64,
    pub patient_bookable: bool,
    /// `true` when not given.
    pub active: Option<bool>,
}

pub struct VisitTypeFields {
    name: String,
    service_line: ServiceLine,
    modality: Modality,
    patient_kind: PatientKind,
    duration_minutes: i64,
}

impl VisitTypeInput {
    pub fn validate(&self) -> DomainResult<VisitTypeFields> {
        let name = required_text("name", &self.name, 120)?;
        let service_line = ServiceLine::parse("service_line", &self.service_line)?;
        let modality = Modality::parse("modality", &self.modality)?;
        let patient_kind = match self.patient_kind.as_deref().map(str::trim) {
            None | Some("") => PatientKind::Any,
            Some(raw) => PatientKind::parse("patient_kind", raw)?,
        };
        if !DURATION_MINUTES.contains(&self.duration_minutes) || self.duration_minutes % 5 != 0 {
            return Err(DomainError::invalid(
                "duration_minutes",
                "must be a multiple of 5 between 5 and 240",
            ));
        }
        Ok(VisitTypeFields {
            name,
            service_line,
            modality,
            patient_kind,
            duration_minutes: self.duration_minutes,
        })
    }
}

pub async fn create(
    ctx: Ctx<'_>,
    actor: &Actor,
    input: &VisitTypeInput,
) -> DomainResult<VisitType> {
    let org = actor.org()?;
    create_in(ctx, actor, org, input).await
}

/// `create` for an organization named explicitly (the operator's command line).
pub async fn create_in(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    input: &VisitTypeInput,
) -> DomainResult<VisitType> {
    if !actor.in_org(org) {
        return Err(DomainError::NotFound {
            resource: "organization",
        });
    }
    access::require(actor, Permission::ConfigureScheduling)?;
    let f = input.validate()?;
    let visit_type = VisitType {
        id: VisitTypeId::new(),
        org_id: org,
        name: f.name,
        service_line: f.service_line,
        modality: f.modality,
        patient_kind: f.patient_kind,
        duration_minutes: f.duration_minutes,
        patient_bookable: input.patient_bookable,
        active: input.active.unwrap_or(true),
        created_at: ctx.clock.now(),
    };
    let audit = entry(ctx, actor, AuditAction::VisitTypeCreate, "VisitType", org)
        .resource(visit_type.id)
        .detail(visit_type.name.clone());
    ctx.store.create_visit_type(&visit_type, audit).await?;
    Ok(visit_type)
}

/// Changes a visit type. Booked appointments keep the modality and length they were booked with.
pub async fn update(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: VisitTypeId,
    input: &VisitTypeInput,
) -> DomainResult<VisitType> {
    let org = actor.org()?;
    access::require(actor, Permission::ConfigureScheduling)?;
    let existing = ctx
        .store
        .get_visit_type(org, id)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "visit type",
        })?;
    let f = input.validate()?;
    let visit_type = VisitType {
        name: f.name,
        service_line: f.service_line,
        modality: f.modality,
        patient_kind: f.patient_kind,
        duration_minutes: f.duration_minutes,
        patient_bookable: input.patient_bookable,
        active: input.active.unwrap_or(existing.active),
        ..existing
    };
    let audit = entry(ctx, actor, AuditAction::VisitTypeUpdate, "VisitType", org)
        .resource(visit_type.id)
        .detail(visit_type.name.clone());
    ctx.store.update_visit_type(&visit_type, audit).await?;
    Ok(visit_type)
}

/// The visit types the actor may book: patients see the active ones they may book themselves;
/// staff see all of them.
pub async fn list(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<VisitType>> {
    let org = actor.org()?;
    let all = ctx.store.list_visit_types(org).await?;
    Ok(if actor.role == Some(Role::Patient) {
        all.into_iter()
            .filter(|v| v.active && v.patient_bookable)
            .collect()
    } else {
        all
    })
}

pub async fn get(ctx: Ctx<'_>, actor: &Actor, id: VisitTypeId) -> DomainResult<VisitType> {
    let org = actor.org()?;
    let found = ctx.store.get_visit_type(org, id).await?;
    match found {
        Some(v) if actor.role != Some(Role::Patient) || (v.active && v.patient_bookable) => Ok(v),
        _ => Err(DomainError::NotFound {
            resource: "visit type",
        }),
    }
}
