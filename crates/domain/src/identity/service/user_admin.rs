//! An administrator's changes to someone else's account: edit it, clear its authenticator, send
//! it a password reset link, and find accounts. Each change is allowed only on an account whose
//! role is below the administrator's own (within their sites for a site administrator), and is
//! audited in the same transaction.

use jiff::SignedDuration;
use serde::Deserialize;

use super::users::{ClinicianFields, LicenseInput, managed_account, parse_clinician, parse_sites};
use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::{AuditAction, AuditEntry};
use crate::error::{AllFields, DomainError, DomainResult};
use crate::identity::{
    PasswordReset, ResetPolicy, Role, User, over_hourly_allowance, required_text,
};
use crate::ids::UserId;

/// What an administrator may change about an account (the person changes their own email and
/// password themselves).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserEdit {
    pub display_name: String,
    pub role: String,
    #[serde(default)]
    pub site_ids: Vec<String>,
    pub npi: Option<String>,
    #[serde(default)]
    pub specialties: Vec<String>,
    #[serde(default)]
    pub licenses: Vec<LicenseInput>,
    #[serde(default)]
    pub languages: Vec<String>,
}

/// The role an account may be given: below the administrator's own, and a patient's account
/// stays a patient's (it opens one record) as a staff account stays staff.
fn new_role(actor: &Actor, current: Role, raw: &str) -> DomainResult<Role> {
    let role = Role::parse("role", raw)?;
    if (role == Role::Patient) != (current == Role::Patient) {
        return Err(DomainError::invalid(
            "role",
            "a patient's account stays a patient's account, and a staff account stays staff",
        ));
    }
    if access::check_may_change_account(actor, role).is_err() {
        return Err(DomainError::invalid(
            "role",
            format!(
                "you may give only roles below your own; {} is not",
                role.label()
            ),
        ));
    }
    Ok(role)
}

/// Changes an account's name, role, sites and clinician profile (NPI, specialties, licenses
/// with their expiry, languages). Every field's problem is reported at once; nothing is written
/// on a refusal. The audit entry names what changed.
pub async fn update(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: UserId,
    edit: &UserEdit,
) -> DomainResult<User> {
    let org = actor.org()?;
    let mut user = managed_account(ctx, actor, org, id).await?;
    // The clinician's fields are checked whenever the form says clinician, so that every
    // problem shows at once.
    let clinician = if edit.role.trim() == Role::Clinician.as_str() {
        parse_clinician(ClinicianFields {
            npi: edit.npi.as_deref(),
            specialties: &edit.specialties,
            licenses: &edit.licenses,
            languages: &edit.languages,
        })
        .map(Some)
    } else {
        Ok(None)
    };
    let (display_name, role, site_ids, clinician) = (
        required_text("display_name", &edit.display_name, 200),
        new_role(actor, user.role, &edit.role),
        parse_sites(ctx, actor, org, &edit.site_ids).await,
        clinician,
    )
        .all_fields()?;
    let mut changed = Vec::new();
    if display_name != user.display_name {
        changed.push("name".to_string());
    }
    if role != user.role {
        changed.push(format!("role {} to {}", user.role.as_str(), role.as_str()));
    }
    if site_ids != user.site_ids {
        changed.push("sites".to_string());
    }
    if clinician != user.clinician {
        changed.push("clinician profile".to_string());
    }
    if changed.is_empty() {
        return Ok(user);
    }
    user.display_name = display_name;
    user.role = role;
    user.site_ids = site_ids;
    user.clinician = clinician;
    let audit = AuditEntry::new(
        ctx.clock.now(),
        actor.audit_actor(),
        AuditAction::UserUpdate,
        "User",
    )
    .org(org)
    .resource(id)
    .from_ip(actor.source_ip.clone())
    .detail(format!("changed: {}", changed.join(", ")));
    ctx.store.update_user(&user, audit).await?;
    Ok(user)
}

/// Clears a staff member's authenticator (a lost or new phone): their sessions end, and they
/// enrol a new authenticator at their next sign-in, after their password.
pub async fn reset_second_factor(ctx: Ctx<'_>, actor: &Actor, id: UserId) -> DomainResult<User> {
    let org = actor.org()?;
    let user = managed_account(ctx, actor, org, id).await?;
    if !user.role.is_staff() {
        return Err(DomainError::invalid(
            "user",
            "patients sign in without an authenticator app",
        ));
    }
    let audit = AuditEntry::new(
        ctx.clock.now(),
        actor.audit_actor(),
        AuditAction::MfaReset,
        "User",
    )
    .org(org)
    .resource(id)
    .from_ip(actor.source_ip.clone())
    .detail("authenticator cleared by an administrator; sessions ended");
    ctx.store.reset_second_factor(id, audit).await?;
    Ok(user)
}

/// Starts a password reset for someone else's account: stores the link's token hash and
/// returns the account to send the link to. The hourly allowance of links holds here too.
pub async fn send_password_reset(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: UserId,
    token_hash: &str,
    policy: ResetPolicy,
) -> DomainResult<User> {
    let org = actor.org()?;
    let user = managed_account(ctx, actor, org, id).await?;
    if !user.active {
        return Err(DomainError::invalid(
            "user",
            "the account is disabled: enable it first",
        ));
    }
    let now = ctx.clock.now();
    let hour_ago = now
        .checked_sub(SignedDuration::from_hours(1))
        .map_err(|e| DomainError::Storage(e.to_string()))?;
    let sent = ctx.store.count_password_resets(user.id, hour_ago).await?;
    if over_hourly_allowance(&policy, sent) {
        return Err(DomainError::invalid(
            "user",
            format!(
                "{sent} reset links went to this account in the last hour; wait before sending another"
            ),
        ));
    }
    let reset = PasswordReset {
        token_hash: token_hash.to_string(),
        user_id: user.id,
        org_id: org,
        created_at: now,
        expires_at: now
            .checked_add(policy.lifetime)
            .map_err(|e| DomainError::Storage(e.to_string()))?,
        used_at: None,
    };
    let audit = AuditEntry::new(
        now,
        actor.audit_actor(),
        AuditAction::PasswordResetRequested,
        "User",
    )
    .org(org)
    .resource(id)
    .from_ip(actor.source_ip.clone())
    .detail("sent by an administrator");
    ctx.store.create_password_reset(&reset, audit).await?;
    Ok(user)
}

/// The accounts the actor manages whose name or email contains `text` (all when blank), of
/// `role` if given, in name order.
pub async fn find(
    ctx: Ctx<'_>,
    actor: &Actor,
    text: &str,
    role: Option<Role>,
) -> DomainResult<Vec<User>> {
    access::require(actor, Permission::ManageUsers)?;
    let needle = text.trim().to_lowercase();
    let mut found: Vec<User> = super::users::list(ctx, actor, role)
        .await?
        .into_iter()
        .filter(|u| {
            needle.is_empty()
                || u.display_name.to_lowercase().contains(&needle)
                || u.email.as_str().to_lowercase().contains(&needle)
        })
        .collect();
    found.sort_by_key(|u| (u.display_name.to_lowercase(), u.id));
    Ok(found)
}

/// May the actor change this account (offer its edit and reset buttons)?
pub fn may_manage(actor: &Actor, user: &User) -> bool {
    actor.user_id() != Some(user.id) && access::check_may_change_account(actor, user.role).is_ok()
}
