//! The hash-chained audit trail: appends inside a write's transaction, the group-commit writer
//! behind `record_audit`, and the auditor's queries.

use domain::DomainError;
use domain::compliance::{AuditAction, AuditEntry, AuditQuery, AuditRecord, Outcome, seal};
use domain::identity::Role;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe};
use tokio::sync::{mpsc, oneshot};

use domain::scheduling::{NewBooking, Rescheduling};

use crate::connect::Backend;
use crate::db::{self, DbResult, R, SqlStore};

/// Entries written in one group-commit transaction at most.
const MAX_BATCH: usize = 1000;
/// How many `record_audit` calls may wait for the writer before callers wait to enqueue.
const QUEUE: usize = 10_000;

const COLUMNS: &str = "seq, at, org_id, actor_kind, actor_id, actor_role, action, resource_type, resource_id, \
                       patient_id, source_ip, outcome, flagged, detail, prev_hash, hash";
const COLUMN_COUNT: usize = 16;

/// What one caller hands the group-commit writer.
pub(crate) enum Work {
    /// An audit entry on its own (a read of patient data).
    Audit(AuditEntry),
    /// A new appointment with its event, consent and audit entries.
    Book(Box<NewBooking>),
    /// An appointment moved to another slot.
    Reschedule(Box<Rescheduling>),
}

/// One call waiting for its group commit.
pub(crate) struct WriteJob {
    pub(crate) work: Work,
    pub(crate) reply: oneshot::Sender<R<()>>,
}

/// Starts the group-commit writer. It stops when the store is dropped.
///
/// On SQLite it gets a thread (and a small runtime) of its own: every statement is a hand-off to
/// the connection's thread and back, and on the server's runtime each "back" would wait behind
/// every request in the run queue, so a busy morning would slow the one task all bookings wait
/// for. (A SQLite connection lives on its own thread, so another runtime may drive it.) On
/// PostgreSQL the connection's socket belongs to the server's runtime, and the writer stays there.
pub(crate) fn spawn_writer(
    pool: AnyPool,
    backend: Backend,
) -> std::io::Result<mpsc::Sender<WriteJob>> {
    let (tx, rx) = mpsc::channel(QUEUE);
    match backend {
        Backend::Sqlite => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name("group-commit".into())
                .spawn(move || runtime.block_on(run_writer(pool, backend, rx)))?;
        }
        Backend::Postgres => {
            tokio::spawn(run_writer(pool, backend, rx));
        }
    }
    Ok(tx)
}

async fn run_writer(pool: AnyPool, backend: Backend, mut rx: mpsc::Receiver<WriteJob>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Waits for at least one job, then takes whatever else queued up meanwhile: under load one
    // commit (one fsync) serves hundreds of requests; when idle, a job is written at once.
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (works, replies): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|job| (job.work, job.reply)).unzip();
        let count = works.len();
        let started = std::time::Instant::now();
        let results = match write_batch(&pool, backend, works).await {
            Ok(results) => results,
            Err(e) => {
                tracing::error!(error = %e, count, "group commit failed");
                let message = e.to_string();
                (0..count)
                    .map(|_| Err(DomainError::Storage(message.clone())))
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
    }
}

/// Writes a batch in one transaction. Each booking runs inside its own savepoint, so one that
/// is refused (slot taken, overlap) is undone alone and reported to its caller alone; the audit
/// entries of everything that succeeded are chained at the end, and one commit makes it all durable.
async fn write_batch(pool: &AnyPool, backend: Backend, works: Vec<Work>) -> R<Vec<R<()>>> {
    let mut tx = pool.begin().await.db()?;
    let mut entries = Vec::with_capacity(works.len());
    let mut results = Vec::with_capacity(works.len());
    let mut booked: Vec<Box<NewBooking>> = Vec::new();
    for work in works {
        match work {
            Work::Audit(entry) => {
                entries.push(entry);
                results.push(Ok(()));
            }
            Work::Book(_) | Work::Reschedule(_) => {
                // A booking never fails a statement when refused (its insert is conditional); a
                // move on PostgreSQL may (a unique violation aborts the transaction there).
                let done = match (&work, backend) {
                    (Work::Reschedule(_), Backend::Postgres) => {
                        in_savepoint(&mut tx, backend, &work).await?
                    }
                    _ => without_savepoint(&mut tx, backend, &work).await?,
                };
                if done.is_ok() {
                    match work {
                        Work::Book(mut booking) => {
                            entries.append(&mut booking.audit);
                            booked.push(booking);
                        }
                        Work::Reschedule(change) => entries.extend(change.audit),
                        Work::Audit(_) => {}
                    }
                }
                results.push(done);
            }
        }
    }
    let accepted: Vec<&NewBooking> = booked.iter().map(AsRef::as_ref).collect();
    crate::scheduling::write_booked(&mut tx, &accepted).await?;
    let writes_done = std::time::Instant::now();
    let appended = entries.len();
    append(&mut tx, backend, entries).await?;
    let chained = std::time::Instant::now();
    tx.commit().await.db()?;
    tracing::debug!(
        appended,
        append_micros = chained.duration_since(writes_done).as_micros() as u64,
        commit_micros = chained.elapsed().as_micros() as u64,
        "group commit phases"
    );
    Ok(results)
}

