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

/// The column names a diesel `table!` declares, read from the SQL it generates.
fn declared_columns(select_all: &str, table: &str) -> Vec<String> {
    let prefix = format!("\"{table}\".\"");
    select_all.split(&prefix).skip(1).filter_map(|rest| rest.split('"').next()).map(str::to_owned).collect()
}

#[derive(diesel::QueryableByName)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

/// The columns of `table` in the migrated database, except generated ones (read only
/// through SQL, so `table!` may leave them out).
async fn migrated_columns(db: &TestDb, table: &str) -> Vec<String> {
    let mut conn = db.connect().await;
    let mut columns: Vec<String> = diesel::sql_query(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position",
    )
    .bind::<diesel::sql_types::Text, _>(table)
    .load::<Column>(&mut conn)
    .await
    .expect("columns")
    .into_iter()
    .map(|c| c.column_name)
    .collect();
    columns.sort();
    columns
}

#[tokio::test]
async fn table_definitions_match_the_migrated_database() {
    use diesel::{QueryDsl, debug_query, pg::Pg};
    let db = TestDb::new().await;
    let declared = [
        (
            "actors",
            debug_query::<Pg, _>(
                &coves_plugin_actor::schema::actors::table.select(coves_plugin_actor::schema::actors::all_columns),
            )
            .to_string(),
        ),
        (
            "communities",
            debug_query::<Pg, _>(
                &coves_plugin_community::schema::communities::table
                    .select(coves_plugin_community::schema::communities::all_columns),
            )
            .to_string(),
        ),
        (
            "comments",
            debug_query::<Pg, _>(
                &coves_plugin_comment::schema::comments::table
                    .select(coves_plugin_comment::schema::comments::all_columns),
            )
            .to_string(),
        ),
        (
            "comment_counts",
            debug_query::<Pg, _>(
                &coves_plugin_comment::schema::comment_counts::table
                    .select(coves_plugin_comment::schema::comment_counts::all_columns),
            )
            .to_string(),
        ),
    ];
    for (table, sql) in declared {
        let mut columns = declared_columns(&sql, table);
        columns.sort();
        assert!(!columns.is_empty(), "no columns read from {sql}");
        assert_eq!(columns, migrated_columns(&db, table).await, "table! {table} differs from migrations/");
    }
}
