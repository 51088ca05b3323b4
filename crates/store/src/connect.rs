//! Opening a store from a URL: engine choice, connection pools, pragmas and migrations.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::Backend;
use crate::cache::Caches;
use crate::connect_error::ConnectError;
use crate::sql_store::SqlStore;
use crate::writer::{self, WriteJob};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, AssertSqlSafe, Executor};

/// How long a request waits for a PostgreSQL connection before it is refused as unavailable.
pub const POSTGRES_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How to open a store. `ConnectOptions::default()` is what `connect` uses.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Apply pending migrations before returning (default true).
    pub migrate: bool,
    /// PostgreSQL pool size (default 16).
    pub postgres_connections: u32,
    /// SQLite reader pool size (default 8); SQLite always has exactly one writer connection.
    pub sqlite_readers: u32,
    /// The file of key-encryption keys that wrap the data keys sealing free text (created if
    /// missing). `None`: `data.keys` beside a SQLite database; a PostgreSQL store without one
    /// refuses to seal or open free text.
    pub data_key_file: Option<PathBuf>,
    /// The most the SQLite database may grow to, in bytes (`PRAGMA max_page_count` on the writer);
    /// past it every write fails as it does on a full disk. `None` (the default): no cap. Tests
    /// use it to fill a database without filling a disk.
    pub sqlite_max_bytes: Option<u64>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            migrate: true,
            postgres_connections: 16,
            sqlite_readers: 8,
            data_key_file: None,
            sqlite_max_bytes: None,
        }
    }
}

/// Opens the store at `url` and applies pending migrations.
///
/// URLs: `sqlite:PATH` or `sqlite://PATH` (the file and its directory are created when missing),
/// `postgres://...` or `postgresql://...`. Must be called inside a tokio runtime: it starts the
/// background audit writer there.
pub async fn connect(url: &str) -> Result<Arc<dyn domain::Store>, ConnectError> {
    connect_with(url, ConnectOptions::default()).await
}

/// [`connect`] with explicit options.
pub async fn connect_with(
    url: &str,
    options: ConnectOptions,
) -> Result<Arc<dyn domain::Store>, ConnectError> {
    Ok(Arc::new(open_store(url, options).await?))
}

/// Rotates the data keys of the database at `url` (see `sealing.rs`), reporting progress as
/// `(done, total)`. Runs beside a server using the same database and key file.
pub async fn rotate_data_keys(
    url: &str,
    options: ConnectOptions,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<crate::sealing::Rotation, ConnectError> {
    let store = open_store(url, options).await?;
    store
        .keys
        .rotate(&store.writer, progress)
        .await
        .map_err(|e| ConnectError::Keys(e.to_string()))
}

async fn open_store(url: &str, options: ConnectOptions) -> Result<SqlStore, ConnectError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::from_url(url)?;
    let (writer, reader, maintenance) = match backend {
        Backend::Sqlite => {
            let (writer, reader, maintenance) = open_sqlite(url, &options).await?;
            (writer, reader, Some((maintenance, sqlite_path(url)?)))
        }
        Backend::Postgres => {
            let pool = AnyPoolOptions::new()
                .max_connections(options.postgres_connections.max(1))
                // A request waits this long for a connection, then answers 503 (the pool's own
                // default, 30 s, held every request of a restarting database past any client's
                // patience).
                .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
                .connect(url)
                .await
                .map_err(|source| ConnectError::Connect {
                    backend: "postgres",
                    source,
                })?;
            if options.migrate {
                crate::migrations::migrator(backend).run(&pool).await?;
            }
            (pool.clone(), pool, None)
        }
    };
    let wal = maintenance.as_ref().map(|(_, path)| wal_path(path));
    let group_commits =
        writer::spawn(writer.clone(), backend, wal).map_err(ConnectError::Writer)?;
    if let Some((maintenance, _)) = maintenance {
        spawn_checkpointer(maintenance, group_commits.downgrade());
    }
    let key_file = options.data_key_file.clone().or_else(|| {
        (backend == Backend::Sqlite).then(|| crate::sealing::default_data_key_path(url))
    });
    let keys =
        crate::sealing::Keyring::load(key_file).map_err(|e| ConnectError::Keys(e.to_string()))?;
    Ok(SqlStore {
        backend,
        writer,
        reader,
        group_commits,
        caches: Caches::default(),
        keys,
    })
}

