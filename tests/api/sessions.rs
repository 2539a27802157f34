//! Sessions: logging in (by email or username; failures look alike), tokens and their schemes,
//! logging out one token or everywhere, a password change, and the idle and absolute lifetimes of
//! a token (then its deletion by the sweep), as a client sees them.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestUser, assert_error, assert_unauthenticated, assert_validation, error_fields,
    profile_of, with_settings,
};

on_both_backends!(
    logout_all_revokes_every_token_of_the_caller_only,
    a_password_change_revokes_every_other_token,
    login_accepts_email_or_username,
    login_failures_look_the_same,
    login_validation,
    each_login_issues_a_new_token,
    token_schemes_and_bad_tokens,
    endpoints_needing_a_token_answer_401,
    logout_revokes_only_the_used_token,
);
on_both_backends!(
    an_idle_token_expires_and_says_so,
    start: with_settings(crate::sessions::short_idle)
);
on_both_backends!(
    a_token_in_use_expires_at_its_absolute_lifetime,
    start: with_settings(crate::sessions::short_absolute)
);
on_both_backends!(
    the_sweep_deletes_expired_tokens,
    start: with_settings(crate::sessions::short_idle_and_sweep)
);

fn short_idle(s: &mut being_social::settings::Settings) {
    s.token_idle_lifetime = Duration::from_secs(2);
}

fn short_absolute(s: &mut being_social::settings::Settings) {
    s.token_idle_lifetime = Duration::from_secs(2);
    s.token_absolute_lifetime = Duration::from_secs(3);
}

fn short_idle_and_sweep(s: &mut being_social::settings::Settings) {
    s.token_idle_lifetime = Duration::from_secs(1);
    s.token_sweep_interval = Duration::from_millis(500);
}

