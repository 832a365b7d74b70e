//! Migrations: unique, owner-named versions, and every migration reversible.

use coves_appview::db::migrate;
use coves_tests::TestDb;
use coves_tests::db::linked_plugins;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn table_count(db: &TestDb) -> i64 {
    let mut conn = db.connect().await;
    diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .get_result::<Count>(&mut conn)
    .await
    .expect("count tables")
    .n
}

#[test]
fn versions_are_unique_and_name_their_owner() {
    migrate::check_unique_versions(&linked_plugins()).expect("unique, owner-named versions");
}

#[tokio::test]
async fn every_migration_runs_up_down_and_up_again() {
    let db = TestDb::empty().await;
    let plugins = linked_plugins();
    let applied = migrate::run(db.url(), &plugins).await.expect("up");
    assert!(applied.len() >= 2, "core and actor migrations: {applied:?}");
    let tables = table_count(&db).await;
    assert!(tables >= 2);

    assert_eq!(migrate::run(db.url(), &plugins).await.expect("idempotent"), Vec::<String>::new());
    assert_eq!(migrate::revert_all(db.url(), &plugins).await.expect("down"), applied.len());
    assert_eq!(table_count(&db).await, 0, "down removes every table");
    assert_eq!(migrate::run(db.url(), &plugins).await.expect("up again").len(), applied.len());
    assert_eq!(table_count(&db).await, tables);
}
