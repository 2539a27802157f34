//! AccountRepository: creation, lookups, profile changes, relationships, account deletion.

use std::collections::BTreeSet;

use being_social_domain::DomainError;
use being_social_domain::model::Relationship;
use being_social_domain::pagination::PageRequest;
use being_social_domain::ports::FeedRepository;
use being_social_domain::ports::{
    AccountRepository, CommentRepository, FollowRepository, LikeRepository, PostRepository,
    ProfileChanges, SessionRepository,
};
use being_social_domain::values::{Bio, FullName};

use crate::fixture::Fixture;
use crate::support::*;
use being_social_domain::model::UserId;

on_both_backends!(
    create_round_trips_every_field,
    duplicate_email_conflicts_in_any_letter_case,
    concurrent_sign_ups_with_one_email_make_one_account,
    lookups_by_email_ignore_case,
    update_profile_changes_only_what_is_given,
    update_profile_reports_the_replaced_avatar,
    update_profile_of_unknown_user_is_not_found,
    relationships_answer_in_order,
    delete_of_unknown_user_is_not_found,
    account_deletion_removes_everything_and_corrects_counters,
    account_deletion_of_a_user_without_activity,
);

on_both_backends!(duplicate_email_conflicts_for_non_ascii_letters);

on_both_backends!(update_profile_without_changes_returns_the_user);

async fn create_round_trips_every_field(fx: Fixture) {
    let db = &fx.db;
    let before = now_micros();
    let created = AccountRepository::create(
        db.database(),
        new_user("Ann.Smith@Example.com", "Ann Smith"),
    )
    .await
    .unwrap();
    let after = now_micros();
    assert!(created.id > UserId::new(0));
    assert_eq!(
        created.email, "Ann.Smith@Example.com",
        "the email is kept as typed"
    );
    assert_eq!(created.full_name, "Ann Smith");
    assert_eq!(created.bio, "");
    assert_eq!(created.avatar_key, None);
    assert_eq!(
        (
            created.post_count,
            created.follower_count,
            created.following_count
        ),
        (0, 0, 0)
    );
    assert_micros(created.created_at);
    assert!(before <= created.created_at && created.created_at <= after);

    // Reads return exactly what creation returned, timestamp included.
    assert_eq!(
        db.find_by_id(created.id).await.unwrap(),
        Some(created.clone())
    );
    let creds = db.credentials_by_id(created.id).await.unwrap().unwrap();
    assert_eq!(creds.user, created);
    assert_eq!(creds.password_hash, "hash-of-Ann.Smith@Example.com");

    let other = user(db, "bob").await;
    assert_ne!(other.id, created.id);
    assert_eq!(db.find_by_id(other.id).await.unwrap(), Some(other));
    assert_eq!(db.find_by_id(created.id.missing()).await.unwrap(), None);
    assert_eq!(
        db.credentials_by_id(created.id.missing()).await.unwrap(),
        None
    );
}

#[track_caller]
fn assert_email_taken<T: std::fmt::Debug>(result: being_social_domain::Result<T>) {
    match result {
        Err(DomainError::Conflict { code, .. }) => assert_eq!(code, "email_taken"),
        other => panic!("expected Conflict email_taken, got {other:?}"),
    }
}

async fn duplicate_email_conflicts_in_any_letter_case(fx: Fixture) {
    let db = &fx.db;
    let ann = AccountRepository::create(db.database(), new_user("Ann@Example.com", "Ann"))
        .await
        .unwrap();
    for variant in [
        "Ann@Example.com",
        "ann@example.com",
        "ANN@EXAMPLE.COM",
        "aNN@eXAMPLE.cOM",
    ] {
        assert_email_taken(
            AccountRepository::create(db.database(), new_user(variant, "Other")).await,
        );
    }
    // Nothing was half-created, and the original is untouched.
    assert_eq!(
        db.find_by_email("ann@example.com").await.unwrap(),
        Some(ann.clone())
    );
    let next = user(db, "zed").await;
    assert!(db.find_by_id(next.id).await.unwrap().is_some());
    assert_eq!(db.find_by_id(ann.id).await.unwrap(), Some(ann));
}

