//! `being-social seed` makes users with tokens anyone can compute: it refuses to run unless told,
//! in so many words, that the database is for benchmarks.

use std::process::Command;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::helpers::{Backend, TestDatabase};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn seed(db: &TestDatabase, confirm: bool) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_being-social"));
    command.arg("seed");
    if confirm {
        command.arg("--yes-this-is-a-benchmark-database");
    }
    command
        .args(["--users", "3", "--posts", "6", "--follows-per-user", "1"])
        .args(["--heavy-follows", "1", "--likers", "2"])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_runs_only_when_told_the_database_is_for_benchmarks() {
    let db = TestDatabase::create(Backend::Postgres).await;

    let refused = seed(&db, false);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--yes-this-is-a-benchmark-database"),
        "{stderr}"
    );
    // Nothing was touched: not even the migrations ran.
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    let tables: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables.n, 0);

    let seeded = seed(&db, true);
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let users: Count = diesel::sql_query("SELECT count(*) AS n FROM users")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert!(users.n >= 5, "{}", users.n);
}
