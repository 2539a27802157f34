//! Pictures: what an upload accepts (formats, the pixel limit, decompression bombs), and the
//! stored pictures through `GET /media/{key}`: sizes, formats, metadata, caching, bad keys.

use being_social_test_support::pictures::{self, png_claiming};
use image::{DynamicImage, GenericImageView, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    FormPart, RawResponse, TestApp, TestUser, assert_error, image_part, jpeg, png, with_settings,
};

on_both_backends!(
    large_pictures_are_scaled_down,
    small_pictures_are_not_enlarged,
    content_type_matches_the_bytes,
    caching_headers_and_conditional_requests,
    exif_is_removed_and_orientation_applied,
    transparent_png_stays_png_with_alpha,
    webp_and_gif_are_accepted,
    bad_keys_are_404,
    head_requests,
    avatars_are_served_and_shown_on_posts,
    no_orphan_files_when_the_author_goes_mid_upload,
    every_post_carries_a_placeholder_of_its_picture,
    medium_rendition_and_webp_by_accept,
    non_images_are_415,
    decompression_bombs_are_refused,
);

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn upload(app: &TestApp, user: &TestUser, bytes: Vec<u8>, file_name: &str) -> Value {
    let (status, body) = app
        .upload_with(
            Some(&user.token),
            vec![FormPart::file("image", bytes, file_name)],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Fetches a media URL of the post, checks status, Content-Type against the bytes, and decodes.
async fn fetch(app: &TestApp, url: &Value) -> (RawResponse, DynamicImage) {
    let url = url.as_str().unwrap();
    let response = app.get_bytes(url, &[]).await;
    assert_eq!(response.status, StatusCode::OK, "{url}");
    let format = image::guess_format(&response.bytes).expect("stored bytes are a picture");
    let expected_type = match format {
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Png => "image/png",
        other => panic!("unexpected stored format {other:?}"),
    };
    assert_eq!(response.header("content-type"), expected_type, "{url}");
    let image = image::load_from_memory(&response.bytes).unwrap();
    (response, image)
}

async fn large_pictures_are_scaled_down(app: TestApp) {
    let ann = app.user("ann").await;
    let post = upload(&app, &ann, jpeg(3000, 1500), "wide.jpg").await;
    assert_eq!(post["width"], 2048);
    assert_eq!(post["height"], 1024);
    let (_, display) = fetch(&app, &post["image_url"]).await;
    assert_eq!(display.dimensions(), (2048, 1024));
    let (_, thumbnail) = fetch(&app, &post["thumbnail_url"]).await;
    assert_eq!(thumbnail.dimensions(), (320, 160));

    // A tall PNG: the long edge is the height.
    let post = upload(&app, &ann, png(600, 2500), "tall.png").await;
    let (_, display) = fetch(&app, &post["image_url"]).await;
    let (w, h) = display.dimensions();
    assert_eq!(h, 2048);
    assert!((w as i64 - 492).abs() <= 1, "{w}x{h}");
    assert_eq!(
        (post["width"].as_u64(), post["height"].as_u64()),
        (Some(u64::from(w)), Some(u64::from(h)))
    );
    let (_, thumbnail) = fetch(&app, &post["thumbnail_url"]).await;
    let (tw, th) = thumbnail.dimensions();
    assert_eq!(th, 320);
    assert!((tw as i64 - 77).abs() <= 1, "{tw}x{th}");
}

async fn small_pictures_are_not_enlarged(app: TestApp) {
    let ann = app.user("ann").await;
    let post = upload(&app, &ann, jpeg(200, 100), "small.jpg").await;
    assert_eq!(
        (post["width"].as_i64(), post["height"].as_i64()),
        (Some(200), Some(100))
    );
    let (_, display) = fetch(&app, &post["image_url"]).await;
    assert_eq!(display.dimensions(), (200, 100));
    let (_, thumbnail) = fetch(&app, &post["thumbnail_url"]).await;
    assert_eq!(thumbnail.dimensions(), (200, 100));
    // Exactly at the display limit stays as it is; the thumbnail shrinks.
    let post = upload(&app, &ann, jpeg(2048, 10), "edge.jpg").await;
    let (_, display) = fetch(&app, &post["image_url"]).await;
    assert_eq!(display.dimensions(), (2048, 10));
    let (_, thumbnail) = fetch(&app, &post["thumbnail_url"]).await;
    assert_eq!(thumbnail.dimensions().0, 320);
}

async fn content_type_matches_the_bytes(app: TestApp) {
    let ann = app.user("ann").await;
    // A JPEG named .png, a PNG named .jpg with a declared JPEG type: the bytes decide.
    let cases = vec![
        (jpeg(50, 40), "looks-like.png", "image/png"),
        (png(50, 40), "looks-like.jpg", "image/jpeg"),
    ];
    for (bytes, name, declared) in cases {
        let (status, post) = app
            .upload_with(
                Some(&ann.token),
                vec![FormPart::file("image", bytes, name).mime(declared)],
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{post}");
        for url in ["image_url", "thumbnail_url"] {
            let (response, image) = fetch(&app, &post[url]).await;
            assert_eq!(image.dimensions(), (50, 40));
            let ext = post[url].as_str().unwrap().rsplit('.').next().unwrap();
            let expected = if ext == "png" {
                "image/png"
            } else {
                "image/jpeg"
            };
            assert_eq!(response.header("content-type"), expected);
        }
    }
    // Media needs no token.
    let post = upload(&app, &ann, jpeg(10, 10), "a.jpg").await;
    let response = app
        .get_bytes(post["image_url"].as_str().unwrap(), &[])
        .await;
    assert_eq!(response.status, StatusCode::OK);
}

async fn caching_headers_and_conditional_requests(app: TestApp) {
    let ann = app.user("ann").await;
    let post = upload(&app, &ann, jpeg(80, 60), "c.jpg").await;
    for url in ["image_url", "thumbnail_url"] {
        let (response, _) = fetch(&app, &post[url]).await;
        let etag = response.header("etag");
        assert!(!etag.is_empty(), "no ETag");
        assert!(etag.starts_with('"') || etag.starts_with("W/\""), "{etag}");
        let cache = response.header("cache-control");
        assert!(cache.contains("immutable"), "{cache}");
        assert!(cache.contains("max-age=31536000"), "{cache}");

        let url = post[url].as_str().unwrap();
        let again = app.get_bytes(url, &[("If-None-Match", &etag)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.bytes.is_empty());
        assert_eq!(again.header("etag"), etag);
        let weak = format!("W/{}", etag.trim_start_matches("W/"));
        let again = app
            .get_bytes(url, &[("If-None-Match", &format!("\"nope\", {weak}"))])
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        let other = app
            .get_bytes(url, &[("If-None-Match", "\"something-else\"")])
            .await;
        assert_eq!(other.status, StatusCode::OK);
        assert_eq!(other.bytes, response.bytes);
        // The same picture always has the same tag.
        assert_eq!(other.header("etag"), etag);
    }
    let image_etag = fetch(&app, &post["image_url"]).await.0.header("etag");
    let thumb_etag = fetch(&app, &post["thumbnail_url"]).await.0.header("etag");
    assert_ne!(image_etag, thumb_etag);
}

/// A JPEG of `width`×`height` (left half red, right half blue) with an EXIF APP1 segment holding
/// an orientation and a GPS position.
fn jpeg_with_exif(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let plain = encode(&DynamicImage::ImageRgb8(image), ImageFormat::Jpeg);
    assert_eq!(&plain[..2], &[0xFF, 0xD8]);

    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes()); // IFD0 at 8
    tiff.extend_from_slice(&2u16.to_le_bytes()); // two entries
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0x8825u16.to_le_bytes()); // GPS IFD pointer
    tiff.extend_from_slice(&4u16.to_le_bytes()); // LONG
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&38u32.to_le_bytes()); // GPS IFD at 38
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    assert_eq!(tiff.len(), 38);
    tiff.extend_from_slice(&2u16.to_le_bytes()); // two GPS entries
    tiff.extend_from_slice(&0x0001u16.to_le_bytes()); // GPSLatitudeRef
    tiff.extend_from_slice(&2u16.to_le_bytes()); // ASCII
    tiff.extend_from_slice(&2u32.to_le_bytes());
    tiff.extend_from_slice(b"N\0\0\0");
    tiff.extend_from_slice(&0x0002u16.to_le_bytes()); // GPSLatitude
    tiff.extend_from_slice(&5u16.to_le_bytes()); // RATIONAL
    tiff.extend_from_slice(&3u32.to_le_bytes());
    tiff.extend_from_slice(&68u32.to_le_bytes()); // values at 68
    tiff.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(tiff.len(), 68);
    for (num, den) in [(48u32, 1u32), (51, 1), (2405, 100)] {
        tiff.extend_from_slice(&num.to_le_bytes());
        tiff.extend_from_slice(&den.to_le_bytes());
    }

    pictures::jpeg_with_exif(&plain, &tiff)
}

async fn exif_is_removed_and_orientation_applied(app: TestApp) {
    let ann = app.user("ann").await;
    let input = jpeg_with_exif(300, 100, 6);
    assert!(contains(&input, b"Exif"));
    // The image crate itself reads the orientation we wrote.
    {
        use image::ImageDecoder as _;
        let mut decoder = image::ImageReader::new(std::io::Cursor::new(&input))
            .with_guessed_format()
            .unwrap()
            .into_decoder()
            .unwrap();
        assert_eq!(
            decoder.orientation().unwrap(),
            image::metadata::Orientation::Rotate90
        );
    }

    let post = upload(&app, &ann, input, "phone.jpg").await;
    // Orientation 6 is "rotate 90° clockwise to display": 300×100 becomes 100×300.
    assert_eq!(
        (post["width"].as_i64(), post["height"].as_i64()),
        (Some(100), Some(300))
    );
    for url in ["image_url", "thumbnail_url"] {
        let (response, image) = fetch(&app, &post[url]).await;
        assert_eq!(image.dimensions(), (100, 300), "{url}");
        assert!(!contains(&response.bytes, b"Exif"), "{url} keeps EXIF");
        assert!(
            !contains(&response.bytes, b"II*\0\x08\0\0\0"),
            "{url} keeps a TIFF header"
        );
        // The left (red) half is on top after the turn.
        let rgb = image.to_rgb8();
        let top = rgb.get_pixel(50, 30).0;
        let bottom = rgb.get_pixel(50, 270).0;
        assert!(top[0] > 200 && top[2] < 60, "{url} top {top:?}");
        assert!(bottom[2] > 200 && bottom[0] < 60, "{url} bottom {bottom:?}");
    }

    // Orientation 1 (normal): dimensions stay, EXIF still removed.
    let post = upload(&app, &ann, jpeg_with_exif(300, 100, 1), "normal.jpg").await;
    assert_eq!(
        (post["width"].as_i64(), post["height"].as_i64()),
        (Some(300), Some(100))
    );
    let (response, image) = fetch(&app, &post["image_url"]).await;
    assert_eq!(image.dimensions(), (300, 100));
    assert!(!contains(&response.bytes, b"Exif"));
}

async fn transparent_png_stays_png_with_alpha(app: TestApp) {
    let ann = app.user("ann").await;
    let image = RgbaImage::from_fn(800, 400, |x, _| {
        if x < 400 {
            Rgba([255, 0, 0, 0])
        } else {
            Rgba([0, 0, 255, 255])
        }
    });
    let bytes = encode(&DynamicImage::ImageRgba8(image), ImageFormat::Png);
    let post = upload(&app, &ann, bytes, "logo.png").await;
    assert_eq!(
        (post["width"].as_i64(), post["height"].as_i64()),
        (Some(800), Some(400))
    );
    for (url, size) in [("image_url", (800, 400)), ("thumbnail_url", (320, 160))] {
        let (response, image) = fetch(&app, &post[url]).await;
        assert_eq!(response.header("content-type"), "image/png", "{url}");
        assert_eq!(
            image::guess_format(&response.bytes).unwrap(),
            ImageFormat::Png
        );
        assert_eq!(image.dimensions(), size, "{url}");
        assert!(image.color().has_alpha(), "{url} lost its alpha channel");
        assert_eq!(image.get_pixel(5, 5).0[3], 0, "{url}");
        assert_eq!(image.get_pixel(size.0 - 5, 5).0[3], 255, "{url}");
    }
}

async fn webp_and_gif_are_accepted(app: TestApp) {
    let ann = app.user("ann").await;
    let opaque = DynamicImage::ImageRgba8(RgbaImage::from_fn(64, 48, |x, y| {
        Rgba([(x * 4) as u8, (y * 5) as u8, 90, 255])
    }));
    for (format, name) in [(ImageFormat::WebP, "a.webp"), (ImageFormat::Gif, "a.gif")] {
        let bytes = encode(&opaque, format);
        let post = upload(&app, &ann, bytes, name).await;
        assert_eq!(
            (post["width"].as_i64(), post["height"].as_i64()),
            (Some(64), Some(48))
        );
        let (_, image) = fetch(&app, &post["image_url"]).await;
        assert_eq!(image.dimensions(), (64, 48), "{format:?}");
        let (_, thumb) = fetch(&app, &post["thumbnail_url"]).await;
        assert_eq!(thumb.dimensions(), (64, 48), "{format:?}");
    }
}

fn assert_not_found_json(what: &str, status: StatusCode, body: &[u8], app: &TestApp) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{what}");
    let json: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("{what}: not JSON: {}", String::from_utf8_lossy(body)));
    assert_eq!(json["code"], "not_found", "{what}: {json}");
    assert!(json["detail"].is_string(), "{what}: {json}");
    let text = String::from_utf8_lossy(body);
    let media_dir = app.settings.media_dir.display().to_string();
    assert!(!text.contains(&media_dir), "{what} leaks a path: {text}");
    assert!(!text.contains("root:"), "{what}: {text}");
}

