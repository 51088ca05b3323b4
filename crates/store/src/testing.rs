//! Helpers for tests and benchmarks: throwaway databases and raw SQL (for tamper tests). Not for production paths.

use std::path::{Path, PathBuf};

use sqlx::{AnyConnection, AssertSqlSafe, Connection};

use crate::connect_error::ConnectError;

/// A temporary directory, removed with everything in it when dropped.
#[derive(Debug)]
pub struct TempDirGuard {
    path: PathBuf,
}

impl TempDirGuard {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        // Best effort: a leftover temp directory is harmless.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A URL for a new SQLite database in a fresh temporary directory; keep the guard alive while it is used.
pub async fn fresh_sqlite_url() -> (String, TempDirGuard) {
    let path = std::env::temp_dir().join(format!("telemed-test-{}", uuid::Uuid::new_v4().simple()));
    let guard = TempDirGuard { path };
    let url = format!("sqlite://{}", guard.path.join("telemed.db").display());
    (url, guard)
}

/// Creates a new, uniquely named database on the PostgreSQL server of `base` (a URL such as
/// `postgres://postgres@127.0.0.1:5432/test`, as in `TELEMED_TEST_POSTGRES_URL`) and returns its URL.
/// Drop it with [`drop_postgres_database`] (tests do so when they pass, and keep it for inspection when they fail).
pub async fn fresh_postgres_url(base: &str) -> Result<String, ConnectError> {
    let name = format!("telemed_test_{}", uuid::Uuid::new_v4().simple());
    execute_raw(base, &format!("CREATE DATABASE {name}")).await?;
    let (without_query, query) = match base.split_once('?') {
        Some((url, query)) => (url, format!("?{query}")),
        None => (base, String::new()),
    };
    let server = match without_query.rsplit_once('/') {
        // `postgres://host` has no database part: the last '/' is the scheme's.
        Some((server, _)) if server.contains("//") && !server.ends_with('/') => server,
        _ => without_query,
    };
    Ok(format!("{server}/{name}{query}"))
}

/// Drops a database made by [`fresh_postgres_url`], closing any connections still open to it.
pub async fn drop_postgres_database(base: &str, url: &str) -> Result<(), ConnectError> {
    let without_query = url.split_once('?').map_or(url, |(u, _)| u);
    let name = without_query.rsplit_once('/').map_or("", |(_, n)| n);
    // Only names this module made: never drop a database a caller named by mistake.
    let valid = name
        .strip_prefix("telemed_test_")
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        return Err(ConnectError::InvalidUrl(format!(
            "{name} is not a database made by fresh_postgres_url"
        )));
    }
    execute_raw(
        base,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await
}

/// Runs SQL (several statements allowed) on its own connection, bypassing the store: for tests
/// that tamper with the audit trail behind the application's back.
pub async fn execute_raw(url: &str, sql: &str) -> Result<(), ConnectError> {
    sqlx::any::install_default_drivers();
    let backend = crate::backend::Backend::from_url(url)?.name();
    let mut conn = AnyConnection::connect(url)
        .await
        .map_err(|source| ConnectError::Connect { backend, source })?;
    let executed = sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await;
    // Close before reporting, so a failed statement does not leave the connection behind.
    let closed = conn.close().await;
    executed.map_err(|source| ConnectError::Execute { backend, source })?;
    closed.map_err(|source| ConnectError::Connect { backend, source })
}

/// Runs a query that returns one integer (such as a count) on its own connection: how benchmarks
/// check what the database holds afterwards, without going through the application.
pub async fn query_i64(url: &str, sql: &str) -> Result<i64, ConnectError> {
    sqlx::any::install_default_drivers();
    let backend = crate::backend::Backend::from_url(url)?.name();
    let mut conn = AnyConnection::connect(url)
        .await
        .map_err(|source| ConnectError::Connect { backend, source })?;
    let value = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_string()))
        .fetch_one(&mut conn)
        .await;
    let closed = conn.close().await;
    let value = value.map_err(|source| ConnectError::Execute { backend, source })?;
    closed.map_err(|source| ConnectError::Connect { backend, source })?;
    Ok(value)
}

/// Tables and their column names, as a migrated database reports them.
pub type Schema = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

/// Every table of the application (not the engine's own, nor the migrations' bookkeeping) with its
/// columns, read from the database's catalogue: how a test checks that both migration trees build
/// the same schema.
pub async fn table_columns(url: &str) -> Result<Schema, ConnectError> {
    sqlx::any::install_default_drivers();
    let backend = crate::backend::Backend::from_url(url)?;
    let name = backend.name();
    let sql = match backend {
        crate::backend::Backend::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, \
             pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
        }
        crate::backend::Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) AS table_name, CAST(column_name AS TEXT) AS column_name \
             FROM information_schema.columns WHERE table_schema = current_schema()"
        }
    };
    let mut conn = AnyConnection::connect(url)
        .await
        .map_err(|source| ConnectError::Connect {
            backend: name,
            source,
        })?;
    let rows = sqlx::query_as::<_, (String, String)>(sql)
        .fetch_all(&mut conn)
        .await;
    let closed = conn.close().await;
    let rows = rows.map_err(|source| ConnectError::Execute {
        backend: name,
        source,
    })?;
    closed.map_err(|source| ConnectError::Connect {
        backend: name,
        source,
    })?;
    let mut schema = Schema::new();
    for (table, column) in rows {
        if table == "_sqlx_migrations" {
            continue;
        }
        schema.entry(table).or_default().insert(column);
    }
    Ok(schema)
}
