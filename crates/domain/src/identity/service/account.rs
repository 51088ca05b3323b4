//! A person's own account: a patient's contact details and language, changing one's password,
//! and resetting a forgotten one by an emailed one-time link (staff keep their second factor).

use jiff::SignedDuration;
use serde::Deserialize;

use super::patients::PatientInput;
use super::users::Secrets;
use crate::Ctx;
use crate::access::{Actor, Principal};
use crate::compliance::{AuditAction, AuditActor, AuditEntry, Outcome};
use crate::error::{DomainError, DomainResult};
use crate::identity::reset::{
    LINK_UNUSABLE, PasswordReset, ResetPolicy, check_reset_usable, over_hourly_allowance,
};
use crate::identity::{Patient, Role, User, check_password_strength};

/// What a patient may change of their own record: how to reach them and their language.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContactInput {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_line1: String,
    pub address_line2: Option<String>,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub preferred_language: String,
}

impl ContactInput {
    /// The patient's current contact details, to fill the form.
    pub fn of(patient: &Patient) -> Self {
        Self {
            email: patient.email.as_ref().map(ToString::to_string),
            phone: patient.phone.clone(),
            address_line1: patient.address.line1.clone(),
            address_line2: patient.address.line2.clone(),
            city: patient.address.city.clone(),
            state: patient.address.state.code().to_string(),
            postal_code: patient.address.postal_code.clone(),
            preferred_language: patient.preferred_language.clone(),
        }
    }
}

/// A patient changes their own contact details and preferred language; everything else of the
/// record (name, birth date, record number, clinic) stays with the clinic.
pub async fn update_own_contact(
    ctx: Ctx<'_>,
    actor: &Actor,
    input: &ContactInput,
) -> DomainResult<Patient> {
    let org = actor.org()?;
    let (Some(Role::Patient), Some(own)) = (actor.role, actor.own_patient) else {
        return Err(DomainError::Forbidden {
            action: "change contact details here (staff change them on the patient's record)",
        });
    };
    let existing = ctx
        .store
        .get_patient(org, own)
        .await?
        .ok_or(DomainError::NotFound {
            resource: "patient",
        })?;
    // The same checks as the clinic's form, on the record with only the contact fields replaced.
    let whole = PatientInput {
        mrn: existing.mrn.clone(),
        given_name: existing.given_name.clone(),
        family_name: existing.family_name.clone(),
        birth_date: existing.birth_date.to_string(),
        sex: existing.sex.as_str().to_string(),
        email: input.email.clone(),
        phone: input.phone.clone(),
        address_line1: input.address_line1.clone(),
        address_line2: input.address_line2.clone(),
        city: input.city.clone(),
        state: input.state.clone(),
        postal_code: input.postal_code.clone(),
        preferred_language: crate::identity::parse_language(
            "preferred_language",
            &input.preferred_language,
        )?,
        primary_site_id: existing.primary_site_id.to_string(),
    };
    let fields = whole.validate(ctx.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date())?;
    let now = ctx.clock.now();
    let patient = Patient {
        email: fields.email,
        phone: fields.phone,
        address: fields.address,
        preferred_language: fields.preferred_language,
        updated_at: now,
        ..existing
    };
    let audit = AuditEntry::new(
        now,
        actor.audit_actor(),
        AuditAction::PatientUpdate,
        "Patient",
    )
    .org(org)
    .resource(own)
    .patient(own)
    .from_ip(actor.source_ip.clone())
    .detail("contact details, by the patient");
    ctx.store.update_patient(&patient, audit).await?;
    Ok(patient)
}

/// Changes the signed-in person's password after checking the current one. A wrong current
/// password counts as a failed sign-in (so a session left open cannot be used to guess it);
/// the person's other sessions end, `keep_session` (the one in use) stays.
pub async fn change_password(
    ctx: Ctx<'_>,
    secrets: &dyn Secrets,
    actor: &Actor,
    current: &str,
    new: &str,
    keep_session: Option<&str>,
    policy: LockoutPolicy,
) -> DomainResult<()> {
    let Principal::User(user) = actor.principal else {
        return Err(DomainError::Forbidden {
            action: "change a password without an account",
        });
    };
    let org = actor.org()?;
    let creds = ctx
        .store
        .get_credentials(user)
        .await?
        .ok_or(DomainError::NotFound { resource: "user" })?;
    let entry = |action| {
        AuditEntry::new(ctx.clock.now(), actor.audit_actor(), action, "User")
            .org(org)
            .resource(user)
            .from_ip(actor.source_ip.clone())
    };
    if current.is_empty() {
        return Err(DomainError::invalid(
            "current_password",
            "enter your current password",
        ));
    }
    if !secrets.verify_password(current, &creds.password_hash) {
        let lock_until = ctx
            .clock
            .now()
            .checked_add(SignedDuration::from_mins(policy.lockout_minutes))
            .map_err(|e| DomainError::Storage(e.to_string()))?;
        let after = ctx
            .store
            .record_failed_sign_in(
                user,
                policy.max_failed,
                lock_until,
                entry(AuditAction::PasswordChanged)
                    .outcome(Outcome::Failure)
                    .detail("wrong current password"),
            )
            .await?;
        if after.failed_attempts >= policy.max_failed {
            return Err(DomainError::AccountLocked);
        }
        return Err(DomainError::invalid(
            "current_password",
            "is not your current password",
        ));
    }
    check_password_strength("new_password", new)?;
    if current == new {
        return Err(DomainError::invalid(
            "new_password",
            "must differ from your current password",
        ));
    }
    let hash = secrets.hash_password(new)?;
    ctx.store
        .change_password(
            user,
            &hash,
            keep_session,
            entry(AuditAction::PasswordChanged),
        )
        .await
}

