//! Opening stores: URL schemes, SQLite paths, reopening, and the migration trees.

use std::collections::BTreeSet;
use std::path::Path;

use domain::compliance::AuditAction;
use domain::identity::Organization;
use domain::ids::OrgId;

use crate::helpers::{at, audit};

#[tokio::test]
async fn an_unknown_url_scheme_is_refused_with_the_scheme_named() {
    for url in [
        "mysql://localhost/telemed",
        "telemed.db",
        "http://example.org",
    ] {
        match store::connect(url).await {
            Err(store::ConnectError::UnsupportedScheme { scheme }) => {
                let message = store::ConnectError::UnsupportedScheme {
                    scheme: scheme.clone(),
                }
                .to_string();
                assert!(message.contains(&format!("'{scheme}'")), "{message}");
            }
            Err(other) => panic!("{url}: expected an unsupported scheme, got {other}"),
            Ok(_) => panic!("{url}: expected an unsupported scheme"),
        }
    }
}

#[tokio::test]
async fn an_in_memory_sqlite_url_is_refused_with_a_reason() {
    let refused = store::connect("sqlite::memory:").await;
    assert!(matches!(refused, Err(store::ConnectError::InvalidUrl(_))));
}

#[tokio::test]
async fn a_sqlite_database_is_created_with_its_directory_and_keeps_its_data_when_reopened() {
    let (_, dir) = store::testing::fresh_sqlite_url().await;
    let path = dir.path().join("nested/deeper/telemed.db");
    let url = format!("sqlite:{}", path.display());
    let org = Organization {
        id: OrgId::new(),
        name: "Acme".into(),
        created_at: at(0),
    };
    {
        let store = store::connect(&url).await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        store.ping().await.unwrap();
        store
            .create_org(&org, audit(AuditAction::OrgCreate))
            .await
            .unwrap();
    }
    assert!(path.exists());
    // WAL is a property of the file, so a separate connection sees what the store set.
    let mut raw = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let reopened = store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert_eq!(reopened.get_org(org.id).await.unwrap(), Some(org));
    assert_eq!(reopened.audit_head().await.unwrap().0, 1);
}

#[tokio::test]
#[cfg_attr(
    not(telemed_pg),
    ignore = "set TELEMED_TEST_POSTGRES_URL to run on PostgreSQL"
)]
async fn a_postgres_store_names_its_backend() {
    let Ok(base) = std::env::var("TELEMED_TEST_POSTGRES_URL") else {
        eprintln!("skipped: set TELEMED_TEST_POSTGRES_URL to run this test on PostgreSQL");
        return;
    };
    let url = store::testing::fresh_postgres_url(&base).await.unwrap();
    let store = store::connect(&url).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    store.ping().await.unwrap();
    drop(store);
    crate::helpers::drop_postgres(&url).await;
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn both_migration_trees_hold_the_same_files_and_all_of_them_are_embedded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let sqlite = file_names(&root.join("sqlite"));
    let postgres = file_names(&root.join("postgres"));
    assert_eq!(sqlite, postgres);
    let embedded: BTreeSet<String> = store::migration_file_names()
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(sqlite, embedded);
}
