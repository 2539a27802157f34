//! SessionRepository through the adapter that runs, `Sessions` (lookups coalesced).

use being_social_domain::model::User;
use being_social_domain::ports::{
    AccountRepository, FollowRepository, ProfileChanges, SessionRepository,
};
use being_social_domain::values::Bio;
use chrono::{DateTime, TimeDelta, Utc};

use crate::fixture::Fixture;
use crate::support::*;

on_both_backends!(
    a_password_change_revokes_every_token_but_the_one_kept,
    tokens_insert_find_and_revoke,
    token_lookups_at_once,
    tokens_record_issue_and_use,
    revoke_all_takes_every_token_of_one_user,
    expired_tokens_are_deleted_in_batches,
    a_sweep_of_both_expiries_stays_within_its_batch,
);

async fn tokens_insert_find_and_revoke(fx: Fixture) {
    tokens_insert_find_and_revoke_with(&fx, &fx.db.sessions).await;
}
async fn tokens_record_issue_and_use(fx: Fixture) {
    tokens_record_issue_and_use_with(&fx, &fx.db.sessions).await;
}
async fn revoke_all_takes_every_token_of_one_user(fx: Fixture) {
    revoke_all_takes_every_token_of_one_user_with(&fx, &fx.db.sessions).await;
}
async fn expired_tokens_are_deleted_in_batches(fx: Fixture) {
    expired_tokens_are_deleted_in_batches_with(&fx, &fx.db.sessions).await;
}
async fn a_sweep_of_both_expiries_stays_within_its_batch(fx: Fixture) {
    a_sweep_of_both_expiries_stays_within_its_batch_with(&fx, &fx.db.sessions).await;
}
async fn token_lookups_at_once(fx: Fixture) {
    token_lookups_at_once_with(&fx, &fx.db.sessions).await;
}

/// The owner of the token with this hash, as `find` reads it.
async fn owner(tokens: &dyn SessionRepository, hash: Vec<u8>) -> Option<User> {
    tokens.find(hash).await.unwrap().map(|token| token.user)
}

fn hash(seed: u8) -> Vec<u8> {
    (0..32u8)
        .map(|i| i.wrapping_mul(7).wrapping_add(seed))
        .collect()
}

async fn tokens_insert_find_and_revoke_with(fx: &Fixture, tokens: &dyn SessionRepository) {
    let db = &fx.db;
    let u = user(db, "u").await;
    let v = user(db, "v").await;
    tokens.insert(u.id, hash(1)).await.unwrap();
    tokens.insert(u.id, hash(2)).await.unwrap();
    tokens.insert(v.id, hash(3)).await.unwrap();
    // Hashes are arbitrary bytes, not text.
    tokens.insert(v.id, vec![0, 255, 0, 128]).await.unwrap();

    assert_eq!(owner(tokens, hash(1)).await, Some(u.clone()));
    assert_eq!(owner(tokens, hash(2)).await, Some(u.clone()));
    assert_eq!(owner(tokens, hash(3)).await, Some(v.clone()));
    assert_eq!(owner(tokens, vec![0, 255, 0, 128]).await, Some(v.clone()));
    assert_eq!(owner(tokens, hash(4)).await, None);
    assert_eq!(owner(tokens, vec![]).await, None);
    assert_eq!(
        owner(tokens, hash(1)[..31].to_vec()).await,
        None,
        "a prefix is no token"
    );

    // The owner as stored now, counters included.
    db.follow(u.id, v.id).await.unwrap();
    assert_eq!(
        owner(tokens, hash(1)).await,
        Some(fresh_user(db, u.id).await)
    );
    assert_eq!(
        owner(tokens, hash(3)).await,
        Some(fresh_user(db, v.id).await)
    );

    // Revocation is immediate and touches only that token.
    tokens.revoke(hash(1)).await.unwrap();
    assert_eq!(owner(tokens, hash(1)).await, None);
    assert_eq!(owner(tokens, hash(2)).await.map(|x| x.id), Some(u.id));
    tokens.revoke(hash(1)).await.unwrap();
    tokens.revoke(hash(99)).await.unwrap();
    tokens.revoke(vec![]).await.unwrap();
    assert_eq!(owner(tokens, hash(3)).await.map(|x| x.id), Some(v.id));

    // A revoked hash can be issued again.
    tokens.insert(v.id, hash(1)).await.unwrap();
    assert_eq!(owner(tokens, hash(1)).await.map(|x| x.id), Some(v.id));

    // A token for an account that does not exist is refused.
    assert!(tokens.insert(v.id.missing(), hash(7)).await.is_err());
    assert_eq!(owner(tokens, hash(7)).await, None);

    // Account deletion takes its tokens.
    AccountRepository::delete(db.database(), u.id)
        .await
        .unwrap();
    assert_eq!(owner(tokens, hash(2)).await, None);
    assert_eq!(owner(tokens, hash(3)).await.map(|x| x.id), Some(v.id));
}

