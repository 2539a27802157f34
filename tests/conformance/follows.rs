//! FollowRepository: follow/unfollow with their counters, and the two lists, through the adapter
//! that runs, `Follows` (follows that arrive together share a transaction).

use being_social_domain::model::{ListedUser, User};
use being_social_domain::pagination::PageRequest;
use being_social_domain::ports::{AccountRepository, FollowRepository};
use being_social_infra::db::Follows;
use futures_util::future::join_all;

use crate::fixture::Fixture;
use crate::support::*;
use being_social_domain::model::UserId;

on_both_backends!(
    followers_and_following_paginate_newest_first,
    follow_lists_skip_nothing_while_edges_are_added,
    follow_and_unfollow_are_idempotent_and_move_both_counters,
    follow_of_unknown_users_is_not_found,
    following_oneself_is_refused_without_effect,
);

async fn follow_and_unfollow_are_idempotent_and_move_both_counters(fx: Fixture) {
    let follows = Follows::new(fx.db.database().clone());
    follow_and_unfollow_are_idempotent_and_move_both_counters_with(&fx, &follows).await;
}
async fn follow_of_unknown_users_is_not_found(fx: Fixture) {
    follow_of_unknown_users_is_not_found_with(&fx, &fx.db.follows).await;
}
async fn following_oneself_is_refused_without_effect(fx: Fixture) {
    following_oneself_is_refused_without_effect_with(&fx, &fx.db.follows).await;
}

async fn follow_and_unfollow_are_idempotent_and_move_both_counters_with(
    fx: &Fixture,
    follows: &dyn FollowRepository,
) {
    let db = &fx.db;
    let [a, b, c] = <[_; 3]>::try_from(users(db, "f", 3).await).unwrap();

    assert!(follows.follow(a.id, b.id).await.unwrap(), "a new edge");
    assert_eq!(user_counts(db, a.id).await, (0, 0, 1));
    assert_eq!(user_counts(db, b.id).await, (0, 1, 0));

    assert!(
        !follows.follow(a.id, b.id).await.unwrap(),
        "the same edge again"
    );
    assert_eq!(user_counts(db, a.id).await, (0, 0, 1));
    assert_eq!(user_counts(db, b.id).await, (0, 1, 0));

    assert!(
        follows.follow(b.id, a.id).await.unwrap(),
        "the other direction is another edge"
    );
    assert!(follows.follow(c.id, b.id).await.unwrap());
    assert_eq!(user_counts(db, a.id).await, (0, 1, 1));
    assert_eq!(user_counts(db, b.id).await, (0, 2, 1));
    assert_eq!(user_counts(db, c.id).await, (0, 0, 1));
    assert_no_drift(db).await;

    assert!(
        follows.unfollow(a.id, b.id).await.unwrap(),
        "the edge existed"
    );
    assert_eq!(user_counts(db, a.id).await, (0, 1, 0));
    assert_eq!(user_counts(db, b.id).await, (0, 1, 1));
    assert!(
        !follows.unfollow(a.id, b.id).await.unwrap(),
        "already removed"
    );
    assert!(
        !follows.unfollow(a.id, c.id).await.unwrap(),
        "never existed"
    );
    assert!(
        !follows.unfollow(a.id, c.id.missing()).await.unwrap(),
        "unknown user"
    );
    assert!(
        !follows.unfollow(c.id.missing(), a.id).await.unwrap(),
        "unknown user"
    );
    assert_eq!(user_counts(db, a.id).await, (0, 1, 0));
    assert_eq!(user_counts(db, b.id).await, (0, 1, 1));
    assert_eq!(user_counts(db, c.id).await, (0, 0, 1));

    // Following again after an unfollow is a new edge.
    assert!(follows.follow(a.id, b.id).await.unwrap());
    assert_eq!(user_counts(db, b.id).await, (0, 2, 1));
    assert_no_drift(db).await;
}

