//! Free text sealed at rest: AES-256-GCM under data keys, each data key wrapped by a
//! key-encryption key (KEK) that lives in a file outside the database.
//!
//! A sealed value reads `tm1:<data key id>:<base64 of nonce and ciphertext>`, so every value
//! names its key. The value's place (table, column, row id) is bound in as associated data, so
//! a value copied into another row does not open. Data keys sit in `data_keys`, wrapped; the key
//! file holds one KEK per line (`<id> <base64>`), the last one current. Rotation (`rotate`)
//! adds a KEK, makes a new current data key, re-wraps every data key under the new KEK, and
//! then drops the old KEKs from the file; a server running meanwhile re-reads the file when it
//! meets a KEK it does not know.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::DomainError;
use sqlx::AnyPool;

use crate::db::{self, DbResult, R};

const PREFIX: &str = "tm1:";
/// How long a server keeps sealing with the current data key before asking the database
/// whether a rotation made another one current.
const CURRENT_TTL: Duration = Duration::from_secs(30);

fn sealing_error(message: impl Into<String>) -> DomainError {
    let message = message.into();
    tracing::error!(%message, "sealing");
    DomainError::Storage(message)
}

fn random<const N: usize>() -> R<[u8; N]> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| sealing_error("the system random generator failed"))?;
    Ok(bytes)
}

fn aead_key(bytes: &[u8; 32]) -> R<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| sealing_error("an AES-256 key could not be made"))
}

fn seal_bytes(key: &LessSafeKey, aad: &str, plain: &[u8]) -> R<Vec<u8>> {
    let nonce_bytes = random::<NONCE_LEN>()?;
    let mut buffer = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::from(aad.as_bytes()),
        &mut buffer,
    )
    .map_err(|_| sealing_error("a value could not be sealed"))?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&buffer);
    Ok(out)
}

fn open_bytes(key: &LessSafeKey, aad: &str, sealed: &[u8]) -> R<Vec<u8>> {
    let unreadable =
        || sealing_error("a sealed value could not be opened: wrong key or damaged value");
    if sealed.len() < NONCE_LEN {
        return Err(unreadable());
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unreadable())?;
    let mut buffer = body.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buffer)
        .map_err(|_| unreadable())?;
    Ok(plain.to_vec())
}

/// The key-encryption keys of a key file, in file order (the last is current).
#[derive(Clone, Default)]
struct KeyFile {
    keys: Vec<(String, [u8; 32])>,
}