async fn token_lookups_at_once_with(fx: &Fixture, tokens: &dyn SessionRepository) {
    let db = &fx.db;
    let people = users(db, "p", 10).await;
    for (i, p) in people.iter().enumerate() {
        tokens.insert(p.id, hash(i as u8)).await.unwrap();
    }
    for i in [1u8, 4, 7] {
        tokens.revoke(hash(i)).await.unwrap();
    }
    // 200 lookups at once over live, revoked and unknown hashes, repeats included.
    let seeds: Vec<u8> = (0..200u32).map(|i| (i * 7 % 13) as u8).collect();
    let answers = futures_util::future::join_all(seeds.iter().map(|s| tokens.find(hash(*s)))).await;
    for (seed, answer) in seeds.iter().zip(answers) {
        let expected = match *seed {
            1 | 4 | 7 | 10.. => None,
            i => Some(people[usize::from(i)].clone()),
        };
        assert_eq!(answer.unwrap().map(|t| t.user), expected, "hash {seed}");
    }
}

/// Far enough ahead that every stored use is before it.
fn far_future() -> DateTime<Utc> {
    Utc::now() + TimeDelta::days(365 * 100)
}

async fn tokens_record_issue_and_use_with(fx: &Fixture, tokens: &dyn SessionRepository) {
    let u = user(&fx.db, "u").await;
    let before = Utc::now() - TimeDelta::seconds(1);
    tokens.insert(u.id, hash(1)).await.unwrap();
    let issued = tokens.find(hash(1)).await.unwrap().unwrap();
    assert_eq!(issued.user, u);
    assert!(issued.created_at >= before && issued.created_at <= Utc::now());
    assert_eq!(
        issued.last_used_at, issued.created_at,
        "issued counts as used"
    );

    // A use is written when the stored one is older than the threshold...
    let later = issued.created_at + TimeDelta::hours(2);
    tokens
        .touch(hash(1), later, later - TimeDelta::hours(1))
        .await
        .unwrap();
    let touched = tokens.find(hash(1)).await.unwrap().unwrap();
    assert_eq!(
        touched.created_at, issued.created_at,
        "issue time never moves"
    );
    assert_eq!(
        touched.last_used_at.timestamp_micros(),
        later.timestamp_micros()
    );

    // ...and not when it is newer: racing requests write once.
    let racing = later + TimeDelta::minutes(1);
    tokens
        .touch(hash(1), racing, racing - TimeDelta::hours(1))
        .await
        .unwrap();
    let again = tokens.find(hash(1)).await.unwrap().unwrap();
    assert_eq!(again.last_used_at, touched.last_used_at);

    // Unknown tokens and out-of-range instants are no error.
    tokens.touch(hash(9), later, far_future()).await.unwrap();
    assert_eq!(owner(tokens, hash(9)).await, None);
    tokens
        .touch(hash(1), later, DateTime::<Utc>::MIN_UTC)
        .await
        .unwrap();
    assert_eq!(
        tokens.find(hash(1)).await.unwrap().unwrap().last_used_at,
        touched.last_used_at
    );
}

async fn revoke_all_takes_every_token_of_one_user_with(
    fx: &Fixture,
    tokens: &dyn SessionRepository,
) {
    let db = &fx.db;
    let u = user(db, "u").await;
    let v = user(db, "v").await;
    for seed in 1..=3 {
        tokens.insert(u.id, hash(seed)).await.unwrap();
    }
    tokens.insert(v.id, hash(4)).await.unwrap();
    assert_eq!(tokens.revoke_all(u.id).await.unwrap(), 3);
    for seed in 1..=3 {
        assert_eq!(owner(tokens, hash(seed)).await, None, "token {seed}");
    }
    assert_eq!(owner(tokens, hash(4)).await.map(|x| x.id), Some(v.id));
    assert_eq!(tokens.revoke_all(u.id).await.unwrap(), 0, "nothing left");
    assert_eq!(tokens.revoke_all(v.id.missing()).await.unwrap(), 0);
    // The user can log in again afterwards.
    tokens.insert(u.id, hash(5)).await.unwrap();
    assert_eq!(owner(tokens, hash(5)).await.map(|x| x.id), Some(u.id));
}

/// How many of the tokens `1..=seeds` still exist.
async fn live(tokens: &dyn SessionRepository, seeds: std::ops::RangeInclusive<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    for seed in seeds {
        if tokens.find(hash(seed)).await.unwrap().is_some() {
            out.push(seed);
        }
    }
    out
}