/// The file path of a `sqlite:` URL, without its query string.
fn sqlite_path(url: &str) -> Result<PathBuf, ConnectError> {
    let rest = url.split_once(':').map(|(_, r)| r).unwrap_or_default();
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        // Readers and the writer are separate connections: they would each see their own empty database.
        return Err(ConnectError::InvalidUrl(
            "an in-memory SQLite database cannot be shared by the reader and writer connections; give a file path"
                .into(),
        ));
    }
    Ok(PathBuf::from(path))
}

async fn open_sqlite(
    url: &str,
    options: &ConnectOptions,
) -> Result<(AnyPool, AnyPool, AnyPool), ConnectError> {
    let path = sqlite_path(url)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ConnectError::CreateDirectory {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let connect_error = |source| ConnectError::Connect {
        backend: "sqlite",
        source,
    };
    let max_pages = options.sqlite_max_bytes.map(|bytes| (bytes / 4096).max(1));
    let writer = AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; FULL syncs the WAL on every commit, so a
                // confirmed write survives a power loss, not only a process crash.
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 5000").await?;
                // Checkpoints run in the background (`checkpointer`), not inside a commit that a
                // request is waiting for.
                conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                // Writes land on random index pages (patients, slots): a larger cache and reading
                // through a memory map keep the writer from fetching them again and again.
                conn.execute("PRAGMA cache_size = -65536").await?;
                conn.execute("PRAGMA mmap_size = 1073741824").await?;
                if let Some(pages) = max_pages {
                    conn.execute(AssertSqlSafe(format!("PRAGMA max_page_count = {pages}")))
                        .await?;
                }
                Ok(())
            })
        })
        .connect(&sqlite_url(&path, "rwc"))
        .await
        .map_err(connect_error)?;
    if options.migrate {
        crate::migrations::migrator(Backend::Sqlite)
            .run(&writer)
            .await?;
    }
    let reader = AnyPoolOptions::new()
        .max_connections(options.sqlite_readers.max(1))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 5000").await?;
                // Every commit invalidates a reader's page cache; reading pages through a memory
                // map instead of copying them back in makes that cheap.
                conn.execute("PRAGMA mmap_size = 1073741824").await?;
                Ok(())
            })
        })
        // Read-only, so a read path can never take the write lock by mistake.
        .connect(&sqlite_url(&path, "ro"))
        .await
        .map_err(connect_error)?;
    let maintenance = AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA busy_timeout = 5000").await?;
                Ok(())
            })
        })
        .connect(&sqlite_url(&path, "rw"))
        .await
        .map_err(connect_error)?;
    Ok((writer, reader, maintenance))
}

/// How often the background checkpoint copies the WAL into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

fn wal_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Copies committed WAL pages into the database on its own connection. A PASSIVE checkpoint never
/// blocks the writer or readers, so commits (and the requests waiting on them) stay short. (It
/// never starts the WAL over while readers come and go: the writer does that, see `writer.rs`.)
/// The task ends when the store is dropped.
fn spawn_checkpointer(pool: AnyPool, alive: tokio::sync::mpsc::WeakSender<WriteJob>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if alive.upgrade().is_none() {
                pool.close().await;
                return;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::warn!(error = %e, "background WAL checkpoint failed");
            }
        }
    });
}

fn sqlite_url(path: &Path, mode: &str) -> String {
    format!("sqlite://{}?mode={mode}", path.display())
}
