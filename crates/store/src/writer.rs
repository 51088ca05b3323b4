//! The group-commit writer: one task that owns the write path of audit entries and of the writes
//! areas hand it, and makes many callers' work durable with one commit (one fsync).
//!
//! It knows nothing of any area. A caller hands it a [`Job`]: an audit entry on its own (a read of
//! patient data), or a [`Write`], a trait object the area implements, run inside the batch's
//! transaction. Each write reports whether it was accepted (with the audit entries to chain) or
//! refused; a refusal is that caller's alone, a failure fails the batch.

use std::collections::HashMap;
use std::path::PathBuf;

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::{AuditEntry, REPEAT_WINDOW, RepeatKey};
use jiff::Timestamp;
use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::audit_chain;
use crate::backend::Backend;
use crate::db::{self, Arg, DbResult, Insert, R};

/// Entries written in one group-commit transaction at most.
const MAX_BATCH: usize = 1000;
/// How many jobs may wait for the writer before callers wait to enqueue.
const QUEUE: usize = 10_000;

/// What one caller hands the writer.
pub(crate) enum Job {
    /// An audit entry on its own.
    Audit(AuditEntry),
    /// An area's write, with the audit entries it produces.
    Write(Box<dyn Write>),
}

/// A write an area hands the writer, run inside the batch's transaction.
#[async_trait]
pub(crate) trait Write: Send {
    /// True when a refusal on `backend` may leave a failed statement behind (on PostgreSQL an
    /// error aborts the whole transaction), so the writer runs it inside a savepoint. A write that
    /// is refused before it executes anything that can fail needs none.
    fn needs_savepoint(&self, backend: Backend) -> bool;

    /// Writes inside the batch's transaction. `Ok(Ok(entries))`: accepted, and `entries` are
    /// chained with the batch; `Ok(Err(refusal))`: refused with nothing written (or undone by its
    /// savepoint); `Err`: the transaction failed, and the whole batch with it. Rows handed to
    /// `later` are inserted once for the whole batch, after every write ran: only an accepted
    /// write hands any.
    async fn write(
        self: Box<Self>,
        conn: &mut AnyConnection,
        backend: Backend,
        later: &mut Later,
    ) -> R<R<Vec<AuditEntry>>>;
}

/// Rows that accepted writes of one batch insert together, one multi-row INSERT per kind.
#[derive(Default)]
pub(crate) struct Later {
    groups: Vec<(&'static Insert, Vec<Vec<Arg>>)>,
}

impl Later {
    /// Queues one row of `insert`, its values in column order.
    pub(crate) fn insert(&mut self, insert: &'static Insert, row: Vec<Arg>) {
        match self
            .groups
            .iter_mut()
            .find(|(i, _)| std::ptr::eq(*i, insert))
        {
            Some((_, rows)) => rows.push(row),
            None => self.groups.push((insert, vec![row])),
        }
    }

    async fn flush(self, conn: &mut AnyConnection) -> R<()> {
        for (insert, rows) in &self.groups {
            db::insert_rows(conn, insert, rows, |q, row| db::bind_arg_row(q, row))
                .await
                .db()?;
        }
        Ok(())
    }
}

/// The SQLite WAL file may grow to this size before the writer starts it over. Readers that run
/// all the time keep a PASSIVE checkpoint from ever restarting the WAL, so without this it grows
/// without end (528 MB after 100,000 audited reads, for a 66 MB database).
pub(crate) const WAL_RESET_BYTES: u64 = 64 * 1024 * 1024;

/// One call waiting for its group commit.
pub(crate) struct WriteJob {
    pub(crate) job: Job,
    pub(crate) reply: oneshot::Sender<R<()>>,
}

/// Starts the group-commit writer. It stops when every sender is dropped (the store is dropped).
///
/// On SQLite it gets a thread (and a small runtime) of its own: every statement is a hand-off to
/// the connection's thread and back, and on the server's runtime each "back" would wait behind
/// every request in the run queue, so a busy morning would slow the one task all writes wait
/// for. (A SQLite connection lives on its own thread, so another runtime may drive it.) On
/// PostgreSQL the connection's socket belongs to the server's runtime, and the writer stays there.
///
/// `wal` is the SQLite WAL file, kept under [`WAL_RESET_BYTES`] (see [`reset_wal`]).
pub(crate) fn spawn(
    pool: AnyPool,
    backend: Backend,
    wal: Option<PathBuf>,
) -> std::io::Result<mpsc::Sender<WriteJob>> {
    let (tx, rx) = mpsc::channel(QUEUE);
    match backend {
        Backend::Sqlite => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name("group-commit".into())
                .spawn(move || runtime.block_on(run(pool, backend, wal, rx)))?;
        }
        Backend::Postgres => {
            tokio::spawn(run(pool, backend, wal, rx));
        }
    }
    Ok(tx)
}

