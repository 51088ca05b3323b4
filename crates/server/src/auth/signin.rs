//! The sign-in flow: password, lockout, then (for staff) the second factor or its enrolment.

use jiff::SignedDuration;

use domain::DomainError;
use domain::compliance::{AuditAction, AuditActor, AuditEntry, Outcome};
use domain::identity::{Credentials, User};
use domain::store::RecoveryCodeUse;

use super::{passwords, secrets, totp};
use crate::state::AppState;

/// Where the password step leaves the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Patients: signed in.
    SignedIn,
    /// Staff with an authenticator: ask for a code.
    Code,
    /// Staff without one yet: show the QR code and confirm a first code.
    Enrol,
}

fn entry(state: &AppState, user: &User, action: AuditAction, ip: &Option<String>) -> AuditEntry {
    AuditEntry::new(
        state.clock.now(),
        AuditActor::User {
            id: user.id,
            role: user.role,
        },
        action,
        "User",
    )
    .org(user.org_id)
    .resource(user.id)
    .from_ip(ip.clone())
}

async fn credentials(state: &AppState, user: &User) -> Result<Credentials, DomainError> {
    state
        .store
        .get_credentials(user.id)
        .await?
        .ok_or(DomainError::BadCredentials)
}

/// Refuses the attempt when its address has made too many this minute.
fn throttle(state: &AppState, ip: &Option<String>) -> Result<(), DomainError> {
    match ip {
        Some(ip)
            if !state.sign_in_throttle.allow(
                ip,
                state.clock.now(),
                state.config.sign_in_attempts_per_minute,
            ) =>
        {
            Err(DomainError::TooManyAttempts)
        }
        _ => Ok(()),
    }
}

fn locked(state: &AppState, creds: &Credentials) -> bool {
    creds
        .locked_until
        .is_some_and(|until| until > state.clock.now())
}

/// Counts a failure; the entry that locks the account says so.
async fn fail(
    state: &AppState,
    user: &User,
    action: AuditAction,
    ip: &Option<String>,
) -> Result<DomainError, DomainError> {
    let lock_until = state
        .clock
        .now()
        .checked_add(SignedDuration::from_mins(state.config.lockout_minutes))
        .map_err(|e| DomainError::Storage(e.to_string()))?;
    let audit = entry(state, user, action, ip).outcome(Outcome::Failure);
    let creds = state
        .store
        .record_failed_sign_in(user.id, state.config.max_failed_sign_ins, lock_until, audit)
        .await?;
    if creds.failed_attempts >= state.config.max_failed_sign_ins {
        let audit = entry(state, user, AuditAction::SignInLocked, ip).outcome(Outcome::Denied);
        state.store.record_audit(audit).await?;
        return Ok(DomainError::AccountLocked);
    }
    Ok(if action == AuditAction::MfaFailure {
        DomainError::BadMfaCode
    } else {
        DomainError::BadCredentials
    })
}

/// Checks email and password. The same error answers an unknown email and a wrong password.
pub async fn password(
    state: &AppState,
    email: &str,
    password: &str,
    ip: Option<String>,
) -> Result<(User, Next), DomainError> {
    throttle(state, &ip)?;
    let email = email.trim().to_ascii_lowercase();
    let Some(user) = state.store.find_user_by_email(&email).await? else {
        // Spend the same time as a real check so the answer's timing does not reveal accounts.
        passwords::verify_async(password.to_string(), passwords::dummy_hash().to_string()).await;
        let audit = AuditEntry::new(
            state.clock.now(),
            AuditActor::Anonymous,
            AuditAction::SignInFailure,
            "User",
        )
        .from_ip(ip)
        .outcome(Outcome::Failure)
        .detail("unknown account");
        state.store.record_audit(audit).await?;
        return Err(DomainError::BadCredentials);
    };
    let creds = credentials(state, &user).await?;
    if locked(state, &creds) {
        state
            .store
            .record_audit(
                entry(state, &user, AuditAction::SignInLocked, &ip).outcome(Outcome::Denied),
            )
            .await?;
        return Err(DomainError::AccountLocked);
    }
    let ok = passwords::verify_async(password.to_string(), creds.password_hash.clone()).await;
    if !ok || !user.active || !creds.active {
        return Err(fail(state, &user, AuditAction::SignInFailure, &ip).await?);
    }
    if !user.role.is_staff() {
        state
            .store
            .record_successful_sign_in(
                user.id,
                entry(state, &user, AuditAction::SignInSuccess, &ip),
            )
            .await?;
        return Ok((user, Next::SignedIn));
    }
    let next = if creds.totp_confirmed && creds.totp_secret.is_some() {
        Next::Code
    } else {
        Next::Enrol
    };
    Ok((user, next))
}

