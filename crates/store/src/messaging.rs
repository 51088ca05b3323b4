//! `MessagingStore`: threads, messages, attachments, the inbox and its counts.
//!
//! Subjects, bodies, file names and files are sealed (see `sealing.rs`). A thread carries the
//! counters the inbox shows (unread on each side, reply due), changed in the same transaction as
//! the message that changes them, so the first page of an inbox reads one index range and two
//! counts over partial indexes.

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::ids::{AttachmentId, MessageId, OrgId, PatientId, SiteId, ThreadId, UserId};
use domain::messaging::{
    Attachment, AttachmentKind, AttachmentMeta, InboxCounts, InboxQuery, Message, MessagingStore,
    Thread, ThreadChange, ThreadStatus,
};
use domain::store::StoreResult;
use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::backend::Backend;
use crate::db::{self, Arg, DbResult, Filter, R};
use crate::sql_store::SqlStore;
use crate::writer::{Job, Later, Write};

const THREAD_COLUMNS: &str = "id, org_id, site_id, patient_id, clinician_id, subject, status, assigned_to, created_by, \
                              created_at, last_message_at, reply_due_at, staff_unread, patient_unread, message_count";
const MESSAGE_COLUMNS: &str =
    "id, thread_id, org_id, author_id, from_patient, staff_only, body, sent_at, read_at, read_by";
const ATTACHMENT_META: &str = "id, owner_id, file_name, content_type, size_bytes, sha256";

fn subject_place(id: &str) -> String {
    format!("message_threads.subject:{id}")
}
fn body_place(id: &str) -> String {
    format!("messages.body:{id}")
}
fn name_place(id: &str) -> String {
    format!("attachments.file_name:{id}")
}
fn content_place(id: &str) -> String {
    format!("attachments.content:{id}")
}

/// The refusal an [`AddMessage`] reports when the thread was no longer as the message expected.
const STALE: &str = "thread_changed";

/// A message, as the group-commit writer runs it: the thread's compare-and-set update, then the
/// message and its files. Inside a savepoint, so a refusal or a failed insert is its own.
struct AddMessage {
    message: Message,
    body: String,
    files: Vec<Attachment>,
    sealed: Vec<SealedFile>,
    change: ThreadChange,
    audit: AuditEntry,
}

#[async_trait]
impl Write for AddMessage {
    fn needs_savepoint(&self, _backend: Backend) -> bool {
        true
    }

    async fn write(
        self: Box<Self>,
        conn: &mut AnyConnection,
        _backend: Backend,
        _later: &mut Later,
    ) -> R<R<Vec<AuditEntry>>> {
        let AddMessage {
            message: m,
            body,
            files,
            sealed,
            change: c,
            audit,
        } = *self;
        let (staff_more, patient_more) = match (m.from_patient, m.staff_only) {
            (true, _) => (1i64, 0i64),
            (false, true) => (0, 0),
            (false, false) => (0, 1),
        };
        let changed = sqlx::query(
            "UPDATE message_threads SET status = $3, assigned_to = $4, reply_due_at = $5, last_message_at = $6, \
             message_count = message_count + 1, staff_unread = staff_unread + $7, \
             patient_unread = patient_unread + $8 \
             WHERE org_id = $1 AND id = $2 AND status = $9",
        )
        .bind(c.org_id.to_string())
        .bind(c.thread_id.to_string())
        .bind(c.to.as_str())
        .bind(c.assigned_to.map(|u| u.to_string()))
        .bind(c.reply_due_at.map(|d| d.as_microsecond()))
        .bind(c.last_message_at.as_microsecond())
        .bind(staff_more)
        .bind(patient_more)
        .bind(c.from.as_str())
        .execute(&mut *conn)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Ok(Err(DomainError::refused(
                STALE,
                "the thread changed meanwhile",
            )));
        }
        insert_message(conn, &m, body).await?;
        insert_files(conn, &files, sealed).await?;
        Ok(Ok(vec![audit]))
    }
}