impl KeyFile {
    fn read(path: &Path) -> R<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            sealing_error(format!(
                "cannot read the data key file {}: {e}",
                path.display()
            ))
        })?;
        let mut keys = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = line.split_once(' ').and_then(|(id, b64)| {
                let bytes: [u8; 32] = STANDARD.decode(b64.trim()).ok()?.try_into().ok()?;
                Some((id.to_string(), bytes))
            });
            match parsed {
                Some(key) => keys.push(key),
                None => {
                    return Err(sealing_error(format!(
                        "the data key file {} has a line that is not `<id> <base64 of 32 bytes>`",
                        path.display()
                    )));
                }
            }
        }
        if keys.is_empty() {
            return Err(sealing_error(format!(
                "the data key file {} holds no key",
                path.display()
            )));
        }
        Ok(Self { keys })
    }

    /// Writes the file whole (through a temporary file and a rename), readable by its owner only.
    fn write(&self, path: &Path) -> R<()> {
        let mut text = String::from(
            "# Telemed key-encryption keys: `<id> <base64>`, the last one current. Keep this file\n\
             # outside the database and back it up separately: sealed text cannot be read without it.\n",
        );
        for (id, bytes) in &self.keys {
            text.push_str(&format!("{id} {}\n", STANDARD.encode(bytes)));
        }
        let io = |e: std::io::Error| {
            sealing_error(format!(
                "cannot write the data key file {}: {e}",
                path.display()
            ))
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let tmp = path.with_extension("tmp");
        write_private(&tmp, text.as_bytes()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    fn new_key() -> R<(String, [u8; 32])> {
        Ok((
            format!("kek-{}", uuid::Uuid::now_v7().simple()),
            random::<32>()?,
        ))
    }

    fn current(&self) -> Option<&(String, [u8; 32])> {
        self.keys.last()
    }

    fn get(&self, id: &str) -> Option<&[u8; 32]> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, b)| b)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[derive(Default)]
struct Cache {
    file: KeyFile,
    data_keys: HashMap<String, Arc<LessSafeKey>>,
    current: Option<(String, Instant)>,
}

/// The keys a store seals and opens free text with.
pub(crate) struct Keyring {
    path: Option<PathBuf>,
    cache: RwLock<Cache>,
}

impl Keyring {
    /// A keyring over the key file at `path`, created with a first key if missing; `None`
    /// refuses to seal (a PostgreSQL store started without a key file).
    pub(crate) fn load(path: Option<PathBuf>) -> R<Self> {
        let file = match &path {
            Some(p) if !p.exists() => {
                let file = KeyFile {
                    keys: vec![KeyFile::new_key()?],
                };
                file.write(p)?;
                file
            }
            Some(p) => KeyFile::read(p)?,
            None => KeyFile::default(),
        };
        Ok(Self {
            path,
            cache: RwLock::new(Cache {
                file,
                ..Cache::default()
            }),
        })
    }

    fn read(&self) -> R<std::sync::RwLockReadGuard<'_, Cache>> {
        self.cache
            .read()
            .map_err(|_| sealing_error("the key cache is unusable"))
    }

    fn write(&self) -> R<std::sync::RwLockWriteGuard<'_, Cache>> {
        self.cache
            .write()
            .map_err(|_| sealing_error("the key cache is unusable"))
    }

    fn path(&self) -> R<&Path> {
        self.path.as_deref().ok_or_else(|| {
            sealing_error(
                "no data key file is configured (TELEMED_DATA_KEY_FILE), so free text cannot be sealed or opened",
            )
        })
    }

    /// The KEK with this id, re-reading the file once if it is not known (rotated meanwhile).
    fn kek(&self, id: &str) -> R<LessSafeKey> {
        if let Some(bytes) = self.read()?.file.get(id) {
            return aead_key(bytes);
        }
        let file = KeyFile::read(self.path()?)?;
        let bytes = *file.get(id).ok_or_else(|| {
            sealing_error(format!(
                "the data key file does not hold key-encryption key {id}"
            ))
        })?;
        self.write()?.file = file;
        aead_key(&bytes)
    }

    fn unwrap_key(&self, id: &str, kek_id: &str, wrapped: &str) -> R<LessSafeKey> {
        let kek = self.kek(kek_id)?;
        let bytes = STANDARD
            .decode(wrapped)
            .map_err(|_| sealing_error("a wrapped data key is damaged"))?;
        let plain = open_bytes(&kek, &format!("telemed-data-key:{id}"), &bytes)?;
        let key: [u8; 32] = plain
            .try_into()
            .map_err(|_| sealing_error("a data key is not 32 bytes"))?;
        aead_key(&key)
    }

    fn wrap_key(&self, id: &str, kek_id: &str, key: &[u8; 32]) -> R<String> {
        let kek = self.kek(kek_id)?;
        Ok(STANDARD.encode(seal_bytes(&kek, &format!("telemed-data-key:{id}"), key)?))
    }

    /// A data key by id: from the cache, or read from the database and unwrapped.
    async fn data_key(&self, pool: &AnyPool, id: &str) -> R<Arc<LessSafeKey>> {
        if let Some(key) = self.read()?.data_keys.get(id) {
            return Ok(key.clone());
        }
        let row = sqlx::query("SELECT kek_id, wrapped FROM data_keys WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(pool)
            .await
            .db()?
            .ok_or_else(|| sealing_error(format!("data key {id} is not in the database")))?;
        let key = Arc::new(self.unwrap_key(
            id,
            &db::text(&row, "kek_id")?,
            &db::text(&row, "wrapped")?,
        )?);
        self.write()?.data_keys.insert(id.to_string(), key.clone());
        Ok(key)
    }

    /// The id of the current data key, making the first one if the database has none.
    async fn current_id(&self, writer: &AnyPool, reader: &AnyPool) -> R<String> {
        if let Some((id, at)) = &self.read()?.current
            && at.elapsed() < CURRENT_TTL
        {
            return Ok(id.clone());
        }
        let found = sqlx::query("SELECT id FROM data_keys WHERE is_current = TRUE")
            .fetch_optional(reader)
            .await
            .db()?;
        let id = match found {
            Some(row) => db::text(&row, "id")?,
            None => self.create_current(writer).await?,
        };
        self.write()?.current = Some((id.clone(), Instant::now()));
        Ok(id)
    }

    /// Makes a new data key, wrapped under the current KEK, and makes it current.
    async fn create_current(&self, writer: &AnyPool) -> R<String> {
        self.path()?;
        let kek_id = self
            .read()?
            .file
            .current()
            .map(|(id, _)| id.clone())
            .ok_or_else(|| sealing_error("the data key file holds no key"))?;
        let id = format!("dk-{}", uuid::Uuid::now_v7().simple());
        let key = random::<32>()?;
        let wrapped = self.wrap_key(&id, &kek_id, &key)?;
        let mut tx = writer.begin().await.db()?;
        sqlx::query("UPDATE data_keys SET is_current = FALSE WHERE is_current = TRUE")
            .execute(&mut *tx)
            .await
            .db()?;
        let inserted = sqlx::query(
            "INSERT INTO data_keys (id, kek_id, wrapped, created_at, is_current) VALUES ($1, $2, $3, $4, TRUE)",
        )
        .bind(id.clone())
        .bind(kek_id)
        .bind(wrapped)
        .bind(domain::Clock::now(&domain::SystemClock).as_microsecond())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => tx.commit().await.db()?,
            // Another server made one at the same moment: use theirs.
            Err(e) if db::is_unique_violation(&e) => {
                drop(tx);
                let row = sqlx::query("SELECT id FROM data_keys WHERE is_current = TRUE")
                    .fetch_one(writer)
                    .await
                    .db()?;
                return db::text(&row, "id");
            }
            Err(e) => return Err(db::storage(e)),
        }
        self.write()?
            .data_keys
            .insert(id.clone(), Arc::new(aead_key(&key)?));
        Ok(id)
    }

    /// Seals `plain` for the place `context` names (`table.column:row id`). Called before the
    /// write's transaction begins: the first seal may write the first data key.
    pub(crate) async fn seal(
        &self,
        writer: &AnyPool,
        reader: &AnyPool,
        context: &str,
        plain: &[u8],
    ) -> R<String> {
        let id = self.current_id(writer, reader).await?;
        let key = self.data_key(reader, &id).await?;
        let sealed = seal_bytes(&key, context, plain)?;
        Ok(format!("{PREFIX}{id}:{}", STANDARD.encode(sealed)))
    }

    /// Opens a value sealed for `context`.
    pub(crate) async fn open(&self, reader: &AnyPool, context: &str, sealed: &str) -> R<Vec<u8>> {
        let damaged = || sealing_error("a stored value is not a sealed value");
        let rest = sealed.strip_prefix(PREFIX).ok_or_else(damaged)?;
        let (id, body) = rest.split_once(':').ok_or_else(damaged)?;
        let key = self.data_key(reader, id).await?;
        let bytes = STANDARD.decode(body).map_err(|_| damaged())?;
        open_bytes(&key, context, &bytes)
    }

    /// Rotates: a new KEK in the file, a new current data key under it, every data key
    /// re-wrapped under it, then the old KEKs dropped from the file. `progress(done, total)` is
    /// called after each data key. Safe to run again after an interruption.
    pub(crate) async fn rotate(
        &self,
        writer: &AnyPool,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> R<Rotation> {
        let path = self.path()?.to_path_buf();
        let mut file = KeyFile::read(&path)?;
        let new_kek = KeyFile::new_key()?;
        file.keys.push(new_kek.clone());
        file.write(&path)?;
        self.write()?.file = file.clone();
        let new_data_key = self.create_current(writer).await?;
        let rows = sqlx::query("SELECT id, kek_id, wrapped FROM data_keys ORDER BY created_at")
            .fetch_all(writer)
            .await
            .db()?;
        let total = rows.len() as u64;
        for (i, row) in rows.iter().enumerate() {
            let id = db::text(row, "id")?;
            let kek_id = db::text(row, "kek_id")?;
            if kek_id != new_kek.0 {
                let key = self.unwrap_plain(&id, &kek_id, &db::text(row, "wrapped")?)?;
                let wrapped = self.wrap_key(&id, &new_kek.0, &key)?;
                sqlx::query("UPDATE data_keys SET kek_id = $2, wrapped = $3 WHERE id = $1")
                    .bind(id)
                    .bind(new_kek.0.clone())
                    .bind(wrapped)
                    .execute(writer)
                    .await
                    .db()?;
            }
            progress(i as u64 + 1, total);
        }
        let retired = file.keys.len() as u64 - 1;
        let only_new = KeyFile {
            keys: vec![new_kek.clone()],
        };
        only_new.write(&path)?;
        self.write()?.file = only_new;
        Ok(Rotation {
            key_encryption_key: new_kek.0,
            data_key: new_data_key,
            rewrapped: total,
            retired_keks: retired,
        })
    }

    fn unwrap_plain(&self, id: &str, kek_id: &str, wrapped: &str) -> R<[u8; 32]> {
        let kek = self.kek(kek_id)?;
        let bytes = STANDARD
            .decode(wrapped)
            .map_err(|_| sealing_error("a wrapped data key is damaged"))?;
        open_bytes(&kek, &format!("telemed-data-key:{id}"), &bytes)?
            .try_into()
            .map_err(|_| sealing_error("a data key is not 32 bytes"))
    }
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub key_encryption_key: String,
    pub data_key: String,
    pub rewrapped: u64,
    pub retired_keks: u64,
}

