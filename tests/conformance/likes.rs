//! LikeRepository through the adapter that runs, `Likes` (likes of a post coalesced into one
//! transaction; a lone like is a batch of one).

use being_social_domain::DomainError;
use being_social_domain::model::{ListedUser, Post};
use being_social_domain::pagination::PageRequest;
use being_social_domain::ports::{AccountRepository, LikeRepository, PostRepository};

use crate::fixture::Fixture;
use crate::support::*;

on_both_backends!(
    like_and_unlike_are_idempotent_and_counted,
    like_of_unknown_post_is_not_found,
    likers_paginate_newest_first,
    likes_at_once_with_an_unknown_liker,
);

async fn like_and_unlike_are_idempotent_and_counted(fx: Fixture) {
    like_and_unlike_are_idempotent_and_counted_with(&fx, &fx.db.likes).await;
}
async fn like_of_unknown_post_is_not_found(fx: Fixture) {
    like_of_unknown_post_is_not_found_with(&fx, &fx.db.likes).await;
}
async fn likers_paginate_newest_first(fx: Fixture) {
    likers_paginate_newest_first_with(&fx, &fx.db.likes).await;
}
async fn likes_at_once_with_an_unknown_liker(fx: Fixture) {
    likes_at_once_with_an_unknown_liker_with(&fx, &fx.db.likes).await;
}

async fn like_and_unlike_are_idempotent_and_counted_with(fx: &Fixture, likes: &dyn LikeRepository) {
    let db = &fx.db;
    let author = user(db, "author").await;
    let [x, y] = <[_; 2]>::try_from(users(db, "x", 2).await).unwrap();
    let p = post(db, author.id, "p").await;
    let q = post(db, author.id, "q").await;

    let first = likes.like(x.id, p.id).await.unwrap();
    assert!(first.created);
    assert_eq!(first.likes_count, 1);
    let again = likes.like(x.id, p.id).await.unwrap();
    assert!(!again.created, "a second like of the same post is not new");
    assert_eq!(again.likes_count, 1, "and does not count");
    assert_eq!(post_counts(db, p.id).await, (1, 0));

    let by_y = likes.like(y.id, p.id).await.unwrap();
    assert!(by_y.created);
    assert_eq!(by_y.likes_count, 2);
    let own = likes.like(author.id, p.id).await.unwrap();
    assert_eq!(
        (own.created, own.likes_count),
        (true, 3),
        "authors may like their posts"
    );
    let other_post = likes.like(x.id, q.id).await.unwrap();
    assert_eq!((other_post.created, other_post.likes_count), (true, 1));
    assert_eq!(post_counts(db, p.id).await, (3, 0));

    // liked_by_me follows the viewer.
    assert!(db.get(p.id, Some(x.id)).await.unwrap().unwrap().liked_by_me);
    assert!(!db.get(p.id, None).await.unwrap().unwrap().liked_by_me);
    let q_for_y: Post = db.get(q.id, Some(y.id)).await.unwrap().unwrap();
    assert!(!q_for_y.liked_by_me);

    assert!(likes.unlike(x.id, p.id).await.unwrap(), "the like existed");
    assert_eq!(post_counts(db, p.id).await, (2, 0));
    assert!(!likes.unlike(x.id, p.id).await.unwrap(), "already removed");
    assert!(
        !likes.unlike(x.id, p.id.missing()).await.unwrap(),
        "unknown post: not an error"
    );
    assert!(
        !likes.unlike(x.id.missing(), p.id).await.unwrap(),
        "unknown user"
    );
    assert_eq!(post_counts(db, p.id).await, (2, 0));
    assert!(!db.get(p.id, Some(x.id)).await.unwrap().unwrap().liked_by_me);

    // A like after an unlike is new again.
    let back = likes.like(x.id, p.id).await.unwrap();
    assert_eq!((back.created, back.likes_count), (true, 3));
    assert_eq!(post_counts(db, q.id).await, (1, 0));
    assert_no_drift(db).await;
}

async fn like_of_unknown_post_is_not_found_with(fx: &Fixture, likes: &dyn LikeRepository) {
    let db = &fx.db;
    let author = user(db, "author").await;
    let x = user(db, "x").await;
    let p = post(db, author.id, "p").await;
    let gone = post(db, author.id, "gone").await;
    PostRepository::delete(db.database(), gone.id, author.id)
        .await
        .unwrap();
    assert_not_found(likes.like(x.id, p.id.missing()).await, Resource::Post);
    assert_not_found(likes.like(x.id, gone.id).await, Resource::Post);
    assert_eq!(post_counts(db, p.id).await, (0, 0));
    let likers = likes.likers(gone.id, PageRequest::first(5)).await.unwrap();
    assert!(likers.items.is_empty() && likers.next.is_none());
    // A liker that does not exist is refused, whatever the error, and counts nothing.
    assert!(likes.like(x.id.missing(), p.id).await.is_err());
    assert_eq!(post_counts(db, p.id).await, (0, 0));
    assert_no_drift(db).await;
}

