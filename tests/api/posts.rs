//! Posts: create (the form, its limits), get, edit, delete, and the posts of a user.

use std::collections::HashSet;

use being_social_test_support::pictures::png_chunk;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    FormPart, RawResponse, TestApp, TestUser, assert_error, assert_validation, get_post, ids,
    image_part, jpeg, noisy_png, png, with_settings,
};

fn ts(value: &Value) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"));
    assert!(text.ends_with('Z'), "timestamps are UTC: {text}");
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn keys(value: &Value) -> HashSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> HashSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Asserts the contract's Post shape and returns it.
pub fn assert_post_shape(app: &TestApp, post: &Value) {
    assert_eq!(
        keys(post),
        set(&[
            "id",
            "author",
            "image_url",
            "thumbnail_url",
            "width",
            "height",
            "caption",
            "alt_text",
            "blurhash",
            "dominant_color",
            "media",
            "likes_count",
            "comments_count",
            "liked_by_me",
            "created_at",
            "updated_at",
        ]),
        "{post}"
    );
    assert!(post["id"].is_i64(), "{post}");
    // Placeholders: every post made through the API has both (null only for older rows).
    assert!(post["blurhash"].is_string(), "{post}");
    let color = post["dominant_color"].as_str().unwrap();
    assert!(
        color.len() == 7
            && color.starts_with('#')
            && color[1..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{post}"
    );
    assert_eq!(
        keys(&post["author"]),
        set(&["id", "full_name", "avatar_url"]),
        "{post}"
    );
    for url in ["image_url", "thumbnail_url"] {
        let url = post[url].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/media/", app.address)),
            "media URLs are absolute: {url}"
        );
    }
    assert_ne!(post["image_url"], post["thumbnail_url"]);
    // `media` lists every picture; its first is the one the top-level fields describe.
    let media = post["media"].as_array().unwrap();
    assert!((1..=10).contains(&media.len()), "{post}");
    // The fields of a picture that the post's top level repeats; a picture has `medium_url` too.
    let shared = [
        "image_url",
        "thumbnail_url",
        "width",
        "height",
        "alt_text",
        "blurhash",
        "dominant_color",
    ];
    for item in media {
        let mut expected = set(&shared);
        expected.insert("medium_url".to_owned());
        assert_eq!(keys(item), expected, "{post}");
    }
    for field in shared {
        assert_eq!(media[0][field], post[field], "{field}: {post}");
    }
    assert!(post["width"].as_i64().unwrap() > 0);
    assert!(post["height"].as_i64().unwrap() > 0);
    assert!(post["caption"].is_string() && post["alt_text"].is_string());
    assert!(post["likes_count"].is_i64() && post["comments_count"].is_i64());
    assert!(post["liked_by_me"].is_boolean());
    assert!(ts(&post["updated_at"]) >= ts(&post["created_at"]));
}

on_both_backends!(
    create_returns_the_post,
    create_needs_a_token,
    create_needs_an_image,
    a_body_that_is_not_multipart_is_415,
    caption_and_alt_text_are_bounded,
    get_a_post,
    edit_caption_and_alt_text,
    edit_refusals_change_nothing,
    delete_a_post,
    post_deleted_while_liked_and_commented,
    posts_of_a_user,
    concurrent_uploads_count_exactly,
    default_upload_limit_is_10_mib,
    broken_multipart_bodies_are_4xx,
    several_pictures_in_one_post,
    one_bad_picture_stores_nothing,
    eleven_pictures_are_400,
);
on_both_backends!(
    uploads_over_the_size_limit_are_413,
    start: with_settings(|s| s.max_upload_bytes = 50_000)
);

