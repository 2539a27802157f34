//! The home feed: own posts and posts of followed users, newest first, with stable pagination.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use being_social::settings::Settings;

use crate::helpers::{TestApp, TestUser, assert_error, ids, with_settings};

on_both_backends!(
    feed_shows_own_and_followed_posts_newest_first,
    feed_pagination_walk,
    feed_walk_while_posts_arrive,
    feed_walk_while_posts_arrive_concurrently,
    feed_needs_a_token_and_valid_pages,
    forged_cursors_never_fail_the_server,
);
on_both_backends!(
    every_post_once_across_copied_pulled_and_older_posts,
    start: with_settings(crate::feed::tiny_feeds)
);
on_both_backends!(
    crossing_the_push_limit_either_way_loses_and_repeats_nothing,
    start: with_settings(crate::feed::tiny_feeds)
);
on_both_backends!(
    a_page_after_a_follow_an_unfollow_or_a_pull_shows_it,
    start: with_settings(crate::feed::tiny_feeds)
);
on_both_backends!(
    a_page_after_a_pulled_authors_post_or_deletion_shows_it,
    start: with_settings(crate::feed::tiny_feeds)
);
on_both_backends!(
    a_pulled_post_deleted_between_a_pages_statements_ends_no_walk,
    start: with_settings(crate::feed::tiny_feeds)
);
on_both_backends!(
    posts_deleted_while_they_are_copied_leave_no_entry,
    start: with_settings(crate::feed::tiny_feeds)
);

/// Feed bounds small enough to cross in a test: an author with three followers is pulled, a
/// feed keeps at most 8 entries (7 after a trim), a follow copies 3 posts, a post of an author
/// with two followers reaches them through the outbox (PostgreSQL), and a server remembers the
/// 3 newest posts of each pulled author (pages older than those read them from the posts).
pub fn tiny_feeds(settings: &mut Settings) {
    settings.feed_push_limit = 2;
    settings.feed_max_entries = 8;
    settings.feed_follow_backfill = 3;
    settings.feed_inline_fanout = 1;
    settings.feed_pulled_posts_kept = 3;
}

/// The ids of the posts of `authors` in `posts` (id, author), newest first.
fn newest_first_of(posts: &[(i64, i64)], authors: &[&TestUser]) -> Vec<i64> {
    let authors: Vec<i64> = authors.iter().map(|a| a.id).collect();
    posts
        .iter()
        .rev()
        .filter(|(_, author)| authors.contains(author))
        .map(|&(id, _)| id)
        .collect()
}

/// Asserts that walking `viewer`'s feed with several page sizes gives `expected`.
async fn assert_walks(app: &TestApp, viewer: &TestUser, expected: &[i64]) {
    app.wait_for_feed_delivery().await;
    for limit in [1, 2, 3, 7, 100] {
        let walked = app
            .walk(
                &format!("/posts/post-feed/?limit={limit}"),
                Some(&viewer.token),
            )
            .await;
        assert_eq!(ids(&walked), expected, "limit={limit}");
    }
}

/// A viewer who follows a pushed author copied in the post's transaction (ann: one follower), one
/// copied by the outbox worker (bob: two), a pulled one (cat: three) and one followed late, after
/// more posts than a follow copies (dan); the viewer's feed is trimmed many times over. Every walk
/// shows every post of theirs and the viewer's own exactly once, newest first, across the
/// copied entries, the pulled posts and the posts older than what the feed keeps.
async fn every_post_once_across_copied_pulled_and_older_posts(app: TestApp) {
    let [viewer, ann, bob, cat, dan, x, y, noise]: [TestUser; 8] =
        app.users("u", 8).await.try_into().unwrap();
    for (who, whom) in [
        (&viewer, &ann),
        (&viewer, &bob),
        (&x, &bob),
        (&viewer, &cat),
        (&x, &cat),
        (&y, &cat),
    ] {
        app.follow(who, whom).await;
    }
    let mut posts = Vec::new();
    for round in 0..4 {
        for author in [&ann, &bob, &cat, &viewer, &noise, &dan] {
            posts.push((app.post_by(author, &format!("{round}")).await, author.id));
        }
    }
    app.follow(&viewer, &dan).await;
    for round in 4..6 {
        for author in [&dan, &cat, &bob, &ann, &viewer, &noise] {
            posts.push((app.post_by(author, &format!("{round}")).await, author.id));
        }
    }
    let all = [&viewer, &ann, &bob, &cat, &dan];
    assert_walks(&app, &viewer, &newest_first_of(&posts, &all)).await;
    assert_walks(&app, &x, &newest_first_of(&posts, &[&x, &bob, &cat])).await;
    assert_walks(&app, &y, &newest_first_of(&posts, &[&y, &cat])).await;

    // An unfollow takes the author's posts away, and following again brings every one back.
    assert_eq!(
        app.as_(&viewer).unfollow(&bob).await.0,
        StatusCode::NO_CONTENT
    );
    assert_walks(
        &app,
        &viewer,
        &newest_first_of(&posts, &[&viewer, &ann, &cat, &dan]),
    )
    .await;
    app.follow(&viewer, &bob).await;
    assert_walks(&app, &viewer, &newest_first_of(&posts, &all)).await;
    app.assert_counters_exact().await;
}