async fn follow_of_unknown_users_is_not_found_with(fx: &Fixture, follows: &dyn FollowRepository) {
    let db = &fx.db;
    let a = user(db, "a").await;
    let gone = user(db, "gone").await;
    AccountRepository::delete(db.database(), gone.id)
        .await
        .unwrap();
    for (follower, leader) in [
        (a.id, a.id.missing()),
        (a.id.missing(), a.id),
        (a.id.missing(), UserId::new(a.id.get() + 2000)),
        (a.id, gone.id),
        (gone.id, a.id),
    ] {
        assert_not_found(follows.follow(follower, leader).await, Resource::User);
    }
    assert_eq!(user_counts(db, a.id).await, (0, 0, 0));
    assert!(
        follows
            .followers(a.id, PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_no_drift(db).await;
}

async fn following_oneself_is_refused_without_effect_with(
    fx: &Fixture,
    follows: &dyn FollowRepository,
) {
    let db = &fx.db;
    let a = user(db, "self").await;
    // The port documents no answer for this (the service refuses it first), but the storage must
    // not record it: no edge, no counter moved.
    assert!(
        follows.follow(a.id, a.id).await.is_err(),
        "a self-follow is stored"
    );
    assert_eq!(user_counts(db, a.id).await, (0, 0, 0));
    assert!(!follows.unfollow(a.id, a.id).await.unwrap());

    // Beside other follows (the coalescing adapter may put them in one batch), a self-follow is
    // refused alone.
    let others = users(db, "beside", 6).await;
    let attempts = others
        .iter()
        .map(|o| follows.follow(o.id, a.id))
        .chain([follows.follow(a.id, a.id)]);
    let results = join_all(attempts).await;
    let (refused, rest) = results.split_last().unwrap();
    assert!(refused.is_err(), "a self-follow is stored");
    assert!(rest.iter().all(|r| matches!(r, Ok(true))), "{rest:?}");
    assert_eq!(user_counts(db, a.id).await, (0, 6, 0));
    assert_no_drift(db).await;
}

fn ids(list: &[ListedUser]) -> Vec<UserId> {
    list.iter().map(|l| l.user.id).collect()
}

/// Newest first by (since, id), with timestamps at microsecond precision.
#[track_caller]
fn assert_newest_first(list: &[ListedUser]) {
    for l in list {
        assert_micros(l.since);
        assert_eq!(
            l.relationship,
            Default::default(),
            "the adapter leaves relationships unset"
        );
    }
    for pair in list.windows(2) {
        assert!(
            (pair[0].since, pair[0].user.id) > (pair[1].since, pair[1].user.id),
            "not newest first: {:?} before {:?}",
            (pair[0].since, pair[0].user.id),
            (pair[1].since, pair[1].user.id)
        );
    }
}

async fn followers_and_following_paginate_newest_first(fx: Fixture) {
    let db = &fx.db;
    let star = user(db, "star").await;
    let fans = users(db, "fan", 7).await;
    let idols = users(db, "idol", 7).await;
    let mut follow_times = Vec::new();
    for fan in &fans {
        let before = now_micros();
        db.follow(fan.id, star.id).await.unwrap();
        follow_times.push((before, now_micros()));
    }
    for idol in &idols {
        db.follow(star.id, idol.id).await.unwrap();
    }
    // Noise: edges that are in neither list.
    db.follow(fans[0].id, idols[0].id).await.unwrap();
    db.follow(idols[1].id, fans[1].id).await.unwrap();

    let newest_fans: Vec<_> = fans.iter().rev().map(|u| u.id).collect();
    let newest_idols: Vec<_> = idols.iter().rev().map(|u| u.id).collect();
    for limit in LIMITS {
        let followers = walk(limit, |page| db.followers(star.id, page)).await;
        assert_eq!(ids(&followers), newest_fans, "followers, limit {limit}");
        assert_newest_first(&followers);
        let following = walk(limit, |page| db.following(star.id, page)).await;
        assert_eq!(ids(&following), newest_idols, "following, limit {limit}");
        assert_newest_first(&following);
    }

    // Listed users are the users as stored now; `since` is the time of the edge.
    let followers = walk(100, |page| db.followers(star.id, page)).await;
    for listed in &followers {
        assert_eq!(listed.user, fresh_user(db, listed.user.id).await);
        let i = fans.iter().position(|f| f.id == listed.user.id).unwrap();
        let (before, after) = follow_times[i];
        assert!(
            before <= listed.since && listed.since <= after,
            "since of fan {i}"
        );
    }

    // Empty lists and unknown users: an empty last page.
    let loner: User = user(db, "loner").await;
    for list in [
        db.followers(loner.id, PageRequest::first(5)).await.unwrap(),
        db.following(loner.id, PageRequest::first(5)).await.unwrap(),
        db.followers(loner.id.missing(), PageRequest::first(5))
            .await
            .unwrap(),
        db.following(loner.id.missing(), PageRequest::first(5))
            .await
            .unwrap(),
    ] {
        assert!(list.items.is_empty());
        assert_eq!(list.next, None);
    }

    // After unfollows the lists shrink accordingly.
    db.unfollow(fans[3].id, star.id).await.unwrap();
    db.unfollow(star.id, idols[0].id).await.unwrap();
    let expected: Vec<_> = newest_fans
        .iter()
        .copied()
        .filter(|id| *id != fans[3].id)
        .collect();
    assert_eq!(
        ids(&walk(2, |page| db.followers(star.id, page)).await),
        expected
    );
    let expected: Vec<_> = newest_idols[..6].to_vec();
    assert_eq!(
        ids(&walk(2, |page| db.following(star.id, page)).await),
        expected
    );
    assert_no_drift(db).await;
}

async fn follow_lists_skip_nothing_while_edges_are_added(fx: Fixture) {
    let db = &fx.db;
    let star = user(db, "star").await;
    let early = users(db, "early", 6).await;
    let late = users(db, "late", 4).await;
    for u in &early {
        db.follow(u.id, star.id).await.unwrap();
    }
    // Walk two at a time; a new follower arrives before each next page.
    let mut seen = Vec::new();
    let mut request = PageRequest::first(2);
    let mut late_iter = late.iter();
    loop {
        let page = db.followers(star.id, request).await.unwrap();
        seen.extend(page.items.iter().map(|l| l.user.id));
        let Some(next) = page.next else { break };
        if let Some(u) = late_iter.next() {
            db.follow(u.id, star.id).await.unwrap();
        }
        request = PageRequest::new(Some(2), Some(next)).unwrap();
    }
    let expected: Vec<_> = early.iter().rev().map(|u| u.id).collect();
    assert_eq!(
        seen, expected,
        "newer edges come before the cursor, never after it"
    );
}