/// Checks a one-time code, or a recovery code, for a user whose password was accepted.
pub async fn second_factor(
    state: &AppState,
    user: &User,
    code: &str,
    ip: Option<String>,
) -> Result<(), DomainError> {
    throttle(state, &ip)?;
    let creds = credentials(state, user).await?;
    if locked(state, &creds) {
        state
            .store
            .record_audit(
                entry(state, user, AuditAction::SignInLocked, &ip).outcome(Outcome::Denied),
            )
            .await?;
        return Err(DomainError::AccountLocked);
    }
    let Some(sealed) = creds
        .totp_secret
        .as_deref()
        .filter(|_| creds.totp_confirmed)
    else {
        return Err(DomainError::MfaRequired);
    };
    let secret = open_totp_secret(state, user.id, sealed)?;
    let accepted = match totp::check(&secret, code, state.clock.now()) {
        Some(step) => state.store.claim_totp_step(user.id, step).await?,
        None => {
            let normalised = totp::normalise_recovery_code(code);
            normalised.len() == 10 && {
                let audit = entry(state, user, AuditAction::RecoveryCodeUsed, &ip);
                state
                    .store
                    .use_recovery_code(user.id, &secrets::sha256_hex(&normalised), audit)
                    .await?
                    == RecoveryCodeUse::Accepted
            }
        }
    };
    if !accepted {
        return Err(fail(state, user, AuditAction::MfaFailure, &ip).await?);
    }
    state
        .store
        .record_successful_sign_in(user.id, entry(state, user, AuditAction::MfaSuccess, &ip))
        .await?;
    Ok(())
}

/// The secret being enrolled: a fresh one, stored unconfirmed until a first code proves the app has it.
pub async fn enrolment_secret(state: &AppState, user: &User) -> Result<String, DomainError> {
    let creds = credentials(state, user).await?;
    if creds.totp_confirmed {
        return Err(DomainError::Forbidden {
            action: "enrol a second authenticator",
        });
    }
    if let Some(sealed) = creds.totp_secret {
        return open_totp_secret(state, user.id, &sealed);
    }
    let secret = totp::new_secret();
    let sealed = state.sealer.seal(&secret, &user.id.to_string());
    state.store.set_totp_secret(user.id, &sealed, false).await?;
    Ok(secret)
}

/// Opens a stored TOTP secret. Failure means the key file does not match the database.
pub fn open_totp_secret(
    state: &AppState,
    user: domain::ids::UserId,
    sealed: &str,
) -> Result<String, DomainError> {
    state.sealer.open(sealed, &user.to_string()).map_err(|e| {
        tracing::error!(%user, error = %e, "cannot open a TOTP secret: is this the right secret key file?");
        DomainError::Storage("a stored secret could not be opened".into())
    })
}

/// Confirms enrolment with a first code and returns fresh recovery codes (shown once).
pub async fn confirm_enrolment(
    state: &AppState,
    user: &User,
    code: &str,
    ip: Option<String>,
) -> Result<Vec<String>, DomainError> {
    let creds = credentials(state, user).await?;
    let Some(secret) = creds
        .totp_secret
        .as_deref()
        .filter(|_| !creds.totp_confirmed)
    else {
        return Err(DomainError::Forbidden {
            action: "enrol a second authenticator",
        });
    };
    let secret = open_totp_secret(state, user.id, secret)?;
    let Some(step) = totp::check(&secret, code, state.clock.now()) else {
        return Err(fail(state, user, AuditAction::MfaFailure, &ip).await?);
    };
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| secrets::sha256_hex(&totp::normalise_recovery_code(c)))
        .collect();
    state
        .store
        .confirm_totp(
            user.id,
            &hashes,
            entry(state, user, AuditAction::MfaEnrolled, &ip),
        )
        .await?;
    state.store.claim_totp_step(user.id, step).await?;
    state
        .store
        .record_successful_sign_in(user.id, entry(state, user, AuditAction::MfaSuccess, &ip))
        .await?;
    Ok(codes)
}

/// Records that a user signed out (their session is already ended).
pub async fn record_sign_out(
    state: &AppState,
    user: &User,
    ip: Option<String>,
) -> Result<(), DomainError> {
    let audit = AuditEntry::new(
        state.clock.now(),
        AuditActor::User {
            id: user.id,
            role: user.role,
        },
        AuditAction::SignOut,
        "User",
    )
    .org(user.org_id)
    .resource(user.id)
    .from_ip(ip);
    state.store.record_audit(audit).await
}
