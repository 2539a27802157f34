//! Sessions end: logging out everywhere, a password change, and the idle and absolute lifetimes
//! of a token (then its deletion by the sweep), as a client sees them.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, TestUser, assert_error, with_settings};

on_both_backends!(
    logout_all_revokes_every_token_of_the_caller_only,
    a_password_change_revokes_every_other_token,
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

fn short_idle(s: &mut being_social::configuration::Settings) {
    s.token_idle_lifetime = Duration::from_secs(2);
}

fn short_absolute(s: &mut being_social::configuration::Settings) {
    s.token_idle_lifetime = Duration::from_secs(2);
    s.token_absolute_lifetime = Duration::from_secs(3);
}

fn short_idle_and_sweep(s: &mut being_social::configuration::Settings) {
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
    let (status, body) = app.get("/accounts/me/", Some(&ann.token)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "not_authenticated");
    assert_eq!(me_with(&app, &bob.token).await.0, StatusCode::OK);
}
