//! Rate limits: logins and sign-ups per client address, writes per token, `429` with
//! `Retry-After` and the `X-RateLimit-*` headers, nothing changed by a refused request.

use std::time::{Duration, Instant};

use being_social::settings::{SecretUrl, Settings};
use being_social_http::ratelimit::StoreFailure;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error, with_settings};

/// Turns the limits on, small enough to reach in a test: `auth` logins and sign-ups per address,
/// `writes` per token, both per `window`.
fn limits(s: &mut Settings, auth: u32, writes: u32, window: Duration) {
    s.rate_limits = true;
    s.auth_rate_limit = auth;
    s.auth_rate_window = window;
    s.write_rate_limit = writes;
    s.write_rate_window = window;
}

const HOUR: Duration = Duration::from_secs(3600);

// The settings of each test (the macro expands in a module of its own, hence the full paths).
fn four_logins(s: &mut Settings) {
    limits(s, 4, 1000, HOUR);
}
fn three_writes(s: &mut Settings) {
    limits(s, 100, 3, HOUR);
}
fn tiny_but_off(s: &mut Settings) {
    limits(s, 1, 1, HOUR);
    s.rate_limits = false;
}
fn one_a_second(s: &mut Settings) {
    limits(s, 1, 1, Duration::from_secs(1));
}
fn one_login_behind_a_proxy(s: &mut Settings) {
    limits(s, 1, 1000, HOUR);
    s.behind_proxy = true;
}

/// The Redis the suites share (`.ci/run` starts it): `REDIS_URL`, else the local default. Keys
/// are digests of each test's own tokens and made-up addresses, so tests do not meet there.
pub fn redis_url() -> SecretUrl {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    SecretUrl::parse(&url).unwrap()
}
fn three_writes_in_redis(s: &mut Settings) {
    three_writes(s);
    s.redis_url = Some(redis_url());
}
fn one_login_behind_a_proxy_in_redis(s: &mut Settings) {
    one_login_behind_a_proxy(s);
    s.redis_url = Some(redis_url());
}
/// A Redis where nobody listens: every check fails at once (connection refused). Failing closed
/// (503, and `/readyz` with it) is in tests/process/redis.rs, whose Redis dies under the server.
fn redis_down_open(s: &mut Settings) {
    limits(s, 1, 1, HOUR);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    s.redis_url = Some(SecretUrl::parse(&format!("redis://127.0.0.1:{port}")).unwrap());
    s.rate_limit_failure = StoreFailure::Open;
}

on_both_backends!(
    login_brute_force_is_refused,
    start: with_settings(crate::ratelimit::four_logins)
);
on_both_backends!(
    tokens_are_limited_separately_in_redis,
    start: with_settings(crate::ratelimit::three_writes_in_redis)
);
on_both_backends!(
    behind_a_proxy_the_forwarded_address_counts_in_redis,
    start: with_settings(crate::ratelimit::one_login_behind_a_proxy_in_redis)
);
on_both_backends!(
    without_redis_limited_requests_are_served_when_failing_open,
    start: with_settings(crate::ratelimit::redis_down_open)
);

on_both_backends!(
    tokens_are_limited_separately,
    start: with_settings(crate::ratelimit::three_writes)
);
on_both_backends!(
    limits_off_never_refuse,
    start: with_settings(crate::ratelimit::tiny_but_off)
);
on_both_backends!(
    the_limit_recovers_after_the_window,
    start: with_settings(crate::ratelimit::one_a_second)
);
on_both_backends!(
    encoded_paths_are_limited_like_plain_ones,
    start: with_settings(crate::ratelimit::four_logins)
);
on_both_backends!(
    behind_a_proxy_the_forwarded_address_counts,
    start: with_settings(crate::ratelimit::one_login_behind_a_proxy)
);

async fn login_as(
    app: &TestApp,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    login_at(app, "/accounts/login/", email, password, forwarded_for).await
}