async fn duplicate_email_conflicts_for_non_ascii_letters(fx: Fixture) {
    let db = &fx.db;
    let zoe = AccountRepository::create(db.database(), new_user("Zoë@example.com", "Zoë"))
        .await
        .unwrap();
    assert_email_taken(
        AccountRepository::create(db.database(), new_user("ZOË@EXAMPLE.COM", "Other")).await,
    );
    assert_eq!(
        db.find_by_email("ZOË@example.com").await.unwrap(),
        Some(zoe)
    );
}

async fn concurrent_sign_ups_with_one_email_make_one_account(fx: Fixture) {
    let db = &fx.db;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let db = db.clone();
            // Every letter-case variant of the same address, all at the same instant.
            let email: String = "carol@example.com"
                .chars()
                .enumerate()
                .map(|(k, c)| {
                    if (i >> (k % 5)) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            tokio::spawn(async move {
                AccountRepository::create(db.database(), new_user(&email, "Carol")).await
            })
        })
        .collect();
    let mut created = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(user) => created.push(user),
            Err(DomainError::Conflict { code, .. }) => assert_eq!(code, "email_taken"),
            Err(other) => panic!("a concurrent sign-up failed with {other:?}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one account: {created:?}");
    assert_eq!(
        db.find_by_email("CAROL@example.com").await.unwrap(),
        Some(created[0].clone())
    );
}

async fn lookups_by_email_ignore_case(fx: Fixture) {
    let db = &fx.db;
    let dora = AccountRepository::create(db.database(), new_user("Dora@Example.org", "Dora"))
        .await
        .unwrap();
    let _eve = user(db, "eve").await;
    for variant in ["Dora@Example.org", "dora@example.org", "DORA@EXAMPLE.ORG"] {
        assert_eq!(
            db.find_by_email(variant).await.unwrap(),
            Some(dora.clone()),
            "{variant}"
        );
        let creds = db.credentials_by_email(variant).await.unwrap().unwrap();
        assert_eq!(creds.user, dora, "{variant}");
        assert_eq!(creds.password_hash, "hash-of-Dora@Example.org");
    }
    for unknown in [
        "nobody@example.org",
        "dora@example.com",
        "dora",
        "",
        "%@example.org",
        "d_ra@example.org",
        " dora@example.org",
    ] {
        assert_eq!(db.find_by_email(unknown).await.unwrap(), None, "{unknown}");
        assert_eq!(
            db.credentials_by_email(unknown).await.unwrap(),
            None,
            "{unknown}"
        );
    }
}

