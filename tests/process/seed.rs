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

/// The roles of the feed-at-any-size scenarios (celebrity, pulled authors and a viewer of them,
/// prolific leader, outbox author) make data that `being-social check` finds consistent with
/// the feed rules, here small enough that every rule applies: authors over the push limit,
/// trimmed feeds, an author between the inline fan-out and the push limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_roles_are_consistent_with_the_feed_rules() {
    let db = TestDatabase::create(Backend::Postgres).await;
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_being-social"))
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("RUST_LOG", "warn")
            .env("FEED_PUSH_LIMIT", "10")
            .env("FEED_MAX_ENTRIES", "16")
            .env("FEED_INLINE_FANOUT", "2")
            .output()
            .unwrap()
    };
    let seeded = run(&[
        "seed",
        "--yes-this-is-a-benchmark-database",
        "--users",
        "5",
        "--posts",
        "20",
        "--follows-per-user",
        "2",
        "--heavy-follows",
        "3",
        "--likers",
        "12",
        "--celebrities",
        "1",
        "--celebrity-followers",
        "12",
        "--pulled-followed",
        "2",
        "--prolific-posts",
        "30",
        "--outbox-followers",
        "5",
    ]);
    let stdout = String::from_utf8_lossy(&seeded.stdout);
    assert!(
        seeded.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    // Users 6..=17 are the likers; the roles come after them, in order.
    for line in [
        "celebrities=18..18",
        "modest_author=19",
        "pulled_authors=20..21",
        "mixed_viewer=22",
        "prolific_leader=23",
        "modest_leader=24",
        "outbox_author=25",
        "users=25",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line} in {stdout}");
    }
    let checked = run(&["check"]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );

    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    let count = |sql: &'static str| diesel::sql_query(sql);
    let pulled: Count = count(
        "SELECT count(*) AS n FROM users WHERE pulled_until = '9999-12-31 23:59:59+00' AND id IN (18, 20, 21)",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(pulled.n, 3);
    let pushed: Count =
        count("SELECT count(*) AS n FROM users WHERE pulled_until IS NULL AND id IN (19, 25)")
            .get_result(&mut conn)
            .await
            .unwrap();
    assert_eq!(pushed.n, 2);
    let following: Count = count("SELECT following_count AS n FROM users WHERE id = 22")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(following.n, 3 + 2);
    let prolific: Count = count("SELECT post_count AS n FROM users WHERE id = 23")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(prolific.n, 30);
    // The prolific leader's own feed was trimmed (at most 16 rows), with a horizon.
    let own: Count = count(
        "SELECT count(*) AS n FROM feed_entries e JOIN feed_state s USING (viewer_id) \
         WHERE viewer_id = 23 AND s.horizon_at IS NOT NULL",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert!(own.n > 0 && own.n <= 16, "{}", own.n);
}
