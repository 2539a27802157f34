//! `GET /metrics`: requests by route template, method and status; latency histograms; the pool
//! and batcher figures.

use std::collections::HashMap;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, TestApp, with_settings};

on_both_backends!(
    requests_are_counted_by_route_template,
    latency_histograms_are_cumulative,
    pool_figures_are_exposed,
    like_batches_are_counted,
);
on_both_backends!(
    feed_delivery_figures_are_exposed,
    start: with_settings(crate::feed::tiny_feeds)
);

/// The exposition's text and its samples (`name{labels}` -> value), with each line checked.
async fn scrape(app: &TestApp) -> (String, HashMap<String, f64>) {
    let response = app.get_bytes("/metrics", &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(
        response
            .header("content-type")
            .starts_with("text/plain; version=0.0.4"),
        "{}",
        response.header("content-type")
    );
    let text = String::from_utf8(response.bytes).unwrap();
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP ") || comment.starts_with("TYPE "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "a series twice: {line}"
        );
    }
    (text, samples)
}

fn requests(samples: &HashMap<String, f64>, route: &str, method: &str, status: u16) -> f64 {
    let series =
        format!("http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}");
    samples.get(&series).copied().unwrap_or(0.0)
}

/// The `_bucket` values of one histogram series in order (the last is `+Inf`), checked to be
/// cumulative and to end with `_count`.
fn buckets(text: &str, samples: &HashMap<String, f64>, name: &str, labels: &str) -> Vec<f64> {
    let prefix = format!("{name}_bucket{{{labels},le=");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert!(
        !lines.is_empty(),
        "no buckets for {name}{{{labels}}}:\n{text}"
    );
    assert!(lines.last().unwrap().contains("le=\"+Inf\""), "{lines:?}");
    let values: Vec<f64> = lines
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "buckets not cumulative: {lines:?}"
    );
    let count = samples[&format!("{name}_count{{{labels}}}")];
    assert_eq!(*values.last().unwrap(), count, "{lines:?}");
    assert!(samples.contains_key(&format!("{name}_sum{{{labels}}}")));
    values
}

async fn requests_are_counted_by_route_template(app: TestApp) {
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    for id in [ann.id, bob.id] {
        let (status, _) = app.anonymous().profile(id).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Without the trailing slash: the same route.
    let (status, _) = app.get(&format!("/accounts/{}", ann.id), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/accounts/999999/", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/no/such/path/", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/another/unknown/7/", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call(Method::PUT, "/accounts/me/", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = app.anonymous().me().await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (text, samples) = scrape(&app).await;
    assert_eq!(requests(&samples, "/accounts/{user}/", "GET", 200), 3.0);
    assert_eq!(requests(&samples, "/accounts/{user}/", "GET", 404), 1.0);
    assert_eq!(requests(&samples, "unmatched", "GET", 404), 2.0);
    assert_eq!(requests(&samples, "/accounts/me/", "PUT", 405), 1.0);
    assert_eq!(requests(&samples, "/accounts/me/", "GET", 401), 1.0);
    assert_eq!(requests(&samples, "/accounts/signup/", "POST", 201), 2.0);
    assert_eq!(requests(&samples, "/accounts/login/", "POST", 200), 2.0);
    // Raw paths never become labels.
    for raw in [
        format!("/accounts/{}/", ann.id),
        "/no/such/path/".to_owned(),
        "/accounts/999999".to_owned(),
    ] {
        assert!(!text.contains(&raw), "{raw} is a label:\n{text}");
    }
    // The scrape itself is counted once it is answered.
    let (_, samples) = scrape(&app).await;
    assert_eq!(requests(&samples, "/metrics", "GET", 200), 1.0);
    assert_eq!(samples["http_requests_in_flight"], 1.0, "the scrape itself");
}

async fn latency_histograms_are_cumulative(app: TestApp) {
    let ann = app.user("ann").await;
    for _ in 0..3 {
        let (status, _) = app.as_(&ann).me().await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = app.anonymous().me().await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, _) = app.get("/nowhere/", None).await;

    let (text, samples) = scrape(&app).await;
    let name = "http_request_duration_seconds";
    let me = buckets(&text, &samples, name, "route=\"/accounts/me/\"");
    // 1 ms to 10 s, then +Inf.
    assert_eq!(me.len(), 14);
    assert!(text.contains(&format!(
        "{name}_bucket{{route=\"/accounts/me/\",le=\"0.001\"}}"
    )));
    assert!(text.contains(&format!(
        "{name}_bucket{{route=\"/accounts/me/\",le=\"10\"}}"
    )));
    // Every response of the route, whatever its status.
    assert_eq!(*me.last().unwrap(), 4.0);
    assert!(samples[&format!("{name}_sum{{route=\"/accounts/me/\"}}")] > 0.0);
    let unmatched = buckets(&text, &samples, name, "route=\"unmatched\"");
    assert_eq!(*unmatched.last().unwrap(), 1.0);
    // The counters and the histogram of a route agree.
    for route in ["/accounts/signup/", "/accounts/login/", "/accounts/me/"] {
        let counted: f64 = samples
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("http_requests_total{{route=\"{route}\",")))
            .map(|(_, v)| v)
            .sum();
        let observed = samples[&format!("{name}_count{{route=\"{route}\"}}")];
        assert_eq!(counted, observed, "{route}");
    }
}

