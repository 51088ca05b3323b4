//! Sign-in sessions and integration clients with their bearer tokens (only hashes are stored).

use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::identity::User;
use domain::identity::{ClientRecord, SessionRecord, SessionStore, TokenRecord};
use domain::ids::{ClientId, OrgId, SiteId};
use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use async_trait::async_trait;

use crate::db::{self, DbResult, R, write_error};
use crate::sql_store::SqlStore;

fn session_from_row(row: &AnyRow) -> R<SessionRecord> {
    Ok(SessionRecord {
        token_hash: db::text(row, "token_hash")?,
        user_id: db::parsed(row, "user_id")?,
        org_id: db::parsed(row, "org_id")?,
        mfa_pending: db::flag(row, "mfa_pending")?,
        csrf_token: db::text(row, "csrf_token")?,
        created_at: db::ts(row, "created_at")?,
        last_seen_at: db::ts(row, "last_seen_at")?,
        source_ip: db::opt_text(row, "source_ip")?,
    })
}

fn client_from_row(row: &AnyRow) -> R<ClientRecord> {
    Ok(ClientRecord {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        name: db::text(row, "name")?,
        secret_hash: db::text(row, "secret_hash")?,
        scopes: db::text(row, "scopes")?,
        created_at: db::ts(row, "created_at")?,
    })
}

fn token_from_row(row: &AnyRow) -> R<TokenRecord> {
    Ok(TokenRecord {
        token_hash: db::text(row, "token_hash")?,
        client_id: db::parsed(row, "client_id")?,
        org_id: db::parsed(row, "org_id")?,
        scopes: db::text(row, "scopes")?,
        expires_at: db::ts(row, "expires_at")?,
    })
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, s: &SessionRecord) -> R<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, org_id, mfa_pending, csrf_token, created_at, last_seen_at, \
             source_ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(s.token_hash.clone())
        .bind(s.user_id.to_string())
        .bind(s.org_id.to_string())
        .bind(s.mfa_pending)
        .bind(s.csrf_token.clone())
        .bind(s.created_at.as_microsecond())
        .bind(s.last_seen_at.as_microsecond())
        .bind(s.source_ip.clone())
        .execute(&self.writer)
        .await
        .map_err(|e| write_error(e, |_| DomainError::conflict_on("token", "this session already exists")))?;
        Ok(())
    }

    async fn get_session(&self, token_hash: &str) -> R<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT token_hash, user_id, org_id, mfa_pending, csrf_token, created_at, last_seen_at, source_ip \
             FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash.to_string())
        .fetch_optional(&self.reader)
        .await
        .db()?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// The session and its account in one round trip (every signed-in request needs both): the
    /// user with their sites, without the clinician profile.
    async fn get_session_account(&self, token_hash: &str) -> R<Option<(SessionRecord, User)>> {
        if let Some(found) = self.caches.sessions.get(&token_hash.to_string()) {
            return Ok(Some(found));
        }
        let sites = self.backend.fold_for_user("site_id", "user_sites");
        let sql = AssertSqlSafe(format!(
            "SELECT s.token_hash, s.mfa_pending, s.csrf_token, s.created_at AS session_created_at, s.last_seen_at, \
             s.source_ip, u.id, u.org_id, u.email, u.display_name, u.role, u.active, u.patient_id, u.created_at, \
             {sites} AS site_ids FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
        ));
        let Some(row) = sqlx::query(sql)
            .bind(token_hash.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?
        else {
            return Ok(None);
        };
        let mut user = crate::identity::user_from_row(&row)?;
        let mut site_ids: Vec<SiteId> = db::opt_text(&row, "site_ids")?
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .map_err(|_| DomainError::Storage("a stored site id could not be read".into()))
            })
            .collect::<R<_>>()?;
        site_ids.sort();
        user.site_ids = site_ids;
        let session = SessionRecord {
            token_hash: db::text(&row, "token_hash")?,
            user_id: user.id,
            org_id: user.org_id,
            mfa_pending: db::flag(&row, "mfa_pending")?,
            csrf_token: db::text(&row, "csrf_token")?,
            created_at: db::ts(&row, "session_created_at")?,
            last_seen_at: db::ts(&row, "last_seen_at")?,
            source_ip: db::opt_text(&row, "source_ip")?,
        };
        self.caches
            .sessions
            .put(token_hash.to_string(), (session.clone(), user.clone()));
        Ok(Some((session, user)))
    }

    async fn touch_session(&self, token_hash: &str, at: Timestamp) -> R<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1")
            .bind(token_hash.to_string())
            .bind(at.as_microsecond())
            .execute(&self.writer)
            .await
            .db()?;
        // The cached copy must see the touch, or the idle timeout would be measured from before it.
        let key = token_hash.to_string();
        if let Some((mut session, user)) = self.caches.sessions.get(&key) {
            session.last_seen_at = at;
            self.caches.sessions.put(key, (session, user));
        }
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> R<()> {
        self.caches.sessions.remove(&token_hash.to_string());
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash.to_string())
            .execute(&self.writer)
            .await
            .db()?;
        Ok(())
    }

    async fn delete_sessions_before(
        &self,
        idle_cutoff: Timestamp,
        absolute_cutoff: Timestamp,
    ) -> R<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
            .bind(idle_cutoff.as_microsecond())
            .bind(absolute_cutoff.as_microsecond())
            .execute(&self.writer)
            .await
            .db()?;
        if done.rows_affected() > 0 {
            self.caches.sessions.clear();
        }
        Ok(done.rows_affected())
    }

    async fn create_client(&self, c: &ClientRecord, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            sqlx::query(
                "INSERT INTO oauth_clients (id, org_id, name, secret_hash, scopes, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(c.id.to_string())
            .bind(c.org_id.to_string())
            .bind(c.name.clone())
            .bind(c.secret_hash.clone())
            .bind(c.scopes.clone())
            .bind(c.created_at.as_microsecond())
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                write_error(e, |_| {
                    DomainError::conflict_on("id", "this client already exists")
                })
            })?;
            Ok(())
        })
        .await
    }

    async fn get_client(&self, id: ClientId) -> R<Option<ClientRecord>> {
        let row = sqlx::query("SELECT id, org_id, name, secret_hash, scopes, created_at FROM oauth_clients WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn list_clients(&self, org: OrgId) -> R<Vec<ClientRecord>> {
        let rows = sqlx::query(
            "SELECT id, org_id, name, secret_hash, scopes, created_at FROM oauth_clients WHERE org_id = $1 \
             ORDER BY name, id",
        )
        .bind(org.to_string())
        .fetch_all(&self.reader)
        .await
        .db()?;
        rows.iter().map(client_from_row).collect()
    }

    async fn create_token(&self, t: &TokenRecord, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            sqlx::query(
                "INSERT INTO oauth_tokens (token_hash, client_id, org_id, scopes, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(t.token_hash.clone())
            .bind(t.client_id.to_string())
            .bind(t.org_id.to_string())
            .bind(t.scopes.clone())
            .bind(t.expires_at.as_microsecond())
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(e, |_| DomainError::conflict_on("token", "this token already exists")))?;
            Ok(())
        })
        .await
    }

    async fn get_token(&self, token_hash: &str) -> R<Option<TokenRecord>> {
        let row = sqlx::query(
            "SELECT token_hash, client_id, org_id, scopes, expires_at FROM oauth_tokens WHERE token_hash = $1",
        )
        .bind(token_hash.to_string())
        .fetch_optional(&self.reader)
        .await
        .db()?;
        row.as_ref().map(token_from_row).transpose()
    }
}
