//! TokenRepository, through `Database` and through `CoalescedTokens`.

use being_social_domain::ports::{FollowRepository, TokenRepository, UserRepository};
use being_social_infra::db::CoalescedTokens;

use crate::fixture::Fixture;
use crate::support::*;

on_both_backends!(
    direct_tokens_insert_find_and_revoke,
    coalesced_tokens_insert_find_and_revoke,
    direct_token_lookups_at_once,
    coalesced_token_lookups_at_once,
);

async fn direct_tokens_insert_find_and_revoke(fx: &Fixture) {
    tokens_insert_find_and_revoke(fx, &fx.db).await;
}
async fn coalesced_tokens_insert_find_and_revoke(fx: &Fixture) {
    tokens_insert_find_and_revoke(fx, &CoalescedTokens::new(fx.db.clone())).await;
}
async fn direct_token_lookups_at_once(fx: &Fixture) {
    token_lookups_at_once(fx, &fx.db).await;
}
async fn coalesced_token_lookups_at_once(fx: &Fixture) {
    token_lookups_at_once(fx, &CoalescedTokens::new(fx.db.clone())).await;
}

fn hash(seed: u8) -> Vec<u8> {
    (0..32u8)
        .map(|i| i.wrapping_mul(7).wrapping_add(seed))
        .collect()
}

async fn tokens_insert_find_and_revoke(fx: &Fixture, tokens: &dyn TokenRepository) {
    let db = &fx.db;
    let u = user(db, "u").await;
    let v = user(db, "v").await;
    tokens.insert(u.id, hash(1)).await.unwrap();
    tokens.insert(u.id, hash(2)).await.unwrap();
    tokens.insert(v.id, hash(3)).await.unwrap();
    // Hashes are arbitrary bytes, not text.
    tokens.insert(v.id, vec![0, 255, 0, 128]).await.unwrap();

    assert_eq!(tokens.user_for(hash(1)).await.unwrap(), Some(u.clone()));
    assert_eq!(tokens.user_for(hash(2)).await.unwrap(), Some(u.clone()));
    assert_eq!(tokens.user_for(hash(3)).await.unwrap(), Some(v.clone()));
    assert_eq!(
        tokens.user_for(vec![0, 255, 0, 128]).await.unwrap(),
        Some(v.clone())
    );
    assert_eq!(tokens.user_for(hash(4)).await.unwrap(), None);
    assert_eq!(tokens.user_for(vec![]).await.unwrap(), None);
    assert_eq!(
        tokens.user_for(hash(1)[..31].to_vec()).await.unwrap(),
        None,
        "a prefix is no token"
    );

    // The owner as stored now, counters included.
    db.follow(u.id, v.id).await.unwrap();
    assert_eq!(
        tokens.user_for(hash(1)).await.unwrap(),
        Some(fresh_user(db, u.id).await)
    );
    assert_eq!(
        tokens.user_for(hash(3)).await.unwrap(),
        Some(fresh_user(db, v.id).await)
    );

    // Revocation is immediate and touches only that token.
    tokens.revoke(hash(1)).await.unwrap();
    assert_eq!(tokens.user_for(hash(1)).await.unwrap(), None);
    assert_eq!(
        tokens.user_for(hash(2)).await.unwrap().map(|x| x.id),
        Some(u.id)
    );
    tokens.revoke(hash(1)).await.unwrap();
    tokens.revoke(hash(99)).await.unwrap();
    tokens.revoke(vec![]).await.unwrap();
    assert_eq!(
        tokens.user_for(hash(3)).await.unwrap().map(|x| x.id),
        Some(v.id)
    );

    // A revoked hash can be issued again.
    tokens.insert(v.id, hash(1)).await.unwrap();
    assert_eq!(
        tokens.user_for(hash(1)).await.unwrap().map(|x| x.id),
        Some(v.id)
    );

    // A token for an account that does not exist is refused.
    assert!(tokens.insert(v.id + 1000, hash(7)).await.is_err());
    assert_eq!(tokens.user_for(hash(7)).await.unwrap(), None);

    // Account deletion takes its tokens.
    UserRepository::delete(db, u.id).await.unwrap();
    assert_eq!(tokens.user_for(hash(2)).await.unwrap(), None);
    assert_eq!(
        tokens.user_for(hash(3)).await.unwrap().map(|x| x.id),
        Some(v.id)
    );
}

async fn token_lookups_at_once(fx: &Fixture, tokens: &dyn TokenRepository) {
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
    let answers =
        futures_util::future::join_all(seeds.iter().map(|s| tokens.user_for(hash(*s)))).await;
    for (seed, answer) in seeds.iter().zip(answers) {
        let expected = match *seed {
            1 | 4 | 7 | 10.. => None,
            i => Some(people[usize::from(i)].clone()),
        };
        assert_eq!(answer.unwrap(), expected, "hash {seed}");
    }
}
