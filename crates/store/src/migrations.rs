//! The embedded migrations: the same file names under `migrations/sqlite` and `migrations/postgres`.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::backend::Backend;

/// Embeds one migration of both trees, so a file missing from either fails the build.
macro_rules! migrations {
    ($(($version:literal, $name:literal, $file:literal)),* $(,)?) => {
        const FILES: &[(i64, &str, &str, &str, &str)] = &[$(
            (
                $version,
                $name,
                $file,
                include_str!(concat!("../migrations/sqlite/", $file)),
                include_str!(concat!("../migrations/postgres/", $file)),
            )
        ),*];
    };
}

migrations![
    (1, "foundation", "0001_foundation.sql"),
    (2, "scheduling", "0002_scheduling.sql"),
    (3, "visits", "0003_visits.sql"),
    (4, "training", "0004_training.sql"),
    (5, "program", "0005_program.sql"),
    (7, "accounts", "0007_accounts.sql"),
    (8, "clinical", "0008_clinical.sql"),
    (12, "audit_checkpoints", "0012_audit_checkpoints.sql"),
    (13, "visit_links", "0013_visit_links.sql"),
    (14, "audit_repeats", "0014_audit_repeats.sql"),
    (15, "visit_chat", "0015_visit_chat.sql"),
];

/// The migration file names this build embeds, in order (a test checks both directories hold exactly these).
pub fn migration_file_names() -> Vec<&'static str> {
    FILES.iter().map(|(_, _, file, _, _)| *file).collect()
}

pub(crate) fn migrator(backend: Backend) -> Migrator {
    let migrations = FILES
        .iter()
        .map(|(version, name, _, sqlite, postgres)| {
            let sql: &'static str = match backend {
                Backend::Sqlite => sqlite,
                Backend::Postgres => postgres,
            };
            Migration::new(
                *version,
                Cow::Borrowed(*name),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}
