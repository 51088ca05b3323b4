//! Users: staff and patient accounts, with clinician profiles.

use serde::Deserialize;

use crate::Ctx;
use crate::access::{self, Actor, Permission, Principal};
use crate::compliance::{AuditAction, AuditEntry};
use crate::error::{DomainError, DomainResult};
use crate::identity::{
    ClinicianProfile, Email, Role, StateLicense, UsState, User, check_password_strength,
    parse_date, parse_npi, required_text,
};
use crate::ids::{OrgId, PatientId, SiteId, UserId};
use crate::store::NewUser;

/// Hashing and secret generation are the front door's job; the domain only asks for them.
pub trait Secrets: Send + Sync {
    fn hash_password(&self, password: &str) -> DomainResult<String>;
    /// True when `password` matches the stored `hash`.
    fn verify_password(&self, password: &str, hash: &str) -> bool;
    /// A new TOTP secret for `user`: the plain value to hand over, and the sealed value to store.
    fn new_totp_secret(&self, user: UserId) -> (String, String);
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LicenseInput {
    pub state: String,
    pub number: String,
    pub expires_on: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserInput {
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub password: String,
    #[serde(default)]
    pub site_ids: Vec<String>,
    pub patient_id: Option<String>,
    pub npi: Option<String>,
    #[serde(default)]
    pub specialties: Vec<String>,
    #[serde(default)]
    pub licenses: Vec<LicenseInput>,
    /// Languages a clinician holds visits in (`en`, `es`); English when none are given.
    #[serde(default)]
    pub languages: Vec<String>,
}

/// A created user, and for staff created by the operator the TOTP secret to hand over.
#[derive(Debug, Clone)]
pub struct CreatedUser {
    pub user: User,
    pub totp_secret: Option<String>,
}

/// The clinician's part of an account as typed: on a new account and on an edit.
pub(super) struct ClinicianFields<'a> {
    pub npi: Option<&'a str>,
    pub specialties: &'a [String],
    pub licenses: &'a [LicenseInput],
    pub languages: &'a [String],
}

impl<'a> ClinicianFields<'a> {
    fn of(input: &'a UserInput) -> Self {
        Self {
            npi: input.npi.as_deref(),
            specialties: &input.specialties,
            licenses: &input.licenses,
            languages: &input.languages,
        }
    }
}

pub(super) fn parse_clinician(input: ClinicianFields<'_>) -> DomainResult<ClinicianProfile> {
    let npi = parse_npi("npi", input.npi.unwrap_or(""))?;
    let specialties = input
        .specialties
        .iter()
        .enumerate()
        .map(|(i, s)| required_text(&format!("specialties[{i}]"), s, 100))
        .collect::<DomainResult<Vec<_>>>()?;
    let mut licenses: Vec<StateLicense> = Vec::new();
    for (i, l) in input.licenses.iter().enumerate() {
        let state = UsState::parse(&format!("licenses[{i}].state"), &l.state)?;
        if licenses.iter().any(|x| x.state == state) {
            return Err(DomainError::invalid(
                format!("licenses[{i}].state"),
                format!("{state} is listed twice"),
            ));
        }
        licenses.push(StateLicense {
            state,
            number: required_text(&format!("licenses[{i}].number"), &l.number, 40)?,
            expires_on: parse_date(&format!("licenses[{i}].expires_on"), &l.expires_on)?,
        });
    }
    let mut languages: Vec<String> = Vec::new();
    for (i, raw) in input.languages.iter().enumerate() {
        let tag = crate::identity::parse_language(&format!("languages[{i}]"), raw)?;
        if !languages.contains(&tag) {
            languages.push(tag);
        }
    }
    if languages.is_empty() {
        languages.push("en".to_string());
    }
    Ok(ClinicianProfile {
        npi,
        specialties,
        languages,
        licenses,
    })
}

/// Records a search for the record to link may show, at most.
const LINK_MATCHES: i64 = 6;

/// The record a new patient account opens, named by its id or found by the patient's name or
/// MRN: exactly one record must match. Several are named (name, MRN, birth date) so the
/// administrator can type the MRN of the right one; that showing is an audited read.
async fn patient_to_link(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    raw: &str,
) -> DomainResult<PatientId> {
    if let Ok(id) = raw.parse::<PatientId>() {
        return match ctx.store.get_patient(org, id).await? {
            Some(_) => Ok(id),
            None => Err(DomainError::invalid(
                "patient_id",
                "is not a patient of this organization",
            )),
        };
    }
    let found = super::patients::matching(ctx, org, raw, LINK_MATCHES + 1).await?;
    if found.len() as i64 > LINK_MATCHES {
        return Err(DomainError::invalid(
            "patient_id",
            format!(
                "more than {LINK_MATCHES} records match '{raw}': type more of the name, or the MRN"
            ),
        ));
    }
    match found.as_slice() {
        [] => Err(DomainError::invalid(
            "patient_id",
            format!("no patient record's name or MRN starts with '{raw}'"),
        )),
        [one] => Ok(one.id),
        several => {
            let audit = AuditEntry::new(
                ctx.clock.now(),
                actor.audit_actor(),
                AuditAction::PatientList,
                "Patient",
            )
            .org(org)
            .from_ip(actor.source_ip.clone())
            .detail(format!(
                "{} records shown to link an account",
                several.len()
            ));
            ctx.store.record_audit(audit).await?;
            let listed: Vec<String> = several
                .iter()
                .map(|p| format!("{} (MRN {}, born {})", p.full_name(), p.mrn, p.birth_date))
                .collect();
            Err(DomainError::invalid(
                "patient_id",
                format!(
                    "several records match '{raw}': {}; type the MRN of the one you mean",
                    listed.join("; ")
                ),
            ))
        }
    }
}

/// The sites of an account as sent (ids), each a site of the organization, and for a site
/// administrator one of their own.
pub(super) async fn parse_sites(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    raw_ids: &[String],
) -> DomainResult<Vec<SiteId>> {
    let mut site_ids = Vec::new();
    for (i, raw) in raw_ids.iter().enumerate() {
        let field = format!("site_ids[{i}]");
        let id: SiteId = raw
            .trim()
            .parse()
            .map_err(|_| DomainError::invalid(&field, "must be the id of a site"))?;
        if ctx.store.get_site(org, id).await?.is_none() {
            return Err(DomainError::invalid(
                &field,
                "is not a site of this organization",
            ));
        }
        if actor.role == Some(Role::SiteAdmin) && !actor.site_ids.contains(&id) {
            return Err(DomainError::invalid(
                &field,
                "you may only add users to your own sites",
            ));
        }
        if !site_ids.contains(&id) {
            site_ids.push(id);
        }
    }
    Ok(site_ids)
}

pub async fn create(
    ctx: Ctx<'_>,
    secrets: &dyn Secrets,
    actor: &Actor,
    org: OrgId,
    input: &UserInput,
    issue_totp_secret: bool,
) -> DomainResult<CreatedUser> {
    if !actor.in_org(org) {
        return Err(DomainError::NotFound {
            resource: "organization",
        });
    }
    access::require(actor, Permission::ManageUsers)?;
    if ctx.store.get_org(org).await?.is_none() {
        return Err(DomainError::NotFound {
            resource: "organization",
        });
    }
    let role = Role::parse("role", &input.role)?;
    // A site administrator may not mint organization-wide powers.
    if actor.role == Some(Role::SiteAdmin)
        && matches!(role, Role::OrgAdmin | Role::Auditor | Role::ProgramManager)
    {
        return Err(DomainError::Forbidden {
            action: "create organization-wide roles",
        });
    }
    let email = Email::parse("email", &input.email)?;
    let display_name = required_text("display_name", &input.display_name, 200)?;
    check_password_strength("password", &input.password)?;
    let site_ids = parse_sites(ctx, actor, org, &input.site_ids).await?;
    let patient_id = match (role, input.patient_id.as_deref().map(str::trim)) {
        (Role::Patient, Some(raw)) if !raw.is_empty() => {
            Some(patient_to_link(ctx, actor, org, raw).await?)
        }
        (Role::Patient, _) => {
            return Err(DomainError::invalid(
                "patient_id",
                "a patient account needs a patient record",
            ));
        }
        (_, Some(raw)) if !raw.is_empty() => {
            return Err(DomainError::invalid(
                "patient_id",
                "only patient accounts link to a patient record",
            ));
        }
        _ => None,
    };
    let clinician = if role == Role::Clinician {
        Some(parse_clinician(ClinicianFields::of(input))?)
    } else {
        None
    };
    if ctx
        .store
        .find_user_by_email(email.as_str())
        .await?
        .is_some()
    {
        return Err(DomainError::conflict_on(
            "email",
            format!("{email} is already registered"),
        ));
    }
    let user = User {
        id: UserId::new(),
        org_id: org,
        email,
        display_name,
        role,
        site_ids,
        patient_id,
        clinician,
        active: true,
        created_at: ctx.clock.now(),
    };
    // The operator hands a secret over out of band; everyone else enrols at first sign-in.
    let totp = (role.is_staff() && issue_totp_secret).then(|| secrets.new_totp_secret(user.id));
    let new = NewUser {
        user: user.clone(),
        password_hash: secrets.hash_password(&input.password)?,
        totp_secret: totp.as_ref().map(|(_, sealed)| sealed.clone()),
    };
    let audit = AuditEntry::new(
        user.created_at,
        actor.audit_actor(),
        AuditAction::UserCreate,
        "User",
    )
    .org(org)
    .resource(user.id)
    .from_ip(actor.source_ip.clone())
    .detail(role.as_str());
    ctx.store.create_user(&new, audit).await?;
    Ok(CreatedUser {
        user,
        totp_secret: totp.map(|(plain, _)| plain),
    })
}

pub async fn list(ctx: Ctx<'_>, actor: &Actor, role: Option<Role>) -> DomainResult<Vec<User>> {
    let org = actor.org()?;
    access::require(actor, Permission::ManageUsers)?;
    let users = ctx.store.list_users(org, role).await?;
    let users: Vec<User> = match actor.role {
        Some(Role::SiteAdmin) => users
            .into_iter()
            .filter(|u| u.site_ids.iter().any(|s| actor.site_ids.contains(s)))
            .collect(),
        _ => users,
    };
    // Patients' accounts name patients: such a list is a read of patient data.
    let patients = users.iter().filter(|u| u.role == Role::Patient).count();
    if patients > 0 {
        let audit = account_read(ctx, actor, AuditAction::UserList, org)
            .detail(format!("{} accounts, {patients} of patients", users.len()));
        ctx.store.record_audit(audit).await?;
    }
    Ok(users)
}

fn account_read(ctx: Ctx<'_>, actor: &Actor, action: AuditAction, org: OrgId) -> AuditEntry {
    AuditEntry::new(ctx.clock.now(), actor.audit_actor(), action, "User")
        .org(org)
        .from_ip(actor.source_ip.clone())
}

/// A user's own account, or any account for a user manager of the same organization; a
/// patient's account is an audited read.
pub async fn get(ctx: Ctx<'_>, actor: &Actor, id: UserId) -> DomainResult<User> {
    let org = actor.org()?;
    if actor.user_id() != Some(id) && actor.principal != Principal::Operator {
        access::require(actor, Permission::ManageUsers)?;
    }
    let user = ctx
        .store
        .get_user(org, id)
        .await?
        .ok_or(DomainError::NotFound { resource: "user" })?;
    if let Some(patient) = user.patient_id {
        let audit = account_read(ctx, actor, AuditAction::UserRead, org)
            .resource(user.id)
            .patient(patient);
        ctx.store.record_audit(audit).await?;
    }
    Ok(user)
}

/// Someone else's account that the actor may change: of their organization, sharing a site with
/// a site administrator, and of a role below the actor's own.
pub(super) async fn managed_account(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    id: UserId,
) -> DomainResult<User> {
    access::require(actor, Permission::ManageUsers)?;
    let user = ctx
        .store
        .get_user(org, id)
        .await?
        .ok_or(DomainError::NotFound { resource: "user" })?;
    if actor.role == Some(Role::SiteAdmin)
        && !user.site_ids.iter().any(|s| actor.site_ids.contains(s))
    {
        return Err(DomainError::NotFound { resource: "user" });
    }
    access::check_may_change_account(actor, user.role)?;
    Ok(user)
}

/// Turns an account off (or on again); sessions of a disabled user stop working at their next request.
pub async fn set_active(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: UserId,
    active: bool,
) -> DomainResult<User> {
    let org = actor.org()?;
    access::require(actor, Permission::ManageUsers)?;
    if actor.user_id() == Some(id) {
        return Err(DomainError::invalid(
            "active",
            "you cannot disable your own account",
        ));
    }
    let mut user = managed_account(ctx, actor, org, id).await?;
    if !active && user.active && user.role == Role::OrgAdmin {
        // An organization without an active administrator can only be repaired from the shell.
        let admins = ctx.store.list_users(org, Some(Role::OrgAdmin)).await?;
        if !admins.iter().any(|u| u.active && u.id != id) {
            return Err(DomainError::invalid(
                "active",
                "this is the organization's last active administrator",
            ));
        }
    }
    user.active = active;
    let audit = AuditEntry::new(
        ctx.clock.now(),
        actor.audit_actor(),
        AuditAction::UserUpdate,
        "User",
    )
    .org(org)
    .resource(id)
    .from_ip(actor.source_ip.clone())
    .detail(if active { "enabled" } else { "disabled" });
    ctx.store.update_user(&user, audit).await?;
    Ok(user)
}
