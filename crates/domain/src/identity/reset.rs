//! Forgotten passwords: a one-time link emailed to the account's address. Only the SHA-256 of
//! the link's token is stored; a link lasts a short while, is used once, and an account gets
//! only a few of them an hour.

use jiff::{SignedDuration, Timestamp};

use crate::error::DomainError;
use crate::ids::{OrgId, UserId};

/// One emailed reset link, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset {
    /// SHA-256 (hex) of the token in the link.
    pub token_hash: String,
    pub user_id: UserId,
    pub org_id: OrgId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// How long a link lasts and how many an account may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetPolicy {
    pub lifetime: SignedDuration,
    /// Links sent to one account per hour; further requests are answered the same way but send nothing.
    pub per_account_per_hour: i64,
}

impl Default for ResetPolicy {
    /// Thirty minutes, three an hour.
    fn default() -> Self {
        Self {
            lifetime: SignedDuration::from_mins(30),
            per_account_per_hour: 3,
        }
    }
}

/// Why a link cannot be used, in words for the person holding it.
pub const LINK_UNUSABLE: &str =
    "this password reset link has expired or was already used; ask for a new one";

/// A link may be used when it has not been used and has not expired.
pub fn check_reset_usable(reset: &PasswordReset, now: Timestamp) -> Result<(), DomainError> {
    if reset.used_at.is_some() || now >= reset.expires_at {
        return Err(DomainError::InviteUnusable(LINK_UNUSABLE.into()));
    }
    Ok(())
}

/// True when an account already had its allowance of links in the last hour.
pub fn over_hourly_allowance(policy: &ResetPolicy, sent_in_last_hour: i64) -> bool {
    sent_in_last_hour >= policy.per_account_per_hour
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reset(at: Timestamp) -> PasswordReset {
        PasswordReset {
            token_hash: "h".into(),
            user_id: UserId::new(),
            org_id: OrgId::new(),
            created_at: at,
            expires_at: at + ResetPolicy::default().lifetime,
            used_at: None,
        }
    }

    #[test]
    fn a_link_works_until_it_expires_and_never_after_use() {
        let t0 = Timestamp::UNIX_EPOCH;
        let r = reset(t0);
        assert!(check_reset_usable(&r, t0 + SignedDuration::from_mins(29)).is_ok());
        assert!(matches!(
            check_reset_usable(&r, t0 + SignedDuration::from_mins(30)),
            Err(DomainError::InviteUnusable(_))
        ));
        let used = PasswordReset {
            used_at: Some(t0),
            ..r
        };
        assert!(check_reset_usable(&used, t0).is_err());
    }

    #[test]
    fn an_account_gets_three_links_an_hour() {
        let p = ResetPolicy::default();
        assert!(!over_hourly_allowance(&p, 2));
        assert!(over_hourly_allowance(&p, 3));
    }
}
