//! Accounts: sign-up, profiles (with their posts and the caller's relationship), profile and
//! password changes, the avatar, account deletion; unknown paths and malformed bodies.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestUser, assert_error, assert_validation, error_fields, png, profile_of,
};

on_both_backends!(
    signup_login_me,
    signup_returns_the_user_and_nothing_secret,
    signup_validation_names_each_field,
    signup_password_bounds,
    signup_email_unique_case_insensitively,
    concurrent_signups_with_one_email_make_one_account,
    profile_by_id_and_email,
    anonymous_profile_has_no_posts_or_relationship,
    authenticated_profile_has_posts_and_relationship,
    profile_posts_page_links_to_the_rest,
    patch_profile_fields,
    patch_profile_bad_input_changes_nothing,
    patch_someone_else_is_forbidden,
    password_change,
    avatar_upload,
    delete_account_checks_who_and_what,
    delete_account_removes_everything_and_fixes_counters,
    unknown_paths_and_wrong_methods_answer_json,
    malformed_bodies_are_400,
    email_case_is_ignored_beyond_ascii,
    concurrent_activity_while_an_account_is_deleted,
);

fn signup_body(email: &str, full_name: &str, password: &str) -> Value {
    json!({"email": email, "full_name": full_name, "password": password})
}

async fn signup_login_me(app: TestApp) {
    let (status, body) = app.signup("  Ann@Example.com ", "correct-horse").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["email"], "Ann@Example.com");
    assert_eq!(body["post_count"], 0);

    let (status, body) = app.signup("ann@example.COM", "another-pass").await;
    assert_error(status, &body, StatusCode::CONFLICT, "email_taken");

    let (status, body) = app.login("ann@example.com", "correct-horse").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();

    let (status, me) = app.get("/accounts/me/", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "Ann@Example.com");

    let (status, body) = app
        .post(
            "/accounts/login",
            None,
            json!({"username": "ANN@example.com", "password": "wrong-pass"}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
}

async fn signup_returns_the_user_and_nothing_secret(app: TestApp) {
    let (status, body) = app
        .post(
            "/accounts/signup",
            None,
            signup_body(" dora@example.com", "  Dora Explorer  ", "dora-password"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["id"].is_i64(), "{body}");
    assert_eq!(body["email"], "dora@example.com");
    assert_eq!(body["full_name"], "Dora Explorer");
    assert_eq!(body["bio"], "");
    assert!(body["avatar_url"].is_null(), "{body}");
    assert_eq!(body["post_count"], 0);
    assert_eq!(body["follower_count"], 0);
    assert_eq!(body["following_count"], 0);
    let created = body["created_at"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(created).unwrap();
    assert_eq!(parsed.offset().local_minus_utc(), 0, "UTC: {created}");
    let age = chrono::Utc::now().signed_duration_since(parsed);
    assert!(
        age.num_seconds().abs() < 120,
        "created_at is now: {created}"
    );
    let text = body.to_string();
    assert!(!text.contains("dora-password"), "{text}");
    assert!(!text.contains("argon2"), "{text}");
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());
    assert!(
        body.get("token").is_none(),
        "signup does not log in: {body}"
    );

    // The trimmed, untouched-case email is what logs in.
    let (status, login) = app.login("dora@example.com", "dora-password").await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(login["user"]["id"], body["id"]);
    assert_eq!(login["user"]["full_name"], "Dora Explorer");
    let login_text = login.to_string();
    assert!(!login_text.contains("argon2") && !login_text.contains("dora-password"));
}

async fn signup_validation_names_each_field(app: TestApp) {
    // Nothing at all: every field is required.
    let (status, body) = app.post("/accounts/signup/", None, json!({})).await;
    assert_validation(status, &body, "email");
    assert_validation(status, &body, "full_name");
    assert_validation(status, &body, "password");

    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"full_name": "A", "password": "long-enough"}),
            "email",
        ),
        (signup_body("", "A", "long-enough"), "email"),
        (signup_body("   ", "A", "long-enough"), "email"),
        (signup_body("no-at-sign", "A", "long-enough"), "email"),
        (signup_body("a@", "A", "long-enough"), "email"),
        (signup_body("@example.com", "A", "long-enough"), "email"),
        (signup_body("a b@example.com", "A", "long-enough"), "email"),
        (signup_body("a@@example.com", "A", "long-enough"), "email"),
        (
            signup_body(
                &format!("{}@example.com", "a".repeat(250)),
                "A",
                "long-enough",
            ),
            "email",
        ),
        (
            json!({"email": "v@example.com", "password": "long-enough"}),
            "full_name",
        ),
        (signup_body("v@example.com", "", "long-enough"), "full_name"),
        (
            signup_body("v@example.com", "   ", "long-enough"),
            "full_name",
        ),
        (
            signup_body("v@example.com", &"n".repeat(256), "long-enough"),
            "full_name",
        ),
        (
            json!({"email": "v@example.com", "full_name": "A"}),
            "password",
        ),
        (signup_body("v@example.com", "A", ""), "password"),
        (signup_body("v@example.com", "A", "seven77"), "password"),
        (
            signup_body("v@example.com", "A", &"p".repeat(1025)),
            "password",
        ),
    ];
    for (request, field) in cases {
        let (status, body) = app.post("/accounts/signup/", None, request.clone()).await;
        assert_validation(status, &body, field);
        assert_eq!(
            error_fields(&body),
            HashSet::from([field.to_owned()]),
            "only {field} is wrong in {request}: {body}"
        );
    }

    // Nothing was stored by any of the refused sign-ups.
    let (status, body) = app.login("v@example.com", "long-enough").await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    let (status, body) = app
        .post(
            "/accounts/signup/",
            None,
            signup_body("v@example.com", &"n".repeat(255), "long-enough"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "255-character name: {body}");
    assert_eq!(body["full_name"].as_str().unwrap().chars().count(), 255);

    // Wrong JSON types are a client error, not a crash.
    for request in [
        json!({"email": 5, "full_name": "A", "password": "long-enough"}),
        json!({"email": "w@example.com", "full_name": ["A"], "password": "long-enough"}),
        json!({"email": "w@example.com", "full_name": "A", "password": 12345678}),
    ] {
        let (status, body) = app.post("/accounts/signup/", None, request.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {body}");
        assert!(
            body["code"].is_string() && body["detail"].is_string(),
            "{body}"
        );
    }
    let (status, _) = app.login("w@example.com", "long-enough").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn signup_password_bounds(app: TestApp) {
    let (status, body) = app.signup("p7@example.com", "1234567").await;
    assert_validation(status, &body, "password");
    let (status, body) = app.signup("p1025@example.com", &"x".repeat(1025)).await;
    assert_validation(status, &body, "password");
    // Characters are counted, not bytes: 1025 two-byte characters are too many too.
    let (status, body) = app.signup("p1025e@example.com", &"é".repeat(1025)).await;
    assert_validation(status, &body, "password");

    for (email, password) in [
        ("p8@example.com", "12345678".to_owned()),
        ("p1024@example.com", "x".repeat(1024)),
        ("p1024e@example.com", "é".repeat(1024)),
        // Never trimmed: the spaces are part of the password.
        ("pspace@example.com", "  spaced out  ".to_owned()),
    ] {
        let (status, body) = app.signup(email, &password).await;
        assert_eq!(status, StatusCode::CREATED, "{email}: {body}");
        let (status, body) = app.login(email, &password).await;
        assert_eq!(status, StatusCode::OK, "{email}: {body}");
    }
    let (status, _) = app.login("pspace@example.com", "spaced out").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "passwords are not trimmed"
    );
}

async fn signup_email_unique_case_insensitively(app: TestApp) {
    let (status, first) = app.signup("Bob.Smith@Example.com", "bob-password").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    for taken in [
        "Bob.Smith@Example.com",
        "bob.smith@example.com",
        "BOB.SMITH@EXAMPLE.COM",
        "  bob.smith@example.com  ",
    ] {
        let (status, body) = app.signup(taken, "other-password").await;
        assert_error(status, &body, StatusCode::CONFLICT, "email_taken");
    }
    // The refused sign-ups changed nothing: the first password still logs in.
    let (status, body) = app.login("bob.smith@example.com", "bob-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], first["id"]);
    let (status, _) = app.login("bob.smith@example.com", "other-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A different address is fine.
    let (status, body) = app.signup("bob.smith2@example.com", "bob-password").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn concurrent_signups_with_one_email_make_one_account(app: TestApp) {
    for round in 0..4 {
        let variants = [
            format!("race{round}@example.com"),
            format!("RACE{round}@example.com"),
            format!("Race{round}@Example.COM"),
            format!("race{round}@EXAMPLE.com"),
        ];
        let take = if round == 0 { 2 } else { variants.len() };
        let answers = futures_util::future::join_all(
            variants[..take]
                .iter()
                .map(|email| app.signup(email, "race-password")),
        )
        .await;
        let created = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .count();
        assert_eq!(
            created, 1,
            "round {round}: exactly one account: {answers:?}"
        );
        for (status, body) in &answers {
            if *status != StatusCode::CREATED {
                assert_error(*status, body, StatusCode::CONFLICT, "email_taken");
            }
        }
        let (status, body) = app
            .login(&format!("race{round}@example.com"), "race-password")
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

async fn profile_by_id_and_email(app: TestApp) {
    let (status, created) = app
        .post(
            "/accounts/signup/",
            None,
            signup_body("Mia.Rose+tag@Example.com", "Mia Rose", "mia-password"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let viewer = app.user("viewer").await;

    for path in [
        format!("/accounts/{id}/"),
        format!("/accounts/{id}"),
        "/accounts/Mia.Rose+tag@Example.com/".to_owned(),
        "/accounts/mia.rose+tag@example.com/".to_owned(),
        "/accounts/MIA.ROSE+TAG@EXAMPLE.COM".to_owned(),
        "/accounts/mia.rose%2Btag%40example.com/".to_owned(),
    ] {
        for token in [None, Some(viewer.token.as_str())] {
            let (status, body) = app.get(&path, token).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            assert_eq!(body["id"], id, "{path}: {body}");
            // Found by email, but another person's address is not shown.
            assert!(body.get("email").is_none(), "{path}: {body}");
            assert_eq!(body["full_name"], "Mia Rose");
            for field in [
                "bio",
                "avatar_url",
                "post_count",
                "follower_count",
                "following_count",
                "created_at",
            ] {
                assert!(body.get(field).is_some(), "{field} missing: {body}");
            }
            assert!(body.get("password_hash").is_none());
        }
    }

    for path in [
        "/accounts/999999/".to_owned(),
        format!("/accounts/{}/", id + 1000),
        "/accounts/0/".to_owned(),
        "/accounts/99999999999999999999999/".to_owned(),
        "/accounts/nobody@example.com/".to_owned(),
        "/accounts/mia.rose@example.com/".to_owned(),
        "/accounts/nobody@example.com".to_owned(),
    ] {
        for token in [None, Some(viewer.token.as_str())] {
            let (status, body) = app.get(&path, token).await;
            assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        }
    }
}

async fn anonymous_profile_has_no_posts_or_relationship(app: TestApp) {
    let author = app.user("anon-author").await;
    app.post_by(&author, "hello").await;
    let (status, body) = app.anonymous().profile(&author).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["post_count"], 1);
    assert!(body.get("posts").is_none(), "anonymous: no posts: {body}");
    assert!(body.get("is_following").is_none(), "{body}");
    assert!(body.get("follows_you").is_none(), "{body}");
    // Another scheme than Token/Bearer is no credential at all: still anonymous.
    let (status, _, body) = app
        .call_with_header(
            Method::GET,
            &format!("/accounts/{}", author.id),
            Some("Basic dXNlcjpwYXNz"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("posts").is_none(), "{body}");
}

async fn authenticated_profile_has_posts_and_relationship(app: TestApp) {
    let ann = app.user("rel-ann").await;
    let bob = app.user("rel-bob").await;
    let first = app.post_by(&bob, "first").await;
    let second = app.post_by(&bob, "second").await;

    let relationship = |viewer: &TestUser, target: &TestUser| {
        let app = &app;
        let path = format!("/accounts/{}/", target.id);
        let token = viewer.token.clone();
        async move {
            let (status, body) = app.get(&path, Some(&token)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            (
                body["is_following"].clone(),
                body["follows_you"].clone(),
                body,
            )
        }
    };

    let (following, follows_you, body) = relationship(&ann, &bob).await;
    assert_eq!((following, follows_you), (json!(false), json!(false)));
    let posts = &body["posts"];
    assert!(posts["next"].is_null(), "{posts}");
    let ids: Vec<i64> = posts["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![second, first], "newest first");
    assert_eq!(posts["results"][0]["caption"], "second");
    assert_eq!(posts["results"][0]["author"]["id"], bob.id);
    assert_eq!(body["post_count"], 2);

    let (status, _) = app.as_(&ann).follow(&bob).await;
    assert_eq!(status, StatusCode::CREATED);
    let (following, follows_you, body) = relationship(&ann, &bob).await;
    assert_eq!((following, follows_you), (json!(true), json!(false)));
    assert_eq!(body["follower_count"], 1);
    let (following, follows_you, body) = relationship(&bob, &ann).await;
    assert_eq!((following, follows_you), (json!(false), json!(true)));
    assert_eq!(body["following_count"], 1);
    assert_eq!(body["posts"], json!({"results": [], "next": null}));

    let (status, _) = app.as_(&bob).follow(&ann).await;
    assert_eq!(status, StatusCode::CREATED);
    let (following, follows_you, _) = relationship(&ann, &bob).await;
    assert_eq!((following, follows_you), (json!(true), json!(true)));
    let (following, follows_you, _) = relationship(&bob, &ann).await;
    assert_eq!((following, follows_you), (json!(true), json!(true)));

    let (status, _) = app.as_(&ann).unfollow(&bob).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (following, follows_you, _) = relationship(&ann, &bob).await;
    assert_eq!((following, follows_you), (json!(false), json!(true)));

    // Looking at oneself.
    let (following, follows_you, body) = relationship(&bob, &bob).await;
    assert_eq!((following, follows_you), (json!(false), json!(false)));
    assert_eq!(body["posts"]["results"].as_array().unwrap().len(), 2);
}

async fn profile_posts_page_links_to_the_rest(app: TestApp) {
    let author = app.user("prolific").await;
    let viewer = app.user("reader").await;
    let mut ids = Vec::new();
    for i in 0..31 {
        ids.push(app.post_by(&author, &format!("post {i}")).await);
    }
    ids.reverse();
    let (status, body) = app.as_(&viewer).profile(&author).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["post_count"], 31);
    let first: Vec<i64> = body["posts"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(first, ids[..30], "the first page has the 30 newest");
    let next = body["posts"]["next"].as_str().expect("a next page");
    assert!(next.starts_with("http://"), "absolute: {next}");
    let rest = app
        .walk(next.trim_start_matches(&app.address), Some(&viewer.token))
        .await;
    assert_eq!(
        crate::helpers::ids(&rest),
        ids[30..],
        "the next page has the rest"
    );
}

async fn patch_profile_fields(app: TestApp) {
    let user = app.user("patchy").await;
    let path = format!("/accounts/{}/", user.id);

    let (status, body) = app
        .patch(
            &path,
            Some(&user.token),
            json!({"full_name": "  Patchy McPatch ", "bio": " Hello there. "}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], user.id);
    assert_eq!(body["full_name"], "Patchy McPatch");
    assert_eq!(body["bio"], "Hello there.");
    assert_eq!(body["email"], user.email);
    let (_, anonymous) = app.get(&path, None).await;
    assert!(anonymous.get("email").is_none(), "{anonymous}");
    assert_eq!(anonymous["full_name"], "Patchy McPatch");
    assert_eq!(anonymous["bio"], "Hello there.");

    // Only what is sent changes; the bare path and the email path work too.
    let (status, body) = app
        .patch(
            path.trim_end_matches('/'),
            Some(&user.token),
            json!({"bio": "Only the bio."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["full_name"], "Patchy McPatch");
    assert_eq!(body["bio"], "Only the bio.");
    let (status, body) = app
        .patch(
            &format!("/accounts/{}/", user.email.to_uppercase()),
            Some(&user.token),
            json!({"full_name": "By Email"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["full_name"], "By Email");
    assert_eq!(body["bio"], "Only the bio.");
    let (status, _, body) = app
        .call_with_header(
            Method::PATCH,
            &path,
            Some(&format!("Bearer {}", user.token)),
            Some(json!({"bio": &"b".repeat(255)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "255-character bio: {body}");
    assert_eq!(body["bio"].as_str().unwrap().chars().count(), 255);
    let (status, body) = app
        .patch(&path, Some(&user.token), json!({"bio": ""}))
        .await;
    assert_eq!(status, StatusCode::OK, "an empty bio clears it: {body}");
    assert_eq!(body["bio"], "");
    // An empty change changes nothing and answers the user.
    let (status, body) = app.patch(&path, Some(&user.token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["full_name"], "By Email");

    let (status, me) = app.as_(&user).me().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["full_name"], "By Email");
    assert_eq!(me["bio"], "");
    // The password did not change through any of this.
    let (status, _) = app.login(&user.email, &user.password).await;
    assert_eq!(status, StatusCode::OK);
}

async fn patch_profile_bad_input_changes_nothing(app: TestApp) {
    let user = app.user("careful").await;
    let path = format!("/accounts/{}/", user.id);
    let (status, _) = app
        .patch(
            &path,
            Some(&user.token),
            json!({"full_name": "Careful", "bio": "Original bio"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let cases: Vec<(Value, &str)> = vec![
        (json!({"full_name": ""}), "full_name"),
        (json!({"full_name": "   "}), "full_name"),
        (json!({"full_name": "n".repeat(256)}), "full_name"),
        (json!({"bio": "b".repeat(256)}), "bio"),
        // A good field does not go through beside a bad one.
        (
            json!({"full_name": "Changed", "bio": "b".repeat(256)}),
            "bio",
        ),
        (json!({"bio": "Changed", "full_name": ""}), "full_name"),
        (
            json!({"bio": "Changed", "password": "new-password-1"}),
            "current_password",
        ),
        (
            json!({"full_name": "Changed", "password": "short", "current_password": user.password}),
            "password",
        ),
        (
            json!({"full_name": "Changed", "password": "x".repeat(1025), "current_password": user.password}),
            "password",
        ),
        (
            json!({"bio": "Changed", "password": "new-password-1", "current_password": "wrong-password"}),
            "current_password",
        ),
    ];
    for (request, field) in cases {
        let (status, body) = app.patch(&path, Some(&user.token), request.clone()).await;
        assert_validation(status, &body, field);
        let (_, now) = app.get(&path, None).await;
        assert_eq!(now["full_name"], "Careful", "after {request}");
        assert_eq!(now["bio"], "Original bio", "after {request}");
    }

    // Unparseable or mistyped bodies: 400, nothing changed.
    let (status, _, body) = app
        .send_raw(
            Method::PATCH,
            &path,
            &[
                ("Authorization", &format!("Token {}", user.token)),
                ("Content-Type", "application/json"),
            ],
            Some(br#"{"bio": "Changed""#.to_vec()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for request in [
        json!({"bio": 5}),
        json!({"full_name": {"x": 1}}),
        json!({"bio": ["a"]}),
    ] {
        let (status, body) = app.patch(&path, Some(&user.token), request.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {body}");
    }
    let (_, now) = app.get(&path, None).await;
    assert_eq!(now["full_name"], "Careful");
    assert_eq!(now["bio"], "Original bio");
    // The password still is the original one.
    let (status, _) = app.login(&user.email, &user.password).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.login(&user.email, "new-password-1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn patch_someone_else_is_forbidden(app: TestApp) {
    let owner = app.user("owner").await;
    let intruder = app.user("intruder").await;
    for path in [
        format!("/accounts/{}/", owner.id),
        format!("/accounts/{}", owner.id),
        format!("/accounts/{}/", owner.email),
    ] {
        let (status, body) = app
            .patch(
                &path,
                Some(&intruder.token),
                json!({"full_name": "Pwned", "bio": "pwned"}),
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "permission_denied");
        let (status, body) = app
            .patch(
                &path,
                Some(&intruder.token),
                json!({"password": "new-password-1", "current_password": intruder.password}),
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "permission_denied");
    }
    let (_, now) = app.anonymous().profile(&owner).await;
    assert_eq!(now["full_name"], "Test Person");
    assert_eq!(now["bio"], "");
    let (status, _) = app.login(&owner.email, &owner.password).await;
    assert_eq!(status, StatusCode::OK);
    let (_, mine) = app.anonymous().profile(&intruder).await;
    assert_eq!(
        mine["full_name"], "Test Person",
        "the intruder's own profile is untouched"
    );

    for path in ["/accounts/999999/", "/accounts/nobody@example.com/"] {
        let (status, body) = app
            .patch(path, Some(&intruder.token), json!({"bio": "x"}))
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
}

async fn password_change(app: TestApp) {
    let user = app.user("rotator").await;
    let path = format!("/accounts/{}/", user.id);
    let new_password = "a-brand-new-password";

    // Missing or wrong current password: refused, and both passwords behave as before.
    for request in [
        json!({"password": new_password}),
        json!({"password": new_password, "current_password": null}),
        json!({"password": new_password, "current_password": "wrong-password"}),
        json!({"password": new_password, "current_password": ""}),
        json!({"password": new_password, "current_password": "x".repeat(1025)}),
        json!({"password": new_password, "current_password": user.password.to_uppercase()}),
    ] {
        let (status, body) = app.patch(&path, Some(&user.token), request.clone()).await;
        assert_validation(status, &body, "current_password");
        assert!(!body.to_string().contains(new_password), "{body}");
    }
    let (status, _) = app.login(&user.email, &user.password).await;
    assert_eq!(status, StatusCode::OK, "the old password still works");
    let (status, _) = app.login(&user.email, new_password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The right current password changes it.
    let (status, body) = app
        .patch(
            &path,
            Some(&user.token),
            json!({"password": new_password, "current_password": user.password}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], user.id);
    let text = body.to_string();
    assert!(
        !text.contains(new_password) && !text.contains("argon2"),
        "{text}"
    );

    let (status, body) = app.login(&user.email, &user.password).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    let (status, body) = app.login(&user.email, new_password).await;
    assert_eq!(status, StatusCode::OK, "the new password works: {body}");

    // Changing it again needs the new one as the current password.
    let (status, body) = app
        .patch(
            &path,
            Some(&user.token),
            json!({"password": "third-password", "current_password": user.password}),
        )
        .await;
    assert_validation(status, &body, "current_password");
    let (status, body) = app
        .patch(
            &path,
            Some(&user.token),
            json!({"password": "third-password", "current_password": new_password, "bio": "rotated"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["bio"], "rotated");
    let (status, _) = app.login(&user.email, "third-password").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.login(&user.email, new_password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Sends a multipart profile change.
async fn patch_multipart(
    app: &TestApp,
    path: &str,
    token: &str,
    form: reqwest::multipart::Form,
) -> (StatusCode, Value) {
    let response = app
        .client
        .patch(app.url(path))
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn avatar_upload(app: TestApp) {
    let user = app.user("selfie").await;
    let other = app.user("selfie-other").await;
    let path = format!("/accounts/{}/", user.id);

    let form = reqwest::multipart::Form::new()
        .part(
            "avatar",
            reqwest::multipart::Part::bytes(png(64, 48)).file_name("me.png"),
        )
        .text("full_name", "Selfie Taker");
    let (status, body) = patch_multipart(&app, &path, &user.token, form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["full_name"], "Selfie Taker");
    let avatar = body["avatar_url"]
        .as_str()
        .expect("an avatar url")
        .to_owned();
    assert!(avatar.starts_with(&app.address), "absolute URL: {avatar}");
    let response = app.client.get(&avatar).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("image/"), "{content_type}");
    let (_, anonymous) = app.get(&path, None).await;
    assert_eq!(anonymous["avatar_url"], avatar.as_str());

    // Not a picture: 415, and the avatar stays.
    let form = reqwest::multipart::Form::new().part(
        "avatar",
        reqwest::multipart::Part::bytes(b"definitely not an image".to_vec()).file_name("me.png"),
    );
    let (status, body) = patch_multipart(&app, &path, &user.token, form).await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (_, now) = app.get(&path, None).await;
    assert_eq!(now["avatar_url"], avatar.as_str());

    // Someone else's avatar: 403, nothing stored.
    let form = reqwest::multipart::Form::new().part(
        "avatar",
        reqwest::multipart::Part::bytes(png(10, 10)).file_name("x.png"),
    );
    let (status, body) = patch_multipart(&app, &path, &other.token, form).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "permission_denied");
    let (_, now) = app.get(&path, None).await;
    assert_eq!(now["avatar_url"], avatar.as_str());

    // A new avatar replaces the old one.
    let form = reqwest::multipart::Form::new().part(
        "avatar",
        reqwest::multipart::Part::bytes(png(30, 30)).file_name("new.png"),
    );
    let (status, body) = patch_multipart(&app, &path, &user.token, form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let replaced = body["avatar_url"].as_str().unwrap();
    assert_ne!(replaced, avatar, "a new key");
    let response = app.client.get(replaced).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body["full_name"], "Selfie Taker");
}

async fn delete_account_checks_who_and_what(app: TestApp) {
    let owner = app.user("keeper").await;
    let intruder = app.user("deleter").await;
    for path in [
        format!("/accounts/{}/", owner.id),
        format!("/accounts/{}", owner.id),
        format!("/accounts/{}/", owner.email.to_uppercase()),
    ] {
        let (status, body) = app.delete(&path, Some(&intruder.token)).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "permission_denied");
    }
    for path in ["/accounts/999999/", "/accounts/nobody@example.com/"] {
        let (status, body) = app.delete(path, Some(&intruder.token)).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, body) = app.anonymous().profile(&owner).await;
    assert_eq!(status, StatusCode::OK, "still there: {body}");
    let (status, _) = app.as_(&owner).me().await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.login(&owner.email, &owner.password).await;
    assert_eq!(status, StatusCode::OK);

    // Deleting by email, without the trailing slash.
    let (status, body) = app
        .delete(
            &format!("/accounts/{}", owner.email.to_uppercase()),
            Some(&owner.token),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = app.anonymous().profile(&owner).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    // A second delete: the token is gone with the account.
    app.assert_unauthenticated_call(
        Method::DELETE,
        &format!("/accounts/{}/", owner.id),
        Some(&format!("Token {}", owner.token)),
    )
    .await;
    // The intruder is untouched.
    let (status, _) = app.as_(&intruder).me().await;
    assert_eq!(status, StatusCode::OK);
}

async fn delete_account_removes_everything_and_fixes_counters(app: TestApp) {
    let doomed = app.user("doomed").await;
    let bob = app.user("del-bob").await;
    let cat = app.user("del-cat").await;
    let dan = app.user("del-dan").await;
    let (status, body) = app.login(&doomed.email, &doomed.password).await;
    assert_eq!(status, StatusCode::OK);
    let second_token = body["token"].as_str().unwrap().to_owned();

    let follow = |from: &TestUser, to: &TestUser| {
        let path = format!("/accounts/follow/{}/", to.id);
        let token = from.token.clone();
        let app = &app;
        async move {
            let (status, body) = app.post(&path, Some(&token), json!({})).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    };
    follow(&doomed, &bob).await;
    follow(&doomed, &cat).await;
    follow(&bob, &doomed).await;
    follow(&dan, &doomed).await;
    follow(&bob, &cat).await;

    // Posts, likes and comments both ways.
    let doomed_post = app.post_by(&doomed, "mine").await;
    let bob_post = app.post_by(&bob, "bob's").await;
    let (status, body) = app.as_(&doomed).like(bob_post).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.as_(&cat).like(bob_post).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.as_(&bob).like(doomed_post).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, comment) = app.as_(&doomed).comment(bob_post, "nice").await;
    assert_eq!(status, StatusCode::CREATED, "{comment}");
    let comment_id = comment["id"].as_i64().unwrap();
    let (status, body) = app
        .post(
            &format!("/posts/post-comment/{bob_post}/{comment_id}/"),
            Some(&bob.token),
            json!({"content": "thanks"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, cat_comment) = app.as_(&cat).comment(bob_post, "great").await;
    assert_eq!(status, StatusCode::CREATED, "{cat_comment}");
    let cat_comment_id = cat_comment["id"].as_i64().unwrap();
    let (status, body) = app
        .post(
            &format!("/posts/post-comment/{bob_post}/{cat_comment_id}/"),
            Some(&doomed.token),
            json!({"content": "agreed"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.as_(&cat).comment(doomed_post, "hi").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.assert_counters_exact().await;

    let (status, body) = app.as_(&doomed).delete_account(&doomed).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(body.is_null(), "{body}");

    // Every token of the account is gone, and so is the login.
    for token in [&doomed.token, &second_token] {
        app.assert_unauthenticated_call(
            Method::GET,
            "/accounts/me/",
            Some(&format!("Token {token}")),
        )
        .await;
    }
    let (status, body) = app.login(&doomed.email, &doomed.password).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    for path in [
        format!("/accounts/{}/", doomed.id),
        format!("/accounts/{}/", doomed.email),
    ] {
        let (status, body) = app.get(&path, Some(&bob.token)).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    for path in [
        format!("/accounts/follower/{}/", doomed.id),
        format!("/accounts/following/{}/", doomed.id),
        format!("/accounts/{}/posts/", doomed.id),
    ] {
        let (status, body) = app.get(&path, Some(&bob.token)).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, body) = app.as_(&bob).follow(&doomed).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.as_(&bob).get_post(doomed_post).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "its post is gone: {body}");

    // Counters of everyone it touched.
    let bob_now = profile_of(&app, &bob).await;
    assert_eq!(bob_now["follower_count"], 0, "{bob_now}");
    assert_eq!(
        bob_now["following_count"], 1,
        "bob still follows cat: {bob_now}"
    );
    let cat_now = profile_of(&app, &cat).await;
    assert_eq!(cat_now["follower_count"], 1, "only bob: {cat_now}");
    let dan_now = profile_of(&app, &dan).await;
    assert_eq!(dan_now["following_count"], 0, "{dan_now}");
    let (status, post) = app.as_(&bob).get_post(bob_post).await;
    assert_eq!(status, StatusCode::OK, "{post}");
    assert_eq!(post["likes_count"], 1, "cat's like stays: {post}");
    assert_eq!(
        post["comments_count"], 1,
        "only cat's comment stays: {post}"
    );
    let followers = app
        .walk(&format!("/accounts/follower/{}/", bob.id), Some(&bob.token))
        .await;
    assert!(followers.is_empty(), "{followers:?}");
    app.assert_counters_exact().await;

    // The address is free again.
    let (status, body) = app.signup(&doomed.email, "a-new-life-pw").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(body["id"], doomed.id);
    assert_eq!(body["follower_count"], 0);

    // The comment thread shows only what is left.
    let (status, comments) = app.as_(&bob).comments(bob_post).await;
    assert_eq!(status, StatusCode::OK, "{comments}");
    let remaining = comments["results"].as_array().unwrap();
    assert_eq!(remaining.len(), 1, "{comments}");
    assert_eq!(remaining[0]["id"], cat_comment_id);
    assert_eq!(remaining[0]["reply_count"], 0, "{comments}");
}

async fn unknown_paths_and_wrong_methods_answer_json(app: TestApp) {
    let user = app.user("wanderer").await;
    let id = user.id;
    for path in [
        "/nope".to_owned(),
        "/nope/".to_owned(),
        "/accounts".to_owned(),
        "/accounts/".to_owned(),
        format!("/accounts/{id}/posts/extra/"),
        format!("/accounts/{id}/followers/"),
        "/accounts/follow/".to_owned(),
        "/accounts/follower/".to_owned(),
    ] {
        for token in [None, Some(user.token.as_str())] {
            let (status, body) = app.get(&path, token).await;
            assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        }
    }
    // A malformed id in a path names nothing.
    for path in [
        "/accounts/follow/abc/",
        "/accounts/follow/1.5/",
        "/accounts/follow/-/",
    ] {
        let (status, body) = app.post(path, Some(&user.token), json!({})).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, body) = app
        .delete("/accounts/remove-follower/xyz/", Some(&user.token))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    let wrong: Vec<(Method, String)> = vec![
        (Method::GET, "/accounts/signup/".into()),
        (Method::PUT, "/accounts/signup".into()),
        (Method::GET, "/accounts/login/".into()),
        (Method::DELETE, "/accounts/login".into()),
        (Method::GET, "/accounts/logout/".into()),
        (Method::POST, "/accounts/me/".into()),
        (Method::PUT, "/accounts/me".into()),
        (Method::DELETE, "/accounts/me/".into()),
        (Method::POST, format!("/accounts/{id}/")),
        (Method::PUT, format!("/accounts/{id}")),
        (Method::POST, format!("/accounts/{id}/posts/")),
        (Method::GET, format!("/accounts/follow/{id}/")),
        (Method::PUT, format!("/accounts/follow/{id}")),
        (Method::GET, format!("/accounts/remove-follower/{id}/")),
        (Method::POST, format!("/accounts/remove-follower/{id}")),
        (Method::POST, format!("/accounts/follower/{id}/")),
        (Method::DELETE, format!("/accounts/following/{id}")),
    ];
    for (method, path) in wrong {
        let (status, headers, body) = app
            .call_with_header(
                method.clone(),
                &path,
                Some(&format!("Token {}", user.token)),
                Some(json!({})),
            )
            .await;
        assert_error(
            status,
            &body,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{method} {path}: {content_type}"
        );
    }
    // None of that did anything.
    let (status, me) = app.as_(&user).me().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["following_count"], 0);
}

async fn malformed_bodies_are_400(app: TestApp) {
    let user = app.user("parser").await;
    let json_header = ("Content-Type", "application/json");
    let bad_bodies: [&[u8]; 6] = [
        b"{",
        b"{\"email\": \"a@b.co\",}",
        b"not json at all",
        b"[1, 2, 3]",
        b"\"a string\"",
        b"{\"email\": \"a@b.co\" \"password\": \"x\"}",
    ];
    for path in ["/accounts/signup/", "/accounts/login/"] {
        for body in bad_bodies {
            let (status, _, answer) = app
                .send_raw(Method::POST, path, &[json_header], Some(body.to_vec()))
                .await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{path} with {:?}: {answer}",
                String::from_utf8_lossy(body)
            );
            assert!(
                answer["code"].is_string() && answer["detail"].is_string(),
                "{answer}"
            );
        }
    }
    let auth = format!("Token {}", user.token);
    for body in bad_bodies {
        let (status, _, answer) = app
            .send_raw(
                Method::PATCH,
                &format!("/accounts/{}/", user.id),
                &[json_header, ("Authorization", &auth)],
                Some(body.to_vec()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer["code"].is_string(), "{answer}");
    }
    // A body that is not JSON by its declared type.
    let (status, _, answer) = app
        .send_raw(
            Method::POST,
            "/accounts/signup/",
            &[("Content-Type", "text/plain")],
            Some(
                br#"{"email": "t@example.com", "full_name": "T", "password": "long-enough"}"#
                    .to_vec(),
            ),
        )
        .await;
    assert_error(
        status,
        &answer,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    // Invalid UTF-8 inside JSON.
    let (status, _, answer) = app
        .send_raw(
            Method::POST,
            "/accounts/login/",
            &[json_header],
            Some(b"{\"email\": \"\xff\xfe\", \"password\": \"x\"}".to_vec()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // Nobody got created by any of it, and the user is unchanged.
    let (status, _) = app.login("t@example.com", "long-enough").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, me) = app.as_(&user).me().await;
    assert_eq!(me["full_name"], "Test Person");
}

async fn email_case_is_ignored_beyond_ascii(app: TestApp) {
    let (status, body) = app
        .signup("Émile.Öberg@example.com", "emile-password")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().unwrap();
    let (status, body) = app
        .signup("émile.öberg@example.com", "other-password")
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "email_taken");
    let (status, body) = app.login("ÉMILE.ÖBERG@EXAMPLE.COM", "emile-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get("/accounts/émile.öberg@example.com/", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], id);
}

/// Others like, comment on and follow an account's posts while it deletes itself, and the account
/// likes and comments elsewhere at the same time: no server error, every counter right after.
async fn concurrent_activity_while_an_account_is_deleted(app: TestApp) {
    let doomed = app.user("vanishing").await;
    let others = app.users("bystander", 12).await;
    let doomed_posts = [
        app.post_by(&doomed, "one").await,
        app.post_by(&doomed, "two").await,
    ];
    let mut other_posts = Vec::new();
    for other in &others[..4] {
        other_posts.push(app.post_by(other, "theirs").await);
    }
    // Some relations exist before the storm.
    for other in &others[..6] {
        let (status, _) = app.as_(other).follow(&doomed).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _) = app
            .post(
                &format!("/posts/post-reaction/{}/", doomed_posts[0]),
                Some(&other.token),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    for post in &other_posts {
        let (status, comment) = app.as_(&doomed).comment(*post, "first").await;
        assert_eq!(status, StatusCode::CREATED, "{comment}");
    }

    let mut requests: Vec<(Method, String, String, Option<Value>)> = Vec::new();
    for (i, other) in others.iter().enumerate() {
        let post = doomed_posts[i % 2];
        requests.push((
            Method::POST,
            format!("/posts/post-reaction/{post}/"),
            other.token.clone(),
            Some(json!({})),
        ));
        requests.push((
            Method::POST,
            format!("/posts/post-comment/{post}/"),
            other.token.clone(),
            Some(json!({"content": "hello"})),
        ));
        requests.push((
            Method::POST,
            format!("/accounts/follow/{}/", doomed.id),
            other.token.clone(),
            Some(json!({})),
        ));
        requests.push((
            Method::DELETE,
            format!("/accounts/remove-follower/{}/", doomed.id),
            other.token.clone(),
            None,
        ));
    }
    for post in &other_posts {
        requests.push((
            Method::POST,
            format!("/posts/post-reaction/{post}/"),
            doomed.token.clone(),
            Some(json!({})),
        ));
        requests.push((
            Method::POST,
            format!("/posts/post-comment/{post}/"),
            doomed.token.clone(),
            Some(json!({"content": "late"})),
        ));
    }
    for other in &others[6..] {
        requests.push((
            Method::POST,
            format!("/accounts/follow/{}/", other.id),
            doomed.token.clone(),
            Some(json!({})),
        ));
    }
    let doomed_path = format!("/accounts/{}/", doomed.id);
    let delete = app.delete(&doomed_path, Some(&doomed.token));
    let storm =
        futures_util::future::join_all(requests.iter().map(|(method, path, token, body)| {
            app.call(method.clone(), path, Some(token), body.clone())
        }));
    let ((status, body), answers) = futures_util::join!(delete, storm);
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for ((method, path, _, _), (status, body)) in requests.iter().zip(&answers) {
        assert!(
            !status.is_server_error(),
            "{method} {path}: {status} {body}"
        );
        assert!(
            status.is_success()
                || *status == StatusCode::NOT_FOUND
                || *status == StatusCode::UNAUTHORIZED,
            "{method} {path}: {status} {body}"
        );
    }
    app.assert_counters_exact().await;
    let (status, body) = app.anonymous().profile(&doomed).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    for other in &others {
        let (_, profile) = app.anonymous().profile(&other).await;
        assert_eq!(profile["follower_count"], 0, "{profile}");
        assert_eq!(profile["following_count"], 0, "{profile}");
    }
    for post in &other_posts {
        let (status, body) = app
            .get(&format!("/posts/edit/{post}/"), Some(&others[0].token))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["likes_count"], 0, "{body}");
        assert_eq!(body["comments_count"], 0, "{body}");
    }
}