async fn run(conn: &mut AnyConnection, backend: Backend, work: &Work) -> R<()> {
    match work {
        Work::Book(booking) => crate::scheduling::book_in(conn, backend, booking).await,
        Work::Reschedule(change) => crate::scheduling::reschedule_in(conn, backend, change).await,
        Work::Audit(_) => Ok(()),
    }
}

/// A booking (and, on SQLite, a move) is refused before it writes anything: its statements either
/// write nothing or fail alone (SQLite undoes a failed statement and goes on), so no savepoint is
/// needed. Any other failure may leave half a write behind: it fails the whole batch, which is
/// rolled back.
async fn without_savepoint(conn: &mut AnyConnection, backend: Backend, work: &Work) -> R<R<()>> {
    match run(conn, backend, work).await {
        Ok(()) => Ok(Ok(())),
        Err(refused) if crate::scheduling::is_refusal(&refused) => Ok(Err(refused)),
        Err(failed) => Err(failed),
    }
}

/// PostgreSQL: an error aborts the transaction, so each booking or move runs between `SAVEPOINT`
/// and `RELEASE`, rolled back to the savepoint when refused. The outer error means the
/// transaction itself failed (the batch fails); the inner one is this caller's refusal.
async fn in_savepoint(conn: &mut AnyConnection, backend: Backend, work: &Work) -> R<R<()>> {
    sqlx::query("SAVEPOINT one_write")
        .execute(&mut *conn)
        .await
        .db()?;
    let result = run(conn, backend, work).await;
    if result.is_err() {
        sqlx::query("ROLLBACK TO SAVEPOINT one_write")
            .execute(&mut *conn)
            .await
            .db()?;
    }
    sqlx::query("RELEASE SAVEPOINT one_write")
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(result)
}

/// Appends entries to the chain inside the caller's transaction. On PostgreSQL the head row is
/// locked, so concurrent appenders queue; on SQLite the single writer connection serialises them.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    backend: Backend,
    entries: Vec<AuditEntry>,
) -> R<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let head_sql = AssertSqlSafe(format!(
        "SELECT last_seq, last_hash FROM audit_head WHERE id = 1{}",
        backend.for_update()
    ));
    let head = sqlx::query(head_sql).fetch_one(&mut *conn).await.db()?;
    let (mut seq, mut hash) = (db::int(&head, "last_seq")?, db::text(&head, "last_hash")?);
    let mut records = Vec::with_capacity(entries.len());
    for entry in entries {
        let record = seal(seq, &hash, entry);
        seq = record.seq;
        hash.clone_from(&record.hash);
        records.push(record);
    }
    for chunk in db::fixed_chunks(&records) {
        let rows = (0..chunk.len())
            .map(|r| format!("({})", db::placeholders(r * COLUMN_COUNT + 1, COLUMN_COUNT)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = AssertSqlSafe(format!("INSERT INTO audit_log ({COLUMNS}) VALUES {rows}"));
        let mut query = sqlx::query(sql);
        for record in chunk {
            query = bind_record(query, record);
        }
        query.execute(&mut *conn).await.db()?;
    }
    sqlx::query("UPDATE audit_head SET last_seq = $1, last_hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(hash)
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(())
}

fn bind_record<'q>(
    query: Query<'q, Any, AnyArguments>,
    r: &AuditRecord,
) -> Query<'q, Any, AnyArguments> {
    let e = &r.entry;
    query
        .bind(r.seq)
        .bind(e.at.as_microsecond())
        .bind(e.org_id.map(|o| o.to_string()))
        .bind(e.actor.kind())
        .bind(e.actor.id())
        .bind(e.actor.role().map(Role::as_str))
        .bind(e.action.as_str())
        .bind(e.resource_type.clone())
        .bind(e.resource_id.clone())
        .bind(e.patient_id.map(|p| p.to_string()))
        .bind(e.source_ip.clone())
        .bind(e.outcome.as_str())
        .bind(e.flagged)
        .bind(e.detail.clone())
        .bind(r.prev_hash.clone())
        .bind(r.hash.clone())
}