/// An author crosses the push limit upwards (pulled: posts merged at read time), back down
/// (pushed again), and up again; followers who came and went meanwhile each see every post of
/// the author's exactly once.
async fn crossing_the_push_limit_either_way_loses_and_repeats_nothing(app: TestApp) {
    let [author, v, x, y]: [TestUser; 4] = app.users("u", 4).await.try_into().unwrap();
    let mut posts = Vec::new();
    let mut post =
        async |caption: &str| posts.push((app.post_by(&author, caption).await, author.id));
    app.follow(&v, &author).await;
    app.follow(&x, &author).await;
    post("pushed to two").await;
    post("pushed to two, again").await;
    app.follow(&y, &author).await;
    post("pulled: three followers").await;
    assert_eq!(
        app.as_(&x).unfollow(&author).await.0,
        StatusCode::NO_CONTENT
    );
    post("pushed again: two followers").await;
    post("pushed").await;
    app.follow(&x, &author).await;
    post("pulled again").await;
    let everything = newest_first_of(&posts, &[&author]);
    for viewer in [&author, &v, &x, &y] {
        assert_walks(&app, viewer, &everything).await;
    }
    app.assert_counters_exact().await;
}

/// A server remembers each reader's pulled followees between pages (db/feed.rs); a follow or an
/// unfollow of a pulled author, through this server or another one, and an author followed all
/// along becoming pulled, each show on the reader's very next page.
async fn a_page_after_a_follow_an_unfollow_or_a_pull_shows_it(app: TestApp) {
    let other = app.another_server().await;
    let [viewer, celebrity, author, x, y, z]: [TestUser; 6] =
        app.users("u", 6).await.try_into().unwrap();
    for fan in [&x, &y, &z] {
        app.follow(fan, &celebrity).await;
    }
    let pulled = app.post_by(&celebrity, "pulled: three followers").await;
    app.follow(&viewer, &author).await;
    let pushed = app.post_by(&author, "pushed: one follower").await;
    assert_walks(&app, &viewer, &[pushed]).await;

    // Followed through the other server: this one's memory of the viewer is stale.
    assert_eq!(other.follow(&viewer, &celebrity).await, StatusCode::CREATED);
    assert_walks(&app, &viewer, &[pushed, pulled]).await;
    assert_eq!(
        other.as_(&viewer).unfollow(&celebrity).await.0,
        StatusCode::NO_CONTENT
    );
    assert_walks(&app, &viewer, &[pushed]).await;

    // The author the viewer follows becomes pulled: nobody's follows changed.
    app.follow(&x, &author).await;
    app.follow(&y, &author).await;
    let after = app.post_by(&author, "pulled: three followers").await;
    assert_walks(&app, &viewer, &[after, pushed]).await;

    // A pulled author who never posted (as the seed makes them) is remembered too: their first
    // post changes neither number.
    let quiet = app.user("quiet").await;
    for fan in [&x, &y, &viewer] {
        app.follow(fan, &quiet).await;
    }
    let id = quiet.id;
    app.db
        .execute(&format!(
            "UPDATE users SET pulled_until = created_at WHERE id = {id}"
        ))
        .await;
    app.db
        .execute("UPDATE pulled_epoch SET epoch = epoch + 1")
        .await;
    assert_walks(&app, &viewer, &[after, pushed]).await;
    let first = app.post_by(&quiet, "pulled: never posted before").await;
    assert_walks(&app, &viewer, &[first, after, pushed]).await;
    app.assert_counters_exact().await;
}