async fn pool_figures_are_exposed(app: TestApp) {
    app.user("ann").await;
    let (_, samples) = scrape(&app).await;
    let max = samples["db_pool_max_connections"];
    let size = samples["db_pool_connections"];
    let in_use = samples["db_pool_connections_in_use"];
    let available = samples["db_pool_connections_available"];
    let waiting = samples["db_pool_waiting"];
    assert_eq!(max, app.settings.pool_size as f64);
    assert!(size >= 1.0 && size <= max, "{size} of {max}");
    assert_eq!(in_use + available, size);
    assert!(in_use >= 0.0 && waiting >= 0.0);
}

async fn feed_delivery_figures_are_exposed(app: TestApp) {
    // Two followers: past the inline fan-out of tiny feeds, so PostgreSQL's worker delivers the
    // post; SQLite copies it in the post's transaction and its figures stay zero.
    let author = app.user("author").await;
    for follower in app.users("follower", 2).await {
        assert_eq!(app.follow(&follower, &author).await, StatusCode::CREATED);
    }
    app.post_by(&author, "fan-out").await;
    app.wait_for_feed_delivery().await;
    let (_, samples) = scrape(&app).await;
    let chunks = samples["feed_delivery_chunks_total"];
    let expected = if app.db.backend == Backend::Postgres {
        1.0
    } else {
        0.0
    };
    assert_eq!(chunks, expected);
    assert_eq!(samples["feed_delivery_failures_total"], 0.0);
    let lag = samples["feed_delivery_lag_seconds"];
    assert!((0.0..30.0).contains(&lag), "{lag}");
}

async fn like_batches_are_counted(app: TestApp) {
    let author = app.user("author").await;
    let post = app.post_by(&author, "hello").await;
    let likers = app.users("liker", 4).await;
    let (_, before) = scrape(&app).await;
    let runs_before = before["batch_size_count{batcher=\"likes\"}"];
    assert_eq!(before["batch_size_sum{batcher=\"likes\"}"], 0.0);

    // Four likes of one post, then four follows of one user, all at once: each through its
    // batcher, in one to four batches.
    for (path, batcher) in [
        (format!("/posts/post-reaction/{post}/"), "likes"),
        (format!("/accounts/follow/{}/", author.id), "follows"),
    ] {
        let answers = join_all(
            likers
                .iter()
                .map(|u| app.post(&path, Some(&u.token), json!({}))),
        )
        .await;
        for (status, body) in answers {
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (text, samples) = scrape(&app).await;
        let label = format!("batcher=\"{batcher}\"");
        let runs = *buckets(&text, &samples, "batch_size", &label)
            .last()
            .unwrap();
        assert!((1.0..=4.0).contains(&runs), "{batcher}: {runs} batches");
        assert_eq!(samples[&format!("batch_size_sum{{{label}}}")], 4.0);
        let largest = samples[&format!("batch_size_max{{{label}}}")];
        assert!((1.0..=4.0).contains(&largest), "{batcher}: {largest}");
        assert_eq!(samples[&format!("batch_waiting{{{label}}}")], 0.0);
    }
    assert_eq!(runs_before, 0.0);

    let (text, samples) = scrape(&app).await;
    assert_eq!(
        requests(&samples, "/posts/post-reaction/{id}/", "POST", 201),
        4.0
    );
    // Every authenticated request looked its token up through the token batcher.
    let tokens = "batcher=\"tokens\"";
    buckets(&text, &samples, "batch_size", tokens);
    assert!(samples[&format!("batch_size_sum{{{tokens}}}")] >= 5.0);
    assert_eq!(samples[&format!("batch_waiting{{{tokens}}}")], 0.0);
}
