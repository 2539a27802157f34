//! The real routes over mocked ports: routing, trailing slashes, status codes and bodies. The
//! behaviour against real databases is tested elsewhere.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServiceResponse;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{App, test, web};
use being_social_domain::DomainError;
use being_social_domain::Resource;
use being_social_domain::model::UserId;
use being_social_domain::model::{Relationship, User};
use being_social_domain::pagination::Page;
use being_social_domain::ports::{
    MockAccountRepository, MockCommentRepository, MockCredentials, MockFeedRepository,
    MockFollowRepository, MockHealthCheck, MockImageProcessor, MockLikeRepository, MockMediaStore,
    MockPostRepository, MockSessionRepository, StoredToken,
};
use being_social_domain::services::{Ports, Services};
use being_social_http::multipart::UploadMemory;
use being_social_http::{AppState, HttpLimits, PublicUrl, configure};
use chrono::{DateTime, Utc};
use serde_json::Value;

fn user(id: i64) -> User {
    User {
        id: UserId::new(id),
        email: format!("u{id}@example.com"),
        full_name: format!("User {id}"),
        bio: String::new(),
        avatar_key: None,
        post_count: 0,
        follower_count: 0,
        following_count: 0,
        created_at: DateTime::<Utc>::UNIX_EPOCH,
    }
}

/// User 1 holds the token `good` and the token `old`, issued over a year ago; users 1 to 3 exist;
/// following 2 is new, 3 already followed.
fn state() -> AppState {
    let mut users = MockAccountRepository::new();
    users
        .expect_find_by_id()
        .returning(|id| Ok((1..=3).contains(&id.get()).then(|| user(id.get()))));
    users.expect_find_by_email().returning(|_| Ok(None));
    users
        .expect_relationships()
        .returning(|_, others| Ok(vec![Relationship::default(); others.len()]));
    let mut tokens = MockSessionRepository::new();
    tokens.expect_find().returning(|hash| {
        let now = Utc::now();
        let issued = match hash.as_slice() {
            b"good" => now,
            b"old" => now - chrono::TimeDelta::days(400),
            _ => return Ok(None),
        };
        Ok(Some(StoredToken {
            user: user(1),
            created_at: issued,
            last_used_at: now,
        }))
    });
    let mut credentials = MockCredentials::new();
    credentials
        .expect_hash_token()
        .returning(|secret| secret.as_bytes().to_vec());
    let mut follows = MockFollowRepository::new();
    follows
        .expect_follow()
        .returning(|_, leader| match leader.get() {
            2 => Ok(true),
            3 => Ok(false),
            _ => Err(DomainError::NotFound(Resource::User)),
        });
    let mut posts = MockPostRepository::new();
    posts
        .expect_by_author()
        .returning(|_, _, _| Ok(Page::empty()));
    let mut media = MockMediaStore::new();
    media.expect_ready().returning(|| true);
    media.expect_open().returning(|key, range| {
        Ok((key == "abc.jpg").then(|| {
            being_social_domain::ports::MediaRead::whole_or_range(
                vec![1, 2, 3],
                "image/jpeg",
                range,
            )
        }))
    });
    let ports = Ports {
        accounts: Arc::new(users),
        sessions: Arc::new(tokens),
        follows: Arc::new(follows),
        posts: Arc::new(posts),
        likes: Arc::new(MockLikeRepository::new()),
        comments: Arc::new(MockCommentRepository::new()),
        feed: Arc::new(MockFeedRepository::new()),
        media: Arc::new(media),
        images: Arc::new(MockImageProcessor::new()),
        credentials: Arc::new(credentials),
        health: Arc::new(MockHealthCheck::new()),
    };
    AppState {
        services: Services::new(ports),
        limits: HttpLimits::default(),
        public_url: PublicUrl::new(None, false, ([127, 0, 0, 1], 8080).into()),
        uploads: UploadMemory::new(UploadMemory::DEFAULT_BYTES, 1 << 20, Duration::from_secs(1)),
        media_url: None,
    }
}

