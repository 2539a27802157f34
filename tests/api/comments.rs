//! Comments and replies: create, list, delete — and changes racing on one post's thread.

use std::collections::{HashMap, HashSet};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error, ids};

on_both_backends!(
    comment_on_a_post,
    comment_content_is_checked,
    replies_and_replies_to_replies,
    a_reply_must_belong_to_the_post,
    a_reply_to_no_comment_is_404,
    lists_are_oldest_first_and_paginated,
    who_may_delete_a_comment,
    deleting_a_thread_removes_all_of_it,
    comments_and_deletions_racing,
);

async fn comment(
    app: &TestApp,
    user: &TestUser,
    post: i64,
    parent: Option<i64>,
    content: &str,
) -> (StatusCode, Value) {
    match parent {
        None => app.as_(user).comment(post, content).await,
        Some(parent) => app.as_(user).reply(post, parent, content).await,
    }
}

/// Creates a comment or reply that must succeed; returns its id.
async fn comment_ok(
    app: &TestApp,
    user: &TestUser,
    post: i64,
    parent: Option<i64>,
    content: &str,
) -> i64 {
    let (status, body) = comment(app, user, post, parent, content).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

async fn post_json(app: &TestApp, id: i64, user: &TestUser) -> Value {
    let (status, body) = app.as_(user).get_post(id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn comments_count(app: &TestApp, id: i64, user: &TestUser) -> i64 {
    post_json(app, id, user).await["comments_count"]
        .as_i64()
        .unwrap()
}

/// Every comment of the post, walking top-level comments and, recursively, their replies.
async fn whole_thread(app: &TestApp, post: i64, user: &TestUser) -> Vec<Value> {
    let mut all = Vec::new();
    let mut queue = app
        .walk(
            &format!("/posts/post-comment/{post}/?limit=100"),
            Some(&user.token),
        )
        .await;
    while let Some(c) = queue.pop() {
        if c["reply_count"].as_i64().unwrap() > 0 {
            let id = c["id"].as_i64().unwrap();
            let replies = app
                .walk(
                    &format!("/posts/post-comment/{post}/{id}/?limit=100"),
                    Some(&user.token),
                )
                .await;
            assert_eq!(
                replies.len() as i64,
                c["reply_count"].as_i64().unwrap(),
                "reply_count of {c}"
            );
            queue.extend(replies);
        }
        all.push(c);
    }
    all
}

async fn comment_on_a_post(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let post = app.post_by(&ann, "comment here").await;
    let (status, body) = comment(&app, &bob, post, None, "  Lovely light!  ").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let keys: HashSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from([
            "id",
            "post_id",
            "parent_id",
            "author",
            "content",
            "reply_count",
            "created_at",
            "updated_at"
        ]),
        "{body}"
    );
    assert!(body["id"].is_i64());
    assert_eq!(body["post_id"], post);
    assert!(body["parent_id"].is_null());
    assert_eq!(body["author"]["id"], bob.id);
    assert!(body["author"].get("email").is_none(), "{body}");
    assert!(body["author"].get("full_name").is_some());
    assert!(body["author"].get("avatar_url").is_some());
    assert_eq!(body["content"], "Lovely light!");
    assert_eq!(body["reply_count"], 0);
    for field in ["created_at", "updated_at"] {
        let text = body[field].as_str().unwrap();
        assert!(text.ends_with('Z'), "{text}");
        chrono::DateTime::parse_from_rfc3339(text).unwrap();
    }
    assert_eq!(comments_count(&app, post, &ann).await, 1);

    // Without the trailing slash, and by the author of the post.
    let (status, body) = app
        .post(
            &format!("/posts/post-comment/{post}"),
            Some(&ann.token),
            json!({"content": "Thanks"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(comments_count(&app, post, &bob).await, 2);

    let (status, body) = app.anonymous().comment(post, "anonymous").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "not_authenticated");
    // A url-encoded form, as clients of the original service send it; other types are 415.
    let response = app
        .send_bytes(
            reqwest::Method::POST,
            &format!("/posts/post-comment/{post}/"),
            Some(&bob.token),
            Some("application/x-www-form-urlencoded"),
            b"content=hello+there%21".to_vec(),
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.json()["content"], "hello there!");
    let response = app
        .send_bytes(
            reqwest::Method::POST,
            &format!("/posts/post-comment/{post}/"),
            Some(&bob.token),
            Some("text/plain"),
            b"content=hi".to_vec(),
        )
        .await;
    response.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    assert_eq!(comments_count(&app, post, &ann).await, 3);
    let (status, body) = comment(&app, &bob, 999_999, None, "where?").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _) = app.anonymous().comments(post).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(comments_count(&app, post, &bob).await, 3);
    app.assert_counters_exact().await;
}

async fn comment_content_is_checked(app: TestApp) {
    let ann = app.user("ann").await;
    let post = app.post_by(&ann, "strict").await;
    let path = format!("/posts/post-comment/{post}/");
    for bad in [
        json!({"content": ""}),
        json!({"content": "  \n\t "}),
        json!({}),
    ] {
        let (status, body) = app.post(&path, Some(&ann.token), bad.clone()).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        assert!(body["errors"]["content"].is_array(), "{bad}: {body}");
    }
    let (status, body) = comment(&app, &ann, post, None, &"x".repeat(2201)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    assert!(body["errors"]["content"].is_array(), "{body}");
    let (status, body) = app
        .post(&path, Some(&ann.token), json!({"content": 5}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(comments_count(&app, post, &ann).await, 0);

    // 2,200 characters (not bytes) is the limit; surrounding blanks do not count.
    let long = "é".repeat(2200);
    let (status, body) = comment(&app, &ann, post, None, &format!("  {long}  ")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["content"], long.as_str());
    // A bad reply changes nothing either.
    let id = body["id"].as_i64().unwrap();
    let (status, _) = comment(&app, &ann, post, Some(id), " ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(comments_count(&app, post, &ann).await, 1);
    app.assert_counters_exact().await;
}

async fn replies_and_replies_to_replies(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let post = app.post_by(&ann, "thread").await;
    let top = comment_ok(&app, &bob, post, None, "top").await;
    let (status, reply) = comment(&app, &ann, post, Some(top), "a reply").await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["parent_id"], top);
    assert_eq!(reply["post_id"], post);
    assert_eq!(reply["author"]["id"], ann.id);
    assert_eq!(reply["reply_count"], 0);
    let reply = reply["id"].as_i64().unwrap();
    assert_eq!(comments_count(&app, post, &ann).await, 2);

    // A reply to the reply.
    let (status, deeper) = comment(&app, &bob, post, Some(reply), "deeper").await;
    assert_eq!(status, StatusCode::CREATED, "{deeper}");
    assert_eq!(deeper["parent_id"], reply);
    let second = comment_ok(&app, &bob, post, Some(top), "second reply").await;
    assert_eq!(comments_count(&app, post, &ann).await, 4);

    // Top-level list: only `top`, with its two direct replies counted.
    let (status, page) = app.as_(&bob).comments(post).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let results = page["results"].as_array().unwrap();
    assert_eq!(ids(results), vec![top]);
    assert_eq!(results[0]["reply_count"], 2);
    assert!(page["next"].is_null());
    // Replies of `top`, oldest first; replies of `reply`.
    let (status, page) = app
        .get(
            &format!("/posts/post-comment/{post}/{top}/"),
            Some(&bob.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let results = page["results"].as_array().unwrap();
    assert_eq!(ids(results), vec![reply, second]);
    assert_eq!(results[0]["reply_count"], 1);
    assert_eq!(results[1]["reply_count"], 0);
    let (_, page) = app
        .get(
            &format!("/posts/post-comment/{post}/{reply}"),
            Some(&bob.token),
        )
        .await;
    assert_eq!(
        ids(page["results"].as_array().unwrap()),
        vec![deeper["id"].as_i64().unwrap()]
    );

    // Unknown parent.
    let (status, body) = comment(&app, &bob, post, Some(999_999), "orphan").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .get(
            &format!("/posts/post-comment/{post}/999999/"),
            Some(&bob.token),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(comments_count(&app, post, &ann).await, 4);
    app.assert_counters_exact().await;
}

async fn a_reply_must_belong_to_the_post(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let first = app.post_by(&ann, "one").await;
    let second = app.post_by(&bob, "two").await;
    let on_first = comment_ok(&app, &bob, first, None, "on the first post").await;
    let on_second = comment_ok(&app, &ann, second, None, "on the second post").await;

    // The parent is a comment of another post.
    let (status, body) = comment(&app, &bob, second, Some(on_first), "sneaky").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = comment(&app, &ann, first, Some(on_second), "sneaky").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    // Listing replies through the wrong post too.
    let (status, body) = app
        .get(
            &format!("/posts/post-comment/{second}/{on_first}/"),
            Some(&ann.token),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    assert_eq!(comments_count(&app, first, &ann).await, 1);
    assert_eq!(comments_count(&app, second, &ann).await, 1);
    let (_, page) = app.as_(&ann).comments(first).await;
    assert_eq!(page["results"][0]["reply_count"], 0);
    app.assert_counters_exact().await;
}

/// Found by schemathesis: a reply naming the id the reply itself was about to get passed the
/// foreign key (the row referenced itself), made a comment that was its own parent, and deleting
/// it then walked that thread forever while holding the database's write lock.
async fn a_reply_to_no_comment_is_404(app: TestApp) {
    let ann = app.user("ann").await;
    let post = app.post_by(&ann, "one").await;
    // A fresh database: the first comment gets the id 1.
    let (status, body) = comment(&app, &ann, post, Some(1), "to nobody").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let first = comment_ok(&app, &ann, post, None, "first").await;
    let (status, body) = comment(&app, &ann, post, Some(first + 1), "to nobody").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(comments_count(&app, post, &ann).await, 1);

    let (status, _) = app.as_(&ann).delete_comment(first).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(comments_count(&app, post, &ann).await, 0);
    app.assert_counters_exact().await;
}

async fn lists_are_oldest_first_and_paginated(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let post = app.post_by(&ann, "busy").await;
    let other = app.post_by(&ann, "quiet").await;
    let mut top = Vec::new();
    for i in 0..7 {
        let author = if i % 2 == 0 { &ann } else { &bob };
        top.push(comment_ok(&app, author, post, None, &format!("comment {i}")).await);
    }
    let mut replies = Vec::new();
    for i in 0..5 {
        let author = if i % 2 == 0 { &bob } else { &ann };
        replies.push(comment_ok(&app, author, post, Some(top[2]), &format!("reply {i}")).await);
    }
    comment_ok(&app, &bob, other, None, "elsewhere").await;

    let base = format!("/posts/post-comment/{post}/");
    let (status, page) = app.get(&base, Some(&bob.token)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(page["results"].as_array().unwrap()), top);
    assert_eq!(page["results"][0]["content"], "comment 0");
    for limit in [1, 2, 3, 7, 100] {
        let walked = app
            .walk(&format!("{base}?limit={limit}"), Some(&bob.token))
            .await;
        assert_eq!(ids(&walked), top, "limit={limit}");
    }
    let (_, page) = app.get(&format!("{base}?limit=3"), Some(&bob.token)).await;
    assert_eq!(page["results"].as_array().unwrap().len(), 3);
    assert!(page["next"].as_str().unwrap().contains("limit=3"));

    let reply_path = format!("/posts/post-comment/{post}/{}/", top[2]);
    for limit in [1, 2, 5] {
        let walked = app
            .walk(&format!("{reply_path}?limit={limit}"), Some(&ann.token))
            .await;
        assert_eq!(ids(&walked), replies, "limit={limit}");
        for reply in &walked {
            assert_eq!(reply["parent_id"], top[2]);
        }
    }
    let empty = app
        .walk(
            &format!("/posts/post-comment/{post}/{}/", top[0]),
            Some(&ann.token),
        )
        .await;
    assert!(empty.is_empty());

    // Comments added while walking are never returned twice, and nothing is skipped.
    let (_, first_page) = app.get(&format!("{base}?limit=3"), Some(&bob.token)).await;
    let mut seen = ids(first_page["results"].as_array().unwrap());
    let mut next = first_page["next"].as_str().map(str::to_owned);
    let mut added = Vec::new();
    while let Some(url) = next {
        added.push(comment_ok(&app, &ann, post, None, "late arrival").await);
        let (status, page) = app.get(&app.path_of(&url), Some(&bob.token)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(page["results"].as_array().unwrap()));
        next = page["next"].as_str().map(str::to_owned);
    }
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "duplicates: {seen:?}");
    for id in top.iter().chain(&added) {
        assert!(unique.contains(id), "{id} missing from {seen:?}");
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    assert_eq!(seen, sorted, "oldest first");

    let (status, body) = app
        .get("/posts/post-comment/999999/", Some(&ann.token))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .get(&format!("{base}?limit=101"), Some(&ann.token))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let (status, body) = app
        .get(&format!("{base}?cursor=%%%"), Some(&ann.token))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn who_may_delete_a_comment(app: TestApp) {
    let ann = app.user("ann").await; // post author
    let bob = app.user("bob").await; // comment author
    let eve = app.user("eve").await; // stranger
    let post = app.post_by(&ann, "mine").await;
    let by_bob = comment_ok(&app, &bob, post, None, "bob's").await;
    let by_bob_2 = comment_ok(&app, &bob, post, None, "bob's second").await;
    let by_eve = comment_ok(&app, &eve, post, None, "eve's").await;
    let reply_by_ann = comment_ok(&app, &ann, post, Some(by_eve), "ann replies").await;
    assert_eq!(comments_count(&app, post, &ann).await, 4);

    // A stranger may not; nor may the author of a parent delete a reply by someone else.
    let (status, body) = app.as_(&eve).delete_comment(by_bob).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "permission_denied");
    let (status, body) = app.as_(&eve).delete_comment(reply_by_ann).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "permission_denied");
    let (status, _) = app.anonymous().delete_comment(by_bob).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .delete("/posts/delete-comment/999999/", Some(&ann.token))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(comments_count(&app, post, &ann).await, 4);

    // The comment's author may.
    let (status, body) = app.as_(&bob).delete_comment(by_bob).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(comments_count(&app, post, &ann).await, 3);
    let (status, body) = app.as_(&bob).delete_comment(by_bob).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    // The post's author may delete anyone's comment (without the trailing slash too).
    let (status, body) = app
        .delete(
            &format!("/posts/delete-comment/{by_bob_2}"),
            Some(&ann.token),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(comments_count(&app, post, &ann).await, 2);
    // A reply by its author: the parent's reply_count drops.
    let (status, _) = app.as_(&ann).delete_comment(reply_by_ann).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, page) = app.as_(&eve).comments(post).await;
    assert_eq!(ids(page["results"].as_array().unwrap()), vec![by_eve]);
    assert_eq!(page["results"][0]["reply_count"], 0);
    assert_eq!(comments_count(&app, post, &ann).await, 1);
    app.assert_counters_exact().await;
}

async fn deleting_a_thread_removes_all_of_it(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let post = app.post_by(&ann, "deep").await;
    // c1 ─┬─ r1 ─┬─ r1a ── r1a1
    //     │      └─ r1b
    //     └─ r2
    // c2 ── r3
    let c1 = comment_ok(&app, &bob, post, None, "c1").await;
    let r1 = comment_ok(&app, &ann, post, Some(c1), "r1").await;
    let r1a = comment_ok(&app, &bob, post, Some(r1), "r1a").await;
    let r1a1 = comment_ok(&app, &ann, post, Some(r1a), "r1a1").await;
    let r1b = comment_ok(&app, &bob, post, Some(r1), "r1b").await;
    let r2 = comment_ok(&app, &bob, post, Some(c1), "r2").await;
    let c2 = comment_ok(&app, &ann, post, None, "c2").await;
    let r3 = comment_ok(&app, &bob, post, Some(c2), "r3").await;
    assert_eq!(comments_count(&app, post, &ann).await, 8);
    assert_eq!(whole_thread(&app, post, &ann).await.len(), 8);

    // Deleting r1 (by its author) takes r1a, r1a1 and r1b with it: 4 fewer.
    let (status, _) = app.as_(&ann).delete_comment(r1).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(comments_count(&app, post, &ann).await, 4);
    let (_, page) = app
        .get(
            &format!("/posts/post-comment/{post}/{c1}/"),
            Some(&ann.token),
        )
        .await;
    assert_eq!(ids(page["results"].as_array().unwrap()), vec![r2]);
    let (_, page) = app.as_(&ann).comments(post).await;
    assert_eq!(ids(page["results"].as_array().unwrap()), vec![c1, c2]);
    assert_eq!(page["results"][0]["reply_count"], 1);
    for gone in [r1, r1a, r1a1, r1b] {
        let (status, _) = app.as_(&ann).delete_comment(gone).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
        let (status, _) = app
            .get(
                &format!("/posts/post-comment/{post}/{gone}/"),
                Some(&ann.token),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
    }
    app.assert_counters_exact().await;

    // Deleting c1 (by the post's author) takes r2: 2 fewer; c2 and r3 stay.
    let (status, _) = app.as_(&ann).delete_comment(c1).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(comments_count(&app, post, &bob).await, 2);
    let thread = whole_thread(&app, post, &bob).await;
    let remaining: HashSet<i64> = ids(&thread).into_iter().collect();
    assert_eq!(remaining, HashSet::from([c2, r3]));
    let (status, _) = comment(&app, &bob, post, Some(r2), "reply to the dead").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(comments_count(&app, post, &bob).await, 2);
    app.assert_counters_exact().await;
}

/// (c) 30 users comment and reply on one post while others delete comments and whole threads:
/// no `5xx`, and every counter equals its rows afterwards.
async fn comments_and_deletions_racing(app: TestApp) {
    let app = app.with_short_lived_connections();
    let ann = app.user("ann").await;
    let users = app.users_in_batches("racer", 40, 20).await;
    let (writers, deleters) = users.split_at(30);
    let post = app.post_by(&ann, "contested").await;

    // A starting thread: 20 top-level comments by the deleters, each with two replies.
    let mut seeds: HashMap<i64, usize> = HashMap::new();
    let mut replies = Vec::new();
    for (i, replier) in users.iter().take(20).enumerate() {
        let owner = i % deleters.len();
        let c = comment_ok(&app, &deleters[owner], post, None, &format!("seed {i}")).await;
        seeds.insert(c, owner);
        replies.push(comment_ok(&app, replier, post, Some(c), "seed reply").await);
        replies.push(comment_ok(&app, &ann, post, Some(c), "author reply").await);
    }
    let seed_ids: Vec<i64> = {
        let mut v: Vec<i64> = seeds.keys().copied().collect();
        v.sort_unstable();
        v
    };

    let writing = writers.iter().enumerate().map(|(i, user)| {
        let app = &app;
        let seed_ids = &seed_ids;
        let replies = &replies;
        async move {
            let mut answers = Vec::new();
            for round in 0..3 {
                let parent = match (i + round) % 3 {
                    0 => None,
                    1 => Some(seed_ids[(i + round) % seed_ids.len()]),
                    _ => Some(replies[(i * 3 + round) % replies.len()]),
                };
                let (status, body) = comment(
                    app,
                    user,
                    post,
                    parent,
                    &format!("writer {i} round {round}"),
                )
                .await;
                answers.push((status, body.clone()));
                // Sometimes delete one's own fresh comment again at once.
                if status == StatusCode::CREATED && (i + round) % 4 == 0 {
                    let id = body["id"].as_i64().unwrap();
                    let answer = app.as_(user).delete_comment(id).await;
                    answers.push(answer);
                }
            }
            answers
        }
    });
    let deleting = seed_ids.iter().enumerate().map(|(i, id)| {
        let app = &app;
        let (deleter, ann) = (&deleters[seeds[id]], &ann);
        async move {
            // Half by the comment's author, half by the post's author; some twice.
            let token = if i % 2 == 0 {
                &deleter.token
            } else {
                &ann.token
            };
            let mut answers = vec![
                app.delete(&format!("/posts/delete-comment/{id}/"), Some(token))
                    .await,
            ];
            if i % 3 == 0 {
                answers.push(
                    app.delete(&format!("/posts/delete-comment/{id}/"), Some(token))
                        .await,
                );
            }
            answers
        }
    });
    let (written, deleted) = tokio::join!(
        futures_util::future::join_all(writing),
        futures_util::future::join_all(deleting)
    );
    for (status, body) in written.into_iter().flatten() {
        assert!(!status.is_server_error(), "{status} {body}");
        assert!(
            [
                StatusCode::CREATED,
                StatusCode::NO_CONTENT,
                StatusCode::NOT_FOUND
            ]
            .contains(&status),
            "{status} {body}"
        );
    }
    for (status, body) in deleted.into_iter().flatten() {
        assert!(!status.is_server_error(), "{status} {body}");
        assert!(
            [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND].contains(&status),
            "{status} {body}"
        );
    }
    app.assert_counters_exact().await;
    // Every seed is gone, and what remains adds up to the post's counter.
    let thread = whole_thread(&app, post, &ann).await;
    let remaining: HashSet<i64> = ids(&thread).into_iter().collect();
    for seed in &seed_ids {
        assert!(!remaining.contains(seed), "seed {seed} survived");
    }
    assert_eq!(remaining.len(), thread.len());
    assert_eq!(comments_count(&app, post, &ann).await, thread.len() as i64);
}
