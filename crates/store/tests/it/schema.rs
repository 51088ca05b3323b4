//! Both migration trees build the same schema: every table, with the same columns, on SQLite and
//! on PostgreSQL (types differ by dialect, names must not).

use store::testing;

/// Tables only one engine has, each for a reason: parked messages between servers sharing one
/// PostgreSQL database (`relay.rs`); SQLite means one server, so nothing to relay.
const POSTGRES_ONLY: &[&str] = &["relay_messages"];

#[tokio::test]
#[cfg_attr(
    not(telemed_pg),
    ignore = "set TELEMED_TEST_POSTGRES_URL to compare with PostgreSQL"
)]
async fn both_migration_trees_define_the_same_tables_and_columns() {
    let base = std::env::var("TELEMED_TEST_POSTGRES_URL").unwrap();
    let (sqlite_url, _dir) = testing::fresh_sqlite_url().await;
    let postgres_url = testing::fresh_postgres_url(&base).await.unwrap();
    // Opening a store applies every migration.
    drop(store::connect(&sqlite_url).await.unwrap());
    drop(store::connect(&postgres_url).await.unwrap());

    let sqlite = testing::table_columns(&sqlite_url).await.unwrap();
    let mut postgres = testing::table_columns(&postgres_url).await.unwrap();
    for table in POSTGRES_ONLY {
        assert!(
            postgres.remove(*table).is_some() && !sqlite.contains_key(*table),
            "{table} is expected on PostgreSQL only"
        );
    }

    assert!(
        sqlite.contains_key("audit_log") && sqlite.contains_key("appointments"),
        "the schema was read: {:?}",
        sqlite.keys().collect::<Vec<_>>()
    );
    let tables = |s: &testing::Schema| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        tables(&sqlite),
        tables(&postgres),
        "tables differ between the trees"
    );
    for (table, columns) in &sqlite {
        assert_eq!(
            Some(columns),
            postgres.get(table),
            "columns of {table} differ between the trees"
        );
    }
    testing::drop_postgres_database(&base, &postgres_url)
        .await
        .unwrap();
}
