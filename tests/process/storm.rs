//! Two server processes on one PostgreSQL database, and many clients interleaving every kind of
//! write over both: afterwards every counter equals its rows (`being-social check`), and the
//! figures the clients' own sequences fix come out exactly.

use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use being_social::settings::Settings;

use crate::helpers::{Backend, TestApp, TestDatabase, TestUser};
use crate::server::{ServerProcess, assert_check_passes, settings_for};

/// The clients who run the full sequence (users 1..=CLIENTS; user 0 is the hub).
const CLIENTS: usize = 8;

struct Storm {
    /// One app per server process.
    apps: Vec<TestApp>,
    users: Vec<TestUser>,
    posts: Vec<i64>,
    /// Posts made during the storm and not yet deleted by their authors, for others to hit.
    extra_posts: Mutex<Vec<i64>>,
}

impl Storm {
    /// The process for a client's `step`-th request: consecutive requests alternate.
    fn app(&self, client: usize, step: &mut usize) -> &TestApp {
        *step += 1;
        &self.apps[(client + *step) % self.apps.len()]
    }
}

/// Asserts one of the expected statuses (several when racing with a deletion).
fn expect(what: &str, (status, body): (StatusCode, Value), allowed: &[u16]) -> Value {
    assert!(
        allowed.contains(&status.as_u16()),
        "{what}: {status} {body} (expected one of {allowed:?})"
    );
    body
}

/// A deterministic pseudo-random sequence per client (xorshift).
struct Dice(u64);

impl Dice {
    fn pick(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// User `i`'s sequence. Against the hub (user 0, post 0) it ends in a known state: liked,
/// followed, six comments (three top-level with two replies each, one of them deleted with its
/// replies). Everything else races with the others and with deletions, and is checked by
/// `being-social check` only.
async fn client(storm: Arc<Storm>, i: usize) {
    let me = storm.users[i].clone();
    let token = Some(me.token.as_str());
    let hub = storm.users[0].id;
    let hub_post = storm.posts[0];
    let mut step = 0;
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));

    for (method, status) in [("POST", 201), ("DELETE", 204), ("POST", 201)] {
        let app = storm.app(i, &mut step);
        let path = format!("/posts/post-reaction/{hub_post}/");
        let answer = if method == "POST" {
            app.post(&path, token, json!({})).await
        } else {
            app.delete(&path, token).await
        };
        expect("like of the hub post", answer, &[status]);
        let path = format!("/accounts/follow/{hub}/");
        let app = storm.app(i, &mut step);
        let answer = if method == "POST" {
            app.post(&path, token, json!({})).await
        } else {
            app.delete(&path, token).await
        };
        expect("follow of the hub", answer, &[status]);
    }

    let extra = storm
        .app(i, &mut step)
        .post_by(&me, &format!("extra of {i}"))
        .await;
    storm.extra_posts.lock().unwrap().push(extra);

    let mut comments = Vec::new();
    for k in 0..3 {
        let comment = expect(
            "comment",
            storm
                .app(i, &mut step)
                .post(
                    &format!("/posts/post-comment/{hub_post}/"),
                    token,
                    json!({"content": format!("{i}.{k}")}),
                )
                .await,
            &[201],
        )["id"]
            .as_i64()
            .unwrap();
        for r in 0..2 {
            expect(
                "reply",
                storm
                    .app(i, &mut step)
                    .post(
                        &format!("/posts/post-comment/{hub_post}/{comment}/"),
                        token,
                        json!({"content": format!("{i}.{k}.{r}")}),
                    )
                    .await,
                &[201],
            );
        }
        comments.push(comment);
    }
    expect(
        "comment deletion",
        storm
            .app(i, &mut step)
            .delete(&format!("/posts/delete-comment/{}/", comments[0]), token)
            .await,
        &[204],
    );

    // Churn: likes, unlikes, comments and follows of everyone else (the doomed user included),
    // and of posts their authors are deleting.
    for _ in 0..8 {
        let other = 1 + dice.pick(storm.users.len() - 1);
        if other == i {
            continue;
        }
        let target = {
            let extra = storm.extra_posts.lock().unwrap();
            if dice.pick(2) == 0 && !extra.is_empty() {
                extra[dice.pick(extra.len())]
            } else {
                storm.posts[other]
            }
        };
        let app = storm.app(i, &mut step);
        let liked = app
            .post(&format!("/posts/post-reaction/{target}/"), token, json!({}))
            .await;
        expect("churn like", liked, &[200, 201, 404]);
        let commented = app
            .post(
                &format!("/posts/post-comment/{target}/"),
                token,
                json!({"content": "churn"}),
            )
            .await;
        let body = expect("churn comment", commented, &[201, 404]);
        if let (Some(comment), 0) = (body["id"].as_i64(), dice.pick(2)) {
            let app = storm.app(i, &mut step);
            let deleted = app
                .delete(&format!("/posts/delete-comment/{comment}/"), token)
                .await;
            expect("churn comment deletion", deleted, &[204, 404]);
        }
        if dice.pick(2) == 0 {
            let app = storm.app(i, &mut step);
            let unliked = app
                .delete(&format!("/posts/delete-like/{target}/"), token)
                .await;
            expect("churn unlike", unliked, &[204, 404]);
        }
        let other_id = storm.users[other].id;
        let app = storm.app(i, &mut step);
        let followed = app
            .post(&format!("/accounts/follow/{other_id}/"), token, json!({}))
            .await;
        expect("churn follow", followed, &[200, 201, 404]);
        if dice.pick(2) == 0 {
            let app = storm.app(i, &mut step);
            let unfollowed = app
                .delete(&format!("/accounts/follow/{other_id}/"), token)
                .await;
            expect("churn unfollow", unfollowed, &[204, 404]);
        }
    }