async fn run(
    pool: AnyPool,
    backend: Backend,
    wal: Option<PathBuf>,
    mut rx: mpsc::Receiver<WriteJob>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut recent = Recent::default();
    // Waits for at least one job, then takes whatever else queued up meanwhile: under load one
    // commit (one fsync) serves hundreds of requests; when idle, a job is written at once.
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (jobs, replies): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|job| (job.job, job.reply)).unzip();
        let count = jobs.len();
        let started = std::time::Instant::now();
        let results = match write_batch(&pool, backend, jobs, &mut recent).await {
            Ok(results) => results,
            Err(e) => {
                tracing::error!(error = %e, count, "group commit failed");
                let message = e.to_string();
                (0..count)
                    .map(|_| {
                        Err(match &e {
                            DomainError::Unavailable(why) => DomainError::Unavailable(why.clone()),
                            _ => DomainError::Storage(message.clone()),
                        })
                    })
                    .collect()
            }
        };
        tracing::debug!(
            count,
            micros = started.elapsed().as_micros() as u64,
            "group commit"
        );
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone away (request cancelled); the work is done regardless.
            let _ = reply.send(result);
        }
        if let Some(wal) = &wal {
            reset_wal(&pool, wal).await;
        }
    }
}

/// Starts the WAL over once it is larger than [`WAL_RESET_BYTES`], between two batches. It runs
/// here, on the one writer connection, because a checkpoint that restarts the WAL from another
/// connection makes the writer's next transaction fail at once ("database is locked": its snapshot
/// is gone). A TRUNCATE checkpoint waits for the readers of older snapshots (short reads) and
/// empties the file; writes wait meanwhile.
async fn reset_wal(pool: &AnyPool, wal: &std::path::Path) {
    if !std::fs::metadata(wal).is_ok_and(|m| m.len() > WAL_RESET_BYTES) {
        return;
    }
    let started = std::time::Instant::now();
    match sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
    {
        Ok(_) => tracing::info!(
            micros = started.elapsed().as_micros() as u64,
            "WAL started over"
        ),
        Err(e) => tracing::warn!(error = %e, "WAL checkpoint (TRUNCATE) failed"),
    }
}

/// The list reads this writer chained within the last [`REPEAT_WINDOW`], by what they read (see
/// [`AuditEntry::repeat_key`]): the same read again within the window is counted against that
/// record instead of chained anew. Another server's writer keeps its own, so with several servers
/// a read may be chained once per server and window: never lost, at worst counted apart.
#[derive(Default)]
struct Recent {
    chained: HashMap<RepeatKey, (i64, Timestamp)>,
}

/// Whether a read at `at` repeats one first chained at `first`.
fn within_window(first: Timestamp, at: Timestamp) -> bool {
    let since = at.duration_since(first);
    !since.is_negative() && since < REPEAT_WINDOW
}

/// Where a repeated read is counted: a record chained by an earlier batch, or the entry of this
/// batch at that index (its sequence number is known once the batch is chained).
enum RepeatOf {
    Chained(i64),
    InBatch(usize),
}

/// Writes a batch in one transaction: each job in turn (a refused one is reported to its caller
/// alone), then the rows the accepted writes queued, then every accepted audit entry chained in
/// order, and the repeated list reads counted against their records; one commit makes it all
/// durable.
/// A database failure closes the writer connection (`db::on_writer`).
async fn write_batch(
    pool: &AnyPool,
    backend: Backend,
    jobs: Vec<Job>,
    recent: &mut Recent,
) -> R<Vec<R<()>>> {
    db::on_writer(pool, async move |conn| {
        write_batch_on(conn, backend, jobs, recent).await
    })
    .await
}