/// An attachment's row, sealed, ready to bind.
struct SealedFile {
    file_name: String,
    content: String,
}

impl SqlStore {
    async fn thread_from_row(&self, row: &AnyRow) -> R<Thread> {
        let id = db::text(row, "id")?;
        Ok(Thread {
            subject: self
                .open(&subject_place(&id), &db::text(row, "subject")?)
                .await?,
            id: db::parsed(row, "id")?,
            org_id: db::parsed(row, "org_id")?,
            site_id: db::parsed(row, "site_id")?,
            patient_id: db::parsed(row, "patient_id")?,
            clinician_id: db::opt_parsed(row, "clinician_id")?,
            status: db::domain_value(row, "status", ThreadStatus::parse)?,
            assigned_to: db::opt_parsed(row, "assigned_to")?,
            created_by: db::parsed(row, "created_by")?,
            created_at: db::ts(row, "created_at")?,
            last_message_at: db::ts(row, "last_message_at")?,
            reply_due_at: db::opt_ts(row, "reply_due_at")?,
            staff_unread: db::int(row, "staff_unread")?,
            patient_unread: db::int(row, "patient_unread")?,
            message_count: db::int(row, "message_count")?,
        })
    }

    async fn threads(&self, sql: String, args: Vec<Arg>) -> R<Vec<Thread>> {
        let rows = db::bind_args(sqlx::query(AssertSqlSafe(sql)), args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.thread_from_row(row).await?);
        }
        Ok(out)
    }

    async fn seal_files(&self, files: &[Attachment]) -> R<Vec<SealedFile>> {
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            let id = f.meta.id.to_string();
            out.push(SealedFile {
                file_name: self.seal(&name_place(&id), &f.meta.file_name).await?,
                content: self.seal_bytes(&content_place(&id), &f.bytes).await?,
            });
        }
        Ok(out)
    }

    async fn meta_from_row(&self, row: &AnyRow) -> R<AttachmentMeta> {
        let id = db::text(row, "id")?;
        Ok(AttachmentMeta {
            file_name: self
                .open(&name_place(&id), &db::text(row, "file_name")?)
                .await?,
            id: db::parsed(row, "id")?,
            kind: db::domain_value(row, "content_type", AttachmentKind::parse)?,
            size_bytes: db::int(row, "size_bytes")?,
            sha256: db::text(row, "sha256")?,
        })
    }
}

async fn insert_message(conn: &mut AnyConnection, m: &Message, body: String) -> R<()> {
    let sql = AssertSqlSafe(format!(
        "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ({})",
        db::placeholders(1, 10)
    ));
    sqlx::query(sql)
        .bind(m.id.to_string())
        .bind(m.thread_id.to_string())
        .bind(m.org_id.to_string())
        .bind(m.author_id.to_string())
        .bind(m.from_patient)
        .bind(m.staff_only)
        .bind(body)
        .bind(m.sent_at.as_microsecond())
        .bind(m.read_at.map(|t| t.as_microsecond()))
        .bind(m.read_by.map(|u| u.to_string()))
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(())
}

