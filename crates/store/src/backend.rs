//! The SQL engine behind a store, and the few places where the two dialects differ.

use crate::connect_error::ConnectError;

/// The SQL engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the engine from a URL scheme; anything but `sqlite:`, `postgres:` or `postgresql:` is refused.
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or(url);
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(ConnectError::UnsupportedScheme {
                scheme: scheme.to_string(),
            }),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Case-insensitive `LIKE`: SQLite's `LIKE` already ignores ASCII case.
    pub(crate) fn ilike(self) -> &'static str {
        match self {
            Backend::Sqlite => "LIKE",
            Backend::Postgres => "ILIKE",
        }
    }

    /// A correlated subquery folding `column` of `table`'s rows for user `u.id` into one
    /// comma-separated text (sorted on PostgreSQL; SQLite's order is sorted by the caller).
    pub(crate) fn fold_for_user(self, column: &str, table: &str) -> String {
        match self {
            Backend::Sqlite => {
                format!("(SELECT group_concat({column}, ',') FROM {table} WHERE user_id = u.id)")
            }
            Backend::Postgres => format!(
                "(SELECT string_agg({column}, ',' ORDER BY {column}) FROM {table} WHERE user_id = u.id)"
            ),
        }
    }
}
