use std::collections::HashSet;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error, ids, with_settings};

on_both_backends!(
    follow_then_repeat,
    follow_refusals,
    unfollow_is_idempotent,
    remove_follower,
    lists_are_most_recent_first_with_relationships,
    lists_refusals,
    pagination_walks_every_item_once,
    pagination_is_stable_while_follows_arrive,
    pagination_parameters_are_checked,
    concurrent_mutual_follows,
    concurrent_fan_in_and_out,
    concurrent_repeats_of_one_follow,
    concurrent_follows_while_the_leader_deletes_its_account,
    concurrent_mixed_follow_storm,
);
on_both_backends!(
    the_follow_limit_holds_even_for_follows_sent_at_once,
    start: with_settings(|settings| settings.max_following = 3)
);

async fn follow(app: &TestApp, from: &TestUser, to: &TestUser) -> (StatusCode, Value) {
    app.as_(from).follow(&to).await
}

async fn unfollow(app: &TestApp, from: &TestUser, to: &TestUser) -> (StatusCode, Value) {
    app.as_(from).unfollow(&to).await
}

/// `me` removes `follower` from its followers.
async fn remove(app: &TestApp, me: &TestUser, follower: &TestUser) -> (StatusCode, Value) {
    app.as_(me).remove_follower(&follower).await
}

/// `DELETE path` by `user` with a `Bearer` token, with and without the trailing slash: `204`.
async fn deleted_again(app: &TestApp, user: &TestUser, path: &str) {
    let bearer = format!("Bearer {}", user.token);
    for path in [path, path.trim_end_matches('/')] {
        let (status, _, body) = app
            .call_with_header(Method::DELETE, path, Some(&bearer), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "repeat at {path}: {body}");
    }
}

/// `(follower_count, following_count)` as the API shows them.
async fn counts(app: &TestApp, user: &TestUser) -> (i64, i64) {
    let (status, body) = app.anonymous().profile(&user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["follower_count"].as_i64().unwrap(),
        body["following_count"].as_i64().unwrap(),
    )
}

fn assert_no_server_errors(answers: &[(StatusCode, Value)], what: &str) {
    for (status, body) in answers {
        assert!(
            !status.is_server_error(),
            "{what}: a server error under concurrency: {status} {body}"
        );
    }
}