/// A record, or an error naming it: a value that does not decode was written by someone other
/// than the server (which only writes values it can read back), so the record was tampered with.
fn record_from_row(row: &AnyRow) -> R<AuditRecord> {
    decode_record(row).map_err(|e| {
        let seq = db::int(row, "seq")
            .map_or_else(|_| "with an unreadable number".into(), |s| s.to_string());
        let why = match e {
            DomainError::Storage(why) => why,
            other => other.to_string(),
        };
        tracing::error!(seq, "audit record cannot be read");
        DomainError::Storage(format!(
            "audit record {seq} was altered outside the server: {why}"
        ))
    })
}

fn decode_record(row: &AnyRow) -> R<AuditRecord> {
    let actor = db::actor(row)?;
    let action =
        AuditAction::parse(&db::text(row, "action")?).ok_or_else(|| unreadable("action"))?;
    let outcome =
        Outcome::parse(&db::text(row, "outcome")?).ok_or_else(|| unreadable("outcome"))?;
    let entry = AuditEntry {
        at: db::ts(row, "at")?,
        org_id: db::opt_parsed(row, "org_id")?,
        actor,
        action,
        resource_type: db::text(row, "resource_type")?,
        resource_id: db::opt_text(row, "resource_id")?,
        patient_id: db::opt_parsed(row, "patient_id")?,
        source_ip: db::opt_text(row, "source_ip")?,
        outcome,
        flagged: db::flag(row, "flagged")?,
        detail: db::opt_text(row, "detail")?,
    };
    Ok(AuditRecord {
        seq: db::int(row, "seq")?,
        entry,
        prev_hash: db::text(row, "prev_hash")?,
        hash: db::text(row, "hash")?,
    })
}

/// Adds a condition whose `?` becomes the next placeholder number.
fn next(conditions: &mut Vec<String>, sql: &str) {
    let n = conditions.len() + 1;
    conditions.push(sql.replace('?', &format!("${n}")));
}

fn unreadable(column: &str) -> DomainError {
    tracing::error!(column, "audit record holds an unknown value");
    DomainError::Storage(format!("an audit record holds an unknown {column}"))
}

/// A non-positive limit means "a screenful", not "nothing".
fn page_size(limit: i64) -> i64 {
    if limit <= 0 { 100 } else { limit }
}

impl SqlStore {
    /// Hands work to the group-commit writer and waits until it is durable (or refused).
    pub(crate) async fn group_commit(&self, work: Work) -> R<()> {
        let (reply, done) = oneshot::channel();
        let stopped = || DomainError::Storage("the group-commit writer has stopped".into());
        self.group_commits
            .send(WriteJob { work, reply })
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    pub(crate) async fn record_audit(&self, entry: AuditEntry) -> R<()> {
        self.group_commit(Work::Audit(entry)).await
    }

    pub(crate) async fn search_audit(&self, q: &AuditQuery) -> R<Vec<AuditRecord>> {
        let mut conditions: Vec<String> = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        // Text parameters first, then integers: each condition takes the next placeholder number.
        if let Some(org) = q.org_id {
            next(&mut conditions, "org_id = ?");
            texts.push(org.to_string());
        }
        if let Some(user) = &q.user_id {
            next(&mut conditions, "actor_id = ?");
            texts.push(user.clone());
        }
        if let Some(patient) = q.patient_id {
            next(&mut conditions, "patient_id = ?");
            texts.push(patient.to_string());
        }
        if let Some(action) = q.action {
            next(&mut conditions, "action = ?");
            texts.push(action.as_str().to_string());
        }
        let mut ints: Vec<i64> = Vec::new();
        if let Some(from) = q.from {
            next(&mut conditions, "at >= ?");
            ints.push(from.as_microsecond());
        }
        if let Some(to) = q.to {
            next(&mut conditions, "at < ?");
            ints.push(to.as_microsecond());
        }
        if q.flagged_only {
            next(&mut conditions, "flagged = ?");
        }
        let n = conditions.len();
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log {filter} ORDER BY seq DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for t in texts {
            query = query.bind(t);
        }
        for i in ints {
            query = query.bind(i);
        }
        if q.flagged_only {
            query = query.bind(true);
        }
        let rows = query
            .bind(page_size(q.limit))
            .bind(q.offset.max(0))
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(record_from_row).collect()
    }

    pub(crate) async fn audit_page(&self, after_seq: i64, limit: i64) -> R<Vec<AuditRecord>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ));
        let rows = sqlx::query(sql)
            .bind(after_seq)
            .bind(page_size(limit))
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(record_from_row).collect()
    }

    pub(crate) async fn audit_head(&self) -> R<(i64, String)> {
        let row = sqlx::query("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.reader)
            .await
            .db()?;
        Ok((db::int(&row, "last_seq")?, db::text(&row, "last_hash")?))
    }
}
