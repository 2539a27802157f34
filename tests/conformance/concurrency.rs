//! Concurrent writers: many tasks at once on the same rows. Only documented errors may come out
//! (no "database is locked", no deadlock or serialization failure, no exhausted retry), and every
//! counter equals its rows afterwards.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use being_social_domain::model::{Comment, CommentId, PostId};
use being_social_domain::pagination::PageRequest;
use being_social_domain::ports::{
    AccountRepository, CommentRepository, FollowRepository, LikeRepository, PostRepository,
    ProfileChanges, SessionRepository,
};
use being_social_domain::values::Bio;
use being_social_infra::db::{Follows, Likes};

use crate::fixture::Store;
use futures_util::future::join_all;
use tokio::task::JoinHandle;

use crate::fixture::Fixture;
use crate::support::*;
use being_social_domain::model::UserId;

on_both_backends!(
    many_likes_of_one_post_through_both_adapters,
    likes_and_unlikes_of_one_pair_toggling,
    direct_mutual_follows_and_a_hub_at_once,
    coalesced_mutual_follows_and_a_hub_at_once,
    follows_and_unfollows_of_one_edge_toggling,
    feeds_stay_whole_while_authors_post_and_readers_follow,
    likes_and_comments_racing_the_post_deletion,
    account_deletion_racing_follows_likes_comments_posts_tokens,
);

on_both_backends!(comments_replies_and_thread_deletions_on_one_post);

on_both_backends!(account_deletion_racing_profile_updates);

async fn settle<T: Send + 'static>(tasks: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for result in join_all(tasks).await {
        out.push(result.expect("a task panicked"));
    }
    out
}

async fn many_likes_of_one_post_through_both_adapters(fx: Fixture) {
    let db = &fx.db;
    let coalesced = Likes::new(db.database().clone());
    let author = user(db, "author").await;
    let fans = users(db, "fan", 100).await;
    let p = post(db, author.id, "hot").await;
    let log = RaceLog::default();

    let adapters: [(&str, Arc<dyn LikeRepository>); 2] = [
        ("coalesced", Arc::new(coalesced)),
        ("direct", Arc::new(db.clone())),
    ];

    // Every fan likes twice at the same time: once through each adapter.
    let mut tasks = Vec::new();
    for fan in &fans {
        for (name, likes) in &adapters {
            let (likes, log, id, what) =
                (likes.clone(), log.clone(), fan.id, format!("{name} like"));
            tasks.push(tokio::spawn(async move {
                log.check(&what, likes.like(id, p.id).await, no_error)
                    .map(|o| (id, o))
            }));
        }
    }
    let outcomes = settle(tasks).await;
    log.assert_clean();
    let mut created: HashMap<UserId, usize> = HashMap::new();
    for (id, outcome) in outcomes.into_iter().flatten() {
        assert!(
            outcome.likes_count >= 1 && outcome.likes_count <= 100,
            "{outcome:?}"
        );
        *created.entry(id).or_default() += usize::from(outcome.created);
    }
    assert_eq!(created.len(), 100);
    assert!(
        created.values().all(|n| *n == 1),
        "exactly one of each fan's two likes is new"
    );
    assert_eq!(post_counts(db, p.id).await, (100, 0));
    let likers = walk(9, |page| db.likers(p.id, page)).await;
    assert_eq!(likers.len(), 100);
    assert_no_drift(db).await;

    // And every fan unlikes twice at the same time.
    let mut tasks = Vec::new();
    for fan in &fans {
        for (name, likes) in &adapters {
            let (likes, log, id) = (likes.clone(), log.clone(), fan.id);
            let what = format!("{name} unlike");
            tasks.push(tokio::spawn(async move {
                log.check(&what, likes.unlike(id, p.id).await, no_error)
            }));
        }
    }
    let removed = settle(tasks).await;
    log.assert_clean();
    assert_eq!(removed.iter().filter(|r| **r == Some(true)).count(), 100);
    assert_eq!(post_counts(db, p.id).await, (0, 0));
    assert_no_drift(db).await;
}