async fn follow_then_repeat(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;

    let (status, body) = follow(&app, &ann, &bob).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({"following": true}));
    assert_eq!(counts(&app, &ann).await, (0, 1));
    assert_eq!(counts(&app, &bob).await, (1, 0));

    // Repeats, in every form: 200, nothing changes.
    for path in [
        format!("/accounts/follow/{}/", bob.id),
        format!("/accounts/follow/{}", bob.id),
    ] {
        for header in [
            format!("Token {}", ann.token),
            format!("Bearer {}", ann.token),
        ] {
            let (status, _, body) = app
                .call_with_header(Method::POST, &path, Some(&header), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{path} {header}: {body}");
            assert_eq!(body, json!({"following": true}));
        }
    }
    assert_eq!(counts(&app, &ann).await, (0, 1));
    assert_eq!(counts(&app, &bob).await, (1, 0));

    // The other direction is a new follow; Bearer and the bare path work for it too.
    let (status, _, body) = app
        .call_with_header(
            Method::POST,
            &format!("/accounts/follow/{}", ann.id),
            Some(&format!("Bearer {}", bob.token)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(counts(&app, &ann).await, (1, 1));
    assert_eq!(counts(&app, &bob).await, (1, 1));
    let (_, me) = app.as_(&ann).me().await;
    assert_eq!(me["follower_count"], 1);
    assert_eq!(me["following_count"], 1);
    app.assert_counters_exact().await;
}

async fn follow_refusals(app: TestApp) {
    let ann = app.user("self").await;
    for path in [
        format!("/accounts/follow/{}/", ann.id),
        format!("/accounts/follow/{}", ann.id),
    ] {
        let (status, body) = app.post(&path, Some(&ann.token), json!({})).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "cannot_follow_self");
    }
    for id in ["999999", "0", "-1", "99999999999999999999"] {
        let (status, body) = app.as_(&ann).follow(id).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let bob = app.user("target").await;
    app.assert_unauthenticated_call(Method::POST, &format!("/accounts/follow/{}/", bob.id), None)
        .await;
    app.assert_unauthenticated_call(
        Method::POST,
        &format!("/accounts/follow/{}/", bob.id),
        Some("Token made-up-token"),
    )
    .await;
    assert_eq!(counts(&app, &ann).await, (0, 0));
    assert_eq!(counts(&app, &bob).await, (0, 0));
    app.assert_counters_exact().await;
}

async fn unfollow_is_idempotent(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let cat = app.user("cat").await;
    assert_eq!(follow(&app, &ann, &bob).await.0, StatusCode::CREATED);
    assert_eq!(follow(&app, &bob, &ann).await.0, StatusCode::CREATED);
    assert_eq!(follow(&app, &cat, &bob).await.0, StatusCode::CREATED);

    let (status, body) = unfollow(&app, &ann, &bob).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(body.is_null(), "{body}");
    assert_eq!(counts(&app, &ann).await, (1, 0));
    assert_eq!(
        counts(&app, &bob).await,
        (1, 1),
        "bob keeps cat and his own follow"
    );
    deleted_again(&app, &ann, &format!("/accounts/follow/{}/", bob.id)).await;
    assert_eq!(counts(&app, &ann).await, (1, 0));
    assert_eq!(counts(&app, &bob).await, (1, 1));

    // Never followed, or yourself: nothing to undo.
    let (status, _) = unfollow(&app, &ann, &cat).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = unfollow(&app, &ann, &ann).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // An unknown user is either already not followed or not found, never a server error.
    let (status, body) = app
        .delete("/accounts/follow/999999/", Some(&ann.token))
        .await;
    assert!(
        status == StatusCode::NO_CONTENT || status == StatusCode::NOT_FOUND,
        "{status} {body}"
    );
    app.assert_unauthenticated_call(
        Method::DELETE,
        &format!("/accounts/follow/{}/", bob.id),
        None,
    )
    .await;

    assert_eq!(counts(&app, &ann).await, (1, 0));
    assert_eq!(counts(&app, &cat).await, (0, 1));
    // Following again after unfollowing is a new follow.
    assert_eq!(follow(&app, &ann, &bob).await.0, StatusCode::CREATED);
    assert_eq!(counts(&app, &bob).await, (2, 1));
    app.assert_counters_exact().await;
}

async fn remove_follower(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let cat = app.user("cat").await;
    // bob and cat follow ann; ann follows bob and cat.
    for (from, to) in [(&bob, &ann), (&cat, &ann), (&ann, &bob), (&ann, &cat)] {
        assert_eq!(follow(&app, from, to).await.0, StatusCode::CREATED);
    }
    assert_eq!(counts(&app, &ann).await, (2, 2));

    let (status, body) = app.as_(&ann).remove_follower(&bob).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // Only bob's follow of ann is gone; ann still follows bob.
    assert_eq!(counts(&app, &ann).await, (1, 2));
    assert_eq!(counts(&app, &bob).await, (1, 0));
    let followers = app
        .walk(&format!("/accounts/follower/{}/", ann.id), Some(&ann.token))
        .await;
    assert_eq!(ids(&followers), vec![cat.id]);
    let following = app
        .walk(
            &format!("/accounts/following/{}/", bob.id),
            Some(&bob.token),
        )
        .await;
    assert!(following.is_empty(), "{following:?}");
    let (_, seen_by_bob) = app.as_(&bob).profile(&ann).await;
    assert_eq!(seen_by_bob["is_following"], false);
    assert_eq!(seen_by_bob["follows_you"], true);

    // Repeats and non-followers: 204, nothing changes.
    deleted_again(
        &app,
        &ann,
        &format!("/accounts/remove-follower/{}/", bob.id),
    )
    .await;
    let dan = app.user("dan").await;
    let (status, _) = app.as_(&ann).remove_follower(&dan).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.as_(&ann).remove_follower(&ann).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Removing a follower is not unfollowing them: cat follows ann and ann follows cat; when cat
    // removes ann as a follower, cat still follows ann.
    let (status, _) = app.as_(&cat).remove_follower(&ann).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(counts(&app, &cat).await, (0, 1));
    assert_eq!(counts(&app, &ann).await, (1, 1));
    app.assert_unauthenticated_call(
        Method::DELETE,
        &format!("/accounts/remove-follower/{}/", cat.id),
        None,
    )
    .await;
    assert_eq!(counts(&app, &ann).await, (1, 1));
    // The removed follower may follow again.
    assert_eq!(follow(&app, &bob, &ann).await.0, StatusCode::CREATED);
    assert_eq!(counts(&app, &ann).await, (2, 1));
    app.assert_counters_exact().await;
}

async fn lists_are_most_recent_first_with_relationships(app: TestApp) {
    let star = app.user("star").await;
    let fans = app.users("fan", 4).await;
    let viewer = app.user("viewer").await;
    for fan in &fans {
        assert_eq!(follow(&app, fan, &star).await.0, StatusCode::CREATED);
    }
    // star follows fan1 then fan3 then viewer.
    for leader in [&fans[1], &fans[3], &viewer] {
        assert_eq!(follow(&app, &star, leader).await.0, StatusCode::CREATED);
    }
    // The viewer follows fan0 and fan1; fan1 and fan2 follow the viewer.
    for (from, to) in [
        (&viewer, &fans[0]),
        (&viewer, &fans[1]),
        (&fans[1], &viewer),
        (&fans[2], &viewer),
    ] {
        assert_eq!(follow(&app, from, to).await.0, StatusCode::CREATED);
    }

    let expected_followers: Vec<i64> = fans.iter().rev().map(|f| f.id).collect();
    for path in [
        format!("/accounts/follower/{}/", star.id),
        format!("/accounts/follower/{}", star.id),
        format!("/accounts/follower/{}/", star.email),
        format!("/accounts/follower/{}/", star.email.to_uppercase()),
    ] {
        let (status, body) = app.get(&path, Some(&viewer.token)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body["next"].is_null(), "{body}");
        let items = body["results"].as_array().unwrap();
        assert_eq!(ids(items), expected_followers, "{path}: most recent first");
        for item in items {
            let id = item["id"].as_i64().unwrap();
            let is_following = id == fans[0].id || id == fans[1].id;
            let follows_you = id == fans[1].id || id == fans[2].id;
            assert_eq!(item["is_following"], is_following, "{item}");
            assert_eq!(item["follows_you"], follows_you, "{item}");
            assert!(item.get("email").is_none() && item["full_name"].is_string());
            assert!(item.get("posts").is_none(), "{item}");
            assert!(item.get("password_hash").is_none());
        }
        let fan1 = items.iter().find(|i| i["id"] == fans[1].id).unwrap();
        assert_eq!(fan1["following_count"], 2, "{fan1}");
        assert_eq!(fan1["follower_count"], 2, "{fan1}");
    }

    for path in [
        format!("/accounts/following/{}/", star.id),
        format!("/accounts/following/{}", star.email),
    ] {
        let (status, body) = app.get(&path, Some(&viewer.token)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let items = body["results"].as_array().unwrap();
        assert_eq!(
            ids(items),
            vec![viewer.id, fans[3].id, fans[1].id],
            "{path}"
        );
        // The viewer appears in the list as itself: it does not follow itself.
        assert_eq!(items[0]["is_following"], false);
        assert_eq!(items[0]["follows_you"], false);
        assert_eq!(items[1]["is_following"], false);
        assert_eq!(items[1]["follows_you"], false);
        assert_eq!(items[2]["is_following"], true);
        assert_eq!(items[2]["follows_you"], true);
    }

    // The same list seen by star: star follows fan1 and fan3, all four fans follow star.
    let items = app
        .walk(
            &format!("/accounts/follower/{}/", star.id),
            Some(&star.token),
        )
        .await;
    for item in &items {
        let id = item["id"].as_i64().unwrap();
        assert_eq!(
            item["is_following"],
            id == fans[1].id || id == fans[3].id,
            "{item}"
        );
        assert_eq!(item["follows_you"], true, "{item}");
    }

    // Following someone again after unfollowing moves them to the front.
    assert_eq!(
        unfollow(&app, &fans[0], &star).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(follow(&app, &fans[0], &star).await.0, StatusCode::CREATED);
    let items = app
        .walk(
            &format!("/accounts/follower/{}/", star.id),
            Some(&star.token),
        )
        .await;
    assert_eq!(
        ids(&items),
        vec![fans[0].id, fans[3].id, fans[2].id, fans[1].id]
    );

    // Lists of someone with no follows.
    let loner = app.user("loner").await;
    for path in [
        format!("/accounts/follower/{}/", loner.id),
        format!("/accounts/following/{}/", loner.id),
    ] {
        let (status, body) = app.get(&path, Some(&viewer.token)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"results": [], "next": null}));
    }
}

async fn lists_refusals(app: TestApp) {
    let user = app.user("lister").await;
    let revoked = app.revoked_token(&user).await;

    for list in ["follower", "following"] {
        for who in ["999999", "nobody@example.com", "0"] {
            let (status, body) = app
                .get(&format!("/accounts/{list}/{who}/"), Some(&user.token))
                .await;
            assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        }
        for path in [
            format!("/accounts/{list}/{}/", user.id),
            format!("/accounts/{list}/{}", user.id),
        ] {
            for header in [
                None,
                Some(format!("Token {revoked}")),
                Some("Bearer nope".to_owned()),
            ] {
                app.assert_unauthenticated_call(Method::GET, &path, header.as_deref())
                    .await;
            }
            let (status, _, body) = app
                .call_with_header(
                    Method::GET,
                    &path,
                    Some(&format!("Bearer {}", user.token)),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
}

async fn pagination_walks_every_item_once(app: TestApp) {
    let star = app.user("star").await;
    let fans = app.users("fan", 25).await;
    for fan in &fans {
        assert_eq!(follow(&app, fan, &star).await.0, StatusCode::CREATED);
    }
    // star follows the same 25, in the opposite order.
    for fan in fans.iter().rev() {
        assert_eq!(follow(&app, &star, fan).await.0, StatusCode::CREATED);
    }
    let newest_fan_first: Vec<i64> = fans.iter().rev().map(|f| f.id).collect();
    let oldest_fan_first: Vec<i64> = fans.iter().map(|f| f.id).collect();

    let (status, first) = app
        .get(
            &format!("/accounts/follower/{}/?limit=7", star.id),
            Some(&star.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["results"].as_array().unwrap().len(), 7);
    let next = first["next"].as_str().unwrap();
    assert!(
        next.starts_with("http://") && next.contains("limit=7"),
        "{next}"
    );

    for (list, expected) in [
        ("follower", &newest_fan_first),
        ("following", &oldest_fan_first),
    ] {
        for limit in [1, 7, 24, 25, 26, 100] {
            let items = app
                .walk(
                    &format!("/accounts/{list}/{}/?limit={limit}", star.id),
                    Some(&fans[0].token),
                )
                .await;
            let got = ids(&items);
            assert_eq!(&got, expected, "{list} with limit={limit}");
            let unique: HashSet<i64> = got.iter().copied().collect();
            assert_eq!(unique.len(), 25, "{list} with limit={limit}: each once");
        }
        // The page sizes of a walk with limit=7.
        let mut path = format!("/accounts/{list}/{}/?limit=7", star.id);
        let mut sizes = Vec::new();
        loop {
            let (status, page) = app.get(&path, Some(&star.token)).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            sizes.push(page["results"].as_array().unwrap().len());
            match page["next"].as_str() {
                Some(next) => path = next.trim_start_matches(&app.address).to_owned(),
                None => break,
            }
        }
        assert_eq!(sizes, vec![7, 7, 7, 4], "{list}");
        // The default page holds them all (30).
        let (status, page) = app
            .get(&format!("/accounts/{list}/{}/", star.id), Some(&star.token))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["results"].as_array().unwrap().len(), 25);
        assert!(page["next"].is_null());
    }
}

async fn pagination_is_stable_while_follows_arrive(app: TestApp) {
    let star = app.user("star").await;
    let early = app.users("early", 12).await;
    let late = app.users("late", 6).await;
    for fan in &early {
        assert_eq!(follow(&app, fan, &star).await.0, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut path = format!("/accounts/follower/{}/?limit=5", star.id);
    let mut late_iter = late.iter();
    loop {
        let (status, page) = app.get(&path, Some(&star.token)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(page["results"].as_array().unwrap()));
        // New followers arrive between the pages.
        for _ in 0..2 {
            if let Some(fan) = late_iter.next() {
                assert_eq!(follow(&app, fan, &star).await.0, StatusCode::CREATED);
            }
        }
        match page["next"].as_str() {
            Some(next) => path = next.trim_start_matches(&app.address).to_owned(),
            None => break,
        }
    }
    let expected: Vec<i64> = early.iter().rev().map(|f| f.id).collect();
    assert_eq!(
        seen, expected,
        "the walk shows each early follower once, in order"
    );
    // A fresh walk sees everyone, newest first.
    let all = app
        .walk(
            &format!("/accounts/follower/{}/?limit=4", star.id),
            Some(&star.token),
        )
        .await;
    let got = ids(&all);
    assert_eq!(got.len(), 18);
    assert_eq!(got.iter().copied().collect::<HashSet<_>>().len(), 18);
    assert_eq!(
        &got[6..],
        &expected[..],
        "the early ones come after the late ones"
    );
}

async fn pagination_parameters_are_checked(app: TestApp) {
    let user = app.user("pager").await;
    let fan = app.user("pager-fan").await;
    assert_eq!(follow(&app, &fan, &user).await.0, StatusCode::CREATED);
    for list in ["follower", "following"] {
        let base = format!("/accounts/{list}/{}/", user.id);
        for query in [
            "limit=0",
            "limit=101",
            "limit=-1",
            "limit=abc",
            "limit=1.5",
            "limit=99999999999999999999",
        ] {
            let (status, body) = app.get(&format!("{base}?{query}"), Some(&user.token)).await;
            assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
            assert!(
                body["errors"]["limit"].is_array(),
                "{query} names limit: {body}"
            );
        }
        for cursor in [
            "garbage",
            "!!!",
            "MTIzNA",
            "bm90OmFjdXJzb3I",
            &"A".repeat(200),
        ] {
            let (status, body) = app
                .get(&format!("{base}?cursor={cursor}"), Some(&user.token))
                .await;
            assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
            assert!(
                body["errors"]["cursor"].is_array(),
                "{cursor} names cursor: {body}"
            );
        }
        for query in ["limit=1", "limit=100", "limit=", "other=1"] {
            let (status, body) = app.get(&format!("{base}?{query}"), Some(&user.token)).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
        }
    }
}

/// (a) 100 pairs of users follow each other at the same instant.
async fn concurrent_mutual_follows(app: TestApp) {
    let users = app.users_in_batches("pair", 200, 8).await;
    let requests = (0..100).flat_map(|i| {
        let (a, b) = (&users[2 * i], &users[2 * i + 1]);
        [follow(&app, a, b), follow(&app, b, a)]
    });
    let answers = join_all(requests).await;
    assert_no_server_errors(&answers, "mutual follows");
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
    }
    let all_counts = join_all(users.iter().map(|u| counts(&app, u))).await;
    for (user, counts) in users.iter().zip(all_counts) {
        assert_eq!(counts, (1, 1), "user {}", user.id);
    }
    app.assert_counters_exact().await;
    // Both directions show in the lists.
    let followers = app
        .walk(
            &format!("/accounts/follower/{}/", users[0].id),
            Some(&users[0].token),
        )
        .await;
    assert_eq!(ids(&followers), vec![users[1].id]);
    assert_eq!(followers[0]["is_following"], true);
    assert_eq!(followers[0]["follows_you"], true);
}

/// (b) 200 users follow one user at once, then all unfollow at once.
async fn concurrent_fan_in_and_out(app: TestApp) {
    let star = app.user("star").await;
    let fans = app.users_in_batches("fan", 200, 8).await;

    let answers = join_all(fans.iter().map(|f| follow(&app, f, &star))).await;
    assert_no_server_errors(&answers, "fan-in");
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
    }
    assert_eq!(counts(&app, &star).await, (200, 0));
    app.assert_counters_exact().await;
    let listed = app
        .walk(
            &format!("/accounts/follower/{}/?limit=100", star.id),
            Some(&star.token),
        )
        .await;
    let listed: HashSet<i64> = ids(&listed).into_iter().collect();
    let expected: HashSet<i64> = fans.iter().map(|f| f.id).collect();
    assert_eq!(listed, expected);

    let answers = join_all(fans.iter().map(|f| unfollow(&app, f, &star))).await;
    assert_no_server_errors(&answers, "fan-out");
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::NO_CONTENT, "{body}");
    }
    assert_eq!(counts(&app, &star).await, (0, 0));
    for fan in fans.iter().step_by(37) {
        assert_eq!(counts(&app, fan).await, (0, 0));
    }
    app.assert_counters_exact().await;

    // And the same at once from the other side: the star removes 50 followers concurrently.
    let some = &fans[..50];
    for fan in some {
        assert_eq!(follow(&app, fan, &star).await.0, StatusCode::CREATED);
    }
    let answers = join_all(some.iter().map(|f| remove(&app, &star, f))).await;
    assert_no_server_errors(&answers, "remove followers");
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::NO_CONTENT, "{body}");
    }
    assert_eq!(counts(&app, &star).await, (0, 0));
    app.assert_counters_exact().await;
}

/// (c) The same follow sent 20 times at once: one 201, the rest 200. The same for unfollow and
/// remove-follower.
async fn concurrent_repeats_of_one_follow(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    for round in 0..3 {
        let answers = join_all((0..20).map(|_| follow(&app, &ann, &bob))).await;
        assert_no_server_errors(&answers, "repeated follow");
        let created = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .count();
        let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        assert_eq!((created, ok), (1, 19), "round {round}: {answers:?}");
        assert_eq!(counts(&app, &ann).await, (0, 1));
        assert_eq!(counts(&app, &bob).await, (1, 0));
        app.assert_counters_exact().await;

        let answers = if round % 2 == 0 {
            join_all((0..20).map(|_| unfollow(&app, &ann, &bob))).await
        } else {
            join_all((0..20).map(|_| remove(&app, &bob, &ann))).await
        };
        assert_no_server_errors(&answers, "repeated unfollow");
        for (status, body) in &answers {
            assert_eq!(*status, StatusCode::NO_CONTENT, "{body}");
        }
        assert_eq!(counts(&app, &ann).await, (0, 0));
        assert_eq!(counts(&app, &bob).await, (0, 0));
        app.assert_counters_exact().await;
    }
}

/// People follow and unfollow a user while it deletes its account: every answer is a success or
/// a `404`, and every counter ends right.
async fn concurrent_follows_while_the_leader_deletes_its_account(app: TestApp) {
    let users = app.users_in_batches("crowd", 30, 8).await;
    let leader = app.user("leaving").await;
    // Half of the crowd follows the leader already, and the leader follows a few.
    for fan in &users[..15] {
        assert_eq!(follow(&app, fan, &leader).await.0, StatusCode::CREATED);
    }
    for fan in &users[..5] {
        assert_eq!(follow(&app, &leader, fan).await.0, StatusCode::CREATED);
    }
    let delete = async { app.as_(&leader).delete_account(&leader).await };
    let storm = join_all(users.iter().enumerate().map(|(i, u)| {
        let app = &app;
        let leader = &leader;
        async move {
            if i % 3 == 0 {
                unfollow(app, u, leader).await
            } else {
                follow(app, u, leader).await
            }
        }
    }));
    let ((status, body), answers) = futures_util::join!(delete, storm);
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_no_server_errors(&answers, "follows during deletion");
    for (status, body) in &answers {
        assert!(
            [
                StatusCode::CREATED,
                StatusCode::OK,
                StatusCode::NO_CONTENT,
                StatusCode::NOT_FOUND
            ]
            .contains(status),
            "{status} {body}"
        );
    }
    app.assert_counters_exact().await;
    for user in &users {
        assert_eq!(counts(&app, user).await, (0, 0), "user {}", user.id);
    }
    let (status, body) = app.anonymous().profile(&leader).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

/// Twelve users follow, unfollow and remove each other in every direction at once, a few rounds.
async fn concurrent_mixed_follow_storm(app: TestApp) {
    let users = app.users_in_batches("storm", 12, 6).await;
    let app = &app;
    for round in 0..3 {
        let mut requests = Vec::new();
        for (i, a) in users.iter().enumerate() {
            for (j, b) in users.iter().enumerate() {
                if i == j {
                    continue;
                }
                let (method, path, token) = match (i + j + round) % 3 {
                    0 => (
                        Method::POST,
                        format!("/accounts/follow/{}/", b.id),
                        &a.token,
                    ),
                    1 => (
                        Method::DELETE,
                        format!("/accounts/follow/{}/", b.id),
                        &a.token,
                    ),
                    _ => (
                        Method::DELETE,
                        format!("/accounts/remove-follower/{}/", a.id),
                        &b.token,
                    ),
                };
                requests.push(async move { app.call(method, &path, Some(token), None).await });
            }
        }
        let answers = join_all(requests).await;
        assert_no_server_errors(&answers, "mixed storm");
        for (status, body) in &answers {
            assert!(
                [StatusCode::CREATED, StatusCode::OK, StatusCode::NO_CONTENT].contains(status),
                "{status} {body}"
            );
        }
        app.assert_counters_exact().await;
    }
    // The lists agree with the counters.
    for user in &users {
        let (followers, following) = counts(app, user).await;
        let listed_followers = app
            .walk(
                &format!("/accounts/follower/{}/", user.id),
                Some(&user.token),
            )
            .await;
        let listed_following = app
            .walk(
                &format!("/accounts/following/{}/", user.id),
                Some(&user.token),
            )
            .await;
        assert_eq!(listed_followers.len() as i64, followers);
        assert_eq!(listed_following.len() as i64, following);
    }
}

/// Past `max_following` a follow is refused with `409 following_limit` and changes nothing;
/// following someone again still answers `200`; an unfollow makes room. Eight follows sent at
/// once (coalesced into the same batches) cannot overshoot: the count is read under the
/// follower's row lock.
async fn the_follow_limit_holds_even_for_follows_sent_at_once(app: TestApp) {
    let ann = app.user("ann").await;
    let leaders = app.users("leader", 8).await;
    let answers = join_all(leaders.iter().map(|leader| follow(&app, &ann, leader))).await;
    let created = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 3, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_error(*status, body, StatusCode::CONFLICT, "following_limit");
    }
    assert_eq!(counts(&app, &ann).await, (0, 3));

    let followed: Vec<&TestUser> = leaders
        .iter()
        .zip(&answers)
        .filter(|(_, (status, _))| *status == StatusCode::CREATED)
        .map(|(leader, _)| leader)
        .collect();
    let (status, body) = follow(&app, &ann, followed[0]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let other = leaders
        .iter()
        .find(|l| !followed.iter().any(|f| f.id == l.id))
        .unwrap();
    let (status, body) = follow(&app, &ann, other).await;
    assert_error(status, &body, StatusCode::CONFLICT, "following_limit");

    assert_eq!(
        unfollow(&app, &ann, followed[0]).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(follow(&app, &ann, other).await.0, StatusCode::CREATED);
    assert_eq!(counts(&app, &ann).await, (0, 3));
    app.assert_counters_exact().await;
}
