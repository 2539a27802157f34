//! Pictures cannot take the process's memory: however many worst-case uploads arrive at once,
//! picture work holds at most its budget, the process stays small, other requests are served
//! meanwhile, and what does not fit in time is answered 503 without a trace.

use std::sync::Arc;
use std::time::Duration;

use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, TestDatabase, TestUser};
use crate::server::{ServerProcess, settings_for};

const MIB: u64 = 1024 * 1024;

fn png(image: &DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A 32768 × 1024 RGBA strip: the longest edge and the widest ratio accepted, 134 MB decoded.
fn strip() -> Vec<u8> {
    png(&DynamicImage::ImageRgba8(RgbaImage::from_pixel(
        32_768,
        1024,
        Rgba([9, 99, 199, 128]),
    )))
}

/// A 40-megapixel RGBA PNG of a few hundred kilobytes: 160 MB decoded.
fn forty_megapixel_png() -> Vec<u8> {
    png(&DynamicImage::ImageRgba8(RgbaImage::from_pixel(
        8000,
        5000,
        Rgba([200, 20, 20, 255]),
    )))
}

/// A 40-megapixel progressive JPEG: its decoder holds every coefficient (120 MB).
fn forty_megapixel_progressive_jpeg() -> Vec<u8> {
    let (width, height) = (7744u16, 5164u16);
    let pixels = RgbImage::from_fn(u32::from(width), u32::from(height), |x, y| {
        Rgb([(x / 31) as u8, (y / 23) as u8, 90])
    });
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
    encoder.set_progressive(true);
    encoder
        .encode(pixels.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// A JPEG of noise just under the 10 MiB upload limit: the largest body.
fn max_size_jpeg() -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state >> 24) as u8
    };
    let pixels = RgbImage::from_fn(2130, 1650, |_, _| Rgb([noise(), noise(), noise()]));
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 97)
        .encode(pixels.as_raw(), 2130, 1650, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    assert!(
        out.len() > 9 * MIB as usize && out.len() < 10 * MIB as usize,
        "{}",
        out.len()
    );
    out
}

/// Uploads every body at once; meanwhile reads the caller's own user every 100 ms, each read
/// answered 200 within 10 s. Returns the uploads' answers.
async fn upload_all_while_reading(
    app: &Arc<TestApp>,
    user: &TestUser,
    bodies: Vec<Vec<u8>>,
) -> Vec<(StatusCode, serde_json::Value)> {
    let uploads: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let (app, token) = (app.clone(), user.token.clone());
            tokio::spawn(async move { app.upload(&token, body, &format!("upload {i}")).await })
        })
        .collect();
    let mut reads = 0;
    while uploads.iter().any(|upload| !upload.is_finished()) {
        let read = tokio::time::timeout(
            Duration::from_secs(10),
            app.get("/accounts/me/", Some(&user.token)),
        )
        .await
        .expect("a read is answered while pictures are processed");
        assert_eq!(read.0, StatusCode::OK, "{}", read.1);
        reads += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reads > 0);
    let mut answers = Vec::new();
    for upload in uploads {
        answers.push(upload.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_worst_case_uploads_keep_the_process_under_512_mib() {
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let settings = settings_for(&db);
    let server = ServerProcess::start(&settings).await;
    let app = Arc::new(server.app(&settings, &db));
    let user = app.user("uploader").await;
    let idle = server.peak_rss();

    let (strip, png40, progressive, max_size) = (
        strip(),
        forty_megapixel_png(),
        forty_megapixel_progressive_jpeg(),
        max_size_jpeg(),
    );
    let mut bodies = Vec::new();
    for _ in 0..3 {
        bodies.extend([strip.clone(), png40.clone(), progressive.clone()]);
    }
    bodies.extend(std::iter::repeat_n(max_size, 7));
    assert_eq!(bodies.len(), 16);

    let answers = upload_all_while_reading(&app, &user, bodies).await;
    let peak = server.peak_rss();
    println!(
        "peak RSS {} MiB (idle {} MiB); answers {:?}",
        peak / MIB,
        idle / MIB,
        answers.iter().map(|a| a.0.as_u16()).collect::<Vec<_>>()
    );
    for (status, body) in &answers {
        assert!(
            *status == StatusCode::CREATED
                || *status == StatusCode::SERVICE_UNAVAILABLE && body["code"] == "overloaded",
            "{status}: {body}"
        );
    }
    let created = answers
        .iter()
        .filter(|a| a.0 == StatusCode::CREATED)
        .count();
    assert!(created >= 8, "only {created} of 16 uploads went through");
    assert!(
        peak < 512 * MIB,
        "peak RSS {} MiB:\n{}",
        peak / MIB,
        server.log()
    );
    assert_eq!(app.post_count(user.id).await, created as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_past_the_budget_answer_503_and_leave_nothing() {
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let settings = settings_for(&db);
    // Room for one 40-megapixel picture at a time, and little patience.
    let server = ServerProcess::start_with_env(
        &settings,
        &[("IMAGE_MEMORY_MIB", "240"), ("IMAGE_WAIT_TIMEOUT", "300ms")],
    )
    .await;
    let app = Arc::new(server.app(&settings, &db));
    let user = app.user("uploader").await;

    let png40 = forty_megapixel_png();
    let answers = upload_all_while_reading(&app, &user, vec![png40.clone(); 8]).await;
    let busy: Vec<_> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!busy.is_empty(), "every upload fitted: {answers:?}");
    for (status, body) in &busy {
        assert_eq!(body["code"], "overloaded", "{status}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("Try again"));
    }
    let created = answers.len() - busy.len();
    assert!(created >= 1, "{answers:?}");
    assert_eq!(app.post_count(user.id).await, created as i64);
    // The budget is whole again: the next upload goes through.
    let (status, body) = app.upload(&user.token, png40, "later").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_bodies_wait_for_their_memory_and_then_answer_503() {
    use tokio::io::AsyncWriteExt as _;

    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let settings = settings_for(&db);
    // Room for one largest body (the floor of `UPLOAD_MEMORY_MIB`), and little patience.
    let server = ServerProcess::start_with_env(
        &settings,
        &[("UPLOAD_MEMORY_MIB", "1"), ("IMAGE_WAIT_TIMEOUT", "300ms")],
    )
    .await;
    let app = Arc::new(server.app(&settings, &db));
    let user = app.user("uploader").await;

    // An upload that declares the largest body (11 MiB, whole) and sends a kilobyte of it holds
    // all the memory.
    let mut slow = tokio::net::TcpStream::connect(settings.bind).await.unwrap();
    let head = format!(
        "POST /posts/create/ HTTP/1.1\r\nHost: {}\r\nAuthorization: Token {}\r\n\
         Content-Type: multipart/form-data; boundary=XB\r\nContent-Length: {}\r\n\r\n",
        settings.bind,
        user.token,
        10 * MIB + 200 * 1024
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&[b'-'; 1024]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Meanwhile another upload is not read: it waits, then answers 503, and nothing is posted.
    let picture = png(&DynamicImage::ImageRgb8(RgbImage::new(64, 64)));
    let (status, body) = app.upload(&user.token, picture.clone(), "meanwhile").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "overloaded", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("Try again"));
    // Requests without a body are served as usual.
    let (status, _) = app.get("/accounts/me/", Some(&user.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.post_count(user.id).await, 0);

    // Once the slow upload goes away, its memory is free again.
    drop(slow);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = app.upload(&user.token, picture, "later").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