/// A viewer who follows a pulled author (`celebrity`: four followers) and a pushed one (`author`),
/// with four posts each, in turn; `posts` are `(id, author)`, oldest first.
struct CelebrityAndAuthor {
    viewer: TestUser,
    celebrity: TestUser,
    author: TestUser,
    posts: Vec<(i64, i64)>,
}

async fn celebrity_and_author(app: &TestApp) -> CelebrityAndAuthor {
    let [viewer, celebrity, author, x, y, z]: [TestUser; 6] =
        app.users("u", 6).await.try_into().unwrap();
    for fan in [&x, &y, &z, &viewer] {
        app.follow(fan, &celebrity).await;
    }
    app.follow(&viewer, &author).await;
    let mut posts = Vec::new();
    for round in 0..4 {
        for who in [&celebrity, &author] {
            posts.push((app.post_by(who, &format!("{round}")).await, who.id));
        }
    }
    CelebrityAndAuthor {
        viewer,
        celebrity,
        author,
        posts,
    }
}

impl CelebrityAndAuthor {
    /// Asserts that `app` walks the viewer's feed as every post of the two, at every page size.
    async fn assert_walks(&self, app: &TestApp) {
        let expected = newest_first_of(&self.posts, &[&self.celebrity, &self.author]);
        assert_walks(app, &self.viewer, &expected).await;
    }

    /// Deletes the celebrity's `post` through `server`.
    async fn delete(&mut self, server: &TestApp, post: i64) {
        let (status, _) = server.as_(&self.celebrity).delete_post(post).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        self.posts.retain(|&(id, _)| id != post);
    }
}

/// Moves `user`'s `posts_version` (`change`: "+ 1", "- 1") behind every server's back: their
/// memory of the user's posts then holds, or goes stale, whatever the posts are.
async fn move_posts_version(app: &TestApp, user: &TestUser, change: &str) {
    let id = user.id;
    let sql = format!("UPDATE users SET posts_version = posts_version {change} WHERE id = {id}");
    app.db.execute(&sql).await;
}

/// A server remembers the newest posts of each pulled author (db/pulled_posts.rs) and answers
/// pages from that memory; a post or a deletion of one through another server shows on the
/// reader's very next page, at every page size, whether the page is answered from memory or,
/// older than what is remembered, from the posts.
async fn a_page_after_a_pulled_authors_post_or_deletion_shows_it(app: TestApp) {
    let other = app.another_server().await;
    let mut graph = celebrity_and_author(&app).await;
    // Twice: the second walk's pages find the viewer's pulled followees remembered too
    // (PostgreSQL), and are answered from memory.
    graph.assert_walks(&app).await;
    graph.assert_walks(&app).await;

    let newest = other
        .post_by(&graph.celebrity, "through the other server")
        .await;
    graph.posts.push((newest, graph.celebrity.id));
    graph.assert_walks(&app).await;

    for gone in [newest, graph.posts[2].0] {
        graph.delete(&other, gone).await;
        graph.assert_walks(&app).await;
    }

    // The first page is answered from memory while the version holds: a post the memory was
    // never told of (its version put back by hand) is not on it, and is once the version moves.
    let unseen = other
        .post_by(&graph.celebrity, "behind the memory's back")
        .await;
    let first_page = async || {
        let (_, page) = app
            .get("/posts/post-feed/?limit=1", Some(&graph.viewer.token))
            .await;
        ids(page["results"].as_array().unwrap())
    };
    move_posts_version(&app, &graph.celebrity, "- 1").await;
    assert!(!first_page().await.contains(&unseen));
    move_posts_version(&app, &graph.celebrity, "+ 1").await;
    assert_eq!(first_page().await[0], unseen);
    app.assert_counters_exact().await;
}