async fn likes_and_unlikes_of_one_pair_toggling(fx: Fixture) {
    let db = &fx.db;
    let coalesced = Likes::new(db.database().clone());
    let author = user(db, "author").await;
    let fans = users(db, "fan", 5).await;
    let p = post(db, author.id, "p").await;
    let log = RaceLog::default();
    let mut tasks = Vec::new();
    for round in 0..40 {
        for fan in &fans {
            let (c, d, log, id) = (coalesced.clone(), db.clone(), log.clone(), fan.id);
            tasks.push(tokio::spawn(async move {
                match round % 4 {
                    0 => drop(log.check("coalesced like", c.like(id, p.id).await, no_error)),
                    1 => drop(log.check("direct like", d.like(id, p.id).await, no_error)),
                    2 => drop(log.check("coalesced unlike", c.unlike(id, p.id).await, no_error)),
                    _ => drop(log.check("direct unlike", d.unlike(id, p.id).await, no_error)),
                }
            }));
        }
    }
    settle(tasks).await;
    log.assert_clean();
    assert_no_drift(db).await;
    let likers = walk(2, |page| db.likers(p.id, page)).await;
    assert_eq!(post_counts(db, p.id).await.0, likers.len() as i64);
}

async fn direct_mutual_follows_and_a_hub_at_once(fx: Fixture) {
    mutual_follows_and_a_hub_at_once(&fx, Arc::new(fx.db.clone())).await;
}
async fn coalesced_mutual_follows_and_a_hub_at_once(fx: Fixture) {
    mutual_follows_and_a_hub_at_once(&fx, Arc::new(Follows::new(fx.db.database().clone()))).await;
}

async fn mutual_follows_and_a_hub_at_once(fx: &Fixture, follows: Arc<dyn FollowRepository>) {
    let db = &fx.db;
    let hub = user(db, "hub").await;
    let left = users(db, "left", 50).await;
    let right = users(db, "right", 50).await;
    let log = RaceLog::default();
    // Follows (or unfollows) one edge, follower to leader, in a task of its own.
    let spawn = |follow: bool, (follower, leader): (UserId, UserId)| {
        let (d, log) = (follows.clone(), log.clone());
        tokio::spawn(async move {
            if follow {
                log.check("follow", d.follow(follower, leader).await, no_error)
            } else {
                log.check("unfollow", d.unfollow(follower, leader).await, no_error)
            }
        })
    };
    // Each pair follows each other at the same instant (opposite lock orders if taken naively),
    // everyone follows the hub and the hub follows everyone.
    let edges = |l: UserId, r: UserId| {
        let hub = hub.id;
        [(l, r), (r, l), (l, hub), (hub, r), (hub, l), (r, hub)]
    };
    let mut tasks = Vec::new();
    for (l, r) in left.iter().zip(&right) {
        tasks.extend(edges(l.id, r.id).map(|edge| spawn(true, edge)));
        // And a few repeats.
        tasks.push(spawn(true, (l.id, r.id)));
    }
    let results = settle(tasks).await;
    log.assert_clean();
    assert_eq!(results.iter().filter(|r| **r == Some(true)).count(), 300);
    assert_eq!(user_counts(db, hub.id).await, (0, 100, 100));
    for u in left.iter().chain(&right) {
        assert_eq!(user_counts(db, u.id).await, (0, 2, 2), "user {}", u.id);
    }
    assert_no_drift(db).await;
    assert_eq!(walk(7, |page| db.followers(hub.id, page)).await.len(), 100);
    assert_eq!(walk(7, |page| db.following(hub.id, page)).await.len(), 100);

    // Now everyone unfollows everyone at once, half of the edges twice.
    let mut tasks = Vec::new();
    for (l, r) in left.iter().zip(&right) {
        tasks.extend(edges(l.id, r.id).map(|edge| spawn(false, edge)));
        tasks.push(spawn(false, (r.id, l.id)));
        tasks.push(spawn(false, (hub.id, l.id)));
    }
    let results = settle(tasks).await;
    log.assert_clean();
    assert_eq!(results.iter().filter(|r| **r == Some(true)).count(), 300);
    assert_eq!(user_counts(db, hub.id).await, (0, 0, 0));
    assert_no_drift(db).await;
}