async fn call(req: test::TestRequest) -> (StatusCode, header::HeaderMap, Value) {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state()))
            .configure(configure),
    )
    .await;
    let response: ServiceResponse = test::call_service(&app, req.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = test::read_body(response).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::String(format!("{bytes:?}")))
    };
    (status, headers, body)
}

fn authed(req: test::TestRequest) -> test::TestRequest {
    req.insert_header((header::AUTHORIZATION, "Token good"))
}

#[actix_web::test]
async fn health_with_and_without_slash() {
    for path in ["/healthz", "/healthz/"] {
        let (status, _, body) = call(test::TestRequest::get().uri(path)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ok");
    }
}

#[actix_web::test]
async fn unknown_path_and_wrong_method_are_json() {
    let (status, _, body) = call(test::TestRequest::get().uri("/nowhere/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
    let (status, headers, body) = call(test::TestRequest::get().uri("/accounts/signup/")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "method_not_allowed");
    // RFC 9110: a 405 lists the methods the resource serves.
    assert_eq!(
        headers.get(header::ALLOW).and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let (status, headers, body) = call(
        test::TestRequest::default()
            .method(Method::TRACE)
            .uri("/posts/edit/1"),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "method_not_allowed");
    let allow = headers.get(header::ALLOW).and_then(|v| v.to_str().ok());
    assert_eq!(allow, Some("GET, PATCH, PUT, DELETE"));
    let (status, _, body) = call(authed(test::TestRequest::get().uri("/posts/edit/abc/"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}

#[actix_web::test]
async fn me_wins_over_a_user_named_me() {
    for path in ["/accounts/me", "/accounts/me/"] {
        let (status, _, body) = call(authed(test::TestRequest::get().uri(path))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], 1);
        assert_eq!(body["is_following"], false);
        assert_eq!(body["created_at"], "1970-01-01T00:00:00.000000Z");
    }
    let req = test::TestRequest::get()
        .uri("/accounts/me/")
        .insert_header((header::AUTHORIZATION, "bearer good"));
    assert_eq!(call(req).await.0, StatusCode::OK);
}

#[actix_web::test]
async fn tokens_are_required_and_checked() {
    let (status, headers, body) = call(test::TestRequest::get().uri("/accounts/me/")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "not_authenticated");
    assert_eq!(
        headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok()),
        Some("Token")
    );
    let req = test::TestRequest::get()
        .uri("/accounts/2/")
        .insert_header((header::AUTHORIZATION, "Token bad"));
    let (status, _, body) = call(req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "not_authenticated");
    // Expired, on an endpoint that needs a token and on one where it is optional.
    for path in ["/accounts/me/", "/accounts/2/"] {
        let req = test::TestRequest::get()
            .uri(path)
            .insert_header((header::AUTHORIZATION, "Token old"));
        let (status, headers, body) = call(req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["code"], "token_expired", "{path}");
        assert_eq!(body["detail"], "Token expired. Log in again.");
        assert_eq!(
            headers
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok()),
            Some("Token")
        );
    }
}

#[actix_web::test]
async fn profiles_show_posts_to_authenticated_viewers_only() {
    let (status, _, body) = call(test::TestRequest::get().uri("/accounts/2")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("posts").is_none());
    assert!(body.get("is_following").is_none());
    let (status, _, body) = call(authed(test::TestRequest::get().uri("/accounts/2/"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["is_following"], false);
    assert_eq!(body["posts"]["results"], Value::Array(vec![]));
    assert!(body["posts"]["next"].is_null());
    let (status, _, body) = call(test::TestRequest::get().uri("/accounts/nobody@x.y/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], "User not found.");
}

#[actix_web::test]
async fn follow_answers() {
    let cases = [
        ("/accounts/follow/2/", StatusCode::CREATED),
        ("/accounts/follow/3", StatusCode::OK),
        ("/accounts/follow/1/", StatusCode::BAD_REQUEST),
        ("/accounts/follow/99/", StatusCode::NOT_FOUND),
        ("/accounts/follow/abc/", StatusCode::NOT_FOUND),
    ];
    for (path, expected) in cases {
        let (status, _, body) = call(authed(test::TestRequest::post().uri(path))).await;
        assert_eq!(status, expected, "{path}: {body}");
        if expected.is_success() {
            assert_eq!(body["following"], true);
        }
    }
}

#[actix_web::test]
async fn bad_pages_bodies_and_content_types() {
    let json = Some("application/json");
    let huge_bio = format!("{{\"bio\": \"{}\"}}", "x".repeat(70 * 1024));
    // The request (method, path, with a token or not, content type, body), then the answer
    // (status, `code` when checked, the field that `errors` names when checked).
    #[rustfmt::skip]
    let cases = [
        (Method::GET, "/posts/post-feed/?limit=0", true, None, "", StatusCode::BAD_REQUEST, Some("validation_error"), Some("limit")),
        (Method::PATCH, "/posts/edit/5/", true, json, r#"{"caption": "x", "image": null}"#, StatusCode::BAD_REQUEST, Some("image_not_editable"), None),
        (Method::PATCH, "/posts/edit/5/", true, Some("text/plain"), "hello", StatusCode::UNSUPPORTED_MEDIA_TYPE, None, None),
        (Method::POST, "/posts/create/", true, json, "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_media_type"), None),
        (Method::POST, "/accounts/signup/", false, json, "{\"email\": ", StatusCode::BAD_REQUEST, Some("parse_error"), None),
        (Method::POST, "/accounts/signup/", false, json, &huge_bio, StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"), None),
        (Method::POST, "/accounts/signup/", false, json, r#"{"email": "nope"}"#, StatusCode::BAD_REQUEST, Some("validation_error"), Some("full_name")),
    ];
    for (method, path, token, content_type, body, status, code, field) in cases {
        let mut req = test::TestRequest::default()
            .method(method.clone())
            .uri(path);
        if token {
            req = authed(req);
        }
        if let Some(content_type) = content_type {
            req = req.insert_header((header::CONTENT_TYPE, content_type));
        }
        if !body.is_empty() {
            req = req.set_payload(body.to_owned());
        }
        let (answer_status, _, answer) = call(req).await;
        assert_eq!(answer_status, status, "{method} {path}: {answer}");
        if let Some(code) = code {
            assert_eq!(answer["code"], code, "{method} {path}");
        }
        if let Some(field) = field {
            assert!(
                answer["errors"][field].is_array(),
                "{method} {path}: {answer}"
            );
        }
    }
}

#[actix_web::test]
async fn media_is_cached_and_revalidated() {
    let (status, headers, _) = call(test::TestRequest::get().uri("/media/abc.jpg")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("image/jpeg")
    );
    assert_eq!(
        headers.get(header::ETAG).and_then(|v| v.to_str().ok()),
        Some("\"abc.jpg\"")
    );
    let req = test::TestRequest::get()
        .uri("/media/abc.jpg")
        .insert_header((header::IF_NONE_MATCH, "\"abc.jpg\""));
    assert_eq!(call(req).await.0, StatusCode::NOT_MODIFIED);
    let (status, _, body) = call(test::TestRequest::get().uri("/media/other.jpg")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}

#[actix_web::test]
async fn media_ranges() {
    let header_of = |headers: &header::HeaderMap, name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let ranged = |range: &'static str| {
        test::TestRequest::get()
            .uri("/media/abc.jpg")
            .insert_header((header::RANGE, range))
    };
    // The body as `call` shows bytes that are not JSON.
    let shown =
        |bytes: &'static [u8]| Value::String(format!("{:?}", web::Bytes::from_static(bytes)));
    let (status, headers, body) = call(ranged("bytes=1-1")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header_of(&headers, header::CONTENT_RANGE).as_deref(),
        Some("bytes 1-1/3")
    );
    assert_eq!(body, shown(&[2]));
    assert_eq!(
        header_of(&headers, header::ACCEPT_RANGES).as_deref(),
        Some("bytes")
    );
    let (status, headers, _) = call(ranged("bytes=5-")).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header_of(&headers, header::CONTENT_RANGE).as_deref(),
        Some("bytes */3")
    );
    // A range of another version of the picture is ignored: the whole of it.
    let req = ranged("bytes=1-1").insert_header((header::IF_RANGE, "\"other\""));
    let (status, _, body) = call(req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, shown(&[1, 2, 3]));
}