/// A further token of the user, from a new login.
async fn second_token(app: &TestApp, user: &TestUser) -> String {
    let (status, body) = app.login(&user.email, &user.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// The status and error code (if any) of `GET /accounts/me/` with the token.
async fn me_with(app: &TestApp, token: &str) -> (StatusCode, String) {
    let (status, body) = app.get("/accounts/me/", Some(token)).await;
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

async fn logout_all_revokes_every_token_of_the_caller_only(app: TestApp) {
    let ann = app.user("ann").await;
    let other_device = second_token(&app, &ann).await;
    let bob = app.user("bob").await;

    let (status, body) = app
        .post("/accounts/logout-all/", Some(&ann.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for token in [&ann.token, &other_device] {
        let (status, body) = app.get("/accounts/me/", Some(token)).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "not_authenticated");
    }
    // Nobody else is logged out, and the caller can log in again.
    assert_eq!(me_with(&app, &bob.token).await.0, StatusCode::OK);
    let fresh = second_token(&app, &ann).await;
    assert_eq!(me_with(&app, &fresh).await.0, StatusCode::OK);

    // Without a token there is nothing to log out of.
    let (status, body) = app.post("/accounts/logout-all/", None, json!({})).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "not_authenticated");
}

async fn a_password_change_revokes_every_other_token(app: TestApp) {
    let ann = app.user("ann").await;
    let stolen = second_token(&app, &ann).await;
    let bob = app.user("bob").await;

    // A change of name alone ends no session.
    let path = format!("/accounts/{}/", ann.id);
    let (status, body) = app
        .patch(&path, Some(&ann.token), json!({"full_name": "Ann"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(me_with(&app, &stolen).await.0, StatusCode::OK);

    // A wrong current password changes nothing, sessions included.
    let wrong = json!({"password": "a-new-password", "current_password": "not-it"});
    let (status, _) = app.patch(&path, Some(&ann.token), wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(me_with(&app, &stolen).await.0, StatusCode::OK);

    let change = json!({"password": "a-new-password", "current_password": ann.password});
    let (status, body) = app.patch(&path, Some(&ann.token), change).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get("/accounts/me/", Some(&stolen)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "not_authenticated");
    // The token the change was made with goes on; so do other users' tokens.
    assert_eq!(me_with(&app, &ann.token).await.0, StatusCode::OK);
    assert_eq!(me_with(&app, &bob.token).await.0, StatusCode::OK);
    let (status, _) = app.login(&ann.email, "a-new-password").await;
    assert_eq!(status, StatusCode::OK);
}

async fn an_idle_token_expires_and_says_so(app: TestApp) {
    let ann = app.user("ann").await;
    // Used every half second for longer than the idle lifetime: it stays alive.
    for _ in 0..6 {
        assert_eq!(me_with(&app, &ann.token).await.0, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for path in ["/accounts/me/", "/posts/post-feed/"] {
        let (status, headers, body) = app
            .send_raw(
                Method::GET,
                path,
                &[("Authorization", &format!("Token {}", ann.token))],
                None,
            )
            .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "token_expired");
        assert_eq!(headers["www-authenticate"], "Token");
        assert!(
            body["detail"].as_str().unwrap().contains("Log in again"),
            "{body}"
        );
    }
    // A new login is a new session.
    let fresh = second_token(&app, &ann).await;
    assert_eq!(me_with(&app, &fresh).await.0, StatusCode::OK);
}

async fn a_token_in_use_expires_at_its_absolute_lifetime(app: TestApp) {
    let ann = app.user("ann").await;
    // Never idle for more than 400 ms, yet older than 3 s at the end.
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.push(me_with(&app, &ann.token).await);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(answers[0].0, StatusCode::OK);
    let last = answers.last().unwrap();
    assert_eq!(
        (last.0, last.1.as_str()),
        (StatusCode::UNAUTHORIZED, "token_expired"),
        "{answers:?}"
    );
    // Once expired, it stays expired.
    let first_expired = answers.iter().position(|a| a.0 != StatusCode::OK).unwrap();
    assert!(
        answers[first_expired..]
            .iter()
            .all(|a| a.1 == "token_expired"),
        "{answers:?}"
    );
}

async fn the_sweep_deletes_expired_tokens(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    // Ann's token goes idle, expires after a second and is deleted by a later sweep, after which
    // it is as unknown as a token never issued. Bob stays active and keeps his.
    for _ in 0..12 {
        assert_eq!(me_with(&app, &bob.token).await.0, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, body) = app.as_(&ann).me().await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "not_authenticated");
    assert_eq!(me_with(&app, &bob.token).await.0, StatusCode::OK);
}

async fn login_accepts_email_or_username(app: TestApp) {
    let user = app.user("lena").await;
    for (request, what) in [
        (
            json!({"email": user.email, "password": user.password}),
            "email",
        ),
        (
            json!({"username": user.email, "password": user.password}),
            "username",
        ),
        (
            json!({"email": "  LENA@example.COM ", "password": user.password}),
            "email in another case, with spaces",
        ),
        (
            json!({"username": "Lena@Example.com", "password": user.password}),
            "username in another case",
        ),
    ] {
        for path in ["/accounts/login/", "/accounts/login"] {
            let (status, body) = app.post(path, None, request.clone()).await;
            assert_eq!(status, StatusCode::OK, "{what} at {path}: {body}");
            assert_eq!(body["user"]["id"], user.id, "{body}");
            assert_eq!(body["user"]["email"], "lena@example.com");
            let token = body["token"].as_str().unwrap();
            assert!(token.len() >= 20, "a token worth the name: {token}");
            let (status, me) = app.get("/accounts/me/", Some(token)).await;
            assert_eq!(status, StatusCode::OK, "{me}");
            assert_eq!(me["id"], user.id);
        }
    }
}

async fn login_failures_look_the_same(app: TestApp) {
    let user = app.user("kim").await;
    let (status_unknown, unknown) = app.login("nobody@example.com", &user.password).await;
    let (status_wrong, wrong) = app.login(&user.email, "not-the-password").await;
    let (status_username, via_username) = app
        .post(
            "/accounts/login/",
            None,
            json!({"username": "nobody@example.com", "password": "whatever-pw"}),
        )
        .await;
    assert_error(
        status_unknown,
        &unknown,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_eq!(status_unknown, status_wrong);
    assert_eq!(
        unknown, wrong,
        "unknown email and wrong password look alike"
    );
    assert_eq!(status_username, status_wrong);
    assert_eq!(via_username, wrong);
    assert!(
        !wrong.to_string().to_lowercase().contains("not found"),
        "{wrong}"
    );

    // A password that would be valid except for its case.
    let (status, body) = app.login(&user.email, &user.password.to_uppercase()).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    // 1024 characters is allowed, and simply wrong.
    let (status, body) = app.login(&user.email, &"k".repeat(1024)).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
}

async fn login_validation(app: TestApp) {
    let user = app.user("omar").await;
    // Over 1024 characters is refused before any hashing, for known and unknown emails alike.
    for email in [user.email.as_str(), "ghost@example.com"] {
        let (status, body) = app.login(email, &"x".repeat(1025)).await;
        assert_validation(status, &body, "password");
        assert_eq!(error_fields(&body), HashSet::from(["password".to_owned()]));
    }
    let (status, body) = app
        .post("/accounts/login/", None, json!({"password": user.password}))
        .await;
    assert_validation(status, &body, "email");
    let (status, body) = app
        .post("/accounts/login/", None, json!({"email": user.email}))
        .await;
    assert_validation(status, &body, "password");
    let (status, body) = app.post("/accounts/login/", None, json!({})).await;
    assert_validation(status, &body, "email");
    assert_validation(status, &body, "password");
    let (status, body) = app
        .post(
            "/accounts/login/",
            None,
            json!({"email": 42, "password": user.password}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // None of that locked the account or changed it.
    let (status, body) = app.login(&user.email, &user.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn each_login_issues_a_new_token(app: TestApp) {
    let user = app.user("tess").await;
    let mut tokens = HashSet::from([user.token.clone()]);
    for _ in 0..3 {
        let (status, body) = app.login(&user.email, &user.password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokens.insert(body["token"].as_str().unwrap().to_owned());
    }
    assert_eq!(tokens.len(), 4, "every login issues a different token");
    for token in &tokens {
        let (status, me) = app.get("/accounts/me", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["id"], user.id);
    }
}

async fn token_schemes_and_bad_tokens(app: TestApp) {
    let user = app.user("sam").await;
    let token = user.token.as_str();
    for header in [
        format!("Token {token}"),
        format!("Bearer {token}"),
        format!("token {token}"),
        format!("BEARER {token}"),
    ] {
        for path in ["/accounts/me/", "/accounts/me"] {
            let (status, _, body) = app
                .call_with_header(Method::GET, path, Some(&header), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{header} at {path}: {body}");
            assert_eq!(body["id"], user.id);
            assert_eq!(body["email"], user.email);
        }
    }

    let other = app.user("sam-other").await;
    let unknown = format!("{}x", &token[..token.len() - 1]);
    for header in [
        None,
        Some("Token".to_owned()),
        Some("Bearer ".to_owned()),
        Some("Token not-a-real-token".to_owned()),
        Some(format!("Token {unknown}")),
        Some(format!("Bearer {unknown}")),
        Some(format!("Token {token} extra")),
        Some(format!("Basic {token}")),
        Some(format!("Token {}", token.to_uppercase())),
        Some(format!("Token {token}{}", other.token)),
    ] {
        let (status, headers, body) = app
            .call_with_header(Method::GET, "/accounts/me/", header.as_deref(), None)
            .await;
        assert_unauthenticated(status, &headers, &body);
        assert_eq!(body["code"], "not_authenticated", "{header:?}: {body}");
    }
}

async fn endpoints_needing_a_token_answer_401(app: TestApp) {
    let user = app.user("gate").await;
    let other = app.user("gate-other").await;
    // A revoked token.
    let revoked = app.revoked_token(&user).await;

    let id = other.id;
    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/accounts/me/".into(), None),
        (Method::POST, "/accounts/logout/".into(), None),
        (Method::GET, format!("/accounts/{id}/posts/"), None),
        (
            Method::PATCH,
            format!("/accounts/{}/", user.id),
            Some(json!({"bio": "hacked"})),
        ),
        (Method::DELETE, format!("/accounts/{}/", user.id), None),
        (Method::POST, format!("/accounts/follow/{id}/"), None),
        (Method::DELETE, format!("/accounts/follow/{id}/"), None),
        (
            Method::DELETE,
            format!("/accounts/remove-follower/{id}/"),
            None,
        ),
        (Method::GET, format!("/accounts/follower/{id}/"), None),
        (Method::GET, format!("/accounts/following/{id}/"), None),
    ];
    for (method, path, body) in endpoints {
        let bare = path.trim_end_matches('/').to_owned();
        for path in [path.clone(), bare] {
            for header in [
                None,
                Some("Token no-such-token".to_owned()),
                Some(format!("Token {revoked}")),
                Some(format!("Bearer {revoked}")),
            ] {
                let (status, headers, answer) = app
                    .call_with_header(method.clone(), &path, header.as_deref(), body.clone())
                    .await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} with {header:?}: {answer}"
                );
                assert_unauthenticated(status, &headers, &answer);
                assert_eq!(answer["code"], "not_authenticated", "{answer}");
            }
        }
    }
    // Nothing above changed anything.
    let me = profile_of(&app, &user).await;
    assert_eq!(me["bio"], "");
    assert_eq!(me["following_count"], 0);
    assert_eq!(me["follower_count"], 0);
    app.assert_counters_exact().await;
}

async fn logout_revokes_only_the_used_token(app: TestApp) {
    let user = app.user("leo").await;
    let (status, body) = app.login(&user.email, &user.password).await;
    assert_eq!(status, StatusCode::OK);
    let second = body["token"].as_str().unwrap().to_owned();
    let (status, body) = app.login(&user.email, &user.password).await;
    assert_eq!(status, StatusCode::OK);
    let third = body["token"].as_str().unwrap().to_owned();
    let bystander = app.user("leo-bystander").await;

    let (status, _, body) = app
        .call_with_header(
            Method::POST,
            "/accounts/logout/",
            Some(&format!("Token {}", user.token)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(body.is_null(), "204 has no body: {body}");

    app.assert_unauthenticated_call(
        Method::GET,
        "/accounts/me/",
        Some(&format!("Token {}", user.token)),
    )
    .await;
    // Logging out again with the revoked token is itself unauthenticated.
    app.assert_unauthenticated_call(
        Method::POST,
        "/accounts/logout",
        Some(&format!("Token {}", user.token)),
    )
    .await;

    // The other tokens of the same user, and other users' tokens, still work.
    for token in [&second, &third] {
        let (status, me) = app.get("/accounts/me/", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["id"], user.id);
    }
    let (status, _) = app.as_(&bystander).me().await;
    assert_eq!(status, StatusCode::OK);

    // Bearer, without the trailing slash.
    let (status, _, body) = app
        .call_with_header(
            Method::POST,
            "/accounts/logout",
            Some(&format!("Bearer {second}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = app.get("/accounts/me/", Some(&second)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/accounts/me/", Some(&third)).await;
    assert_eq!(status, StatusCode::OK);

    // Logging out does not stop logging in.
    let (status, body) = app.login(&user.email, &user.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