/// The data key file beside a SQLite database (`data.keys`), or `telemed-data/data.keys`.
pub fn default_data_key_path(database_url: &str) -> PathBuf {
    let sqlite_file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest));
    match sqlite_file.map(Path::new).and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("data.keys"),
        Some(_) => PathBuf::from("data.keys"),
        None => PathBuf::from("telemed-data").join("data.keys"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_place() {
        let key = aead_key(&[7u8; 32]).unwrap();
        let sealed = seal_bytes(&key, "notes.body:1", b"chest pain since Tuesday").unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"chest"));
        assert_eq!(
            open_bytes(&key, "notes.body:1", &sealed).unwrap(),
            b"chest pain since Tuesday"
        );
        assert!(open_bytes(&key, "notes.body:2", &sealed).is_err());
        let other = aead_key(&[8u8; 32]).unwrap();
        assert!(open_bytes(&other, "notes.body:1", &sealed).is_err());
    }

    #[test]
    fn the_key_file_round_trips_and_refuses_bad_lines() {
        let dir = std::env::temp_dir().join(format!("telemed-keys-{}", uuid::Uuid::new_v4()));
        let path = dir.join("data.keys");
        let file = KeyFile {
            keys: vec![KeyFile::new_key().unwrap(), KeyFile::new_key().unwrap()],
        };
        file.write(&path).unwrap();
        let back = KeyFile::read(&path).unwrap();
        assert_eq!(back.keys, file.keys);
        std::fs::write(&path, "kek-1 not-base64\n").unwrap();
        assert!(KeyFile::read(&path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