async fn insert_files(
    conn: &mut AnyConnection,
    files: &[Attachment],
    sealed: Vec<SealedFile>,
) -> R<()> {
    for (f, s) in files.iter().zip(sealed) {
        sqlx::query(
            "INSERT INTO attachments (id, org_id, patient_id, owner_kind, owner_id, file_name, content_type, \
             size_bytes, sha256, content, uploaded_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(f.meta.id.to_string())
        .bind(f.org_id.to_string())
        .bind(f.patient_id.to_string())
        .bind(f.owner_kind)
        .bind(f.owner_id.clone())
        .bind(s.file_name)
        .bind(f.meta.kind.as_str())
        .bind(f.meta.size_bytes)
        .bind(f.meta.sha256.clone())
        .bind(s.content)
        .bind(f.uploaded_by.to_string())
        .bind(f.uploaded_at.as_microsecond())
        .execute(&mut *conn)
        .await
        .db()?;
    }
    Ok(())
}

#[async_trait]
impl MessagingStore for SqlStore {
    async fn create_thread(
        &self,
        t: &Thread,
        first: &Message,
        files: &[Attachment],
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let subject = self
            .seal(&subject_place(&t.id.to_string()), &t.subject)
            .await?;
        let body = self
            .seal(&body_place(&first.id.to_string()), &first.body)
            .await?;
        let sealed = self.seal_files(files).await?;
        self.audited(audit, async |tx| {
            let sql = AssertSqlSafe(format!(
                "INSERT INTO message_threads ({THREAD_COLUMNS}) VALUES ({})",
                db::placeholders(1, 15)
            ));
            sqlx::query(sql)
                .bind(t.id.to_string())
                .bind(t.org_id.to_string())
                .bind(t.site_id.to_string())
                .bind(t.patient_id.to_string())
                .bind(t.clinician_id.map(|u| u.to_string()))
                .bind(subject)
                .bind(t.status.as_str())
                .bind(t.assigned_to.map(|u| u.to_string()))
                .bind(t.created_by.to_string())
                .bind(t.created_at.as_microsecond())
                .bind(t.last_message_at.as_microsecond())
                .bind(t.reply_due_at.map(|d| d.as_microsecond()))
                .bind(t.staff_unread)
                .bind(t.patient_unread)
                .bind(t.message_count)
                .execute(&mut *tx)
                .await
                .db()?;
            insert_message(tx, first, body).await?;
            insert_files(tx, files, sealed).await?;

            Ok(())
        })
        .await
    }

    async fn add_message(
        &self,
        m: &Message,
        files: &[Attachment],
        c: &ThreadChange,
        audit: AuditEntry,
    ) -> StoreResult<bool> {
        let body = self.seal(&body_place(&m.id.to_string()), &m.body).await?;
        let sealed = self.seal_files(files).await?;
        // Group-committed like a read's audit entry: one commit (one fsync) for many messages.
        let job = AddMessage {
            message: m.clone(),
            body,
            files: files.to_vec(),
            sealed,
            change: c.clone(),
            audit,
        };
        match self.group_commit(Job::Write(Box::new(job))).await {
            Ok(()) => Ok(true),
            Err(DomainError::Refused { rule, .. }) if rule == STALE => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn change_thread(&self, c: &ThreadChange, audit: AuditEntry) -> StoreResult<bool> {
        self.audited_if(audit, async |tx| {
            let changed = sqlx::query(
                "UPDATE message_threads SET status = $3, assigned_to = $4, reply_due_at = $5 \
             WHERE org_id = $1 AND id = $2 AND status = $6",
            )
            .bind(c.org_id.to_string())
            .bind(c.thread_id.to_string())
            .bind(c.to.as_str())
            .bind(c.assigned_to.map(|u| u.to_string()))
            .bind(c.reply_due_at.map(|d| d.as_microsecond()))
            .bind(c.from.as_str())
            .execute(&mut *tx)
            .await
            .db()?;
            if changed.rows_affected() == 0 {
                return Ok(false);
            }

            Ok(true)
        })
        .await
    }

    async fn get_thread(&self, org: OrgId, id: ThreadId) -> StoreResult<Option<Thread>> {
        Ok(self
            .threads(
                format!(
                    "SELECT {THREAD_COLUMNS} FROM message_threads WHERE org_id = $1 AND id = $2"
                ),
                vec![Arg::Text(org.to_string()), Arg::Text(id.to_string())],
            )
            .await?
            .pop())
    }

    async fn thread_messages(
        &self,
        org: OrgId,
        id: ThreadId,
        with_staff_notes: bool,
    ) -> StoreResult<Vec<Message>> {
        let notes = if with_staff_notes {
            ""
        } else {
            " AND staff_only = FALSE"
        };
        let sql = AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE org_id = $1 AND thread_id = $2{notes} \
             ORDER BY sent_at, id"
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        let files = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ATTACHMENT_META} FROM attachments WHERE org_id = $1 AND owner_kind = 'message' \
             AND owner_id IN (SELECT id FROM messages WHERE thread_id = $2) ORDER BY uploaded_at, id"
        )))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        let mut metas: Vec<(String, AttachmentMeta)> = Vec::with_capacity(files.len());
        for row in &files {
            metas.push((db::text(row, "owner_id")?, self.meta_from_row(row).await?));
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = db::text(row, "id")?;
            out.push(Message {
                body: self.open(&body_place(&id), &db::text(row, "body")?).await?,
                attachments: metas
                    .iter()
                    .filter(|(owner, _)| *owner == id)
                    .map(|(_, m)| m.clone())
                    .collect(),
                id: db::parsed(row, "id")?,
                thread_id: db::parsed(row, "thread_id")?,
                org_id: db::parsed(row, "org_id")?,
                author_id: db::parsed(row, "author_id")?,
                from_patient: db::flag(row, "from_patient")?,
                staff_only: db::flag(row, "staff_only")?,
                sent_at: db::ts(row, "sent_at")?,
                read_at: db::opt_ts(row, "read_at")?,
                read_by: db::opt_parsed(row, "read_by")?,
            });
        }
        Ok(out)
    }

    async fn mark_read(
        &self,
        org: OrgId,
        id: ThreadId,
        by_patient: bool,
        reader: UserId,
        at: Timestamp,
    ) -> StoreResult<()> {
        let counter = if by_patient {
            "patient_unread"
        } else {
            "staff_unread"
        };
        self.unaudited(async |tx| {
            sqlx::query(
            "UPDATE messages SET read_at = $4, read_by = $5 WHERE org_id = $1 AND thread_id = $2 \
             AND from_patient = $3 AND staff_only = FALSE AND read_at IS NULL",
        )
        .bind(org.to_string())
        .bind(id.to_string())
        .bind(!by_patient)
        .bind(at.as_microsecond())
        .bind(reader.to_string())
        .execute(&mut *tx)
        .await
        .db()?;
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE message_threads SET {counter} = 0 WHERE org_id = $1 AND id = $2"
            )))
            .bind(org.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .db()?;

            Ok(())
        })
        .await
    }

    async fn inbox(&self, org: OrgId, q: &InboxQuery) -> StoreResult<Vec<Thread>> {
        let mut f = Filter::default();
        f.push("org_id = ?", Arg::Text(org.to_string()));
        if let Some(site) = q.site_id {
            f.push("site_id = ?", Arg::Text(site.to_string()));
        }
        if let Some(status) = q.status {
            f.push("status = ?", Arg::Text(status.as_str().into()));
        } else if q.not_closed {
            f.raw("status <> 'closed'");
        }
        if let Some(user) = q.assigned_to {
            f.push("assigned_to = ?", Arg::Text(user.to_string()));
        }
        if q.unread_only {
            f.raw("staff_unread > 0");
        }
        if let Some(now) = q.overdue_at {
            f.raw("reply_due_at IS NOT NULL");
            f.push("reply_due_at < ?", Arg::Int(now.as_microsecond()));
        }
        if let Some(before) = q.before {
            f.push("last_message_at < ?", Arg::Int(before.as_microsecond()));
        }
        let limit = f.next();
        let sql = format!(
            "SELECT {THREAD_COLUMNS} FROM message_threads {} ORDER BY last_message_at DESC LIMIT ${limit}",
            f.where_clause()
        );
        let mut args = f.args;
        args.push(Arg::Int(q.limit.clamp(1, 500)));
        self.threads(sql, args).await
    }

    async fn inbox_counts(
        &self,
        org: OrgId,
        site: SiteId,
        now: Timestamp,
    ) -> StoreResult<InboxCounts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM message_threads WHERE org_id = $1 AND site_id = $2 AND staff_unread > 0) AS unread, \
                    (SELECT COUNT(*) FROM message_threads WHERE org_id = $1 AND site_id = $2 \
                       AND reply_due_at IS NOT NULL AND reply_due_at < $3) AS overdue",
        )
        .bind(org.to_string())
        .bind(site.to_string())
        .bind(now.as_microsecond())
        .fetch_one(&self.reader)
        .await
        .db()?;
        Ok(InboxCounts {
            unread: db::int(&row, "unread")?,
            overdue: db::int(&row, "overdue")?,
        })
    }

    async fn patient_threads(&self, org: OrgId, patient: PatientId) -> StoreResult<Vec<Thread>> {
        self.threads(
            format!(
                "SELECT {THREAD_COLUMNS} FROM message_threads WHERE org_id = $1 AND patient_id = $2 \
                 ORDER BY last_message_at DESC LIMIT 200"
            ),
            vec![Arg::Text(org.to_string()), Arg::Text(patient.to_string())],
        )
        .await
    }

    async fn get_attachment(
        &self,
        org: OrgId,
        id: AttachmentId,
    ) -> StoreResult<Option<Attachment>> {
        let row = sqlx::query(
            "SELECT id, org_id, patient_id, owner_kind, owner_id, file_name, content_type, size_bytes, \
             sha256, content, uploaded_by, uploaded_at FROM attachments WHERE org_id = $1 AND id = $2",
        )
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await
        .db()?;
        let Some(row) = row else {
            return Ok(None);
        };
        let key = id.to_string();
        let owner_kind = match db::text(&row, "owner_kind")?.as_str() {
            "econsult" => "econsult",
            _ => "message",
        };
        Ok(Some(Attachment {
            meta: self.meta_from_row(&row).await?,
            org_id: db::parsed(&row, "org_id")?,
            patient_id: db::parsed(&row, "patient_id")?,
            owner_kind,
            owner_id: db::text(&row, "owner_id")?,
            uploaded_by: db::parsed(&row, "uploaded_by")?,
            uploaded_at: db::ts(&row, "uploaded_at")?,
            bytes: self
                .open_bytes(&content_place(&key), &db::text(&row, "content")?)
                .await?,
        }))
    }

    async fn thread_of_message(
        &self,
        org: OrgId,
        message: MessageId,
    ) -> StoreResult<Option<ThreadId>> {
        let row = sqlx::query("SELECT thread_id FROM messages WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(message.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.map(|r| db::parsed(&r, "thread_id")).transpose()
    }

    async fn patient_visit_sites(
        &self,
        org: OrgId,
        patient: PatientId,
    ) -> StoreResult<Vec<SiteId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT site_id FROM appointments WHERE org_id = $1 AND patient_id = $2 AND status <> 'cancelled'",
        )
        .bind(org.to_string())
        .bind(patient.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        rows.iter().map(|r| db::parsed(r, "site_id")).collect()
    }

    async fn clinicians_seen(&self, org: OrgId, patient: PatientId) -> StoreResult<Vec<UserId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT clinician_id FROM appointments WHERE org_id = $1 AND patient_id = $2 AND status <> 'cancelled'",
        )
        .bind(org.to_string())
        .bind(patient.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        rows.iter().map(|r| db::parsed(r, "clinician_id")).collect()
    }

    async fn threads_to_notify(&self, limit: i64) -> StoreResult<Vec<Thread>> {
        self.threads(
            format!(
                "SELECT {THREAD_COLUMNS} FROM message_threads WHERE patient_unread > 0 \
                 AND (patient_notified_at IS NULL OR patient_notified_at < last_message_at) \
                 ORDER BY last_message_at LIMIT $1"
            ),
            vec![Arg::Int(limit.clamp(1, 1000))],
        )
        .await
    }

    async fn mark_thread_notified(
        &self,
        org: OrgId,
        id: ThreadId,
        at: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        self.audited(audit, async |tx| {
            sqlx::query(
                "UPDATE message_threads SET patient_notified_at = $3 WHERE org_id = $1 AND id = $2",
            )
            .bind(org.to_string())
            .bind(id.to_string())
            .bind(at.as_microsecond())
            .execute(&mut *tx)
            .await
            .db()?;
            Ok(())
        })
        .await
    }
}
