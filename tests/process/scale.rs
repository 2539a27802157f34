//! Three server processes on one PostgreSQL and one bucket of a real S3-compatible server
//! (SeaweedFS): a picture uploaded through one is served by the others byte for byte and deleted
//! through a third is gone everywhere; the storm of `storm.rs` over the three ends with `check`
//! clean; the bucket's server killed, uploads and picture reads answer 503 (never hang) and come
//! back by themselves when it does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, TestDatabase, assert_error, jpeg};
use crate::seaweed::{SeaweedFs, s3_env};
use crate::server::{ServerProcess, settings_for};
use crate::storm::storm_over;

/// `n` processes on `db`, their pictures in `bucket` of `weed`.
async fn nodes(
    db: &Arc<TestDatabase>,
    weed: &SeaweedFs,
    bucket: &str,
    n: usize,
) -> (
    Vec<ServerProcess>,
    Vec<TestApp>,
    being_social::settings::Settings,
) {
    let env = s3_env(weed, bucket);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut servers = Vec::new();
    let mut apps = Vec::new();
    let mut first = None;
    for _ in 0..n {
        let settings = settings_for(db);
        let server = ServerProcess::start_with_env(&settings, &env).await;
        apps.push(server.app(&settings, db));
        servers.push(server);
        first.get_or_insert(settings);
    }
    (servers, apps, first.unwrap())
}