    // Removes the previous client from its followers (who may be following it again meanwhile).
    let previous = storm.users[if i == 1 { CLIENTS } else { i - 1 }].id;
    let app = storm.app(i, &mut step);
    let removed = app
        .delete(&format!("/accounts/remove-follower/{previous}/"), token)
        .await;
    expect("follower removal", removed, &[204]);

    storm.extra_posts.lock().unwrap().retain(|p| *p != extra);
    let app = storm.app(i, &mut step);
    let deleted = app.delete(&format!("/posts/edit/{extra}/"), token).await;
    expect("post deletion", deleted, &[204]);
}

/// The doomed user comments and likes on both processes, then deletes the account mid-storm.
async fn doomed(storm: Arc<Storm>) {
    let me = storm.users.last().unwrap().clone();
    let token = Some(me.token.as_str());
    let mut step = 0;
    for k in 0..4 {
        let app = storm.app(0, &mut step);
        let answer = app
            .post(
                &format!("/posts/post-comment/{}/", storm.posts[0]),
                token,
                json!({"content": format!("doomed {k}")}),
            )
            .await;
        expect("doomed comment", answer, &[201]);
        let app = storm.app(0, &mut step);
        let answer = app
            .post(
                &format!("/posts/post-reaction/{}/", storm.posts[1 + k]),
                token,
                json!({}),
            )
            .await;
        expect("doomed like", answer, &[200, 201]);
    }
    let app = storm.app(0, &mut step);
    let answer = app.delete(&format!("/accounts/{}/", me.id), token).await;
    expect("account deletion", answer, &[204]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_over_two_processes_leaves_every_counter_exact() {
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let settings = [settings_for(&db), settings_for(&db)];
    let servers = [
        ServerProcess::start(&settings[0]).await,
        ServerProcess::start(&settings[1]).await,
    ];
    let apps = vec![
        servers[0].app(&settings[0], &db),
        servers[1].app(&settings[1], &db),
    ];
    storm_over(apps, &settings[0]).await;
}

/// The storm over the processes of `apps` (one database), then `check` and the figures.
pub async fn storm_over(apps: Vec<TestApp>, settings: &Settings) {
    let nodes = apps.len();
    // The hub (0), the clients (1..=CLIENTS) and the doomed user (last), each with a post.
    let users = apps[0].users("storm", CLIENTS + 2).await;
    let mut posts = Vec::new();
    for (k, user) in users.iter().enumerate() {
        posts.push(apps[k % nodes].post_by(user, "first").await);
    }
    // Before the storm the doomed user likes and follows the hub and comments on its post, and
    // every client follows the next one: the deletion must take all of it back.
    let doomed_user = users.last().unwrap();
    let doomed_token = Some(doomed_user.token.as_str());
    expect(
        "",
        apps[1 % nodes]
            .post(
                &format!("/posts/post-reaction/{}/", posts[0]),
                doomed_token,
                json!({}),
            )
            .await,
        &[201],
    );
    expect(
        "",
        apps[0]
            .post(
                &format!("/accounts/follow/{}/", users[0].id),
                doomed_token,
                json!({}),
            )
            .await,
        &[201],
    );
    for i in 1..=CLIENTS {
        let next = users[if i == CLIENTS { 1 } else { i + 1 }].id;
        let answer = apps[i % nodes]
            .post(
                &format!("/accounts/follow/{next}/"),
                Some(&users[i].token),
                json!({}),
            )
            .await;
        expect("", answer, &[201]);
    }

    let storm = Arc::new(Storm {
        apps,
        users,
        posts,
        extra_posts: Mutex::new(Vec::new()),
    });
    let mut tasks: Vec<_> = (1..=CLIENTS)
        .map(|i| tokio::spawn(client(storm.clone(), i)))
        .collect();
    tasks.push(tokio::spawn(doomed(storm.clone())));
    for task in join_all(tasks).await {
        task.unwrap();
    }

    assert_check_passes(settings);

    // The figures the sequences fix, read through each process.
    let (users, posts) = (&storm.users, &storm.posts);
    for app in &storm.apps {
        let token = Some(users[0].token.as_str());
        let (status, hub) = app.get(&format!("/accounts/{}/", users[0].id), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(hub["follower_count"], CLIENTS, "{hub}");
        assert_eq!(hub["following_count"], 0, "{hub}");
        assert_eq!(hub["post_count"], 1, "{hub}");
        let (status, post) = app.get(&format!("/posts/edit/{}/", posts[0]), token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(post["likes_count"], CLIENTS, "{post}");
        assert_eq!(post["comments_count"], CLIENTS * 6, "{post}");
        let top = app
            .walk(&format!("/posts/post-comment/{}/", posts[0]), token)
            .await;
        assert_eq!(top.len(), CLIENTS * 2);
        assert!(top.iter().all(|c| c["reply_count"] == 2), "{top:?}");
        let likers = app
            .walk(&format!("/posts/post-reaction/{}/", posts[0]), token)
            .await;
        assert_eq!(likers.len(), CLIENTS);
        for user in &users[1..=CLIENTS] {
            let (_, body) = app.get(&format!("/accounts/{}/", user.id), None).await;
            assert_eq!(body["post_count"], 1, "extra post deleted: {body}");
        }
        let (status, _) = app
            .get(&format!("/accounts/{}/", users[CLIENTS + 1].id), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
