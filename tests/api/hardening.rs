//! What an attacker tries first: forged forwarding headers, harvesting emails, NUL characters,
//! wrong JSON types, and the headers that keep browsers and caches from misusing answers.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{FormPart, TestApp, assert_error, png, with_settings};

on_both_backends!(
    forged_forwarding_headers_change_no_url,
    emails_are_shown_only_to_their_owner,
    nul_characters_are_refused_and_change_nothing,
    every_field_of_a_wrong_json_type_is_named,
    answers_carry_nosniff_and_no_store,
);
on_both_backends!(
    public_url_sets_every_absolute_url,
    start: with_settings(crate::hardening::public_url)
);
on_both_backends!(
    behind_a_proxy_its_host_counts,
    start: with_settings(crate::hardening::behind_proxy)
);

fn public_url(s: &mut being_social::settings::Settings) {
    s.public_url =
        Some(being_social_http::public_url::BaseUrl::parse("https://social.example/api").unwrap());
    // PUBLIC_URL wins even over a proxy's headers.
    s.behind_proxy = true;
}

fn behind_proxy(s: &mut being_social::settings::Settings) {
    s.behind_proxy = true;
}

const FORGED: [(&str, &str); 3] = [
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Proto", "https"),
    ("Forwarded", "host=evil.example;proto=https"),
];