#[track_caller]
fn assert_newest_first(list: &[ListedUser]) {
    for l in list {
        assert_micros(l.since);
    }
    for pair in list.windows(2) {
        assert!(
            (pair[0].since, pair[0].user.id) > (pair[1].since, pair[1].user.id),
            "not newest first"
        );
    }
}

async fn likers_paginate_newest_first_with(fx: &Fixture, likes: &dyn LikeRepository) {
    let db = &fx.db;
    let author = user(db, "author").await;
    let fans = users(db, "fan", 7).await;
    let p = post(db, author.id, "p").await;
    let q = post(db, author.id, "q").await;
    let mut times = Vec::new();
    for fan in &fans {
        let before = now_micros();
        likes.like(fan.id, p.id).await.unwrap();
        times.push((before, now_micros()));
    }
    likes.like(fans[0].id, q.id).await.unwrap();
    let expected: Vec<_> = fans.iter().rev().map(|u| u.id).collect();
    for limit in LIMITS {
        let likers = walk(limit, |page| likes.likers(p.id, page)).await;
        assert_eq!(
            likers.iter().map(|l| l.user.id).collect::<Vec<_>>(),
            expected,
            "limit {limit}"
        );
        assert_newest_first(&likers);
    }
    for listed in walk(100, |page| likes.likers(p.id, page)).await {
        assert_eq!(listed.user, fresh_user(db, listed.user.id).await);
        let i = fans.iter().position(|f| f.id == listed.user.id).unwrap();
        assert!(
            times[i].0 <= listed.since && listed.since <= times[i].1,
            "since of fan {i}"
        );
    }

    // Likes that share one instant (a batch) still paginate without loss or repeat.
    let crowd = users(db, "crowd", 12).await;
    let r = post(db, author.id, "r").await;
    let outcomes =
        futures_util::future::join_all(crowd.iter().map(|u| likes.like(u.id, r.id))).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Ok(l) if l.created)),
        "{outcomes:?}"
    );
    let mut expected: Vec<_> = crowd.iter().map(|u| u.id).collect();
    expected.sort_unstable();
    for limit in [1, 2, 5] {
        let likers = walk(limit, |page| likes.likers(r.id, page)).await;
        assert_newest_first(&likers);
        let mut got: Vec<_> = likers.iter().map(|l| l.user.id).collect();
        got.sort_unstable();
        assert_eq!(got, expected, "limit {limit}");
    }

    // Unlikes leave the list.
    likes.unlike(fans[2].id, p.id).await.unwrap();
    let expected: Vec<_> = fans
        .iter()
        .rev()
        .map(|u| u.id)
        .filter(|id| *id != fans[2].id)
        .collect();
    let likers = walk(2, |page| likes.likers(p.id, page)).await;
    assert_eq!(
        likers.iter().map(|l| l.user.id).collect::<Vec<_>>(),
        expected
    );
    assert_no_drift(db).await;
}

async fn likes_at_once_with_an_unknown_liker_with(fx: &Fixture, likes: &dyn LikeRepository) {
    // Likes that arrive together (one batch for the coalescing adapter) where one liker's
    // account is gone: only that like fails; every other one is recorded and counted.
    let db = &fx.db;
    let author = user(db, "author").await;
    let crowd = users(db, "crowd", 20).await;
    let gone = user(db, "gone").await;
    AccountRepository::delete(db.database(), gone.id)
        .await
        .unwrap();
    let p = post(db, author.id, "p").await;
    let mut likers: Vec<_> = crowd.iter().map(|u| u.id).collect();
    likers.insert(10, gone.id);
    likers.push(crowd[0].id); // and one user twice
    let outcomes =
        futures_util::future::join_all(likers.iter().map(|u| likes.like(*u, p.id))).await;
    let mut created = 0;
    for (liker, outcome) in likers.iter().zip(&outcomes) {
        match outcome {
            Ok(o) => {
                assert_ne!(*liker, gone.id, "a deleted account's like was recorded");
                created += i64::from(o.created);
                assert!(o.likes_count >= 1 && o.likes_count <= 20);
            }
            Err(DomainError::NotFound(_)) if *liker == gone.id => {}
            Err(err) => panic!("like by {liker}: {err:?}"),
        }
    }
    assert_eq!(created, 20, "one created like per live user");
    assert_eq!(post_counts(db, p.id).await, (20, 0));
    assert_no_drift(db).await;
}