async fn bad_keys_are_404(app: TestApp) {
    let ann = app.user("ann").await;
    let post = upload(&app, &ann, jpeg(30, 30), "k.jpg").await;
    let image_path = app.path_of(post["image_url"].as_str().unwrap());
    let key = image_path.trim_start_matches("/media/").to_owned();
    assert!(key.ends_with(".jpg"), "{key}");
    // A file the store never issued, placed inside the media directory.
    std::fs::write(app.settings.media_dir.join("secret.txt"), b"secret").unwrap();

    let (stem, _) = key.split_once('.').unwrap();
    let bad = vec![
        "abc".to_owned(),
        "%2e%2e%2fetc".to_owned(),
        "..%2F..%2Fetc%2Fpasswd".to_owned(),
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd".to_owned(),
        "secret.txt".to_owned(),
        "0123456789ABCDEF0123456789ABCDEF.jpg".to_owned(),
        "00000000000000000000000000000000.jpg".to_owned(),
        "00000000000000000000000000000000.png".to_owned(),
        key.to_uppercase(),
        format!("{}.jpg", stem.to_uppercase()),
        format!("{stem}.png"),
        format!("{stem}.JPG"),
        format!("{stem}.gif"),
        format!("{stem}"),
        format!("{}/{key}", &key[..2]),
        format!("x{key}"),
        format!("{key}.jpg"),
        format!("{key}%00"),
        format!("{key}%00.jpg"),
        ".tmp-0000".to_owned(),
    ];
    for key in &bad {
        let response = app.get_bytes(&format!("/media/{key}"), &[]).await;
        assert_not_found_json(key, response.status, &response.bytes, &app);
    }
    // Sent byte for byte, without a client library normalising the path.
    for path in [
        "/media/../../etc/passwd",
        "/media/..%2f..%2fetc%2fpasswd",
        "/media/%2e%2e/%2e%2e/etc/passwd",
        "/media/../secret.txt",
        "/media/./secret.txt",
    ] {
        let (status, body) = app
            .raw_http(&format!(
                "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            ))
            .await;
        let status = StatusCode::from_u16(status).unwrap();
        assert_not_found_json(path, status, &body, &app);
        assert!(!contains(&body, b"secret"), "{path}");
    }
    let response = app.get_bytes("/media/", &[]).await;
    assert_not_found_json("/media/", response.status, &response.bytes, &app);
    // The real key still answers, with and without a trailing slash.
    let response = app.get_bytes(&image_path, &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    let response = app.get_bytes(&format!("{image_path}/"), &[]).await;
    assert_eq!(response.status, StatusCode::OK);
}

async fn head_requests(app: TestApp) {
    let ann = app.user("ann").await;
    let post = upload(&app, &ann, jpeg(40, 40), "h.jpg").await;
    let url = post["image_url"].as_str().unwrap();
    let response = app.client.head(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "image/jpeg"
    );
    assert!(response.headers().get("etag").is_some());
    let response = app
        .client
        .head(app.url("/media/00000000000000000000000000000000.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // Other methods are not served.
    let response = app.client.delete(url).send().await.unwrap();
    assert!(response.status().is_client_error());
    assert_eq!(app.get_bytes(url, &[]).await.status, StatusCode::OK);
}

async fn avatars_are_served_and_shown_on_posts(app: TestApp) {
    let ann = app.user("ann").await;
    let (status, user) = app
        .multipart(
            reqwest::Method::PATCH,
            &format!("/accounts/{}/", ann.id),
            Some(&ann.token),
            vec![FormPart::file("avatar", jpeg(900, 600), "me.jpg")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    let avatar = user["avatar_url"].as_str().unwrap().to_owned();
    assert!(
        avatar.starts_with(&format!("{}/media/", app.address)),
        "{avatar}"
    );
    let (_, image) = fetch(&app, &user["avatar_url"]).await;
    let (w, h) = image.dimensions();
    assert_eq!(w, h, "avatars are square");
    assert!(w <= 512);

    let post = upload(&app, &ann, jpeg(20, 20), "p.jpg").await;
    assert_eq!(post["author"]["avatar_url"], avatar.as_str());
    let (status, comment) = app
        .post(
            &format!("/posts/post-comment/{}/", post["id"]),
            Some(&ann.token),
            serde_json::json!({"content": "me"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(comment["author"]["avatar_url"], avatar.as_str());
}

/// An account deleted while its upload is being processed: whatever the upload answers, no
/// stored file is left behind without a post or user that names it.
async fn no_orphan_files_when_the_author_goes_mid_upload(app: TestApp) {
    for round in 0..3u64 {
        let ann = app.user(&format!("ann{round}")).await;
        let upload = app.upload_with(
            Some(&ann.token),
            vec![FormPart::file("image", jpeg(2600, 2600), "big.jpg")],
        );
        let delete = async {
            tokio::time::sleep(std::time::Duration::from_millis(50 + 150 * round)).await;
            app.as_(&ann).delete_account(&ann).await
        };
        let ((status, body), (deleted, deleted_body)) = tokio::join!(upload, delete);
        assert!(!status.is_server_error(), "upload: {status} {body}");
        assert_eq!(deleted, StatusCode::NO_CONTENT, "{deleted_body}");
        let files = app.media_files();
        assert!(
            files.is_empty(),
            "round {round}: upload {status}; left behind {files:?}"
        );
    }
    // And when the upload finished first, deleting the account removes its files.
    let bob = app.user("bob").await;
    app.post_by(&bob, "soon gone").await;
    assert_eq!(app.picture_files().len(), 2);
    let (status, _) = app.as_(&bob).delete_account(&bob).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(app.media_files().is_empty(), "{:?}", app.media_files());
    app.assert_counters_exact().await;
}

on_both_backends!(
    pictures_over_the_pixel_limit_are_400,
    start: with_settings(|s| s.max_image_pixels = 10_000)
);

async fn non_images_are_415(app: TestApp) {
    let ann = app.user("ann").await;
    let mut broken_jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    broken_jpeg.extend(std::iter::repeat_n(0x42u8, 500));
    let truncated_png = png(50, 50)[..40].to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("text", b"just some words, not a picture at all".to_vec()),
        ("bmp", bmp()),
        ("html", b"<html><body>hi</body></html>".to_vec()),
        ("broken jpeg", broken_jpeg),
        ("truncated png", truncated_png),
    ];
    for (what, bytes) in cases {
        for mime in ["image/jpeg", "image/png", "application/octet-stream"] {
            let (status, body) = app
                .upload_with(
                    Some(&ann.token),
                    vec![
                        FormPart::file("image", bytes.clone(), "holiday.jpg").mime(mime),
                        FormPart::text("caption", "hello"),
                    ],
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{what} as {mime}: {body}"
            );
            assert_error(
                status,
                &body,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            );
        }
    }
    app.assert_nothing_posted_by(&ann).await;
    app.assert_counters_exact().await;
}

/// With the default limits (40 megapixels), a small file claiming a huge picture is refused
/// from its header, with a `400`, and the server stays up.
async fn decompression_bombs_are_refused(app: TestApp) {
    let ann = app.user("ann").await;
    for (w, h) in [(50_000, 50_000), (40_001, 1_000), (1, 4_000_000_000)] {
        let bomb = png_claiming(w, h, 2); // 8-bit RGB
        assert!(bomb.len() < 100);
        let (status, body) = app
            .upload_with(Some(&ann.token), vec![image_part(bomb)])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{w}x{h}: {body}");
        assert!(
            body["code"].is_string() && body["detail"].is_string(),
            "{body}"
        );
    }
    assert_eq!(app.post_count(ann.id).await, 0);
    assert!(app.media_files().is_empty());
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    app.post_by(&ann, "still works").await;
}

async fn pictures_over_the_pixel_limit_are_400(app: TestApp) {
    let ann = app.user("ann").await;
    for bytes in [jpeg(200, 200), png(200, 200), png(10_001, 1)] {
        let (status, body) = app
            .upload_with(
                Some(&ann.token),
                vec![image_part(bytes), FormPart::text("caption", "too big")],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["code"].is_string() && body["detail"].is_string(),
            "{body}"
        );
        assert_ne!(body["code"], "validation_error", "{body}");
    }
    app.assert_nothing_posted_by(&ann).await;
    app.assert_counters_exact().await;
    // Exactly at the limit is accepted.
    let (status, body) = app
        .upload_with(Some(&ann.token), vec![image_part(jpeg(100, 100))])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(app.post_count(ann.id).await, 1);
}

/// A 2×2 24-bit BMP, which the server does not accept.
fn bmp() -> Vec<u8> {
    let pixels: Vec<u8> = vec![
        0, 0, 255, 0, 255, 0, 0, 0, // row 1: red, green, padding to 4 bytes
        255, 0, 0, 255, 255, 255, 0, 0, // row 2: blue, white, padding
    ];
    let mut out = b"BM".to_vec();
    out.extend_from_slice(&(54 + pixels.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&2i32.to_le_bytes());
    out.extend_from_slice(&2i32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // no compression
    out.extend_from_slice(&(pixels.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&pixels);
    out
}

async fn every_post_carries_a_placeholder_of_its_picture(app: TestApp) {
    let ann = app.user("ann").await;
    let orange = DynamicImage::ImageRgb8(RgbImage::from_pixel(600, 400, Rgb([230, 120, 20])));
    let post = upload(&app, &ann, encode(&orange, ImageFormat::Jpeg), "orange.jpg").await;

    // 4 x 3 components: a size flag, the maximum, the average and 11 pairs for the rest.
    let blurhash = post["blurhash"].as_str().unwrap();
    assert_eq!(blurhash.len(), 28, "{blurhash}");
    // BlurHash's cosines are sampled at pixel corners, so even a flat picture decodes with a
    // gentle gradient: its mean is the colour.
    let pixels = blurhash::decode(blurhash, 8, 8, 1.0).unwrap();
    for (channel, want) in [230u32, 120, 20].into_iter().enumerate() {
        let mean = pixels.chunks(4).map(|p| u32::from(p[channel])).sum::<u32>() / 64;
        assert!(
            mean.abs_diff(want) <= 8,
            "channel {channel}: {mean} for {want}"
        );
    }
    let color = post["dominant_color"].as_str().unwrap();
    let channel = |i: usize| u8::from_str_radix(&color[1 + 2 * i..][..2], 16).unwrap();
    assert!(color.starts_with('#') && color.len() == 7, "{color}");
    assert!(channel(0).abs_diff(230) <= 4, "{color}");
    assert!(channel(1).abs_diff(120) <= 4, "{color}");
    assert!(channel(2).abs_diff(20) <= 4, "{color}");

    // Every read of the post says the same.
    let (status, read) = app
        .get(&format!("/posts/edit/{}/", post["id"]), Some(&ann.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["blurhash"], post["blurhash"]);
    assert_eq!(read["dominant_color"], post["dominant_color"]);
    let (_, feed) = app.get("/posts/post-feed/", Some(&ann.token)).await;
    assert_eq!(feed["results"][0]["blurhash"], post["blurhash"]);
    assert_eq!(feed["results"][0]["dominant_color"], post["dominant_color"]);
}

/// A photo-like picture: smooth gradients with some texture, as a camera's JPEG.
fn photo(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        let h = x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503);
        Rgb([
            ((x * 255) / width) as u8 ^ ((h >> 29) as u8),
            ((y * 255) / height) as u8,
            (((x + y) * 127) / (width + height)) as u8 + ((h >> 28) as u8),
        ])
    });
    encode(&DynamicImage::ImageRgb8(image), ImageFormat::Jpeg)
}

/// The 1080 px rendition beside the 2048 px one, and the WebP of each (where smaller) for a
/// client that asks for it, each under its own strong tag, cached for good, `Vary: Accept`.
async fn medium_rendition_and_webp_by_accept(app: TestApp) {
    let ann = app.user("ann").await;
    let post = upload(&app, &ann, photo(3000, 2000), "big.jpg").await;
    let item = &post["media"][0];
    assert_eq!(
        (item["width"].as_i64(), item["height"].as_i64()),
        (Some(2048), Some(1365))
    );
    assert_ne!(item["medium_url"], item["image_url"]);
    let sizes = [
        ("image_url", 2048),
        ("medium_url", 1080),
        ("thumbnail_url", 320),
    ];
    let mut tags = std::collections::HashSet::new();
    let mut webps = 0;
    for (field, edge) in sizes {
        let (plain, picture) = fetch(&app, &item[field]).await;
        assert_eq!(picture.width().max(picture.height()), edge, "{field}");
        assert_eq!(plain.header("vary"), "Accept", "{field}");
        assert!(plain.header("cache-control").contains("immutable"));
        let etag = plain.header("etag");
        assert!(etag.starts_with('"'), "strong: {etag}");
        assert!(tags.insert(etag.clone()));

        let url = item[field].as_str().unwrap();
        let accept = [("Accept", "image/avif,image/webp,image/apng,*/*;q=0.8")];
        let negotiated = app.get_bytes(url, &accept).await;
        assert_eq!(negotiated.status, StatusCode::OK);
        assert_eq!(negotiated.header("vary"), "Accept");
        assert!(negotiated.header("cache-control").contains("immutable"));
        if negotiated.header("content-type") == "image/webp" {
            webps += 1;
            assert!(
                negotiated.bytes.len() < plain.bytes.len(),
                "{field}: WebP only where smaller"
            );
            let webp =
                image::load_from_memory_with_format(&negotiated.bytes, ImageFormat::WebP).unwrap();
            assert_eq!(webp.dimensions(), picture.dimensions(), "{field}");
            let webp_tag = negotiated.header("etag");
            assert!(webp_tag.starts_with('"') && webp_tag != etag, "{webp_tag}");
            assert!(tags.insert(webp_tag.clone()));
            // Conditional requests against the representation the Accept header picks.
            let again = app
                .get_bytes(url, &[accept[0], ("If-None-Match", &webp_tag)])
                .await;
            assert_eq!(again.status, StatusCode::NOT_MODIFIED);
            assert_eq!(again.header("vary"), "Accept");
            let jpeg_again = app.get_bytes(url, &[("If-None-Match", &webp_tag)]).await;
            assert_eq!(
                jpeg_again.status,
                StatusCode::OK,
                "a JPEG client's copy is another"
            );
            assert_eq!(jpeg_again.bytes, plain.bytes);
        } else {
            assert_eq!(negotiated.bytes, plain.bytes);
        }
        // A client that does not name WebP gets the JPEG, whatever else it accepts.
        for accept in ["*/*", "image/*", "image/webp;q=0"] {
            let other = app.get_bytes(url, &[("Accept", accept)]).await;
            assert_eq!(other.bytes, plain.bytes, "{field} with {accept}");
        }
    }
    assert!(
        webps >= 2,
        "a photo's WebP is smaller than its JPEG at 2048 and 1080 px"
    );

    // A picture no larger than the medium size has no medium rendition: the display image serves.
    let small = upload(&app, &ann, photo(800, 600), "small.jpg").await;
    assert_eq!(small["media"][0]["medium_url"], small["image_url"]);

    // Deleting the post deletes its WebP files too.
    let files = app.media_files().len();
    assert!(files > 6, "{files}");
    let id = post["id"].as_i64().unwrap();
    let (status, _) = app.as_(&ann).delete_post(id).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.media_files().len(), files - 3 - webps);
    let webp_files = app
        .media_files()
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "webp"))
        .count();
    let small_id = small["id"].as_i64().unwrap();
    let (status, _) = app.as_(&ann).delete_post(small_id).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        app.media_files().is_empty(),
        "{webp_files}: {:?}",
        app.media_files()
    );
}

on_both_backends!(
    pictures_can_be_handed_out_from_elsewhere,
    start: with_settings(|s| {
        s.media_public_url = Some(
            being_social_http::public_url::BaseUrl::parse("https://cdn.example/pictures/")
                .unwrap(),
        );
    })
);

/// With `media_public_url`, answers point at the bucket or CDN; `/media/` still serves.
async fn pictures_can_be_handed_out_from_elsewhere(app: TestApp) {
    let ann = app.user("ann").await;
    let (status, post) = app.upload(&ann.token, jpeg(64, 48), "elsewhere").await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    for field in ["image_url", "thumbnail_url"] {
        let url = post[field].as_str().unwrap();
        let key = url
            .strip_prefix("https://cdn.example/pictures/")
            .unwrap_or_else(|| panic!("{field}: {url}"));
        let response = app.get_bytes(&format!("/media/{key}"), &[]).await;
        assert_eq!(response.status, StatusCode::OK, "{key}");
    }
}
