//! Likes: like and unlike (idempotent, counted), the list of likers, and likes under concurrency.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, assert_error, get_post, ids};

on_both_backends!(likes_are_idempotent, likers_list, likes_under_concurrency);

async fn likes_are_idempotent(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let id = app.post_by(&ann, "like me").await;
    let like = format!("/posts/post-reaction/{id}/");

    let (status, body) = app.as_(&bob).like(id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({"liked": true, "likes_count": 1}));
    let (status, body) = app.as_(&bob).like(id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"liked": true, "likes_count": 1}));
    // Without a body or trailing slash.
    let response = app
        .send_bytes(
            Method::POST,
            &format!("/posts/post-reaction/{id}"),
            Some(&ann.token),
            None,
            Vec::new(),
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.json()["likes_count"], 2);
    assert_eq!(get_post(&app, id, &bob).await["likes_count"], 2);
    assert_eq!(get_post(&app, id, &bob).await["liked_by_me"], true);

    let (status, body) = app.anonymous().like(id).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = app
        .post("/posts/post-reaction/999999/", Some(&bob.token), json!({}))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    // Unlike by either path, repeatedly: always 204.
    let (status, _) = app.as_(&bob).unlike(id).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let post = get_post(&app, id, &bob).await;
    assert_eq!(
        (post["likes_count"].as_i64(), &post["liked_by_me"]),
        (Some(1), &json!(false))
    );
    let (status, _) = app
        .delete(&format!("/posts/delete-like/{id}"), Some(&bob.token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.delete(&like, Some(&bob.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(get_post(&app, id, &bob).await["likes_count"], 1);
    let (status, _) = app.delete(&like, Some(&ann.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.delete(&like, Some(&ann.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(get_post(&app, id, &bob).await["likes_count"], 0);
    let (status, _) = app.delete(&like, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Like again after unliking: a new like.
    let (status, body) = app.as_(&bob).like(id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["likes_count"], 1);
    app.assert_counters_exact().await;
}

async fn likers_list(app: TestApp) {
    let ann = app.user("ann").await;
    let likers = app.users("liker", 7).await;
    let id = app.post_by(&ann, "popular").await;
    for user in &likers {
        let (status, _) = app.as_(user).like(id).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // Ann follows liker 1; liker 2 follows ann.
    let (status, _) = app
        .post(
            &format!("/accounts/follow/{}/", likers[1].id),
            Some(&ann.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .post(
            &format!("/accounts/follow/{}/", ann.id),
            Some(&likers[2].token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let path = format!("/posts/post-reaction/{id}/");
    let (status, page) = app.get(&path, Some(&ann.token)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page["next"].is_null());
    let listed: Vec<i64> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    let newest_first: Vec<i64> = likers.iter().rev().map(|u| u.id).collect();
    assert_eq!(listed, newest_first);
    for user in page["results"].as_array().unwrap() {
        assert!(
            user.get("email").is_none() && user["post_count"].is_i64(),
            "{user}"
        );
        assert!(user.get("password_hash").is_none());
        let uid = user["id"].as_i64().unwrap();
        assert_eq!(user["is_following"], uid == likers[1].id, "{user}");
        assert_eq!(user["follows_you"], uid == likers[2].id, "{user}");
    }

    // Walking pages of two returns each liker once, in the same order.
    let walked = app.walk(&format!("{path}?limit=2"), Some(&ann.token)).await;
    assert_eq!(ids(&walked), newest_first);
    let walked = app
        .walk(&format!("{path}?limit=1"), Some(&likers[0].token))
        .await;
    assert_eq!(walked.len(), 7);

    // An unlike removes the liker; a later like puts it first.
    app.delete(&format!("/posts/delete-like/{id}/"), Some(&likers[3].token))
        .await;
    app.post(&path, Some(&likers[0].token), json!({})).await; // already liked: no change
    let walked = app.walk(&format!("{path}?limit=3"), Some(&ann.token)).await;
    let ids = ids(&walked);
    let expected: Vec<i64> = newest_first
        .iter()
        .copied()
        .filter(|i| *i != likers[3].id)
        .collect();
    assert_eq!(ids, expected);
    app.post(&path, Some(&likers[3].token), json!({})).await;
    let (_, page) = app.get(&format!("{path}?limit=1"), Some(&ann.token)).await;
    assert_eq!(page["results"][0]["id"], likers[3].id);

    // liked_by_me in the feed of a liker who follows the author.
    app.post(
        &format!("/accounts/follow/{}/", ann.id),
        Some(&likers[0].token),
        json!({}),
    )
    .await;
    let feed = app.walk("/posts/post-feed/", Some(&likers[0].token)).await;
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0]["id"], id);
    assert_eq!(feed[0]["liked_by_me"], true);
    assert_eq!(feed[0]["likes_count"], 7);
    let feed = app.walk("/posts/post-feed/", Some(&ann.token)).await;
    assert_eq!(feed[0]["liked_by_me"], false);

    let (status, _) = app.get(&path, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .get("/posts/post-reaction/999999/", Some(&ann.token))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.get(&format!("{path}?limit=0"), Some(&ann.token)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let (status, body) = app
        .get(&format!("{path}?cursor=bogus"), Some(&ann.token))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    app.assert_counters_exact().await;
}

/// (a) 200 users like one post at the same instant; (b) 50 of them each like, unlike, like,
/// unlike, like another post in sequence, all 50 at once.
async fn likes_under_concurrency(app: TestApp) {
    let app = app.with_short_lived_connections();
    let author = app.user("author").await;
    let users = app.users("fan", 200).await;
    let first = app.post_by(&author, "storm").await;
    let second = app.post_by(&author, "flicker").await;

    let barrier = tokio::sync::Barrier::new(users.len());
    let likes = users.iter().map(|user| {
        let barrier = &barrier;
        let app = &app;
        async move {
            barrier.wait().await;
            app.as_(user).like(first).await
        }
    });
    let answers = futures_util::future::join_all(likes).await;
    let mut highest = 0;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
        assert_eq!(body["liked"], true);
        // The count after the request's commit (likes arriving together may commit together).
        let count = body["likes_count"].as_i64().unwrap();
        assert!((1..=200).contains(&count), "{body}");
        highest = highest.max(count);
    }
    assert_eq!(highest, 200);
    let post = get_post(&app, first, &author).await;
    assert_eq!(post["likes_count"], 200, "on {:?}", app.backend);
    let likers = app
        .walk(
            &format!("/posts/post-reaction/{first}/?limit=100"),
            Some(&author.token),
        )
        .await;
    let ids: HashSet<i64> = likers.iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert_eq!(likers.len(), 200);
    assert_eq!(ids, users.iter().map(|u| u.id).collect::<HashSet<_>>());
    app.assert_counters_exact().await;

    let flickers = users.iter().take(50).map(|user| {
        let app = &app;
        async move {
            for step in 0..5 {
                let (status, body) = if step % 2 == 0 {
                    app.as_(user).like(second).await
                } else {
                    app.as_(user).unlike(second).await
                };
                let expected = if step % 2 == 0 {
                    StatusCode::CREATED
                } else {
                    StatusCode::NO_CONTENT
                };
                assert_eq!(status, expected, "step {step}: {body}");
            }
        }
    });
    futures_util::future::join_all(flickers).await;
    let post = get_post(&app, second, &users[0]).await;
    assert_eq!(post["likes_count"], 50);
    assert_eq!(post["liked_by_me"], true);
    for user in users.iter().take(50) {
        assert_eq!(get_post(&app, second, user).await["liked_by_me"], true);
    }
    assert_eq!(
        get_post(&app, second, &users[50]).await["liked_by_me"],
        false
    );
    app.assert_counters_exact().await;
}