/// A user with an avatar and two posts, and a page of one post: every kind of absolute URL, and
/// the `Authorization` header that reads them.
async fn urls_seen_with(app: &TestApp, headers: &[(&str, &str)]) -> (Vec<String>, String) {
    let ann = app.user("ann").await;
    let avatar = vec![FormPart::file("avatar", png(64, 64), "a.png")];
    let path = format!("/accounts/{}/", ann.id);
    let (status, body) = app
        .multipart(Method::PATCH, &path, Some(&ann.token), avatar)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.post_by(&ann, "one").await;
    app.post_by(&ann, "two").await;

    let auth = format!("Token {}", ann.token);
    let mut with_token = headers.to_vec();
    with_token.push(("Authorization", &auth));
    let (status, _, page) = app
        .send_raw(Method::GET, "/posts/post-feed/?limit=1", &with_token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (_, _, me) = app
        .send_raw(Method::GET, "/accounts/me/", &with_token, None)
        .await;
    let post = &page["results"][0];
    let urls = [
        &page["next"],
        &post["image_url"],
        &post["thumbnail_url"],
        &post["author"]["avatar_url"],
        &me["avatar_url"],
    ]
    .iter()
    .map(|url| url.as_str().unwrap_or_default().to_owned())
    .collect();
    (urls, auth)
}

async fn forged_forwarding_headers_change_no_url(app: TestApp) {
    for url in urls_seen_with(&app, &FORGED).await.0 {
        assert!(url.starts_with(&format!("{}/", app.address)), "{url}");
    }
}

async fn public_url_sets_every_absolute_url(app: TestApp) {
    let (urls, auth) = urls_seen_with(&app, &FORGED).await;
    for url in urls {
        assert!(url.starts_with("https://social.example/api/"), "{url}");
        // The link leads to the resource once the prefix (a proxy's business) is taken off.
        let path = url.trim_start_matches("https://social.example/api");
        let answer = app.get_bytes(path, &[("Authorization", &auth)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{url}");
    }
}

async fn behind_a_proxy_its_host_counts(app: TestApp) {
    for url in urls_seen_with(&app, &FORGED[..2]).await.0 {
        assert!(url.starts_with("https://evil.example/"), "{url}");
    }
}

async fn emails_are_shown_only_to_their_owner(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    app.follow(&bob, &ann).await;
    let post = app.post_by(&ann, "hello").await;
    let (status, _) = app.as_(&bob).like(post).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.as_(&ann).comment(post, "mine").await;
    assert_eq!(status, StatusCode::CREATED);

    // Her own profile, by id or by email, shows Ann her address.
    for path in [
        format!("/accounts/{}/", ann.id),
        format!("/accounts/{}/", ann.email),
    ] {
        let (_, own) = app.get(&path, Some(&ann.token)).await;
        assert_eq!(own["email"], ann.email.as_str(), "{own}");
    }
    // Everywhere else her address is absent, also when Bob looks her up by it.
    let (_, feed) = app.as_(&bob).feed().await;
    let (_, comments) = app.as_(&bob).comments(post).await;
    let (_, likers) = app.as_(&ann).likers(post).await;
    let (_, followers) = app.as_(&bob).followers(&ann).await;
    let (_, following) = app.as_(&bob).following(&bob).await;
    let (_, by_email) = app.as_(&bob).profile(&ann.email).await;
    let (_, anonymous) = app.anonymous().profile(&ann).await;
    for shown in [
        &feed["results"][0]["author"],
        &comments["results"][0]["author"],
        &likers["results"][0],
        &followers["results"][0],
        &following["results"][0],
        &by_email,
        &by_email["posts"]["results"][0]["author"],
        &anonymous,
    ] {
        assert!(shown["id"].is_i64(), "{shown}");
        assert!(shown.get("email").is_none(), "{shown}");
    }
}

/// A NUL in any text, JSON or multipart, or in a `{user}` path: `400` with the contract's body,
/// on PostgreSQL too (whose text cannot hold one), and nothing changed.
async fn nul_characters_are_refused_and_change_nothing(app: TestApp) {
    let ann = app.user("ann").await;
    let post = app.post_by(&ann, "clean").await;
    let signup =
        json!({"email": "nul@example.com", "full_name": "A\u{0}B", "password": "password1"});
    let (status, body) = app.post("/accounts/signup/", None, signup).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    assert!(body["errors"]["full_name"].is_array(), "{body}");

    let login = json!({"email": "ann@example.com\u{0}", "password": "x"});
    let (status, body) = app.post("/accounts/login/", None, login).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");

    let me = format!("/accounts/{}/", ann.id);
    let (status, body) = app
        .patch(&me, Some(&ann.token), json!({"bio": "\u{0}"}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let edit = format!("/posts/edit/{post}/");
    let (status, body) = app
        .patch(&edit, Some(&ann.token), json!({"caption": "x\u{0}"}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let comment = json!({"content": "\u{0}hi"});
    let (status, body) = app
        .post(
            &format!("/posts/post-comment/{post}/"),
            Some(&ann.token),
            comment,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let parts = vec![
        FormPart::file("image", png(8, 8), "a.png"),
        FormPart::text("caption", "a\u{0}b"),
    ];
    let (status, body) = app.upload_with(Some(&ann.token), parts).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");

    for path in [
        "/accounts/follower/%00/",
        "/accounts/following/a%00@example.com/",
        "/accounts/%00/",
        "/accounts/ann@example.com%00/posts/",
    ] {
        let (status, body) = app.get(path, Some(&ann.token)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_user");
    }

    let (_, me) = app.get(&me, Some(&ann.token)).await;
    assert_eq!(me["bio"], "");
    assert_eq!(me["post_count"], 1);
    let (_, post) = app.get(&edit, Some(&ann.token)).await;
    assert_eq!(
        (&post["caption"], &post["comments_count"]),
        (&json!("clean"), &json!(0))
    );
    let (status, _) = app.get("/accounts/nul@example.com/", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn every_field_of_a_wrong_json_type_is_named(app: TestApp) {
    let wrong = json!({"email": 12345, "full_name": ["a"], "password": {"x": 1}});
    let (status, body) = app.post("/accounts/signup/", None, wrong).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let errors = body["errors"].as_object().unwrap();
    let named: Vec<&str> = errors.keys().map(String::as_str).collect();
    assert_eq!(named, ["email", "full_name", "password"], "{body}");
    assert_eq!(errors["email"], json!(["Not a valid string."]));

    // Right fields beside wrong ones: only the wrong are named; nothing is created.
    let mixed = json!({"email": "mixed@example.com", "full_name": 7, "password": "password1"});
    let (status, body) = app.post("/accounts/signup/", None, mixed).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let named: Vec<&String> = body["errors"].as_object().unwrap().keys().collect();
    assert_eq!(named, ["full_name"], "{body}");
    let (status, _) = app.get("/accounts/mixed@example.com/", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let ann = app.user("ann").await;
    let (status, body) = app
        .as_(&ann)
        .edit_profile(&ann, json!({"bio": false}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(body["errors"]["bio"], json!(["Not a valid string."]));

    // Broken JSON is still a parse error.
    let (status, _, body) = app
        .send_raw(
            Method::POST,
            "/accounts/signup/",
            &[("Content-Type", "application/json")],
            Some(b"{\"email\": 1,".to_vec()),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "parse_error");
}

async fn answers_carry_nosniff_and_no_store(app: TestApp) {
    let ann = app.user("ann").await;
    let (status, post) = app.upload(&ann.token, png(16, 16), "").await;
    assert_eq!(status, StatusCode::CREATED);
    let auth = format!("Token {}", ann.token);
    let login = br#"{"email": "ann@example.com", "password": "ann-password"}"#.to_vec();
    let (status, headers, _) = app
        .send_raw(
            Method::POST,
            "/accounts/login/",
            &[("Content-Type", "application/json")],
            Some(login),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    for path in [
        "/accounts/me/",
        "/posts/post-feed/",
        "/nowhere/",
        "/healthz",
    ] {
        let answer = app.get_bytes(path, &[("Authorization", &auth)]).await;
        assert_eq!(answer.header("cache-control"), "no-store", "{path}");
        assert_eq!(answer.header("x-content-type-options"), "nosniff", "{path}");
    }
    // Pictures keep their own long-lived caching, and nosniff.
    let picture = app
        .get_bytes(post["image_url"].as_str().unwrap(), &[])
        .await;
    assert_eq!(picture.status, StatusCode::OK);
    assert!(
        picture.header("cache-control").contains("immutable"),
        "{:?}",
        picture.headers
    );
    assert_eq!(picture.header("x-content-type-options"), "nosniff");
    // The docs page may run only its own scripts.
    let docs = app.get_bytes("/docs/", &[]).await;
    assert_eq!(docs.status, StatusCode::OK);
    let csp = docs.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
}