async fn write_batch_on(
    conn: &mut AnyConnection,
    backend: Backend,
    jobs: Vec<Job>,
    recent: &mut Recent,
) -> R<Vec<R<()>>> {
    let mut tx = conn.begin().await.db()?;
    let mut entries = Vec::with_capacity(jobs.len());
    let mut results = Vec::with_capacity(jobs.len());
    let mut later = Later::default();
    let mut repeats = Vec::new();
    let mut firsts: HashMap<RepeatKey, (usize, Timestamp)> = HashMap::new();
    for job in jobs {
        match job {
            Job::Audit(entry) => {
                results.push(Ok(()));
                let Some(key) = entry.repeat_key() else {
                    entries.push(entry);
                    continue;
                };
                match (recent.chained.get(&key), firsts.get(&key)) {
                    (Some(&(seq, first)), _) if within_window(first, entry.at) => {
                        repeats.push((RepeatOf::Chained(seq), entry.at));
                    }
                    (_, Some(&(index, first))) if within_window(first, entry.at) => {
                        repeats.push((RepeatOf::InBatch(index), entry.at));
                    }
                    _ => {
                        firsts.insert(key, (entries.len(), entry.at));
                        entries.push(entry);
                    }
                }
            }
            Job::Write(write) => {
                let verdict = if write.needs_savepoint(backend) {
                    in_savepoint(&mut tx, backend, write, &mut later).await?
                } else {
                    write.write(&mut tx, backend, &mut later).await?
                };
                results.push(verdict.map(|mut accepted| entries.append(&mut accepted)));
            }
        }
    }
    later.flush(&mut tx).await?;
    let writes_done = std::time::Instant::now();
    let appended = entries.len();
    let first_seq = audit_chain::append(&mut tx, backend, entries).await?;
    let seq_of = |of: &RepeatOf| match *of {
        RepeatOf::Chained(seq) => seq,
        RepeatOf::InBatch(index) => first_seq + index as i64,
    };
    count_repeats(&mut tx, repeats.iter().map(|(of, at)| (seq_of(of), *at))).await?;
    let chained = std::time::Instant::now();
    tx.commit().await.db()?;
    // Only what is committed may be counted against later.
    for (key, (index, first)) in firsts {
        recent
            .chained
            .insert(key, (first_seq + index as i64, first));
    }
    if let Some(newest) = recent.chained.values().map(|(_, at)| *at).max() {
        recent
            .chained
            .retain(|_, (_, first)| within_window(*first, newest));
    }
    tracing::debug!(
        appended,
        append_micros = chained.duration_since(writes_done).as_micros() as u64,
        commit_micros = chained.elapsed().as_micros() as u64,
        "group commit phases"
    );
    Ok(results)
}

/// Adds the repeated reads to their records' counts: one row per record, its count and the time
/// of the latest repeat.
async fn count_repeats(
    conn: &mut AnyConnection,
    repeats: impl Iterator<Item = (i64, Timestamp)>,
) -> R<()> {
    let mut by_seq: Vec<(i64, i64, Timestamp)> = Vec::new();
    for (seq, at) in repeats {
        match by_seq.iter_mut().find(|(s, _, _)| *s == seq) {
            Some((_, times, last)) => {
                *times += 1;
                *last = (*last).max(at);
            }
            None => by_seq.push((seq, 1, at)),
        }
    }
    for (seq, times, last_at) in by_seq {
        sqlx::query(
            "INSERT INTO audit_repeats (seq, times, last_at) VALUES ($1, $2, $3) \
             ON CONFLICT (seq) DO UPDATE SET times = audit_repeats.times + excluded.times, \
             last_at = excluded.last_at",
        )
        .bind(seq)
        .bind(times)
        .bind(last_at.as_microsecond())
        .execute(&mut *conn)
        .await
        .db()?;
    }
    Ok(())
}

/// Runs a write between `SAVEPOINT` and `RELEASE`, rolled back to the savepoint when it fails. The
/// outer error means the transaction itself failed (the batch fails); the inner one is this
/// caller's.
async fn in_savepoint(
    conn: &mut AnyConnection,
    backend: Backend,
    write: Box<dyn Write>,
    later: &mut Later,
) -> R<R<Vec<AuditEntry>>> {
    sqlx::query("SAVEPOINT one_write")
        .execute(&mut *conn)
        .await
        .db()?;
    // Inside a savepoint any failure is undone alone, so it is this caller's, like a refusal.
    let verdict = write.write(conn, backend, later).await.and_then(|v| v);
    if verdict.is_err() {
        sqlx::query("ROLLBACK TO SAVEPOINT one_write")
            .execute(&mut *conn)
            .await
            .db()?;
    }
    sqlx::query("RELEASE SAVEPOINT one_write")
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(verdict)
}
