//! The feed's outbox (PostgreSQL): a post of an author with more followers than
//! `feed_inline_fanout` reaches them after its commit, a chunk of followers per transaction. A
//! fan-out cut off between chunks (the process dies) is resumed by the next worker from its last
//! commit, and every follower ends with the post exactly once.

use being_social_domain::model::UserId;
use being_social_domain::pagination::PageRequest;
use being_social_domain::ports::{FeedRepository, FollowRepository, PostRepository};
use being_social_infra::db::check::Scope;
use being_social_infra::db::{Database, FeedRules, Follows, OutboxStep};
use being_social_test_support::{Backend, TestDatabase};

use crate::support::new_post;

/// One more follower than a chunk of the outbox worker copies at once.
const FOLLOWERS: i64 = 1_001;

/// Every fan-out through the outbox.
const OUTBOX_ONLY: FeedRules = FeedRules {
    inline_fanout: 0,
    ..FeedRules::DEFAULT
};

/// A database where user 1 has `followers` followers (users 2 and up; follower i followed at
/// second i, so the worker walks them newest first), made in SQL: too many for the ports in a
/// test's time. Returns it with a pool of `connections` whose every fan-out goes through the
/// outbox.
async fn author_with_followers(followers: i64, connections: usize) -> (TestDatabase, Database) {
    let database = TestDatabase::create(Backend::Postgres).await;
    let db = database
        .pool(connections)
        .await
        .with_feed_rules(OUTBOX_ONLY);
    database
        .execute(
            "INSERT INTO users (id, email, email_key, full_name, password_hash, created_at) \
             VALUES (1, 'author@example.com', 'author@example.com', 'author', 'x', now())",
        )
        .await;
    database.add_followers(1, followers).await;
    (database, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_cut_off_between_chunks_resumes_and_delivers_each_follower_once() {
    let (database, db) = author_with_followers(FOLLOWERS, 2).await;
    let post = PostRepository::create(&db, new_post(UserId::new(1), "fan-out"))
        .await
        .unwrap();
    assert_eq!(db.outbox_len().await.unwrap(), 1);

    // One chunk: the newest 1,000 followers have the post, the oldest not yet.
    assert!(matches!(
        db.deliver_outbox().await.unwrap(),
        OutboxStep::Delivered { .. }
    ));
    let first_page = |viewer: i64| {
        let db = db.clone();
        async move {
            let page = PageRequest::new(Some(1), None).unwrap();
            let feed = FeedRepository::feed(&db, UserId::new(viewer), page)
                .await
                .unwrap();
            feed.items.iter().map(|p| p.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(first_page(2).await, vec![post.id]);
    assert_eq!(first_page(FOLLOWERS + 1).await, vec![]);
    assert_eq!(db.outbox_len().await.unwrap(), 1);

    // The process dies; another one (a new pool) takes over where the chunk left off.
    db.close();
    let db = database.pool(2).await.with_feed_rules(OUTBOX_ONLY);
    assert!(matches!(
        db.deliver_outbox().await.unwrap(),
        OutboxStep::Delivered { .. }
    ));
    assert_eq!(db.deliver_outbox().await.unwrap(), OutboxStep::Idle);
    assert_eq!(db.outbox_len().await.unwrap(), 0);
    // Every follower's feed holds the post once (the check finds any feed without it), and no
    // bound was passed.
    let drift = db.counter_drift(Scope::Everything).await.unwrap();
    assert!(drift.is_empty(), "{drift:?}");
}

/// Followers leave while two workers copy the author's posts to them: no one who left keeps a
/// post of the author's, and every one who stayed has them all. (Two locks guard this: the
/// worker's `FOR KEY SHARE` on the edges of its chunk, and the follower's `feed_state` row, which
/// both the chunk and the unfollow take. Without the first, only an unfollow that commits in the
/// instant between the chunk's read of its followers and its insert leaves an entry behind: too
/// narrow for this test to catch reliably.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfollows_during_a_fan_out_leave_no_post_behind() {
    const FOLLOWERS: i64 = 400;
    let (_database, db) = author_with_followers(FOLLOWERS, 8).await;
    for i in 0..20 {
        PostRepository::create(&db, new_post(UserId::new(1), &format!("p{i}")))
            .await
            .unwrap();
    }
    let follows = Follows::new(db.clone());
    let leaving = (2..=FOLLOWERS + 1).step_by(2).map(|follower| {
        let follows = follows.clone();
        tokio::spawn(async move {
            follows
                .unfollow(UserId::new(follower), UserId::new(1))
                .await
                .unwrap()
        })
    });
    let workers = (0..2).map(|_| {
        let db = db.clone();
        tokio::spawn(async move {
            while matches!(
                db.deliver_outbox().await.unwrap(),
                OutboxStep::Delivered { .. }
            ) {}
        })
    });
    let leaving: Vec<_> = leaving.collect();
    let workers: Vec<_> = workers.collect();
    for left in leaving {
        assert!(left.await.unwrap());
    }
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(db.outbox_len().await.unwrap(), 0);
    let drift = db.counter_drift(Scope::Everything).await.unwrap();
    assert!(drift.is_empty(), "{drift:?}");
}

/// A fan-out that fails every time waits before it is tried again, and the fan-outs behind it go
/// on meanwhile; once the fault is gone it is delivered like any other. (The fault: a trigger
/// that refuses the first post's feed rows.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_fan_out_does_not_hold_up_the_ones_behind_it() {
    let (database, db) = author_with_followers(3, 2).await;
    let stuck = PostRepository::create(&db, new_post(UserId::new(1), "stuck"))
        .await
        .unwrap();
    let next = PostRepository::create(&db, new_post(UserId::new(1), "next"))
        .await
        .unwrap();
    database
        .execute(&format!(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               RAISE EXCEPTION 'refused'; END $$; \
             CREATE TRIGGER refuse BEFORE INSERT ON feed_entries FOR EACH ROW \
               WHEN (NEW.post_id = {}) EXECUTE FUNCTION refuse();",
            stuck.id
        ))
        .await;

    assert!(db.deliver_outbox().await.is_err());
    assert!(matches!(
        db.deliver_outbox().await.unwrap(),
        OutboxStep::Delivered { .. }
    ));
    // Only the failed one waits, not yet due again.
    assert_eq!(db.deliver_outbox().await.unwrap(), OutboxStep::Idle);
    assert_eq!(db.outbox_len().await.unwrap(), 1);
    let first_page = async |viewer: i64| {
        let page = PageRequest::new(Some(2), None).unwrap();
        let feed = FeedRepository::feed(&db, UserId::new(viewer), page)
            .await
            .unwrap();
        feed.items.iter().map(|p| p.id).collect::<Vec<_>>()
    };
    assert_eq!(first_page(2).await, vec![next.id]);

    database
        .execute("DROP TRIGGER refuse ON feed_entries")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(matches!(
        db.deliver_outbox().await.unwrap(),
        OutboxStep::Delivered { .. }
    ));
    assert_eq!(db.outbox_len().await.unwrap(), 0);
    assert_eq!(first_page(2).await, vec![next.id, stuck.id]);
    let drift = db.counter_drift(Scope::Everything).await.unwrap();
    assert!(drift.is_empty(), "{drift:?}");
}
