//! The one implementation of `domain::Store`: its pools, the writer's queue and caches, and the
//! transaction helpers every area writes through. Areas implement their trait on [`SqlStore`] in
//! their own files; the writes they make are [`SqlStore::audited`] transactions (or group-commit
//! jobs), never a hand-written begin → write → audit → commit.

use async_trait::async_trait;
use domain::compliance::AuditEntry;
use domain::{DomainError, Store};
use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::audit_chain;
use crate::backend::Backend;
use crate::cache::Caches;
use crate::db::{DbResult, R};
use crate::writer::{Job, WriteJob};

/// The one implementation of `domain::Store`.
pub(crate) struct SqlStore {
    pub(crate) backend: Backend,
    /// All writes go through this pool. On SQLite it holds a single connection, so writers
    /// queue in the pool instead of failing with `SQLITE_BUSY`, and audit appends are serialised.
    pub(crate) writer: AnyPool,
    /// Reads. On SQLite a separate pool of read-only connections (WAL lets them run beside the
    /// writer); on PostgreSQL the same pool as `writer`.
    pub(crate) reader: AnyPool,
    /// The group-commit writer's queue (see `writer.rs`).
    pub(crate) group_commits: mpsc::Sender<WriteJob>,
    /// Short-lived caches of repeated lookups (see `cache.rs`).
    pub(crate) caches: Caches,
    /// Seals and opens free text (see `sealing.rs`).
    pub(crate) keys: crate::sealing::Keyring,
}

/// The audit entries a write records: one, or several.
pub(crate) trait Entries {
    fn into_entries(self) -> Vec<AuditEntry>;
}

impl Entries for AuditEntry {
    fn into_entries(self) -> Vec<AuditEntry> {
        vec![self]
    }
}

impl Entries for Vec<AuditEntry> {
    fn into_entries(self) -> Vec<AuditEntry> {
        self
    }
}

/// What a transaction's body decided.
pub(crate) enum Outcome<T> {
    /// Keep what was written, with these audit entries chained in the same transaction.
    Commit(T, Vec<AuditEntry>),
    /// Nothing happened that the entries describe: roll everything back and answer `T`.
    Undo(T),
}

impl SqlStore {
    /// Seals free text for its place (`table.column:row id`); call before a transaction begins.
    pub(crate) async fn seal(&self, context: &str, plain: &str) -> R<String> {
        self.seal_bytes(context, plain.as_bytes()).await
    }

    /// Opens text sealed by [`SqlStore::seal`] for the same place.
    pub(crate) async fn open(&self, context: &str, sealed: &str) -> R<String> {
        String::from_utf8(self.open_bytes(context, sealed).await?)
            .map_err(|_| DomainError::Storage("a sealed value is not text".into()))
    }

    /// Seals bytes (a file) for its place.
    pub(crate) async fn seal_bytes(&self, context: &str, plain: &[u8]) -> R<String> {
        self.keys
            .seal(&self.writer, &self.reader, context, plain)
            .await
    }

    /// Opens bytes sealed by [`SqlStore::seal_bytes`].
    pub(crate) async fn open_bytes(&self, context: &str, sealed: &str) -> R<Vec<u8>> {
        self.keys.open(&self.reader, context, sealed).await
    }

    /// Hands a job to the group-commit writer and waits until it is durable (or refused).
    pub(crate) async fn group_commit(&self, job: Job) -> R<()> {
        let (reply, done) = oneshot::channel();
        let stopped = || DomainError::Storage("the group-commit writer has stopped".into());
        self.group_commits
            .send(WriteJob { job, reply })
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    /// One transaction on the writer: runs `body`, then, as it decided, chains its audit entries
    /// and commits, or rolls back. A failed body rolls back too: nothing is written. A database
    /// failure closes the writer connection (`db::on_writer`).
    pub(crate) async fn transaction<T>(
        &self,
        body: impl AsyncFnOnce(&mut AnyConnection) -> R<Outcome<T>>,
    ) -> R<T> {
        let backend = self.backend;
        crate::db::on_writer(&self.writer, async move |conn| {
            let mut tx = conn.begin().await.db()?;
            match body(&mut tx).await? {
                Outcome::Commit(value, entries) => {
                    audit_chain::append(&mut tx, backend, entries).await?;
                    tx.commit().await.db()?;
                    Ok(value)
                }
                // Dropping the transaction rolls it back.
                Outcome::Undo(value) => Ok(value),
            }
        })
        .await
    }

    /// A transaction that records no audit entry, for writes that are not themselves audited
    /// events (a visit's technical log, call-quality samples, enrolments a job makes).
    pub(crate) async fn unaudited<T>(
        &self,
        write: impl AsyncFnOnce(&mut AnyConnection) -> R<T>,
    ) -> R<T> {
        self.transaction(async |tx| Ok(Outcome::Commit(write(tx).await?, Vec::new())))
            .await
    }

    /// Runs `write` and records `audit` in the same transaction: both, or neither.
    pub(crate) async fn audited<T>(
        &self,
        audit: impl Entries,
        write: impl AsyncFnOnce(&mut AnyConnection) -> R<T>,
    ) -> R<T> {
        self.transaction(async |tx| Ok(Outcome::Commit(write(tx).await?, audit.into_entries())))
            .await
    }

    /// Like [`audited`](Self::audited) for a compare-and-set write: when `write` answers false
    /// (the row was no longer as expected), everything is rolled back and no audit is recorded.
    pub(crate) async fn audited_if(
        &self,
        audit: impl Entries,
        write: impl AsyncFnOnce(&mut AnyConnection) -> R<bool>,
    ) -> R<bool> {
        self.transaction(async |tx| {
            Ok(if write(tx).await? {
                Outcome::Commit(true, audit.into_entries())
            } else {
                Outcome::Undo(false)
            })
        })
        .await
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    async fn ping(&self) -> R<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.db()?;
        Ok(())
    }

    async fn backup_to(&self, path: &str) -> R<()> {
        match self.backend {
            Backend::Postgres => Err(DomainError::invalid(
                "path",
                "the PostgreSQL store is backed up with the database's own tools: use pg_dump (or continuous archiving)",
            )),
            Backend::Sqlite => {
                // VACUUM INTO would also refuse, but with a less helpful message.
                if std::path::Path::new(path).exists() {
                    return Err(DomainError::invalid(
                        "path",
                        format!("{path} already exists; choose a new file"),
                    ));
                }
                // A consistent snapshot from a read-only connection: writers carry on meanwhile.
                sqlx::query("VACUUM INTO $1")
                    .bind(path.to_string())
                    .execute(&self.reader)
                    .await
                    .db()?;
                Ok(())
            }
        }
    }
}