async fn create_returns_the_post(app: TestApp) {
    let ann = app.user("ann").await;
    let before = Utc::now();
    let (status, post) = app
        .upload_with(
            Some(&ann.token),
            vec![
                image_part(jpeg(64, 48)),
                FormPart::text("caption", "Sunset at the pier"),
                FormPart::text("alt_text", "An orange sky over a wooden pier"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    assert_post_shape(&app, &post);
    assert_eq!(post["author"]["id"], ann.id);
    // An author is shown to everyone, so without an email, even to the author.
    assert!(post["author"].get("email").is_none(), "{post}");
    assert_eq!(post["author"]["full_name"], "Test Person");
    assert!(post["author"]["avatar_url"].is_null());
    assert_eq!(
        (post["width"].as_i64(), post["height"].as_i64()),
        (Some(64), Some(48))
    );
    assert_eq!(post["caption"], "Sunset at the pier");
    assert_eq!(post["alt_text"], "An orange sky over a wooden pier");
    assert_eq!(post["likes_count"], 0);
    assert_eq!(post["comments_count"], 0);
    assert_eq!(post["liked_by_me"], false);
    let created = ts(&post["created_at"]);
    assert!(created >= before - chrono::Duration::seconds(5) && created <= Utc::now());
    assert_eq!(app.post_count(ann.id).await, 1);

    // The same post is what GET answers.
    let id = post["id"].as_i64().unwrap();
    let got = get_post(&app, id, &ann).await;
    assert_eq!(got, post);

    // Caption and alt text are optional; Bearer works as well as Token.
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(png(30, 20)).file_name("x.png"),
    );
    let response = app
        .client
        .post(app.url("/posts/create"))
        .header("Authorization", format!("Bearer {}", ann.token))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let second: Value = response.json().await.unwrap();
    assert_post_shape(&app, &second);
    assert_eq!(second["caption"], "");
    assert_eq!(second["alt_text"], "");
    assert!(second["id"].as_i64().unwrap() > id);
    assert_eq!(app.post_count(ann.id).await, 2);
    app.assert_counters_exact().await;
}

async fn create_needs_a_token(app: TestApp) {
    let ann = app.user("ann").await;
    let (status, body) = app.upload_with(None, vec![image_part(jpeg(20, 20))]).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "not_authenticated");
    let (status, body) = app
        .upload_with(Some("not-a-token"), vec![image_part(jpeg(20, 20))])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let response = app.get_bytes("/posts/create/", &[]).await;
    assert_ne!(response.status, StatusCode::OK);
    app.assert_nothing_posted_by(&ann).await;
}

async fn create_needs_an_image(app: TestApp) {
    let ann = app.user("ann").await;
    for (case, parts) in [
        (
            "no image at all",
            vec![FormPart::text("caption", "no picture")],
        ),
        (
            "a picture under another field name is not the image",
            vec![FormPart::file("photo", jpeg(20, 20), "photo.jpg")],
        ),
        ("an empty file", vec![image_part(Vec::new())]),
    ] {
        let (status, body) = app.upload_with(Some(&ann.token), parts).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        assert!(body["errors"]["image"].is_array(), "{case}: {body}");
    }
    // An empty form.
    let (status, body) = app.upload_with(Some(&ann.token), vec![]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(app.post_count(ann.id).await, 0);
    assert!(app.media_files().is_empty());
}

async fn a_body_that_is_not_multipart_is_415(app: TestApp) {
    let ann = app.user("ann").await;
    let (status, body) = app
        .post("/posts/create/", Some(&ann.token), json!({"caption": "hi"}))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let create = |content_type, body| create_raw(&app, &ann, content_type, body);
    let response = create("image/jpeg", jpeg(20, 20)).await;
    response.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let response = create("application/x-www-form-urlencoded", b"caption=hi".to_vec()).await;
    assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Multipart without a boundary is not a readable form either.
    let response = create("multipart/form-data", b"garbage".to_vec()).await;
    assert!(
        response.status.is_client_error(),
        "{} {:?}",
        response.status,
        response.json()
    );
    assert_eq!(app.post_count(ann.id).await, 0);
}

/// `POST /posts/create/` as `user` with `body` as it is, of type `content_type`.
async fn create_raw(
    app: &TestApp,
    user: &TestUser,
    content_type: &str,
    body: Vec<u8>,
) -> RawResponse {
    let token = Some(user.token.as_str());
    app.send_bytes(
        Method::POST,
        "/posts/create/",
        token,
        Some(content_type),
        body,
    )
    .await
}

async fn uploads_over_the_size_limit_are_413(app: TestApp) {
    assert_eq!(app.settings.max_upload_bytes, 50_000);
    let ann = app.user("ann").await;
    let upload = |bytes| app.upload_with(Some(&ann.token), vec![image_part(bytes)]);
    let too_large = |(status, body): (StatusCode, Value)| {
        assert_error(
            status,
            &body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        );
    };
    // Over the file limit, under the whole-body cap: cut off while streaming.
    let big = noisy_png(150, 150);
    assert!(big.len() > 50_000, "{}", big.len());
    too_large(upload(big).await);
    // Far over: refused from the declared length.
    let huge = noisy_png(400, 400);
    assert!(huge.len() > 400_000, "{}", huge.len());
    too_large(upload(huge).await);
    app.assert_nothing_posted_by(&ann).await;
    // The limit is inclusive: a valid picture of exactly 50,000 bytes is taken, one more is not.
    let exact = png_of_size(50_000);
    assert_eq!(exact.len(), 50_000);
    let (status, body) = upload(exact).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    too_large(upload(png_of_size(50_001)).await);
    assert_eq!(app.post_count(ann.id).await, 1);
    // Under the limit is fine, and the server still answers on a fresh request.
    let small = png(40, 30);
    assert!(small.len() < 50_000);
    let (status, body) = upload(small).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(app.post_count(ann.id).await, 2);
}

/// A valid PNG of exactly `size` bytes: a small picture padded with a private ancillary chunk,
/// which decoders skip.
fn png_of_size(size: usize) -> Vec<u8> {
    let base = png(40, 30);
    let (head, iend) = base.split_at(base.len() - 12);
    let padding = size - base.len() - 12;
    let mut out = head.to_vec();
    png_chunk(&mut out, b"zzZz", &vec![0x5A; padding]);
    out.extend_from_slice(iend);
    out
}

/// The default limit is 10 MiB: one byte more is `413` before anything is decoded.
async fn default_upload_limit_is_10_mib(app: TestApp) {
    let ann = app.user("ann").await;
    let (status, body) = app
        .upload_with(
            Some(&ann.token),
            vec![image_part(vec![0x42; 10 * 1024 * 1024 + 1])],
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // Exactly 10 MiB is read in full and then judged on its bytes (not a picture: 415).
    let (status, body) = app
        .upload_with(
            Some(&ann.token),
            vec![image_part(vec![0x42; 10 * 1024 * 1024])],
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    assert_eq!(app.post_count(ann.id).await, 0);
}

async fn caption_and_alt_text_are_bounded(app: TestApp) {
    let ann = app.user("ann").await;
    let upload = |caption: String, alt: String| {
        let token = ann.token.clone();
        let app = &app;
        async move {
            app.upload_with(
                Some(&token),
                vec![
                    image_part(png(20, 20)),
                    FormPart::text("caption", &caption),
                    FormPart::text("alt_text", &alt),
                ],
            )
            .await
        }
    };
    for (caption, alt, field) in [
        ("x".repeat(2201), String::new(), "caption"),
        ("é".repeat(2201), String::new(), "caption"),
        (String::new(), "y".repeat(1001), "alt_text"),
    ] {
        let (status, body) = upload(caption, alt).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        assert!(body["errors"][field].is_array(), "{body}");
    }
    app.assert_nothing_posted_by(&ann).await;

    // The limits count characters, not bytes.
    let caption = "é".repeat(2200);
    let alt = "ü".repeat(1000);
    let (status, body) = upload(caption.clone(), alt.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["caption"], caption.as_str());
    assert_eq!(body["alt_text"], alt.as_str());
    let (status, body) = upload("🙂".repeat(2200), String::new()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(app.post_count(ann.id).await, 2);
}

async fn get_a_post(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let id = app.post_by(&ann, "hello").await;
    let seen_by_bob = get_post(&app, id, &bob).await;
    assert_post_shape(&app, &seen_by_bob);
    assert_eq!(seen_by_bob["liked_by_me"], false);
    let (status, _) = app.as_(&bob).like(id).await;
    assert_eq!(status, StatusCode::CREATED);
    let seen_by_bob = get_post(&app, id, &bob).await;
    assert_eq!(seen_by_bob["liked_by_me"], true);
    assert_eq!(seen_by_bob["likes_count"], 1);
    let seen_by_ann = get_post(&app, id, &ann).await;
    assert_eq!(seen_by_ann["liked_by_me"], false);
    assert_eq!(seen_by_ann["likes_count"], 1);
    // Without the trailing slash too.
    let (status, body) = app
        .get(&format!("/posts/edit/{id}"), Some(&ann.token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], id);

    let (status, body) = app.anonymous().get_post(id).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "not_authenticated");
    for path in ["/posts/edit/999999/", "/posts/edit/abc/"] {
        let (status, body) = app.get(path, Some(&ann.token)).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
}

async fn edit_caption_and_alt_text(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let id = app.post_by(&ann, "first").await;
    let original = get_post(&app, id, &ann).await;
    let path = format!("/posts/edit/{id}/");

    // PATCH the caption only: the alt text stays.
    let (status, body) = app
        .as_(&ann)
        .edit_post(id, json!({"alt_text": "a test card"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .as_(&ann)
        .edit_post(id, json!({"caption": "  second  "}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_post_shape(&app, &body);
    assert_eq!(body["caption"], "second");
    assert_eq!(body["alt_text"], "a test card");
    assert_eq!(body["image_url"], original["image_url"]);
    assert_eq!(body["width"], original["width"]);
    assert_eq!(body["created_at"], original["created_at"]);
    assert!(ts(&body["updated_at"]) >= ts(&body["created_at"]));
    assert!(ts(&body["updated_at"]) >= ts(&original["updated_at"]));

    // PUT both.
    let (status, body) = app
        .put(
            &path,
            Some(&ann.token),
            json!({"caption": "third", "alt_text": "new alt"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["caption"], "third");
    assert_eq!(body["alt_text"], "new alt");

    // A multipart form with text fields only is accepted too.
    let (status, body) = app
        .multipart(
            Method::PATCH,
            &path,
            Some(&ann.token),
            vec![FormPart::text("caption", "fourth")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["caption"], "fourth");
    assert_eq!(body["alt_text"], "new alt");

    // A url-encoded form too.
    let response = app
        .send_bytes(
            Method::PATCH,
            &path,
            Some(&ann.token),
            Some("application/x-www-form-urlencoded"),
            b"alt_text=a+form%27s+alt".to_vec(),
        )
        .await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.json()["alt_text"], "a form's alt");
    assert_eq!(response.json()["caption"], "fourth");
    app.as_(&ann)
        .edit_post(id, json!({"alt_text": "new alt"}))
        .await;
    // An empty change changes nothing.
    let (status, body) = app.as_(&ann).edit_post(id, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["caption"], "fourth");

    // The caption can be cleared.
    let (status, body) = app.as_(&ann).edit_post(id, json!({"caption": ""})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["caption"], "");

    // liked_by_me in the edit answer reflects the editor.
    app.as_(&ann).like(id).await;
    let (status, body) = app
        .as_(&ann)
        .edit_post(id, json!({"caption": "liked"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["liked_by_me"], true);
    assert_eq!(body["likes_count"], 1);

    let seen = get_post(&app, id, &bob).await;
    assert_eq!(seen["caption"], "liked");
    assert_eq!(seen["alt_text"], "new alt");
    assert_eq!(seen["liked_by_me"], false);
    app.assert_counters_exact().await;
}

async fn edit_refusals_change_nothing(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let id = app.post_by(&ann, "original").await;
    let path = format!("/posts/edit/{id}/");
    let before = get_post(&app, id, &ann).await;
    let edit = |method, change| app.call(method, &path, Some(&ann.token), Some(change));

    // Someone else.
    for method in [Method::PATCH, Method::PUT] {
        let (status, body) = app
            .call(
                method,
                &path,
                Some(&bob.token),
                Some(json!({"caption": "mine now"})),
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "permission_denied");
    }
    let (status, body) = app.patch(&path, None, json!({"caption": "anon"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Unknown post.
    let (status, body) = app
        .patch(
            "/posts/edit/999999/",
            Some(&ann.token),
            json!({"caption": "x"}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    // An image, as JSON or as a file.
    let with_image = json!({"caption": "with image", "image": "x.jpg"});
    let (status, body) = edit(Method::PATCH, with_image).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "image_not_editable");
    for method in [Method::PATCH, Method::PUT] {
        let (status, body) = app
            .multipart(
                method,
                &path,
                Some(&ann.token),
                vec![
                    FormPart::text("caption", "with image"),
                    FormPart::file("image", png(20, 20), "new.png"),
                ],
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "image_not_editable");
    }
    // Bad text: nothing changes, not even the other field.
    let long_caption = json!({"caption": "x".repeat(2201), "alt_text": "fine"});
    let (status, body) = edit(Method::PATCH, long_caption).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    assert!(body["errors"]["caption"].is_array(), "{body}");
    let long_alt_text = json!({"caption": "fine", "alt_text": "y".repeat(1001)});
    let (status, body) = edit(Method::PUT, long_alt_text).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let (status, body) = edit(Method::PATCH, json!({"caption": 42})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let response = app
        .send_bytes(
            Method::PATCH,
            &path,
            Some(&ann.token),
            Some("application/json"),
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);

    let after = get_post(&app, id, &ann).await;
    assert_eq!(after, before);
}

async fn delete_a_post(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let cat = app.user("cat").await;
    let keep = app.post_by(&ann, "keep").await;
    let doomed = app.post_by(&ann, "doomed").await;
    let other = app.post_by(&bob, "bob's").await;
    assert_eq!(app.post_count(ann.id).await, 2);
    let post = get_post(&app, doomed, &ann).await;
    let image = app.path_of(post["image_url"].as_str().unwrap());
    let thumbnail = app.path_of(post["thumbnail_url"].as_str().unwrap());
    assert_eq!(app.get_bytes(&image, &[]).await.status, StatusCode::OK);
    assert_eq!(app.get_bytes(&thumbnail, &[]).await.status, StatusCode::OK);
    assert_eq!(app.picture_files().len(), 6);

    // Likes, comments and a reply tree on it, and a like and comment on another post.
    for user in [&ann, &bob, &cat] {
        let (status, _) = app.as_(user).like(doomed).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, c1) = app.as_(&bob).comment(doomed, "nice").await;
    let c1 = c1["id"].as_i64().unwrap();
    let (status, _) = app.as_(&cat).reply(doomed, c1, "agreed").await;
    assert_eq!(status, StatusCode::CREATED);
    app.as_(&bob).like(keep).await;
    app.as_(&cat).comment(keep, "stays").await;

    // Others may not.
    let (status, body) = app.as_(&bob).delete_post(doomed).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "permission_denied");
    let (status, _) = app.anonymous().delete_post(doomed).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app.as_(&ann).delete_post(other).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "permission_denied");
    let (status, body) = app.delete("/posts/edit/999999/", Some(&ann.token)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(get_post(&app, doomed, &ann).await["likes_count"], 3);

    // The author may.
    let (status, body) = app.as_(&ann).delete_post(doomed).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = app.as_(&ann).get_post(doomed).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.as_(&ann).delete_post(doomed).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.post_count(ann.id).await, 1);
    assert_eq!(app.post_count(bob.id).await, 1);
    let (status, _) = app.as_(&ann).comments(doomed).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.as_(&ann).likers(doomed).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.as_(&bob).like(doomed).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Its files are gone; the others stay.
    for path in [&image, &thumbnail] {
        let response = app.get_bytes(path, &[]).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.json()["code"], "not_found");
    }
    assert_eq!(app.picture_files().len(), 4);
    let kept = get_post(&app, keep, &bob).await;
    assert_eq!(kept["likes_count"], 1);
    assert_eq!(kept["comments_count"], 1);
    assert_eq!(kept["liked_by_me"], true);
    let response = app
        .get_bytes(kept["image_url"].as_str().unwrap(), &[])
        .await;
    assert_eq!(response.status, StatusCode::OK);
    app.assert_counters_exact().await;
}

/// (d) A post deleted while 50 users like and comment on it: every answer is a success or a
/// `404`, never a `5xx`, and the counters stay exact.
async fn post_deleted_while_liked_and_commented(app: TestApp) {
    let app = app.with_short_lived_connections();
    let author = app.user("author").await;
    let users = app.users_in_batches("crowd", 50, 25).await;
    for round in 0..4 {
        let id = app.post_by(&author, "short-lived").await;
        let (_, first) = app.as_(&author).comment(id, "first").await;
        let first = first["id"].as_i64().unwrap();
        let crowd = users.iter().enumerate().map(|(i, user)| {
            let app = &app;
            async move {
                let mut seen = Vec::new();
                let like = app.as_(user).like(id).await;
                seen.push(("like", like));
                let comment = if i % 2 == 0 {
                    app.post(
                        &format!("/posts/post-comment/{id}/"),
                        Some(&user.token),
                        json!({"content": format!("comment {i}")}),
                    )
                    .await
                } else {
                    app.post(
                        &format!("/posts/post-comment/{id}/{first}/"),
                        Some(&user.token),
                        json!({"content": format!("reply {i}")}),
                    )
                    .await
                };
                seen.push(("comment", comment));
                let unlike = app.as_(user).unlike(id).await;
                seen.push(("unlike", unlike));
                let like = app.as_(user).like(id).await;
                seen.push(("like again", like));
                seen
            }
        });
        let deleter = async {
            // Let some of the crowd in first (more in the second round).
            tokio::time::sleep(std::time::Duration::from_millis(10 + 60 * round)).await;
            app.as_(&author).delete_post(id).await
        };
        let (answers, (status, body)) =
            tokio::join!(futures_util::future::join_all(crowd), deleter);
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        for seen in answers {
            for (what, (status, body)) in seen {
                assert!(!status.is_server_error(), "{what}: {status} {body}");
                let allowed: &[StatusCode] = match what {
                    "unlike" => &[StatusCode::NO_CONTENT, StatusCode::NOT_FOUND],
                    _ => &[StatusCode::OK, StatusCode::CREATED, StatusCode::NOT_FOUND],
                };
                assert!(allowed.contains(&status), "{what}: {status} {body}");
                if status == StatusCode::NOT_FOUND {
                    assert_eq!(body["code"], "not_found", "{body}");
                }
            }
        }
        let (status, _) = app.as_(&author).get_post(id).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app.assert_counters_exact().await;
    }
    app.assert_nothing_posted_by(&author).await;
}

/// `GET /accounts/{user}/posts/`: that user's posts, newest first, paginated, seen by the viewer;
/// the user named by id or by email in any case, with or without the trailing slash.
async fn posts_of_a_user(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let mut mine = Vec::new();
    for i in 0..5 {
        mine.push(app.post_by(&ann, &format!("ann {i}")).await);
        app.post_by(&bob, "bob").await;
    }
    mine.reverse();
    let (status, _) = app.as_(&bob).like(mine[1]).await;
    assert_eq!(status, StatusCode::CREATED);
    let email = ann.email.to_uppercase();
    for base in [
        format!("/accounts/{}/posts/", ann.id),
        format!("/accounts/{}/posts", ann.id),
        format!("/accounts/{email}/posts/"),
        format!("/accounts/{email}/posts"),
    ] {
        let all = app.walk(&base, Some(&bob.token)).await;
        assert_eq!(ids(&all), mine, "{base}: newest first");
        let paged = app.walk(&format!("{base}?limit=2"), Some(&bob.token)).await;
        assert_eq!(ids(&paged), mine, "{base}?limit=2 walks every post once");
        for post in &paged {
            assert_post_shape(&app, post);
            assert_eq!(post["author"]["id"], ann.id);
            assert_eq!(post["liked_by_me"], post["id"] == mine[1], "{post}");
        }
    }
    let path = format!("/accounts/{}/posts/", ann.id);
    let (status, page) = app.get(&format!("{path}?limit=2"), Some(&bob.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    assert!(page["next"].as_str().unwrap().contains("limit=2"), "{page}");
    // A user without posts.
    let cat = app.user("cat").await;
    let (status, page) = app.as_(&ann).posts_of(&cat).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page, json!({"results": [], "next": null}));

    for query in ["limit=0", "limit=101", "limit=abc", "cursor=garbage"] {
        let (status, body) = app.get(&format!("{path}?{query}"), Some(&bob.token)).await;
        let field = query.split('=').next().unwrap();
        assert_validation(status, &body, field);
    }
    for path in [
        "/accounts/999999/posts/",
        "/accounts/nobody@example.com/posts/",
    ] {
        let (status, body) = app.get(path, Some(&bob.token)).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, _) = app.anonymous().posts_of(&ann).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.assert_unauthenticated_call(Method::GET, &path, None)
        .await;
}

/// Uploads by one author at the same time: every one is a post, and post_count counts them all.
async fn concurrent_uploads_count_exactly(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let uploads = (0..12).map(|i| {
        let app = &app;
        let user = if i % 3 == 0 { &bob } else { &ann };
        async move {
            app.upload_with(
                Some(&user.token),
                vec![
                    image_part(png(30 + i, 20)),
                    FormPart::text("caption", &format!("{i}")),
                ],
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(uploads).await;
    let mut ids = HashSet::new();
    for (status, body) in answers {
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(ids.insert(body["id"].as_i64().unwrap()));
    }
    assert_eq!(app.post_count(ann.id).await, 8);
    assert_eq!(app.post_count(bob.id).await, 4);
    assert_eq!(app.picture_files().len(), 24);
    app.assert_counters_exact().await;
}

/// Multipart bodies that break off or carry bad text: a `4xx` with the error body, never a `5xx`,
/// and nothing stored.
async fn broken_multipart_bodies_are_4xx(app: TestApp) {
    let ann = app.user("ann").await;
    let content_type = "multipart/form-data; boundary=XyZ";
    let head = b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\
                 Content-Type: image/png\r\n\r\n";
    let picture = png(20, 20);

    // No closing boundary.
    let mut truncated = head.to_vec();
    truncated.extend_from_slice(&picture);
    // A caption that is not UTF-8.
    let mut bad_text = head.to_vec();
    bad_text.extend_from_slice(&picture);
    bad_text.extend_from_slice(
        b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n\xff\xfe\xfd\r\n--XyZ--\r\n",
    );
    // Garbage where the first boundary should be.
    let garbage = b"this is not a multipart body at all".to_vec();
    // Only the closing boundary: a form without fields.
    let empty = b"--XyZ--\r\n".to_vec();
    let create = |body| create_raw(&app, &ann, content_type, body);

    for (what, body) in [
        ("truncated", truncated),
        ("bad text", bad_text.clone()),
        ("garbage", garbage),
        ("empty", empty),
    ] {
        let response = create(body).await;
        let json = response.json();
        assert!(
            response.status.is_client_error(),
            "{what}: {} {json}",
            response.status
        );
        assert!(
            json["code"].is_string() && json["detail"].is_string(),
            "{what}: {json}"
        );
    }
    let response = create(bad_text).await;
    response.assert_error(StatusCode::BAD_REQUEST, "validation_error");
    assert!(response.json()["errors"]["caption"].is_array());
    app.assert_nothing_posted_by(&ann).await;
}

/// Three pictures in one post: kept in order, the n-th `alt_text` with the n-th `image`, every
/// list shows them all, and deleting the post deletes every file.
async fn several_pictures_in_one_post(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    app.follow(&bob, &ann).await;
    let (status, post) = app
        .upload_with(
            Some(&ann.token),
            vec![
                image_part(jpeg(64, 48)),
                FormPart::text("alt_text", "first"),
                FormPart::text("caption", "three"),
                image_part(png(30, 90)),
                FormPart::text("alt_text", " second "),
                image_part(jpeg(50, 50)),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    assert_post_shape(&app, &post);
    let media = post["media"].as_array().unwrap();
    let sizes: Vec<_> = media
        .iter()
        .map(|m| (m["width"].as_i64().unwrap(), m["height"].as_i64().unwrap()))
        .collect();
    assert_eq!(sizes, [(64, 48), (30, 90), (50, 50)]);
    let alts: Vec<_> = media
        .iter()
        .map(|m| m["alt_text"].as_str().unwrap())
        .collect();
    assert_eq!(alts, ["first", "second", ""]);
    assert_eq!(post["alt_text"], "first");
    assert_eq!(post["caption"], "three");
    let mut urls = HashSet::new();
    for item in media {
        assert!(item["blurhash"].is_string() && item["dominant_color"].is_string());
        // Small pictures: the display image is the medium one.
        assert_eq!(item["medium_url"], item["image_url"]);
        for field in ["image_url", "thumbnail_url"] {
            let url = item[field].as_str().unwrap();
            assert!(urls.insert(url.to_owned()), "{url} twice");
            let response = app.get_bytes(url, &[]).await;
            assert_eq!(response.status, StatusCode::OK, "{url}");
            let picture = image::load_from_memory(&response.bytes).unwrap();
            if field == "image_url" {
                assert_eq!(
                    (i64::from(picture.width()), i64::from(picture.height())),
                    (
                        item["width"].as_i64().unwrap(),
                        item["height"].as_i64().unwrap()
                    )
                );
            }
        }
    }
    assert_eq!(app.picture_files().len(), 6);

    // The post, the author's list and the follower's feed show the same pictures.
    let id = post["id"].as_i64().unwrap();
    assert_eq!(get_post(&app, id, &bob).await["media"], post["media"]);
    let (status, listed) = app.as_(&bob).posts_of(&ann).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["results"][0]["media"], post["media"]);
    let (status, feed) = app.as_(&bob).feed().await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    assert_eq!(feed["results"][0]["media"], post["media"]);
    // A post of one picture beside it has one item.
    let single = app.post_by(&ann, "single").await;
    let single = get_post(&app, single, &ann).await;
    assert_eq!(single["media"].as_array().unwrap().len(), 1);
    assert_post_shape(&app, &single);

    // Editing the text keeps the pictures.
    let (status, edited) = app
        .as_(&ann)
        .edit_post(id, json!({"caption": "edited"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["media"].as_array().unwrap().len(), 3);

    // Deleting the post deletes every file of it.
    let (status, _) = app.as_(&ann).delete_post(id).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for url in &urls {
        assert_eq!(app.get_bytes(url, &[]).await.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.picture_files().len(), 2, "{:?}", app.media_files());
    app.assert_counters_exact().await;
}

/// Any bad part stores nothing: no row, no file, whichever part it is and whether it is caught
/// from its header (before anything is processed) or only when decoded (after the pictures
/// before it were stored).
async fn one_bad_picture_stores_nothing(app: TestApp) {
    let ann = app.user("ann").await;
    let good = jpeg(64, 48);
    let whole = png(60, 40);
    let truncated = whole[..whole.len() / 2].to_vec();
    for (case, parts, status) in [
        (
            "not a picture, last",
            vec![
                image_part(good.clone()),
                image_part(png(20, 20)),
                image_part(b"not a picture".to_vec()),
            ],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "broken after a good header, last",
            vec![
                image_part(good.clone()),
                image_part(png(20, 20)),
                image_part(truncated.clone()),
            ],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "broken first",
            vec![image_part(truncated.clone()), image_part(good.clone())],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "an empty file among them",
            vec![image_part(good.clone()), image_part(Vec::new())],
            StatusCode::BAD_REQUEST,
        ),
        (
            "more alt texts than pictures",
            vec![
                image_part(good.clone()),
                FormPart::text("alt_text", "one"),
                FormPart::text("alt_text", "two"),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            "an alt text too long",
            vec![
                image_part(good.clone()),
                image_part(good.clone()),
                FormPart::text("alt_text", "fine"),
                FormPart::text("alt_text", &"x".repeat(1001)),
            ],
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, body) = app.upload_with(Some(&ann.token), parts).await;
        assert_eq!(got, status, "{case}: {body}");
        assert!(
            body["detail"].is_string() && body["code"].is_string(),
            "{case}: {body}"
        );
        app.assert_nothing_posted_by(&ann).await;
    }
    app.assert_counters_exact().await;
}

async fn eleven_pictures_are_400(app: TestApp) {
    let ann = app.user("ann").await;
    let parts = |n: u32| {
        (0..n)
            .map(|i| image_part(png(10 + i, 10)))
            .collect::<Vec<_>>()
    };
    let (status, body) = app.upload_with(Some(&ann.token), parts(11)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "too_many_images");
    app.assert_nothing_posted_by(&ann).await;
    // Ten is the most.
    let (status, post) = app.upload_with(Some(&ann.token), parts(10)).await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    let widths: Vec<_> = post["media"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["width"].as_i64().unwrap())
        .collect();
    assert_eq!(widths, (10..20).collect::<Vec<i64>>());
    assert_eq!(app.picture_files().len(), 20);
}