async fn update_profile_changes_only_what_is_given(fx: Fixture) {
    let db = &fx.db;
    let gil = user(db, "gil").await;
    let other = user(db, "other").await;
    db.follow(other.id, gil.id).await.unwrap();
    post(db, gil.id, "g1").await;
    let gil = fresh_user(db, gil.id).await;

    let updated = db
        .update_profile(
            gil.id,
            ProfileChanges {
                full_name: Some(FullName::parse("Gil Renamed").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.replaced_avatar, None);
    let expected = being_social_domain::model::User {
        full_name: "Gil Renamed".into(),
        ..gil.clone()
    };
    assert_eq!(updated.user, expected);
    assert_eq!(fresh_user(db, gil.id).await, expected);

    let updated = db
        .update_profile(
            gil.id,
            ProfileChanges {
                bio: Some(Bio::parse("Photographer").unwrap()),
                password_hash: Some("new-hash".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let expected = being_social_domain::model::User {
        bio: "Photographer".into(),
        ..expected
    };
    assert_eq!(updated.user, expected);
    assert_eq!(updated.replaced_avatar, None);
    let creds = db.credentials_by_id(gil.id).await.unwrap().unwrap();
    assert_eq!(creds.password_hash, "new-hash");
    assert_eq!(creds.user, expected);
    // Another user is untouched.
    assert_eq!(fresh_user(db, other.id).await.full_name, "other");
    assert_eq!(
        db.credentials_by_id(other.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "hash-of-other@example.com"
    );
    assert_no_drift(db).await;
}

async fn update_profile_reports_the_replaced_avatar(fx: Fixture) {
    let db = &fx.db;
    let hal = user(db, "hal").await;
    let avatar = |key: &str| ProfileChanges {
        avatar_key: Some(key.to_owned()),
        ..Default::default()
    };
    let first = db
        .update_profile(hal.id, avatar("avatar-1.png"))
        .await
        .unwrap();
    assert_eq!(first.replaced_avatar, None, "there was no avatar before");
    assert_eq!(first.user.avatar_key.as_deref(), Some("avatar-1.png"));

    let second = db
        .update_profile(hal.id, avatar("avatar-2.png"))
        .await
        .unwrap();
    assert_eq!(second.replaced_avatar.as_deref(), Some("avatar-1.png"));
    assert_eq!(second.user.avatar_key.as_deref(), Some("avatar-2.png"));

    // A change that does not touch the avatar replaces nothing and keeps it.
    let third = db
        .update_profile(
            hal.id,
            ProfileChanges {
                bio: Some(Bio::parse("hi").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(third.replaced_avatar, None);
    assert_eq!(third.user.avatar_key.as_deref(), Some("avatar-2.png"));

    // Each new avatar names the one it replaced.
    let fourth = db
        .update_profile(hal.id, avatar("avatar-3.png"))
        .await
        .unwrap();
    assert_eq!(fourth.replaced_avatar.as_deref(), Some("avatar-2.png"));
    assert_eq!(
        fresh_user(db, hal.id).await.avatar_key.as_deref(),
        Some("avatar-3.png")
    );
    // Posts and comments show the author's avatar.
    let p = post(db, hal.id, "h").await;
    assert_eq!(p.author.avatar_key.as_deref(), Some("avatar-3.png"));
    assert_eq!(p.author, fresh_user(db, hal.id).await.summary());
}

async fn update_profile_without_changes_returns_the_user(fx: Fixture) {
    let db = &fx.db;
    let ivy = user(db, "ivy").await;
    let updated = db
        .update_profile(ivy.id, ProfileChanges::default())
        .await
        .expect("an empty change applies nothing and returns the user");
    assert_eq!(updated.user, ivy);
    assert_eq!(updated.replaced_avatar, None);
}

async fn update_profile_of_unknown_user_is_not_found(fx: Fixture) {
    let db = &fx.db;
    let jo = user(db, "jo").await;
    assert_not_found(
        db.update_profile(
            jo.id.missing(),
            ProfileChanges {
                bio: Some(Bio::parse("x").unwrap()),
                ..Default::default()
            },
        )
        .await,
        Resource::User,
    );
    assert_not_found(
        db.update_profile(jo.id.missing(), ProfileChanges::default())
            .await,
        Resource::User,
    );
    AccountRepository::delete(db.database(), jo.id)
        .await
        .unwrap();
    assert_not_found(
        db.update_profile(
            jo.id,
            ProfileChanges {
                avatar_key: Some("a.png".into()),
                ..Default::default()
            },
        )
        .await,
        Resource::User,
    );
}

async fn relationships_answer_in_order(fx: Fixture) {
    let db = &fx.db;
    let [a, b, c, d] = <[_; 4]>::try_from(users(db, "r", 4).await).unwrap();
    db.follow(a.id, b.id).await.unwrap(); // a → b
    db.follow(c.id, a.id).await.unwrap(); // c → a
    db.follow(a.id, d.id).await.unwrap(); // a ↔ d
    db.follow(d.id, a.id).await.unwrap();
    db.follow(b.id, c.id).await.unwrap(); // unrelated to a

    let none = Relationship::default();
    let following = Relationship {
        is_following: true,
        follows_you: false,
    };
    let follower = Relationship {
        is_following: false,
        follows_you: true,
    };
    let mutual = Relationship {
        is_following: true,
        follows_you: true,
    };
    let answer = db
        .relationships(a.id, vec![b.id, c.id, d.id, d.id.missing(), a.id, b.id])
        .await
        .unwrap();
    assert_eq!(
        answer,
        vec![following, follower, mutual, none, none, following]
    );
    assert_eq!(
        db.relationships(b.id, vec![a.id, c.id]).await.unwrap(),
        vec![follower, following]
    );
    assert_eq!(db.relationships(a.id, vec![]).await.unwrap(), vec![]);
    // A viewer that does not exist relates to nobody.
    assert_eq!(
        db.relationships(d.id.missing(), vec![a.id, b.id])
            .await
            .unwrap(),
        vec![none, none]
    );
    db.unfollow(d.id, a.id).await.unwrap();
    assert_eq!(
        db.relationships(a.id, vec![d.id]).await.unwrap(),
        vec![following]
    );
}

async fn delete_of_unknown_user_is_not_found(fx: Fixture) {
    let db = &fx.db;
    let kim = user(db, "kim").await;
    assert_not_found(
        AccountRepository::delete(db.database(), kim.id.missing()).await,
        Resource::User,
    );
    AccountRepository::delete(db.database(), kim.id)
        .await
        .unwrap();
    assert_not_found(
        AccountRepository::delete(db.database(), kim.id).await,
        Resource::User,
    );
}

async fn account_deletion_of_a_user_without_activity(fx: Fixture) {
    let db = &fx.db;
    let lee = user(db, "lee").await;
    let removed = AccountRepository::delete(db.database(), lee.id)
        .await
        .unwrap();
    assert_eq!(removed.keys, Vec::<String>::new());
    assert_eq!(db.find_by_id(lee.id).await.unwrap(), None);
    assert_eq!(db.find_by_email("lee@example.com").await.unwrap(), None);
    assert_eq!(
        db.credentials_by_email("lee@example.com").await.unwrap(),
        None
    );
    assert_eq!(db.credentials_by_id(lee.id).await.unwrap(), None);
    // The email is free again.
    let again = user(db, "lee").await;
    assert_eq!(user_counts(db, again.id).await, (0, 0, 0));
}

async fn account_deletion_removes_everything_and_corrects_counters(fx: Fixture) {
    let db = &fx.db;
    let d = user(db, "doomed").await;
    let a = user(db, "alice").await;
    let b = user(db, "bert").await;
    let c = user(db, "cleo").await;

    // Follows: d → a, d → b, a → d, c → d, b → a (unrelated to d).
    for (follower, leader) in [
        (d.id, a.id),
        (d.id, b.id),
        (a.id, d.id),
        (c.id, d.id),
        (b.id, a.id),
    ] {
        assert!(db.follow(follower, leader).await.unwrap());
    }
    db.update_profile(
        d.id,
        ProfileChanges {
            avatar_key: Some("avatar-d.png".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let p1 = post(db, d.id, "d1").await;
    let p2 = post(db, d.id, "d2").await;
    let pa = post(db, a.id, "a1").await;
    let pb = post(db, b.id, "b1").await;

    // Likes: on d's post by a, b and d; on others' posts by d and c.
    for (liker, target) in [
        (a.id, p1.id),
        (b.id, p1.id),
        (d.id, p1.id),
        (d.id, pa.id),
        (d.id, pb.id),
        (c.id, pa.id),
        (a.id, pb.id),
    ] {
        assert!(db.like(liker, target).await.unwrap().created);
    }

    // Comments on a's post: a top-level comment by a with replies by d and b; a top-level
    // comment by d with a reply by a, itself replied to by c (all three go with d).
    let ca1 = comment(db, pa.id, None, a.id, "nice").await;
    let cd1 = comment(db, pa.id, None, d.id, "by d").await;
    let r1 = comment(db, pa.id, Some(cd1.id), a.id, "reply to d").await;
    let r2 = comment(db, pa.id, Some(r1.id), c.id, "deeper").await;
    let rd = comment(db, pa.id, Some(ca1.id), d.id, "d replies").await;
    let rb = comment(db, pa.id, Some(ca1.id), b.id, "b replies").await;
    // A reply by d to its own reply, under a's comment.
    let rdd = comment(db, pa.id, Some(rd.id), d.id, "d again").await;
    // On b's post, one comment by d; on d's own post, one comment by a with a reply by d.
    let cd2 = comment(db, pb.id, None, d.id, "by d on b").await;
    let cb2 = comment(db, pb.id, None, b.id, "b on own").await;
    let cp1 = comment(db, p1.id, None, a.id, "a on d").await;
    let _rp1 = comment(db, p1.id, Some(cp1.id), d.id, "d answers").await;

    // Tokens.
    db.insert(d.id, vec![1; 32]).await.unwrap();
    db.insert(d.id, vec![2; 32]).await.unwrap();
    db.insert(a.id, vec![3; 32]).await.unwrap();

    assert_eq!(post_counts(db, pa.id).await, (2, 7));
    assert_eq!(post_counts(db, pb.id).await, (2, 2));
    assert_no_drift(db).await;

    let removed = AccountRepository::delete(db.database(), d.id)
        .await
        .unwrap();
    let keys: BTreeSet<String> = removed.keys.iter().cloned().collect();
    assert_eq!(
        removed.keys.len(),
        keys.len(),
        "no key twice: {:?}",
        removed.keys
    );
    let expected: BTreeSet<String> = [
        "image-d1.jpg",
        "thumb-d1.jpg",
        "image-d2.jpg",
        "thumb-d2.jpg",
        "avatar-d.png",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(keys, expected);

    // The account and everything of it.
    assert_eq!(db.find_by_id(d.id).await.unwrap(), None);
    assert_eq!(db.find_by_email("doomed@example.com").await.unwrap(), None);
    assert_eq!(db.credentials_by_id(d.id).await.unwrap(), None);
    assert_eq!(db.find(vec![1; 32]).await.unwrap().map(|t| t.user), None);
    assert_eq!(db.find(vec![2; 32]).await.unwrap().map(|t| t.user), None);
    assert_eq!(
        db.find(vec![3; 32])
            .await
            .unwrap()
            .map(|t| t.user)
            .map(|u| u.id),
        Some(a.id)
    );
    assert_eq!(db.get(p1.id, None).await.unwrap(), None);
    assert_eq!(db.get(p2.id, None).await.unwrap(), None);
    assert_eq!(db.author_of(p1.id).await.unwrap(), None);
    assert!(
        db.likers(p1.id, PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_not_found(
        db.list(p1.id, None, PageRequest::first(10)).await,
        Resource::Post,
    );
    assert_eq!(db.ownership(cp1.id).await.unwrap(), None);
    for gone in [cd1.id, r1.id, r2.id, rd.id, rdd.id, cd2.id] {
        assert_eq!(db.ownership(gone).await.unwrap(), None, "comment {gone}");
    }
    assert!(
        db.by_author(d.id, a.id, PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Everyone else's counters, by value.
    assert_eq!(
        user_counts(db, a.id).await,
        (1, 1, 0),
        "a: followed by b only, follows nobody"
    );
    assert_eq!(user_counts(db, b.id).await, (1, 0, 1), "b: follows a");
    assert_eq!(user_counts(db, c.id).await, (0, 0, 0), "c: followed d only");
    assert_eq!(
        post_counts(db, pa.id).await,
        (1, 2),
        "pa: c's like; ca1 and rb"
    );
    assert_eq!(post_counts(db, pb.id).await, (1, 1), "pb: a's like; cb2");
    let top = comments_under(db, pa.id, None).await;
    assert_eq!(comment_ids(&top), vec![ca1.id]);
    assert_eq!(top[0].reply_count, 1, "ca1 keeps rb only");
    assert_eq!(
        comment_ids(&comments_under(db, pa.id, Some(ca1.id)).await),
        vec![rb.id]
    );
    assert_not_found(
        db.list(pa.id, Some(cd1.id), PageRequest::first(10)).await,
        Resource::Comment,
    );
    assert_eq!(
        comment_ids(&comments_under(db, pb.id, None).await),
        vec![cb2.id]
    );

    // Lists and relationships no longer mention d.
    let ids = |page: being_social_domain::pagination::Page<
        being_social_domain::model::ListedUser,
    >| page.items.iter().map(|l| l.user.id).collect::<Vec<_>>();
    assert_eq!(
        ids(db.followers(a.id, PageRequest::first(10)).await.unwrap()),
        vec![b.id]
    );
    assert_eq!(
        ids(db.following(a.id, PageRequest::first(10)).await.unwrap()),
        Vec::<UserId>::new()
    );
    assert_eq!(
        ids(db.followers(b.id, PageRequest::first(10)).await.unwrap()),
        Vec::<UserId>::new()
    );
    assert_eq!(
        ids(db.following(c.id, PageRequest::first(10)).await.unwrap()),
        Vec::<UserId>::new()
    );
    assert_eq!(
        ids(db.likers(pa.id, PageRequest::first(10)).await.unwrap()),
        vec![c.id]
    );
    assert_eq!(
        ids(db.likers(pb.id, PageRequest::first(10)).await.unwrap()),
        vec![a.id]
    );
    assert_eq!(
        db.relationships(a.id, vec![d.id]).await.unwrap(),
        vec![Relationship::default()]
    );
    let feed = db.feed(c.id, PageRequest::first(10)).await.unwrap();
    assert!(feed.items.is_empty(), "c followed only d");
    assert_no_drift(db).await;

    // The email can be used again, by a fresh account.
    let again = user(db, "doomed").await;
    assert_eq!(user_counts(db, again.id).await, (0, 0, 0));
    assert!(!db.unlike(again.id, pa.id).await.unwrap());
    assert_no_drift(db).await;
}