async fn follows_and_unfollows_of_one_edge_toggling(fx: Fixture) {
    let db = &fx.db;
    let [a, b] = <[_; 2]>::try_from(users(db, "t", 2).await).unwrap();
    let log = RaceLog::default();
    let mut tasks = Vec::new();
    for i in 0..80 {
        let (d, log) = (db.clone(), log.clone());
        let (x, y) = if i % 3 == 0 {
            (b.id, a.id)
        } else {
            (a.id, b.id)
        };
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                log.check("follow", d.follow(x, y).await, no_error);
            } else {
                log.check("unfollow", d.unfollow(x, y).await, no_error);
            }
        }));
    }
    settle(tasks).await;
    log.assert_clean();
    assert_no_drift(db).await;
}

/// Authors post and delete while readers follow and unfollow them, all at once (each post's
/// fan-out racing the follows that copy its author's posts): afterwards every feed holds exactly
/// its owner's posts and those of the authors followed (`assert_no_drift` compares them).
async fn feeds_stay_whole_while_authors_post_and_readers_follow(fx: Fixture) {
    let db = &fx.db;
    let coalesced = Follows::new(db.database().clone());
    let authors = users(db, "author", 4).await;
    let readers = users(db, "reader", 8).await;
    let log = RaceLog::default();
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    for (i, author) in authors.iter().enumerate() {
        let (d, log, id) = (db.clone(), log.clone(), author.id);
        tasks.push(tokio::spawn(async move {
            for n in 0..6 {
                let created =
                    PostRepository::create(d.database(), new_post(id, &format!("{i}-{n}"))).await;
                let created = log.check("post", created, no_error);
                if let Some(p) = created.filter(|_| n % 3 == 2) {
                    log.check(
                        "delete post",
                        PostRepository::delete(d.database(), p.id, id).await,
                        no_error,
                    );
                }
            }
        }));
    }
    for (i, reader) in readers.iter().enumerate() {
        let (d, co, log, id) = (db.clone(), coalesced.clone(), log.clone(), reader.id);
        let leaders: Vec<_> = authors.iter().map(|a| a.id).collect();
        tasks.push(tokio::spawn(async move {
            for round in 0..3 {
                for (k, &leader) in leaders.iter().enumerate() {
                    let follows: &dyn FollowRepository = if (i + k) % 2 == 0 { &co } else { &d };
                    if (i + k + round) % 3 == 2 {
                        log.check("unfollow", follows.unfollow(id, leader).await, no_error);
                    } else {
                        log.check("follow", follows.follow(id, leader).await, no_error);
                    }
                }
            }
        }));
    }
    settle(tasks).await;
    log.assert_clean();
    assert_no_drift(db).await;
}

/// Walks a post's whole thread through the lists; checks every reply_count on the way and
/// returns how many comments there are.
async fn count_thread(db: &Store, post: PostId) -> i64 {
    let mut total = 0;
    let mut stack: Vec<Option<CommentId>> = vec![None];
    let mut reply_counts: Vec<(CommentId, i64)> = Vec::new();
    while let Some(parent) = stack.pop() {
        let children: Vec<Comment> = comments_under(db, post, parent).await;
        if let Some(parent) = parent {
            let expected = reply_counts
                .iter()
                .find(|(id, _)| *id == parent)
                .map(|(_, n)| *n);
            assert_eq!(
                expected,
                Some(children.len() as i64),
                "reply_count of comment {parent}"
            );
        }
        total += children.len() as i64;
        for c in children {
            reply_counts.push((c.id, c.reply_count));
            stack.push(Some(c.id));
        }
    }
    total
}

