//! Organizations (tenants) and their sites.

use serde::Deserialize;

use crate::Ctx;
use crate::access::{self, Actor, Permission, Principal};
use crate::compliance::{AuditAction, AuditEntry};
use crate::error::{AllFields, DomainError, DomainResult};
use crate::identity::{Organization, Site, TimeZoneName, UsState, required_text};
use crate::ids::{OrgId, SiteId};

/// Only the operator (the command line on the server) creates tenants.
pub async fn create_org(ctx: Ctx<'_>, actor: &Actor, name: &str) -> DomainResult<Organization> {
    if actor.principal != Principal::Operator {
        return Err(DomainError::Forbidden {
            action: "create organizations",
        });
    }
    let name = required_text("name", name, 200)?;
    if ctx.store.find_org_by_name(&name).await?.is_some() {
        return Err(DomainError::conflict_on(
            "name",
            format!("an organization named '{name}' already exists"),
        ));
    }
    let org = Organization {
        id: OrgId::new(),
        name,
        created_at: ctx.clock.now(),
    };
    let audit = AuditEntry::new(
        org.created_at,
        actor.audit_actor(),
        AuditAction::OrgCreate,
        "Organization",
    )
    .org(org.id)
    .resource(org.id);
    ctx.store.create_org(&org, audit).await?;
    Ok(org)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SiteInput {
    pub name: String,
    pub state: String,
    pub time_zone: String,
}

pub async fn create_site(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    input: &SiteInput,
) -> DomainResult<Site> {
    if !actor.in_org(org) {
        return Err(DomainError::NotFound {
            resource: "organization",
        });
    }
    access::require(actor, Permission::ManageSites)?;
    let site = Site {
        id: SiteId::new(),
        org_id: org,
        name: required_text("name", &input.name, 200)?,
        state: UsState::parse("state", &input.state)?,
        time_zone: TimeZoneName::parse("time_zone", &input.time_zone)?,
        created_at: ctx.clock.now(),
    };
    let audit = AuditEntry::new(
        site.created_at,
        actor.audit_actor(),
        AuditAction::SiteCreate,
        "Location",
    )
    .org(org)
    .resource(site.id)
    .from_ip(actor.source_ip.clone());
    ctx.store.create_site(&site, audit).await?;
    Ok(site)
}

/// Renames a site or corrects its state or time zone (organization administrators).
pub async fn update_site(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: SiteId,
    input: &SiteInput,
) -> DomainResult<Site> {
    let org = actor.org()?;
    access::require(actor, Permission::ManageSites)?;
    let mut site = ctx
        .store
        .get_site(org, id)
        .await?
        .ok_or(DomainError::NotFound { resource: "site" })?;
    let (name, state, time_zone) = (
        required_text("name", &input.name, 200),
        UsState::parse("state", &input.state),
        TimeZoneName::parse("time_zone", &input.time_zone),
    )
        .all_fields()?;
    site.name = name;
    site.state = state;
    site.time_zone = time_zone;
    let audit = AuditEntry::new(
        ctx.clock.now(),
        actor.audit_actor(),
        AuditAction::SiteUpdate,
        "Location",
    )
    .org(org)
    .resource(site.id)
    .from_ip(actor.source_ip.clone());
    ctx.store.update_site(&site, audit).await?;
    Ok(site)
}

/// Every member of an organization may see its sites (patients pick a clinic, too).
pub async fn list_sites(ctx: Ctx<'_>, actor: &Actor, org: OrgId) -> DomainResult<Vec<Site>> {
    if !actor.in_org(org) {
        return Err(DomainError::NotFound {
            resource: "organization",
        });
    }
    ctx.store.list_sites(org).await
}
