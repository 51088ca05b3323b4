//! Why a store could not be opened.

use std::path::PathBuf;

use thiserror::Error;

/// Why a store could not be opened.
#[derive(Debug, Error)]
pub enum ConnectError {
    #[error(
        "unsupported database URL scheme '{scheme}': use sqlite:PATH, sqlite://PATH, postgres://... or postgresql://..."
    )]
    UnsupportedScheme { scheme: String },
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("could not create the directory {path} for the SQLite database: {source}")]
    CreateDirectory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not connect to the {backend} database: {source}")]
    Connect {
        backend: &'static str,
        source: sqlx::Error,
    },
    #[error("the SQL statement failed on the {backend} database: {source}")]
    Execute {
        backend: &'static str,
        source: sqlx::Error,
    },
    #[error("could not apply the database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("could not start the database writer: {0}")]
    Writer(std::io::Error),
}