async fn comments_replies_and_thread_deletions_on_one_post(fx: Fixture) {
    let db = &fx.db;
    let author = user(db, "author").await;
    let people = users(db, "p", 10).await;
    let p = post(db, author.id, "p").await;
    let mut seeds = Vec::new();
    for (i, person) in people.iter().enumerate() {
        let top = comment(db, p.id, None, person.id, &format!("seed {i}")).await;
        comment(db, p.id, Some(top.id), author.id, "seed reply").await;
        seeds.push(top.id);
    }
    let log = RaceLog::default();
    let mut tasks = Vec::new();
    for i in 0..50usize {
        let (d, log, who) = (db.clone(), log.clone(), people[i % 10].id);
        let seeds = seeds.clone();
        // Writers: a comment, a reply under a seed, a reply under that reply, and for some the
        // deletion of their own comment again.
        tasks.push(tokio::spawn(async move {
            let create = |parent: Option<CommentId>, text: &str| {
                CommentRepository::create(d.database(), new_comment(p.id, parent, who, text))
            };
            let mine = log.check("comment", create(None, "mine").await, no_error);
            let reply = log.check(
                "reply",
                create(Some(seeds[i % 10]), "re").await,
                post_or_comment_not_found,
            );
            if let Some(reply) = reply {
                log.check(
                    "reply to reply",
                    create(Some(reply.id), "re re").await,
                    post_or_comment_not_found,
                );
            }
            if let (Some(mine), true) = (mine, i % 3 == 0) {
                log.check(
                    "reply to own",
                    create(Some(mine.id), "self").await,
                    post_or_comment_not_found,
                );
                log.check(
                    "delete own",
                    CommentRepository::delete(d.database(), mine.id).await,
                    no_error,
                );
            }
        }));
    }
    for k in (0..10).step_by(2) {
        let (d, log, seed) = (db.clone(), log.clone(), seeds[k]);
        // Deleters: every other seed thread, while replies are being added beneath it, twice.
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5 * k as u64)).await;
            log.check(
                "delete seed",
                CommentRepository::delete(d.database(), seed).await,
                no_error,
            );
            log.check(
                "delete seed again",
                CommentRepository::delete(d.database(), seed).await,
                no_error,
            );
        }));
    }
    settle(tasks).await;
    log.assert_clean();
    assert_no_drift(db).await;
    let listed = count_thread(db, p.id).await;
    assert_eq!(post_counts(db, p.id).await.1, listed);
    for k in (0..10).step_by(2) {
        assert_eq!(db.ownership(seeds[k]).await.unwrap(), None);
    }
}

async fn likes_and_comments_racing_the_post_deletion(fx: Fixture) {
    let db = &fx.db;
    let coalesced = Likes::new(db.database().clone());
    let author = user(db, "author").await;
    let fans = users(db, "fan", 60).await;
    let log = RaceLog::default();
    for round in 0..3u64 {
        let p = post(db, author.id, &format!("p{round}")).await;
        let keep = post(db, author.id, &format!("keep{round}")).await;
        for fan in &fans[..10] {
            db.like(fan.id, p.id).await.unwrap();
        }
        let c = comment(db, p.id, None, fans[0].id, "first").await;
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();
        for (i, fan) in fans.iter().enumerate() {
            let (co, d, log, id) = (coalesced.clone(), db.clone(), log.clone(), fan.id);
            tasks.push(tokio::spawn(async move {
                log.check("coalesced like", co.like(id, p.id).await, post_not_found);
                log.check("direct like", d.like(id, p.id).await, post_not_found);
                log.check(
                    "like of the kept post",
                    co.like(id, keep.id).await,
                    no_error,
                );
                if i % 2 == 0 {
                    log.check("unlike", d.unlike(id, p.id).await, no_error);
                }
                let text = new_comment(p.id, Some(c.id), id, "reply");
                log.check(
                    "reply",
                    CommentRepository::create(d.database(), text).await,
                    post_or_comment_not_found,
                );
                let text = new_comment(p.id, None, id, "comment");
                log.check(
                    "comment",
                    CommentRepository::create(d.database(), text).await,
                    post_not_found,
                );
            }));
        }
        let (d, del_log) = (db.clone(), log.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(3 * round)).await;
            del_log.check(
                "post deletion",
                PostRepository::delete(d.database(), p.id, author.id).await,
                no_error,
            );
        }));
        settle(tasks).await;
        log.assert_clean();
        assert_eq!(db.get(p.id, None).await.unwrap(), None);
        assert!(
            db.likers(p.id, PageRequest::first(5))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert_eq!(post_counts(db, keep.id).await, (60, 0));
        assert_no_drift(db).await;
    }
    assert_eq!(user_counts(db, author.id).await, (3, 0, 0));
}

/// The world an account deletion races with: the doomed account follows and is followed, has
/// posts liked and commented by others, likes and comments on others' posts (with replies by
/// others beneath), and tokens.
struct Neighbourhood {
    doomed: UserId,
    others: Vec<UserId>,
    doomed_posts: Vec<PostId>,
    other_posts: Vec<PostId>,
    doomed_comments: Vec<CommentId>,
    other_comments: Vec<(PostId, CommentId)>,
}