/// A page reads the keys of its pulled posts in one statement and their rows in another. A post
/// deleted in between (here: its deletion hidden from the memory by putting its author's version
/// back, so the memory hands out its key) has a key and no row: the page leaves it out and the
/// walk goes on, at every page size. (The pages that read its key from memory are those of
/// sizes 1 and 2: with 3 or more, the page reaches below the 3 posts remembered of the author.)
async fn a_pulled_post_deleted_between_a_pages_statements_ends_no_walk(app: TestApp) {
    let other = app.another_server().await;
    let mut graph = celebrity_and_author(&app).await;
    graph.assert_walks(&app).await;

    let gone = graph.posts[6].0; // the celebrity's newest, remembered by this server
    graph.delete(&other, gone).await;
    move_posts_version(&app, &graph.celebrity, "- 1").await;
    graph.assert_walks(&app).await;
}

/// Posts deleted while the outbox worker copies them to the author's two followers (on
/// PostgreSQL; SQLite copies them in the post's transaction) and while a follow copies them to a
/// third: no feed keeps an entry of a deleted post. On PostgreSQL no foreign key removes them
/// (migrations/postgres/*_feed_entries_without_post_key): the deletion does, after the locks that
/// make it wait for a chunk or a follow still writing them.
async fn posts_deleted_while_they_are_copied_leave_no_entry(app: TestApp) {
    let [author, ann, bob, cat] = <[_; 4]>::try_from(app.users("copied", 4).await).unwrap();
    for fan in [&ann, &bob] {
        assert_eq!(app.follow(fan, &author).await, StatusCode::CREATED);
    }
    let (as_author, as_cat) = (app.as_(&author), app.as_(&cat));
    for _ in 0..8 {
        let posts =
            futures_util::future::join_all((0..4).map(|_| app.post_by(&author, "brief"))).await;
        let (followed, deleted) = tokio::join!(
            as_cat.follow(&author),
            futures_util::future::join_all(posts.iter().map(|&post| as_author.delete_post(post))),
        );
        assert_eq!(followed.0, StatusCode::CREATED, "{}", followed.1);
        for (status, body) in deleted {
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        }
        let (status, body) = as_cat.unfollow(&author).await;
        assert!(status.is_success(), "{body}");
    }
    app.wait_for_feed_delivery().await;
    app.assert_counters_exact().await;
    for viewer in [&author, &ann, &bob, &cat] {
        assert_walks(&app, viewer, &[]).await;
    }
}

async fn feed(app: &TestApp, user: &TestUser) -> Vec<i64> {
    ids(&app.walk("/posts/post-feed/", Some(&user.token)).await)
}

