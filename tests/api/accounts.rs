use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error};
use crate::on_both_backends;

on_both_backends!(signup_login_me);

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
