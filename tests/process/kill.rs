//! SIGKILL in the middle of a like storm: every like answered with success survives the crash,
//! and no counter drifted, once a new process serves the same database.

use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::helpers::{Backend, TestApp, TestDatabase};
use crate::server::{ServerProcess, assert_check_passes, settings_for};

const LIKERS: usize = 60;
const POSTS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_like_answered_before_a_sigkill_is_kept() {
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let settings = settings_for(&db);
    let mut server = ServerProcess::start(&settings).await;
    let app = Arc::new(server.app(&settings, &db));
    let author = app.user("author").await;
    let mut posts = Vec::new();
    for k in 0..POSTS {
        posts.push(app.post_by(&author, &format!("hot {k}")).await);
    }
    let likers = app.users_in_batches("liker", LIKERS, 20).await;

    // Every liker likes the posts one after the other, all likers at once: each post's likes
    // arrive together and are coalesced into batches. A liker stops at its first unanswered like.
    let answered = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = likers
        .iter()
        .map(|liker| {
            let (app, answered, posts) = (app.clone(), answered.clone(), posts.clone());
            let (id, token) = (liker.id, liker.token.clone());
            tokio::spawn(async move {
                let mut kept = Vec::new();
                for post in posts {
                    let sent = app
                        .client
                        .post(app.url(&format!("/posts/post-reaction/{post}/")))
                        .header("Authorization", format!("Token {token}"))
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status().is_success() => {
                            kept.push((post, id));
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(response) => panic!("like answered {}", response.status()),
                        // Killed: this like may or may not have committed.
                        Err(_) => break,
                    }
                }
                kept
            })
        })
        .collect();

    let total = LIKERS * POSTS;
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < total / 3 {
        assert!(Instant::now() < deadline, "the storm did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.signal("KILL");
    let status = server.exit_status(Duration::from_secs(30)).await;
    assert_eq!(status.signal(), Some(9), "{status}");

    let kept: Vec<(i64, i64)> = join_all(tasks)
        .await
        .into_iter()
        .flat_map(|t| t.unwrap())
        .collect();
    assert!(
        kept.len() < total,
        "every like was answered before the kill: the test proved nothing"
    );

    // A new process on the same database: every answered like is there, and each post's counter
    // equals its likers.
    let mut settings = settings;
    settings.bind = settings_for(&db).bind;
    let restarted = ServerProcess::start(&settings).await;
    let app: TestApp = restarted.app(&settings, &db);
    for post in &posts {
        let likers: HashSet<i64> = app
            .walk(
                &format!("/posts/post-reaction/{post}/"),
                Some(&author.token),
            )
            .await
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect();
        for (_, liker) in kept.iter().filter(|(p, _)| p == post) {
            assert!(
                likers.contains(liker),
                "the answered like of {liker} on post {post} is lost"
            );
        }
        let (_, body) = app
            .get(&format!("/posts/edit/{post}/"), Some(&author.token))
            .await;
        assert_eq!(body["likes_count"], likers.len(), "{body}");
    }
    assert_check_passes(&settings);
}

const FOLLOWERS: i64 = 2_500;
const FANOUT_POSTS: usize = 20;

/// SIGKILL while the feed worker copies posts to their followers through the outbox (chunks of
/// 1,000 followers, each its own transaction): a new process resumes where the committed chunks
/// left off, and every follower ends with every post exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_post_reaches_each_follower_once_after_a_sigkill_mid_delivery() {
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let settings = settings_for(&db);
    // Every post of an author with more than one follower goes through the outbox.
    let env = [("FEED_INLINE_FANOUT", "1")];
    let mut server = ServerProcess::start_with_env(&settings, &env).await;
    let app = server.app(&settings, &db);
    let author = app.user("author").await;
    let a = author.id;
    db.add_followers(a, FOLLOWERS).await;
    for k in 0..FANOUT_POSTS {
        app.post_by(&author, &format!("fan-out {k}")).await;
    }
    let delivered = format!(
        "SELECT count(*) AS value FROM feed_entries WHERE author_id = {a} AND viewer_id <> {a}"
    );
    let pending = "SELECT count(*) AS value FROM feed_outbox";
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.scalar(&delivered).await == 0 {
        assert!(Instant::now() < deadline, "the worker delivered nothing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.signal("KILL");
    let status = server.exit_status(Duration::from_secs(30)).await;
    assert_eq!(status.signal(), Some(9), "{status}");
    assert!(
        db.scalar(pending).await > 0,
        "every post was delivered before the kill: the test proved nothing"
    );

    let mut settings = settings;
    settings.bind = settings_for(&db).bind;
    let _restarted = ServerProcess::start_with_env(&settings, &env).await;
    while db.scalar(pending).await > 0 {
        assert!(Instant::now() < deadline, "the outbox was not drained");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let with_every_post_once = format!(
        "SELECT count(*) AS value FROM ( \
           SELECT viewer_id FROM feed_entries WHERE author_id = {a} AND viewer_id <> {a} \
           GROUP BY viewer_id HAVING count(*) = {FANOUT_POSTS} AND count(DISTINCT post_id) = {FANOUT_POSTS} \
         ) AS complete"
    );
    assert_eq!(db.scalar(&with_every_post_once).await, FOLLOWERS);
    assert_eq!(db.scalar(&delivered).await, FOLLOWERS * FANOUT_POSTS as i64);
    assert_check_passes(&settings);
}