async fn expired_tokens_are_deleted_in_batches_with(fx: &Fixture, tokens: &dyn SessionRepository) {
    let db = &fx.db;
    let u = user(db, "u").await;
    let v = user(db, "v").await;
    for seed in 1..=5 {
        tokens.insert(u.id, hash(seed)).await.unwrap();
    }
    tokens.insert(v.id, hash(6)).await.unwrap();
    let now = Utc::now();
    let month_ago = now - TimeDelta::days(30);
    // Tokens 1, 2 and 6 were last used 40 days ago.
    for seed in [1, 2, 6] {
        tokens
            .touch(hash(seed), now - TimeDelta::days(40), far_future())
            .await
            .unwrap();
    }
    let long_ago = now - TimeDelta::days(3650);

    // Nothing expires at the domain's "forever" cut-offs, and they are not an error.
    let forever = DateTime::<Utc>::MIN_UTC;
    assert_eq!(
        tokens.delete_expired(forever, forever, 10).await.unwrap(),
        0
    );
    assert_eq!(live(tokens, 1..=6).await, [1, 2, 3, 4, 5, 6]);

    // Idle ones, a bounded batch at a time, whoever owns them.
    assert_eq!(
        tokens.delete_expired(long_ago, month_ago, 2).await.unwrap(),
        2
    );
    assert_eq!(live(tokens, 1..=6).await.len(), 4);
    assert_eq!(
        tokens.delete_expired(long_ago, month_ago, 2).await.unwrap(),
        1
    );
    assert_eq!(
        tokens.delete_expired(long_ago, month_ago, 2).await.unwrap(),
        0
    );
    assert_eq!(
        live(tokens, 1..=6).await,
        [3, 4, 5],
        "the recently used ones stay"
    );

    // Old ones by issue time, however recently used; a token issued after the cut-off stays.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    tokens.insert(u.id, hash(7)).await.unwrap();
    tokens
        .touch(hash(3), Utc::now(), far_future())
        .await
        .unwrap();
    assert_eq!(
        tokens.delete_expired(cutoff, forever, 1000).await.unwrap(),
        3
    );
    assert_eq!(live(tokens, 1..=7).await, [7]);
    assert_eq!(owner(tokens, hash(7)).await.map(|x| x.id), Some(u.id));
}

async fn a_password_change_revokes_every_token_but_the_one_kept(fx: Fixture) {
    let db = &fx.db;
    let u = user(db, "u").await;
    let v = user(db, "v").await;
    for seed in 1..=3 {
        db.insert(u.id, hash(seed)).await.unwrap();
    }
    db.insert(v.id, hash(4)).await.unwrap();

    // Other changes leave the tokens alone, even naming one to keep.
    db.update_profile(
        u.id,
        ProfileChanges {
            bio: Some(Bio::parse("hi").unwrap()),
            keep_token: Some(hash(2)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(live(db, 1..=4).await, [1, 2, 3, 4]);

    db.update_profile(
        u.id,
        ProfileChanges {
            password_hash: Some("new-hash".into()),
            keep_token: Some(hash(2)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        live(db, 1..=4).await,
        [2, 4],
        "only the kept one and another user's"
    );
    assert_eq!(
        db.credentials_by_id(u.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "new-hash"
    );

    // Without a token to keep, a new password revokes them all.
    db.update_profile(
        u.id,
        ProfileChanges {
            password_hash: Some("newer-hash".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(live(db, 1..=4).await, [4]);
}

/// The sweep reads the tokens expired by issue time and those expired by disuse separately: a
/// token expired both ways is deleted once, and one sweep deletes at most its batch of both kinds
/// together.
async fn a_sweep_of_both_expiries_stays_within_its_batch_with(
    fx: &Fixture,
    tokens: &dyn SessionRepository,
) {
    let u = user(&fx.db, "u").await;
    for seed in 1..=4 {
        tokens.insert(u.id, hash(seed)).await.unwrap();
    }
    let now = Utc::now();
    // All four were issued before the cut-off; the last two issued are idle too, so the oldest
    // three by issue time and the idle two are four tokens together.
    for seed in [3, 4] {
        tokens
            .touch(hash(seed), now - TimeDelta::days(40), far_future())
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    tokens.insert(u.id, hash(5)).await.unwrap();
    let month_ago = now - TimeDelta::days(30);

    assert_eq!(
        tokens.delete_expired(cutoff, month_ago, 3).await.unwrap(),
        3
    );
    assert_eq!(live(tokens, 1..=5).await.len(), 2);
    assert_eq!(
        tokens.delete_expired(cutoff, month_ago, 3).await.unwrap(),
        1
    );
    assert_eq!(
        tokens.delete_expired(cutoff, month_ago, 3).await.unwrap(),
        0
    );
    assert_eq!(live(tokens, 1..=5).await, [5], "issued after the cut-off");
}
