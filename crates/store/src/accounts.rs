//! `AccountStore`: password changes and the links that reset a forgotten password (only their
//! tokens' hashes are stored).

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::identity::{AccountStore, PasswordReset};
use domain::ids::UserId;

use crate::db::{self, DbResult, R};
use crate::sql_store::SqlStore;

fn reset_from_row(row: &AnyRow) -> R<PasswordReset> {
    Ok(PasswordReset {
        token_hash: db::text(row, "token_hash")?,
        user_id: db::parsed(row, "user_id")?,
        org_id: db::parsed(row, "org_id")?,
        created_at: db::ts(row, "created_at")?,
        expires_at: db::ts(row, "expires_at")?,
        used_at: db::opt_ts(row, "used_at")?,
    })
}

/// Sets the password hash; a lockout and its count of failures go with the old password.
async fn set_password(conn: &mut AnyConnection, user: &str, hash: &str) -> R<()> {
    let done = sqlx::query(
        "UPDATE credentials SET password_hash = $2, failed_attempts = 0, locked_until = NULL \
         WHERE user_id = $1",
    )
    .bind(user.to_string())
    .bind(hash.to_string())
    .execute(&mut *conn)
    .await
    .db()?;
    if done.rows_affected() == 0 {
        return Err(DomainError::NotFound { resource: "user" });
    }
    Ok(())
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_password_reset(&self, reset: &PasswordReset, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            sqlx::query(
                "INSERT INTO password_resets (token_hash, user_id, org_id, created_at, expires_at, used_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL)",
            )
            .bind(reset.token_hash.clone())
            .bind(reset.user_id.to_string())
            .bind(reset.org_id.to_string())
            .bind(reset.created_at.as_microsecond())
            .bind(reset.expires_at.as_microsecond())
            .execute(&mut *tx)
            .await
            .db()?;
            Ok(())
        })
        .await
    }

    async fn get_password_reset(&self, token_hash: &str) -> R<Option<PasswordReset>> {
        let row = sqlx::query(
            "SELECT token_hash, user_id, org_id, created_at, expires_at, used_at \
             FROM password_resets WHERE token_hash = $1",
        )
        .bind(token_hash.to_string())
        .fetch_optional(&self.reader)
        .await
        .db()?;
        row.as_ref().map(reset_from_row).transpose()
    }

    async fn count_password_resets(&self, user: UserId, since: Timestamp) -> R<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM password_resets WHERE user_id = $1 AND created_at >= $2",
        )
        .bind(user.to_string())
        .bind(since.as_microsecond())
        .fetch_one(&self.writer)
        .await
        .db()?;
        db::int(&row, "n")
    }

    async fn use_password_reset(
        &self,
        token_hash: &str,
        now: Timestamp,
        password_hash: &str,
        audit: AuditEntry,
    ) -> R<bool> {
        let mut user = None;
        let used = self
            .audited_if(audit, async |tx| {
                // The compare-and-set: only an unused, unexpired link is claimed.
                let row = sqlx::query(
                    "UPDATE password_resets SET used_at = $2 \
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                     RETURNING user_id",
                )
                .bind(token_hash.to_string())
                .bind(now.as_microsecond())
                .fetch_optional(&mut *tx)
                .await
                .db()?;
                let Some(row) = row else {
                    return Ok(false);
                };
                let id = db::text(&row, "user_id")?;
                set_password(&mut *tx, &id, password_hash).await?;
                // Whoever knew the old password is signed out, and older links die with it.
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await
                    .db()?;
                sqlx::query(
                    "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
                )
                .bind(id.clone())
                .bind(now.as_microsecond())
                .execute(&mut *tx)
                .await
                .db()?;
                user = Some(db::parsed::<UserId>(&row, "user_id")?);
                Ok(true)
            })
            .await?;
        if let Some(user) = user {
            self.caches.forget_user(user);
        }
        Ok(used)
    }

    async fn change_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep_session: Option<&str>,
        audit: AuditEntry,
    ) -> R<()> {
        let at = audit.at.as_microsecond();
        self.audited(audit, async |tx| {
            let id = user.to_string();
            set_password(&mut *tx, &id, password_hash).await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                .bind(id.clone())
                .bind(keep_session.unwrap_or("").to_string())
                .execute(&mut *tx)
                .await
                .db()?;
            // A link asked for before the change would undo it.
            sqlx::query(
                "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
            )
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .db()?;
            Ok(())
        })
        .await?;
        self.caches.forget_user(user);
        Ok(())
    }
}