async fn login_at(
    app: &TestApp,
    path: &str,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let body = serde_json::to_vec(&json!({"email": email, "password": password})).unwrap();
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(address) = forwarded_for {
        headers.push(("X-Forwarded-For", address));
    }
    app.send_raw(Method::POST, path, &headers, Some(body)).await
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts a `429` with the error body, `Retry-After` and the `X-RateLimit-*` headers.
fn assert_limited(status: StatusCode, headers: &HeaderMap, body: &Value, limit: u32) {
    assert_error(status, body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(body["detail"].is_string(), "{body}");
    let retry_after: u64 = header(headers, "retry-after").parse().unwrap();
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    assert_eq!(header(headers, "x-ratelimit-limit"), limit.to_string());
    assert_eq!(header(headers, "x-ratelimit-remaining"), "0");
    let reset = header(headers, "x-ratelimit-reset");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&reset).is_ok(),
        "X-RateLimit-Reset {reset:?}"
    );
}

async fn login_brute_force_is_refused(app: TestApp) {
    // The sign-up is the first of the four requests this address may make.
    let (status, body) = app.signup("ann@example.com", "ann-password").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for remaining in [2, 1, 0] {
        let (status, headers, body) =
            login_as(&app, "ann@example.com", "guess", Some("198.51.100.1")).await;
        assert_error(
            status,
            &body,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
        assert_eq!(header(&headers, "x-ratelimit-limit"), "4");
        assert_eq!(
            header(&headers, "x-ratelimit-remaining"),
            remaining.to_string()
        );
    }
    // Not even the right password gets through now, nor a made-up X-Forwarded-For (the server
    // is not behind a proxy).
    let (status, headers, body) =
        login_as(&app, "ann@example.com", "ann-password", Some("203.0.113.9")).await;
    assert_limited(status, &headers, &body, 4);
    assert!(body.get("token").is_none(), "{body}");

    // A refused sign-up creates nobody.
    let (status, body) = app.signup("bob@example.com", "bob-password").await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let (status, body) = app.get("/accounts/bob@example.com/", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    // Reads are not limited, and neither are other addresses' logins (see the proxy test).
    let (status, body) = app.get("/accounts/ann@example.com/", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn follow(app: &TestApp, from: &TestUser, to: &TestUser) -> (StatusCode, HeaderMap, Value) {
    app.call_with_header(
        Method::POST,
        &format!("/accounts/follow/{}/", to.id),
        Some(&format!("Token {}", from.token)),
        Some(json!({})),
    )
    .await
}

async fn follower_count(app: &TestApp, user: &TestUser) -> i64 {
    let (status, body) = app.anonymous().profile(&user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["follower_count"].as_i64().unwrap()
}

async fn tokens_are_limited_separately(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let cat = app.user("cat").await;
    // Ann's three writes: follow, unfollow, follow.
    let (status, headers, body) = follow(&app, &ann, &bob).await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "2");
    let (status, body) = app.as_(&ann).unfollow(&bob).await;
    assert!(status.is_success(), "{status} {body}");
    let (status, _, body) = follow(&app, &ann, &bob).await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(follower_count(&app, &bob).await, 1);

    // The fourth is refused and changes nothing.
    let (status, headers, body) = follow(&app, &ann, &cat).await;
    assert_limited(status, &headers, &body, 3);
    assert_eq!(follower_count(&app, &cat).await, 0);

    // Ann can still read; Bob's token has its own allowance.
    let (status, body) = app.as_(&ann).me().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, headers, body) = follow(&app, &bob, &cat).await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "2");
    assert_eq!(follower_count(&app, &cat).await, 1);
}

async fn limits_off_never_refuse(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    for _ in 0..5 {
        let (status, headers, body) = login_as(&app, "ann@example.com", "guess", None).await;
        assert_error(
            status,
            &body,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
        assert!(headers.get("x-ratelimit-limit").is_none());
        let (status, headers, body) = follow(&app, &ann, &bob).await;
        assert!(status.is_success(), "{status} {body}");
        assert!(headers.get("x-ratelimit-limit").is_none());
    }
}

async fn the_limit_recovers_after_the_window(app: TestApp) {
    let (status, _, body) = login_as(&app, "nobody@example.com", "guess", None).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    let (status, headers, body) = login_as(&app, "nobody@example.com", "guess", None).await;
    assert_limited(status, &headers, &body, 1);
    // A one-second window: the next login is let in again soon; poll rather than time it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (status, _, body) = login_as(&app, "nobody@example.com", "guess", None).await;
        if status != StatusCode::TOO_MANY_REQUESTS {
            assert_error(
                status,
                &body,
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
            );
            break;
        }
        assert!(Instant::now() < deadline, "still limited after a minute");
    }
}

async fn tokens_are_limited_separately_in_redis(app: TestApp) {
    tokens_are_limited_separately(app).await;
}

async fn behind_a_proxy_the_forwarded_address_counts_in_redis(app: TestApp) {
    // Redis outlives the test: an address of its own (from the documentation range), so that
    // another run within the hour does not find it spent.
    let n = uuid::Uuid::new_v4().as_u128();
    let (a, b) = ((n >> 8) as u8, n as u8);
    let one = format!("2001:db8:{a:x}{b:x}:{:x}::1", (n >> 16) as u16);
    let (status, headers, _) = login_as(&app, "x@example.com", "guess", Some(&one)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "0");
    let (status, headers, body) = login_as(&app, "x@example.com", "guess", Some(&one)).await;
    assert_limited(status, &headers, &body, 1);
    // The same /64 is the same client.
    let neighbour = one.replace("::1", "::2");
    let (status, _, _) = login_as(&app, "x@example.com", "guess", Some(&neighbour)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// The writes of one token, past its limit of one, and what `/metrics` counted.
async fn writes_past_the_limit(app: &TestApp) -> (Vec<StatusCode>, f64) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, _, _) = follow(app, &ann, &bob).await;
        statuses.push(status);
        app.as_(&ann).unfollow(&bob).await;
    }
    let metrics = app.get_bytes("/metrics", &[]).await;
    let text = String::from_utf8(metrics.bytes).unwrap();
    let errors = text
        .lines()
        .find_map(|line| line.strip_prefix("ratelimit_store_errors_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ratelimit_store_errors_total in\n{text}"));
    (statuses, errors)
}

async fn without_redis_limited_requests_are_served_when_failing_open(app: TestApp) {
    let started = Instant::now();
    let (statuses, errors) = writes_past_the_limit(&app).await;
    assert!(statuses.iter().all(StatusCode::is_success), "{statuses:?}");
    // Sign-ups and follows and unfollows all failed to reach Redis, and were counted.
    assert!(errors >= 6.0, "{errors}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // Redis is not needed to serve, so it does not hold readiness back.
    let (status, body) = app.get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn behind_a_proxy_the_forwarded_address_counts(app: TestApp) {
    let one = Some("198.51.100.1");
    let (status, _, _) = login_as(&app, "x@example.com", "guess", one).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, body) = login_as(&app, "x@example.com", "guess", one).await;
    assert_limited(status, &headers, &body, 1);
    // Another client behind the same proxy (the proxy appends the address it saw).
    let (status, _, _) = login_as(
        &app,
        "x@example.com",
        "guess",
        Some("198.51.100.1, 198.51.100.2"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The router decodes percent-encoded octets before it matches, so every spelling that reaches
/// the login or sign-up handler must draw on the same allowance as the plain path.
async fn encoded_paths_are_limited_like_plain_ones(app: TestApp) {
    let logins = [
        "/accounts/%6Cogin/",
        "/accounts/%6cogin",
        "/%61ccounts/%6C%6F%67%69%6E/",
    ];
    // Three logins under encoded spellings and the plain one use up the four allowed.
    for (path, remaining) in logins.iter().zip([3, 2, 1]) {
        let (status, headers, body) = login_at(&app, path, "x@example.com", "guess", None).await;
        assert_error(
            status,
            &body,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
        assert_eq!(
            header(&headers, "x-ratelimit-remaining"),
            remaining.to_string(),
            "{path}"
        );
    }
    let (status, _, _) = login_as(&app, "x@example.com", "guess", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Now every spelling of both limited paths is refused, and a refused sign-up creates nobody.
    let signups = [
        "/accounts/%73ignup/",
        "/accounts/sign%75p",
        "/accounts/signup/",
    ];
    for path in logins.iter().chain(&signups) {
        let body = json!({"email": "new@example.com", "full_name": "N", "password": "password1"});
        let (status, headers, body) = app
            .send_raw(
                Method::POST,
                path,
                &[("Content-Type", "application/json")],
                Some(serde_json::to_vec(&body).unwrap()),
            )
            .await;
        assert_limited(status, &headers, &body, 4);
    }
    let (status, body) = app.get("/accounts/new@example.com/", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}