async fn feed_shows_own_and_followed_posts_newest_first(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let cat = app.user("cat").await;
    // An empty feed.
    let (status, page) = app.as_(&ann).feed().await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page, json!({"results": [], "next": null}));

    app.follow(&ann, &bob).await;
    let mut posts = Vec::new(); // (id, author) in creation order
    for (i, author) in [&ann, &bob, &cat, &bob, &ann, &cat, &bob]
        .into_iter()
        .enumerate()
    {
        posts.push((app.post_by(author, &format!("post {i}")).await, author.id));
    }
    let expect = |posts: &[(i64, i64)], who: &[i64]| -> Vec<i64> {
        posts
            .iter()
            .rev()
            .filter(|(_, a)| who.contains(a))
            .map(|(id, _)| *id)
            .collect()
    };

    let (status, page) = app.as_(&ann).feed().await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let results = page["results"].as_array().unwrap();
    assert_eq!(ids(results), expect(&posts, &[ann.id, bob.id]));
    assert!(page["next"].is_null());
    for post in results {
        assert!(
            post["image_url"]
                .as_str()
                .unwrap()
                .starts_with(&app.address)
        );
        assert!(post["author"].get("email").is_none(), "{post}");
        assert_eq!(post["liked_by_me"], false);
    }
    // Timestamps are non-increasing down the feed.
    let times: Vec<&str> = results
        .iter()
        .map(|p| p["created_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);

    // Bob follows nobody: only his own. Cat too.
    assert_eq!(feed(&app, &bob).await, expect(&posts, &[bob.id]));
    assert_eq!(feed(&app, &cat).await, expect(&posts, &[cat.id]));

    // Following cat brings her older posts in, in their place.
    app.follow(&ann, &cat).await;
    assert_eq!(
        feed(&app, &ann).await,
        expect(&posts, &[ann.id, bob.id, cat.id])
    );

    // liked_by_me and counters in the feed.
    let liked = posts[1].0;
    app.as_(&ann).like(liked).await;
    let items = app.walk("/posts/post-feed/", Some(&ann.token)).await;
    for post in &items {
        let is_liked = post["id"] == liked;
        assert_eq!(post["liked_by_me"], is_liked, "{post}");
        assert_eq!(post["likes_count"], i64::from(is_liked), "{post}");
    }

    // Unfollowing removes them again; a deleted post leaves.
    let (status, _) = app.as_(&ann).unfollow(&bob).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(feed(&app, &ann).await, expect(&posts, &[ann.id, cat.id]));
    let (status, _) = app
        .delete(&format!("/posts/edit/{}/", posts[0].0), Some(&ann.token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    posts.remove(0);
    assert_eq!(feed(&app, &ann).await, expect(&posts, &[ann.id, cat.id]));
}

async fn feed_pagination_walk(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let eve = app.user("eve").await;
    app.follow(&ann, &bob).await;
    let mut expected = Vec::new();
    for i in 0..10 {
        let author = if i % 3 == 0 { &ann } else { &bob };
        expected.push(app.post_by(author, &format!("p{i}")).await);
        app.post_by(&eve, "noise").await;
    }
    expected.reverse();

    let (status, page) = app.get("/posts/post-feed/?limit=3", Some(&ann.token)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["results"].as_array().unwrap().len(), 3);
    let next = page["next"].as_str().unwrap();
    assert!(next.starts_with(&app.address), "{next}");
    assert!(next.contains("limit=3"), "{next}");

    let walked = app
        .walk("/posts/post-feed/?limit=3", Some(&ann.token))
        .await;
    assert_eq!(ids(&walked), expected);
    // Every page size gives the same sequence; the last page has no `next`.
    for limit in [1, 2, 5, 10, 100] {
        let walked = app
            .walk(&format!("/posts/post-feed?limit={limit}"), Some(&ann.token))
            .await;
        assert_eq!(ids(&walked), expected, "limit={limit}");
    }
    // Default page size (30) holds all ten.
    let (_, page) = app.as_(&ann).feed().await;
    assert_eq!(page["results"].as_array().unwrap().len(), 10);
    assert!(page["next"].is_null());
}

/// Walks the feed with `limit=3` while new posts are created between page fetches: every post that
/// existed before the walk appears exactly once, and no post appears twice.
async fn feed_walk_while_posts_arrive(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    app.follow(&ann, &bob).await;
    let mut before = Vec::new();
    for i in 0..11 {
        let author = if i % 2 == 0 { &ann } else { &bob };
        before.push(app.post_by(author, &format!("old {i}")).await);
    }
    before.reverse();

    let (status, mut page) = app.get("/posts/post-feed/?limit=3", Some(&ann.token)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        seen.extend(ids(page["results"].as_array().unwrap()));
        pages += 1;
        // New posts by both authors arrive between every two fetches.
        app.post_by(&bob, "new from bob").await;
        app.post_by(&ann, "new from ann").await;
        let Some(next) = page["next"].as_str().map(str::to_owned) else {
            break;
        };
        let (status, body) = app.get(&app.path_of(&next), Some(&ann.token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        page = body;
        assert!(pages < 50, "the walk does not end");
    }
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a post came twice: {seen:?}");
    assert_eq!(seen, before, "exactly the posts that existed, newest first");
    // A fresh walk sees everything, once.
    let all = feed(&app, &ann).await;
    assert_eq!(all.len(), 11 + 2 * pages);
    assert_eq!(all.iter().copied().collect::<HashSet<_>>().len(), all.len());
}

/// The same with posts created concurrently with the walk (not only between pages).
async fn feed_walk_while_posts_arrive_concurrently(app: TestApp) {
    let ann = app.user("ann").await;
    let writers = app.users("writer", 3).await;
    for writer in &writers {
        app.follow(&ann, writer).await;
    }
    let mut before = Vec::new();
    for i in 0..12 {
        before.push(app.post_by(&writers[i % 3], "old").await);
    }
    before.reverse();

    let done = std::sync::atomic::AtomicBool::new(false);
    let walker = async {
        let mut rounds = Vec::new();
        for _ in 0..3 {
            let walked = ids(&app
                .walk("/posts/post-feed/?limit=3", Some(&ann.token))
                .await);
            rounds.push(walked);
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        rounds
    };
    let creating = writers.iter().map(|writer| {
        let (app, done) = (&app, &done);
        async move {
            let mut created = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) && created < 30 {
                app.post_by(writer, "fresh").await;
                created += 1;
            }
            created
        }
    });
    let (rounds, _) = tokio::join!(walker, futures_util::future::join_all(creating));
    for walked in rounds {
        let unique: HashSet<i64> = walked.iter().copied().collect();
        assert_eq!(unique.len(), walked.len(), "a post came twice: {walked:?}");
        for id in &before {
            assert!(unique.contains(id), "post {id} missing from {walked:?}");
        }
        // The posts that existed before come newest first, in their order.
        let old: Vec<i64> = walked
            .iter()
            .copied()
            .filter(|id| before.contains(id))
            .collect();
        assert_eq!(old, before);
    }
}

async fn feed_needs_a_token_and_valid_pages(app: TestApp) {
    let ann = app.user("ann").await;
    let (status, body) = app.anonymous().feed().await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "not_authenticated");
    let (status, _) = app.get("/posts/post-feed/", Some("nonsense")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for bad in ["limit=0", "limit=101", "limit=x", "cursor=not-a-cursor"] {
        let (status, body) = app
            .get(&format!("/posts/post-feed/?{bad}"), Some(&ann.token))
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    }
    let (status, _) = app
        .get("/posts/post-feed/?limit=100", Some(&ann.token))
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// base64url without padding, as the server's cursors are written.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Cursors are opaque, but a client can still send any bytes: a well-formed cursor naming an
/// instant far in the past or future must not reach the database as an out-of-range timestamp.
async fn forged_cursors_never_fail_the_server(app: TestApp) {
    let ann = app.user("ann").await;
    let post = app.post_by(&ann, "p").await;
    let (status, comment) = app.as_(&ann).comment(post, "c").await;
    assert_eq!(status, StatusCode::CREATED);
    let comment = comment["id"].as_i64().unwrap();
    app.as_(&ann).like(post).await;
    let lists = [
        "/posts/post-feed/".to_owned(),
        format!("/posts/post-reaction/{post}/"),
        format!("/posts/post-comment/{post}/"),
        format!("/posts/post-comment/{post}/{comment}/"),
        format!("/accounts/{}/posts/", ann.id),
    ];
    assert_forged_cursors_answered(&app, &ann, &lists).await;
}

/// Well-formed cursors naming extreme instants and ids.
const FORGED_CURSORS: [&str; 8] = [
    "-8000000000000000000:5",
    "-62135596800000001:1",
    "-210866803200000000:9",
    "8000000000000000000:5",
    "253402300800000000:1",
    "0:0",
    "0:-9223372036854775808",
    "1:9223372036854775807",
];

/// Every list answers every forged cursor with `200` or `400`, never a `5xx`.
async fn assert_forged_cursors_answered(app: &TestApp, viewer: &TestUser, lists: &[String]) {
    for list in lists {
        for cursor in FORGED_CURSORS {
            let path = format!("{list}?cursor={}", base64url(cursor.as_bytes()));
            let (status, body) = app.get(&path, Some(&viewer.token)).await;
            assert!(
                status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
                "{path} ({cursor}): {status} {body}"
            );
            if status == StatusCode::OK {
                assert!(body["results"].is_array(), "{body}");
            }
        }
    }
}

/// The same for the follow lists (crates/infra/src/db/follows.rs, not under test here).
async fn forged_cursors_on_follow_lists(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    app.follow(&bob, &ann).await;
    app.follow(&ann, &bob).await;
    let lists = [
        format!("/accounts/follower/{}/", ann.id),
        format!("/accounts/following/{}/", ann.id),
    ];
    assert_forged_cursors_answered(&app, &ann, &lists).await;
}

on_both_backends!(forged_cursors_on_follow_lists);
