//! `being-social check` and `--repair`: counters and feeds written wrong behind the service's
//! back are reported (exit status 1) and put right in place.

use std::sync::Arc;

use diesel::sql_query;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::helpers::{Backend, TestDatabase, ids};
use crate::server::{ServerProcess, assert_check_passes, settings_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_wrong_counters_and_feeds_and_repair_fixes_them() {
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let settings = settings_for(&db);
    let server = ServerProcess::start(&settings).await;
    let app = server.app(&settings, &db);
    let [author, reader, stranger, fan] = <[_; 4]>::try_from(app.users("check", 4).await).unwrap();
    let post = app.post_by(&author, "hello").await;
    let strangers_post = app.post_by(&stranger, "elsewhere").await;
    assert_eq!(app.follow(&reader, &author).await, 201);
    assert_eq!(app.follow(&fan, &author).await, 201);
    assert_check_passes(&settings);

    // A counter off by five, a feed missing the post of someone followed, another holding the
    // post of someone not followed, a third holding a post twice (a second row a second older),
    // a fourth a post that does not exist (no foreign key refuses it: migrations/postgres/
    // *_feed_entries_without_post_key), its bound raised with it, and an author whose
    // `last_post_at` is older than their post (feed pages would skip it).
    let mut conn = AsyncPgConnection::establish(&settings.database_url)
        .await
        .unwrap();
    for statement in [
        format!("UPDATE posts SET likes_count = likes_count + 5 WHERE id = {post}"),
        format!(
            "DELETE FROM feed_entries WHERE viewer_id = {} AND post_id = {post}",
            reader.id
        ),
        format!(
            "INSERT INTO feed_entries (viewer_id, created_at, post_id, author_id) \
             SELECT {}, created_at, id, author_id FROM posts WHERE id = {strangers_post}",
            author.id
        ),
        format!(
            "INSERT INTO feed_entries (viewer_id, created_at, post_id, author_id) \
             SELECT author_id, created_at - interval '1 second', id, author_id FROM posts \
             WHERE id = {strangers_post}"
        ),
        format!(
            "INSERT INTO feed_entries (viewer_id, created_at, post_id, author_id) \
             VALUES ({}, now(), {}, {})",
            fan.id,
            strangers_post + 1000,
            author.id
        ),
        format!(
            "UPDATE feed_state SET entries_at_most = entries_at_most + 1 WHERE viewer_id = {}",
            fan.id
        ),
        format!(
            "UPDATE users SET last_post_at = last_post_at - interval '1 hour' WHERE id = {}",
            author.id
        ),
    ] {
        sql_query(statement).execute(&mut conn).await.unwrap();
    }

    let run = |args: &[&str]| ServerProcess::check(&settings, args);
    let found = run(&[]);
    let report = String::from_utf8_lossy(&found.stdout);
    assert_eq!(found.status.code(), Some(1), "{report}");
    for line in [
        format!("posts.likes_count of id {post}: stored 5, rows 0"),
        format!("feed_entries of id {}: stored 0, rows 1", reader.id),
        format!("feed_entries of id {}: stored 2, rows 1", author.id),
        format!("feed_entries of id {}: stored 2, rows 1", stranger.id),
        format!("feed_entries of id {}: stored 2, rows 2", fan.id),
        format!("users.last_post_at of id {}: stored 0, rows 1", author.id),
        "6 counter(s) or feed(s) differ".to_owned(),
    ] {
        assert!(report.contains(&line), "{line}: {report}");
    }
    let counters_only = run(&["--counters-only"]);
    let report = String::from_utf8_lossy(&counters_only.stdout);
    assert!(
        report.contains("2 counter(s) or feed(s) differ"),
        "{report}"
    );

    let epoch = "SELECT epoch AS value FROM pulled_epoch";
    let before = db.scalar(epoch).await;
    let repaired = run(&["--repair"]);
    let report = String::from_utf8_lossy(&repaired.stdout);
    assert!(report.contains("repaired; 0 left"), "{report}");
    // Every process reads its viewers' pulled followees again (a rolling upgrade's old processes
    // change follows without dating them: docs/operations.md).
    assert_eq!(db.scalar(epoch).await, before + 1);
    assert_check_passes(&settings);
    for viewer in [&reader, &fan] {
        let feed = app.get("/posts/post-feed/", Some(&viewer.token)).await.1;
        assert_eq!(
            ids(feed["results"].as_array().unwrap()),
            vec![post],
            "{feed}"
        );
    }
    let feed = app.get("/posts/post-feed/", Some(&stranger.token)).await.1;
    let results = feed["results"].as_array().unwrap();
    assert_eq!(ids(results), vec![strangers_post], "{feed}");
}

/// `check --repair` rebuilds a feed while a post of it is being deleted (PostgreSQL has no
/// foreign key to remove what the repair copies: migrations/postgres/
/// *_feed_entries_without_post_key). The deletion has removed the post and its entries but not
/// committed when the repair lists the feed's posts and copies them: the copy waits for the
/// deletion and leaves the post out. Without that lock it copies the post, whose entry then
/// outlives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_racing_a_deletion_copies_no_deleted_post() {
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let settings = settings_for(&db);
    let server = ServerProcess::start(&settings).await;
    let app = server.app(&settings, &db);
    let [author, reader] = <[_; 2]>::try_from(app.users("racing", 2).await).unwrap();
    let kept = app.post_by(&author, "kept").await;
    let doomed = app.post_by(&author, "doomed").await;
    assert_eq!(app.follow(&reader, &author).await, 201);
    // The reader's feed emptied behind the server's back, so that the repair rebuilds it.
    let emptied = format!("DELETE FROM feed_entries WHERE viewer_id = {}", reader.id);
    TestDatabase::execute(&db, &emptied).await;

    // The deletion, as the server makes it (db/posts.rs), left open.
    let mut deletion = AsyncPgConnection::establish(&settings.database_url)
        .await
        .unwrap();
    deletion
        .batch_execute(&format!(
            "BEGIN; \
             SELECT id FROM users WHERE id = {author} FOR NO KEY UPDATE; \
             DELETE FROM posts WHERE id = {doomed}; \
             DELETE FROM feed_entries WHERE post_id = {doomed}; \
             UPDATE users SET post_count = post_count - 1, posts_version = posts_version + 1 \
             WHERE id = {author};",
            author = author.id
        ))
        .await
        .unwrap();
    let repair = tokio::task::spawn_blocking({
        let settings = settings.clone();
        move || ServerProcess::check(&settings, &["--repair"])
    });
    // Until the repair waits for the deletion's lock (or, without that lock, is done).
    let waiting = "SELECT count(*) AS value FROM pg_stat_activity \
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    while !repair.is_finished() && db.scalar(waiting).await == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    deletion.batch_execute("COMMIT").await.unwrap();
    let repaired = repair.await.unwrap();
    let report = String::from_utf8_lossy(&repaired.stdout);
    assert!(report.contains("repaired; 0 left"), "{report}");
    assert_check_passes(&settings);
    let feed = app.get("/posts/post-feed/", Some(&reader.token)).await.1;
    assert_eq!(
        ids(feed["results"].as_array().unwrap()),
        vec![kept],
        "{feed}"
    );
}