/// Failed attempts before a lockout, and how long it lasts (the sign-in settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failed: i64,
    pub lockout_minutes: i64,
}

/// Someone asks for a reset link for `email`. Returns the account to send the link to (whose
/// token's hash is now stored), or `None` when nothing is to be sent: unknown or disabled
/// account, or one that had its links for the hour. The caller answers every case alike, so
/// the answer does not tell whether an account exists.
pub async fn request_password_reset(
    ctx: Ctx<'_>,
    email: &str,
    token_hash: &str,
    source_ip: Option<String>,
    policy: ResetPolicy,
) -> DomainResult<Option<User>> {
    let now = ctx.clock.now();
    let email = email.trim().to_ascii_lowercase();
    let found = match ctx.store.find_user_by_email(&email).await? {
        Some(user) if user.active => Some(user),
        _ => None,
    };
    let Some(user) = found else {
        let audit = AuditEntry::new(
            now,
            AuditActor::Anonymous,
            AuditAction::PasswordResetRequested,
            "User",
        )
        .from_ip(source_ip)
        .outcome(Outcome::Failure)
        .detail("unknown or disabled account");
        ctx.store.record_audit(audit).await?;
        return Ok(None);
    };
    let audit = AuditEntry::new(
        now,
        AuditActor::User {
            id: user.id,
            role: user.role,
        },
        AuditAction::PasswordResetRequested,
        "User",
    )
    .org(user.org_id)
    .resource(user.id)
    .from_ip(source_ip);
    let hour_ago = now
        .checked_sub(SignedDuration::from_hours(1))
        .map_err(|e| DomainError::Storage(e.to_string()))?;
    let sent = ctx.store.count_password_resets(user.id, hour_ago).await?;
    if over_hourly_allowance(&policy, sent) {
        ctx.store
            .record_audit(
                audit
                    .outcome(Outcome::Denied)
                    .detail("hourly allowance used"),
            )
            .await?;
        return Ok(None);
    }
    let reset = PasswordReset {
        token_hash: token_hash.to_string(),
        user_id: user.id,
        org_id: user.org_id,
        created_at: now,
        expires_at: now
            .checked_add(policy.lifetime)
            .map_err(|e| DomainError::Storage(e.to_string()))?,
        used_at: None,
    };
    ctx.store.create_password_reset(&reset, audit).await?;
    Ok(Some(user))
}

/// Is the link behind `token_hash` still usable? (The form is shown only for a usable link.)
pub async fn check_password_reset(ctx: Ctx<'_>, token_hash: &str) -> DomainResult<()> {
    match ctx.store.get_password_reset(token_hash).await? {
        Some(reset) => check_reset_usable(&reset, ctx.clock.now()),
        None => Err(DomainError::InviteUnusable(LINK_UNUSABLE.into())),
    }
}

/// Sets a new password through a reset link, once. The second factor of staff is untouched:
/// they still need their authenticator to sign in.
pub async fn complete_password_reset(
    ctx: Ctx<'_>,
    secrets: &dyn Secrets,
    token_hash: &str,
    new: &str,
    confirm: &str,
    source_ip: Option<String>,
) -> DomainResult<User> {
    let reset = ctx
        .store
        .get_password_reset(token_hash)
        .await?
        .ok_or_else(|| DomainError::InviteUnusable(LINK_UNUSABLE.into()))?;
    let now = ctx.clock.now();
    check_reset_usable(&reset, now)?;
    check_password_strength("new_password", new)?;
    if new != confirm {
        return Err(DomainError::invalid(
            "confirm_password",
            "does not match the new password",
        ));
    }
    let user = ctx
        .store
        .get_user(reset.org_id, reset.user_id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| DomainError::InviteUnusable(LINK_UNUSABLE.into()))?;
    let hash = secrets.hash_password(new)?;
    let audit = AuditEntry::new(
        now,
        AuditActor::User {
            id: user.id,
            role: user.role,
        },
        AuditAction::PasswordResetCompleted,
        "User",
    )
    .org(user.org_id)
    .resource(user.id)
    .from_ip(source_ip);
    if !ctx
        .store
        .use_password_reset(token_hash, now, &hash, audit)
        .await?
    {
        // Used by a request that arrived at the same moment.
        return Err(DomainError::InviteUnusable(LINK_UNUSABLE.into()));
    }
    Ok(user)
}
