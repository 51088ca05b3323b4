//! Argon2id password hashing, run off the async threads because it is slow on purpose.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use domain::DomainError;

pub fn hash(password: &str) -> Result<String, DomainError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| DomainError::Storage(format!("password hashing failed: {e}")))
}

pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A fixed hash to verify against when the account does not exist, so timing does not reveal that.
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Q1G1bxq2hHh7QWS9x6ZgDwYo9XyvXv9R8e0+1b3FZ0c"
}

pub async fn verify_async(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || verify(&password, &phc))
        .await
        .unwrap_or(false)
}

pub async fn hash_async(password: String) -> Result<String, DomainError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| DomainError::Storage(format!("password hashing task failed: {e}")))?
}

/// The domain asks the application for hashing and sealing through this.
impl domain::identity::service::users::Secrets for crate::state::AppState {
    fn hash_password(&self, password: &str) -> Result<String, DomainError> {
        hash(password)
    }

    fn verify_password(&self, password: &str, hash: &str) -> bool {
        verify(password, hash)
    }

    fn new_totp_secret(&self, user: domain::ids::UserId) -> (String, String) {
        let plain = super::totp::new_secret();
        let sealed = self.sealer.seal(&plain, &user.to_string());
        (plain, sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_a_real_argon2id_hash_so_unknown_accounts_cost_a_full_check() {
        let parsed = PasswordHash::new(dummy_hash());
        assert!(parsed.is_ok(), "{parsed:?}");
        assert!(!verify("anything at all", dummy_hash()));
    }

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let phc = hash("correct horse battery staple").unwrap_or_default();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse battery staple", &phc));
        assert!(!verify("correct horse battery stapler", &phc));
    }
}
