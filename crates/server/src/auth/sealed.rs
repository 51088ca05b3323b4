//! Secrets the server must read back (TOTP secrets) are sealed with AES-256-GCM before they are stored.
//!
//! The key lives outside the database (a file, by default beside the SQLite database), so a copy of
//! the database alone does not reveal anyone's second factor.

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::secrets::fill_random;

const PREFIX: &str = "v1:";

pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot read or create the secret key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret key file {0} must hold exactly 32 bytes, base64 encoded")]
    BadKey(PathBuf),
    #[error("a sealed secret could not be opened: wrong key or damaged value")]
    Open,
}

impl Sealer {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        // A 32-byte key is always valid for AES-256-GCM.
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .unwrap_or_else(|_| unreachable!("32-byte AES key"));
        Self {
            key: LessSafeKey::new(unbound),
        }
    }

    /// A fresh random key; for tests.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes);
        Self::from_bytes(&bytes)
    }

    /// Loads the key from `path`, creating it (readable by the owner only) if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        let io = |source| SealError::KeyFile {
            path: path.to_path_buf(),
            source,
        };
        if !path.exists() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let mut bytes = [0u8; 32];
            fill_random(&mut bytes);
            write_private(path, STANDARD.encode(bytes).as_bytes()).map_err(io)?;
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SealError::BadKey(path.to_path_buf()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SealError::BadKey(path.to_path_buf()))?;
        Ok(Self::from_bytes(&key))
    }

    /// Seals `plain`; `context` (such as the user id) is bound in, so a value cannot be moved to another row.
    pub fn seal(&self, plain: &str, context: &str) -> String {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        fill_random(&mut nonce_bytes);
        let mut buffer = plain.as_bytes().to_vec();
        let nonce = Nonce::assume_unique_for_key(nonce_bytes);
        // Sealing in memory with a valid key cannot fail.
        let _ =
            self.key
                .seal_in_place_append_tag(nonce, Aad::from(context.as_bytes()), &mut buffer);
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buffer);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SealError> {
        let encoded = sealed.strip_prefix(PREFIX).ok_or(SealError::Open)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SealError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce_bytes, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce_bytes).map_err(|_| SealError::Open)?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Open)
    }
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Where the key lives unless configured: beside a SQLite database, else under `./telemed-data/`.
pub fn default_key_path(database_url: &str) -> PathBuf {
    let sqlite_file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest));
    match sqlite_file.map(Path::new).and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("secret.key"),
        Some(_) => PathBuf::from("secret.key"),
        None => PathBuf::from("telemed-data").join("secret.key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_context() {
        let sealer = Sealer::random();
        let sealed = sealer.seal("JBSWY3DPEHPK3PXP", "user-1");
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(
            sealer.open(&sealed, "user-1").ok().as_deref(),
            Some("JBSWY3DPEHPK3PXP")
        );
        assert!(
            sealer.open(&sealed, "user-2").is_err(),
            "moved to another row"
        );
        assert!(
            Sealer::random().open(&sealed, "user-1").is_err(),
            "another key"
        );
        assert!(
            sealer.open("JBSWY3DPEHPK3PXP", "user-1").is_err(),
            "plain text is not accepted"
        );
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir =
            std::env::temp_dir().join(format!("telemed-key-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("secret.key");
        let first = Sealer::load_or_create(&path)
            .map(|s| s.seal("x", "c"))
            .unwrap_or_default();
        let second = Sealer::load_or_create(&path)
            .and_then(|s| s.open(&first, "c"))
            .ok();
        assert_eq!(second.as_deref(), Some("x"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_default_key_sits_beside_the_sqlite_file() {
        assert_eq!(
            default_key_path("sqlite://telemed-data/telemed.db"),
            PathBuf::from("telemed-data/secret.key")
        );
        assert_eq!(
            default_key_path("postgres://db/telemed"),
            PathBuf::from("telemed-data/secret.key")
        );
        assert_eq!(
            default_key_path("sqlite:///var/lib/telemed/t.db?mode=rwc"),
            PathBuf::from("/var/lib/telemed/secret.key")
        );
    }
}
