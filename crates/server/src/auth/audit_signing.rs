//! The Ed25519 key that signs the audit chain's checkpoints. It lives in a file outside the
//! database (by default `audit-signing.key` beside `secret.key`), so someone who can write to the
//! database cannot sign a checkpoint for a chain they rewrote.
//!
//! An exported checkpoint carries the public key, so an auditor can check it elsewhere without
//! the private key.

use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::compliance::{Checkpoint, SignatureCheck};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub struct AuditSigner {
    pair: Ed25519KeyPair,
    key_id: String,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditSigner({})", self.key_id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("cannot read or create the audit signing key file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the audit signing key file {0} does not hold an Ed25519 key (PKCS#8, base64)")]
    BadKey(PathBuf),
    #[error(
        "the audit signing key file {0} does not exist: signed checkpoints cannot be checked without it"
    )]
    Missing(PathBuf),
}

/// The key id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id_of(public_key: &[u8]) -> String {
    hex::encode(Sha256::digest(public_key))[..16].to_string()
}

/// Whether `signature` (base64) is the Ed25519 signature of the checkpoint by `public_key`.
pub fn signature_valid(public_key: &[u8], cp: &Checkpoint) -> bool {
    let Ok(signature) = STANDARD.decode(cp.signature.as_bytes()) else {
        return false;
    };
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&cp.signed_message(), &signature)
        .is_ok()
}

impl AuditSigner {
    fn from_pkcs8(bytes: &[u8], path: &Path) -> Result<Self, SigningKeyError> {
        let pair = Ed25519KeyPair::from_pkcs8(bytes)
            .map_err(|_| SigningKeyError::BadKey(path.to_path_buf()))?;
        let key_id = key_id_of(pair.public_key().as_ref());
        Ok(Self { pair, key_id })
    }

    /// A fresh key kept in memory only; for tests.
    pub fn random() -> Self {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .unwrap_or_else(|_| unreachable!("the system random source works"));
        Self::from_pkcs8(doc.as_ref(), Path::new("memory"))
            .unwrap_or_else(|_| unreachable!("a generated key parses"))
    }

    /// Loads the key, creating it (readable by the owner only) if the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, SigningKeyError> {
        let io = |source| SigningKeyError::File {
            path: path.to_path_buf(),
            source,
        };
        if !path.exists() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .map_err(|_| SigningKeyError::BadKey(path.to_path_buf()))?;
            super::sealed::write_private(path, STANDARD.encode(doc.as_ref()).as_bytes())
                .map_err(io)?;
        }
        Self::load(path)
    }

    /// Loads an existing key.
    pub fn load(path: &Path) -> Result<Self, SigningKeyError> {
        if !path.exists() {
            return Err(SigningKeyError::Missing(path.to_path_buf()));
        }
        let text = std::fs::read_to_string(path).map_err(|source| SigningKeyError::File {
            path: path.to_path_buf(),
            source,
        })?;
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SigningKeyError::BadKey(path.to_path_buf()))?;
        Self::from_pkcs8(&bytes, path)
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The key id and the base64 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> (String, String) {
        (
            self.key_id.clone(),
            STANDARD.encode(self.pair.sign(message).as_ref()),
        )
    }

    /// Checks a stored checkpoint's signature with this key.
    pub fn check(&self, cp: &Checkpoint) -> SignatureCheck {
        if cp.key_id != self.key_id {
            SignatureCheck::UnknownKey
        } else if signature_valid(self.public_key(), cp) {
            SignatureCheck::Valid
        } else {
            SignatureCheck::Invalid
        }
    }

    pub fn export(&self, cp: &Checkpoint) -> ExportedCheckpoint {
        ExportedCheckpoint {
            checkpoint: cp.clone(),
            public_key: STANDARD.encode(self.public_key()),
        }
    }
}

/// A checkpoint as an auditor keeps it: with the public key that checks its signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedCheckpoint {
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    /// Base64 of the Ed25519 public key.
    pub public_key: String,
}

impl ExportedCheckpoint {
    /// Checks the signature with the public key the file carries (and that the key id is its own).
    pub fn check(&self) -> SignatureCheck {
        let Ok(public_key) = STANDARD.decode(self.public_key.as_bytes()) else {
            return SignatureCheck::Invalid;
        };
        if key_id_of(&public_key) != self.checkpoint.key_id {
            return SignatureCheck::UnknownKey;
        }
        if signature_valid(&public_key, &self.checkpoint) {
            SignatureCheck::Valid
        } else {
            SignatureCheck::Invalid
        }
    }
}

/// Where the signing key lives unless configured: beside the secret key file.
pub fn default_signing_key_path(secret_key_file: &Path) -> PathBuf {
    secret_key_file.with_file_name("audit-signing.key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn signed(signer: &AuditSigner) -> Checkpoint {
        let at = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let (key_id, signature) = signer.sign(&Checkpoint::message(7, "abc", at));
        Checkpoint {
            seq: 7,
            hash: "abc".into(),
            at,
            key_id,
            signature,
        }
    }

    #[test]
    fn a_signature_verifies_with_its_key_only_and_only_for_what_was_signed() {
        let signer = AuditSigner::random();
        let cp = signed(&signer);
        assert_eq!(signer.check(&cp), SignatureCheck::Valid);
        assert_eq!(signer.export(&cp).check(), SignatureCheck::Valid);
        let moved = Checkpoint {
            seq: 8,
            ..cp.clone()
        };
        assert_eq!(signer.check(&moved), SignatureCheck::Invalid);
        let other = AuditSigner::random();
        assert_eq!(other.check(&cp), SignatureCheck::UnknownKey);
        // Someone who claims this key's id with another key's signature is caught.
        let forged = Checkpoint {
            key_id: signer.key_id().into(),
            ..signed(&other)
        };
        assert_eq!(signer.check(&forged), SignatureCheck::Invalid);
        let mut exported = other.export(&forged);
        assert_eq!(exported.check(), SignatureCheck::UnknownKey);
        exported.public_key = STANDARD.encode(signer.public_key());
        assert_eq!(exported.check(), SignatureCheck::Invalid);
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir =
            std::env::temp_dir().join(format!("telemed-sign-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("audit-signing.key");
        assert!(matches!(
            AuditSigner::load(&path),
            Err(SigningKeyError::Missing(_))
        ));
        let first = AuditSigner::load_or_create(&path).map(|s| s.key_id().to_string());
        let second = AuditSigner::load(&path).map(|s| s.key_id().to_string());
        assert_eq!(first.ok(), second.ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