async fn neighbourhood(db: &Store, round: usize, others: &[UserId]) -> Neighbourhood {
    let doomed = user(db, &format!("doomed{round}")).await.id;
    for (i, o) in others.iter().enumerate() {
        if i % 3 == 0 {
            db.follow(doomed, *o).await.unwrap();
        }
        if i % 4 == 0 {
            db.follow(*o, doomed).await.unwrap();
        }
    }
    let mut doomed_posts = Vec::new();
    for i in 0..3 {
        doomed_posts.push(post(db, doomed, &format!("d{round}-{i}")).await.id);
    }
    let mut other_posts = Vec::new();
    for (i, o) in others.iter().enumerate().take(6) {
        other_posts.push(post(db, *o, &format!("o{round}-{i}")).await.id);
    }
    let mut doomed_comments = Vec::new();
    let mut other_comments = Vec::new();
    for (i, p) in other_posts.iter().enumerate() {
        db.like(doomed, *p).await.unwrap();
        let mine = comment(db, *p, None, doomed, "from doomed").await;
        let reply = comment(db, *p, Some(mine.id), others[i], "reply").await;
        comment(db, *p, Some(reply.id), doomed, "reply again").await;
        doomed_comments.push(mine.id);
        let theirs = comment(db, *p, None, others[i], "theirs").await;
        other_comments.push((*p, theirs.id));
    }
    for (i, o) in others.iter().enumerate().take(8) {
        db.like(*o, doomed_posts[i % 3]).await.unwrap();
        comment(db, doomed_posts[i % 3], None, *o, "on doomed's post").await;
    }
    db.insert(doomed, format!("token-{round}").into_bytes())
        .await
        .unwrap();
    Neighbourhood {
        doomed,
        others: others.to_vec(),
        doomed_posts,
        other_posts,
        doomed_comments,
        other_comments,
    }
}