/// The bytes at a media URL of an answer, through `app`.
async fn fetch(app: &TestApp, url: &str, range: Option<&str>) -> (StatusCode, Vec<u8>) {
    let headers: Vec<(&str, &str)> = range.map(|r| ("Range", r)).into_iter().collect();
    // The URL names the node that answered the upload: its path, asked of `app`.
    let path = &url[url.find("/media/").unwrap()..];
    let response = app.get_bytes(path, &headers).await;
    (response.status, response.bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_uploaded_through_one_node_is_served_by_all_and_deleted_everywhere() {
    let weed = SeaweedFs::start().await;
    weed.create_bucket("everywhere").await;
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let (servers, apps, _) = nodes(&db, &weed, "everywhere", 3).await;
    let ann = apps[0].user("ann").await;

    let (status, post) = apps[0].upload(&ann.token, jpeg(640, 480), "from A").await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    let id = post["id"].as_i64().unwrap();
    let mut urls = Vec::new();
    for field in ["image_url", "thumbnail_url"] {
        urls.push(post[field].as_str().unwrap().to_owned());
    }
    for url in &urls {
        let (status, bytes) = fetch(&apps[0], url, None).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert!(bytes.len() > 100);
        // The object in the bucket is those very bytes.
        let key = url.rsplit('/').next().unwrap();
        let object = weed
            .object("everywhere", &format!("pictures/{}/{key}", &key[..2]))
            .await;
        assert_eq!(
            object.as_deref(),
            Some(bytes.as_slice()),
            "{key} in the bucket"
        );
        for app in &apps[1..] {
            assert_eq!(
                fetch(app, url, None).await,
                (StatusCode::OK, bytes.clone()),
                "{url}"
            );
            let (status, part) = fetch(app, url, Some("bytes=10-19")).await;
            assert_eq!(status, StatusCode::PARTIAL_CONTENT);
            assert_eq!(part, bytes[10..20]);
        }
    }

    let (status, body) = apps[2]
        .delete(&format!("/posts/edit/{id}/"), Some(&ann.token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for url in &urls {
        for app in &apps {
            assert_eq!(
                fetch(app, url, None).await.0,
                StatusCode::NOT_FOUND,
                "{url}"
            );
        }
        let key = url.rsplit('/').next().unwrap();
        let path = format!("pictures/{}/{key}", &key[..2]);
        assert_eq!(
            weed.object("everywhere", &path).await,
            None,
            "{key} left in the bucket"
        );
    }
    drop(apps);
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_over_three_nodes_with_pictures_in_a_bucket_leaves_every_counter_exact() {
    let weed = SeaweedFs::start().await;
    weed.create_bucket("storm").await;
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let (servers, apps, settings) = nodes(&db, &weed, "storm", 3).await;
    storm_over(apps, &settings).await;
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_down_answers_503_and_comes_back_by_itself() {
    let mut weed = SeaweedFs::start().await;
    weed.create_bucket("outage").await;
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let (servers, apps, _) = nodes(&db, &weed, "outage", 1).await;
    let app = &apps[0];
    let ann = app.user("ann").await;
    let (status, post) = app.upload(&ann.token, jpeg(64, 48), "before").await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    let url = post["image_url"].as_str().unwrap().to_owned();
    let (status, bytes) = fetch(app, &url, None).await;
    assert_eq!(status, StatusCode::OK);

    weed.kill();
    let started = Instant::now();
    let (status, body) = app.upload(&ann.token, jpeg(64, 48), "during").await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    let (status, _) = fetch(app, &url, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = app.get("/readyz", None).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "503s took {:?}",
        started.elapsed()
    );
    // The failed upload left no post.
    let (status, me) = app.get(&format!("/accounts/{}/", ann.id), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["post_count"], 1, "{me}");
    // What does not touch pictures is served.
    let (status, _) = app.get("/accounts/me/", Some(&ann.token)).await;
    assert_eq!(status, StatusCode::OK);

    weed.resume().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _) = app.get("/readyz", None).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready 60 s after the store came back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(fetch(app, &url, None).await, (StatusCode::OK, bytes));
    let (status, post) = app.upload(&ann.token, jpeg(64, 48), "after").await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    drop(apps);
    drop(servers);
}

/// Files that no row names (an upload that died between its files and its row, a removal the
/// bucket refused) are found by `check --media` once older than the grace period, and removed by
/// `--repair`; the files of posts, their WebP renditions included, are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_media_finds_the_files_no_row_names_and_repair_removes_them() {
    let weed = SeaweedFs::start().await;
    weed.create_bucket("orphans").await;
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let (servers, apps, settings) = nodes(&db, &weed, "orphans", 1).await;
    let ann = apps[0].user("ann").await;
    let (status, post) = apps[0].upload(&ann.token, jpeg(2400, 1600), "kept").await;
    assert_eq!(status, StatusCode::CREATED, "{post}");

    // The post's files: each rendition, and the WebP beside it where there is one.
    let mut kept = Vec::new();
    for field in ["image_url", "medium_url", "thumbnail_url"] {
        let url = post["media"][0][field].as_str().unwrap();
        let key = url.rsplit('/').next().unwrap();
        let webp = format!("{}.webp", key.rsplit_once('.').unwrap().0);
        for name in [key, webp.as_str()] {
            let path = format!("pictures/{}/{name}", &name[..2]);
            if let Some(bytes) = weed.object("orphans", &path).await {
                kept.push((path, bytes));
            }
        }
    }
    let paths: Vec<&String> = kept.iter().map(|(path, _)| path).collect();
    assert!(paths.len() > 3, "no WebP rendition to keep: {paths:?}");

    let orphans = [
        "0a0123456789abcdef0123456789abcd.jpg",
        "0a0123456789abcdef0123456789abcd.webp",
        "f00123456789abcdef0123456789abcd.png",
    ];
    for key in orphans {
        let path = format!("pictures/{}/{key}", &key[..2]);
        weed.put_object("orphans", &path, b"not a row's").await;
    }
    // A name of another shape (a write that never finished) is not the check's to remove.
    weed.put_object("orphans", "pictures/0a/upload.tmp", b"?")
        .await;
    let env = s3_env(&weed, "orphans");
    let run = |args: &[&str]| {
        let output = ServerProcess::check_with_env(&settings, &env, args);
        let report = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code(), report)
    };

    // Just written: too recent to tell from an upload in progress.
    let (code, report) = run(&["--media"]);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("0 named by no row"), "{report}");
    assert!(report.contains("3 too recent"), "{report}");
    assert!(report.contains("1 not keys of the store"), "{report}");

    let (code, report) = run(&["--media", "--media-grace", "0s"]);
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("3 named by no row"), "{report}");
    for key in orphans {
        assert!(report.contains(key), "{key}: {report}");
    }
    let (code, report) = run(&["--media", "--media-grace", "0s", "--repair"]);
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("removed 3 file(s)"), "{report}");
    for key in orphans {
        let path = format!("pictures/{}/{key}", &key[..2]);
        assert_eq!(weed.object("orphans", &path).await, None, "{key}");
    }
    let (code, report) = run(&["--media", "--media-grace", "0s"]);
    assert_eq!(code, Some(0), "{report}");

    // Every file of the post, its WebP renditions included, is still in the bucket.
    for (path, bytes) in &kept {
        assert_eq!(
            weed.object("orphans", path).await.as_ref(),
            Some(bytes),
            "{path}"
        );
    }
    drop(servers);
}