async fn account_deletion_racing_follows_likes_comments_posts_tokens(fx: Fixture) {
    let db = &fx.db;
    let coalesced = Likes::new(db.database().clone());
    let follows = Follows::new(db.database().clone());
    let others: Vec<_> = users(db, "other", 24).await.iter().map(|u| u.id).collect();
    let log = RaceLog::default();
    for round in 0..3usize {
        let n = neighbourhood(db, round, &others).await;
        let d = n.doomed;
        let deletions = Arc::new(AtomicUsize::new(0));
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();
        for (i, o) in n.others.iter().copied().enumerate() {
            let (db2, co, log2) = (db.clone(), coalesced.clone(), log.clone());
            let co_follows = follows.clone();
            let target = n.doomed_posts[i % 3];
            let other_post = n.other_posts[i % n.other_posts.len()];
            let doomed_comment = n.doomed_comments[i % n.doomed_comments.len()];
            let (their_post, their_comment) = n.other_comments[i % n.other_comments.len()];
            tasks.push(tokio::spawn(async move {
                let (db, log) = (db2, log2);
                // Others toward the doomed account.
                log.check("follow doomed", db.follow(o, d).await, gone);
                log.check(
                    "follow doomed (coalesced)",
                    co_follows.follow(o, d).await,
                    gone,
                );
                log.check("like doomed's post", co.like(o, target).await, gone);
                log.check(
                    "like doomed's post (direct)",
                    db.like(o, target).await,
                    gone,
                );
                let c = new_comment(target, None, o, "hello");
                log.check(
                    "comment on doomed's post",
                    CommentRepository::create(db.database(), c).await,
                    gone,
                );
                let c = new_comment(other_post, Some(doomed_comment), o, "re");
                log.check(
                    "reply to doomed's comment",
                    CommentRepository::create(db.database(), c).await,
                    gone,
                );
                if i % 2 == 0 {
                    log.check("unfollow doomed", db.unfollow(o, d).await, gone);
                    log.check("unlike doomed's post", db.unlike(o, target).await, gone);
                }
                // The doomed account toward others.
                log.check("doomed follows", db.follow(d, o).await, gone);
                log.check(
                    "doomed follows (coalesced)",
                    co_follows.follow(d, o).await,
                    gone,
                );
                log.check("doomed likes", co.like(d, other_post).await, gone);
                log.check("doomed likes (direct)", db.like(d, their_post).await, gone);
                let c = new_comment(their_post, Some(their_comment), d, "doomed replies");
                log.check(
                    "doomed replies",
                    CommentRepository::create(db.database(), c).await,
                    gone,
                );
                let c = new_comment(other_post, None, d, "doomed comments");
                log.check(
                    "doomed comments",
                    CommentRepository::create(db.database(), c).await,
                    gone,
                );
                if i % 4 == 0 {
                    let p = new_post(d, &format!("late-{d}-{i}"));
                    log.check(
                        "doomed posts",
                        PostRepository::create(db.database(), p).await,
                        gone,
                    );
                    let token = format!("late-token-{d}-{i}").into_bytes();
                    log.check("doomed logs in", db.insert(d, token).await, gone);
                    log.check("doomed unfollows", db.unfollow(d, o).await, gone);
                    log.check(
                        "doomed deletes a comment",
                        CommentRepository::delete(db.database(), doomed_comment).await,
                        gone,
                    );
                }
            }));
            if i == n.others.len() / 2 {
                // The deletion itself, twice, in the middle of it all: exactly one succeeds.
                for _ in 0..2 {
                    let (db, log, deleted) = (db.clone(), log.clone(), deletions.clone());
                    tasks.push(tokio::spawn(async move {
                        let result = AccountRepository::delete(db.database(), d).await;
                        if log
                            .check("account deletion", result, user_not_found)
                            .is_some()
                        {
                            deleted.fetch_add(1, Ordering::SeqCst);
                        }
                    }));
                }
            }
        }
        settle(tasks).await;
        log.assert_clean();
        assert_eq!(
            deletions.load(Ordering::SeqCst),
            1,
            "round {round}: one deletion succeeds"
        );

        // Whatever order things ran in, the account ended deleted with everything of it.
        if db.find_by_id(d).await.unwrap().is_some() {
            panic!("round {round}: the account survived both deletions");
        }
        assert_no_drift(db).await;
        assert_eq!(
            db.find(format!("token-{round}").into_bytes())
                .await
                .unwrap()
                .map(|t| t.user),
            None
        );
        for p in &n.doomed_posts {
            assert_eq!(db.get(*p, None).await.unwrap(), None);
        }
        assert!(
            db.by_author(d, others[0], PageRequest::first(5))
                .await
                .unwrap()
                .items
                .is_empty(),
            "a post created during the deletion outlived its author"
        );
        for o in &n.others {
            let rel = db.relationships(*o, vec![d]).await.unwrap();
            assert_eq!(
                rel,
                vec![Default::default()],
                "user {o} still relates to the deleted account"
            );
        }
        for p in &n.other_posts {
            let likers = walk(10, |page| db.likers(*p, page)).await;
            assert!(
                likers.iter().all(|l| l.user.id != d),
                "a like by the deleted account survived"
            );
            let tops = comments_under(db, *p, None).await;
            assert!(
                tops.iter().all(|c| c.author.id != d),
                "a comment by the deleted account survived"
            );
            assert_eq!(post_counts(db, *p).await.1, count_thread(db, *p).await);
        }
    }
}

async fn account_deletion_racing_profile_updates(fx: Fixture) {
    let db = &fx.db;
    let log = RaceLog::default();
    for round in 0..5 {
        let d = user(db, &format!("doomed{round}")).await;
        let other = user(db, &format!("other{round}")).await;
        db.follow(other.id, d.id).await.unwrap();
        post(db, d.id, &format!("p{round}")).await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (db2, log2) = (db.clone(), log.clone());
            tasks.push(tokio::spawn(async move {
                let (db, log) = (db2, log2);
                let changes = ProfileChanges {
                    bio: Some(Bio::parse(&format!("bio {i}")).unwrap()),
                    avatar_key: (i % 2 == 0).then(|| format!("avatar-{i}.png")),
                    ..Default::default()
                };
                log.check(
                    "profile update",
                    db.update_profile(d.id, changes).await,
                    user_not_found,
                );
            }));
            if i == 10 {
                let (db, log) = (db.clone(), log.clone());
                tasks.push(tokio::spawn(async move {
                    log.check(
                        "account deletion",
                        AccountRepository::delete(db.database(), d.id).await,
                        no_error,
                    );
                }));
            }
        }
        settle(tasks).await;
        log.assert_clean();
        assert_eq!(db.find_by_id(d.id).await.unwrap(), None);
        assert_eq!(user_counts(db, other.id).await, (0, 0, 0));
        assert_no_drift(db).await;
    }
}
